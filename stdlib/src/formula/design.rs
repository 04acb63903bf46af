//! Resolved terms and data to a design: the outcome, the model matrix (column by
//! column, R's names), weights, offsets, absorbed groupings and clusters, and notes on
//! every row and level left out.

use std::sync::Arc;

use polars::prelude::*;
use rayon::prelude::*;
use spel_grammar::ast::Expr as Ast;
use spel_grammar::{Diagnostic, Span};

pub use spel_stats::matrix::{Codes, Grouping, MatrixColumn, kept_rows, linear_predictor};

pub use super::resolve::FactorCoding;
use super::resolve::{Resolved, Variable};
use crate::eval::expr::Scope;
use crate::work::Work;

/// A grouping of the rows by a column: what the user named and what each group stands for.
#[derive(Clone, Debug)]
pub struct NamedGrouping {
    pub name: String,
    /// The value each group id stands for.
    pub labels: Vec<String>,
    pub grouping: Grouping,
}

#[derive(Clone, Debug)]
pub struct Design {
    pub outcome: String,
    pub y: Vec<f64>,
    /// The model matrix by columns, named as R names coefficients.
    pub columns: Vec<MatrixColumn>,
    pub names: Vec<String>,
    pub weights: Option<Vec<f64>>,
    pub freq: Option<Vec<f64>>,
    pub trials: Option<Vec<f64>>,
    pub offset: Option<Vec<f64>>,
    pub fixed_effects: Vec<NamedGrouping>,
    pub clusters: Vec<NamedGrouping>,
    /// Rows in the table before the condition and missing values.
    pub n_total: usize,
    pub n_outside_condition: usize,
    /// Rows dropped for a missing value, by the variable that was missing.
    pub missing: Vec<(String, usize)>,
    pub n_dropped_missing: usize,
    /// Rows of absorbed groups whose outcome never varies, dropped before the fit.
    pub n_dropped_separated: usize,
    /// Which of the rows built the fit kept, once such groups were dropped; `None` for all.
    pub rows_kept: Option<Vec<bool>>,
    /// The rows used, as positions among the rows that meet the condition; `None` when
    /// every one is used (no row-length list of positions 0, 1, 2, ...).
    pub rows: Option<Vec<usize>>,
    /// Each factor and its reference level.
    pub references: Vec<(String, String)>,
    /// Each factor's levels and reference, to code other data the same way.
    pub codings: Vec<FactorCoding>,
}

impl Design {
    /// Keeps the rows where `keep` is true, in every row-length part of the design:
    /// the outcome, the columns (a factor's dummies still share one list of codes),
    /// weights, offsets, and the groupings, whose levels left without a row are dropped.
    pub fn retain_rows(&mut self, keep: &[bool]) {
        let pick = |values: &[f64]| kept_rows(values, keep);
        let n = keep.iter().filter(|k| **k).count();
        self.y = pick(&self.y);
        for part in [
            &mut self.weights,
            &mut self.freq,
            &mut self.trials,
            &mut self.offset,
        ] {
            if let Some(values) = part.as_mut() {
                *values = pick(values);
            }
        }
        let mut codes_kept: Vec<(Codes, Codes)> = Vec::new();
        let mut keep_codes = |codes: &Codes| -> Codes {
            if let Some((_, new)) = codes_kept.iter().find(|(old, _)| Arc::ptr_eq(old, codes)) {
                return new.clone();
            }
            let new: Codes = Arc::new(
                codes
                    .iter()
                    .zip(keep)
                    .filter(|(_, k)| **k)
                    .map(|(c, _)| *c)
                    .collect(),
            );
            codes_kept.push((codes.clone(), new.clone()));
            new
        };
        for column in &mut self.columns {
            match column {
                MatrixColumn::Values(x) => *x = pick(x),
                MatrixColumn::Indicator { codes, .. } => *codes = keep_codes(codes),
                MatrixColumn::Constant { rows, .. } => *rows = n,
            }
        }
        for named in self
            .fixed_effects
            .iter_mut()
            .chain(self.clusters.iter_mut())
        {
            named.retain_rows(&keep_codes(&named.grouping.ids));
        }
        let positions: Vec<usize> = match &self.rows {
            Some(rows) => rows
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(r, _)| *r)
                .collect(),
            None => (0..keep.len()).filter(|&i| keep[i]).collect(),
        };
        self.rows = Some(positions);
    }
}

