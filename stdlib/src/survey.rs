//! Survey designs read from their tables: each row's stratum, PSU and weight as the
//! estimators of `spel_stats::survey` take them, and the summary a survey shows.

use polars::prelude::*;
use spel_grammar::{Diagnostic, Span};
use spel_stats::survey::{Design, DesignError, LonelyPsu};

use crate::errors::polars_error;
use crate::value::{Report, Survey};
use crate::work::Work;

crate::choice! {
    impl LonelyPsu { Fail = "fail", Adjust = "adjust", Certainty = "certainty" }
}

/// A survey's rows as the estimators read them.
pub struct Sample {
    pub design: Design,
    /// Every row's design weight.
    pub weights: Vec<f64>,
    /// Whether each row is in the subpopulation.
    pub in_domain: Vec<bool>,
    /// The columns asked for (named `0`, `1`, ...), every row.
    pub columns: DataFrame,
    /// Each stratum's name, in the design's order.
    pub strata: Vec<String>,
    /// Where the design's parts were written, for errors.
    pub spans: DesignSpans,
}

/// Where `survey`'s options were written (its call when they are not known).
#[derive(Clone, Copy, Debug)]
pub struct DesignSpans {
    pub call: Span,
    pub weights: Span,
    pub strata: Span,
    pub psu: Span,
    pub fpc: Span,
}

impl DesignSpans {
    /// Every part of the design pointed to by one span: a verb reading a survey made
    /// elsewhere.
    pub fn all(call: Span) -> DesignSpans {
        DesignSpans {
            call,
            weights: call,
            strata: call,
            psu: call,
            fpc: call,
        }
    }
}

