//! `rdd`: sharp and fuzzy regression discontinuity by local polynomials with robust
//! bias-corrected inference, as `rdrobust` (the estimator: `spel_stats::designs::rdd`).

use std::collections::HashMap;

use polars::prelude::*;
use spel_grammar::ast::Expr as Ast;
use spel_grammar::{Diagnostic, Span};
use spel_stats::designs::rdd::{
    self, Bandwidth, Data, Discontinuity, Jump, Kernel, Options, RddError, SideCounts, Variance,
};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::format;
use crate::model::{Coefficient, Distribution};
use crate::value::{Report, Value, is_numeric};

crate::choice! {
    /// The kernel weighting rows by their distance from the cutoff.
    enum KernelWord { Triangular = "triangular", Epanechnikov = "epanechnikov", Uniform = "uniform" }
}

crate::choice! {
    /// How rows that share a value of the running variable are treated in the
    /// bandwidth selection: as rdrobust's default, or not at all.
    enum MassPoints { Adjust = "adjust", Off = "off" }
}

crate::choice! {
    /// What `rdd` shows.
    enum RddShow { Summary = "summary", Sides = "sides" }
}

/// The kernel option of both discontinuity verbs (`rdd`, `rddensity`).
pub(super) const KERNEL_OPTION: OptionSpec = OptionSpec {
    name: "kernel",
    values: "triangular, epanechnikov or uniform",
    kind: OptionKind::Word(KernelWord::WORDS),
    summary: "Weights by distance from the cutoff (default triangular).",
};

/// The kernel asked for: triangular unless said.
pub(super) fn kernel(ctx: &VerbCtx) -> Result<Kernel, Diagnostic> {
    Ok(match ctx.choice::<KernelWord>("kernel")? {
        None | Some(KernelWord::Triangular) => Kernel::Triangular,
        Some(KernelWord::Epanechnikov) => Kernel::Epanechnikov,
        Some(KernelWord::Uniform) => Kernel::Uniform,
    })
}

