//! Resolved terms and data to a design: the outcome, the model matrix (column by
//! column, R's names), weights, offsets, absorbed groupings and clusters, and notes on
//! every row and level left out.

use std::sync::Arc;

use polars::prelude::*;
use rayon::prelude::*;
use spel_grammar::ast::Expr as Ast;
use spel_grammar::{Diagnostic, Span};

pub use spel_stats::matrix::{
    Codes, GroupIds, Grouping, LevelCodes, MatrixColumn, kept_rows, linear_predictor,
};

use super::read::{Kept, Levels, Read, Role};
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
    /// The random-effects terms, in the formula's order.
    pub random: Vec<RandomDesign>,
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

/// A random-effects term's grouping and columns.
#[derive(Clone, Debug)]
pub struct RandomDesign {
    pub grouping: NamedGrouping,
    /// The term in the formula, for messages.
    pub span: Span,
    /// The columns whose coefficients vary by group, named (`(Intercept)`, `days`).
    pub columns: Vec<(String, Arc<Vec<f64>>)>,
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
        // A factor's dummies, and a grouping that is both absorbed and clusters, keep
        // sharing one list of codes.
        let mut codes_kept: Vec<(Codes, Codes)> = Vec::new();
        for column in &mut self.columns {
            match column {
                MatrixColumn::Values(x) => *x = Arc::new(pick(x)),
                MatrixColumn::Indicator { codes, .. } => {
                    *codes = kept_once(&mut codes_kept, codes, |c| c.kept(keep))
                }
                MatrixColumn::Constant { rows, .. } => *rows = n,
            }
        }
        let mut ids_kept: Vec<(GroupIds, GroupIds)> = Vec::new();
        for term in &mut self.random {
            for (_, values) in &mut term.columns {
                *values = Arc::new(pick(values));
            }
        }
        for named in self
            .fixed_effects
            .iter_mut()
            .chain(self.clusters.iter_mut())
            .chain(self.random.iter_mut().map(|r| &mut r.grouping))
        {
            let ids = kept_once(&mut ids_kept, &named.grouping.ids, |ids| {
                kept_rows(ids, keep)
            });
            named.retain_rows(&ids);
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
    fn retain_rows(&mut self, ids: &GroupIds) {
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

/// `shared` with `keep` applied once: a list shared before stays shared after.
fn kept_once<T>(
    done: &mut Vec<(Arc<T>, Arc<T>)>,
    shared: &Arc<T>,
    keep: impl FnOnce(&T) -> T,
) -> Arc<T> {
    if let Some((_, new)) = done.iter().find(|(old, _)| Arc::ptr_eq(old, shared)) {
        return new.clone();
    }
    let new = Arc::new(keep(shared));
    done.push((shared.clone(), new.clone()));
    new
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
    };
    let variables = distinct_variables(resolved);
    let selection = statement.select(&variables)?;
    let n_total = work.count(&lf, span)?;
    let lf = statement.condition(lf)?.select(selection.exprs.clone());
    let columns = selection
        .labels
        .iter()
        .cloned()
        .zip(selection.roles.iter().copied())
        .collect();
    let read = Read::new(columns, n_total, request.outcome.span, span);
    let mut read = work.fold(lf, "preparing the model's data", span, read, Read::add)?;
    statement.check_weights(&read)?;
    let missing = read.missing(|role| role != Role::Weights);
    let n_condition = read.rows_read;
    let n = read.rows.as_ref().map_or(n_condition, Vec::len);
    if n == 0 {
        return Err(no_rows(n_condition, &missing, span));
    }
    let at = |key: &str| selection.position(key);
    let y = read.take_numbers(at("y"));
    let values = variables
        .iter()
        .enumerate()
        .map(|(i, v)| match read.take(at(&format!("v{i}"))) {
            Kept::Numbers(x) => Ok(Values::Numeric(x)),
            Kept::Levels(levels) => {
                let coding = request.codings.iter().find(|c| c.name == v.name);
                factor_values(levels, v, coding)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (fixed_effects, clusters) = statement.groupings(&mut read, &selection);
    let random = statement.random(&mut read, &selection, n);
    let (references, codings) = factor_codings(&variables, &values);
    let (names, columns) = statement.matrix(&variables, values, n);
    let offset = (0..resolved.offsets.len())
        .map(|i| read.take_numbers(at(&format!("o{i}"))))
        .reduce(|mut total, o| {
            total.iter_mut().zip(o).for_each(|(t, o)| *t += o);
            total
        });
    let mut optional = |key: &str, ast: Option<&Ast>| ast.map(|_| read.take_numbers(at(key)));
    Ok(Design {
        outcome: selection.labels[0].clone(),
        y,
        columns,
        names,
        weights: optional("w", request.weights),
        freq: optional("q", request.freq),
        trials: optional("t", request.trials),
        offset,
        fixed_effects,
        clusters,
        random,
        n_total,
        n_outside_condition: n_total - n_condition,
        n_dropped_missing: n_condition - n,
        n_dropped_separated: 0,
        rows_kept: None,
        rows: read.rows.take(),
        missing,
        references,
        codings,
    })
}

/// What every step of `build` reads: the statement's terms and options.
struct Statement<'a, 's> {
    scope: &'a Scope<'s>,
    resolved: &'a Resolved,
    request: &'a Request<'a>,
}

/// The columns to read, keyed `y` (the outcome), `v0`, ... (the variables), `o0`, ...
/// (the offsets), `f0`, ... (the absorbed effects), `c0`, ... (clusters not among
/// them), then `w`, `q` and `t` (weights, frequencies and trials).
struct Selection {
    exprs: Vec<Expr>,
    keys: Vec<String>,
    /// Each column as messages name it.
    labels: Vec<String>,
    roles: Vec<Role>,
    /// Each cluster's column: its own, or an absorbed effect's.
    cluster_keys: Vec<String>,
}

/// The columns random effects group by, each once.
fn random_groupings(resolved: &Resolved) -> Vec<&Variable> {
    distinct_by_name(resolved.random.iter().flat_map(|r| &r.grouping))
}

/// The variables of random slopes, each once.
fn random_slopes(resolved: &Resolved) -> Vec<&Variable> {
    distinct_by_name(resolved.random.iter().flat_map(|r| &r.slopes))
}

fn distinct_by_name<'a>(variables: impl Iterator<Item = &'a Variable>) -> Vec<&'a Variable> {
    let mut distinct: Vec<&Variable> = Vec::new();
    for v in variables {
        if !distinct.iter().any(|u| u.name == v.name) {
            distinct.push(v);
        }
    }
    distinct
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
    /// Texts whose values become levels (factors, absorbed effects, clusters) are read
    /// as categoricals, a number per row rather than a 16-byte view, batch by batch, so
    /// the texts are never all held at once.
    fn add(
        &mut self,
        scope: &Scope,
        ast: &Ast,
        key: String,
        label: String,
        role: Role,
    ) -> Result<(), Diagnostic> {
        let (mut expr, dtype) = scope.checked(ast)?;
        if role.levels() && dtype == DataType::String {
            let categories = Categories::random(PlSmallStr::EMPTY, CategoricalPhysical::U32);
            expr = expr.cast(DataType::from_categories(categories));
        }
        self.exprs.push(expr.alias(key.as_str()));
        self.keys.push(key);
        self.labels.push(label);
        self.roles.push(role);
        Ok(())
    }

    /// The position of the column read as `key`.
    fn position(&self, key: &str) -> usize {
        self.keys.iter().position(|k| k == key).unwrap_or(0)
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
            keys: Vec::new(),
            labels: Vec::new(),
            roles: Vec::new(),
            cluster_keys: Vec::new(),
        };
        selection.add(
            scope,
            request.outcome,
            "y".into(),
            self.text(request.outcome.span),
            Role::Outcome,
        )?;
        for (i, v) in variables.iter().enumerate() {
            let role = Role::Variable {
                factor: v.factor.is_some(),
            };
            selection.add(scope, &v.expr, format!("v{i}"), v.name.clone(), role)?;
        }
        for (i, v) in resolved.offsets.iter().enumerate() {
            selection.add(
                scope,
                &v.expr,
                format!("o{i}"),
                format!("offset({})", v.name),
                Role::Numbers,
            )?;
        }
        for (i, v) in resolved.fixed_effects.iter().enumerate() {
            selection.add(
                scope,
                &v.expr,
                format!("f{i}"),
                v.name.clone(),
                Role::Levels,
            )?;
        }
        for (i, v) in random_groupings(resolved).iter().enumerate() {
            selection.add(
                scope,
                &v.expr,
                format!("g{i}"),
                v.name.clone(),
                Role::Levels,
            )?;
        }
        for (i, v) in random_slopes(resolved).iter().enumerate() {
            let (_, dtype) = scope.checked(&v.expr)?;
            if !(dtype.is_primitive_numeric() || dtype == DataType::Boolean) {
                return Err(Diagnostic::new(
                    "spel::formula::random_factor",
                    format!("`{}` is {dtype}: random slopes are on numbers", v.name),
                )
                .at(v.expr.span)
                .with_help("use a numeric variable, or make the levels a grouping: `(1 | g/f)`"));
            }
            selection.add(
                scope,
                &v.expr,
                format!("s{i}"),
                v.name.clone(),
                Role::Numbers,
            )?;
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
                    selection.add(scope, c, format!("c{i}"), self.text(c.span), Role::Levels)?;
                    selection.cluster_keys.push(format!("c{i}"));
                }
            }
        }
        for (key, ast, role) in [
            ("w", request.weights, Role::Weights),
            ("q", request.freq, Role::Numbers),
            ("t", request.trials, Role::Numbers),
        ] {
            if let Some(ast) = ast {
                selection.add(scope, ast, key.into(), self.text(ast.span), role)?;
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

    /// A missing survey weight is a data error, not a row to drop quietly.
    fn check_weights(&self, read: &Read) -> Result<(), Diagnostic> {
        let Some(((label, count), weights)) = read
            .missing(|role| role == Role::Weights)
            .into_iter()
            .zip(self.request.weights)
            .next()
        else {
            return Ok(());
        };
        Err(Diagnostic::new(
            "spel::model::missing_weights",
            format!(
                "the weights `{label}` are missing in {}",
                crate::format::plural(count, "row")
            ),
        )
        .at(weights.span)
        .with_help(format!(
            "filter those rows out first: `filter !is_null({label})`"
        )))
    }

    /// The absorbed effects and the clusters; a cluster on an absorbed effect's column
    /// shares its codes.
    fn groupings(
        &self,
        read: &mut Read,
        selection: &Selection,
    ) -> (Vec<NamedGrouping>, Vec<NamedGrouping>) {
        let mut grouping = |key: &str, name: String| {
            let (codes, labels) = match read.take(selection.position(key)) {
                Kept::Levels(levels) => (levels.codes, levels.labels),
                Kept::Numbers(_) => (Vec::new(), Vec::new()),
            };
            NamedGrouping {
                name,
                grouping: Grouping {
                    ids: Arc::new(codes),
                    levels: labels.len(),
                },
                labels,
            }
        };
        let fixed_effects: Vec<NamedGrouping> = self
            .resolved
            .fixed_effects
            .iter()
            .enumerate()
            .map(|(i, v)| grouping(&format!("f{i}"), v.name.clone()))
            .collect();
        let clusters = self
            .request
            .clusters
            .iter()
            .zip(&selection.cluster_keys)
            .map(|(c, key)| {
                let absorbed = key.strip_prefix('f').and_then(|j| j.parse::<usize>().ok());
                match absorbed {
                    Some(j) => NamedGrouping {
                        name: self.text(c.span),
                        ..fixed_effects[j].clone()
                    },
                    None => grouping(key, self.text(c.span)),
                }
            })
            .collect();
        (fixed_effects, clusters)
    }

    /// The random-effects terms: each grouping's level codes (the combinations of its
    /// columns' levels when nested) and the columns whose coefficients vary.
    fn random(&self, read: &mut Read, selection: &Selection, n: usize) -> Vec<RandomDesign> {
        let groupings = random_groupings(self.resolved);
        let slopes = random_slopes(self.resolved);
        let levels: Vec<(Vec<u32>, Vec<String>)> = (0..groupings.len())
            .map(|i| match read.take(selection.position(&format!("g{i}"))) {
                Kept::Levels(levels) => (levels.codes, levels.labels),
                Kept::Numbers(_) => (Vec::new(), Vec::new()),
            })
            .collect();
        let slope_values: Vec<Arc<Vec<f64>>> = (0..slopes.len())
            .map(|i| Arc::new(read.take_numbers(selection.position(&format!("s{i}")))))
            .collect();
        let ones = Arc::new(vec![1.0; n]);
        self.resolved
            .random
            .iter()
            .map(|term| {
                let parts: Vec<&(Vec<u32>, Vec<String>)> = term
                    .grouping
                    .iter()
                    .map(|g| &levels[groupings.iter().position(|u| u.name == g.name).unwrap_or(0)])
                    .collect();
                let mut columns = Vec::new();
                if term.intercept {
                    columns.push(("(Intercept)".to_string(), ones.clone()));
                }
                for v in &term.slopes {
                    let at = slopes.iter().position(|u| u.name == v.name).unwrap_or(0);
                    columns.push((v.name.clone(), slope_values[at].clone()));
                }
                RandomDesign {
                    grouping: combined_grouping(&term.name, &parts, n),
                    span: term.span,
                    columns,
                }
            })
            .collect()
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
                        vec![(v.name.clone(), MatrixColumn::values(x))]
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
}

/// The groups of a nested grouping: each combination of its columns' levels that
/// occurs, labelled as lme4 labels them (the inner level first, `b:a`).
fn combined_grouping(name: &str, parts: &[&(Vec<u32>, Vec<String>)], n: usize) -> NamedGrouping {
    if let [(codes, labels)] = parts {
        return NamedGrouping {
            name: name.to_string(),
            labels: labels.clone(),
            grouping: Grouping {
                ids: Arc::new(codes.clone()),
                levels: labels.len(),
            },
        };
    }
    let mut id_of: std::collections::HashMap<Vec<u32>, u32> = std::collections::HashMap::new();
    let mut labels = Vec::new();
    let ids: Vec<u32> = (0..n)
        .map(|i| {
            let key: Vec<u32> = parts.iter().map(|(codes, _)| codes[i]).collect();
            *id_of.entry(key).or_insert_with_key(|key| {
                labels.push(
                    key.iter()
                        .zip(parts)
                        .rev()
                        .map(|(&c, (_, l))| l[c as usize].clone())
                        .collect::<Vec<_>>()
                        .join(":"),
                );
                (labels.len() - 1) as u32
            })
        })
        .collect();
    NamedGrouping {
        name: name.to_string(),
        grouping: Grouping {
            ids: Arc::new(ids),
            levels: labels.len(),
        },
        labels,
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
        .map(|(name, x)| (name, MatrixColumn::values(x)))
        .collect()
}

/// A factor's values from its levels as read: the levels in order (numbers as numbers,
/// else as texts), or in the order of `coding` (for other data coded as a fit's).
fn factor_values(
    read: Levels,
    v: &Variable,
    coding: Option<&FactorCoding>,
) -> Result<Values, Diagnostic> {
    let Levels {
        codes,
        labels,
        numeric,
        ..
    } = read;
    let recode = |mut codes: Vec<u32>, remap: &[u32], levels: usize| -> Codes {
        if remap.iter().enumerate().any(|(k, &r)| k as u32 != r) {
            codes
                .par_chunks_mut(1 << 16)
                .for_each(|part| part.iter_mut().for_each(|c| *c = remap[*c as usize]));
        }
        Arc::new(LevelCodes::new(codes, levels))
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
            codes: recode(codes, &remap, coding.levels.len()),
            levels: coding.levels.clone(),
            reference: coding.reference.clone(),
        });
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&labels[a], &labels[b]);
        match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) if numeric => x.total_cmp(&y),
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
        codes: recode(codes, &remap, levels.len()),
        levels,
        reference,
    })
}
