//! `meta`: pooling study estimates by inverse-variance meta-analysis, fixed or random
//! effect, as metafor's `rma` (the estimator: `spel_stats::designs::meta`).

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_stats::designs::meta::{self, MetaError, Method, Options, Pooled};

use super::super::{Connective, Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::format;
use crate::plot::{Datum, Mark, Plot, Scale};
use crate::value::{Report, Value};

crate::choice! {
    /// How the between-study variance τ² is estimated.
    enum MethodWord { Reml = "reml", Dl = "dl", Pm = "pm", Fe = "fe" }
}

crate::choice! {
    /// What `meta` shows.
    enum MetaShow {
        Summary = "summary",
        Studies = "studies",
        Heterogeneity = "heterogeneity",
        LeaveOneOut = "leave_one_out",
        Egger = "egger",
        Forest = "forest",
        Funnel = "funnel",
    }
}

pub const VERB: Verb = Verb {
    name: "meta",
    signature: "meta ESTIMATE [by SUBGROUP], se = SE [, label = STUDY] [, method = reml | dl | pm | fe] [, hk = false] [, exponentiate = false] [, level = 0.95] [, show = studies | heterogeneity | leave_one_out | egger | forest | funnel] [, title = \"...\"]",
    summary: "Meta-analysis: study estimates pooled by inverse-variance weights, fixed or random effect, as metafor's rma.",
    description: "Each row is a study with its estimate (a mean difference, a log risk \
                  ratio...) and standard error. The pooled estimate weights each by \
                  1/(se² + τ²), where τ² is the variance of the true effects between studies: \
                  by restricted maximum likelihood (`reml`, default, as metafor), DerSimonian \
                  and Laird (`dl`), Paule and Mandel (`pm`), or 0 (`fe`, a common effect). \
                  Normal-based intervals, or Knapp and Hartung's with t(k − 1) (`hk = \
                  true`). The table: the pooled estimate and the prediction interval for a \
                  new study's effect; notes give τ², I², H² and Cochran's Q. `show = studies` \
                  gives each study's estimate, interval and weight; `show = heterogeneity` the \
                  heterogeneity statistics as a table; `show = leave_one_out` the analysis \
                  without each study in turn; `show = egger` Egger's regression test for \
                  small-study effects; `show = forest` the forest plot (each study's estimate \
                  and interval, its weight beside its name, the pooled diamond and the \
                  prediction interval). `by SUBGROUP` pools each subgroup separately and \
                  tests their difference. `exponentiate = true` reports ratios for estimates \
                  on the log scale.",
    connectives: &[Connective::By],
    options: &[
        OptionSpec {
            name: "se",
            values: "a numeric column",
            kind: OptionKind::Column,
            summary: "Each study's standard error.",
        },
        OptionSpec {
            name: "label",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Each study's name (default: study 1, study 2, ...).",
        },
        OptionSpec {
            name: "method",
            values: "reml, dl, pm or fe",
            kind: OptionKind::Word(MethodWord::WORDS),
            summary: "The estimator of τ²: REML (default), DerSimonian–Laird, Paule–Mandel, or none (fixed effect).",
        },
        OptionSpec {
            name: "hk",
            values: "true or false",
            kind: OptionKind::Bool,
            summary: "Knapp–Hartung standard error and t(k − 1) intervals (default false: normal).",
        },
        OptionSpec {
            name: "exponentiate",
            values: "true or false",
            kind: OptionKind::Bool,
            summary: "Report exp of the estimates and intervals: ratios from log ratios.",
        },
        OptionSpec::LEVEL,
        OptionSpec {
            name: "show",
            values: "summary, studies, heterogeneity, leave_one_out, egger, forest or funnel",
            kind: OptionKind::Word(MetaShow::WORDS),
            summary: "The pooled estimate (default), each study, the heterogeneity statistics, the analysis without each study, Egger's test, the forest plot or the funnel plot.",
        },
        OptionSpec::new(
            "title",
            OptionKind::Text,
            "a string",
            "The forest plot's title.",
        ),
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Three trials' mean differences pooled",
        code: "table trial = [\"A\", \"B\", \"C\"], difference = [2.1, 3.4, 1.2], se = [0.8, 1.1, 0.6]\n  |> meta difference, se = se, label = trial",
        output: r#"Random-effects meta-analysis (REML) of difference: 3 studies
shape: (2, 7)
┌────────────┬──────────┬───────────┬───────┬─────────┬──────────┬───────────┐
│ term       ┆ estimate ┆ std_error ┆ z     ┆ p_value ┆ conf_low ┆ conf_high │
│ ---        ┆ ---      ┆ ---       ┆ ---   ┆ ---     ┆ ---      ┆ ---       │
│ str        ┆ f64      ┆ f64       ┆ f64   ┆ f64     ┆ f64      ┆ f64       │
╞════════════╪══════════╪═══════════╪═══════╪═════════╪══════════╪═══════════╡
│ pooled     ┆    1.968 ┆     0.584 ┆ 3.369 ┆  <0.001 ┆   0.8229 ┆     3.112 │
│ prediction ┆    1.968 ┆    0.8545 ┆  null ┆    null ┆   0.2927 ┆     3.642 │
└────────────┴──────────┴───────────┴───────┴─────────┴──────────┴───────────┘
Note: Heterogeneity: τ² = 0.389102 (τ = 0.62378), I² = 37.4%, H² = 1.597; Q = 3.25333 on 2 df, p = 0.197. The prediction interval is where a new study's true effect would lie.
Note: metafor's rma conventions: weights 1/(se² + τ²), τ² by restricted maximum likelihood (Fisher scoring, to 1e-12); normal-based intervals and tests, and the prediction interval estimate ± z·√(SE² + τ²); I² = τ²/(τ² + s²) with s² the typical within-study variance (from Q with a fixed effect)"#,
    }],
    run: meta_verb,
};

