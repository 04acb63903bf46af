//! Minimising a smooth function of a few parameters without derivatives: Nelder–Mead
//! to come near, then Newton steps on finite-difference derivatives to settle to the
//! precision the function allows. No bounds: a problem with a boundary is posed so that
//! the boundary is a point of symmetry (a mixed model's factors, whose columns' signs do
//! not matter), where the minimum is an ordinary stationary point.

#[derive(Clone, Debug)]
pub struct Optimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub evaluations: usize,
    /// The last Newton step was negligible and the free parameters' slopes are flat.
    pub converged: bool,
}

/// Evaluations allowed per parameter.
const EVALUATIONS_PER_PARAMETER: usize = 2000;

pub fn minimise(f: &dyn Fn(&[f64]) -> f64, start: &[f64]) -> Optimum {
    let mut counted = Counted { f, evaluations: 0 };
    let limit = EVALUATIONS_PER_PARAMETER * (start.len() + 1);
    let near = nelder_mead(&mut counted, start, limit);
    let Newton {
        x,
        value,
        converged,
        ..
    } = newton(&mut counted, near);
    Optimum {
        x,
        value,
        evaluations: counted.evaluations,
        converged,
    }
}

/// From a start already near the minimum (a simpler model's fit): Newton steps alone, and
/// the full search only if they do not settle at a minimum (the start may be a point of
/// symmetry — a variance at zero — where the slopes are flat but the criterion falls away).
pub fn refine(f: &dyn Fn(&[f64]) -> f64, start: &[f64]) -> Optimum {
    let mut counted = Counted { f, evaluations: 0 };
    let Newton {
        x,
        value,
        converged,
        curved,
    } = newton(&mut counted, start.to_vec());
    if converged && curved {
        return Optimum {
            x,
            value,
            evaluations: counted.evaluations,
            converged,
        };
    }
    let mut optimum = minimise(f, &x);
    optimum.evaluations += counted.evaluations;
    optimum
}

struct Counted<'a> {
    f: &'a dyn Fn(&[f64]) -> f64,
    evaluations: usize,
}

impl Counted<'_> {
    fn at(&mut self, x: &[f64]) -> f64 {
        self.evaluations += 1;
        let value = (self.f)(x);
        if value.is_nan() { f64::INFINITY } else { value }
    }
}

