//! `rddensity`: the manipulation test of a regression discontinuity — whether the running
//! variable's density jumps at the cutoff — as Cattaneo, Jansson and Ma's `rddensity`
//! (the estimator: `spel_stats::designs::rdd_density`).

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_stats::designs::rdd::Kernel;
use spel_stats::designs::rdd_density::{self, DensityError, DensityTest, MAX_ORDER, Options};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::format;
use crate::value::{Report, Value};

pub const VERB: Verb = Verb {
    name: "rddensity",
    signature: "rddensity RUNNING, cutoff = C [, p = 2] [, kernel = triangular | epanechnikov | uniform] [, h = H]",
    summary: "Manipulation test of a regression discontinuity: does the running variable's density jump at the cutoff? As rddensity.",
    description: "If units can move themselves across the cutoff (a practice nudging its \
                  score over the line), more of them sit just on the favoured side and the \
                  running variable's density jumps there. `rddensity` estimates the density \
                  each side of the cutoff by Cattaneo, Jansson and Ma's local polynomial \
                  method with rddensity's defaults: bandwidths each side chosen for order p \
                  (default 2) and combined as `comb`, the densities from order p + 1 (robust \
                  bias correction), a triangular kernel, jackknife standard errors, repeated \
                  values adjusted; the test is z = (above − below) / its standard error \
                  (rddensity's T) against the normal. A small p-value is evidence of sorting around the \
                  cutoff; a large one is not evidence of its absence.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "cutoff",
            values: "a number",
            kind: OptionKind::Number {
                min: f64::NEG_INFINITY,
                max: f64::INFINITY,
            },
            summary: "Where the running variable assigns treatment (rows at it count as above).",
        },
        OptionSpec {
            name: "p",
            values: "a whole number from 1 to 7",
            kind: OptionKind::Whole {
                min: 1.0,
                max: MAX_ORDER as f64,
            },
            summary: "The order the bandwidths are chosen for (default 2); the densities come from order p + 1.",
        },
        super::rdd::KERNEL_OPTION,
        OptionSpec {
            name: "h",
            values: "a positive number",
            kind: OptionKind::POSITIVE,
            summary: "The bandwidth each side, instead of the chosen ones.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Did practices sort themselves above the funding cutoff? (In the simulation they could not.)",
        code: "simulate funding_cutoff |> rddensity imd_score, cutoff = 30",
        output: r#"Manipulation test: density of imd_score at 30; 4,674 below and 1,826 above, 1,243 and 1,090 within the bandwidths
shape: (3, 6)
┌───────────────┬───────────┬───────────┬─────────┬─────────┬───────┐
│ term          ┆ estimate  ┆ std_error ┆ z       ┆ p_value ┆ h     │
│ ---           ┆ ---       ┆ ---       ┆ ---     ┆ ---     ┆ ---   │
│ str           ┆ f64       ┆ f64       ┆ f64     ┆ f64     ┆ f64   │
╞═══════════════╪═══════════╪═══════════╪═════════╪═════════╪═══════╡
│ density below ┆   0.02771 ┆  0.003358 ┆    null ┆    null ┆ 5.786 │
│ density above ┆   0.02803 ┆   0.00274 ┆    null ┆    null ┆ 7.602 │
│ difference    ┆ 0.0003239 ┆  0.004334 ┆ 0.07474 ┆   0.940 ┆  null │
└───────────────┴───────────┴───────────┴─────────┴─────────┴───────┘
Note: No evidence that the density jumps at the cutoff (p = 0.940); this does not show that no unit sorted itself, only that the test did not detect it.
Note: `imd_score` has repeated values: the distribution function and the jackknife treat each run of equal values together, as rddensity's mass-point adjustment
Note: Cattaneo, Jansson and Ma's local polynomial density estimator as rddensity 3.0: bandwidths chosen for order 2 as rdbwdensity and combined as `comb` (each side the median of its own, the difference's and the sum's); the densities from order 3 (robust bias correction), triangular kernel, jackknife standard errors; z = (above − below) / its standard error (rddensity's T), normal p-value"#,
    }],
    run: rddensity,
};

