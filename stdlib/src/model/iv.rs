//! Two-stage least squares from a design holding the exogenous terms, the endogenous
//! ones and the excluded instruments: each first stage and the second are fits of the
//! model's own machinery (absorbed effects, weights, clusters, every variance), and the
//! tests beside them are further fits (`spel_stats::designs::iv`).

use std::sync::Arc;

use spel_grammar::Diagnostic;
use spel_stats::designs::iv::{self as tests, Test};
use spel_stats::vcov::Estimator;

use super::fit::{self, Options};
use super::{Distribution, Model, ModelFamily};
use crate::formula::design::{Design, MatrixColumn};

/// A first stage's F below this is the usual sign of weak instruments.
const WEAK_F: f64 = 10.0;

/// What two-stage least squares reports beside the coefficients.
#[derive(Clone, Debug)]
pub struct Instrumental {
    pub endogenous: Vec<String>,
    pub instruments: Vec<String>,
    pub first_stages: Vec<FirstStage>,
    /// Whether the endogenous terms could be treated as exogenous (homoskedastic form).
    pub wu_hausman: Test,
    /// Over-identification, with more instruments than endogenous terms.
    pub sargan: Option<Test>,
}

/// An endogenous term's first stage: the excluded instruments' joint F under the
/// model's variance, and their partial R² (beyond the exogenous terms).
#[derive(Clone, Debug)]
pub struct FirstStage {
    pub variable: String,
    pub f: Test,
    pub partial_r_squared: f64,
}

/// The design's columns by role: positions in `Design::columns`.
pub struct Roles {
    pub endogenous: Vec<usize>,
    pub instruments: Vec<usize>,
}

pub fn two_stage(
    mut design: Design,
    roles: &Roles,
    options: &Options,
) -> Result<Model, Diagnostic> {
    let exogenous: Vec<usize> = (0..design.columns.len())
        .filter(|j| !roles.endogenous.contains(j) && !roles.instruments.contains(j))
        .collect();
    let instrumented_columns: Vec<usize> = exogenous
        .iter()
        .chain(&roles.instruments)
        .copied()
        .collect();
    let weights = design
        .weights
        .clone()
        .unwrap_or_else(|| vec![1.0; design.y.len()]);

    let mut first_stages = Vec::new();
    let mut instrumented = Vec::new();
    let mut second_columns = design.columns.clone();
    for &e in &roles.endogenous {
        let x = values(&design.columns[e]);
        let full = sub_fit(&design, x.clone(), &instrumented_columns, options, None)?;
        check_instruments_kept(&design, &full, exogenous.len(), roles, options)?;
        let restricted = sub_fit(
            &design,
            x.clone(),
            &exogenous,
            options,
            Some(Estimator::Classical),
        )?;
        let full_rss = residual_ss(&x, &full.eta, &weights);
        first_stages.push(FirstStage {
            variable: design.names[e].clone(),
            f: first_stage_f(&full, exogenous.len()),
            partial_r_squared: 1.0 - full_rss / residual_ss(&x, &restricted.eta, &weights),
        });
        let residuals: Vec<f64> = x.iter().zip(&full.eta).map(|(x, f)| x - f).collect();
        second_columns[e] = MatrixColumn::Values(Arc::new(full.eta));
        instrumented.push((e, residuals));
    }

    let y = design.y.clone();
    let original = design.clone();
    let kept_columns: Vec<usize> = (0..design.columns.len())
        .filter(|j| !roles.instruments.contains(j))
        .collect();
    design.columns = kept_columns
        .iter()
        .map(|&j| second_columns[j].clone())
        .collect();
    design.names = kept_columns
        .iter()
        .map(|&j| design.names[j].clone())
        .collect();
    let mut second_options = options.clone();
    second_options.family = Some(ModelFamily::Ols);
    second_options.instrumented = instrumented
        .iter()
        .map(|(e, v)| {
            (
                kept_columns.iter().position(|j| j == e).unwrap_or(0),
                v.clone(),
            )
        })
        .collect();
    let mut model = fit::fit(design, &second_options)?;
    check_endogenous_kept(&model, &second_options, &roles.endogenous, &original)?;

    let residuals: Vec<f64> = y.iter().zip(&model.eta).map(|(y, e)| y - e).collect();
    let wu_hausman = wu_hausman(
        &original,
        &y,
        &kept_columns,
        &instrumented,
        &weights,
        options,
    )?;
    let sargan = sargan(
        &original,
        residuals,
        &instrumented_columns,
        roles,
        &weights,
        options,
    )?;
    for first in first_stages.iter().filter(|f| f.f.statistic < WEAK_F) {
        model.notes.push(format!(
            "The instruments' F in the first stage of {} is {}, below {WEAK_F} (Staiger and \
             Stock's rule of thumb): weak instruments pull 2SLS towards OLS, and its tests \
             and intervals are unreliable.",
            first.variable,
            super::render::sig(first.f.statistic)
        ));
    }
    model.instrumental = Some(Instrumental {
        endogenous: roles
            .endogenous
            .iter()
            .map(|&j| original.names[j].clone())
            .collect(),
        instruments: roles
            .instruments
            .iter()
            .map(|&j| original.names[j].clone())
            .collect(),
        first_stages,
        wu_hausman,
        sargan,
    });
    Ok(model)
}

