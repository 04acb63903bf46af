//! Resolved terms and data to a design: the outcome, the model matrix (column by
//! column, R's names), weights, offsets, absorbed groupings and clusters, and notes on
//! every row and level left out.

use polars::prelude::*;
use spel_grammar::ast::Expr as Ast;
use spel_grammar::{Diagnostic, Span};

use super::resolve::{Resolved, Variable};
use crate::eval::expr::Scope;
use crate::work::Work;

/// Row ids of a grouping (a fixed effect or a cluster), `0..levels`.
#[derive(Clone, Debug)]
pub struct Grouping {
    pub name: String,
    pub ids: Vec<u32>,
    pub levels: usize,
    /// The value each id stands for.
    pub labels: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Design {
    pub outcome: String,
    pub y: Vec<f64>,
    /// The model matrix by columns, named as R names coefficients.
    pub columns: Vec<Vec<f64>>,
    pub names: Vec<String>,
    pub weights: Option<Vec<f64>>,
    pub freq: Option<Vec<f64>>,
    pub trials: Option<Vec<f64>>,
    pub offset: Option<Vec<f64>>,
    pub fixed_effects: Vec<Grouping>,
    pub clusters: Vec<Grouping>,
    /// Rows in the table before the condition and missing values.
    pub n_total: usize,
    pub n_outside_condition: usize,
    /// Rows dropped for a missing value, by the variable that was missing.
    pub missing: Vec<(String, usize)>,
    pub n_dropped_missing: usize,
    /// The rows used, as positions among the rows that meet the condition.
    pub rows: Vec<usize>,
    /// Each factor and its reference level.
    pub references: Vec<(String, String)>,
    /// Each factor's levels and reference, to code other data the same way.
    pub codings: Vec<FactorCoding>,
}

/// How a factor was coded: its levels in order and its reference level.
#[derive(Clone, Debug)]
pub struct FactorCoding {
    pub name: String,
    pub levels: Vec<String>,
    pub reference: String,
}

/// What the model statement asks of the data besides the formula's terms.
pub struct Request<'a> {
    pub outcome: &'a Ast,
    pub condition: Option<&'a Ast>,
    pub weights: Option<&'a Ast>,
    pub freq: Option<&'a Ast>,
    pub trials: Option<&'a Ast>,
    pub clusters: Vec<&'a Ast>,
    /// Codings to reuse (for margins and predictions); empty when fitting, where the
    /// levels come from the data.
    pub codings: &'a [FactorCoding],
}

/// A numeric or factor variable, with its values for the rows used.
enum Values {
    Numeric(Vec<f64>),
    Factor {
        labels: Vec<String>,
        levels: Vec<String>,
        reference: String,
    },
}

