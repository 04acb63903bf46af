//! `synth`: a synthetic control for one treated unit of a panel (the estimator:
//! `spel_stats::designs::synth`), with placebo-in-space inference.

use std::collections::BTreeMap;

use polars::prelude::*;
use rayon::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::{Expr as Ast, ExprKind};
use spel_grammar::did_you_mean;
use spel_stats::designs::synth::{self, SynthError, Synthetic, Unit};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::format;
use crate::value::{Report, Value};

crate::choice! {
    /// What `synth` gives.
    enum SynthShow {
        Summary = "summary",
        Weights = "weights",
        Paths = "paths",
        Balance = "balance",
        Placebos = "placebos",
    }
}

pub const VERB: Verb = Verb {
    name: "synth",
    signature: "synth OUTCOME, unit = U, time = T, treated = \"UNIT\", start = PERIOD [, predictors = [x, mean(x, FROM, TO), ...]] [, placebo = true] [, show = weights | paths | balance | placebos]",
    summary: "Synthetic control: a weighted average of untreated units that tracks the treated one before treatment.",
    description: "Finds donor weights (non-negative, summing to 1) so that the weighted \
                  donors match the treated unit's predictors, the predictors' own weights \
                  chosen to fit its outcome before `start` (Abadie, Diamond and Hainmueller's \
                  nested problem, as R's Synth: predictors scaled by their standard deviation \
                  across units, Nelder–Mead from Synth's equal and regression starts, here \
                  restarted until it stops improving, with an exact inner solution). A \
                  predictor is a column (its mean over the periods before `start`, missing \
                  values skipped) or `mean(x, FROM, TO)` (over those periods; `mean(x, T)` \
                  for one). Without predictors the outcome in every period before `start` \
                  is fitted directly. `placebo = true` refits with each donor as the treated \
                  unit (the others its donors) and ranks the ratio of post- to pre-treatment \
                  mean squared gaps. `show = weights` lists every donor, `paths` the treated \
                  and synthetic outcome and their gap by period, `balance` the predictors, \
                  `placebos` every unit's ratio.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "unit",
            values: "a column",
            kind: OptionKind::Column,
            summary: "The panel's units (states, ICBs).",
        },
        OptionSpec {
            name: "time",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "The period.",
        },
        OptionSpec {
            name: "treated",
            values: "a unit",
            kind: OptionKind::Value,
            summary: "The treated unit, as it appears in the unit column.",
        },
        OptionSpec {
            name: "start",
            values: "a period",
            kind: OptionKind::Number {
                min: f64::NEG_INFINITY,
                max: f64::INFINITY,
            },
            summary: "The first treated period.",
        },
        OptionSpec {
            name: "predictors",
            values: "[x, mean(x, FROM, TO), ...]",
            kind: OptionKind::Value,
            summary: "What the donors must match: columns (means before start) or `mean(x, FROM, TO)`.",
        },
        OptionSpec {
            name: "placebo",
            values: "true or false",
            kind: OptionKind::Bool,
            summary: "Placebo-in-space inference: each donor treated in turn (default false).",
        },
        OptionSpec {
            name: "show",
            values: "summary, weights, paths, balance or placebos",
            kind: OptionKind::Word(SynthShow::WORDS),
            summary: "The weights with the fit (default), every donor, the paths, the predictors, or the placebos.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[
        Example {
            summary: "California's cigarette sales before its tobacco control programme (Proposition 99, 1989), fitted directly",
            code: "read \"examples/data/smoking.csv\"\n  |> synth cigsale, unit = state, time = year, treated = \"California\", start = 1989",
            output: r#"Synthetic control: cigsale in California from 38 donors; fitted over 1970 to 1988 (19 periods), 12 periods after
shape: (6, 2)
┌───────────────┬─────────┐
│ unit          ┆ weight  │
│ ---           ┆ ---     │
│ str           ┆ f64     │
╞═══════════════╪═════════╡
│ Utah          ┆  0.3939 │
│ Montana       ┆  0.2318 │
│ Nevada        ┆  0.2049 │
│ Connecticut   ┆  0.1091 │
│ New Hampshire ┆ 0.04543 │
│ Colorado      ┆ 0.01481 │
└───────────────┴─────────┘
Note: Root mean squared gap before start 1.6564 (the fit), after 20.6056; mean gap after start -19.5136, in the last period -26.5966.
Note: 32 donors with a weight below 0.001 not shown (`show = weights` lists every donor).
Note: No predictors: the weights fit the outcome in every period before start directly (least squares on the simplex)"#,
        },
        Example {
            summary: "California's tobacco control programme (Proposition 99, 1989), as Abadie, Diamond and Hainmueller (2010)",
            code: "read \"examples/data/smoking.csv\"\n  |> synth cigsale, unit = state, time = year, treated = \"California\", start = 1989,\n       predictors = [mean(lnincome, 1980, 1988), mean(retprice, 1980, 1988), mean(age15to24, 1980, 1988),\n                     mean(beer, 1984, 1988), mean(cigsale, 1975), mean(cigsale, 1980), mean(cigsale, 1988)]",
            output: r#"Synthetic control: cigsale in California from 38 donors; fitted over 1970 to 1988 (19 periods), 12 periods after
shape: (5, 2)
┌─────────────┬────────┐
│ unit        ┆ weight │
│ ---         ┆ ---    │
│ str         ┆ f64    │
╞═════════════╪════════╡
│ Utah        ┆ 0.3351 │
│ Nevada      ┆ 0.2356 │
│ Montana     ┆ 0.2019 │
│ Colorado    ┆ 0.1595 │
│ Connecticut ┆ 0.0679 │
└─────────────┴────────┘
Note: Root mean squared gap before start 1.75405 (the fit), after 19.9254; mean gap after start -18.9816, in the last period -25.7326.
Note: 33 donors with a weight below 0.001 not shown (`show = weights` lists every donor).
Note: Predictors scaled by their standard deviation across units (n − 1), as R's Synth; their weights V chosen to fit the outcome before start, by Nelder–Mead from Synth's equal and regression starts (and, with up to three predictors, the best near-corner), restarted until it stops improving; donor weights solved exactly for each V, ties between equally matching weightings broken by the outcome fit
Note: The choice of V has many local optima: compare fits by the gap before start, not by V"#,
        },
    ],
    run: synth_verb,
};

