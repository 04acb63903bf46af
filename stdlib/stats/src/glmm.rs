//! Generalised linear mixed models by the Laplace approximation, as lme4's `glmer`
//! (nAGQ = 1). For given θ and β, penalised iteratively reweighted least squares finds
//! the conditional modes u, reusing the linear mixed model's factorisation on the rows
//! scaled by their working weights; the criterion is −2 log f(y | μ) + ‖u‖² + log |L|².
//! As lme4, a first stage fits θ with β taken into the penalised least squares (its
//! nAGQ = 0), and a second minimises the Laplace criterion over θ and β together; the
//! fixed effects' covariance is the inverse of half the criterion's finite-difference
//! Hessian over both, as lme4's `vcov` with `use.hessian`.

use crate::glm::{self, Family};
use crate::mixed::{Crossproducts, Failure, Fit, Problem, RandomTerm, ThetaLayout, snap_to_zero};
use crate::optimise;
use std::cell::RefCell;

pub struct GlmmProblem<'a> {
    pub y: &'a [f64],
    pub x: &'a [&'a [f64]],
    pub terms: &'a [RandomTerm<'a>],
    /// Binomial (logit or probit: 0/1 outcomes, or shares of `weights` trials) or
    /// Poisson.
    pub family: Family,
    /// Prior weights: each row's binomial trials, its outcome the share of them that
    /// succeeded (lme4's `cbind(successes, failures)`).
    pub weights: Option<&'a [f64]>,
    /// A known part of each row's linear predictor.
    pub offset: Option<&'a [f64]>,
}

impl GlmmProblem<'_> {
    fn weight(&self, i: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[i])
    }

    fn offset(&self, i: usize) -> f64 {
        self.offset.map_or(0.0, |o| o[i])
    }
}

/// PIRLS stops when a full step moves no row's linear predictor by more than this, relative
/// to the size of the terms that add up to it (a calendar year's 2020 × β cancelling a
/// large intercept leaves rounding of that size): the criterion's log-determinant moves
/// with the weights, so a stop judged by the penalised deviance (quadratic at the modes)
/// would leave noise that the Hessian's finite differences magnify a hundred-million-fold.
const PIRLS_TOLERANCE: f64 = 1e-11;
const PIRLS_STEPS: usize = 100;

/// The fit, on the fixed effects' columns standardised (centred where there is an
/// intercept, scaled to unit spread) and its β and covariance mapped back: a calendar year
/// beside the intercept otherwise leaves the penalised least squares' solve so badly
/// conditioned that PIRLS never settles. The optimum is the same in either coordinates.
pub fn fit(problem: &GlmmProblem) -> Result<Fit, Failure> {
    let standard = Standardised::new(problem.x);
    let columns: Vec<&[f64]> = standard.columns.iter().map(Vec::as_slice).collect();
    let mut fitted = fit_standardised(&GlmmProblem {
        x: &columns,
        ..*problem
    })?;
    fitted.beta = standard.map.apply(&fitted.beta);
    fitted.vcov = standard.map.covariance(&fitted.vcov);
    Ok(fitted)
}

/// The fixed effects' columns `(x − c) / s`: c the mean where a constant column (the
/// intercept) can absorb it, s the spread; β = T β̃ maps the coefficients back.
struct Standardised {
    columns: Vec<Vec<f64>>,
    /// β = T β̃.
    map: Affine,
}

