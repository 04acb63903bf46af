//! The few dense operations a fit needs, on faer: cross-products, a rank check that
//! keeps R's column order, and a symmetric positive-definite inverse.

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// `X'WX` and `X'Wz` for the columns in `keep`.
pub fn cross_products(
    columns: &[Vec<f64>],
    keep: &[usize],
    w: &[f64],
    z: &[f64],
) -> (Mat<f64>, Vec<f64>) {
    let p = keep.len();
    let mut xtwx = Mat::<f64>::zeros(p, p);
    let mut xtwz = vec![0.0; p];
    for (a, &j) in keep.iter().enumerate() {
        let xj = &columns[j];
        xtwz[a] = xj.iter().zip(w).zip(z).map(|((x, w), z)| x * w * z).sum();
        for (b, &k) in keep.iter().enumerate().take(a + 1) {
            let xk = &columns[k];
            let s: f64 = xj.iter().zip(xk).zip(w).map(|((x, y), w)| x * y * w).sum();
            xtwx[(a, b)] = s;
            xtwx[(b, a)] = s;
        }
    }
    (xtwx, xtwz)
}

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
