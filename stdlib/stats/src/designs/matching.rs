//! Greedy nearest-neighbour matching on a distance (the propensity score), as R's
//! MatchIt 4.7 does it by default: the treated taken from the largest distance down,
//! each given the nearest control still available, ties to the one a walk alternating
//! left then right reaches first; the matched sample's weights; and the effect as
//! MatchIt's vignette estimates it, a weighted regression on treatment with errors
//! clustered by pair (or HC3 when controls are reused).

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Controls per treated unit.
    pub ratio: usize,
    /// The largest distance a pair may span (in the distance's units), if any.
    pub caliper: Option<f64>,
    /// Whether a control may serve several treated units.
    pub replace: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Matching {
    /// Each treated unit's controls (row indices), in the treated units' row order, with
    /// the treated unit's own row; empty when it found none.
    pub pairs: Vec<(usize, Vec<usize>)>,
    /// MatchIt's weights: 1 for a matched treated unit; for a control the sum over its
    /// matches of one over that match's number of controls, scaled to average 1 over
    /// the matched controls; 0 for a row not matched.
    pub weights: Vec<f64>,
}

/// Matches the `treated` rows to the others on `distance`.
pub fn nearest(distance: &[f64], treated: &[bool], options: Options) -> Matching {
    let n = distance.len();
    let mut sorted: Vec<usize> = (0..n).collect();
    // Stable: equal distances keep row order, as R's order() does.
    sorted.sort_by(|a, b| distance[*a].total_cmp(&distance[*b]));
    let mut position = vec![0; n];
    for (p, &i) in sorted.iter().enumerate() {
        position[i] = p;
    }
    let mut order: Vec<usize> = (0..n).filter(|i| treated[*i]).collect();
    order.sort_by(|a, b| distance[*b].total_cmp(&distance[*a]));
    let walk = Walk {
        distance,
        treated,
        sorted: &sorted,
        position: &position,
        caliper: options.caliper.unwrap_or(f64::INFINITY),
    };
    let mut matched: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut available = vec![true; n];
    if options.replace {
        for &t in &order {
            matched[t] = walk.nearest(t, &[], options.ratio, &available);
        }
    } else {
        let mut controls_left = treated.iter().filter(|t| !**t).count();
        // Every treated unit gets its first control before any gets a second.
        for round in 1..=options.ratio {
            for &t in &order {
                if controls_left == 0 {
                    break;
                }
                if !available[t] {
                    continue;
                }
                match walk.nearest(t, &matched[t], 1, &available).first() {
                    Some(&c) => {
                        matched[t].push(c);
                        available[c] = false;
                        controls_left -= 1;
                        if matched[t].len() == options.ratio {
                            available[t] = false;
                        }
                    }
                    None if round == 1 => available[t] = false,
                    None => {}
                }
            }
        }
    }
    let weights = weights(&matched, treated);
    Matching {
        pairs: (0..n)
            .filter(|i| treated[*i])
            .map(|t| (t, std::mem::take(&mut matched[t])))
            .collect(),
        weights,
    }
}

fn weights(matched: &[Vec<usize>], treated: &[bool]) -> Vec<f64> {
    let mut weights = vec![0.0; treated.len()];
    for (t, controls) in matched.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
        weights[t] += 1.0;
        for &c in controls {
            weights[c] += 1.0 / controls.len() as f64;
        }
    }
    let (sum, count) = weights
        .iter()
        .zip(treated)
        .filter(|(w, t)| !**t && **w > 0.0)
        .fold((0.0, 0usize), |(s, k), (w, _)| (s + w, k + 1));
    for (w, t) in weights.iter_mut().zip(treated) {
        if !*t {
            *w *= count as f64 / sum;
        }
    }
    weights
}

/// The search outward from a treated unit's place among all units sorted by distance.
struct Walk<'a> {
    distance: &'a [f64],
    treated: &'a [bool],
    sorted: &'a [usize],
    position: &'a [usize],
    caliper: f64,
}

