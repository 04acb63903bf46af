//! Variance estimators: classical, heteroskedasticity-robust (HC0, HC1, HC3) and
//! cluster-robust (one or two ways), with the small-sample factors of Stata, R and
//! fixest named explicitly (see docs/models.md and repl/tests/refcases/README.md).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, Par, Side};
use std::sync::Arc;

use super::rows::{Rows, column_slice};
use crate::matrix::Grouping;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    Classical,
    Robust,
    Hc3,
    Cluster,
}

/// Small-sample factor: `Stata` is Stata's choice for the model (ML: n/(n-1) and
/// G/(G-1); OLS: n/(n-k) and G/(G-1)·(N-1)/(N-K)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjustment {
    Stata,
    None,
    /// n/(n-1), G/(G-1): Stata's ML commands.
    Ml,
    /// n/(n-k), G/(G-1)·(N-1)/(N-K): Stata's `regress`, R's sandwich HC1 and vcovCL.
    Reg,
    /// Two-way clusters with one factor min(G)/(min(G)-1)·(N-1)/(N-K) (fixest).
    Min,
}

pub struct Inputs<'a> {
    /// The estimated columns, demeaned within absorbed groups.
    pub rows: &'a Rows<'a>,
    /// (X'WX)^-1 for those columns.
    pub bread: &'a Mat<f64>,
    pub working_weights: &'a [f64],
    pub working_residuals: &'a [f64],
    /// Frequency weights (a row stands for that many); `None` for one each.
    pub freq: Option<&'a [f64]>,
    /// Observations (rows, or the sum of frequency weights).
    pub n: f64,
    /// Parameters counted in small-sample factors (absorbed levels included).
    pub k: f64,
    pub ols: bool,
    pub dispersion: f64,
    pub clusters: &'a [Grouping],
    /// The one cluster grouping's sums of scores when the fit added them (then the
    /// working weights and residuals are empty).
    pub cluster_scores: Option<&'a [f64]>,
}

/// `v` with its negative eigenvalues set to zero, and how many there were. Two-way
/// clustering's `V₁ + V₂ − V₁₂` need not be positive semi-definite, and a negative
/// variance has no standard error; Cameron, Gelbach and Miller (2011) clip the
/// eigenvalues at zero. Clipping depends on the parametrisation: clip the covariance of
/// the coefficients the user reads, and clip its correlations (`v` scaled by the
/// square roots of its diagonal) so that the columns' units do not matter — a
/// coefficient of `year^2` has a variance 10¹⁸ times smaller than the intercept's, below
/// the rounding of the unscaled matrix's eigenvalues.
pub fn clip_to_positive(v: &Mat<f64>) -> (Mat<f64>, usize) {
    let p = v.nrows();
    if p == 0 {
        // No estimated terms (an offset and absorbed effects only): nothing to clip, and
        // faer's eigensolver does not take an empty matrix.
        return (v.clone(), 0);
    }
    let scale: Vec<f64> = (0..p)
        .map(|i| match v[(i, i)].abs().sqrt() {
            s if s > 0.0 && s.is_finite() => s,
            _ => 1.0,
        })
        .collect();
    let scaled = Mat::from_fn(p, p, |i, j| v[(i, j)] / (scale[i] * scale[j]));
    let Ok(eigen) = scaled.self_adjoint_eigen(Side::Lower) else {
        return (v.clone(), 0);
    };
    let values = eigen.S().column_vector();
    let negative = (0..p).filter(|&i| values[i] < 0.0).count();
    if negative == 0 {
        return (v.clone(), 0);
    }
    let u = eigen.U();
    let clipped = Mat::from_fn(p, p, |i, j| {
        let correlation: f64 = (0..p)
            .map(|k| u[(i, k)] * values[k].max(0.0) * u[(j, k)])
            .sum();
        correlation * scale[i] * scale[j]
    });
    (clipped, negative)
}

