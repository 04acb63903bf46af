//! Generalised linear models by iteratively reweighted least squares, with fixed
//! effects absorbed by weighted demeaning at every step (as fixest does), step-halving,
//! and convergence on the relative change in deviance (1e-10, at most 50 steps). For
//! links that are not canonical (probit; log with NB2) IRLS converges only linearly,
//! so the coefficients must also have stopped moving (1e-10 relative).
//!
//! References: McCullagh & Nelder (1989) ch. 2; R's `glm.fit`; Bergé (2018) for the
//! demeaning of absorbed effects.

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::gamma::ln_gamma;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::linalg;
use faer::Mat;

use super::rows::{
    BLOCK, CHUNK, Cells, Demeaning, GroupTable, Rows, absorb_one_way, add_partials, fill_chunks,
    group_shifts, over_chunks, scores_by_table,
};
use crate::absorbed::outer_levels;
use crate::combinations::Combinations;
use crate::conditioning::Conditioning;
use crate::matrix::{Codes, Grouping, LevelCodes, MatrixColumn};
use crate::with_codes;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    Identity,
    Logit,
    Probit,
    Log,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Family {
    Gaussian,
    Binomial(Link),
    Poisson,
    /// NB2 with a known shape `theta` (variance mu + mu^2/theta).
    NegBin(f64),
}

impl Family {
    #[inline]
    pub fn link(self) -> Link {
        match self {
            Family::Gaussian => Link::Identity,
            Family::Binomial(link) => link,
            Family::Poisson | Family::NegBin(_) => Link::Log,
        }
    }

    fn variance(self, mu: f64) -> f64 {
        match self {
            Family::Gaussian => 1.0,
            Family::Binomial(_) => mu * (1.0 - mu),
            Family::Poisson => mu,
            Family::NegBin(theta) => mu + mu * mu / theta,
        }
    }

    /// The unit deviance of one observation (weight 1).
    fn unit_deviance(self, y: f64, mu: f64) -> f64 {
        let ylog = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * (a / b).ln() };
        match self {
            Family::Gaussian => (y - mu) * (y - mu),
            Family::Binomial(_) => 2.0 * (ylog(y, mu) + ylog(1.0 - y, 1.0 - mu)),
            Family::Poisson => 2.0 * (ylog(y, mu) - (y - mu)),
            Family::NegBin(theta) => {
                2.0 * (ylog(y, mu) - (y + theta) * ((y + theta) / (mu + theta)).ln())
            }
        }
    }

    fn start(self, y: f64, trials: f64) -> f64 {
        match self {
            Family::Gaussian => y,
            Family::Binomial(_) => (trials * y + 0.5) / (trials + 1.0),
            Family::Poisson => y + 0.1,
            Family::NegBin(_) => y + if y == 0.0 { 1.0 / 6.0 } else { 0.0 },
        }
    }
}

impl Link {
    #[inline]
    pub fn inverse(self, eta: f64) -> f64 {
        match self {
            Link::Identity => eta,
            Link::Logit => 1.0 / (1.0 + (-eta).exp()),
            Link::Probit => standard_normal().cdf(eta),
            Link::Log => eta.exp(),
        }
    }

    fn apply(self, mu: f64) -> f64 {
        match self {
            Link::Identity => mu,
            Link::Logit => (mu / (1.0 - mu)).ln(),
            Link::Probit => standard_normal().inverse_cdf(mu),
            Link::Log => mu.ln(),
        }
    }

    /// d mu / d eta.
    #[inline]
    pub fn derivative(self, eta: f64) -> f64 {
        match self {
            Link::Identity => 1.0,
            Link::Logit => {
                let e = (-eta.abs()).exp();
                e / ((1.0 + e) * (1.0 + e))
            }
            Link::Probit => (-0.5 * eta * eta).exp() / (2.0 * std::f64::consts::PI).sqrt(),
            Link::Log => eta.exp(),
        }
        .max(f64::EPSILON)
    }
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// What the fit works with: the design's numbers, weights folded together.
pub struct Problem<'a> {
    pub family: Family,
    pub y: &'a [f64],
    pub columns: &'a [MatrixColumn],
    /// Prior weights: probability or frequency weights times binomial trials.
    pub weights: &'a [f64],
    /// Binomial trials; `None` for one each.
    pub trials: Option<&'a [f64]>,
    /// `None` for no offset.
    pub offset: Option<&'a [f64]>,
    pub fixed_effects: &'a [Grouping],
    /// The clusters of a one-way cluster-robust variance: their sums of scores are added
    /// in the fit's last pass (no row-length weights and residuals are kept for them)
    /// where the fit can. `None` for other variances.
    pub score_grouping: Option<&'a Grouping>,
    /// How the numeric columns were centred and scaled ([`Conditioning::apply`]); `None`
    /// when they are as the user has them. The rank decision compares with the user's
    /// units.
    pub conditioning: Option<&'a Conditioning>,
}

impl Problem<'_> {
    #[inline]
    fn offset(&self, i: usize) -> f64 {
        self.offset.map_or(0.0, |o| o[i])
    }

    #[inline]
    fn trials(&self, i: usize) -> f64 {
        self.trials.map_or(1.0, |t| t[i])
    }
}

pub struct Fit<'a> {
    /// Each cluster's sum of scores times the estimated columns (`p` numbers a cluster,
    /// as [`Rows::group_score_sums`]) when the fit added them for
    /// [`Problem::score_grouping`]; then the working weights and residuals are empty.
    pub cluster_scores: Option<Vec<f64>>,
    /// One per column; `None` for a column dropped as collinear.
    pub beta: Vec<Option<f64>>,
    /// Indices of the columns estimated.
    pub kept: Vec<usize>,
    /// The linear predictor of each row; its mean is [`mean`] of it.
    pub eta: Vec<f64>,
    /// IRLS working weights and residuals at the solution (for the sandwich).
    pub working_weights: Vec<f64>,
    pub working_residuals: Vec<f64>,
    /// The estimated columns, demeaned within the absorbed groups at the solution's
    /// working weights.
    pub rows: Rows<'a>,
    /// `X̃'WX̃` at the solution, when the fit has it already.
    pub information: Option<Mat<f64>>,
    pub deviance: f64,
    pub iterations: usize,
    pub converged: bool,
    /// Why IRLS stopped before converging, when it could not go on (R stops with an
    /// error in both cases).
    pub failure: Option<Failure>,
}

/// What stops IRLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The fitted means at this iteration overflow: their deviance is not a finite
    /// number on the first (there is no earlier step to halve back to; R: "no valid set
    /// of coefficients has been found"), or later the next step's weights are not.
    NotFinite { iteration: usize },
    /// The step's normal equations could not be solved (at this iteration).
    Singular { iteration: usize },
    /// Halving the step 30 times did not bring the deviance down (R: "inner loop 2;
    /// cannot correct step size").
    StepHalving { iteration: usize },
    /// The user interrupted the fit ([`crate::cancel`]).
    Cancelled,
}

const MAX_ITERATIONS: usize = 50;

/// A pass over the rows by cells adds its sums in this many runs of neighbouring chunks
/// (see [`CellPasses::pass`]): fixed, so that the answer does not depend on the cores.
const LANES: usize = 8;
const TOLERANCE: f64 = 1e-10;

pub fn fit<'a>(problem: &Problem<'a>) -> Fit<'a> {
    if let Some(fit) = fit_by_cells(problem) {
        return fit;
    }
    if let Some(fit) = fit_joining_small_groupings(problem) {
        return fit;
    }
    if let Some(fit) = fit_by_combinations(problem) {
        return fit;
    }
    fit_by_rows(problem)
}

/// Absorbed groupings with at most this many levels may join the design as dummies.
const SMALL_GROUPING: usize = 200;