impl Standardised {
    fn new(x: &[&[f64]]) -> Standardised {
        let p = x.len();
        let constant = |column: &[f64]| {
            column
                .first()
                .is_some_and(|&first| first != 0.0 && column.iter().all(|&v| v == first))
        };
        let intercept = x.iter().position(|c| constant(c));
        let mut map = vec![vec![0.0; p]; p];
        let columns = x
            .iter()
            .enumerate()
            .map(|(j, column)| {
                if Some(j) == intercept {
                    map[j][j] = 1.0;
                    return column.to_vec();
                }
                let n = column.len().max(1) as f64;
                let centre = match intercept {
                    Some(_) => column.iter().sum::<f64>() / n,
                    None => 0.0,
                };
                let spread = (column.iter().map(|v| (v - centre).powi(2)).sum::<f64>() / n).sqrt();
                let spread = if spread > 0.0 { spread } else { 1.0 };
                map[j][j] = 1.0 / spread;
                if let Some(k) = intercept {
                    // η's intercept part absorbs −c β_j.
                    map[k][j] = -centre / spread / x[k][0];
                }
                column.iter().map(|v| (v - centre) / spread).collect()
            })
            .collect();
        Standardised {
            columns,
            map: Affine {
                origin: vec![0.0; p],
                matrix: map,
            },
        }
    }
}

fn fit_standardised(problem: &GlmmProblem) -> Result<Fit, Failure> {
    let layout = ThetaLayout::new(problem.terms);
    let p = problem.x.len();
    let n_theta = layout.length;
    // Each evaluation starts PIRLS from the last one's random part: neighbouring
    // parameters have nearly the same modes, so a few steps reach them again.
    let warm = RefCell::new(None::<Vec<f64>>);
    let pirls = |theta: &[f64], beta: Option<&[f64]>, variances: bool| {
        let start = warm.borrow().clone();
        let converged = pirls_at(problem, &layout, theta, beta, start.as_deref(), variances)?;
        *warm.borrow_mut() = Some(converged.random.clone());
        Some(converged)
    };
    // Stage 1: θ with β in the penalised least squares.
    let stage_one =
        |theta: &[f64]| pirls(theta, None, false).map_or(f64::INFINITY, |s| s.criterion);
    let first = optimise::refine(&stage_one, &layout.start());
    let joint = pirls(&first.x, None, false).ok_or(Failure::NotFinite)?;
    // Stage 2: θ and β together (in stage 1's rounded coordinates), u alone by PIRLS.
    let coordinates = rounded_coordinates(&joint.beta, &joint.rx_vcov);
    let stage_two = |parameters: &[f64]| {
        let (theta, gamma) = parameters.split_at(n_theta);
        pirls(theta, Some(&coordinates.apply(gamma)), false).map_or(f64::INFINITY, |s| s.criterion)
    };
    let start: Vec<f64> = first.x.iter().copied().chain(vec![0.0; p]).collect();
    let mut optimum = optimise::refine(&stage_two, &start);
    let mut theta = optimum.x[..n_theta].to_vec();
    layout.canonical(&mut theta);
    optimum.x[..n_theta].copy_from_slice(&theta);
    snap_theta(&stage_two, &layout, n_theta, &mut optimum);
    let theta = &optimum.x[..n_theta];
    let beta = coordinates.apply(&optimum.x[n_theta..]);
    let at = pirls(theta, Some(&beta), true).ok_or(Failure::NotFinite)?;
    // The Hessian's differences magnify the criterion's last digits a hundred-million-fold,
    // so each of its points is evaluated afresh, from zero modes, not from its neighbour's.
    let cold = |parameters: &[f64]| {
        let (theta, gamma) = parameters.split_at(n_theta);
        pirls_at(
            problem,
            &layout,
            theta,
            Some(&coordinates.apply(gamma)),
            None,
            false,
        )
        .map_or(f64::INFINITY, |s| s.criterion)
    };
    let (vcov, hessian_failed) = match hessian_vcov(&cold, &optimum.x, cold(&optimum.x), n_theta, p)
    {
        Some(v) => (coordinates.covariance(&v), false),
        // lme4's `use.hessian = FALSE`: R_X of the penalised least squares with β in it.
        None => {
            let joint = pirls(theta, None, false).ok_or(Failure::NotFinite)?;
            (joint.rx_vcov, true)
        }
    };
    let singular = layout
        .diagonal()
        .any(|i| theta[i] < crate::mixed::SINGULAR_TOLERANCE)
        || layout.correlation_at_boundary(theta);
    let covariances = (0..problem.terms.len())
        .map(|k| {
            let t = layout.factor(k, theta);
            let w = layout.widths[k];
            (0..w)
                .map(|a| {
                    (0..w)
                        .map(|b| (0..w).map(|c| t[a * w + c] * t[b * w + c]).sum())
                        .collect()
                })
                .collect()
        })
        .collect();
    Ok(Fit {
        beta,
        vcov,
        sigma: None,
        theta: theta.to_vec(),
        covariances,
        modes: at.modes,
        mode_variances: at.mode_variances,
        criterion: optimum.value,
        evaluations: first.evaluations + optimum.evaluations,
        converged: optimum.converged,
        singular,
        hessian_failed,
    })
}

