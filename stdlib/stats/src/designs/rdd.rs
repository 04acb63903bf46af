//! Regression discontinuity, sharp and fuzzy, as Calonico, Cattaneo and Titiunik's
//! `rdrobust` (version 2.1.1) computes it: local polynomials each side of the cutoff with
//! a kernel, the MSE-optimal common bandwidth (`mserd`), the bias correction from a
//! polynomial one order higher, and nearest-neighbour (or cluster) variances. Every
//! step below names the quantity of rdrobust's it equals, so the two can be read side
//! by side; the test command compares them on random data.

use faer::Mat;

/// √ε: rdrobust's tolerance for equal distances and its bandwidth floors.
const SQRT_EPSILON: f64 = 1.4901161193847656e-8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Triangular,
    Epanechnikov,
    Uniform,
}

impl Kernel {
    /// The weight of a point at `distance` from the cutoff in a window of half-width
    /// `h`, with rdrobust's factor 1/h. A point on the window's edge has weight 0 but
    /// for the uniform kernel, which keeps it.
    fn weight(self, distance: f64, h: f64) -> f64 {
        let u = (distance / h).abs();
        if u > 1.0 {
            return 0.0;
        }
        match self {
            Kernel::Triangular => (1.0 - u) / h,
            Kernel::Epanechnikov => 0.75 * (1.0 - u * u) / h,
            Kernel::Uniform => 0.5 / h,
        }
    }

    /// The constant of the pilot bandwidth (rdbwselect's `C_c`).
    fn pilot_constant(self) -> f64 {
        match self {
            Kernel::Triangular => 2.576,
            Kernel::Epanechnikov => 2.34,
            Kernel::Uniform => 1.843,
        }
    }
}

/// The variance of the estimates: nearest neighbours' residuals (rdrobust's `vce =
/// "nn"`), or clustered (`CR1`, which rdrobust takes whenever clusters are given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variance {
    NearestNeighbours(usize),
    Cluster,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub cutoff: f64,
    /// Order of the local polynomial (rdrobust's p).
    pub order: usize,
    pub kernel: Kernel,
    /// The bandwidths each side, when the user gives them; chosen (`mserd`) otherwise.
    pub h: Option<(f64, f64)>,
    /// The bias-correction bandwidths each side; `h` when only `h` is given.
    pub b: Option<(f64, f64)>,
    pub variance: Variance,
    /// rdrobust's `masspoints = "adjust"` (its default) rather than `"off"`.
    pub adjust_mass_points: bool,
}

/// The rows of a design: running variable, outcome, and for a fuzzy design the
/// treatment received; cluster codes when clustered. Missing values are the caller's to
/// drop.
pub struct Data<'a> {
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub treatment: Option<&'a [f64]>,
    pub clusters: Option<&'a [u32]>,
}

/// A jump and its standard errors: the conventional estimate, the bias-corrected one,
/// and the standard errors of the conventional row and of the robust row (the
/// bias-corrected estimate with the bias estimate's variance added).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jump {
    pub conventional: f64,
    pub bias_corrected: f64,
    pub conventional_se: f64,
    pub robust_se: f64,
}

/// What each side of the cutoff holds and uses.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SideCounts {
    pub rows: usize,
    /// Rows with positive weight in the main bandwidth h (rdrobust's `N_h`).
    pub in_h: usize,
    /// Rows with positive weight in the bias-correction bandwidth b (`N_b`).
    pub in_b: usize,
    pub distinct: usize,
    /// Clusters among the rows each side's fit uses.
    pub clusters: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Discontinuity {
    /// The outcome's jump (sharp), or the ratio of the outcome's jump to the
    /// treatment's (fuzzy).
    pub effect: Jump,
    /// The treatment's jump (fuzzy only).
    pub first_stage: Option<Jump>,
    pub h: (f64, f64),
    pub b: (f64, f64),
    pub left: SideCounts,
    pub right: SideCounts,
    pub how: Bandwidth,
    /// A fifth or more of a side's rows share their value with another row.
    pub mass_points: bool,
    /// A fuzzy design whose treatment does not vary on one side: the bandwidths were
    /// chosen for the outcome alone, as rdrobust does.
    pub sharp_bandwidth: bool,
}

/// How the bandwidths came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bandwidth {
    Given,
    /// MSE-optimal, one for both sides (rdrobust's `mserd`).
    Chosen,
    /// Fewer than 20 rows: the whole range of the data (rdrobust's fallback).
    WholeRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RddError {
    CutoffOutside {
        low: f64,
        high: f64,
    },
    /// A side has fewer distinct values than the bias-correction polynomial needs.
    TooFewValues {
        right: bool,
        distinct: usize,
        needed: usize,
    },
    /// The treatment neither varies nor jumps: a fuzzy design has nothing to scale by.
    NoFirstStage,
    /// A pilot fit of the bandwidth selection had too few distinct values.
    BandwidthUnidentified,
    /// The windows hold too few distinct values for the polynomials.
    TooFewInWindow,
    /// A side's rows within the bandwidths hold one cluster, or no more rows than
    /// coefficients: clustered standard errors are not defined.
    TooFewClusters,
    /// A matrix of the local fits could not be inverted.
    Singular,
}

