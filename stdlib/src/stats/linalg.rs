//! The few dense operations a fit needs, on faer: cross-products, a rank check that
//! keeps R's column order, and a symmetric positive-definite inverse.

use faer::linalg::matmul::matmul;
use faer::linalg::solvers::DenseSolveCore;
use faer::{Accum, Mat, Par, Side};

/// Rows per block of the cross-products: a block of the design (rows × kept columns)
/// stays in cache while faer's matrix product works on it.
const BLOCK: usize = 4096;

/// `X'WX` and `X'Wz` for the columns in `keep` (weights are never negative). The rows
/// go through in blocks: each block's columns scaled by √w, then one matrix product
/// `AᵀA` (and `Aᵀ(√w·z)`), which faer vectorises; summing row by row column pair by
/// column pair cannot be, as a float sum must keep its order.
pub fn cross_products(
    columns: &[Vec<f64>],
    keep: &[usize],
    w: &[f64],
    z: &[f64],
) -> (Mat<f64>, Vec<f64>) {
    let p = keep.len();
    let n = w.len();
    let mut xtwx = Mat::<f64>::zeros(p, p);
    let mut xtwz = Mat::<f64>::zeros(p, 1);
    let mut block = Mat::<f64>::zeros(BLOCK.min(n.max(1)), p);
    let mut target = Mat::<f64>::zeros(BLOCK.min(n.max(1)), 1);
    let mut root_w = vec![0.0; BLOCK];
    let mut start = 0;
    while start < n {
        let len = BLOCK.min(n - start);
        for (r, weight) in root_w.iter_mut().zip(&w[start..start + len]) {
            *r = weight.sqrt();
        }
        for (c, &j) in keep.iter().enumerate() {
            let column = &columns[j][start..start + len];
            let out = block
                .col_mut(c)
                .try_as_col_major_mut()
                .expect("a column is contiguous");
            let out = out.as_slice_mut();
            for i in 0..len {
                out[i] = column[i] * root_w[i];
            }
        }
        {
            let out = target
                .col_mut(0)
                .try_as_col_major_mut()
                .expect("a column is contiguous");
            let out = out.as_slice_mut();
            for i in 0..len {
                out[i] = z[start + i] * root_w[i];
            }
        }
        let a = block.as_ref().subrows(0, len);
        matmul(xtwx.as_mut(), Accum::Add, a.transpose(), a, 1.0, Par::Seq);
        matmul(
            xtwz.as_mut(),
            Accum::Add,
            a.transpose(),
            target.as_ref().subrows(0, len),
            1.0,
            Par::Seq,
        );
        start += len;
    }
    let xtwz = (0..p).map(|i| xtwz[(i, 0)]).collect();
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
