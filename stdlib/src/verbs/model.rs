//! `model`: fit a regression and report it as a paper would.

use spel_grammar::Diagnostic;
use spel_grammar::ast::{BinaryOp, Connective, Expr as Ast, ExprKind};

use super::{Choice, Example, OptionKind, OptionSpec, Verb, VerbCtx};
use crate::formula::{design, resolve};
use crate::model::ModelFamily;
use crate::model::fit::{self, Options};
use crate::value::Value;
use spel_stats::vcov::{Adjustment, Estimator};

crate::choice! { impl Estimator { Classical = "classical", Robust = "robust", Hc3 = "hc3", Cluster = "cluster" } }
crate::choice! { impl Adjustment { Stata = "stata", None = "none", Ml = "ml", Reg = "reg", Min = "min" } }
crate::choice! {
    /// The t distribution's degrees of freedom for clustered OLS.
    pub enum DegreesOfFreedom { Clusters = "clusters", Residual = "residual" }
}

pub static VERBS: &[Verb] = &[Verb {
    name: "model",
    signature: "model OUTCOME ~ TERMS [| CONDITION] [by GROUP, ...] [, family = ...] [, weights = w] [, cluster = c] [, se = ...]",
    summary: "Fit a regression: estimates, standard errors, CIs, and odds ratios or rate ratios.",
    description: "Terms are columns (text and true/false columns become factors), \
                  `factor(x, ref = \"level\")`, interactions `a:b` and `a*b`, expressions \
                  such as `log(x)`, `fe(x)` for an absorbed fixed effect, `offset(log(n))`, \
                  and `0` or `- 1` for no intercept. `| condition` fits among the rows where \
                  it holds. Without `family`, a 0/1 outcome gives a logit and any other an OLS. \
                  Standard errors follow Stata: model-based by default, robust with \
                  probability weights, clustered with `cluster =`. With `by`, one model per \
                  group (as Stata's `statsby`): a table of every group's coefficients with \
                  their SEs and intervals, ready to plot.",
    connectives: &[Connective::By],
    options: &[
        OptionSpec {
            name: "family",
            values: "ols, logit, probit, poisson or negbin",
            kind: OptionKind::Word(ModelFamily::WORDS),
            summary: "The model's family (default: logit for a 0/1 outcome, else ols).",
        },
        OptionSpec {
            name: "weights",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Probability (sampling) weights, as a survey's; standard errors become robust.",
        },
        OptionSpec {
            name: "freq",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Frequency weights: each row stands for that many.",
        },
        OptionSpec {
            name: "trials",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Binomial trials: the outcome counts successes out of this many.",
        },
        OptionSpec {
            name: "cluster",
            values: "a column or [col1, col2]",
            kind: OptionKind::Columns,
            summary: "Cluster-robust standard errors by one or two columns.",
        },
        OptionSpec {
            name: "se",
            values: "classical, robust, hc3 or cluster",
            kind: OptionKind::Word(Estimator::WORDS),
            summary: "How standard errors are estimated.",
        },
        OptionSpec {
            name: "ssc",
            values: "stata, none, ml, reg or min",
            kind: OptionKind::Word(Adjustment::WORDS),
            summary: "The small-sample factor of robust and clustered errors (default: Stata's).",
        },
        OptionSpec {
            name: "df",
            values: "clusters or residual",
            kind: OptionKind::Word(DegreesOfFreedom::WORDS),
            summary: "t degrees of freedom for clustered OLS: G-1 (default) or n-k.",
        },
        OptionSpec {
            name: "level",
            values: "a number such as 0.95",
            kind: OptionKind::PROBABILITY,
            summary: "Confidence level of the intervals.",
        },
    ],
    named_arguments: false,
    examples: &[Example {
        summary: "A linear model on a small table",
        code: "table x = [1, 2, 3, 4, 5], y = [2.1, 3.9, 6.2, 7.8, 10.1] |> model y ~ x",
        output: r#"Linear regression (OLS): y ~ x
Rows: 5 used of 5
Standard errors: model-based; t(3)-based 95% intervals

term         estimate  std.error      t       p             95% CI
──────────────────────────────────────────────────────────────────
(Intercept)   0.05000     0.1981   0.25   0.817  -0.5804 to 0.6804
x               1.990    0.05972  33.32  <0.001     1.800 to 2.180

log-likelihood 2.516   AIC 0.9676   BIC -0.2041   R² 0.9973"#,
    }],
    run: model,
}];

fn model(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let [arg] = args.as_slice() else {
        return Err(ctx.usage_error("`model` takes one formula, as `model y ~ x`"));
    };
    let Some(formula) = super::formula_of(arg) else {
        let mut d = Diagnostic::new(
            "spel::model::formula",
            "`model` needs a formula: `outcome ~ terms`",
        )
        .at(arg.span);
        if arg.name.is_some() {
            d = d.with_help("write `~` between the outcome and the terms, not `=`");
        }
        return Err(d);
    };
    let lf = ctx.table()?;
    if ctx.clause(Connective::By).is_some() {
        return model_by_group(ctx, formula, lf);
    }
    let model = fit_formula(ctx, formula, lf)?;
    Ok(Value::Model(std::sync::Arc::new(model)))
}