/// One side's rows, sorted by the running variable.
struct Side<'a> {
    x: &'a [f64],
    /// The outcome, and the treatment when fuzzy: rdrobust's `D`.
    columns: Vec<&'a [f64]>,
    clusters: Option<&'a [u32]>,
}

impl Side<'_> {
    fn distinct(&self) -> usize {
        distinct_count(self.x)
    }
}

/// The regression discontinuity estimate. The rows need not be sorted.
pub fn estimate(data: &Data, options: &Options) -> Result<Discontinuity, RddError> {
    let order = sorted_order(data.x);
    let pick = |v: &[f64]| -> Vec<f64> { order.iter().map(|&i| v[i]).collect() };
    let x = pick(data.x);
    let y = pick(data.y);
    let treatment = data.treatment.map(pick);
    let clusters: Option<Vec<u32>> = data.clusters.map(|c| order.iter().map(|&i| c[i]).collect());
    let c = options.cutoff;
    let (low, high) = match (x.first(), x.last()) {
        (Some(&low), Some(&high)) => (low, high),
        _ => (f64::NAN, f64::NAN),
    };
    if !(c > low && c < high) {
        return Err(RddError::CutoffOutside { low, high });
    }
    let split = x.partition_point(|&v| v < c);
    let side = |range: std::ops::Range<usize>| Side {
        x: &x[range.clone()],
        columns: std::iter::once(&y[range.clone()])
            .chain(treatment.as_ref().map(|t| &t[range.clone()]))
            .collect(),
        clusters: clusters.as_ref().map(|g| &g[range.clone()]),
    };
    let (left, right) = (side(0..split), side(split..x.len()));
    let q = options.order + 1;
    for (s, is_right) in [(&left, false), (&right, true)] {
        let distinct = s.distinct();
        if distinct < q + 1 {
            return Err(RddError::TooFewValues {
                right: is_right,
                distinct,
                needed: q + 1,
            });
        }
    }
    if let Some(t) = &treatment {
        let (tl, tr) = (&t[..split], &t[split..]);
        if variance(tl) == 0.0 && variance(tr) == 0.0 && (mean(tl) - mean(tr)).abs() < SQRT_EPSILON
        {
            return Err(RddError::NoFirstStage);
        }
    }
    let mass_points = [&left, &right]
        .iter()
        .any(|s| 1.0 - s.distinct() as f64 / s.x.len() as f64 >= 0.2);
    // A treatment constant on one side (one-sided compliance): rdrobust chooses the
    // bandwidths for the outcome alone.
    let sharp_bandwidth = treatment
        .as_ref()
        .is_some_and(|t| variance(&t[..split]) == 0.0 || variance(&t[split..]) == 0.0);

    let (h, b, how) = match options.h {
        Some(h) => (h, options.b.unwrap_or(h), Bandwidth::Given),
        None if x.len() < 20 => {
            let whole = (c - low).abs().max((high - c).abs());
            ((whole, whole), (whole, whole), Bandwidth::WholeRange)
        }
        None => {
            let selection = Selection {
                x: &x,
                y: &y,
                treatment: if sharp_bandwidth {
                    None
                } else {
                    treatment.as_deref()
                },
                clusters: clusters.as_deref(),
                split,
                cutoff: c,
                options,
                mass_points,
            };
            let (h, b) = selection.mserd()?;
            ((h, h), (b, b), Bandwidth::Chosen)
        }
    };

    let left_fit = side_fit(&left, c, h.0, b.0, options)?;
    let right_fit = side_fit(&right, c, h.1, b.1, options)?;
    let jump = |fits: [&SideFit; 2], column: usize| {
        (
            fits[1].beta_p[column][0] - fits[0].beta_p[column][0],
            fits[1].beta_bc[column][0] - fits[0].beta_bc[column][0],
        )
    };
    let fits = [&left_fit, &right_fit];
    let (y_cl, y_bc) = jump(fits, 0);
    let standard_errors = |selector: &[f64]| {
        let (cl, rb) = fits.iter().fold((0.0, 0.0), |(cl, rb), f| {
            let (a, b) = f.variances(selector);
            (cl + a, rb + b)
        });
        (cl.sqrt(), rb.sqrt())
    };
    let (effect, first_stage) = if treatment.is_some() {
        let (t_cl, t_bc) = jump(fits, 1);
        let ratio = y_cl / t_cl;
        let selector = [1.0 / t_cl, -y_cl / (t_cl * t_cl)];
        // rdrobust's linearised correction, not the ratio of the corrected jumps.
        let corrected = ratio - (selector[0] * (y_cl - y_bc) + selector[1] * (t_cl - t_bc));
        let (se_cl, se_rb) = standard_errors(&selector);
        let (t_se_cl, t_se_rb) = standard_errors(&[0.0, 1.0]);
        (
            Jump {
                conventional: ratio,
                bias_corrected: corrected,
                conventional_se: se_cl,
                robust_se: se_rb,
            },
            Some(Jump {
                conventional: t_cl,
                bias_corrected: t_bc,
                conventional_se: t_se_cl,
                robust_se: t_se_rb,
            }),
        )
    } else {
        let (se_cl, se_rb) = standard_errors(&[1.0]);
        (
            Jump {
                conventional: y_cl,
                bias_corrected: y_bc,
                conventional_se: se_cl,
                robust_se: se_rb,
            },
            None,
        )
    };
    let counts = |s: &Side, f: &SideFit| SideCounts {
        rows: s.x.len(),
        in_h: f.in_h,
        in_b: f.in_b,
        distinct: s.distinct(),
        clusters: f.clusters,
    };
    Ok(Discontinuity {
        effect,
        first_stage,
        h,
        b,
        left: counts(&left, &left_fit),
        right: counts(&right, &right_fit),
        how,
        mass_points,
        sharp_bandwidth: sharp_bandwidth && how == Bandwidth::Chosen,
    })
}

