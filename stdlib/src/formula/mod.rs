//! Formulas in typed steps (StatsModels.jl's design): the parsed formula is resolved
//! into terms ([`resolve`]), and the terms, with the data's column types and levels,
//! into a design ([`design`]): the numbers a fit needs, and notes on every row and
//! level it left out.

pub mod design;
pub mod resolve;
