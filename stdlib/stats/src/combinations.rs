//! Several absorbed groupings by the table of their level combinations.
//!
//! Every absorbed effect is constant within a combination of the groupings' levels
//! (a practice in a year), so the weighted projection of a column on the effects is
//! the projection of its combination means, weighted by the combinations' weights.
//! When the combinations are far fewer than the rows, a fit needs only each
//! combination's sums from a pass over the rows, and the projection runs on that
//! table (conjugate gradients, as the rows would be demeaned) instead of on the rows.

use rayon::prelude::*;

use crate::matrix::Grouping;
use crate::rows::demean_checked;

/// At most this many combinations, and at most half as many as the rows: more, and
/// the table saves too little over the rows.
const MAX_COMBINATIONS: usize = 1 << 20;

/// Keys below this are numbered through a look-up table rather than a hash map.
const DIRECT_KEYS: u64 = 1 << 22;

const UNNUMBERED: u32 = u32::MAX;

/// The combinations of the groupings' levels that rows take.
pub struct Combinations {
    /// Each row's combination.
    pub grouping: Grouping,
    /// For each grouping, each combination's level in it.
    by_combination: Vec<Grouping>,
}

impl Combinations {
    /// The combinations of `groups`' levels, numbered in order of first appearance;
    /// `None` when they would be too many to pay (see [`MAX_COMBINATIONS`]).
    pub fn new(groups: &[Grouping]) -> Option<Combinations> {
        let n = groups.first()?.ids.len();
        let keys_end = groups
            .iter()
            .try_fold(1u64, |end, g| end.checked_mul(g.levels as u64))?;
        let key = |i: usize| {
            groups
                .iter()
                .fold(0u64, |key, g| key * g.levels as u64 + u64::from(g.ids[i]))
        };
        let limit = MAX_COMBINATIONS.min(n / 2);
        let mut keys: Vec<u64> = Vec::new();
        let mut ids = Vec::with_capacity(n);
        if keys_end <= DIRECT_KEYS {
            let mut number = vec![UNNUMBERED; keys_end as usize];
            for i in 0..n {
                let k = key(i);
                let slot = &mut number[k as usize];
                if *slot == UNNUMBERED {
                    if keys.len() == limit {
                        return None;
                    }
                    *slot = keys.len() as u32;
                    keys.push(k);
                }
                ids.push(*slot);
            }
        } else {
            let mut number = std::collections::HashMap::new();
            for i in 0..n {
                let k = key(i);
                let next = keys.len() as u32;
                let id = *number.entry(k).or_insert(next);
                if id == next {
                    if keys.len() == limit {
                        return None;
                    }
                    keys.push(k);
                }
                ids.push(id);
            }
        }
        let mut levels: Vec<Vec<u32>> = vec![Vec::with_capacity(keys.len()); groups.len()];
        for &k in &keys {
            let mut rest = k;
            for (q, g) in groups.iter().enumerate().rev() {
                levels[q].push((rest % g.levels as u64) as u32);
                rest /= g.levels as u64;
            }
        }
        let by_combination = levels
            .into_iter()
            .zip(groups)
            .map(|(ids, g)| Grouping {
                ids: std::sync::Arc::new(ids),
                levels: g.levels,
            })
            .collect();
        Some(Combinations {
            grouping: Grouping {
                levels: keys.len(),
                ids: std::sync::Arc::new(ids),
            },
            by_combination,
        })
    }

    pub fn len(&self) -> usize {
        self.grouping.levels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each of `count` vectors given by combination (combination by combination,
    /// `count` numbers each, as a group table's means) replaced by its weighted
    /// projection on the absorbed effects, with `weights` each combination's weight;
    /// and whether every projection reached its tolerance.
    pub fn project(&self, values: &mut [f64], count: usize, weights: &[f64]) -> bool {
        let k = self.len();
        let projected: Vec<(Vec<f64>, bool)> = (0..count)
            .into_par_iter()
            .map(|c| {
                let x: Vec<f64> = (0..k).map(|h| values[h * count + c]).collect();
                let (residual, converged) = demean_checked(&x, weights, &self.by_combination);
                let fitted = x.iter().zip(&residual).map(|(x, r)| x - r).collect();
                (fitted, converged)
            })
            .collect();
        let mut all_converged = true;
        for (c, (fitted, converged)) in projected.into_iter().enumerate() {
            all_converged &= converged;
            for (h, v) in fitted.into_iter().enumerate() {
                values[h * count + c] = v;
            }
        }
        all_converged
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn grouping(ids: Vec<u32>, levels: usize) -> Grouping {
        Grouping {
            ids: Arc::new(ids),
            levels,
        }
    }

    #[test]
    fn rows_of_one_combination_share_its_number() {
        let year = grouping(vec![0, 1, 0, 1, 0, 2, 0, 1, 0, 0], 3);
        let practice = grouping(vec![3, 3, 3, 0, 1, 1, 3, 0, 1, 3], 4);
        let c = Combinations::new(&[year.clone(), practice.clone()]).unwrap();
        assert_eq!(*c.grouping.ids, vec![0, 1, 0, 2, 3, 4, 0, 2, 3, 0]);
        assert_eq!(c.len(), 5);
        for i in 0..10 {
            let h = c.grouping.ids[i] as usize;
            assert_eq!(c.by_combination[0].ids[h], year.ids[i]);
            assert_eq!(c.by_combination[1].ids[h], practice.ids[i]);
        }
        // As many combinations as half the rows: the table would not pay.
        let rows = grouping((0..10).collect(), 10);
        assert!(Combinations::new(&[year, rows]).is_none());
    }

    #[test]
    fn the_table_projects_as_the_rows_are_demeaned() {
        let n = 6_000;
        let a = grouping((0..n).map(|i| (i * 7 % 13) as u32).collect(), 13);
        let b = grouping((0..n).map(|i| ((i / 3) % 50) as u32).collect(), 50);
        let groups = [a, b];
        let x: Vec<f64> = (0..n)
            .map(|i| ((i as f64) * 0.61).sin() + (i % 5) as f64)
            .collect();
        let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64).collect();
        let (by_rows, converged) = demean_checked(&x, &w, &groups);
        assert!(converged);
        let c = Combinations::new(&groups).unwrap();
        let (mut means, mut weights) = (vec![0.0; c.len()], vec![0.0; c.len()]);
        for i in 0..n {
            let h = c.grouping.ids[i] as usize;
            means[h] += w[i] * x[i];
            weights[h] += w[i];
        }
        for h in 0..c.len() {
            means[h] /= weights[h];
        }
        assert!(c.project(&mut means, 1, &weights));
        for i in 0..n {
            let residual = x[i] - means[c.grouping.ids[i] as usize];
            assert!(
                (residual - by_rows[i]).abs() < 1e-10,
                "row {i}: {residual} vs {}",
                by_rows[i]
            );
        }
    }
}
