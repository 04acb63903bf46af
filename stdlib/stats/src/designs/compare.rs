//! Two measurements or two groups, with scipy's conventions. Paired: the t-test, the
//! Wilcoxon signed-rank test and, for counts, the rate ratio; unpaired: Welch's t-test
//! and the Mann–Whitney U.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::ranks::average_ranks;

/// One test of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub name: &'static str,
    /// Values (or pairs) the test used.
    pub n: usize,
    pub statistic: f64,
    pub df: Option<f64>,
    pub p_value: f64,
    pub estimate: Option<f64>,
    /// The 95% interval of the estimate.
    pub interval: Option<(f64, f64)>,
}

/// Why two samples cannot be compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfit {
    /// Fewer than two values (or pairs) in a sample.
    TooFew,
    /// No variation at all: the t distribution has no degrees of freedom.
    NoVariation,
}

fn students_t(df: f64) -> Result<StudentsT, Unfit> {
    StudentsT::new(0.0, 1.0, df).map_err(|_| Unfit::NoVariation)
}

/// The paired tests of `seconds − firsts`; the rate ratio too when both are counts.
pub fn paired(firsts: &[f64], seconds: &[f64]) -> Result<Vec<Test>, Unfit> {
    let d: Vec<f64> = firsts.iter().zip(seconds).map(|(a, b)| b - a).collect();
    if d.len() < 2 {
        return Err(Unfit::TooFew);
    }
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let se = sd / n.sqrt();
    if se.is_nan() || se <= 0.0 {
        return Err(Unfit::NoVariation);
    }
    let t = mean / se;
    let student = students_t(n - 1.0)?;
    let crit = student.inverse_cdf(0.975);
    let (w, w_p, w_n) = wilcoxon(&d);
    let mut tests = vec![
        Test {
            name: "paired t",
            n: d.len(),
            statistic: t,
            df: Some(n - 1.0),
            p_value: 2.0 * student.cdf(-t.abs()),
            estimate: Some(mean),
            interval: Some((mean - crit * se, mean + crit * se)),
        },
        Test {
            name: "Wilcoxon signed-rank",
            n: w_n,
            statistic: w,
            df: None,
            p_value: w_p,
            estimate: None,
            interval: None,
        },
    ];
    let is_count = |x: &f64| *x >= 0.0 && x.fract() == 0.0;
    if firsts.iter().all(is_count) && seconds.iter().all(is_count) {
        tests.extend(rate_ratio(firsts, seconds));
    }
    Ok(tests)
}

/// ΣSECOND/ΣFIRST: the maximum-likelihood rate ratio of a Poisson model with a unit
/// effect (conditional Poisson), SE of its log clustered by unit with G/(G − 1): the
/// sandwich of the log ratio, whose scores are each unit's share of the second total
/// less its share of the first.
fn rate_ratio(firsts: &[f64], seconds: &[f64]) -> Option<Test> {
    let (total_first, total_second) = (firsts.iter().sum::<f64>(), seconds.iter().sum::<f64>());
    if total_first <= 0.0 || total_second <= 0.0 {
        return None;
    }
    let g = firsts.len() as f64;
    let scores: Vec<f64> = firsts
        .iter()
        .zip(seconds)
        .map(|(a, b)| b / total_second - a / total_first)
        .collect();
    let meat = crate::vcov::dense_meat(&[vec![1.0; scores.len()]], &scores, None);
    let one = faer::Mat::from_fn(1, 1, |_, _| 1.0);
    let se = crate::vcov::sandwich(&one, &meat, g / (g - 1.0))[(0, 0)].sqrt();
    let log_ratio = (total_second / total_first).ln();
    let z = Normal::standard().inverse_cdf(0.975);
    Some(Test {
        name: "rate ratio",
        n: firsts.len(),
        statistic: log_ratio / se,
        df: None,
        p_value: 2.0 * Normal::standard().cdf(-(log_ratio / se).abs()),
        estimate: Some(log_ratio.exp()),
        interval: Some(((log_ratio - z * se).exp(), (log_ratio + z * se).exp())),
    })
}

