//! Complex survey designs: `survey` gives a table its design (weights, strata, PSUs,
//! population sizes); `estimate` gives design-based means, totals, proportions and
//! quantiles with their standard errors, as R's `survey` package (the estimators:
//! `spel_stats::survey`; the design as read from the table: `crate::survey`).

use std::sync::Arc;

use polars::prelude::*;
use spel_grammar::ast::{CallArg, Connective, Expr as Ast, ExprKind};
use spel_grammar::{Diagnostic, Span};
use spel_stats::survey::{self as estimators, LonelyPsu};

use super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::survey::{DesignSpans, Sample};
use crate::value::{Report, Survey, Value};

pub static VERBS: &[Verb] = &[SURVEY, ESTIMATE];

const SURVEY: Verb = Verb {
    name: "survey",
    signature: "survey [TABLE], weights = W [, strata = S] [, psu = P] [, fpc = F] [, lonely_psu = fail | adjust | certainty]",
    summary: "A table with its sampling design: weights, strata, PSUs and population sizes, for design-based estimates.",
    description: "Each row is a sampled unit with its design weight (the inverse of its \
                  chance of selection), its stratum and its primary sampling unit (PSU, the \
                  cluster drawn at the first stage). `fpc` gives each stratum's number of \
                  PSUs in the population (or the sampling fraction), for the finite \
                  population correction. The result shows the design: rows, PSUs and the \
                  weights' sum in each stratum. `estimate` and `model` read it with its \
                  design; `filter` makes a subpopulation (its rows keep their place in the \
                  variance, as R's `subset`); `derive` adds columns. A stratum with a \
                  single PSU is an error unless `lonely_psu = adjust` or `certainty`.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "weights",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "Each row's design weight (without it, from `fpc`, or 1).",
        },
        OptionSpec {
            name: "strata",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Each row's stratum.",
        },
        OptionSpec {
            name: "psu",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Each row's primary sampling unit, numbered within its stratum (default: each row its own).",
        },
        OptionSpec {
            name: "fpc",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "The stratum's number of PSUs in the population, or its sampling fraction.",
        },
        OptionSpec {
            name: "lonely_psu",
            values: "fail, adjust or certainty",
            kind: OptionKind::Word(LonelyPsu::WORDS),
            summary: "A stratum with one PSU: an error (default), centred at the grand mean, or no variance.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "A stratified sample of eight schools",
        code: "table type = [\"E\", \"E\", \"E\", \"E\", \"H\", \"H\", \"H\", \"H\"], score = [620, 700, 655, 590, 610, 680, 540, 575], w = [40, 40, 40, 40, 20, 20, 20, 20], size = [160, 160, 160, 160, 80, 80, 80, 80]\n  |> survey weights = w, strata = type, fpc = size",
        output: r#"Survey design: stratified sample, 8 rows in 2 strata and 8 PSUs
shape: (2, 4)
┌─────────┬──────┬──────┬────────────┐
│ stratum ┆ rows ┆ psus ┆ weight_sum │
│ ---     ┆ ---  ┆ ---  ┆ ---        │
│ str     ┆ i64  ┆ i64  ┆ f64        │
╞═════════╪══════╪══════╪════════════╡
│ E       ┆    4 ┆    4 ┆        160 │
│ H       ┆    4 ┆    4 ┆         80 │
└─────────┴──────┴──────┴────────────┘
Note: Variances by Taylor linearisation between PSUs within strata; the design's degrees of freedom are PSUs − strata = 6.
Note: R's survey conventions: svydesign(ids = ~psu, strata = ~strata, weights = ~weights, fpc = ~fpc, nest = TRUE) — PSUs are numbered within strata; one stage of sampling (later stages' variation is carried by the PSUs' totals)"#,
    }],
    run: survey_verb,
};

