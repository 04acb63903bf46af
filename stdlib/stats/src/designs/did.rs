//! Difference in differences for staggered adoption: Callaway & Sant'Anna's group-time
//! ATTs (no covariates, varying base period, analytic influence-function SEs),
//! aggregated as the R package `did` and PyPI's `csdid` do, and two-way fixed effects.

use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::matrix::Grouping;
use crate::rows::demean;
use crate::vcov::{dense_meat, sandwich};

/// A balanced panel, unit by period.
pub struct Panel {
    pub periods: Vec<f64>,
    /// Index into `periods` of each unit's first treated period; `None` for never treated.
    pub cohort: Vec<Option<usize>>,
    pub weight: Vec<f64>,
    /// `y[unit][period]`.
    pub y: Vec<Vec<f64>>,
}

impl Panel {
    pub fn units(&self) -> usize {
        self.y.len()
    }
}

/// One group-time ATT with its influence function over the panel's units.
pub struct Cell {
    /// Index into the periods of the cohort's first treated period.
    pub group: usize,
    pub time: usize,
    pub att: f64,
    pub influence: Vec<f64>,
}

impl Cell {
    /// Periods since treatment began (negative before).
    pub fn event(&self) -> i64 {
        self.time as i64 - self.group as i64
    }
}

/// An aggregated effect: estimate and influence function.
pub struct Effect {
    pub att: f64,
    pub influence: Vec<f64>,
}

/// The standard error an influence function gives: √Σψ² / n.
pub fn standard_error(influence: &[f64]) -> f64 {
    let n = influence.len() as f64;
    influence.iter().map(|v| v * v).sum::<f64>().sqrt() / n
}

/// Every ATT(g, t) for t after the first period: the weighted difference between the
/// cohort's and the controls' mean change since the base period (g − 1 after treatment
/// starts, t − 1 before).
pub fn group_time_cells(panel: &Panel, not_yet: bool) -> Vec<Cell> {
    let n = panel.units();
    let mut groups: Vec<usize> = panel.cohort.iter().flatten().copied().collect();
    groups.sort_unstable();
    groups.dedup();
    let mut cells = Vec::new();
    for &g in &groups {
        for t in 1..panel.periods.len() {
            let base = if t >= g { g - 1 } else { t - 1 };
            let latest = t.max(base);
            let is_control = |c: Option<usize>| match c {
                None => true,
                Some(h) => not_yet && h > latest && h != g,
            };
            let (mut sum_treated, mut weight_treated) = (0.0, 0.0);
            let (mut sum_control, mut weight_control) = (0.0, 0.0);
            for u in 0..n {
                let change = panel.y[u][t] - panel.y[u][base];
                let w = panel.weight[u];
                if panel.cohort[u] == Some(g) {
                    sum_treated += w * change;
                    weight_treated += w;
                } else if is_control(panel.cohort[u]) {
                    sum_control += w * change;
                    weight_control += w;
                }
            }
            if weight_control == 0.0 || weight_treated == 0.0 {
                continue;
            }
            let (m1, m0) = (sum_treated / weight_treated, sum_control / weight_control);
            let nf = n as f64;
            let influence = (0..n)
                .map(|u| {
                    let change = panel.y[u][t] - panel.y[u][base];
                    let w = panel.weight[u];
                    if panel.cohort[u] == Some(g) {
                        nf * w * (change - m1) / weight_treated
                    } else if is_control(panel.cohort[u]) {
                        -nf * w * (change - m0) / weight_control
                    } else {
                        0.0
                    }
                })
                .collect();
            cells.push(Cell {
                group: g,
                time: t,
                att: m1 - m0,
                influence,
            });
        }
    }
    cells
}