pub fn estimate(inputs: &Inputs, estimator: Estimator, adjustment: Adjustment) -> Mat<f64> {
    let p = inputs.rows.width();
    match estimator {
        Estimator::Classical => Mat::from_fn(p, p, |i, j| inputs.dispersion * inputs.bread[(i, j)]),
        Estimator::Robust | Estimator::Hc3 => {
            let hc3 = estimator == Estimator::Hc3;
            let meat = inputs.rows.fold_blocks(
                || Mat::<f64>::zeros(p, p),
                |meat, start, len, mut block| {
                    scale_to_scores(inputs, start, len, block.as_mut(), hc3);
                    // A row standing for f copies contributes f copies' scores.
                    if let Some(f) = inputs.freq {
                        for c in 0..p {
                            let column = column_slice(block.as_mut(), c, len);
                            for (x, f) in column.iter_mut().zip(&f[start..start + len]) {
                                *x /= f.sqrt();
                            }
                        }
                    }
                    let scores = block.as_ref();
                    matmul(
                        meat.as_mut(),
                        Accum::Add,
                        scores.transpose(),
                        scores,
                        1.0,
                        Par::Seq,
                    );
                },
                |a, b| *a += b,
            );
            let factor = if hc3 {
                1.0
            } else {
                match (adjustment, inputs.ols) {
                    (Adjustment::None, _) => 1.0,
                    (Adjustment::Ml, _) | (Adjustment::Stata, false) => inputs.n / (inputs.n - 1.0),
                    _ => inputs.n / (inputs.n - inputs.k),
                }
            };
            sandwich(inputs.bread, &meat, factor)
        }
        Estimator::Cluster => {
            let cluster_v = |grouping: &Grouping, factor: f64| {
                let sums = cluster_sums(inputs, grouping);
                let mut meat = Mat::<f64>::zeros(p, p);
                for s in sums.chunks(p.max(1)) {
                    add_outer(&mut meat, s, s, 1.0);
                }
                sandwich(inputs.bread, &meat, factor)
            };
            let factor_for = |g: f64| match (adjustment, inputs.ols) {
                (Adjustment::None, _) => 1.0,
                (Adjustment::Ml, _) | (Adjustment::Stata, false) => g / (g - 1.0),
                _ => g / (g - 1.0) * (inputs.n - 1.0) / (inputs.n - inputs.k),
            };
            match inputs.clusters {
                [one] => cluster_v(one, factor_for(one.levels as f64)),
                [first, second, ..] => {
                    let both = intersect(first, second);
                    let g_min = first.levels.min(second.levels) as f64;
                    let factor = |g: usize| {
                        if adjustment == Adjustment::Min {
                            g_min / (g_min - 1.0) * (inputs.n - 1.0) / (inputs.n - inputs.k)
                        } else {
                            factor_for(g as f64)
                        }
                    };
                    let v1 = cluster_v(first, factor(first.levels));
                    let v2 = cluster_v(second, factor(second.levels));
                    let v12 = cluster_v(&both, factor(both.levels));
                    Mat::from_fn(p, p, |i, j| v1[(i, j)] + v2[(i, j)] - v12[(i, j)])
                }
                [] => Mat::from_fn(p, p, |i, j| inputs.bread[(i, j)] * inputs.dispersion),
            }
        }
    }
}

/// The sandwich whose meat `meat` makes from the one clustering's sums of scores (`p`
/// numbers a cluster, in the clustering's order): a survey design's, which centres the
/// PSUs' sums within strata.
pub fn from_cluster_sums(inputs: &Inputs, meat: impl FnOnce(&[f64]) -> Mat<f64>) -> Mat<f64> {
    let sums = match inputs.clusters {
        [one] => cluster_sums(inputs, one),
        _ => Vec::new(),
    };
    sandwich(inputs.bread, &meat(&sums), 1.0)
}

/// Turns a block of rows into their scores x_i · w_i · r_i (divided by 1 - h_ii for HC3).
fn scale_to_scores(inputs: &Inputs, start: usize, len: usize, mut block: MatMut<f64>, hc3: bool) {
    let p = block.ncols();
    let mut scale: Vec<f64> = (start..start + len)
        .map(|i| inputs.working_weights[i] * inputs.working_residuals[i])
        .collect();
    if hc3 {
        let xb = block.as_ref() * inputs.bread;
        for r in 0..len {
            let h: f64 = (0..p).map(|a| xb[(r, a)] * block[(r, a)]).sum();
            scale[r] /= 1.0 - h * inputs.working_weights[start + r];
        }
    }
    for c in 0..p {
        for (x, s) in column_slice(block.as_mut(), c, len).iter_mut().zip(&scale) {
            *x *= s;
        }
    }
}

