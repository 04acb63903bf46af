//! Linear mixed models by maximum likelihood or REML, as lme4's `lmer` (Bates, Mächler,
//! Bolker and Walker 2015, section 3). The random effects are `b = Λθ u` with
//! `u ~ N(0, σ²I)`; for each θ the penalised least-squares problem is solved and σ² and
//! β profiled out, so the optimiser searches θ alone (the relative covariance factors'
//! lower triangles).
//!
//! An evaluation works on cross-products taken once, never on the rows. The largest
//! grouping's part of `Λ'Z'ZΛ + I` is block-diagonal, a small block per level however
//! many levels there are; the other groupings' effects (nested or crossed) take a dense
//! Schur complement, so they should number a few thousand at most.

use std::collections::HashMap;

use faer::{Mat, Side};

use crate::optimise;

/// One random-effects term `(columns | grouping)`.
pub struct RandomTerm<'a> {
    /// Each row's level of the grouping.
    pub groups: &'a [u32],
    pub levels: usize,
    /// The term's columns (the intercept a column of ones): each level has a random
    /// coefficient on each.
    pub columns: Vec<&'a [f64]>,
}

impl RandomTerm<'_> {
    fn width(&self) -> usize {
        self.columns.len()
    }
}

/// A linear mixed model's data: the outcome, the fixed effects' columns (of full rank)
/// and the random-effects terms.
pub struct Problem<'a> {
    pub y: &'a [f64],
    pub x: &'a [&'a [f64]],
    pub terms: &'a [RandomTerm<'a>],
    /// REML (lme4's default) or maximum likelihood.
    pub reml: bool,
}

#[derive(Clone, Debug)]
/// A mixed model's fit: a linear one's here, a logit's, probit's or Poisson's from
/// [`crate::glmm`].
pub struct Fit {
    pub beta: Vec<f64>,
    /// The covariance of `beta`: σ² (X'V⁻¹X)⁻¹ in σ²'s units for a linear model; the
    /// inverse of half the Laplace criterion's Hessian for the others.
    pub vcov: Vec<Vec<f64>>,
    /// The residual standard deviation of a linear model; `None` for the others.
    pub sigma: Option<f64>,
    /// The relative covariance factors' lower triangles, term after term, by column.
    pub theta: Vec<f64>,
    /// Each term's covariance of its random coefficients (σ² T T').
    pub covariances: Vec<Vec<Vec<f64>>>,
    /// Each term's conditional modes of the random effects, by level.
    pub modes: Vec<Vec<Vec<f64>>>,
    /// The conditional variances of those modes given the data and the estimates (lme4's
    /// `condVar`), in the same order.
    pub mode_variances: Vec<Vec<Vec<f64>>>,
    /// The deviance (ML) or the REML criterion at the optimum, as lme4's `deviance`
    /// and "REML criterion at convergence".
    pub criterion: f64,
    pub evaluations: usize,
    pub converged: bool,
    /// A variance at zero or a correlation at ±1: θ on its boundary (lme4's
    /// `isSingular`, tolerance 1e-4).
    pub singular: bool,
    /// A GLMM's standard errors are from R_X, its Hessian not being positive definite.
    pub hessian_failed: bool,
}

#[derive(Debug, PartialEq)]
pub enum Failure {
    /// The outcome is fitted exactly: no residual variance.
    PerfectFit,
    /// The dense part for the smaller groupings would be too large.
    TooManyEffects(usize),
    /// The criterion could not be evaluated at the start.
    NotFinite,
}

/// The most random effects outside the largest grouping (a dense matrix of their
/// square, 200 MB at the limit).
pub const MAX_DENSE_EFFECTS: usize = 5000;

/// lme4's tolerance for a singular fit: a diagonal element of θ below it.
pub const SINGULAR_TOLERANCE: f64 = 1e-4;

pub fn fit(problem: &Problem) -> Result<Fit, Failure> {
    let cross = Crossproducts::new(problem)?;
    let layout = ThetaLayout::new(problem.terms);
    let objective = |theta: &[f64]| cross.criterion(&layout, theta, problem.reml);
    let start = layout.start();
    if !objective(&start).is_finite() {
        return Err(Failure::NotFinite);
    }
    // A factor's columns may change sign without changing the covariance, so the
    // search is free; each column's sign is then made that of a positive diagonal,
    // and diagonals that make no difference are set to zero, as lme4 reports them.
    let mut optimum = optimise::minimise(&objective, &start);
    // With correlated effects the criterion can have several basins, the correlations'
    // mirror images among them (with few groups, one at +1 and one at −1); where the
    // fit ends on a boundary, the search starts again from each of them.
    if layout.widths.iter().any(|&w| w > 1) && layout.on_boundary(&optimum.x) {
        let mut starts = vec![layout.mirrored(&optimum.x)];
        for (scale, correlation) in [(1.0, 1.0), (1.0, -1.0), (0.3, 1.0), (0.3, -1.0)] {
            starts.push(layout.start_with(scale, correlation));
        }
        for from in starts {
            let other = optimise::minimise(&objective, &from);
            let evaluations = optimum.evaluations + other.evaluations;
            if other.value < optimum.value {
                optimum = other;
            }
            optimum.evaluations = evaluations;
        }
    }
    layout.canonical(&mut optimum.x);
    snap_to_zero(&objective, &layout, &mut optimum);
    let factor = cross
        .factor(&layout, &optimum.x)
        .ok_or(Failure::NotFinite)?;
    let solution = factor.solve(&cross, problem.reml)?;
    let singular = layout.diagonal().any(|i| optimum.x[i] < SINGULAR_TOLERANCE)
        || layout.correlation_at_boundary(&optimum.x);
    let (modes, _) = cross.modes(&layout, &optimum.x, &factor, &solution.beta);
    let mode_variances = cross.mode_variances(
        &layout,
        &optimum.x,
        &factor,
        solution.sigma * solution.sigma,
    );
    let sigma2 = solution.sigma * solution.sigma;
    let covariances = (0..problem.terms.len())
        .map(|k| {
            let t = layout.factor(k, &optimum.x);
            let w = layout.widths[k];
            (0..w)
                .map(|a| {
                    (0..w)
                        .map(|b| sigma2 * (0..w).map(|c| t[a * w + c] * t[b * w + c]).sum::<f64>())
                        .collect()
                })
                .collect()
        })
        .collect();
    Ok(Fit {
        beta: solution.beta,
        vcov: solution.vcov,
        sigma: Some(solution.sigma),
        covariances,
        modes,
        mode_variances,
        criterion: optimum.value,
        evaluations: optimum.evaluations,
        converged: optimum.converged,
        singular,
        theta: optimum.x,
        hessian_failed: false,
    })
}

