//! Design-based estimation for complex samples, as R's `survey` package (4.x) computes it
//! for a one-stage design (`svydesign(id = ~psu, strata = ~s, weights = ~w, fpc = ~N)`):
//! totals, ratio means and their linearised variances (`svyrecvar`'s one stage, PSUs
//! nested in strata), design effects against simple random sampling without replacement
//! (`deff = TRUE`), the design's degrees of freedom (`degf`), and quantiles by the
//! weighted empirical distribution (`qrule = "math"`) with Woodruff's interval.
//!
//! A subpopulation (domain) is estimated as `survey` does: its rows keep their weights,
//! every other row weighs zero, and every PSU of the sample stays in the variance.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// What a stratum holding a single PSU contributes (R's `options(survey.lonely.psu)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LonelyPsu {
    /// An error: the stratum's variance cannot be estimated.
    Fail,
    /// Centred at the sample's grand mean rather than its stratum's (conservative).
    Adjust,
    /// Sampled with certainty: it contributes no variance.
    Certainty,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DesignError {
    /// A stratum (its index) has one PSU and `LonelyPsu::Fail` was asked for.
    LonelyPsu(usize),
    /// The population size differs between rows of one stratum (its index).
    PopulationVaries(usize),
    /// A population size that is not positive and finite (a row's index).
    BadPopulation(usize),
    /// The whole sample is one PSU: no variance between PSUs can be seen.
    SinglePsu,
    /// A stratum (its index) samples more PSUs than its population holds.
    PopulationTooSmall {
        stratum: usize,
        sampled: usize,
        population: f64,
    },
}

/// The sample's structure: which stratum and PSU each row belongs to, and each stratum's
/// finite population factor.
#[derive(Clone, Debug)]
pub struct Design {
    rows: usize,
    /// Each row's PSU, numbered across the sample (PSUs are nested in strata).
    psu: Vec<usize>,
    /// Each PSU's stratum.
    psu_stratum: Vec<usize>,
    /// Each stratum's number of PSUs.
    psus_in: Vec<usize>,
    /// Each stratum's (N − n) / N, or 1 without a population size.
    fpc: Vec<f64>,
    lonely: LonelyPsu,
}

