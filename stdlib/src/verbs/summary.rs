//! Verbs that summarise: `summarise` and `tabulate`.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::Connective;

use super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::eval::expr::Scope;
use crate::functions::has_aggregate;
use crate::value::Value;

pub static VERBS: &[Verb] = &[
    Verb {
        name: "summarise",
        signature: "summarise [NAME =] AGGREGATE, ... [by COLUMN, ...]",
        summary: "One row per group of summaries such as sum, mean and n().",
        description: "Each argument is an aggregate (`sum`, `mean`, `median`, `min`, `max`, \
                      `sd`, `var`, `n`, `count`, `n_distinct`, `quantile`), named as \
                      `fte = sum(FTE)` or by its own text. With `by`, one row per group, \
                      sorted by the group columns.",
        connectives: &[Connective::By],
        options: &[],
        named_arguments: true,
        output: Output::Plan,
        examples: &[Example {
            summary: "Total FTE and rows per region",
            code: "table region = [\"London\", \"North West\", \"London\"], fte = [1.5, 2, 0.5]\n  |> summarise fte = sum(fte), n() by region",
            output: r#"shape: (2, 3)
┌────────────┬─────┬─────┐
│ region     ┆ fte ┆ n() │
│ ---        ┆ --- ┆ --- │
│ str        ┆ f64 ┆ u32 │
╞════════════╪═════╪═════╡
│ London     ┆   2 ┆   2 │
│ North West ┆   2 ┆   1 │
└────────────┴─────┴─────┘"#,
        }],
        run: summarise,
    },
    Verb {
        name: "tabulate",
        signature: "tabulate COLUMN, ... [, weights = COLUMN]",
        summary: "Counts and percentages of each combination of values.",
        description: "One row per combination, sorted, with the count `n` and `percent` of \
                      all rows. With `weights`, also the weighted count `weighted_n`, and \
                      `percent` is the weighted share, as Stata's `tabulate [aw=...]`.",
        connectives: &[],
        options: &[OptionSpec {
            name: "weights",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "Weight each row by this column.",
        }],
        named_arguments: false,
        output: Output::Plan,
        examples: &[Example {
            summary: "Rows per region",
            code: "table region = [\"London\", \"North West\", \"London\"] |> tabulate region",
            output: r#"shape: (2, 3)
┌────────────┬─────┬─────────┐
│ region     ┆ n   ┆ percent │
│ ---        ┆ --- ┆ ---     │
│ str        ┆ i64 ┆ f64     │
╞════════════╪═════╪═════════╡
│ London     ┆   2 ┆   66.67 │
│ North West ┆   1 ┆   33.33 │
└────────────┴─────┴─────────┘"#,
        }],
        run: tabulate,
    },
];

/// `by` columns, checked against the table.
fn group_keys(ctx: &VerbCtx, scope: &Scope) -> Result<Vec<String>, Diagnostic> {
    let by = ctx.clause_args(Connective::By);
    Ok(super::column_names(&by, scope)?
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect())
}

fn summarise(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let keys = group_keys(ctx, &scope)?;
    let args = ctx.args();
    if args.is_empty() {
        return Err(
            ctx.usage_error("`summarise` needs at least one summary, such as `n()` or `mean(x)`")
        );
    }
    let mut aggregates = Vec::new();
    for arg in args {
        let Some(ast) = arg.as_expr() else {
            return Err(ctx.usage_error("`summarise` takes summaries"));
        };
        let expr = scope.checked(ast)?.0;
        if !has_aggregate(ast) {
            let text = ctx.text(ast.span);
            return Err(Diagnostic::new(
                "spel::summarise::not_aggregate",
                format!("`{text}` is not a summary of many rows"),
            )
            .at(ast.span)
            .with_help(format!(
                "wrap it in an aggregate, as `mean({text})` or `sum({text})`"
            )));
        }
        let name = match &arg.name {
            Some(n) => n.name.clone(),
            None => ctx.text(ast.span).to_string(),
        };
        aggregates.push(expr.alias(name.as_str()));
    }
    if keys.is_empty() {
        return Ok(Value::Table(lf.select(aggregates)));
    }
    let key_exprs: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let grouped = lf
        .group_by(key_exprs.clone())
        .agg(aggregates)
        .sort_by_exprs(
            key_exprs,
            SortMultipleOptions::default().with_nulls_last(true),
        );
    Ok(Value::Table(grouped))
}

fn tabulate(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`tabulate` needs the columns to count"));
    }
    let keys: Vec<String> = super::column_names(&args, &scope)?
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let key_exprs: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let mut aggregates = vec![len().cast(DataType::Int64).alias("n")];
    let share_of = match ctx.option("weights") {
        Some(arg) => {
            let ast = arg
                .as_expr()
                .ok_or_else(|| ctx.usage_error("`weights` is a column"))?;
            let (weight, dtype) = scope.checked(ast)?;
            if !dtype.is_primitive_numeric() {
                return Err(
                    Diagnostic::new("spel::tabulate::weights", "weights must be numbers")
                        .at(ast.span),
                );
            }
            aggregates.push(weight.cast(DataType::Float64).sum().alias("weighted_n"));
            "weighted_n"
        }
        None => "n",
    };
    let table = lf
        .group_by(key_exprs.clone())
        .agg(aggregates)
        .with_columns([(col(share_of).cast(DataType::Float64) * lit(100.0)
            / col(share_of).sum().cast(DataType::Float64))
        .alias("percent")])
        .sort_by_exprs(
            key_exprs,
            SortMultipleOptions::default().with_nulls_last(true),
        );
    Ok(Value::Table(table))
}
