#![doc = include_str!("../../ARCHITECTURE.md")]

pub mod choice;
pub mod complete;
pub mod errors;
pub mod eval;
pub mod files;
pub mod format;
pub mod formula;
pub mod functions;
pub mod guard;
pub mod markup;
pub mod memory;
pub mod meta;
pub mod model;
mod pipeline;
pub mod plot;
pub mod render;
mod session;
pub mod simulate;
pub mod survey;
pub mod value;
pub mod verbs;
pub mod vocabulary;
pub mod work;

pub use render::Shown;
pub use session::{Output, Session};
pub use spel_grammar::{Colour, Completeness, Diagnostic, is_complete};
pub use value::Value;

/// The stack of a thread that runs the engine (a kernel's engine thread, a worker):
/// expressions may nest 256 levels (the grammar's limit), each a few frames of the
/// engine's walks over them, and a debug build's frames are large. Reserved, not used:
/// the pages are touched only as deep as the work goes.
pub const ENGINE_STACK: usize = 64 << 20;