pub const VERB: Verb = Verb {
    name: "rdd",
    signature: "rdd OUTCOME ~ RUNNING, cutoff = C [, fuzzy = TREATMENT] [, p = 1] [, kernel = triangular | epanechnikov | uniform] [, h = H] [, b = B] [, cluster = G] [, masspoints = adjust | off] [, level = 0.95] [, show = sides]",
    summary: "Regression discontinuity, sharp or fuzzy: local polynomials with robust bias-corrected inference, as rdrobust.",
    description: "The jump in OUTCOME where RUNNING crosses the cutoff (rows at the cutoff \
                  count as above it), by Calonico, Cattaneo and Titiunik's method with \
                  rdrobust's defaults: a local polynomial of order p (1: local linear) each \
                  side with a triangular kernel, in the MSE-optimal bandwidth h common to both \
                  sides (`mserd`) unless `h =` is given; the bias estimated by a polynomial of \
                  order p + 1 in a bandwidth b; nearest-neighbour variance (3 neighbours), or \
                  clustered with `cluster =`. Three rows: conventional (the estimate and its \
                  standard error), bias-corrected, and robust (the bias-corrected estimate with \
                  the bias estimate's variance added: the interval to report). With `fuzzy = \
                  TREATMENT` the effect is the outcome's jump over the treatment's, with the \
                  first stage's rows beside it. `show = sides` gives each side's rows, rows \
                  within h and b, and the bandwidths.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "cutoff",
            values: "a number",
            kind: OptionKind::Number {
                min: f64::NEG_INFINITY,
                max: f64::INFINITY,
            },
            summary: "Where the running variable assigns treatment.",
        },
        OptionSpec {
            name: "fuzzy",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "The treatment received, when the cutoff changes its probability rather than deciding it.",
        },
        OptionSpec {
            name: "p",
            values: "a whole number from 0 to 4",
            kind: OptionKind::Whole { min: 0.0, max: 4.0 },
            summary: "Order of the local polynomial (default 1, local linear).",
        },
        KERNEL_OPTION,
        OptionSpec {
            name: "h",
            values: "a positive number",
            kind: OptionKind::POSITIVE,
            summary: "The bandwidth each side, instead of the MSE-optimal one.",
        },
        OptionSpec {
            name: "b",
            values: "a positive number",
            kind: OptionKind::POSITIVE,
            summary: "The bias-correction bandwidth, with `h` (default: h).",
        },
        OptionSpec {
            name: "cluster",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Cluster-robust variance (CR1) by this column.",
        },
        OptionSpec {
            name: "masspoints",
            values: "adjust or off",
            kind: OptionKind::Word(MassPoints::WORDS),
            summary: "Adjust the bandwidth selection for repeated values of the running variable (default, as rdrobust), or not.",
        },
        OptionSpec::LEVEL,
        OptionSpec {
            name: "show",
            values: "summary or sides",
            kind: OptionKind::Word(RddShow::WORDS),
            summary: "The estimates (default), or each side's rows and bandwidths.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Practices funded for a link worker from a deprivation score of 30 (the true jump: 2 points)",
        code: "simulate funding_cutoff |> rdd confidence ~ imd_score, cutoff = 30",
        output: r#"Regression discontinuity (sharp): confidence ~ imd_score at 30; local linear, h = 5.44283 (MSE-optimal), b = 8.97149; 1,151 and 860 rows within h, below and above
shape: (3, 8)
┌────────────┬────────────────┬──────────┬───────────┬───────┬─────────┬──────────┬───────────┐
│ term       ┆ method         ┆ estimate ┆ std_error ┆ z     ┆ p_value ┆ conf_low ┆ conf_high │
│ ---        ┆ ---            ┆ ---      ┆ ---       ┆ ---   ┆ ---     ┆ ---      ┆ ---       │
│ str        ┆ str            ┆ f64      ┆ f64       ┆ f64   ┆ f64     ┆ f64      ┆ f64       │
╞════════════╪════════════════╪══════════╪═══════════╪═══════╪═════════╪══════════╪═══════════╡
│ confidence ┆ conventional   ┆    1.456 ┆    0.2935 ┆ 4.959 ┆  <0.001 ┆   0.8804 ┆     2.031 │
│ confidence ┆ bias-corrected ┆    1.387 ┆    0.2935 ┆ 4.724 ┆  <0.001 ┆   0.8115 ┆     1.962 │
│ confidence ┆ robust         ┆    1.387 ┆    0.3481 ┆ 3.984 ┆  <0.001 ┆   0.7045 ┆     2.069 │
└────────────┴────────────────┴──────────┴───────────┴───────┴─────────┴──────────┴───────────┘
Note: rdrobust's method (Calonico, Cattaneo and Titiunik): triangular kernel, order p = 1 with the bias from order 2; variance from nearest-neighbour residuals (3 neighbours); rows at the cutoff count as above it
Note: h: one MSE-optimal bandwidth for both sides (rdrobust's mserd), b from the same selector for the bias
Note: Robust: the bias-corrected estimate with the bias estimate's variance added; intervals are normal-based"#,
    }],
    run: rdd,
};

/// The columns of a design, collected: rows with any of them missing are dropped.
struct Columns {
    x: Vec<f64>,
    y: Vec<f64>,
    treatment: Option<Vec<f64>>,
    clusters: Option<Vec<u32>>,
    dropped: usize,
}

