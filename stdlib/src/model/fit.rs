//! From a design and the statement's options to a [`Model`]: checks that the data
//! suit the family, the fit, the variance, and the notes a reader needs.

use faer::Mat;
use spel_grammar::{Diagnostic, Span};

use super::{Coefficient, Distribution, Model, ModelFamily};
use crate::choice::Choice;
use crate::format;
use crate::formula::design::{Design, Grouping, MatrixColumn, kept_rows};
use rayon::prelude::*;
use spel_stats::absorbed::nested_in;
use spel_stats::conditioning::Conditioning;
use spel_stats::glm::{self, Family, Link, Problem};
use spel_stats::linalg;
use spel_stats::negbin::ThetaWarning;
use spel_stats::rows::sum_over;
use spel_stats::vcov::{self, Adjustment, Estimator};

#[derive(Clone)]
pub struct Options {
    /// `None`: logit for a 0/1 outcome, OLS otherwise.
    pub family: Option<ModelFamily>,
    pub estimator: Option<Estimator>,
    pub adjustment: Adjustment,
    /// t with n-k degrees of freedom for clustered OLS, instead of G-1.
    pub residual_df: bool,
    /// Keep absorbed groups whose outcome never varies (fixest's `fixef.rm = "none"`).
    pub keep_separated: bool,
    pub level: f64,
    pub formula: String,
    pub variables: Vec<String>,
    pub condition: Option<String>,
    /// Where to point errors about the outcome, weights, trials and clusters.
    pub outcome_span: Span,
    pub option_spans: Vec<(&'static str, Span)>,
    /// Two-stage least squares' second stage: the design's columns at these positions
    /// hold endogenous terms' first-stage fitted values, given with each row's
    /// first-stage residual. The variance then uses the structural residuals `y − Xβ`
    /// (X the endogenous values themselves), and the fit reports no likelihood.
    pub instrumented: Vec<(usize, Vec<f64>)>,
    /// A model on a survey: the one cluster column holds each row's PSU in this design,
    /// whose strata and finite population factors make the variance.
    pub survey: Option<std::sync::Arc<spel_stats::survey::Design>>,
    /// A mixed model by REML (lme4's default) rather than maximum likelihood.
    pub reml: bool,
}

impl Options {
    pub(crate) fn span_of(&self, option: &str) -> Span {
        self.option_spans
            .iter()
            .find(|(name, _)| *name == option)
            .map_or(self.outcome_span, |(_, s)| *s)
    }
}

pub fn fit(mut design: Design, options: &Options) -> Result<Model, Diagnostic> {
    if !design.random.is_empty() {
        return super::mixed::fit(design, options);
    }
    let mut notes = Vec::new();
    let data = FitData::prepare(&mut design, options, &mut notes)?;
    let n = data.y.len();
    let family = data.family;
    let mut problem = data.problem(&design);
    let (mut fitted, theta) = estimate(&mut problem, &mut notes);
    if let Some(failure) = fitted.failure {
        return Err(irls_failure(failure, options));
    }
    if !fitted.rows.within_tolerance {
        notes.push(format!(
            "Demeaning by the absorbed effects stopped short of its tolerance ({:e} of the \
             largest value; rounding, or the limit of {} conjugate-gradient steps): the \
             estimates may be off in their last digits.",
            spel_stats::rows::DEMEANING_TOLERANCE,
            format::count(spel_stats::rows::DEMEANING_STEPS)
        ));
    }
    if !fitted.converged {
        notes.push(format!(
            "The fit did not converge in {} iterations; the estimates are not reliable.",
            fitted.iterations
        ));
    }
    let kept = fitted.kept.clone();
    let collinear = collinear_names(&design, &kept, &mut notes);
    let beta = data.conditioning.coefficients(&fitted.beta);
    let structural_eta = structural(&mut fitted, &beta, &options.instrumented);
    let variance = Variance::estimate(
        &design,
        options,
        &data,
        &fitted,
        &structural_eta,
        &mut notes,
    )?;
    let coefficients = wald_coefficients(&design, options, &fitted.kept, &beta, &variance);
    let vcov_rows = (0..kept.len())
        .map(|a| (0..kept.len()).map(|b| variance.v[(a, b)]).collect())
        .collect();
    let Description {
        statistics,
        se_description,
        se_factor,
        conventions,
        fixed_effect_values,
    } = describe(
        &design,
        options,
        &problem,
        &fitted,
        &structural_eta,
        &variance,
        &mut notes,
    );
    let (deviance, iterations, converged) = (fitted.deviance, fitted.iterations, fitted.converged);
    let eta = structural_eta.unwrap_or(fitted.eta);
    // Done with the fit: the prior weights become the model's for averages, not copied.
    let average_weights = data.average_weights.unwrap_or(data.weights);
    Ok(Model {
        family: data.family_name,
        formula: options.formula.clone(),
        outcome: design.outcome.clone(),
        n,
        n_weighted: design.freq.as_ref().map(|_| variance.n_obs),
        n_total: design.n_total,
        n_outside_condition: design.n_outside_condition,
        condition: options.condition.clone(),
        n_dropped_missing: design.n_dropped_missing,
        missing: design.missing.clone(),
        n_dropped_separated: design.n_dropped_separated,
        rows_kept: design.rows_kept.take(),
        coefficients,
        variables: options.variables.clone(),
        vcov: vcov_rows,
        collinear,
        references: design.references.clone(),
        fixed_effect_values,
        fixed_effects: design
            .fixed_effects
            .iter()
            .map(|g| (g.name.clone(), g.grouping.levels))
            .collect(),
        clusters: design
            .clusters
            .iter()
            .map(|g| (g.name.clone(), g.grouping.levels))
            .collect(),
        se_description,
        se_factor: se_factor.to_string(),
        conventions,
        distribution: variance.distribution,
        level: options.level,
        log_lik: statistics.log_lik,
        aic: statistics.aic,
        bic: statistics.bic,
        deviance,
        r_squared: statistics.r_squared,
        pseudo_r_squared: statistics.pseudo_r_squared,
        theta,
        iterations,
        converged,
        notes,
        family_kind: family,
        kept: kept.clone(),
        average_weights,
        eta,
        source: None,
        instrumental: None,
        mixed: None,
    })
}

/// What the fit works with besides the design: the family, the outcome and prior
/// weights as it wants them, and the groupings.
struct FitData {
    family_name: ModelFamily,
    family: Family,
    y: Vec<f64>,
    weights: Vec<f64>,
    has_probability_weights: bool,
    /// Margins average with the weights before the trials.
    average_weights: Option<Vec<f64>>,
    fixed_effects: Vec<Grouping>,
    clusters: Vec<Grouping>,
    /// One-way cluster-robust errors (asked for, or the default with clusters) need
    /// only each cluster's sums of scores, which the fit can add as it goes.
    clustered: bool,
    /// How the numeric columns were centred and scaled, so that calendar years and
    /// their powers are solved and judged for rank as R's QR does; the results are
    /// taken back to the user's units.
    conditioning: Conditioning,
}

impl FitData {
    /// The family, once the outcome suits it, and the prior weights; the design's
    /// outcome and weights are taken, not copied.
    fn prepare(
        design: &mut Design,
        options: &Options,
        notes: &mut Vec<String>,
    ) -> Result<FitData, Diagnostic> {
        // Without branches, so the test runs on vector registers.
        let binary = design
            .y
            .iter()
            .fold(true, |all, &y| all & ((y == 0.0) | (y == 1.0)));
        let family_name = choose_family(design, options, binary, notes);

        let (mut weights, has_probability_weights) = prior_weights(design, options)?;
        // Margins average with the weights before the trials.
        let mut average_weights = design.trials.as_ref().map(|_| weights.clone());
        let mut y = std::mem::take(&mut design.y);
        let family = glm_family(family_name, design, &mut y, &mut weights, binary, options)?;
        check_clusters(design, options)?;
        if !options.keep_separated {
            let outcome = (&mut y, &mut weights, &mut average_weights);
            drop_separated_groups(design, family, outcome, notes, options)?;
        }

        // Two-stage least squares' scores use residuals the fit does not see.
        let clustered = options.instrumented.is_empty()
            && match options.estimator {
                Some(e) => e == Estimator::Cluster,
                None => !design.clusters.is_empty(),
            };
        let fixed_effects = fitted_groupings(design, notes);
        let clusters: Vec<Grouping> = design.clusters.iter().map(|g| g.grouping.clone()).collect();
        let conditioning =
            Conditioning::apply(&mut design.columns, !design.fixed_effects.is_empty());
        Ok(FitData {
            family_name,
            family,
            y,
            weights,
            has_probability_weights,
            average_weights,
            fixed_effects,
            clusters,
            clustered,
            conditioning,
        })
    }