/// One side's local fits at h (order p) and b (order q = p + 1) on the rows of the
/// wider window, with what their variances need.
struct SideFit {
    beta_p: Vec<Vec<f64>>,
    beta_bc: Vec<Vec<f64>>,
    /// The scores of the conventional estimate (`RW_p`) and of the bias-corrected one
    /// (`Q_q`), row by row.
    scores_p: Vec<Vec<f64>>,
    scores_q: Vec<Vec<f64>>,
    inv_g_p: Mat<f64>,
    residuals_h: Vec<Vec<f64>>,
    residuals_b: Vec<Vec<f64>>,
    clusters_used: Option<Vec<u32>>,
    order: usize,
    in_h: usize,
    in_b: usize,
    clusters: usize,
}

impl SideFit {
    /// The conventional and robust variances of this side's intercept for the
    /// combination `selector` of the columns (rdrobust's `V_Y_cl`, `V_Y_rb`).
    fn variances(&self, selector: &[f64]) -> (f64, f64) {
        let combine = |residuals: &[Vec<f64>]| -> Vec<f64> {
            (0..residuals[0].len())
                .map(|i| residuals.iter().zip(selector).map(|(r, s)| r[i] * s).sum())
                .collect()
        };
        let row = row_of(&self.inv_g_p, 0);
        let cl = sandwich(
            &self.scores_p,
            &row,
            &combine(&self.residuals_h),
            self.clusters_used.as_deref(),
            self.order + 1,
        );
        let rb = sandwich(
            &self.scores_q,
            &row,
            &combine(&self.residuals_b),
            self.clusters_used.as_deref(),
            self.order + 2,
        );
        (cl, rb)
    }
}

