//! Generalised linear models by iteratively reweighted least squares, with fixed
//! effects absorbed by weighted demeaning at every step (as fixest does), step-halving,
//! and convergence on the relative change in deviance (1e-10, at most 50 steps). For
//! links that are not canonical (probit; log with NB2) IRLS converges only linearly,
//! so the coefficients must also have stopped moving (1e-10 relative).
//!
//! References: McCullagh & Nelder (1989) ch. 2; R's `glm.fit`; Bergé (2018) for the
//! demeaning of absorbed effects.

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::gamma::ln_gamma;

use rayon::prelude::*;

use super::linalg;
use super::rows::{CHUNK, Cells, Rows, fill_chunks};
use crate::formula::design::{Grouping, MatrixColumn};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    Identity,
    Logit,
    Probit,
    Log,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Family {
    Gaussian,
    Binomial(Link),
    Poisson,
    /// NB2 with a known shape `theta` (variance mu + mu^2/theta).
    NegBin(f64),
}

impl Family {
    pub fn link(self) -> Link {
        match self {
            Family::Gaussian => Link::Identity,
            Family::Binomial(link) => link,
            Family::Poisson | Family::NegBin(_) => Link::Log,
        }
    }

    fn variance(self, mu: f64) -> f64 {
        match self {
            Family::Gaussian => 1.0,
            Family::Binomial(_) => mu * (1.0 - mu),
            Family::Poisson => mu,
            Family::NegBin(theta) => mu + mu * mu / theta,
        }
    }

    /// The unit deviance of one observation (weight 1).
    fn unit_deviance(self, y: f64, mu: f64) -> f64 {
        let ylog = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * (a / b).ln() };
        match self {
            Family::Gaussian => (y - mu) * (y - mu),
            Family::Binomial(_) => 2.0 * (ylog(y, mu) + ylog(1.0 - y, 1.0 - mu)),
            Family::Poisson => 2.0 * (ylog(y, mu) - (y - mu)),
            Family::NegBin(theta) => {
                2.0 * (ylog(y, mu) - (y + theta) * ((y + theta) / (mu + theta)).ln())
            }
        }
    }

    fn start(self, y: f64, trials: f64) -> f64 {
        match self {
            Family::Gaussian => y,
            Family::Binomial(_) => (trials * y + 0.5) / (trials + 1.0),
            Family::Poisson => y + 0.1,
            Family::NegBin(_) => y + if y == 0.0 { 1.0 / 6.0 } else { 0.0 },
        }
    }
}

impl Link {
    pub fn inverse(self, eta: f64) -> f64 {
        match self {
            Link::Identity => eta,
            Link::Logit => 1.0 / (1.0 + (-eta).exp()),
            Link::Probit => standard_normal().cdf(eta),
            Link::Log => eta.exp(),
        }
    }

    fn apply(self, mu: f64) -> f64 {
        match self {
            Link::Identity => mu,
            Link::Logit => (mu / (1.0 - mu)).ln(),
            Link::Probit => standard_normal().inverse_cdf(mu),
            Link::Log => mu.ln(),
        }
    }

    /// d mu / d eta.
    pub fn derivative(self, eta: f64) -> f64 {
        match self {
            Link::Identity => 1.0,
            Link::Logit => {
                let e = (-eta.abs()).exp();
                e / ((1.0 + e) * (1.0 + e))
            }
            Link::Probit => (-0.5 * eta * eta).exp() / (2.0 * std::f64::consts::PI).sqrt(),
            Link::Log => eta.exp(),
        }
        .max(f64::EPSILON)
    }
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// What the fit works with: the design's numbers, weights folded together.
pub struct Problem<'a> {
    pub family: Family,
    pub y: &'a [f64],
    pub columns: &'a [MatrixColumn],
    /// Prior weights: probability or frequency weights times binomial trials.
    pub weights: &'a [f64],
    pub trials: &'a [f64],
    pub offset: &'a [f64],
    pub fixed_effects: &'a [Grouping],
}

pub struct Fit<'a> {
    /// One per column; `None` for a column dropped as collinear.
    pub beta: Vec<Option<f64>>,
    /// Indices of the columns estimated.
    pub kept: Vec<usize>,
    pub mu: Vec<f64>,
    pub eta: Vec<f64>,
    /// IRLS working weights and residuals at the solution (for the sandwich).
    pub working_weights: Vec<f64>,
    pub working_residuals: Vec<f64>,
    /// The estimated columns, demeaned within the absorbed groups at the solution's
    /// working weights.
    pub rows: Rows<'a>,
    pub deviance: f64,
    pub iterations: usize,
    pub converged: bool,
}

