//! The values of absorbed effects at a fit's solution.

use crate::matrix::{Grouping, MatrixColumn, linear_predictor};
use crate::rows::{BLOCK, add_partials, over_chunks};

/// Whether each group of `fine` lies within one group of `coarse` (practices within
/// PCNs, PCNs within regions): then `coarse`'s effects are sums of `fine`'s, and
/// absorbing both is absorbing `fine` alone.
pub fn nested_in(fine: &Grouping, coarse: &Grouping) -> bool {
    outer_levels(fine, coarse).is_some()
}

/// A level of `fine` that no row takes, in [`outer_levels`].
pub const NO_ROWS: u32 = u32::MAX;

/// The level of `coarse` each level of `fine` lies within ([`NO_ROWS`] for a level no
/// row takes), or `None` when some group of `fine` spans two of `coarse`.
pub fn outer_levels(fine: &Grouping, coarse: &Grouping) -> Option<Vec<u32>> {
    let mut outer = vec![NO_ROWS; fine.levels];
    for (&f, &c) in fine.ids.iter().zip(coarse.ids.iter()) {
        let seen = &mut outer[f as usize];
        if *seen == NO_ROWS {
            *seen = c;
        } else if *seen != c {
            return None;
        }
    }
    Some(outer)
}

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
    if let Some(values) = by_table(groups, columns, slopes, eta, offset) {
        return values;
    }
    let mut remainder = vec![0.0; n];
    linear_predictor(columns, slopes, 0, &mut remainder);
    for i in 0..n {
        remainder[i] = eta[i] - offset.map_or(0.0, |o| o[i]) - remainder[i];
    }
    let levels: Vec<usize> = groups.iter().map(|g| g.levels).collect();
    alternating_means(
        &levels,
        n,
        |i, k| groups[k].ids[i] as usize,
        |i| (remainder[i], 1.0),
        1_000,
    )
}

