//! `plot` and `forest`: a table's columns, or one term across models, as a plot.

use polars::prelude::*;
use spel_grammar::ast::{Connective, Expr as Ast, ExprKind};
use spel_grammar::{Diagnostic, Span};

use super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::eval::expr::Scope;
use crate::plot::{Datum, Mark, Plot, Scale};
use crate::value::Value;

pub static VERBS: &[Verb] = &[
    Verb {
        name: "plot",
        signature: "plot line | bar | hist | scatter | interval Y [by X] [, colour = C] [, low = L, high = H] [, ref = V] [, title = \"...\"] [, bins = K] | plot rd OUTCOME ~ RUNNING, cutoff = C [, bins = 20] [, p = 4] | plot balance",
        summary: "Plot columns of a table: lines, bars, a histogram, points, or estimates with intervals.",
        description: "`line`, `scatter` and `interval` put Y against X (numbers, dates or \
                      categories); `bar` draws one bar per value of X in the table's order (sort the table \
                      to order them; numbers by value), grouped by `colour`; \
                      `hist` counts Y in `bins` equal bins (default: Sturges' rule; whole numbers get bins of whole width centred on them, so perhaps fewer). Y may be a \
                      list of columns, `[observed, fitted]`, one series each; `colour` splits by a \
                      column instead. `interval` draws each estimate with the interval from `low` \
                      to `high` (event studies, a coefficient's path), and with `truth` a \
                      simulation's true value beside each; `line` with `low` and \
                      `high` shades the band between them around its line (the last of several \
                      Y columns): a counterfactual's interval. `ref` adds a dashed \
                      line at that value of Y. `rd` draws a regression discontinuity: the \
                      outcome's mean in `bins` evenly spaced bins each side of the cutoff \
                      (default 20) and a polynomial of order `p` (default 4, as rdplot) \
                      fitted to each side's rows. `balance` draws the table piped from \
                      `balance` as a love plot: each covariate's standardised difference, \
                      before (hollow) and after (filled) weighting when it has both, with \
                      a line at 0 and dashed lines at ±0.1. Notebooks show the plot as SVG and Vega-Lite; \
                      the terminal shows one line describing it; `write` saves it (.svg, or \
                      .json for the Vega-Lite spec).",
        connectives: &[Connective::By],
        options: &[
            OptionSpec::new(
                "colour",
                OptionKind::Column,
                "a column",
                "One series (colour) per value of this column.",
            ),
            OptionSpec::new(
                "low",
                OptionKind::Column,
                "a column",
                "Lower end of each interval (`interval`), or of a band around a line (`line`: around the last Y column).",
            ),
            OptionSpec::new(
                "high",
                OptionKind::Column,
                "a column",
                "Upper end of each interval (`interval`), or of a band around a line.",
            ),
            OptionSpec::new(
                "truth",
                OptionKind::Column,
                "a column",
                "`interval` only: each point's true value (a simulation's), an open diamond beside the estimate.",
            ),
            OptionSpec::new(
                "ref",
                OptionKind::Value,
                "a number",
                "A dashed reference line at this value of Y.",
            ),
            OptionSpec::new(
                "xref",
                OptionKind::Value,
                "a number or a date",
                "A dashed vertical line at this value of X: a break, an adoption.",
            ),
            OptionSpec::new("title", OptionKind::Text, "a string", "The plot's title."),
            OptionSpec::new(
                "xlabel",
                OptionKind::Text,
                "a string",
                "The x axis title (default: the column).",
            ),
            OptionSpec::new(
                "ylabel",
                OptionKind::Text,
                "a string",
                "The y axis title (default: the column).",
            ),
            OptionSpec::new(
                "bins",
                OptionKind::Whole {
                    min: 1.0,
                    max: 10_000.0,
                },
                "a whole number",
                "Bins of a histogram; of `plot rd`, bins each side of the cutoff.",
            ),
            OptionSpec::new(
                "cutoff",
                OptionKind::Number {
                    min: f64::NEG_INFINITY,
                    max: f64::INFINITY,
                },
                "a number",
                "`plot rd` only: where the running variable assigns treatment.",
            ),
            OptionSpec::new(
                "p",
                OptionKind::Whole { min: 0.0, max: 8.0 },
                "a whole number",
                "`plot rd` only: the order of the polynomial fitted each side (default 4).",
            ),
        ],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "Link-worker FTE by quarter, one line per region",
            code: "table quarter = [1, 2, 3, 1, 2, 3], region = [\"North\", \"North\", \"North\", \"South\", \"South\", \"South\"],\n      fte = [10.5, 14.0, 21.5, 8.0, 12.5, 15.0]\n  |> plot line fte by quarter, colour = region",
            output: "line plot of fte by quarter (6 points), 2 series by region",
        }],
        run: plot,
    },
    Verb {
        name: "forest",
        signature: "forest MODEL, MODEL, ... on TERM [, title = \"...\"]",
        summary: "Forest plot of one term across models: estimates (odds ratios) with CIs.",
        description: "One row per model, labelled by its outcome, with the estimate and its \
                      interval on the scale the model reports (odds or rate ratios for \
                      logit, Poisson and negative binomial models) and a dashed line at no \
                      effect (1 for ratios, 0 otherwise).",
        connectives: &[Connective::On],
        options: &[OptionSpec::new(
            "title",
            OptionKind::Text,
            "a string",
            "The plot's title.",
        )],
        named_arguments: false,
        output: Output::Computed,
        examples: &[],
        run: forest,
    },
];

