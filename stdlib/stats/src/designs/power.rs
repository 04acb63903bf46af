//! Power of the Wald test of a logit slope (Hsieh, Bloch & Larsen 1998, with a design
//! effect): power = Φ(|log OR|·sd·√(n·p0(1 − p0)/deff) − z(1 − α/2)), and n or the
//! smallest detectable odds ratio solved from it.

use statrs::distribution::{ContinuousCDF, Normal};

/// What the test is of: the outcome's probability `p0` at the covariate's mean, the
/// covariate's standard deviation, the two-sided level and the design effect.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogitSlope {
    pub p0: f64,
    pub sd: f64,
    pub alpha: f64,
    pub deff: f64,
}

impl LogitSlope {
    /// Information per respondent about the log odds ratio.
    fn information(&self) -> f64 {
        self.p0 * (1.0 - self.p0) * self.sd * self.sd / self.deff
    }

    fn z_alpha(&self) -> f64 {
        Normal::standard().inverse_cdf(1.0 - self.alpha / 2.0)
    }

    /// The power to detect `odds_ratio` with `n` respondents.
    pub fn power(&self, odds_ratio: f64, n: f64) -> f64 {
        let shift = odds_ratio.ln().abs() * (n * self.information()).sqrt();
        Normal::standard().cdf(shift - self.z_alpha())
    }

    /// Respondents needed for `power` (whole, rounded up).
    pub fn respondents(&self, odds_ratio: f64, power: f64) -> f64 {
        let z_power = Normal::standard().inverse_cdf(power);
        let n = ((self.z_alpha() + z_power) / odds_ratio.ln()).powi(2) / self.information();
        n.ceil()
    }

    /// The smallest odds ratio above 1 that `n` respondents detect with `power`.
    pub fn detectable_odds_ratio(&self, n: f64, power: f64) -> f64 {
        let z_power = Normal::standard().inverse_cdf(power);
        ((self.z_alpha() + z_power) / (n * self.information()).sqrt()).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three solve one another, and a design effect of 2 doubles n.
    #[test]
    fn power_n_and_odds_ratio_agree() {
        let test = LogitSlope {
            p0: 0.7,
            sd: 1.5,
            alpha: 0.05,
            deff: 1.0,
        };
        let n = test.respondents(1.006, 0.8);
        assert!((test.power(1.006, n) - 0.8).abs() < 1e-4);
        assert!((test.detectable_odds_ratio(n, 0.8) - 1.006).abs() < 1e-6);
        let clustered = LogitSlope { deff: 2.0, ..test };
        assert!((clustered.respondents(1.006, 0.8) - 2.0 * n).abs() <= 2.0);
    }
}
