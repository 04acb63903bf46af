//! `aipw`: a treatment's average effect by augmented inverse probability weighting
//! (doubly robust), as Stata's `teffects aipw` (the estimator:
//! `spel_stats::designs::aipw`).

use spel_grammar::Diagnostic;
use spel_grammar::ast::Expr as Ast;
use spel_stats::designs::aipw::{self, AipwError, OVERLAP_TOLERANCE};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use super::ipw::{
    EstimandWord, check_treatment, covariate_list, effect_table, explain, keep_rows,
    numeric_columns, propensity_design,
};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::format;
use crate::value::{Report, Value};

pub const VERB: Verb = Verb {
    name: "aipw",
    signature: "aipw OUTCOME ~ TREATMENT, covariates = [X1, X2, ...] [, outcome_covariates = [...]] [, trim = 0.05] [, level = 0.95]",
    summary: "Augmented inverse probability weighting (doubly robust): a treatment's average effect from a propensity model and an outcome model.",
    description: "Fits a logit of TREATMENT (0 or 1) on `covariates` and a linear regression \
                  of the outcome on `outcome_covariates` (the same columns unless given) \
                  separately among the treated and the untreated; predicts both outcomes for \
                  every row and corrects each prediction by the inverse-probability-weighted \
                  residual of the rows observed in that state. The estimate is right when \
                  either model is. As Stata's `teffects aipw`: the average effect over \
                  everyone (ATE), unnormalised weights, standard errors from the stacked \
                  estimating equations of both models and the two means, normal intervals; \
                  a propensity within 1e-5 of 0 or 1 is refused (Stata's overlap check). \
                  `trim = a` drops rows whose propensity is below a or above 1 − a and fits \
                  again on the rest.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "covariates",
            values: "[col1, col2, ...]",
            kind: OptionKind::Value,
            summary: "What the treatment model conditions on: numeric columns or expressions.",
        },
        OptionSpec {
            name: "outcome_covariates",
            values: "[col1, col2, ...]",
            kind: OptionKind::Value,
            summary: "What the outcome model conditions on (default: the covariates).",
        },
        OptionSpec {
            name: "estimand",
            values: "ate",
            kind: OptionKind::Word(EstimandWord::WORDS),
            summary: "The average effect over everyone, the only one `teffects aipw` gives.",
        },
        OptionSpec {
            name: "trim",
            values: "a number below 0.5",
            kind: OptionKind::Number {
                min: f64::MIN_POSITIVE,
                max: 0.5 - f64::EPSILON,
            },
            summary: "Drop rows with a propensity below this or above one minus it, then fit again.",
        },
        OptionSpec::LEVEL,
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "The NSW job-training experiment: treated against randomised controls (the experimental difference is $1,794)",
        code: "read \"examples/data/nsw_cps.csv\" |> filter sample == \"NSW\"\n  |> aipw re78 ~ treat, covariates = [age, educ, black, hisp, marr, nodegree, re74, re75]",
        output: r#"Augmented inverse probability weighting: the average effect of treat on re78; logit of treat on age, educ, black, hisp, marr, nodegree, re74, re75; linear model of re78 on age, educ, black, hisp, marr, nodegree, re74, re75 in each group; 185 treated, 260 untreated
shape: (3, 7)
┌────────────────────────┬──────────┬───────────┬───────┬─────────┬──────────┬───────────┐
│ term                   ┆ estimate ┆ std_error ┆ z     ┆ p_value ┆ conf_low ┆ conf_high │
│ ---                    ┆ ---      ┆ ---       ┆ ---   ┆ ---     ┆ ---      ┆ ---       │
│ str                    ┆ f64      ┆ f64       ┆ f64   ┆ f64     ┆ f64      ┆ f64       │
╞════════════════════════╪══════════╪═══════════╪═══════╪═════════╪══════════╪═══════════╡
│ ATE                    ┆     1619 ┆     674.4 ┆ 2.401 ┆   0.016 ┆    297.2 ┆      2941 │
│ mean re78 if treat = 1 ┆     6173 ┆     589.4 ┆ 10.47 ┆  <0.001 ┆     5017 ┆      7328 │
│ mean re78 if treat = 0 ┆     4553 ┆     336.1 ┆ 13.55 ┆  <0.001 ┆     3895 ┆      5212 │
└────────────────────────┴──────────┴───────────┴───────┴─────────┴──────────┴───────────┘
Note: Doubly robust: right if either the logit of the treatment or the outcome model is; the outcome model is fitted by least squares separately in each group and predicted for every row
Note: Inverse-probability weights not normalised, standard errors from the stacked estimating equations of both models and the two means, as Stata's teffects aipw; normal-based intervals"#,
    }],
    run: aipw_verb,
};