/// A fit with several absorbed groupings, all but the largest of few levels (survey
/// years beside PCNs or practices): the small ones join the design as dummy columns, so
/// that the fit goes by cells with one grouping absorbed, and the fit is then given back
/// in the columns asked for with the dummies partialled out (Frisch–Waugh–Lovell): the
/// information is its Schur complement, each cluster's scores their residual on the
/// dummies' — exactly what absorbing them gives. Only for one-way clusters (summed by the
/// passes, or from the rows the last pass wrote): other variances read the rows, which
/// would need the dummies partialled out row by row. `None` otherwise, and when a dummy
/// is collinear with the columns asked for (the fit by rows then drops the column, as
/// absorbing does).
fn fit_joining_small_groupings<'a>(problem: &Problem<'a>) -> Option<Fit<'a>> {
    let groups = problem.fixed_effects;
    if groups.len() < 2 {
        return None;
    }
    let large = (0..groups.len()).max_by_key(|&k| groups[k].levels)?;
    let small = |k: usize| k != large;
    if (0..groups.len()).any(|k| small(k) && groups[k].levels > SMALL_GROUPING) {
        return None;
    }
    let clusters = problem.score_grouping?;
    let p = problem.columns.len();
    let mut columns: Vec<MatrixColumn> = problem.columns.to_vec();
    for g in (0..groups.len()).filter(|&k| small(k)).map(|k| &groups[k]) {
        // Level 0 is left out: the large grouping's effects hold the constant.
        let codes: Codes = Arc::new(LevelCodes::new(g.ids.to_vec(), g.levels));
        columns.extend((1..g.levels as u32).map(|level| MatrixColumn::Indicator {
            codes: codes.clone(),
            level,
            levels: g.levels as u32,
        }));
    }
    let conditioning = problem
        .conditioning
        .map(|c| c.with_more_columns(columns.len() - p));
    let joined = Problem {
        columns: &columns,
        fixed_effects: std::slice::from_ref(&groups[large]),
        conditioning: conditioning.as_ref(),
        ..*problem
    };
    // A dummy collinear with the columns asked for stops the fit at its first pass.
    let mut fit = fit_by_cells_keeping(&joined, p)?;
    let (asked, dummies): (Vec<usize>, Vec<usize>) =
        (0..fit.kept.len()).partition(|&a| fit.kept[a] < p);
    let information = fit.information.as_ref()?;
    let (information, projection) = partial_out(information, &asked, &dummies)?;
    // Clusters the passes could not sum by (a grouping that nests the large one, as PCNs
    // nest practices) are summed from the rows the last pass wrote.
    let scores = match fit.cluster_scores.take() {
        Some(scores) => scores,
        None => fit
            .rows
            .score_sums(clusters, &fit.working_weights, &fit.working_residuals),
    };
    let width = fit.kept.len();
    let mut cluster_scores = Vec::with_capacity(clusters.levels * asked.len());
    for g in 0..clusters.levels {
        let row = &scores[g * width..(g + 1) * width];
        for (a, &x) in asked.iter().enumerate() {
            let explained: f64 = dummies
                .iter()
                .enumerate()
                .map(|(b, &d)| projection[(a, b)] * row[d])
                .sum();
            cluster_scores.push(row[x] - explained);
        }
    }
    let Demeaning::OneWay { means, weights, .. } = &fit.rows.demeaning else {
        return None;
    };
    let asked_means: Vec<f64> = (0..groups[large].levels)
        .flat_map(|g| asked.iter().map(move |&a| means[g * width + a]))
        .collect();
    let kept: Vec<usize> = asked.iter().map(|&a| fit.kept[a]).collect();
    let rows = Rows::one_way(
        kept.iter().map(|&j| &problem.columns[j]).collect(),
        &groups[large],
        asked_means,
        weights.clone(),
        None,
        None,
    );
    Some(Fit {
        cluster_scores: Some(cluster_scores),
        beta: fit.beta[..p].to_vec(),
        kept,
        eta: fit.eta,
        working_weights: fit.working_weights,
        working_residuals: fit.working_residuals,
        rows,
        information: Some(information),
        deviance: fit.deviance,
        iterations: fit.iterations,
        converged: fit.converged,
        failure: fit.failure,
    })
}

/// The information of the columns at positions `asked` with those at `dummies`
/// partialled out, `A_xx − A_xd A_dd⁻¹ A_dx`, and the projection `A_xd A_dd⁻¹` that takes
/// the dummies' part out of a score.
fn partial_out(
    information: &Mat<f64>,
    asked: &[usize],
    dummies: &[usize],
) -> Option<(Mat<f64>, Mat<f64>)> {
    let block = |rows: &[usize], cols: &[usize]| {
        Mat::from_fn(rows.len(), cols.len(), |i, j| {
            information[(rows[i], cols[j])]
        })
    };
    let dd_inverse = linalg::inverse(&block(dummies, dummies))?;
    let projection = &block(asked, dummies) * &dd_inverse;
    let schur = &block(asked, asked) - &projection * &block(dummies, asked);
    Some((schur, projection))
}

/// Where a pass over the rows evaluates the model: at the starting means, or at
/// coefficients and each absorbed group's shift (`eta = offset + x·beta + shift_g`).
#[derive(Clone, Copy)]
enum Point<'b> {
    Start,
    At { beta: &'b [f64], shift: &'b [f64] },
}

/// `X̃'WX̃`, `X̃'Wz̃`, and the absorbed groups' means of the columns and of `z`.
type NormalEquations = (Mat<f64>, Vec<f64>, Vec<f64>, Vec<f64>);

/// A pass's sums: the deviance, each cell's and each absorbed group's.
struct PassSums {
    deviance: f64,
    cells: Vec<f64>,
    groups: Vec<f64>,
    /// The clusters' sums of scores, in a pass that writes the rows' values for them.
    scores: Vec<f64>,
    /// Each absorbed group's sum of the scores `w·r`, beside the clusters' when the
    /// groups lie within the clusters ([`CellPasses::scores_within`]).
    group_scores: Vec<f64>,
}

/// IRLS with one pass over the rows per step, when the columns have cells (few
/// combinations of factor levels) and at most one grouping is absorbed. Each pass
/// computes eta from the coefficients, the means, the deviance and the working weights
/// and response, and adds them straight into the cells' and groups' sums, so nothing
/// of the rows' length is written until the last pass. Step-halving halves the
/// coefficients and shifts, which halves eta exactly. `None` when the fit must go row
/// by row instead (no cells, several absorbed groupings, a column that hardly varies
/// within the groups, a singular design).
fn fit_by_cells<'a>(problem: &Problem<'a>) -> Option<Fit<'a>> {
    fit_by_cells_keeping(problem, problem.columns.len())
}

/// [`fit_by_cells`], given up (`None`) as soon as the first pass finds a column from
/// `must_keep` on collinear: joined dummies that must all stay.
fn fit_by_cells_keeping<'a>(problem: &Problem<'a>, must_keep: usize) -> Option<Fit<'a>> {
    if problem.fixed_effects.len() > 1 {
        return None;
    }
    fit_cells(problem, must_keep, None)
}

/// Several absorbed groupings by the table of their level combinations
/// ([`crate::combinations`]): the passes add each combination's sums as they add each
/// group's for one grouping, and the combinations' means are projected on the effects
/// before they are taken from the cross-products. `None` when the combinations are too
/// many, or as [`fit_by_cells`].
fn fit_by_combinations<'a>(problem: &Problem<'a>) -> Option<Fit<'a>> {
    if problem.fixed_effects.len() < 2 {
        return None;
    }
    let combinations = Combinations::new(problem.fixed_effects)?;
    fit_cells(problem, problem.columns.len(), Some(Arc::new(combinations)))
}

/// The fit by cells with one absorbed grouping, or with the `combinations` of several.
fn fit_cells<'a>(
    problem: &Problem<'a>,
    must_keep: usize,
    combinations: Option<Arc<Combinations>>,
) -> Option<Fit<'a>> {
    let (mut passes, sums, equations) = CellPasses::start(problem, combinations)?;
    let kept_from = passes.kept.iter().filter(|&&j| j >= must_keep).count();
    if kept_from != problem.columns.len() - must_keep {
        return None;
    }
    // One-way clusters' sums of scores come from the pass that writes the rows' values
    // when the sandwich would sum them by a table of the same columns: the clusters are
    // the absorbed groups, or hold whole groups (practices within PCNs; then each group's
    // sum of scores is added too). No row-length weights and residuals are kept for them.
    let width = passes.table.width;
    let group = passes.group.as_ref();
    let (scores_by, scores_within) = match problem.score_grouping {
        Some(c) if scores_by_table(group, c, width) => (Some(c), None),
        Some(c) if scores_by_table(None, c, width) => {
            let within = group.and_then(|g| outer_levels(g, c));
            (within.as_ref().map(|_| c), within)
        }
        _ => (None, None),
    };
    passes.scores_within = scores_within;
    let solution = passes.irls(sums, equations, scores_by)?;
    passes.finish(solution, scores_by)
}

/// The columns estimated, their cells and the absorbed group's table: what every pass
/// of [`fit_by_cells`] reads besides the problem.
struct CellPasses<'a, 'p> {
    problem: &'p Problem<'a>,
    /// The absorbed grouping, or the combinations of several groupings' levels.
    group: Option<Grouping>,
    /// Several absorbed groupings: the group sums are by combination of their levels,
    /// and the means are projected on their effects ([`Combinations::project`]).
    combinations: Option<Arc<Combinations>>,
    /// Whether every projection on the combinations so far reached its tolerance.
    projected: AtomicBool,
    /// The cluster each absorbed group lies within, when the clusters are not the
    /// groups but hold whole groups (PCNs over practices): the clusters' sums of scores
    /// then take each group's means times its sum of scores ([`Rows::nested_scores`]).
    scores_within: Option<Vec<u32>>,
    /// Indices of the columns estimated.
    kept: Vec<usize>,
    columns: Vec<&'a MatrixColumn>,
    cells: Arc<Cells>,
    table: GroupTable<'a>,
    /// A logit of a 0/1 outcome, one trial a row: its rows go by [`logit_block`].
    logit_binary: bool,
}

/// What a pass reads besides the cells: where it evaluates the model, the numeric
/// columns and the coefficients by cell there, and the clusters to add scores by.
struct PassInputs<'b> {
    point: Point<'b>,
    numeric: Vec<&'b [f64]>,
    by_cell: Vec<f64>,
    numeric_beta: Vec<f64>,
    scores_by: Option<&'b Grouping>,
}