/// Welch's t-test of `seconds − firsts` and the Mann–Whitney U.
pub fn unpaired(firsts: &[f64], seconds: &[f64]) -> Result<Vec<Test>, Unfit> {
    if firsts.len() < 2 || seconds.len() < 2 {
        return Err(Unfit::TooFew);
    }
    let moments = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let variance = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (n, mean, variance)
    };
    let (n1, m1, v1) = moments(firsts);
    let (n2, m2, v2) = moments(seconds);
    let (q1, q2) = (v1 / n1, v2 / n2);
    let se = (q1 + q2).sqrt();
    // Welch–Satterthwaite degrees of freedom.
    let df = (q1 + q2).powi(2) / (q1 * q1 / (n1 - 1.0) + q2 * q2 / (n2 - 1.0));
    let difference = m2 - m1;
    if se.is_nan() || se <= 0.0 {
        return Err(Unfit::NoVariation);
    }
    let t = difference / se;
    let student = students_t(df)?;
    let crit = student.inverse_cdf(0.975);
    let (u, u_p) = mann_whitney(seconds, firsts);
    Ok(vec![
        Test {
            name: "Welch t",
            n: firsts.len() + seconds.len(),
            statistic: t,
            df: Some(df),
            p_value: 2.0 * student.cdf(-t.abs()),
            estimate: Some(difference),
            interval: Some((difference - crit * se, difference + crit * se)),
        },
        Test {
            name: "Mann–Whitney U",
            n: firsts.len() + seconds.len(),
            statistic: u,
            df: None,
            p_value: u_p,
            estimate: None,
            interval: None,
        },
    ])
}

/// The Mann–Whitney U of `x` against `y` as scipy's `mannwhitneyu` with its defaults:
/// two-sided, exact when either sample has 8 or fewer and there are no ties, otherwise
/// normal with the tie and continuity corrections. Returns (U of x, p-value).
pub fn mann_whitney(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (n1, n2) = (x.len(), y.len());
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (ranks, tie_term) = average_ranks(&all, |v| v.0);
    let rank_sum: f64 = all
        .iter()
        .zip(&ranks)
        .filter(|((_, in_x), _)| *in_x)
        .map(|(_, r)| r)
        .sum();
    let u1 = rank_sum - (n1 * (n1 + 1)) as f64 / 2.0;
    let u = u1.max((n1 * n2) as f64 - u1);
    let p = if (n1 <= 8 || n2 <= 8) && tie_term == 0.0 {
        // Exact: the number of arrangements with each U are the coefficients of the
        // Gaussian binomial [n1 + n2 choose s]_q = Π_i (1 − q^(l+i)) / (1 − q^i), with
        // s the smaller sample and l the larger.
        let (small, large) = (n1.min(n2), n1.max(n2));
        let mut ways = vec![0.0_f64; n1 * n2 + 1];
        ways[0] = 1.0;
        for i in 1..=small {
            for k in (large + i..ways.len()).rev() {
                ways[k] -= ways[k - large - i];
            }
            for k in i..ways.len() {
                ways[k] += ways[k - i];
            }
        }
        let total: f64 = ways.iter().sum();
        let at_least: f64 = ways[u.round() as usize..].iter().sum();
        2.0 * at_least / total
    } else {
        let (a, b, nf) = (n1 as f64, n2 as f64, n as f64);
        let sd = (a * b / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)))).sqrt();
        let z = (u - a * b / 2.0 - 0.5) / sd;
        2.0 * Normal::standard().cdf(-z)
    };
    (u1, p.clamp(0.0, 1.0))
}

