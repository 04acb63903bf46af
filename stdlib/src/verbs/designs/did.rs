//! `did`: difference in differences for staggered adoption. Two-way fixed effects beside
//! Callaway & Sant'Anna's group-time ATTs (no covariates, varying base period, analytic
//! influence-function SEs), aggregated as the R package `did` and PyPI's `csdid` do.

use std::collections::HashMap;

use polars::prelude::*;
use spel_grammar::ast::Expr as Ast;
use spel_grammar::{Diagnostic, Span};
use statrs::distribution::{ContinuousCDF, Normal};

use super::super::{Choice, Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::format::plural;
use spel_stats::designs::did::{
    BalancedWindow, Cell, Effect, Panel, aggregate, group_time_cells, simultaneous_critical_value,
    standard_error, two_way_fixed_effects,
};
use spel_stats::matrix::{Grouping, kept_rows};

use crate::value::{Report, Value};

crate::choice! {
    /// Which units are the comparison.
    enum Controls { Never = "never", NotYet = "notyet" }
}

crate::choice! {
    /// What `did` shows.
    enum DidShow { Summary = "summary", GroupTime = "group_time" }
}

pub const VERB: Verb = Verb {
    name: "did",
    signature: "did OUTCOME ~ TREATED, unit = U, time = T, first = FIRST [, controls = never | notyet] [, weights = W] [, balance = E] [, show = group_time]",
    summary: "Difference in differences with staggered adoption: TWFE beside Callaway–Sant'Anna.",
    description: "TREATED is 1 in the periods a unit is treated; FIRST is the first treated \
                  period of each unit, 0 for units never treated. Gives the two-way fixed-effects \
                  estimate (unit and time effects, SEs clustered by unit) beside Callaway and \
                  Sant'Anna's group-time ATTs, compared with never-treated units (default) or \
                  not-yet-treated ones, aggregated to an overall ATT (the simple aggregation) \
                  and an event study with 95% pointwise and simultaneous intervals. Standard \
                  errors are analytic, from the influence function, as R's `did` and PyPI's \
                  `csdid` with `bstrap = False`.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "unit",
            values: "a column",
            kind: OptionKind::Column,
            summary: "The panel's units (PCNs, practices).",
        },
        OptionSpec {
            name: "time",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "The period (quarter, year).",
        },
        OptionSpec {
            name: "first",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "The first treated period of the unit; 0 for never treated.",
        },
        OptionSpec {
            name: "controls",
            values: "never or notyet",
            kind: OptionKind::Word(Controls::WORDS),
            summary: "Which units are the comparison: never treated, or not yet treated.",
        },
        OptionSpec {
            name: "weights",
            values: "a numeric column, constant within a unit",
            kind: OptionKind::Column,
            summary: "Sampling weights.",
        },
        OptionSpec {
            name: "show",
            values: "summary or group_time",
            kind: OptionKind::Word(DidShow::WORDS),
            summary: "The aggregated estimates (default) or every group-time ATT.",
        },
        OptionSpec {
            name: "balance",
            values: "a whole number of periods",
            kind: OptionKind::Whole { min: 0.0, max: 1e6 },
            summary: "A balanced event study: only cohorts observed at least this many periods after adoption, event times up to it, the same cohorts at every event time (R did's balance_e).",
        },
        OptionSpec {
            name: "seed",
            values: "a whole number",
            kind: OptionKind::SEED,
            summary: "Seed of the multiplier bootstrap for the simultaneous band.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Two cohorts adopting in periods 3 and 4, three units never treated",
        code: "table unit = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5],\n    \
               period = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4],\n    \
               first = [3, 3, 3, 3, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],\n    \
               y = [1.0, 1.2, 2.9, 3.4, 0.8, 1.1, 1.3, 3.0, 1.1, 1.0, 1.4, 1.5, 0.9, 1.3, 1.2, 1.6, 1.0, 1.1, 1.3, 1.4]\n  \
               |> derive treated = first > 0 & period >= first\n  \
               |> did y ~ treated, unit = unit, time = period, first = first",
        output: r#"Difference in differences: 5 units (2 treated in 2 cohorts, 3 never treated), 4 periods; controls: never treated
shape: (7, 9)
┌───────────┬────────────────┬────────────┬──────────┬───┬──────────┬───────────┬───┐
│ estimator ┆ term           ┆ event_time ┆ estimate ┆ … ┆ conf_low ┆ conf_high ┆ … │
│ ---       ┆ ---            ┆ ---        ┆ ---      ┆ … ┆ ---      ┆ ---       ┆ … │
│ str       ┆ str            ┆ i64        ┆ f64      ┆ … ┆ f64      ┆ f64       ┆ … │
╞═══════════╪════════════════╪════════════╪══════════╪═══╪══════════╪═══════════╪═══╡
│ TWFE      ┆ treated        ┆       null ┆    1.621 ┆ … ┆    1.455 ┆     1.787 ┆ … │
│ CS simple ┆ ATT            ┆       null ┆    1.622 ┆ … ┆    1.489 ┆     1.756 ┆ … │
│ CS event  ┆ average e >= 0 ┆       null ┆    1.675 ┆ … ┆    1.594 ┆     1.756 ┆ … │
│ CS event  ┆ e = -2         ┆         -2 ┆   0.1667 ┆ … ┆ -0.06585 ┆    0.3992 ┆ … │
│ CS event  ┆ e = -1         ┆         -1 ┆     0.05 ┆ … ┆   0.0269 ┆    0.0731 ┆ … │
│ CS event  ┆ e = 0          ┆          0 ┆    1.517 ┆ … ┆    1.459 ┆     1.575 ┆ … │
│ CS event  ┆ e = 1          ┆          1 ┆    1.833 ┆ … ┆    1.727 ┆      1.94 ┆ … │
└───────────┴────────────────┴────────────┴──────────┴───┴──────────┴───────────┴───┘
Note: TWFE: OLS with unit and time effects on the same balanced panel as CS, SEs clustered by unit (Stata's areg factor, absorbed levels counted); with staggered adoption and effects that change over time it mixes comparisons of later- with earlier-treated units
Note: CS: Callaway–Sant'Anna group-time ATTs, varying base period, analytic influence-function SEs; overall ATT is the simple aggregation; the event-study band is simultaneous over event times (multiplier bootstrap, 999 draws)"#,
    }],
    run: did,
};