/// A string option, or `None`.
fn text_option(ctx: &VerbCtx, name: &str) -> Result<Option<String>, Diagnostic> {
    match ctx.option_value(name)? {
        None => Ok(None),
        Some((Value::Str(s), _)) => Ok(Some(s)),
        Some((_, span)) => Err(Diagnostic::new(
            "spel::plot::option",
            format!("`{name}` is a string in quotes"),
        )
        .at(span)),
    }
}

fn plot(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let first = ctx
        .args()
        .first()
        .and_then(|a| a.as_expr())
        .and_then(|e| e.as_ident());
    if first == Some("rd") {
        return plot_discontinuity(ctx);
    }
    if first == Some("balance") {
        return plot_balance(ctx);
    }
    for name in ["cutoff", "p"] {
        if let Some(a) = ctx.option(name) {
            return Err(Diagnostic::new(
                "spel::plot::option",
                format!("`{name}` is for `plot rd`, a regression discontinuity"),
            )
            .at(a.span));
        }
    }
    let (mark, kind, y_ast) = plot_kind(ctx)?;
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let request = plot_request(ctx, mark, kind, y_ast)?;
    let (selected, x_scale) = plot_columns(ctx, &scope, &request)?;
    let df = ctx
        .env
        .work()
        .collect(lf.select(selected), "preparing the plot", ctx.call.span)?;
    let y_columns: Vec<Vec<Option<f64>>> = (0..request.y_asts.len())
        .map(|i| numbers(&df, &format!("y{i}"), ctx.call.span).map(Option::unwrap_or_default))
        .collect::<Result<_, _>>()?;
    let plot = empty_plot(ctx, &request, x_scale)?;
    if mark == Mark::Histogram {
        return plot_histogram(ctx, plot, &y_columns[0], y_ast.span);
    }
    plot_points(ctx, &request, &df, &y_columns, plot)
}

/// What `plot` was asked to draw: the kind, the Y columns, and the X, colour and
/// interval columns if given.
struct PlotRequest<'a> {
    mark: Mark,
    /// Y as written: a column or a list of them.
    y_ast: &'a Ast,
    y_asts: Vec<&'a Ast>,
    x_ast: Option<&'a Ast>,
    colour_ast: Option<&'a Ast>,
    low_ast: Option<&'a Ast>,
    high_ast: Option<&'a Ast>,
    truth_ast: Option<&'a Ast>,
}

