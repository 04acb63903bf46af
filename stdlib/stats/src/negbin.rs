//! The negative binomial (NB2) with its shape estimated, as MASS::glm.nb: IRLS at a
//! fixed shape alternating with the shape's maximum-likelihood estimate.

use statrs::function::gamma::digamma;

use crate::glm::{self, Family, Problem};

/// NB2 by alternating: a GLM at fixed theta, then theta by Newton's method on its
/// profile likelihood, until both settle (MASS::glm.nb's scheme). Returns the fit at
/// the final theta, theta and its standard error.
pub fn fit_negbin<'a>(problem: &mut Problem<'a>) -> (glm::Fit<'a>, f64, f64) {
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
    let mut info = 1.0;
    let mut iterations = 0;
    for _ in 0..50 {
        theta = theta_ml(problem, &means(problem.family, &fitted), theta, &mut info);
        problem.family = Family::NegBin(theta);
        let previous = fitted.deviance;
        fitted = glm::fit(problem);
        iterations += fitted.iterations;
        let new_theta = theta_ml(problem, &means(problem.family, &fitted), theta, &mut info);
        let settled = (new_theta - theta).abs() / theta < 1e-10
            && (fitted.deviance - previous).abs() / (fitted.deviance.abs() + 0.1) < 1e-10;
        theta = new_theta;
        if settled {
            break;
        }
    }
    problem.family = Family::NegBin(theta);
    fitted = glm::fit(problem);
    let _ = theta_ml(problem, &means(problem.family, &fitted), theta, &mut info);
    fitted.iterations += iterations;
    (fitted, theta, 1.0 / info.sqrt())
}

/// Newton's method for theta given the means (MASS::theta.ml); `info` receives the
/// expected information at the answer.
fn theta_ml(problem: &Problem, mu: &[f64], start: f64, info: &mut f64) -> f64 {
    let mut theta = start;
    for _ in 0..100 {
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
        *info = information;
        let step = score / information;
        theta = (theta + step).max(1e-8);
        if step.abs() < 1e-12 * theta.max(1.0) {
            break;
        }
    }
    theta
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