/// A numeric column's values (the verb checks that the endogenous terms are numbers).
fn values(column: &MatrixColumn) -> Vec<f64> {
    match column {
        MatrixColumn::Values(x) => x.to_vec(),
        MatrixColumn::Constant { value, rows } => vec![*value; *rows],
        MatrixColumn::Indicator { .. } => unreachable!("an endogenous term is a number"),
    }
}

/// OLS of `y` on the design's `columns` (its absorbed effects, weights and clusters
/// too), with the model's variance or `estimator`.
fn sub_fit(
    design: &Design,
    y: Vec<f64>,
    columns: &[usize],
    options: &Options,
    estimator: Option<Estimator>,
) -> Result<Model, Diagnostic> {
    let mut sub = design.clone();
    sub.y = y;
    sub.columns = columns.iter().map(|&j| design.columns[j].clone()).collect();
    sub.names = columns.iter().map(|&j| design.names[j].clone()).collect();
    let mut sub_options = options.clone();
    sub_options.family = Some(ModelFamily::Ols);
    sub_options.instrumented = Vec::new();
    if estimator.is_some() {
        sub_options.estimator = estimator;
    }
    fit::fit(sub, &sub_options)
}

fn residual_ss(y: &[f64], eta: &[f64], weights: &[f64]) -> f64 {
    y.iter()
        .zip(eta)
        .zip(weights)
        .map(|((y, e), w)| w * (y - e).powi(2))
        .sum()
}

/// The excluded instruments' joint test in a first stage (the last coefficients of
/// the fit, after the `exogenous` ones): F(q, the model's degrees of freedom).
fn first_stage_f(first: &Model, exogenous: usize) -> Test {
    let at: Vec<usize> = (0..first.kept.len())
        .filter(|&a| first.kept[a] >= exogenous)
        .collect();
    let beta: Vec<f64> = at.iter().map(|&a| first.coefficients[a].estimate).collect();
    let v = faer::Mat::from_fn(at.len(), at.len(), |i, j| first.vcov[at[i]][at[j]]);
    let q = at.len() as f64;
    let statistic = tests::wald_over_q(&beta, &v).unwrap_or(f64::NAN);
    let df = match first.distribution {
        Distribution::StudentT(df) => df,
        Distribution::Normal => f64::INFINITY,
    };
    let reference = if df.is_finite() {
        tests::Reference::F(q, df)
    } else {
        tests::Reference::ChiSquared(q)
    };
    let statistic = if df.is_finite() {
        statistic
    } else {
        statistic * q
    };
    Test::new(statistic, reference)
}

