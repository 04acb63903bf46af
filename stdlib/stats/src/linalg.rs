//! The few dense operations a fit needs, on faer: a rank check that keeps R's column
//! order, and symmetric positive-definite solves and inverses. (Cross-products over the
//! rows are in [`super::rows`].)

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// Columns that are (numerically) combinations of earlier ones, found by a Cholesky
/// factorisation in column order: a column whose remaining variance is below
/// `tolerance` times its own is dropped, as R's `lm`/`glm` report `NA` for it.
pub fn collinear(xtwx: &Mat<f64>, tolerance: f64) -> Vec<usize> {
    let p = xtwx.nrows();
    let mut l = Mat::<f64>::zeros(p, p);
    let mut kept: Vec<usize> = Vec::new();
    let mut dropped = Vec::new();
    for j in 0..p {
        let mut row = vec![0.0; kept.len()];
        for (a, &k) in kept.iter().enumerate() {
            let mut s = xtwx[(j, k)];
            for (b, value) in row.iter().enumerate().take(a) {
                s -= value * l[(a, b)];
            }
            row[a] = s / l[(a, a)];
        }
        let remaining = xtwx[(j, j)] - row.iter().map(|v| v * v).sum::<f64>();
        if xtwx[(j, j)] <= 0.0 || remaining <= tolerance * xtwx[(j, j)] {
            dropped.push(j);
            continue;
        }
        let a = kept.len();
        for (b, value) in row.iter().enumerate() {
            l[(a, b)] = *value;
        }
        l[(a, a)] = remaining.sqrt();
        kept.push(j);
    }
    dropped
}

/// Solves `A x = b` for symmetric positive-definite `A`; `None` if it is not.
pub fn solve(a: &Mat<f64>, b: &[f64]) -> Option<Vec<f64>> {
    let llt = a.llt(Side::Lower).ok()?;
    let rhs = Mat::<f64>::from_fn(b.len(), 1, |i, _| b[i]);
    let x = faer::linalg::solvers::Solve::solve(&llt, &rhs);
    Some((0..b.len()).map(|i| x[(i, 0)]).collect())
}

/// The inverse of a symmetric positive-definite matrix.
pub fn inverse(a: &Mat<f64>) -> Option<Mat<f64>> {
    Some(a.llt(Side::Lower).ok()?.inverse())
}
