//! From a design and the statement's options to a [`Model`]: checks that the data
//! suit the family, the fit, the variance, and the notes a reader needs.

use faer::Mat;
use spel_grammar::{Diagnostic, Span};

use super::{Coefficient, Distribution, Model, ModelFamily};
use crate::format;
use crate::formula::design::{Codes, Design, Grouping, MatrixColumn, linear_predictor};
use crate::verbs::Choice;
use rayon::prelude::*;
use spel_stats::glm::{self, Family, Link, Problem};
use spel_stats::linalg;
use spel_stats::rows::{BLOCK, add_partials, over_chunks, sum_over};
use spel_stats::vcov::{self, Adjustment, Estimator};

pub struct Options {
    /// `None`: logit for a 0/1 outcome, OLS otherwise.
    pub family: Option<ModelFamily>,
    pub estimator: Option<Estimator>,
    pub adjustment: Adjustment,
    /// t with n-k degrees of freedom for clustered OLS, instead of G-1.
    pub residual_df: bool,
    pub level: f64,
    pub formula: String,
    pub variables: Vec<String>,
    pub condition: Option<String>,
    /// Where to point errors about the outcome, weights, trials and clusters.
    pub outcome_span: Span,
    pub option_spans: Vec<(&'static str, Span)>,
}

impl Options {
    fn span_of(&self, option: &str) -> Span {
        self.option_spans
            .iter()
            .find(|(name, _)| *name == option)
            .map_or(self.outcome_span, |(_, s)| *s)
    }
}

pub fn fit(mut design: Design, options: &Options) -> Result<Model, Diagnostic> {
    let mut notes = Vec::new();
    let n = design.y.len();
    // Without branches, so the test runs on vector registers.
    let binary = design
        .y
        .iter()
        .fold(true, |all, &y| all & ((y == 0.0) | (y == 1.0)));
    let family_name = match options.family {
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
    };

    // Prior weights: probability or frequency weights times binomial trials. The
    // design's vectors are taken, not copied: on millions of rows each copy counts.
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
    // Margins average with the weights before the trials.
    let average_weights = design.trials.as_ref().map(|_| weights.clone());
    let mut y = std::mem::take(&mut design.y);
    let family = match family_name {
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
                return Err(not_binary(&design, &y, family_name.word(), options));
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
    };
    for named in &design.clusters {
        if named.grouping.levels < 2 {
            return Err(Diagnostic::new(
                "spel::model::one_cluster",
                format!("`{}` has a single cluster in the rows used; clustered errors need two or more (and ideally dozens)", named.name),
            )
            .at(options.span_of("cluster"))
            .with_help("cluster by a coarser or finer grouping, or drop `cluster =`"));
        }
    }

    let trials = match family {
        Family::Binomial(_) => design.trials.as_deref(),
        _ => None,
    };
    // One-way cluster-robust errors (asked for, or the default with clusters) need only
    // each cluster's sums of scores, which the fit can add as it goes.
    let clustered = match options.estimator {
        Some(e) => e == Estimator::Cluster,
        None => !design.clusters.is_empty(),
    };
    let fixed_effects: Vec<Grouping> = design
        .fixed_effects
        .iter()
        .map(|g| g.grouping.clone())
        .collect();
    let clusters: Vec<Grouping> = design.clusters.iter().map(|g| g.grouping.clone()).collect();
    let mut problem = Problem {
        family,
        y: &y,
        columns: &design.columns,
        weights: &weights,
        trials,
        offset: design.offset.as_deref(),
        fixed_effects: &fixed_effects,
        score_grouping: match clusters.as_slice() {
            [one] if clustered => Some(one),
            _ => None,
        },
    };
    let mut theta = None;
    let fitted = if let Family::NegBin(_) = family {
        let (fitted, th, se) = fit_negbin(&mut problem);
        theta = Some((th, se));
        fitted
    } else {
        glm::fit(&problem)
    };
    if !fitted.converged {
        notes.push(format!(
            "The fit did not converge in {} iterations; the estimates are not reliable.",
            fitted.iterations
        ));
    }

    let kept = fitted.kept.clone();
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
    let xtwx = match &fitted.information {
        Some(xtwx) => xtwx.clone(),
        None => {
            fitted
                .rows
                .cross_products(&fitted.working_weights, &fitted.working_residuals)
                .0
        }
    };
    let p = fitted.rows.width();
    let bread = linalg::inverse(&xtwx).unwrap_or_else(|| Mat::from_fn(p, p, |_, _| f64::NAN));

    let n_obs: f64 = design.freq.as_ref().map_or(n as f64, |f| f.iter().sum());
    let absorbed: usize = if design.fixed_effects.is_empty() {
        0
    } else {
        fixed_effects.iter().map(|g| g.levels).sum::<usize>() - (design.fixed_effects.len() - 1)
    };
    let k = (kept.len() + absorbed) as f64;
    let ols = family == Family::Gaussian;
    let residual_ss = if ols {
        sum_over(n, |i| {
            weights[i] * (y[i] - glm::mean(family, fitted.eta[i])).powi(2)
        })
    } else {
        f64::NAN
    };
    let dispersion = if ols { residual_ss / (n_obs - k) } else { 1.0 };

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
    if estimator == Estimator::Classical && has_probability_weights {
        notes.push("Model-based standard errors with probability weights are not valid; use `se = robust` or `cluster =`.".into());
    }
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
        clusters: &clusters,
        cluster_scores: fitted.cluster_scores.as_deref(),
    };
    let v = vcov::estimate(&inputs, estimator, options.adjustment);

