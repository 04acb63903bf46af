//! Event rates: exact (Garwood) Poisson intervals for counts, and rate ratios against a
//! reference group with the Wald interval of the log ratio.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// A rate per `per` people, with its exact interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

/// The exact (Garwood) Poisson interval for a count.
pub fn poisson_interval(count: f64, level: f64) -> (f64, f64) {
    let alpha = 1.0 - level;
    let lower = if count <= 0.0 {
        0.0
    } else {
        ChiSquared::new(2.0 * count).map_or(f64::NAN, |d| d.inverse_cdf(alpha / 2.0) / 2.0)
    };
    let upper = ChiSquared::new(2.0 * (count + 1.0))
        .map_or(f64::NAN, |d| d.inverse_cdf(1.0 - alpha / 2.0) / 2.0);
    (lower, upper)
}

/// `count / population · per`, with the count's exact interval scaled alike.
pub fn rate(count: f64, population: f64, per: f64, level: f64) -> Rate {
    let (low, high) = poisson_interval(count, level);
    Rate {
        rate: count / population * per,
        low: low / population * per,
        high: high / population * per,
    }
}

/// Each group's rate ratio against group `reference`, with its interval; `None` for the
/// reference itself (1 by definition, no interval).
pub fn rate_ratios(
    counts: &[f64],
    rates: &[f64],
    reference: usize,
    level: f64,
) -> Vec<Option<Rate>> {
    let z = Normal::standard().inverse_cdf(1.0 - (1.0 - level) / 2.0);
    let (ref_count, ref_rate) = (counts[reference], rates[reference]);
    counts
        .iter()
        .zip(rates)
        .enumerate()
        .map(|(row, (count, r))| {
            (row != reference).then(|| {
                let rr = r / ref_rate;
                let se = (1.0 / count + 1.0 / ref_count).sqrt();
                Rate {
                    rate: rr,
                    low: rr * (-z * se).exp(),
                    high: rr * (z * se).exp(),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R: poisson.test(10)$conf.int = 4.795389 18.390356; the ratio 20/10 per 1,000 has
    /// SE of its log √(1/20 + 1/10).
    #[test]
    fn garwood_interval_and_ratio_as_r() {
        let r = rate(10.0, 1000.0, 1000.0, 0.95);
        assert!((r.low - 4.795389).abs() < 1e-6 && (r.high - 18.390356).abs() < 1e-6);
        let ratios = rate_ratios(&[10.0, 20.0], &[10.0, 20.0], 0, 0.95);
        assert_eq!(ratios[0], None);
        let rr = ratios[1].unwrap();
        let se = (0.05_f64 + 0.1).sqrt();
        assert_eq!(rr.rate, 2.0);
        assert!((rr.high - 2.0 * (1.959963984540054 * se).exp()).abs() < 1e-12);
    }
}
