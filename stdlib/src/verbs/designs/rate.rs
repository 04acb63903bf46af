//! `rate`: event rates with exact Poisson (Garwood) CIs and rate ratios against a reference group.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::Connective;
use spel_stats::designs::rate;

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::value::Value;

pub const VERB: Verb = Verb {
    name: "rate",
    signature: "rate EVENTS per K of POPULATION [by GROUP, ...] [, ref = \"level\"] [, level = 0.95]",
    summary: "Event rates per K of a population, with exact Poisson CIs and rate ratios.",
    description: "Sums the events and the population (in each group), and gives the rate per K \
              with its exact Poisson (Garwood) interval. With `by`, each group's rate ratio \
              against the reference group (the first in sorted order, or `ref`) with a \
              Wald interval on the log scale.",
    connectives: &[Connective::Per, Connective::Of, Connective::By],
    options: &[
        OptionSpec {
            name: "ref",
            values: "a level of the group",
            kind: OptionKind::Value,
            summary: "The reference group for rate ratios.",
        },
        OptionSpec {
            name: "level",
            values: "a number such as 0.95",
            kind: OptionKind::PROBABILITY,
            summary: "Confidence level.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Referrals per 1,000 patients by deprivation",
        code: "table imd = [\"least\", \"most\"], referrals = [10, 20], patients = [1000, 1000]\n  |> rate referrals per 1000 of patients by imd",
        output: r#"shape: (2, 9)
┌───────┬────────┬────────────┬──────┬──────────┬───────────┬────────────┬───┬──────────────┐
│ imd   ┆ events ┆ population ┆ rate ┆ conf_low ┆ conf_high ┆ rate_ratio ┆ … ┆ rr_conf_high │
│ ---   ┆ ---    ┆ ---        ┆ ---  ┆ ---      ┆ ---       ┆ ---        ┆ … ┆ ---          │
│ str   ┆ f64    ┆ f64        ┆ f64  ┆ f64      ┆ f64       ┆ f64        ┆ … ┆ f64          │
╞═══════╪════════╪════════════╪══════╪══════════╪═══════════╪════════════╪═══╪══════════════╡
│ least ┆     10 ┆       1000 ┆   10 ┆    4.795 ┆     18.39 ┆          1 ┆ … ┆         null │
│ most  ┆     20 ┆       1000 ┆   20 ┆    12.22 ┆     30.89 ┆          2 ┆ … ┆        4.273 │
└───────┴────────┴────────────┴──────┴──────────┴───────────┴────────────┴───┴──────────────┘"#,
    }],
    run: rate,
};

fn rate(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let request = rate_request(ctx, &scope)?;
    let mut df = sum_by_group(ctx, lf, &scope, &request)?;
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let counts = super::floats(ctx, &df, "events")?;
    let people = super::floats(ctx, &df, "population")?;
    check_sums(&request, &counts, &people)?;
    let (k, level) = (request.k, request.level);
    let estimates: Vec<rate::Rate> = counts
        .iter()
        .zip(&people)
        .map(|(count, population)| rate::rate(*count, *population, k, level))
        .collect();
    let rates: Vec<f64> = estimates.iter().map(|r| r.rate).collect();
    let lows: Vec<f64> = estimates.iter().map(|r| r.low).collect();
    let highs: Vec<f64> = estimates.iter().map(|r| r.high).collect();
    let mut columns = vec![
        Column::new("rate".into(), rates.clone()),
        Column::new("conf_low".into(), lows),
        Column::new("conf_high".into(), highs),
    ];
    if let Some(first_key) = request.keys.first() {
        columns.extend(ratio_columns(ctx, &df, first_key, &counts, &rates, level)?);
    }
    for column in columns {
        df.with_column(column).map_err(fail)?;
    }
    Ok(Value::Table(df.lazy()))
}

/// The statement: the events, the population, the multiplier, the groups and the level.
struct RateRequest<'a> {
    events_ast: &'a spel_grammar::ast::Expr,
    population_ast: &'a spel_grammar::ast::Expr,
    /// Per how many of the population (`per 1000`).
    k: f64,
    keys: Vec<String>,
    level: f64,
}

