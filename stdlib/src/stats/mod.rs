//! Estimation: generalised linear models by IRLS with absorbed fixed effects
//! ([`glm`]), and their variance estimators ([`vcov`]).

// Numeric code walks parallel per-row arrays (y, mu, weights, columns) by index.
#![allow(clippy::needless_range_loop)]

pub mod glm;
pub mod linalg;
pub mod rows;
pub mod vcov;