/// A chunk's part of the rows' values a pass writes: eta, and the working weights and
/// residuals unless the pass adds the clusters' scores instead.
type ChunkOut<'o> = (&'o mut [f64], Option<(&'o mut [f64], &'o mut [f64])>);

/// Where IRLS stopped: the coefficients, and the sums and the rows' values of the last
/// pass, at the solution.
struct Solution {
    beta: Vec<f64>,
    deviance: f64,
    iterations: usize,
    converged: bool,
    sums: PassSums,
    values: RowValues,
}

/// The columns of `kept`, their cells (`None` for none) and their table by group.
fn kept_cells<'a>(
    problem: &Problem<'a>,
    kept: &[usize],
) -> Option<(Vec<&'a MatrixColumn>, Arc<Cells>, GroupTable<'a>)> {
    let columns: Vec<&'a MatrixColumn> = kept.iter().map(|&j| &problem.columns[j]).collect();
    let cells = Cells::new(&columns)?;
    let table = GroupTable::new(&columns);
    Some((columns, cells, table))
}

impl<'a, 'p> CellPasses<'a, 'p> {
    /// The first pass, at the starting means, and its normal equations, with one
    /// absorbed grouping or the combinations of several.
    fn start(
        problem: &'p Problem<'a>,
        combinations: Option<Arc<Combinations>>,
    ) -> Option<(Self, PassSums, NormalEquations)> {
        let kept: Vec<usize> = (0..problem.columns.len()).collect();
        let (columns, cells, table) = kept_cells(problem, &kept)?;
        let logit_binary = problem.family == Family::Binomial(Link::Logit)
            && problem.trials.is_none()
            && problem
                .y
                .iter()
                .fold(true, |all, &y| all & ((y == 0.0) | (y == 1.0)));
        let group = match &combinations {
            Some(c) => Some(c.grouping.clone()),
            None => problem.fixed_effects.first().cloned(),
        };
        let mut passes = CellPasses {
            problem,
            group,
            combinations,
            projected: AtomicBool::new(true),
            scores_within: None,
            kept,
            columns,
            cells,
            table,
            logit_binary,
        };
        let mut sums = passes.pass(Point::Start, None, None);
        let mut equations = passes.normal_equations(&sums)?;
        // Collinear columns are found once, on the first weighted design.
        let dropped = linalg::collinear(&equations.0, &passes.reference_norms(&sums));
        if !dropped.is_empty() {
            let kept = without(&passes.kept, &dropped);
            let (columns, cells, table) = kept_cells(problem, &kept)?;
            passes = CellPasses {
                kept,
                columns,
                cells,
                table,
                ..passes
            };
            sums = passes.pass(Point::Start, None, None);
            equations = passes.normal_equations(&sums)?;
        }
        Some((passes, sums, equations))
    }

    /// IRLS from the first pass, with step-halving, until the deviance (and for links
    /// that are not canonical the coefficients) stop moving; the rows' values are
    /// written by the last pass.
    fn irls(
        &self,
        mut sums: PassSums,
        equations: NormalEquations,
        scores_by: Option<&Grouping>,
    ) -> Option<Solution> {
        let n = self.problem.y.len();
        let family = self.problem.family;
        let (mut xtwx, mut xtwz, mut means, mut z_means) = equations;
        let mut beta: Vec<f64> = Vec::new();
        let mut shift: Vec<f64> = Vec::new();
        let mut deviance_old = f64::INFINITY;
        let mut deviance = f64::NAN;
        let mut iterations = 0;
        let mut converged = false;
        // What the sandwich and the report need row by row is written by a pass that may be
        // the last: IRLS converges quadratically, the next change in deviance being about
        // the square of this one, so once it is below this the next step may be within the
        // tolerance. A pass written in vain costs only the writing (the pages are the ones
        // the last pass writes); a missed one costs a whole pass at the end.
        const NEARLY: f64 = 1e-3;
        let mut values: Option<RowValues> = None;
        let mut written = false;
        let mut change = f64::INFINITY;
        while iterations < MAX_ITERATIONS {
            iterations += 1;
            if crate::cancel::requested() {
                return None; // the fit by rows stops at once, and says why
            }
            if iterations > 1 {
                (xtwx, xtwz, means, z_means) = self.normal_equations(&sums)?;
            }
            let write = change < NEARLY;
            let mut new_beta = linalg::solve(&xtwx, &xtwz)?;
            let mut new_shift = group_shifts(&new_beta, &means, &z_means);
            let at = |beta: &[f64], shift: &[f64], values: &mut Option<RowValues>| {
                let out = write
                    .then(|| values.get_or_insert_with(|| RowValues::new(n, scores_by.is_none())));
                let point = Point::At { beta, shift };
                self.pass(point, out, scores_by)
            };
            let mut next = at(&new_beta, &new_shift, &mut values);
            if iterations == 1 && !next.deviance.is_finite() {
                return None; // the fit by rows stops, and says why
            }
            let mut halvings = 0;
            while worse(next.deviance, deviance_old) && halvings < 30 {
                halvings += 1;
                for (new, old) in new_beta.iter_mut().zip(&beta) {
                    *new = 0.5 * (*new + old);
                }
                for (new, old) in new_shift.iter_mut().zip(&shift) {
                    *new = 0.5 * (*new + old);
                }
                next = at(&new_beta, &new_shift, &mut values);
            }
            if worse(next.deviance, deviance_old) {
                return None; // the fit by rows stops, and says why
            }
            written = write;
            let settled = settled(family, &beta, &new_beta);
            beta = new_beta;
            shift = new_shift;
            deviance = next.deviance;
            sums = next;
            change = (deviance - deviance_old).abs() / (deviance.abs() + 0.1);
            if change < TOLERANCE && settled {
                converged = true;
                break;
            }
            deviance_old = deviance;
        }
        if !written {
            let out = values.get_or_insert_with(|| RowValues::new(n, scores_by.is_none()));
            let point = Point::At {
                beta: &beta,
                shift: &shift,
            };
            sums = self.pass(point, Some(out), scores_by);
        }
        let values = values.expect("the last pass wrote the rows' values");
        Some(Solution {
            beta,
            deviance,
            iterations,
            converged,
            sums,
            values,
        })
    }

