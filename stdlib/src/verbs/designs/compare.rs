//! `compare`: two measurements or two groups. Paired: t-test, Wilcoxon signed-rank
//! and, for counts, the rate ratio; unpaired: Welch's t-test and Mann–Whitney U, with
//! scipy's conventions.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::Connective;
use spel_stats::designs::compare::{self, Test, Unfit};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use super::complete_pairs;
use crate::errors::polars_error;
use crate::value::Value;

pub const VERB: Verb = Verb {
    name: "compare",
    signature: "compare FIRST, SECOND [, paired = true] | compare OUTCOME by GROUP",
    summary: "Compare two measurements (paired) or two groups: t-tests, rank tests, rate ratios.",
    description: "Differences are SECOND − FIRST (after − before). Paired (`paired = true`), over \
                  rows where both are present: the paired t-test with the mean difference and its \
                  interval; the Wilcoxon signed-rank test (zero differences dropped, no continuity \
                  correction, p-value exact without ties or zeros for n ≤ 50, a permutation over \
                  signs for up to 13 pairs otherwise, normal with a tie correction beyond); and, \
                  when both columns are counts, the rate ratio ΣSECOND/ΣFIRST of a Poisson model \
                  with a unit effect, SE clustered by unit. Unpaired (two columns, or OUTCOME \
                  by a GROUP with two levels, the second level against the first): Welch's \
                  t-test and the Mann–Whitney U test of SECOND against FIRST (continuity \
                  correction; exact p-value when a group has 8 or fewer and there are no ties).",
    connectives: &[Connective::By],
    options: &[OptionSpec {
        name: "paired",
        values: "true or false",
        kind: OptionKind::Bool,
        summary: "The columns are two measurements of the same units.",
    }],
    named_arguments: false,
    output: Output::Computed,
    examples: &[
        Example {
            summary: "GP visits before and after seeing a link worker",
            code: "table before = [3, 5, 2, 8, 6, 4, 7, 3], after = [2, 4, 2, 5, 6, 3, 4, 1]\n  |> compare before, after, paired = true",
            output: r#"shape: (3, 8)
┌──────────────────────┬─────┬───────────┬──────┬─────────┬──────────┬──────────┬───────────┐
│ test                 ┆ n   ┆ statistic ┆ df   ┆ p_value ┆ estimate ┆ conf_low ┆ conf_high │
│ ---                  ┆ --- ┆ ---       ┆ ---  ┆ ---     ┆ ---      ┆ ---      ┆ ---       │
│ str                  ┆ i64 ┆ f64       ┆ f64  ┆ f64     ┆ f64      ┆ f64      ┆ f64       │
╞══════════════════════╪═════╪═══════════╪══════╪═════════╪══════════╪══════════╪═══════════╡
│ paired t             ┆   8 ┆    -3.274 ┆    7 ┆   0.014 ┆   -1.375 ┆   -2.368 ┆    -0.382 │
│ Wilcoxon signed-rank ┆   6 ┆         0 ┆ null ┆   0.031 ┆     null ┆     null ┆      null │
│ rate ratio           ┆   8 ┆    -3.441 ┆ null ┆  <0.001 ┆   0.7105 ┆   0.5849 ┆    0.8632 │
└──────────────────────┴─────┴───────────┴──────┴─────────┴──────────┴──────────┴───────────┘"#,
        },
        Example {
            summary: "Wellbeing scores in two groups",
            code: "table group = [\"usual care\", \"usual care\", \"usual care\", \"usual care\", \"link worker\", \"link worker\", \"link worker\", \"link worker\"],\n      score = [21.0, 24.5, 19.0, 22.5, 25.0, 27.5, 23.0, 26.0]\n  |> compare score by group",
            output: r#"shape: (2, 8)
┌────────────────┬─────┬───────────┬───────┬─────────┬──────────┬──────────┬───────────┐
│ test           ┆ n   ┆ statistic ┆ df    ┆ p_value ┆ estimate ┆ conf_low ┆ conf_high │
│ ---            ┆ --- ┆ ---       ┆ ---   ┆ ---     ┆ ---      ┆ ---      ┆ ---       │
│ str            ┆ i64 ┆ f64       ┆ f64   ┆ f64     ┆ f64      ┆ f64      ┆ f64       │
╞════════════════╪═════╪═══════════╪═══════╪═════════╪══════════╪══════════╪═══════════╡
│ Welch t        ┆   8 ┆    -2.419 ┆ 5.755 ┆   0.054 ┆   -3.625 ┆   -7.329 ┆   0.07935 │
│ Mann–Whitney U ┆   8 ┆         1 ┆  null ┆   0.057 ┆     null ┆     null ┆      null │
└────────────────┴─────┴───────────┴───────┴─────────┴──────────┴──────────┴───────────┘"#,
        },
    ],
    run: compare,
};