    let g_min = clusters.iter().map(|g| g.levels).min().unwrap_or(0) as f64;
    let distribution = if !ols {
        Distribution::Normal
    } else if estimator == Estimator::Cluster && !options.residual_df {
        Distribution::StudentT(g_min - 1.0)
    } else {
        Distribution::StudentT(n_obs - k)
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
    let coefficients: Vec<Coefficient> = kept
        .iter()
        .enumerate()
        .map(|(a, &j)| {
            Coefficient::wald(
                &design.names[j],
                fitted.beta[j].unwrap_or(f64::NAN),
                v[(a, a)].sqrt(),
                distribution,
                options.level,
            )
        })
        .collect();
    let vcov_rows = (0..kept.len())
        .map(|a| (0..kept.len()).map(|b| v[(a, b)]).collect())
        .collect();

    if let Family::Binomial(_) = family {
        let mut separation = separation_notes(&design, &kept, &y);
        let extreme = fitted
            .eta
            .par_iter()
            .filter(|&&eta| !(1e-8..=1.0 - 1e-8).contains(&glm::mean(family, eta)))
            .count();
        if separation.is_empty() && extreme > 0 {
            separation.push(format!(
                "Quasi-complete separation: {} rows are fitted with a probability of 0 or 1; the estimates of the terms that separate them run off towards infinity and are not meaningful.",
                format::count(extreme)
            ));
        }
        notes.extend(separation);
    }

    let log_lik = (!has_probability_weights)
        .then(|| glm::log_likelihood(&problem, |i| glm::mean(family, fitted.eta[i])));
    let extra = if matches!(family, Family::Gaussian | Family::NegBin(_)) {
        1.0
    } else {
        0.0
    };
    let aic = log_lik.map(|ll| -2.0 * ll + 2.0 * (k + extra));
    let bic = log_lik.map(|ll| -2.0 * ll + n_obs.ln() * (k + extra));
    let y_mean = weighted_mean(&y, &weights);
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
            Some(1.0 - ll / glm::log_likelihood(&problem, |_| y_mean))
        }
        _ => None,
    };

    let se_description = describe_se(
        estimator,
        options.adjustment,
        ols,
        &design,
        distribution,
        options.level,
    );
    if !design.references.is_empty() {
        let refs: Vec<String> = design
            .references
            .iter()
            .map(|(f, l)| format!("{f} = {l}"))
            .collect();
        notes.push(format!("Reference levels: {}.", refs.join(", ")));
    }
    if !design.fixed_effects.is_empty() {
        let fe: Vec<String> = design
            .fixed_effects
            .iter()
            .map(|g| format!("{} ({} levels)", g.name, format::count(g.grouping.levels)))
            .collect();
        notes.push(format!(
            "Absorbed fixed effects: {}; they count {} parameters in the degrees of freedom, as Stata's areg.",
            fe.join(", "),
            format::count(absorbed)
        ));
    }

    let fixed_effect_values = absorbed_effects(
        &design,
        &kept,
        &fitted.beta,
        &fitted.eta,
        design.offset.as_deref(),
    );
    let (deviance, iterations, converged) = (fitted.deviance, fitted.iterations, fitted.converged);
    let eta = fitted.eta;
    // Done with the fit: the prior weights become the model's for averages, not copied.
    let average_weights = average_weights.unwrap_or(weights);
    Ok(Model {
        family: family_name,
        formula: options.formula.clone(),
        outcome: design.outcome.clone(),
        n,
        n_weighted: design.freq.as_ref().map(|_| n_obs),
        n_total: design.n_total,
        n_outside_condition: design.n_outside_condition,
        condition: options.condition.clone(),
        n_dropped_missing: design.n_dropped_missing,
        missing: design.missing.clone(),
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
        distribution,
        level: options.level,
        log_lik,
        aic,
        bic,
        deviance,
        r_squared,
        pseudo_r_squared,
        theta,
        iterations,
        converged,
        notes,
        family_kind: family,
        kept: kept.clone(),
        average_weights,
        eta,
        source: None,
    })
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
    if fine {
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
    Ok(())
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
    let mut named = Vec::new();
    // Rows, zero outcomes and one outcomes by level of each factor, in one pass.
    let mut factors: Vec<(&Codes, usize)> = Vec::new();
    for &j in kept {
        if let MatrixColumn::Indicator { codes, levels, .. } = &design.columns[j]
            && !factors
                .iter()
                .any(|(c, _)| std::sync::Arc::ptr_eq(c, codes))
        {
            factors.push((codes, *levels as usize));
        }
    }
    let partials = over_chunks(y.len(), |range| {
        let mut counts: Vec<Vec<[usize; 3]>> = factors
            .iter()
            .map(|(_, levels)| vec![[0; 3]; *levels])
            .collect();
        for ((codes, _), counts) in factors.iter().zip(&mut counts) {
            for (&c, &y) in codes[range.clone()].iter().zip(&y[range.clone()]) {
                if let Some(t) = counts.get_mut(c as usize) {
                    t[0] += 1;
                    t[1] += usize::from(y == 0.0);
                    t[2] += usize::from(y == 1.0);
                }
            }
        }
        counts
    });
    let mut tallies: Vec<(&Codes, Vec<[usize; 3]>)> = factors
        .iter()
        .map(|(codes, levels)| (*codes, vec![[0; 3]; *levels]))
        .collect();
    for partial in partials {
        for ((_, total), part) in tallies.iter_mut().zip(partial) {
            for (t, p) in total.iter_mut().zip(part) {
                for k in 0..3 {
                    t[k] += p[k];
                }
            }
        }
    }
    let mut x = Vec::new();
    for &j in kept {
        let column = &design.columns[j];
        if design.names[j] == "(Intercept)" || !column.is_dummy() {
            continue;
        }
        let [rows, zeros, ones] = match column {
            MatrixColumn::Indicator { codes, level, .. } => tallies
                .iter()
                .find(|(c, _)| std::sync::Arc::ptr_eq(c, codes))
                .map_or([0; 3], |(_, t)| t[*level as usize]),
            _ => {
                x.resize(y.len(), 0.0);
                column.fill(0, &mut x);
                let mut t = [0; 3];
                for (x, y) in x.iter().zip(y) {
                    if *x == 1.0 {
                        t[0] += 1;
                        t[1] += usize::from(*y == 0.0);
                        t[2] += usize::from(*y == 1.0);
                    }
                }
                t
            }
        };
        if rows == 0 {
            continue;
        }
        if zeros == rows {
            named.push(format!(
                "`{}` (every row with it has outcome 0)",
                design.names[j]
            ));
        } else if ones == rows {
            named.push(format!(
                "`{}` (every row with it has outcome 1)",
                design.names[j]
            ));
        }
    }
    if named.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "Perfect separation: {} predicts the outcome exactly; its estimate and standard error are not meaningful (drop the level or combine it with another).",
        named.join(", ")
    )]
}

