//! A fitted model: its coefficients and inference, the story of its rows and terms,
//! and its three renderings ([`render`]).

// Numeric code walks parallel per-row arrays (y, mu, weights, columns) by index.
#![allow(clippy::needless_range_loop)]

pub mod fit;
pub mod iv;
pub mod margins;
pub mod mixed;
pub mod predict;
pub mod render;

use polars::prelude::LazyFrame;
use spel_grammar::ast::Expr;

use crate::formula::resolve::{FactorCoding, Resolved};
use spel_stats::glm::Family;

crate::choice! {
    /// A model's family as the user names it (`family = logit`).
    pub enum ModelFamily {
        Ols = "ols",
        Logit = "logit",
        Probit = "probit",
        Poisson = "poisson",
        NegBin = "negbin",
    }
}

/// What a model was fitted on, kept (lazily) so post-estimation can rebuild its design
/// with other values: the table, the resolved terms and the statement's columns.
#[derive(Clone)]
pub struct Source {
    pub table: LazyFrame,
    pub resolved: Resolved,
    pub outcome: Expr,
    pub condition: Option<Expr>,
    pub weights: Option<Expr>,
    pub freq: Option<Expr>,
    pub trials: Option<Expr>,
    pub clusters: Vec<Expr>,
    pub codings: Vec<FactorCoding>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Source { .. }")
    }
}

/// One estimated coefficient, with the broom `tidy()` names.
#[derive(Clone, Debug)]
pub struct Coefficient {
    pub term: String,
    pub estimate: f64,
    pub std_error: f64,
    pub statistic: f64,
    pub p_value: f64,
    pub conf_low: f64,
    pub conf_high: f64,
}

impl Coefficient {
    /// Wald inference for an estimate and its standard error: the statistic, its
    /// two-sided p-value and the interval at `level`, from the normal or t distribution.
    pub fn wald(
        term: &str,
        estimate: f64,
        std_error: f64,
        distribution: Distribution,
        level: f64,
    ) -> Self {
        use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
        let upper = 1.0 - (1.0 - level) / 2.0;
        let statistic = estimate / std_error;
        let (crit, p_value) = match distribution {
            Distribution::Normal => {
                let normal = Normal::standard();
                (
                    normal.inverse_cdf(upper),
                    2.0 * normal.cdf(-statistic.abs()),
                )
            }
            Distribution::StudentT(df) => match StudentsT::new(0.0, 1.0, df) {
                // statrs panics on a NaN statistic (an estimate without a standard error).
                Ok(t) if statistic.is_nan() => (t.inverse_cdf(upper), f64::NAN),
                Ok(t) => (t.inverse_cdf(upper), 2.0 * t.cdf(-statistic.abs())),
                Err(_) => (f64::NAN, f64::NAN),
            },
        };
        Coefficient {
            term: term.to_string(),
            estimate,
            std_error,
            statistic,
            p_value,
            conf_low: estimate - crit * std_error,
            conf_high: estimate + crit * std_error,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    Normal,
    StudentT(f64),
}

#[derive(Clone, Debug)]
pub struct Model {
    /// `ols`, `logit`, `probit`, `poisson`, `negbin`.
    pub family: ModelFamily,
    pub formula: String,
    pub outcome: String,
    pub n: usize,
    /// Observations when frequency weights stand for repeated rows.
    pub n_weighted: Option<f64>,
    pub n_total: usize,
    pub n_outside_condition: usize,
    pub condition: Option<String>,
    pub n_dropped_missing: usize,
    pub missing: Vec<(String, usize)>,
    /// Rows of absorbed groups whose outcome never varies, dropped before the fit.
    pub n_dropped_separated: usize,
    /// Which rows of the design the fit kept (`None`: all), so that margins rebuild the
    /// design on the same rows.
    pub rows_kept: Option<Vec<bool>>,
    pub coefficients: Vec<Coefficient>,
    /// The variables the terms are made of (`age_band`, `sex`), for sentences.
    pub variables: Vec<String>,
    /// The covariance of the estimates, in the order of `coefficients`.
    pub vcov: Vec<Vec<f64>>,
    pub collinear: Vec<String>,
    pub references: Vec<(String, String)>,
    pub fixed_effects: Vec<(String, usize)>,
    /// Each absorbed effect's estimated value by level, for predictions.
    pub fixed_effect_values: Vec<std::collections::HashMap<String, f64>>,
    pub clusters: Vec<(String, usize)>,
    pub se_description: String,
    /// The standard errors' small-sample factor as `se_description` names it (empty if
    /// none): HTML folds it away with the `conventions`.
    pub se_factor: String,
    /// Notes on conventions a specialist checks and a reader may skip (how absorbed
    /// effects count in the degrees of freedom). Text and JSON list them after the notes;
    /// HTML folds them. Warnings are never conventions.
    pub conventions: Vec<String>,
    pub distribution: Distribution,
    pub level: f64,
    pub log_lik: Option<f64>,
    pub aic: Option<f64>,
    pub bic: Option<f64>,
    pub deviance: f64,
    pub r_squared: Option<f64>,
    pub pseudo_r_squared: Option<f64>,
    pub theta: Option<(f64, f64)>,
    pub iterations: usize,
    pub converged: bool,
    pub notes: Vec<String>,
    pub family_kind: Family,
    /// The design's column of each coefficient.
    pub kept: Vec<usize>,
    /// The linear predictor of each row used (absorbed effects included).
    pub eta: Vec<f64>,
    /// Each row's weight in averages over the sample (probability × frequency).
    pub average_weights: Vec<f64>,
    pub source: Option<Source>,
    /// Two-stage least squares' first stages and tests; `None` for other fits.
    pub instrumental: Option<iv::Instrumental>,
    /// A mixed model's random effects; `None` for other fits.
    pub mixed: Option<mixed::Mixed>,
}

impl Model {
    /// Whether exponentiated estimates are shown, and under what name.
    pub fn ratio_name(&self) -> Option<(&'static str, &'static str)> {
        match self.family {
            ModelFamily::Logit => Some(("odds_ratio", "or")),
            ModelFamily::Poisson | ModelFamily::NegBin => Some(("irr", "irr")),
            ModelFamily::Ols | ModelFamily::Probit => None,
        }
    }

    pub fn family_title(&self) -> &'static str {
        if self.instrumental.is_some() {
            return "Instrumental variables (2SLS)";
        }
        if let Some(mixed) = &self.mixed {
            return match (self.family, mixed.reml) {
                (ModelFamily::Ols, true) => "Linear mixed model (REML)",
                (ModelFamily::Ols, false) => "Linear mixed model (ML)",
                (ModelFamily::Logit, _) => "Logistic mixed model (Laplace)",
                (ModelFamily::Probit, _) => "Probit mixed model (Laplace)",
                _ => "Poisson mixed model (Laplace)",
            };
        }
        match self.family {
            ModelFamily::Ols => "Linear regression (OLS)",
            ModelFamily::Logit => "Logistic regression (logit)",
            ModelFamily::Probit => "Probit regression",
            ModelFamily::Poisson => "Poisson regression",
            ModelFamily::NegBin => "Negative binomial regression (NB2)",
        }
    }
}
