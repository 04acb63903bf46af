#![doc = include_str!("../../ARCHITECTURE.md")]

pub mod errors;
pub mod eval;
mod files;
pub mod format;
pub mod functions;
pub mod render;
mod session;
pub mod value;
pub mod verbs;

pub use render::Shown;
pub use session::{Output, Session};
pub use spel_grammar::{Colour, Completeness, Diagnostic};
pub use value::Value;
