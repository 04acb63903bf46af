//! Synthetic control (Abadie, Diamond and Hainmueller): donor weights on the simplex that
//! reproduce the treated unit's predictors, with the predictors' weights V chosen to fit
//! its pre-treatment outcome path — the nested problem of R's Synth, with its scaling,
//! its two starting points and its Nelder–Mead search, but an exact inner solution (an
//! active-set method) where Synth uses a loose interior-point one.

use faer::Mat;

/// One unit's data: its predictors (K), its outcome in the fit window (T0) and in every
/// period (T).
#[derive(Clone, Debug)]
pub struct Unit {
    pub predictors: Vec<f64>,
    pub fit_outcome: Vec<f64>,
    pub outcome: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Synthetic {
    /// One weight per donor, in the donors' order (non-negative, summing to 1).
    pub weights: Vec<f64>,
    /// The predictors' weights (diag V), summing to 1; `None` when the outcome path is
    /// fitted directly (no predictors).
    pub predictor_weights: Option<Vec<f64>>,
    /// The synthetic unit's outcome in every period.
    pub synthetic: Vec<f64>,
    /// Mean squared gap over the fit window (R's `loss.v`).
    pub fit_mspe: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SynthError {
    /// Fewer than two donors.
    TooFewDonors,
    /// A predictor the same for every unit: it cannot be scaled.
    ConstantPredictor(usize),
}

/// The synthetic control for `treated` from `donors`. With predictors (K ≥ 1), the
/// nested problem; with none, the simplex least-squares fit of the outcome path.
pub fn fit(treated: &Unit, donors: &[Unit]) -> Result<Synthetic, SynthError> {
    if donors.len() < 2 {
        return Err(SynthError::TooFewDonors);
    }
    let outcome_fit = |w: &[f64]| fit_mspe(treated, donors, w);
    if treated.predictors.is_empty() {
        let a = Mat::from_fn(treated.fit_outcome.len(), donors.len(), |t, j| {
            donors[j].fit_outcome[t]
        });
        let weights = simplex_least_squares(&a, &treated.fit_outcome);
        return Ok(finish(treated, donors, weights, None, outcome_fit));
    }
    let scaled = Scaled::new(treated, donors)?;
    let k = treated.predictors.len();
    if k == 1 {
        let weights = scaled.weights(&[1.0]);
        return Ok(finish(
            treated,
            donors,
            weights,
            Some(vec![1.0]),
            outcome_fit,
        ));
    }
    let loss = |p: &[f64]| match normalise(p) {
        Some(v) => outcome_fit(&scaled.weights(&v)),
        None => f64::INFINITY,
    };
    let mut best = (vec![1.0 / k as f64; k], f64::INFINITY);
    let equal = vec![1.0 / k as f64; k];
    // The loss is flat wherever the donor weights do not change with V, and with few
    // predictors a search from the middle can stop on such a plateau far from a better
    // V near a corner (one predictor nearly alone): the best near-corner is a third start.
    let near_corner = (0..k)
        .filter(|_| k <= FEW_PREDICTORS)
        .flat_map(|c| {
            [0.9, 0.99, 0.999].map(|depth| {
                (0..k)
                    .map(|p| {
                        if p == c {
                            depth
                        } else {
                            (1.0 - depth) / (k - 1) as f64
                        }
                    })
                    .collect::<Vec<f64>>()
            })
        })
        .min_by(|a, b| loss(a).total_cmp(&loss(b)));
    let starts = [
        Some(equal),
        scaled.regression_start(treated, donors),
        near_corner,
    ]
    .into_iter()
    .flatten();
    for start in starts {
        let found = refined_search(&loss, start);
        // Ties go to the later start (regression over equal, as Synth keeps it).
        if found.1 <= best.1 {
            best = found;
        }
    }
    let v = normalise(&best.0).unwrap_or_else(|| vec![1.0 / k as f64; k]);
    let weights = scaled.weights(&v);
    Ok(finish(treated, donors, weights, Some(v), outcome_fit))
}

fn finish(
    treated: &Unit,
    donors: &[Unit],
    weights: Vec<f64>,
    predictor_weights: Option<Vec<f64>>,
    outcome_fit: impl Fn(&[f64]) -> f64,
) -> Synthetic {
    let synthetic = (0..treated.outcome.len())
        .map(|t| {
            donors
                .iter()
                .zip(&weights)
                .map(|(d, w)| w * d.outcome[t])
                .sum()
        })
        .collect();
    Synthetic {
        fit_mspe: outcome_fit(&weights),
        weights,
        predictor_weights,
        synthetic,
    }
}

fn fit_mspe(treated: &Unit, donors: &[Unit], w: &[f64]) -> f64 {
    let periods = treated.fit_outcome.len();
    (0..periods)
        .map(|t| {
            let synthetic: f64 = donors
                .iter()
                .zip(w)
                .map(|(d, w)| w * d.fit_outcome[t])
                .sum();
            (treated.fit_outcome[t] - synthetic).powi(2)
        })
        .sum::<f64>()
        / periods as f64
}

/// v = |p| / Σ|p|, Synth's parametrisation of the predictors' weights.
fn normalise(p: &[f64]) -> Option<Vec<f64>> {
    let total: f64 = p.iter().map(|x| x.abs()).sum();
    (total > 0.0 && total.is_finite()).then(|| p.iter().map(|x| x.abs() / total).collect())
}

/// The predictors divided by their standard deviation over the treated unit and the
/// donors (n − 1), as Synth scales them; with the fit-window outcomes, which break ties.
struct Scaled {
    treated: Vec<f64>,
    /// K × J.
    donors: Mat<f64>,
    /// The fit-window outcomes, treated (T0) and donors (T0 × J), each multiplied by
    /// √(δ/T0).
    tie_treated: Vec<f64>,
    tie_donors: Mat<f64>,
}

/// How much the outcome fit weighs beside the predictors' in the inner problem, relative
/// to their sizes: enough to choose, among weightings that match the predictors equally
/// (the treated unit inside the donors' hull, with few predictors), the one that best
/// fits the outcome before treatment; too little to move a unique answer.
const TIE_BREAK: f64 = 1e-8;

/// Up to this many predictors, the search also starts near the best corner of V.
const FEW_PREDICTORS: usize = 3;

impl Scaled {
    fn new(treated: &Unit, donors: &[Unit]) -> Result<Scaled, SynthError> {
        let k = treated.predictors.len();
        let mut divisors = Vec::with_capacity(k);
        for p in 0..k {
            let values: Vec<f64> = std::iter::once(treated.predictors[p])
                .chain(donors.iter().map(|d| d.predictors[p]))
                .collect();
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            if sd <= 1e-12 * mean.abs().max(1e-300) || !sd.is_finite() {
                return Err(SynthError::ConstantPredictor(p));
            }
            divisors.push(sd);
        }
        let x0 = Mat::from_fn(k, donors.len(), |p, j| {
            donors[j].predictors[p] / divisors[p]
        });
        let periods = treated.fit_outcome.len();
        let size = |m: &Mat<f64>| -> f64 {
            (0..m.nrows())
                .map(|r| (0..m.ncols()).map(|c| m[(r, c)].powi(2)).sum::<f64>())
                .sum()
        };
        let z0 = Mat::from_fn(periods, donors.len(), |t, j| donors[j].fit_outcome[t]);
        // The predictors' term has weights v summing to 1: compare with the mean row.
        let factor = (TIE_BREAK * size(&x0)
            / k as f64
            / (size(&z0) / periods as f64).max(1e-300)
            / periods as f64)
            .sqrt();
        Ok(Scaled {
            treated: (0..k)
                .map(|p| treated.predictors[p] / divisors[p])
                .collect(),
            donors: x0,
            tie_treated: treated.fit_outcome.iter().map(|y| factor * y).collect(),
            tie_donors: Mat::from_fn(periods, donors.len(), |t, j| factor * z0[(t, j)]),
        })
    }

    /// The donor weights for predictor weights `v`.
    fn weights(&self, v: &[f64]) -> Vec<f64> {
        let k = self.donors.nrows();
        // The outcome breaks ties only: it never outweighs a predictor V keeps, however
        // small its weight (else a V near a corner would fit the outcome through it).
        let least = v.iter().fold(1.0_f64, |m, x| m.min(*x)).sqrt();
        let a = Mat::from_fn(k + self.tie_donors.nrows(), self.donors.ncols(), |r, j| {
            if r < k {
                v[r].sqrt() * self.donors[(r, j)]
            } else {
                least * self.tie_donors[(r - k, j)]
            }
        });
        let b: Vec<f64> = (0..a.nrows())
            .map(|r| {
                if r < k {
                    v[r].sqrt() * self.treated[r]
                } else {
                    least * self.tie_treated[r - k]
                }
            })
            .collect();
        simplex_least_squares(&a, &b)
    }

    /// Synth's regression start: the squared coefficients of the fit-window outcomes
    /// on the scaled predictors (with an intercept), across units.
    fn regression_start(&self, treated: &Unit, donors: &[Unit]) -> Option<Vec<f64>> {
        let (k, j) = (self.treated.len(), donors.len());
        let x = Mat::from_fn(j + 1, k + 1, |u, p| match (u, p) {
            (_, 0) => 1.0,
            (0, p) => self.treated[p - 1],
            (u, p) => self.donors[(p - 1, u - 1)],
        });
        let periods = treated.fit_outcome.len();
        let z = Mat::from_fn(j + 1, periods, |u, t| match u {
            0 => treated.fit_outcome[t],
            u => donors[u - 1].fit_outcome[t],
        });
        let xtx = x.transpose() * &x;
        let inverse = crate::linalg::inverse(&xtx)?;
        let b = inverse * x.transpose() * z;
        let start: Vec<f64> = (1..=k)
            .map(|p| (0..periods).map(|t| b[(p, t)] * b[(p, t)]).sum())
            .collect();
        normalise(&start).filter(|v| v.iter().all(|x| x.is_finite()))
    }
}

/// Nelder–Mead from `start`, run again from its own result while that improves it (R's
/// single run stops at 500 evaluations, usually short of the minimum).
fn refined_search(loss: &impl Fn(&[f64]) -> f64, start: Vec<f64>) -> (Vec<f64>, f64) {
    let mut best = nelder_mead(loss, start);
    for _ in 0..20 {
        let next = nelder_mead(loss, best.0.clone());
        if next.1 >= best.1 * (1.0 - 1e-10) {
            break;
        }
        best = next;
    }
    best
}

/// Nelder–Mead with R's `optim` settings: reflection 1, contraction 0.5, expansion 2,
/// a first simplex stepping 0.1 of the largest coordinate, relative tolerance 1.49e-8
/// on the spread of values, at most 500 evaluations.
fn nelder_mead(loss: &impl Fn(&[f64]) -> f64, start: Vec<f64>) -> (Vec<f64>, f64) {
    let n = start.len();
    let step = 0.1
        * start
            .iter()
            .fold(0.0_f64, |m, x| m.max(x.abs()))
            .max(1e-300);
    let mut points: Vec<Vec<f64>> = vec![start.clone()];
    for i in 0..n {
        let mut p = start.clone();
        p[i] += step;
        points.push(p);
    }
    let mut values: Vec<f64> = points.iter().map(|p| loss(p)).collect();
    let mut evaluations = n + 1;
    let tolerance = 1.490116e-8 * (values[0].abs() + 1.490116e-8);
    while evaluations < 500 {
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
        let (low, high, second) = (order[0], order[n], order[n - 1]);
        if values[high] <= values[low] + tolerance {
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|d| {
                (0..=n)
                    .filter(|i| *i != high)
                    .map(|i| points[i][d])
                    .sum::<f64>()
                    / n as f64
            })
            .collect();
        let worst = points[high].clone();
        let along = |t: f64| -> Vec<f64> {
            (0..n)
                .map(|d| centroid[d] + t * (worst[d] - centroid[d]))
                .collect()
        };
        let reflected = along(-1.0);
        let reflected_value = loss(&reflected);
        evaluations += 1;
        if reflected_value < values[low] {
            let expanded = along(-2.0);
            let expanded_value = loss(&expanded);
            evaluations += 1;
            (points[high], values[high]) = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
            continue;
        }
        if reflected_value < values[second] {
            (points[high], values[high]) = (reflected, reflected_value);
            continue;
        }
        if reflected_value < values[high] {
            (points[high], values[high]) = (reflected, reflected_value);
        }
        let contracted = along(0.5);
        let contracted_value = loss(&contracted);
        evaluations += 1;
        if contracted_value < values[high] {
            (points[high], values[high]) = (contracted, contracted_value);
            continue;
        }
        // Shrink towards the best point.
        for i in (0..=n).filter(|i| *i != low) {
            points[i] = (0..n)
                .map(|d| points[low][d] + 0.5 * (points[i][d] - points[low][d]))
                .collect();
            values[i] = loss(&points[i]);
            evaluations += 1;
        }
    }
    let best = (0..=n)
        .min_by(|a, b| values[*a].total_cmp(&values[*b]))
        .unwrap_or(0);
    (points[best].clone(), values[best])
}

/// A ridge that keeps the equality-constrained steps solvable where donors coincide.
const RIDGE: f64 = 1e-12;

/// argmin ‖a w − b‖² over the simplex (w ≥ 0, Σw = 1), by a primal active-set method
/// on the equality-constrained subproblems. A ridge of 1e-12 of the largest diagonal
/// makes the solution unique where several weightings fit equally (the one of least
/// norm among them, nearly).
pub fn simplex_least_squares(a: &Mat<f64>, b: &[f64]) -> Vec<f64> {
    let j = a.ncols();
    let mut h = a.transpose() * a;
    let ridge = RIDGE * (0..j).map(|i| h[(i, i)]).fold(0.0, f64::max).max(1e-300);
    for i in 0..j {
        h[(i, i)] += ridge;
    }
    let c: Vec<f64> = (0..j)
        .map(|i| -(0..a.nrows()).map(|r| a[(r, i)] * b[r]).sum::<f64>())
        .collect();
    // Start at the best single donor.
    let first = (0..j)
        .min_by(|p, q| (0.5 * h[(*p, *p)] + c[*p]).total_cmp(&(0.5 * h[(*q, *q)] + c[*q])))
        .unwrap_or(0);
    let mut w = vec![0.0; j];
    w[first] = 1.0;
    let mut free = vec![first];
    for _ in 0..(10 * j + 100) {
        let z = match equality_solution(&h, &c, &free) {
            Some(z) => z,
            None => break,
        };
        if z.iter().all(|v| *v > 0.0) {
            for (i, p) in free.iter().enumerate() {
                w[*p] = z[i];
            }
            // Multipliers of the bounds: the gradient less the equality's multiplier.
            let gradient: Vec<f64> = (0..j)
                .map(|p| (0..j).map(|q| h[(p, q)] * w[q]).sum::<f64>() + c[p])
                .collect();
            let mu = free.iter().map(|p| gradient[*p]).sum::<f64>() / free.len() as f64;
            let scale = gradient.iter().fold(1e-300_f64, |m, g| m.max(g.abs()));
            let entering = (0..j)
                .filter(|p| !free.contains(p))
                .map(|p| (p, gradient[p] - mu))
                .filter(|(_, m)| *m < -1e-13 * scale)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match entering {
                Some((p, _)) => free.push(p),
                None => break,
            }
        } else {
            // Step towards z until a weight reaches zero; drop it.
            let mut alpha = 1.0;
            for (i, p) in free.iter().enumerate() {
                if z[i] <= 0.0 {
                    alpha = f64::min(alpha, w[*p] / (w[*p] - z[i]));
                }
            }
            for (i, p) in free.iter().enumerate() {
                w[*p] += alpha * (z[i] - w[*p]);
            }
            free.retain(|p| w[*p] > 1e-14);
            for p in 0..j {
                if !free.contains(&p) {
                    w[p] = 0.0;
                }
            }
            if free.is_empty() {
                break;
            }
        }
    }
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total).collect()
}

/// The minimiser of ½wᵀHw + cᵀw over the weights in `free` summing to 1 (the others 0):
/// the KKT system [H_FF 1; 1ᵀ 0].
fn equality_solution(h: &Mat<f64>, c: &[f64], free: &[usize]) -> Option<Vec<f64>> {
    let m = free.len();
    let kkt = Mat::from_fn(m + 1, m + 1, |r, s| match (r < m, s < m) {
        (true, true) => h[(free[r], free[s])],
        (true, false) | (false, true) => 1.0,
        (false, false) => 0.0,
    });
    let rhs = Mat::from_fn(m + 1, 1, |r, _| if r < m { -c[free[r]] } else { 1.0 });
    let solution = faer::linalg::solvers::Solve::solve(&kkt.partial_piv_lu(), &rhs);
    let z: Vec<f64> = (0..m).map(|r| solution[(r, 0)]).collect();
    z.iter().all(|v| v.is_finite()).then_some(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_inside_the_hull_is_fitted_exactly() {
        // b = 0.25·a0 + 0.75·a1 in two dimensions, a2 far away.
        let a = Mat::from_fn(2, 3, |r, c| [[0.0, 4.0, 10.0], [0.0, 4.0, -7.0]][r][c]);
        let w = simplex_least_squares(&a, &[3.0, 3.0]);
        assert!(
            (w[0] - 0.25).abs() < 1e-9 && (w[1] - 0.75).abs() < 1e-9,
            "{w:?}"
        );
        assert!(w[2].abs() < 1e-12);
    }

    #[test]
    fn a_point_outside_the_hull_goes_to_its_nearest_face() {
        // Donors at 0 and 1 on a line; the treated at 2: all weight on the donor at 1.
        let a = Mat::from_fn(1, 2, |_, c| c as f64);
        let w = simplex_least_squares(&a, &[2.0]);
        assert!((w[1] - 1.0).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn the_treated_unit_built_from_two_donors_is_recovered() {
        // Outcome paths: the treated is 0.3 of the first donor and 0.7 of the second.
        let path = |k: f64| -> Vec<f64> {
            (0..10)
                .map(|t| k * t as f64 + (t as f64 * k).sin())
                .collect()
        };
        let donors: Vec<Unit> = [1.0, 2.0, 3.5, 0.2]
            .iter()
            .map(|k| Unit {
                predictors: vec![],
                fit_outcome: path(*k)[..6].to_vec(),
                outcome: path(*k),
            })
            .collect();
        let mix = |t: usize| 0.3 * donors[0].outcome[t] + 0.7 * donors[1].outcome[t];
        let treated = Unit {
            predictors: vec![],
            fit_outcome: (0..6).map(mix).collect(),
            outcome: (0..10).map(mix).collect(),
        };
        let s = fit(&treated, &donors).unwrap();
        assert!(
            (s.weights[0] - 0.3).abs() < 1e-8 && (s.weights[1] - 0.7).abs() < 1e-8,
            "{:?}",
            s.weights
        );
        assert!(s.fit_mspe < 1e-12);
    }
}
