//! Value → what a person sees: plain text, HTML and JSON, from one collected snapshot.
//!
//! Front ends never format: they ask a [`Shown`] for the rendering they can display.

pub(crate) mod html;
mod json;
mod text;

use polars::prelude::*;
use spel_grammar::{Diagnostic, Span};

use crate::errors::polars_error;
use crate::format;
use crate::markup::escape;
use crate::value::{Value, dtype_name};
use crate::work::Work;

/// Width of a text table when the terminal's is unknown.
pub const DEFAULT_WIDTH: usize = 100;
/// Rows a table shows in text and HTML before eliding the middle.
pub const SHOWN_ROWS: usize = 10;
/// Rows `--format json` carries before saying `"truncated": true`.
pub const JSON_ROWS: usize = 10_000;

/// A statement's result, collected and ready to render.
#[derive(Clone, Debug)]
pub enum Shown {
    Scalar(Scalar),
    Table(TableSnapshot),
    Model(std::sync::Arc<crate::model::Model>),
    Report(ReportSnapshot),
    Plot(std::sync::Arc<crate::plot::Plot>),
    Message(String),
}

/// A report ready to show: its title, its table and its notes.
#[derive(Clone, Debug)]
pub struct ReportSnapshot {
    pub title: String,
    pub table: TableSnapshot,
    pub notes: Vec<String>,
    pub conventions: Vec<String>,
}

/// A non-table value, already in display form.
#[derive(Clone, Debug)]
pub struct Scalar {
    pub type_name: &'static str,
    pub text: String,
    pub json: serde_json::Value,
}

/// The part of a table a person will see: its shape, the first rows (up to
/// [`JSON_ROWS`]) and, when it is longer than that, its last rows.
#[derive(Clone, Debug)]
pub struct TableSnapshot {
    pub columns: Vec<String>,
    pub dtypes: Vec<String>,
    pub numeric: Vec<bool>,
    pub n_rows: usize,
    pub head: Vec<Vec<Cell>>,
    pub tail: Vec<Vec<Cell>>,
}

/// One cell of a collected table.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl Cell {
    /// The cell as a reader sees it, in its column's style ([`format::Style`]).
    pub fn text(&self, style: format::Style) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Int(i) => format::whole(*i),
            Cell::Float(x) => style.write(*x),
            Cell::Bool(b) => b.to_string(),
            Cell::Str(s) => s.clone(),
        }
    }
}

impl TableSnapshot {
    /// How each column's numbers are written.
    pub fn styles(&self) -> Vec<format::Style> {
        self.columns.iter().map(|c| format::Style::of(c)).collect()
    }
}

impl Shown {
    /// What the terminal, the REPL and Jupyter's `text/plain` show.
    pub fn text(&self, width: usize) -> String {
        match self {
            Shown::Scalar(s) => s.text.clone(),
            Shown::Table(t) => text::table(t, width),
            Shown::Model(m) => crate::model::render::text(m),
            Shown::Report(r) => {
                let mut out = format!("{}\n{}", r.title, text::table(&r.table, width));
                for note in r.notes.iter().chain(&r.conventions) {
                    out.push_str("\nNote: ");
                    out.push_str(note);
                }
                out
            }
            Shown::Plot(p) => p.describe(),
            Shown::Message(m) => m.clone(),
        }
    }

    /// A plot's SVG (Jupyter's `image/svg+xml`).
    pub fn svg(&self) -> Option<String> {
        match self {
            Shown::Plot(p) => Some(crate::plot::svg::render(p)),
            _ => None,
        }
    }

    /// A plot's Vega-Lite v5 spec (Jupyter's `application/vnd.vegalite.v5+json`).
    pub fn vegalite(&self) -> Option<serde_json::Value> {
        match self {
            Shown::Plot(p) => Some(crate::plot::vegalite::spec(p)),
            _ => None,
        }
    }

