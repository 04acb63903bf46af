//! `balance`: how alike a treated and an untreated group are in their covariates, before
//! and after weighting, as cobalt's `bal.tab` shows it (`spel_stats::designs::balance`).

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::{Expr as Ast, ExprKind};
use spel_stats::designs::balance::{Balance, Denominator, balance, is_binary};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::format;
use crate::value::{Report, Value, is_numeric};

crate::choice! {
    /// Whose standard deviation standardises the differences.
    enum BalanceEstimand { Ate = "ate", Att = "att" }
}

pub const VERB: Verb = Verb {
    name: "balance",
    signature: "balance TREATMENT ~ COVARIATE + ... [, weights = W] [, estimand = ate | att]",
    summary: "Covariate balance between treated and untreated rows, before and after weighting (as cobalt).",
    description: "For each covariate (a text column or `factor(x)`: each level), the groups' \
                  means (unweighted) and their difference — standardised by the unweighted rows' pooled \
                  standard deviation √((s²₁ + s²₀)/2) (`estimand = ate`, default) or the treated \
                  rows' (`att`) for a continuous covariate, a difference in proportions for a \
                  0/1 one — and the ratio of the treated variance to the untreated; with \
                  `weights`, the differences and ratios before and after weighting side by side \
                  (`diff_before`, `vratio_before`, `diff_after`, `vratio_after`; without the means). Differences beyond 0.1 are named in a note.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "weights",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "Weights to judge balance after (from `ipw ..., show = weights`, say).",
        },
        OptionSpec {
            name: "estimand",
            values: "ate or att",
            kind: OptionKind::Word(BalanceEstimand::WORDS),
            summary: "Standardise by the pooled standard deviation (ate, default) or the treated group's (att).",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "The NSW trainees against the CPS men, before any adjustment",
        code: "read \"examples/data/nsw_cps.csv\" |> filter treat == 1 | sample == \"CPS\"\n  |> balance treat ~ age + educ + black + hisp + marr + nodegree + re74 + re75, estimand = att",
        output: r#"Balance between treat = 1 (185) and treat = 0 (15,992)
shape: (8, 6)
┌───────────┬────────────┬──────────────┬────────────────┬────────────┬────────────────┐
│ covariate ┆ type       ┆ mean_treated ┆ mean_untreated ┆ difference ┆ variance_ratio │
│ ---       ┆ ---        ┆ ---          ┆ ---            ┆ ---        ┆ ---            │
│ str       ┆ str        ┆ f64          ┆ f64            ┆ f64        ┆ f64            │
╞═══════════╪════════════╪══════════════╪════════════════╪════════════╪════════════════╡
│ age       ┆ continuous ┆        25.82 ┆          33.23 ┆     -1.035 ┆         0.4196 │
│ educ      ┆ continuous ┆        10.35 ┆          12.03 ┆    -0.8363 ┆         0.4905 │
│ black     ┆ binary     ┆       0.8432 ┆        0.07354 ┆     0.7697 ┆           null │
│ hisp      ┆ binary     ┆      0.05946 ┆        0.07204 ┆   -0.01258 ┆           null │
│ marr      ┆ binary     ┆       0.1892 ┆         0.7117 ┆    -0.5225 ┆           null │
│ nodegree  ┆ binary     ┆       0.7081 ┆         0.2958 ┆     0.4123 ┆           null │
│ re74      ┆ continuous ┆         2096 ┆         14,017 ┆      -2.44 ┆         0.2607 │
│ re75      ┆ continuous ┆         1532 ┆         13,651 ┆     -3.764 ┆         0.1206 │
└───────────┴────────────┴──────────────┴────────────────┴────────────┴────────────────┘
Note: Differences beyond 0.1 in absolute value (a common threshold of imbalance): age, educ, black, marr, nodegree, re74, re75.
Note: cobalt's conventions: continuous covariates' differences standardised by the treated group's standard deviation of the unweighted rows, binary (0/1) covariates' as differences in proportions; variance ratios treated over untreated, weighted variances Σw(x − m)²/(Σw − Σw²/Σw)"#,
    }],
    run: balance_verb,
};