/// The studies as read: estimates, standard errors and names.
struct Studies {
    estimates: Vec<f64>,
    std_errors: Vec<f64>,
    labels: Vec<String>,
    /// Each study's subgroup, with `by`.
    groups: Option<Vec<String>>,
    dropped: usize,
}

fn meta_verb(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let estimate = super::leading_column(
        ctx,
        "`meta` takes the estimates' column, as `meta log_rr, se = se`",
    )?;
    let Some(se) = ctx.option("se").and_then(|a| a.as_expr()) else {
        return Err(ctx
            .usage_error("`meta` needs `se = ...`, each study's standard error")
            .with_help(format!(
                "write `meta {}, se = COLUMN`; from a variance v, derive `se = sqrt(v)` first",
                ctx.text(estimate.span)
            )));
    };
    let label = ctx.option("label").and_then(|a| a.as_expr());
    let by = ctx
        .clause_args(Connective::By)
        .first()
        .and_then(|a| a.as_expr());
    let method = match ctx.choice::<MethodWord>("method")? {
        None | Some(MethodWord::Reml) => Method::Reml,
        Some(MethodWord::Dl) => Method::DerSimonianLaird,
        Some(MethodWord::Pm) => Method::PauleMandel,
        Some(MethodWord::Fe) => Method::Fixed,
    };
    let options = Options {
        method,
        knapp_hartung: ctx.flag("hk")?.unwrap_or(false),
        level: ctx.number("level")?.map_or(0.95, |(l, _)| l),
    };
    let exponentiate = ctx.flag("exponentiate")?.unwrap_or(false);
    let show = ctx.choice::<MetaShow>("show")?.unwrap_or(MetaShow::Summary);

    let studies = read_studies(ctx, estimate, se, label, by)?;
    let pooled =
        meta::pool(&studies.estimates, &studies.std_errors, &options).map_err(|e| match e {
            MetaError::TooFewStudies(_) => Diagnostic::new(
                "spel::meta::too_few",
                "no study to pool: every row lacks the estimate or its standard error",
            )
            .at(estimate.span),
            MetaError::BadStandardError(i) => Diagnostic::new(
                "spel::meta::se",
                format!(
                    "{} has a standard error of {}: each must be positive",
                    if label.is_some() {
                        format!("study {} (`{}`)", i + 1, studies.labels[i])
                    } else {
                        format!("study {}", i + 1)
                    },
                    format::number(studies.std_errors[i])
                ),
            )
            .at(se.span)
            .with_help(
                "a standard error of 0 would give the study infinite weight; check the column",
            ),
            MetaError::NotConverged => Diagnostic::new(
                "spel::meta::not_converged",
                "REML's iterations for τ² did not settle",
            )
            .at(ctx.call.span)
            .with_help("try `method = dl` or `method = pm`"),
        })?;
    let names = Names {
        estimate: ctx.text(estimate.span).to_string(),
        exponentiate,
        statistic: if options.knapp_hartung { "t" } else { "z" },
    };
    if show == MetaShow::Funnel {
        return Ok(Value::Plot(std::sync::Arc::new(funnel_plot(
            &studies, &pooled, &names,
        ))));
    }
    if show == MetaShow::Forest {
        let title = match ctx.option_value("title")? {
            Some((Value::Str(t), _)) => Some(t),
            _ => None,
        };
        return Ok(Value::Plot(std::sync::Arc::new(forest_plot(
            &studies, &pooled, &names, method, &options, title,
        ))));
    }
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let mut notes: Vec<String> = super::missing_note(studies.dropped).into_iter().collect();
    let table = match (show, &studies.groups) {
        (MetaShow::Summary, Some(groups)) => {
            let (table, note) = subgroup_table(&studies, groups, &pooled, &options, &names);
            notes.push(note);
            table
        }
        (MetaShow::Summary, None) => summary_table(&pooled, &names, method != Method::Fixed),
        (MetaShow::Studies, _) => studies_table(&studies, &pooled, &names, options.level),
        (MetaShow::Heterogeneity, _) => heterogeneity_table(&pooled),
        (MetaShow::LeaveOneOut, _) => leave_one_out_table(&studies, &options, &names),
        (MetaShow::Forest | MetaShow::Funnel, _) => unreachable!("the plots returned above"),
        (MetaShow::Egger, _) => {
            let Some(test) = meta::egger(&studies.estimates, &studies.std_errors) else {
                return Err(Diagnostic::new(
                    "spel::meta::egger",
                    "Egger's test needs at least three studies with different standard errors",
                )
                .at(ctx.option("show").map_or(ctx.call.span, |a| a.span)));
            };
            notes.push(egger_note(&test, pooled.studies));
            egger_table(&test)
        }
    }
    .map_err(fail)?;
    if pooled.studies == 1 {
        notes.push(
            "One study: nothing is pooled; the estimate is the study's own, with τ² = 0 and a z test, as metafor"
                .to_string(),
        );
    }
    notes.push(heterogeneity_note(&pooled, method));
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: title(&pooled, method, &names),
        table,
        notes,
        conventions: conventions(method, &options, exponentiate),
    })))
}