impl Design {
    /// `stratum[i]` numbers row i's stratum from 0; `psu[i]` names its PSU within the
    /// stratum (any code), or each row is its own PSU; `population[i]` is its stratum's
    /// number of PSUs in the population, or the sampling fraction when every value is at
    /// most 1 (R's `fpc`).
    pub fn new(
        stratum: &[usize],
        psu: Option<&[u64]>,
        population: Option<&[f64]>,
        lonely: LonelyPsu,
    ) -> Result<Design, DesignError> {
        let rows = stratum.len();
        let strata = stratum.iter().max().map_or(0, |m| m + 1);
        let mut ids = std::collections::HashMap::new();
        let mut psu_stratum = Vec::new();
        let psu_of_row: Vec<usize> = (0..rows)
            .map(|i| {
                let code = psu.map_or(i as u64, |p| p[i]);
                *ids.entry((stratum[i], code)).or_insert_with(|| {
                    psu_stratum.push(stratum[i]);
                    psu_stratum.len() - 1
                })
            })
            .collect();
        let mut psus_in = vec![0; strata];
        for &h in &psu_stratum {
            psus_in[h] += 1;
        }
        if psu_stratum.len() == 1 {
            return Err(DesignError::SinglePsu);
        }
        let fpc = finite_population_factors(stratum, &psus_in, population)?;
        if lonely == LonelyPsu::Fail
            && let Some(h) = psus_in.iter().position(|&n| n == 1)
        {
            return Err(DesignError::LonelyPsu(h));
        }
        Ok(Design {
            rows,
            psu: psu_of_row,
            psu_stratum,
            psus_in,
            fpc,
            lonely,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn strata(&self) -> usize {
        self.psus_in.len()
    }

    pub fn psus(&self) -> usize {
        self.psu_stratum.len()
    }

    /// Each stratum's number of PSUs.
    pub fn psus_per_stratum(&self) -> &[usize] {
        &self.psus_in
    }

    /// Each row's stratum.
    pub fn row_strata(&self) -> impl Iterator<Item = usize> + '_ {
        self.psu.iter().map(|&j| self.psu_stratum[j])
    }

    /// Strata holding a single PSU.
    pub fn lonely_strata(&self) -> usize {
        self.psus_in.iter().filter(|&&n| n == 1).count()
    }

    /// The degrees of freedom for t intervals, as `degf`: PSUs minus strata, counting only
    /// those with a row of nonzero weight.
    pub fn degrees_of_freedom(&self, weights: &[f64]) -> usize {
        let mut psu_in = vec![false; self.psus()];
        for (i, &w) in weights.iter().enumerate() {
            if w != 0.0 {
                psu_in[self.psu[i]] = true;
            }
        }
        self.degrees_of_freedom_of(&psu_in)
    }

    /// The linearised variance of a total whose rows contribute `influence`.
    pub fn variance(&self, influence: &[f64]) -> f64 {
        self.covariance(&[influence])[0][0]
    }

    /// The covariance of several totals (one influence column each): the between-PSU
    /// variation of the PSUs' totals within each stratum, scaled by n/(n − 1) and the
    /// finite population factor, summed over strata.
    pub fn covariance(&self, influence: &[&[f64]]) -> Vec<Vec<f64>> {
        let p = influence.len();
        let mut totals = vec![vec![0.0; p]; self.psus()];
        for (k, column) in influence.iter().enumerate() {
            for (i, &z) in column.iter().enumerate() {
                totals[self.psu[i]][k] += z;
            }
        }
        self.covariance_of_totals(&totals)
    }

    /// Each row's PSU, numbered as [`Design::covariance_of_totals`] takes them.
    pub fn row_psus(&self) -> &[usize] {
        &self.psu
    }

    /// The degrees of freedom of a subpopulation given by which PSUs hold its rows.
    pub fn degrees_of_freedom_of(&self, psu_present: &[bool]) -> usize {
        let mut stratum_in = vec![false; self.strata()];
        for (j, &present) in psu_present.iter().enumerate() {
            if present {
                stratum_in[self.psu_stratum[j]] = true;
            }
        }
        let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
        count(psu_present).saturating_sub(count(&stratum_in))
    }

    /// The covariance of totals from each PSU's sums (`totals[j]`, one number per
    /// total; a PSU the estimate's rows miss sums to zero and still counts).
    pub fn covariance_of_totals(&self, totals: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let p = totals.first().map_or(0, Vec::len);
        let mut means = vec![vec![0.0; p]; self.strata()];
        for (j, total) in totals.iter().enumerate() {
            let h = self.psu_stratum[j];
            for k in 0..p {
                means[h][k] += total[k] / self.psus_in[h] as f64;
            }
        }
        let mut covariance = vec![vec![0.0; p]; p];
        for (j, total) in totals.iter().enumerate() {
            let h = self.psu_stratum[j];
            let n = self.psus_in[h];
            let (scale, centre) = match (n, self.lonely) {
                (1, LonelyPsu::Adjust) => (self.fpc[h], false),
                (1, _) => (self.fpc[h], true),
                _ => (self.fpc[h] * n as f64 / (n as f64 - 1.0), true),
            };
            let deviation: Vec<f64> = (0..p)
                .map(|k| total[k] - if centre { means[h][k] } else { 0.0 })
                .collect();
            for a in 0..p {
                for b in 0..p {
                    covariance[a][b] += scale * deviation[a] * deviation[b];
                }
            }
        }
        covariance
    }
}

fn finite_population_factors(
    stratum: &[usize],
    psus_in: &[usize],
    population: Option<&[f64]>,
) -> Result<Vec<f64>, DesignError> {
    let Some(population) = population else {
        return Ok(vec![1.0; psus_in.len()]);
    };
    if let Some(i) = population.iter().position(|&n| !(n.is_finite() && n > 0.0)) {
        return Err(DesignError::BadPopulation(i));
    }
    let fractions = population.iter().all(|&n| n <= 1.0);
    let mut size = vec![f64::NAN; psus_in.len()];
    for (i, &h) in stratum.iter().enumerate() {
        if size[h].is_nan() {
            size[h] = population[i];
        } else if size[h] != population[i] {
            return Err(DesignError::PopulationVaries(h));
        }
    }
    size.iter()
        .zip(psus_in)
        .enumerate()
        .map(|(h, (&n_pop, &n))| {
            let population = if fractions { n as f64 / n_pop } else { n_pop };
            if population < n as f64 - 1e-9 {
                return Err(DesignError::PopulationTooSmall {
                    stratum: h,
                    sampled: n,
                    population,
                });
            }
            Ok(((population - n as f64) / population).max(0.0))
        })
        .collect()
}

/// A total or mean with its design-based standard error.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub estimate: f64,
    pub std_error: f64,
    /// The design effect: this variance over simple random sampling's without
    /// replacement, of as many rows from a population the size of the weights' sum;
    /// `None` when the weights sum to fewer than the rows.
    pub design_effect: Option<f64>,
    /// Rows of nonzero weight.
    pub rows: usize,
    /// The weights' sum: the estimated population size.
    pub population: f64,
}

/// The weighted total of `x`. Rows outside the domain have weight 0 (their `x` is not
/// read).
pub fn total(design: &Design, weights: &[f64], x: &[f64]) -> Estimate {
    let sample = Sample::new(weights, x);
    let influence: Vec<f64> = (0..x.len()).map(|i| weights[i] * sample.value(i)).collect();
    let variance = design.variance(&influence);
    let simple_random = sample
        .simple_random_variance()
        .map(|v| v * sample.population.powi(2));
    sample.estimate(sample.mean * sample.population, variance, simple_random)
}

/// The weighted mean of `x` (a ratio of two totals), linearised.
pub fn mean(design: &Design, weights: &[f64], x: &[f64]) -> Estimate {
    let sample = Sample::new(weights, x);
    let influence: Vec<f64> = (0..x.len())
        .map(|i| weights[i] * (sample.value(i) - sample.mean) / sample.population)
        .collect();
    let variance = design.variance(&influence);
    sample.estimate(sample.mean, variance, sample.simple_random_variance())
}

/// A variable's rows under the domain's weights.
struct Sample<'a> {
    weights: &'a [f64],
    x: &'a [f64],
    population: f64,
    rows: usize,
    mean: f64,
}

