//! `ipw`: the effect of a treatment by inverse probability weighting, with the
//! standard errors of Stata's `teffects ipw` (the estimator: `spel_stats::designs::ipw`).

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::{Expr as Ast, ExprKind, Formula};
use spel_stats::designs::ipw::{self, Estimand, IpwError, Weighting};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::format;
use crate::model::{Coefficient, Distribution};
use crate::value::{Report, Value, is_numeric};

crate::choice! {
    /// Whose average effect.
    pub(super) enum EstimandWord { Ate = "ate", Att = "att" }
}

crate::choice! {
    /// What `ipw` gives: the estimates, or the rows with their weights.
    enum IpwShow { Summary = "summary", Weights = "weights" }
}

pub const VERB: Verb = Verb {
    name: "ipw",
    signature: "ipw OUTCOME ~ TREATMENT, covariates = [X1, X2, ...] [, estimand = ate | att] [, trim = 0.05] [, level = 0.95] [, show = weights]",
    summary: "Inverse probability weighting: a treatment's effect, weighting by the inverse of a logit propensity score.",
    description: "Fits a logit of TREATMENT (0 or 1) on the covariates (numeric columns or \
                  expressions, an intercept added), and compares the weighted means of the \
                  outcome: for the ATE each treated row weighs 1/p and each untreated 1/(1 − \
                  p); for the ATT the treated weigh 1 and the untreated p/(1 − p); weights \
                  normalised to sum to one in each group (Hájek). Standard errors from the \
                  stacked estimating equations of the logit and the two means, as Stata's \
                  `teffects ipw`, with normal intervals. `trim = a` drops rows whose \
                  propensity is below a or above 1 − a and fits again on the rest. \
                  `show = weights` gives the rows used, with their `propensity` and normalised \
                  `weight`, for `balance` or a weighted model.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "covariates",
            values: "[col1, col2, ...]",
            kind: OptionKind::Value,
            summary: "What the treatment model conditions on: numeric columns or expressions.",
        },
        OptionSpec {
            name: "estimand",
            values: "ate or att",
            kind: OptionKind::Word(EstimandWord::WORDS),
            summary: "The average effect over everyone (default) or over the treated.",
        },
        OptionSpec {
            name: "trim",
            values: "a number below 0.5",
            kind: OptionKind::Number {
                min: f64::MIN_POSITIVE,
                max: 0.5 - f64::EPSILON,
            },
            summary: "Drop rows with a propensity below this or above one minus it (Crump et al.), then fit again.",
        },
        OptionSpec::LEVEL,
        OptionSpec {
            name: "show",
            values: "summary or weights",
            kind: OptionKind::Word(IpwShow::WORDS),
            summary: "The estimates (default), or the rows used with their propensity and weight.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Earnings after the NSW job training, its trainees against the CPS (the experiment found $1,794)",
        code: "read \"examples/data/nsw_cps.csv\" |> filter treat == 1 | sample == \"CPS\"\n  |> ipw re78 ~ treat, covariates = [age, age^2, educ, black, hisp, marr, nodegree, re74, re75], estimand = att",
        output: r#"Inverse probability weighting: the average effect on the treated of treat on re78; logit of treat on age, age^2, educ, black, hisp, marr, nodegree, re74, re75; 185 treated, 15,992 untreated
shape: (3, 7)
┌────────────────────────┬──────────┬───────────┬───────┬─────────┬──────────┬───────────┐
│ term                   ┆ estimate ┆ std_error ┆ z     ┆ p_value ┆ conf_low ┆ conf_high │
│ ---                    ┆ ---      ┆ ---       ┆ ---   ┆ ---     ┆ ---      ┆ ---       │
│ str                    ┆ f64      ┆ f64       ┆ f64   ┆ f64     ┆ f64      ┆ f64       │
╞════════════════════════╪══════════╪═══════════╪═══════╪═════════╪══════════╪═══════════╡
│ ATT                    ┆     1315 ┆     702.4 ┆ 1.872 ┆   0.061 ┆   -61.59 ┆      2692 │
│ mean re78 if treat = 1 ┆     6349 ┆     576.9 ┆ 11.01 ┆  <0.001 ┆     5219 ┆      7480 │
│ mean re78 if treat = 0 ┆     5034 ┆     433.5 ┆ 11.61 ┆  <0.001 ┆     4184 ┆      5884 │
└────────────────────────┴──────────┴───────────┴───────┴─────────┴──────────┴───────────┘
Note: The untreated rows' weights are uneven: their effective sample size is 207 of 15,992 (largest weight 348.791 times the average). Rows with a propensity near 0 or 1 dominate; check the overlap, or trim.
Note: Propensity from a logit of the treatment on the covariates (intercept added); weights normalised to sum to one in each group (Hájek)
Note: Standard errors from the stacked estimating equations of the logit and the two weighted means, as Stata's teffects ipw; normal-based intervals"#,
    }],
    run: ipw_verb,
};

