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
    /// A sample with its design (weights, strata, PSUs): design-based verbs read it,
    /// `filter` makes a subpopulation of it, `derive` adds columns to it.
    Survey(std::sync::Arc<Survey>),
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
            Value::Survey(_) => "survey",
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

/// A survey's rows and the columns that hold its design. The rows are every sampled one:
/// a subpopulation is a condition on them (`domain`), so that its variance still sees
/// every PSU, as R's `subset` of a `svydesign`.
#[derive(Clone)]
pub struct Survey {
    pub table: LazyFrame,
    pub weights: Option<String>,
    pub strata: Option<String>,
    pub psu: Option<String>,
    pub fpc: Option<String>,
    pub lonely_psu: spel_stats::survey::LonelyPsu,
    /// The subpopulation's rows: where every condition is true.
    pub domain: Option<Expr>,
    /// The conditions as written, for the notes.
    pub domain_text: Vec<String>,
    /// What showing it prints: the design's strata and PSUs.
    pub summary: Report,
}

impl Survey {
    /// Whether each row is in the subpopulation (missing conditions count as false).
    pub fn domain_expr(&self) -> Expr {
        match &self.domain {
            Some(condition) => condition.clone().fill_null(lit(false)),
            None => lit(true),
        }
    }
}

impl Value {
    /// The rows a value holds, to name their columns (completion, highlighting): a
    /// table's, a report's estimates, a survey's sample.
    pub fn columns_table(&self) -> Option<LazyFrame> {
        match self {
            Value::Survey(s) => Some(s.table.clone()),
            other => other.as_table(),
        }
    }

    /// The table a value holds, if it holds one (a table, or a report's estimates). A
    /// survey is not one: a verb that ignored its design would misstate its precision.
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