    fn problem<'a>(&'a self, design: &'a Design) -> Problem<'a> {
        let trials = match self.family {
            Family::Binomial(_) => design.trials.as_deref(),
            _ => None,
        };
        Problem {
            family: self.family,
            y: &self.y,
            columns: &design.columns,
            weights: &self.weights,
            trials,
            offset: design.offset.as_deref(),
            fixed_effects: &self.fixed_effects,
            score_grouping: match self.clusters.as_slice() {
                [one] if self.clustered => Some(one),
                _ => None,
            },
            conditioning: Some(&self.conditioning),
        }
    }
}

/// The absorbed groupings the fit needs: one nested in another (regions beside PCNs)
/// adds nothing, so it is left out of the fit and of the degrees of freedom, and said in
/// a note. Its values are still reported (zero sums beside the finer ones' values).
/// Of two that are the same grouping, the first is kept.
fn fitted_groupings(design: &Design, notes: &mut Vec<String>) -> Vec<Grouping> {
    let groups = &design.fixed_effects;
    let mut within: Vec<Option<usize>> = vec![None; groups.len()];
    for coarse in 0..groups.len() {
        within[coarse] = (0..groups.len()).find(|&fine| {
            fine != coarse
                && within[fine].is_none()
                && nested_in(&groups[fine].grouping, &groups[coarse].grouping)
                && (fine < coarse || !nested_in(&groups[coarse].grouping, &groups[fine].grouping))
        });
        if let Some(fine) = within[coarse] {
            notes.push(format!(
                "`{fine}` is nested in `{coarse}` (each of its {} levels lies within one \
                 level of `{coarse}`): the effects of `{coarse}` are sums of those of `{fine}`, so \
                 they are absorbed already and add no parameters.",
                format::count(groups[fine].grouping.levels),
                fine = groups[fine].name,
                coarse = groups[coarse].name,
            ));
        }
    }
    groups
        .iter()
        .zip(&within)
        .filter(|(_, nested)| nested.is_none())
        .map(|(g, _)| g.grouping.clone())
        .collect()
}

/// Absorbed groups whose outcome never varies — always 0 or always 1 for a binomial
/// outcome, always 0 for counts — dropped before the fit with their rows, as fixest and
/// Stata drop them: each such group's effect is infinite, and the rows tell nothing
/// about the other terms, whose estimates are the same without them. Said in a note.
fn drop_separated_groups(
    design: &mut Design,
    family: Family,
    (y, weights, average_weights): (&mut Vec<f64>, &mut Vec<f64>, &mut Option<Vec<f64>>),
    notes: &mut Vec<String>,
    options: &Options,
) -> Result<(), Diagnostic> {
    let counts = match family {
        Family::Gaussian => return Ok(()),
        Family::Binomial(_) => false,
        Family::Poisson | Family::NegBin(_) => true,
    };
    if design.fixed_effects.is_empty() {
        return Ok(());
    }
    let groupings: Vec<&Grouping> = design.fixed_effects.iter().map(|g| &g.grouping).collect();
    let (keep, dropped) = spel_stats::separation::constant_outcome_groups(y, counts, &groupings);
    let rows = keep.iter().filter(|k| !**k).count();
    if rows == 0 {
        return Ok(());
    }
    if rows == keep.len() {
        return Err(Diagnostic::new(
            "spel::model::all_separated",
            "every row is in an absorbed group whose outcome never varies: nothing is left to fit",
        )
        .at(options.outcome_span)
        .with_help("an absorbed effect needs groups in which the outcome varies; drop the `fe()`, or use coarser groups"));
    }
    let pick = |values: &[f64]| kept_rows(values, &keep);
    *y = pick(y);
    *weights = pick(weights);
    if let Some(average) = average_weights.as_mut() {
        *average = pick(average);
    }
    let groups: Vec<String> = design
        .fixed_effects
        .iter()
        .zip(&dropped)
        .filter(|(_, d)| **d > 0)
        .map(|(g, d)| format!("{} of `{}`", format::plural(*d, "group"), g.name))
        .collect();
    design.n_dropped_separated = rows;
    design.retain_rows(&keep);
    design.rows_kept = Some(keep);
    notes.push(format!(
        "{} dropped with {} whose outcome is always {}: such a group's absorbed effect is \
         infinite and its rows tell nothing about the other terms, whose estimates are the \
         same without them (fixest and Stata drop them too; `separated = keep` keeps them).",
        format::plural(rows, "row"),
        groups.join(" and "),
        if counts { "0" } else { "0 or always 1" }
    ));
    Ok(())
}

/// The columns dropped as collinear, said in a note.
fn collinear_names(design: &Design, kept: &[usize], notes: &mut Vec<String>) -> Vec<String> {
    let collinear: Vec<String> = (0..design.names.len())
        .filter(|j| !kept.contains(j))
        .map(|j| design.names[j].clone())
        .collect();
    if !collinear.is_empty() {
        notes.push(format!(
            "Dropped for collinearity (a combination of other terms, as R's NA and Stata's \"omitted\"): {}.",
            collinear.join(", ")
        ));
    }
    collinear
}

/// The coefficients' variance and what it rests on: the observations, the parameters
/// (absorbed ones too), the estimator and the tests' distribution.
struct Variance {
    v: Mat<f64>,
    n_obs: f64,
    /// The absorbed effects' parameters.
    absorbed: usize,
    k: f64,
    ols: bool,
    residual_ss: f64,
    has_probability_weights: bool,
    estimator: Estimator,
    distribution: Distribution,
}

impl Variance {
    fn estimate(
        design: &Design,
        options: &Options,
        data: &FitData,
        fitted: &glm::Fit,
        structural_eta: &Option<Vec<f64>>,
        notes: &mut Vec<String>,
    ) -> Result<Variance, Diagnostic> {
        let (family, y, weights) = (data.family, &data.y, &data.weights);
        let eta = structural_eta.as_deref().unwrap_or(&fitted.eta);
        let n = y.len();
        let bread = bread(fitted)
            .map_err(|involved| singular_error(&involved, &fitted.kept, design, options))?;
        let n_obs: f64 = design.freq.as_ref().map_or(n as f64, |f| f.iter().sum());
        let absorbed: usize = if design.fixed_effects.is_empty() {
            0
        } else {
            data.fixed_effects.iter().map(|g| g.levels).sum::<usize>()
                - (data.fixed_effects.len() - 1)
        };
        let k = (fitted.kept.len() + absorbed) as f64;
        let ols = family == Family::Gaussian;
        check_enough_rows(weights, design.freq.as_deref(), k, ols, options)?;
        let residual_ss = if ols {
            sum_over(n, |i| {
                weights[i] * (y[i] - glm::mean(family, eta[i])).powi(2)
            })
        } else {
            f64::NAN
        };
        let dispersion = if ols { residual_ss / (n_obs - k) } else { 1.0 };

        let has_probability_weights = data.has_probability_weights;
        let estimator = choose_estimator(design, options, has_probability_weights, notes)?;
        let inputs = vcov::Inputs {
            rows: &fitted.rows,
            bread: &bread,
            working_weights: &fitted.working_weights,
            working_residuals: &fitted.working_residuals,
            freq: design.freq.as_deref(),
            n: n_obs,
            k,
            ols,
            dispersion,
            clusters: &data.clusters,
            cluster_scores: fitted.cluster_scores.as_deref(),
        };
        let (v, distribution) = match &options.survey {
            Some(survey) => {
                let (v, df) = survey_variance(survey, design, &inputs);
                let v = data.conditioning.covariance(&fitted.kept, &v);
                (v, survey_distribution(df, fitted.kept.len(), options)?)
            }
            None => {
                let v = data.conditioning.covariance(
                    &fitted.kept,
                    &vcov::estimate(&inputs, estimator, options.adjustment),
                );
                let v = positive_semi_definite(v, estimator, &data.clusters, notes);
                let g_min = data.clusters.iter().map(|g| g.levels).min().unwrap_or(0) as f64;
                (v, distribution(ols, estimator, options, g_min, n_obs - k)?)
            }
        };
        Ok(Variance {
            v,
            n_obs,
            absorbed,
            k,
            ols,
            residual_ss,
            has_probability_weights,
            estimator,
            distribution,
        })
    }
}

/// The linearised variance of a model on a survey, as R's `svyglm`: each PSU's sums of
/// scores centred within its stratum (n/(n − 1) and the finite population factor), in
/// the sandwich of (X'WX)⁻¹; and the design's degrees of freedom over the PSUs the
/// model's rows fall in. The cluster column's labels are the design's PSU numbers.
fn survey_variance(
    survey: &spel_stats::survey::Design,
    design: &Design,
    inputs: &vcov::Inputs,
) -> (Mat<f64>, usize) {
    let labels: Vec<usize> = design.clusters[0]
        .labels
        .iter()
        .map(|l| l.parse().expect("the survey's PSU numbers"))
        .collect();
    let mut present = vec![false; survey.psus()];
    for &id in design.clusters[0].grouping.ids.iter() {
        present[labels[id as usize]] = true;
    }
    let v = vcov::from_cluster_sums(inputs, |sums| {
        let p = inputs.rows.width();
        let mut totals = vec![vec![0.0; p]; survey.psus()];
        for (level, sum) in sums.chunks(p.max(1)).enumerate() {
            totals[labels[level]].copy_from_slice(sum);
        }
        let covariance = survey.covariance_of_totals(&totals);
        Mat::from_fn(p, p, |a, b| covariance[a][b])
    });
    (v, survey.degrees_of_freedom_of(&present))
}

/// t on the design's degrees of freedom plus one, less the coefficients, for every
/// family (`svyglm`'s `df.residual` and `summary`).
fn survey_distribution(
    design_df: usize,
    coefficients: usize,
    options: &Options,
) -> Result<Distribution, Diagnostic> {
    let df = design_df as f64 + 1.0 - coefficients as f64;
    if df < 1.0 {
        return Err(Diagnostic::new(
            "spel::model::survey_df",
            format!(
                "the design has {design_df} degrees of freedom (PSUs − strata), too few for {} coefficients",
                coefficients
            ),
        )
        .at(options.outcome_span)
        .with_help("a design-based test needs more PSUs than coefficients; drop terms"));
    }
    Ok(Distribution::StudentT(df))
}

/// A two-way clustered variance with its negative eigenvalues set to zero, said in a
/// note (Cameron, Gelbach and Miller 2011), on its correlations so that units do not matter.
fn positive_semi_definite(
    v: Mat<f64>,
    estimator: Estimator,
    clusters: &[Grouping],
    notes: &mut Vec<String>,
) -> Mat<f64> {
    if estimator != Estimator::Cluster || clusters.len() < 2 {
        return v;
    }
    let (clipped, negative) = vcov::clip_to_positive(&v);
    if negative > 0 {
        notes.push(format!(
            "The two-way clustered variance was not positive semi-definite: {} of the \
             eigenvalues of its correlations {} set to zero (Cameron, Gelbach and Miller 2011).",
            negative,
            if negative == 1 { "was" } else { "were" }
        ));
    }
    clipped
}

/// Each estimated coefficient with its standard error and Wald interval.
fn wald_coefficients(
    design: &Design,
    options: &Options,
    kept: &[usize],
    beta: &[Option<f64>],
    variance: &Variance,
) -> Vec<Coefficient> {
    kept.iter()
        .enumerate()
        .map(|(a, &j)| {
            Coefficient::wald(
                &design.names[j],
                beta[j].unwrap_or(f64::NAN),
                variance.v[(a, a)].sqrt(),
                variance.distribution,
                options.level,
            )
        })
        .collect()
}

/// What the report says of the fit besides the coefficients.
struct Description {
    statistics: FitStatistics,
    se_description: String,
    se_factor: &'static str,
    /// Conventions a specialist checks and a reader may skip (see `Model::conventions`).
    conventions: Vec<String>,
    fixed_effect_values: Vec<std::collections::HashMap<String, f64>>,
}

/// The fit's statistics, the standard errors described, the absorbed effects' values,
/// and the notes on separation and on the design.
fn describe(
    design: &Design,
    options: &Options,
    problem: &Problem,
    fitted: &glm::Fit,
    structural_eta: &Option<Vec<f64>>,
    variance: &Variance,
    notes: &mut Vec<String>,
) -> Description {
    let family = problem.family;
    if let Family::Binomial(_) = family {
        notes.extend(binomial_notes(
            family,
            design,
            &fitted.kept,
            problem.y,
            &fitted.eta,
        ));
    }

    let statistics = fit_statistics(
        problem,
        structural_eta.as_deref().unwrap_or(&fitted.eta),
        design,
        // Two-stage least squares maximises no likelihood.
        variance.has_probability_weights || structural_eta.is_some(),
        variance.k,
        variance.n_obs,
        variance.residual_ss,
    );

    let se_factor = small_sample_factor(variance.estimator, options.adjustment, variance.ols);
    let se_factor = match structural_eta {
        Some(_) => as_ivregress(se_factor),
        None => se_factor,
    };
    let se_description = match &options.survey {
        Some(survey) => describe_survey_se(survey, variance.distribution, options.level),
        None => describe_se(
            variance.estimator,
            se_factor,
            design,
            variance.distribution,
            options.level,
        ),
    };
    let (references, conventions) = design_notes(design, variance.absorbed, variance.ols);
    notes.extend(references);

    let mut fixed_effect_values = absorbed_effects(
        design,
        &fitted.kept,
        &fitted.beta,
        &fitted.eta,
        design.offset.as_deref(),
    );
    // The conditioned columns' shifts were absorbed with the effects (the fit saw
    // `x − shift`): the first effect gives them back, to go with the user's coefficients.
    if let (Some(first), Some(conditioning)) =
        (fixed_effect_values.first_mut(), problem.conditioning)
    {
        let taken_back = conditioning.absorbed(&conditioning.coefficients(&fitted.beta));
        first.values_mut().for_each(|v| *v -= taken_back);
    }
    Description {
        statistics,
        se_description,
        se_factor,
        conventions,
        fixed_effect_values,
    }
}

/// The family asked for, or the one the outcome suggests (said in a note).
fn choose_family(
    design: &Design,
    options: &Options,
    binary: bool,
    notes: &mut Vec<String>,
) -> ModelFamily {
    match options.family {
        Some(family) => family,
        None if binary && design.trials.is_none() => {
            notes.push(format!(
                "The outcome `{}` is 0/1, so the model is a logit; say `family = ols` for a linear probability model.",
                design.outcome
            ));
            ModelFamily::Logit
        }
        None if design.trials.is_some() => ModelFamily::Logit,
        None => ModelFamily::Ols,
    }
}

/// Prior weights: probability or frequency weights (binomial trials are folded in
/// with the family), and whether probability weights were given. The design's vectors
/// are taken, not copied: on millions of rows each copy counts.
fn prior_weights(design: &mut Design, options: &Options) -> Result<(Vec<f64>, bool), Diagnostic> {
    let n = design.y.len();
    let has_probability_weights = design.weights.is_some();
    let mut weights = match design.weights.take() {
        Some(w) => {
            check_weights(&w, "weights", options)?;
            w
        }
        None => vec![1.0; n],
    };
    if let Some(f) = &design.freq {
        check_weights(f, "freq", options)?;
        for (w, f) in weights.iter_mut().zip(f) {
            *w *= f;
        }
    }
    Ok((weights, has_probability_weights))
}

/// The GLM family of the user's, once the outcome suits it: a binomial outcome becomes
/// the share of its trials (each row weighted by them), counts must not be negative.
pub(super) fn glm_family(
    family_name: ModelFamily,
    design: &Design,
    y: &mut [f64],
    weights: &mut [f64],
    binary: bool,
    options: &Options,
) -> Result<Family, Diagnostic> {
    let n = y.len();
    if design.trials.is_some() && !matches!(family_name, ModelFamily::Logit | ModelFamily::Probit) {
        return Err(Diagnostic::new(
            "spel::model::trials_family",
            format!(
                "`trials =` gives the tries behind a binomial outcome, but this model is `family = {}`, which would ignore them",
                family_name.word()
            ),
        )
        .at(options.span_of("trials"))
        .with_help("fit successes out of trials with `family = logit` or `probit`; a count over an exposure is a Poisson model with `offset(log(exposure))`"));
    }
    Ok(match family_name {
        ModelFamily::Ols => Family::Gaussian,
        ModelFamily::Logit | ModelFamily::Probit => {
            let link = if family_name == ModelFamily::Logit {
                Link::Logit
            } else {
                Link::Probit
            };
            if let Some(t) = &design.trials {
                for i in 0..n {
                    if t[i] <= 0.0 || y[i] < 0.0 || y[i] > t[i] {
                        return Err(Diagnostic::new(
                            "spel::model::trials",
                            format!("row with {} successes out of {} trials: successes must be between 0 and the trials", format::number(y[i]), format::number(t[i])),
                        )
                        .at(options.span_of("trials"))
                        .with_help("`trials` is the number of tries; the outcome counts the successes among them"));
                    }
                    y[i] /= t[i];
                    weights[i] *= t[i];
                }
            } else if !binary {
                return Err(not_binary(design, y, family_name.word(), options));
            }
            Family::Binomial(link)
        }
        ModelFamily::Poisson | ModelFamily::NegBin => {
            if let Some(bad) = y.iter().find(|&&v| v < 0.0) {
                return Err(Diagnostic::new(
                    "spel::model::counts",
                    format!(
                        "a {} model needs counts of 0 or more, but `{}` has {}",
                        family_name.word(),
                        design.outcome,
                        format::number(*bad)
                    ),
                )
                .at(options.outcome_span));
            }
            if family_name == ModelFamily::Poisson {
                Family::Poisson
            } else {
                Family::NegBin(1.0)
            }
        }
    })
}

/// Clustered errors need at least two clusters of each grouping.
fn check_clusters(design: &Design, options: &Options) -> Result<(), Diagnostic> {
    for named in &design.clusters {
        if named.grouping.levels < 2 && options.survey.is_some() {
            return Err(Diagnostic::new(
                "spel::model::survey_df",
                "the model's rows fall in a single PSU of the survey, so its variance cannot be estimated",
            )
            .at(options.outcome_span)
            .with_help("a design-based variance needs rows in two PSUs or more; check the subpopulation and the missing values"));
        }
        if named.grouping.levels < 2 {
            return Err(Diagnostic::new(
                "spel::model::one_cluster",
                format!("`{}` has a single cluster in the rows used; clustered errors need two or more (and ideally dozens)", named.name),
            )
            .at(options.span_of("cluster"))
            .with_help("cluster by a coarser or finer grouping, or drop `cluster =`"));
        }
    }
    Ok(())
}

/// Notes on the design: reference levels and absorbed effects (whose parameters count in
/// the degrees of freedom only where there are any: OLS's t tests and factor).
fn design_notes(design: &Design, absorbed: usize, ols: bool) -> (Vec<String>, Vec<String>) {
    let mut notes = Vec::new();
    if !design.references.is_empty() {
        let refs: Vec<String> = design
            .references
            .iter()
            .map(|(f, l)| format!("{f} = {l}"))
            .collect();
        notes.push(format!("Reference levels: {}.", refs.join(", ")));
    }
    let mut conventions = Vec::new();
    if !design.fixed_effects.is_empty() {
        let fe: Vec<String> = design
            .fixed_effects
            .iter()
            .map(|g| format!("{} ({} levels)", g.name, format::count(g.grouping.levels)))
            .collect();
        conventions.push(if ols {
            format!(
                "Absorbed fixed effects: {}; they count {} parameters in the degrees of freedom, as Stata's areg.",
                fe.join(", "),
                format::count(absorbed)
            )
        } else {
            format!("Absorbed fixed effects: {}.", fe.join(", "))
        });
    }
    (notes, conventions)
}

/// The variance estimator asked for, or Stata's default for the design: clustered with
/// clusters, robust with probability weights, model-based otherwise.
fn choose_estimator(
    design: &Design,
    options: &Options,
    has_probability_weights: bool,
    notes: &mut Vec<String>,
) -> Result<Estimator, Diagnostic> {
    let estimator = match options.estimator {
        Some(e) => e,
        None if !design.clusters.is_empty() => Estimator::Cluster,
        None if has_probability_weights => {
            notes.push("With probability weights the standard errors are robust (model-based ones would be wrong).".into());
            Estimator::Robust
        }
        None => Estimator::Classical,
    };
    if estimator == Estimator::Cluster && design.clusters.is_empty() {
        return Err(Diagnostic::new(
            "spel::model::cluster",
            "`se = cluster` needs the clusters: add `cluster = column`",
        )
        .at(options.span_of("se")));
    }
    if estimator == Estimator::Hc3 && !design.fixed_effects.is_empty() {
        // HC3 divides each score by 1 − h_ii, and the leverage h_ii of an absorbed
        // effect's level is not in the demeaned columns the fit keeps.
        return Err(Diagnostic::new(
            "spel::model::hc3_absorbed",
            "`se = hc3` needs each row's leverage, which absorbed effects (`fe()`) leave out",
        )
        .at(options.span_of("se"))
        .with_help(
            "write the effect as `factor(...)` to keep HC3, or use `se = robust` (HC1) or `cluster =`",
        ));
    }
    if estimator == Estimator::Classical && has_probability_weights {
        notes.push("Model-based standard errors with probability weights are not valid; use `se = robust` or `cluster =`.".into());
    }
    Ok(estimator)
}

/// How well the model fits: the log-likelihood (none with probability weights), AIC,
/// BIC, R² for OLS and McFadden's pseudo-R² for a binomial or Poisson model with an
/// intercept and nothing absorbed.
fn fit_statistics(
    problem: &Problem,
    eta: &[f64],
    design: &Design,
    has_probability_weights: bool,
    k: f64,
    n_obs: f64,
    residual_ss: f64,
) -> FitStatistics {
    let (family, y, weights) = (problem.family, problem.y, problem.weights);
    let n = y.len();
    let ols = family == Family::Gaussian;
    let log_lik = (!has_probability_weights)
        .then(|| glm::log_likelihood(problem, |i| glm::mean(family, eta[i])));
    let extra = if matches!(family, Family::Gaussian | Family::NegBin(_)) {
        1.0
    } else {
        0.0
    };
    let aic = log_lik.map(|ll| -2.0 * ll + 2.0 * (k + extra));
    let bic = log_lik.map(|ll| -2.0 * ll + n_obs.ln() * (k + extra));
    let y_mean = weighted_mean(y, weights);
    let r_squared = ols.then(|| {
        let total: f64 = (0..n).map(|i| weights[i] * (y[i] - y_mean).powi(2)).sum();
        1.0 - residual_ss / total
    });
    let pseudo_r_squared = match (family, log_lik) {
        (Family::Binomial(_) | Family::Poisson, Some(ll))
            if design.offset.is_none()
                && design.fixed_effects.is_empty()
                && design.names.first().is_some_and(|n| n == "(Intercept)") =>
        {
            Some(1.0 - ll / glm::log_likelihood(problem, |_| y_mean))
        }
        _ => None,
    };
    FitStatistics {
        log_lik,
        aic,
        bic,
        r_squared,
        pseudo_r_squared,
    }
}

struct FitStatistics {
    log_lik: Option<f64>,
    aic: Option<f64>,
    bic: Option<f64>,
    r_squared: Option<f64>,
    pseudo_r_squared: Option<f64>,
}

/// The reference distribution of the tests: normal for ML models, t for OLS with
/// G − 1 degrees of freedom when clustered (unless asked for n − k), n − k otherwise.
fn distribution(
    ols: bool,
    estimator: Estimator,
    options: &Options,
    g_min: f64,
    residual_df: f64,
) -> Result<Distribution, Diagnostic> {
    let distribution = if !ols {
        Distribution::Normal
    } else if estimator == Estimator::Cluster && !options.residual_df {
        Distribution::StudentT(g_min - 1.0)
    } else {
        Distribution::StudentT(residual_df)
    };
    if let Distribution::StudentT(df) = distribution
        && df < 1.0
    {
        return Err(Diagnostic::new(
            "spel::model::df",
            format!("no degrees of freedom are left ({df})"),
        )
        .at(options.outcome_span)
        .with_help(
            "the model has as many parameters as rows (or clusters); drop terms or add data",
        ));
    }
    Ok(distribution)
}

/// Separation in a binomial model: dummies that predict the outcome exactly, or else
/// rows fitted with a probability of 0 or 1.
fn binomial_notes(
    family: Family,
    design: &Design,
    kept: &[usize],
    y: &[f64],
    eta: &[f64],
) -> Vec<String> {
    let mut separation = separation_notes(design, kept, y);
    let extreme = eta
        .par_iter()
        .filter(|&&eta| !(1e-8..=1.0 - 1e-8).contains(&glm::mean(family, eta)))
        .count();
    if !separation.is_empty() || extreme == 0 {
        return separation;
    }
    // Only now, off the common path: are the extreme rows those of absorbed groups
    // whose outcome never varies (kept with `separated = keep`)?
    let in_constant_groups = rows_in_constant_groups(design, y);
    if extreme <= in_constant_groups {
        separation.push(format!(
            "{} rows in absorbed groups whose outcome never varies are fitted with a probability of 0 or 1: those groups' effects run off towards infinity, and the reported estimates are not affected (`separated = drop`, the default, leaves such groups out).",
            format::count(in_constant_groups)
        ));
    } else {
        separation.push(format!(
            "Quasi-complete separation: {} rows are fitted with a probability of 0 or 1; the estimates of the terms that separate them run off towards infinity and are not meaningful.",
            format::count(extreme)
        ));
    }
    separation
}

/// Rows of absorbed groups whose (binomial) outcome never varies.
fn rows_in_constant_groups(design: &Design, y: &[f64]) -> usize {
    let groupings: Vec<&Grouping> = design.fixed_effects.iter().map(|g| &g.grouping).collect();
    if groupings.is_empty() {
        return 0;
    }
    let (keep, _) = spel_stats::separation::constant_outcome_groups(y, false, &groupings);
    keep.iter().filter(|k| !**k).count()
}

/// IRLS, or for the negative binomial IRLS alternating with its shape (returned with
/// its standard error, and notes on how its estimate went).
/// The structural linear predictor of two-stage least squares, `Xβ` with the
/// endogenous values rather than their first-stage fits (the second stage's plus each
/// endogenous coefficient times the first-stage residual), and the working residuals
/// made the structural residuals to match. `None` for any other fit.
fn structural(
    fitted: &mut glm::Fit,
    beta: &[Option<f64>],
    instrumented: &[(usize, Vec<f64>)],
) -> Option<Vec<f64>> {
    if instrumented.is_empty() {
        return None;
    }
    let mut eta = fitted.eta.clone();
    for (j, residuals) in instrumented {
        let b = beta[*j].unwrap_or(0.0);
        eta.iter_mut().zip(residuals).for_each(|(e, v)| *e += b * v);
    }
    // OLS's working residuals are y − η: they become y − η structural.
    let shift = eta.iter().zip(&fitted.eta).map(|(s, e)| s - e);
    fitted
        .working_residuals
        .iter_mut()
        .zip(shift)
        .for_each(|(r, d)| *r -= d);
    Some(eta)
}

fn estimate<'a>(
    problem: &mut Problem<'a>,
    notes: &mut Vec<String>,
) -> (glm::Fit<'a>, Option<(f64, f64)>) {
    if let Family::NegBin(_) = problem.family {
        let negbin = spel_stats::negbin::fit_negbin(problem);
        notes.extend(negbin.warnings.iter().map(|w| theta_note(*w, negbin.theta)));
        return (negbin.fit, Some((negbin.theta, negbin.theta_se)));
    }
    (glm::fit(problem), None)
}

