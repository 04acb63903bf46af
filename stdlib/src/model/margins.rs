//! Average marginal effects with delta-method standard errors, as Stata's
//! `margins, dydx(*)` and R's `marginaleffects::avg_slopes`: for a numeric column the
//! average derivative of the mean outcome (central differences through every term the
//! column enters), for a factor the average change from the reference level to each
//! level. Averages use the model's weights, as Stata's margins does.

use polars::prelude::*;
use spel_grammar::ast::{Expr as Ast, ExprKind};
use spel_grammar::{Diagnostic, Span};

use super::{Coefficient, Distribution, Model};
use crate::eval::Env;
use crate::eval::expr::Scope;
use crate::formula::design::{self, Design, Request};
use crate::work::Work;

/// One average marginal effect: the contrast it measures and its Wald inference.
pub struct Effect {
    pub contrast: String,
    pub inference: Coefficient,
}

/// The effects of every variable the model uses, or of those in `only` (Stata's
/// `dydx(x)`): each variable costs a rebuild of the design per level, so on millions of
/// rows asking for the exposure alone saves minutes.
pub fn average_marginal_effects(
    model: &Model,
    env: &Env,
    work: Work,
    span: Span,
    only: &[String],
) -> Result<Vec<Effect>, Diagnostic> {
    let Some(source) = &model.source else {
        return Err(
            Diagnostic::new("spel::margins::source", "this model does not keep its data").at(span),
        );
    };
    let margins = Margins {
        model,
        source,
        env,
        work,
        span,
    };
    let contrasts = Contrasts::new(model, margins.rebuild(source.table.clone())?, span);
    let schema = source
        .table
        .clone()
        .collect_schema()
        .map_err(|e| crate::errors::polars_error(e).at(span))?;
    let mut effects = Vec::new();
    let mut seen_columns: Vec<String> = Vec::new();
    for variable in source.resolved.terms.iter().flat_map(|t| &t.variables) {
        if !only.is_empty() && !only.contains(&variable.name) {
            continue;
        }
        if let Some(coding) = source.codings.iter().find(|c| c.name == variable.name) {
            if seen_columns.contains(&coding.name) {
                continue;
            }
            seen_columns.push(coding.name.clone());
            let Some(column) = columns_of(&variable.expr, &schema).into_iter().next() else {
                continue;
            };
            let dtype = schema
                .get(column.as_str())
                .cloned()
                .unwrap_or(DataType::String);
            effects.extend(margins.factor_effects(&contrasts, coding, &column, &dtype)?);
            continue;
        }
        for column in columns_of(&variable.expr, &schema) {
            if seen_columns.contains(&column) {
                continue;
            }
            seen_columns.push(column.clone());
            effects.push(margins.numeric_effect(&contrasts, &column)?);
        }
    }
    Ok(effects)
}

/// The model and the data it keeps: what rebuilds its design with a variable changed.
struct Margins<'a> {
    model: &'a Model,
    source: &'a super::Source,
    env: &'a Env<'a>,
    work: Work<'a>,
    span: Span,
}

/// The design the model was fitted on, and what a contrast between two changed designs
/// needs of the model.
struct Contrasts<'a> {
    model: &'a Model,
    base: Design,
    beta: Vec<f64>,
    link: spel_stats::glm::Link,
    total_weight: f64,
    span: Span,
}

impl Margins<'_> {
    /// The design of `table`, coded as the model's.
    fn rebuild(&self, table: LazyFrame) -> Result<Design, Diagnostic> {
        let (source, span) = (self.source, self.span);
        let schema = table
            .clone()
            .collect_schema()
            .map_err(|e| crate::errors::polars_error(e).at(span))?;
        let scope = Scope {
            schema,
            env: self.env,
        };
        let request = Request {
            outcome: &source.outcome,
            condition: source.condition.as_ref(),
            weights: source.weights.as_ref(),
            freq: source.freq.as_ref(),
            trials: source.trials.as_ref(),
            clusters: source.clusters.iter().collect(),
            codings: &source.codings,
        };
        let mut design = design::build(table, &scope, &source.resolved, &request, self.work, span)?;
        if let Some(kept) = &self.model.rows_kept {
            design.retain_rows(kept);
        }
        Ok(design)
    }

    /// A factor's effects: the change from its reference level to each other level.
    fn factor_effects(
        &self,
        contrasts: &Contrasts,
        coding: &design::FactorCoding,
        column: &str,
        dtype: &DataType,
    ) -> Result<Vec<Effect>, Diagnostic> {
        let set = |level: &str| -> Result<Design, Diagnostic> {
            let value = level_literal(level, dtype);
            self.rebuild(
                self.source
                    .table
                    .clone()
                    .with_columns([value.alias(column)]),
            )
        };
        let low = set(&coding.reference)?;
        let mut effects = Vec::new();
        for level in coding.levels.iter().filter(|l| **l != coding.reference) {
            let high = set(level)?;
            let (estimate, gradient) = contrasts.contrast(&high, &low, 1.0)?;
            effects.push(finish(
                self.model,
                &coding.name,
                &format!("{level} - {}", coding.reference),
                estimate,
                &gradient,
            ));
        }
        Ok(effects)
    }

    /// A numeric column's average derivative, by a central difference of a step
    /// relative to its largest value.
    fn numeric_effect(&self, contrasts: &Contrasts, column: &str) -> Result<Effect, Diagnostic> {
        let (source, span) = (self.source, self.span);
        let largest = self
            .work
            .collect(
                source
                    .table
                    .clone()
                    .select([col(column).cast(DataType::Float64).abs().max()]),
                "computing margins",
                span,
            )?
            .columns()[0]
            .get(0)
            .ok()
            .and_then(|v| v.extract::<f64>())
            .unwrap_or(1.0);
        let h = 1e-5 * (1.0 + largest);
        let moved = |by: f64| {
            self.rebuild(
                source
                    .table
                    .clone()
                    .with_columns([(col(column).cast(DataType::Float64) + lit(by)).alias(column)]),
            )
        };
        let (high, low) = (moved(h / 2.0)?, moved(-h / 2.0)?);
        let (estimate, gradient) = contrasts.contrast(&high, &low, h)?;
        Ok(finish(self.model, column, "dY/dX", estimate, &gradient))
    }
}

