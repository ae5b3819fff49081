//! Turns panics in third-party code into errors, without the default hook printing them.
//!
//! typify panics on some schema shapes. The panic hook is process-global, so it is installed
//! once and stays quiet only on threads that are inside [`catch`]; every other panic is
//! reported by the hook that was there before.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static GUARDED: Cell<usize> = const { Cell::new(0) };
}

static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it becomes `Err` with the panic message.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install();
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn converts_panics() {
        assert_eq!(super::catch(|| 1), Ok(1));
        let err = super::catch(|| -> u8 { panic!("boom {}", 7) }).unwrap_err();
        assert_eq!(err, "boom 7");
    }
}