/// The cells that `keep` selects, averaged with weights proportional to their cohort's
/// share of units; the influence function includes the estimated weights' own term.
pub fn aggregate(panel: &Panel, cells: &[Cell], keep: impl Fn(&Cell) -> bool) -> Effect {
    let n = panel.units();
    let nf = n as f64;
    let kept: Vec<&Cell> = cells.iter().filter(|c| keep(c)).collect();
    let in_group = |u: usize, g: usize| {
        if panel.cohort[u] == Some(g) {
            panel.weight[u]
        } else {
            0.0
        }
    };
    let share: Vec<f64> = kept
        .iter()
        .map(|c| (0..n).map(|u| in_group(u, c.group)).sum::<f64>() / nf)
        .collect();
    let total: f64 = share.iter().sum();
    let att = kept
        .iter()
        .zip(&share)
        .map(|(c, p)| p / total * c.att)
        .sum();
    let influence = (0..n)
        .map(|u| {
            let deviation: Vec<f64> = kept
                .iter()
                .zip(&share)
                .map(|(c, p)| in_group(u, c.group) - p)
                .collect();
            let deviation_sum: f64 = deviation.iter().sum();
            kept.iter()
                .zip(&share)
                .zip(&deviation)
                .map(|((c, p), d)| {
                    let weight_term = d / total - p / (total * total) * deviation_sum;
                    p / total * c.influence[u] + weight_term * c.att
                })
                .sum()
        })
        .collect();
    Effect { att, influence }
}

/// A balanced event study (R `did`'s and `csdid`'s `balance_e`): the cohorts observed at
/// least `balance` periods after adoption, so that every event time from 0 to `balance`
/// averages the same cohorts, and the event times it reports, from `balance` − (T − 1)
/// to `balance`. `None` when no cohort is observed that long.
pub struct BalancedWindow {
    pub cohorts: Vec<usize>,
    pub first_event: i64,
    pub last_event: i64,
}

impl BalancedWindow {
    pub fn new(panel: &Panel, cells: &[Cell], balance: usize) -> Option<BalancedWindow> {
        let last_period = panel.periods.len().checked_sub(1)?;
        let mut cohorts: Vec<usize> = cells
            .iter()
            .map(|c| c.group)
            .filter(|g| last_period.saturating_sub(*g) >= balance && *g <= last_period)
            .collect();
        cohorts.sort_unstable();
        cohorts.dedup();
        if cohorts.is_empty() {
            return None;
        }
        Some(BalancedWindow {
            cohorts,
            first_event: balance as i64 - last_period as i64,
            last_event: balance as i64,
        })
    }

    /// Whether a cell counts in the balanced event study.
    pub fn keeps(&self, cell: &Cell) -> bool {
        self.cohorts.contains(&cell.group)
            && (self.first_event..=self.last_event).contains(&cell.event())
    }
}

/// The sup-t critical value over the event times: the 95th percentile of the largest
/// |t| across them in a multiplier bootstrap with Mammen weights (as R's `did`).
// The draws are indexed by event time and draw together.
#[allow(clippy::needless_range_loop)]
pub fn simultaneous_critical_value(effects: &[Effect], seed: u64, level: f64) -> f64 {
    const DRAWS: usize = 999;
    let usable: Vec<&Effect> = effects
        .iter()
        .filter(|e| standard_error(&e.influence) > 0.0)
        .collect();
    if usable.is_empty() {
        return f64::NAN;
    }
    let n = usable[0].influence.len();
    let root5 = 5f64.sqrt();
    let (low, high) = ((1.0 - root5) / 2.0, (1.0 + root5) / 2.0);
    let p_low = (root5 + 1.0) / (2.0 * root5);
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut draws = vec![vec![0.0; DRAWS]; usable.len()];
    for b in 0..DRAWS {
        let v: Vec<f64> = (0..n)
            .map(|_| {
                if rng.random::<f64>() < p_low {
                    low
                } else {
                    high
                }
            })
            .collect();
        for (k, effect) in usable.iter().enumerate() {
            draws[k][b] = effect
                .influence
                .iter()
                .zip(&v)
                .map(|(f, m)| f * m)
                .sum::<f64>()
                / (n as f64).sqrt();
        }
    }
    // Each event time in units of its analytic standard error (R's `did` uses the
    // draws' interquartile range, which collapses when a cohort has a handful of units).
    let sigma: Vec<f64> = usable
        .iter()
        .map(|e| standard_error(&e.influence) * (n as f64).sqrt())
        .collect();
    let largest: Vec<f64> = (0..DRAWS)
        .map(|b| {
            (0..usable.len())
                .map(|k| (draws[k][b] / sigma[k]).abs())
                .fold(0.0, f64::max)
        })
        .collect();
    quantile(&largest, level)
}