/// An affine change of coordinates for the fixed effects, `β = origin + M x`.
struct Affine {
    origin: Vec<f64>,
    /// M, by rows.
    matrix: Vec<Vec<f64>>,
}

impl Affine {
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.origin
            .iter()
            .zip(&self.matrix)
            .map(|(o, row)| o + row.iter().zip(x).map(|(m, v)| m * v).sum::<f64>())
            .collect()
    }

    /// β's covariance from x's: M V M'.
    fn covariance(&self, v: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let m = &self.matrix;
        let p = m.len();
        let mv: Vec<Vec<f64>> = (0..p)
            .map(|a| {
                (0..p)
                    .map(|c| (0..p).map(|b| m[a][b] * v[b][c]).sum())
                    .collect()
            })
            .collect();
        (0..p)
            .map(|a| {
                (0..p)
                    .map(|d| (0..p).map(|c| mv[a][c] * m[d][c]).sum())
                    .collect()
            })
            .collect()
    }
}

/// Coordinates for the fixed effects in which the criterion is round: β = β₀ + S γ, with
/// S S' stage 1's covariance of β (from its penalised least squares) times
/// [`ROUNDING_STEP`]². Searched in β itself, a column of large values next to the intercept
/// (a calendar year) makes the criterion a narrow valley whose finite differences at a
/// fixed step are all curvature noise; in γ every direction is about as steep.
fn rounded_coordinates(origin: &[f64], vcov: &[Vec<f64>]) -> Affine {
    let p = origin.len();
    let covariance = faer::Mat::<f64>::from_fn(p, p, |a, b| {
        vcov.get(a)
            .and_then(|row| row.get(b))
            .copied()
            .unwrap_or(0.0)
    });
    let matrix = match covariance.llt(faer::Side::Lower) {
        Ok(llt) => {
            let l = llt.L();
            (0..p)
                .map(|a| {
                    (0..p)
                        .map(|b| {
                            if b <= a {
                                ROUNDING_STEP * l[(a, b)]
                            } else {
                                0.0
                            }
                        })
                        .collect()
                })
                .collect()
        }
        // No covariance to round by: β's own coordinates.
        Err(_) => (0..p)
            .map(|a| (0..p).map(|b| f64::from(a == b)).collect())
            .collect(),
    };
    Affine {
        origin: origin.to_vec(),
        matrix,
    }
}

/// A unit of γ in standard errors of β: the optimiser's and the Hessian's differences
/// (1e-4 of a unit) then move β by a hundredth of a standard error, within the criterion's
/// quadratic range and well above its noise (on 100,000 rows, the log-determinant's sum
/// over the rows carries about 1e-8; standard errors from steps of 1e-3 and 3e-4 of a
/// standard error came out 0.3% and 3% low, from 1e-2 and 3e-2 equal to 1e-5).
const ROUNDING_STEP: f64 = 100.0;