/// One predictor: a column averaged over a window of periods.
struct Predictor {
    label: String,
    column: usize,
    from: f64,
    to: f64,
    span: spel_grammar::Span,
}

/// The panel: each unit's row index for each period.
struct Panel {
    units: Vec<String>,
    times: Vec<f64>,
    /// columns[c][row]: the outcome first, then the predictors' columns.
    columns: Vec<Vec<f64>>,
    /// rows[u][t]: the row of unit u in period t.
    rows: Vec<Vec<usize>>,
}

fn synth_verb(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let outcome = super::leading_column(
        ctx,
        "`synth` takes the outcome column first, as `synth cigsale, unit = state, time = year, treated = \"California\", start = 1989`",
    )?;
    let required = |name: &str, what: &str| -> Result<&Ast, Diagnostic> {
        ctx.option(name)
            .and_then(|a| a.as_expr())
            .ok_or_else(|| ctx.usage_error(format!("`synth` needs `{name} = ...`, {what}")))
    };
    let unit = required("unit", "the column naming each unit")?;
    let time = required("time", "the period column")?;
    let treated_ast = required("treated", "the treated unit")?;
    let (start, start_span) = ctx
        .number("start")?
        .ok_or_else(|| ctx.usage_error("`synth` needs `start = ...`, the first treated period"))?;
    let treated_label = match ctx.option_value("treated")? {
        Some((Value::Str(s), _)) => s,
        Some((Value::Number(x), _)) => format::number(x),
        _ => {
            return Err(Diagnostic::new(
                "spel::synth::treated",
                "`treated` names a unit: a text or a number",
            )
            .at(treated_ast.span));
        }
    };
    let show = ctx
        .choice::<SynthShow>("show")?
        .unwrap_or(SynthShow::Summary);
    let placebo = ctx.flag("placebo")?.unwrap_or(false) || show == SynthShow::Placebos;

    let lf = ctx.table()?;
    let (predictor_asts, columns) = predictor_columns(ctx)?;
    let panel = read_panel(ctx, lf, outcome, unit, time, &columns)?;
    let treated = panel
        .units
        .iter()
        .position(|u| *u == treated_label)
        .ok_or_else(|| unknown_unit(&panel, &treated_label, treated_ast))?;
    let first = panel.times.iter().position(|t| *t >= start);
    let fit_periods = match first {
        Some(k) if k >= 1 => k,
        _ => {
            return Err(Diagnostic::new(
                "spel::synth::start",
                format!(
                    "`start = {}` leaves no period {} it: the data run from {} to {}",
                    format::number(start),
                    if first.is_none() { "from" } else { "before" },
                    format::number(panel.times[0]),
                    format::number(*panel.times.last().unwrap_or(&start))
                ),
            )
            .at(start_span)
            .with_help("`start` is the first treated period: some periods must come before it and it must be in the data"));
        }
    };
    let predictors =
        resolve_predictors(ctx, &predictor_asts, &panel, panel.times[fit_periods - 1])?;
    let units = unit_data(&panel, &predictors, fit_periods)?;
    let donors: Vec<usize> = (0..units.len()).filter(|u| *u != treated).collect();
    let fit = fit_unit(ctx, &units, treated, &donors)?;
    let placebos = if placebo {
        Some(placebo_table(&units, treated, &donors, &fit, fit_periods))
    } else {
        None
    };
    let context = Context {
        panel: &panel,
        treated,
        donors: &donors,
        fit: &fit,
        fit_periods,
        predictors: &predictors,
        units: &units,
        outcome: ctx.text(outcome.span),
    };
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let table = match show {
        SynthShow::Summary => context.weights_table(true),
        SynthShow::Weights => context.weights_table(false),
        SynthShow::Paths => context.paths_table(),
        SynthShow::Balance => context.balance_table(),
        SynthShow::Placebos => {
            placebos_frame(placebos.as_ref().expect("placebos were run"), &panel)
        }
    }
    .map_err(fail)?;
    if show != SynthShow::Summary {
        return Ok(Value::Table(table.lazy()));
    }
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: context.title(),
        table,
        notes: context.notes(placebos.as_ref()),
        conventions: conventions(predictors.is_empty()),
    })))
}