/// Diagonal elements of θ within the singular tolerance are set to zero where that
/// does not raise the criterion (beyond rounding): the boundary lme4's bounded
/// optimiser reaches exactly.
pub(crate) fn snap_to_zero(
    objective: &dyn Fn(&[f64]) -> f64,
    layout: &ThetaLayout,
    optimum: &mut optimise::Optimum,
) {
    for i in layout.diagonal().collect::<Vec<_>>() {
        if optimum.x[i] != 0.0 && optimum.x[i].abs() < SINGULAR_TOLERANCE {
            let mut trial = optimum.x.clone();
            trial[i] = 0.0;
            let value = objective(&trial);
            if value <= optimum.value + 1e-10 * optimum.value.abs().max(1.0) {
                optimum.x = trial;
                optimum.value = value;
            }
        }
    }
}

/// Each row's random part `Z b`, from the conditional modes.
pub fn random_part(terms: &[RandomTerm], modes: &[Vec<Vec<f64>>], out: &mut [f64]) {
    for (term, modes) in terms.iter().zip(modes) {
        for (i, value) in out.iter_mut().enumerate() {
            let b = &modes[term.groups[i] as usize];
            *value += term
                .columns
                .iter()
                .zip(b)
                .map(|(z, b)| z[i] * b)
                .sum::<f64>();
        }
    }
}

/// The term's columns whose random coefficients the fixed effects already span: every
/// group's copy of the column (its values on the group's rows, zero elsewhere) is a
/// combination of X's columns — as when the grouping is also a fixed factor — so the
/// criterion does not depend on their variance and any estimate of it is arbitrary.
/// X must have full column rank.
pub fn spanned_by_fixed(x: &[&[f64]], term: &RandomTerm) -> Vec<usize> {
    let p = x.len();
    if p == 0 {
        return Vec::new();
    }
    let xtx = Mat::<f64>::from_fn(p, p, |a, b| x[a].iter().zip(x[b]).map(|(u, v)| u * v).sum());
    let Ok(llt) = xtx.llt(Side::Lower) else {
        return Vec::new();
    };
    let levels = term.levels;
    (0..term.width())
        .filter(|&c| {
            let z = term.columns[c];
            // X'Z and the diagonal Z'Z: each row adds to its group's column only.
            let mut xtz = Mat::<f64>::zeros(p, levels);
            let mut ztz = vec![0.0; levels];
            for (i, &g) in term.groups.iter().enumerate() {
                let g = g as usize;
                ztz[g] += z[i] * z[i];
                for (a, column) in x.iter().enumerate() {
                    xtz[(a, g)] += column[i] * z[i];
                }
            }
            let coefficients = faer::linalg::solvers::Solve::solve(&llt, &xtz);
            (0..levels).all(|g| {
                let explained: f64 = (0..p).map(|a| xtz[(a, g)] * coefficients[(a, g)]).sum();
                ztz[g] - explained <= SPANNED_TOLERANCE * ztz[g]
            })
        })
        .collect()
}

/// The share of a group's column that X may leave unexplained for the column to count as
/// spanned: a relative sum of squares, loose enough for the rounding of X'X's solve.
const SPANNED_TOLERANCE: f64 = 1e-9;

/// Where each term's factor sits in θ: its lower triangle by column, as lme4.
pub(crate) struct ThetaLayout {
    pub(crate) widths: Vec<usize>,
    starts: Vec<usize>,
    pub(crate) length: usize,
}

impl ThetaLayout {
    pub(crate) fn new(terms: &[RandomTerm]) -> Self {
        let widths: Vec<usize> = terms.iter().map(RandomTerm::width).collect();
        let mut starts = Vec::new();
        let mut length = 0;
        for w in &widths {
            starts.push(length);
            length += w * (w + 1) / 2;
        }
        ThetaLayout {
            widths,
            starts,
            length,
        }
    }

    /// The positions of (row, column) in term `k`'s triangle, in θ's order.
    fn entries(&self, k: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let w = self.widths[k];
        let start = self.starts[k];
        (0..w)
            .flat_map(move |c| (c..w).map(move |r| (r, c)))
            .enumerate()
            .map(move |(i, (r, c))| (start + i, r, c))
    }