fn did(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let args = ctx.args();
    let formula = args
        .iter()
        .find_map(|a| super::super::formula_of(a))
        .ok_or_else(|| {
            ctx.usage_error(
                "`did` takes a formula, as `did y ~ treated, unit = pcn, time = quarter, first = first`",
            )
        })?;
    let treated_ast = super::single_term(ctx, formula, "treatment")?;
    let required = |name: &str, what: &str| -> Result<&Ast, Diagnostic> {
        ctx.option(name)
            .and_then(|a| a.as_expr())
            .ok_or_else(|| ctx.usage_error(format!("`did` needs `{name} = ...`, {what}")))
    };
    let asts = Columns {
        outcome: &formula.lhs,
        treated: treated_ast,
        unit: required("unit", "the column naming each unit")?,
        time: required("time", "the period column")?,
        first: required("first", "each unit's first treated period (0 if never)")?,
        weight: ctx.option("weights").and_then(|a| a.as_expr()),
    };
    let not_yet = ctx.choice::<Controls>("controls")? == Some(Controls::NotYet);
    let group_time = ctx.choice::<DidShow>("show")? == Some(DidShow::GroupTime);
    let seed = ctx.number("seed")?.map_or(1, |(x, _)| x as u64);

    let rows = read_rows(ctx, lf, &asts)?;
    let (panel, dropped) = balanced_panel(
        &rows.units,
        &rows.times,
        &rows.firsts,
        &rows.ys,
        &rows.weights,
        ctx,
        asts.first.span,
        asts.weight.map(|a| a.span),
    )?;
    let mut notes = dropped_notes(&dropped);
    check_comparisons(ctx, &panel, not_yet, asts.first)?;
    let cells = group_time_cells(&panel, not_yet);
    if cells.is_empty() {
        return Err(Diagnostic::new(
            "spel::did::no_cells",
            "no group-time effect can be estimated: no cohort has comparison units",
        )
        .at(ctx.call.span));
    }
    let window = balanced_window(ctx, &panel, &cells)?;
    if let Some(w) = &window {
        notes.push(balanced_note(&panel, w));
    }
    let conventions = vec![
        "TWFE: OLS with unit and time effects on the same balanced panel as CS, SEs clustered by unit (Stata's areg factor, absorbed levels counted); \
         with staggered adoption and effects that change over time it mixes comparisons of later- with earlier-treated units"
            .to_string(),
        "CS: Callaway–Sant'Anna group-time ATTs, varying base period, analytic influence-function SEs; \
         overall ATT is the simple aggregation; the event-study band is simultaneous over event times (multiplier bootstrap, 999 draws)"
            .to_string(),
    ];
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let table = if group_time {
        group_time_table(&panel, &cells).map_err(fail)?
    } else {
        let twfe = twfe_on_panel(&rows, &dropped.in_panel);
        let treated_name = ctx.text(treated_ast.span).to_string();
        summary_table(&panel, &cells, twfe, &treated_name, seed, window.as_ref()).map_err(fail)?
    };
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: title(&panel, not_yet),
        table,
        notes,
        conventions,
    })))
}

