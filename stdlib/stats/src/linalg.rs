//! The few dense operations a fit needs, on faer: a rank check that keeps R's column
//! order, and symmetric positive-definite solves and inverses. (Cross-products over the
//! rows are in [`super::rows`].)

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// R's tolerance for a column's rank (`lm.fit`'s and `glm.fit`'s `tol`): a column is a
/// combination of earlier ones when the norm of what they leave of it is below this
/// fraction of its own norm.
pub const RANK_TOLERANCE: f64 = 1e-7;

/// Columns that are (numerically) combinations of earlier ones, found by a Cholesky
/// factorisation in column order, as R's `lm`/`glm` report `NA` for them: a column is
/// dropped when the sum of squares that the earlier columns leave of it is at most
/// [`RANK_TOLERANCE`]² times `reference[j]`, the column's own weighted sum of squares in
/// the user's units (as R's QR compares norms).
pub fn collinear(xtwx: &Mat<f64>, reference: &[f64]) -> Vec<usize> {
    let tolerance = RANK_TOLERANCE * RANK_TOLERANCE;
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
        if xtwx[(j, j)] <= 0.0 || remaining <= tolerance * reference[j] {
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

/// The columns a singular symmetric matrix cannot tell apart: those that load on its
/// eigenvectors with eigenvalues near zero (at most 1e-10 of the largest), or on the
/// smallest one's when rounding leaves none that small.
pub fn null_directions(a: &Mat<f64>) -> Vec<usize> {
    let p = a.nrows();
    let Ok(eigen) = a.self_adjoint_eigen(Side::Lower) else {
        return (0..p).collect();
    };
    let values = eigen.S().column_vector();
    let largest = (0..p).map(|i| values[i].abs()).fold(0.0, f64::max);
    let mut small: Vec<usize> = (0..p).filter(|&i| values[i] <= 1e-10 * largest).collect();
    if small.is_empty() {
        small = (0..p)
            .min_by(|&i, &j| values[i].total_cmp(&values[j]))
            .into_iter()
            .collect();
    }
    let u = eigen.U();
    (0..p)
        .filter(|&j| small.iter().any(|&k| u[(j, k)].abs() > 0.1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_direction_names_its_columns() {
        // Columns 0 and 2 are equal; column 1 is apart from them.
        let x = [
            [1.0, 0.5, 1.0],
            [2.0, -1.0, 2.0],
            [0.5, 3.0, 0.5],
            [1.5, 1.0, 1.5],
        ];
        let a = Mat::from_fn(3, 3, |i, j| x.iter().map(|r| r[i] * r[j]).sum());
        assert!(inverse(&a).is_none() || null_directions(&a) == vec![0, 2]);
        assert_eq!(null_directions(&a), vec![0, 2]);
    }

    /// R's rule: a column is kept when what the others leave of it is 1e-6 of its norm
    /// (above 1e-7), dropped at 1e-8.
    #[test]
    fn rank_follows_r_tolerance() {
        for (left, dropped) in [(1e-6, false), (1e-8, true)] {
            let x = [[1.0, 1.0], [1.0, 1.0 + left], [1.0, 1.0 - left], [1.0, 1.0]];
            let a = Mat::from_fn(2, 2, |i, j| x.iter().map(|r| r[i] * r[j]).sum());
            let reference: Vec<f64> = (0..2).map(|j| a[(j, j)]).collect();
            assert_eq!(collinear(&a, &reference) == vec![1], dropped, "left {left}");
        }
    }
}
