//! Diagnostics to text with line, column and a caret under the spot (via ariadne).

use ariadne::{CharSet, Config, IndexType, Label as AriadneLabel, Report, ReportKind, Source};

use super::Diagnostic;
use crate::span::SourceMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Never,
    Ansi,
}

/// Renders without colour: for files, snapshots and `--format json`.
pub fn render_plain(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
    render(diagnostic, sources, Colour::Never)
}

/// Renders a diagnostic the one way spel shows errors: ASCII carets, byte-accurate
/// spans, and the source's name with line and column.
pub fn render(diagnostic: &Diagnostic, sources: &SourceMap, colour: Colour) -> String {
    let Some(span) = diagnostic.span else {
        return render_unplaced(diagnostic);
    };
    let name = sources.name(span.source).to_string();
    let text = sources.text(span.source);
    // ariadne needs a non-empty range to draw a caret; point at one character.
    let range = if span.start >= span.end {
        span.start..span.start + 1
    } else {
        span.range()
    };
    let config = Config::default()
        .with_color(colour == Colour::Ansi)
        .with_char_set(CharSet::Ascii)
        .with_index_type(IndexType::Byte)
        .with_compact(false);
    let mut report = Report::build(ReportKind::Error, (name.clone(), range.clone()))
        .with_config(config)
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message);
    // ariadne draws no caret under a label without a message.
    let label = diagnostic.label.as_deref().unwrap_or("here");
    let mut primary = AriadneLabel::new((name.clone(), range))
        .with_order(-1)
        .with_message(label);
    if colour == Colour::Ansi {
        primary = primary.with_color(ariadne::Color::Red);
    }
    report = report.with_label(primary);
    for label in &diagnostic.labels {
        if label.span.source == span.source {
            report = report.with_label(
                AriadneLabel::new((name.clone(), label.span.range())).with_message(&label.message),
            );
        }
    }
    if let Some(help) = &diagnostic.help {
        report = report.with_help(help);
    }
    for note in &diagnostic.notes {
        report = report.with_note(note);
    }
    // ariadne wants a trailing newline to place a caret at the very end of the input.
    let padded = format!("{text}\n");
    let mut out = Vec::new();
    let written = report
        .finish()
        .write((name, Source::from(padded.as_str())), &mut out);
    match written {
        Ok(()) => String::from_utf8_lossy(&out).trim_end().to_string() + "\n",
        Err(_) => render_unplaced(diagnostic),
    }
}

fn render_unplaced(diagnostic: &Diagnostic) -> String {
    let mut out = format!("Error[{}]: {}\n", diagnostic.code, diagnostic.message);
    if let Some(help) = &diagnostic.help {
        out.push_str(&format!("  help: {help}\n"));
    }
    for note in &diagnostic.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    out
}
