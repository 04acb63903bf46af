//! Engine errors that are not the user's syntax: polars failures and file trouble,
//! turned into diagnostics at the one boundary where they arise.

use polars::prelude::PolarsError;
use spel_grammar::Diagnostic;

/// A polars error in plain words. The caller attaches the statement's span.
pub fn polars_error(error: PolarsError) -> Diagnostic {
    let (code, message) = match &error {
        PolarsError::ColumnNotFound(m) => ("spel::column::unknown", format!("no such column: {m}")),
        PolarsError::SchemaMismatch(m) | PolarsError::InvalidOperation(m) => {
            ("spel::type::mismatch", first_line(m))
        }
        PolarsError::ComputeError(m) => ("spel::data::compute", first_line(m)),
        PolarsError::IO { error, .. } => ("spel::io", error.to_string()),
        PolarsError::OutOfBounds(m) => ("spel::data::bounds", first_line(m)),
        _ => ("spel::data::error", first_line(&error.to_string())),
    };
    Diagnostic::new(code, message)
}

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    // polars says "SchemaMismatch: ..." or "cannot compare ..."; keep its words, trimmed.
    line.trim_end_matches(':').to_string()
}

/// The text of a caught panic.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}