/// One row of the table: a covariate, or a level of one.
struct Row {
    name: String,
    binary: bool,
    before: Balance,
    after: Option<Balance>,
}

fn balance_verb(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let formula = args
        .iter()
        .find_map(|a| super::super::formula_of(a))
        .ok_or_else(|| {
            ctx.usage_error("`balance` takes a formula, as `balance treat ~ age + educ`")
        })?;
    let denominator = match ctx.choice::<BalanceEstimand>("estimand")? {
        Some(BalanceEstimand::Att) => Denominator::Treated,
        _ => Denominator::Pooled,
    };
    let covariates = covariate_terms(ctx, formula)?;
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let (t_expr, t_type) = scope.checked(&formula.lhs)?;
    if !is_numeric(&t_type) && t_type != DataType::Boolean {
        return Err(
            Diagnostic::new("spel::balance::treatment", "the treatment must be 0 or 1")
                .at(formula.lhs.span),
        );
    }
    let mut selected = vec![t_expr.cast(DataType::Float64).alias("t")];
    let mut categorical = Vec::new();
    for (i, (ast, as_factor)) in covariates.iter().enumerate() {
        let (expr, dtype) = scope.checked(ast)?;
        let levels = *as_factor || !(is_numeric(&dtype) || dtype == DataType::Boolean);
        categorical.push(levels);
        selected.push(if levels {
            expr.cast(DataType::String).alias(format!("x{i}"))
        } else {
            expr.cast(DataType::Float64).alias(format!("x{i}"))
        });
    }
    let weights = ctx.option("weights").and_then(|a| a.as_expr());
    if let Some(w) = weights {
        selected.push(scope.checked(w)?.0.cast(DataType::Float64).alias("w"));
    }
    let (df, dropped) = super::complete_rows(ctx, lf, selected)?;
    let t = super::floats(ctx, &df, "t")?;
    if let Some(bad) = t.iter().find(|v| **v != 0.0 && **v != 1.0) {
        return Err(Diagnostic::new(
            "spel::balance::treatment",
            format!(
                "the treatment `{}` must be 0 or 1; it has {}",
                ctx.text(formula.lhs.span),
                format::number(*bad)
            ),
        )
        .at(formula.lhs.span));
    }
    let treated: Vec<bool> = t.iter().map(|v| *v == 1.0).collect();
    let n1 = treated.iter().filter(|t| **t).count();
    if n1 == 0 || n1 == treated.len() {
        return Err(Diagnostic::new(
            "spel::balance::one_group",
            format!(
                "every row has the same `{}`: there are not two groups to compare",
                ctx.text(formula.lhs.span)
            ),
        )
        .at(formula.lhs.span));
    }
    let w = match weights {
        Some(_) => Some(super::floats(ctx, &df, "w")?),
        None => None,
    };
    let mut rows = Vec::new();
    for (i, ((ast, _), levels)) in covariates.iter().zip(&categorical).enumerate() {
        let name = ctx.text(ast.span).to_string();
        let columns: Vec<(String, Vec<f64>)> = if *levels {
            let values = super::strings(ctx, &df, &format!("x{i}"))?;
            let mut distinct = values.clone();
            distinct.sort();
            distinct.dedup();
            distinct
                .into_iter()
                .map(|level| {
                    let x = values
                        .iter()
                        .map(|v| f64::from(u8::from(*v == level)))
                        .collect();
                    (format!("{name}: {level}"), x)
                })
                .collect()
        } else {
            vec![(name, super::floats(ctx, &df, &format!("x{i}"))?)]
        };
        for (name, x) in columns {
            rows.push(Row {
                binary: is_binary(&x),
                before: balance(&x, &treated, None, denominator),
                after: w
                    .as_deref()
                    .map(|w| balance(&x, &treated, Some(w), denominator)),
                name,
            });
        }
    }
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let table = table(&rows).map_err(fail)?;
    let treatment = ctx.text(formula.lhs.span);
    let weighted = weights
        .map(|w| format!("; weighted by {}", ctx.text(w.span)))
        .unwrap_or_default();
    let mut notes: Vec<String> = super::missing_note(dropped).into_iter().collect();
    let beyond: Vec<&str> = rows
        .iter()
        .filter(|r| r.after.unwrap_or(r.before).difference.abs() > 0.1)
        .map(|r| r.name.as_str())
        .collect();
    if !beyond.is_empty() {
        notes.push(format!(
            "Differences beyond 0.1 in absolute value{} (a common threshold of imbalance): {}.",
            if weights.is_some() {
                " after weighting"
            } else {
                ""
            },
            beyond.join(", ")
        ));
    }
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: format!(
            "Balance between {treatment} = 1 ({}) and {treatment} = 0 ({}){weighted}",
            format::count(n1),
            format::count(treated.len() - n1)
        ),
        table,
        notes,
        conventions: vec![format!(
            "cobalt's conventions: continuous covariates' differences standardised by the {} standard deviation of the unweighted rows, binary (0/1) covariates' as differences in proportions; variance ratios treated over untreated, weighted variances Σw(x − m)²/(Σw − Σw²/Σw)",
            match denominator {
                Denominator::Treated => "treated group's",
                Denominator::Pooled => "pooled",
            }
        )],
    })))
}

