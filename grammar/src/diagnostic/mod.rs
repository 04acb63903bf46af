//! The one diagnostic type of spel: a stable code, a message, where, and how to fix it.
//!
//! Every error a user can meet (parse, unknown column, wrong type, unreadable file) is a
//! [`Diagnostic`]; [`render`] is the only place that turns one into text.

mod render;

pub use render::{Colour, render, render_plain};

use crate::span::Span;

/// A secondary place that explains the error ("this table has no column `x`").
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// A diagnostic; boxed so that `Result<T, Diagnostic>` stays one pointer wide on the
/// happy path. Its fields read through [`Details`].
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic(Box<Details>);

#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    /// Stable, greppable code such as `spel::column::unknown`.
    pub code: &'static str,
    pub message: String,
    /// Where the problem is; `None` for errors with no place in the source (a crash).
    pub span: Option<Span>,
    /// What to write under the caret at `span`.
    pub label: Option<String>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic(Box::new(Details {
            code,
            message: message.into(),
            span: None,
            label: None,
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }))
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    /// Sets the span only if none is set yet, so the innermost location wins.
    pub fn or_at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds "did you mean `x`?" when there is a close candidate.
    pub fn suggest(self, suggestion: Option<String>) -> Self {
        match suggestion {
            Some(s) => self.with_help(format!("did you mean `{s}`?")),
            None => self,
        }
    }

    /// An engine panic or broken invariant, reported instead of crashing.
    pub fn internal(message: impl Into<String>) -> Self {
        Diagnostic::new(
            "spel::internal",
            format!("internal error: {}", message.into()),
        )
        .with_note("this is a bug in spel; please report it with the statement that caused it")
    }
}

impl std::ops::Deref for Diagnostic {
    type Target = Details;

    fn deref(&self) -> &Details {
        &self.0
    }
}

impl std::ops::DerefMut for Diagnostic {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.0
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}