impl Walk<'_> {
    /// The `k` nearest available controls to `t` not among `already`, within the
    /// caliper: each side walked, alternately, left first, to its first `k` candidates;
    /// the nearest `k` of those kept, ties to the one found first. A later round starts
    /// from the span of `t`'s earlier controls, which were the nearest then.
    fn nearest(&self, t: usize, already: &[usize], k: usize, available: &[bool]) -> Vec<usize> {
        let here = self.position[t];
        let spans = already.iter().map(|c| self.position[*c]);
        let (mut left, mut right) = spans.fold((here, here), |(l, r), p| (l.min(p), r.max(p)));
        let d = self.distance[t];
        let gap = |p: usize| (d - self.distance[self.sorted[p]]).abs();
        let floor = match (left < here, right > here) {
            (false, false) => 0.0,
            (true, false) => gap(left),
            (false, true) => gap(right),
            (true, true) => gap(left).max(gap(right)),
        };
        let (mut left_done, mut right_done) = (false, false);
        let (mut found_left, mut found_right) = (0, 0);
        let mut going_left = false;
        let mut candidates: Vec<(usize, f64)> = Vec::new();
        while !left_done || !right_done {
            going_left = if left_done {
                false
            } else if right_done {
                true
            } else {
                !going_left
            };
            let p = if going_left {
                if left == 0 || found_left == k {
                    left_done = true;
                    continue;
                }
                left -= 1;
                left
            } else {
                if right + 1 >= self.sorted.len() || found_right == k {
                    right_done = true;
                    continue;
                }
                right += 1;
                right
            };
            let c = self.sorted[p];
            if self.treated[c] || !available[c] || already.contains(&c) {
                continue;
            }
            let gap = gap(p);
            let stop = gap > self.caliper
                || (candidates.len() >= k
                    && candidates.iter().filter(|(_, g)| *g < gap).count() >= k);
            if stop {
                if going_left {
                    left_done = true;
                } else {
                    right_done = true;
                }
                continue;
            }
            if gap < floor {
                continue;
            }
            candidates.push((c, gap));
            if going_left {
                found_left += 1;
            } else {
                found_right += 1;
            }
        }
        // Stable: of equal gaps, the one found first.
        candidates.sort_by(|a, b| a.1.total_cmp(&b.1));
        candidates.into_iter().take(k).map(|(c, _)| c).collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MatchedEffect {
    /// The weighted difference in means, treated minus control, and its standard error.
    pub effect: (f64, f64),
    /// The weighted means of the matched treated and controls, with their standard
    /// errors from the same variance.
    pub treated_mean: (f64, f64),
    pub control_mean: (f64, f64),
}

/// `lm(y ~ treat, weights)` on the matched rows with its variance: clustered by
/// `cluster` (pairs) with sandwich's `vcovCL` factors G/(G − 1) · (n − 1)/(n − 2), or,
/// with no clusters, HC3.
pub fn effect(y: &[f64], t: &[f64], w: &[f64], cluster: Option<&[usize]>) -> MatchedEffect {
    let (mut sw, mut swt, mut swy, mut swty) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..y.len() {
        sw += w[i];
        swt += w[i] * t[i];
        swy += w[i] * y[i];
        swty += w[i] * t[i] * y[i];
    }
    let control_mean = (swy - swty) / (sw - swt);
    let treated_mean = swty / swt;
    let effect = treated_mean - control_mean;
    // (XᵀWX)⁻¹ for X = [1, t]: XᵀWX = [[Σw, Σwt], [Σwt, Σwt]].
    let det = sw * swt - swt * swt;
    let bread = [[swt / det, -swt / det], [-swt / det, sw / det]];
    let residual = |i: usize| y[i] - control_mean - effect * t[i];
    let n = y.len();
    let meat = match cluster {
        Some(groups) => {
            let count = groups.iter().max().map_or(0, |g| g + 1);
            let mut scores = vec![[0.0; 2]; count];
            for i in 0..n {
                let s = w[i] * residual(i);
                scores[groups[i]][0] += s;
                scores[groups[i]][1] += s * t[i];
            }
            let g = scores.len() as f64;
            let factor = g / (g - 1.0) * (n as f64 - 1.0) / (n as f64 - 2.0);
            outer_sum(scores.iter().copied(), factor)
        }
        None => {
            let scores = (0..n).map(|i| {
                // The leverage of a row in a two-group weighted regression: its weight
                // over its group's total.
                let leverage = w[i] / if t[i] == 1.0 { swt } else { sw - swt };
                let s = w[i] * residual(i) / (1.0 - leverage);
                [s, s * t[i]]
            });
            outer_sum(scores, 1.0)
        }
    };
    // bread · meat · bread, for the intercept (the control mean) and the slope.
    let v = |a: usize, b: usize| -> f64 {
        (0..2)
            .map(|j| {
                (0..2)
                    .map(|l| bread[a][j] * meat[j][l] * bread[l][b])
                    .sum::<f64>()
            })
            .sum()
    };
    MatchedEffect {
        effect: (effect, v(1, 1).sqrt()),
        treated_mean: (treated_mean, (v(0, 0) + v(1, 1) + 2.0 * v(0, 1)).sqrt()),
        control_mean: (control_mean, v(0, 0).sqrt()),
    }
}

fn outer_sum(scores: impl Iterator<Item = [f64; 2]>, factor: f64) -> [[f64; 2]; 2] {
    let mut m = [[0.0; 2]; 2];
    for s in scores {
        for j in 0..2 {
            for l in 0..2 {
                m[j][l] += factor * s[j] * s[l];
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Options = Options {
        ratio: 1,
        caliper: None,
        replace: false,
    };

    #[test]
    fn the_largest_treated_propensity_chooses_first() {
        // Treated at 0.8 and 0.7; controls at 0.75 and 0.5. Taken from the largest
        // down, 0.8 takes 0.75 and 0.7 is left with 0.5.
        let d = [0.8, 0.7, 0.75, 0.5];
        let t = [true, true, false, false];
        let m = nearest(&d, &t, ONE);
        assert_eq!(m.pairs, vec![(0, vec![2]), (1, vec![3])]);
        assert_eq!(m.weights, vec![1.0; 4]);
    }

    #[test]
    fn a_caliper_leaves_a_treated_unit_unmatched() {
        let d = [0.8, 0.7, 0.75, 0.5];
        let t = [true, true, false, false];
        let m = nearest(
            &d,
            &t,
            Options {
                caliper: Some(0.1),
                ..ONE
            },
        );
        assert_eq!(m.pairs, vec![(0, vec![2]), (1, vec![])]);
        assert_eq!(m.weights, vec![1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn an_exact_tie_goes_to_the_left_neighbour_reached_first() {
        // Controls at 0.4 and 0.6 are equally far from 0.5: the walk steps left first.
        let d = [0.5, 0.6, 0.4];
        let t = [true, false, false];
        assert_eq!(nearest(&d, &t, ONE).pairs, vec![(0, vec![2])]);
    }

    #[test]
    fn with_replacement_a_control_serves_twice_and_weighs_accordingly() {
        let d = [0.8, 0.79, 0.78, 0.2];
        let t = [true, true, false, false];
        let m = nearest(
            &d,
            &t,
            Options {
                replace: true,
                ..ONE
            },
        );
        assert_eq!(m.pairs, vec![(0, vec![2]), (1, vec![2])]);
        assert_eq!(m.weights, vec![1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn one_to_one_clustered_error_is_the_paired_one_with_sandwich_factors() {
        // For 1:1 pairs the cluster-robust SE is the paired-t SE times
        // sqrt((2G − 1)/(2G − 2)).
        let y = [5.0, 3.0, 7.0, 4.5, 6.0, 6.5];
        let t = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let pair = [0, 0, 1, 1, 2, 2];
        let e = effect(&y, &t, &[1.0; 6], Some(&pair));
        let d = [2.0, 2.5, -0.5];
        let mean = 4.0 / 3.0;
        let var = d.iter().map(|x: &f64| (x - mean).powi(2)).sum::<f64>() / 2.0;
        let expected = (var / 3.0 * 5.0 / 4.0).sqrt();
        assert!((e.effect.0 - mean).abs() < 1e-12);
        assert!(
            (e.effect.1 - expected).abs() < 1e-12,
            "{:?} {}",
            e.effect,
            expected
        );
    }
}