impl NamedGrouping {
    /// The grouping of the kept rows (`ids`, the old ids of those rows), renumbered so
    /// that its levels are the ones that still have a row.
    fn retain_rows(&mut self, ids: &Codes) {
        let mut renumbered = vec![u32::MAX; self.grouping.levels];
        let mut labels = Vec::new();
        for &id in ids.iter() {
            let slot = &mut renumbered[id as usize];
            if *slot == u32::MAX {
                *slot = labels.len() as u32;
                labels.push(id);
            }
        }
        // Levels in their old order, so that labels keep theirs.
        labels.sort_unstable();
        for (new, &old) in labels.iter().enumerate() {
            renumbered[old as usize] = new as u32;
        }
        self.labels = labels
            .iter()
            .map(|&old| self.labels[old as usize].clone())
            .collect();
        self.grouping = Grouping {
            ids: Arc::new(ids.iter().map(|&id| renumbered[id as usize]).collect()),
            levels: labels.len(),
        };
    }
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
        codes: Codes,
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
    let statement = Statement {
        scope,
        resolved,
        request,
        span,
    };
    let variables = distinct_variables(resolved);
    let selection = statement.select(&variables)?;
    let n_total = work.count(&lf, span)?;
    let lf = statement.condition(lf)?;
    let df = work.collect(
        lf.select(selection.exprs),
        "preparing the model's data",
        span,
    )?;
    let n_condition = df.height();
    let labels = selection.labels;
    let Complete {
        mut df,
        rows,
        missing,
    } = statement.drop_missing(df, &labels)?;
    let n = rows.as_ref().map_or(n_condition, Vec::len);
    if n == 0 {
        return Err(no_rows(n_condition, &missing, span));
    }
    let y = statement.outcome(&mut df, &labels[0])?;
    let Coded {
        values,
        fixed_effects,
        clusters,
    } = statement.code(&mut df, &variables, &selection.cluster_keys)?;
    let (references, codings) = factor_codings(&variables, &values);
    let (names, columns) = statement.matrix(&variables, values, n);
    let offset = statement.offset(&df, n)?;
    Ok(Design {
        outcome: labels[0].clone(),
        y,
        columns,
        names,
        weights: optional_column(&mut df, "w", request.weights, span)?,
        freq: optional_column(&mut df, "q", request.freq, span)?,
        trials: optional_column(&mut df, "t", request.trials, span)?,
        offset,
        fixed_effects,
        clusters,
        n_total,
        n_outside_condition: n_total - n_condition,
        n_dropped_missing: n_condition - n,
        n_dropped_separated: 0,
        rows_kept: None,
        rows,
        missing,
        references,
        codings,
    })
}

/// What every step of `build` reads: the statement's terms and options, and where to
/// report.
struct Statement<'a, 's> {
    scope: &'a Scope<'s>,
    resolved: &'a Resolved,
    request: &'a Request<'a>,
    span: Span,
}

/// The columns to read, keyed `y` (the outcome), `v0`, ... (the variables), `o0`, ...
/// (the offsets), `f0`, ... (the absorbed effects), `c0`, ... (clusters not among
/// them), then `w`, `q` and `t` (weights, frequencies and trials).
struct Selection {
    exprs: Vec<Expr>,
    /// Each column as messages name it.
    labels: Vec<String>,
    /// Each cluster's column: its own, or an absorbed effect's.
    cluster_keys: Vec<String>,
}

/// The rows with no value missing.
struct Complete {
    df: DataFrame,
    /// As `Design::rows`.
    rows: Option<Vec<usize>>,
    missing: Vec<(String, usize)>,
}

/// The variables' values and the groupings' codes for the rows used.
struct Coded {
    values: Vec<Values>,
    fixed_effects: Vec<NamedGrouping>,
    clusters: Vec<NamedGrouping>,
}

/// Every distinct variable once, in order of first appearance.
fn distinct_variables(resolved: &Resolved) -> Vec<&Variable> {
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
    variables
}