impl<'a> Sample<'a> {
    fn new(weights: &'a [f64], x: &'a [f64]) -> Self {
        let mut sample = Sample {
            weights,
            x,
            population: compensated_sum(weights.iter().copied()),
            rows: weights.iter().filter(|&&w| w != 0.0).count(),
            mean: 0.0,
        };
        // As `svymean`: each row's x·w/W, summed in extended precision (R's colSums
        // keeps a long double), so that a share of 1 comes out 1 as R's does, which
        // decides whether a quantile's interval reaches past the top.
        sample.mean =
            compensated_sum((0..x.len()).map(|i| sample.value(i) * weights[i] / sample.population));
        sample
    }

    /// Row i's value, 0 outside the domain (where it may be missing).
    fn value(&self, i: usize) -> f64 {
        if self.weights[i] == 0.0 {
            0.0
        } else {
            self.x[i]
        }
    }

    /// The variance of the mean under simple random sampling without replacement of as
    /// many rows from a population of the weights' sum, as `survey`'s `deff = TRUE`
    /// (`svyvar` on n − 1); `None` when the weights sum to fewer than the rows.
    fn simple_random_variance(&self) -> Option<f64> {
        let (n, population) = (self.rows as f64, self.population);
        let spread = (0..self.x.len())
            .map(|i| self.weights[i] * (self.value(i) - self.mean).powi(2))
            .sum::<f64>()
            / population
            * n
            / (n - 1.0);
        (population >= n).then(|| spread * (population - n) / (population * n))
    }

    fn estimate(&self, estimate: f64, variance: f64, simple_random: Option<f64>) -> Estimate {
        Estimate {
            estimate,
            std_error: variance.sqrt(),
            design_effect: simple_random.map(|v| variance / v),
            rows: self.rows,
            population: self.population,
        }
    }
}

/// Neumaier's compensated sum: as exact as a long double's for the sums here.
fn compensated_sum(terms: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    for term in terms {
        let next = sum + term;
        compensation += if sum.abs() >= term.abs() {
            (sum - next) + term
        } else {
            (term - next) + sum
        };
        sum = next;
    }
    sum + compensation
}

/// A quantile with Woodruff's interval, as `svyquantile(..., interval.type = "mean")`.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantile {
    pub estimate: f64,
    /// NaN where the interval for the proportion below leaves [0, 1], as in R.
    pub conf_low: f64,
    pub conf_high: f64,
    /// The interval's width over twice its critical value.
    pub std_error: f64,
    pub rows: usize,
}