    /// θ's diagonal positions: bounded below by zero.
    pub(crate) fn diagonal(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.widths.len()).flat_map(move |k| {
            self.entries(k)
                .filter(|(_, r, c)| r == c)
                .map(|(i, _, _)| i)
        })
    }

    /// lme4's start: identity factors.
    pub(crate) fn start(&self) -> Vec<f64> {
        let mut theta = vec![0.0; self.length];
        for i in self.diagonal().collect::<Vec<_>>() {
            theta[i] = 1.0;
        }
        theta
    }

    /// Whether θ is on the boundary: a diagonal element (near) zero.
    fn on_boundary(&self, theta: &[f64]) -> bool {
        self.diagonal().any(|i| theta[i].abs() < SINGULAR_TOLERANCE)
    }

    /// A start: each factor's diagonal `scale` and the elements below it `scale ×
    /// correlation`.
    fn start_with(&self, scale: f64, correlation: f64) -> Vec<f64> {
        let mut theta = vec![0.0; self.length];
        for k in 0..self.widths.len() {
            for (i, r, c) in self.entries(k) {
                theta[i] = if r == c { scale } else { scale * correlation };
            }
        }
        theta
    }

    /// θ with the off-diagonal elements negated: the correlations' signs flipped.
    fn mirrored(&self, theta: &[f64]) -> Vec<f64> {
        let mut mirrored = theta.to_vec();
        for k in 0..self.widths.len() {
            for (i, r, c) in self.entries(k) {
                if r != c {
                    mirrored[i] = -mirrored[i];
                }
            }
        }
        mirrored
    }

    /// Each factor's columns signed so that their diagonal is positive (the same
    /// covariance): lme4's θ.
    pub(crate) fn canonical(&self, theta: &mut [f64]) {
        for k in 0..self.widths.len() {
            let entries: Vec<(usize, usize, usize)> = self.entries(k).collect();
            for &(i, r, c) in &entries {
                if r == c && theta[i] < 0.0 {
                    for &(j, _, c2) in &entries {
                        if c2 == c {
                            theta[j] = -theta[j];
                        }
                    }
                }
            }
        }
    }

    /// Term `k`'s lower-triangular factor T, row-major.
    pub(crate) fn factor(&self, k: usize, theta: &[f64]) -> Vec<f64> {
        let w = self.widths[k];
        let mut t = vec![0.0; w * w];
        for (i, r, c) in self.entries(k) {
            t[r * w + c] = theta[i];
        }
        t
    }

    /// A correlation at ±1: a row of a factor whose last element is (near) zero while
    /// the others are not is rank-deficient, as lme4 counts a boundary fit.
    pub(crate) fn correlation_at_boundary(&self, theta: &[f64]) -> bool {
        (0..self.widths.len()).any(|k| {
            let w = self.widths[k];
            let t = self.factor(k, theta);
            (1..w).any(|r| {
                t[r * w + r].abs() < SINGULAR_TOLERANCE * row_norm(&t[r * w..r * w + r + 1])
            })
        })
    }
}

fn row_norm(row: &[f64]) -> f64 {
    row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0)
}

/// The rest of the terms (all but the largest): where each term's effects start among
/// the dense columns.
struct DenseTerm {
    term: usize,
    width: usize,
    start: usize,
}

/// Cross-products of `[Z X y]` taken once; `xy` stands for `[X y]` (p + 1 columns).
pub(crate) struct Crossproducts {
    n: usize,
    p: usize,
    /// `[X y]'[X y]`, (p+1)², row-major.
    xy_xy: Vec<f64>,
    /// The term whose part is block-diagonal.
    big: usize,
    big_width: usize,
    big_levels: usize,
    /// Each level's `Z'Z` block (width²) and `Z'[X y]` block (width × (p+1)).
    big_zz: Vec<f64>,
    big_zxy: Vec<f64>,
    dense: Vec<DenseTerm>,
    q_dense: usize,
    /// The dense effects' `Z'Z` (q²) and `Z'[X y]` (q × (p+1)).
    dense_zz: Vec<f64>,
    dense_zxy: Vec<f64>,
    /// When the dense effects are one term whose groups each big group lies within
    /// (a grouping nested in the big one's), their block of L is block-diagonal: the
    /// width of its blocks, factored one by one.
    block_width: Option<usize>,
    /// For each level of the big term, the dense blocks its rows meet: (the block's
    /// first column, its width, where its big_width × width values start in `cross`).
    meets: Vec<Vec<(usize, usize, usize)>>,
    cross: Vec<f64>,
}

