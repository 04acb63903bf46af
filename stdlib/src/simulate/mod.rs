//! Built-in simulated study data with known effects, so notebooks and courses run
//! without restricted data. The data-generating processes: docs/models.md ("The
//! simulated study") for `gpps`, docs/simulate.md for the teaching studies.

pub mod gpps;
pub mod teaching;