/// The kind of plot, as written and as a mark, and Y.
fn plot_kind<'a>(ctx: &VerbCtx<'a>) -> Result<(Mark, &'a str, &'a Ast), Diagnostic> {
    let args = ctx.args();
    let kinds = [
        "line", "bar", "hist", "scatter", "interval", "rd", "balance",
    ];
    let kind_arg = args.first().and_then(|a| a.as_expr());
    let kind = kind_arg.and_then(|e| e.as_ident()).unwrap_or("");
    let mark = match kind {
        "line" => Mark::Line,
        "bar" => Mark::Bar,
        "hist" => Mark::Histogram,
        "scatter" => Mark::Scatter,
        "interval" => Mark::Interval,
        _ => {
            return Err(Diagnostic::new(
                "spel::plot::kind",
                format!("`plot` draws {}, not `{kind}`", kinds.join(", ")),
            )
            .at(kind_arg.map_or(ctx.call.verb.span, |e| e.span))
            .suggest(spel_grammar::did_you_mean(kind, kinds))
            .with_help("write the kind first: `plot line fte by quarter`"));
        }
    };
    let Some(y_ast) = args.get(1).and_then(|a| a.as_expr()) else {
        return Err(ctx.usage_error(format!("say what to plot: `plot {kind} COLUMN by COLUMN`")));
    };
    Ok((mark, kind, y_ast))
}

/// The Y columns, X and the options, each checked against the kind.
fn plot_request<'a>(
    ctx: &VerbCtx<'a>,
    mark: Mark,
    kind: &'a str,
    y_ast: &'a Ast,
) -> Result<PlotRequest<'a>, Diagnostic> {
    let y_asts: Vec<&Ast> = match &y_ast.kind {
        ExprKind::List(items) => items.iter().collect(),
        _ => vec![y_ast],
    };
    if y_asts.is_empty() {
        return Err(
            Diagnostic::new("spel::plot::series", "`[]` names no column to plot")
                .at(y_ast.span)
                .with_help(format!(
                    "name one, or several in brackets: `plot {kind} [a, b] by x`"
                )),
        );
    }
    let by = ctx.clause_args(Connective::By);
    let x_ast = by.first().and_then(|a| a.as_expr());
    if x_ast.is_none() && mark != Mark::Histogram {
        return Err(ctx.usage_error(format!(
            "`plot {kind}` needs `by` and the x column: `plot {kind} {} by quarter`",
            ctx.text(y_ast.span)
        )));
    }
    let column_option = |name: &str| ctx.option(name).and_then(|a| a.as_expr());
    let colour_ast = column_option("colour");
    if colour_ast.is_some() && y_asts.len() > 1 {
        return Err(Diagnostic::new(
            "spel::plot::series",
            "give several Y columns or `colour`, not both",
        )
        .at(y_ast.span));
    }
    let (low_ast, high_ast) = (column_option("low"), column_option("high"));
    if mark == Mark::Interval && (low_ast.is_none() || high_ast.is_none()) {
        return Err(ctx.usage_error(
            "`plot interval` needs `low = ...` and `high = ...`, the interval's ends",
        ));
    }
    if let Some(lone) = match (low_ast, high_ast) {
        (Some(a), None) | (None, Some(a)) => Some(a),
        _ => None,
    } {
        return Err(Diagnostic::new(
            "spel::plot::band",
            "`low` and `high` go together: a band or an interval needs both ends",
        )
        .at(lone.span));
    }
    if !matches!(mark, Mark::Line | Mark::Interval)
        && let Some(end) = low_ast
    {
        return Err(Diagnostic::new(
            "spel::plot::band",
            format!(
                "`plot {kind}` draws no interval: `low` and `high` are for `line` and `interval`"
            ),
        )
        .at(end.span));
    }
    let truth_ast = column_option("truth");
    if let Some(truth) = truth_ast.filter(|_| mark != Mark::Interval) {
        return Err(Diagnostic::new(
            "spel::plot::truth",
            "`truth` marks the true value beside each estimate of `plot interval`",
        )
        .at(truth.span));
    }
    Ok(PlotRequest {
        mark,
        y_ast,
        y_asts,
        x_ast,
        colour_ast,
        low_ast,
        high_ast,
        truth_ast,
    })
}

