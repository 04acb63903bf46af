//! Random effects in `model`: the design's random-effects terms to the numerics'
//! linear mixed model (lme4's `lmer`), and its result to a [`Model`] with variance
//! components, conditional modes and the notes lme4 gives.

use std::collections::HashMap;

use faer::Mat;
use spel_grammar::Diagnostic;

use super::fit::Options;
use super::{Coefficient, Distribution, Model, ModelFamily};
use crate::format;
use crate::formula::design::Design;
use spel_stats::glmm::{self, GlmmProblem};
use spel_stats::linalg;
use spel_stats::mixed::{self, Failure, Problem, RandomTerm};

/// A mixed model's random part as fitted.
#[derive(Clone, Debug)]
pub struct Mixed {
    pub reml: bool,
    /// The REML criterion or the deviance at the optimum.
    pub criterion: f64,
    pub sigma: f64,
    pub components: Vec<Component>,
    pub singular: bool,
    /// The model's family: a linear mixed model has a residual, the others a latent
    /// scale.
    pub family: ModelFamily,
}

/// One random-effects term: its grouping, covariance and each group's modes.
#[derive(Clone, Debug)]
pub struct Component {
    pub grouping: String,
    /// `(Intercept)`, then the slopes' variables.
    pub terms: Vec<String>,
    pub covariance: Vec<Vec<f64>>,
    pub labels: Vec<String>,
    /// Each group's conditional modes (BLUPs), in the order of `labels`.
    pub modes: Vec<Vec<f64>>,
    /// Their conditional standard deviations (lme4's `condsd`).
    pub mode_sds: Vec<Vec<f64>>,
    pub index: HashMap<String, usize>,
}

impl Component {
    pub fn standard_deviations(&self) -> Vec<f64> {
        (0..self.terms.len())
            .map(|a| self.covariance[a][a].sqrt())
            .collect()
    }

    pub fn correlation(&self, a: usize, b: usize) -> f64 {
        self.covariance[a][b] / (self.covariance[a][a] * self.covariance[b][b]).sqrt()
    }
}

impl Mixed {
    /// The share of the variance between groups of each intercept-only grouping, as
    /// `performance::icc` gives it: τ²ₖ / (Σ τ² + σ²). None with random slopes, where
    /// it varies with the slopes' variables.
    pub fn icc(&self) -> Option<Vec<(String, f64)>> {
        if self
            .components
            .iter()
            .any(|c| c.terms.len() != 1 || c.terms[0] != "(Intercept)")
        {
            return None;
        }
        let total: f64 = self
            .components
            .iter()
            .map(|c| c.covariance[0][0])
            .sum::<f64>()
            + self.residual_variance()?;
        Some(
            self.components
                .iter()
                .map(|c| (c.grouping.clone(), c.covariance[0][0] / total))
                .collect(),
        )
    }

    /// The variance of the residual: σ² for a linear model, the latent scale's for a
    /// logit (π²/3) or probit (1) as `performance::icc`; none for Poisson.
    pub fn residual_variance(&self) -> Option<f64> {
        match self.family {
            ModelFamily::Ols => Some(self.sigma * self.sigma),
            ModelFamily::Logit => Some(std::f64::consts::PI.powi(2) / 3.0),
            ModelFamily::Probit => Some(1.0),
            _ => None,
        }
    }

    /// Each parameter lme4 counts: the fixed effects, θ and (for a linear model) σ.
    pub fn parameters(&self, fixed: usize) -> usize {
        fixed
            + usize::from(self.family == ModelFamily::Ols)
            + self
                .components
                .iter()
                .map(|c| c.terms.len() * (c.terms.len() + 1) / 2)
                .sum::<usize>()
    }
}

