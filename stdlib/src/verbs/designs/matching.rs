//! `match`: nearest-neighbour matching on the propensity score with MatchIt's defaults,
//! and the effect on the treated as MatchIt's vignette estimates it (the matcher and the
//! estimate: `spel_stats::designs::matching`).

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_stats::designs::ipw as weighting;
use spel_stats::designs::matching::{self, Matching, Options};

use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use super::ipw::{
    EstimandWord, check_treatment, effect_table, explain, numeric_columns, propensity_design,
};
use crate::choice::Choice;
use crate::errors::polars_error;
use crate::format;
use crate::value::{Report, Value};

crate::choice! {
    /// What `match` gives: the estimates, every row with its matching weight, or the
    /// matched rows alone.
    enum MatchShow { Summary = "summary", Weights = "weights", Matched = "matched" }
}

pub const VERB: Verb = Verb {
    name: "match",
    signature: "match OUTCOME ~ TREATMENT, covariates = [X1, X2, ...] [, ratio = 1] [, caliper = 0.2] [, replace = false] [, level = 0.95] [, show = weights | matched]",
    summary: "Nearest-neighbour matching on the propensity score (MatchIt's defaults) and the effect on the treated.",
    description: "Fits a logit of TREATMENT (0 or 1) on the covariates and matches each \
                  treated row to the `ratio` untreated rows nearest in propensity, greedily, \
                  the treated taken from the largest propensity down, without replacement \
                  unless `replace = true` — R's MatchIt 4.7 `matchit(..., method = \"nearest\")`. \
                  `caliper = c` forbids pairs further apart than c standard deviations of \
                  the propensity (all rows pooled); a treated row with no control within it \
                  stays unmatched, and the estimate is for the matched treated. The effect is \
                  MatchIt vignette's: a regression of the outcome on treatment in the matched \
                  rows with the matching weights, errors clustered by matched set (HC3 with \
                  replacement), normal intervals. `show = weights` gives every row with its \
                  `propensity`, matching `weight` (0 if unmatched) and `subclass`, for \
                  `balance`; `show = matched` the matched rows alone.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "covariates",
            values: "[col1, col2, ...]",
            kind: OptionKind::Value,
            summary: "What the propensity model conditions on: numeric columns or expressions.",
        },
        OptionSpec {
            name: "estimand",
            values: "att",
            kind: OptionKind::Word(EstimandWord::WORDS),
            summary: "The average effect on the treated, the only one nearest-neighbour matching gives.",
        },
        OptionSpec {
            name: "ratio",
            values: "a whole number from 1",
            kind: OptionKind::Whole {
                min: 1.0,
                max: 100.0,
            },
            summary: "Controls per treated row (default 1).",
        },
        OptionSpec {
            name: "caliper",
            values: "a positive number",
            kind: OptionKind::POSITIVE,
            summary: "The widest pair allowed, in standard deviations of the propensity.",
        },
        OptionSpec {
            name: "replace",
            values: "true or false",
            kind: OptionKind::Bool,
            summary: "Whether a control may be matched to several treated rows (default false).",
        },
        OptionSpec::LEVEL,
        OptionSpec {
            name: "show",
            values: "summary, weights or matched",
            kind: OptionKind::Word(MatchShow::WORDS),
            summary: "The estimates (default), every row with its weight, or the matched rows.",
        },
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "NSW trainees matched to CPS men (the experiment found $1,794)",
        code: "read \"examples/data/nsw_cps.csv\" |> filter treat == 1 | sample == \"CPS\"\n  |> match re78 ~ treat, covariates = [age, educ, black, hisp, marr, nodegree, re74, re75]",
        output: r#"Nearest-neighbour matching on the propensity score: the average effect on the treated of treat on re78; logit of treat on age, educ, black, hisp, marr, nodegree, re74, re75; 1:1 without replacement; 185 of 185 treated matched to 185 controls