/// Nelder–Mead with the standard coefficients; stops when the simplex's values agree
/// to 1e-10 and its points to 1e-7.
fn nelder_mead(f: &mut Counted, start: &[f64], limit: usize) -> Vec<f64> {
    let d = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(d + 1);
    simplex.push((start.to_vec(), f.at(start)));
    for i in 0..d {
        let mut x = start.to_vec();
        x[i] += 0.25 * start[i].abs().max(1.0);
        let value = f.at(&x);
        simplex.push((x, value));
    }
    while f.evaluations < limit {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[d].1);
        let spread = (0..d)
            .flat_map(|i| simplex.iter().map(move |(x, _)| (x[i], i)))
            .map(|(v, i)| (v - simplex[0].0[i]).abs())
            .fold(0.0, f64::max);
        if (worst - best).abs() <= 1e-10 * (best.abs() + 1e-10) && spread <= 1e-7 {
            break;
        }
        let centroid: Vec<f64> = (0..d)
            .map(|i| simplex[..d].iter().map(|(x, _)| x[i]).sum::<f64>() / d as f64)
            .collect();
        let toward = |t: f64| -> Vec<f64> {
            (0..d)
                .map(|i| centroid[i] + t * (simplex[d].0[i] - centroid[i]))
                .collect()
        };
        let reflected = toward(-1.0);
        let fr = f.at(&reflected);
        if fr < best {
            let expanded = toward(-2.0);
            let fe = f.at(&expanded);
            simplex[d] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[d - 1].1 {
            simplex[d] = (reflected, fr);
        } else {
            let (contracted, t) = if fr < worst {
                (toward(-0.5), fr)
            } else {
                (toward(0.5), worst)
            };
            let fc = f.at(&contracted);
            if fc < t {
                simplex[d] = (contracted, fc);
            } else {
                let best_point = simplex[0].0.clone();
                for (x, value) in simplex.iter_mut().skip(1) {
                    for i in 0..d {
                        x[i] = best_point[i] + 0.5 * (x[i] - best_point[i]);
                    }
                    *value = f.at(x);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0).0
}

/// Where Newton's method stopped.
struct Newton {
    x: Vec<f64>,
    value: f64,
    /// It settled where the slopes are flat (see [`settled`]).
    converged: bool,
    /// The Hessian there is positive definite: a minimum, not a saddle or a ridge.
    curved: bool,
}

/// Newton steps from `x` on central-difference derivatives, with a halving line search.
fn newton(f: &mut Counted, mut x: Vec<f64>) -> Newton {
    let d = x.len();
    let mut value = f.at(&x);
    for _ in 0..100 {
        let (gradient, hessian) = derivatives(f, &x, value);
        let Some(step) = newton_step(&gradient, &hessian) else {
            let converged = settled(&gradient, None, value);
            return Newton {
                x,
                value,
                converged,
                curved: false,
            };
        };
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..30 {
            let trial: Vec<f64> = x.iter().zip(&step).map(|(x, s)| x + t * s).collect();
            let trial_value = f.at(&trial);
            if trial_value < value {
                let change = (0..d)
                    .map(|i| (trial[i] - x[i]).abs() / (1.0 + x[i].abs()))
                    .fold(0.0, f64::max);
                let gain = value - trial_value;
                x = trial;
                value = trial_value;
                moved = change > 1e-10 && gain > 1e-14 * (1.0 + value.abs());
                break;
            }
            t *= 0.5;
        }
        if !moved {
            let (gradient, hessian) = derivatives(f, &x, value);
            let step = newton_step(&gradient, &hessian);
            let converged = settled(&gradient, step.as_deref(), value);
            let mut copy: Vec<f64> = hessian.concat();
            let curved = solve_positive(&mut copy, d, vec![0.0; d]).is_some();
            return Newton {
                x,
                value,
                converged,
                curved,
            };
        }
    }
    Newton {
        x,
        value,
        converged: false,
        curved: false,
    }
}

/// Whether Newton's method has settled: the slopes are flat, or the step left would gain
/// less than [`NEGLIGIBLE_GAIN`] (the Newton decrement, which unlike the slopes does not
/// depend on the parameters' units: a slope along a column of large values can be steep
/// while the gain left is nil).
fn settled(gradient: &[f64], step: Option<&[f64]>, value: f64) -> bool {
    let flat = gradient
        .iter()
        .all(|g| g.abs() <= 1e-3 * (1.0 + value.abs()).sqrt());
    let gain = step.map(|s| -gradient.iter().zip(s).map(|(g, s)| g * s).sum::<f64>() / 2.0);
    flat || gain.is_some_and(|gain| gain <= NEGLIGIBLE_GAIN)
}

/// The criterion units (−2 log-likelihood) below which a gain is not worth pursuing.
const NEGLIGIBLE_GAIN: f64 = 1e-5;

/// The gradient and Hessian by central differences (step 1e-4 of the parameter's size).
fn derivatives(f: &mut Counted, x: &[f64], value: f64) -> (Vec<f64>, Vec<Vec<f64>>) {
    let d = x.len();
    let h: Vec<f64> = x.iter().map(|v| 1e-4 * v.abs().max(1.0)).collect();
    let mut at = |shifts: &[(usize, f64)]| {
        let mut y = x.to_vec();
        for &(i, s) in shifts {
            y[i] += s * h[i];
        }
        f.at(&y)
    };
    let mut gradient = vec![0.0; d];
    let mut hessian = vec![vec![0.0; d]; d];
    for i in 0..d {
        let (up, down) = (at(&[(i, 1.0)]), at(&[(i, -1.0)]));
        gradient[i] = (up - down) / (2.0 * h[i]);
        hessian[i][i] = (up - 2.0 * value + down) / (h[i] * h[i]);
        for j in 0..i {
            let v = (at(&[(i, 1.0), (j, 1.0)])
                - at(&[(i, 1.0), (j, -1.0)])
                - at(&[(i, -1.0), (j, 1.0)])
                + at(&[(i, -1.0), (j, -1.0)]))
                / (4.0 * h[i] * h[j]);
            hessian[i][j] = v;
            hessian[j][i] = v;
        }
    }
    (gradient, hessian)
}

/// Solves `H δ = −g`, damping H until it is positive definite.
fn newton_step(gradient: &[f64], hessian: &[Vec<f64>]) -> Option<Vec<f64>> {
    let k = gradient.len();
    if k == 0 || gradient.iter().any(|g| !g.is_finite()) {
        return None;
    }
    let scale = (0..k)
        .map(|i| hessian[i][i].abs())
        .fold(0.0, f64::max)
        .max(1e-12);
    let mut damping = 0.0;
    for _ in 0..40 {
        let mut l = vec![0.0; k * k];
        for a in 0..k {
            for b in 0..k {
                l[a * k + b] = hessian[a][b] + if a == b { damping } else { 0.0 };
            }
        }
        if let Some(step) = solve_positive(&mut l, k, gradient.iter().map(|g| -g).collect()) {
            return Some(step);
        }
        damping = if damping == 0.0 {
            1e-8 * scale
        } else {
            damping * 10.0
        };
    }
    None
}

/// Solves `A x = b` for a positive-definite k × k A by Cholesky (A overwritten).
fn solve_positive(a: &mut [f64], k: usize, mut b: Vec<f64>) -> Option<Vec<f64>> {
    for j in 0..k {
        let d = a[j * k + j] - (0..j).map(|c| a[j * k + c] * a[j * k + c]).sum::<f64>();
        if d.is_nan() || d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for r in j + 1..k {
            let s = a[r * k + j] - (0..j).map(|c| a[r * k + c] * a[j * k + c]).sum::<f64>();
            a[r * k + j] = s / d;
        }
    }
    for r in 0..k {
        b[r] = (b[r] - (0..r).map(|c| a[r * k + c] * b[c]).sum::<f64>()) / a[r * k + r];
    }
    for r in (0..k).rev() {
        b[r] = (b[r] - (r + 1..k).map(|c| a[c * k + r] * b[c]).sum::<f64>()) / a[r * k + r];
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_interior_minimum_to_high_precision() {
        let f = |x: &[f64]| {
            (x[0] - 1.5).powi(2) + 10.0 * (x[1] + 0.3).powi(2) + (x[0] - 1.5) * (x[1] + 0.3)
        };
        let optimum = minimise(&f, &[1.0, 0.0]);
        assert!((optimum.x[0] - 1.5).abs() < 1e-7, "{optimum:?}");
        assert!((optimum.x[1] + 0.3).abs() < 1e-7, "{optimum:?}");
        assert!(optimum.converged);
    }

    #[test]
    fn settles_in_rosenbrocks_valley() {
        let f = |x: &[f64]| 100.0 * (x[1] - x[0] * x[0]).powi(2) + (1.0 - x[0]).powi(2);
        let optimum = minimise(&f, &[-1.2, 1.0]);
        assert!((optimum.x[0] - 1.0).abs() < 1e-6, "{optimum:?}");
        assert!((optimum.x[1] - 1.0).abs() < 1e-6, "{optimum:?}");
    }

    /// A minimum at a point of symmetry (a variance of zero, posed as a factor whose
    /// sign does not matter) is found as any other.
    #[test]
    fn finds_a_minimum_at_a_point_of_symmetry() {
        let f = |x: &[f64]| (x[0] * x[0] + 0.5).ln() + (x[1] - 2.0).powi(2);
        let optimum = minimise(&f, &[1.0, 1.0]);
        assert!(optimum.x[0].abs() < 1e-6, "{optimum:?}");
        assert!((optimum.x[1] - 2.0).abs() < 1e-7);
    }
}