struct Names {
    estimate: String,
    exponentiate: bool,
    statistic: &'static str,
}

fn read_studies(
    ctx: &VerbCtx,
    estimate: &spel_grammar::ast::Expr,
    se: &spel_grammar::ast::Expr,
    label: Option<&spel_grammar::ast::Expr>,
    by: Option<&spel_grammar::ast::Expr>,
) -> Result<Studies, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let mut selected = Vec::new();
    for (ast, name, role) in [
        (estimate, "y", "the estimate"),
        (se, "se", "the standard error"),
    ] {
        selected.push(super::numeric_column(
            ctx,
            &scope,
            ast,
            name,
            "spel::meta::not_numeric",
            role,
        )?);
    }
    if let Some(ast) = label {
        selected.push(scope.checked(ast)?.0.cast(DataType::String).alias("label"));
    }
    if let Some(ast) = by {
        selected.push(scope.checked(ast)?.0.cast(DataType::String).alias("group"));
    }
    let (df, dropped) = super::complete_rows(ctx, lf, selected)?;
    let estimates = super::floats(ctx, &df, "y")?;
    let labels = match label {
        Some(_) => super::strings(ctx, &df, "label")?,
        None => (1..=estimates.len())
            .map(|i| format!("study {i}"))
            .collect(),
    };
    let groups = match by {
        Some(_) => Some(super::strings(ctx, &df, "group")?),
        None => None,
    };
    Ok(Studies {
        std_errors: super::floats(ctx, &df, "se")?,
        estimates,
        labels,
        groups,
        dropped,
    })
}

fn title(pooled: &Pooled, method: Method, names: &Names) -> String {
    let model = match method {
        Method::Fixed => "Fixed-effect meta-analysis".to_string(),
        Method::Reml => "Random-effects meta-analysis (REML)".to_string(),
        Method::DerSimonianLaird => "Random-effects meta-analysis (DerSimonian–Laird)".to_string(),
        Method::PauleMandel => "Random-effects meta-analysis (Paule–Mandel)".to_string(),
    };
    let studies = if pooled.studies == 1 {
        "study"
    } else {
        "studies"
    };
    format!(
        "{model} of {}: {} {studies}",
        names.estimate,
        format::count(pooled.studies)
    )
}

/// The scale the estimates are reported on.
fn shown(names: &Names, x: f64) -> f64 {
    if names.exponentiate { x.exp() } else { x }
}

