//! Numeric columns centred and scaled before a fit, and the fit taken back to the
//! user's units. Calendar years and their powers (`year + year^2` on 2000–2020) make the
//! normal equations too ill-conditioned to solve, or to judge their rank, in the user's
//! units: a column of years is almost a multiple of the intercept. Centred and scaled,
//! the same model is well-conditioned, and its coefficients and their covariance are a
//! fixed linear map of the conditioned ones (`β = A γ`, `V = A Vγ Aᵀ`).

use std::sync::Arc;

use faer::Mat;

use crate::matrix::MatrixColumn;

/// How each column was changed: `x̃ = (x − shift) / scale`. A column left as it is has
/// shift 0 and scale 1.
#[derive(Clone, Debug)]
pub struct Conditioning {
    shift: Vec<f64>,
    scale: Vec<f64>,
    /// The constant column (the intercept) and its value: it takes the shifts back.
    constant: Option<(usize, f64)>,
}

impl Conditioning {
    /// Leaves every one of `columns` as it is.
    pub fn none(columns: usize) -> Self {
        Conditioning {
            shift: vec![0.0; columns],
            scale: vec![1.0; columns],
            constant: None,
        }
    }

    /// Centres and scales to unit standard deviation, in place, every numeric column that
    /// is not 0/1, when the model holds a constant — an intercept column, or absorbed
    /// effects (`absorbs`) — so that centring leaves the model as it is. Without a
    /// constant the columns are left as they are. Factor dummies and 0/1 columns are
    /// never changed: they are well-scaled, and separation checks read them.
    pub fn apply(columns: &mut [MatrixColumn], absorbs: bool) -> Self {
        let mut conditioning = Self::none(columns.len());
        conditioning.constant = columns.iter().enumerate().find_map(|(j, c)| match c {
            MatrixColumn::Constant { value, .. } if *value != 0.0 => Some((j, *value)),
            _ => None,
        });
        if conditioning.constant.is_none() && !absorbs {
            return conditioning;
        }
        for (j, column) in columns.iter_mut().enumerate() {
            let MatrixColumn::Values(x) = column else {
                continue;
            };
            // Not a copy: the design's column is the fit's alone here.
            let x = Arc::make_mut(x);
            if x.is_empty() || x.iter().all(|&v| v == 0.0 || v == 1.0) {
                continue;
            }
            let n = x.len() as f64;
            let mean = x.iter().sum::<f64>() / n;
            let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            if !(sd.is_finite() && sd > 0.0 && mean.is_finite()) {
                continue;
            }
            for v in x.iter_mut() {
                *v = (*v - mean) / sd;
            }
            conditioning.shift[j] = mean;
            conditioning.scale[j] = sd;
        }
        conditioning
    }

    /// Column `j`'s value in the user's units from its conditioned value, in the
    /// conditioned column's scale: `x / scale`, i.e. `x̃ + shift / scale`.
    #[inline]
    pub fn uncentred(&self, j: usize, conditioned: f64) -> f64 {
        conditioned + self.shift[j] / self.scale[j]
    }

    /// Column `j`'s weighted sum of squares in the user's units (uncentred), in the
    /// conditioned column's scale, from the conditioned column's `Σw x̃²`, `Σw x̃` and
    /// `Σw`: `Σw (x̃ + shift/scale)²`.
    pub fn uncentred_norm(&self, j: usize, sum_wxx: f64, sum_wx: f64, sum_w: f64) -> f64 {
        let r = self.shift[j] / self.scale[j];
        sum_wxx + 2.0 * r * sum_wx + r * r * sum_w
    }

    /// The same, for a design with `extra` more columns after these, left as they are
    /// (dummies joined to the design).
    pub fn with_more_columns(&self, extra: usize) -> Self {
        let mut more = self.clone();
        more.shift.extend(std::iter::repeat_n(0.0, extra));
        more.scale.extend(std::iter::repeat_n(1.0, extra));
        more
    }

    /// Whether any column was changed.
    pub fn is_identity(&self) -> bool {
        self.shift.iter().all(|&s| s == 0.0) && self.scale.iter().all(|&s| s == 1.0)
    }

    /// The coefficients in the user's units from the conditioned fit's, one per column
    /// (`None` for a column dropped as collinear).
    pub fn coefficients(&self, gamma: &[Option<f64>]) -> Vec<Option<f64>> {
        let mut beta: Vec<Option<f64>> = gamma
            .iter()
            .zip(&self.scale)
            .map(|(g, s)| g.map(|g| g / s))
            .collect();
        let taken_back = self.absorbed(&beta);
        if let Some((c, value)) = self.constant
            && let Some(intercept) = beta[c].as_mut()
        {
            *intercept -= taken_back / value;
        }
        beta
    }

