//! `sii`: the slope index of inequality, the regression of an outcome on the ridit
//! (cumulative population share at the midpoint of each rank) of a ranking.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::Connective;
use spel_stats::designs::inequality;

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::value::Value;

pub const VERB: Verb = Verb {
    name: "sii",
    signature: "sii OUTCOME by RANK [, weights = W]",
    summary: "Slope index of inequality: the outcome's change from the bottom to the top of a ranking.",
    description: "Gives each row the ridit of its RANK value: the share of the population \
                  ranked below it plus half the share at its value (ties share one ridit), so \
                  the ranking runs from 0 (lowest RANK) to 1 (highest). The SII is the slope of \
                  the (weighted) least-squares line of OUTCOME on the ridit: the difference in \
                  the outcome between the two ends of the ranking. Its standard error is \
                  heteroskedasticity-robust (HC1, as Stata's `regress, robust`), with a t \
                  interval on n − 2 degrees of freedom.",
    connectives: &[Connective::By],
    options: &[OptionSpec {
        name: "weights",
        values: "a numeric column",
        kind: OptionKind::Column,
        summary: "Population or survey weights.",
    }],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Good experience across deprivation quintiles (1 = most deprived)",
        code: "table good = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1],\n      imd_quintile = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]\n  |> sii good by imd_quintile",
        output: r#"shape: (1, 7)
┌───────┬─────┬──────────┬───────────┬─────────┬──────────┬───────────┐
│ index ┆ n   ┆ estimate ┆ std_error ┆ p_value ┆ conf_low ┆ conf_high │
│ ---   ┆ --- ┆ ---      ┆ ---       ┆ ---     ┆ ---      ┆ ---       │
│ str   ┆ i64 ┆ f64      ┆ f64       ┆ f64     ┆ f64      ┆ f64       │
╞═══════╪═════╪══════════╪═══════════╪═════════╪══════════╪═══════════╡
│ SII   ┆  20 ┆     0.25 ┆    0.3101 ┆   0.431 ┆  -0.4016 ┆    0.9016 │
└───────┴─────┴──────────┴───────────┴─────────┴──────────┴───────────┘"#,
    }],
    run: sii,
};

fn sii(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    let by = ctx.clause_args(Connective::By);
    let (Some(outcome_ast), Some(rank_ast)) = (
        args.first().and_then(|a| a.as_expr()),
        by.first().and_then(|a| a.as_expr()),
    ) else {
        return Err(ctx.usage_error(
            "`sii` takes an outcome and `by` a ranking, as `sii good by imd_quintile`",
        ));
    };
    let (y, _) = scope.checked(outcome_ast)?;
    let (rank, _) = scope.checked(rank_ast)?;
    let weight = match ctx.option("weights").and_then(|a| a.as_expr()) {
        Some(ast) => scope.checked(ast)?.0,
        None => lit(1.0),
    };
    let df = ctx.env.work().collect(
        lf.select([
            y.cast(DataType::Float64).alias("y"),
            rank.cast(DataType::Float64).alias("rank"),
            weight.cast(DataType::Float64).alias("w"),
        ])
        .drop_nulls(None)
        .sort(["rank"], SortMultipleOptions::default()),
        "ranking",
        ctx.call.span,
    )?;
    let (ys, ranks, ws) = (
        super::floats(ctx, &df, "y")?,
        super::floats(ctx, &df, "rank")?,
        super::floats(ctx, &df, "w")?,
    );
    let n = ys.len();
    let Some(index) = inequality::slope_index(&ys, &ranks, &ws) else {
        return Err(Diagnostic::new(
            "spel::sii::ranks",
            "the slope index needs a ranking with at least two values",
        )
        .at(rank_ast.span));
    };
    let result = crate::model::Coefficient::wald(
        "SII",
        index.estimate,
        index.std_error,
        crate::model::Distribution::StudentT(n as f64 - 2.0),
        0.95,
    );
    super::estimate_table(ctx, &result, n)
}