pub fn build(
    lf: LazyFrame,
    scope: &Scope,
    resolved: &Resolved,
    request: &Request,
    work: Work,
    span: Span,
) -> Result<Design, Diagnostic> {
    let text = |s: Span| scope.env.text(s).to_string();
    // Every distinct variable once, in order of first appearance.
    let mut variables: Vec<&Variable> = Vec::new();
    for term in &resolved.terms {
        for v in &term.variables {
            if !variables
                .iter()
                .any(|u| u.name == v.name && u.factor.is_some() == v.factor.is_some())
            {
                variables.push(v);
            }
        }
    }
    let mut exprs = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut add = |ast: &Ast, key: String, label: String| -> Result<(), Diagnostic> {
        let (expr, _) = scope.checked(ast)?;
        exprs.push(expr.alias(key.as_str()));
        labels.push(label);
        Ok(())
    };
    add(request.outcome, "y".into(), text(request.outcome.span))?;
    for (i, v) in variables.iter().enumerate() {
        add(&v.expr, format!("v{i}"), v.name.clone())?;
    }
    for (i, v) in resolved.offsets.iter().enumerate() {
        add(&v.expr, format!("o{i}"), format!("offset({})", v.name))?;
    }
    for (i, v) in resolved.fixed_effects.iter().enumerate() {
        add(&v.expr, format!("f{i}"), v.name.clone())?;
    }
    for (i, c) in request.clusters.iter().enumerate() {
        add(c, format!("c{i}"), text(c.span))?;
    }
    for (key, ast) in [
        ("w", request.weights),
        ("q", request.freq),
        ("t", request.trials),
    ] {
        if let Some(ast) = ast {
            add(ast, key.into(), text(ast.span))?;
        }
    }

    let n_total = crate::render::count(&lf, work, span)?;
    let lf = match request.condition {
        Some(condition) => {
            let (expr, dtype) = scope.checked(condition)?;
            if dtype != DataType::Boolean {
                return Err(Diagnostic::new(
                    "spel::model::condition",
                    format!(
                        "the condition after `|` must be true or false, but `{}` is {dtype}",
                        text(condition.span)
                    ),
                )
                .at(condition.span)
                .with_help(
                    "write a comparison, as `age >= 30`, or a true/false column such as `ltc`",
                ));
            }
            lf.filter(expr)
        }
        None => lf,
    };
    let df = work.collect(lf.select(exprs), "preparing the model's data", span)?;
    let n_condition = df.height();

    // Listwise deletion, counted by the variable that was missing.
    let mut keep = vec![true; n_condition];
    let mut missing = Vec::new();
    for (column, label) in df.columns().iter().zip(&labels) {
        let series = column.as_materialized_series();
        let mut count = 0;
        let nulls = series.is_null();
        let nans = if series.dtype().is_float() {
            series.is_nan().ok()
        } else {
            None
        };
        for row in 0..n_condition {
            let is_missing = nulls.get(row).unwrap_or(false)
                || nans.as_ref().and_then(|n| n.get(row)).unwrap_or(false);
            if is_missing {
                count += 1;
                keep[row] = false;
            }
        }
        if count > 0 && column.name().as_str() == "w" {
            // A missing survey weight is a data error, not a row to drop quietly.
            let weights = request.weights.map_or(span, |w| w.span);
            return Err(Diagnostic::new(
                "spel::model::missing_weights",
                format!(
                    "the weights `{label}` are missing in {}",
                    crate::format::plural(count, "row")
                ),
            )
            .at(weights)
            .with_help(format!(
                "filter those rows out first: `filter !is_null({label})`"
            )));
        }
        if count > 0 {
            missing.push((label.clone(), count));
        }
    }
    let rows: Vec<usize> = (0..n_condition).filter(|&r| keep[r]).collect();
    if rows.is_empty() {
        let mut d =
            Diagnostic::new("spel::model::no_rows", "no rows are left to fit the model").at(span);
        if n_condition == 0 {
            d = d.with_note("no row meets the condition after `|`");
        }
        for (name, count) in &missing {
            d = d.with_note(format!("{count} rows have no value of `{name}`"));
        }
        return Err(d);
    }

    let numbers =
        |key: &str| -> Result<Vec<f64>, Diagnostic> { numeric_column(&df, key, &rows, span) };
    let y = match numbers("y") {
        Ok(y) => y,
        Err(_) => {
            return Err(Diagnostic::new(
                "spel::model::outcome",
                format!("the outcome `{}` must be numbers or true/false", labels[0]),
            )
            .at(request.outcome.span)
            .with_help(
                "make a 0/1 column first, as `derive good = if_else(answer == \"Yes\", 1, 0)`",
            ));
        }
    };

    let mut values = Vec::new();
    for (i, v) in variables.iter().enumerate() {
        let coding = request.codings.iter().find(|c| c.name == v.name);
        values.push(variable_values(
            &df,
            &format!("v{i}"),
            v,
            coding,
            &rows,
            span,
        )?);
    }
    let mut columns = Vec::new();
    let mut names = Vec::new();
    let mut references = Vec::new();
    let mut codings = Vec::new();
    let mut full_coded: Vec<String> = Vec::new();
    for (i, v) in variables.iter().enumerate() {
        if let Values::Factor {
            reference, levels, ..
        } = &values[i]
        {
            references.push((v.name.clone(), reference.clone()));
            codings.push(FactorCoding {
                name: v.name.clone(),
                levels: levels.clone(),
                reference: reference.clone(),
            });
        }
    }
    for term in &resolved.terms {
        // Each variable's columns: a numeric variable is one column; a factor is a
        // dummy per level but the reference (all levels for the first factor of a
        // model without an intercept, as R).
        let mut parts: Vec<Vec<(String, Vec<f64>)>> = Vec::new();
        for v in &term.variables {
            let index = variables
                .iter()
                .position(|u| u.name == v.name && u.factor.is_some() == v.factor.is_some())
                .unwrap_or(0);
            parts.push(match &values[index] {
                Values::Numeric(x) => vec![(v.name.clone(), x.clone())],
                Values::Factor {
                    labels,
                    levels,
                    reference,
                } => {
                    let all_levels = !resolved.intercept
                        && resolved.fixed_effects.is_empty()
                        && term.variables.len() == 1
                        && full_coded.is_empty();
                    if all_levels {
                        full_coded.push(v.name.clone());
                    }
                    levels
                        .iter()
                        .filter(|l| all_levels || *l != reference)
                        .map(|level| {
                            let column = labels
                                .iter()
                                .map(|l| if l == level { 1.0 } else { 0.0 })
                                .collect();
                            (format!("{}{level}", v.name), column)
                        })
                        .collect()
                }
            });
        }
        for (name, column) in cartesian(&parts) {
            names.push(name);
            columns.push(column);
        }
    }
    // Absorbed fixed effects take the intercept's place.
    if resolved.intercept && resolved.fixed_effects.is_empty() {
        names.insert(0, "(Intercept)".into());
        columns.insert(0, vec![1.0; rows.len()]);
    }

    let offset = if resolved.offsets.is_empty() {
        None
    } else {
        let mut total = vec![0.0; rows.len()];
        for i in 0..resolved.offsets.len() {
            for (t, o) in total.iter_mut().zip(numbers(&format!("o{i}"))?) {
                *t += o;
            }
        }
        Some(total)
    };
    let grouping = |key: &str, name: String| -> Result<Grouping, Diagnostic> {
        let values = label_column(&df, key, &rows, span)?;
        let mut index: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut labels = Vec::new();
        let ids = values
            .into_iter()
            .map(|l| {
                let next = index.len() as u32;
                *index.entry(l.clone()).or_insert_with(|| {
                    labels.push(l);
                    next
                })
            })
            .collect();
        Ok(Grouping {
            name,
            ids,
            levels: index.len(),
            labels,
        })
    };

    let fixed_effects = resolved
        .fixed_effects
        .iter()
        .enumerate()
        .map(|(i, v)| grouping(&format!("f{i}"), v.name.clone()))
        .collect::<Result<_, _>>()?;
    let clusters = request
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| grouping(&format!("c{i}"), text(c.span)))
        .collect::<Result<_, _>>()?;
    let optional = |key: &str, ast: Option<&Ast>| -> Result<Option<Vec<f64>>, Diagnostic> {
        match ast {
            Some(_) => numbers(key).map(Some),
            None => Ok(None),
        }
    };
    Ok(Design {
        outcome: labels[0].clone(),
        y,
        columns,
        names,
        weights: optional("w", request.weights)?,
        freq: optional("q", request.freq)?,
        trials: optional("t", request.trials)?,
        offset,
        fixed_effects,
        clusters,
        n_total,
        n_outside_condition: n_total - n_condition,
        n_dropped_missing: n_condition - rows.len(),
        rows: rows.clone(),
        missing,
        references,
        codings,
    })
}