const MAX_ITERATIONS: usize = 50;
const TOLERANCE: f64 = 1e-10;

pub fn fit<'a>(problem: &Problem<'a>) -> Fit<'a> {
    let n = problem.y.len();
    let family = problem.family;
    let link = family.link();
    let mut mu: Vec<f64> = (0..n)
        .map(|i| family.start(problem.y[i], problem.trials[i]))
        .collect();
    let mut eta: Vec<f64> = mu.iter().map(|&m| link.apply(m)).collect();
    let mut deviance_old = f64::INFINITY;
    let mut kept: Vec<usize> = (0..problem.columns.len()).collect();
    let kept_columns = |kept: &[usize]| -> Vec<&MatrixColumn> {
        kept.iter().map(|&j| &problem.columns[j]).collect()
    };
    let mut cells = Cells::new(&kept_columns(&kept));
    let mut beta = vec![0.0; kept.len()];
    let mut w = vec![0.0; n];
    let mut z = vec![0.0; n];
    let mut converged = false;
    let mut iterations = 0;
    let mut deviance = f64::NAN;
    let mut first = true;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        working(problem, &eta, &mu, &mut w, &mut z, true);
        let mut rows = Rows::with_cells(
            kept_columns(&kept),
            problem.fixed_effects,
            &w,
            cells.clone(),
        );
        let (mut xtwx, mut xtwz) = rows.cross_products(&w, &z);
        if first {
            // Collinear columns are found once, on the first weighted design.
            let dropped = linalg::collinear(&xtwx, 1e-10);
            if !dropped.is_empty() {
                kept = kept
                    .iter()
                    .enumerate()
                    .filter(|(a, _)| !dropped.contains(a))
                    .map(|(_, &j)| j)
                    .collect();
                cells = Cells::new(&kept_columns(&kept));
                rows = Rows::with_cells(
                    kept_columns(&kept),
                    problem.fixed_effects,
                    &w,
                    cells.clone(),
                );
                (xtwx, xtwz) = rows.cross_products(&w, &z);
            }
            first = false;
        }
        let Some(new_beta) = linalg::solve(&xtwx, &xtwz) else {
            break;
        };
        // eta = offset + z - (z~ - X~ beta): the fixed effects' part is what demeaning removed.
        let mut new_eta = rows.predictor(&new_beta, &z, &w);
        fill_chunks(&mut new_eta, |range, part| {
            for (e, i) in part.iter_mut().zip(range) {
                *e += problem.offset[i];
            }
        });
        let (mut new_mu, mut new_deviance) = means_and_deviance(problem, &new_eta);
        let mut halvings = 0;
        while (!new_deviance.is_finite() || new_deviance > deviance_old * (1.0 + 1e-8) + 1e-8)
            && halvings < 30
            && deviance_old.is_finite()
        {
            halvings += 1;
            fill_chunks(&mut new_eta, |range, part| {
                for (e, i) in part.iter_mut().zip(range) {
                    *e = 0.5 * (*e + eta[i]);
                }
            });
            (new_mu, new_deviance) = means_and_deviance(problem, &new_eta);
        }
        let canonical = matches!(
            family,
            Family::Gaussian | Family::Binomial(Link::Logit) | Family::Poisson
        );
        let settled = canonical
            || beta.len() == new_beta.len()
                && beta
                    .iter()
                    .zip(&new_beta)
                    .all(|(old, new)| (new - old).abs() <= TOLERANCE * (new.abs() + 1e-6));
        beta = new_beta;
        eta = new_eta;
        mu = new_mu;
        deviance = new_deviance;
        if (deviance - deviance_old).abs() / (deviance.abs() + 0.1) < TOLERANCE && settled {
            converged = true;
            break;
        }
        deviance_old = deviance;
    }
    // The sandwich needs the weights and residuals at the solution.
    working(problem, &eta, &mu, &mut w, &mut z, false);
    let rows = Rows::with_cells(kept_columns(&kept), problem.fixed_effects, &w, cells);
    let mut full = vec![None; problem.columns.len()];
    for (a, &j) in kept.iter().enumerate() {
        full[j] = beta.get(a).copied();
    }
    Fit {
        beta: full,
        kept,
        mu,
        eta,
        working_weights: w,
        working_residuals: z,
        rows,
        deviance,
        iterations,
        converged,
    }
}