/// θ's near-zero diagonals set to zero where the criterion allows, as in the linear case.
fn snap_theta(
    objective: &dyn Fn(&[f64]) -> f64,
    layout: &ThetaLayout,
    n_theta: usize,
    optimum: &mut optimise::Optimum,
) {
    let beta = optimum.x[n_theta..].to_vec();
    let theta_only = |theta: &[f64]| {
        let all: Vec<f64> = theta.iter().chain(&beta).copied().collect();
        objective(&all)
    };
    let mut part = optimise::Optimum {
        x: optimum.x[..n_theta].to_vec(),
        ..optimum.clone()
    };
    snap_to_zero(&theta_only, layout, &mut part);
    optimum.x[..n_theta].copy_from_slice(&part.x);
    optimum.value = part.value;
}

/// What PIRLS converged to at (θ, β), or at θ with β estimated along (stage 1).
struct Converged {
    criterion: f64,
    beta: Vec<f64>,
    modes: Vec<Vec<Vec<f64>>>,
    mode_variances: Vec<Vec<Vec<f64>>>,
    /// β's covariance from the weighted least squares (R_X), a fallback.
    rx_vcov: Vec<Vec<f64>>,
    /// Each row's random part Z b at the modes, where the next evaluation starts.
    random: Vec<f64>,
}