pub fn fit(design: Design, options: &Options) -> Result<Model, Diagnostic> {
    let family = mixed_family(&design, options)?;
    check_options(&design, options)?;
    let reml = options.reml && family == ModelFamily::Ols;
    let n = design.y.len();
    let mut notes = Vec::new();
    if options.family.is_none() && family == ModelFamily::Logit && design.trials.is_none() {
        notes.push(format!(
            "The outcome `{}` is 0/1, so the model is a logit; say `family = ols` for a linear probability model.",
            design.outcome
        ));
    }
    // A binomial outcome with trials becomes their share, each row weighted by them.
    let mut y = design.y.clone();
    let mut trials = vec![1.0; n];
    let binary = is_binary(&design.y);
    let glm = super::fit::glm_family(family, &design, &mut y, &mut trials, binary, options)?;
    if let (ModelFamily::Ols, Some(offset)) = (family, &design.offset) {
        y.iter_mut().zip(offset).for_each(|(y, o)| *y -= o);
    }
    let x_all: Vec<Vec<f64>> = design
        .columns
        .iter()
        .map(|c| (0..n).map(|i| c.get(i)).collect())
        .collect();
    let kept = full_rank_columns(&x_all, &design, &mut notes);
    let x: Vec<&[f64]> = kept.iter().map(|&j| x_all[j].as_slice()).collect();
    check_groupings(&design, n, family == ModelFamily::Ols)?;
    let terms: Vec<RandomTerm> = design
        .random
        .iter()
        .map(|r| RandomTerm {
            groups: &r.grouping.grouping.ids,
            levels: r.grouping.grouping.levels,
            columns: r.columns.iter().map(|(_, v)| v.as_slice()).collect(),
        })
        .collect();
    check_identified(&design, &x, &terms)?;
    let estimates = match family {
        ModelFamily::Ols => mixed::fit(&Problem {
            y: &y,
            x: &x,
            terms: &terms,
            reml,
        }),
        _ => glmm::fit(&GlmmProblem {
            y: &y,
            x: &x,
            terms: &terms,
            family: glm,
            weights: design.trials.is_some().then_some(trials.as_slice()),
            offset: design.offset.as_deref(),
        }),
    }
    .map_err(|f| failure(f, options))?;
    let mut eta: Vec<f64> = (0..n)
        .map(|i| x.iter().zip(&estimates.beta).map(|(c, b)| c[i] * b).sum())
        .collect();
    if let Some(offset) = &design.offset {
        eta.iter_mut().zip(offset).for_each(|(e, o)| *e += o);
    }
    let components: Vec<Component> = design
        .random
        .iter()
        .zip(&estimates.covariances)
        .zip(&estimates.modes)
        .zip(&estimates.mode_variances)
        .map(|(((r, covariance), modes), variances)| Component {
            grouping: r.grouping.name.clone(),
            terms: r.columns.iter().map(|(name, _)| name.clone()).collect(),
            covariance: covariance.clone(),
            index: r
                .grouping
                .labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i))
                .collect(),
            labels: r.grouping.labels.clone(),
            modes: modes.clone(),
            mode_sds: variances
                .iter()
                .map(|level| level.iter().map(|v| v.sqrt()).collect())
                .collect(),
        })
        .collect();
    let result = Mixed {
        reml,
        criterion: estimates.criterion,
        sigma: estimates.sigma.unwrap_or(1.0),
        components,
        singular: estimates.singular,
        family,
    };
    notes.extend(fit_notes(&estimates, &result));
    if let Some(sigma) = estimates.sigma {
        let spread = standard_deviation(&y);
        if sigma < DEGENERATE_RESIDUAL * spread {
            notes.push(format!(
                "The residual standard deviation is estimated at nearly zero ({}, against the outcome's {}): the random effects take up almost all the variation the fixed effects leave, so the estimates are not reliable — there may be too many groups for the rows.",
                format::number(sigma),
                format::number(spread)
            ));
        }
    }
    let k = result.parameters(kept.len()) as f64;
    let coefficients: Vec<Coefficient> = kept
        .iter()
        .enumerate()
        .map(|(a, &j)| {
            Coefficient::wald(
                &design.names[j],
                estimates.beta[a],
                estimates.vcov[a][a].sqrt(),
                Distribution::Normal,
                options.level,
            )
        })
        .collect();
    let criterion = estimates.criterion;
    let fit_kind = if reml {
        "REML"
    } else if family == ModelFamily::Ols {
        "maximum-likelihood"
    } else {
        "Laplace"
    };
    let mut conventions = vec![
        "Tests and intervals of the fixed effects are Wald z, as Stata's `mixed`; lme4 prints t values without p-values, and lmerTest's Satterthwaite degrees of freedom are not computed.".to_string(),
        format!(
            "{} counts {} parameters in AIC and BIC ({}), as lme4.",
            if reml { "The REML criterion" } else { "The likelihood" },
            format::number(k),
            if family == ModelFamily::Ols {
                "the fixed effects, the random effects' covariance parameters and σ"
            } else {
                "the fixed effects and the random effects' covariance parameters"
            }
        ),
    ];
    if matches!(family, ModelFamily::Logit | ModelFamily::Probit) && result.icc().is_some() {
        conventions.push(format!(
            "The ICC is on the latent scale: the groups' variance over itself plus {} (the {} residual's), as performance::icc.",
            if family == ModelFamily::Logit { "π²/3" } else { "1" },
            if family == ModelFamily::Logit { "logistic" } else { "standard normal" }
        ));
    }
    if design.trials.is_some() {
        conventions.push("With `trials =`, the log-likelihood counts each row's binomial coefficient, as glmer with `cbind(successes, failures)`: it differs by a constant from the same model fitted to one 0/1 row per trial, so compare AIC only between models of the same counts.".into());
    }
    if family != ModelFamily::Ols {
        conventions.push("The likelihood is the Laplace approximation (lme4's glmer, nAGQ = 1); the fixed effects' standard errors come from the Hessian of the approximate deviance over the variance parameters and the fixed effects together, as lme4's vcov.".into());
    }
    Ok(Model {
        family,
        formula: options.formula.clone(),
        outcome: design.outcome.clone(),
        n,
        n_weighted: None,
        n_total: design.n_total,
        n_outside_condition: design.n_outside_condition,
        condition: options.condition.clone(),
        n_dropped_missing: design.n_dropped_missing,
        missing: design.missing.clone(),
        n_dropped_separated: 0,
        rows_kept: None,
        coefficients,
        variables: options.variables.clone(),
        vcov: estimates.vcov.clone(),
        collinear: design
            .names
            .iter()
            .enumerate()
            .filter(|(j, _)| !kept.contains(j))
            .map(|(_, name)| name.clone())
            .collect(),
        references: design.references.clone(),
        fixed_effects: Vec::new(),
        fixed_effect_values: Vec::new(),
        clusters: Vec::new(),
        se_description: format!(
            "model-based, from the {fit_kind} fit; z-based {}% intervals",
            format::number(options.level * 100.0)
        ),
        se_factor: String::new(),
        conventions,
        distribution: Distribution::Normal,
        level: options.level,
        log_lik: Some(-criterion / 2.0),
        aic: Some(criterion + 2.0 * k),
        bic: Some(criterion + (n as f64).ln() * k),
        deviance: criterion,
        r_squared: None,
        pseudo_r_squared: None,
        theta: None,
        iterations: estimates.evaluations,
        converged: estimates.converged,
        notes,
        family_kind: glm,
        kept,
        eta,
        average_weights: vec![1.0; n],
        source: None,
        instrumental: None,
        mixed: Some(result),
    })
}