shape: (3, 7)
┌────────────────────────┬──────────┬───────────┬───────┬─────────┬──────────┬───────────┐
│ term                   ┆ estimate ┆ std_error ┆ z     ┆ p_value ┆ conf_low ┆ conf_high │
│ ---                    ┆ ---      ┆ ---       ┆ ---   ┆ ---     ┆ ---      ┆ ---       │
│ str                    ┆ f64      ┆ f64       ┆ f64   ┆ f64     ┆ f64      ┆ f64       │
╞════════════════════════╪══════════╪═══════════╪═══════╪═════════╪══════════╪═══════════╡
│ ATT                    ┆     1707 ┆     678.2 ┆ 2.517 ┆   0.012 ┆    377.5 ┆      3036 │
│ mean re78 if treat = 1 ┆     6349 ┆     579.2 ┆ 10.96 ┆  <0.001 ┆     5214 ┆      7484 │
│ mean re78 if treat = 0 ┆     4642 ┆       426 ┆  10.9 ┆  <0.001 ┆     3807 ┆      5477 │
└────────────────────────┴──────────┴───────────┴───────┴─────────┴──────────┴───────────┘
Note: MatchIt's defaults: propensity from a logit, treated rows matched from the largest propensity down to the nearest control by propensity (greedy)
Note: Effect as MatchIt's vignette: weighted regression of the outcome on treatment in the matched rows, standard errors clustered by matched set (sandwich's vcovCL, HC1); normal intervals"#,
    }],
    run: match_verb,
};

struct Request {
    options: Options,
    caliper_sds: Option<f64>,
    level: f64,
    show: MatchShow,
}

fn match_verb(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let (formula, treatment, covariates) = propensity_design(ctx)?;
    if ctx.choice::<EstimandWord>("estimand")? == Some(EstimandWord::Ate) {
        let span = ctx.option("estimand").map_or(ctx.call.span, |a| a.span);
        return Err(Diagnostic::new(
            "spel::match::estimand",
            "nearest-neighbour matching finds controls for the treated: it estimates the effect on the treated (ATT) only, as MatchIt's does",
        )
        .at(span)
        .with_help("for the average effect over everyone, weight instead: `ipw re78 ~ treat, covariates = [...]` or `aipw ...`"));
    }
    let request = Request {
        options: Options {
            ratio: ctx.number("ratio")?.map_or(1, |(r, _)| r as usize),
            caliper: None,
            replace: ctx.flag("replace")?.unwrap_or(false),
        },
        caliper_sds: ctx.number("caliper")?.map(|(c, _)| c),
        level: ctx.number("level")?.map_or(0.95, |(l, _)| l),
        show: ctx
            .choice::<MatchShow>("show")?
            .unwrap_or(MatchShow::Summary),
    };
    let lf = ctx.table()?;
    let (columns, dropped, rows) = numeric_columns(
        ctx,
        lf,
        &[&formula.lhs, treatment],
        &covariates,
        request.show != MatchShow::Summary,
    )?;
    check_treatment(ctx, &columns[1], treatment)?;
    let (y, t) = (&columns[0], &columns[1]);
    let propensity =
        weighting::propensity(t, &columns[2..]).map_err(|e| explain(ctx, e, treatment))?;
    let mut options = request.options;
    options.caliper = request.caliper_sds.map(|c| c * sd(&propensity));
    let treated: Vec<bool> = t.iter().map(|v| *v == 1.0).collect();
    let matching = matching::nearest(&propensity, &treated, options);
    let matched_treated = matching.pairs.iter().filter(|(_, c)| !c.is_empty()).count();
    if matched_treated == 0 {
        return Err(Diagnostic::new(
            "spel::match::none_matched",
            "no treated row has a control within the caliper",
        )
        .at(ctx.option("caliper").map_or(ctx.call.span, |a| a.span))
        .with_help("widen the caliper, or drop it"));
    }
    let subclass = subclasses(&matching, y.len(), options.replace);
    if let Some(rows) = rows {
        let rows = ctx.env.work().collect(rows, "rows", ctx.call.span)?;
        let table = with_matching(rows, &propensity, &matching, &subclass, request.show)
            .map_err(|e| polars_error(e).at(ctx.call.span))?;
        return Ok(Value::Table(table.lazy()));
    }
    let used: Vec<usize> = (0..y.len())
        .filter(|i| matching.weights[*i] > 0.0)
        .collect();
    let pick = |v: &[f64]| used.iter().map(|i| v[*i]).collect::<Vec<f64>>();
    let clusters: Option<Vec<usize>> =
        (!options.replace).then(|| used.iter().map(|i| subclass[*i].unwrap_or(0)).collect());
    let result = matching::effect(
        &pick(y),
        &pick(t),
        &pick(&matching.weights),
        clusters.as_deref(),
    );
    let table = effect_table(
        "ATT",
        [result.effect, result.treated_mean, result.control_mean],
        ctx.text(formula.lhs.span),
        ctx.text(treatment.span),
        request.level,
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    let names = (ctx.text(treatment.span), ctx.text(formula.lhs.span));
    let covariate_names: Vec<&str> = covariates.iter().map(|a| ctx.text(a.span)).collect();
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: title(names, &covariate_names, &request, &matching, &treated),
        table,
        notes: super::missing_note(dropped)
            .into_iter()
            .chain(notes(&request, options, &matching))
            .collect(),
        conventions: conventions(options.replace),
    })))
}