impl Selection {
    /// `levels`: the values become levels (factors, absorbed effects, clusters). Texts
    /// among them are read as categoricals, a number per row rather than a 16-byte view,
    /// batch by batch, so the texts are never all held at once.
    fn add(
        &mut self,
        scope: &Scope,
        ast: &Ast,
        key: String,
        label: String,
        levels: bool,
    ) -> Result<(), Diagnostic> {
        let (mut expr, dtype) = scope.checked(ast)?;
        if levels && dtype == DataType::String {
            let categories = Categories::random(PlSmallStr::EMPTY, CategoricalPhysical::U32);
            expr = expr.cast(DataType::from_categories(categories));
        }
        self.exprs.push(expr.alias(key.as_str()));
        self.labels.push(label);
        Ok(())
    }
}

impl Statement<'_, '_> {
    fn text(&self, s: Span) -> String {
        self.scope.env.text(s).to_string()
    }

    /// The expressions for every column the model reads.
    fn select(&self, variables: &[&Variable]) -> Result<Selection, Diagnostic> {
        let (scope, resolved, request) = (self.scope, self.resolved, self.request);
        let mut selection = Selection {
            exprs: Vec::new(),
            labels: Vec::new(),
            cluster_keys: Vec::new(),
        };
        selection.add(
            scope,
            request.outcome,
            "y".into(),
            self.text(request.outcome.span),
            false,
        )?;
        for (i, v) in variables.iter().enumerate() {
            selection.add(scope, &v.expr, format!("v{i}"), v.name.clone(), true)?;
        }
        for (i, v) in resolved.offsets.iter().enumerate() {
            selection.add(
                scope,
                &v.expr,
                format!("o{i}"),
                format!("offset({})", v.name),
                false,
            )?;
        }
        for (i, v) in resolved.fixed_effects.iter().enumerate() {
            selection.add(scope, &v.expr, format!("f{i}"), v.name.clone(), true)?;
        }
        // A cluster written as an absorbed effect (`fe(pcn)`, `cluster = pcn`) is read once.
        for (i, c) in request.clusters.iter().enumerate() {
            let same = resolved
                .fixed_effects
                .iter()
                .position(|v| self.text(v.expr.span) == self.text(c.span));
            match same {
                Some(j) => selection.cluster_keys.push(format!("f{j}")),
                None => {
                    selection.add(scope, c, format!("c{i}"), self.text(c.span), true)?;
                    selection.cluster_keys.push(format!("c{i}"));
                }
            }
        }
        for (key, ast) in [
            ("w", request.weights),
            ("q", request.freq),
            ("t", request.trials),
        ] {
            if let Some(ast) = ast {
                selection.add(scope, ast, key.into(), self.text(ast.span), false)?;
            }
        }
        Ok(selection)
    }

    /// The rows that meet the condition after `|`, if there is one.
    fn condition(&self, lf: LazyFrame) -> Result<LazyFrame, Diagnostic> {
        let Some(condition) = self.request.condition else {
            return Ok(lf);
        };
        let (expr, dtype) = self.scope.checked(condition)?;
        if dtype != DataType::Boolean {
            return Err(Diagnostic::new(
                "spel::model::condition",
                format!(
                    "the condition after `|` must be true or false, but `{}` is {dtype}",
                    self.text(condition.span)
                ),
            )
            .at(condition.span)
            .with_help(
                "write a comparison, as `age >= 30`, or a true/false column such as `ltc`",
            ));
        }
        Ok(lf.filter(expr))
    }

