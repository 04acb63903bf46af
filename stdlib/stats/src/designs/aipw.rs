//! Augmented inverse probability weighting (doubly robust), as Stata's `teffects aipw`:
//! a logit of treatment, a linear model of the outcome fitted separately in each group
//! and predicted for everyone, the augmented (unnormalised) means of the two potential
//! outcomes, and standard errors from the stacked estimating equations of all three.

use faer::Mat;

use super::ipw::{IpwError, dot, logistic, logit};

/// Stata's default `pstolerance`: a propensity nearer 0 or 1 than this breaks overlap.
pub const OVERLAP_TOLERANCE: f64 = 1e-5;

#[derive(Clone, Debug, PartialEq)]
pub struct Augmented {
    /// The average treatment effect and its standard error.
    pub effect: (f64, f64),
    /// The potential-outcome means under treatment and under control, with their
    /// standard errors.
    pub treated_mean: (f64, f64),
    pub control_mean: (f64, f64),
    /// The treatment logit's coefficients, the intercept first.
    pub treatment_coefficients: Vec<f64>,
    /// The outcome model's coefficients in the untreated and in the treated rows, the
    /// intercept first.
    pub outcome_coefficients: (Vec<f64>, Vec<f64>),
    pub propensity: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AipwError {
    /// The treatment model failed (no variation, perfect prediction, collinearity).
    Treatment(IpwError),
    /// Some propensities lie within `OVERLAP_TOLERANCE` of 0 or 1: how many.
    Overlap(usize),
    /// The outcome model cannot be fitted in one group (too few rows, or collinear
    /// covariates there): whether it is the treated group.
    OutcomeCollinear { treated: bool },
}

/// The effect of treatment `t` (0 or 1) on `y`: propensity from a logit on
/// `treatment_covariates`, outcome regressions on `outcome_covariates` (each a column;
/// intercepts added to both).
pub fn estimate(
    y: &[f64],
    t: &[f64],
    treatment_covariates: &[Vec<f64>],
    outcome_covariates: &[Vec<f64>],
) -> Result<Augmented, AipwError> {
    let n = y.len();
    let treated = t.iter().filter(|v| **v == 1.0).count();
    if treated == 0 || treated == n {
        return Err(AipwError::Treatment(IpwError::NoVariation));
    }
    let z = with_intercept(treatment_covariates, n);
    let x = with_intercept(outcome_covariates, n);
    let (gamma, _) = logit(&z, t).map_err(AipwError::Treatment)?;
    let p: Vec<f64> = z.iter().map(|row| logistic(dot(row, &gamma))).collect();
    let outside = p
        .iter()
        .filter(|v| **v < OVERLAP_TOLERANCE || **v > 1.0 - OVERLAP_TOLERANCE)
        .count();
    if outside > 0 {
        return Err(AipwError::Overlap(outside));
    }
    let beta0 = least_squares(&x, y, |i| t[i] == 0.0)
        .ok_or(AipwError::OutcomeCollinear { treated: false })?;
    let beta1 = least_squares(&x, y, |i| t[i] == 1.0)
        .ok_or(AipwError::OutcomeCollinear { treated: true })?;
    let m0: Vec<f64> = x.iter().map(|row| dot(row, &beta0)).collect();
    let m1: Vec<f64> = x.iter().map(|row| dot(row, &beta1)).collect();
    // Each row's augmented potential outcomes: the prediction, corrected by the inverse-
    // probability-weighted residual of the rows observed in that state.
    let phi0: Vec<f64> = (0..n)
        .map(|i| m0[i] + (1.0 - t[i]) * (y[i] - m0[i]) / (1.0 - p[i]))
        .collect();
    let phi1: Vec<f64> = (0..n)
        .map(|i| m1[i] + t[i] * (y[i] - m1[i]) / p[i])
        .collect();
    let mu0 = phi0.iter().sum::<f64>() / n as f64;
    let mu1 = phi1.iter().sum::<f64>() / n as f64;
    let equations = Equations {
        z: &z,
        x: &x,
        t,
        y,
        p: &p,
        fitted: (&m0, &m1),
        augmented: (&phi0, &phi1),
        means: (mu0, mu1),
    };
    let v = equations
        .variance()
        .ok_or(AipwError::Treatment(IpwError::Singular))?;
    let (j0, j1) = (v.nrows() - 2, v.nrows() - 1);
    Ok(Augmented {
        effect: (
            mu1 - mu0,
            (v[(j1, j1)] + v[(j0, j0)] - 2.0 * v[(j0, j1)]).sqrt(),
        ),
        treated_mean: (mu1, v[(j1, j1)].sqrt()),
        control_mean: (mu0, v[(j0, j0)].sqrt()),
        treatment_coefficients: gamma,
        outcome_coefficients: (beta0, beta1),
        propensity: p,
    })
}

fn with_intercept(columns: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| {
            std::iter::once(1.0)
                .chain(columns.iter().map(|c| c[i]))
                .collect()
        })
        .collect()
}