/// The pooled row, and with a random effect the prediction interval's.
fn summary_table(pooled: &Pooled, names: &Names, prediction: bool) -> PolarsResult<DataFrame> {
    let spread = (pooled.std_error.powi(2) + pooled.tau2).sqrt();
    let estimate = shown(names, pooled.estimate);
    let table = DataFrame::new(
        2,
        vec![
            Column::new("term".into(), ["pooled", "prediction"]),
            Column::new("estimate".into(), [estimate, estimate]),
            Column::new("std_error".into(), [pooled.std_error, spread]),
            Column::new(names.statistic.into(), [Some(pooled.statistic), None]),
            Column::new("p_value".into(), [Some(pooled.p_value), None]),
            Column::new(
                "conf_low".into(),
                [
                    shown(names, pooled.conf_low),
                    shown(names, pooled.prediction_low),
                ],
            ),
            Column::new(
                "conf_high".into(),
                [
                    shown(names, pooled.conf_high),
                    shown(names, pooled.prediction_high),
                ],
            ),
        ],
    )?;
    Ok(if prediction {
        table
    } else {
        table.head(Some(1))
    })
}

fn studies_table(
    studies: &Studies,
    pooled: &Pooled,
    names: &Names,
    level: f64,
) -> PolarsResult<DataFrame> {
    use statrs::distribution::{ContinuousCDF, Normal};
    let z = Normal::standard().inverse_cdf(1.0 - (1.0 - level) / 2.0);
    let (y, se) = (&studies.estimates, &studies.std_errors);
    df!(
        "study" => studies.labels.clone(),
        "estimate" => y.iter().map(|v| shown(names, *v)).collect::<Vec<_>>(),
        "std_error" => se.clone(),
        "conf_low" => y.iter().zip(se).map(|(v, s)| shown(names, v - z * s)).collect::<Vec<_>>(),
        "conf_high" => y.iter().zip(se).map(|(v, s)| shown(names, v + z * s)).collect::<Vec<_>>(),
        "weight" => pooled.weights.clone(),
    )
}

fn heterogeneity_table(pooled: &Pooled) -> PolarsResult<DataFrame> {
    df!(
        "statistic" => ["tau2", "tau", "I2", "H2", "Q", "Q_df", "Q_p_value"],
        "value" => [
            pooled.tau2,
            pooled.tau2.sqrt(),
            pooled.i2,
            pooled.h2,
            pooled.q,
            pooled.studies as f64 - 1.0,
            pooled.q_p_value,
        ],
    )
}

fn heterogeneity_note(pooled: &Pooled, method: Method) -> String {
    let q = format!(
        "Q = {} on {} df, p {}",
        format::number(pooled.q),
        pooled.studies - 1,
        p_text(pooled.q_p_value)
    );
    if method == Method::Fixed {
        format!(
            "Heterogeneity: {q}; I² = {:.1}%, H² = {} (from Q). A fixed effect assumes every study estimates the same effect.",
            pooled.i2,
            format::number(pooled.h2)
        )
    } else {
        format!(
            "Heterogeneity: τ² = {} (τ = {}), I² = {:.1}%, H² = {}; {q}. The prediction interval is where a new study's true effect would lie.",
            format::number(pooled.tau2),
            format::number(pooled.tau2.sqrt()),
            pooled.i2,
            format::number(pooled.h2)
        )
    }
}

fn conventions(method: Method, options: &Options, exponentiate: bool) -> Vec<String> {
    let tau = match method {
        Method::Fixed => "τ² = 0 (a common effect)",
        Method::Reml => "τ² by restricted maximum likelihood (Fisher scoring, to 1e-12)",
        Method::DerSimonianLaird => "τ² by DerSimonian and Laird's moments, truncated at 0",
        Method::PauleMandel => "τ² by Paule and Mandel's equation, solved to machine precision",
    };
    let inference = if options.knapp_hartung {
        "Knapp–Hartung standard error and t(k − 1) for the interval, the test and the prediction interval"
    } else {
        "normal-based intervals and tests, and the prediction interval estimate ± z·√(SE² + τ²)"
    };
    let inference = if method == Method::Fixed {
        inference
            .split(", and the prediction")
            .next()
            .unwrap_or(inference)
    } else {
        inference
    };
    let mut notes = vec![format!(
        "metafor's rma conventions: weights 1/(se² + τ²), {tau}; {inference}; I² = τ²/(τ² + s²) with s² the typical within-study variance (from Q with a fixed effect)"
    )];
    if options.knapp_hartung && method == Method::Fixed {
        notes.push(
            "Knapp–Hartung is meant for random-effects models; with a fixed effect it only rescales the variance by Q/(k − 1), as metafor warns"
                .to_string(),
        );
    }
    if exponentiate {
        notes.push(
            "Estimates and intervals exponentiated (ratios); standard errors stay on the log scale"
                .to_string(),
        );
    }
    notes
}