/// The expressions of a `did` call's columns.
struct Columns<'a> {
    outcome: &'a Ast,
    treated: &'a Ast,
    unit: &'a Ast,
    time: &'a Ast,
    first: &'a Ast,
    weight: Option<&'a Ast>,
}

/// The panel's rows as slices (rows with a missing value left out).
struct Rows {
    units: Vec<String>,
    times: Vec<f64>,
    firsts: Vec<f64>,
    treat: Vec<f64>,
    ys: Vec<f64>,
    weights: Vec<f64>,
}

fn read_rows(ctx: &VerbCtx, lf: LazyFrame, asts: &Columns) -> Result<Rows, Diagnostic> {
    let scope = ctx.scope(&lf)?;
    let (y, _) = scope.checked(asts.outcome)?;
    let (treated, _) = scope.checked(asts.treated)?;
    let (unit, _) = scope.checked(asts.unit)?;
    let (time, _) = scope.checked(asts.time)?;
    let (first, _) = scope.checked(asts.first)?;
    let weight = match asts.weight {
        Some(ast) => scope.checked(ast)?.0,
        None => lit(1.0),
    };
    let rows = lf.select([
        unit.cast(DataType::String).alias("unit"),
        time.cast(DataType::Float64).alias("time"),
        first.cast(DataType::Float64).alias("first"),
        treated.cast(DataType::Float64).alias("treated"),
        y.cast(DataType::Float64).alias("y"),
        weight.cast(DataType::Float64).alias("weight"),
    ]);
    let df = ctx
        .env
        .work()
        .collect(rows.drop_nulls(None), "reading the panel", ctx.call.span)?;
    let units = super::strings(ctx, &df, "unit")?;
    let (times, firsts, treat, ys, weights) = (
        super::floats(ctx, &df, "time")?,
        super::floats(ctx, &df, "first")?,
        super::floats(ctx, &df, "treated")?,
        super::floats(ctx, &df, "y")?,
        super::floats(ctx, &df, "weight")?,
    );
    if let Some(w) = weights.iter().find(|w| w.is_nan() || **w <= 0.0) {
        return Err(Diagnostic::new(
            "spel::did::weights",
            format!(
                "weights are positive, and one is {}",
                crate::format::number(*w)
            ),
        )
        .at(asts.weight.map_or(ctx.call.span, |a| a.span)));
    }
    Ok(Rows {
        units,
        times,
        firsts,
        treat,
        ys,
        weights,
    })
}

/// What the balancing of the panel dropped or recoded, said in notes.
/// `balance = E`: the balanced event study's cohorts and event times; an error when no
/// cohort is observed E periods after adoption.
fn balanced_window(
    ctx: &VerbCtx,
    panel: &Panel,
    cells: &[Cell],
) -> Result<Option<BalancedWindow>, Diagnostic> {
    let Some((balance, span)) = ctx.number("balance")? else {
        return Ok(None);
    };
    let longest = cells.iter().map(Cell::event).max().unwrap_or(0);
    BalancedWindow::new(panel, cells, balance as usize)
        .map(Some)
        .ok_or_else(|| {
            Diagnostic::new(
                "spel::did::balance",
                format!(
                    "no cohort is observed {} after adoption",
                    plural(balance as usize, "period")
                ),
            )
            .at(span)
            .with_help(format!(
                "the earliest cohort is seen {longest} periods after adoption: ask for `balance = {longest}` or less"
            ))
        })
}