/// The `p` quantile of `x` under `weights`, its interval at `level` by the design's t
/// distribution on `df` degrees of freedom (the normal when `df` is `None`).
pub fn quantile(
    design: &Design,
    weights: &[f64],
    x: &[f64],
    p: f64,
    level: f64,
    df: Option<usize>,
) -> Quantile {
    let estimate = weighted_quantile(weights, x, p);
    let below: Vec<f64> = x
        .iter()
        .map(|&v| if v <= estimate { 1.0 } else { 0.0 })
        .collect();
    let share = mean(design, weights, &below);
    let critical = critical_value(level, df);
    let low = share.estimate - critical * share.std_error;
    let high = share.estimate + critical * share.std_error;
    // Past 0 or 1 the interval has no end (NaN, as R); a probability within rounding of
    // them is taken as at them, where R's answer turns on the last bit of a sum.
    let end = |p: f64| {
        if p.is_nan() || !(-1e-12..=1.0 + 1e-12).contains(&p) {
            f64::NAN
        } else {
            weighted_quantile(weights, x, p.clamp(0.0, 1.0))
        }
    };
    let (conf_low, conf_high) = (end(low), end(high));
    Quantile {
        estimate,
        conf_low,
        conf_high,
        std_error: (conf_high - conf_low) / (2.0 * critical),
        rows: share.rows,
    }
}

/// The two-sided critical value at `level` (0.95): t on `df` degrees of freedom, or the
/// normal's.
pub fn critical_value(level: f64, df: Option<usize>) -> f64 {
    let upper = 1.0 - (1.0 - level) / 2.0;
    match df {
        None => Normal::standard().inverse_cdf(upper),
        Some(0) => f64::NAN,
        Some(df) => StudentsT::new(0.0, 1.0, df as f64).map_or(f64::NAN, |t| t.inverse_cdf(upper)),
    }
}