fn describe_se(
    estimator: Estimator,
    adjustment: Adjustment,
    ols: bool,
    design: &Design,
    distribution: Distribution,
    level: f64,
) -> String {
    let factor = match (estimator, adjustment, ols) {
        (Estimator::Classical, _, _) | (Estimator::Hc3, _, _) => "",
        (_, Adjustment::None, _) => ", no small-sample factor",
        (Estimator::Robust, Adjustment::Ml, _) | (Estimator::Robust, Adjustment::Stata, false) => {
            ", factor n/(n-1) as Stata's ML commands"
        }
        (Estimator::Robust, _, _) => ", factor n/(n-k) (HC1) as Stata's regress",
        (Estimator::Cluster, Adjustment::Min, _) => {
            ", factor min(G)/(min(G)-1)·(N-1)/(N-K) as fixest"
        }
        (Estimator::Cluster, Adjustment::Ml, _)
        | (Estimator::Cluster, Adjustment::Stata, false) => {
            ", factor G/(G-1) as Stata's ML commands"
        }
        (Estimator::Cluster, _, _) => ", factor G/(G-1)·(N-1)/(N-K) as Stata's regress",
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

/// NB2 by alternating: a GLM at fixed theta, then theta by Newton's method on its
/// profile likelihood, until both settle (MASS::glm.nb's scheme). Returns the fit at
/// the final theta, theta and its standard error.
fn fit_negbin<'a>(problem: &mut Problem<'a>) -> (glm::Fit<'a>, f64, f64) {
    problem.family = Family::Poisson;
    let mut fitted = glm::fit(problem);
    let n = problem.y.len();
    let means = |family: Family, fitted: &glm::Fit| -> Vec<f64> {
        fitted
            .eta
            .iter()
            .map(|&eta| glm::mean(family, eta))
            .collect()
    };
    let mut theta = {
        let mu = means(problem.family, &fitted);
        let s: f64 = (0..n)
            .map(|i| problem.weights[i] * (problem.y[i] / mu[i] - 1.0).powi(2))
            .sum();
        let total: f64 = problem.weights.iter().sum();
        (total / s).max(1e-3)
    };
    let mut info = 1.0;
    let mut iterations = 0;
    for _ in 0..50 {
        theta = theta_ml(problem, &means(problem.family, &fitted), theta, &mut info);
        problem.family = Family::NegBin(theta);
        let previous = fitted.deviance;
        fitted = glm::fit(problem);
        iterations += fitted.iterations;
        let new_theta = theta_ml(problem, &means(problem.family, &fitted), theta, &mut info);
        let settled = (new_theta - theta).abs() / theta < 1e-10
            && (fitted.deviance - previous).abs() / (fitted.deviance.abs() + 0.1) < 1e-10;
        theta = new_theta;
        if settled {
            break;
        }
    }
    problem.family = Family::NegBin(theta);
    fitted = glm::fit(problem);
    let _ = theta_ml(problem, &means(problem.family, &fitted), theta, &mut info);
    fitted.iterations += iterations;
    (fitted, theta, 1.0 / info.sqrt())
}

/// Newton's method for theta given the means (MASS::theta.ml); `info` receives the
/// expected information at the answer.
fn theta_ml(problem: &Problem, mu: &[f64], start: f64, info: &mut f64) -> f64 {
    use statrs::function::gamma::digamma;
    let mut theta = start;
    for _ in 0..100 {
        let mut score = 0.0;
        let mut information = 0.0;
        for i in 0..mu.len() {
            let (y, m, w) = (problem.y[i], mu[i], problem.weights[i]);
            score += w
                * (digamma(theta + y) - digamma(theta) + theta.ln() + 1.0
                    - (theta + m).ln()
                    - (y + theta) / (m + theta));
            information += w
                * (-trigamma(theta + y) + trigamma(theta) - 1.0 / theta + 2.0 / (m + theta)
                    - (y + theta) / (m + theta).powi(2));
        }
        *info = information;
        let step = score / information;
        theta = (theta + step).max(1e-8);
        if step.abs() < 1e-12 * theta.max(1.0) {
            break;
        }
    }
    theta
}

/// The trigamma function: recurrence up to 6, then its asymptotic series.
fn trigamma(mut x: f64) -> f64 {
    let mut value = 0.0;
    while x < 6.0 {
        value += 1.0 / (x * x);
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    value
        + inv
        + inv2 / 2.0
        + inv * inv2 * (1.0 / 6.0 - inv2 * (1.0 / 30.0 - inv2 * (1.0 / 42.0 - inv2 / 30.0)))
}

/// The absorbed effects' values by level: the part of each row's linear predictor the
/// slopes do not explain, split among the effects by alternating means. Only sums over
/// the effects are identified, which is all a prediction needs.
fn absorbed_effects(
    design: &Design,
    kept: &[usize],
    beta: &[Option<f64>],
    eta: &[f64],
    offset: Option<&[f64]>,
) -> Vec<std::collections::HashMap<String, f64>> {
    let named = &design.fixed_effects;
    if named.is_empty() {
        return Vec::new();
    }
    let groups: Vec<&Grouping> = named.iter().map(|g| &g.grouping).collect();
    if groups.is_empty() {
        return Vec::new();
    }
    let n = eta.len();
    let columns: Vec<&MatrixColumn> = kept.iter().map(|&j| &design.columns[j]).collect();
    let slopes: Vec<f64> = kept.iter().map(|&j| beta[j].unwrap_or(0.0)).collect();
    let labelled = |values: Vec<Vec<f64>>| {
        named
            .iter()
            .zip(values)
            .map(|(g, v)| g.labels.iter().cloned().zip(v).collect())
            .collect()
    };
    if let [group] = groups.as_slice() {
        // One effect is each group's mean of what the terms leave of eta, in one pass
        // over the rows a block at a time (no row-length vector).
        let partials = over_chunks(n, |range| {
            let mut sums = vec![0.0; 2 * group.levels];
            let mut xb = vec![0.0; BLOCK];
            for start in range.clone().step_by(BLOCK) {
                let len = BLOCK.min(range.end - start);
                linear_predictor(&columns, &slopes, start, &mut xb[..len]);
                for (r, &x) in xb[..len].iter().enumerate() {
                    let i = start + r;
                    let g = 2 * group.ids[i] as usize;
                    sums[g] += eta[i] - offset.map_or(0.0, |o| o[i]) - x;
                    sums[g + 1] += 1.0;
                }
            }
            sums
        });
        let sums = add_partials(partials, 2 * group.levels);
        let values = sums.chunks(2).map(|s| s[0] / s[1]).collect();
        return labelled(vec![values]);
    }
    let mut remainder = vec![0.0; n];
    linear_predictor(&columns, &slopes, 0, &mut remainder);
    for i in 0..n {
        remainder[i] = eta[i] - offset.map_or(0.0, |o| o[i]) - remainder[i];
    }
    let mut values: Vec<Vec<f64>> = groups.iter().map(|g| vec![0.0; g.levels]).collect();
    for _ in 0..1_000 {
        let mut largest_change: f64 = 0.0;
        for k in 0..groups.len() {
            let mut sums = vec![0.0; groups[k].levels];
            let mut counts = vec![0.0; groups[k].levels];
            for i in 0..n {
                let others: f64 = (0..groups.len())
                    .filter(|&m| m != k)
                    .map(|m| values[m][groups[m].ids[i] as usize])
                    .sum();
                let g = groups[k].ids[i] as usize;
                sums[g] += remainder[i] - others;
                counts[g] += 1.0;
            }
            for g in 0..groups[k].levels {
                let value = sums[g] / counts[g];
                largest_change = largest_change.max((value - values[k][g]).abs());
                values[k][g] = value;
            }
        }
        if largest_change < 1e-12 {
            break;
        }
    }
    labelled(values)
}