    /// The fit at IRLS's solution. `None` when the report would need what the last
    /// pass did not write.
    fn finish(self, solution: Solution, scores_by: Option<&Grouping>) -> Option<Fit<'a>> {
        let Solution {
            beta,
            deviance,
            iterations,
            converged,
            sums,
            values,
        } = solution;
        // The last pass was at the solution: its sums give X̃'WX̃ and the groups' means there.
        let group_means = self.group.as_ref().map(|_| self.group_means(&sums));
        let information = self
            .equations_with(&sums, group_means.clone())
            .map(|(xtwx, ..)| xtwx);
        if information.is_none() && values.w.is_empty() {
            // The report would need X'WX from the rows' weights, which were not written.
            return None;
        }
        let CellPasses {
            problem,
            group,
            combinations,
            projected,
            scores_within,
            kept,
            columns,
            cells,
            ..
        } = self;
        let mut rows = match (&group, group_means) {
            (Some(g), Some((means, weights, z_means))) => {
                let z_means = combinations.is_some().then_some(z_means);
                Rows::one_way(columns, g, means, weights, z_means, Some(cells))
            }
            _ => Rows::with_cells(columns, &[], &values.w, None, Some(cells)),
        };
        rows.within_tolerance = projected.into_inner();
        let cluster_scores = scores_by.map(|c| match &scores_within {
            Some(outer) => rows.nested_scores(c, &sums.scores, &sums.group_scores, outer),
            None => rows.finish_group_scores(c, &sums.scores),
        });
        Some(Fit {
            cluster_scores,
            beta: by_column(problem.columns.len(), &kept, &beta),
            kept,
            eta: values.eta,
            working_weights: values.w,
            working_residuals: values.residual,
            rows,
            information,
            deviance,
            iterations,
            converged,
            failure: None,
        })
    }

    /// X̃'WX̃ and X̃'Wz̃ from a pass's sums, with the groups' means.
    /// [`reference_norms`] from the first pass's sums rather than a pass of its own: the
    /// raw `X'WX`'s diagonal, with each conditioned column's shift taken back from `Σw x̃`
    /// and `Σw` (the constant column's cross-products, or the absorbed groups' weights
    /// and means).
    fn reference_norms(&self, sums: &PassSums) -> Vec<f64> {
        let p = self.columns.len();
        let (raw, _) = self.cells.assemble(p, &sums.cells);
        let constant = self
            .columns
            .iter()
            .position(|c| matches!(c, MatrixColumn::Constant { value, .. } if *value != 0.0));
        let (sum_w, sum_wx): (f64, Vec<f64>) = match (constant, &self.group) {
            (Some(k), _) => {
                let value = self.columns[k].get(0);
                let sum_wx = (0..p).map(|j| raw[(j, k)] / value).collect();
                (raw[(k, k)] / (value * value), sum_wx)
            }
            (None, Some(_)) => {
                let (means, weights, _) = self.table.finish(&self.columns, &sums.groups);
                let sum_wx = (0..p)
                    .map(|j| {
                        weights
                            .iter()
                            .enumerate()
                            .map(|(g, w)| w * means[g * p + j])
                            .sum()
                    })
                    .collect();
                (weights.iter().sum(), sum_wx)
            }
            (None, None) => (0.0, vec![0.0; p]),
        };
        (0..p)
            .map(|a| match self.problem.conditioning {
                Some(c) => c.uncentred_norm(self.kept[a], raw[(a, a)], sum_wx[a], sum_w),
                None => raw[(a, a)],
            })
            .collect()
    }

    fn normal_equations(&self, sums: &PassSums) -> Option<NormalEquations> {
        let group_means = self.group.as_ref().map(|_| self.group_means(sums));
        self.equations_with(sums, group_means)
    }

    /// [`CellPasses::normal_equations`] with the groups' means, weights and working
    /// response's means already found.
    fn equations_with(
        &self,
        sums: &PassSums,
        group_means: Option<(Vec<f64>, Vec<f64>, Vec<f64>)>,
    ) -> Option<NormalEquations> {
        let (mut xtwx, mut xtwz) = self.cells.assemble(self.columns.len(), &sums.cells);
        let Some((means, weights, z_means)) = group_means else {
            return Some((xtwx, xtwz, Vec::new(), Vec::new()));
        };
        absorb_one_way(&mut xtwx, &mut xtwz, &means, &weights, &z_means)
            .then_some((xtwx, xtwz, means, z_means))
    }

    /// Each group's means of the columns and of the working response, and its weight,
    /// from a pass's sums; for several absorbed groupings, what their effects fit of the
    /// means in each combination of levels.
    fn group_means(&self, sums: &PassSums) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut means, weights, mut z_means) = self.table.finish(&self.columns, &sums.groups);
        if let Some(c) = &self.combinations {
            let converged = c.project(&mut means, self.columns.len(), &weights)
                & c.project(&mut z_means, 1, &weights);
            self.projected.fetch_and(converged, Ordering::Relaxed);
        }
        (means, weights, z_means)
    }

    /// One pass over the rows at `point`, a chunk of them on each core at a time. With
    /// `out` the rows' values are written there, and the clusters' scores by `scores_by`
    /// added.
    fn pass(
        &self,
        point: Point,
        out: Option<&mut RowValues>,
        scores_by: Option<&Grouping>,
    ) -> PassSums {
        let n = self.problem.y.len();
        let (cells, table) = (&self.cells, &self.table);
        let numeric = cells.numeric_values(&self.columns);
        let group_size = self.group.as_ref().map_or(0, |g| g.levels * table.width);
        let scores_by = scores_by.filter(|_| out.is_some());
        let scores_size = scores_by.map_or(0, |c| c.levels * table.width);
        let group_scores_size = match (scores_by, &self.scores_within, &self.group) {
            (Some(_), Some(_), Some(g)) => g.levels,
            _ => 0,
        };
        let (by_cell, numeric_beta) = match point {
            Point::At { beta, .. } => cells.predictor(beta),
            Point::Start => (Vec::new(), Vec::new()),
        };
        let inputs = PassInputs {
            point,
            numeric,
            by_cell,
            numeric_beta,
            scores_by,
        };
        let chunks: Vec<Option<ChunkOut>> = match out {
            Some(RowValues { eta, w, .. }) if w.is_empty() => {
                eta.chunks_mut(CHUNK).map(|eta| Some((eta, None))).collect()
            }
            Some(RowValues { eta, w, residual }) => eta
                .chunks_mut(CHUNK)
                .zip(w.chunks_mut(CHUNK))
                .zip(residual.chunks_mut(CHUNK))
                .map(|((eta, w), residual)| Some((eta, Some((w, residual)))))
                .collect(),
            None => (0..n.div_ceil(CHUNK)).map(|_| None).collect(),
        };
        let zero = || PassSums {
            deviance: 0.0,
            cells: vec![0.0; cells.size()],
            groups: vec![0.0; group_size],
            scores: vec![0.0; scores_size],
            group_scores: vec![0.0; group_scores_size],
        };
        // The chunks in LANES runs of neighbours, each run's rows added in order into one
        // set of sums and the runs' sums added in order: the same answer on any number
        // of cores, and a table per run, not per chunk (a table of tens of thousands of
        // level combinations is megabytes, and 41 million rows are 631 chunks).
        let per_lane = chunks.len().div_ceil(LANES).max(1);
        let mut lanes: Vec<Vec<(usize, Option<ChunkOut>)>> = Vec::new();
        for (c, out) in chunks.into_iter().enumerate() {
            if c % per_lane == 0 {
                lanes.push(Vec::with_capacity(per_lane));
            }
            lanes.last_mut().expect("a lane was started").push((c, out));
        }
        let partials: Vec<PassSums> = lanes
            .into_par_iter()
            .map(|lane| {
                let mut sums = zero();
                for (c, out) in lane {
                    self.chunk_sums(&inputs, c, out, &mut sums);
                }
                sums
            })
            .collect();
        let add = |total: &mut [f64], part: Vec<f64>| {
            for (s, v) in total.iter_mut().zip(part) {
                *s += v;
            }
        };
        let mut total = zero();
        for partial in partials {
            total.deviance += partial.deviance;
            add(&mut total.cells, partial.cells);
            add(&mut total.groups, partial.groups);
            add(&mut total.scores, partial.scores);
            add(&mut total.group_scores, partial.group_scores);
        }
        total
    }

    /// Adds the sums of chunk `c` of the rows to `sums`, block by block, its rows'
    /// values written to `out`.
    fn chunk_sums(
        &self,
        inputs: &PassInputs,
        c: usize,
        mut out: Option<ChunkOut>,
        sums: &mut PassSums,
    ) {
        let (problem, cells, table, group) =
            (self.problem, &self.cells, &self.table, self.group.as_ref());
        let n = problem.y.len();
        let numeric = &inputs.numeric;
        let range = c * CHUNK..((c + 1) * CHUNK).min(n);
        let mut block = Block::new();
        for start in range.clone().step_by(BLOCK) {
            let len = BLOCK.min(range.end - start);
            let rows = start..start + len;
            let mut values = block.first(len);
            self.block_values(inputs, start, &mut values, &mut sums.deviance);
            let BlockRows {
                eta,
                w,
                residual,
                z,
                ..
            } = values;
            match problem.offset {
                Some(offset) => {
                    let offset = &offset[rows.clone()];
                    for (r, z) in z.iter_mut().enumerate() {
                        *z = eta[r] - offset[r] + residual[r];
                    }
                }
                None => {
                    for ((z, e), res) in z.iter_mut().zip(&*eta).zip(&*residual) {
                        *z = e + res;
                    }
                }
            }
            if let Some((eta_out, rest)) = &mut out {
                let at = start - range.start..start - range.start + len;
                eta_out[at.clone()].copy_from_slice(eta);
                if let Some((w_out, residual_out)) = rest {
                    w_out[at.clone()].copy_from_slice(w);
                    residual_out[at].copy_from_slice(residual);
                }
            }
            if let Some(c) = inputs.scores_by {
                table.add_scores(&mut sums.scores, c, start, w, residual);
                if let (Some(g), false) = (group, sums.group_scores.is_empty()) {
                    let ids = &g.ids[rows.clone()];
                    for ((&g, w), r) in ids.iter().zip(&*w).zip(&*residual) {
                        sums.group_scores[g as usize] += w * r;
                    }
                }
            }
            let (w, z) = (&*w, &*z);
            cells.add_block(&mut sums.cells, numeric, start, w, z);
            if let Some(g) = group {
                let ids = &g.ids[rows];
                table.add_block(&mut sums.groups, ids, start, w, z);
            }
        }
    }

    /// A block's eta, means, working weights and residuals (from row `start`), its
    /// weighted deviance added to `deviance`.
    #[inline]
    fn block_values(
        &self,
        inputs: &PassInputs,
        start: usize,
        values: &mut BlockRows,
        deviance: &mut f64,
    ) {
        let (problem, group) = (self.problem, self.group.as_ref());
        let family = problem.family;
        let link = family.link();
        let BlockRows {
            eta,
            mu,
            w,
            residual,
            ..
        } = values;
        let rows = start..start + eta.len();
        match inputs.point {
            Point::Start => {
                // Starting means repeat (two values for a 0/1 outcome): the
                // link is applied once per distinct one. The start's deviance
                // is never compared: no logarithm for it.
                let mut start_link = (f64::NAN, f64::NAN);
                for (r, i) in rows.clone().enumerate() {
                    mu[r] = family.start(problem.y[i], problem.trials(i));
                    if mu[r].to_bits() != start_link.0.to_bits() {
                        start_link = (mu[r], link.apply(mu[r]));
                    }
                    eta[r] = start_link.1;
                    (w[r], residual[r]) = working_row(problem, i, eta[r], mu[r]);
                }
            }
            Point::At { shift, .. } => {
                let (by_cell, numeric_beta) = (&inputs.by_cell, &inputs.numeric_beta);
                self.cells
                    .predict_rows(by_cell, &inputs.numeric, numeric_beta, start, eta);
                if problem.offset.is_some() || group.is_some() {
                    for (r, i) in rows.clone().enumerate() {
                        eta[r] +=
                            problem.offset(i) + group.map_or(0.0, |g| shift[g.ids[i] as usize]);
                    }
                }
                if self.logit_binary {
                    let y = &problem.y[rows.clone()];
                    let prior = &problem.weights[rows.clone()];
                    logit_block(y, prior, eta, mu, w, residual, deviance);
                } else {
                    for (r, i) in rows.clone().enumerate() {
                        mu[r] = mean(family, eta[r]);
                        *deviance += problem.weights[i] * family.unit_deviance(problem.y[i], mu[r]);
                        (w[r], residual[r]) = working_row(problem, i, eta[r], mu[r]);
                    }
                }
            }
        }
    }
}