fn ipw_verb(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let (formula, treatment, covariates) = propensity_design(ctx)?;
    let estimand = match ctx.choice::<EstimandWord>("estimand")? {
        Some(EstimandWord::Att) => Estimand::Att,
        _ => Estimand::Ate,
    };
    let trim = ctx.number("trim")?.map(|(a, _)| a);
    let level = ctx.number("level")?.map_or(0.95, |(l, _)| l);

    let show_weights = ctx.choice::<IpwShow>("show")? == Some(IpwShow::Weights);
    let lf = ctx.table()?;
    let (mut columns, dropped, used_rows) = numeric_columns(
        ctx,
        lf,
        &[&formula.lhs, treatment],
        &covariates,
        show_weights,
    )?;
    check_treatment(ctx, &columns[1], treatment)?;
    let names = Names {
        outcome: ctx.text(formula.lhs.span).to_string(),
        treatment: ctx.text(treatment.span).to_string(),
        covariates: covariates
            .iter()
            .map(|a| ctx.text(a.span).to_string())
            .collect(),
    };
    let fit =
        |columns: &[Vec<f64>]| ipw::estimate(&columns[0], &columns[1], &columns[2..], estimand);
    let mut result = fit(&columns).map_err(|e| explain(ctx, e, treatment))?;
    let mut trimmed = 0;
    let mut keep = vec![true; columns[0].len()];
    if let Some(a) = trim {
        keep = result
            .propensity
            .iter()
            .map(|p| *p >= a && *p <= 1.0 - a)
            .collect();
        trimmed = keep.iter().filter(|k| !**k).count();
        if trimmed > 0 {
            keep_rows(&mut columns, &keep);
            result = fit(&columns).map_err(|e| {
                let left = format::plural(columns[0].len(), "row");
                explain(ctx, e, treatment).with_note(format!(
                    "this is the fit after trimming, on the {left} whose propensity was within [{}, {}]",
                    format::number(a),
                    format::number(1.0 - a)
                ))
            })?;
        }
    }
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    if let Some(rows) = used_rows {
        let rows = ctx.env.work().collect(rows, "rows", ctx.call.span)?;
        return with_weights(rows, &keep, &result)
            .map_err(fail)
            .map(|df| Value::Table(df.lazy()));
    }
    let effect = match estimand {
        Estimand::Ate => "ATE",
        Estimand::Att => "ATT",
    };
    let table = effect_table(
        effect,
        [
            (result.effect, result.std_error),
            result.treated_mean,
            result.control_mean,
        ],
        &names.outcome,
        &names.treatment,
        level,
    )
    .map_err(fail)?;
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: title(&result, &names, estimand, &columns[1]),
        table,
        notes: super::missing_note(dropped)
            .into_iter()
            .chain(notes(&result, &columns[1], trim, trimmed))
            .collect(),
        conventions: vec![
            "Propensity from a logit of the treatment on the covariates (intercept added); weights normalised to sum to one in each group (Hájek)".to_string(),
            "Standard errors from the stacked estimating equations of the logit and the two weighted means, as Stata's teffects ipw; normal-based intervals".to_string(),
        ],
    })))
}

/// The rows the estimate used (trimmed ones dropped), with each one's propensity and
/// normalised weight.
fn with_weights(rows: DataFrame, keep: &[bool], result: &Weighting) -> PolarsResult<DataFrame> {
    let mask = BooleanChunked::from_slice("keep".into(), keep);
    let mut rows = rows.filter(&mask)?;
    rows.with_column(Column::new("propensity".into(), result.propensity.clone()))?;
    rows.with_column(Column::new("weight".into(), result.weights.clone()))?;
    Ok(rows)
}

struct Names {
    outcome: String,
    treatment: String,
    covariates: Vec<String>,
}

