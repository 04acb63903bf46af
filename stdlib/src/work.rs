//! Long work (reading a file, computing a table) on a worker thread, so Ctrl-C or a
//! Jupyter interrupt returns control within a fraction of a second and a front end can
//! show progress. Interrupted, a fit stops at its next pass (its thread watches a
//! cancellation flag); a read finishes in the background and is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use polars::prelude::*;
use spel_grammar::{Diagnostic, Span};

use crate::errors::polars_error;

/// A front end's progress display: told when long work starts and ends. Whether and
/// when to show anything (say, after half a second) is the front end's choice.
pub trait Progress: Send + Sync {
    fn start(&self, what: &str);
    fn finish(&self);
}

/// How a statement's long work is run: the interrupt flag to watch and where to report.
#[derive(Clone, Copy)]
pub struct Work<'a> {
    pub interrupt: &'a AtomicBool,
    pub progress: Option<&'a dyn Progress>,
}

impl Work<'_> {
    /// Runs `job` on a worker thread, returning early with "interrupted" if the flag is
    /// set while it runs.
    pub fn run<T: Send + 'static>(
        &self,
        what: &str,
        span: Span,
        job: impl FnOnce() -> Result<T, Diagnostic> + Send + 'static,
    ) -> Result<T, Diagnostic> {
        if let Some(progress) = self.progress {
            progress.start(what);
        }
        let worker = std::thread::Builder::new()
            .name("spel-work".into())
            .stack_size(crate::ENGINE_STACK);
        let cancelled = Arc::new(AtomicBool::new(false));
        let watched = Arc::clone(&cancelled);
        let handle = worker
            .spawn(move || {
                spel_stats::cancel::watch(watched);
                job()
            })
            .map_err(|e| {
                Diagnostic::new(
                    "spel::work::thread",
                    format!("could not start the work ({e})"),
                )
                .at(span)
            });
        let result = handle.and_then(|handle| self.wait(span, handle, &cancelled));
        if let Some(progress) = self.progress {
            progress.finish();
        }
        result
    }

    /// The job's result; on an interrupt, "interrupted" at once, and the job is told to
    /// stop (`cancelled`): a fit ends at its next pass and frees what it holds. (A read
    /// or a polars computation cannot be stopped; it finishes in the background and its
    /// result is dropped.)
    fn wait<T>(
        &self,
        span: Span,
        handle: std::thread::JoinHandle<Result<T, Diagnostic>>,
        cancelled: &AtomicBool,
    ) -> Result<T, Diagnostic> {
        while !handle.is_finished() {
            if self.interrupt.swap(false, Ordering::SeqCst) {
                cancelled.store(true, Ordering::SeqCst);
                return Err(Diagnostic::new("spel::interrupted", "interrupted").at(span));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match handle.join() {
            Ok(result) => result,
            Err(panic) => Err(Diagnostic::internal(crate::errors::panic_message(&panic)).at(span)),
        }
    }

    /// Computes a lazy table.
    pub fn collect(&self, lf: LazyFrame, what: &str, span: Span) -> Result<DataFrame, Diagnostic> {
        self.run(what, span, move || {
            lf.collect().map_err(|e| polars_error(e).at(span))
        })
    }

    /// Rows in a lazy table, counted without materialising its columns.
    pub fn count(&self, lf: &LazyFrame, span: Span) -> Result<usize, Diagnostic> {
        let counted = self.collect(lf.clone().select([len().alias("n")]), "counting rows", span)?;
        Ok(counted
            .column("n")
            .ok()
            .and_then(|c| c.get(0).ok())
            .and_then(|v| v.extract::<u64>())
            .unwrap_or(0) as usize)
    }

    /// As [`Work::collect`], on polars' streaming engine: the rows are read in batches,
    /// so what is cast on the way (texts to categoricals) is never held whole before.
    pub fn collect_streaming(
        &self,
        lf: LazyFrame,
        what: &str,
        span: Span,
    ) -> Result<DataFrame, Diagnostic> {
        self.run(what, span, move || {
            lf.collect_with_engine(Engine::Streaming)
                .map(|result| result.unwrap_single())
                .map_err(|e| polars_error(e).at(span))
        })
    }
}