/// What a reader needs to know when the negative binomial's shape was hard to find;
/// MASS::glm.nb warns in the same cases.
fn theta_note(warning: ThetaWarning, theta: f64) -> String {
    let theta = format::float(theta);
    match warning {
        ThetaWarning::AlternationLimit => format!(
            "The fit and its shape theta did not settle in 50 alternations (MASS: \
             \"alternation limit reached\"); theta = {theta} and the estimates are not reliable."
        ),
        ThetaWarning::IterationLimit => format!(
            "The shape theta did not converge (MASS: \"iteration limit reached\"); \
             theta = {theta} is not reliable."
        ),
        ThetaWarning::Unbounded => format!(
            "The shape theta grew without bound (it stopped at {theta}): these counts are no \
             more dispersed than a Poisson's, so the negative binomial reduces to it; \
             fit `family = poisson`."
        ),
        ThetaWarning::Curvature => format!(
            "The likelihood of the shape theta was not concave where its search stood; \
             theta = {theta} is not reliable."
        ),
        ThetaWarning::Truncated => {
            "The shape theta fell to zero and was held just above it (MASS: \"estimate \
             truncated at zero\")."
                .to_string()
        }
    }
}

/// `(X̃'WX̃)⁻¹` at the solution; when it is singular there, the estimated columns (by
/// position among them) that are combinations of one another.
fn bread(fitted: &glm::Fit) -> Result<Mat<f64>, Vec<usize>> {
    let xtwx = match &fitted.information {
        Some(xtwx) => xtwx.clone(),
        None => {
            fitted
                .rows
                .cross_products(&fitted.working_weights, &fitted.working_residuals)
                .0
        }
    };
    linalg::inverse(&xtwx).ok_or_else(|| linalg::null_directions(&xtwx))
}

