//! Which deliveries may be acknowledged: a small state machine over delivery tags.
//!
//! A delivery is *outstanding* from the moment it arrives until its processing ends. It is
//! then either *done* (to be acked) or settled by other means (nacked back to the queue).
//! `basic.ack` with `multiple` acknowledges every tag up to the one given, so only the
//! longest done prefix below the lowest outstanding tag may be acked at once.
//!
//! Tags are only meaningful on the channel that issued them: when a session is replaced the
//! tracker is [`reset`](AckTracker::reset) and the broker redelivers whatever was not acked.

use std::collections::BTreeSet;

/// Delivery tags received and finished, for `multiple` acks over the finished prefix.
#[derive(Debug, Default)]
pub(super) struct AckTracker {
    outstanding: BTreeSet<u64>,
    done: BTreeSet<u64>,
}

impl AckTracker {
    pub(super) fn delivered(&mut self, tag: u64) {
        self.outstanding.insert(tag);
    }

    pub(super) fn finished(&mut self, tag: u64) {
        if self.outstanding.remove(&tag) {
            self.done.insert(tag);
        }
    }

    pub(super) fn settled_elsewhere(&mut self, tag: u64) {
        self.outstanding.remove(&tag);
    }

    pub(super) fn ready(&self) -> usize {
        self.done.len()
    }

    /// Tags delivered and not acked yet: in flight, or finished and waiting for the ack.
    pub(super) fn unacked(&self) -> usize {
        self.outstanding.len() + self.done.len()
    }

    /// The highest finished tag below every unfinished one: `ack(multiple)` up to it.
    pub(super) fn take_ackable(&mut self) -> Option<u64> {
        let limit = self.outstanding.first().copied().unwrap_or(u64::MAX);
        let tag = self.done.range(..limit).next_back().copied()?;
        self.done = self.done.split_off(&(tag + 1));
        Some(tag)
    }

    pub(super) fn reset(&mut self) {
        self.outstanding.clear();
        self.done.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_cover_the_finished_prefix_only() {
        let mut t = AckTracker::default();
        for tag in 1..=5 {
            t.delivered(tag);
        }
        t.finished(2);
        t.finished(3);
        assert_eq!(t.unacked(), 5);
        assert_eq!(t.take_ackable(), None, "1 is still running");
        t.finished(1);
        assert_eq!(t.take_ackable(), Some(3));
        t.settled_elsewhere(4);
        t.finished(5);
        assert_eq!(t.take_ackable(), Some(5));
        assert_eq!(t.take_ackable(), None);
        assert_eq!(t.unacked(), 0);
        t.delivered(6);
        t.reset();
        t.finished(6);
        assert_eq!(
            t.take_ackable(),
            None,
            "tags of a lost channel are never acked"
        );
    }
}