/// The columns to read, as `y0`, `y1`, ..., `x`, `colour`, `low` and `high`, and the
/// scale X is on.
fn plot_columns(
    ctx: &VerbCtx,
    scope: &Scope,
    request: &PlotRequest,
) -> Result<(Vec<Expr>, Scale), Diagnostic> {
    let mut selected = Vec::new();
    for (i, ast) in request.y_asts.iter().enumerate() {
        let (e, dtype) = scope.checked(ast)?;
        if !dtype.is_primitive_numeric() && dtype != DataType::Boolean {
            return Err(Diagnostic::new(
                "spel::plot::not_numeric",
                format!(
                    "`{}` is {dtype}, and a plot's values are numbers",
                    ctx.text(ast.span)
                ),
            )
            .at(ast.span)
            .with_help(
                "plot a count instead: `summarise n = n() by ...` then `plot bar n by ...`",
            ));
        }
        selected.push(e.cast(DataType::Float64).alias(format!("y{i}")));
    }
    let mut x_scale = Scale::Number;
    if let Some(ast) = request.x_ast {
        let (e, dtype) = scope.checked(ast)?;
        x_scale = if request.mark == Mark::Bar
            || !(dtype.is_primitive_numeric() || dtype.is_temporal())
        {
            Scale::Category
        } else if dtype.is_temporal() {
            Scale::Date
        } else {
            Scale::Number
        };
        selected.push(match x_scale {
            Scale::Category => e.cast(DataType::String).alias("x"),
            Scale::Date => e
                .cast(DataType::Date)
                .cast(DataType::Int32)
                .cast(DataType::Float64)
                .alias("x"),
            Scale::Number => e.cast(DataType::Float64).alias("x"),
        });
    }
    if let Some(ast) = request.colour_ast {
        selected.push(scope.checked(ast)?.0.cast(DataType::String).alias("colour"));
    }
    for (name, ast) in [
        ("low", request.low_ast),
        ("high", request.high_ast),
        ("truth", request.truth_ast),
    ] {
        if let Some(ast) = ast {
            selected.push(scope.checked(ast)?.0.cast(DataType::Float64).alias(name));
        }
    }
    Ok((selected, x_scale))
}

/// A column of numbers; `None` when there is none of that name.
fn numbers(df: &DataFrame, name: &str, span: Span) -> Result<Option<Vec<Option<f64>>>, Diagnostic> {
    match df.column(name) {
        Ok(c) if c.dtype() == &DataType::Float64 => Ok(Some(
            c.f64()
                .map_err(|e| polars_error(e).at(span))?
                .iter()
                .collect(),
        )),
        _ => Ok(None),
    }
}

/// A column of strings; `None` when there is none of that name.
fn strings(
    df: &DataFrame,
    name: &str,
    span: Span,
) -> Result<Option<Vec<Option<String>>>, Diagnostic> {
    match df.column(name) {
        Ok(c) if c.dtype() == &DataType::String => Ok(Some(
            c.str()
                .map_err(|e| polars_error(e).at(span))?
                .iter()
                .map(|v| v.map(str::to_string))
                .collect(),
        )),
        _ => Ok(None),
    }
}