/// IRLS could not go on: R stops with an error in both cases, and so does spel.
fn irls_failure(failure: glm::Failure, options: &Options) -> Diagnostic {
    let (message, help) = match failure {
        glm::Failure::Cancelled => {
            return Diagnostic::new("spel::interrupted", "interrupted").at(options.outcome_span);
        }
        glm::Failure::NotFinite { iteration } => (
            format!(
                "at iteration {iteration} the fitted means overflow: the next step's equations \
                 are not finite numbers (R: \"no valid set of coefficients has been found\")"
            ),
            "a term or offset of extreme size makes the means overflow: look at the ranges of \
             the offset and the numeric columns",
        ),
        glm::Failure::Singular { iteration } => (
            format!("the fit's normal equations could not be solved at iteration {iteration}"),
            "some terms become combinations of others at the fitted weights: look for a level \
             whose outcome never varies, or drop terms",
        ),
        glm::Failure::StepHalving { iteration } => (
            format!(
                "at iteration {iteration} the fit's step made the deviance worse even when halved 30 times \
                 (R: \"inner loop 2; cannot correct step size\")"
            ),
            "the data may be separated or the terms badly scaled: look at the outcome within \
             each level, or rescale large numeric columns",
        ),
    };
    Diagnostic::new("spel::model::irls", message)
        .at(options.outcome_span)
        .with_help(help)
}