/// Each row's linear predictor, working weight and working residual `(y - mu) / mu'`, as
/// a pass writes them (the means are [`mean`] of eta, not kept).
struct RowValues {
    eta: Vec<f64>,
    /// Empty when the pass adds the clusters' scores instead.
    w: Vec<f64>,
    residual: Vec<f64>,
}

impl RowValues {
    fn new(n: usize, weights: bool) -> Self {
        let rows = if weights { n } else { 0 };
        RowValues {
            eta: vec![0.0; n],
            w: vec![0.0; rows],
            residual: vec![0.0; rows],
        }
    }
}

/// IRLS reading the rows (demeaned) at every step: for designs with many cells or
/// several absorbed groupings.
fn fit_by_rows<'a>(problem: &Problem<'a>) -> Fit<'a> {
    let n = problem.y.len();
    let family = problem.family;
    let link = family.link();
    let mut mu: Vec<f64> = (0..n)
        .map(|i| family.start(problem.y[i], problem.trials(i)))
        .collect();
    let mut eta: Vec<f64> = mu.iter().map(|&m| link.apply(m)).collect();
    let mut deviance_old = f64::INFINITY;
    let mut kept: Vec<usize> = (0..problem.columns.len()).collect();
    let kept_columns = |kept: &[usize]| -> Vec<&MatrixColumn> {
        kept.iter().map(|&j| &problem.columns[j]).collect()
    };
    let mut cells = Cells::new(&kept_columns(&kept));
    let mut beta = vec![0.0; kept.len()];
    let mut w = vec![0.0; n];
    let mut z = vec![0.0; n];
    working(problem, &eta, &mu, &mut w, &mut z, true);
    let mut next = Step::new(n);
    let mut converged = false;
    let mut iterations = 0;
    let mut deviance = f64::NAN;
    let mut first = true;
    let mut failure = None;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        if crate::cancel::requested() {
            failure = Some(Failure::Cancelled);
            break;
        }
        let mut rows = Rows::with_cells(
            kept_columns(&kept),
            problem.fixed_effects,
            &w,
            Some(&z),
            cells.clone(),
        );
        let (mut xtwx, mut xtwz) = rows.cross_products(&w, &z);
        if first {
            // Collinear columns are found once, on the first weighted design.
            let dropped = linalg::collinear(&xtwx, &reference_norms(problem));
            if !dropped.is_empty() {
                kept = without(&kept, &dropped);
                cells = Cells::new(&kept_columns(&kept));
                rows = Rows::with_cells(
                    kept_columns(&kept),
                    problem.fixed_effects,
                    &w,
                    Some(&z),
                    cells.clone(),
                );
                (xtwx, xtwz) = rows.cross_products(&w, &z);
            }
            first = false;
        }
        let Some(mut new_beta) = linalg::solve(&xtwx, &xtwz) else {
            let overflowed = w.iter().chain(&z).any(|v| !v.is_finite());
            failure = Some(if overflowed {
                Failure::NotFinite {
                    iteration: iterations - 1,
                }
            } else {
                Failure::Singular {
                    iteration: iterations,
                }
            });
            break;
        };
        // eta = offset + z - (z~ - X~ beta): the fixed effects' part is what demeaning removed.
        let mut new_eta = rows.predictor(&new_beta, &z, &w);
        fill_chunks(&mut new_eta, |range, part| {
            for (e, i) in part.iter_mut().zip(range) {
                *e += problem.offset(i);
            }
        });
        next.take(problem, &new_eta);
        if iterations == 1 && !next.deviance.is_finite() {
            failure = Some(Failure::NotFinite { iteration: 1 });
            break;
        }
        let mut halvings = 0;
        while worse(next.deviance, deviance_old) && halvings < 30 {
            halvings += 1;
            fill_chunks(&mut new_eta, |range, part| {
                for (e, i) in part.iter_mut().zip(range) {
                    *e = 0.5 * (*e + eta[i]);
                }
            });
            // The coefficients with eta (eta is linear in them and the absorbed effects).
            for (new, old) in new_beta.iter_mut().zip(&beta) {
                *new = 0.5 * (*new + old);
            }
            next.take(problem, &new_eta);
        }
        if worse(next.deviance, deviance_old) {
            failure = Some(Failure::StepHalving {
                iteration: iterations,
            });
            break;
        }
        let settled = settled(family, &beta, &new_beta);
        beta = new_beta;
        eta = new_eta;
        std::mem::swap(&mut mu, &mut next.mu);
        std::mem::swap(&mut w, &mut next.w);
        std::mem::swap(&mut z, &mut next.z);
        deviance = next.deviance;
        if (deviance - deviance_old).abs() / (deviance.abs() + 0.1) < TOLERANCE && settled {
            converged = true;
            break;
        }
        deviance_old = deviance;
    }
    // The sandwich needs the weights and residuals at the solution.
    working(problem, &eta, &mu, &mut w, &mut z, false);
    let rows = Rows::with_cells(kept_columns(&kept), problem.fixed_effects, &w, None, cells);
    Fit {
        cluster_scores: None,
        beta: by_column(problem.columns.len(), &kept, &beta),
        kept,
        eta,
        working_weights: w,
        working_residuals: z,
        rows,
        information: None,
        deviance,
        iterations,
        converged,
        failure,
    }
}

/// The estimates by column, `None` for a column not kept.
fn by_column(columns: usize, kept: &[usize], beta: &[f64]) -> Vec<Option<f64>> {
    let mut full = vec![None; columns];
    for (a, &j) in kept.iter().enumerate() {
        full[j] = beta.get(a).copied();
    }
    full
}

/// The columns still kept once `dropped` (positions among `kept`) are left out.
fn without(kept: &[usize], dropped: &[usize]) -> Vec<usize> {
    kept.iter()
        .enumerate()
        .filter(|(a, _)| !dropped.contains(a))
        .map(|(_, &j)| j)
        .collect()
}

/// Whether a step's deviance is worse than the last (or not a number): the step is
/// then halved.
fn worse(deviance: f64, old: f64) -> bool {
    old.is_finite() && (!deviance.is_finite() || deviance > old * (1.0 + 1e-8) + 1e-8)
}

/// Whether the coefficients have stopped moving: needed only for links that are not
/// canonical, whose IRLS converges linearly (canonical ones are Newton's method).
fn settled(family: Family, beta: &[f64], new_beta: &[f64]) -> bool {
    let canonical = matches!(
        family,
        Family::Gaussian | Family::Binomial(Link::Logit) | Family::Poisson
    );
    canonical
        || beta.len() == new_beta.len()
            && beta
                .iter()
                .zip(new_beta)
                .all(|(old, new)| (new - old).abs() <= TOLERANCE * (new.abs() + 1e-6))
}

