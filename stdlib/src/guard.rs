//! Where a bug may not cost the session: every front-end request (a cell, a Tab, a
//! hover, a keystroke's colours) runs [`guarded`], so a panic costs that one answer.
//! Tests prove the guards hold by injecting panics with [`fault_point`].

use std::panic::{AssertUnwindSafe, catch_unwind};

/// `work()`, or `None` if it panicked (the front end's panic hook says where).
pub fn guarded<T>(work: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(work)).ok()
}

/// In debug builds, panics when `SPEL_DEBUG_FAULT` names this point (names separated by
/// commas): how the tests reach each guard. Release builds compile it away.
pub fn fault_point(name: &str) {
    if cfg!(debug_assertions)
        && std::env::var("SPEL_DEBUG_FAULT").is_ok_and(|v| v.split(',').any(|p| p == name))
    {
        panic!("fault injected at {name} (SPEL_DEBUG_FAULT)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_and_the_next_call_runs() {
        assert_eq!(guarded(|| -> u8 { panic!("a bug") }), None);
        assert_eq!(guarded(|| 42), Some(42));
    }
}
