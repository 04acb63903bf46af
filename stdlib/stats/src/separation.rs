//! Separation in a binary model: dummy columns whose rows all share one outcome, so
//! that their coefficients run off to infinity.

use std::sync::Arc;

use crate::matrix::{Codes, Grouping, MatrixColumn};
use crate::rows::over_chunks;
use crate::with_codes;

/// The dummy columns among `kept` (the intercept aside) whose rows all have outcome 0
/// (`false`) or all outcome 1 (`true`).
pub fn separating_dummies(
    columns: &[MatrixColumn],
    kept: &[usize],
    y: &[f64],
) -> Vec<(usize, bool)> {
    let mut separating = Vec::new();
    // Rows, zero outcomes and one outcomes by level of each factor, in one pass.
    let mut factors: Vec<(&Codes, usize)> = Vec::new();
    for &j in kept {
        if let MatrixColumn::Indicator { codes, levels, .. } = &columns[j]
            && !factors.iter().any(|(c, _)| Arc::ptr_eq(c, codes))
        {
            factors.push((codes, *levels as usize));
        }
    }
    let partials = over_chunks(y.len(), |range| {
        let mut counts: Vec<Vec<[usize; 3]>> = factors
            .iter()
            .map(|(_, levels)| vec![[0; 3]; *levels])
            .collect();
        for ((codes, _), counts) in factors.iter().zip(&mut counts) {
            with_codes!(&***codes, codes => {
                for (&c, &y) in codes[range.clone()].iter().zip(&y[range.clone()]) {
                    if let Some(t) = counts.get_mut(c as usize) {
                        t[0] += 1;
                        t[1] += usize::from(y == 0.0);
                        t[2] += usize::from(y == 1.0);
                    }
                }
            });
        }
        counts
    });
    let mut tallies: Vec<(&Codes, Vec<[usize; 3]>)> = factors
        .iter()
        .map(|(codes, levels)| (*codes, vec![[0; 3]; *levels]))
        .collect();
    for partial in partials {
        for ((_, total), part) in tallies.iter_mut().zip(partial) {
            for (t, p) in total.iter_mut().zip(part) {
                for k in 0..3 {
                    t[k] += p[k];
                }
            }
        }
    }
    let mut x = Vec::new();
    for &j in kept {
        let column = &columns[j];
        if matches!(column, MatrixColumn::Constant { .. }) || !column.is_dummy() {
            continue;
        }
        let [rows, zeros, ones] = match column {
            MatrixColumn::Indicator { codes, level, .. } => tallies
                .iter()
                .find(|(c, _)| Arc::ptr_eq(c, codes))
                .map_or([0; 3], |(_, t)| t[*level as usize]),
            _ => {
                x.resize(y.len(), 0.0);
                column.fill(0, &mut x);
                let mut t = [0; 3];
                for (x, y) in x.iter().zip(y) {
                    if *x == 1.0 {
                        t[0] += 1;
                        t[1] += usize::from(*y == 0.0);
                        t[2] += usize::from(*y == 1.0);
                    }
                }
                t
            }
        };
        if rows == 0 {
            continue;
        }
        if zeros == rows {
            separating.push((j, false));
        } else if ones == rows {
            separating.push((j, true));
        }
    }
    separating
}

/// Rows of absorbed groups whose outcome never varies — always 0 or always 1 for a
/// binomial outcome (shares of trials), always 0 for counts: such a group's effect runs
/// off to infinity and tells nothing about the other terms. Found over every absorbed
/// grouping in turn until none is left, as fixest does. Whether each row is kept, and
/// how many groups of each grouping were dropped.
pub fn constant_outcome_groups(
    y: &[f64],
    counts: bool,
    groupings: &[&Grouping],
) -> (Vec<bool>, Vec<usize>) {
    let mut keep = vec![true; y.len()];
    let mut dropped = vec![0; groupings.len()];
    loop {
        let mut changed = false;
        for (g, grouping) in groupings.iter().enumerate() {
            // Each group's smallest and largest outcome among the rows still kept.
            let mut low = vec![f64::INFINITY; grouping.levels];
            let mut high = vec![f64::NEG_INFINITY; grouping.levels];
            for (i, &id) in grouping.ids.iter().enumerate() {
                if keep[i] {
                    low[id as usize] = low[id as usize].min(y[i]);
                    high[id as usize] = high[id as usize].max(y[i]);
                }
            }
            let constant = |level: usize| {
                low[level] <= high[level] && (high[level] == 0.0 || (!counts && low[level] == 1.0))
            };
            let gone: Vec<bool> = (0..grouping.levels).map(constant).collect();
            let count = gone.iter().filter(|g| **g).count();
            if count == 0 {
                continue;
            }
            dropped[g] += count;
            changed = true;
            for (i, &id) in grouping.ids.iter().enumerate() {
                if gone[id as usize] {
                    keep[i] = false;
                }
            }
        }
        if !changed {
            return (keep, dropped);
        }
    }
}