/// The predictors as written, and the distinct columns they read (by expression text).
#[allow(clippy::type_complexity)]
fn predictor_columns<'a>(
    ctx: &VerbCtx<'a>,
) -> Result<(Vec<(&'a Ast, &'a Ast, Vec<&'a Ast>)>, Vec<&'a Ast>), Diagnostic> {
    let items: Vec<&Ast> = match ctx.option("predictors").and_then(|a| a.as_expr()) {
        Some(Ast {
            kind: ExprKind::List(items),
            ..
        }) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let mut predictors = Vec::new();
    let mut columns: Vec<&Ast> = Vec::new();
    for item in items {
        let (column, window) = match &item.kind {
            ExprKind::Call { function, args } if function.name == "mean" => {
                let values: Vec<&Ast> = args.iter().map(|a| &a.value).collect();
                match values.as_slice() {
                    [column, window @ ..] if (1..=2).contains(&window.len()) => {
                        (*column, window.to_vec())
                    }
                    _ => return Err(bad_predictor(ctx, item)),
                }
            }
            ExprKind::Call { .. } => return Err(bad_predictor(ctx, item)),
            _ => (item, Vec::new()),
        };
        if !columns
            .iter()
            .any(|c| ctx.text(c.span) == ctx.text(column.span))
        {
            columns.push(column);
        }
        predictors.push((item, column, window));
    }
    Ok((predictors, columns))
}

fn bad_predictor(ctx: &VerbCtx, item: &Ast) -> Diagnostic {
    Diagnostic::new(
        "spel::synth::predictor",
        format!("`{}` is not a predictor", ctx.text(item.span)),
    )
    .at(item.span)
    .with_help("a predictor is a column (its mean before `start`), `mean(x, FROM, TO)` or `mean(x, PERIOD)`")
}

fn read_panel(
    ctx: &VerbCtx,
    lf: LazyFrame,
    outcome: &Ast,
    unit: &Ast,
    time: &Ast,
    predictor_columns: &[&Ast],
) -> Result<Panel, Diagnostic> {
    let scope = ctx.scope(&lf)?;
    let (time_expr, time_type) = scope.checked(time)?;
    if !crate::value::is_numeric(&time_type) {
        return Err(Diagnostic::new(
            "spel::synth::time",
            format!(
                "the period `{}` must be a number; it is {}",
                ctx.text(time.span),
                crate::value::dtype_name(&time_type)
            ),
        )
        .at(time.span)
        .with_help("give the period as a number: a year, or a count of months"));
    }
    let mut selected = vec![
        scope.checked(unit)?.0.cast(DataType::String).alias("unit"),
        time_expr.cast(DataType::Float64).alias("time"),
    ];
    for (i, ast) in std::iter::once(outcome)
        .chain(predictor_columns.iter().copied())
        .enumerate()
    {
        let (expr, dtype) = scope.checked(ast)?;
        if !crate::value::is_numeric(&dtype) {
            return Err(Diagnostic::new(
                "spel::synth::not_numeric",
                format!(
                    "`{}` must be a number; it is {}",
                    ctx.text(ast.span),
                    crate::value::dtype_name(&dtype)
                ),
            )
            .at(ast.span));
        }
        selected.push(expr.cast(DataType::Float64).alias(format!("c{i}")));
    }
    let df = ctx
        .env
        .work()
        .collect(lf.select(selected), "reading the panel", ctx.call.span)?;
    let labels = super::strings(ctx, &df, "unit")?;
    let times = super::floats(ctx, &df, "time")?;
    let columns: Vec<Vec<f64>> = (0..=predictor_columns.len())
        .map(|i| super::floats(ctx, &df, &format!("c{i}")))
        .collect::<Result<_, _>>()?;
    if let Some(i) = times.iter().position(|t| t.is_nan()) {
        return Err(Diagnostic::new(
            "spel::synth::time",
            format!("the period is missing in a row of `{}`", labels[i]),
        )
        .at(time.span));
    }
    let mut period_set: Vec<f64> = times.clone();
    period_set.sort_by(f64::total_cmp);
    period_set.dedup();
    let mut by_unit: BTreeMap<String, Vec<Option<usize>>> = BTreeMap::new();
    for (row, (label, t)) in labels.iter().zip(&times).enumerate() {
        let k = period_set.partition_point(|p| p < t);
        let slots = by_unit
            .entry(label.clone())
            .or_insert_with(|| vec![None; period_set.len()]);
        if slots[k].replace(row).is_some() {
            return Err(Diagnostic::new(
                "spel::synth::duplicate",
                format!("`{label}` has two rows for period {}", format::number(*t)),
            )
            .at(time.span)
            .with_help("a panel has one row per unit and period: summarise first"));
        }
    }
    let mut units = Vec::new();
    let mut rows = Vec::new();
    for (label, slots) in by_unit {
        let mut unit_rows = Vec::with_capacity(slots.len());
        for (k, slot) in slots.iter().enumerate() {
            match slot {
                Some(row) if !columns[0][*row].is_nan() => unit_rows.push(*row),
                _ => {
                    return Err(Diagnostic::new(
                        "spel::synth::unbalanced",
                        format!(
                            "`{label}` has no {} in period {}: a synthetic control needs the outcome of every unit in every period",
                            ctx.text(outcome.span),
                            format::number(period_set[k])
                        ),
                    )
                    .at(outcome.span)
                    .with_help("drop that unit, or the periods some units lack, with `filter`"));
                }
            }
        }
        units.push(label);
        rows.push(unit_rows);
    }
    Ok(Panel {
        units,
        times: period_set,
        columns,
        rows,
    })
}

fn unknown_unit(panel: &Panel, label: &str, at: &Ast) -> Diagnostic {
    let mut d = Diagnostic::new(
        "spel::synth::treated",
        format!("`{label}` is not a unit of the panel"),
    )
    .at(at.span);
    if let Some(near) = did_you_mean(label, panel.units.iter().map(String::as_str)) {
        d = d.with_help(format!("did you mean \"{near}\"?"));
    }
    d
}

fn resolve_predictors(
    ctx: &VerbCtx,
    asts: &[(&Ast, &Ast, Vec<&Ast>)],
    panel: &Panel,
    last_before_start: f64,
) -> Result<Vec<Predictor>, Diagnostic> {
    let mut distinct: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (item, column, window) in asts {
        let name = ctx.text(column.span);
        if !distinct.contains(&name) {
            distinct.push(name);
        }
        let column = 1 + distinct.iter().position(|n| *n == name).unwrap_or(0);
        let bound = |ast: &Ast| -> Result<f64, Diagnostic> {
            match crate::eval::expr::evaluate(ast, ctx.env)? {
                Value::Number(x) => Ok(x),
                _ => Err(Diagnostic::new(
                    "spel::synth::predictor",
                    format!("`{}` is not a period", ctx.text(ast.span)),
                )
                .at(ast.span)
                .with_help("periods are numbers, as the time column's: `mean(beer, 1984, 1988)`")),
            }
        };
        let (from, to) = match window.as_slice() {
            [] => (f64::NEG_INFINITY, last_before_start),
            [one] => {
                let t = bound(one)?;
                (t, t)
            }
            [a, b, ..] => (bound(a)?, bound(b)?),
        };
        if !panel.times.iter().any(|t| *t >= from && *t <= to) {
            return Err(Diagnostic::new(
                "spel::synth::predictor",
                format!("`{}` covers no period of the data", ctx.text(item.span)),
            )
            .at(item.span)
            .with_help(format!(
                "the periods run from {} to {}",
                format::number(panel.times[0]),
                format::number(*panel.times.last().unwrap_or(&0.0))
            )));
        }
        out.push(Predictor {
            label: ctx.text(item.span).to_string(),
            column,
            from,
            to,
            span: item.span,
        });
    }
    Ok(out)
}

fn unit_data(
    panel: &Panel,
    predictors: &[Predictor],
    fit_periods: usize,
) -> Result<Vec<Unit>, Diagnostic> {
    let mut units = Vec::with_capacity(panel.units.len());
    for (u, rows) in panel.rows.iter().enumerate() {
        let outcome: Vec<f64> = rows.iter().map(|r| panel.columns[0][*r]).collect();
        let mut values = Vec::with_capacity(predictors.len());
        for p in predictors {
            let window: Vec<f64> = panel
                .times
                .iter()
                .zip(rows)
                .filter(|(t, _)| **t >= p.from && **t <= p.to)
                .map(|(_, r)| panel.columns[p.column][*r])
                .filter(|v| !v.is_nan())
                .collect();
            if window.is_empty() {
                return Err(Diagnostic::new(
                    "spel::synth::predictor_missing",
                    format!(
                        "`{}` has no value for `{}` in its periods",
                        p.label, panel.units[u]
                    ),
                )
                .at(p.span)
                .with_help(
                    "choose periods where every unit has the value, or drop the predictor",
                ));
            }
            values.push(window.iter().sum::<f64>() / window.len() as f64);
        }
        units.push(Unit {
            predictors: values,
            fit_outcome: outcome[..fit_periods].to_vec(),
            outcome,
        });
    }
    Ok(units)
}

fn fit_unit(
    ctx: &VerbCtx,
    units: &[Unit],
    treated: usize,
    donors: &[usize],
) -> Result<Synthetic, Diagnostic> {
    let pool: Vec<Unit> = donors.iter().map(|d| units[*d].clone()).collect();
    synth::fit(&units[treated], &pool).map_err(|e| match e {
        SynthError::TooFewDonors => Diagnostic::new(
            "spel::synth::donors",
            "a synthetic control needs at least two untreated units",
        )
        .at(ctx.call.span),
        SynthError::ConstantPredictor(p) => Diagnostic::new(
            "spel::synth::constant_predictor",
            "a predictor has the same value for every unit: it cannot tell donors apart",
        )
        .at(ctx.option("predictors").map_or(ctx.call.span, |a| a.span))
        .with_help(format!("drop predictor {} of the list", p + 1)),
    })
}

/// A unit's placebo result: mean squared gaps before and after start, and their ratio.
struct Placebo {
    unit: usize,
    pre: f64,
    post: f64,
}

impl Placebo {
    fn ratio(&self) -> f64 {
        self.post / self.pre
    }
}

fn gaps(unit: &Unit, fit: &Synthetic, fit_periods: usize) -> (f64, f64) {
    let squared: Vec<f64> = unit
        .outcome
        .iter()
        .zip(&fit.synthetic)
        .map(|(y, s)| (y - s).powi(2))
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    (mean(&squared[..fit_periods]), mean(&squared[fit_periods..]))
}

/// Every unit treated in turn, the other donors its pool (the treated unit left out),
/// sorted by the ratio, largest first.
fn placebo_table(
    units: &[Unit],
    treated: usize,
    donors: &[usize],
    fit: &Synthetic,
    fit_periods: usize,
) -> Vec<Placebo> {
    let mut results: Vec<Placebo> = donors
        .par_iter()
        .filter_map(|&u| {
            let pool: Vec<Unit> = donors
                .iter()
                .filter(|d| **d != u)
                .map(|d| units[*d].clone())
                .collect();
            let fit = synth::fit(&units[u], &pool).ok()?;
            let (pre, post) = gaps(&units[u], &fit, fit_periods);
            Some(Placebo { unit: u, pre, post })
        })
        .collect();
    let (pre, post) = gaps(&units[treated], fit, fit_periods);
    results.push(Placebo {
        unit: treated,
        pre,
        post,
    });
    results.sort_by(|a, b| b.ratio().total_cmp(&a.ratio()));
    results
}

fn placebos_frame(placebos: &[Placebo], panel: &Panel) -> PolarsResult<DataFrame> {
    df!(
        "unit" => placebos.iter().map(|p| panel.units[p.unit].clone()).collect::<Vec<_>>(),
        "pre_mspe" => placebos.iter().map(|p| p.pre).collect::<Vec<_>>(),
        "post_mspe" => placebos.iter().map(|p| p.post).collect::<Vec<_>>(),
        "ratio" => placebos.iter().map(Placebo::ratio).collect::<Vec<_>>(),
        "rank" => (1..=placebos.len() as i64).collect::<Vec<_>>(),
    )
}

struct Context<'a> {
    panel: &'a Panel,
    treated: usize,
    donors: &'a [usize],
    fit: &'a Synthetic,
    fit_periods: usize,
    predictors: &'a [Predictor],
    units: &'a [Unit],
    outcome: &'a str,
}

impl Context<'_> {
    fn weights_table(&self, only_used: bool) -> PolarsResult<DataFrame> {
        let mut rows: Vec<(String, f64)> = self
            .donors
            .iter()
            .zip(&self.fit.weights)
            .filter(|(_, w)| !only_used || **w >= 0.001)
            .map(|(d, w)| (self.panel.units[*d].clone(), *w))
            .collect();
        if only_used {
            rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        }
        df!(
            "unit" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            "weight" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )
    }

    fn paths_table(&self) -> PolarsResult<DataFrame> {
        let actual = &self.units[self.treated].outcome;
        df!(
            "time" => self.panel.times.clone(),
            "treated" => actual.clone(),
            "synthetic" => self.fit.synthetic.clone(),
            "gap" => actual.iter().zip(&self.fit.synthetic).map(|(y, s)| y - s).collect::<Vec<_>>(),
        )
    }

    fn balance_table(&self) -> PolarsResult<DataFrame> {
        let k = self.predictors.len();
        let value = |u: usize, p: usize| self.units[u].predictors[p];
        let synthetic: Vec<f64> = (0..k)
            .map(|p| {
                self.donors
                    .iter()
                    .zip(&self.fit.weights)
                    .map(|(d, w)| w * value(*d, p))
                    .sum()
            })
            .collect();
        let donor_mean: Vec<f64> = (0..k)
            .map(|p| {
                self.donors.iter().map(|d| value(*d, p)).sum::<f64>() / self.donors.len() as f64
            })
            .collect();
        df!(
            "predictor" => self.predictors.iter().map(|p| p.label.clone()).collect::<Vec<_>>(),
            "treated" => (0..k).map(|p| value(self.treated, p)).collect::<Vec<_>>(),
            "synthetic" => synthetic,
            "donor_mean" => donor_mean,
            "v" => self.fit.predictor_weights.clone().unwrap_or_default(),
        )
    }

    fn title(&self) -> String {
        let times = &self.panel.times;
        format!(
            "Synthetic control: {} in {} from {} donors; fitted over {} to {} ({} periods), {} after",
            self.outcome,
            self.panel.units[self.treated],
            self.donors.len(),
            format::number(times[0]),
            format::number(times[self.fit_periods - 1]),
            self.fit_periods,
            format::plural(times.len() - self.fit_periods, "period"),
        )
    }

    fn notes(&self, placebos: Option<&Vec<Placebo>>) -> Vec<String> {
        let (pre, post) = gaps(&self.units[self.treated], self.fit, self.fit_periods);
        let actual = &self.units[self.treated].outcome;
        let after: Vec<f64> = actual[self.fit_periods..]
            .iter()
            .zip(&self.fit.synthetic[self.fit_periods..])
            .map(|(y, s)| y - s)
            .collect();
        let mut notes = vec![format!(
            "Root mean squared gap before start {} (the fit), after {}; mean gap after start {}, in the last period {}.",
            format::number(pre.sqrt()),
            format::number(post.sqrt()),
            format::number(after.iter().sum::<f64>() / after.len() as f64),
            format::number(*after.last().unwrap_or(&f64::NAN)),
        )];
        let hidden = self.fit.weights.iter().filter(|w| **w < 0.001).count();
        if hidden > 0 {
            notes.push(format!(
                "{} with a weight below 0.001 not shown (`show = weights` lists every donor).",
                format::plural(hidden, "donor")
            ));
        }
        if let Some(placebos) = placebos {
            let rank = placebos
                .iter()
                .position(|p| p.unit == self.treated)
                .unwrap_or(0)
                + 1;
            let ratio = placebos[rank - 1].ratio();
            let at_least = placebos.iter().filter(|p| p.ratio() >= ratio).count();
            notes.push(format!(
                "Placebo in space: {}'s ratio of mean squared gaps after to before start is {}, rank {} of {}; p = {} (units with a ratio at least as large, over all units). {}",
                self.panel.units[self.treated],
                format::number(ratio),
                rank,
                placebos.len(),
                format::number(at_least as f64 / placebos.len() as f64),
                if placebos.len() < self.donors.len() + 1 {
                    format!("{} placebo fits failed and are left out.", self.donors.len() + 1 - placebos.len())
                } else {
                    String::new()
                },
            ).trim_end().to_string());
        }
        notes
    }
}

fn conventions(outcome_only: bool) -> Vec<String> {
    if outcome_only {
        vec!["No predictors: the weights fit the outcome in every period before start directly (least squares on the simplex)".to_string()]
    } else {
        vec![
            "Predictors scaled by their standard deviation across units (n − 1), as R's Synth; their weights V chosen to fit the outcome before start, by Nelder–Mead from Synth's equal and regression starts (and, with up to three predictors, the best near-corner), restarted until it stops improving; donor weights solved exactly for each V, ties between equally matching weightings broken by the outcome fit".to_string(),
            "The choice of V has many local optima: compare fits by the gap before start, not by V".to_string(),
        ]
    }
}