/// The information matrix at the solution cannot be inverted: no standard error exists.
fn singular_error(
    involved: &[usize],
    kept: &[usize],
    design: &Design,
    options: &Options,
) -> Diagnostic {
    let names: Vec<String> = involved
        .iter()
        .map(|&a| format!("`{}`", design.names[kept[a]]))
        .collect();
    Diagnostic::new(
        "spel::model::singular",
        format!(
            "the information matrix is singular at the estimates: {} are combinations of one \
             another at the fitted weights, so they have no standard errors",
            names.join(", ")
        ),
    )
    .at(options.outcome_span)
    .with_help(
        "drop one of them, or combine levels that have few rows or an outcome that never varies",
    )
}

fn weighted_mean(y: &[f64], w: &[f64]) -> f64 {
    sum_over(y.len(), |i| y[i] * w[i]) / sum_over(w.len(), |i| w[i])
}

fn check_weights(w: &[f64], option: &'static str, options: &Options) -> Result<(), Diagnostic> {
    // A test without branches first (it runs on vector registers); the bad value is
    // looked for only when there is one.
    let fine = w
        .iter()
        .fold(true, |all, &v| all & (0.0..f64::INFINITY).contains(&v));
    if fine && w.iter().any(|&v| v > 0.0) {
        return Ok(());
    }
    if let Some(bad) = w.iter().find(|&&v| v < 0.0 || !v.is_finite()) {
        return Err(Diagnostic::new(
            "spel::model::weights",
            format!(
                "`{option}` must be 0 or more, but one is {}",
                format::number(*bad)
            ),
        )
        .at(options.span_of(option))
        .with_help("check the weight column, or filter out the rows with negative weights first"));
    }
    Err(Diagnostic::new(
        "spel::model::weights_zero",
        format!("every `{option}` is 0: no row counts in the fit"),
    )
    .at(options.span_of(option))
    .with_help("check the weight column; a weight of 0 leaves its row out"))
}