const ESTIMATE: Verb = Verb {
    name: "estimate",
    signature: "estimate mean(X) | total(X) | proportion(G) | quantile(X, P), ... [by GROUP] [from SURVEY] [, level = 0.95]",
    summary: "Design-based means, totals, proportions and quantiles of a survey, with standard errors, intervals and design effects.",
    description: "Each statistic is estimated from the survey's weights, and its standard \
                  error by Taylor linearisation between the PSUs within strata, as R's \
                  `svymean`, `svytotal` and `svyquantile`. `proportion(G)` gives the \
                  share of each of G's values. `quantile(X, P)` takes one P or a list, by \
                  the weighted empirical distribution with Woodruff's interval. `by GROUP` \
                  estimates within each group as a subpopulation. The design effect `deff` \
                  is the variance over simple random sampling's of as many rows. Rows where \
                  the variable is missing are left out of its estimate, as R's `na.rm = \
                  TRUE`.",
    connectives: &[Connective::By],
    options: &[OptionSpec::LEVEL],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "A mean and a total from a stratified sample",
        code: "s = table type = [\"E\", \"E\", \"E\", \"E\", \"H\", \"H\", \"H\", \"H\"], score = [620, 700, 655, 590, 610, 680, 540, 575], w = [40, 40, 40, 40, 20, 20, 20, 20], size = [160, 160, 160, 160, 80, 80, 80, 80]\n  |> survey weights = w, strata = type, fpc = size\nestimate mean(score), total(score) from s",
        output: r#"Design-based estimates: 8 rows of 8
shape: (2, 7)
┌──────────────┬──────────┬───────────┬──────────┬───────────┬──────┬─────┐
│ statistic    ┆ estimate ┆ std_error ┆ conf_low ┆ conf_high ┆ deff ┆ n   │
│ ---          ┆ ---      ┆ ---       ┆ ---      ┆ ---       ┆ ---  ┆ --- │
│ str          ┆ f64      ┆ f64       ┆ f64      ┆ f64       ┆ f64  ┆ i64 │
╞══════════════╪══════════╪═══════════╪══════════╪═══════════╪══════╪═════╡
│ mean(score)  ┆    627.9 ┆     18.36 ┆    591.9 ┆     663.9 ┆ 1.03 ┆   8 │
│ total(score) ┆  150,700 ┆      4405 ┆  142,066 ┆   159,334 ┆ 1.03 ┆   8 │
└──────────────┴──────────┴───────────┴──────────┴───────────┴──────┴─────┘
Note: Standard errors by Taylor linearisation over 8 PSUs in 2 strata; the design has 6 degrees of freedom.
Note: R's survey conventions: means as ratios of weighted totals (svymean), totals (svytotal), proportions as means of each value's indicator; intervals estimate ± z·SE, as confint() on them (Stata's svy uses t on the design's degrees of freedom); deff is the variance over simple random sampling's without replacement of as many rows from a population of the weights' sum (deff = TRUE)"#,
    }],
    run: estimate_verb,
};

fn survey_verb(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = match ctx.args().first() {
        Some(arg) => ctx.table_arg(arg)?,
        None => ctx.table()?,
    };
    let scope = ctx.scope(&lf)?;
    let column = |name: &str| -> Result<Option<(String, Span)>, Diagnostic> {
        let Some(expr) = ctx.option(name).and_then(|a| a.as_expr()) else {
            return Ok(None);
        };
        Ok(Some((
            super::column_name_of(expr, &scope)?.to_string(),
            expr.span,
        )))
    };
    let (weights, strata, psu, fpc) = (
        column("weights")?,
        column("strata")?,
        column("psu")?,
        column("fpc")?,
    );
    let call = ctx.call.span;
    let spans = DesignSpans {
        call,
        weights: weights.as_ref().map_or(call, |w| w.1),
        strata: strata.as_ref().map_or(call, |s| s.1),
        psu: psu.as_ref().map_or(call, |p| p.1),
        fpc: fpc.as_ref().map_or(call, |f| f.1),
    };
    let mut survey = Survey {
        table: lf,
        weights: weights.map(|w| w.0),
        strata: strata.map(|s| s.0),
        psu: psu.map(|p| p.0),
        fpc: fpc.map(|f| f.0),
        lonely_psu: ctx
            .choice::<LonelyPsu>("lonely_psu")?
            .unwrap_or(LonelyPsu::Fail),
        domain: None,
        domain_text: Vec::new(),
        summary: Report {
            title: String::new(),
            table: DataFrame::empty(),
            notes: Vec::new(),
            conventions: Vec::new(),
        },
    };
    let sample = crate::survey::read(&survey, Vec::new(), spans, ctx.env.work())?;
    survey.summary = crate::survey::summary(&survey, &sample)?;
    Ok(Value::Survey(Arc::new(survey)))
}

