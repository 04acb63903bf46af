//! Integration tests of the grammar crate: parse trees and error messages.

mod errors;
mod parse;

use spel_grammar::{SourceId, SourceMap, parse, render_plain};

/// Parses `src` and renders the first diagnostic as a user sees it.
pub fn error_of(src: &str) -> String {
    let mut sources = SourceMap::default();
    let id = sources.add("script.spel", src);
    assert_eq!(id, SourceId(0));
    match parse(src, id) {
        Ok(program) => panic!("expected an error from {src:?}, parsed {program:?}"),
        Err(diagnostics) => render_plain(&diagnostics[0], &sources),
    }
}
