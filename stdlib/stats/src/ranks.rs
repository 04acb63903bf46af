//! Ranks with ties: the runs of equal values in a sorted sequence, the average rank of
//! each, the tie correction, and weighted ridits. Every rank-based estimator (the
//! Mann–Whitney and Wilcoxon tests, the concentration index, the slope index of
//! inequality) reads ranks from here.

use std::ops::Range;

/// The runs of positions whose keys are equal, in a sequence sorted by `key`.
pub fn tie_runs<T>(sorted: &[T], key: impl Fn(&T) -> f64) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || key(&sorted[i]) != key(&sorted[start]) {
            runs.push(start..i);
            start = i;
        }
    }
    runs
}

/// Average ranks (from 1) of a sequence sorted by `key`, ties sharing the mean of their
/// positions, and the tie correction Σ(t³ − t) over the runs of t equal keys.
pub fn average_ranks<T>(sorted: &[T], key: impl Fn(&T) -> f64) -> (Vec<f64>, f64) {
    let mut ranks = vec![0.0; sorted.len()];
    let mut tie_term = 0.0;
    for run in tie_runs(sorted, key) {
        let average = (run.start + run.end - 1) as f64 / 2.0 + 1.0;
        let t = run.len() as f64;
        tie_term += t * t * t - t;
        ranks[run].fill(average);
    }
    (ranks, tie_term)
}

/// Fractional ranks, (rank − 0.5)/n, of sorted values, ties averaged: the share of the
/// population ranked below each value plus half its own.
pub fn fractional_ranks(sorted: &[f64]) -> Vec<f64> {
    let n = sorted.len() as f64;
    let (ranks, _) = average_ranks(sorted, |x| *x);
    ranks.into_iter().map(|r| (r - 0.5) / n).collect()
}

/// Weighted ridits of sorted values: the weight ranked below each value plus half the
/// weight of its ties, as a share of all the weight.
pub fn ridits(sorted: &[f64], weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut ridit = vec![0.0; sorted.len()];
    let mut below = 0.0;
    for run in tie_runs(sorted, |x| *x) {
        let here: f64 = weights[run.clone()].iter().sum();
        ridit[run].fill((below + here / 2.0) / total);
        below += here;
    }
    ridit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_the_mean_of_their_positions() {
        let (ranks, tie_term) = average_ranks(&[1.0, 2.0, 2.0, 2.0, 5.0, 5.0], |x| *x);
        assert_eq!(ranks, vec![1.0, 3.0, 3.0, 3.0, 5.5, 5.5]);
        assert_eq!(tie_term, (27.0 - 3.0) + (8.0 - 2.0));
        assert_eq!(
            fractional_ranks(&[1.0, 3.0, 3.0, 4.0]),
            vec![0.125, 0.5, 0.5, 0.875]
        );
    }

    #[test]
    fn ridits_are_weights_below_plus_half_their_own() {
        let r = ridits(&[1.0, 2.0, 2.0, 3.0], &[1.0, 1.0, 2.0, 4.0]);
        assert_eq!(
            r,
            vec![
                0.5 / 8.0,
                (1.0 + 1.5) / 8.0,
                (1.0 + 1.5) / 8.0,
                (4.0 + 2.0) / 8.0
            ]
        );
        assert!(tie_runs::<f64>(&[], |x| *x).is_empty());
    }
}
