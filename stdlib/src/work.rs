//! Long work (reading a file, computing a table) on a worker thread, so Ctrl-C or a
//! Jupyter interrupt returns control within a fraction of a second and a front end can
//! show progress. Interrupted, the work's thread is told to stop (it watches a
//! cancellation flag): a fit stops at its next pass, a read at its next block, a polars
//! computation at its next batch, and the thread ends, freeing what it held.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    /// stop (`cancelled`): it ends at its next check and frees what it holds.
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
            collect_stoppably(lf).map_err(|e| polars_error(e).at(span))
        })
    }

    /// Folds a lazy table's batches into `state` as polars streams them, in order,
    /// without holding the table: what `add` keeps of a batch is all that stays. The
    /// first error `add` returns stops the stream and is returned.
    pub fn fold<S: Send + 'static>(
        &self,
        lf: LazyFrame,
        what: &str,
        span: Span,
        state: S,
        add: fn(&mut S, DataFrame) -> Result<(), Diagnostic>,
    ) -> Result<S, Diagnostic> {
        self.run(what, span, move || fold_stoppably(lf, state, add, span))
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
}

/// Rows a batch of [`Work::fold`] holds at most: large enough that a batch's own costs
/// (a hash look-up per level it holds) are small beside its rows', small enough that
/// the batch in memory is a few megabytes.
const FOLD_BATCH_ROWS: usize = 1 << 18;

/// [`Work::fold`] on the worker thread: the batches come in order to `add`, one at a
/// time; cancelled, the stream ends at the next batch.
fn fold_stoppably<S: Send + 'static>(
    lf: LazyFrame,
    state: S,
    add: fn(&mut S, DataFrame) -> Result<(), Diagnostic>,
    span: Span,
) -> Result<S, Diagnostic> {
    let cancelled = spel_stats::cancel::flag();
    let folded = Arc::new(Mutex::new((Some(state), None::<Diagnostic>)));
    let sink = Arc::clone(&folded);
    let keep = PlanCallback::new(move |batch: DataFrame| {
        if cancelled
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            return Ok(true);
        }
        let mut guard = sink
            .lock()
            .map_err(|_| polars_err!(ComputeError: "a batch was lost"))?;
        let (state, error) = &mut *guard;
        let Some(state) = state.as_mut().filter(|_| error.is_none()) else {
            return Ok(true);
        };
        if let Err(e) = add(state, batch) {
            *error = Some(e);
            return Ok(true);
        }
        Ok(false)
    });
    lf.sink_batches(keep, true, std::num::NonZeroUsize::new(FOLD_BATCH_ROWS))
        .and_then(|plan| plan.collect_with_engine(Engine::Streaming))
        .map_err(|e| polars_error(e).at(span))?;
    if spel_stats::cancel::requested() {
        return Err(Diagnostic::new("spel::interrupted", "interrupted").at(span));
    }
    let mut guard = folded
        .lock()
        .map_err(|_| Diagnostic::internal("a batch was lost").at(span))?;
    match (guard.0.take(), guard.1.take()) {
        (_, Some(error)) => Err(error),
        (Some(state), None) => Ok(state),
        (None, None) => Err(Diagnostic::internal("a batch was lost").at(span)),
    }
}

/// Computes `lf` on polars' streaming engine, batch by batch, ending at the next batch
/// once this thread's work is cancelled: polars has no other way to stop a scan or a
/// computation it has started. Batches stream, so what is cast on the way (texts to
/// categoricals) is never held whole before.
pub fn collect_stoppably(lf: LazyFrame) -> PolarsResult<DataFrame> {
    // Kept to give an empty result its columns; planned only then.
    let mut plan = lf.clone();
    let cancelled = spel_stats::cancel::flag();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&batches);
    let keep = PlanCallback::new(move |batch: DataFrame| {
        if cancelled
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            return Ok(true);
        }
        sink.lock()
            .map_err(|_| polars_err!(ComputeError: "a batch was lost"))?
            .push(batch);
        Ok(false)
    });
    lf.sink_batches(keep, true, None)?
        .collect_with_engine(Engine::Streaming)?;
    if spel_stats::cancel::requested() {
        polars_bail!(ComputeError: "interrupted");
    }
    let batches = std::mem::take(
        &mut *batches
            .lock()
            .map_err(|_| polars_err!(ComputeError: "a batch was lost"))?,
    );
    let mut batches = batches.into_iter();
    let Some(mut stacked) = batches.next() else {
        return Ok(DataFrame::empty_with_arc_schema(plan.collect_schema()?));
    };
    for batch in batches {
        stacked.vstack_mut_owned(batch)?;
    }
    Ok(stacked)
}