/// Every combination of one column from each part, multiplied, names joined by `:`.
fn cartesian(parts: &[Vec<(String, Vec<f64>)>]) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(String, Vec<f64>)> = vec![(String::new(), Vec::new())];
    for part in parts {
        let mut next = Vec::new();
        for (name, column) in &out {
            for (part_name, part_column) in part {
                let joined = if name.is_empty() {
                    part_name.clone()
                } else {
                    format!("{name}:{part_name}")
                };
                let product = if column.is_empty() {
                    part_column.clone()
                } else {
                    column.iter().zip(part_column).map(|(a, b)| a * b).collect()
                };
                next.push((joined, product));
            }
        }
        out = next;
    }
    out
}

fn numeric_column(
    df: &DataFrame,
    key: &str,
    rows: &[usize],
    span: Span,
) -> Result<Vec<f64>, Diagnostic> {
    let column = df
        .column(key)
        .map_err(|e| crate::errors::polars_error(e).at(span))?;
    let cast = column
        .as_materialized_series()
        .cast(&DataType::Float64)
        .map_err(|e| crate::errors::polars_error(e).at(span))?;
    let values = cast
        .f64()
        .map_err(|e| crate::errors::polars_error(e).at(span))?;
    Ok(rows
        .iter()
        .map(|&r| values.get(r).unwrap_or(f64::NAN))
        .collect())
}