    /// A notebook's `text/html`; `None` for messages, which are printed text.
    pub fn html(&self) -> Option<String> {
        match self {
            Shown::Table(t) => Some(html::table(t)),
            Shown::Model(m) => Some(crate::model::render::html(m)),
            Shown::Report(r) => {
                let items: String = r
                    .notes
                    .iter()
                    .map(|n| format!("<li>{}</li>", escape(n)))
                    .collect();
                let notes = if items.is_empty() {
                    items
                } else {
                    format!("<ul class=\"spel-notes\">{items}</ul>")
                };
                Some(format!(
                    "<div class=\"spel-report\"><p><strong>{}</strong></p>{}{notes}{}</div>",
                    escape(&r.title),
                    html::table(&r.table),
                    html::conventions(&r.conventions)
                ))
            }
            Shown::Plot(p) => Some(format!(
                "<div class=\"spel-plot\">{}</div>",
                crate::plot::svg::render(p)
            )),
            Shown::Scalar(s) => Some(format!(
                "<code class=\"spel-value\" title=\"{}\">{}</code>",
                s.type_name,
                escape(&s.text)
            )),
            Shown::Message(_) => None,
        }
    }

    /// One line of `spel run --format json`.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Shown::Scalar(s) => serde_json::json!({"type": "value", "value": s.json}),
            Shown::Table(t) => json::table(t),
            Shown::Model(m) => crate::model::render::json(m),
            Shown::Report(r) => {
                let mut out = json::table(&r.table);
                out["type"] = "report".into();
                out["title"] = r.title.clone().into();
                out["notes"] = r.notes.clone().into();
                out["conventions"] = r.conventions.clone().into();
                out
            }
            Shown::Plot(p) => serde_json::json!({
                "type": "plot",
                "description": p.describe(),
                "svg": crate::plot::svg::render(p),
                "vegalite": crate::plot::vegalite::spec(p),
            }),
            Shown::Message(m) => serde_json::json!({"type": "message", "text": m}),
        }
    }

    /// True for what goes to standard output as a stream rather than as a result.
    pub fn is_message(&self) -> bool {
        matches!(self, Shown::Message(_))
    }
}

/// Plain text as HTML (for messages in an HTML page).
pub fn html_text(text: &str) -> String {
    format!("<pre class=\"spel-text\">{}</pre>", escape(text))
}

/// Collects what is needed to show `value`; the only place a shown table is computed.
pub fn snapshot(value: &Value, work: Work, span: Span) -> Result<Shown, Diagnostic> {
    Ok(match value {
        Value::Table(lf) => Shown::Table(table_snapshot(lf, work, span)?),
        Value::Message(m) => Shown::Message(m.clone()),
        Value::Plot(p) => Shown::Plot(p.clone()),
        Value::Model(m) => Shown::Model(m.clone()),
        Value::Report(r) => Shown::Report(report_snapshot(r, work, span)?),
        Value::Survey(s) => {
            let mut report = report_snapshot(&s.summary, work, span)?;
            if !s.domain_text.is_empty() {
                report.notes.insert(
                    0,
                    format!(
                        "Subpopulation: the rows where {}; estimates keep every PSU of the sample in their variance.",
                        s.domain_text.join(" and ")
                    ),
                );
            }
            Shown::Report(report)
        }
        Value::Number(x) => Shown::Scalar(Scalar {
            type_name: value.type_name(),
            text: format::shown(*x),
            json: serde_json::json!(x),
        }),
        other => Shown::Scalar(scalar(other)),
    })
}

fn report_snapshot(
    report: &crate::value::Report,
    work: Work,
    span: Span,
) -> Result<ReportSnapshot, Diagnostic> {
    Ok(ReportSnapshot {
        title: report.title.clone(),
        table: table_snapshot(&report.table.clone().lazy(), work, span)?,
        notes: report.notes.clone(),
        conventions: report.conventions.clone(),
    })
}