/// What the propensity designs (`ipw`, `aipw`, `match`) share: the formula, its
/// treatment term and the required `covariates`.
pub(super) fn propensity_design<'a>(
    ctx: &VerbCtx<'a>,
) -> Result<(&'a Formula, &'a Ast, Vec<&'a Ast>), Diagnostic> {
    let verb = ctx.verb.name;
    let formula = ctx
        .args()
        .iter()
        .find_map(|a| super::super::formula_of(a))
        .ok_or_else(|| {
            ctx.usage_error(format!(
                "`{verb}` takes a formula, as `{verb} re78 ~ treat, covariates = [age, educ]`"
            ))
        })?;
    let treatment = super::single_term(ctx, formula, "treatment")?;
    let covariates = covariate_list(ctx, "covariates")?.ok_or_else(|| missing_covariates(ctx))?;
    Ok((formula, treatment, covariates))
}

/// Keeps the rows `keep` marks in every column (trimming).
pub(super) fn keep_rows(columns: &mut [Vec<f64>], keep: &[bool]) {
    for column in columns {
        *column = column
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect();
    }
}

/// A list option (`covariates = [a, b]`, or one column), if given; an empty list is
/// refused.
pub(super) fn covariate_list<'a>(
    ctx: &VerbCtx<'a>,
    option: &str,
) -> Result<Option<Vec<&'a Ast>>, Diagnostic> {
    match ctx.option(option).and_then(|a| a.as_expr()) {
        Some(Ast {
            kind: ExprKind::List(items),
            span,
        }) if items.is_empty() => Err(Diagnostic::new(
            "spel::propensity::covariates",
            format!("`{option}` names no column: a model needs something to condition on"),
        )
        .at(*span)),
        Some(Ast {
            kind: ExprKind::List(items),
            ..
        }) => Ok(Some(items.iter().collect())),
        Some(one) => Ok(Some(vec![one])),
        None => Ok(None),
    }
}

fn missing_covariates(ctx: &VerbCtx) -> Diagnostic {
    let verb = ctx.verb.name;
    ctx.usage_error(format!(
        "`{verb}` needs `covariates = [...]`, what the treatment model conditions on"
    ))
    .with_help(format!(
        "write `{verb} re78 ~ treat, covariates = [age, educ, re75]`"
    ))
}

/// The outcome, the treatment and the covariates (`fixed`, then `lists`) as numbers
/// over the rows where none is missing (columns c0, c1, ...), how many rows a missing
/// value dropped, and, when `keep_rows`, those rows themselves as a plan.
#[allow(clippy::type_complexity)]
pub(super) fn numeric_columns(
    ctx: &VerbCtx,
    lf: LazyFrame,
    fixed: &[&Ast],
    lists: &[&Ast],
    keep_rows: bool,
) -> Result<(Vec<Vec<f64>>, usize, Option<LazyFrame>), Diagnostic> {
    let scope = ctx.scope(&lf)?;
    let mut selected = Vec::new();
    for (i, ast) in fixed.iter().chain(lists).enumerate() {
        let (expr, dtype) = scope.checked(ast)?;
        if !is_numeric(&dtype) && dtype != DataType::Boolean {
            return Err(Diagnostic::new(
                "spel::propensity::not_numeric",
                format!("`{}` must be a number; it is {}", ctx.text(ast.span), crate::value::dtype_name(&dtype)),
            )
            .at(ast.span)
            .with_help("for a text column, give a 0/1 column for each level but one: `derive london = if_else(region == \"London\", 1, 0)`"));
        }
        selected.push(expr.cast(DataType::Float64).alias(format!("c{i}")));
    }
    let present = selected
        .iter()
        .map(|e| e.clone().is_not_null())
        .reduce(|a, b| a.and(b))
        .unwrap_or(lit(true));
    let used_rows = keep_rows.then(|| lf.clone().filter(present));
    let count = selected.len();
    let (all, dropped) = super::complete_rows(ctx, lf, selected)?;
    let columns = (0..count)
        .map(|i| super::floats(ctx, &all, &format!("c{i}")))
        .collect::<Result<_, _>>()?;
    Ok((columns, dropped, used_rows))
}

/// Refuses a treatment other than 0 or 1.
pub(super) fn check_treatment(ctx: &VerbCtx, t: &[f64], treatment: &Ast) -> Result<(), Diagnostic> {
    match t.iter().find(|v| **v != 0.0 && **v != 1.0) {
        Some(bad) => Err(Diagnostic::new(
            "spel::propensity::treatment",
            format!(
                "the treatment `{}` must be 0 or 1; it has {}",
                ctx.text(treatment.span),
                format::number(*bad)
            ),
        )
        .at(treatment.span)),
        None => Ok(()),
    }
}