fn rddensity(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let running = super::leading_column(
        ctx,
        "`rddensity` takes the running variable, as `rddensity margin, cutoff = 0`",
    )?;
    let Some((cutoff, cutoff_span)) = ctx.number("cutoff")? else {
        return Err(ctx
            .usage_error(
                "`rddensity` needs `cutoff = ...`, where the running variable assigns treatment",
            )
            .with_help(format!(
                "write `rddensity {}, cutoff = 0`",
                ctx.text(running.span)
            )));
    };
    let h = ctx.number("h")?;
    let options = Options {
        cutoff,
        order: ctx.number("p")?.map_or(2, |(p, _)| p as usize),
        kernel: super::rdd::kernel(ctx)?,
        bandwidths: h.map(|(h, _)| (h, h)),
    };
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let name = ctx.text(running.span).to_string();
    let x_column = super::numeric_column(
        ctx,
        &scope,
        running,
        "x",
        "spel::rddensity::not_numeric",
        "the running variable",
    )?;
    let (df, dropped) = super::complete_rows(ctx, lf, vec![x_column])?;
    let x: Vec<f64> = super::floats(ctx, &df, "x")?
        .into_iter()
        .filter(|v| v.is_finite())
        .collect();
    if x.len() < 2 {
        return Err(Diagnostic::new(
            "spel::rddensity::no_rows",
            format!("`{name}` has fewer than two values"),
        )
        .at(running.span));
    }
    let what = format!(
        "testing the density of {}",
        format::plural(x.len(), "value")
    );
    let tested = {
        let options = options.clone();
        ctx.env.work().run(&what, ctx.call.span, move || {
            Ok(rdd_density::test(&x, &options))
        })?
    };
    let result = tested.map_err(|e| match e {
        DensityError::CutoffOutside { low, high } => Diagnostic::new(
            "spel::rddensity::cutoff",
            format!(
                "the cutoff is not inside the values of `{name}`, which run from {} to {}",
                format::number(low),
                format::number(high)
            ),
        )
        .at(cutoff_span)
        .with_help("the test compares the density on both sides: set `cutoff =` between the lowest and highest values"),
        DensityError::TooFewRows { below, above, needed } => Diagnostic::new(
            "spel::rddensity::too_few",
            format!(
                "too few rows near the cutoff for the density's polynomial: {below} below and {above} above within the bandwidth; each side needs more than {needed} distinct values"
            ),
        )
        .at(h.map_or(running.span, |(_, span)| span))
        .with_help("widen `h`, or lower `p`"),
        DensityError::NoVariance => Diagnostic::new(
            "spel::rddensity::no_variance",
            "the jackknife variance of the difference in densities is not positive: the test is not defined here",
        )
        .at(ctx.call.span)
        .with_help("widen `h`, or lower `p`"),
    })?;
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let table = table(&result).map_err(fail)?;
    let mut notes: Vec<String> = super::missing_note(dropped).into_iter().collect();
    notes.push(verdict(&result));
    if result.mass_points {
        notes.push(format!(
            "`{name}` has repeated values: the distribution function and the jackknife treat each run of equal values together, as rddensity's mass-point adjustment"
        ));
    }
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: format!(
            "Manipulation test: density of {name} at {}; {} below and {} above, {} and {} within the bandwidths",
            format::number(cutoff),
            format::count(result.below.rows),
            format::count(result.above.rows),
            format::count(result.below.rows_within),
            format::count(result.above.rows_within),
        ),
        table,
        notes,
        conventions: vec![format!(
            "Cattaneo, Jansson and Ma's local polynomial density estimator as rddensity 3.0: {}; the densities from order {} (robust bias correction), {} kernel, jackknife standard errors; z = (above − below) / its standard error (rddensity's T), normal p-value",
            if result.bandwidths_chosen {
                format!(
                    "bandwidths chosen for order {} as rdbwdensity and combined as `comb` (each side the median of its own, the difference's and the sum's)",
                    options.order
                )
            } else {
                "the bandwidth given".to_string()
            },
            options.order + 1,
            match options.kernel {
                Kernel::Triangular => "triangular",
                Kernel::Epanechnikov => "Epanechnikov",
                Kernel::Uniform => "uniform",
            }
        )],
    })))
}

/// What the p-value says, in words a reader can act on.
fn verdict(result: &DensityTest) -> String {
    if result.p_value < 0.05 {
        format!(
            "The density jumps at the cutoff (p = {}): units may have sorted themselves across it, and the discontinuity's comparison of the two sides is in doubt.",
            format::p_value(result.p_value)
        )
    } else {
        format!(
            "No evidence that the density jumps at the cutoff (p = {}); this does not show that no unit sorted itself, only that the test did not detect it.",
            format::p_value(result.p_value)
        )
    }
}

fn table(result: &DensityTest) -> PolarsResult<DataFrame> {
    let null = None::<f64>;
    df!(
        "term" => ["density below", "density above", "difference"],
        "estimate" => [result.below.density, result.above.density, result.difference],
        "std_error" => [result.below.std_error, result.above.std_error, result.std_error],
        "z" => [null, null, Some(result.statistic)],
        "p_value" => [null, null, Some(result.p_value)],
        "h" => [Some(result.below.bandwidth), Some(result.above.bandwidth), null],
    )
}