fn side_fit(side: &Side, c: f64, h: f64, b: f64, options: &Options) -> Result<SideFit, RddError> {
    let p = options.order;
    let q = p + 1;
    let kernel = options.kernel;
    let w_h: Vec<f64> = side.x.iter().map(|&x| kernel.weight(x - c, h)).collect();
    let w_b: Vec<f64> = side.x.iter().map(|&x| kernel.weight(x - c, b)).collect();
    let positive = |w: &[f64]| -> Vec<usize> { (0..w.len()).filter(|&i| w[i] > 0.0).collect() };
    let (in_h, in_b) = (positive(&w_h), positive(&w_b));
    let distinct_in =
        |rows: &[usize]| distinct_count(&rows.iter().map(|&i| side.x[i]).collect::<Vec<_>>());
    if distinct_in(&in_h) < p + 1 || distinct_in(&in_b) < q + 1 {
        return Err(RddError::TooFewInWindow);
    }
    // rdrobust fits on the rows of the wider window (`eN`), weights zero outside each
    // bandwidth's own.
    let rows = if h > b { &in_h } else { &in_b };
    let u: Vec<f64> = rows.iter().map(|&i| side.x[i] - c).collect();
    let wh: Vec<f64> = rows.iter().map(|&i| w_h[i]).collect();
    let wb: Vec<f64> = rows.iter().map(|&i| w_b[i]).collect();
    let columns: Vec<Vec<f64>> = side
        .columns
        .iter()
        .map(|col| rows.iter().map(|&i| col[i]).collect())
        .collect();
    let fit_p = LocalFit::new(&u, &wh, &columns, p).ok_or(RddError::Singular)?;
    let fit_q = LocalFit::new(&u, &wb, &columns, q).ok_or(RddError::Singular)?;

    // L = Σ W_h R_p ((x − c)/h)^(p+1), and Q_q = RW_p − h^(p+1) (W_b ⊙ R_q·invG_q[p+1,:]) Lᵀ.
    let mut l = vec![0.0; p + 1];
    for i in 0..u.len() {
        let scaled = (u[i] / h).powi(q as i32);
        for (j, lj) in l.iter_mut().enumerate() {
            *lj += wh[i] * u[i].powi(j as i32) * scaled;
        }
    }
    let last_row = row_of(&fit_q.inv_g, q);
    let h_power = h.powi(q as i32);
    let scores_p: Vec<Vec<f64>> = (0..u.len())
        .map(|i| powers(u[i], p).iter().map(|r| r * wh[i]).collect())
        .collect();
    let scores_q: Vec<Vec<f64>> = (0..u.len())
        .map(|i| {
            let correction = h_power * wb[i] * dot(&powers(u[i], q), &last_row);
            scores_p[i]
                .iter()
                .zip(&l)
                .map(|(s, lj)| s - correction * lj)
                .collect()
        })
        .collect();
    let beta_bc: Vec<Vec<f64>> = columns
        .iter()
        .map(|col| {
            let mut qty = vec![0.0; p + 1];
            for (i, score) in scores_q.iter().enumerate() {
                for (a, s) in qty.iter_mut().zip(score) {
                    *a += s * col[i];
                }
            }
            mat_vec(&fit_p.inv_g, &qty)
        })
        .collect();

    let xs: Vec<f64> = rows.iter().map(|&i| side.x[i]).collect();
    let clusters_used: Option<Vec<u32>> =
        side.clusters.map(|g| rows.iter().map(|&i| g[i]).collect());
    let (residuals_h, residuals_b) = match options.variance {
        Variance::NearestNeighbours(neighbours) => {
            let r = nearest_neighbour_residuals(&xs, &columns, neighbours);
            (r.clone(), r)
        }
        Variance::Cluster => (fit_p.residuals(&u, &columns), fit_q.residuals(&u, &columns)),
    };
    let clusters = clusters_used.as_deref().map_or(0, distinct_codes);
    if options.variance == Variance::Cluster && (clusters < 2 || rows.len() <= q + 1) {
        return Err(RddError::TooFewClusters);
    }
    Ok(SideFit {
        beta_p: fit_p.beta,
        beta_bc,
        scores_p,
        scores_q,
        inv_g_p: fit_p.inv_g,
        residuals_h,
        residuals_b,
        clusters_used,
        order: p,
        in_h: in_h.len(),
        in_b: in_b.len(),
        clusters,
    })
}

/// A weighted polynomial fit in `u = x − c`: `(RᵀWR)⁻¹` and the coefficients of each
/// column.
struct LocalFit {
    inv_g: Mat<f64>,
    beta: Vec<Vec<f64>>,
    order: usize,
}

impl LocalFit {
    fn new(u: &[f64], w: &[f64], columns: &[Vec<f64>], order: usize) -> Option<LocalFit> {
        let k = order + 1;
        let mut g = Mat::<f64>::zeros(k, k);
        let mut rhs = vec![vec![0.0; k]; columns.len()];
        for i in 0..u.len() {
            if w[i] == 0.0 {
                continue;
            }
            let r = powers(u[i], order);
            for a in 0..k {
                for b in 0..k {
                    g[(a, b)] += w[i] * r[a] * r[b];
                }
                for (col, acc) in columns.iter().zip(rhs.iter_mut()) {
                    acc[a] += w[i] * r[a] * col[i];
                }
            }
        }
        let inv_g = crate::linalg::inverse(&g)?;
        let beta = rhs.iter().map(|v| mat_vec(&inv_g, v)).collect();
        Some(LocalFit { inv_g, beta, order })
    }

    /// `D − Rβ` for every row given, inside the window or not.
    fn residuals(&self, u: &[f64], columns: &[Vec<f64>]) -> Vec<Vec<f64>> {
        columns
            .iter()
            .zip(&self.beta)
            .map(|(col, beta)| {
                (0..u.len())
                    .map(|i| col[i] - dot(&powers(u[i], self.order), beta))
                    .collect()
            })
            .collect()
    }
}

/// `(G⁻¹ Ω G⁻¹)[a, a]` for `row` the a-th row of `G⁻¹`: with `Ω = Σ r_i² S_iS_iᵀ`, or
/// clustered `κ Σ_g (Σ_{i∈g} r_i S_i)(…)ᵀ` with `κ = (n − 1)/(n − k)·G/(G − 1)`.
fn sandwich(
    scores: &[Vec<f64>],
    row: &[f64],
    residuals: &[f64],
    clusters: Option<&[u32]>,
    k: usize,
) -> f64 {
    let projected = scores.iter().zip(residuals).map(|(s, r)| dot(s, row) * r);
    match clusters {
        None => projected.map(|z| z * z).sum(),
        Some(codes) => {
            let mut sums: std::collections::BTreeMap<u32, f64> = std::collections::BTreeMap::new();
            for (z, g) in projected.zip(codes) {
                *sums.entry(*g).or_default() += z;
            }
            let n = scores.len() as f64;
            let groups = sums.len() as f64;
            let kappa = (n - 1.0) / (n - k as f64) * groups / (groups - 1.0);
            kappa * sums.values().map(|s| s * s).sum::<f64>()
        }
    }
}