/// Values as level labels: numbers as R prints them (`2`, not `2.0`), true/false as
/// `TRUE`/`FALSE`.
fn label_column(
    df: &DataFrame,
    key: &str,
    rows: &[usize],
    span: Span,
) -> Result<Vec<String>, Diagnostic> {
    let column = df
        .column(key)
        .map_err(|e| crate::errors::polars_error(e).at(span))?;
    let series = column.as_materialized_series();
    let labels: Vec<String> = if series.dtype().is_primitive_numeric() {
        numeric_column(df, key, rows, span)?
            .into_iter()
            .map(crate::format::number)
            .collect()
    } else if series.dtype() == &DataType::Boolean {
        let values = series
            .bool()
            .map_err(|e| crate::errors::polars_error(e).at(span))?;
        rows.iter()
            .map(|&r| {
                if values.get(r).unwrap_or(false) {
                    "TRUE".into()
                } else {
                    "FALSE".into()
                }
            })
            .collect()
    } else {
        let cast = series
            .cast(&DataType::String)
            .map_err(|e| crate::errors::polars_error(e).at(span))?;
        let values = cast
            .str()
            .map_err(|e| crate::errors::polars_error(e).at(span))?;
        rows.iter()
            .map(|&r| values.get(r).unwrap_or("").to_string())
            .collect()
    };
    Ok(labels)
}

fn variable_values(
    df: &DataFrame,
    key: &str,
    v: &Variable,
    coding: Option<&FactorCoding>,
    rows: &[usize],
    span: Span,
) -> Result<Values, Diagnostic> {
    let dtype = df
        .column(key)
        .map_err(|e| crate::errors::polars_error(e).at(span))?
        .dtype()
        .clone();
    let is_factor = v.factor.is_some() || !dtype.is_primitive_numeric();
    if !is_factor {
        return Ok(Values::Numeric(numeric_column(df, key, rows, span)?));
    }
    let labels = label_column(df, key, rows, span)?;
    if let Some(coding) = coding {
        return Ok(Values::Factor {
            labels,
            levels: coding.levels.clone(),
            reference: coding.reference.clone(),
        });
    }
    // The distinct labels first: sorting every row's label would sort millions.
    let mut seen = std::collections::HashSet::new();
    let mut levels: Vec<String> = labels
        .iter()
        .filter(|l| seen.insert(l.as_str()))
        .cloned()
        .collect();
    levels.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if dtype.is_primitive_numeric() => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    levels.dedup();
    if levels.len() < 2 {
        return Err(Diagnostic::new(
            "spel::model::one_level",
            format!(
                "`{}` has only one level (`{}`) in the rows used; a factor needs two or more",
                v.name,
                levels.first().map_or("", String::as_str)
            ),
        )
        .at(v.expr.span)
        .with_help("drop it from the formula, or check the condition after `|`"));
    }
    let reference = match v.factor.as_ref().and_then(|f| f.reference.clone()) {
        Some((level, ref_span)) => {
            if !levels.contains(&level) {
                let shown: Vec<String> =
                    levels.iter().take(8).map(|l| format!("\"{l}\"")).collect();
                return Err(Diagnostic::new(
                    "spel::model::reference",
                    format!("`{}` has no level \"{level}\"", v.name),
                )
                .at(ref_span)
                .suggest(spel_grammar::did_you_mean(
                    &level,
                    levels.iter().map(String::as_str),
                ))
                .with_note(format!("its levels are {}", shown.join(", "))));
            }
            level
        }
        None => levels[0].clone(),
    };
    Ok(Values::Factor {
        labels,
        levels,
        reference,
    })
}