    /// Listwise deletion, counted by the variable that was missing.
    fn drop_missing(&self, mut df: DataFrame, labels: &[String]) -> Result<Complete, Diagnostic> {
        let span = self.span;
        let mut keep: Option<BooleanChunked> = None;
        let mut missing = Vec::new();
        for (column, label) in df.columns().iter().zip(labels) {
            let series = column.as_materialized_series();
            let mut absent = series.is_null();
            if series.dtype().is_float()
                && let Ok(nan) = series.is_nan()
            {
                absent = &absent
                    | &nan
                        .fill_null_with_values(false)
                        .map_err(|e| polars_at(e, span))?;
            }
            let count = absent.sum().unwrap_or(0) as usize;
            if count == 0 {
                continue;
            }
            if column.name().as_str() == "w" {
                // A missing survey weight is a data error, not a row to drop quietly.
                let weights = self.request.weights.map_or(span, |w| w.span);
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
            missing.push((label.clone(), count));
            let present = !&absent;
            keep = Some(match keep {
                Some(k) => &k & &present,
                None => present,
            });
        }
        let rows: Option<Vec<usize>> = keep.as_ref().map(|k| {
            k.iter()
                .enumerate()
                .filter(|(_, kept)| kept.unwrap_or(false))
                .map(|(r, _)| r)
                .collect()
        });
        if let Some(k) = &keep {
            df = df.filter(k).map_err(|e| polars_at(e, span))?;
        }
        Ok(Complete { df, rows, missing })
    }

    /// The outcome's values, its column taken out of the table.
    fn outcome(&self, df: &mut DataFrame, label: &str) -> Result<Vec<f64>, Diagnostic> {
        let span = self.span;
        let column = df.drop_in_place("y").map_err(|e| polars_at(e, span))?;
        let dtype = column.dtype().clone();
        // Only numbers and true/false are an outcome: a cast would make text missing, or
        // read text that looks like numbers as numbers without a word.
        if !(dtype.is_primitive_numeric() || dtype == DataType::Boolean) {
            return Err(Diagnostic::new(
                "spel::model::outcome",
                format!(
                    "the outcome `{label}` is a {} column, but a model needs numbers or true/false",
                    crate::value::dtype_name(&dtype)
                ),
            )
            .at(self.request.outcome.span)
            .with_help(format!(
                "make a 0/1 column first, as `derive good = if_else({label} == \"Yes\", 1, 0)`"
            ))
            .with_note("text that holds numbers is not read as numbers: check the file for a value that is not one"));
        }
        column_numbers(column, span)
    }

    fn code(
        &self,
        df: &mut DataFrame,
        variables: &[&Variable],
        cluster_keys: &[String],
    ) -> Result<Coded, Diagnostic> {
        // Each variable's codes on its own core (a hash look-up per row adds up), each
        // column dropped once coded, so the table and the design are not all held at once.
        let taken: Vec<Column> = (0..variables.len())
            .map(|i| df.drop_in_place(&format!("v{i}")))
            .collect::<PolarsResult<_>>()
            .map_err(|e| polars_at(e, self.span))?;
        let df = &*df;
        // The groupings (absorbed effects, clusters) are coded beside the variables.
        let (values, groupings) = rayon::join(
            || self.code_variables(variables, taken),
            || self.code_groupings(df, cluster_keys),
        );
        let values = values?;
        let (fixed_effects, clusters) = groupings?;
        Ok(Coded {
            values,
            fixed_effects,
            clusters,
        })
    }

    fn code_variables(
        &self,
        variables: &[&Variable],
        taken: Vec<Column>,
    ) -> Result<Vec<Values>, Diagnostic> {
        let span = self.span;
        variables
            .par_iter()
            .zip(taken.into_par_iter())
            .enumerate()
            .map(|(i, (v, column))| {
                let coding = self.request.codings.iter().find(|c| c.name == v.name);
                if v.factor.is_none() && column.dtype().is_primitive_numeric() {
                    return column_numbers(column, span).map(Values::Numeric);
                }
                let one =
                    DataFrame::new_infer_height(vec![column]).map_err(|e| polars_at(e, span))?;
                variable_values(&one, &format!("v{i}"), v, coding, span)
            })
            .collect()
    }

    fn code_groupings(
        &self,
        df: &DataFrame,
        cluster_keys: &[String],
    ) -> Result<(Vec<NamedGrouping>, Vec<NamedGrouping>), Diagnostic> {
        let span = self.span;
        let fixed_effects = self
            .resolved
            .fixed_effects
            .par_iter()
            .enumerate()
            .map(|(i, v)| named_grouping(df, &format!("f{i}"), v.name.clone(), span))
            .collect::<Result<Vec<_>, _>>()?;
        // A cluster on an absorbed effect's column shares its codes.
        let clusters = self
            .request
            .clusters
            .par_iter()
            .enumerate()
            .map(|(i, c)| {
                let absorbed = cluster_keys[i]
                    .strip_prefix('f')
                    .and_then(|j| j.parse::<usize>().ok());
                match absorbed {
                    Some(j) => Ok(NamedGrouping {
                        name: self.text(c.span),
                        ..fixed_effects[j].clone()
                    }),
                    None => named_grouping(df, &cluster_keys[i], self.text(c.span), span),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((fixed_effects, clusters))
    }

    /// The model matrix's names and columns, term by term.
    fn matrix(
        &self,
        variables: &[&Variable],
        mut values: Vec<Values>,
        n: usize,
    ) -> (Vec<String>, Vec<MatrixColumn>) {
        let resolved = self.resolved;
        let index_of = |v: &Variable| {
            variables
                .iter()
                .position(|u| u.name == v.name && u.factor.is_some() == v.factor.is_some())
                .unwrap_or(0)
        };
        // A numeric variable's last use takes its values rather than copying them: at
        // 41 million rows a copy is 315 MiB.
        let mut uses = vec![0usize; values.len()];
        for v in resolved.terms.iter().flat_map(|t| &t.variables) {
            uses[index_of(v)] += 1;
        }
        let mut columns = Vec::new();
        let mut names = Vec::new();
        let mut full_coded: Vec<String> = Vec::new();
        for term in &resolved.terms {
            // Each variable's columns: a numeric variable is one column; a factor is a
            // dummy per level but the reference (all levels for the first factor of a
            // model without an intercept, as R).
            let mut parts: Vec<Vec<(String, MatrixColumn)>> = Vec::new();
            for v in &term.variables {
                let index = index_of(v);
                uses[index] -= 1;
                let last = uses[index] == 0;
                parts.push(match &mut values[index] {
                    Values::Numeric(x) => {
                        let x = if last { std::mem::take(x) } else { x.clone() };
                        vec![(v.name.clone(), MatrixColumn::Values(x))]
                    }
                    Values::Factor {
                        codes,
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
                            .enumerate()
                            .filter(|(_, l)| all_levels || *l != reference)
                            .map(|(k, level)| {
                                let column = MatrixColumn::Indicator {
                                    codes: codes.clone(),
                                    level: k as u32,
                                    levels: levels.len() as u32,
                                };
                                (format!("{}{level}", v.name), column)
                            })
                            .collect()
                    }
                });
            }
            for (name, column) in cartesian(parts, n) {
                names.push(name);
                columns.push(column);
            }
        }
        // Absorbed fixed effects take the intercept's place.
        if resolved.intercept && resolved.fixed_effects.is_empty() {
            names.insert(0, "(Intercept)".into());
            columns.insert(
                0,
                MatrixColumn::Constant {
                    value: 1.0,
                    rows: n,
                },
            );
        }
        (names, columns)
    }

    /// The offsets, added up.
    fn offset(&self, df: &DataFrame, n: usize) -> Result<Option<Vec<f64>>, Diagnostic> {
        if self.resolved.offsets.is_empty() {
            return Ok(None);
        }
        let mut total = vec![0.0; n];
        for i in 0..self.resolved.offsets.len() {
            for (t, o) in total
                .iter_mut()
                .zip(numeric_column(df, &format!("o{i}"), self.span)?)
            {
                *t += o;
            }
        }
        Ok(Some(total))
    }
}

fn no_rows(n_condition: usize, missing: &[(String, usize)], span: Span) -> Diagnostic {
    let mut d =
        Diagnostic::new("spel::model::no_rows", "no rows are left to fit the model").at(span);
    if n_condition == 0 {
        d = d.with_note("no row meets the condition after `|`");
    }
    for (name, count) in missing {
        d = d.with_note(format!("{count} rows have no value of `{name}`"));
    }
    d
}

/// Each factor's reference level, and its levels, to code other data the same way.
fn factor_codings(
    variables: &[&Variable],
    values: &[Values],
) -> (Vec<(String, String)>, Vec<FactorCoding>) {
    let mut references = Vec::new();
    let mut codings = Vec::new();
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
    (references, codings)
}

fn named_grouping(
    df: &DataFrame,
    key: &str,
    name: String,
    span: Span,
) -> Result<NamedGrouping, Diagnostic> {
    let (ids, labels) = codes(df, key, span)?;
    Ok(NamedGrouping {
        name,
        grouping: Grouping {
            ids: Arc::new(ids),
            levels: labels.len(),
        },
        labels,
    })
}

/// The weights, frequencies or trials, if asked for, their column taken out of the table.
fn optional_column(
    df: &mut DataFrame,
    key: &str,
    ast: Option<&Ast>,
    span: Span,
) -> Result<Option<Vec<f64>>, Diagnostic> {
    match ast {
        Some(_) => {
            let column = df.drop_in_place(key).map_err(|e| polars_at(e, span))?;
            column_numbers(column, span).map(Some)
        }
        None => Ok(None),
    }
}

fn polars_at(e: PolarsError, span: Span) -> Diagnostic {
    crate::errors::polars_error(e).at(span)
}

/// Every combination of one column from each part, multiplied, names joined by `:`.
/// A term of one variable keeps its columns as they are.
fn cartesian(
    mut parts: Vec<Vec<(String, MatrixColumn)>>,
    rows: usize,
) -> Vec<(String, MatrixColumn)> {
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut out: Vec<(String, Vec<f64>)> = vec![(String::new(), vec![1.0; rows])];
    let mut part_values = vec![0.0; rows];
    for part in &parts {
        let mut next = Vec::new();
        for (name, column) in &out {
            for (part_name, part_column) in part {
                let joined = if name.is_empty() {
                    part_name.clone()
                } else {
                    format!("{name}:{part_name}")
                };
                part_column.fill(0, &mut part_values);
                let product = column
                    .iter()
                    .zip(&part_values)
                    .map(|(a, b)| a * b)
                    .collect();
                next.push((joined, product));
            }
        }
        out = next;
    }
    out.into_iter()
        .map(|(name, x)| (name, MatrixColumn::Values(x)))
        .collect()
}

fn numeric_column(df: &DataFrame, key: &str, span: Span) -> Result<Vec<f64>, Diagnostic> {
    let column = df.column(key).map_err(|e| polars_at(e, span))?;
    column_numbers(column.clone(), span)
}

/// A column's values as numbers (missing ones NaN). A column held nowhere else, in one
/// piece, gives its memory to the `Vec` rather than being copied: on millions of rows
/// a copy costs more in fresh pages than in copying.
fn column_numbers(column: Column, span: Span) -> Result<Vec<f64>, Diagnostic> {
    let series = column.take_materialized_series();
    let series = if series.dtype() == &DataType::Float64 {
        series
    } else {
        series
            .cast(&DataType::Float64)
            .map_err(|e| polars_at(e, span))?
    };
    let values = series.f64().map_err(|e| polars_at(e, span))?.clone();
    drop(series);
    if values.null_count() > 0 {
        return Ok(values.iter().map(|v| v.unwrap_or(f64::NAN)).collect());
    }
    if values.chunks().len() == 1 {
        let array = values
            .downcast_into_iter()
            .next()
            .expect("a chunked array of one chunk has one array");
        return Ok(array.into_mut().either(
            |shared| shared.values().as_slice().to_vec(),
            |owned| owned.into_inner().1,
        ));
    }
    let mut out = Vec::with_capacity(values.len());
    for chunk in values.downcast_iter() {
        out.extend_from_slice(chunk.values().as_slice());
    }
    Ok(out)
}

/// Each row's value as a code, and the value each code stands for, in order of first
/// appearance: numbers as R prints them (`2`, not `2.0`), true/false as `TRUE`/`FALSE`.
/// One hash look-up per row (none when a row repeats the row before), no text made.
fn codes(df: &DataFrame, key: &str, span: Span) -> Result<(Vec<u32>, Vec<String>), Diagnostic> {
    let column = df.column(key).map_err(|e| polars_at(e, span))?;
    let series = column.as_materialized_series();
    fn encode<K: std::hash::Hash + Eq + Copy>(
        values: impl Iterator<Item = K>,
        rows: usize,
    ) -> (Vec<u32>, Vec<K>) {
        let mut index: PlHashMap<K, u32> = PlHashMap::default();
        let mut distinct = Vec::new();
        let mut codes = Vec::with_capacity(rows);
        let mut last: Option<(K, u32)> = None;
        for value in values {
            let code = match last {
                Some((previous, code)) if previous == value => code,
                _ => {
                    let code = *index.entry(value).or_insert_with(|| {
                        distinct.push(value);
                        distinct.len() as u32 - 1
                    });
                    last = Some((value, code));
                    code
                }
            };
            codes.push(code);
        }
        (codes, distinct)
    }
    let rows = series.len();
    if let Some((codes, distinct)) = integer_codes(series) {
        let labels = distinct
            .iter()
            .map(|&v| crate::format::number(v as f64))
            .collect();
        return Ok(merge_equal_labels(codes, labels));
    }
    if let Some((codes, labels)) = categorical_codes(series) {
        return Ok((codes, labels));
    }
    let (codes, labels): (Vec<u32>, Vec<String>) = if series.dtype().is_primitive_numeric() {
        // -0.0 and 0.0 are one level; so are numbers R prints alike.
        let values = numeric_column(df, key, span)?;
        let (codes, distinct) = encode(values.iter().map(|v| (v + 0.0).to_bits()), rows);
        let labels: Vec<String> = distinct
            .iter()
            .map(|&bits| crate::format::number(f64::from_bits(bits)))
            .collect();
        merge_equal_labels(codes, labels)
    } else if series.dtype() == &DataType::Boolean {
        let values = series.bool().map_err(|e| polars_at(e, span))?;
        let (codes, distinct) = encode(values.iter().map(|v| v.unwrap_or(false)), rows);
        let labels = distinct
            .iter()
            .map(|&b| if b { "TRUE" } else { "FALSE" }.to_string())
            .collect();
        (codes, labels)
    } else {
        let cast = series
            .cast(&DataType::String)
            .map_err(|e| polars_at(e, span))?;
        let values = cast.str().map_err(|e| polars_at(e, span))?;
        let short = values
            .downcast_iter()
            .all(|array| array.views().iter().all(|view| view.length <= 12));
        if short && values.null_count() == 0 {
            // A text of up to 12 bytes is held whole in its 16-byte view: hashing the
            // view as a number is several times quicker than hashing the text.
            let (codes, distinct) = encode_views(values, rows);
            let labels = distinct
                .iter()
                .map(|view| {
                    let bytes = view.to_le_bytes();
                    let length = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    String::from_utf8_lossy(&bytes[4..4 + length as usize]).into_owned()
                })
                .collect();
            merge_equal_labels(codes, labels)
        } else {
            let (codes, distinct) = encode(values.iter().map(|v| v.unwrap_or("")), rows);
            (codes, distinct.iter().map(|s| s.to_string()).collect())
        }
    };
    Ok((codes, labels))
}

/// Codes of whole numbers within a span of 65,536 (years, quintiles, small counts) by
/// their offset from the least, with no hashing; in order of first appearance as
/// [`codes`] gives them. `None` for other columns or columns with missing values.
fn integer_codes(series: &Series) -> Option<(Vec<u32>, Vec<i128>)> {
    fn by_offset<T>(values: &ChunkedArray<T>) -> Option<(Vec<u32>, Vec<i128>)>
    where
        T: PolarsIntegerType,
        T::Native: Into<i128>,
    {
        if values.null_count() > 0 {
            return None;
        }
        let (mut least, mut most) = (i128::MAX, i128::MIN);
        for array in values.downcast_iter() {
            for &v in array.values().iter() {
                let v: i128 = v.into();
                least = least.min(v);
                most = most.max(v);
            }
        }
        let span = usize::try_from(most.checked_sub(least)?).ok()?;
        if span >= 1 << 16 {
            return None;
        }
        let mut code_at = vec![u32::MAX; span + 1];
        let mut distinct = Vec::new();
        let mut codes = Vec::with_capacity(values.len());
        for array in values.downcast_iter() {
            codes.extend(array.values().iter().map(|&v| {
                let value: i128 = v.into();
                let slot = &mut code_at[(value - least) as usize];
                if *slot == u32::MAX {
                    *slot = distinct.len() as u32;
                    distinct.push(value);
                }
                *slot
            }));
        }
        Some((codes, distinct))
    }
    match series.dtype() {
        DataType::Int8 => by_offset(series.i8().ok()?),
        DataType::Int16 => by_offset(series.i16().ok()?),
        DataType::Int32 => by_offset(series.i32().ok()?),
        DataType::Int64 => by_offset(series.i64().ok()?),
        DataType::UInt8 => by_offset(series.u8().ok()?),
        DataType::UInt16 => by_offset(series.u16().ok()?),
        DataType::UInt32 => by_offset(series.u32().ok()?),
        DataType::UInt64 => by_offset(series.u64().ok()?),
        _ => None,
    }
}

/// [`codes`] of a categorical column by its categories' numbers, with no hashing. `None`
/// for other columns and columns with missing values.
fn categorical_codes(series: &Series) -> Option<(Vec<u32>, Vec<String>)> {
    let DataType::Categorical(_, mapping) = series.dtype() else {
        return None;
    };
    let values = series.cat32().ok()?;
    if values.null_count() > 0 {
        return None;
    }
    let mut code_at = vec![u32::MAX; mapping.num_cats_upper_bound()];
    let mut labels = Vec::new();
    let mut codes = Vec::with_capacity(values.len());
    for array in values.physical().downcast_iter() {
        for &category in array.values().iter() {
            let slot = code_at.get_mut(category as usize)?;
            if *slot == u32::MAX {
                *slot = labels.len() as u32;
                labels.push(mapping.cat_to_str(category)?.to_string());
            }
            codes.push(*slot);
        }
    }
    Some((codes, labels))
}

/// [`codes`] of short texts by their 16-byte views, through a small table indexed by
/// a multiplicative hash of the view: with a few hundred distinct texts nearly every
/// row is found there, and only the rest go to the hash map.
fn encode_views(values: &StringChunked, rows: usize) -> (Vec<u32>, Vec<u128>) {
    // No view of a text of at most 12 bytes has all bits set (its length is ≤ 12).
    const EMPTY: u128 = u128::MAX;
    const SLOTS: u32 = 10;
    let slot = |view: u128| {
        let mixed = (view as u64 ^ (view >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> (64 - SLOTS)) as usize
    };
    let mut recent = vec![(EMPTY, 0u32); 1 << SLOTS];
    let mut index: PlHashMap<u128, u32> = PlHashMap::default();
    let mut distinct = Vec::new();
    let mut codes = Vec::with_capacity(rows);
    for array in values.downcast_iter() {
        codes.extend(array.views().iter().map(|view| {
            let view = view.as_u128();
            let entry = &mut recent[slot(view)];
            if entry.0 == view {
                return entry.1;
            }
            let code = *index.entry(view).or_insert_with(|| {
                distinct.push(view);
                distinct.len() as u32 - 1
            });
            *entry = (view, code);
            code
        }));
    }
    (codes, distinct)
}

/// Codes whose labels read the same become one.
fn merge_equal_labels(codes: Vec<u32>, labels: Vec<String>) -> (Vec<u32>, Vec<String>) {
    let mut unique: Vec<String> = Vec::new();
    let mut index: PlHashMap<String, u32> = PlHashMap::default();
    let mut remap = Vec::with_capacity(labels.len());
    for label in labels {
        let next = unique.len() as u32;
        let code = *index.entry(label.clone()).or_insert(next);
        if code == next {
            unique.push(label);
        }
        remap.push(code);
    }
    if remap.iter().enumerate().all(|(k, &r)| k as u32 == r) {
        return (codes, unique);
    }
    (
        codes.into_iter().map(|c| remap[c as usize]).collect(),
        unique,
    )
}

fn variable_values(
    df: &DataFrame,
    key: &str,
    v: &Variable,
    coding: Option<&FactorCoding>,
    span: Span,
) -> Result<Values, Diagnostic> {
    let dtype = df
        .column(key)
        .map_err(|e| polars_at(e, span))?
        .dtype()
        .clone();
    let is_factor = v.factor.is_some() || !dtype.is_primitive_numeric();
    if !is_factor {
        return Ok(Values::Numeric(numeric_column(df, key, span)?));
    }
    let (codes, labels) = codes(df, key, span)?;
    let recode = |mut codes: Vec<u32>, remap: &[u32]| -> Codes {
        if remap.iter().enumerate().any(|(k, &r)| k as u32 != r) {
            codes
                .par_chunks_mut(1 << 16)
                .for_each(|part| part.iter_mut().for_each(|c| *c = remap[*c as usize]));
        }
        Arc::new(codes)
    };
    if let Some(coding) = coding {
        // A value the fit never saw matches no dummy.
        let remap: Vec<u32> = labels
            .iter()
            .map(|l| {
                coding
                    .levels
                    .iter()
                    .position(|level| level == l)
                    .map_or(u32::MAX, |k| k as u32)
            })
            .collect();
        return Ok(Values::Factor {
            codes: recode(codes, &remap),
            levels: coding.levels.clone(),
            reference: coding.reference.clone(),
        });
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&labels[a], &labels[b]);
        match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) if dtype.is_primitive_numeric() => x.total_cmp(&y),
            _ => a.cmp(b),
        }
    });
    let mut remap = vec![0; labels.len()];
    for (k, &code) in order.iter().enumerate() {
        remap[code] = k as u32;
    }
    let levels: Vec<String> = order.iter().map(|&code| labels[code].clone()).collect();
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
        codes: recode(codes, &remap),
        levels,
        reference,
    })
}