/// rdrobust's nearest-neighbour residuals (`rdrobust_res` with `vce = "nn"`): each
/// row against the mean of at least `neighbours` nearest others on its side, whole tie
/// groups and equally distant rows joining together, scaled by √(J/(J + 1)) for the J
/// rows averaged. `x` sorted.
fn nearest_neighbour_residuals(
    x: &[f64],
    columns: &[Vec<f64>],
    neighbours: usize,
) -> Vec<Vec<f64>> {
    let n = x.len();
    let (ties, rank) = tie_groups(x);
    let cap = neighbours.min(n.saturating_sub(1));
    let mut residuals = vec![vec![0.0; n]; columns.len()];
    for pos in 0..n {
        let mut after = ties[pos] - rank[pos];
        let mut before = rank[pos] - 1;
        while before + after < cap {
            if pos < before + 1 {
                after += ties[pos + after + 1];
            } else if pos + after + 1 >= n {
                before += ties[pos - before - 1];
            } else {
                let left = x[pos] - x[pos - before - 1];
                let right = x[pos + after + 1] - x[pos];
                let tolerance = left.max(right) * SQRT_EPSILON;
                if left - right > tolerance {
                    after += ties[pos + after + 1];
                } else if right - left > tolerance {
                    before += ties[pos - before - 1];
                } else {
                    after += ties[pos + after + 1];
                    before += ties[pos - before - 1];
                }
            }
        }
        let j = (before + after) as f64;
        for (col, out) in columns.iter().zip(residuals.iter_mut()) {
            let sum: f64 = (pos - before..=pos + after)
                .filter(|&i| i != pos)
                .map(|i| col[i])
                .sum();
            out[pos] = (j / (j + 1.0)).sqrt() * (col[pos] - sum / j);
        }
    }
    residuals
}

/// For sorted `x`: the size of each row's tie group and the row's 1-based place in it.
fn tie_groups(x: &[f64]) -> (Vec<usize>, Vec<usize>) {
    let n = x.len();
    let (mut size, mut rank) = (vec![0; n], vec![0; n]);
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && x[end] == x[start] {
            end += 1;
        }
        for i in start..end {
            size[i] = end - start;
            rank[i] = i - start + 1;
        }
        start = end;
    }
    (size, rank)
}

/// The bandwidth selection's data: on the scale of the running variable's and the
/// outcome's standard deviations, as rdbwselect works.
struct Selection<'a> {
    x: &'a [f64],
    y: &'a [f64],
    treatment: Option<&'a [f64]>,
    clusters: Option<&'a [u32]>,
    split: usize,
    cutoff: f64,
    options: &'a Options,
    mass_points: bool,
}

/// One side of the standardised data, with its pilot fits' settings.
struct Pilot<'a> {
    side: Side<'a>,
    cutoff: f64,
    kernel: Kernel,
    variance: Variance,
}

/// A pilot's variance, bias and regularisation terms (rdbwselect's `V`, `B`, `R`).
#[derive(Clone, Copy)]
struct Terms {
    v: f64,
    b: f64,
    r: f64,
}

