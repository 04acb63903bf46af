//! Stopping long work when the user interrupts. The engine runs a fit on a worker
//! thread and gives that thread a flag ([`watch`]); the loops here ([`requested`] at
//! each IRLS pass, θ alternation and demeaning step) end their work when it is set, so
//! an interrupted fit frees its thread and memory within a pass instead of running on.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static FLAG: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Makes `flag` this thread's cancellation flag.
pub fn watch(flag: Arc<AtomicBool>) {
    FLAG.with(|slot| *slot.borrow_mut() = Some(flag));
}

/// Whether this thread's work has been cancelled (never, for a thread not watching).
pub fn requested() -> bool {
    FLAG.with(|slot| {
        slot.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    })
}

/// This thread's cancellation flag, for work it hands to other threads (polars' engine).
pub fn flag() -> Option<Arc<AtomicBool>> {
    FLAG.with(|slot| slot.borrow().clone())
}
