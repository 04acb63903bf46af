//! Weighted least squares on a few dense columns, for the designs' regressions
//! (segmented time series, slope indices): the coefficients, the bread `(X'WX)⁻¹` and
//! the residuals that a sandwich needs.

use faer::Mat;

use crate::linalg;
use crate::matrix::MatrixColumn;
use crate::rows::Rows;

pub struct LeastSquares {
    pub beta: Vec<f64>,
    /// `(X'WX)⁻¹`.
    pub bread: Mat<f64>,
    /// `y − Xβ`, unweighted.
    pub residuals: Vec<f64>,
}

/// `β = (X'WX)⁻¹X'Wy`; `None` when `X'WX` is singular.
pub fn fit(columns: &[Vec<f64>], y: &[f64], weights: &[f64]) -> Option<LeastSquares> {
    let matrix: Vec<MatrixColumn> = columns.iter().cloned().map(MatrixColumn::values).collect();
    let (xtx, xty) = Rows::new(matrix.iter().collect(), &[], weights).cross_products(weights, y);
    let beta = linalg::solve(&xtx, &xty)?;
    let bread = linalg::inverse(&xtx)?;
    let residuals = (0..y.len())
        .map(|i| y[i] - fitted(columns, &beta, i))
        .collect();
    Some(LeastSquares {
        beta,
        bread,
        residuals,
    })
}

/// The fitted value of row `i`, `x_i · β`.
pub fn fitted(columns: &[Vec<f64>], beta: &[f64], i: usize) -> f64 {
    (0..beta.len()).map(|j| columns[j][i] * beta[j]).sum()
}