fn aipw_verb(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let (formula, treatment, covariates) = propensity_design(ctx)?;
    let outcome_covariates =
        covariate_list(ctx, "outcome_covariates")?.unwrap_or_else(|| covariates.clone());
    if ctx.choice::<EstimandWord>("estimand")? == Some(EstimandWord::Att) {
        let span = ctx.option("estimand").map_or(ctx.call.span, |a| a.span);
        return Err(Diagnostic::new(
            "spel::aipw::estimand",
            "`aipw` estimates the average effect over everyone (ATE) only, as Stata's `teffects aipw`",
        )
        .at(span)
        .with_help("for the effect on the treated, weight instead: `ipw re78 ~ treat, covariates = [...], estimand = att`"));
    }
    let trim = ctx.number("trim")?.map(|(a, _)| a);
    let level = ctx.number("level")?.map_or(0.95, |(l, _)| l);

    let lf = ctx.table()?;
    let lists: Vec<&Ast> = covariates
        .iter()
        .chain(&outcome_covariates)
        .copied()
        .collect();
    let (mut columns, dropped, _) =
        numeric_columns(ctx, lf, &[&formula.lhs, treatment], &lists, false)?;
    check_treatment(ctx, &columns[1], treatment)?;
    let split = 2 + covariates.len();
    let fit = |columns: &[Vec<f64>]| {
        aipw::estimate(
            &columns[0],
            &columns[1],
            &columns[2..split],
            &columns[split..],
        )
    };
    let mut trimmed = 0;
    let mut result = fit(&columns);
    if let Some(a) = trim {
        let propensity = match &result {
            Ok(fitted) => fitted.propensity.clone(),
            // Trimming is the cure for a failed overlap check: trim by the logit's
            // propensities, which the check had.
            Err(AipwError::Overlap(_)) => {
                spel_stats::designs::ipw::propensity(&columns[1], &columns[2..split])
                    .unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        let keep: Vec<bool> = propensity
            .iter()
            .map(|p| *p >= a && *p <= 1.0 - a)
            .collect();
        trimmed = keep.iter().filter(|k| !**k).count();
        if trimmed > 0 {
            keep_rows(&mut columns, &keep);
            result = fit(&columns);
        }
    }
    let result = result.map_err(|e| {
        refusal(
            ctx,
            e,
            treatment,
            trim.filter(|_| trimmed > 0),
            columns[0].len(),
        )
    })?;
    let names = [
        ctx.text(formula.lhs.span).to_string(),
        ctx.text(treatment.span).to_string(),
    ];
    let table = effect_table(
        "ATE",
        [result.effect, result.treated_mean, result.control_mean],
        &names[0],
        &names[1],
        level,
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    let treated = columns[1].iter().filter(|t| **t == 1.0).count();
    let list = |asts: &[&Ast]| {
        asts.iter()
            .map(|a| ctx.text(a.span))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: format!(
            "Augmented inverse probability weighting: the average effect of {} on {}; logit of {} on {}; linear model of {} on {} in each group; {} treated, {} untreated",
            names[1],
            names[0],
            names[1],
            list(&covariates),
            names[0],
            list(&outcome_covariates),
            format::count(treated),
            format::count(columns[1].len() - treated),
        ),
        table,
        notes: super::missing_note(dropped)
            .into_iter()
            .chain(trim.filter(|_| trimmed > 0).map(|a| format!(
                "{} with a propensity below {} or above {} dropped (trim), and both models fitted again on the rest: the estimate is for the rows left.",
                format::plural(trimmed, "row"),
                format::number(a),
                format::number(1.0 - a)
            )))
            .collect(),
        conventions: vec![
            "Doubly robust: right if either the logit of the treatment or the outcome model is; the outcome model is fitted by least squares separately in each group and predicted for every row".to_string(),
            "Inverse-probability weights not normalised, standard errors from the stacked estimating equations of both models and the two means, as Stata's teffects aipw; normal-based intervals".to_string(),
        ],
    })))
}

fn refusal(
    ctx: &VerbCtx,
    error: AipwError,
    treatment: &Ast,
    trimmed_at: Option<f64>,
    rows: usize,
) -> Diagnostic {
    let diagnostic = match error {
        AipwError::Treatment(e) => explain(ctx, e, treatment),
        AipwError::Overlap(count) => Diagnostic::new(
            "spel::aipw::overlap",
            format!(
                "{} a propensity within {} of 0 or 1: the overlap assumption fails there, and their weights would carry the estimate",
                if count == 1 { "1 row has".to_string() } else { format!("{} rows have", format::count(count)) },
                format::number(OVERLAP_TOLERANCE)
            ),
        )
        .at(ctx.option("covariates").map_or(ctx.call.span, |a| a.span))
        .with_help("drop rows with extreme propensities with `trim = 0.01`, restrict the rows to comparable ones, or estimate the effect on the treated with `ipw ..., estimand = att`"),
        AipwError::OutcomeCollinear { treated } => Diagnostic::new(
            "spel::aipw::outcome_model",
            format!(
                "the outcome model cannot be fitted among the {} rows: too few of them, or the outcome covariates are collinear there",
                if treated { "treated" } else { "untreated" }
            ),
        )
        .at(ctx
            .option("outcome_covariates")
            .or_else(|| ctx.option("covariates"))
            .map_or(ctx.call.span, |a| a.span))
        .with_help("give fewer outcome covariates with `outcome_covariates = [...]`, or drop one that is constant within a group"),
    };
    match trimmed_at {
        Some(a) => diagnostic.with_note(format!(
            "this is the fit after trimming, on the {} whose propensity was within [{}, {}]",
            format::plural(rows, "row"),
            format::number(a),
            format::number(1.0 - a)
        )),
        None => diagnostic,
    }
}
