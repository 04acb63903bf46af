//! Checks on an interrupted time series' residuals: whether neighbouring months are
//! correlated after the segmented regression, which Newey–West errors only allow for up
//! to their lag and which a misfit (a shock the segments do not model) inflates.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// One lag of the residuals' autocorrelation function with the Ljung–Box test of lags
/// 1 to `lag` together.
#[derive(Clone, Debug, PartialEq)]
pub struct LagCheck {
    pub lag: usize,
    pub autocorrelation: f64,
    /// Ljung–Box Q = n(n + 2) Σ_{k ≤ lag} r_k² / (n − k).
    pub ljung_box: f64,
    /// Against χ² with `lag` degrees of freedom, as statsmodels' `acorr_ljungbox` with
    /// its default `model_df = 0`.
    pub p_value: f64,
}

/// The sample autocorrelations of `residuals` (about their mean, over the full sum of
/// squares, as statsmodels' `acf`) at lags 1 to `max_lag`, each with Ljung–Box.
pub fn ljung_box(residuals: &[f64], max_lag: usize) -> Vec<LagCheck> {
    let n = residuals.len();
    let mean = residuals.iter().sum::<f64>() / n.max(1) as f64;
    let centred: Vec<f64> = residuals.iter().map(|e| e - mean).collect();
    let total: f64 = centred.iter().map(|e| e * e).sum();
    let mut q_sum = 0.0;
    (1..=max_lag.min(n.saturating_sub(1)))
        .map(|lag| {
            let cross: f64 = (lag..n).map(|t| centred[t] * centred[t - lag]).sum();
            let r = if total > 0.0 { cross / total } else { f64::NAN };
            q_sum += r * r / (n - lag) as f64;
            let q = n as f64 * (n as f64 + 2.0) * q_sum;
            let p_value = ChiSquared::new(lag as f64).map_or(f64::NAN, |d| 1.0 - d.cdf(q));
            LagCheck {
                lag,
                autocorrelation: r,
                ljung_box: q,
                p_value,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_noise_and_a_random_walk() {
        // An alternating series is perfectly negatively correlated at lag 1.
        let alternating: Vec<f64> = (0..40)
            .map(|t| if t % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let checks = ljung_box(&alternating, 2);
        assert!((checks[0].autocorrelation - (-39.0 / 40.0)).abs() < 1e-12);
        assert!((checks[1].autocorrelation - 38.0 / 40.0).abs() < 1e-12);
        assert!(checks[1].p_value < 1e-10);
        // Q by hand for lag 1: n(n+2) r²/(n−1).
        let q1 = 40.0 * 42.0 * (39.0f64 / 40.0).powi(2) / 39.0;
        assert!((checks[0].ljung_box - q1).abs() < 1e-9);
        assert!(ljung_box(&[1.0, 2.0], 5).len() == 1, "no lag beyond n − 1");
    }
}