impl Selection<'_> {
    /// rdbwselect's `mserd`: the common bandwidth minimising the MSE of the jump (h),
    /// and the bias-correction bandwidth (b), in the running variable's units.
    fn mserd(&self) -> Result<(f64, f64), RddError> {
        let options = self.options;
        let (p, q) = (options.order, options.order + 1);
        let x_sd = sd(self.x);
        let y_sd = sd(self.y);
        let spread = quantile_type2(self.x, 0.75) - quantile_type2(self.x, 0.25);
        let pilot_scale = (spread / x_sd / 1.349).min(1.0);
        let xs: Vec<f64> = self.x.iter().map(|v| v / x_sd).collect();
        let ys: Vec<f64> = self.y.iter().map(|v| v / y_sd).collect();
        let c = self.cutoff / x_sd;
        let split = self.split;
        let n = self.x.len();
        let side = |range: std::ops::Range<usize>| Pilot {
            side: Side {
                x: &xs[range.clone()],
                columns: std::iter::once(&ys[range.clone()])
                    .chain(self.treatment.map(|t| &t[range.clone()]))
                    .collect(),
                clusters: self.clusters.map(|g| &g[range.clone()]),
            },
            cutoff: c,
            kernel: options.kernel,
            variance: options.variance,
        };
        let (left, right) = (side(0..split), side(split..n));
        let range_left = (c - xs[0]).abs();
        let range_right = (c - xs[n - 1]).abs();
        let widest = range_left.max(range_right);
        let (distinct_left, distinct_right) = (left.side.distinct(), right.side.distinct());
        let count = if options.adjust_mass_points {
            distinct_left + distinct_right
        } else {
            n
        };
        // With mass points (adjusted), the pilot and d bandwidths reach at least the
        // tenth distinct value from the cutoff each side (rdrobust's `bwcheck = 10`).
        let floor = (options.adjust_mass_points && self.mass_points).then(|| {
            let nth = |mut values: Vec<f64>| {
                values.sort_by(f64::total_cmp);
                values.dedup();
                values[10.min(values.len()) - 1] * (1.0 + SQRT_EPSILON)
            };
            let left_distances = left.side.x.iter().map(|v| (v - c).abs()).collect();
            let right_distances = right.side.x.iter().map(|v| (v - c).abs()).collect();
            nth(left_distances).max(nth(right_distances))
        });
        // NaN (a pilot without variation) must survive the bounds: it is the error below.
        let at_least = |v: f64| floor.map_or(v, |f| if v.is_nan() { v } else { v.max(f) });
        let at_most = |v: f64| if v.is_nan() { v } else { v.min(widest) };
        let c_bw = at_least(
            (options.kernel.pilot_constant() * pilot_scale * (count as f64).powf(-0.2)).min(widest),
        );

        let both = |o, nu, o_b, h_b: (f64, f64), scale| -> Result<(Terms, Terms), RddError> {
            Ok((
                left.terms(o, nu, o_b, c_bw, h_b.0, scale)?,
                right.terms(o, nu, o_b, c_bw, h_b.1, scale)?,
            ))
        };
        let whole = (
            range_left * (1.0 + SQRT_EPSILON),
            range_right * (1.0 + SQRT_EPSILON),
        );
        let (dl, dr) = both(q + 1, q + 1, q + 2, whole, 0.0)?;
        let d = at_least(at_most(optimal(dl, dr, 0.0, 2 * q + 5)));
        let (bl, br) = both(q, p + 1, q + 1, (d, d), 1.0)?;
        let b = at_most(optimal(bl, br, 1.0, 2 * q + 3));
        let (hl, hr) = both(p, 0, q, (b, b), 1.0)?;
        let h = at_most(optimal(hl, hr, 1.0, 2 * p + 3));
        if !(h.is_finite() && h > 0.0 && b.is_finite() && b > 0.0) {
            return Err(RddError::BandwidthUnidentified);
        }
        Ok((h * x_sd, b * x_sd))
    }
}

/// `((V_l + V_r) / ((B_r − B_l)² + scale·(R_l + R_r)))^(1/exponent)`.
fn optimal(left: Terms, right: Terms, scale: f64, exponent: usize) -> f64 {
    let bias = right.b - left.b;
    ((left.v + right.v) / (bias * bias + scale * (left.r + right.r))).powf(1.0 / exponent as f64)
}

impl Pilot<'_> {
    /// rdrobust's `rdrobust_bw`: the variance of the `nu`-th coefficient of an order-`o`
    /// fit at `h_v`, and the bias from the order-`o_b` fit at `h_b`, its own variance
    /// as the regularisation when `scale` is positive.
    fn terms(
        &self,
        o: usize,
        nu: usize,
        o_b: usize,
        h_v: f64,
        h_b: f64,
        scale: f64,
    ) -> Result<Terms, RddError> {
        let unidentified = Err(RddError::BandwidthUnidentified);
        let Some(v_fit) = self.window_fit(o, h_v) else {
            return unidentified;
        };
        let factorial = (1..=nu).product::<usize>() as f64;
        let selector: Vec<f64> = match v_fit.fit.beta.as_slice() {
            [_] => vec![1.0],
            [y, t] => {
                let (tau_y, tau_t) = (factorial * y[nu], factorial * t[nu]);
                vec![1.0 / tau_t, -tau_y / (tau_t * tau_t)]
            }
            _ => unreachable!("an outcome and at most a treatment"),
        };
        let v_v = v_fit.variance(self, &selector, nu);
        let mut v = vec![0.0; o + 1];
        for i in 0..v_fit.u.len() {
            let scaled = (v_fit.u[i] / h_v).powi(o as i32 + 1);
            for (j, vj) in v.iter_mut().enumerate() {
                *vj += v_fit.w[i] * v_fit.u[i].powi(j as i32) * scaled;
            }
        }
        let b_const = h_v.powi(nu as i32) * mat_vec(&v_fit.fit.inv_g, &v)[nu];
        if !(h_b.is_finite() && h_b > 0.0) {
            return unidentified;
        }
        let Some(b_fit) = self.window_fit(o_b, h_b) else {
            return unidentified;
        };
        let regularisation = if scale > 0.0 {
            3.0 * b_const * b_const * b_fit.variance(self, &selector, o_b)
        } else {
            0.0
        };
        let slope: f64 = b_fit
            .fit
            .beta
            .iter()
            .zip(&selector)
            .map(|(beta, s)| beta[o_b] * s)
            .sum();
        let twice = 2.0 * (o + 1 - nu) as f64;
        Ok(Terms {
            v: (2 * nu + 1) as f64 * h_v.powi(2 * nu as i32 + 1) * v_v,
            b: twice.sqrt() * b_const * slope,
            r: scale * twice * regularisation,
        })
    }

    /// The order-`order` fit on the rows of positive weight at `h`; `None` when they
    /// have too few distinct values.
    fn window_fit(&self, order: usize, h: f64) -> Option<WindowFit> {
        let rows: Vec<usize> = (0..self.side.x.len())
            .filter(|&i| self.kernel.weight(self.side.x[i] - self.cutoff, h) > 0.0)
            .collect();
        let xs: Vec<f64> = rows.iter().map(|&i| self.side.x[i]).collect();
        if distinct_count(&xs) < order + 1 {
            return None;
        }
        let u: Vec<f64> = xs.iter().map(|x| x - self.cutoff).collect();
        let w: Vec<f64> = u.iter().map(|d| self.kernel.weight(*d, h)).collect();
        let columns: Vec<Vec<f64>> = self
            .side
            .columns
            .iter()
            .map(|col| rows.iter().map(|&i| col[i]).collect())
            .collect();
        let fit = LocalFit::new(&u, &w, &columns, order)?;
        let clusters = self
            .side
            .clusters
            .map(|g| rows.iter().map(|&i| g[i]).collect());
        Some(WindowFit {
            xs,
            u,
            w,
            columns,
            fit,
            clusters,
        })
    }
}

