//! The values of absorbed effects at a fit's solution.

use crate::matrix::{Grouping, MatrixColumn, linear_predictor};
use crate::rows::{BLOCK, add_partials, over_chunks};

/// The absorbed effects' values by level: the part of each row's linear predictor the
/// slopes do not explain, split among the effects by alternating means. Only sums over
/// the effects are identified, which is all a prediction needs. One vector a grouping,
/// a value a level.
pub fn values(
    groups: &[&Grouping],
    columns: &[&MatrixColumn],
    slopes: &[f64],
    eta: &[f64],
    offset: Option<&[f64]>,
) -> Vec<Vec<f64>> {
    if groups.is_empty() {
        return Vec::new();
    }
    let n = eta.len();
    if let [group] = groups {
        // One effect is each group's mean of what the terms leave of eta, in one pass
        // over the rows a block at a time (no row-length vector).
        let partials = over_chunks(n, |range| {
            let mut sums = vec![0.0; 2 * group.levels];
            let mut xb = vec![0.0; BLOCK];
            for start in range.clone().step_by(BLOCK) {
                let len = BLOCK.min(range.end - start);
                linear_predictor(columns, slopes, start, &mut xb[..len]);
                for (r, &x) in xb[..len].iter().enumerate() {
                    let i = start + r;
                    let g = 2 * group.ids[i] as usize;
                    sums[g] += eta[i] - offset.map_or(0.0, |o| o[i]) - x;
                    sums[g + 1] += 1.0;
                }
            }
            sums
        });
        let sums = add_partials(partials, 2 * group.levels);
        let values = sums.chunks(2).map(|s| s[0] / s[1]).collect();
        return vec![values];
    }
    let mut remainder = vec![0.0; n];
    linear_predictor(columns, slopes, 0, &mut remainder);
    for i in 0..n {
        remainder[i] = eta[i] - offset.map_or(0.0, |o| o[i]) - remainder[i];
    }
    let mut values: Vec<Vec<f64>> = groups.iter().map(|g| vec![0.0; g.levels]).collect();
    for _ in 0..1_000 {
        let mut largest_change: f64 = 0.0;
        for k in 0..groups.len() {
            let mut sums = vec![0.0; groups[k].levels];
            let mut counts = vec![0.0; groups[k].levels];
            for i in 0..n {
                let others: f64 = (0..groups.len())
                    .filter(|&m| m != k)
                    .map(|m| values[m][groups[m].ids[i] as usize])
                    .sum();
                let g = groups[k].ids[i] as usize;
                sums[g] += remainder[i] - others;
                counts[g] += 1.0;
            }
            for g in 0..groups[k].levels {
                let value = sums[g] / counts[g];
                largest_change = largest_change.max((value - values[k][g]).abs());
                values[k][g] = value;
            }
        }
        if largest_change < 1e-12 {
            break;
        }
    }
    values
}
