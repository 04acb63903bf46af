//! Built-in simulated study data with known effects, so notebooks and courses run
//! without restricted data. See docs/simulate.md for the data-generating process.

pub mod gpps;
