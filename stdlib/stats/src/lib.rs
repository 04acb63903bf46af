//! spel's numerics. Every estimator here works on slices and matrices and returns a
//! plain result struct: no tables, no column names, no rendering. The engine
//! (`spel-stdlib`) turns tables into these inputs and results into values.
//!
//! - [`matrix`]: the model matrix column by column, and groupings of rows.
//! - [`glm`]: generalised linear models by IRLS with absorbed groupings.
//! - [`rows`]: the design as a fit reads it, in chunks on every core.
//! - [`combinations`]: several absorbed groupings by the table of their level combinations.
//! - [`vcov`]: variance estimators, the one sandwich with its small-sample factors.
//! - [`conditioning`]: numeric columns centred and scaled for a fit, and back.
//! - [`linalg`]: solving and inverting small symmetric systems, R's rank decision.
//! - [`cancel`]: the flag an interrupted fit's loops stop at.
//! - [`survey`]: design-based totals, means and quantiles of complex samples.
//! - [`mixed`]: linear mixed models by REML or maximum likelihood, as lme4's `lmer`.
//! - [`glmm`]: logit, probit and Poisson mixed models by the Laplace approximation, as `glmer`.
//! - [`optimise`]: minimising a few bounded parameters without derivatives.

// Numeric code walks parallel per-row arrays (y, mu, weights, columns) by index.
#![allow(clippy::needless_range_loop)]

pub mod absorbed;
pub mod cancel;
pub mod combinations;
pub mod conditioning;
pub mod designs;
pub mod glm;
pub mod glmm;
pub mod least_squares;
pub mod linalg;
pub mod matrix;
pub mod mixed;
pub mod negbin;
pub mod optimise;
pub mod ranks;
pub mod rows;
pub mod separation;
pub mod survey;
pub mod vcov;
