//! `its`: interrupted time series (segmented regression) with Newey–West standard errors.

use polars::prelude::*;
use spel_grammar::ast::Expr as Ast;
use spel_grammar::{Diagnostic, Span};

use super::super::{Choice, Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use super::complete_pairs;
use crate::errors::polars_error;
use crate::eval::expr::Scope;
use spel_stats::{least_squares, vcov};

use crate::value::Value;

crate::choice! {
    /// What `its` shows.
    enum ItsShow { Estimates = "estimates", Fitted = "fitted", Autocorrelation = "autocorrelation" }
}

pub const VERB: Verb = Verb {
    name: "its",
    signature: "its OUTCOME ~ TIME, break = VALUE [, seasonal = SEASON] [, lags = K] [, level = 0.95]",
    summary: "Interrupted time series: level and slope change at a break, Newey–West SEs.",
    description: "Segmented regression OUTCOME = b0 + b1·TIME + b2·after + b3·(TIME − break)·after, \
                  with `after` true from the break period on (time since the break is 0 in the \
                  break period). Standard errors are Newey–West (Bartlett kernel, K lags, default \
                  floor(4·(n/100)^(2/9))) with no small-sample factor and z-based intervals, as \
                  statsmodels' OLS with `cov_type = \"HAC\"`. The rows are one series: one row a \
                  period, evenly spaced (consecutive numbers, days, weeks, months, quarters or \
                  years); a period given twice (several areas stacked) or a gap is an error, since \
                  Newey–West reads neighbouring rows as neighbouring periods.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "break",
            values: "a value of TIME (a number or a date)",
            kind: OptionKind::Value,
            summary: "The first period after the change.",
        },
        OptionSpec {
            name: "seasonal",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Season (month, quarter) as dummies against its first level.",
        },
        OptionSpec {
            name: "show",
            values: "estimates, fitted or autocorrelation",
            kind: OptionKind::Word(ItsShow::WORDS),
            summary: "The estimates (default); each period's fitted value, residual and counterfactual with its interval; or the residuals' autocorrelation with Ljung–Box tests.",
        },
        OptionSpec {
            name: "lags",
            values: "a whole number",
            kind: OptionKind::Whole { min: 0.0, max: 1e6 },
            summary: "Newey–West lags.",
        },
        OptionSpec::new(
            "level",
            OptionKind::PROBABILITY,
            "a probability",
            "Confidence level (default 0.95).",
        ),
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Referrals before and after a service began",
        code: "table month = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], referrals = [20, 22, 21, 24, 25, 18, 19, 20, 21, 23]\n  |> its referrals ~ month, break = 6, lags = 1",
        output: r#"shape: (4, 7)
┌──────────────┬────────────┬───────────┬────────────┬─────────┬──────────┬───────────┐
│ term         ┆ estimate   ┆ std_error ┆ statistic  ┆ p_value ┆ conf_low ┆ conf_high │
│ ---          ┆ ---        ┆ ---       ┆ ---        ┆ ---     ┆ ---      ┆ ---       │
│ str          ┆ f64        ┆ f64       ┆ f64        ┆ f64     ┆ f64      ┆ f64       │
╞══════════════╪════════════╪═══════════╪════════════╪═════════╪══════════╪═══════════╡
│ (Intercept)  ┆       18.8 ┆    0.3857 ┆      48.74 ┆  <0.001 ┆    18.04 ┆     19.56 │
│ month        ┆        1.2 ┆    0.1058 ┆      11.34 ┆  <0.001 ┆   0.9926 ┆     1.407 │
│ level_change ┆       -8.2 ┆    0.3899 ┆     -21.03 ┆  <0.001 ┆   -8.964 ┆    -7.436 │
│ slope_change ┆ -1.907e-14 ┆    0.1386 ┆ -1.376e-13 ┆   1.000 ┆  -0.2716 ┆    0.2716 │
└──────────────┴────────────┴───────────┴────────────┴─────────┴──────────┴───────────┘"#,
    }],
    run: its,
};

// The Newey–West sums index a 4×4 matrix by row and column.
fn its(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let request = its_request(ctx, &scope)?;
    let season_ast = ctx.option("seasonal").and_then(|a| a.as_expr());
    let series = Series::read(ctx, lf, &scope, &request, season_ast)?;
    let n = series.ys.len();
    check_periods(&series.ts, request.time_type == DataType::Date, &request)?;
    check_break(&series.ts, request.brk, request.brk_span)?;
    let (columns, names) = segments(ctx, &request, &series, season_ast);
    let Some(fit) = least_squares::fit(&columns, &series.ys, &vec![1.0; n]) else {
        return Err(Diagnostic::new(
            "spel::its::singular",
            "the time series cannot be fitted (too few distinct periods on a side of the break)",
        )
        .at(ctx.call.span));
    };
    let variance = newey_west(ctx, &columns, &fit)?;
    let level = ctx.number("level")?.map_or(0.95, |(x, _)| x);
    match ctx.choice::<ItsShow>("show")? {
        Some(ItsShow::Fitted) => {
            fitted_table(ctx, &request, &series, &columns, &fit, &variance, level)
        }
        Some(ItsShow::Autocorrelation) => autocorrelation_table(ctx, &fit.residuals),
        _ => estimates(ctx, &names, &fit, &variance, level),
    }
}