impl Sample {
    /// The weights of the subpopulation's rows where `keep` holds, 0 elsewhere.
    pub fn domain_weights(&self, keep: impl Fn(usize) -> bool) -> Vec<f64> {
        (0..self.weights.len())
            .map(|i| {
                if self.in_domain[i] && keep(i) {
                    self.weights[i]
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// Reads `survey`'s design and the expressions `columns` over every row.
pub fn read(
    survey: &Survey,
    columns: Vec<Expr>,
    spans: DesignSpans,
    work: Work,
) -> Result<Sample, Diagnostic> {
    let text = |name: &Option<String>| match name {
        Some(c) => col(c.as_str()).cast(DataType::String),
        None => lit("all"),
    };
    let number = |name: &Option<String>| match name {
        Some(c) => col(c.as_str()).cast(DataType::Float64),
        None => lit(NULL).cast(DataType::Float64),
    };
    let mut selected = vec![
        text(&survey.strata).alias(".stratum"),
        text(&survey.psu).alias(".psu"),
        number(&survey.weights).alias(".weight"),
        number(&survey.fpc).alias(".fpc"),
        survey.domain_expr().alias(".domain"),
    ];
    for (k, expr) in columns.into_iter().enumerate() {
        selected.push(expr.alias(k.to_string()));
    }
    // One of the table's own columns goes along, so that constants (no strata, no
    // weights) take its height rather than making a one-row frame.
    let schema = survey
        .table
        .clone()
        .collect_schema()
        .map_err(|e| polars_error(e).at(spans.call))?;
    if let Some(first) = schema.iter_names().next() {
        selected.push(col(first.clone()).alias(".height"));
    }
    let df = work.collect(
        survey.table.clone().select(selected),
        "survey rows",
        spans.call,
    )?;
    let fail = |e: PolarsError| polars_error(e).at(spans.call);
    let labels = |name: &str| -> Result<Vec<Option<String>>, Diagnostic> {
        Ok(df
            .column(name)
            .map_err(fail)?
            .str()
            .map_err(fail)?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let floats = |name: &str| -> Result<Vec<Option<f64>>, Diagnostic> {
        Ok(df
            .column(name)
            .map_err(fail)?
            .f64()
            .map_err(fail)?
            .iter()
            .collect())
    };
    let (stratum, strata) = codes(
        labels(".stratum")?,
        survey.strata.as_deref(),
        spans.strata,
        "stratum",
    )?;
    let (psu, _) = codes(labels(".psu")?, survey.psu.as_deref(), spans.psu, "PSU")?;
    let psu: Option<Vec<u64>> = survey
        .psu
        .as_ref()
        .map(|_| psu.iter().map(|&c| c as u64).collect());
    let fpc = match &survey.fpc {
        Some(name) => Some(present(
            floats(".fpc")?,
            name,
            spans.fpc,
            "population size",
        )?),
        None => None,
    };
    let design = Design::new(&stratum, psu.as_deref(), fpc.as_deref(), survey.lonely_psu)
        .map_err(|e| design_error(e, &strata, survey, spans))?;
    let weights = match &survey.weights {
        Some(name) => {
            let weights = present(floats(".weight")?, name, spans.weights, "weight")?;
            if let Some(i) = weights.iter().position(|&w| !(w.is_finite() && w > 0.0)) {
                return Err(Diagnostic::new(
                    "spel::survey::weight",
                    format!(
                        "weights must be positive; row {} has {} = {}",
                        i + 1,
                        name,
                        weights[i]
                    ),
                )
                .at(spans.weights)
                .with_help("a sampled row stands for at least itself: its weight is the inverse of its chance of selection"));
            }
            weights
        }
        None => weights_from_population(&stratum, design.psus_per_stratum(), fpc.as_deref()),
    };
    let in_domain = df
        .column(".domain")
        .map_err(fail)?
        .bool()
        .map_err(fail)?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let columns = df.drop_many([".stratum", ".psu", ".weight", ".fpc", ".domain", ".height"]);
    Ok(Sample {
        design,
        weights,
        in_domain,
        columns,
        strata,
        spans,
    })
}

/// Each row's code among the sorted distinct values (numbers in numeric order), and the
/// values; a missing one is an error naming the design's `role`.
fn codes(
    values: Vec<Option<String>>,
    column: Option<&str>,
    span: Span,
    role: &str,
) -> Result<(Vec<usize>, Vec<String>), Diagnostic> {
    if let Some(i) = values.iter().position(Option::is_none) {
        return Err(Diagnostic::new(
            "spel::survey::missing",
            format!(
                "row {} has no {role}: `{}` is missing there",
                i + 1,
                column.unwrap_or("?")
            ),
        )
        .at(span)
        .with_help("every sampled row belongs to a stratum and a PSU; fill or filter the rows before `survey`"));
    }
    let values: Vec<String> = values.into_iter().flatten().collect();
    let mut distinct: Vec<String> = values.clone();
    distinct.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    distinct.dedup();
    let index: std::collections::HashMap<&str, usize> = distinct
        .iter()
        .enumerate()
        .map(|(k, v)| (v.as_str(), k))
        .collect();
    let codes = values.iter().map(|v| index[v.as_str()]).collect();
    Ok((codes, distinct))
}

/// A design column's values, none missing.
fn present(
    values: Vec<Option<f64>>,
    column: &str,
    span: Span,
    role: &str,
) -> Result<Vec<f64>, Diagnostic> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| {
                Diagnostic::new(
                    "spel::survey::missing",
                    format!("row {} has no {role}: `{column}` is missing there", i + 1),
                )
                .at(span)
                .with_help("fill or filter the rows before `survey`")
            })
        })
        .collect()
}

/// Without weights: the population's PSUs over the sample's in each stratum (R's
/// `svydesign` given only `fpc`), or 1 without population sizes either.
fn weights_from_population(stratum: &[usize], psus_in: &[usize], fpc: Option<&[f64]>) -> Vec<f64> {
    let Some(fpc) = fpc else {
        return vec![1.0; stratum.len()];
    };
    let fractions = fpc.iter().all(|&n| n <= 1.0);
    stratum
        .iter()
        .zip(fpc)
        .map(|(&h, &n)| {
            if fractions {
                1.0 / n
            } else {
                n / psus_in[h] as f64
            }
        })
        .collect()
}

fn design_error(
    error: DesignError,
    strata: &[String],
    survey: &Survey,
    spans: DesignSpans,
) -> Diagnostic {
    let strata_name = survey.strata.as_deref().unwrap_or("stratum");
    match error {
        DesignError::LonelyPsu(h) => Diagnostic::new(
            "spel::survey::lonely_psu",
            format!(
                "stratum {strata_name} = {} has a single PSU, so its variance cannot be estimated",
                strata[h]
            ),
        )
        .at(if survey.psu.is_some() { spans.psu } else { spans.strata })
        .with_label(format!("{} has one PSU", strata[h]))
        .with_help("say how to treat it: `lonely_psu = adjust` (centred at the grand mean, conservative; R's \"adjust\", Stata's singleunit(centered)) or `lonely_psu = certainty` (no variance: it was sure to be sampled)"),
        DesignError::SinglePsu => Diagnostic::new(
            "spel::survey::single_psu",
            "the whole sample is a single PSU, so no variance between PSUs can be estimated",
        )
        .at(if survey.psu.is_some() { spans.psu } else { spans.call })
        .with_help("a design-based variance needs at least two PSUs; check the `psu` column"),
        DesignError::PopulationVaries(h) => Diagnostic::new(
            "spel::survey::fpc",
            format!(
                "the population size differs between rows of stratum {}",
                strata[h]
            ),
        )
        .at(spans.fpc)
        .with_help("`fpc` is the stratum's number of PSUs in the population (or its sampling fraction): one value per stratum"),
        DesignError::BadPopulation(i) => Diagnostic::new(
            "spel::survey::fpc",
            format!("row {} has a population size that is not positive", i + 1),
        )
        .at(spans.fpc)
        .with_help("`fpc` is the stratum's number of PSUs in the population, or its sampling fraction (at most 1)"),
        DesignError::PopulationTooSmall {
            stratum,
            sampled,
            population,
        } => Diagnostic::new(
            "spel::survey::fpc",
            format!(
                "stratum {} samples {sampled} PSUs from a population of {}",
                strata[stratum],
                crate::format::number(population)
            ),
        )
        .at(spans.fpc)
        .with_help("`fpc` counts PSUs in the population, so it cannot be below the sample's; a fraction is at most 1"),
    }
}

/// What a survey shows: each stratum's rows, PSUs and weights' sum (the population it
/// stands for).
pub fn summary(survey: &Survey, sample: &Sample) -> Result<Report, Diagnostic> {
    let design = &sample.design;
    let strata = design.strata();
    let mut rows = vec![0i64; strata];
    let mut weight = vec![0.0; strata];
    for (i, h) in design.row_strata().enumerate() {
        rows[h] += 1;
        weight[h] += sample.weights[i];
    }
    let psus: Vec<i64> = design
        .psus_per_stratum()
        .iter()
        .map(|&n| n as i64)
        .collect();
    let table = df!(
        "stratum" => sample.strata.clone(),
        "rows" => rows,
        "psus" => psus,
        "weight_sum" => weight,
    )
    .map_err(|e| polars_error(e).at(sample.spans.call))?;
    let kind = match (survey.strata.is_some(), survey.psu.is_some()) {
        (true, true) => "stratified cluster sample",
        (true, false) => "stratified sample",
        (false, true) => "cluster sample",
        (false, false) => "sample",
    };
    let title = format!(
        "Survey design: {kind}, {} in {} and {}",
        crate::format::plural(design.rows(), "row"),
        strata_count(strata),
        crate::format::plural(design.psus(), "PSU"),
    );
    let mut notes = vec![format!(
        "Variances by Taylor linearisation between PSUs within strata; the design's degrees of freedom are PSUs − strata = {}.",
        design.degrees_of_freedom(&sample.weights)
    )];
    if survey.weights.is_none() {
        notes.push(match &survey.fpc {
            Some(_) => "No weights given: each row's weight is its stratum's population over its sample, from `fpc`.".into(),
            None => "No weights given: every row weighs 1, so totals count the sample, not a population.".into(),
        });
    }
    if survey.fpc.is_none() {
        notes.push("No `fpc`: PSUs are taken as sampled with replacement (no finite population correction).".into());
    }
    let lonely = design.lonely_strata();
    if lonely > 0 {
        notes.push(format!(
            "{} with a single PSU: {}.",
            strata_count(lonely),
            match survey.lonely_psu {
                LonelyPsu::Adjust =>
                    "centred at the grand mean (lonely_psu = adjust, conservative)",
                _ => "taken as sampled with certainty, adding no variance (lonely_psu = certainty)",
            }
        ));
    }
    Ok(Report {
        title,
        table,
        notes,
        conventions: vec![
            "R's survey conventions: svydesign(ids = ~psu, strata = ~strata, weights = ~weights, fpc = ~fpc, nest = TRUE) — PSUs are numbered within strata; one stage of sampling (later stages' variation is carried by the PSUs' totals)".into(),
        ],
    })
}

fn strata_count(n: usize) -> String {
    match n {
        1 => "1 stratum".into(),
        n => format!("{} strata", crate::format::count(n)),
    }
}
