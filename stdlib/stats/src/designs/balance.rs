//! Covariate balance between a treated and an untreated group, before and after
//! weighting, as R's cobalt (`bal.tab`) reports it: standardised mean differences for
//! continuous covariates and raw differences in proportions for binary ones, and
//! variance ratios for continuous ones.

/// Which standard deviation standardises a difference: the treated group's (for the
/// effect on the treated) or the two groups' pooled, √((s²₁ + s²₀)/2) (for the average
/// effect). Always from the unweighted rows, so that weighting changes only the
/// numerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denominator {
    Treated,
    Pooled,
}

/// One covariate's balance under one set of weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Balance {
    pub mean_treated: f64,
    pub mean_control: f64,
    /// Standardised difference (continuous) or difference in proportions (binary).
    pub difference: f64,
    /// Treated variance over control variance; `None` for a binary covariate.
    pub variance_ratio: Option<f64>,
}

/// Whether a covariate takes only the values 0 and 1.
pub fn is_binary(x: &[f64]) -> bool {
    x.iter().all(|v| *v == 0.0 || *v == 1.0)
}

/// The balance of `x` between rows with `treated` true and false, each row weighing
/// `weights[i]` (1 for the unadjusted balance).
pub fn balance(
    x: &[f64],
    treated: &[bool],
    weights: Option<&[f64]>,
    denominator: Denominator,
) -> Balance {
    let binary = is_binary(x);
    let group = |t: bool, w: Option<&[f64]>| -> (f64, f64) {
        let rows = (0..x.len()).filter(|&i| treated[i] == t);
        let pairs: Vec<(f64, f64)> = rows.map(|i| (x[i], w.map_or(1.0, |w| w[i]))).collect();
        moments(&pairs)
    };
    let (m1, v1) = group(true, weights);
    let (m0, v0) = group(false, weights);
    let (_, s1) = group(true, None);
    let (_, s0) = group(false, None);
    let scale = match denominator {
        Denominator::Treated => s1.sqrt(),
        Denominator::Pooled => ((s1 + s0) / 2.0).sqrt(),
    };
    Balance {
        mean_treated: m1,
        mean_control: m0,
        difference: if binary { m1 - m0 } else { (m1 - m0) / scale },
        variance_ratio: (!binary).then(|| v1 / v0),
    }
}

/// The weighted mean and variance of (value, weight) pairs, the variance with the
/// reliability-weights correction `Σw(x − m)² / (Σw − Σw²/Σw)` (n − 1 with unit
/// weights), as cobalt's `col_w_var`.
fn moments(pairs: &[(f64, f64)]) -> (f64, f64) {
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    let squares: f64 = pairs.iter().map(|p| p.1 * p.1).sum();
    let mean = pairs.iter().map(|(x, w)| x * w).sum::<f64>() / total;
    let spread: f64 = pairs.iter().map(|(x, w)| w * (x - mean) * (x - mean)).sum();
    (mean, spread / (total - squares / total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_weights_give_sample_variances_and_cohens_d() {
        let x = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0];
        let t = [true, true, true, false, false, false];
        let b = balance(&x, &t, None, Denominator::Pooled);
        // Means 2 and 3, both variances 1: d = −1, ratio 1.
        assert!((b.difference + 1.0).abs() < 1e-12);
        assert_eq!(b.variance_ratio, Some(1.0));
        let w = [1.0, 1.0, 1.0, 3.0, 1.0, 1.0];
        let weighted = balance(&x, &t, Some(&w), Denominator::Pooled);
        assert!((weighted.mean_control - 2.6).abs() < 1e-12);
        assert!(
            (weighted.difference - (2.0 - 2.6)).abs() < 1e-12,
            "the unweighted sd standardises"
        );
    }

    #[test]
    fn binary_covariates_give_differences_in_proportions() {
        let x = [1.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let t = [true, true, true, false, false, false];
        let b = balance(&x, &t, None, Denominator::Treated);
        assert!((b.difference - (2.0 / 3.0 - 1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(b.variance_ratio, None);
    }
}