/// The fit needs more observations (rows with a positive weight, counted by their
/// frequency) than parameters, OLS one more for its variance.
fn check_enough_rows(
    weights: &[f64],
    freq: Option<&[f64]>,
    k: f64,
    ols: bool,
    options: &Options,
) -> Result<(), Diagnostic> {
    let observations: f64 = weights
        .iter()
        .enumerate()
        .filter(|(_, w)| **w > 0.0)
        .map(|(i, _)| freq.map_or(1.0, |f| f[i]))
        .sum();
    let needed = (k + f64::from(u8::from(ols))).max(1.0);
    if observations >= needed {
        return Ok(());
    }
    Err(Diagnostic::new(
        "spel::model::too_few_rows",
        format!(
            "{} with a positive weight for {} parameters: the model cannot be estimated{}",
            format::plural(observations as usize, "observation"),
            format::number(k),
            if ols { " with a residual variance" } else { "" }
        ),
    )
    .at(options.outcome_span)
    .with_help(
        "use fewer terms or absorbed levels, or more rows (check the condition and the weights)",
    ))
}

fn not_binary(design: &Design, y: &[f64], family: &str, options: &Options) -> Diagnostic {
    let mut values: Vec<f64> = y.to_vec();
    values.sort_by(f64::total_cmp);
    values.dedup();
    let shown: Vec<String> = values.iter().take(6).map(|v| format::number(*v)).collect();
    let more = if values.len() > 6 { ", …" } else { "" };
    Diagnostic::new(
        "spel::model::not_binary",
        format!(
            "a {family} model needs an outcome of 0 and 1, but `{}` has the values {}{more}",
            design.outcome,
            shown.join(", ")
        ),
    )
    .at(options.outcome_span)
    .with_help(format!(
        "make it 0/1 first, as `derive high = if_else({} >= 3, 1, 0)`, or use `family = ols` or `poisson`",
        design.outcome
    ))
}