/// The Newey–West variance of the estimates: Bartlett-weighted autocovariances of the
/// scores x_t e_t over `lags` (default floor(4·(n/100)^(2/9))), no small-sample factor.
fn newey_west(
    ctx: &VerbCtx,
    columns: &[Vec<f64>],
    fit: &least_squares::LeastSquares,
) -> Result<faer::Mat<f64>, Diagnostic> {
    let n = fit.residuals.len();
    let lags = match ctx.number("lags")? {
        Some((k, _)) => k as usize,
        None => (4.0 * (n as f64 / 100.0).powf(2.0 / 9.0)).floor() as usize,
    };
    let meat = vcov::newey_west_meat(columns, &fit.residuals, lags);
    Ok(vcov::sandwich(&fit.bread, &meat, 1.0))
}

/// The statement: the outcome, the time and the break.
struct ItsRequest {
    y: Expr,
    /// The time as a number (a date's days since 1970).
    time: Expr,
    time_name: String,
    time_type: DataType,
    outcome_span: Span,
    /// The first period after the change, as a number.
    brk: f64,
    brk_span: Span,
}

/// Each period's outcome and time, in time order, and its season (empty without one).
struct Series {
    ys: Vec<f64>,
    ts: Vec<f64>,
    seasons: Vec<String>,
}