/// The formula's terms, each one covariate; `factor(x)` marks one to split by level.
fn covariate_terms<'a>(
    ctx: &VerbCtx,
    formula: &'a spel_grammar::ast::Formula,
) -> Result<Vec<(&'a Ast, bool)>, Diagnostic> {
    let mut out = Vec::new();
    for term in &formula.rhs {
        let [group] = term.crossed.as_slice() else {
            return Err(Diagnostic::new(
                "spel::balance::term",
                "`balance` takes covariates joined by `+`, not interactions",
            )
            .at(term.span));
        };
        let [expr] = group.as_slice() else {
            return Err(Diagnostic::new(
                "spel::balance::term",
                "`balance` takes covariates joined by `+`, not interactions",
            )
            .at(term.span));
        };
        match &expr.kind {
            ExprKind::Call { function, args } if function.name == "factor" && args.len() == 1 => {
                out.push((&args[0].value, true));
            }
            _ => out.push((expr, false)),
        }
    }
    if out.is_empty() {
        return Err(ctx
            .usage_error("`balance` needs covariates after `~`, as `balance treat ~ age + educ`"));
    }
    Ok(out)
}

/// The balance table; with weights, the differences before and after side by side
/// (cobalt's display), without the means, so that it fits a terminal.
fn table(rows: &[Row]) -> PolarsResult<DataFrame> {
    let weighted = rows.iter().any(|r| r.after.is_some());
    let mut columns = vec![
        Column::new(
            "covariate".into(),
            rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "type".into(),
            rows.iter()
                .map(|r| if r.binary { "binary" } else { "continuous" })
                .collect::<Vec<_>>(),
        ),
    ];
    if !weighted {
        columns.push(number_column("mean_treated", rows, |r| {
            Some(r.before.mean_treated)
        }));
        columns.push(number_column("mean_untreated", rows, |r| {
            Some(r.before.mean_control)
        }));
    }
    // Weighted, cobalt's short names, so that all four fit beside the covariates.
    let (difference, ratio) = if weighted {
        ("diff_before", "vratio_before")
    } else {
        ("difference", "variance_ratio")
    };
    columns.push(number_column(difference, rows, |r| {
        Some(r.before.difference)
    }));
    columns.push(number_column(ratio, rows, |r| r.before.variance_ratio));
    if weighted {
        columns.push(number_column("diff_after", rows, |r| {
            r.after.map(|a| a.difference)
        }));
        columns.push(number_column("vratio_after", rows, |r| {
            r.after.and_then(|a| a.variance_ratio)
        }));
    }
    DataFrame::new(rows.len(), columns)
}

fn number_column(name: &str, rows: &[Row], value: impl Fn(&Row) -> Option<f64>) -> Column {
    Column::new(name.into(), rows.iter().map(value).collect::<Vec<_>>())
}