struct WindowFit {
    xs: Vec<f64>,
    u: Vec<f64>,
    w: Vec<f64>,
    columns: Vec<Vec<f64>>,
    fit: LocalFit,
    clusters: Option<Vec<u32>>,
}

impl WindowFit {
    /// `(G⁻¹ Ω G⁻¹)[a, a]` of this fit for the columns combined by `selector`.
    fn variance(&self, pilot: &Pilot, selector: &[f64], a: usize) -> f64 {
        let residuals = match pilot.variance {
            Variance::NearestNeighbours(k) => {
                nearest_neighbour_residuals(&self.xs, &self.columns, k)
            }
            Variance::Cluster => self.fit.residuals(&self.u, &self.columns),
        };
        let combined: Vec<f64> = (0..self.u.len())
            .map(|i| residuals.iter().zip(selector).map(|(r, s)| r[i] * s).sum())
            .collect();
        let scores: Vec<Vec<f64>> = (0..self.u.len())
            .map(|i| {
                powers(self.u[i], self.fit.order)
                    .iter()
                    .map(|r| r * self.w[i])
                    .collect()
            })
            .collect();
        sandwich(
            &scores,
            &row_of(&self.fit.inv_g, a),
            &combined,
            self.clusters.as_deref(),
            self.fit.order + 1,
        )
    }
}

fn powers(u: f64, order: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(order + 1);
    let mut power = 1.0;
    for _ in 0..=order {
        out.push(power);
        power *= u;
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn row_of(m: &Mat<f64>, row: usize) -> Vec<f64> {
    (0..m.ncols()).map(|j| m[(row, j)]).collect()
}

fn mat_vec(m: &Mat<f64>, v: &[f64]) -> Vec<f64> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)] * v[j]).sum())
        .collect()
}

fn sorted_order(x: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    order
}

fn distinct_count(sorted: &[f64]) -> usize {
    sorted.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!sorted.is_empty())
}

fn distinct_codes(codes: &[u32]) -> usize {
    let mut seen: Vec<u32> = codes.to_vec();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The population variance (rdrobust's `np.var`).
fn variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64
}

/// The sample standard deviation (n − 1).
fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
}

/// R's type-2 quantile of sorted values: the average of the two middle order
/// statistics when `n·prob` is whole.
fn quantile_type2(sorted: &[f64], prob: f64) -> f64 {
    let g = sorted.len() as f64 * prob;
    let j = g.floor() as usize;
    if g == j as f64 {
        (sorted[j - 1] + sorted[j]) / 2.0
    } else {
        sorted[j]
    }
}

/// What a regression discontinuity plot shows: the outcome's mean in evenly spaced bins
/// each side of the cutoff, and a global polynomial fitted to the rows of each side.
#[derive(Clone, Debug, PartialEq)]
pub struct BinnedPlot {
    /// Each non-empty bin's mean running value and mean outcome, below then above.
    pub bins: Vec<(f64, f64)>,
    /// Points along each side's fitted polynomial (`false` below, `true` above).
    pub fits: Vec<(bool, f64, f64)>,
}

/// Points drawn along each fitted polynomial.
const CURVE_POINTS: usize = 60;