impl Crossproducts {
    pub(crate) fn new(problem: &Problem) -> Result<Self, Failure> {
        let (n, p) = (problem.y.len(), problem.x.len());
        let terms = problem.terms;
        let big = (0..terms.len())
            .max_by_key(|&k| (terms[k].levels * terms[k].width(), usize::MAX - k))
            .unwrap_or(0);
        let mut dense = Vec::new();
        let mut q_dense = 0;
        for (k, term) in terms.iter().enumerate() {
            if k != big {
                dense.push(DenseTerm {
                    term: k,
                    width: term.width(),
                    start: q_dense,
                });
                q_dense += term.levels * term.width();
            }
        }
        if q_dense > MAX_DENSE_EFFECTS {
            return Err(Failure::TooManyEffects(q_dense));
        }
        let big_term = &terms[big];
        let (bw, m) = (big_term.width(), big_term.levels);
        let xy = |i: usize, a: usize| if a < p { problem.x[a][i] } else { problem.y[i] };
        let mut c = Crossproducts {
            n,
            p,
            xy_xy: vec![0.0; (p + 1) * (p + 1)],
            big,
            big_width: bw,
            big_levels: m,
            big_zz: vec![0.0; m * bw * bw],
            big_zxy: vec![0.0; m * bw * (p + 1)],
            dense,
            q_dense,
            dense_zz: vec![0.0; q_dense * q_dense],
            dense_zxy: vec![0.0; q_dense * (p + 1)],
            meets: vec![Vec::new(); m],
            cross: Vec::new(),
            block_width: None,
        };
        let mut block_of: HashMap<(u32, usize), usize> = HashMap::new();
        let mut row_xy = vec![0.0; p + 1];
        let mut row_big = vec![0.0; bw];
        let mut row_dense: Vec<(usize, f64)> = Vec::new();
        for i in 0..n {
            for a in 0..=p {
                row_xy[a] = xy(i, a);
            }
            for a in 0..=p {
                for b in 0..=p {
                    c.xy_xy[a * (p + 1) + b] += row_xy[a] * row_xy[b];
                }
            }
            let j = big_term.groups[i] as usize;
            for (a, z) in big_term.columns.iter().enumerate() {
                row_big[a] = z[i];
            }
            for a in 0..bw {
                for b in 0..bw {
                    c.big_zz[(j * bw + a) * bw + b] += row_big[a] * row_big[b];
                }
                for b in 0..=p {
                    c.big_zxy[(j * bw + a) * (p + 1) + b] += row_big[a] * row_xy[b];
                }
            }
            row_dense.clear();
            for d in &c.dense {
                let term = &terms[d.term];
                let first = d.start + term.groups[i] as usize * d.width;
                for (a, z) in term.columns.iter().enumerate() {
                    row_dense.push((first + a, z[i]));
                }
                let at = *block_of.entry((j as u32, first)).or_insert_with(|| {
                    let at = c.cross.len();
                    c.cross.resize(at + bw * d.width, 0.0);
                    c.meets[j].push((first, d.width, at));
                    at
                });
                for a in 0..bw {
                    for (b, z) in term.columns.iter().enumerate() {
                        c.cross[at + a * d.width + b] += row_big[a] * z[i];
                    }
                }
            }
            for &(a, za) in &row_dense {
                for &(b, zb) in &row_dense {
                    c.dense_zz[a * q_dense + b] += za * zb;
                }
                for b in 0..=p {
                    c.dense_zxy[a * (p + 1) + b] += za * row_xy[b];
                }
            }
        }
        if let [only] = c.dense.as_slice()
            && c.meets.iter().all(|m| m.len() <= 1)
        {
            c.block_width = Some(only.width);
        }
        Ok(c)
    }

    /// The profiled deviance or REML criterion at θ; infinite where it cannot be
    /// evaluated.
    fn criterion(&self, layout: &ThetaLayout, theta: &[f64], reml: bool) -> f64 {
        let Some(factor) = self.factor(layout, theta) else {
            return f64::INFINITY;
        };
        let (n, p) = (self.n as f64, self.p as f64);
        let Some((log_det_rx, r2)) = factor.schur(self.p) else {
            return f64::INFINITY;
        };
        if r2 <= 0.0 {
            return f64::INFINITY;
        }
        let two_pi = 2.0 * std::f64::consts::PI;
        if reml {
            factor.log_det + log_det_rx + (n - p) * (1.0 + (two_pi * r2 / (n - p)).ln())
        } else {
            factor.log_det + n * (1.0 + (two_pi * r2 / n).ln())
        }
    }

    /// `L` and the forward solves at θ.
    pub(crate) fn factor(&self, layout: &ThetaLayout, theta: &[f64]) -> Option<Factor> {
        let (bw, p1) = (self.big_width, self.p + 1);
        let t_big = layout.factor(self.big, theta);
        let t_dense: Vec<Vec<f64>> = self
            .dense
            .iter()
            .map(|d| layout.factor(d.term, theta))
            .collect();
        let mut log_det = 0.0;
        let mut big_l = vec![0.0; self.big_levels * bw * bw];
        let mut big_c = vec![0.0; self.big_levels * bw * p1];
        let mut w = vec![0.0; self.cross.len()];
        for j in 0..self.big_levels {
            let l = &mut big_l[j * bw * bw..(j + 1) * bw * bw];
            l.copy_from_slice(&t_a_t(
                &t_big,
                &self.big_zz[j * bw * bw..(j + 1) * bw * bw],
                bw,
            ));
            for a in 0..bw {
                l[a * bw + a] += 1.0;
            }
            log_det += cholesky(l, bw)?;
            let cj = &mut big_c[j * bw * p1..(j + 1) * bw * p1];
            cj.copy_from_slice(&t_transpose_times(
                &t_big,
                bw,
                &self.big_zxy[j * bw * p1..(j + 1) * bw * p1],
                p1,
            ));
            forward(l, bw, cj, p1);
            for &(first, width, at) in &self.meets[j] {
                let t_other = &t_dense[self.dense_term_of(first)];
                // T_big' M T_other, then L_j⁻¹ of it.
                let m = &self.cross[at..at + bw * width];
                let mut s = t_transpose_times(&t_big, bw, m, width);
                s = times_lower(&s, bw, t_other, width);
                forward(l, bw, &mut s, width);
                w[at..at + bw * width].copy_from_slice(&s);
            }
        }
        let mut factor = Factor {
            log_det,
            big_l,
            big_c,
            w,
            dense_l: Vec::new(),
            dense_c: Vec::new(),
            xy_xy: self.xy_xy.clone(),
        };
        if self.q_dense > 0 {
            self.dense_part(&mut factor, &t_dense)?;
        }
        // [X y]'[X y] less what the random effects take.
        for j in 0..self.big_levels {
            let cj = &factor.big_c[j * bw * p1..(j + 1) * bw * p1];
            subtract_crossproduct(&mut factor.xy_xy, cj, bw, p1);
        }
        subtract_crossproduct(&mut factor.xy_xy, &factor.dense_c, self.q_dense, p1);
        Some(factor)
    }

