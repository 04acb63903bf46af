//! A spinner on stderr for reads and computations that take over half a second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use spel_stdlib::work::Progress;

#[derive(Default)]
pub struct Spinner {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Counts starts, so a timer from earlier work cannot show a spinner for later work.
    generation: u64,
    running: bool,
    bar: Option<ProgressBar>,
}

impl Progress for Spinner {
    fn start(&self, what: &str) {
        let generation = match self.state.lock() {
            Ok(mut state) => {
                state.generation += 1;
                state.running = true;
                state.generation
            }
            Err(_) => return,
        };
        let state = Arc::clone(&self.state);
        let what = what.to_string();
        // Quick work shows nothing; the spinner is made only for work still running
        // after half a second.
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            let Ok(mut state) = state.lock() else { return };
            if !state.running || state.generation != generation {
                return;
            }
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar.enable_steady_tick(Duration::from_millis(100));
            state.bar = Some(bar);
        });
    }

    fn finish(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.running = false;
            if let Some(bar) = state.bar.take() {
                bar.finish_and_clear();
            }
        }
    }
}
