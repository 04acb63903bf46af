//! Inequality by a ranking: the concentration index (standard, Erreygers, Wagstaff)
//! with the SE of Kakwani, Wagstaff & van Doorslaer (1997), its curve, and the slope
//! index of inequality.

use faer::Mat;

use crate::least_squares;
use crate::ranks::{fractional_ranks, ridits, tie_runs};
use crate::vcov::{dense_meat, sandwich};

/// Which concentration index: the standard one, or a bounded outcome's corrections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correction {
    Standard,
    Erreygers,
    Wagstaff,
}

/// An index and its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Index {
    pub estimate: f64,
    pub std_error: f64,
}

/// The concentration index of `ys` sorted by `ranks` (ascending), and its SE. `None`
/// when the correction's bounds make it undefined (an outcome that does not vary
/// between its least and greatest value).
pub fn concentration(ys: &[f64], ranks: &[f64], correction: Correction) -> Option<Index> {
    let nf = ys.len() as f64;
    let mean = ys.iter().sum::<f64>() / nf;
    let (low, high) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    let fractional = fractional_ranks(ranks);
    let c = 2.0 / (nf * mean) * ys.iter().zip(&fractional).map(|(y, r)| y * r).sum::<f64>() - 1.0;
    // Kakwani, Wagstaff & van Doorslaer (1997), eq. 14.
    let mut cumulative = 0.0;
    let mut sum_squares = 0.0;
    for (y, r) in ys.iter().zip(&fractional) {
        let previous = cumulative;
        cumulative += y / (nf * mean);
        let a = (y / mean) * (2.0 * r - 1.0 - c) + 2.0 - previous - cumulative;
        sum_squares += a * a;
    }
    let se_c = ((sum_squares / nf - (1.0 + c).powi(2)) / nf)
        .max(0.0)
        .sqrt();
    let scale = match correction {
        Correction::Erreygers => 4.0 * mean / (high - low),
        Correction::Wagstaff => mean * (high - low) / ((high - mean) * (mean - low)),
        Correction::Standard => 1.0,
    };
    scale.is_finite().then_some(Index {
        estimate: scale * c,
        std_error: scale * se_c,
    })
}

/// The concentration curve of `ys` sorted by `ranks`: the cumulative share of the
/// population and of the outcome, from (0, 0), one point after each distinct rank.
pub fn concentration_curve(ys: &[f64], ranks: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = ys.len() as f64;
    let total: f64 = ys.iter().sum();
    let (mut population, mut outcome) = (vec![0.0], vec![0.0]);
    let mut running = 0.0;
    for run in tie_runs(ranks, |r| *r) {
        for y in &ys[run.clone()] {
            running += y;
        }
        population.push(run.end as f64 / n);
        outcome.push(running / total);
    }
    (population, outcome)
}

/// The slope index of inequality: the weighted regression of `ys` on the ridit of
/// `ranks` (sorted ascending), its slope with the HC1 standard error, n/(n − 2). `None`
/// when the ranking has a single value.
pub fn slope_index(ys: &[f64], ranks: &[f64], weights: &[f64]) -> Option<Index> {
    let n = ys.len();
    let ridit = ridits(ranks, weights);
    if n < 3 || ridit.first() == ridit.last() {
        return None;
    }
    let columns = [vec![1.0; n], ridit];
    let fit = least_squares::fit(&columns, ys, weights)?;
    let scores: Vec<f64> = fit
        .residuals
        .iter()
        .zip(weights)
        .map(|(e, w)| w * e)
        .collect();
    let meat = dense_meat(&columns, &scores, None);
    let nf = n as f64;
    let variance: Mat<f64> = sandwich(&fit.bread, &meat, nf / (nf - 2.0));
    Some(Index {
        estimate: fit.beta[1],
        std_error: variance[(1, 1)].sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Even shares across the ranking have index 0 and a straight curve; all of the
    /// outcome at the top has the largest index, (n − 1)/n.
    #[test]
    fn concentration_of_equal_and_top_heavy_outcomes() {
        let ranks = [1.0, 2.0, 3.0, 4.0];
        let even = concentration(&[1.0; 4], &ranks, Correction::Standard).unwrap();
        assert!(even.estimate.abs() < 1e-12);
        let top = concentration(&[0.0, 0.0, 0.0, 1.0], &ranks, Correction::Standard).unwrap();
        assert!((top.estimate - 0.75).abs() < 1e-12);
        let (population, outcome) = concentration_curve(&[1.0; 4], &[1.0, 2.0, 2.0, 3.0]);
        assert_eq!(population, vec![0.0, 0.25, 0.75, 1.0]);
        assert_eq!(outcome, population);
        assert_eq!(concentration(&[1.0; 4], &ranks, Correction::Wagstaff), None);
    }

    /// An outcome that rises by 2 across the whole ranking (ridit 0 to 1) has SII 2.
    #[test]
    fn slope_index_of_a_straight_line() {
        let ranks: Vec<f64> = (0..10).map(f64::from).collect();
        let weights = vec![1.0; 10];
        let ridit = crate::ranks::ridits(&ranks, &weights);
        let ys: Vec<f64> = ridit.iter().map(|r| 5.0 + 2.0 * r).collect();
        let index = slope_index(&ys, &ranks, &weights).unwrap();
        assert!((index.estimate - 2.0).abs() < 1e-12);
        assert!(index.std_error < 1e-9);
        assert_eq!(slope_index(&[1.0, 2.0, 3.0], &[1.0; 3], &[1.0; 3]), None);
    }
}