fn is_binary(y: &[f64]) -> bool {
    y.iter().all(|&v| v == 0.0 || v == 1.0)
}

/// The family asked for, or logit for a 0/1 outcome or successes out of trials (as
/// `model` without random effects); negbin is refused. The outcome's fit to the family is
/// checked as without random effects.
fn mixed_family(design: &Design, options: &Options) -> Result<ModelFamily, Diagnostic> {
    let family = match options.family {
        Some(family) => family,
        None if design.trials.is_some() || is_binary(&design.y) => ModelFamily::Logit,
        None => ModelFamily::Ols,
    };
    if family == ModelFamily::NegBin {
        return Err(Diagnostic::new(
            "spel::model::mixed_family",
            "random effects are not fitted for `family = negbin`",
        )
        .at(options.span_of("family"))
        .with_help("fit `family = poisson` with random effects, or negbin with `fe(group)`"));
    }
    Ok(family)
}

/// A residual standard deviation below this share of the outcome's is said to be
/// degenerate.
const DEGENERATE_RESIDUAL: f64 = 1e-2;

fn standard_deviation(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
}

/// What a mixed model does not take yet, said where the user wrote it.
fn check_options(design: &Design, options: &Options) -> Result<(), Diagnostic> {
    let refused = [
        ("weights", design.weights.is_some()),
        ("freq", design.freq.is_some()),
        ("cluster", !design.clusters.is_empty()),
        ("se", options.estimator.is_some()),
    ];
    if let Some((option, _)) = refused.iter().find(|(_, given)| *given) {
        return Err(Diagnostic::new(
            "spel::model::mixed_option",
            format!("`{option} =` cannot be used with random effects"),
        )
        .at(options.span_of(option))
        .with_help(
            "the random effects model the grouping's correlation themselves: leave the option out",
        ));
    }
    if options.survey.is_some() {
        return Err(Diagnostic::new(
            "spel::model::mixed_survey",
            "random effects cannot be fitted on a survey design",
        )
        .at(options.outcome_span)
        .with_help(
            "fit the model on the survey's table, or use the design's PSUs without random effects",
        ));
    }
    if !design.fixed_effects.is_empty() {
        return Err(Diagnostic::new(
            "spel::model::mixed_absorbed",
            "absorbed effects `fe()` and random effects cannot be combined",
        )
        .at(options.outcome_span)
        .with_help("write the absorbed grouping as a factor term, or leave one of the two out"));
    }
    Ok(())
}

