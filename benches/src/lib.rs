//! What the benchmark commands share: the synthetic catalog, the runtime benchmarks' event
//! and the median of timed runs.

use std::time::Duration;

pub mod synth;
pub mod task;

/// The median of `runs` (the upper one of an even count); zero when there are none.
pub fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs.get(runs.len() / 2).copied().unwrap_or_default()
}

/// The median of `values` (the upper one of an even count); `None` when there are none.
pub fn median_f64(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_runs() {
        let ms = Duration::from_millis;
        assert_eq!(median(vec![ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(median(vec![ms(4), ms(1)]), ms(4));
        assert_eq!(median(Vec::new()), Duration::ZERO);
        assert_eq!(median_f64(vec![0.9, 1.2, 1.0, 0.8]), Some(1.0));
        assert_eq!(median_f64(Vec::new()), None);
    }
}