/// One model per group: every group's coefficients in one table. A group whose model
/// cannot be fitted is left out with a note saying why.
fn model_by_group(
    ctx: &VerbCtx,
    formula: &spel_grammar::ast::Formula,
    lf: polars::prelude::LazyFrame,
) -> Result<Value, Diagnostic> {
    use polars::prelude::*;
    let scope = ctx.scope(&lf)?;
    let keys: Vec<(String, DataType)> =
        super::column_names(&ctx.clause_args(Connective::By), &scope)?
            .into_iter()
            .map(|(name, _)| {
                let dtype = scope.schema.get(name).cloned().unwrap_or(DataType::String);
                (name.to_string(), dtype)
            })
            .collect();
    // Each group's values as they are (for the result) and as text (to select its rows).
    let key_exprs: Vec<Expr> = keys
        .iter()
        .flat_map(|(k, _)| {
            [
                col(k.as_str()),
                col(k.as_str())
                    .cast(DataType::String)
                    .alias(format!("{k} as text")),
            ]
        })
        .collect();
    let groups = ctx.env.work().collect(
        lf.clone()
            .select(key_exprs)
            .unique_stable(None, UniqueKeepStrategy::First)
            .sort(
                keys.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                SortMultipleOptions::default().with_nulls_last(true),
            ),
        "finding the groups",
        ctx.call.span,
    )?;
    let fail = |e: PolarsError| crate::errors::polars_error(e).at(ctx.call.span);
    let key_values: Vec<Vec<Option<String>>> = keys
        .iter()
        .map(|(k, _)| -> Result<Vec<Option<String>>, Diagnostic> {
            Ok(groups
                .column(&format!("{k} as text"))
                .map_err(fail)?
                .str()
                .map_err(fail)?
                .iter()
                .map(|v| v.map(str::to_string))
                .collect())
        })
        .collect::<Result<_, _>>()?;
    // The group each row of the result belongs to.
    let mut group_of_row: Vec<IdxSize> = Vec::new();
    let (mut terms, mut n) = (Vec::new(), Vec::new());
    let mut numbers: [Vec<f64>; 6] = Default::default();
    let mut notes = Vec::new();
    let mut described = None;
    for g in 0..groups.height() {
        let condition = keys
            .iter()
            .zip(&key_values)
            .map(|((k, _), values)| match &values[g] {
                Some(v) => col(k.as_str()).cast(DataType::String).eq(lit(v.clone())),
                None => col(k.as_str()).is_null(),
            })
            .reduce(|a, b| a.and(b))
            .unwrap_or(lit(true));
        let label = key_values
            .iter()
            .map(|v| v[g].clone().unwrap_or_else(|| "missing".into()))
            .collect::<Vec<_>>()
            .join(", ");
        let model = match fit_formula(ctx, formula, lf.clone().filter(condition)) {
            Ok(model) => model,
            Err(d) if d.code == "spel::interrupted" => return Err(d),
            Err(d) => {
                notes.push(format!("{label}: not fitted, {}", d.message));
                continue;
            }
        };
        described.get_or_insert_with(|| model.se_description.clone());
        if !model.collinear.is_empty() {
            notes.push(format!(
                "{label}: {} dropped (collinear in this group)",
                model
                    .collinear
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for c in &model.coefficients {
            group_of_row.push(g as IdxSize);
            terms.push(c.term.clone());
            n.push(model.n as i64);
            for (column, value) in numbers.iter_mut().zip([
                c.estimate,
                c.std_error,
                c.statistic,
                c.p_value,
                c.conf_low,
                c.conf_high,
            ]) {
                column.push(value);
            }
        }
    }
    if terms.is_empty() {
        return Err(
            Diagnostic::new("spel::model::no_group", "no group's model could be fitted")
                .at(ctx.call.span)
                .with_note(notes.first().cloned().unwrap_or_default()),
        );
    }
    let mut columns: Vec<Column> = Vec::new();
    let rows = IdxCa::from_vec("rows".into(), group_of_row);
    for (k, _) in &keys {
        // The groups keep their type: a date stays a date.
        columns.push(groups.column(k).map_err(fail)?.take(&rows).map_err(fail)?);
    }
    columns.push(Column::new("term".into(), terms));
    for (name, values) in [
        "estimate",
        "std_error",
        "statistic",
        "p_value",
        "conf_low",
        "conf_high",
    ]
    .into_iter()
    .zip(numbers)
    {
        columns.push(Column::new(name.into(), values));
    }
    columns.push(Column::new("n".into(), n));
    let table = DataFrame::new_infer_height(columns).map_err(fail)?;
    if let Some(se) = described {
        notes.insert(0, format!("standard errors (as in the first group): {se}"));
    }
    Ok(Value::Report(std::sync::Arc::new(crate::value::Report {
        title: format!(
            "{} fitted in each of {} groups by {}",
            ctx.text(formula.span)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            groups.height(),
            keys.iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        table,
        notes,
    })))
}

/// Fits `formula` on `lf` with the call's model options (`family`, `weights`,
/// `cluster`, `se`, ...): `model` itself, and `power simulate` on each simulated table.
pub(crate) fn fit_formula(
    ctx: &VerbCtx,
    formula: &spel_grammar::ast::Formula,
    lf: polars::prelude::LazyFrame,
) -> Result<crate::model::Model, Diagnostic> {
    let scope = ctx.scope(&lf)?;
    let text = |s| ctx.text(s).to_string();
    let resolved = resolve::resolve(formula, &text)?;

    let column_option = |name: &str| -> Option<&Ast> { ctx.option(name).and_then(|a| a.as_expr()) };
    // `cluster = pcn | ltc` reads as an `or` of two columns; it is a condition put after
    // the options, where it cannot go.
    for name in ["weights", "freq", "trials", "cluster"] {
        if let Some(Ast {
            kind:
                ExprKind::Binary {
                    op: BinaryOp::Or,
                    left,
                    right,
                },
            span,
        }) = column_option(name)
        {
            let formula_text = ctx
                .text(formula.span)
                .split_whitespace()
                .collect::<Vec<_>>();
            return Err(Diagnostic::new(
                "spel::model::condition_after_options",
                "the condition after `|` goes before the options",
            )
            .at(*span)
            .with_help(format!(
                "write the condition after the formula: `model {} | {}, {name} = {}`",
                formula_text.join(" "),
                ctx.text(right.span),
                ctx.text(left.span)
            )));
        }
    }
    let clusters: Vec<&Ast> = match column_option("cluster") {
        Some(Ast {
            kind: ExprKind::List(items),
            ..
        }) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    if clusters.len() > 2 {
        return Err(Diagnostic::new(
            "spel::model::clusters",
            "`cluster` takes one or two columns",
        )
        .at(clusters[2].span));
    }
    let request = design::Request {
        outcome: &formula.lhs,
        condition: formula.condition.as_ref(),
        weights: column_option("weights"),
        freq: column_option("freq"),
        trials: column_option("trials"),
        clusters,
        codings: &[],
    };
    let level = ctx.number("level")?.map_or(0.95, |(x, _)| x);
    let option_spans = ["weights", "freq", "trials", "cluster", "se"]
        .into_iter()
        .filter_map(|name| ctx.option(name).map(|a| (name, a.span)))
        .collect();
    let options = Options {
        family: ctx.choice::<ModelFamily>("family")?,
        estimator: ctx.choice::<Estimator>("se")?,
        adjustment: ctx
            .choice::<Adjustment>("ssc")?
            .unwrap_or(Adjustment::Stata),
        residual_df: ctx.choice::<DegreesOfFreedom>("df")? == Some(DegreesOfFreedom::Residual),
        level,
        // A formula written over several lines reads as one.
        formula: ctx
            .text(formula.span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        variables: {
            let mut names: Vec<String> = Vec::new();
            for v in resolved.terms.iter().flat_map(|t| &t.variables) {
                if !names.contains(&v.name) {
                    names.push(v.name.clone());
                }
            }
            names
        },
        condition: formula
            .condition
            .as_ref()
            .map(|c| ctx.text(c.span).to_string()),
        outcome_span: formula.lhs.span,
        option_spans,
    };
    let built = design::build(
        lf.clone(),
        &scope,
        &resolved,
        &request,
        ctx.env.work(),
        ctx.call.span,
    )?;
    let source = crate::model::Source {
        table: lf,
        resolved: resolved.clone(),
        outcome: formula.lhs.clone(),
        condition: formula.condition.clone(),
        weights: request.weights.cloned(),
        freq: request.freq.cloned(),
        trials: request.trials.cloned(),
        clusters: request.clusters.iter().map(|c| (*c).clone()).collect(),
        codings: built.codings.clone(),
    };
    if built.columns.is_empty() && built.fixed_effects.is_empty() {
        return Err(Diagnostic::new(
            "spel::model::no_terms",
            "the model has no terms and no intercept",
        )
        .at(formula.span));
    }
    // On a worker thread, so a front end shows progress and an interrupt returns at once.
    let what = format!(
        "fitting the model on {}",
        crate::format::plural(built.y.len(), "row")
    );
    let mut model = ctx
        .env
        .work()
        .run(&what, ctx.call.span, move || fit::fit(built, &options))?;
    model.source = Some(source);
    Ok(model)
}
