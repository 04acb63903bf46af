//! The tests reported beside two-stage least squares, from the fits that make them:
//! the instruments' strength in each first stage, Wu–Hausman's test of endogeneity and
//! Sargan's of over-identification, as R's `summary(AER::ivreg, diagnostics = TRUE)`
//! and linearmodels' `IV2SLS` give them.

use faer::Mat;
use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor};

/// A test statistic, its reference distribution and p-value.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub statistic: f64,
    pub distribution: Reference,
    pub p_value: f64,
}

/// `F(df1, df2)`, or `χ²(df)` when there is no second degree of freedom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reference {
    F(f64, f64),
    ChiSquared(f64),
}

impl Test {
    pub fn new(statistic: f64, distribution: Reference) -> Test {
        let p_value = match distribution {
            Reference::F(df1, df2) => FisherSnedecor::new(df1, df2).map(|d| d.sf(statistic)).ok(),
            Reference::ChiSquared(df) => ChiSquared::new(df).map(|d| d.sf(statistic)).ok(),
        }
        .unwrap_or(f64::NAN);
        Test {
            statistic,
            distribution,
            p_value,
        }
    }
}

/// The Wald statistic of `beta = 0` divided by its `q` restrictions, `β'V⁻¹β / q`:
/// the first stage's F of the excluded instruments under the model's variance. `None`
/// when `v` is singular.
pub fn wald_over_q(beta: &[f64], v: &Mat<f64>) -> Option<f64> {
    let q = beta.len();
    if q == 0 || v.nrows() != q {
        return None;
    }
    let solved = crate::linalg::solve(v, beta)?;
    let quadratic: f64 = beta.iter().zip(&solved).map(|(b, s)| b * s).sum();
    quadratic.is_finite().then_some(quadratic / q as f64)
}

/// The F test of `restrictions` zero coefficients from the residual sums of squares
/// of the model without them and with them, the latter with `df_residual` degrees of
/// freedom: Wu–Hausman's regression form (the first stages' residuals added to the
/// structural equation), which assumes homoskedastic errors whatever the variance.
pub fn nested_f(
    restricted_rss: f64,
    unrestricted_rss: f64,
    restrictions: f64,
    df_residual: f64,
) -> Test {
    let statistic =
        ((restricted_rss - unrestricted_rss) / restrictions) / (unrestricted_rss / df_residual);
    Test::new(statistic, Reference::F(restrictions, df_residual))
}

/// Sargan's statistic, `n (1 − RSS_aux / u'u)`: `u` the structural residuals (sum of
/// squares `residual_ss`) and `auxiliary_rss` what is left of them regressed on every
/// instrument (excluded and exogenous), with as many degrees of freedom as instruments
/// beyond the endogenous terms.
pub fn sargan(n: f64, residual_ss: f64, auxiliary_rss: f64, overidentifying: f64) -> Test {
    let statistic = n * (1.0 - auxiliary_rss / residual_ss);
    Test::new(statistic, Reference::ChiSquared(overidentifying))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wald_over_q_solves_the_covariance() {
        // β = (1, 2), V = diag(0.5, 2): (1/0.5 + 4/2) / 2 = 2.
        let v = Mat::from_fn(2, 2, |i, j| match (i, j) {
            (0, 0) => 0.5,
            (1, 1) => 2.0,
            _ => 0.0,
        });
        assert!((wald_over_q(&[1.0, 2.0], &v).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(wald_over_q(&[], &Mat::zeros(0, 0)), None);
    }

    #[test]
    fn p_values_are_upper_tails() {
        // F(1, ∞)'s 95th percentile is χ²(1)'s, 3.841.
        let chi = Test::new(3.841_458_820_694_124, Reference::ChiSquared(1.0));
        assert!((chi.p_value - 0.05).abs() < 1e-9);
        let f = nested_f(110.0, 100.0, 1.0, 100.0);
        assert!((f.statistic - 10.0).abs() < 1e-12);
        assert!(f.p_value > 0.001 && f.p_value < 0.01);
        let s = sargan(200.0, 50.0, 49.0, 1.0);
        assert!((s.statistic - 4.0).abs() < 1e-12);
    }
}
