//! `concentration`: concentration indices (standard, Erreygers, Wagstaff) with their SE.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::Connective;
use spel_stats::designs::inequality::{self, Correction};

use super::super::{Choice, Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use super::complete_pairs;
use crate::errors::polars_error;
use crate::value::Value;

crate::choice! {
    /// Which concentration index: the standard one, or a bounded outcome's corrections.
    enum ConcentrationType { Standard = "standard", Erreygers = "erreygers", Wagstaff = "wagstaff" }
}

pub const VERB: Verb = Verb {
    name: "concentration",
    signature: "concentration OUTCOME by RANK [, type = standard | erreygers | wagstaff]",
    summary: "Concentration index of an outcome across a socioeconomic ranking, with its SE.",
    description: "Ranks rows by RANK (fractional ranks, ties averaged) and gives the \
                  concentration index C = 2·cov(y, r)/mean(y) with the standard error of \
                  Kakwani, Wagstaff and van Doorslaer (1997). `erreygers` (4·mean/(b − a)·C) \
                  and `wagstaff` (mean·(b − a)/((b − mean)(mean − a))·C) correct it for a \
                  bounded outcome, with bounds a and b the outcome's observed minimum and \
                  maximum (0 and 1 for a 0/1 outcome); their SEs scale C's.",
    connectives: &[Connective::By],
    options: &[
        OptionSpec {
            name: "type",
            values: "standard, erreygers or wagstaff",
            kind: OptionKind::Word(ConcentrationType::WORDS),
            summary: "Which index.",
        },
        OptionSpec {
            name: "curve",
            values: "true",
            kind: OptionKind::Bool,
            summary: "Give the concentration curve's points instead of the index.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Good experience across deprivation",
        code: "table good = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1], affluence = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  |> concentration good by affluence",
        output: r#"shape: (1, 7)
┌──────────┬─────┬──────────┬───────────┬─────────┬──────────┬───────────┐
│ index    ┆ n   ┆ estimate ┆ std_error ┆ p_value ┆ conf_low ┆ conf_high │
│ ---      ┆ --- ┆ ---      ┆ ---       ┆ ---     ┆ ---      ┆ ---       │
│ str      ┆ i64 ┆ f64      ┆ f64       ┆ f64     ┆ f64      ┆ f64       │
╞══════════╪═════╪══════════╪═══════════╪═════════╪══════════╪═══════════╡
│ standard ┆  10 ┆  0.01429 ┆    0.1227 ┆   0.907 ┆  -0.2262 ┆    0.2548 │
└──────────┴─────┴──────────┴───────────┴─────────┴──────────┴───────────┘"#,
    }],
    run: concentration,
};

fn concentration(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    let [outcome] = args.as_slice() else {
        return Err(
            ctx.usage_error("`concentration` takes an outcome, as `concentration good by imd`")
        );
    };
    let by = ctx.clause_args(Connective::By);
    let (Some(outcome_ast), Some(rank_ast)) =
        (outcome.as_expr(), by.first().and_then(|a| a.as_expr()))
    else {
        return Err(ctx.usage_error("`concentration` needs `by` and the ranking column"));
    };
    let kind = ctx
        .choice::<ConcentrationType>("type")?
        .unwrap_or(ConcentrationType::Standard);
    let (y, _) = scope.checked(outcome_ast)?;
    let (rank, _) = scope.checked(rank_ast)?;
    let (ys, ranks) = complete_pairs(ctx, lf, y, rank, true, "ranking")?;
    let n = ys.len();
    let nf = n as f64;
    let mean = ys.iter().sum::<f64>() / nf;
    let low = ys.iter().fold(f64::INFINITY, |l, v| l.min(*v));
    if n < 2 || low < 0.0 || mean <= 0.0 {
        return Err(Diagnostic::new(
            "spel::concentration::outcome",
            "a concentration index needs an outcome of 0 or more with a positive mean",
        )
        .at(outcome_ast.span)
        .with_help("for an outcome that can be negative, compare groups with `summarise ... by` or use `sii`"));
    }
    if ctx.flag("curve")? == Some(true) {
        return curve(ctx, &ys, &ranks);
    }
    let correction = match kind {
        ConcentrationType::Standard => Correction::Standard,
        ConcentrationType::Erreygers => Correction::Erreygers,
        ConcentrationType::Wagstaff => Correction::Wagstaff,
    };
    let Some(index) = inequality::concentration(&ys, &ranks, correction) else {
        return Err(Diagnostic::new(
            "spel::concentration::bounds",
            format!(
                "the {} index needs an outcome that varies between its bounds",
                kind.word()
            ),
        )
        .at(outcome_ast.span));
    };
    let result = crate::model::Coefficient::wald(
        kind.word(),
        index.estimate,
        index.std_error,
        crate::model::Distribution::Normal,
        0.95,
    );
    super::estimate_table(ctx, &result, n)
}

/// The concentration curve: cumulative share of the outcome against cumulative share
/// of the population ranked from the lowest RANK, one point after each distinct rank.
fn curve(ctx: &VerbCtx, ys: &[f64], ranks: &[f64]) -> Result<Value, Diagnostic> {
    let (population, outcome) = inequality::concentration_curve(ys, ranks);
    let table = df!(
        "population_share" => population,
        "outcome_share" => outcome,
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(table.lazy()))
}