pub(super) fn explain(ctx: &VerbCtx, error: IpwError, treatment: &Ast) -> Diagnostic {
    let name = ctx.text(treatment.span);
    match error {
        IpwError::NoVariation => Diagnostic::new(
            "spel::propensity::no_variation",
            format!("`{name}` is the same for every row: there is no one to compare"),
        )
        .at(treatment.span),
        IpwError::PerfectPrediction => Diagnostic::new(
            "spel::propensity::perfect_prediction",
            format!("the covariates predict `{name}` perfectly for some rows: their propensity is 0 or 1 and their weight infinite"),
        )
        .at(ctx.option("covariates").map_or(ctx.call.span, |a| a.span))
        .with_help("those rows have no comparable others (no overlap): drop the covariate that separates them, or restrict the rows, or use `trim =`"),
        IpwError::Singular => Diagnostic::new(
            "spel::propensity::collinear",
            "the covariates are collinear (one is a combination of the others or constant)",
        )
        .at(ctx.option("covariates").map_or(ctx.call.span, |a| a.span))
        .with_help("drop the covariate that repeats the others"),
        IpwError::NotConverged => Diagnostic::new(
            "spel::propensity::not_converged",
            "the logit of the treatment did not converge in 100 iterations",
        )
        .at(ctx.option("covariates").map_or(ctx.call.span, |a| a.span))
        .with_help("rescale large covariates (earnings in thousands), or drop one"),
    }
}

/// The effect and the two potential-outcome means, each with its normal interval.
pub(super) fn effect_table(
    effect: &str,
    estimates: [(f64, f64); 3],
    outcome: &str,
    treatment: &str,
    level: f64,
) -> PolarsResult<DataFrame> {
    let terms = [
        effect.to_string(),
        format!("mean {outcome} if {treatment} = 1"),
        format!("mean {outcome} if {treatment} = 0"),
    ];
    let rows: Vec<Coefficient> = terms
        .iter()
        .zip(estimates)
        .map(|(term, (estimate, se))| {
            Coefficient::wald(term, estimate, se, Distribution::Normal, level)
        })
        .collect();
    df!(
        "term" => rows.iter().map(|r| r.term.clone()).collect::<Vec<_>>(),
        "estimate" => rows.iter().map(|r| r.estimate).collect::<Vec<_>>(),
        "std_error" => rows.iter().map(|r| r.std_error).collect::<Vec<_>>(),
        "z" => rows.iter().map(|r| r.statistic).collect::<Vec<_>>(),
        "p_value" => rows.iter().map(|r| r.p_value).collect::<Vec<_>>(),
        "conf_low" => rows.iter().map(|r| r.conf_low).collect::<Vec<_>>(),
        "conf_high" => rows.iter().map(|r| r.conf_high).collect::<Vec<_>>(),
    )
}

fn title(result: &Weighting, names: &Names, estimand: Estimand, treatment: &[f64]) -> String {
    let treated = treatment.iter().filter(|t| **t == 1.0).count();
    let whose = match estimand {
        Estimand::Ate => "average effect",
        Estimand::Att => "average effect on the treated",
    };
    format!(
        "Inverse probability weighting: the {whose} of {} on {}; logit of {} on {}; {} treated, {} untreated",
        names.treatment,
        names.outcome,
        names.treatment,
        names.covariates.join(", "),
        format::count(treated),
        format::count(result.propensity.len() - treated),
    )
}

fn notes(result: &Weighting, treatment: &[f64], trim: Option<f64>, trimmed: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(a) = trim.filter(|_| trimmed > 0) {
        notes.push(format!(
            "{} with a propensity below {} or above {} dropped (trim), and the logit fitted again on the rest: the estimate is for the rows left.",
            format::plural(trimmed, "row"),
            format::number(a),
            format::number(1.0 - a)
        ));
    }
    // Kish's effective sample size of each group: few rows carrying much of the weight
    // make the estimate fragile.
    for (group, label) in [(1.0, "treated"), (0.0, "untreated")] {
        let w: Vec<f64> = result
            .weights
            .iter()
            .zip(treatment)
            .filter(|(_, t)| **t == group)
            .map(|(w, _)| *w)
            .filter(|w| *w > 0.0)
            .collect();
        if w.is_empty() {
            continue;
        }
        let sum: f64 = w.iter().sum();
        let effective = sum * sum / w.iter().map(|v| v * v).sum::<f64>();
        if effective < 0.5 * w.len() as f64 {
            notes.push(format!(
                "The {label} rows' weights are uneven: their effective sample size is {} of {} (largest weight {} times the average). Rows with a propensity near 0 or 1 dominate; check the overlap, or trim.",
                format::number(effective.round()),
                format::count(w.len()),
                format::number(w.iter().fold(0.0, |m: f64, v| m.max(*v)))
            ));
        }
    }
    notes
}