/// IRLS working weights `w` and residuals `(y - mu) / mu'`, plus `eta - offset` when
/// `response` (the working response) rather than the bare residual.
fn working(
    problem: &Problem,
    eta: &[f64],
    mu: &[f64],
    w: &mut [f64],
    z: &mut [f64],
    response: bool,
) {
    let (family, link) = (problem.family, problem.family.link());
    w.par_chunks_mut(CHUNK)
        .zip(z.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(c, (w, z))| {
            for r in 0..w.len() {
                let i = c * CHUNK + r;
                // For the logit mu' = mu(1 - mu): no exponential to take again.
                let d = if link == Link::Logit {
                    (mu[i] * (1.0 - mu[i])).max(f64::EPSILON)
                } else {
                    link.derivative(eta[i])
                };
                let residual = (problem.y[i] - mu[i]) / d;
                z[r] = if response {
                    eta[i] - problem.offset[i] + residual
                } else {
                    residual
                };
                w[r] = problem.weights[i] * d * d / family.variance(mu[i]).max(f64::MIN_POSITIVE);
            }
        });
}

/// The means at `eta` and the deviance there, in one pass.
fn means_and_deviance(problem: &Problem, eta: &[f64]) -> (Vec<f64>, f64) {
    let family = problem.family;
    let link = family.link();
    let mut mu = vec![0.0; eta.len()];
    let partials: Vec<f64> = mu
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, part)| {
            let mut deviance = 0.0;
            for (r, m) in part.iter_mut().enumerate() {
                let i = c * CHUNK + r;
                *m = clamp_mu(family, link.inverse(eta[i]));
                deviance += problem.weights[i] * family.unit_deviance(problem.y[i], *m);
            }
            deviance
        })
        .collect();
    (mu, partials.into_iter().sum())
}

fn clamp_mu(family: Family, mu: f64) -> f64 {
    match family {
        Family::Binomial(_) => mu.clamp(f64::EPSILON, 1.0 - f64::EPSILON),
        Family::Poisson | Family::NegBin(_) => mu.max(f64::MIN_POSITIVE),
        Family::Gaussian => mu,
    }
}

/// The log-likelihood at `mu` (prior weights as frequency weights).
pub fn log_likelihood(problem: &Problem, mu: &[f64]) -> f64 {
    let n = mu.len();
    match problem.family {
        Family::Gaussian => {
            let rss: f64 = (0..n)
                .map(|i| problem.weights[i] * (problem.y[i] - mu[i]).powi(2))
                .sum();
            let sum_w: f64 = problem.weights.iter().sum();
            let log_w: f64 = problem
                .weights
                .iter()
                .filter(|w| **w > 0.0)
                .map(|w| w.ln())
                .sum();
            0.5 * (log_w
                - sum_w * ((2.0 * std::f64::consts::PI).ln() + 1.0 - sum_w.ln() + rss.ln()))
        }
        Family::Binomial(_) => (0..n)
            .map(|i| {
                let m = problem.trials[i];
                let k = (problem.y[i] * m).round();
                let w = problem.weights[i] / m;
                let choose = ln_gamma(m + 1.0) - ln_gamma(k + 1.0) - ln_gamma(m - k + 1.0);
                let term = |count: f64, p: f64| if count == 0.0 { 0.0 } else { count * p.ln() };
                w * (choose + term(k, mu[i]) + term(m - k, 1.0 - mu[i]))
            })
            .sum(),
        Family::Poisson => (0..n)
            .map(|i| {
                let y = problem.y[i];
                problem.weights[i]
                    * (if y == 0.0 { 0.0 } else { y * mu[i].ln() } - mu[i] - ln_gamma(y + 1.0))
            })
            .sum(),
        Family::NegBin(theta) => (0..n)
            .map(|i| {
                let (y, m) = (problem.y[i], mu[i]);
                problem.weights[i]
                    * (ln_gamma(y + theta) - ln_gamma(theta) - ln_gamma(y + 1.0)
                        + theta * (theta / (theta + m)).ln()
                        + if y == 0.0 {
                            0.0
                        } else {
                            y * (m / (theta + m)).ln()
                        })
            })
            .sum(),
    }
}