/// The Wilcoxon signed-rank test as scipy's `wilcoxon` with its defaults: statistic
/// min(W+, W−), p-value exact, by permutation or asymptotic as described above.
/// Returns (statistic, p-value, pairs with a non-zero difference).
pub fn wilcoxon(d: &[f64]) -> (f64, f64, usize) {
    let all = d.len();
    let mut nonzero: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    let zeros = all - nonzero.len();
    let n = nonzero.len();
    if n == 0 {
        return (0.0, 1.0, 0);
    }
    nonzero.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let (ranks, tie_term) = average_ranks(&nonzero, |x| x.abs());
    let ties = tie_term > 0.0;
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let total = (n * (n + 1)) as f64 / 2.0;
    // (+ 0.0: an empty float sum is -0.0.)
    let statistic = r_plus.min(total - r_plus) + 0.0;
    let p = if all <= 50 && !ties && zeros == 0 {
        // Exact null distribution of W+: the number of subsets of 1..n with each sum.
        let max = n * (n + 1) / 2;
        let mut ways = vec![0.0_f64; max + 1];
        ways[0] = 1.0;
        for k in 1..=n {
            for s in (k..=max).rev() {
                ways[s] += ways[s - k];
            }
        }
        let all_ways = 2f64.powi(n as i32);
        let observed = r_plus.round() as usize;
        let below: f64 = ways[..=observed].iter().sum::<f64>() / all_ways;
        let above: f64 = ways[observed..].iter().sum::<f64>() / all_ways;
        (2.0 * below.min(above)).min(1.0)
    } else if all <= 13 {
        // Every assignment of signs to the ranks (ties and zeros make the exact
        // distribution above wrong).
        let (mut below, mut above) = (0.0_f64, 0.0_f64);
        let count = 1u32 << n;
        for mask in 0..count {
            let t: f64 = ranks
                .iter()
                .enumerate()
                .filter(|(k, _)| mask & (1 << k) != 0)
                .map(|(_, r)| r)
                .sum();
            if t <= r_plus + 1e-9 {
                below += 1.0;
            }
            if t >= r_plus - 1e-9 {
                above += 1.0;
            }
        }
        (2.0 * (below.min(above)) / f64::from(count)).min(1.0)
    } else {
        let nf = n as f64;
        let mean = nf * (nf + 1.0) / 4.0;
        let sd = ((nf * (nf + 1.0) * (2.0 * nf + 1.0) - tie_term / 2.0) / 24.0).sqrt();
        let z = (r_plus - mean) / sd;
        2.0 * Normal::standard().cdf(-z.abs())
    };
    (statistic, p, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1.0)
    }

    /// No spread at all is said, never a t statistic of 0/0 (statrs panics on NaN).
    #[test]
    fn no_variation_is_unfit() {
        assert!(matches!(
            unpaired(&[2.0, 2.0, 2.0], &[2.0, 2.0]),
            Err(Unfit::NoVariation)
        ));
        assert!(matches!(
            paired(&[1.0, 2.0, 3.0], &[2.0, 3.0, 4.0]),
            Err(Unfit::NoVariation)
        ));
    }

    /// scipy 1.17: ttest_ind(b, a, equal_var=False) and mannwhitneyu(b, a).
    #[test]
    fn welch_and_mann_whitney_as_scipy() {
        let a = [3.1, 4.2, 2.8, 5.0, 4.4, 3.9, 4.1, 3.3, 2.9, 4.8];
        let b = [4.0, 5.1, 4.7, 5.9, 3.8, 5.5, 6.2, 4.9];
        let tests = unpaired(&a, &b).unwrap();
        assert!(close(tests[0].statistic, 2.9796742835657386, 1e-9));
        assert!(close(tests[0].df.unwrap(), 14.580135103612909, 1e-9));
        assert!(close(tests[0].p_value, 0.009588635798768237, 1e-7));
        assert_eq!(tests[1].statistic, 66.0);
        assert!(close(tests[1].p_value, 0.020521961698432286, 1e-9));
        // Ties: the normal approximation with tie and continuity corrections.
        let x = [3.0, 5.0, 2.0, 8.0, 6.0, 4.0, 7.0, 3.0, 5.0, 9.0, 2.0, 4.0];
        let y = [4.0, 6.0, 6.0, 9.0, 7.0, 5.0, 8.0, 3.0, 6.0, 9.0, 5.0, 7.0];
        let (u, p) = mann_whitney(&y, &x);
        assert_eq!(u, 100.0);
        assert!(close(p, 0.10937826452134577, 1e-9));
    }

    /// scipy 1.17: ttest_rel(after, before) and wilcoxon(after, before): exact without
    /// ties, by permutation with ties and zeros.
    #[test]
    fn paired_tests_as_scipy() {
        let before = [10.0, 12.0, 9.0, 14.0, 11.0, 13.0, 8.0, 15.0, 16.0, 7.0];
        let after = [12.5, 11.2, 12.1, 13.05, 14.7, 12.35, 10.9, 17.8, 15.45, 9.6];
        let tests = paired(&before, &after).unwrap();
        assert!(close(tests[0].statistic, 2.406089000733851, 1e-9));
        assert!(close(tests[0].p_value, 0.03950153652360807, 1e-7));
        assert_eq!(tests[1].statistic, 10.0);
        assert!(close(tests[1].p_value, 0.083984375, 1e-12));
        let before = [3.0, 5.0, 2.0, 8.0, 6.0, 4.0, 7.0, 3.0, 5.0, 9.0, 2.0, 4.0];
        let after = [2.0, 4.0, 2.0, 5.0, 6.0, 3.0, 4.0, 1.0, 5.0, 6.0, 1.0, 3.0];
        let (w, p, n) = wilcoxon(
            &after
                .iter()
                .zip(&before)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>(),
        );
        assert_eq!((w, n), (0.0, 9));
        assert!(close(p, 0.00390625, 1e-12));
        // Counts give the rate ratio too: Σafter/Σbefore.
        let ratio = &paired(&before, &after).unwrap()[2];
        assert!(close(ratio.estimate.unwrap(), 42.0 / 58.0, 1e-12));
        assert_eq!(paired(&[1.0], &[2.0]), Err(Unfit::TooFew));
    }
}
