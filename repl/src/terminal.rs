//! The terminal: its width, and whether output goes to one.

use std::io::IsTerminal;

/// The width text tables are fitted to: the terminal's when stdout is one, else `default`.
pub fn output_width(default: usize) -> usize {
    if !std::io::stdout().is_terminal() {
        return default;
    }
    terminal_size::terminal_size()
        .map(|(terminal_size::Width(w), _)| w as usize)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(default)
}

pub fn stderr_colour() -> spel_stdlib::Colour {
    if std::io::stderr().is_terminal() {
        spel_stdlib::Colour::Ansi
    } else {
        spel_stdlib::Colour::Never
    }
}