/// Dummy columns that predict the outcome perfectly (all rows with the dummy share
/// one outcome): the coefficient then runs off to infinity.
fn separation_notes(design: &Design, kept: &[usize], y: &[f64]) -> Vec<String> {
    let named: Vec<String> = spel_stats::separation::separating_dummies(&design.columns, kept, y)
        .into_iter()
        .map(|(j, outcome)| {
            format!(
                "`{}` (every row with it has outcome {})",
                design.names[j],
                u8::from(outcome)
            )
        })
        .collect();
    if named.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "Perfect separation: {} predicts the outcome exactly; its estimate and standard error are not meaningful (drop the level or combine it with another).",
        named.join(", ")
    )]
}

/// The small-sample factor of the standard errors and whose convention it follows
/// (empty where there is none to name).
pub(crate) fn small_sample_factor(
    estimator: Estimator,
    adjustment: Adjustment,
    ols: bool,
) -> &'static str {
    match (estimator, adjustment, ols) {
        (Estimator::Classical, _, _) | (Estimator::Hc3, _, _) => "",
        (_, Adjustment::None, _) => "no small-sample factor",
        (Estimator::Robust, Adjustment::Ml, _) | (Estimator::Robust, Adjustment::Stata, false) => {
            "factor n/(n-1) as Stata's ML commands"
        }
        (Estimator::Robust, _, _) => HC1_AS_REGRESS,
        (Estimator::Cluster, Adjustment::Min, _) => {
            "factor min(G)/(min(G)-1)·(N-1)/(N-K) as fixest"
        }
        (Estimator::Cluster, Adjustment::Ml, _)
        | (Estimator::Cluster, Adjustment::Stata, false) => "factor G/(G-1) as Stata's ML commands",
        (Estimator::Cluster, _, _) => CLUSTER_AS_REGRESS,
    }
}