/// What a balanced event study keeps, in the periods' own values.
fn balanced_note(panel: &Panel, window: &BalancedWindow) -> String {
    let cohorts: Vec<String> = window
        .cohorts
        .iter()
        .map(|g| crate::format::number(panel.periods[*g]))
        .collect();
    let units = (0..panel.units())
        .filter(|u| panel.cohort[*u].is_some_and(|g| window.cohorts.contains(&g)))
        .count();
    format!(
        "event study balanced: only cohorts first treated in {} ({}), event times {} to {}, so each event time averages the same cohorts; CS simple uses every cohort",
        cohorts.join(", "),
        plural(units, "treated unit"),
        window.first_event,
        window.last_event
    )
}

fn dropped_notes(dropped: &Dropped) -> Vec<String> {
    let mut notes = Vec::new();
    if dropped.unbalanced > 0 {
        notes.push(format!(
            "{} dropped: not observed in every period (Callaway–Sant'Anna needs a balanced panel)",
            plural(dropped.unbalanced, "unit")
        ));
    }
    if dropped.treated_from_start > 0 {
        notes.push(format!(
            "{} treated from the first period dropped: nothing before treatment to compare",
            plural(dropped.treated_from_start, "unit")
        ));
    }
    if dropped.after_end > 0 {
        notes.push(format!(
            "{} first treated after the last period counted as never treated",
            plural(dropped.after_end, "unit")
        ));
    }
    notes
}

/// A difference in differences needs treated units and, with never-treated controls,
/// some that are never treated.
fn check_comparisons(
    ctx: &VerbCtx,
    panel: &Panel,
    not_yet: bool,
    first_ast: &Ast,
) -> Result<(), Diagnostic> {
    let n_treated = panel.cohort.iter().filter(|c| c.is_some()).count();
    let n_never = panel.cohort.len() - n_treated;
    if n_treated == 0 {
        return Err(Diagnostic::new(
            "spel::did::no_change",
            "no unit changes treatment within the data, so there is no difference in differences",
        )
        .at(first_ast.span)
        .with_note(format!(
            "`{}` is 0 (never treated) or the first period for every unit",
            ctx.text(first_ast.span)
        ))
        .with_help("check the first treated period; units must be untreated in at least one period and then treated"));
    }
    if n_never == 0 && !not_yet {
        return Err(Diagnostic::new(
            "spel::did::no_controls",
            "no unit is never treated, so there are no never-treated controls",
        )
        .at(first_ast.span)
        .with_help("compare with units not yet treated: add `controls = notyet`"));
    }
    Ok(())
}

fn title(panel: &Panel, not_yet: bool) -> String {
    let n_treated = panel.cohort.iter().filter(|c| c.is_some()).count();
    let n_never = panel.cohort.len() - n_treated;
    format!(
        "Difference in differences: {} units ({} treated in {}, {} never treated), {}; controls: {}",
        panel.units(),
        n_treated,
        plural(
            {
                let mut groups: Vec<usize> = panel.cohort.iter().flatten().copied().collect();
                groups.sort_unstable();
                groups.dedup();
                groups.len()
            },
            "cohort"
        ),
        n_never,
        plural(panel.periods.len(), "period"),
        if not_yet {
            "not yet treated"
        } else {
            "never treated"
        }
    )
}

/// Every ATT(g, t) with its pointwise interval.
fn group_time_table(panel: &Panel, cells: &[Cell]) -> PolarsResult<DataFrame> {
    let z = Normal::standard().inverse_cdf(0.975);
    let se: Vec<f64> = cells.iter().map(|c| standard_error(&c.influence)).collect();
    df!(
        "group" => cells.iter().map(|c| panel.periods[c.group]).collect::<Vec<_>>(),
        "time" => cells.iter().map(|c| panel.periods[c.time]).collect::<Vec<_>>(),
        "event_time" => cells.iter().map(Cell::event).collect::<Vec<_>>(),
        "estimate" => cells.iter().map(|c| c.att).collect::<Vec<_>>(),
        "std_error" => se.clone(),
        "conf_low" => cells.iter().zip(&se).map(|(c, s)| c.att - z * s).collect::<Vec<_>>(),
        "conf_high" => cells.iter().zip(&se).map(|(c, s)| c.att + z * s).collect::<Vec<_>>(),
    )
}