fn rdd(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let formula = args
        .iter()
        .find_map(|a| super::super::formula_of(a))
        .ok_or_else(|| {
            ctx.usage_error("`rdd` takes a formula, as `rdd vote ~ margin, cutoff = 0`")
        })?;
    let running = super::single_term(ctx, formula, "running-variable")?;
    let Some((cutoff, cutoff_span)) = ctx.number("cutoff")? else {
        return Err(ctx
            .usage_error("`rdd` needs `cutoff = ...`, where the running variable assigns treatment")
            .with_help(format!(
                "write `rdd {} ~ {}, cutoff = 0`",
                ctx.text(formula.lhs.span),
                ctx.text(running.span)
            )));
    };
    let fuzzy = ctx.option("fuzzy").and_then(|a| a.as_expr());
    let cluster = ctx.option("cluster").and_then(|a| a.as_expr());
    let h = ctx.number("h")?;
    let b = ctx.number("b")?;
    if let (Some((_, span)), None) = (b, h) {
        return Err(Diagnostic::new(
            "spel::rdd::b_without_h",
            "`b` is the bias-correction bandwidth beside a given `h`",
        )
        .at(span)
        .with_help("give `h =` as well, or leave both out for the MSE-optimal bandwidths"));
    }
    let options = Options {
        cutoff,
        order: ctx.number("p")?.map_or(1, |(p, _)| p as usize),
        kernel: kernel(ctx)?,
        h: h.map(|(h, _)| (h, h)),
        b: b.map(|(b, _)| (b, b)),
        variance: if cluster.is_some() {
            Variance::Cluster
        } else {
            Variance::NearestNeighbours(3)
        },
        adjust_mass_points: ctx.choice::<MassPoints>("masspoints")? != Some(MassPoints::Off),
    };
    let level = ctx.number("level")?.map_or(0.95, |(l, _)| l);
    let sides = ctx.choice::<RddShow>("show")? == Some(RddShow::Sides);

    let columns = collect(ctx, &formula.lhs, running, fuzzy, cluster)?;
    let what = format!(
        "fitting a regression discontinuity on {}",
        format::plural(columns.x.len(), "row")
    );
    let fitted = {
        let options = options.clone();
        let (x, y, t, g) = (
            columns.x.clone(),
            columns.y.clone(),
            columns.treatment.clone(),
            columns.clusters.clone(),
        );
        ctx.env.work().run(&what, ctx.call.span, move || {
            Ok(rdd::estimate(
                &Data {
                    x: &x,
                    y: &y,
                    treatment: t.as_deref(),
                    clusters: g.as_deref(),
                },
                &options,
            ))
        })?
    };
    let spans = Spans {
        running,
        cutoff: cutoff_span,
        fuzzy,
        h: h.map(|(_, s)| s),
        cluster: cluster.map(|c| c.span),
        call: ctx.call.span,
    };
    let result = fitted.map_err(|e| explain(ctx, e, &spans))?;
    if !result.effect.conventional.is_finite() {
        return Err(Diagnostic::new(
            "spel::rdd::no_jump",
            "the treatment does not jump at the cutoff within the bandwidth: the fuzzy effect is not defined",
        )
        .at(fuzzy.map_or(ctx.call.span, |f| f.span))
        .with_help("check that the cutoff is where treatment changes, or widen `h`"));
    }
    let names = Names {
        outcome: ctx.text(formula.lhs.span).to_string(),
        running: ctx.text(running.span).to_string(),
        treatment: fuzzy.map(|f| ctx.text(f.span).to_string()),
    };
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let table = if sides {
        sides_table(&result).map_err(fail)?
    } else {
        estimates_table(&result, &names, level).map_err(fail)?
    };
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: title(&result, &names, cutoff, &options),
        table,
        notes: notes(&result, &columns, &names),
        conventions: conventions(&result, &options, cluster.map(|c| ctx.text(c.span))),
    })))
}

struct Names {
    outcome: String,
    running: String,
    treatment: Option<String>,
}

struct Spans<'a> {
    running: &'a Ast,
    cutoff: Span,
    fuzzy: Option<&'a Ast>,
    h: Option<Span>,
    cluster: Option<Span>,
    call: Span,
}

