//! Evaluation designs for teaching, each checked against the package or formula that
//! defines it (docs/designs.md).

mod compare;
mod concentration;
mod did;
mod its;
mod power;
mod rate;
mod sii;

use polars::prelude::*;
use spel_grammar::Diagnostic;

use super::{Verb, VerbCtx};
use crate::errors::polars_error;

pub static VERBS: &[Verb] = &[
    concentration::VERB,
    did::VERB,
    its::VERB,
    power::VERB,
    compare::VERB,
    rate::VERB,
    sii::VERB,
];

/// Two columns as numbers over the rows where both are present (sorted by the second
/// when asked): the data every design here starts from.
pub(super) fn complete_pairs(
    ctx: &VerbCtx,
    lf: LazyFrame,
    first: Expr,
    second: Expr,
    sort_by_second: bool,
    what: &str,
) -> Result<(Vec<f64>, Vec<f64>), Diagnostic> {
    let mut pairs = lf
        .select([
            first.cast(DataType::Float64).alias("first"),
            second.cast(DataType::Float64).alias("second"),
        ])
        .drop_nulls(None);
    if sort_by_second {
        pairs = pairs.sort(["second"], SortMultipleOptions::default());
    }
    let df = ctx.env.work().collect(pairs, what, ctx.call.span)?;
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let values = |name: &str| -> Result<Vec<f64>, Diagnostic> {
        Ok(df
            .column(name)
            .map_err(fail)?
            .f64()
            .map_err(fail)?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    Ok((values("first")?, values("second")?))
}