/// One statistic `estimate` was asked for.
enum Statistic<'a> {
    Mean(&'a Ast),
    Total(&'a Ast),
    Proportion(&'a Ast),
    Quantile(&'a Ast, Vec<f64>),
}

impl Statistic<'_> {
    fn variable(&self) -> &Ast {
        match self {
            Statistic::Mean(x)
            | Statistic::Total(x)
            | Statistic::Proportion(x)
            | Statistic::Quantile(x, _) => x,
        }
    }
}

/// The rows of `estimate`'s table, column by column.
#[derive(Default)]
struct Rows {
    statistic: Vec<String>,
    group: Vec<String>,
    level: Vec<Option<String>>,
    estimate: Vec<f64>,
    std_error: Vec<f64>,
    conf_low: Vec<f64>,
    conf_high: Vec<f64>,
    deff: Vec<Option<f64>>,
    n: Vec<i64>,
}

fn estimate_verb(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let Some(survey) = ctx.survey()? else {
        return Err(not_a_survey(ctx));
    };
    let statistics = ctx
        .args()
        .into_iter()
        .map(|arg| statistic(ctx, arg.as_expr(), arg.span))
        .collect::<Result<Vec<_>, _>>()?;
    if statistics.is_empty() {
        return Err(ctx
            .usage_error("`estimate` needs a statistic, such as `mean(x)`")
            .with_help(
                "write `estimate mean(x), total(x), proportion(g), quantile(x, 0.5) from s`",
            ));
    }
    let level = ctx.number("level")?.map_or(0.95, |(l, _)| l);
    let scope = ctx.scope(&survey.table)?;
    let mut columns = Vec::new();
    for s in &statistics {
        columns.push(variable_column(ctx, &scope, s)?);
    }
    let by = ctx.clause_args(Connective::By);
    let group = match by.first().and_then(|a| a.as_expr()) {
        Some(ast) => {
            let (expr, _) = scope.checked(ast)?;
            columns.push(expr.cast(DataType::String));
            Some(ast)
        }
        None => None,
    };
    let call = ctx.call.span;
    let spans = DesignSpans::all(call);
    let sample = crate::survey::read(&survey, columns, spans, ctx.env.work())?;
    let fail = |e: PolarsError| polars_error(e).at(call);
    let groups: Option<Vec<Option<String>>> = match group {
        Some(_) => Some(text_column(&sample.columns, statistics.len()).map_err(fail)?),
        None => None,
    };
    let levels_of_group = match &groups {
        Some(g) => distinct_in_domain(g, &sample.in_domain),
        None => vec![String::new()],
    };
    if sample.in_domain.iter().all(|&d| !d) {
        return Err(Diagnostic::new(
            "spel::survey::empty",
            "the subpopulation holds no row of the sample",
        )
        .at(call)
        .with_help("check the conditions given to `filter` on this survey"));
    }
    let mut rows = Rows::default();
    let mut notes = Vec::new();
    for (k, statistic) in statistics.iter().enumerate() {
        let name = ctx.text(statistic.variable().span).to_string();
        let missing = add_statistic(
            &mut rows,
            &sample,
            statistic,
            k,
            groups.as_deref(),
            &levels_of_group,
            level,
            &name,
        )
        .map_err(fail)?;
        if missing > 0 {
            notes.push(format!(
                "{} with `{name}` missing in the subpopulation left out of its estimates (R's na.rm = TRUE).",
                crate::format::plural(missing, "row")
            ));
        }
    }
    let table = rows_table(rows, group.map(|g| ctx.text(g.span))).map_err(fail)?;
    let design = &sample.design;
    let mut all_notes = vec![format!(
        "Standard errors by Taylor linearisation over {} in {}; the design has {} degrees of freedom.",
        crate::format::plural(design.psus(), "PSU"),
        match design.strata() {
            1 => "1 stratum".to_string(),
            n => format!("{} strata", crate::format::count(n)),
        },
        design.degrees_of_freedom(&sample.domain_weights(|_| true)),
    )];
    if !survey.domain_text.is_empty() {
        all_notes.push(format!(
            "Subpopulation: the rows where {}; every PSU of the sample stays in the variance.",
            survey.domain_text.join(" and ")
        ));
    }
    all_notes.extend(notes);
    let title = format!(
        "Design-based estimates: {} of {}",
        crate::format::plural(sample.in_domain.iter().filter(|&&d| d).count(), "row"),
        crate::format::count(design.rows())
    );
    Ok(Value::Report(Arc::new(Report {
        title,
        table,
        notes: all_notes,
        conventions: conventions(&statistics),
    })))
}

/// How the statistics asked for were computed, for a reader checking them against R.
fn conventions(statistics: &[Statistic]) -> Vec<String> {
    let quantiles = statistics
        .iter()
        .any(|s| matches!(s, Statistic::Quantile(..)));
    let others = statistics
        .iter()
        .any(|s| !matches!(s, Statistic::Quantile(..)));
    let mut conventions = Vec::new();
    if others {
        conventions.push("R's survey conventions: means as ratios of weighted totals (svymean), totals (svytotal), proportions as means of each value's indicator; intervals estimate ± z·SE, as confint() on them (Stata's svy uses t on the design's degrees of freedom); deff is the variance over simple random sampling's without replacement of as many rows from a population of the weights' sum (deff = TRUE)".into());
    }
    if quantiles {
        conventions.push("Quantiles by the weighted empirical distribution (svyquantile's qrule = \"math\") with Woodruff's interval on t with the subpopulation's design degrees of freedom; their std_error is the interval's width over 2·t".into());
    }
    conventions
}

fn not_a_survey(ctx: &VerbCtx) -> Diagnostic {
    let found = ctx.table().is_ok();
    Diagnostic::new(
        "spel::survey::expected",
        if found {
            "`estimate` reads a survey design, but this is a plain table".to_string()
        } else {
            "`estimate` needs a survey design".to_string()
        },
    )
    .at(ctx.call.verb.span)
    .with_help(
        "make one first: `s = survey d, weights = w, strata = stratum, psu = cluster`, then `estimate mean(x) from s`",
    )
}

const STATISTICS: &[&str] = &["mean", "total", "proportion", "quantile"];

fn statistic<'a>(
    ctx: &VerbCtx,
    ast: Option<&'a Ast>,
    span: Span,
) -> Result<Statistic<'a>, Diagnostic> {
    let usage = || {
        Diagnostic::new(
            "spel::estimate::statistic",
            "`estimate` takes statistics: mean(x), total(x), proportion(g) or quantile(x, p)",
        )
        .at(span)
    };
    let Some(Ast {
        kind: ExprKind::Call { function, args },
        ..
    }) = ast
    else {
        let text = ctx.text(span);
        return Err(usage().with_help(format!("write `mean({text})` or `total({text})`")));
    };
    let positional: Vec<&CallArg> = args.iter().collect();
    let first = || {
        positional
            .first()
            .map(|a| &a.value)
            .ok_or_else(|| usage().with_help(format!("write `{}(column)`", function.name)))
    };
    Ok(match function.name.as_str() {
        "mean" if positional.len() == 1 => Statistic::Mean(first()?),
        "total" if positional.len() == 1 => Statistic::Total(first()?),
        "proportion" if positional.len() == 1 => Statistic::Proportion(first()?),
        "quantile" if positional.len() == 2 => {
            let p = &positional[1].value;
            Statistic::Quantile(first()?, probabilities(ctx, p)?)
        }
        "quantile" => {
            return Err(usage()
                .with_help("write `quantile(x, 0.5)`, or a list of probabilities: `quantile(x, [0.25, 0.5, 0.75])`"));
        }
        name if STATISTICS.contains(&name) => {
            return Err(usage().with_help(format!("`{name}` takes one column: `{name}(x)`")));
        }
        name => {
            let mut diagnostic = usage().with_label("not a survey statistic");
            let x = positional.first().map_or("x", |a| ctx.text(a.value.span));
            if spel_grammar::did_you_mean(name, ["median"]).is_some() {
                diagnostic =
                    diagnostic.with_help(format!("the median is a quantile: `quantile({x}, 0.5)`"));
            } else if let Some(s) = spel_grammar::did_you_mean(name, STATISTICS.iter().copied()) {
                diagnostic = diagnostic.with_help(format!("did you mean `{s}`?"));
            }
            return Err(diagnostic);
        }
    })
}

