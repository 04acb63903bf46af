//! Effect sizes for meta-analysis from each study's counts or summary statistics, as
//! metafor's `escalc` (3.8) computes them by default.

use statrs::function::gamma::ln_gamma;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Log risk ratio, log odds ratio, risk difference: from a 2x2 table.
    LogRiskRatio,
    LogOddsRatio,
    RiskDifference,
    /// Hedges' g: the standardised mean difference with the exact small-sample correction.
    StandardisedMeanDifference,
}

/// A 2x2 table: events and non-events among the treated (a, b) and the controls (c, d).
/// A table with a zero cell gets 1/2 added to each of its four cells first (escalc's
/// `add = 1/2, to = "only0"`; tables with no events at all are kept, `drop00 = FALSE`).
/// The estimate and its variance; `None` for a negative count.
pub fn from_counts(measure: Measure, a: f64, b: f64, c: f64, d: f64) -> Option<(f64, f64)> {
    if [a, b, c, d].iter().any(|x| !x.is_finite() || *x < 0.0) {
        return None;
    }
    let zero = [a, b, c, d].contains(&0.0);
    let add = if zero { 0.5 } else { 0.0 };
    let (a, b, c, d) = (a + add, b + add, c + add, d + add);
    let (n1, n2) = (a + b, c + d);
    if n1 <= 0.0 || n2 <= 0.0 {
        return None;
    }
    Some(match measure {
        Measure::LogRiskRatio => (
            ((a / n1) / (c / n2)).ln(),
            1.0 / a - 1.0 / n1 + 1.0 / c - 1.0 / n2,
        ),
        Measure::LogOddsRatio => (
            ((a * d) / (b * c)).ln(),
            1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d,
        ),
        Measure::RiskDifference => {
            let (p1, p2) = (a / n1, c / n2);
            (p1 - p2, p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2)
        }
        Measure::StandardisedMeanDifference => return None,
    })
}

/// Hedges' g from each group's mean, standard deviation and size, with its large-sample
/// variance 1/n₁ + 1/n₂ + g²/(2(n₁ + n₂)) (escalc's `vtype = "LS"`). `None` when a group has
/// fewer than two members or the pooled standard deviation is 0.
pub fn standardised_mean_difference(
    treated: (f64, f64, f64),
    control: (f64, f64, f64),
) -> Option<(f64, f64)> {
    let ((m1, sd1, n1), (m2, sd2, n2)) = (treated, control);
    if n1.is_nan() || n2.is_nan() || n1 < 2.0 || n2 < 2.0 || sd1 < 0.0 || sd2 < 0.0 {
        return None;
    }
    let df = n1 + n2 - 2.0;
    let pooled = (((n1 - 1.0) * sd1 * sd1 + (n2 - 1.0) * sd2 * sd2) / df).sqrt();
    if pooled.is_nan() || pooled <= 0.0 {
        return None;
    }
    // The exact correction c(m) = Γ(m/2) / (√(m/2) Γ((m − 1)/2)).
    let correction =
        (ln_gamma(df / 2.0) - (df / 2.0).sqrt().ln() - ln_gamma((df - 1.0) / 2.0)).exp();
    let g = correction * (m1 - m2) / pooled;
    Some((g, 1.0 / n1 + 1.0 / n2 + g * g / (2.0 * (n1 + n2))))
}
