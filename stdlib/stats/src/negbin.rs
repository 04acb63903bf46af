//! The negative binomial (NB2) with its shape estimated, as MASS::glm.nb: IRLS at a
//! fixed shape alternating with the shape's maximum-likelihood estimate.

use statrs::function::gamma::digamma;

use crate::glm::{self, Family, Problem};

/// The NB2 fit: the GLM at the final theta, theta, its standard error, and what went
/// wrong on the way (MASS::glm.nb warns of the same).
pub struct NegBin<'a> {
    pub fit: glm::Fit<'a>,
    pub theta: f64,
    pub theta_se: f64,
    pub warnings: Vec<ThetaWarning>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThetaWarning {
    /// The GLM and theta did not settle in 50 alternations ("alternation limit reached").
    AlternationLimit,
    /// Newton's method for theta did not settle ("iteration limit reached").
    IterationLimit,
    /// Theta kept rising: the data show no over-dispersion beyond the Poisson's.
    Unbounded,
    /// The profile likelihood was not concave where Newton's method stood.
    Curvature,
    /// Theta fell to zero ("estimate truncated at zero").
    Truncated,
}

/// Theta above this is taken as running off to infinity: the negative binomial's
/// variance `mu + mu²/theta` is then the Poisson's to within 1e-6 of `mu²`.
const UNBOUNDED_THETA: f64 = 1e6;

/// NB2 by alternating: a GLM at fixed theta, then theta by Newton's method on its
/// profile likelihood, until both settle (MASS::glm.nb's scheme).
pub fn fit_negbin<'a>(problem: &mut Problem<'a>) -> NegBin<'a> {
    problem.family = Family::Poisson;
    let mut fitted = glm::fit(problem);
    let n = problem.y.len();
    let means = |family: Family, fitted: &glm::Fit| -> Vec<f64> {
        fitted
            .eta
            .iter()
            .map(|&eta| glm::mean(family, eta))
            .collect()
    };
    let mut theta = {
        let mu = means(problem.family, &fitted);
        let s: f64 = (0..n)
            .map(|i| problem.weights[i] * (problem.y[i] / mu[i] - 1.0).powi(2))
            .sum();
        let total: f64 = problem.weights.iter().sum();
        (total / s).max(1e-3)
    };
    let mut iterations = 0;
    let mut settled = false;
    for _ in 0..50 {
        if crate::cancel::requested() || fitted.failure.is_some() {
            break;
        }
        theta = theta_ml(problem, &means(problem.family, &fitted), theta).value;
        problem.family = Family::NegBin(theta);
        let previous = fitted.deviance;
        fitted = glm::fit(problem);
        iterations += fitted.iterations;
        let new_theta = theta_ml(problem, &means(problem.family, &fitted), theta).value;
        settled = (new_theta - theta).abs() / theta < 1e-10
            && (fitted.deviance - previous).abs() / (fitted.deviance.abs() + 0.1) < 1e-10;
        theta = new_theta;
        if settled {
            break;
        }
    }
    problem.family = Family::NegBin(theta);
    fitted = glm::fit(problem);
    let last = theta_ml(problem, &means(problem.family, &fitted), theta);
    fitted.iterations += iterations;
    let mut warnings = last.warnings();
    if !settled && !warnings.contains(&ThetaWarning::Unbounded) {
        warnings.insert(0, ThetaWarning::AlternationLimit);
    }
    NegBin {
        fit: fitted,
        theta,
        theta_se: 1.0 / last.information.sqrt(),
        warnings,
    }
}

/// Where Newton's method for theta ended.
struct Theta {
    value: f64,
    /// The expected information at `value`.
    information: f64,
    converged: bool,
    curvature: bool,
    truncated: bool,
}

impl Theta {
    fn warnings(&self) -> Vec<ThetaWarning> {
        let mut warnings = Vec::new();
        // Far out the likelihood is flat (steps look settled, or its curvature is lost
        // to rounding): whatever Newton's method says, theta has run off.
        if self.value > UNBOUNDED_THETA {
            warnings.push(ThetaWarning::Unbounded);
        } else if !self.curvature {
            warnings.push(ThetaWarning::Curvature);
        } else if !self.converged {
            warnings.push(ThetaWarning::IterationLimit);
        }
        if self.truncated {
            warnings.push(ThetaWarning::Truncated);
        }
        warnings
    }
}

/// Newton's method for theta given the means (MASS::theta.ml), checking at each step
/// that the information is positive (the profile likelihood concave there).
fn theta_ml(problem: &Problem, mu: &[f64], start: f64) -> Theta {
    let mut theta = Theta {
        value: start,
        information: f64::NAN,
        converged: false,
        curvature: true,
        truncated: false,
    };
    for _ in 0..100 {
        let (score, information) = theta_score(problem, mu, theta.value);
        theta.information = information;
        if !(information > 0.0 && information.is_finite() && score.is_finite()) {
            theta.curvature = false;
            break;
        }
        let step = score / information;
        theta.truncated = theta.value + step <= 0.0;
        theta.value = (theta.value + step).max(1e-8);
        if step.abs() < 1e-12 * theta.value.max(1.0) {
            theta.converged = true;
            break;
        }
    }
    theta
}

/// The score and expected information of theta's profile log-likelihood.
fn theta_score(problem: &Problem, mu: &[f64], theta: f64) -> (f64, f64) {
    let mut score = 0.0;
    let mut information = 0.0;
    for i in 0..mu.len() {
        let (y, m, w) = (problem.y[i], mu[i], problem.weights[i]);
        score += w
            * (digamma(theta + y) - digamma(theta) + theta.ln() + 1.0
                - (theta + m).ln()
                - (y + theta) / (m + theta));
        information += w
            * (-trigamma(theta + y) + trigamma(theta) - 1.0 / theta + 2.0 / (m + theta)
                - (y + theta) / (m + theta).powi(2));
    }
    (score, information)
}

/// The trigamma function: recurrence up to 6, then its asymptotic series.
fn trigamma(mut x: f64) -> f64 {
    let mut value = 0.0;
    while x < 6.0 {
        value += 1.0 / (x * x);
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    value
        + inv
        + inv2 / 2.0
        + inv * inv2 * (1.0 / 6.0 - inv2 * (1.0 / 30.0 - inv2 * (1.0 / 42.0 - inv2 / 30.0)))
}