const HC1_AS_REGRESS: &str = "factor n/(n-k) (HC1) as Stata's regress";
const CLUSTER_AS_REGRESS: &str = "factor G/(G-1)·(N-1)/(N-K) as Stata's regress";

/// Two-stage least squares takes OLS's factors, which Stata's `ivregress` applies with
/// `small`: the phrase names that command instead.
fn as_ivregress(factor: &'static str) -> &'static str {
    match factor {
        HC1_AS_REGRESS => "factor n/(n-k) (HC1) as Stata's ivregress, small",
        CLUSTER_AS_REGRESS => "factor G/(G-1)·(N-1)/(N-K) as Stata's ivregress, small",
        other => other,
    }
}

fn describe_survey_se(
    survey: &spel_stats::survey::Design,
    distribution: Distribution,
    level: f64,
) -> String {
    let strata = match survey.strata() {
        1 => "1 stratum".to_string(),
        n => format!("{} strata", format::count(n)),
    };
    let dist = match distribution {
        Distribution::Normal => "z".to_string(),
        Distribution::StudentT(df) => format!("t({})", format::number(df)),
    };
    format!(
        "survey design (linearised over {} PSUs in {strata}, as R's svyglm); {dist}-based {}% intervals",
        format::count(survey.psus()),
        format::number(level * 100.0)
    )
}

fn describe_se(
    estimator: Estimator,
    factor: &str,
    design: &Design,
    distribution: Distribution,
    level: f64,
) -> String {
    let factor = match factor {
        "" => String::new(),
        phrase => format!(", {phrase}"),
    };
    let what = match estimator {
        Estimator::Classical => "model-based".to_string(),
        Estimator::Robust => "robust (HC)".to_string(),
        Estimator::Hc3 => "robust (HC3)".to_string(),
        Estimator::Cluster => {
            let parts: Vec<String> = design
                .clusters
                .iter()
                .map(|g| format!("{} ({} clusters)", g.name, format::count(g.grouping.levels)))
                .collect();
            format!("clustered by {}", parts.join(" and "))
        }
    };
    let dist = match distribution {
        Distribution::Normal => "z".to_string(),
        Distribution::StudentT(df) => format!("t({})", format::number(df)),
    };
    format!(
        "{what}{factor}; {dist}-based {}% intervals",
        format::number(level * 100.0)
    )
}

/// The absorbed effects' values by level, keyed by the levels' labels (see
/// [`spel_stats::absorbed::values`]).
fn absorbed_effects(
    design: &Design,
    kept: &[usize],
    beta: &[Option<f64>],
    eta: &[f64],
    offset: Option<&[f64]>,
) -> Vec<std::collections::HashMap<String, f64>> {
    let groups: Vec<&Grouping> = design.fixed_effects.iter().map(|g| &g.grouping).collect();
    let columns: Vec<&MatrixColumn> = kept.iter().map(|&j| &design.columns[j]).collect();
    let slopes: Vec<f64> = kept.iter().map(|&j| beta[j].unwrap_or(0.0)).collect();
    let values = spel_stats::absorbed::values(&groups, &columns, &slopes, eta, offset);
    design
        .fixed_effects
        .iter()
        .zip(values)
        .map(|(g, v)| g.labels.iter().cloned().zip(v).collect())
        .collect()
}