    /// The dense effects' block of L: `T'Z'ZT + I − W'W`, factored.
    fn dense_part(&self, factor: &mut Factor, t_dense: &[Vec<f64>]) -> Option<()> {
        let (q, p1, bw) = (self.q_dense, self.p + 1, self.big_width);
        // T'(Z'Z)T: each block of columns, then of rows, by its term's factor.
        let mut a = self.dense_zz.clone();
        let mut rhs = self.dense_zxy.clone();
        for (d, t) in self.dense.iter().zip(t_dense) {
            let levels = self.dense_levels(d);
            for level in 0..levels {
                let first = d.start + level * d.width;
                scale_columns(&mut a, q, first, t, d.width);
                scale_rows(&mut a, q, first, t, d.width);
                scale_rows(&mut rhs, p1, first, t, d.width);
            }
        }
        for i in 0..q {
            a[i * q + i] += 1.0;
        }
        for j in 0..self.big_levels {
            let cj = &factor.big_c[j * bw * p1..(j + 1) * bw * p1];
            let meets = &self.meets[j];
            for &(first_a, width_a, at_a) in meets {
                let wa = &factor.w[at_a..at_a + bw * width_a];
                for &(first_b, width_b, at_b) in meets {
                    let wb = &factor.w[at_b..at_b + bw * width_b];
                    for r in 0..width_a {
                        for s in 0..width_b {
                            let dot: f64 = (0..bw)
                                .map(|k| wa[k * width_a + r] * wb[k * width_b + s])
                                .sum();
                            a[(first_a + r) * q + first_b + s] -= dot;
                        }
                    }
                }
                for r in 0..width_a {
                    for s in 0..p1 {
                        let dot: f64 = (0..bw).map(|k| wa[k * width_a + r] * cj[k * p1 + s]).sum();
                        rhs[(first_a + r) * p1 + s] -= dot;
                    }
                }
            }
        }
        let dense_l = match self.block_width {
            Some(width) => block_cholesky(&mut a, q, width, &mut rhs, p1, &mut factor.log_det)?,
            None => {
                let matrix = Mat::<f64>::from_fn(q, q, |r, s| a[r * q + s]);
                let llt = matrix.llt(Side::Lower).ok()?;
                let l = llt.L();
                let mut dense_l = vec![0.0; q * q];
                for r in 0..q {
                    for s in 0..=r {
                        dense_l[r * q + s] = l[(r, s)];
                    }
                    factor.log_det += 2.0 * dense_l[r * q + r].ln();
                }
                forward(&dense_l, q, &mut rhs, p1);
                dense_l
            }
        };
        factor.dense_l = dense_l;
        factor.dense_c = rhs;
        Some(())
    }

    fn dense_term_of(&self, first: usize) -> usize {
        self.dense
            .iter()
            .rposition(|d| d.start <= first)
            .unwrap_or(0)
    }

    fn dense_levels(&self, d: &DenseTerm) -> usize {
        let end = self
            .dense
            .iter()
            .find(|e| e.start > d.start)
            .map_or(self.q_dense, |e| e.start);
        (end - d.start) / d.width
    }

    /// The conditional modes `b = T u` by term and level, from `L'u = c − C_X β`.
    /// The conditional variances of the modes: σ² T (L L')⁻¹ T' block by block. For a
    /// level j of the big term, (L L')⁻¹ is `L_j⁻ᵀ (I + W_j S W_j') L_j⁻¹`, S the inverse of
    /// the dense part; for the dense terms, S's diagonal blocks.
    pub(crate) fn mode_variances(
        &self,
        layout: &ThetaLayout,
        theta: &[f64],
        factor: &Factor,
        sigma2: f64,
    ) -> Vec<Vec<Vec<f64>>> {
        let (bw, q) = (self.big_width, self.q_dense);
        let s = dense_inverse(&factor.dense_l, q, self.block_width);
        let scaled_diagonal = |t: &[f64], c: &[f64], w: usize| -> Vec<f64> {
            (0..w)
                .map(|a| {
                    let mut v = 0.0;
                    for x in 0..=a {
                        for y in 0..=a {
                            v += t[a * w + x] * c[x * w + y] * t[a * w + y];
                        }
                    }
                    sigma2 * v
                })
                .collect()
        };
        let mut variances: Vec<Vec<Vec<f64>>> = vec![Vec::new(); layout.widths.len()];
        let t_big = layout.factor(self.big, theta);
        variances[self.big] = (0..self.big_levels)
            .map(|j| {
                let mut m = vec![0.0; bw * bw];
                for a in 0..bw {
                    m[a * bw + a] = 1.0;
                }
                for &(first_a, width_a, at_a) in &self.meets[j] {
                    let wa = &factor.w[at_a..at_a + bw * width_a];
                    for &(first_b, width_b, at_b) in &self.meets[j] {
                        let wb = &factor.w[at_b..at_b + bw * width_b];
                        for r in 0..bw {
                            for c in 0..bw {
                                let mut v = 0.0;
                                for x in 0..width_a {
                                    for y in 0..width_b {
                                        v += wa[r * width_a + x]
                                            * s[(first_a + x) * q + first_b + y]
                                            * wb[c * width_b + y];
                                    }
                                }
                                m[r * bw + c] += v;
                            }
                        }
                    }
                }
                let l = &factor.big_l[j * bw * bw..(j + 1) * bw * bw];
                let l_inverse = lower_inverse(l, bw);
                // L⁻ᵀ M L⁻¹
                let c = transpose_times(&l_inverse, &matrix_product(&m, &l_inverse, bw), bw);
                scaled_diagonal(&t_big, &c, bw)
            })
            .collect();
        for d in &self.dense {
            let t = layout.factor(d.term, theta);
            variances[d.term] = (0..self.dense_levels(d))
                .map(|level| {
                    let first = d.start + level * d.width;
                    let block: Vec<f64> = (0..d.width * d.width)
                        .map(|i| s[(first + i / d.width) * q + first + i % d.width])
                        .collect();
                    scaled_diagonal(&t, &block, d.width)
                })
                .collect();
        }
        variances
    }