/// Every excluded instrument must move the endogenous term beyond the exogenous ones:
/// one collinear with them (a covariate given as an instrument) identifies nothing.
fn check_instruments_kept(
    design: &Design,
    first: &Model,
    exogenous: usize,
    roles: &Roles,
    options: &Options,
) -> Result<(), Diagnostic> {
    for (k, &j) in roles.instruments.iter().enumerate() {
        if !first.kept.contains(&(exogenous + k)) {
            return Err(Diagnostic::new(
                "spel::iv::instrument_collinear",
                format!(
                    "the instrument `{}` is collinear with the exogenous terms (and absorbed effects): it adds nothing to identify the effect",
                    design.names[j]
                ),
            )
            .at(options.span_of("instruments"))
            .with_help("an instrument must vary beyond the model's other terms; drop it, or drop the term it repeats"));
        }
    }
    Ok(())
}

/// An endogenous term whose first-stage fit is collinear with the exogenous terms is
/// not identified.
fn check_endogenous_kept(
    model: &Model,
    options: &Options,
    endogenous: &[usize],
    original: &Design,
) -> Result<(), Diagnostic> {
    for ((position, _), &j) in options.instrumented.iter().zip(endogenous) {
        if !model.kept.contains(position) {
            return Err(Diagnostic::new(
                "spel::iv::not_identified",
                format!(
                    "`{}` is not identified: its first-stage fit is collinear with the exogenous terms",
                    original.names[j]
                ),
            )
            .at(options.span_of("endogenous"))
            .with_help("the instruments must predict it beyond the exogenous terms; give more instruments or fewer endogenous terms"));
        }
    }
    Ok(())
}

/// Wu–Hausman: the structural equation by OLS with and without the first stages'
/// residuals added, the F test of their coefficients (homoskedastic, as AER and
/// linearmodels compute it whatever the variance).
fn wu_hausman(
    design: &Design,
    y: &[f64],
    structural_columns: &[usize],
    instrumented: &[(usize, Vec<f64>)],
    weights: &[f64],
    options: &Options,
) -> Result<Test, Diagnostic> {
    let restricted = sub_fit(
        design,
        y.to_vec(),
        structural_columns,
        options,
        Some(Estimator::Classical),
    )?;
    let mut augmented = design.clone();
    let mut columns = structural_columns.to_vec();
    for (_, residuals) in instrumented {
        augmented
            .columns
            .push(MatrixColumn::Values(Arc::new(residuals.clone())));
        augmented
            .names
            .push(format!("residual {}", augmented.names.len()));
        columns.push(augmented.columns.len() - 1);
    }
    let unrestricted = sub_fit(
        &augmented,
        y.to_vec(),
        &columns,
        options,
        Some(Estimator::Classical),
    )?;
    let df = match unrestricted.distribution {
        Distribution::StudentT(df) => df,
        Distribution::Normal => f64::INFINITY,
    };
    Ok(tests::nested_f(
        residual_ss(y, &restricted.eta, weights),
        residual_ss(y, &unrestricted.eta, weights),
        instrumented.len() as f64,
        df,
    ))
}

/// Sargan's test when there are more excluded instruments than endogenous terms: the
/// structural residuals regressed on every instrument.
fn sargan(
    design: &Design,
    residuals: Vec<f64>,
    instrument_columns: &[usize],
    roles: &Roles,
    weights: &[f64],
    options: &Options,
) -> Result<Option<Test>, Diagnostic> {
    let overidentifying = roles.instruments.len() as f64 - roles.endogenous.len() as f64;
    if overidentifying < 1.0 {
        return Ok(None);
    }
    let zeros = vec![0.0; residuals.len()];
    let residual_ss = residual_ss(&residuals, &zeros, weights);
    let auxiliary = sub_fit(
        design,
        residuals.clone(),
        instrument_columns,
        options,
        Some(Estimator::Classical),
    )?;
    let auxiliary_rss = self::residual_ss(&residuals, &auxiliary.eta, weights);
    Ok(Some(tests::sargan(
        residuals.len() as f64,
        residual_ss,
        auxiliary_rss,
        overidentifying,
    )))
}