/// Each subgroup's pooled row and the overall one, and the note with the test of their
/// difference.
fn subgroup_table(
    studies: &Studies,
    groups: &[String],
    overall: &Pooled,
    options: &Options,
    names: &Names,
) -> (PolarsResult<DataFrame>, String) {
    let mut levels: Vec<String> = groups.to_vec();
    levels.sort();
    levels.dedup();
    let codes: Vec<usize> = groups
        .iter()
        .map(|g| levels.binary_search(g).unwrap_or(0))
        .collect();
    let split = meta::subgroups(
        &studies.estimates,
        &studies.std_errors,
        &codes,
        levels.len(),
        options,
    );
    let mut rows: Vec<(String, Option<&Pooled>)> = levels
        .iter()
        .zip(&split.pooled)
        .map(|(level, p)| (level.clone(), p.as_ref().ok()))
        .collect();
    rows.push(("overall".to_string(), Some(overall)));
    let counts: Vec<usize> = levels
        .iter()
        .map(|l| groups.iter().filter(|g| *g == l).count())
        .chain([overall.studies])
        .collect();
    let fits: Vec<Option<&Pooled>> = rows.iter().map(|(_, p)| *p).collect();
    let mut columns = vec![
        Column::new(
            "subgroup".into(),
            rows.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "studies".into(),
            counts.iter().map(|c| *c as i64).collect::<Vec<_>>(),
        ),
    ];
    columns.extend(pooled_columns(&fits, names));
    let table = DataFrame::new(rows.len(), columns);
    let missing: Vec<&str> = levels
        .iter()
        .zip(&split.pooled)
        .filter(|(_, p)| p.is_err())
        .map(|(l, _)| l.as_str())
        .collect();
    let mut note = if split.q_df > 0 {
        format!(
            "Test for subgroup differences: Q = {} on {} df, p {} (the subgroups' estimates compared by their inverse variances, each subgroup with its own τ²).",
            format::number(split.q_between),
            split.q_df,
            p_text(split.q_p_value)
        )
    } else {
        "Fewer than two subgroups could be pooled: no test of their difference.".to_string()
    };
    if !missing.is_empty() {
        note.push_str(&format!(
            " Not pooled (too few studies): {}.",
            missing.join(", ")
        ));
    }
    (table, note)
}

/// "< 0.001" or "= 0.042", after "p".
fn p_text(p: f64) -> String {
    let shown = format::p_value(p);
    match shown.strip_prefix('<') {
        Some(bound) => format!("< {bound}"),
        None => format!("= {shown}"),
    }
}

fn leave_one_out_table(
    studies: &Studies,
    options: &Options,
    names: &Names,
) -> PolarsResult<DataFrame> {
    let fits = meta::leave_one_out(&studies.estimates, &studies.std_errors, options);
    let fitted: Vec<Option<&Pooled>> = fits.iter().map(|p| p.as_ref().ok()).collect();
    let mut columns = vec![Column::new("omitted".into(), studies.labels.clone())];
    columns.extend(pooled_columns(&fitted, names));
    columns.push(Column::new(
        "Q".into(),
        fitted.iter().map(|p| p.map(|p| p.q)).collect::<Vec<_>>(),
    ));
    DataFrame::new(fits.len(), columns)
}

/// The columns of a row of pooled results (a subgroup's, or one left out): missing where
/// nothing could be pooled.
fn pooled_columns(fits: &[Option<&Pooled>], names: &Names) -> Vec<Column> {
    let value = |f: &dyn Fn(&Pooled) -> f64| -> Vec<Option<f64>> {
        fits.iter().map(|p| p.map(f)).collect()
    };
    vec![
        Column::new("estimate".into(), value(&|p| shown(names, p.estimate))),
        Column::new("std_error".into(), value(&|p| p.std_error)),
        Column::new(names.statistic.into(), value(&|p| p.statistic)),
        Column::new("p_value".into(), value(&|p| p.p_value)),
        Column::new("conf_low".into(), value(&|p| shown(names, p.conf_low))),
        Column::new("conf_high".into(), value(&|p| shown(names, p.conf_high))),
        Column::new("tau2".into(), value(&|p| p.tau2)),
        Column::new("I2".into(), value(&|p| p.i2)),
    ]
}