/// The outcome, running variable, treatment and clusters as numbers and codes, over the
/// rows where all are present.
fn collect(
    ctx: &VerbCtx,
    outcome: &Ast,
    running: &Ast,
    fuzzy: Option<&Ast>,
    cluster: Option<&Ast>,
) -> Result<Columns, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let mut selected = Vec::new();
    for (ast, name, role) in [
        (Some(outcome), "y", "outcome"),
        (Some(running), "x", "running variable"),
        (fuzzy, "t", "treatment (`fuzzy`)"),
    ] {
        let Some(ast) = ast else { continue };
        let (expr, dtype) = scope.checked(ast)?;
        if !is_numeric(&dtype) && dtype != DataType::Boolean {
            return Err(Diagnostic::new(
                "spel::rdd::not_numeric",
                format!(
                    "the {role} `{}` must be a number; it is {}",
                    ctx.text(ast.span),
                    crate::value::dtype_name(&dtype)
                ),
            )
            .at(ast.span)
            .with_help(if dtype == DataType::String {
                "a file that writes missing numbers as text is read with `null_values`, as `read \"file.csv\", null_values = [\"NA\"]`"
            } else {
                "give a numeric column"
            }));
        }
        selected.push(expr.cast(DataType::Float64).alias(name));
    }
    if let Some(ast) = cluster {
        selected.push(scope.checked(ast)?.0.cast(DataType::String).alias("g"));
    }
    let (df, missing) = super::complete_rows(ctx, lf, selected)?;
    let x = super::floats(ctx, &df, "x")?;
    let y = super::floats(ctx, &df, "y")?;
    let treatment = match fuzzy {
        Some(_) => Some(super::floats(ctx, &df, "t")?),
        None => None,
    };
    let clusters = match cluster {
        Some(_) => {
            let mut codes: HashMap<String, u32> = HashMap::new();
            let labels = super::strings(ctx, &df, "g")?;
            Some(
                labels
                    .into_iter()
                    .map(|l| {
                        let next = codes.len() as u32;
                        *codes.entry(l).or_insert(next)
                    })
                    .collect(),
            )
        }
        None => None,
    };
    // NaN counts as missing, as rdrobust drops it.
    let keep: Vec<bool> = (0..x.len())
        .map(|i| {
            x[i].is_finite()
                && y[i].is_finite()
                && treatment.as_ref().is_none_or(|t| t[i].is_finite())
        })
        .collect();
    let pick = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect()
    };
    let kept = keep.iter().filter(|k| **k).count();
    Ok(Columns {
        x: pick(&x),
        y: pick(&y),
        treatment: treatment.as_deref().map(pick),
        clusters: clusters.map(|g: Vec<u32>| {
            g.into_iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(g, _)| g)
                .collect()
        }),
        dropped: missing + (x.len() - kept),
    })
}

fn explain(ctx: &VerbCtx, error: RddError, spans: &Spans) -> Diagnostic {
    let running = ctx.text(spans.running.span);
    match error {
        RddError::CutoffOutside { low, .. } if low.is_nan() => Diagnostic::new(
            "spel::rdd::no_rows",
            "no row has the outcome, the running variable (and the treatment) all present",
        )
        .at(spans.call),
        RddError::CutoffOutside { low, high } => Diagnostic::new(
            "spel::rdd::cutoff",
            format!(
                "the cutoff is not inside the values of `{running}`, which run from {} to {}",
                format::number(low),
                format::number(high)
            ),
        )
        .at(spans.cutoff)
        .with_help("a discontinuity needs rows on both sides: set `cutoff =` between the lowest and highest values"),
        RddError::TooFewValues {
            right,
            distinct,
            needed,
        } => Diagnostic::new(
            "spel::rdd::too_few_values",
            format!(
                "`{running}` has {} {} the cutoff; the polynomial and its bias correction need {needed}",
                format::plural(distinct, "distinct value"),
                if right { "at or above" } else { "below" },
            ),
        )
        .at(spans.running.span)
        .with_help("lower `p`, or check that the cutoff is where you meant it"),
        RddError::NoFirstStage => Diagnostic::new(
            "spel::rdd::no_first_stage",
            "the treatment is constant on both sides of the cutoff and does not jump there: a fuzzy design has no first stage",
        )
        .at(spans.fuzzy.map_or(spans.call, |f| f.span))
        .with_help("`fuzzy` names the treatment each row received (0 or 1, or a dose)"),
        RddError::BandwidthUnidentified => Diagnostic::new(
            "spel::rdd::bandwidth",
            format!("too few distinct values of `{running}` near the cutoff to choose a bandwidth"),
        )
        .at(spans.running.span)
        .with_help("a running variable with few values may not identify a discontinuity; give `h =` to choose the window yourself"),
        RddError::TooFewInWindow => Diagnostic::new(
            "spel::rdd::window",
            format!("the bandwidths hold too few distinct values of `{running}` on a side to fit the polynomials"),
        )
        .at(spans.h.unwrap_or(spans.running.span))
        .with_help("widen `h` (and `b`), or lower `p`"),
        RddError::TooFewClusters => Diagnostic::new(
            "spel::rdd::clusters",
            "a side of the cutoff has a single cluster (or as few rows as coefficients) within the bandwidths: clustered standard errors are not defined",
        )
        .at(spans.cluster.unwrap_or(spans.call))
        .with_help("widen `h` (and `b`), or leave out `cluster`"),
        RddError::Singular => Diagnostic::new(
            "spel::rdd::singular",
            "a local fit could not be computed (its cross-product matrix is singular)",
        )
        .at(spans.call),
    }
}