    /// The conditional modes `b = T u` by term and level, and ‖u‖² (the penalty).
    pub(crate) fn modes(
        &self,
        layout: &ThetaLayout,
        theta: &[f64],
        factor: &Factor,
        beta: &[f64],
    ) -> (Vec<Vec<Vec<f64>>>, f64) {
        let (bw, p, p1, q) = (self.big_width, self.p, self.p + 1, self.q_dense);
        let residual = |c: &[f64], rows: usize| -> Vec<f64> {
            (0..rows)
                .map(|r| c[r * p1 + p] - (0..p).map(|a| c[r * p1 + a] * beta[a]).sum::<f64>())
                .collect()
        };
        let mut u_dense = residual(&factor.dense_c, q);
        backward(&factor.dense_l, q, &mut u_dense);
        let mut penalty: f64 = u_dense.iter().map(|u| u * u).sum();
        let mut modes: Vec<Vec<Vec<f64>>> = vec![Vec::new(); layout.widths.len()];
        let t_big = layout.factor(self.big, theta);
        modes[self.big] = (0..self.big_levels)
            .map(|j| {
                let mut e = residual(&factor.big_c[j * bw * p1..(j + 1) * bw * p1], bw);
                for &(first, width, at) in &self.meets[j] {
                    let wj = &factor.w[at..at + bw * width];
                    for a in 0..bw {
                        e[a] -= (0..width)
                            .map(|b| wj[a * width + b] * u_dense[first + b])
                            .sum::<f64>();
                    }
                }
                backward(&factor.big_l[j * bw * bw..(j + 1) * bw * bw], bw, &mut e);
                penalty += e.iter().map(|u| u * u).sum::<f64>();
                lower_times(&t_big, bw, &e)
            })
            .collect();
        for d in &self.dense {
            let t = layout.factor(d.term, theta);
            modes[d.term] = (0..self.dense_levels(d))
                .map(|level| {
                    let first = d.start + level * d.width;
                    lower_times(&t, d.width, &u_dense[first..first + d.width])
                })
                .collect();
        }
        (modes, penalty)
    }
}

/// `(L L')⁻¹` for a q × q lower-triangular L (block-diagonal with blocks of `block`
/// when given), as a full q × q matrix.
fn dense_inverse(l: &[f64], q: usize, block: Option<usize>) -> Vec<f64> {
    let mut s = vec![0.0; q * q];
    let width = block.unwrap_or(q).max(1);
    let mut sub = vec![0.0; width * width];
    for first in (0..q).step_by(width) {
        for r in 0..width {
            for c in 0..width {
                sub[r * width + c] = l[(first + r) * q + first + c];
            }
        }
        let inverse = lower_inverse(&sub, width);
        let product = transpose_times(&inverse, &inverse, width);
        for r in 0..width {
            for c in 0..width {
                s[(first + r) * q + first + c] = product[r * width + c];
            }
        }
    }
    s
}

/// The inverse of a k × k lower-triangular matrix (lower-triangular too).
fn lower_inverse(l: &[f64], k: usize) -> Vec<f64> {
    let mut inverse = vec![0.0; k * k];
    for i in 0..k {
        inverse[i * k + i] = 1.0;
    }
    forward(l, k, &mut inverse, k);
    inverse
}

/// `A B` for k × k matrices.
fn matrix_product(a: &[f64], b: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; k * k];
    for r in 0..k {
        for x in 0..k {
            let v = a[r * k + x];
            if v != 0.0 {
                for c in 0..k {
                    out[r * k + c] += v * b[x * k + c];
                }
            }
        }
    }
    out
}

/// `A' B` for k × k matrices.
fn transpose_times(a: &[f64], b: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; k * k];
    for x in 0..k {
        for r in 0..k {
            let v = a[x * k + r];
            if v != 0.0 {
                for c in 0..k {
                    out[r * k + c] += v * b[x * k + c];
                }
            }
        }
    }
    out
}

/// Factors the q × q matrix `a` whose only non-zero entries are in diagonal blocks of
/// `width`, block by block in place, and solves `rhs` (q × cols) with it; adds log |A|
/// to `log_det`. The factor is returned as a q × q lower-triangular matrix.
fn block_cholesky(
    a: &mut [f64],
    q: usize,
    width: usize,
    rhs: &mut [f64],
    cols: usize,
    log_det: &mut f64,
) -> Option<Vec<f64>> {
    let mut l = vec![0.0; q * q];
    let mut block = vec![0.0; width * width];
    for first in (0..q).step_by(width) {
        for r in 0..width {
            for c in 0..width {
                block[r * width + c] = a[(first + r) * q + first + c];
            }
        }
        *log_det += cholesky(&mut block, width)?;
        forward(
            &block,
            width,
            &mut rhs[first * cols..(first + width) * cols],
            cols,
        );
        for r in 0..width {
            for c in 0..=r {
                l[(first + r) * q + first + c] = block[r * width + c];
            }
        }
    }
    Some(l)
}

/// `L` at θ: the big term's blocks, the dense part, and the forward solves of `[X y]`.
pub(crate) struct Factor {
    /// log |L|².
    pub(crate) log_det: f64,
    big_l: Vec<f64>,
    big_c: Vec<f64>,
    /// `L_j⁻¹ T_big' M T_other` for each block in `Crossproducts::cross`.
    w: Vec<f64>,
    dense_l: Vec<f64>,
    dense_c: Vec<f64>,
    /// `[X y]'[X y]` less the random effects' share: factored by [`Factor::schur`].
    xy_xy: Vec<f64>,
}