/// lme4's checks: a grouping needs two groups or more, and a linear model fewer random
/// effects than rows (else their variance cannot be told from the residual's); a
/// logit, probit or Poisson model has no residual and may have a group per row (an
/// observation-level effect for overdispersion), but no more effects than rows.
fn check_groupings(design: &Design, n: usize, linear: bool) -> Result<(), Diagnostic> {
    for r in &design.random {
        let levels = r.grouping.grouping.levels;
        let effects = levels * r.columns.len();
        if levels < 2 || effects > n || (linear && effects == n) {
            let (message, help) = if levels < 2 {
                (
                    format!(
                        "`{}` has {} among the rows used: a random effect needs two groups or more",
                        r.grouping.name,
                        format::plural(levels, "group")
                    ),
                    "check the condition and missing values, or drop the random-effects term"
                        .to_string(),
                )
            } else if linear {
                (
                    format!(
                        "`{}` has {} random effects for {}: they cannot be told from the residual",
                        r.grouping.name,
                        format::count(effects),
                        format::plural(n, "row")
                    ),
                    "a grouping with a group per row is the residual itself: drop the term"
                        .to_string(),
                )
            } else {
                (
                    format!(
                        "`{}` has {} random effects for {}: more than the data can tell apart",
                        r.grouping.name,
                        format::count(effects),
                        format::plural(n, "row")
                    ),
                    "drop the random slopes, or use a coarser grouping".to_string(),
                )
            };
            return Err(Diagnostic::new("spel::model::mixed_groups", message)
                .at(r.span)
                .with_help(help));
        }
    }
    Ok(())
}

