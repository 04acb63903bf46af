//! Variance estimators: classical, heteroskedasticity-robust (HC0, HC1, HC3) and
//! cluster-robust (one or two ways), with the small-sample factors of Stata, R and
//! fixest named explicitly (see docs/models.md and shared/refcases/README.md).

use faer::Mat;

use crate::formula::design::Grouping;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    Classical,
    Robust,
    Hc3,
    Cluster,
}

/// Small-sample factor: `Stata` is Stata's choice for the model (ML: n/(n-1) and
/// G/(G-1); OLS: n/(n-k) and G/(G-1)·(N-1)/(N-K)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjustment {
    Stata,
    None,
    /// n/(n-1), G/(G-1): Stata's ML commands.
    Ml,
    /// n/(n-k), G/(G-1)·(N-1)/(N-K): Stata's `regress`, R's sandwich HC1 and vcovCL.
    Reg,
    /// Two-way clusters with one factor min(G)/(min(G)-1)·(N-1)/(N-K) (fixest).
    Min,
}

pub struct Inputs<'a> {
    /// The estimated columns, demeaned within absorbed groups.
    pub columns: &'a [Vec<f64>],
    /// (X'WX)^-1 for those columns.
    pub bread: &'a Mat<f64>,
    pub working_weights: &'a [f64],
    pub working_residuals: &'a [f64],
    /// Frequency weights (a row stands for that many); `None` for one each.
    pub freq: Option<&'a [f64]>,
    /// Observations (rows, or the sum of frequency weights).
    pub n: f64,
    /// Parameters counted in small-sample factors (absorbed levels included).
    pub k: f64,
    pub ols: bool,
    pub dispersion: f64,
    pub clusters: &'a [Grouping],
}

pub fn estimate(inputs: &Inputs, estimator: Estimator, adjustment: Adjustment) -> Mat<f64> {
    let p = inputs.columns.len();
    match estimator {
        Estimator::Classical => Mat::from_fn(p, p, |i, j| inputs.dispersion * inputs.bread[(i, j)]),
        Estimator::Robust | Estimator::Hc3 => {
            let scores = scores(inputs, estimator == Estimator::Hc3);
            let mut meat = Mat::<f64>::zeros(p, p);
            for (i, s) in scores.iter().enumerate() {
                // A row standing for f copies contributes f copies' scores.
                let f = inputs.freq.map_or(1.0, |f| f[i]);
                add_outer(&mut meat, s, s, 1.0 / f);
            }
            let factor = if estimator == Estimator::Hc3 {
                1.0
            } else {
                match (adjustment, inputs.ols) {
                    (Adjustment::None, _) => 1.0,
                    (Adjustment::Ml, _) | (Adjustment::Stata, false) => inputs.n / (inputs.n - 1.0),
                    _ => inputs.n / (inputs.n - inputs.k),
                }
            };
            sandwich(inputs.bread, &meat, factor)
        }
        Estimator::Cluster => {
            let scores = scores(inputs, false);
            let cluster_v = |grouping: &Grouping, factor: f64| {
                let mut sums = vec![vec![0.0; p]; grouping.levels];
                for (i, s) in scores.iter().enumerate() {
                    let g = grouping.ids[i] as usize;
                    for (a, value) in s.iter().enumerate() {
                        sums[g][a] += value;
                    }
                }
                let mut meat = Mat::<f64>::zeros(p, p);
                for s in &sums {
                    add_outer(&mut meat, s, s, 1.0);
                }
                sandwich(inputs.bread, &meat, factor)
            };
            let factor_for = |g: f64| match (adjustment, inputs.ols) {
                (Adjustment::None, _) => 1.0,
                (Adjustment::Ml, _) | (Adjustment::Stata, false) => g / (g - 1.0),
                _ => g / (g - 1.0) * (inputs.n - 1.0) / (inputs.n - inputs.k),
            };
            match inputs.clusters {
                [one] => cluster_v(one, factor_for(one.levels as f64)),
                [first, second, ..] => {
                    let both = intersect(first, second);
                    let g_min = first.levels.min(second.levels) as f64;
                    let factor = |g: usize| {
                        if adjustment == Adjustment::Min {
                            g_min / (g_min - 1.0) * (inputs.n - 1.0) / (inputs.n - inputs.k)
                        } else {
                            factor_for(g as f64)
                        }
                    };
                    let v1 = cluster_v(first, factor(first.levels));
                    let v2 = cluster_v(second, factor(second.levels));
                    let v12 = cluster_v(&both, factor(both.levels));
                    Mat::from_fn(p, p, |i, j| v1[(i, j)] + v2[(i, j)] - v12[(i, j)])
                }
                [] => Mat::from_fn(p, p, |i, j| inputs.bread[(i, j)] * inputs.dispersion),
            }
        }
    }
}

/// Each row's score x_i · w_i · r_i (divided by 1 - h_ii for HC3).
fn scores(inputs: &Inputs, hc3: bool) -> Vec<Vec<f64>> {
    let n = inputs.working_weights.len();
    let p = inputs.columns.len();
    (0..n)
        .map(|i| {
            let x: Vec<f64> = (0..p).map(|a| inputs.columns[a][i]).collect();
            let scale = inputs.working_weights[i] * inputs.working_residuals[i];
            let leverage = if hc3 {
                let mut h = 0.0;
                for a in 0..p {
                    for b in 0..p {
                        h += x[a] * inputs.bread[(a, b)] * x[b];
                    }
                }
                1.0 - h * inputs.working_weights[i]
            } else {
                1.0
            };
            x.iter().map(|v| v * scale / leverage).collect()
        })
        .collect()
}

fn add_outer(m: &mut Mat<f64>, a: &[f64], b: &[f64], scale: f64) {
    for i in 0..a.len() {
        for j in 0..b.len() {
            m[(i, j)] += scale * a[i] * b[j];
        }
    }
}

fn sandwich(bread: &Mat<f64>, meat: &Mat<f64>, factor: f64) -> Mat<f64> {
    let product = bread * meat * bread;
    Mat::from_fn(product.nrows(), product.ncols(), |i, j| {
        factor * product[(i, j)]
    })
}

/// The grouping of pairs (g1, g2) that occur together.
fn intersect(first: &Grouping, second: &Grouping) -> Grouping {
    let mut index = std::collections::HashMap::new();
    let ids = first
        .ids
        .iter()
        .zip(&second.ids)
        .map(|(a, b)| {
            let next = index.len() as u32;
            *index.entry((*a, *b)).or_insert(next)
        })
        .collect();
    let levels = index.len();
    Grouping {
        name: format!("{}:{}", first.name, second.name),
        ids,
        levels,
        labels: Vec::new(),
    }
}