fn rate_request<'a>(
    ctx: &VerbCtx<'a>,
    scope: &crate::eval::expr::Scope,
) -> Result<RateRequest<'a>, Diagnostic> {
    let args = ctx.args();
    let [events_arg] = args.as_slice() else {
        return Err(
            ctx.usage_error("`rate` takes the events, as `rate referrals per 1000 of patients`")
        );
    };
    let events_ast = events_arg
        .as_expr()
        .ok_or_else(|| ctx.usage_error("the events are a column"))?;
    let per = ctx.clause_args(Connective::Per);
    let k = match per
        .first()
        .and_then(|a| a.as_expr())
        .map(|e| crate::eval::expr::evaluate(e, ctx.env))
    {
        Some(Ok(Value::Number(k))) if k > 0.0 => k,
        Some(Err(d)) => return Err(d),
        _ => return Err(ctx.usage_error("`rate` needs `per` and a positive number, as `per 1000`")),
    };
    let of = ctx.clause_args(Connective::Of);
    let Some(population_ast) = of.first().and_then(|a| a.as_expr()) else {
        return Err(
            ctx.usage_error("`rate` needs `of` and the population column, as `of patients`")
        );
    };
    let keys: Vec<String> = super::super::column_names(&ctx.clause_args(Connective::By), scope)?
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let level = match ctx.option_value("level")? {
        Some((Value::Number(x), _)) if x > 0.0 && x < 1.0 => x,
        Some((_, span)) => {
            return Err(
                Diagnostic::new("spel::rate::level", "`level` is between 0 and 1").at(span),
            );
        }
        None => 0.95,
    };
    Ok(RateRequest {
        events_ast,
        population_ast,
        k,
        keys,
        level,
    })
}

/// The events and the population summed, by group (in the groups' order) if any.
fn sum_by_group(
    ctx: &VerbCtx,
    lf: LazyFrame,
    scope: &crate::eval::expr::Scope,
    request: &RateRequest,
) -> Result<DataFrame, Diagnostic> {
    let keys = &request.keys;
    let (events, _) = scope.checked(request.events_ast)?;
    let (population, _) = scope.checked(request.population_ast)?;
    let aggregates = [
        events.cast(DataType::Float64).sum().alias("events"),
        population.cast(DataType::Float64).sum().alias("population"),
    ];
    let key_exprs: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let summed = if keys.is_empty() {
        lf.select(aggregates)
    } else {
        lf.group_by(key_exprs.clone())
            .agg(aggregates)
            .sort_by_exprs(
                key_exprs,
                SortMultipleOptions::default().with_nulls_last(true),
            )
    };
    ctx.env
        .work()
        .collect(summed, "computing rates", ctx.call.span)
}

/// Events are whole counts of 0 or more, and every population positive.
fn check_sums(request: &RateRequest, counts: &[f64], people: &[f64]) -> Result<(), Diagnostic> {
    if let Some(bad) = counts.iter().find(|c| **c < 0.0 || c.fract() != 0.0) {
        return Err(Diagnostic::new(
            "spel::rate::events",
            format!("events are counts of 0 or more, not {bad}"),
        )
        .at(request.events_ast.span));
    }
    if people.iter().any(|p| *p <= 0.0) {
        return Err(Diagnostic::new(
            "spel::rate::population",
            "a group's population is 0 or less",
        )
        .at(request.population_ast.span));
    }
    Ok(())
}

/// Each group's rate ratio against the reference group (`ref`, or the first) of the
/// first `by` column, with its interval.
fn ratio_columns(
    ctx: &VerbCtx,
    df: &DataFrame,
    first_key: &str,
    counts: &[f64],
    rates: &[f64],
    level: f64,
) -> Result<Vec<Column>, Diagnostic> {
    let labels = super::strings(ctx, df, first_key)?;
    let reference = match ctx.option_value("ref")? {
        Some((value, span)) => {
            let wanted = match value {
                Value::Str(s) => s,
                Value::Number(x) => crate::format::number(x),
                _ => String::new(),
            };
            labels.iter().position(|l| *l == wanted).ok_or_else(|| {
                Diagnostic::new(
                    "spel::rate::ref",
                    format!("`{first_key}` has no group \"{wanted}\""),
                )
                .at(span)
                .with_note(format!("its groups are {}", labels.join(", ")))
            })?
        }
        None => 0,
    };
    // The reference group's ratio is 1 by definition: no interval.
    let ratios = rate::rate_ratios(counts, rates, reference, level);
    let ratio: Vec<Option<f64>> = ratios
        .iter()
        .map(|r| Some(r.map_or(1.0, |r| r.rate)))
        .collect();
    let ratio_low: Vec<Option<f64>> = ratios.iter().map(|r| r.map(|r| r.low)).collect();
    let ratio_high: Vec<Option<f64>> = ratios.iter().map(|r| r.map(|r| r.high)).collect();
    Ok(vec![
        Column::new("rate_ratio".into(), ratio),
        Column::new("rr_conf_low".into(), ratio_low),
        Column::new("rr_conf_high".into(), ratio_high),
    ])
}