/// `quantile`'s probabilities: a number or a list of numbers, each strictly between 0
/// and 1.
fn probabilities(ctx: &VerbCtx, ast: &Ast) -> Result<Vec<f64>, Diagnostic> {
    let values = match crate::eval::expr::evaluate(ast, ctx.env)? {
        Value::List(items) => items,
        other => vec![other],
    };
    values
        .iter()
        .map(|v| match v {
            Value::Number(p) if *p > 0.0 && *p < 1.0 => Ok(*p),
            _ => Err(Diagnostic::new(
                "spel::estimate::probability",
                "a quantile's probability is a number between 0 and 1",
            )
            .at(ast.span)
            .with_help("write `quantile(x, 0.5)` for the median")),
        })
        .collect()
}

/// The column a statistic reads: numbers (a condition as 0/1) for means, totals and
/// quantiles, text for proportions.
fn variable_column(
    ctx: &VerbCtx,
    scope: &crate::eval::expr::Scope,
    statistic: &Statistic,
) -> Result<Expr, Diagnostic> {
    let ast = statistic.variable();
    let (expr, dtype) = scope.checked(ast)?;
    if let Statistic::Proportion(_) = statistic {
        return Ok(expr.cast(DataType::String));
    }
    let numeric = crate::value::is_numeric(&dtype)
        || (dtype == DataType::Boolean && !matches!(statistic, Statistic::Quantile(..)));
    if !numeric {
        let text = ctx.text(ast.span);
        return Err(Diagnostic::new(
            "spel::estimate::not_numeric",
            format!(
                "`{text}` is {}, so it has no mean, total or quantile",
                crate::value::dtype_name(&dtype)
            ),
        )
        .at(ast.span)
        .with_help(format!(
            "for the share of each of its values, write `proportion({text})`"
        )));
    }
    Ok(expr.cast(DataType::Float64))
}

