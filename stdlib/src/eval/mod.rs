//! What a statement may read and change, and its expressions to values. Pipelines and
//! verb dispatch sit above the verbs, in `pipeline`.

pub mod expr;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use spel_grammar::{Diagnostic, SourceMap, Span, did_you_mean};

use crate::value::Value;
use crate::work::{Progress, Work};

/// What a statement may read: the session's bindings, current table and sources.
pub struct Env<'s> {
    pub bindings: &'s BTreeMap<String, Value>,
    pub current: Option<&'s str>,
    pub sources: &'s SourceMap,
    /// Set by Ctrl-C or a Jupyter interrupt; checked between steps.
    pub interrupt: &'s AtomicBool,
    /// Where relative file paths start (the process's working directory if `None`).
    pub base_dir: Option<&'s Path>,
    pub progress: Option<&'s dyn Progress>,
    /// Completion is asking what a pipeline makes: verbs that compute run small
    /// ([`crate::verbs::Output::Preview`]) or not at all ([`crate::verbs::Output::Computed`]).
    pub preview: bool,
    /// What each column is, in words (`label`), for sentences such as `interpret`'s.
    pub labels: &'s BTreeMap<String, String>,
}

/// What a statement changes besides its binding, applied only if it succeeds.
#[derive(Default)]
pub struct Effects {
    pub use_table: Option<String>,
    /// A binding to replace (`predict` adds a column to the current table, as Stata).
    pub rebind: Option<(String, Value)>,
    /// What the user should know about how the result was made (files whose columns
    /// differ), shown before the result.
    pub notes: Vec<String>,
    /// Columns to label (`label`), each with its words.
    pub labels: Vec<(String, String)>,
}

impl Env<'_> {
    pub fn text(&self, span: Span) -> &str {
        self.sources.slice(span)
    }

    /// A path as the user wrote it, resolved against the session's base directory.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        match self.base_dir {
            Some(base) if Path::new(path).is_relative() => base.join(path),
            _ => PathBuf::from(path),
        }
    }

    /// How long work of this statement runs: interruptibly, with progress shown.
    pub fn work(&self) -> Work<'_> {
        Work {
            interrupt: self.interrupt,
            progress: self.progress,
        }
    }

    pub fn check_interrupt(&self, span: Span) -> Result<(), Diagnostic> {
        if self.interrupt.swap(false, Ordering::SeqCst) {
            return Err(Diagnostic::new("spel::interrupted", "interrupted").at(span));
        }
        Ok(())
    }

    /// A name that is not bound, with the nearest binding suggested.
    pub fn unknown_name(&self, name: &str, span: Span) -> Diagnostic {
        self.unknown_name_among(name, span, &[])
    }

    /// A name that is not bound, with the nearest of the bindings and `more` suggested.
    pub fn unknown_name_among(&self, name: &str, span: Span, more: &[&str]) -> Diagnostic {
        let bound = self.bindings.keys().map(String::as_str);
        let candidates = bound.chain(more.iter().copied());
        Diagnostic::new("spel::name::unknown", format!("unknown name `{name}`"))
            .at(span)
            .with_label("no value or verb has this name")
            .suggest(did_you_mean(name, candidates))
    }
}
