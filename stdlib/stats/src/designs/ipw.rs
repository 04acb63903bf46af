//! Inverse probability weighting: a logit model of treatment, normalised (Hájek)
//! weights, and the effect's standard error from the stacked estimating equations of
//! the logit and the two weighted means, as Stata's `teffects ipw` computes them.

use faer::Mat;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimand {
    /// The average effect over everyone.
    Ate,
    /// The average effect over the treated.
    Att,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Weighting {
    pub effect: f64,
    pub std_error: f64,
    /// The weighted mean outcome under treatment and under control (the potential-outcome
    /// means of the estimand's population), with their standard errors.
    pub treated_mean: (f64, f64),
    pub control_mean: (f64, f64),
    /// The logit's coefficients, the intercept first.
    pub coefficients: Vec<f64>,
    /// Each row's propensity score and normalised weight (summing to each group's size).
    pub propensity: Vec<f64>,
    pub weights: Vec<f64>,
    pub iterations: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IpwError {
    /// Every row is treated, or none is.
    NoVariation,
    /// Some propensity is 0 or 1 to machine precision: the covariates predict
    /// treatment perfectly for some rows, and their weights are infinite.
    PerfectPrediction,
    /// The covariates are collinear (with the intercept or each other).
    Singular,
    NotConverged,
}

const MAX_ITERATIONS: usize = 100;

/// The effect of treatment `t` (0 or 1) on `y`, weighting by the inverse of the
/// propensity from a logit on the `covariates` (each a column; an intercept is added).
pub fn estimate(
    y: &[f64],
    t: &[f64],
    covariates: &[Vec<f64>],
    estimand: Estimand,
) -> Result<Weighting, IpwError> {
    let n = y.len();
    let treated = t.iter().filter(|v| **v == 1.0).count();
    if treated == 0 || treated == n {
        return Err(IpwError::NoVariation);
    }
    let x: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            std::iter::once(1.0)
                .chain(covariates.iter().map(|c| c[i]))
                .collect()
        })
        .collect();
    let (gamma, iterations) = logit(&x, t)?;
    let p: Vec<f64> = x.iter().map(|row| logistic(dot(row, &gamma))).collect();
    if p.iter().any(|v| *v < 1e-12 || *v > 1.0 - 1e-12) {
        return Err(IpwError::PerfectPrediction);
    }
    // Each row's weight in the treated and in the control mean.
    let (w1, w0): (Vec<f64>, Vec<f64>) = (0..n)
        .map(|i| match estimand {
            Estimand::Ate => (t[i] / p[i], (1.0 - t[i]) / (1.0 - p[i])),
            Estimand::Att => (t[i], (1.0 - t[i]) * p[i] / (1.0 - p[i])),
        })
        .unzip();
    let weighted_mean = |w: &[f64]| {
        let total: f64 = w.iter().sum();
        w.iter().zip(y).map(|(w, y)| w * y).sum::<f64>() / total
    };
    let (mu1, mu0) = (weighted_mean(&w1), weighted_mean(&w0));
    let variance =
        stacked_variance(&x, t, y, &p, &w1, &w0, (mu1, mu0), estimand).ok_or(IpwError::Singular)?;
    let k = gamma.len();
    let (v11, v00, v10) = (
        variance[(k, k)],
        variance[(k + 1, k + 1)],
        variance[(k, k + 1)],
    );
    let normalised = |w: &[f64]| -> Vec<f64> {
        let total: f64 = w.iter().sum();
        let count = w.iter().filter(|v| **v > 0.0).count() as f64;
        w.iter().map(|v| v * count / total).collect()
    };
    let (n1, n0) = (normalised(&w1), normalised(&w0));
    Ok(Weighting {
        effect: mu1 - mu0,
        std_error: (v11 + v00 - 2.0 * v10).sqrt(),
        treated_mean: (mu1, v11.sqrt()),
        control_mean: (mu0, v00.sqrt()),
        coefficients: gamma,
        propensity: p,
        weights: (0..n)
            .map(|i| if t[i] == 1.0 { n1[i] } else { n0[i] })
            .collect(),
        iterations,
    })
}

/// Each row's propensity from a logit of `t` on the `covariates` (an intercept added).
pub fn propensity(t: &[f64], covariates: &[Vec<f64>]) -> Result<Vec<f64>, IpwError> {
    let treated = t.iter().filter(|v| **v == 1.0).count();
    if treated == 0 || treated == t.len() {
        return Err(IpwError::NoVariation);
    }
    let x: Vec<Vec<f64>> = (0..t.len())
        .map(|i| {
            std::iter::once(1.0)
                .chain(covariates.iter().map(|c| c[i]))
                .collect()
        })
        .collect();
    let (gamma, _) = logit(&x, t)?;
    Ok(x.iter().map(|row| logistic(dot(row, &gamma))).collect())
}