/// PIRLS at θ (and β, or β estimated along), from the random part `start` (zero when
/// `None`); the modes' conditional variances only when `variances` (they cost a dense
/// inverse).
fn pirls_at(
    problem: &GlmmProblem,
    layout: &ThetaLayout,
    theta: &[f64],
    beta: Option<&[f64]>,
    start: Option<&[f64]>,
    variances: bool,
) -> Option<Converged> {
    let n = problem.y.len();
    let family = problem.family;

    // The fixed part of η, with the offset.
    let fixed = |beta: &[f64], i: usize| -> f64 {
        problem.offset(i)
            + problem
                .x
                .iter()
                .zip(beta)
                .map(|(x, b)| x[i] * b)
                .sum::<f64>()
    };
    let mut current_beta: Vec<f64> = match beta {
        Some(b) => b.to_vec(),
        None => vec![0.0; problem.x.len()],
    };
    let (mut random, mut eta) = match (beta, start) {
        (Some(_), Some(start)) => {
            let eta = (0..n).map(|i| fixed(&current_beta, i) + start[i]).collect();
            (start.to_vec(), eta)
        }
        (Some(_), None) => (
            vec![0.0; n],
            (0..n).map(|i| fixed(&current_beta, i)).collect(),
        ),
        // Start from the mean's link, as glm's start.
        (None, _) => (vec![0.0; n], vec![link_of(family, mean_start(problem)); n]),
    };
    let largest_values: Vec<f64> = problem
        .x
        .iter()
        .map(|x| x.iter().fold(0.0, |m: f64, v| m.max(v.abs())))
        .collect();
    let largest_offset = problem
        .offset
        .map_or(0.0, |o| o.iter().fold(0.0, |m: f64, v| m.max(v.abs())));
    let mut previous = f64::INFINITY;
    let mut last: Option<Iterate> = None;
    for _ in 0..PIRLS_STEPS {
        let known = beta.map(|_| current_beta.as_slice());
        let (cross, factor) = weighted_factor(problem, layout, theta, &eta, known)?;
        let (new_beta, rx_vcov) = if beta.is_some() {
            (current_beta.clone(), Vec::new())
        } else {
            let solution = factor.solve(&cross, false).ok()?;
            let vcov = solution.vcov_unscaled();
            (solution.beta, vcov)
        };
        let (modes, penalty) = cross.modes(layout, theta, &factor, &new_beta);
        // The new η, halving the step while the penalised deviance rises.
        let mut new_random = vec![0.0; n];
        crate::mixed::random_part(problem.terms, &modes, &mut new_random);
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..30 {
            let candidate: Vec<f64> = (0..n)
                .map(|i| {
                    let fixed_part = fixed(&current_beta, i)
                        + step * (fixed(&new_beta, i) - fixed(&current_beta, i));
                    fixed_part + random[i] + step * (new_random[i] - random[i])
                })
                .collect();
            let deviance = minus_two_log_likelihood(problem, &candidate);
            // The penalty of the halved step: ‖u‖² is quadratic along it, bounded by the
            // ends' mix; at a full step it is exact.
            let pdev = deviance + penalty;
            if pdev.is_finite() && (pdev <= previous + 1e-10 * previous.abs() || step < 1e-6) {
                accepted = Some((candidate, pdev));
                break;
            }
            step *= 0.5;
        }
        let (candidate, pdev) = accepted?;
        let moved_fully = step == 1.0;
        let largest_move = candidate
            .iter()
            .zip(&eta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eta = candidate;
        for i in 0..n {
            random[i] += step * (new_random[i] - random[i]);
        }
        let scaled_modes: Vec<Vec<Vec<f64>>> = if moved_fully {
            modes
        } else {
            scale_modes(&last, &modes, step)
        };
        current_beta = current_beta
            .iter()
            .zip(&new_beta)
            .map(|(a, b)| a + step * (b - a))
            .collect();
        let size: f64 = largest_offset
            + largest_values
                .iter()
                .zip(&current_beta)
                .map(|(x, b)| x * b.abs())
                .sum::<f64>();
        let done = largest_move <= PIRLS_TOLERANCE * size.max(1.0);
        previous = pdev;
        last = Some(Iterate {
            modes: scaled_modes,
            penalty,
            rx_vcov,
        });
        if done && moved_fully {
            break;
        }
    }
    // The Laplace criterion with L at the converged weights.
    let Iterate {
        modes,
        penalty,
        rx_vcov,
    } = last?;
    let known = beta.map(|_| current_beta.as_slice());
    let (cross, factor) = weighted_factor(problem, layout, theta, &eta, known)?;
    let log_det = factor.log_det;
    let mode_variances = if variances {
        cross.mode_variances(layout, theta, &factor, 1.0)
    } else {
        Vec::new()
    };
    let deviance = minus_two_log_likelihood(problem, &eta);
    Some(Converged {
        criterion: deviance + penalty + log_det,
        beta: current_beta,
        modes,
        mode_variances,
        rx_vcov,
        random,
    })
}

/// The mean glm starts from: (Σ w y + ½) / (Σ w + 1) for a binomial, ȳ for counts.
fn mean_start(problem: &GlmmProblem) -> f64 {
    let n = problem.y.len();
    let total_weight: f64 = (0..n).map(|i| problem.weight(i)).sum();
    let total: f64 = (0..n).map(|i| problem.weight(i) * problem.y[i]).sum();
    match problem.family {
        Family::Binomial(_) => (total + 0.5) / (total_weight + 1.0),
        _ => (total / total_weight).max(0.1),
    }
}

/// The penalised least squares at η: rows scaled by the square roots of their working
/// weights, the working response (less the fixed part when β is `known`), and L.
fn weighted_factor(
    problem: &GlmmProblem,
    layout: &ThetaLayout,
    theta: &[f64],
    eta: &[f64],
    known: Option<&[f64]>,
) -> Option<(Crossproducts, crate::mixed::Factor)> {
    let n = problem.y.len();
    let (family, link) = (problem.family, problem.family.link());
    let mut sw = vec![0.0; n];
    let mut target = vec![0.0; n];
    for i in 0..n {
        let mu = glm::mean(family, eta[i]);
        let d = link.derivative(eta[i]);
        sw[i] = (problem.weight(i) * d * d / variance(family, mu)).sqrt();
        let fixed: f64 = problem.offset(i)
            + known.map_or(0.0, |beta| {
                problem.x.iter().zip(beta).map(|(x, b)| x[i] * b).sum()
            });
        target[i] = sw[i] * (eta[i] - fixed + (problem.y[i] - mu) / d);
    }
    let scale =
        |values: &[f64]| -> Vec<f64> { values.iter().zip(&sw).map(|(v, s)| v * s).collect() };
    let scaled: Vec<Vec<Vec<f64>>> = problem
        .terms
        .iter()
        .map(|t| t.columns.iter().map(|z| scale(z)).collect())
        .collect();
    let scaled_x: Vec<Vec<f64>> = match known {
        Some(_) => Vec::new(),
        None => problem.x.iter().map(|x| scale(x)).collect(),
    };
    let x_slices: Vec<&[f64]> = scaled_x.iter().map(Vec::as_slice).collect();
    let terms: Vec<RandomTerm> = problem
        .terms
        .iter()
        .zip(&scaled)
        .map(|(t, columns)| RandomTerm {
            groups: t.groups,
            levels: t.levels,
            columns: columns.iter().map(Vec::as_slice).collect(),
        })
        .collect();
    let weighted = Problem {
        y: &target,
        x: &x_slices,
        terms: &terms,
        reml: false,
    };
    let cross = Crossproducts::new(&weighted).ok()?;
    let factor = cross.factor(layout, theta)?;
    Some((cross, factor))
}

/// PIRLS's state after a step: the modes, ‖u‖² and (with β estimated) R_X's covariance.
struct Iterate {
    modes: Vec<Vec<Vec<f64>>>,
    penalty: f64,
    rx_vcov: Vec<Vec<f64>>,
}

/// The modes a fraction `step` of the way from the last iterate's to `modes`.
fn scale_modes(last: &Option<Iterate>, modes: &[Vec<Vec<f64>>], step: f64) -> Vec<Vec<Vec<f64>>> {
    let Some(Iterate { modes: old, .. }) = last else {
        return modes
            .iter()
            .map(|t| {
                t.iter()
                    .map(|l| l.iter().map(|b| b * step).collect())
                    .collect()
            })
            .collect();
    };
    old.iter()
        .zip(modes)
        .map(|(o, m)| {
            o.iter()
                .zip(m)
                .map(|(ol, ml)| ol.iter().zip(ml).map(|(a, b)| a + step * (b - a)).collect())
                .collect()
        })
        .collect()
}

fn link_of(family: Family, mu: f64) -> f64 {
    match family.link() {
        glm::Link::Logit => (mu / (1.0 - mu)).ln(),
        glm::Link::Probit => {
            use statrs::distribution::{ContinuousCDF, Normal};
            Normal::standard().inverse_cdf(mu)
        }
        glm::Link::Log => mu.ln(),
        glm::Link::Identity => mu,
    }
}

fn variance(family: Family, mu: f64) -> f64 {
    match family {
        Family::Binomial(_) => mu * (1.0 - mu),
        Family::Poisson => mu,
        Family::NegBin(theta) => mu + mu * mu / theta,
        Family::Gaussian => 1.0,
    }
}

/// −2 Σ log f(y | μ) for counts, 0/1 outcomes, or shares of binomial trials (with the
/// binomial coefficient, as R's `binomial()$aic`).
fn minus_two_log_likelihood(problem: &GlmmProblem, eta: &[f64]) -> f64 {
    use statrs::function::gamma::ln_gamma;
    let family = problem.family;
    let total: f64 = problem
        .y
        .iter()
        .zip(eta)
        .enumerate()
        .map(|(i, (&y, &e))| {
            let mu = glm::mean(family, e);
            match (family, problem.weights) {
                (Family::Poisson, _) => {
                    (if y == 0.0 { 0.0 } else { y * mu.ln() }) - mu - ln_gamma(y + 1.0)
                }
                (_, Some(trials)) => {
                    let (m, k) = (trials[i], trials[i] * y);
                    let failures = m - k;
                    ln_gamma(m + 1.0) - ln_gamma(k + 1.0) - ln_gamma(failures + 1.0)
                        + if k > 0.0 { k * mu.ln() } else { 0.0 }
                        + if failures > 0.0 {
                            failures * (1.0 - mu).ln()
                        } else {
                            0.0
                        }
                }
                (_, None) => {
                    if y > 0.5 {
                        mu.ln()
                    } else {
                        (1.0 - mu).ln()
                    }
                }
            }
        })
        .sum();
    -2.0 * total
}

/// β's covariance as lme4's `vcov` with `use.hessian`: the inverse of half the
/// criterion's Hessian over (θ, β) by central differences (step 1e-4, lme4's `deriv12`),
/// its β block.
fn hessian_vcov(
    objective: &dyn Fn(&[f64]) -> f64,
    x: &[f64],
    value: f64,
    n_theta: usize,
    p: usize,
) -> Option<Vec<Vec<f64>>> {
    let d = x.len();
    let h = 1e-4;
    let at = |shifts: &[(usize, f64)]| {
        let mut y = x.to_vec();
        for &(i, s) in shifts {
            y[i] += s * h;
        }
        objective(&y)
    };
    let mut hessian = faer::Mat::<f64>::zeros(d, d);
    for i in 0..d {
        hessian[(i, i)] = (at(&[(i, 1.0)]) - 2.0 * value + at(&[(i, -1.0)])) / (h * h) / 2.0;
        for j in 0..i {
            let v = (at(&[(i, 1.0), (j, 1.0)])
                - at(&[(i, 1.0), (j, -1.0)])
                - at(&[(i, -1.0), (j, 1.0)])
                + at(&[(i, -1.0), (j, -1.0)]))
                / (4.0 * h * h)
                / 2.0;
            hessian[(i, j)] = v;
            hessian[(j, i)] = v;
        }
    }
    let inverse = crate::linalg::inverse(&hessian)?;
    let vcov: Vec<Vec<f64>> = (0..p)
        .map(|a| {
            (0..p)
                .map(|b| inverse[(n_theta + a, n_theta + b)])
                .collect()
        })
        .collect();
    vcov.iter()
        .enumerate()
        .all(|(a, row)| row[a] > 0.0 && row[a].is_finite())
        .then_some(vcov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glm::Link;
    use rand::{RngExt, SeedableRng};
    use rand_pcg::Pcg64;

    /// A covariate measured as a calendar year (2020 + x) changes the intercept, not the
    /// slope, its standard error or the likelihood: the fit must not depend on where the
    /// covariate's zero lies (searched in its raw units the criterion was a narrow valley
    /// and PIRLS never settled).
    #[test]
    fn a_shifted_covariate_changes_only_the_intercept() {
        let mut rng = Pcg64::seed_from_u64(7);
        let groups: Vec<u32> = (0..4000).map(|i| i / 10).collect();
        let effects: Vec<f64> = (0..400).map(|_| rng.random::<f64>() - 0.5).collect();
        let x: Vec<f64> = (0..4000).map(|_| 3.0 * rng.random::<f64>()).collect();
        let y: Vec<f64> = (0..4000)
            .map(|i| {
                let eta = -0.5 + 0.4 * x[i] + effects[groups[i] as usize];
                f64::from(rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp()))
            })
            .collect();
        let ones = vec![1.0; 4000];
        let years: Vec<f64> = x.iter().map(|v| v + 2020.0).collect();
        let fit_with = |column: &[f64]| {
            let x: Vec<&[f64]> = vec![&ones, column];
            let terms = [RandomTerm {
                groups: &groups,
                levels: 400,
                columns: vec![&ones],
            }];
            fit(&GlmmProblem {
                y: &y,
                x: &x,
                terms: &terms,
                family: Family::Binomial(Link::Logit),
                weights: None,
                offset: None,
            })
            .unwrap()
        };
        let (near, far) = (fit_with(&x), fit_with(&years));
        assert!((near.criterion - far.criterion).abs() < 1e-6 * near.criterion);
        assert!((near.beta[1] - far.beta[1]).abs() < 1e-6 * near.beta[1].abs());
        assert!((far.beta[0] - (near.beta[0] - 2020.0 * near.beta[1])).abs() < 1e-4);
        let se = |fit: &Fit| fit.vcov[1][1].sqrt();
        assert!(
            (se(&near) - se(&far)).abs() < 1e-4 * se(&near),
            "{} {}",
            se(&near),
            se(&far)
        );
        assert!(near.converged && far.converged);
    }
}