fn estimates_table(result: &Discontinuity, names: &Names, level: f64) -> PolarsResult<DataFrame> {
    let mut rows: Vec<(String, &str, Coefficient)> = Vec::new();
    let mut add = |term: &str, jump: &Jump| {
        for (method, estimate, se) in [
            ("conventional", jump.conventional, jump.conventional_se),
            ("bias-corrected", jump.bias_corrected, jump.conventional_se),
            ("robust", jump.bias_corrected, jump.robust_se),
        ] {
            rows.push((
                term.to_string(),
                method,
                Coefficient::wald(term, estimate, se, Distribution::Normal, level),
            ));
        }
    };
    add(&names.outcome, &result.effect);
    if let (Some(first), Some(treatment)) = (&result.first_stage, &names.treatment) {
        add(treatment, first);
    }
    df!(
        "term" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "method" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "estimate" => rows.iter().map(|r| r.2.estimate).collect::<Vec<_>>(),
        "std_error" => rows.iter().map(|r| r.2.std_error).collect::<Vec<_>>(),
        "z" => rows.iter().map(|r| r.2.statistic).collect::<Vec<_>>(),
        "p_value" => rows.iter().map(|r| r.2.p_value).collect::<Vec<_>>(),
        "conf_low" => rows.iter().map(|r| r.2.conf_low).collect::<Vec<_>>(),
        "conf_high" => rows.iter().map(|r| r.2.conf_high).collect::<Vec<_>>(),
    )
}

fn sides_table(result: &Discontinuity) -> PolarsResult<DataFrame> {
    let sides: [(&str, &SideCounts, f64, f64); 2] = [
        ("below", &result.left, result.h.0, result.b.0),
        ("at or above", &result.right, result.h.1, result.b.1),
    ];
    let count =
        |f: fn(&SideCounts) -> usize| -> Vec<i64> { sides.iter().map(|s| f(s.1) as i64).collect() };
    df!(
        "side" => sides.iter().map(|s| s.0).collect::<Vec<_>>(),
        "rows" => count(|s| s.rows),
        "distinct" => count(|s| s.distinct),
        "within_h" => count(|s| s.in_h),
        "within_b" => count(|s| s.in_b),
        "h" => sides.iter().map(|s| s.2).collect::<Vec<_>>(),
        "b" => sides.iter().map(|s| s.3).collect::<Vec<_>>(),
    )
}