/// Each cluster's sum of scores, cluster by cluster (`p` numbers each): as the fit added
/// them, or from the rows.
fn cluster_sums(inputs: &Inputs, grouping: &Grouping) -> Vec<f64> {
    if let (Some(sums), [_]) = (inputs.cluster_scores, inputs.clusters) {
        return sums.to_vec();
    }
    inputs
        .rows
        .score_sums(grouping, inputs.working_weights, inputs.working_residuals)
}

/// The meat of a sandwich on dense columns: the scores `x_i · s_i` (with `s_i` a row's
/// weighted residual) summed by `grouping` before their outer products, or row by row
/// (heteroskedasticity-robust) without one.
pub fn dense_meat(columns: &[Vec<f64>], scores: &[f64], grouping: Option<&Grouping>) -> Mat<f64> {
    let p = columns.len();
    let mut meat = Mat::<f64>::zeros(p, p);
    let Some(grouping) = grouping else {
        for (i, s) in scores.iter().enumerate() {
            let x: Vec<f64> = columns.iter().map(|c| c[i] * s).collect();
            add_outer(&mut meat, &x, &x, 1.0);
        }
        return meat;
    };
    let mut sums = vec![0.0; grouping.levels * p];
    for (i, s) in scores.iter().enumerate() {
        let g = grouping.ids[i] as usize;
        for (c, column) in columns.iter().enumerate() {
            sums[g * p + c] += column[i] * s;
        }
    }
    for x in sums.chunks(p.max(1)) {
        add_outer(&mut meat, x, x, 1.0);
    }
    meat
}

/// Newey–West's meat: the Bartlett-weighted autocovariances of the scores `x_t · e_t`
/// of a time series, up to `lags` periods apart.
pub fn newey_west_meat(columns: &[Vec<f64>], residuals: &[f64], lags: usize) -> Mat<f64> {
    let (n, p) = (residuals.len(), columns.len());
    let score = |t: usize, j: usize| columns[j][t] * residuals[t];
    let mut meat = Mat::<f64>::zeros(p, p);
    for lag in 0..=lags.min(n.saturating_sub(1)) {
        let weight = 1.0 - lag as f64 / (lags as f64 + 1.0);
        for t in lag..n {
            for a in 0..p {
                for b in 0..p {
                    let term = score(t, a) * score(t - lag, b);
                    meat[(a, b)] += if lag == 0 {
                        term
                    } else {
                        weight * (term + score(t - lag, a) * score(t, b))
                    };
                }
            }
        }
    }
    meat
}

fn add_outer(m: &mut Mat<f64>, a: &[f64], b: &[f64], scale: f64) {
    for i in 0..a.len() {
        for j in 0..b.len() {
            m[(i, j)] += scale * a[i] * b[j];
        }
    }
}

/// `factor · bread · meat · bread`: every sandwich variance of spel, the models' and
/// the designs', is made here.
pub fn sandwich(bread: &Mat<f64>, meat: &Mat<f64>, factor: f64) -> Mat<f64> {
    let product = bread * meat * bread;
    Mat::from_fn(product.nrows(), product.ncols(), |i, j| {
        factor * product[(i, j)]
    })
}

/// The grouping of pairs (g1, g2) that occur together.
fn intersect(first: &Grouping, second: &Grouping) -> Grouping {
    let mut index = std::collections::HashMap::new();
    let ids = first
        .ids
        .iter()
        .zip(second.ids.iter())
        .map(|(a, b)| {
            let next = index.len() as u32;
            *index.entry((*a, *b)).or_insert(next)
        })
        .collect();
    let levels = index.len();
    Grouping {
        ids: Arc::new(ids),
        levels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_eigenvalue_is_clipped_and_counted() {
        // Eigenvalues 3 and -1 (vectors (1, 1) and (1, -1) over √2).
        let v = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 2.0 });
        let (clipped, negative) = clip_to_positive(&v);
        assert_eq!(negative, 1);
        for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            assert!(
                (clipped[(i, j)] - 1.5).abs() < 1e-12,
                "{i},{j}: {}",
                clipped[(i, j)]
            );
        }
        let fine = Mat::from_fn(2, 2, |i, j| if i == j { 2.0 } else { 0.5 });
        assert_eq!(clip_to_positive(&fine).1, 0);
    }
}