fn compare(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    let paired = ctx.flag("paired")?.unwrap_or(false);
    let by = ctx.clause_args(Connective::By);
    let tests = match (args.as_slice(), by.as_slice()) {
        ([outcome], [group]) if !paired => {
            let (Some(outcome_ast), Some(group_ast)) = (outcome.as_expr(), group.as_expr()) else {
                return Err(ctx.usage_error("`compare` takes a column and `by` a group column"));
            };
            let (y, _) = scope.checked(outcome_ast)?;
            let (g, _) = scope.checked(group_ast)?;
            let df = ctx.env.work().collect(
                lf.select([
                    y.cast(DataType::Float64).alias("y"),
                    g.cast(DataType::String).alias("g"),
                ])
                .drop_nulls(None),
                "comparing groups",
                ctx.call.span,
            )?;
            let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
            let ys = df.column("y").map_err(fail)?.f64().map_err(fail)?.clone();
            let gs = df.column("g").map_err(fail)?.str().map_err(fail)?.clone();
            let mut levels: Vec<&str> = gs.iter().flatten().collect();
            levels.sort_unstable();
            levels.dedup();
            let [first, second] = levels.as_slice() else {
                return Err(Diagnostic::new(
                    "spel::compare::groups",
                    format!(
                        "`compare ... by` needs a group with two levels, and this one has {}",
                        levels.len()
                    ),
                )
                .at(group_ast.span)
                .with_note(format!(
                    "its levels are {}",
                    levels
                        .iter()
                        .take(10)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .with_help("keep two groups with `filter` first"));
            };
            let values = |level: &str| -> Vec<f64> {
                ys.iter()
                    .zip(gs.iter())
                    .filter(|(_, g)| *g == Some(level))
                    .filter_map(|(y, _)| y)
                    .collect()
            };
            unfit(ctx, compare::unpaired(&values(first), &values(second)))?
        }
        ([first, second], []) => {
            let (Some(first_ast), Some(second_ast)) = (first.as_expr(), second.as_expr()) else {
                return Err(ctx.usage_error("`compare` takes two columns"));
            };
            let (a, _) = scope.checked(first_ast)?;
            let (b, _) = scope.checked(second_ast)?;
            if paired {
                let (firsts, seconds) = complete_pairs(ctx, lf, a, b, false, "comparing")?;
                unfit(ctx, compare::paired(&firsts, &seconds))?
            } else {
                let column = |e: Expr| -> Result<Vec<f64>, Diagnostic> {
                    let df = ctx.env.work().collect(
                        lf.clone()
                            .select([e.cast(DataType::Float64).alias("x")])
                            .drop_nulls(None),
                        "comparing",
                        ctx.call.span,
                    )?;
                    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
                    Ok(df
                        .column("x")
                        .map_err(fail)?
                        .f64()
                        .map_err(fail)?
                        .iter()
                        .flatten()
                        .collect())
                };
                unfit(ctx, compare::unpaired(&column(a)?, &column(b)?))?
            }
        }
        _ => {
            return Err(ctx.usage_error(
                "`compare` takes two columns (`compare before, after, paired = true`) or a column by a group (`compare score by group`)",
            ));
        }
    };
    let df = df!(
        "test" => tests.iter().map(|t| t.name).collect::<Vec<_>>(),
        "n" => tests.iter().map(|t| t.n as i64).collect::<Vec<_>>(),
        "statistic" => tests.iter().map(|t| t.statistic).collect::<Vec<_>>(),
        "df" => tests.iter().map(|t| t.df).collect::<Vec<_>>(),
        "p_value" => tests.iter().map(|t| t.p_value).collect::<Vec<_>>(),
        "estimate" => tests.iter().map(|t| t.estimate).collect::<Vec<_>>(),
        "conf_low" => tests.iter().map(|t| t.interval.map(|i| i.0)).collect::<Vec<_>>(),
        "conf_high" => tests.iter().map(|t| t.interval.map(|i| i.1)).collect::<Vec<_>>(),
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(df.lazy()))
}

/// A comparison's tests, or the located error saying why there are none.
fn unfit(ctx: &VerbCtx, tests: Result<Vec<Test>, Unfit>) -> Result<Vec<Test>, Diagnostic> {
    tests.map_err(|unfit| match unfit {
        Unfit::TooFew if ctx.flag("paired").ok().flatten() == Some(true) => Diagnostic::new(
            "spel::compare::pairs",
            "fewer than two complete pairs to compare",
        )
        .at(ctx.call.span),
        Unfit::TooFew => Diagnostic::new(
            "spel::compare::groups",
            "each group needs at least two values to compare",
        )
        .at(ctx.call.span),
        Unfit::NoVariation => Diagnostic::new(
            "spel::compare::no_variation",
            "the values do not vary (every difference, or every value in both groups, is the same), so there is no t test",
        )
        .at(ctx.call.span)
        .with_help("check the columns compared: a t test needs some spread within the groups or pairs"),
    })
}
