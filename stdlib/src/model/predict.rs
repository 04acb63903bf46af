//! Predictions of a fitted model for the rows of a table, coded as the fit was.

use polars::prelude::*;
use spel_grammar::ast::{Expr as Ast, ExprKind};
use spel_grammar::{Diagnostic, Span};

use super::Model;
use crate::eval::Env;
use crate::eval::expr::Scope;
use crate::formula::design::{self, MatrixColumn, Request};
use crate::work::Work;

/// One prediction per row of `table`; missing where a term's value is.
pub fn predictions(
    model: &Model,
    table: &LazyFrame,
    env: &Env,
    work: Work,
    span: Span,
    link_scale: bool,
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
        if known {
            out[row] = Some(if link_scale { eta } else { link.inverse(eta) });
        }
    }
    Ok(out)
}
