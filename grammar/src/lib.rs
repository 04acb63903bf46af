//! spel's grammar: source text to an AST whose every node has a byte span, the
//! continuation rules ([`is_complete`]), and the one diagnostic type with its renderer.
//!
//! This crate knows nothing of polars or of which verbs exist: a verb call is generic
//! (`name args (connective args)* (, option = value)*`) and the engine's registry gives
//! it meaning.

pub mod ast;
pub mod diagnostic;
mod did_you_mean;
mod layout;
mod parser;
pub mod span;
mod words;

pub use diagnostic::{Colour, Diagnostic, Label, render, render_plain};
pub use did_you_mean::did_you_mean;
pub use layout::{Completeness, is_complete, join_continued_lines};
pub use parser::parse;
pub use span::{SourceId, SourceMap, Span};
pub use words::keywords;