    /// What the shifts add to the linear predictor at the user's coefficients `beta`,
    /// `Σ shift_j β_j`: the constant, or an absorbed group's value, gives it back.
    pub fn absorbed(&self, beta: &[Option<f64>]) -> f64 {
        beta.iter()
            .zip(&self.shift)
            .map(|(b, s)| if *s == 0.0 { 0.0 } else { b.unwrap_or(0.0) * s })
            .sum()
    }

    /// The covariance of the user's coefficients from the conditioned one, over the
    /// estimated columns `kept` (in their order): `A V Aᵀ`.
    pub fn covariance(&self, kept: &[usize], v: &Mat<f64>) -> Mat<f64> {
        if self.is_identity() {
            return v.clone();
        }
        let map = self.map(kept);
        &map * v * map.transpose()
    }

    /// `A`, with `β = A γ` over the estimated columns: each conditioned column divided by
    /// its scale, and the intercept's row taking back each shift.
    fn map(&self, kept: &[usize]) -> Mat<f64> {
        let k = kept.len();
        let mut map = Mat::<f64>::zeros(k, k);
        for (a, &j) in kept.iter().enumerate() {
            map[(a, a)] = 1.0 / self.scale[j];
        }
        if let Some((c, value)) = self.constant
            && let Some(row) = kept.iter().position(|&j| j == c)
        {
            for (a, &j) in kept.iter().enumerate() {
                if j != c {
                    map[(row, a)] = -self.shift[j] / (self.scale[j] * value);
                }
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<MatrixColumn> {
        let years: Vec<f64> = (2000..=2020).map(f64::from).collect();
        vec![
            MatrixColumn::Constant {
                value: 1.0,
                rows: years.len(),
            },
            MatrixColumn::values(years.clone()),
            MatrixColumn::values(years.iter().map(|y| y * y).collect()),
            MatrixColumn::values(
                years
                    .iter()
                    .map(|y| f64::from(*y as i32 % 2 == 0))
                    .collect(),
            ),
        ]
    }

    #[test]
    fn centres_and_scales_numbers_but_not_dummies() {
        let mut cols = columns();
        let conditioning = Conditioning::apply(&mut cols, false);
        let MatrixColumn::Values(year) = &cols[1] else {
            panic!("years stay numbers")
        };
        let mean = year.iter().sum::<f64>() / year.len() as f64;
        let variance = year.iter().map(|v| v * v).sum::<f64>() / year.len() as f64;
        assert!(mean.abs() < 1e-12 && (variance - 1.0).abs() < 1e-12);
        assert_eq!(conditioning.shift[3], 0.0, "a 0/1 column is left alone");
        assert!(matches!(&cols[3], MatrixColumn::Values(x) if x[0] == 1.0));
    }

    #[test]
    fn no_constant_no_change() {
        let mut cols = columns().split_off(1);
        assert!(Conditioning::apply(&mut cols, false).is_identity());
        assert!(matches!(&cols[0], MatrixColumn::Values(x) if x[0] == 2000.0));
    }

    /// The linear predictor is the same in both units: `x·β = x̃·γ`.
    #[test]
    fn coefficients_give_the_same_predictor() {
        let original = columns();
        let mut cols = columns();
        let conditioning = Conditioning::apply(&mut cols, false);
        let gamma = [Some(0.7), Some(-1.3), Some(2.1), Some(0.4)];
        let beta = conditioning.coefficients(&gamma);
        for row in [0, 7, 20] {
            let conditioned: f64 = cols
                .iter()
                .zip(&gamma)
                .map(|(c, g)| c.get(row) * g.unwrap())
                .sum();
            let user: f64 = original
                .iter()
                .zip(&beta)
                .map(|(c, b)| c.get(row) * b.unwrap())
                .sum();
            assert!(
                (conditioned - user).abs() < 1e-9 * user.abs().max(1.0),
                "{conditioned} {user}"
            );
        }
    }

    /// `A V Aᵀ` is the covariance of `A γ`: a variance of a contrast checks it.
    #[test]
    fn covariance_maps_with_the_coefficients() {
        let mut cols = columns();
        let conditioning = Conditioning::apply(&mut cols, false);
        let kept = [0, 1, 3];
        let v = Mat::<f64>::from_fn(3, 3, |i, j| if i == j { 1.0 + i as f64 } else { 0.2 });
        let mapped = conditioning.covariance(&kept, &v);
        let a = conditioning.map(&kept);
        for i in 0..3 {
            for j in 0..3 {
                let expected: f64 = (0..3)
                    .flat_map(|k| (0..3).map(move |l| (k, l)))
                    .map(|(k, l)| a[(i, k)] * v[(k, l)] * a[(j, l)])
                    .sum();
                assert!((mapped[(i, j)] - expected).abs() < 1e-9 * expected.abs().max(1e-12));
            }
        }
        assert_eq!(a[(2, 2)], 1.0, "a 0/1 column keeps its scale");
    }
}