pub(crate) struct Solution {
    pub(crate) beta: Vec<f64>,
    vcov: Vec<Vec<f64>>,
    sigma: f64,
}

impl Solution {
    /// β's covariance without the residual variance: (X'V⁻¹X)⁻¹ in the units of the
    /// weighted rows.
    pub(crate) fn vcov_unscaled(&self) -> Vec<Vec<f64>> {
        let s2 = self.sigma * self.sigma;
        self.vcov
            .iter()
            .map(|row| row.iter().map(|v| v / s2).collect())
            .collect()
    }
}

impl Factor {
    /// log |R_X|² and the penalised residual sum of squares.
    fn schur(&self, p: usize) -> Option<(f64, f64)> {
        let mut m = self.xy_xy.clone();
        let p1 = p + 1;
        let log_det = cholesky_leading(&mut m, p1, p)?;
        let r = m[p * p1 + p];
        Some((log_det, r))
    }

    pub(crate) fn solve(&self, cross: &Crossproducts, reml: bool) -> Result<Solution, Failure> {
        let (p, p1) = (cross.p, cross.p + 1);
        let mut m = self.xy_xy.clone();
        cholesky_leading(&mut m, p1, p).ok_or(Failure::NotFinite)?;
        let r2 = m[p * p1 + p];
        if r2 <= 0.0 {
            return Err(Failure::PerfectFit);
        }
        let mut beta: Vec<f64> = (0..p).map(|a| m[p * p1 + a]).collect();
        let lxx: Vec<f64> = (0..p * p).map(|i| m[(i / p) * p1 + i % p]).collect();
        backward(&lxx, p, &mut beta);
        let dof = if reml { cross.n - p } else { cross.n } as f64;
        let sigma2 = r2 / dof;
        // (Lxx Lxx')⁻¹ column by column.
        let mut inverse = vec![vec![0.0; p]; p];
        for a in 0..p {
            let mut e = vec![0.0; p];
            e[a] = 1.0;
            forward(&lxx, p, &mut e, 1);
            backward(&lxx, p, &mut e);
            for b in 0..p {
                inverse[b][a] = sigma2 * e[b];
            }
        }
        Ok(Solution {
            beta,
            vcov: inverse,
            sigma: sigma2.sqrt(),
        })
    }
}

/// `T' A T` for a k × k lower-triangular T.
fn t_a_t(t: &[f64], a: &[f64], k: usize) -> Vec<f64> {
    let at = times_lower(a, k, t, k);
    t_transpose_times(t, k, &at, k)
}

/// `T' B` for k × k lower-triangular T and k × cols B.
fn t_transpose_times(t: &[f64], k: usize, b: &[f64], cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; k * cols];
    for r in 0..k {
        for i in r..k {
            let tir = t[i * k + r];
            if tir != 0.0 {
                for c in 0..cols {
                    out[r * cols + c] += tir * b[i * cols + c];
                }
            }
        }
    }
    out
}

/// `B T` for rows × k B and k × k lower-triangular T.
fn times_lower(b: &[f64], rows: usize, t: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * k];
    for r in 0..rows {
        for c in 0..k {
            out[r * k + c] = (c..k).map(|i| b[r * k + i] * t[i * k + c]).sum();
        }
    }
    out
}

/// `T v` for lower-triangular T.
fn lower_times(t: &[f64], k: usize, v: &[f64]) -> Vec<f64> {
    (0..k)
        .map(|r| (0..=r).map(|c| t[r * k + c] * v[c]).sum())
        .collect()
}

/// Columns `first..first+k` of the q × q matrix `a` times T.
fn scale_columns(a: &mut [f64], q: usize, first: usize, t: &[f64], k: usize) {
    let mut row = vec![0.0; k];
    for r in 0..q {
        for c in 0..k {
            row[c] = (c..k).map(|i| a[r * q + first + i] * t[i * k + c]).sum();
        }
        a[r * q + first..r * q + first + k].copy_from_slice(&row);
    }
}

/// Rows `first..first+k` of a matrix with `cols` columns: T' times them.
fn scale_rows(a: &mut [f64], cols: usize, first: usize, t: &[f64], k: usize) {
    let block = t_transpose_times(t, k, &a[first * cols..(first + k) * cols], cols);
    a[first * cols..(first + k) * cols].copy_from_slice(&block);
}

/// `m −= C'C` for a rows × cols C.
fn subtract_crossproduct(m: &mut [f64], c: &[f64], rows: usize, cols: usize) {
    for r in 0..rows {
        let row = &c[r * cols..(r + 1) * cols];
        for a in 0..cols {
            if row[a] != 0.0 {
                for b in 0..cols {
                    m[a * cols + b] -= row[a] * row[b];
                }
            }
        }
    }
}

/// The lower Cholesky factor of a k × k matrix, in place (the upper part zeroed);
/// log |A|, or `None` if A is not positive definite.
fn cholesky(a: &mut [f64], k: usize) -> Option<f64> {
    cholesky_leading(a, k, k)
}