/// Each grouping's values by alternating means: a grouping's value at a level is the
/// mean, over the entries at that level, of what the other groupings' values leave of
/// the entries' sums, until no value moves by 1e-12 or after `rounds`. An entry is a
/// row, or a combination of levels with its count: `level(entry, grouping)` and
/// `sum_count(entry)` say which.
fn alternating_means(
    levels: &[usize],
    entries: usize,
    level: impl Fn(usize, usize) -> usize,
    sum_count: impl Fn(usize) -> (f64, f64),
    rounds: usize,
) -> Vec<Vec<f64>> {
    let mut values: Vec<Vec<f64>> = levels.iter().map(|&l| vec![0.0; l]).collect();
    for _ in 0..rounds {
        let mut largest_change: f64 = 0.0;
        for k in 0..levels.len() {
            let mut sums = vec![0.0; levels[k]];
            let mut counts = vec![0.0; levels[k]];
            for e in 0..entries {
                let others: f64 = (0..levels.len())
                    .filter(|&m| m != k)
                    .map(|m| values[m][level(e, m)])
                    .sum();
                let (sum, count) = sum_count(e);
                sums[level(e, k)] += sum - count * others;
                counts[level(e, k)] += count;
            }
            for g in 0..levels[k] {
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

/// Combinations of levels a table of the groupings may have: each chunk of rows adds
/// into a table of its own (a megabyte at most), all held until they are added up.
const TABLE_CELLS: usize = 1 << 16;

/// Groupings whose combinations of levels are few (one grouping's levels; survey years by
/// PCNs): one pass over the rows, a block at a time, adds each combination's count and
/// remainder, and the alternating means run on that table, not on the rows (one round,
/// for one grouping). `None` when the table would be too large.
fn by_table(
    groups: &[&Grouping],
    columns: &[&MatrixColumn],
    slopes: &[f64],
    eta: &[f64],
    offset: Option<&[f64]>,
) -> Option<Vec<Vec<f64>>> {
    let size = groups
        .iter()
        .try_fold(1usize, |size, g| size.checked_mul(g.levels))
        .filter(|&size| size <= TABLE_CELLS)?;
    let n = eta.len();
    let cell = |i: usize| {
        groups
            .iter()
            .fold(0usize, |at, g| at * g.levels + g.ids[i] as usize)
    };
    let partials = over_chunks(n, |range| {
        let mut sums = vec![0.0; 2 * size];
        let mut xb = vec![0.0; BLOCK];
        for start in range.clone().step_by(BLOCK) {
            let len = BLOCK.min(range.end - start);
            linear_predictor(columns, slopes, start, &mut xb[..len]);
            for (r, &x) in xb[..len].iter().enumerate() {
                let i = start + r;
                let c = 2 * cell(i);
                sums[c] += eta[i] - offset.map_or(0.0, |o| o[i]) - x;
                sums[c + 1] += 1.0;
            }
        }
        sums
    });
    let sums = add_partials(partials, 2 * size);
    // The combinations present, with each grouping's level in them.
    let present: Vec<(Vec<usize>, f64, f64)> = (0..size)
        .filter(|&c| sums[2 * c + 1] > 0.0)
        .map(|c| {
            let mut levels = vec![0; groups.len()];
            let mut rest = c;
            for (k, g) in groups.iter().enumerate().rev() {
                levels[k] = rest % g.levels;
                rest /= g.levels;
            }
            (levels, sums[2 * c], sums[2 * c + 1])
        })
        .collect();
    let levels: Vec<usize> = groups.iter().map(|g| g.levels).collect();
    Some(alternating_means(
        &levels,
        present.len(),
        |e, k| present[e].0[k],
        |e| (present[e].1, present[e].2),
        10_000,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_table_gives_the_rows_alternating_means() {
        let n = 5_000;
        let a = Grouping {
            ids: Arc::new((0..n).map(|i| (i % 6) as u32).collect()),
            levels: 6,
        };
        let b = Grouping {
            ids: Arc::new((0..n).map(|i| ((i * 31 + i / 7) % 40) as u32).collect()),
            levels: 40,
        };
        let x = MatrixColumn::values((0..n).map(|i| (i as f64 * 0.37).sin()).collect());
        let eta: Vec<f64> = (0..n)
            .map(|i| {
                0.8 * x.get(i) + 0.1 * f64::from(a.ids[i]) - 0.05 * f64::from(b.ids[i])
                    + (i as f64).cos() * 0.01
            })
            .collect();
        let groups = [&a, &b];
        let table = by_table(&groups, &[&x], &[0.8], &eta, None).expect("a small table");
        // The rows' way: alternating means over the rows.
        let mut values: Vec<Vec<f64>> = vec![vec![0.0; 6], vec![0.0; 40]];
        for _ in 0..2_000 {
            for k in 0..2 {
                let (mut sums, mut counts) =
                    (vec![0.0; groups[k].levels], vec![0.0; groups[k].levels]);
                for i in 0..n {
                    let other = values[1 - k][groups[1 - k].ids[i] as usize];
                    let g = groups[k].ids[i] as usize;
                    sums[g] += eta[i] - 0.8 * x.get(i) - other;
                    counts[g] += 1.0;
                }
                values[k] = sums.iter().zip(&counts).map(|(s, c)| s / c).collect();
            }
        }
        // Only sums over the effects are identified: compare each row's total.
        for i in 0..n {
            let by_rows = values[0][a.ids[i] as usize] + values[1][b.ids[i] as usize];
            let by_table = table[0][a.ids[i] as usize] + table[1][b.ids[i] as usize];
            assert!(
                (by_rows - by_table).abs() < 1e-9,
                "row {i}: {by_rows} vs {by_table}"
            );
        }
    }

    #[test]
    fn a_grouping_within_another_is_nested_in_it() {
        let grouping = |ids: Vec<u32>, levels| Grouping {
            ids: Arc::new(ids),
            levels,
        };
        let practice = grouping(vec![0, 1, 2, 3, 1, 0, 4], 5);
        let pcn = grouping(vec![0, 0, 1, 1, 0, 0, 1], 2);
        let year = grouping(vec![0, 1, 0, 1, 0, 1, 0], 2);
        assert!(nested_in(&practice, &pcn));
        assert!(!nested_in(&pcn, &practice));
        assert!(!nested_in(&practice, &year));
        assert!(nested_in(&pcn, &pcn));
    }
}