/// Each column's weighted sum of squares in the user's units (uncentred), in the
/// conditioned column's scale, at the first step's working weights: what R's rank
/// decision compares the part of a column that the others leave with.
fn reference_norms(problem: &Problem) -> Vec<f64> {
    let p = problem.columns.len();
    // A factor's dummies share their codes: one pass sums the weights by level for all.
    let mut factors: Vec<&Codes> = Vec::new();
    for column in problem.columns {
        if let MatrixColumn::Indicator { codes, .. } = column
            && !factors.iter().any(|f| Arc::ptr_eq(f, codes))
        {
            factors.push(codes);
        }
    }
    let levels = |codes: &Codes| {
        problem.columns.iter().find_map(|c| match c {
            MatrixColumn::Indicator {
                codes: c, levels, ..
            } if Arc::ptr_eq(c, codes) => Some(*levels as usize),
            _ => None,
        })
    };
    let sizes: Vec<usize> = factors.iter().map(|f| levels(f).unwrap_or(0)).collect();
    let size = 1 + p + sizes.iter().sum::<usize>();
    let partials = over_chunks(problem.y.len(), |range| {
        let weights = start_weights(problem, range.clone());
        // Σw, then each numeric column's Σ w x², then each factor's Σ w by level.
        let mut sums = vec![0.0; size];
        sums[0] = weights.iter().sum();
        let mut x = vec![0.0; range.len()];
        for (j, column) in problem.columns.iter().enumerate() {
            if let MatrixColumn::Values(_) = column {
                column.fill(range.start, &mut x);
                let uncentred = |v: f64| problem.conditioning.map_or(v, |c| c.uncentred(j, v));
                sums[1 + j] = x
                    .iter()
                    .zip(&weights)
                    .map(|(&v, w)| w * uncentred(v).powi(2))
                    .sum();
            }
        }
        let mut offset = 1 + p;
        for (codes, &levels) in factors.iter().zip(&sizes) {
            let by_level = &mut sums[offset..offset + levels];
            with_codes!(&***codes, codes => {
                for (&c, w) in codes[range.clone()].iter().zip(&weights) {
                    if let Some(s) = by_level.get_mut(c as usize) {
                        *s += w;
                    }
                }
            });
            offset += levels;
        }
        sums
    });
    let sums = add_partials(partials, size);
    (0..p)
        .map(|j| match &problem.columns[j] {
            MatrixColumn::Values(_) => sums[1 + j],
            MatrixColumn::Constant { value, .. } => value * value * sums[0],
            MatrixColumn::Indicator { codes, level, .. } => {
                let f = factors
                    .iter()
                    .position(|f| Arc::ptr_eq(f, codes))
                    .unwrap_or(0);
                let offset = 1 + p + sizes[..f].iter().sum::<usize>();
                sums[offset + *level as usize]
            }
        })
        .collect()
}

/// The first IRLS step's working weights of rows `range`, at the starting means: a
/// 0/1 outcome has two starting means, so the link is applied once per distinct one.
fn start_weights(problem: &Problem, range: std::ops::Range<usize>) -> Vec<f64> {
    let family = problem.family;
    let mut last = (f64::NAN, f64::NAN);
    range
        .map(|i| {
            let mu = family.start(problem.y[i], problem.trials(i));
            if mu.to_bits() != last.0.to_bits() {
                last = (mu, family.link().apply(mu));
            }
            working_row(problem, i, last.1, mu).0
        })
        .collect()
}

/// IRLS working weights `w` and residuals `(y - mu) / mu'`, plus `eta - offset` when
/// `response` (the working response) rather than the bare residual.
fn working(
    problem: &Problem,
    eta: &[f64],
    mu: &[f64],
    w: &mut [f64],
    z: &mut [f64],
    response: bool,
) {
    w.par_chunks_mut(CHUNK)
        .zip(z.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(c, (w, z))| {
            for r in 0..w.len() {
                let i = c * CHUNK + r;
                let (weight, residual) = working_row(problem, i, eta[i], mu[i]);
                w[r] = weight;
                z[r] = if response {
                    eta[i] - problem.offset(i) + residual
                } else {
                    residual
                };
            }
        });
}

/// Row `i`'s working weight and residual `(y - mu) / mu'`.
#[inline]
fn working_row(problem: &Problem, i: usize, eta: f64, mu: f64) -> (f64, f64) {
    let family = problem.family;
    let link = family.link();
    // For the logit mu' = mu(1 - mu): no exponential to take again.
    let d = if link == Link::Logit {
        (mu * (1.0 - mu)).max(f64::EPSILON)
    } else {
        link.derivative(eta)
    };
    let weight = problem.weights[i] * d * d / family.variance(mu).max(f64::MIN_POSITIVE);
    (weight, (problem.y[i] - mu) / d)
}

/// Logit rows of a 0/1 outcome at `eta` (prior weights `prior`): the means, the working
/// weights and residuals, and the weighted deviance added to `deviance`, as
/// [`Family::unit_deviance`] and [`working_row`] give them but with two divisions fewer
/// (for the logit `mu' = V(mu) = mu(1 - mu)`, so the weight `mu'^2 / V` is
/// `mu(1 - mu)`, and a row's deviance is the logarithm of one mean). In three loops
/// with no branch on the outcome, so the middle one runs on vector registers.
fn logit_block(
    y: &[f64],
    prior: &[f64],
    eta: &[f64],
    mu: &mut [f64],
    w: &mut [f64],
    residual: &mut [f64],
    deviance: &mut f64,
) {
    let family = Family::Binomial(Link::Logit);
    for (m, e) in mu.iter_mut().zip(eta) {
        *m = (-e).exp();
    }
    // The mean of the outcome each row has, whose logarithm is its deviance.
    let mut own = [0.0; BLOCK];
    let own = &mut own[..y.len()];
    for r in 0..y.len() {
        let m = clamp_mu(family, 1.0 / (1.0 + mu[r]));
        let variance = m * (1.0 - m);
        let d = variance.max(f64::EPSILON);
        let weight = if variance >= f64::EPSILON {
            variance
        } else {
            d * d / variance.max(f64::MIN_POSITIVE)
        };
        mu[r] = m;
        w[r] = prior[r] * weight;
        residual[r] = (y[r] - m) / d;
        own[r] = if y[r] == 1.0 { m } else { 1.0 - m };
    }
    for (p, o) in prior.iter().zip(own.iter()) {
        *deviance += p * (-2.0 * o.ln());
    }
}

/// A block of rows' values in a pass: scratch reused from block to block.
struct Block {
    eta: Vec<f64>,
    mu: Vec<f64>,
    w: Vec<f64>,
    residual: Vec<f64>,
    z: Vec<f64>,
}

/// The first rows of a [`Block`].
struct BlockRows<'b> {
    eta: &'b mut [f64],
    mu: &'b mut [f64],
    w: &'b mut [f64],
    residual: &'b mut [f64],
    z: &'b mut [f64],
}

impl Block {
    fn new() -> Self {
        let zeros = || vec![0.0; BLOCK];
        Block {
            eta: zeros(),
            mu: zeros(),
            w: zeros(),
            residual: zeros(),
            z: zeros(),
        }
    }

    fn first(&mut self, len: usize) -> BlockRows<'_> {
        BlockRows {
            eta: &mut self.eta[..len],
            mu: &mut self.mu[..len],
            w: &mut self.w[..len],
            residual: &mut self.residual[..len],
            z: &mut self.z[..len],
        }
    }
}

/// What a step to a new `eta` gives: the means, the deviance, and the next iteration's
/// working weights and response. Its buffers are reused from step to step: fresh
/// pages cost the kernel a fault each.
struct Step {
    mu: Vec<f64>,
    deviance: f64,
    w: Vec<f64>,
    z: Vec<f64>,
}

impl Step {
    fn new(n: usize) -> Self {
        Step {
            mu: vec![0.0; n],
            deviance: f64::NAN,
            w: vec![0.0; n],
            z: vec![0.0; n],
        }
    }

    /// Takes the step to `eta`, in one pass over the rows.
    fn take(&mut self, problem: &Problem, eta: &[f64]) {
        let family = problem.family;
        let partials: Vec<f64> = self
            .mu
            .par_chunks_mut(CHUNK)
            .zip(self.w.par_chunks_mut(CHUNK))
            .zip(self.z.par_chunks_mut(CHUNK))
            .enumerate()
            .map(|(c, ((mu, w), z))| {
                let mut deviance = 0.0;
                for r in 0..mu.len() {
                    let i = c * CHUNK + r;
                    let m = mean(family, eta[i]);
                    mu[r] = m;
                    deviance += problem.weights[i] * family.unit_deviance(problem.y[i], m);
                    let (weight, residual) = working_row(problem, i, eta[i], m);
                    w[r] = weight;
                    z[r] = eta[i] - problem.offset(i) + residual;
                }
                deviance
            })
            .collect();
        self.deviance = partials.into_iter().sum();
    }
}

/// The mean at linear predictor `eta`, as the fit computes it.
#[inline]
pub fn mean(family: Family, eta: f64) -> f64 {
    clamp_mu(family, family.link().inverse(eta))
}

#[inline]
fn clamp_mu(family: Family, mu: f64) -> f64 {
    match family {
        Family::Binomial(_) => mu.clamp(f64::EPSILON, 1.0 - f64::EPSILON),
        // As R's log link (`pmax(exp(eta), .Machine$double.eps)`), and at the floor of
        // `mu'`: a smaller mean with `mu'` held at the floor gives the row a working
        // weight of `ε²/mu`, up to 1e276, and the step runs off.
        Family::Poisson | Family::NegBin(_) => mu.max(f64::EPSILON),
        Family::Gaussian => mu,
    }
}

/// The NB2 log-density of a count `y` with mean `m` and shape `theta`, in a form that
/// keeps its digits as `theta` grows: `ln Γ(y+θ) − ln Γ(θ) − y ln(θ+m)` as a sum of
/// `ln(1 + (k − m)/(θ + m))` over `k < y` (each term small), and `θ ln(θ/(θ+m))` as
/// `−θ ln(1 + m/θ)`. Written as the gamma functions, a θ of 10¹⁰ (no over-dispersion)
/// loses the log-likelihood's fourth decimal to cancellation between terms of 10¹¹.
fn negbin_log_density(y: f64, m: f64, theta: f64) -> f64 {
    let counts = if y.fract() == 0.0 && y < 10_000.0 {
        (0..y as u32)
            .map(|k| ((f64::from(k) - m) / (theta + m)).ln_1p())
            .sum::<f64>()
    } else {
        ln_gamma(y + theta) - ln_gamma(theta) - y * (theta + m).ln()
    };
    let mean_part = if y == 0.0 { 0.0 } else { y * m.ln() };
    counts + mean_part - ln_gamma(y + 1.0) - theta * (m / theta).ln_1p()
}