/// A random effect the fixed effects already span (the grouping also a fixed factor)
/// has a variance the fit cannot estimate: any number would be arbitrary, so refuse.
fn check_identified(design: &Design, x: &[&[f64]], terms: &[RandomTerm]) -> Result<(), Diagnostic> {
    for (r, term) in design.random.iter().zip(terms) {
        let spanned = mixed::spanned_by_fixed(x, term);
        let Some(&first) = spanned.first() else {
            continue;
        };
        let (effect, own) = match r.columns[first].0.as_str() {
            "(Intercept)" => ("intercept".to_string(), "intercept"),
            slope => (format!("slope on `{slope}`"), "slope"),
        };
        return Err(Diagnostic::new(
            "spel::model::mixed_unidentified",
            format!(
                "the random {effect} of `{}` cannot be estimated: the fixed effects already give each of its groups its own {own}",
                r.grouping.name
            ),
        )
        .at(r.span)
        .with_help(format!(
            "drop the fixed terms for `{0}` (such as `factor({0})`) to estimate the variance between its groups, or drop the random-effects term",
            r.grouping.name
        )));
    }
    Ok(())
}

/// The columns of X that are not combinations of earlier ones, R's rank decision, with
/// a note on any dropped (as lme4's "fixed-effect model matrix is rank deficient").
fn full_rank_columns(x: &[Vec<f64>], design: &Design, notes: &mut Vec<String>) -> Vec<usize> {
    let p = x.len();
    let xtx = Mat::<f64>::from_fn(p, p, |a, b| {
        x[a].iter().zip(&x[b]).map(|(u, v)| u * v).sum()
    });
    let reference: Vec<f64> = (0..p).map(|j| xtx[(j, j)]).collect();
    let dropped = linalg::collinear(&xtx, &reference);
    if !dropped.is_empty() {
        notes.push(format!(
            "Dropped as collinear with earlier terms (lme4 drops them too): {}.",
            dropped
                .iter()
                .map(|&j| format!("`{}`", design.names[j]))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    (0..p).filter(|j| !dropped.contains(j)).collect()
}

fn fit_notes(fitted: &mixed::Fit, result: &Mixed) -> Vec<String> {
    let mut notes = Vec::new();
    if fitted.hessian_failed {
        notes.push("The approximate deviance's Hessian is not positive definite at the optimum, so the fixed effects' standard errors are from the penalised least squares (lme4's `use.hessian = FALSE`): they leave out the variances' uncertainty.".to_string());
    }
    if !fitted.converged {
        notes.push(format!(
            "The optimiser stopped after {} evaluations without settling (its last step still moved or its slopes were not flat): the estimates may not be the {} optimum.",
            format::count(fitted.evaluations),
            if result.reml { "REML" } else { "likelihood's" }
        ));
    }
    if fitted.singular {
        let at_zero: Vec<String> = result
            .components
            .iter()
            .flat_map(|c| {
                c.terms
                    .iter()
                    .enumerate()
                    .filter(|(a, _)| c.covariance[*a][*a].sqrt() < 1e-4 * result.sigma)
                    .map(move |(_, t)| format!("{t} of {}", c.grouping))
            })
            .collect();
        let which = if at_zero.is_empty() {
            "a correlation of random effects is estimated at ±1".to_string()
        } else {
            format!(
                "the variance of {} is estimated at zero",
                at_zero.join(", ")
            )
        };
        notes.push(format!(
            "Singular fit (as lme4's \"boundary (singular) fit\"): {which}; the data cannot support this random-effects structure — simplify it."
        ));
    }
    notes
}

fn failure(failure: Failure, options: &Options) -> Diagnostic {
    let (code, message, help) = match failure {
        Failure::PerfectFit => (
            "spel::model::perfect_fit",
            "the model fits the outcome exactly: no residual variance is left".to_string(),
            "check that the outcome is not among the terms".to_string(),
        ),
        Failure::TooManyEffects(q) => (
            "spel::model::mixed_size",
            format!(
                "the random effects besides the largest grouping number {}, more than the {} spel handles",
                format::count(q),
                format::count(mixed::MAX_DENSE_EFFECTS)
            ),
            "absorb a large crossed grouping with `fe()` instead, or nest the smaller groupings in the largest".to_string(),
        ),
        Failure::NotFinite => (
            "spel::model::mixed_fit",
            "the mixed model's criterion cannot be evaluated".to_string(),
            "check the outcome and terms for extreme values".to_string(),
        ),
    };
    Diagnostic::new(code, message)
        .at(options.outcome_span)
        .with_help(help)
}
