//! `effect`: each study's effect size and standard error from its counts or summary
//! statistics, for `meta` (the formulas: `spel_stats::designs::effect_size`).

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::{Expr as Ast, ExprKind};
use spel_stats::designs::effect_size::{self, Measure};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::value::Value;

crate::choice! {
    /// The effect size.
    enum MeasureWord { LogRr = "log_rr", LogOr = "log_or", Rd = "rd", Smd = "smd" }
}

pub const VERB: Verb = Verb {
    name: "effect",
    signature: "effect log_rr | log_or | rd | smd, treated = [...], control = [...]",
    summary: "Each study's effect size and its standard error from counts or means (as metafor's escalc), for meta.",
    description: "Adds two columns (replacing any of those names): `effect`, the effect size, and `se`, its standard error. \
                  From a 2x2 table — `treated = [EVENTS, NON_EVENTS]` and `control = [EVENTS, \
                  NON_EVENTS]` — the log risk ratio (`log_rr`), the log odds ratio (`log_or`) \
                  or the risk difference (`rd`); a study with a zero cell gets 1/2 added to \
                  each of its four cells first, as escalc. From each group's mean, standard \
                  deviation and size — `treated = [MEAN, SD, N]`, `control = [MEAN, SD, N]` — \
                  Hedges' g (`smd`), the standardised mean difference with the exact \
                  small-sample correction and escalc's large-sample variance.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "treated",
            values: "a list of columns",
            kind: OptionKind::Columns,
            summary: "The treated group's events and non-events, or mean, SD and size.",
        },
        OptionSpec {
            name: "control",
            values: "a list of columns",
            kind: OptionKind::Columns,
            summary: "The control group's, in the same order.",
        },
    ],
    named_arguments: false,
    output: Output::Preview,
    examples: &[Example {
        summary: "Log risk ratios of two trials",
        code: "table trial = [\"A\", \"B\"], tpos = [4, 6], tneg = [119, 300], cpos = [11, 29], cneg = [128, 274]\n  |> effect log_rr, treated = [tpos, tneg], control = [cpos, cneg]",
        output: r#"shape: (2, 7)
┌───────┬──────┬──────┬──────┬──────┬─────────┬────────┐
│ trial ┆ tpos ┆ tneg ┆ cpos ┆ cneg ┆ effect  ┆ se     │
│ ---   ┆ ---  ┆ ---  ┆ ---  ┆ ---  ┆ ---     ┆ ---    │
│ str   ┆ f64  ┆ f64  ┆ f64  ┆ f64  ┆ f64     ┆ f64    │
╞═══════╪══════╪══════╪══════╪══════╪═════════╪════════╡
│ A     ┆    4 ┆  119 ┆   11 ┆  128 ┆ -0.8893 ┆ 0.5706 │
│ B     ┆    6 ┆  300 ┆   29 ┆  274 ┆  -1.585 ┆ 0.4411 │
└───────┴──────┴──────┴──────┴──────┴─────────┴────────┘"#,
    }],
    run: effect,
};

fn effect(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let measure = match ctx
        .args()
        .first()
        .and_then(|a| a.as_expr())
        .and_then(|e| e.as_ident())
    {
        Some(word) => match MeasureWord::WORDS
            .iter()
            .position(|w| *w == word)
            .map(|i| MeasureWord::VALUES[i])
        {
            Some(MeasureWord::LogRr) => Measure::LogRiskRatio,
            Some(MeasureWord::LogOr) => Measure::LogOddsRatio,
            Some(MeasureWord::Rd) => Measure::RiskDifference,
            Some(MeasureWord::Smd) => Measure::StandardisedMeanDifference,
            None => {
                let at = ctx.args()[0].span;
                return Err(Diagnostic::new(
                    "spel::effect::measure",
                    format!("`effect` computes log_rr, log_or, rd or smd, not `{word}`"),
                )
                .at(at)
                .suggest(spel_grammar::did_you_mean(
                    word,
                    MeasureWord::WORDS.iter().copied(),
                )));
            }
        },
        None => {
            return Err(ctx.usage_error(
                "`effect` takes the measure first, as `effect log_rr, treated = [tpos, tneg], control = [cpos, cneg]`",
            ));
        }
    };
    let wanted = if measure == Measure::StandardisedMeanDifference {
        (3, "[MEAN, SD, N]")
    } else {
        (2, "[EVENTS, NON_EVENTS]")
    };
    let mut columns = Vec::new();
    for group in ["treated", "control"] {
        let Some(arg) = ctx.option(group) else {
            return Err(ctx.usage_error(format!("`effect` needs `{group} = {}`", wanted.1)));
        };
        let items: Vec<&Ast> = match arg.as_expr().map(|e| &e.kind) {
            Some(ExprKind::List(items)) => items.iter().collect(),
            _ => vec![],
        };
        if items.len() != wanted.0 {
            return Err(Diagnostic::new(
                "spel::effect::columns",
                format!("`{group}` takes {} columns here, {}", wanted.0, wanted.1),
            )
            .at(arg.span)
            .with_help(if wanted.0 == 2 {
                "a 2x2 table's group is its events and its non-events (the group's size minus its events); derive the non-events first if the table has sizes"
            } else {
                "give the group's mean, standard deviation and size, in that order"
            }));
        }
        columns.extend(items);
    }
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let mut selected = Vec::new();
    for (i, ast) in columns.iter().enumerate() {
        selected.push(super::numeric_column(
            ctx,
            &scope,
            ast,
            &format!("c{i}"),
            "spel::effect::not_numeric",
            "the column",
        )?);
    }
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let df = ctx
        .env
        .work()
        .collect(lf.clone(), "computing effect sizes", ctx.call.span)?;
    let values = df.clone().lazy().select(selected).collect().map_err(fail)?;
    let column = |i: usize| -> Result<Vec<Option<f64>>, PolarsError> {
        Ok(values.column(&format!("c{i}"))?.f64()?.iter().collect())
    };
    let inputs: Vec<Vec<Option<f64>>> = (0..columns.len())
        .map(column)
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    let (estimates, errors): (Vec<Option<f64>>, Vec<Option<f64>>) = (0..df.height())
        .map(|row| {
            let v: Option<Vec<f64>> = inputs.iter().map(|c| c[row]).collect();
            let computed = v.and_then(|v| match measure {
                Measure::StandardisedMeanDifference => effect_size::standardised_mean_difference(
                    (v[0], v[1], v[2]),
                    (v[3], v[4], v[5]),
                ),
                _ => effect_size::from_counts(measure, v[0], v[1], v[2], v[3]),
            });
            match computed {
                Some((y, var)) => (Some(y), Some(var.sqrt())),
                None => (None, None),
            }
        })
        .unzip();
    let mut out = df;
    out.with_column(Column::new("effect".into(), estimates))
        .map_err(fail)?;
    out.with_column(Column::new("se".into(), errors))
        .map_err(fail)?;
    Ok(Value::Table(out.lazy()))
}