/// The log-likelihood with row `i`'s mean `mean(i)` (prior weights as frequency weights).
pub fn log_likelihood(problem: &Problem, mean: impl Fn(usize) -> f64) -> f64 {
    let n = problem.y.len();
    match problem.family {
        Family::Gaussian => {
            let rss: f64 = (0..n)
                .map(|i| problem.weights[i] * (problem.y[i] - mean(i)).powi(2))
                .sum();
            // The weights are frequencies (a row stands for that many): the expanded
            // rows' likelihood, with N their number. R's `Σ log w` term belongs to
            // precision weights, which a Gaussian fit here never has.
            let n_expanded: f64 = problem.weights.iter().sum();
            -0.5 * n_expanded
                * ((2.0 * std::f64::consts::PI).ln() + 1.0 - n_expanded.ln() + rss.ln())
        }
        Family::Binomial(_) => (0..n)
            .map(|i| {
                let m = problem.trials(i);
                let k = (problem.y[i] * m).round();
                let w = problem.weights[i] / m;
                let choose = ln_gamma(m + 1.0) - ln_gamma(k + 1.0) - ln_gamma(m - k + 1.0);
                let term = |count: f64, p: f64| if count == 0.0 { 0.0 } else { count * p.ln() };
                let mu = mean(i);
                w * (choose + term(k, mu) + term(m - k, 1.0 - mu))
            })
            .sum(),
        Family::Poisson => (0..n)
            .map(|i| {
                let (y, mu) = (problem.y[i], mean(i));
                problem.weights[i]
                    * (if y == 0.0 { 0.0 } else { y * mu.ln() } - mu - ln_gamma(y + 1.0))
            })
            .sum(),
        Family::NegBin(theta) => (0..n)
            .map(|i| problem.weights[i] * negbin_log_density(problem.y[i], mean(i), theta))
            .sum(),
    }
}

#[cfg(test)]
mod negbin_density_tests {
    use super::*;