/// R's sd(): the n − 1 standard deviation over every row, both groups pooled.
fn sd(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// Each row's matched set, numbered in the treated rows' order (MatchIt's subclass);
/// none for unmatched rows, and none for controls when they may serve several sets.
fn subclasses(matching: &Matching, n: usize, replace: bool) -> Vec<Option<usize>> {
    let mut subclass = vec![None; n];
    let sets = matching.pairs.iter().filter(|(_, c)| !c.is_empty());
    for (number, (t, controls)) in sets.enumerate() {
        subclass[*t] = Some(number);
        if !replace {
            for c in controls {
                subclass[*c] = Some(number);
            }
        }
    }
    subclass
}

fn with_matching(
    rows: DataFrame,
    propensity: &[f64],
    matching: &Matching,
    subclass: &[Option<usize>],
    show: MatchShow,
) -> PolarsResult<DataFrame> {
    let mut rows = rows;
    rows.with_column(Column::new("propensity".into(), propensity.to_vec()))?;
    rows.with_column(Column::new("weight".into(), matching.weights.clone()))?;
    let numbers: Vec<Option<i64>> = subclass.iter().map(|s| s.map(|s| s as i64 + 1)).collect();
    rows.with_column(Column::new("subclass".into(), numbers))?;
    if show == MatchShow::Matched {
        let mask = BooleanChunked::from_iter_values(
            "matched".into(),
            matching.weights.iter().map(|w| *w > 0.0),
        );
        rows = rows.filter(&mask)?;
    }
    Ok(rows)
}

fn title(
    (treatment, outcome): (&str, &str),
    covariates: &[&str],
    request: &Request,
    matching: &Matching,
    treated: &[bool],
) -> String {
    let options = request.options;
    let matched_treated = matching.pairs.iter().filter(|(_, c)| !c.is_empty()).count();
    let controls = matching
        .weights
        .iter()
        .zip(treated)
        .filter(|(w, t)| !**t && **w > 0.0)
        .count();
    format!(
        "Nearest-neighbour matching on the propensity score: the average effect on the treated of {treatment} on {outcome}; logit of {treatment} on {}; 1:{} {} replacement; {} of {} treated matched to {}",
        covariates.join(", "),
        options.ratio,
        if options.replace { "with" } else { "without" },
        format::count(matched_treated),
        format::count(matching.pairs.len()),
        format::plural(controls, "control"),
    )
}

fn notes(request: &Request, options: Options, matching: &Matching) -> Vec<String> {
    let mut notes = Vec::new();
    let unmatched = matching.pairs.iter().filter(|(_, c)| c.is_empty()).count();
    if let (Some(sds), Some(width)) = (request.caliper_sds, options.caliper) {
        notes.push(format!(
            "Caliper {} standard deviations of the propensity: pairs at most {} apart.",
            format::number(sds),
            format::number(width)
        ));
    }
    if unmatched > 0 {
        notes.push(format!(
            "{} of {} treated found no control{}: the estimate is the effect on the {} matched treated, not on all of them.",
            format::count(unmatched),
            format::count(matching.pairs.len()),
            if options.caliper.is_some() { " within the caliper" } else { " left" },
            format::count(matching.pairs.len() - unmatched)
        ));
    }
    let short = matching
        .pairs
        .iter()
        .filter(|(_, c)| !c.is_empty() && c.len() < options.ratio)
        .count();
    if short > 0 {
        notes.push(format!(
            "{} matched treated got fewer than {} controls; the weights allow for it.",
            format::count(short),
            options.ratio
        ));
    }
    notes
}

fn conventions(replace: bool) -> Vec<String> {
    vec![
        "MatchIt's defaults: propensity from a logit, treated rows matched from the largest propensity down to the nearest control by propensity (greedy)".to_string(),
        if replace {
            "Effect as MatchIt's vignette: weighted regression of the outcome on treatment in the matched rows; controls reused, so robust (HC3) standard errors; normal intervals".to_string()
        } else {
            "Effect as MatchIt's vignette: weighted regression of the outcome on treatment in the matched rows, standard errors clustered by matched set (sandwich's vcovCL, HC1); normal intervals".to_string()
        },
    ]
}