/// The plot with its titles, scale and reference line, before its data.
fn empty_plot(ctx: &VerbCtx, request: &PlotRequest, x_scale: Scale) -> Result<Plot, Diagnostic> {
    let mark = request.mark;
    let y_title = match text_option(ctx, "ylabel")? {
        Some(t) => t,
        None if mark == Mark::Histogram => "count".into(),
        None => request
            .y_asts
            .iter()
            .map(|a| ctx.text(a.span))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let x_title = match text_option(ctx, "xlabel")? {
        Some(t) => t,
        None => ctx
            .text(request.x_ast.unwrap_or(request.y_ast).span)
            .to_string(),
    };
    Ok(Plot {
        mark,
        title: text_option(ctx, "title")?,
        x_title,
        y_title,
        x_scale,
        categories: Vec::new(),
        series: Vec::new(),
        series_title: None,
        data: Vec::new(),
        reference: match ctx.option_value("ref")? {
            None => None,
            Some((Value::Number(x), _)) => Some(x),
            Some((_, span)) => {
                return Err(Diagnostic::new("spel::plot::ref", "`ref` is a number").at(span));
            }
        },
        log_scale: false,
        x_reference: x_reference(ctx, x_scale)?,
    })
}

/// Where `xref` puts its line, in the x axis's own units: a number on a numeric axis, a
/// date (as days since 1970-01-01) on a date axis. A bar chart's categories have no
/// place between them, and a date on a numeric axis (or a number on a date axis) would
/// land somewhere meaningless: both are errors, not a line left out.
fn x_reference(ctx: &VerbCtx, x_scale: Scale) -> Result<Option<f64>, Diagnostic> {
    let Some((value, span)) = ctx.option_value("xref")? else {
        return Ok(None);
    };
    match (value, x_scale) {
        (Value::Number(x), Scale::Number) => Ok(Some(x)),
        (Value::Date(d), Scale::Date) => Ok(Some(f64::from(
            (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32,
        ))),
        (_, scale) => Err(Diagnostic::new(
            "spel::plot::xref",
            match scale {
                Scale::Category => "`xref` needs a numeric or date x axis; this one has categories",
                Scale::Date => "`xref` on a date axis is a date",
                Scale::Number => "`xref` on a numeric axis is a number",
            },
        )
        .at(span)
        .with_help("write `xref = 2019-07-01` for dates, `xref = -0.5` for numbers")),
    }
}

/// A histogram of the finite values of Y.
fn plot_histogram(
    ctx: &VerbCtx,
    mut plot: Plot,
    ys: &[Option<f64>],
    y_span: Span,
) -> Result<Value, Diagnostic> {
    let values: Vec<f64> = ys
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let bins = match ctx.option_value("bins")? {
        None => ((values.len().max(1) as f64).log2().ceil() as usize + 1).max(1),
        Some((Value::Number(k), _)) if k >= 1.0 && k.fract() == 0.0 => k as usize,
        Some((_, span)) => {
            return Err(Diagnostic::new(
                "spel::plot::bins",
                "`bins` is a whole number of 1 or more",
            )
            .at(span));
        }
    };
    histogram(&mut plot, &values, bins, y_span)?;
    Ok(Value::Plot(std::sync::Arc::new(plot)))
}

/// Lines, bars, points or intervals: a datum per row and series with X and Y present.
fn plot_points(
    ctx: &VerbCtx,
    request: &PlotRequest,
    df: &DataFrame,
    y_columns: &[Vec<Option<f64>>],
    mut plot: Plot,
) -> Result<Value, Diagnostic> {
    let span = ctx.call.span;
    let n = df.height();
    let x_numbers = numbers(df, "x", span)?;
    let x_strings = strings(df, "x", span)?;
    let colours = strings(df, "colour", span)?;
    let (lows, highs) = (numbers(df, "low", span)?, numbers(df, "high", span)?);
    let truths = numbers(df, "truth", span)?;
    if plot.x_scale == Scale::Category {
        // In the table's order (sort the table to order the bars), numbers by value.
        let mut levels: Vec<String> = Vec::new();
        for level in x_strings.iter().flatten().flatten() {
            if !levels.contains(level) {
                levels.push(level.clone());
            }
        }
        if levels.iter().all(|l| l.parse::<f64>().is_ok()) {
            sort_levels(&mut levels);
        }
        plot.categories = levels;
    }
    if let Some(colours) = &colours {
        let mut levels: Vec<String> = colours.iter().flatten().cloned().collect();
        sort_levels(&mut levels);
        plot.series = levels;
        plot.series_title = request.colour_ast.map(|a| ctx.text(a.span).to_string());
    } else if request.y_asts.len() > 1 {
        plot.series = request
            .y_asts
            .iter()
            .map(|a| ctx.text(a.span).to_string())
            .collect();
    }
    for (s, ys) in y_columns.iter().enumerate() {
        for row in 0..n {
            let x = match (&x_numbers, &x_strings) {
                (Some(xs), _) => xs[row],
                (_, Some(xs)) => xs[row]
                    .as_ref()
                    .and_then(|v| plot.categories.iter().position(|c| c == v))
                    .map(|i| i as f64),
                _ => None,
            };
            let (Some(x), Some(y)) = (x, ys[row]) else {
                continue;
            };
            let series = match &colours {
                Some(cs) => match &cs[row] {
                    Some(c) => plot.series.iter().position(|v| v == c).unwrap_or(0),
                    None => continue,
                },
                None => s,
            };
            // A line's band belongs to the last of several Y columns (write the line it
            // surrounds last); every interval and coloured series has its own.
            let banded = request.mark != Mark::Line || s + 1 == y_columns.len();
            plot.data.push(Datum {
                x,
                x_end: None,
                label: String::new(),
                y,
                low: lows.as_ref().and_then(|l| l[row]).filter(|_| banded),
                high: highs.as_ref().and_then(|h| h[row]).filter(|_| banded),
                truth: truths.as_ref().and_then(|t| t[row]),
                series,
            });
        }
    }
    if plot.data.is_empty() {
        return Err(Diagnostic::new(
            "spel::plot::empty",
            "nothing to plot: every row has a missing value",
        )
        .at(request.y_ast.span));
    }
    Ok(Value::Plot(std::sync::Arc::new(plot)))
}

/// Levels in a readable order: as numbers when they all are, else alphabetically.
fn sort_levels(levels: &mut Vec<String>) {
    levels.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    levels.dedup();
}

fn histogram(plot: &mut Plot, values: &[f64], bins: usize, span: Span) -> Result<(), Diagnostic> {
    if values.is_empty() {
        return Err(Diagnostic::new(
            "spel::plot::empty",
            "nothing to plot: every value is missing",
        )
        .at(span));
    }
    let (low, high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    // Whole numbers (counts of visits, ages) get bins of whole width centred on them, so
    // no bar holds 2.5 visits or splits the values 3 and 4 unevenly; there may then be
    // fewer bins than asked.
    let (low, width, bins) = if values.iter().all(|v| v.fract() == 0.0) {
        let values_spanned = high - low + 1.0;
        let width = (values_spanned / bins as f64).ceil().max(1.0);
        (low - 0.5, width, (values_spanned / width).ceil() as usize)
    } else if high > low {
        (low, (high - low) / bins as f64, bins)
    } else {
        (low, 1.0, bins)
    };
    let mut counts = vec![0usize; bins];
    for v in values {
        let i = (((v - low) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    plot.x_scale = Scale::Number;
    plot.data = counts
        .iter()
        .enumerate()
        .map(|(i, c)| Datum {
            x: low + width * i as f64,
            x_end: Some(low + width * (i + 1) as f64),
            label: String::new(),
            y: *c as f64,
            low: None,
            high: None,
            truth: None,
            series: 0,
        })
        .collect();
    Ok(())
}

fn forest(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    if args.is_empty() {
        return Err(
            ctx.usage_error("`forest` takes models and `on` a term: `forest m1, m2 on lw_fte_50k`")
        );
    }
    let models = super::post::models(ctx, &args)?;
    let on = ctx.clause_args(Connective::On);
    let Some(term_ast) = on.first().and_then(|a| a.as_expr()) else {
        return Err(
            ctx.usage_error("`forest` needs `on` and the term: `forest m1, m2 on lw_fte_50k`")
        );
    };
    let term = ctx.text(term_ast.span).to_string();
    let ratio = models[0].1.ratio_name();
    let mut data = Vec::new();
    let mut categories = Vec::new();
    for (i, (name, model)) in models.iter().enumerate() {
        if model.ratio_name().map(|r| r.0) != ratio.map(|r| r.0) {
            return Err(Diagnostic::new(
                "spel::forest::scales",
                format!("`{name}` reports on another scale than `{}`", models[0].0),
            )
            .at(args[i].span)
            .with_help("put models of one family (all logits, say) in one forest plot"));
        }
        let Some(c) = model.coefficients.iter().find(|c| c.term == term) else {
            return Err(Diagnostic::new(
                "spel::forest::term",
                format!("`{name}` has no term `{term}`"),
            )
            .at(term_ast.span)
            .suggest(spel_grammar::did_you_mean(
                &term,
                model.coefficients.iter().map(|c| c.term.as_str()),
            ))
            .with_note(format!(
                "its terms are {}",
                model
                    .coefficients
                    .iter()
                    .map(|c| c.term.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let scale = |x: f64| if ratio.is_some() { x.exp() } else { x };
        let label = if models
            .iter()
            .filter(|(_, m)| m.outcome == model.outcome)
            .count()
            > 1
        {
            format!("{} ({name})", model.outcome)
        } else {
            model.outcome.clone()
        };
        categories.push(label.clone());
        data.push(Datum {
            x: i as f64,
            x_end: None,
            label,
            y: scale(c.estimate),
            low: Some(scale(c.conf_low)),
            high: Some(scale(c.conf_high)),
            truth: None,
            series: 0,
        });
    }
    let level = (models[0].1.level * 100.0).round();
    let plot = Plot {
        mark: Mark::Forest,
        title: text_option(ctx, "title")?,
        x_title: match ratio {
            Some((name, _)) => format!(
                "{} for {term} ({level}% CI)",
                if name == "odds_ratio" {
                    "Odds ratio"
                } else {
                    "Rate ratio"
                }
            ),
            None => format!("estimate for {term} ({level}% CI)"),
        },
        y_title: String::new(),
        x_scale: Scale::Category,
        categories,
        series: Vec::new(),
        series_title: None,
        data,
        reference: Some(if ratio.is_some() { 1.0 } else { 0.0 }),
        log_scale: ratio.is_some(),
        x_reference: None,
    };
    Ok(Value::Plot(std::sync::Arc::new(plot)))
}

/// `balance ... |> plot balance`: the balance table as a love plot, each covariate's
/// standardised difference before and (with weights) after.
fn plot_balance(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    if let Some(extra) = ctx.args().get(1) {
        return Err(Diagnostic::new(
            "spel::plot::balance",
            "`plot balance` draws the table from `balance`: it takes no columns",
        )
        .at(extra.span)
        .with_help("write `d |> balance treat ~ age + educ |> plot balance`"));
    }
    let lf = ctx.table()?;
    let df = ctx
        .env
        .work()
        .collect(lf, "preparing the plot", ctx.call.span)?;
    let has = |name: &str| df.column(name).is_ok();
    let series: &[(&str, &str)] = if has("diff_before") && has("diff_after") {
        &[("diff_before", "before"), ("diff_after", "after")]
    } else if has("difference") {
        &[("difference", "unadjusted")]
    } else {
        &[]
    };
    if series.is_empty() || !has("covariate") {
        return Err(Diagnostic::new(
            "spel::plot::balance",
            "`plot balance` draws the table from `balance`; this table has no `covariate` and `difference` (or `diff_before` and `diff_after`) columns",
        )
        .at(ctx.call.verb.span)
        .with_help("pipe `balance` into it: `d |> balance treat ~ age + educ, weights = w |> plot balance`"));
    }
    let span = ctx.call.span;
    let categories: Vec<String> = strings(&df, "covariate", span)?
        .unwrap_or_default()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let mut data = Vec::new();
    for (s, (column, _)) in series.iter().enumerate() {
        let values = numbers(&df, column, span)?.unwrap_or_default();
        for (row, value) in values.iter().enumerate() {
            if let Some(y) = value {
                data.push(Datum {
                    x: row as f64,
                    x_end: None,
                    label: categories[row].clone(),
                    y: *y,
                    low: None,
                    high: None,
                    truth: None,
                    series: s,
                });
            }
        }
    }
    Ok(Value::Plot(std::sync::Arc::new(Plot {
        mark: Mark::Balance,
        title: text_option(ctx, "title")?,
        x_title: text_option(ctx, "xlabel")?
            .unwrap_or_else(|| "Standardised mean difference".to_string()),
        y_title: String::new(),
        x_scale: Scale::Category,
        categories,
        series: series.iter().map(|(_, name)| name.to_string()).collect(),
        series_title: None,
        data,
        reference: Some(0.0),
        log_scale: false,
        x_reference: None,
    })))
}

/// `plot rd OUTCOME ~ RUNNING, cutoff = C`: binned means and a polynomial each side.
fn plot_discontinuity(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let Some(formula) = args.get(1).and_then(|a| super::formula_of(a)) else {
        return Err(
            ctx.usage_error("`plot rd` takes a formula: `plot rd vote ~ margin, cutoff = 0`")
        );
    };
    let running = super::designs::single_term(ctx, formula, "running-variable")?;
    let Some((cutoff, cutoff_span)) = ctx.number("cutoff")? else {
        return Err(ctx.usage_error(
            "`plot rd` needs `cutoff = ...`, where the running variable assigns treatment",
        ));
    };
    let bins = ctx.number("bins")?.map_or(20, |(k, _)| k as usize);
    let order = ctx.number("p")?.map_or(4, |(p, _)| p as usize);
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let (y, _) = scope.checked(&formula.lhs)?;
    let (x, _) = scope.checked(running)?;
    let (ys, xs) = super::designs::complete_pairs(ctx, lf, y, x, false, "rows")?;
    let (low, high) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    if !(cutoff > low && cutoff < high) {
        return Err(Diagnostic::new(
            "spel::plot::cutoff",
            "the cutoff is not inside the running variable's values: a discontinuity plot needs rows on both sides",
        )
        .at(cutoff_span));
    }
    let Some(drawn) = spel_stats::designs::rdd::binned_plot(&xs, &ys, cutoff, bins, order) else {
        return Err(Diagnostic::new(
            "spel::plot::values",
            format!("a side of the cutoff has too few distinct values of `{}` for a polynomial of order {order}", ctx.text(running.span)),
        )
        .at(running.span)
        .with_help("lower `p`"));
    };
    let datum = |series: usize, label: &str, x: f64, y: f64| Datum {
        x,
        x_end: None,
        label: label.to_string(),
        y,
        low: None,
        high: None,
        truth: None,
        series,
    };
    let mut data: Vec<Datum> = drawn
        .bins
        .iter()
        .map(|(x, y)| datum(0, "", *x, *y))
        .collect();
    data.extend(
        drawn
            .fits
            .iter()
            .map(|(above, x, y)| datum(1, if *above { "above" } else { "below" }, *x, *y)),
    );
    let title = text_option(ctx, "title")?;
    let x_title = text_option(ctx, "xlabel")?.unwrap_or_else(|| ctx.text(running.span).to_string());
    let y_title =
        text_option(ctx, "ylabel")?.unwrap_or_else(|| ctx.text(formula.lhs.span).to_string());
    Ok(Value::Plot(std::sync::Arc::new(Plot {
        mark: Mark::Discontinuity,
        title,
        x_title,
        y_title,
        x_scale: Scale::Number,
        categories: Vec::new(),
        series: vec![
            format!("mean in {bins} bins a side"),
            format!("polynomial of order {order}"),
        ],
        series_title: None,
        data,
        reference: None,
        log_scale: false,
        x_reference: Some(cutoff),
    })))
}