/// A value in display form; a number inside a list is written plainly (no separators,
/// which would read as more items).
fn scalar(value: &Value) -> Scalar {
    let (text, json) = match value {
        Value::Number(x) => (format::number(*x), serde_json::json!(x)),
        Value::Str(s) => (format!("{s:?}"), serde_json::json!(s)),
        Value::Bool(b) => (b.to_string(), serde_json::json!(b)),
        Value::Date(d) => (d.to_string(), serde_json::json!(d.to_string())),
        Value::List(items) => {
            let parts: Vec<Scalar> = items.iter().map(scalar).collect();
            let text = parts.iter().map(|p| p.text.clone()).collect::<Vec<_>>();
            let json = parts.into_iter().map(|p| p.json).collect::<Vec<_>>();
            (
                format!("[{}]", text.join(", ")),
                serde_json::Value::Array(json),
            )
        }
        Value::Table(_) => ("<table>".into(), serde_json::Value::Null),
        Value::Model(m) => (crate::model::render::text(m), serde_json::Value::Null),
        Value::Report(r) => (r.title.clone(), serde_json::Value::Null),
        Value::Survey(s) => (s.summary.title.clone(), serde_json::Value::Null),
        Value::Plot(p) => (p.describe(), serde_json::Value::Null),
        Value::Message(m) => (m.clone(), serde_json::json!(m)),
        Value::Nothing => (String::new(), serde_json::Value::Null),
    };
    Scalar {
        type_name: value.type_name(),
        text,
        json,
    }
}

fn table_snapshot(lf: &LazyFrame, work: Work, span: Span) -> Result<TableSnapshot, Diagnostic> {
    let n_rows = work.count(lf, span)?;
    let head = work.collect(
        lf.clone().limit(JSON_ROWS as IdxSize),
        "computing the table",
        span,
    )?;
    let tail = if n_rows > JSON_ROWS {
        let tail = work.collect(
            lf.clone().tail((SHOWN_ROWS / 2) as IdxSize),
            "computing the table",
            span,
        )?;
        rows_of(&tail)?
    } else {
        Vec::new()
    };
    let schema = head.schema();
    Ok(TableSnapshot {
        columns: schema.iter_names().map(|n| n.to_string()).collect(),
        dtypes: schema.iter_values().map(dtype_name).collect(),
        numeric: schema
            .iter_values()
            .map(|d| d.is_primitive_numeric())
            .collect(),
        n_rows,
        head: rows_of(&head)?,
        tail,
    })
}

/// A collected frame as rows of [`Cell`]s.
pub fn rows_of(df: &DataFrame) -> Result<Vec<Vec<Cell>>, Diagnostic> {
    let columns = df
        .columns()
        .iter()
        .map(|c| cells_of(c.as_materialized_series()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..df.height())
        .map(|row| columns.iter().map(|col| col[row].clone()).collect())
        .collect())
}

fn cells_of(series: &Series) -> Result<Vec<Cell>, Diagnostic> {
    let dtype = series.dtype();
    let cells = if dtype.is_integer() {
        let cast = series.cast(&DataType::Int64).map_err(polars_error)?;
        let values = cast.i64().map_err(polars_error)?;
        values
            .iter()
            .map(|v| v.map_or(Cell::Null, Cell::Int))
            .collect()
    } else if dtype.is_float() {
        let cast = series.cast(&DataType::Float64).map_err(polars_error)?;
        let values = cast.f64().map_err(polars_error)?;
        values
            .iter()
            .map(|v| v.map_or(Cell::Null, Cell::Float))
            .collect()
    } else if dtype == &DataType::Boolean {
        let values = series.bool().map_err(polars_error)?;
        values
            .iter()
            .map(|v| v.map_or(Cell::Null, Cell::Bool))
            .collect()
    } else {
        let cast = series.cast(&DataType::String).map_err(polars_error)?;
        let values = cast.str().map_err(polars_error)?;
        values
            .iter()
            .map(|v| v.map_or(Cell::Null, |s| Cell::Str(s.to_string())))
            .collect()
    };
    Ok(cells)
}
