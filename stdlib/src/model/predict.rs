//! Predictions of a fitted model for the rows of a table, coded as the fit was.

use polars::prelude::*;
use spel_grammar::ast::{Expr as Ast, ExprKind};
use spel_grammar::{Diagnostic, Span};

use super::Model;
use crate::eval::Env;
use crate::eval::expr::Scope;
use crate::formula::design::{self, MatrixColumn, Request};
use crate::work::Work;

/// How a prediction is made.
#[derive(Clone, Copy)]
pub struct Scale {
    /// The linear predictor rather than the expected outcome.
    pub link: bool,
    /// A mixed model's random effects added for each row's groups (lme4's default);
    /// without them, the population's prediction.
    pub random: bool,
}

/// One prediction per row of `table`; missing where a term's value is.
pub fn predictions(
    model: &Model,
    table: &LazyFrame,
    env: &Env,
    work: Work,
    span: Span,
    scale: Scale,
) -> Result<Vec<Option<f64>>, Diagnostic> {
    let Some(source) = &model.source else {
        return Err(Diagnostic::new(
            "spel::predict::source",
            "this model does not keep its terms",
        )
        .at(span));
    };
    let schema = table
        .clone()
        .collect_schema()
        .map_err(|e| crate::errors::polars_error(e).at(span))?;
    let scope = Scope { schema, env };
    // Predictions need no outcome: a constant stands in for it.
    let outcome = Ast {
        kind: ExprKind::Number(0.0),
        span,
    };
    let request = Request {
        outcome: &outcome,
        condition: None,
        weights: None,
        freq: None,
        trials: None,
        clusters: Vec::new(),
        codings: &source.codings,
    };
    let n_rows = work.count(table, span)?;
    let built = design::build(
        table.clone(),
        &scope,
        &source.resolved,
        &request,
        work,
        span,
    )?;
    let link = model.family_kind.link();
    let mut out = vec![None; n_rows];
    let rows = built
        .rows
        .clone()
        .unwrap_or_else(|| (0..built.y.len()).collect());
    for (position, &row) in rows.iter().enumerate() {
        let mut eta: f64 = model
            .kept
            .iter()
            .zip(&model.coefficients)
            .map(|(&j, c)| built.columns[j].get(position) * c.estimate)
            .sum();
        if let Some(offset) = &built.offset {
            eta += offset[position];
        }
        // A level the fit never saw, of a factor (coded as no level) or of an absorbed
        // effect, has no estimate: the prediction is missing, not the reference level's.
        let mut known = model.kept.iter().all(|&j| match &built.columns[j] {
            MatrixColumn::Indicator { codes, .. } => codes.get(position) != u32::MAX,
            _ => true,
        });
        for (grouping, values) in built.fixed_effects.iter().zip(&model.fixed_effect_values) {
            let label = &grouping.labels[grouping.grouping.ids[position] as usize];
            match values.get(label) {
                Some(value) => eta += value,
                None => known = false,
            }
        }
        if let Some(mixed) = model.mixed.as_ref().filter(|_| scale.random) {
            eta += random_part(mixed, &built, position);
        }
        if known {
            out[row] = Some(if scale.link { eta } else { link.inverse(eta) });
        }
    }
    Ok(out)
}

/// A row's random effects: each term's modes for the row's group times the term's
/// columns. A group the fit never saw adds nothing (its mode is the mean, zero), as
/// lme4's `allow.new.levels = TRUE`.
fn random_part(mixed: &super::mixed::Mixed, built: &design::Design, position: usize) -> f64 {
    mixed
        .components
        .iter()
        .zip(&built.random)
        .map(|(component, term)| {
            let grouping = &term.grouping;
            let label = &grouping.labels[grouping.grouping.ids[position] as usize];
            component.index.get(label).map_or(0.0, |&g| {
                component.modes[g]
                    .iter()
                    .zip(&term.columns)
                    .map(|(b, (_, values))| b * values[position])
                    .sum()
            })
        })
        .sum()
}