fn its_request(ctx: &VerbCtx, scope: &Scope) -> Result<ItsRequest, Diagnostic> {
    let args = ctx.args();
    let formula = args
        .iter()
        .find_map(|a| super::super::formula_of(a))
        .ok_or_else(|| {
            ctx.usage_error("`its` takes a formula, as `its referrals ~ month, break = 7`")
        })?;
    let time_ast = super::single_term(ctx, formula, "time")?;
    let time_name = ctx.text(time_ast.span).to_string();
    let (y, _) = scope.checked(&formula.lhs)?;
    let (time, time_type) = scope.checked(time_ast)?;
    let Some((brk, brk_span)) = ctx.option_value("break")? else {
        return Err(ctx.usage_error("`its` needs `break = ...`, the first period after the change"));
    };
    let brk = match brk {
        Value::Number(x) => x,
        Value::Date(d) => f64::from(
            (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32,
        ),
        _ => {
            return Err(
                Diagnostic::new("spel::its::break", "`break` is a number or a date").at(brk_span),
            );
        }
    };
    let time = if time_type == DataType::Date {
        time.cast(DataType::Int32)
    } else {
        time
    };
    Ok(ItsRequest {
        y,
        time,
        time_name,
        time_type,
        outcome_span: formula.lhs.span,
        brk,
        brk_span,
    })
}

impl Series {
    /// The complete periods, in time order.
    fn read(
        ctx: &VerbCtx,
        lf: LazyFrame,
        scope: &Scope,
        request: &ItsRequest,
        season_ast: Option<&Ast>,
    ) -> Result<Series, Diagnostic> {
        let (y, time) = (request.y.clone(), request.time.clone());
        let Some(ast) = season_ast else {
            let (ys, ts) = complete_pairs(ctx, lf, y, time, true, "fitting the time series")?;
            let none = vec![String::new(); ys.len()];
            return Ok(Series {
                ys,
                ts,
                seasons: none,
            });
        };
        let (season, _) = scope.checked(ast)?;
        let df = ctx.env.work().collect(
            lf.select([
                y.cast(DataType::Float64).alias("y"),
                time.cast(DataType::Float64).alias("t"),
                season.cast(DataType::String).alias("s"),
            ])
            .drop_nulls(None)
            .sort(["t"], SortMultipleOptions::default()),
            "fitting the time series",
            ctx.call.span,
        )?;
        let seasons = super::strings(ctx, &df, "s")?;
        Ok(Series {
            ys: super::floats(ctx, &df, "y")?,
            ts: super::floats(ctx, &df, "t")?,
            seasons,
        })
    }
}

/// One row a period, the periods evenly spaced: Newey–West reads neighbouring rows as
/// neighbouring periods, so a period given twice (areas stacked) or a missing one would
/// give wrong standard errors without a word. Dates may step by days, weeks, months,
/// quarters or years (the same day of each month).
fn check_periods(ts: &[f64], dates: bool, request: &ItsRequest) -> Result<(), Diagnostic> {
    let label = |t: f64| period_label(t, dates);
    if let Some(pair) = ts.windows(2).find(|w| w[0] == w[1]) {
        let count = ts.iter().filter(|t| **t == pair[0]).count();
        return Err(Diagnostic::new(
            "spel::its::duplicate_period",
            format!(
                "period {} appears in {count} rows, but `its` fits one series: one row a period",
                label(pair[0])
            ),
        )
        .at(request.outcome_span)
        .with_help(format!(
            "for several areas, fit each on its own (`filter area == \"...\" |> its ...`), or add \
             them up by period first (`summarise ... by {}`)",
            request.time_name
        )));
    }
    let steps: Vec<f64> = if dates {
        month_steps(ts).unwrap_or_else(|| ts.windows(2).map(|w| w[1] - w[0]).collect())
    } else {
        ts.windows(2).map(|w| w[1] - w[0]).collect()
    };
    let step = steps.iter().copied().fold(f64::INFINITY, f64::min);
    let Some(gap) = steps
        .iter()
        .position(|s| (s - step).abs() > 1e-9 * step.abs())
    else {
        return Ok(());
    };
    Err(Diagnostic::new(
        "spel::its::gap",
        format!(
            "the periods are not evenly spaced: {} is followed by {}",
            label(ts[gap]),
            label(ts[gap + 1])
        ),
    )
    .at(request.outcome_span)
    .with_help(
        "add the missing periods (with their outcome), or fit the series where it is complete",
    ))
}

/// Steps in months between dates that all fall on the same day of the month; `None`
/// for other dates.
fn month_steps(days: &[f64]) -> Option<Vec<f64>> {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let dates: Vec<chrono::NaiveDate> = days
        .iter()
        .map(|d| epoch.checked_add_signed(chrono::Duration::days(*d as i64)))
        .collect::<Option<_>>()?;
    use chrono::Datelike;
    let day = dates.first()?.day();
    if dates.iter().any(|d| d.day() != day) {
        return None;
    }
    let month = |d: &chrono::NaiveDate| f64::from(d.year() * 12 + d.month() as i32);
    Some(
        dates
            .windows(2)
            .map(|w| month(&w[1]) - month(&w[0]))
            .collect(),
    )
}

/// A period as the user wrote it: a number, or a date.
fn period_label(t: f64, date: bool) -> String {
    if date {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        if let Some(d) = epoch.checked_add_signed(chrono::Duration::days(t as i64)) {
            return d.to_string();
        }
    }
    crate::format::number(t)
}

/// At least five periods, and the break after the first and no later than the last.
fn check_break(ts: &[f64], brk: f64, brk_span: Span) -> Result<(), Diagnostic> {
    let n = ts.len();
    let (first, last) = (
        ts.first().copied().unwrap_or(0.0),
        ts.last().copied().unwrap_or(0.0),
    );
    if n < 5 || brk <= first || brk > last {
        return Err(Diagnostic::new(
            "spel::its::break_outside",
            "the break must fall after the first period and no later than the last",
        )
        .at(brk_span)
        .with_note(format!(
            "the data run from {} to {} ({n} periods)",
            crate::format::number(first),
            crate::format::number(last)
        )));
    }
    Ok(())
}

/// The segmented regression's columns and their names: intercept, time, level and
/// slope change, then the seasons as dummies against the first (sorted as numbers when
/// they are numbers).
fn segments(
    ctx: &VerbCtx,
    request: &ItsRequest,
    series: &Series,
    season_ast: Option<&Ast>,
) -> (Vec<Vec<f64>>, Vec<String>) {
    let (ts, seasons, brk) = (&series.ts, &series.seasons, request.brk);
    let n = series.ys.len();
    let mut columns: Vec<Vec<f64>> = vec![
        vec![1.0; n],
        ts.clone(),
        ts.iter()
            .map(|t| if *t >= brk { 1.0 } else { 0.0 })
            .collect(),
        ts.iter()
            .map(|t| if *t >= brk { t - brk } else { 0.0 })
            .collect(),
    ];
    let mut names: Vec<String> = vec![
        "(Intercept)".into(),
        request.time_name.clone(),
        "level_change".into(),
        "slope_change".into(),
    ];
    // Seasons as dummies against the first (sorted as numbers when they are numbers).
    let mut levels: Vec<String> = seasons.clone();
    levels.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    levels.dedup();
    if let Some(ast) = season_ast {
        let season_name = ctx.text(ast.span).to_string();
        for level in levels.iter().skip(1) {
            columns.push(
                seasons
                    .iter()
                    .map(|s| f64::from(u8::from(s == level)))
                    .collect(),
            );
            let label = level
                .parse::<f64>()
                .map_or_else(|_| level.clone(), crate::format::number);
            names.push(format!("factor({season_name}){label}"));
        }
    }
    (columns, names)
}

/// `show = fitted`: each period's fitted value and residual, and the counterfactual,
/// which continues the pre-break line (level and slope changes off), with its interval
/// from the Newey–West variance: how far the series would plausibly have run without the
/// change.
fn fitted_table(
    ctx: &VerbCtx,
    request: &ItsRequest,
    series: &Series,
    columns: &[Vec<f64>],
    fit: &least_squares::LeastSquares,
    variance: &faer::Mat<f64>,
    level: f64,
) -> Result<Value, Diagnostic> {
    let (p, n, beta) = (columns.len(), series.ys.len(), &fit.beta);
    let time_name = &request.time_name;
    // The counterfactual's row of the design: the level and slope changes off.
    let counterfactual_row = |i: usize| -> Vec<f64> {
        (0..p)
            .map(|j| {
                if (2..4).contains(&j) {
                    0.0
                } else {
                    columns[j][i]
                }
            })
            .collect()
    };
    let (mut counterfactual, mut low, mut high) = (vec![], vec![], vec![]);
    for i in 0..n {
        let x = counterfactual_row(i);
        let value: f64 = (0..p).map(|j| x[j] * beta[j]).sum();
        let spread: f64 = (0..p)
            .flat_map(|j| (0..p).map(move |k| (j, k)))
            .map(|(j, k)| x[j] * variance[(j, k)] * x[k])
            .sum();
        let interval = crate::model::Coefficient::wald(
            "",
            value,
            spread.max(0.0).sqrt(),
            crate::model::Distribution::Normal,
            level,
        );
        counterfactual.push(value);
        low.push(interval.conf_low);
        high.push(interval.conf_high);
    }
    let fitted: Vec<f64> = series
        .ys
        .iter()
        .zip(&fit.residuals)
        .map(|(y, e)| y - e)
        .collect();
    let outcome_name = ctx.text(request.outcome_span).to_string();
    let table = DataFrame::new_infer_height(vec![
        Column::new(time_name.as_str().into(), series.ts.clone()),
        Column::new(outcome_name.as_str().into(), series.ys.clone()),
        Column::new("fitted".into(), fitted),
        Column::new("residual".into(), fit.residuals.clone()),
        Column::new("counterfactual".into(), counterfactual),
        Column::new("counterfactual_low".into(), low),
        Column::new("counterfactual_high".into(), high),
    ])
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    let table = if request.time_type == DataType::Date {
        table.lazy().with_column(
            col(time_name.as_str())
                .cast(DataType::Int32)
                .cast(DataType::Date),
        )
    } else {
        table.lazy()
    };
    Ok(Value::Table(table))
}

/// `show = autocorrelation`: the residuals' autocorrelation at lags 1 to min(12, n/5),
/// each with the Ljung–Box test of every lag up to it.
fn autocorrelation_table(ctx: &VerbCtx, residuals: &[f64]) -> Result<Value, Diagnostic> {
    let max_lag = (residuals.len() / 5).clamp(1, 12);
    let checks = spel_stats::designs::its::ljung_box(residuals, max_lag);
    let table = df!(
        "lag" => checks.iter().map(|c| c.lag as i32).collect::<Vec<_>>(),
        "autocorrelation" => checks.iter().map(|c| c.autocorrelation).collect::<Vec<_>>(),
        "ljung_box" => checks.iter().map(|c| c.ljung_box).collect::<Vec<_>>(),
        "p_value" => checks.iter().map(|c| c.p_value).collect::<Vec<_>>(),
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(table.lazy()))
}

/// The estimates with Newey–West standard errors and z-based intervals.
fn estimates(
    ctx: &VerbCtx,
    names: &[String],
    fit: &least_squares::LeastSquares,
    variance: &faer::Mat<f64>,
    level: f64,
) -> Result<Value, Diagnostic> {
    let rows: Vec<crate::model::Coefficient> = (0..names.len())
        .map(|j| {
            crate::model::Coefficient::wald(
                &names[j],
                fit.beta[j],
                variance[(j, j)].sqrt(),
                crate::model::Distribution::Normal,
                level,
            )
        })
        .collect();
    let column =
        |f: fn(&crate::model::Coefficient) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let table = df!(
        "term" => rows.iter().map(|c| c.term.clone()).collect::<Vec<_>>(),
        "estimate" => column(|c| c.estimate),
        "std_error" => column(|c| c.std_error),
        "statistic" => column(|c| c.statistic),
        "p_value" => column(|c| c.p_value),
        "conf_low" => column(|c| c.conf_low),
        "conf_high" => column(|c| c.conf_high),
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(table.lazy()))
}