/// The weighted empirical quantile as `survey`'s `qrule_math`: of the rows of nonzero
/// weight sorted by `x`, the value where the cumulative weight first reaches `p` of the
/// whole (the last row at or below it when exactly equal); like `survey`, the first row
/// counts as below when none is.
pub fn weighted_quantile(weights: &[f64], x: &[f64], p: f64) -> f64 {
    let mut rows: Vec<usize> = (0..x.len()).filter(|&i| weights[i] != 0.0).collect();
    if rows.is_empty() {
        return f64::NAN;
    }
    rows.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    // Running sums as R's cumsum keeps them (in long double, each rounded once), so that
    // where p·W meets one exactly the same row is chosen.
    let mut cumulative = Vec::with_capacity(rows.len());
    let (mut running, mut compensation) = (0.0f64, 0.0f64);
    for &i in &rows {
        let next = running + weights[i];
        compensation += if running.abs() >= weights[i].abs() {
            (running - next) + weights[i]
        } else {
            (weights[i] - next) + running
        };
        running = next;
        cumulative.push(running + compensation);
    }
    let sum = *cumulative.last().expect("rows is not empty");
    let position = cumulative.iter().rposition(|&c| c <= p * sum).unwrap_or(0);
    let next = (position + 1).min(rows.len() - 1);
    if p - cumulative[position] / sum == 0.0 {
        x[rows[position]]
    } else {
        x[rows[next]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) {
        assert!(
            (a - b).abs() <= tolerance * b.abs().max(1.0),
            "{a} differs from {b}"
        );
    }

    #[test]
    fn simple_random_sample_gives_the_textbook_standard_error() {
        // Without strata or clusters the linearised variance of a mean is
        // s²/n · (n − 1)/n ... times n/(n − 1): s²/n with s² on n − 1.
        let x = [2.0, 4.0, 4.0, 5.0, 7.0, 9.0];
        let w = [1.0; 6];
        let design = Design::new(&[0; 6], None, None, LonelyPsu::Fail).unwrap();
        let m = mean(&design, &w, &x);
        let n = 6.0;
        let xbar = x.iter().sum::<f64>() / n;
        let s2 = x.iter().map(|v| (v - xbar).powi(2)).sum::<f64>() / (n - 1.0);
        close(m.estimate, xbar, 1e-12);
        close(m.std_error, (s2 / n).sqrt(), 1e-12);
        assert_eq!(design.degrees_of_freedom(&w), 5);
    }

    #[test]
    fn finite_population_correction_shrinks_the_variance() {
        let x = [1.0, 3.0, 4.0, 8.0];
        let w = [5.0; 4];
        let plain = Design::new(&[0; 4], None, None, LonelyPsu::Fail).unwrap();
        let census = Design::new(&[0; 4], None, Some(&[20.0; 4]), LonelyPsu::Fail).unwrap();
        let fraction = Design::new(&[0; 4], None, Some(&[0.2; 4]), LonelyPsu::Fail).unwrap();
        let v = mean(&plain, &w, &x).std_error.powi(2);
        close(mean(&census, &w, &x).std_error.powi(2), v * 0.8, 1e-12);
        close(mean(&fraction, &w, &x).std_error.powi(2), v * 0.8, 1e-12);
    }

    #[test]
    fn clusters_are_summed_before_their_spread_is_taken() {
        // Two strata of two PSUs each, one of which holds two rows.
        let stratum = [0, 0, 0, 1, 1];
        let psu = [1, 1, 2, 1, 2];
        let design = Design::new(&stratum, Some(&psu), None, LonelyPsu::Fail).unwrap();
        let z = [1.0, 2.0, 5.0, 4.0, 0.0];
        // Stratum 0: totals 3 and 5, spread 2·(1² + 1²) = 4; stratum 1: 4 and 0 → 2·8 = 16.
        close(design.variance(&z), 20.0, 1e-12);
        assert_eq!(design.degrees_of_freedom(&[1.0; 5]), 2);
        assert_eq!(design.degrees_of_freedom(&[1.0, 1.0, 1.0, 0.0, 0.0]), 1);
    }

    #[test]
    fn lonely_psus_fail_adjust_or_count_as_certain() {
        let stratum = [0, 0, 1];
        assert_eq!(
            Design::new(&stratum, None, None, LonelyPsu::Fail).unwrap_err(),
            DesignError::LonelyPsu(1)
        );
        let z = [1.0, 3.0, 2.0];
        let certain = Design::new(&stratum, None, None, LonelyPsu::Certainty).unwrap();
        let adjusted = Design::new(&stratum, None, None, LonelyPsu::Adjust).unwrap();
        // Stratum 0: totals 1 and 3 about 2, times 2/1 → 4; the lonely stratum adds
        // nothing when certain, its total squared (about the grand mean 0) when adjusted.
        close(certain.variance(&z), 4.0, 1e-12);
        close(adjusted.variance(&z), 4.0 + 4.0, 1e-12);
        assert_eq!(
            Design::new(&[0], None, None, LonelyPsu::Adjust).unwrap_err(),
            DesignError::SinglePsu
        );
    }

    #[test]
    fn population_sizes_must_agree_within_a_stratum_and_exceed_the_sample() {
        let err = Design::new(&[0, 0], None, Some(&[10.0, 11.0]), LonelyPsu::Fail);
        assert_eq!(err.unwrap_err(), DesignError::PopulationVaries(0));
        let err = Design::new(&[0, 0, 0], None, Some(&[2.0; 3]), LonelyPsu::Fail);
        assert!(matches!(
            err.unwrap_err(),
            DesignError::PopulationTooSmall {
                stratum: 0,
                sampled: 3,
                ..
            }
        ));
    }

    #[test]
    fn a_domain_keeps_every_psu_in_the_variance() {
        let design = Design::new(&[0; 4], None, None, LonelyPsu::Fail).unwrap();
        let x = [1.0, 2.0, 10.0, f64::NAN];
        let w = [1.0, 1.0, 1.0, 0.0];
        let t = total(&design, &w, &x);
        close(t.estimate, 13.0, 1e-12);
        // Influence 1, 2, 10, 0 about their mean 3.25, times 4/3.
        let spread: f64 = [1.0, 2.0, 10.0, 0.0]
            .iter()
            .map(|z: &f64| (z - 3.25).powi(2))
            .sum();
        close(t.std_error, (spread * 4.0 / 3.0).sqrt(), 1e-12);
        assert_eq!(t.rows, 3);
    }

    #[test]
    fn quantiles_follow_survey_s_math_rule() {
        let w = [1.0; 3];
        let x = [3.0, 1.0, 2.0];
        assert_eq!(weighted_quantile(&w, &x, 0.5), 2.0);
        // Exactly at a cumulative weight: that row's value.
        assert_eq!(
            weighted_quantile(&[1.0; 4], &[1.0, 2.0, 3.0, 4.0], 0.5),
            2.0
        );
        // Below the first row's weight `survey` counts the first row as below.
        assert_eq!(weighted_quantile(&w, &x, 0.1), 2.0);
        assert_eq!(weighted_quantile(&w, &x, 1.0), 3.0);
    }
}