/// Ordinary least squares of `y` on the rows of `x` that `keep` selects.
fn least_squares(x: &[Vec<f64>], y: &[f64], keep: impl Fn(usize) -> bool) -> Option<Vec<f64>> {
    let k = x[0].len();
    let mut cross = Mat::<f64>::zeros(k, k);
    let mut xty = vec![0.0; k];
    let mut rows = 0;
    for (i, row) in x.iter().enumerate().filter(|(i, _)| keep(*i)) {
        rows += 1;
        for j in 0..k {
            xty[j] += row[j] * y[i];
            for l in 0..k {
                cross[(j, l)] += row[j] * row[l];
            }
        }
    }
    if rows <= k {
        return None;
    }
    let beta = crate::linalg::solve(&cross, &xty)?;
    beta.iter().all(|b| b.is_finite()).then_some(beta)
}

/// The pieces of the stacked estimating equations θ = (γ, β₀, β₁, μ₀, μ₁):
/// ψ_γ = z(t − p), ψ_β0 = (1 − t)x(y − m₀), ψ_β1 = t x(y − m₁), ψ_μ0 = φ₀ − μ₀ and
/// ψ_μ1 = φ₁ − μ₁, with φ the augmented potential outcomes.
struct Equations<'a> {
    z: &'a [Vec<f64>],
    x: &'a [Vec<f64>],
    t: &'a [f64],
    y: &'a [f64],
    p: &'a [f64],
    fitted: (&'a [f64], &'a [f64]),
    augmented: (&'a [f64], &'a [f64]),
    means: (f64, f64),
}

impl Equations<'_> {
    /// `J⁻¹ B J⁻ᵀ` over sums (the n's cancel), with J = Σ ∂ψ/∂θᵀ and B = Σ ψψᵀ: no
    /// small-sample factor, as Stata's `teffects`.
    fn variance(&self) -> Option<Mat<f64>> {
        let (kz, kx) = (self.z[0].len(), self.x[0].len());
        let (b0, b1, j0, j1) = (kz, kz + kx, kz + 2 * kx, kz + 2 * kx + 1);
        let size = j1 + 1;
        let mut jacobian = Mat::<f64>::zeros(size, size);
        let mut meat = Mat::<f64>::zeros(size, size);
        let mut psi = vec![0.0; size];
        for i in 0..self.z.len() {
            let (z, x, t, p) = (&self.z[i], &self.x[i], self.t[i], self.p[i]);
            let (r0, r1) = (self.y[i] - self.fitted.0[i], self.y[i] - self.fitted.1[i]);
            let slope = p * (1.0 - p);
            for j in 0..kz {
                psi[j] = z[j] * (t - p);
                for l in 0..kz {
                    jacobian[(j, l)] -= slope * z[j] * z[l];
                }
                jacobian[(j0, j)] += (1.0 - t) * r0 * slope / ((1.0 - p) * (1.0 - p)) * z[j];
                jacobian[(j1, j)] -= t * r1 * slope / (p * p) * z[j];
            }
            for j in 0..kx {
                psi[b0 + j] = (1.0 - t) * x[j] * r0;
                psi[b1 + j] = t * x[j] * r1;
                for l in 0..kx {
                    jacobian[(b0 + j, b0 + l)] -= (1.0 - t) * x[j] * x[l];
                    jacobian[(b1 + j, b1 + l)] -= t * x[j] * x[l];
                }
                jacobian[(j0, b0 + j)] += (1.0 - (1.0 - t) / (1.0 - p)) * x[j];
                jacobian[(j1, b1 + j)] += (1.0 - t / p) * x[j];
            }
            psi[j0] = self.augmented.0[i] - self.means.0;
            psi[j1] = self.augmented.1[i] - self.means.1;
            for j in 0..size {
                for l in 0..size {
                    meat[(j, l)] += psi[j] * psi[l];
                }
            }
        }
        let n = self.z.len() as f64;
        jacobian[(j0, j0)] = -n;
        jacobian[(j1, j1)] = -n;
        let inverse = faer::linalg::solvers::DenseSolveCore::inverse(&jacobian.partial_piv_lu());
        if (0..size).any(|j| (0..size).any(|l| !inverse[(j, l)].is_finite())) {
            return None;
        }
        Some(&inverse * &meat * inverse.transpose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_a_constant_propensity_and_no_outcome_covariates_it_is_the_difference_in_means() {
        // Outcome models of an intercept alone predict each group's mean; with p the
        // share treated for everyone, the augmentation adds nothing on average.
        let t = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let x = vec![vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]];
        let y = [5.0, 3.0, 6.0, 2.0, 7.0, 4.0, 9.0, 3.0];
        let a = estimate(&y, &t, &x, &[]).unwrap();
        assert!(
            (a.effect.0 - (27.0 / 4.0 - 12.0 / 4.0)).abs() < 1e-9,
            "{:?}",
            a.effect
        );
        assert!(a.effect.1 > 0.0);
    }

    #[test]
    fn a_propensity_beyond_the_tolerance_breaks_overlap() {
        // x = 9 is far out on the treated side of the logit.
        let t = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
        let x = vec![vec![0.0, 0.5, 1.0, 1.2, 1.5, 1.8, 2.0, 2.5, 90.0]];
        let y = [1.0; 9];
        assert!(matches!(
            estimate(&y, &t, &x, &x),
            Err(AipwError::Overlap(_))
        ));
    }
}