/// TWFE, the simple CS aggregation, the event study's average from e = 0, and each
/// event time with its pointwise interval and simultaneous band.
fn summary_table(
    panel: &Panel,
    cells: &[Cell],
    twfe: (f64, f64),
    treated_name: &str,
    seed: u64,
    window: Option<&BalancedWindow>,
) -> PolarsResult<DataFrame> {
    let z = Normal::standard().inverse_cdf(0.975);
    let simple = aggregate(panel, cells, |c| c.time >= c.group);
    let in_study = |c: &Cell| window.is_none_or(|w| w.keeps(c));
    let mut events: Vec<i64> = cells
        .iter()
        .filter(|c| in_study(c))
        .map(Cell::event)
        .collect();
    events.sort_unstable();
    events.dedup();
    let dynamic: Vec<Effect> = events
        .iter()
        .map(|e| aggregate(panel, cells, |c| c.event() == *e && in_study(c)))
        .collect();
    let band = simultaneous_critical_value(&dynamic, seed, 0.95);
    let mut estimator = vec!["TWFE".to_string(), "CS simple".to_string()];
    let mut term = vec![treated_name.to_string(), "ATT".to_string()];
    let mut event = vec![None, None];
    let mut estimate = vec![twfe.0, simple.att];
    let mut se = vec![twfe.1, standard_error(&simple.influence)];
    let mut band_low = vec![None, None];
    let mut band_high = vec![None, None];
    // The event study's summary: the plain mean of the effects from e = 0 on.
    let post: Vec<&Effect> = events
        .iter()
        .zip(&dynamic)
        .filter(|(e, _)| **e >= 0)
        .map(|(_, effect)| effect)
        .collect();
    let k = post.len() as f64;
    let average = Effect {
        att: post.iter().map(|e| e.att).sum::<f64>() / k,
        influence: (0..panel.units())
            .map(|u| post.iter().map(|e| e.influence[u]).sum::<f64>() / k)
            .collect(),
    };
    estimator.push("CS event".into());
    term.push("average e >= 0".into());
    event.push(None);
    estimate.push(average.att);
    se.push(standard_error(&average.influence));
    band_low.push(None);
    band_high.push(None);
    for (e, effect) in events.iter().zip(&dynamic) {
        let s = standard_error(&effect.influence);
        estimator.push("CS event".into());
        term.push(format!("e = {e}"));
        event.push(Some(*e));
        estimate.push(effect.att);
        se.push(s);
        band_low.push(Some(effect.att - band * s));
        band_high.push(Some(effect.att + band * s));
    }
    df!(
        "estimator" => estimator,
        "term" => term,
        "event_time" => event,
        "estimate" => estimate.clone(),
        "std_error" => se.clone(),
        "conf_low" => estimate.iter().zip(&se).map(|(b, s)| b - z * s).collect::<Vec<_>>(),
        "conf_high" => estimate.iter().zip(&se).map(|(b, s)| b + z * s).collect::<Vec<_>>(),
        "band_low" => band_low,
        "band_high" => band_high,
    )
}

#[derive(Default)]
struct Dropped {
    unbalanced: usize,
    treated_from_start: usize,
    after_end: usize,
    /// Whether each row's unit is in the panel: TWFE is fitted on the same rows as CS.
    in_panel: Vec<bool>,
}