/// R's default (type 7) sample quantile.
fn quantile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// TWFE: y on the treatment dummy with unit and time effects absorbed, SE clustered by
/// unit with the factor G/(G − 1)·(N − 1)/(N − K), K counting every absorbed level.
/// Returns the estimate and its standard error.
pub fn two_way_fixed_effects(
    unit: &Grouping,
    time: &Grouping,
    treated: &[f64],
    ys: &[f64],
    weights: &[f64],
) -> (f64, f64) {
    let groups = [unit.clone(), time.clone()];
    let d = demean(treated, weights, &groups);
    let y = demean(ys, weights, &groups);
    let sxx: f64 = d.iter().zip(weights).map(|(d, w)| w * d * d).sum();
    let sxy: f64 = d
        .iter()
        .zip(&y)
        .zip(weights)
        .map(|((d, y), w)| w * d * y)
        .sum();
    let beta = sxy / sxx;
    let scores: Vec<f64> = (0..d.len())
        .map(|i| weights[i] * (y[i] - beta * d[i]))
        .collect();
    let d = [d];
    let meat = dense_meat(&d, &scores, Some(unit));
    let (n, g) = (ys.len() as f64, unit.levels as f64);
    let k = (unit.levels + time.levels) as f64;
    let factor = g / (g - 1.0) * (n - 1.0) / (n - k);
    let bread = Mat::from_fn(1, 1, |_, _| 1.0 / sxx);
    (beta, sandwich(&bread, &meat, factor)[(0, 0)].sqrt())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Two never-treated units and two treated from period 2 (index 2) with an effect of
    /// 3 on top of unit and period effects: every post-treatment ATT is 3, every
    /// pre-treatment one 0, and TWFE (one cohort, constant effect) is 3 too.
    #[test]
    fn an_additive_effect_is_recovered_exactly() {
        let unit_effect = [0.0, 1.0, 2.5, -1.0];
        let period_effect = [0.0, 0.5, 1.5, 1.0];
        let cohort = vec![None, None, Some(2), Some(2)];
        let y: Vec<Vec<f64>> = (0..4)
            .map(|u| {
                (0..4)
                    .map(|t| {
                        let treated = cohort[u].is_some_and(|g| t >= g);
                        unit_effect[u] + period_effect[t] + if treated { 3.0 } else { 0.0 }
                    })
                    .collect()
            })
            .collect();
        let panel = Panel {
            periods: vec![1.0, 2.0, 3.0, 4.0],
            cohort: cohort.clone(),
            weight: vec![1.0; 4],
            y: y.clone(),
        };
        let cells = group_time_cells(&panel, false);
        for cell in &cells {
            let expected = if cell.time >= cell.group { 3.0 } else { 0.0 };
            assert!((cell.att - expected).abs() < 1e-12, "{}", cell.att);
        }
        let simple = aggregate(&panel, &cells, |c| c.time >= c.group);
        assert!((simple.att - 3.0).abs() < 1e-12);
        assert!(standard_error(&simple.influence) < 1e-12);
        let rows: Vec<(u32, u32)> = (0..4).flat_map(|u| (0..4).map(move |t| (u, t))).collect();
        let grouping = |ids: Vec<u32>| Grouping {
            levels: 4,
            ids: Arc::new(ids),
        };
        let unit = grouping(rows.iter().map(|r| r.0).collect());
        let time = grouping(rows.iter().map(|r| r.1).collect());
        let treated: Vec<f64> = rows
            .iter()
            .map(|&(u, t)| {
                f64::from(u8::from(
                    cohort[u as usize].is_some_and(|g| t as usize >= g),
                ))
            })
            .collect();
        let ys: Vec<f64> = rows
            .iter()
            .map(|&(u, t)| y[u as usize][t as usize])
            .collect();
        let (beta, _) = two_way_fixed_effects(&unit, &time, &treated, &ys, &[1.0; 16]);
        assert!((beta - 3.0).abs() < 1e-9, "{beta}");
    }
}