    /// The stable form equals the gamma functions' where those keep their digits, and
    /// tends to the Poisson's log-density as θ grows (where they do not).
    #[test]
    fn the_negbin_density_keeps_its_digits() {
        for (y, m, theta) in [
            (0.0, 2.5, 1.3),
            (3.0, 2.5, 1.3),
            (17.0, 4.0, 0.7),
            (2.0, 0.1, 50.0),
        ] {
            let direct = ln_gamma(y + theta) - ln_gamma(theta) - ln_gamma(y + 1.0)
                + theta * (theta / (theta + m)).ln()
                + if y == 0.0 {
                    0.0
                } else {
                    y * (m / (theta + m)).ln()
                };
            let stable = negbin_log_density(y, m, theta);
            assert!(
                (stable - direct).abs() < 1e-12 * direct.abs().max(1.0),
                "{y} {m} {theta}"
            );
        }
        for (y, m) in [(0.0, 2.5), (3.0, 2.5), (40.0, 35.0)] {
            let poisson = y * f64::ln(m) - m - ln_gamma(y + 1.0);
            let stable = negbin_log_density(y, m, 1e12);
            assert!(
                (stable - poisson).abs() < 1e-9,
                "{y} {m}: {stable} vs {poisson}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::{RngExt, SeedableRng};
    use rand_pcg::Pcg64;

    use super::*;
    use crate::matrix::Codes;

    /// A logit design of `n` rows: an intercept-free design with a numeric column, a
    /// 4-level factor (three dummies) and a 30-level absorbed grouping, or with an
    /// intercept and no grouping; and an outcome drawn from it.
    fn design(n: usize, seed: u64) -> (Vec<MatrixColumn>, Vec<f64>, Vec<f64>, Grouping) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let drawn: Vec<u32> = (0..n).map(|_| rng.random_range(0..4u32)).collect();
        let codes: Codes = Arc::new(LevelCodes::new(drawn.clone(), 4));
        let groups: Vec<u32> = (0..n).map(|_| rng.random_range(0..30u32)).collect();
        let x: Vec<f64> = (0..n)
            .map(|i| f64::from(groups[i]) / 10.0 + rng.random::<f64>())
            .collect();
        let y = (0..n)
            .map(|i| {
                let eta =
                    -0.5 + 0.8 * x[i] - 0.3 * f64::from(drawn[i]) + f64::from(groups[i] % 3) * 0.2;
                f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp())))
            })
            .collect();
        let weights = (0..n).map(|_| 0.5 + rng.random::<f64>()).collect();
        let mut columns = vec![MatrixColumn::values(x)];
        for level in 1..4 {
            columns.push(MatrixColumn::Indicator {
                codes: codes.clone(),
                level,
                levels: 4,
            });
        }
        let grouping = Grouping {
            ids: Arc::new(groups),
            levels: 30,
        };
        (columns, y, weights, grouping)
    }

    /// A weighted logit with absorbed groups.
    fn absorbed_logit<'a>(
        y: &'a [f64],
        columns: &'a [MatrixColumn],
        weights: &'a [f64],
        groups: &'a [Grouping],
    ) -> Problem<'a> {
        Problem {
            family: Family::Binomial(Link::Logit),
            y,
            columns,
            weights,
            trials: None,
            offset: None,
            fixed_effects: groups,
            score_grouping: None,
            conditioning: None,
        }
    }

    fn close(a: &Fit, b: &Fit, tolerance: f64) {
        assert_eq!(a.kept, b.kept);
        for (x, y) in a.beta.iter().zip(&b.beta) {
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!((x - y).abs() <= tolerance * (1.0 + y.abs()), "{x} vs {y}");
        }
        assert!((a.deviance - b.deviance).abs() <= tolerance * b.deviance);
    }

    /// Asserts that `fit`'s information equals `X̃'WX̃` from the rows `by_rows` demeaned,
    /// and returns the latter.
    fn same_information(fit: &Fit, by_rows: &Fit) -> Mat<f64> {
        let (w, r) = (&by_rows.working_weights, &by_rows.working_residuals);
        let (information, _) = by_rows.rows.cross_products(w, r);
        let fitted = fit.information.as_ref().unwrap();
        let p = fit.kept.len();
        for a in 0..p {
            for b in 0..p {
                let (x, y) = (fitted[(a, b)], information[(a, b)]);
                assert!(
                    (x - y).abs() <= 1e-7 * (1.0 + y.abs()),
                    "({a}, {b}): {x} vs {y}"
                );
            }
        }
        information
    }

    #[test]
    fn an_interrupted_fit_stops_at_its_next_pass_and_says_so() {
        let (columns, y, weights, grouping) = design(2_000, 5);
        let groups = [grouping];
        let problem = absorbed_logit(&y, &columns, &weights, &groups);
        crate::cancel::watch(Arc::new(std::sync::atomic::AtomicBool::new(true)));
        let by_cells = fit_by_cells(&problem);
        let by_rows = fit_by_rows(&problem);
        crate::cancel::watch(Arc::new(std::sync::atomic::AtomicBool::new(false)));
        assert!(
            by_cells.is_none(),
            "the fit by cells leaves the rows to say why"
        );
        assert!(matches!(by_rows.failure, Some(Failure::Cancelled)));
        assert!(!by_rows.converged && by_rows.iterations <= 1);
        assert!(
            fit_by_rows(&problem).converged,
            "a later fit is not cancelled"
        );
    }

    #[test]
    fn a_small_grouping_joined_as_dummies_gives_what_absorbing_it_gives() {
        let (columns, y, weights, large) = design(20_000, 11);
        let n = y.len();
        let small = Grouping {
            ids: Arc::new((0..n).map(|i| (i * 7 % 5) as u32).collect()),
            levels: 5,
        };
        // Clusters that each hold whole groups of the large grouping (as PCNs hold
        // practices).
        let coarse = Grouping {
            ids: Arc::new(large.ids.iter().map(|g| g / 4).collect()),
            levels: 8,
        };
        let groups = [small, large];
        // Clustered by the large grouping, or by groups holding its groups, the passes add
        // the scores; by another, they come from the rows the last pass wrote.
        for (clusters, by_passes) in [(&groups[1], true), (&coarse, true), (&groups[0], false)] {
            let problem = Problem {
                score_grouping: Some(clusters),
                ..absorbed_logit(&y, &columns, &weights, &groups)
            };
            let joined = fit_joining_small_groupings(&problem).expect("the small grouping joins");
            assert_eq!(joined.working_weights.is_empty(), by_passes);
            let by_rows = fit_by_rows(&problem);
            assert!(joined.converged && by_rows.converged);
            close(&joined, &by_rows, 1e-9);
            // The information and each cluster's scores with the small grouping partialled
            // out equal those of the columns demeaned within both groupings, row by row.
            let (w, r) = (&by_rows.working_weights, &by_rows.working_residuals);
            same_information(&joined, &by_rows);
            let p = joined.kept.len();
            let scores = by_rows.rows.score_sums(clusters, w, r);
            let joined_scores = joined.cluster_scores.as_ref().unwrap();
            assert_eq!(joined_scores.len(), clusters.levels * p);
            for (x, y) in joined_scores.iter().zip(&scores) {
                assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
        // Other variances read the rows: the fit goes by rows.
        let unclustered = absorbed_logit(&y, &columns, &weights, &groups);
        assert!(fit_joining_small_groupings(&unclustered).is_none());
    }

    #[test]
    fn several_large_groupings_by_their_combinations_give_what_the_rows_give() {
        // Two crossed groupings of 30 and 40 levels (neither joins as dummies), and a
        // third nested in neither: the fit by the table of their combinations against
        // conjugate gradients on the rows, with no clusters (the rows' values written),
        // clusters of one grouping and clusters holding whole groups of another.
        let (columns, y, weights, first) = design(30_000, 13);
        let n = y.len();
        let second = Grouping {
            ids: Arc::new((0..n).map(|i| ((i * 17 + i / 11) % 40) as u32).collect()),
            levels: 40,
        };
        let third = Grouping {
            ids: Arc::new((0..n).map(|i| ((i / 7) % 3) as u32).collect()),
            levels: 3,
        };
        let coarse = Grouping {
            ids: Arc::new(first.ids.iter().map(|g| g / 5).collect()),
            levels: 6,
        };
        for groups in [
            vec![first.clone(), second.clone()],
            vec![first.clone(), second, third],
        ] {
            for clusters in [None, Some(&groups[1]), Some(&coarse)] {
                let problem = Problem {
                    score_grouping: clusters,
                    ..absorbed_logit(&y, &columns, &weights, &groups)
                };
                let by_table = fit_by_combinations(&problem).expect("few combinations");
                let by_rows = fit_by_rows(&problem);
                assert!(by_table.converged && by_rows.converged);
                assert!(by_table.rows.within_tolerance);
                close(&by_table, &by_rows, 1e-9);
                let (w, r) = (&by_rows.working_weights, &by_rows.working_residuals);
                let information = same_information(&by_table, &by_rows);
                let p = by_table.kept.len();
                for i in (0..n).step_by(97) {
                    let (x, y) = (by_table.eta[i], by_rows.eta[i]);
                    assert!(
                        (x - y).abs() <= 1e-7 * (1.0 + y.abs()),
                        "eta {i}: {x} vs {y}"
                    );
                }
                match clusters {
                    Some(c) => {
                        assert!(by_table.working_weights.is_empty());
                        let scores = by_rows.rows.score_sums(c, w, r);
                        let added = by_table.cluster_scores.as_ref().unwrap();
                        for (x, y) in added.iter().zip(&scores) {
                            assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{x} vs {y}");
                        }
                    }
                    None => {
                        // The sandwich reads the rows, demeaned by the combinations' values.
                        let (table_w, table_r) =
                            (&by_table.working_weights, &by_table.working_residuals);
                        let (again, _) = by_table.rows.cross_products(table_w, table_r);
                        for a in 0..p {
                            let (x, y) = (again[(a, a)], information[(a, a)]);
                            assert!((x - y).abs() <= 1e-7 * (1.0 + y.abs()), "({a}): {x} vs {y}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fits_by_cells_and_by_rows_agree() {
        let (mut columns, y, weights, grouping) = design(20_000, 7);
        let groups = [grouping];
        for absorbed in [true, false] {
            if !absorbed {
                columns.insert(
                    0,
                    MatrixColumn::Constant {
                        value: 1.0,
                        rows: y.len(),
                    },
                );
            }
            let problem = Problem {
                family: Family::Binomial(Link::Logit),
                y: &y,
                columns: &columns,
                weights: &weights,
                trials: None,
                offset: None,
                fixed_effects: if absorbed { &groups } else { &[] },
                score_grouping: None,
                conditioning: None,
            };
            let by_cells = fit_by_cells(&problem).expect("these columns have cells");
            let by_rows = fit_by_rows(&problem);
            assert!(by_cells.converged && by_rows.converged);
            close(&by_cells, &by_rows, 1e-9);

            // Clustered on the same groups, the fit adds the clusters' scores itself and
            // writes no weights or residuals; the sums equal those made from the rows.
            let clustered = Problem {
                score_grouping: Some(&groups[0]),
                ..problem
            };
            let with_scores = fit_by_cells(&clustered).expect("these columns have cells");
            assert!(with_scores.working_weights.is_empty());
            let added = with_scores
                .cluster_scores
                .expect("the fit added the scores");
            let from_rows = by_cells
                .rows
                .group_score_sums(
                    &groups[0],
                    &by_cells.working_weights,
                    &by_cells.working_residuals,
                )
                .expect("the scores sum by a table");
            assert_eq!(added.len(), from_rows.len());
            for (a, b) in added.iter().zip(&from_rows) {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn a_column_constant_within_the_absorbed_groups_is_left_to_the_rows() {
        // Nearly a function of the group: X'WX − Σ W_g x̄ x̄' would lose its digits.
        let (mut columns, y, weights, grouping) = design(5_000, 11);
        let nearly: Vec<f64> = grouping
            .ids
            .iter()
            .enumerate()
            .map(|(i, &g)| 1000.0 * f64::from(g) + 1e-4 * (i % 7) as f64)
            .collect();
        columns.push(MatrixColumn::values(nearly));
        let groups = [grouping];
        let problem = absorbed_logit(&y, &columns, &weights, &groups);
        assert!(fit_by_cells(&problem).is_none());
        assert!(fit(&problem).converged);
    }

    #[test]
    fn level_codes_of_any_width_give_the_same_fit() {
        // The factor's codes in one byte (as read), two or four: every loop over them is
        // compiled per width, and each must add the same numbers in the same order. The
        // fit goes by cells with the grouping absorbed, and by rows without cells.
        let (columns, y, weights, grouping) = design(5_000, 17);
        let MatrixColumn::Indicator { codes, .. } = &columns[1] else {
            panic!("the design's second column is a dummy");
        };
        assert!(matches!(**codes, LevelCodes::U8(_)));
        let wide: Vec<u32> = (0..codes.len()).map(|i| codes.get(i)).collect();
        let narrow: Vec<u16> = wide.iter().map(|&c| c as u16).collect();
        let groups = [grouping];
        let fits: Vec<(Vec<Option<f64>>, f64)> = [
            (**codes).clone(),
            LevelCodes::U16(narrow),
            LevelCodes::U32(wide),
        ]
        .into_iter()
        .flat_map(|codes| {
            let codes: Codes = Arc::new(codes);
            let recoded: Vec<MatrixColumn> = columns
                .iter()
                .map(|c| match c {
                    MatrixColumn::Indicator { level, levels, .. } => MatrixColumn::Indicator {
                        codes: codes.clone(),
                        level: *level,
                        levels: *levels,
                    },
                    other => other.clone(),
                })
                .collect();
            let by_cells = fit(&absorbed_logit(&y, &recoded, &weights, &groups));
            let by_rows = fit_by_rows(&absorbed_logit(&y, &recoded, &weights, &groups));
            [by_cells, by_rows].map(|f| (f.beta, f.deviance))
        })
        .collect();
        for (k, other) in fits.iter().enumerate().skip(2) {
            assert_eq!(other, &fits[k % 2], "width {} against one byte", k / 2);
        }
    }

    #[test]
    fn level_codes_take_the_fewest_bytes_and_keep_values_outside_the_levels() {
        let outside = u32::MAX;
        let codes = LevelCodes::new(vec![0, 254, outside], 255);
        assert!(matches!(codes, LevelCodes::U8(_)));
        assert_eq!(
            [codes.get(0), codes.get(1), codes.get(2)],
            [0, 254, outside]
        );
        let codes = LevelCodes::new(vec![0, 255, outside], 256);
        assert!(matches!(codes, LevelCodes::U16(_)));
        assert_eq!([codes.get(1), codes.get(2)], [255, outside]);
        let codes = LevelCodes::new(vec![65_534, outside], 65_535);
        assert!(matches!(codes, LevelCodes::U16(_)));
        assert_eq!([codes.get(0), codes.get(1)], [65_534, outside]);
        let codes = LevelCodes::new(vec![65_535, outside], 65_536);
        assert!(matches!(codes, LevelCodes::U32(_)));
        assert_eq!([codes.get(0), codes.get(1)], [65_535, outside]);
        let kept = LevelCodes::new(vec![3, 1, 2], 4).kept(&[true, false, true]);
        assert_eq!(kept, LevelCodes::U8(vec![3, 2]));
        // No dummy takes a value outside the levels.
        let column = MatrixColumn::Indicator {
            codes: Arc::new(LevelCodes::new(vec![1, outside], 2)),
            level: 1,
            levels: 2,
        };
        let mut out = [9.0; 2];
        column.fill(0, &mut out);
        assert_eq!(out, [1.0, 0.0]);
    }
}