impl<'a> Contrasts<'a> {
    fn new(model: &'a Model, base: Design, span: Span) -> Self {
        let beta: Vec<f64> = model.coefficients.iter().map(|c| c.estimate).collect();
        let link = model.family_kind.link();
        let total_weight: f64 = model.average_weights.iter().sum();
        Contrasts {
            model,
            base,
            beta,
            link,
            total_weight,
            span,
        }
    }

    /// eta of each row with the design changed from `base` to `other`, absorbed effects held.
    fn shifted(&self, other: &Design) -> Result<Vec<f64>, Diagnostic> {
        let (model, base) = (self.model, &self.base);
        let n = model.eta.len();
        if other.y.len() != n {
            return Err(Diagnostic::new(
                "spel::margins::rows",
                "changing this variable makes some rows missing, so its margin cannot be computed",
            )
            .at(self.span));
        }
        Ok((0..n)
            .map(|i| {
                let change: f64 = model
                    .kept
                    .iter()
                    .zip(&self.beta)
                    .map(|(&j, b)| (other.columns[j].get(i) - base.columns[j].get(i)) * b)
                    .sum();
                model.eta[i] + change
            })
            .collect())
    }

    /// The weighted mean difference of the means between two designs, and its gradient.
    fn contrast(
        &self,
        high: &Design,
        low: &Design,
        scale: f64,
    ) -> Result<(f64, Vec<f64>), Diagnostic> {
        let (model, link, weights) = (self.model, self.link, &self.model.average_weights);
        let (n, p, total_weight) = (model.eta.len(), self.beta.len(), self.total_weight);
        let (eta_high, eta_low) = (self.shifted(high)?, self.shifted(low)?);
        let mut estimate = 0.0;
        let mut gradient = vec![0.0; p];
        for i in 0..n {
            let w = weights[i] / total_weight;
            estimate += w * (link.inverse(eta_high[i]) - link.inverse(eta_low[i]));
            let (dh, dl) = (link.derivative(eta_high[i]), link.derivative(eta_low[i]));
            for (a, &j) in model.kept.iter().enumerate() {
                gradient[a] += w * (dh * high.columns[j].get(i) - dl * low.columns[j].get(i));
            }
        }
        Ok((
            estimate / scale,
            gradient.into_iter().map(|g| g / scale).collect(),
        ))
    }
}

fn finish(model: &Model, term: &str, contrast: &str, estimate: f64, gradient: &[f64]) -> Effect {
    let mut variance = 0.0;
    for (a, ga) in gradient.iter().enumerate() {
        for (b, gb) in gradient.iter().enumerate() {
            variance += ga * model.vcov[a][b] * gb;
        }
    }
    Effect {
        contrast: contrast.to_string(),
        inference: Coefficient::wald(
            term,
            estimate,
            variance.sqrt(),
            Distribution::Normal,
            model.level,
        ),
    }
}

/// The table's columns an expression reads.
fn columns_of(expr: &Ast, schema: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    collect_columns(expr, schema, &mut out);
    out
}

fn collect_columns(expr: &Ast, schema: &Schema, out: &mut Vec<String>) {
    match &expr.kind {
        ExprKind::Ident(name) if schema.contains(name) && !out.contains(name) => {
            out.push(name.clone())
        }
        ExprKind::Call { args, .. } => args
            .iter()
            .for_each(|a| collect_columns(&a.value, schema, out)),
        ExprKind::Unary { operand, .. } => collect_columns(operand, schema, out),
        ExprKind::Binary { left, right, .. } => {
            collect_columns(left, schema, out);
            collect_columns(right, schema, out);
        }
        _ => {}
    }
}

/// A factor level as a value of its column's type (`"Male"`, `3`, `true`).
fn level_literal(level: &str, dtype: &DataType) -> Expr {
    if dtype == &DataType::Boolean {
        return lit(level == "TRUE");
    }
    if dtype.is_primitive_numeric()
        && let Ok(x) = level.parse::<f64>()
    {
        return lit(x).cast(dtype.clone());
    }
    lit(level.to_string())
}
