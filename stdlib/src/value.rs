//! The values a spel statement can produce.

use chrono::NaiveDate;
use polars::prelude::*;

/// A value bound to a name or shown as a statement's result.
// A session holds a handful of values; boxing the lazy table would only add a pointer
// chase to every verb.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Value {
    Number(f64),
    Str(String),
    Bool(bool),
    Date(NaiveDate),
    List(Vec<Value>),
    /// A lazy table: nothing is read or computed until a result needs it.
    Table(LazyFrame),
    /// A fitted model (shared: models are large and never change).
    Model(std::sync::Arc<crate::model::Model>),
    /// A design's result: a table of estimates with a title and notes on how it was
    /// computed. Verbs that take a table read its table.
    Report(std::sync::Arc<Report>),
    /// A plot, rendered to SVG and Vega-Lite when shown.
    Plot(std::sync::Arc<crate::plot::Plot>),
    /// Text for the user, not data: what `print` and `write` say.
    Message(String),
    /// What `use` gives: nothing to show or bind.
    Nothing,
}

impl Value {
    /// The user's word for the kind of value, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Number(_) => "number",
            Value::Str(_) => "string",
            Value::Bool(_) => "bool",
            Value::Date(_) => "date",
            Value::List(_) => "list",
            Value::Table(_) => "table",
            Value::Model(_) => "model",
            Value::Report(_) => "table",
            Value::Plot(_) => "plot",
            Value::Message(_) => "message",
            Value::Nothing => "nothing",
        }
    }

    /// A scalar as a polars literal, so bindings can be used inside column expressions.
    pub fn to_literal(&self) -> Option<Expr> {
        Some(match self {
            Value::Number(x) => lit(*x),
            Value::Str(s) => lit(s.clone()),
            Value::Bool(b) => lit(*b),
            Value::Date(d) => lit(*d),
            _ => return None,
        })
    }
}

/// Estimates with what a reader needs to trust them: what was estimated and how.
#[derive(Clone, Debug)]
pub struct Report {
    pub title: String,
    pub table: DataFrame,
    /// What a reader must know to read the table (units dropped, what a column means).
    pub notes: Vec<String>,
    /// How it was computed, for a specialist checking it against another tool: shown
    /// after the notes in text, folded in HTML.
    pub conventions: Vec<String>,
}

impl Value {
    /// The table a value holds, if it holds one (a table, or a report's estimates).
    pub fn as_table(&self) -> Option<LazyFrame> {
        match self {
            Value::Table(lf) => Some(lf.clone()),
            Value::Report(r) => Some(r.table.clone().lazy()),
            _ => None,
        }
    }
}

/// The user's word for a column type (polars' short names: `str`, `f64`, `i64`, `date`).
pub fn dtype_name(dtype: &DataType) -> String {
    dtype.to_string()
}

pub fn is_numeric(dtype: &DataType) -> bool {
    dtype.is_primitive_numeric()
}