fn egger_table(test: &meta::Egger) -> PolarsResult<DataFrame> {
    df!(
        "term" => ["asymmetry (slope on se)", "limit (estimate at se = 0)"],
        "estimate" => [test.slope, test.limit],
        "std_error" => [test.slope_se, test.limit_se],
        "t" => [Some(test.statistic), None],
        "p_value" => [Some(test.p_value), None],
    )
}

fn egger_note(test: &meta::Egger, studies: usize) -> String {
    let mut note = format!(
        "Egger's regression test (metafor's regtest with model = \"lm\"): the estimates regressed on their standard errors, weights 1/se², t({}); a slope away from 0 (p {}) means smaller studies found different effects — publication bias is one explanation, not the only one.",
        test.df,
        p_text(test.p_value)
    );
    if studies < 10 {
        note.push_str(" With fewer than 10 studies the test has little power.");
    }
    note
}

/// The forest plot: a row per study (its weight beside its name), the pooled diamond, and
/// with a random effect the prediction interval; ratios on a log scale.
fn forest_plot(
    studies: &Studies,
    pooled: &Pooled,
    names: &Names,
    method: Method,
    options: &Options,
    title: Option<String>,
) -> Plot {
    use statrs::distribution::{ContinuousCDF, Normal};
    let z = Normal::standard().inverse_cdf(1.0 - (1.0 - options.level) / 2.0);
    let row = |x: usize, label: String, y: f64, low: f64, high: f64, series: usize| Datum {
        x: x as f64,
        x_end: None,
        label,
        y: shown(names, y),
        low: Some(shown(names, low)),
        high: Some(shown(names, high)),
        truth: None,
        series,
    };
    let mut categories = Vec::new();
    let mut data = Vec::new();
    for (i, ((label, y), se)) in studies
        .labels
        .iter()
        .zip(&studies.estimates)
        .zip(&studies.std_errors)
        .enumerate()
    {
        let name = format!("{label} ({:.1}%)", pooled.weights[i]);
        categories.push(name.clone());
        data.push(row(i, name, *y, y - z * se, y + z * se, 0));
    }
    let model = match method {
        Method::Fixed => "fixed effect",
        Method::Reml => "REML",
        Method::DerSimonianLaird => "DerSimonian–Laird",
        Method::PauleMandel => "Paule–Mandel",
    };
    let pooled_name = format!("Pooled ({model})");
    categories.push(pooled_name.clone());
    data.push(row(
        studies.labels.len(),
        pooled_name,
        pooled.estimate,
        pooled.conf_low,
        pooled.conf_high,
        1,
    ));
    if method != Method::Fixed {
        let name = "Prediction interval".to_string();
        categories.push(name.clone());
        data.push(row(
            studies.labels.len() + 1,
            name,
            pooled.estimate,
            pooled.prediction_low,
            pooled.prediction_high,
            2,
        ));
    }
    let level = (options.level * 100.0).round();
    Plot {
        mark: Mark::Forest,
        title,
        x_title: if names.exponentiate {
            format!("exp({}) ({level}% CI)", names.estimate)
        } else {
            format!("{} ({level}% CI)", names.estimate)
        },
        y_title: String::new(),
        x_scale: Scale::Category,
        categories,
        series: Vec::new(),
        series_title: None,
        data,
        reference: Some(if names.exponentiate { 1.0 } else { 0.0 }),
        log_scale: names.exponentiate,
        x_reference: None,
    }
}

/// The funnel plot, on the estimates' own scale (log ratios stay logs).
fn funnel_plot(studies: &Studies, pooled: &Pooled, names: &Names) -> Plot {
    let data = studies
        .labels
        .iter()
        .zip(&studies.estimates)
        .zip(&studies.std_errors)
        .map(|((label, y), se)| Datum {
            x: *y,
            x_end: None,
            label: label.clone(),
            y: *se,
            low: None,
            high: None,
            truth: None,
            series: 0,
        })
        .collect();
    Plot {
        mark: Mark::Funnel,
        title: None,
        x_title: names.estimate.clone(),
        y_title: "standard error".to_string(),
        x_scale: Scale::Number,
        categories: Vec::new(),
        series: Vec::new(),
        series_title: None,
        data,
        reference: None,
        log_scale: false,
        x_reference: Some(pooled.estimate),
    }
}