/// rdplot's picture with its bins chosen more simply: `bins` evenly spaced bins a side
/// and an order-`order` polynomial a side (rdplot's default order is 4). `None` when a
/// side has fewer distinct values than the polynomial has coefficients.
pub fn binned_plot(
    x: &[f64],
    y: &[f64],
    cutoff: f64,
    bins: usize,
    order: usize,
) -> Option<BinnedPlot> {
    type Points = Vec<(f64, f64)>;
    let (mut below, mut above): (Points, Points) = x
        .iter()
        .zip(y)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .partition(|(x, _)| *x < cutoff);
    below.sort_by(|a, b| a.0.total_cmp(&b.0));
    above.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut plot = BinnedPlot {
        bins: Vec::new(),
        fits: Vec::new(),
    };
    for (side, is_above) in [(&below, false), (&above, true)] {
        let xs: Vec<f64> = side.iter().map(|p| p.0).collect();
        if distinct_count(&xs) < order + 1 {
            return None;
        }
        let (low, high) = (xs[0].min(cutoff), xs[xs.len() - 1].max(cutoff));
        let width = (high - low) / bins as f64;
        let mut sums = vec![(0.0, 0.0, 0usize); bins];
        for (x, y) in side.iter() {
            let k = (((x - low) / width) as usize).min(bins - 1);
            sums[k].0 += x;
            sums[k].1 += y;
            sums[k].2 += 1;
        }
        plot.bins.extend(
            sums.iter()
                .filter(|s| s.2 > 0)
                .map(|s| (s.0 / s.2 as f64, s.1 / s.2 as f64)),
        );
        // The powers of (x − c) scaled by the side's reach, so a quartic stays well
        // conditioned whatever the running variable's units.
        let reach = (high - low).max(f64::MIN_POSITIVE);
        let u: Vec<f64> = xs.iter().map(|x| (x - cutoff) / reach).collect();
        let ones = vec![1.0; u.len()];
        let outcome = vec![side.iter().map(|p| p.1).collect::<Vec<f64>>()];
        let fit = LocalFit::new(&u, &ones, &outcome, order)?;
        plot.fits.extend((0..=CURVE_POINTS).map(|i| {
            let x = low + (high - low) * i as f64 / CURVE_POINTS as f64;
            let value = dot(&powers((x - cutoff) / reach, order), &fit.beta[0]);
            (is_above, x, value)
        }));
    }
    Some(plot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_neighbours_take_whole_tie_groups() {
        // Row 0's nearest others: the tie at 1.0 (two rows) then 2.0: J = 3.
        let x = [0.0, 1.0, 1.0, 2.0, 5.0];
        let y = vec![vec![1.0, 2.0, 4.0, 6.0, 10.0]];
        let r = nearest_neighbour_residuals(&x, &y, 3);
        let expected = (3.0f64 / 4.0).sqrt() * (1.0 - (2.0 + 4.0 + 6.0) / 3.0);
        assert!((r[0][0] - expected).abs() < 1e-12);
        // Row 1 (tied with row 2): its tie partner, then 0.0 and 2.0 at equal distance.
        let expected = (3.0f64 / 4.0).sqrt() * (2.0 - (4.0 + 1.0 + 6.0) / 3.0);
        assert!((r[0][1] - expected).abs() < 1e-12);
    }

    #[test]
    fn a_binned_plot_recovers_a_jump_of_straight_lines() {
        let x: Vec<f64> = (0..200).map(|i| -1.0 + i as f64 / 100.0).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|x| 2.0 * x + if *x >= 0.0 { 1.0 } else { 0.0 })
            .collect();
        let plot = binned_plot(&x, &y, 0.0, 10, 1).expect("two sides with many values");
        assert_eq!(plot.bins.len(), 20);
        // Each bin's point lies on its line: mean of y is 2·(mean of x) (+1 above).
        for (mx, my) in &plot.bins {
            let line = 2.0 * mx + if *mx >= 0.0 { 1.0 } else { 0.0 };
            assert!((my - line).abs() < 1e-9, "{mx} {my}");
        }
        let at_cutoff: Vec<f64> = plot
            .fits
            .iter()
            .filter(|f| f.1 == 0.0)
            .map(|f| f.2)
            .collect();
        assert!((at_cutoff[0] - 0.0).abs() < 1e-9 && (at_cutoff[1] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn type_two_quantiles_average_at_whole_positions() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_type2(&v, 0.5), 2.5);
        assert_eq!(quantile_type2(&v, 0.3), 2.0);
    }

    #[test]
    fn a_cutoff_outside_the_data_is_refused() {
        let x = [1.0, 2.0, 3.0];
        let data = Data {
            x: &x,
            y: &x,
            treatment: None,
            clusters: None,
        };
        let options = Options {
            cutoff: 3.0,
            order: 1,
            kernel: Kernel::Triangular,
            h: None,
            b: None,
            variance: Variance::NearestNeighbours(3),
            adjust_mass_points: true,
        };
        assert_eq!(
            estimate(&data, &options),
            Err(RddError::CutoffOutside {
                low: 1.0,
                high: 3.0
            })
        );
    }
}