fn text_column(df: &DataFrame, k: usize) -> PolarsResult<Vec<Option<String>>> {
    Ok(df
        .column(&k.to_string())?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// The distinct values among the subpopulation's rows, numbers in numeric order.
fn distinct_in_domain(values: &[Option<String>], in_domain: &[bool]) -> Vec<String> {
    let mut distinct: Vec<String> = values
        .iter()
        .zip(in_domain)
        .filter_map(|(v, &d)| if d { v.clone() } else { None })
        .collect();
    distinct.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    distinct.dedup();
    distinct
}

/// Adds one statistic's rows (each group, each level or probability); returns how many
/// rows of the subpopulation lacked its variable.
#[allow(clippy::too_many_arguments)]
fn add_statistic(
    rows: &mut Rows,
    sample: &Sample,
    statistic: &Statistic,
    k: usize,
    groups: Option<&[Option<String>]>,
    group_levels: &[String],
    level: f64,
    name: &str,
) -> PolarsResult<usize> {
    let in_group = |g: &str, i: usize| groups.is_none_or(|gs| gs[i].as_deref() == Some(g));
    let (numbers, labels) = match statistic {
        Statistic::Proportion(_) => (None, Some(text_column(&sample.columns, k)?)),
        _ => (
            Some(
                sample
                    .columns
                    .column(&k.to_string())?
                    .f64()?
                    .iter()
                    .collect::<Vec<_>>(),
            ),
            None,
        ),
    };
    let present = |i: usize| match (&numbers, &labels) {
        (Some(x), _) => x[i].is_some(),
        (_, Some(l)) => l[i].is_some(),
        _ => false,
    };
    let missing = (0..sample.weights.len())
        .filter(|&i| sample.in_domain[i] && !present(i))
        .count();
    let x: Vec<f64> = numbers
        .as_ref()
        .map(|x| x.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
        .unwrap_or_default();
    let z = estimators::critical_value(level, None);
    for g in group_levels {
        let weights = sample.domain_weights(|i| in_group(g, i) && present(i));
        let mut push = |label: String, level_text: Option<String>, e: Row| {
            rows.statistic.push(label);
            rows.group.push(g.clone());
            rows.level.push(level_text);
            rows.estimate.push(e.estimate);
            rows.std_error.push(e.std_error);
            rows.conf_low.push(e.conf_low);
            rows.conf_high.push(e.conf_high);
            rows.deff.push(e.deff);
            rows.n.push(e.n as i64);
        };
        match statistic {
            Statistic::Mean(_) | Statistic::Total(_) => {
                let e = if matches!(statistic, Statistic::Mean(_)) {
                    estimators::mean(&sample.design, &weights, &x)
                } else {
                    estimators::total(&sample.design, &weights, &x)
                };
                let word = if matches!(statistic, Statistic::Mean(_)) {
                    "mean"
                } else {
                    "total"
                };
                push(format!("{word}({name})"), None, Row::normal(&e, z));
            }
            Statistic::Proportion(_) => {
                let labels = labels.as_ref().expect("proportions read text");
                let in_sample: Vec<bool> = weights.iter().map(|&w| w != 0.0).collect();
                for value in distinct_in_domain(labels, &in_sample) {
                    let indicator: Vec<f64> = labels
                        .iter()
                        .map(|l| f64::from(l.as_deref() == Some(value.as_str())))
                        .collect();
                    let e = estimators::mean(&sample.design, &weights, &indicator);
                    push(
                        format!("proportion({name})"),
                        Some(value),
                        Row::normal(&e, z),
                    );
                }
            }
            Statistic::Quantile(_, ps) => {
                let df = sample.design.degrees_of_freedom(&weights);
                for &p in ps {
                    let q = estimators::quantile(&sample.design, &weights, &x, p, level, Some(df));
                    push(
                        format!("quantile({name}, {})", crate::format::number(p)),
                        None,
                        Row {
                            estimate: q.estimate,
                            std_error: q.std_error,
                            conf_low: q.conf_low,
                            conf_high: q.conf_high,
                            deff: None,
                            n: q.rows,
                        },
                    );
                }
            }
        }
    }
    Ok(missing)
}

struct Row {
    estimate: f64,
    std_error: f64,
    conf_low: f64,
    conf_high: f64,
    deff: Option<f64>,
    n: usize,
}

impl Row {
    fn normal(e: &estimators::Estimate, z: f64) -> Row {
        Row {
            estimate: e.estimate,
            std_error: e.std_error,
            conf_low: e.estimate - z * e.std_error,
            conf_high: e.estimate + z * e.std_error,
            deff: e.design_effect,
            n: e.rows,
        }
    }
}

fn rows_table(rows: Rows, group: Option<&str>) -> PolarsResult<DataFrame> {
    let height = rows.n.len();
    let mut columns = vec![Column::new("statistic".into(), rows.statistic)];
    if let Some(name) = group {
        columns.push(Column::new(name.into(), rows.group));
    }
    if rows.level.iter().any(Option::is_some) {
        columns.push(Column::new("level".into(), rows.level));
    }
    let nan_as_null = |v: Vec<f64>| -> Vec<Option<f64>> {
        v.into_iter().map(|x| x.is_finite().then_some(x)).collect()
    };
    columns.extend([
        Column::new("estimate".into(), nan_as_null(rows.estimate)),
        Column::new("std_error".into(), nan_as_null(rows.std_error)),
        Column::new("conf_low".into(), nan_as_null(rows.conf_low)),
        Column::new("conf_high".into(), nan_as_null(rows.conf_high)),
        Column::new(
            "deff".into(),
            rows.deff
                .into_iter()
                .map(|d| d.filter(|x| x.is_finite()))
                .collect::<Vec<_>>(),
        ),
        Column::new("n".into(), rows.n),
    ]);
    DataFrame::new(height, columns)
}

/// A survey's rows as `model` fits them: the subpopulation's, each with its weight and
/// its PSU's number in the design (`.spel_weight`, `.spel_psu`), named by expressions the
/// model's design reads like the user's own columns.
pub(crate) struct SurveyRows {
    pub table: LazyFrame,
    pub design: Arc<estimators::Design>,
    pub weights: Ast,
    pub psu: Ast,
}

const WEIGHT_COLUMN: &str = ".spel_weight";
const PSU_COLUMN: &str = ".spel_psu";

pub(crate) fn model_rows(ctx: &VerbCtx, survey: &Survey) -> Result<SurveyRows, Diagnostic> {
    let call = ctx.call.span;
    for option in ["weights", "freq", "cluster", "se"] {
        if let Some(arg) = ctx.option(option) {
            return Err(Diagnostic::new(
                "spel::survey::model_option",
                format!("a model on a survey takes no `{option}`"),
            )
            .at(arg.span)
            .with_help("the survey's design gives the weights, the PSUs and the variance (linearised, as R's svyglm); drop the option"));
        }
    }
    if let Some(clause) = ctx.clause(Connective::By) {
        return Err(Diagnostic::new(
            "spel::survey::model_by",
            "`model ... by` is not taken on a survey",
        )
        .at(clause.connective_span)
        .with_help("fit each group as a subpopulation: `s |> filter group == \"a\" |> model ...`, or add the group to the formula"));
    }
    let spans = DesignSpans::all(call);
    let sample = crate::survey::read(survey, Vec::new(), spans, ctx.env.work())?;
    let fail = |e: PolarsError| polars_error(e).at(call);
    let mut rows = ctx
        .env
        .work()
        .collect(survey.table.clone(), "survey rows", call)?;
    let psu: Vec<String> = sample
        .design
        .row_psus()
        .iter()
        .map(|j| j.to_string())
        .collect();
    rows.with_column(Column::new(WEIGHT_COLUMN.into(), sample.weights))
        .map_err(fail)?;
    rows.with_column(Column::new(PSU_COLUMN.into(), psu))
        .map_err(fail)?;
    rows.with_column(Column::new(".spel_domain".into(), sample.in_domain))
        .map_err(fail)?;
    let table = rows
        .lazy()
        .filter(col(".spel_domain"))
        .drop(cols([".spel_domain"]));
    let name = |column: &str| Ast {
        kind: ExprKind::Ident(column.to_string()),
        span: call,
    };
    Ok(SurveyRows {
        table,
        design: Arc::new(sample.design),
        weights: name(WEIGHT_COLUMN),
        psu: name(PSU_COLUMN),
    })
}