/// The rows as a balanced panel: units missing a period are dropped, as `csdid` does.
#[allow(clippy::too_many_arguments)]
fn balanced_panel(
    units: &[String],
    times: &[f64],
    firsts: &[f64],
    ys: &[f64],
    weights: &[f64],
    ctx: &VerbCtx,
    first_span: Span,
    weight_span: Option<Span>,
) -> Result<(Panel, Dropped), Diagnostic> {
    let mut periods: Vec<f64> = times.to_vec();
    periods.sort_by(f64::total_cmp);
    periods.dedup();
    let period_index = |t: f64| periods.binary_search_by(|p| p.total_cmp(&t)).ok();
    let mut order: Vec<String> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut first_of: Vec<f64> = Vec::new();
    let mut weight_of: Vec<f64> = Vec::new();
    let mut y: Vec<Vec<f64>> = Vec::new();
    let mut duplicate = false;
    for i in 0..units.len() {
        let u = *index.entry(units[i].as_str()).or_insert_with(|| {
            order.push(units[i].clone());
            first_of.push(firsts[i]);
            weight_of.push(weights[i]);
            y.push(vec![f64::NAN; periods.len()]);
            order.len() - 1
        });
        if firsts[i] != first_of[u] {
            return Err(Diagnostic::new(
                "spel::did::first_varies",
                format!(
                    "the first treated period changes within unit {}: {} and {}",
                    units[i],
                    crate::format::number(first_of[u]),
                    crate::format::number(firsts[i])
                ),
            )
            .at(first_span)
            .with_help("the first treated period is one value per unit (0 if never treated)"));
        }
        if weights[i] != weight_of[u] {
            return Err(Diagnostic::new(
                "spel::did::weight_varies",
                format!("the weight changes within unit {}", units[i]),
            )
            .at(weight_span.unwrap_or(ctx.call.span))
            .with_help("give each unit one weight, as its first period's"));
        }
        let t = period_index(times[i]).unwrap_or(0);
        duplicate |= !y[u][t].is_nan();
        y[u][t] = ys[i];
    }
    if duplicate {
        return Err(Diagnostic::new(
            "spel::did::duplicate",
            "a unit appears more than once in a period",
        )
        .at(ctx.call.span)
        .with_help("summarise to one row per unit and period first"));
    }
    let mut dropped = Dropped::default();
    let mut kept = vec![false; order.len()];
    let mut panel = Panel {
        periods: periods.clone(),
        cohort: Vec::new(),
        weight: Vec::new(),
        y: Vec::new(),
    };
    for u in 0..order.len() {
        if y[u].iter().any(|v| v.is_nan()) {
            dropped.unbalanced += 1;
            continue;
        }
        let first = first_of[u];
        let cohort = if first == 0.0 {
            None
        } else if first > *periods.last().unwrap_or(&0.0) {
            dropped.after_end += 1;
            None
        } else if first <= periods[0] {
            dropped.treated_from_start += 1;
            continue;
        } else {
            match period_index(first) {
                Some(g) => Some(g),
                None => {
                    return Err(Diagnostic::new(
                        "spel::did::first_not_period",
                        format!(
                            "unit {}'s first treated period {} is not a period of the data",
                            order[u],
                            crate::format::number(first)
                        ),
                    )
                    .at(first_span));
                }
            }
        };
        kept[u] = true;
        panel.cohort.push(cohort);
        panel.weight.push(weight_of[u]);
        panel.y.push(y[u].clone());
    }
    dropped.in_panel = units.iter().map(|u| kept[index[u.as_str()]]).collect();
    Ok((panel, dropped))
}

/// TWFE on the rows of the units in the balanced panel, the sample CS uses.
fn twfe_on_panel(rows: &Rows, in_panel: &[bool]) -> (f64, f64) {
    let keep = |values: &[f64]| kept_rows(values, in_panel);
    let units = kept_rows(&rows.units, in_panel);
    let times: Vec<String> = keep(&rows.times).iter().map(|t| t.to_string()).collect();
    two_way_fixed_effects(
        &first_appearance_codes(&units),
        &first_appearance_codes(&times),
        &keep(&rows.treat),
        &keep(&rows.ys),
        &keep(&rows.weights),
    )
}

/// Each row's key numbered by first appearance.
fn first_appearance_codes(keys: &[String]) -> Grouping {
    let mut index: HashMap<&str, u32> = HashMap::new();
    let ids: Vec<u32> = keys
        .iter()
        .map(|k| {
            let next = index.len() as u32;
            *index.entry(k.as_str()).or_insert(next)
        })
        .collect();
    Grouping {
        levels: index.len(),
        ids: std::sync::Arc::new(ids),
    }
}