fn title(result: &Discontinuity, names: &Names, cutoff: f64, options: &Options) -> String {
    let kind = match &names.treatment {
        Some(t) => format!("fuzzy, treatment {t}"),
        None => "sharp".to_string(),
    };
    let polynomial = match options.order {
        0 => "local constant".to_string(),
        1 => "local linear".to_string(),
        2 => "local quadratic".to_string(),
        p => format!("local polynomial of order {p}"),
    };
    let bandwidth = match result.how {
        Bandwidth::Chosen => "MSE-optimal",
        Bandwidth::Given => "given",
        Bandwidth::WholeRange => "the whole range",
    };
    format!(
        "Regression discontinuity ({kind}): {} ~ {} at {}; {polynomial}, h = {} ({bandwidth}), b = {}; {} and {} rows within h, below and above",
        names.outcome,
        names.running,
        format::number(cutoff),
        side_pair(result.h),
        side_pair(result.b),
        format::count(result.left.in_h),
        format::count(result.right.in_h),
    )
}

/// One number when both sides share it.
fn side_pair((left, right): (f64, f64)) -> String {
    if left == right {
        format::number(left)
    } else {
        format!(
            "{} below, {} above",
            format::number(left),
            format::number(right)
        )
    }
}

fn notes(result: &Discontinuity, columns: &Columns, names: &Names) -> Vec<String> {
    let mut notes: Vec<String> = super::missing_note(columns.dropped).into_iter().collect();
    if result.how == Bandwidth::WholeRange {
        notes.push(format!(
            "Fewer than 20 rows: no bandwidth is chosen; h and b span the whole range of {} (as rdrobust).",
            names.running
        ));
    }
    if result.mass_points {
        notes.push(format!(
            "Mass points: a fifth or more of the rows on a side share their value of {} with another row; the bandwidth selection is adjusted as rdrobust's `masspoints = \"adjust\"` (the pilot bandwidths reach at least the tenth distinct value each side). A discrete running variable may not identify a discontinuity.",
            names.running
        ));
    }
    if result.sharp_bandwidth {
        notes.push(
            "The treatment does not vary on one side of the cutoff: the bandwidths were chosen for the outcome alone, as rdrobust does."
                .to_string(),
        );
    }
    for (side, counts) in [("below", &result.left), ("at or above", &result.right)] {
        if counts.clusters > 0 && counts.clusters < 10 {
            notes.push(format!(
                "Only {} {side} the cutoff: clustered standard errors are unreliable with so few.",
                format::plural(counts.clusters, "cluster")
            ));
        }
    }
    notes
}

fn conventions(result: &Discontinuity, options: &Options, cluster: Option<&str>) -> Vec<String> {
    let kernel = match options.kernel {
        Kernel::Triangular => "triangular",
        Kernel::Epanechnikov => "Epanechnikov",
        Kernel::Uniform => "uniform",
    };
    let variance = match options.variance {
        Variance::NearestNeighbours(k) => {
            format!("variance from nearest-neighbour residuals ({k} neighbours)")
        }
        Variance::Cluster => format!(
            "standard errors clustered by {} ({} and {} clusters below and above; CR1, each side's factor (n − 1)/(n − k)·G/(G − 1))",
            cluster.unwrap_or("cluster"),
            format::count(result.left.clusters),
            format::count(result.right.clusters)
        ),
    };
    let mut lines = vec![format!(
        "rdrobust's method (Calonico, Cattaneo and Titiunik): {kernel} kernel, order p = {} with the bias from order {}; {variance}; rows at the cutoff count as above it",
        options.order,
        options.order + 1
    )];
    if result.how == Bandwidth::Chosen {
        lines.push(
            "h: one MSE-optimal bandwidth for both sides (rdrobust's mserd), b from the same selector for the bias".to_string(),
        );
    }
    lines.push(
        "Robust: the bias-corrected estimate with the bias estimate's variance added; intervals are normal-based".to_string(),
    );
    if result.first_stage.is_some() {
        lines.push(
            "Fuzzy: the outcome's jump over the treatment's; bias-corrected by rdrobust's linearisation, standard errors by the delta method".to_string(),
        );
    }
    lines
}
