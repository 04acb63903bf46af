//! Evaluation designs for teaching, each checked against the package or formula that
//! defines it (docs/designs.md).

mod aipw;
mod balance;
mod compare;
mod concentration;
mod did;
mod effect;
mod ipw;
mod its;
mod iv;
mod matching;
mod meta;
mod power;
mod rate;
mod rdd;
mod rddensity;
mod sii;
mod synth;

use polars::prelude::*;
use spel_grammar::Diagnostic;

use super::{Verb, VerbCtx};
use crate::errors::polars_error;

pub static VERBS: &[Verb] = &[
    aipw::VERB,
    balance::VERB,
    concentration::VERB,
    did::VERB,
    effect::VERB,
    ipw::VERB,
    its::VERB,
    iv::VERB,
    matching::VERB,
    meta::VERB,
    power::VERB,
    compare::VERB,
    rate::VERB,
    rdd::VERB,
    rddensity::VERB,
    sii::VERB,
    synth::VERB,
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
    Ok((floats(ctx, &df, "first")?, floats(ctx, &df, "second")?))
}

/// The first argument given without a name (a design's outcome or running variable), or
/// the usage error `usage`.
pub(super) fn leading_column<'a>(
    ctx: &VerbCtx<'a>,
    usage: &str,
) -> Result<&'a spel_grammar::ast::Expr, Diagnostic> {
    ctx.args()
        .into_iter()
        .find(|a| a.name.is_none())
        .and_then(|a| a.as_expr())
        .ok_or_else(|| ctx.usage_error(usage))
}

/// `ast` as a float column named `alias`, or the error `code` saying that the `role`
/// ("the running variable", say) must be a number.
pub(super) fn numeric_column(
    ctx: &VerbCtx,
    scope: &crate::eval::expr::Scope,
    ast: &spel_grammar::ast::Expr,
    alias: &str,
    code: &'static str,
    role: &str,
) -> Result<Expr, Diagnostic> {
    let (expr, dtype) = scope.checked(ast)?;
    if !crate::value::is_numeric(&dtype) {
        return Err(Diagnostic::new(
            code,
            format!(
                "{role} `{}` must be a number; it is {}",
                ctx.text(ast.span),
                crate::value::dtype_name(&dtype)
            ),
        )
        .at(ast.span));
    }
    Ok(expr.cast(DataType::Float64).alias(alias))
}

/// The `selected` columns over the rows where none is missing, collected once, and how
/// many rows were dropped for a missing value.
pub(super) fn complete_rows(
    ctx: &VerbCtx,
    lf: LazyFrame,
    selected: Vec<Expr>,
) -> Result<(DataFrame, usize), Diagnostic> {
    let all = ctx
        .env
        .work()
        .collect(lf.select(selected), "rows", ctx.call.span)?;
    let complete = all
        .drop_nulls::<String>(None)
        .map_err(|e| polars_error(e).at(ctx.call.span))?;
    let dropped = all.height() - complete.height();
    Ok((complete, dropped))
}

/// The note a design gives when rows were dropped for a missing value.
pub(super) fn missing_note(dropped: usize) -> Option<String> {
    (dropped > 0).then(|| {
        format!(
            "{} dropped: a value missing among the columns used.",
            crate::format::plural(dropped, "row")
        )
    })
}

/// A collected f64 column as numbers (missing as NaN): the designs compute on slices.
pub(super) fn floats(ctx: &VerbCtx, df: &DataFrame, name: &str) -> Result<Vec<f64>, Diagnostic> {
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    Ok(df
        .column(name)
        .map_err(fail)?
        .f64()
        .map_err(fail)?
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// A column of a collected table as text (cast first; missing as empty).
pub(super) fn strings(
    ctx: &VerbCtx,
    df: &DataFrame,
    name: &str,
) -> Result<Vec<String>, Diagnostic> {
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    Ok(df
        .column(name)
        .map_err(fail)?
        .cast(&DataType::String)
        .map_err(fail)?
        .str()
        .map_err(fail)?
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect())
}

/// The one column on the right of a design's formula (`its y ~ month`, `did y ~ treated`).
pub(super) fn single_term<'a>(
    ctx: &VerbCtx,
    formula: &'a spel_grammar::ast::Formula,
    what: &str,
) -> Result<&'a spel_grammar::ast::Expr, Diagnostic> {
    match formula.rhs.as_slice() {
        [term] => term.crossed.first().and_then(|g| g.first()),
        _ => None,
    }
    .ok_or_else(|| {
        ctx.usage_error(format!(
            "`{}` takes one {what} column on the right of `~`",
            ctx.verb.name
        ))
    })
}

/// One index with its inference, as `concentration` and `sii` give it.
pub(super) fn estimate_table(
    ctx: &VerbCtx,
    result: &crate::model::Coefficient,
    n: usize,
) -> Result<crate::value::Value, Diagnostic> {
    let table = df!(
        "index" => [result.term.clone()],
        "n" => [n as i64],
        "estimate" => [result.estimate],
        "std_error" => [result.std_error],
        "p_value" => [result.p_value],
        "conf_low" => [result.conf_low],
        "conf_high" => [result.conf_high],
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(crate::value::Value::Table(table.lazy()))
}