/// The variance of (γ, μ1, μ0) from the stacked estimating equations
/// `ψ = [x(t − p), w1(y − μ1), w0(y − μ0)]`: `A⁻¹ B A⁻ᵀ / n` with `A = −mean(∂ψ/∂θ)`
/// and `B = mean(ψψᵀ)`, no small-sample factor (Stata's `teffects`).
#[allow(clippy::too_many_arguments)]
fn stacked_variance(
    x: &[Vec<f64>],
    t: &[f64],
    y: &[f64],
    p: &[f64],
    w1: &[f64],
    w0: &[f64],
    (mu1, mu0): (f64, f64),
    estimand: Estimand,
) -> Option<Mat<f64>> {
    let n = x.len();
    let k = x[0].len();
    let size = k + 2;
    let mut a = Mat::<f64>::zeros(size, size);
    let mut b = Mat::<f64>::zeros(size, size);
    let mut psi = vec![0.0; size];
    for i in 0..n {
        let (r1, r0) = (y[i] - mu1, y[i] - mu0);
        // d w1/dγ and d w0/dγ are these multiples of x.
        let (dw1, dw0) = match estimand {
            Estimand::Ate => (-w1[i] * (1.0 - p[i]), w0[i] * p[i]),
            Estimand::Att => (0.0, w0[i]),
        };
        let h = p[i] * (1.0 - p[i]);
        for j in 0..k {
            psi[j] = x[i][j] * (t[i] - p[i]);
            for l in 0..k {
                a[(j, l)] += h * x[i][j] * x[i][l];
            }
            a[(k, j)] -= dw1 * r1 * x[i][j];
            a[(k + 1, j)] -= dw0 * r0 * x[i][j];
        }
        a[(k, k)] += w1[i];
        a[(k + 1, k + 1)] += w0[i];
        psi[k] = w1[i] * r1;
        psi[k + 1] = w0[i] * r0;
        for j in 0..size {
            for l in 0..size {
                b[(j, l)] += psi[j] * psi[l];
            }
        }
    }
    // A is not symmetric: invert by LU. Sums, not means: A⁻¹BA⁻ᵀ of the sums is the
    // variance (the n's cancel).
    let inverse = faer::linalg::solvers::DenseSolveCore::inverse(&a.partial_piv_lu());
    if (0..size).any(|j| (0..size).any(|l| !inverse[(j, l)].is_finite())) {
        return None;
    }
    Some(&inverse * &b * inverse.transpose())
}

/// Maximum likelihood logit by Newton's method from zero.
pub(super) fn logit(x: &[Vec<f64>], t: &[f64]) -> Result<(Vec<f64>, usize), IpwError> {
    let k = x[0].len();
    let mut gamma = vec![0.0; k];
    for iteration in 1..=MAX_ITERATIONS {
        let mut information = Mat::<f64>::zeros(k, k);
        let mut score = vec![0.0; k];
        for (row, ti) in x.iter().zip(t) {
            let p = logistic(dot(row, &gamma));
            let h = p * (1.0 - p);
            for j in 0..k {
                score[j] += row[j] * (ti - p);
                for l in 0..k {
                    information[(j, l)] += h * row[j] * row[l];
                }
            }
        }
        let step = match crate::linalg::solve(&information, &score) {
            Some(step) => step,
            None if separating(x, &gamma) => return Err(IpwError::PerfectPrediction),
            None => return Err(IpwError::Singular),
        };
        let mut largest: f64 = 0.0;
        for (g, s) in gamma.iter_mut().zip(&step) {
            *g += s;
            largest = largest.max(s.abs() / g.abs().max(1.0));
        }
        if largest.is_nan() || gamma.iter().any(|g| g.abs() > 1e6) {
            return Err(IpwError::PerfectPrediction);
        }
        if largest < 1e-12 {
            return Ok((gamma, iteration));
        }
    }
    if separating(x, &gamma) {
        return Err(IpwError::PerfectPrediction);
    }
    Err(IpwError::NotConverged)
}

/// Whether some row's propensity is within e^-30 of 0 or 1: the logit is running off
/// to infinity on a covariate that separates the groups.
fn separating(x: &[Vec<f64>], gamma: &[f64]) -> bool {
    x.iter().any(|row| dot(row, gamma).abs() > 30.0)
}

pub(super) fn logistic(eta: f64) -> f64 {
    1.0 / (1.0 + (-eta).exp())
}

pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_a_constant_propensity_the_effect_is_the_difference_in_means() {
        // A covariate unrelated to treatment within the sample: p is the share treated
        // for everyone, and the weighted means are the groups' plain means.
        let t = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let x = vec![vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]];
        let y = [5.0, 3.0, 6.0, 2.0, 7.0, 4.0, 9.0, 3.0];
        let w = estimate(&y, &t, &x, Estimand::Ate).unwrap();
        assert!(
            (w.effect - (27.0 / 4.0 - 12.0 / 4.0)).abs() < 1e-9,
            "{}",
            w.effect
        );
        assert!(w.propensity.iter().all(|p| (p - 0.5).abs() < 1e-9));
    }

    #[test]
    fn a_treatment_for_everyone_is_refused() {
        let one = [1.0, 1.0, 1.0];
        assert_eq!(
            estimate(&one, &one, &[], Estimand::Att),
            Err(IpwError::NoVariation)
        );
    }
}
