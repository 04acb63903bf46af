//! `model`: fit a regression and report it as a paper would.

use spel_grammar::Diagnostic;
use spel_grammar::ast::{BinaryOp, Connective, Expr as Ast, ExprKind};

use super::{Choice, Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
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
crate::choice! {
    /// What becomes of absorbed groups whose outcome never varies.
    pub enum Separated { Drop = "drop", Keep = "keep" }
}

pub static VERBS: &[Verb] = &[Verb {
    name: "model",
    signature: "model OUTCOME ~ TERMS [| CONDITION] [by GROUP, ...] [, family = ...] [, weights = w] [, cluster = c] [, se = ...]",
    summary: "Fit a regression: estimates, standard errors, CIs, and odds ratios or rate ratios.",
    description: "Terms are columns (text and true/false columns become factors), \
                  `factor(x, ref = \"level\")`, interactions `a:b` and `a*b`, expressions \
                  such as `log(x)`, `fe(x)` for an absorbed fixed effect, `offset(log(n))`, \
                  `(1 | g)` or `(x | g)` for random effects (a linear mixed model by REML \
                  as lme4's lmer, `reml = false` for ML; logit, probit and Poisson by the \
                  Laplace approximation as glmer), and `0` or `- 1` for no intercept. `| condition` fits among the rows where \
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
        OptionSpec::CLUSTERS,
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
        OptionSpec::LEVEL,
        OptionSpec {
            name: "reml",
            values: "true or false",
            kind: OptionKind::Bool,
            summary: "With random effects: REML (default, as lme4's lmer) or, false, maximum likelihood.",
        },
        OptionSpec {
            name: "separated",
            values: "drop or keep",
            kind: OptionKind::Word(Separated::WORDS),
            summary: "Absorbed groups whose outcome is always 0 (or always 1): dropped, as fixest and Stata (default), or kept.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
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
    if let Some(survey) = ctx.survey()? {
        let rows = super::survey::model_rows(ctx, &survey)?;
        let mut model = fit_formula_with(ctx, formula, rows.table.clone(), Some(&rows))?;
        if !survey.domain_text.is_empty() {
            model.notes.insert(
                0,
                format!(
                    "Subpopulation: the rows where {} ({} of the survey's {}); the variance keeps every PSU of the sample.",
                    survey.domain_text.join(" and "),
                    crate::format::count(model.n_total),
                    crate::format::count(rows.design.rows()),
                ),
            );
        }
        return Ok(Value::Model(std::sync::Arc::new(model)));
    }
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
    let scope = ctx.scope(&lf)?;
    let keys = group_keys(ctx, &scope)?;
    let Groups {
        frame: groups,
        key_values,
    } = find_groups(ctx, &lf, &keys)?;
    let mut rows = GroupRows::default();
    for g in 0..groups.height() {
        let condition = group_condition(&keys, &key_values, g);
        let label = key_values
            .iter()
            .map(|v| v[g].clone().unwrap_or_else(|| "missing".into()))
            .collect::<Vec<_>>()
            .join(", ");
        let model = match fit_formula(ctx, formula, lf.clone().filter(condition)) {
            Ok(model) => model,
            Err(d) if d.code == "spel::interrupted" => return Err(d),
            Err(d) => {
                rows.notes
                    .push(format!("{label}: not fitted, {}", d.message));
                continue;
            }
        };
        rows.add(g, &label, &model);
    }
    if rows.terms.is_empty() {
        return Err(
            Diagnostic::new("spel::model::no_group", "no group's model could be fitted")
                .at(ctx.call.span)
                .with_note(rows.notes.first().cloned().unwrap_or_default()),
        );
    }
    rows.report(ctx, formula, &groups, &keys)
}

/// The `by` columns and their types.
fn group_keys(
    ctx: &VerbCtx,
    scope: &crate::eval::expr::Scope,
) -> Result<Vec<(String, polars::prelude::DataType)>, Diagnostic> {
    use polars::prelude::*;
    Ok(
        super::column_names(&ctx.clause_args(Connective::By), scope)?
            .into_iter()
            .map(|(name, _)| {
                let dtype = scope.schema.get(name).cloned().unwrap_or(DataType::String);
                (name.to_string(), dtype)
            })
            .collect(),
    )
}

/// The groups of `model ... by`, in order.
struct Groups {
    /// Each group's values as they are (for the result), and as text.
    frame: polars::prelude::DataFrame,
    /// Each key's values as text, a value per group (to select a group's rows).
    key_values: Vec<Vec<Option<String>>>,
}

/// The groups, in order, with each group's values as they are (for the result), and
/// each key's values as text (to select a group's rows).
fn find_groups(
    ctx: &VerbCtx,
    lf: &polars::prelude::LazyFrame,
    keys: &[(String, polars::prelude::DataType)],
) -> Result<Groups, Diagnostic> {
    use polars::prelude::*;
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
    Ok(Groups {
        frame: groups,
        key_values,
    })
}

/// The rows of group `g`.
fn group_condition(
    keys: &[(String, polars::prelude::DataType)],
    key_values: &[Vec<Option<String>>],
    g: usize,
) -> polars::prelude::Expr {
    use polars::prelude::*;
    keys.iter()
        .zip(key_values)
        .map(|((k, _), values)| match &values[g] {
            Some(v) => col(k.as_str()).cast(DataType::String).eq(lit(v.clone())),
            None => col(k.as_str()).is_null(),
        })
        .reduce(|a, b| a.and(b))
        .unwrap_or(lit(true))
}

/// The table of `model ... by` as it fills, group by group, and its notes.
#[derive(Default)]
struct GroupRows {
    /// The group each row of the result belongs to.
    group_of_row: Vec<polars::prelude::IdxSize>,
    terms: Vec<String>,
    n: Vec<i64>,
    /// Estimate, standard error, statistic, p-value and the interval's ends.
    numbers: [Vec<f64>; 6],
    notes: Vec<String>,
    /// The first fitted group's standard errors, described.
    described: Option<String>,
}

impl GroupRows {
    /// Group `g`'s coefficients, and a note on any term dropped in it.
    fn add(&mut self, g: usize, label: &str, model: &crate::model::Model) {
        self.described
            .get_or_insert_with(|| model.se_description.clone());
        if !model.collinear.is_empty() {
            self.notes.push(format!(
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
            self.group_of_row.push(g as polars::prelude::IdxSize);
            self.terms.push(c.term.clone());
            self.n.push(model.n as i64);
            for (column, value) in self.numbers.iter_mut().zip([
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

    /// The report: the groups' values (keeping their types), the coefficients, and the
    /// notes after the standard errors' description.
    fn report(
        self,
        ctx: &VerbCtx,
        formula: &spel_grammar::ast::Formula,
        groups: &polars::prelude::DataFrame,
        keys: &[(String, polars::prelude::DataType)],
    ) -> Result<Value, Diagnostic> {
        use polars::prelude::*;
        let fail = |e: PolarsError| crate::errors::polars_error(e).at(ctx.call.span);
        let GroupRows {
            group_of_row,
            terms,
            n,
            numbers,
            notes,
            described,
        } = self;
        let mut columns: Vec<Column> = Vec::new();
        let rows = IdxCa::from_vec("rows".into(), group_of_row);
        for (k, _) in keys {
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
        let conventions: Vec<String> = described
            .map(|se| format!("standard errors (as in the first group): {se}"))
            .into_iter()
            .collect();
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
            conventions,
        })))
    }
}

/// Fits `formula` on `lf` with the call's model options (`family`, `weights`,
/// `cluster`, `se`, ...): `model` itself, and `power simulate` on each simulated table.
pub(crate) fn fit_formula(
    ctx: &VerbCtx,
    formula: &spel_grammar::ast::Formula,
    lf: polars::prelude::LazyFrame,
) -> Result<crate::model::Model, Diagnostic> {
    fit_formula_with(ctx, formula, lf, None)
}

/// [`fit_formula`], or on a survey's rows with its weights and PSUs.
fn fit_formula_with(
    ctx: &VerbCtx,
    formula: &spel_grammar::ast::Formula,
    lf: polars::prelude::LazyFrame,
    survey: Option<&super::survey::SurveyRows>,
) -> Result<crate::model::Model, Diagnostic> {
    let scope = ctx.scope(&lf)?;
    let text = |s| ctx.text(s).to_string();
    let resolved = resolve::resolve(formula, &text)?;
    check_no_condition_in_options(ctx, formula)?;
    let request = design::Request {
        outcome: &formula.lhs,
        condition: formula.condition.as_ref(),
        weights: match survey {
            Some(rows) => Some(&rows.weights),
            None => column_option(ctx, "weights"),
        },
        freq: column_option(ctx, "freq"),
        trials: column_option(ctx, "trials"),
        clusters: match survey {
            Some(rows) => vec![&rows.psu],
            None => cluster_columns(ctx)?,
        },
        codings: &[],
    };
    let mut options = model_options(ctx, formula, &resolved)?;
    options.survey = survey.map(|rows| rows.design.clone());
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

/// An option that names a column (or an expression of columns).
pub(crate) fn column_option<'a>(ctx: &VerbCtx<'a>, name: &str) -> Option<&'a Ast> {
    ctx.option(name).and_then(|a| a.as_expr())
}

/// `cluster = pcn | ltc` reads as an `or` of two columns; it is a condition put after
/// the options, where it cannot go.
pub(crate) fn check_no_condition_in_options(
    ctx: &VerbCtx,
    formula: &spel_grammar::ast::Formula,
) -> Result<(), Diagnostic> {
    for name in ["weights", "freq", "trials", "cluster"] {
        if let Some(Ast {
            kind:
                ExprKind::Binary {
                    op: BinaryOp::Or,
                    left,
                    right,
                },
            span,
        }) = column_option(ctx, name)
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
    Ok(())
}

/// The one or two columns of `cluster`.
pub(crate) fn cluster_columns<'a>(ctx: &VerbCtx<'a>) -> Result<Vec<&'a Ast>, Diagnostic> {
    let clusters: Vec<&Ast> = match column_option(ctx, "cluster") {
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
    Ok(clusters)
}

/// The fit's options: family, variance, level, and what the report says of the
/// statement.
pub(crate) fn model_options(
    ctx: &VerbCtx,
    formula: &spel_grammar::ast::Formula,
    resolved: &resolve::Resolved,
) -> Result<Options, Diagnostic> {
    let level = ctx.number("level")?.map_or(0.95, |(x, _)| x);
    if let Some(reml) = ctx.option("reml")
        && resolved.random.is_empty()
    {
        return Err(Diagnostic::new(
            "spel::model::reml",
            "`reml` applies to a model with random effects",
        )
        .at(reml.span)
        .with_help("add a random-effects term, as `(1 | practice)`, or leave `reml` out"));
    }
    let option_spans = ["family", "weights", "freq", "trials", "cluster", "se"]
        .into_iter()
        .filter_map(|name| ctx.option(name).map(|a| (name, a.span)))
        .collect();
    Ok(Options {
        family: ctx.choice::<ModelFamily>("family")?,
        estimator: ctx.choice::<Estimator>("se")?,
        adjustment: ctx
            .choice::<Adjustment>("ssc")?
            .unwrap_or(Adjustment::Stata),
        residual_df: ctx.choice::<DegreesOfFreedom>("df")? == Some(DegreesOfFreedom::Residual),
        keep_separated: ctx.choice::<Separated>("separated")? == Some(Separated::Keep),
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
        instrumented: Vec::new(),
        survey: None,
        reml: ctx.flag("reml")?.unwrap_or(true),
    })
}
