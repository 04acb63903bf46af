//! Formulas in typed steps (StatsModels.jl's design): the parsed formula is resolved
//! into terms ([`resolve`]), and the terms, with the data's column types and levels,
//! into a design ([`design`]): the numbers a fit needs, and notes on every row and
//! level it left out.

// Numeric code walks parallel per-row arrays (y, mu, weights, columns) by index.
#![allow(clippy::needless_range_loop)]

pub mod design;
pub mod read;
pub mod resolve;

/// The calls a formula's terms may be: `factor(x, ref = ...)`, `fe(g)` and `offset(e)`
/// (any other call is an expression, as `log(x)`).
pub const TERM_FUNCTIONS: [&str; 3] = ["factor", "fe", "offset"];