/// The Cholesky factorisation of a k × k matrix's first `leading` columns; with one
/// column left (`leading = k − 1`), its last diagonal element becomes what the others
/// leave of it (the residual sum of squares of a least-squares fit). Returns log of the
/// leading part's determinant.
fn cholesky_leading(a: &mut [f64], k: usize, leading: usize) -> Option<f64> {
    let mut log_det = 0.0;
    for j in 0..k {
        let mut d = a[j * k + j];
        for c in 0..j.min(leading) {
            d -= a[j * k + c] * a[j * k + c];
        }
        if j >= leading {
            // What is left of the last column: the residual sum of squares.
            a[j * k + j] = d;
            continue;
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        log_det += 2.0 * d.ln();
        for r in j + 1..k {
            let mut s = a[r * k + j];
            for c in 0..j {
                s -= a[r * k + c] * a[j * k + c];
            }
            a[r * k + j] = s / d;
        }
        for c in j + 1..k {
            a[j * k + c] = 0.0;
        }
    }
    Some(log_det)
}

/// Solves `L X = B` in place for lower-triangular k × k L and k × cols B.
fn forward(l: &[f64], k: usize, b: &mut [f64], cols: usize) {
    for r in 0..k {
        for c in 0..cols {
            let mut s = b[r * cols + c];
            for i in 0..r {
                s -= l[r * k + i] * b[i * cols + c];
            }
            b[r * cols + c] = s / l[r * k + r];
        }
    }
}

/// Solves `L' x = v` in place.
fn backward(l: &[f64], k: usize, v: &mut [f64]) {
    for r in (0..k).rev() {
        let mut s = v[r];
        for i in r + 1..k {
            s -= l[i * k + r] * v[i];
        }
        v[r] = s / l[r * k + r];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A balanced one-way layout has REML estimates in closed form (the ANOVA
    /// estimators when positive): σ² = MSW, τ² = (MSB − MSW)/m, β = ȳ with variance
    /// MSB/(am).
    /// A grouping that is also a fixed factor leaves its intercept no variation, while a
    /// slope on it still has some; an unrelated grouping is not spanned.
    #[test]
    fn fixed_factor_spans_its_random_intercept() {
        let groups: Vec<u32> = (0..12).map(|i| i / 3).collect();
        let ones = vec![1.0; 12];
        let days: Vec<f64> = (0..12).map(|i| (i % 3) as f64).collect();
        let dummies: Vec<Vec<f64>> = (1..4)
            .map(|g| groups.iter().map(|&h| f64::from(h == g)).collect())
            .collect();
        let mut x: Vec<&[f64]> = vec![&ones, &days];
        x.extend(dummies.iter().map(Vec::as_slice));
        let term = RandomTerm {
            groups: &groups,
            levels: 4,
            columns: vec![&ones, &days],
        };
        assert_eq!(spanned_by_fixed(&x, &term), vec![0]);
        let crossed: Vec<u32> = (0..12).map(|i| i % 3).collect();
        let other = RandomTerm {
            groups: &crossed,
            levels: 3,
            columns: vec![&ones],
        };
        assert!(spanned_by_fixed(&x[..2], &other).is_empty());
    }

    #[test]
    fn balanced_one_way_reml_equals_anova() {
        let y = [3.1, 2.7, 3.6, 5.2, 4.6, 5.5, 4.0, 4.6, 3.7, 6.1, 5.4, 6.6];
        let groups: Vec<u32> = (0..12).map(|i| i / 3).collect();
        let ones = vec![1.0; 12];
        let x: Vec<&[f64]> = vec![&ones];
        let terms = [RandomTerm {
            groups: &groups,
            levels: 4,
            columns: vec![&ones],
        }];
        let problem = Problem {
            y: &y,
            x: &x,
            terms: &terms,
            reml: true,
        };
        let fit = fit(&problem).unwrap();
        let mean = y.iter().sum::<f64>() / 12.0;
        let group_means: Vec<f64> = (0..4)
            .map(|j| y[3 * j..3 * j + 3].iter().sum::<f64>() / 3.0)
            .collect();
        let msb = 3.0 * group_means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / 3.0;
        let msw = (0..12)
            .map(|i| (y[i] - group_means[i / 3]).powi(2))
            .sum::<f64>()
            / 8.0;
        let tau2 = (msb - msw) / 3.0;
        assert!(
            (fit.sigma.unwrap().powi(2) - msw).abs() < 1e-6 * msw,
            "{} {msw}",
            fit.sigma.unwrap().powi(2)
        );
        assert!((fit.covariances[0][0][0] - tau2).abs() < 1e-6 * tau2);
        assert!((fit.beta[0] - mean).abs() < 1e-10);
        assert!((fit.vcov[0][0] - msb / 12.0).abs() < 1e-6 * msb / 12.0);
        assert!(!fit.singular && fit.converged);
        // Each group's mode: its mean's deviation shrunk by τ²/(τ² + σ²/m).
        let shrink = tau2 / (tau2 + msw / 3.0);
        // Its conditional variance: 1 / (1/τ² + m/σ²).
        let conditional = 1.0 / (1.0 / tau2 + 3.0 / msw);
        for j in 0..4 {
            let expected = shrink * (group_means[j] - mean);
            assert!((fit.modes[0][j][0] - expected).abs() < 1e-5, "{j}");
            assert!((fit.mode_variances[0][j][0] - conditional).abs() < 1e-6 * conditional);
        }
    }

    /// When the groups differ less than the residual implies, τ² is zero: a singular
    /// fit, and β the plain mean.
    #[test]
    fn groups_that_differ_too_little_give_a_singular_fit() {
        let y = [1.0, 3.0, 2.0, 2.1, 0.9, 3.0, 3.1, 1.0, 2.0];
        let groups: Vec<u32> = (0..9).map(|i| i / 3).collect();
        let ones = vec![1.0; 9];
        let x: Vec<&[f64]> = vec![&ones];
        let terms = [RandomTerm {
            groups: &groups,
            levels: 3,
            columns: vec![&ones],
        }];
        let fit = fit(&Problem {
            y: &y,
            x: &x,
            terms: &terms,
            reml: true,
        })
        .unwrap();
        assert_eq!(fit.theta[0], 0.0);
        assert!(fit.singular);
        assert!((fit.beta[0] - 18.1 / 9.0).abs() < 1e-12);
    }
}
