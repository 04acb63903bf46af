//! Tables as `spel run --format json` lines (the output contract in docs/language.md).

use super::{Cell, JSON_ROWS, TableSnapshot};

pub(super) fn table(t: &TableSnapshot) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = t
        .head
        .iter()
        .take(JSON_ROWS)
        .map(|row| serde_json::Value::Array(row.iter().map(cell).collect()))
        .collect();
    serde_json::json!({
        "type": "table",
        "columns": t.columns,
        "dtypes": t.dtypes,
        "rows": rows,
        "n_rows": t.n_rows,
        "truncated": t.n_rows > JSON_ROWS,
    })
}

fn cell(c: &Cell) -> serde_json::Value {
    match c {
        Cell::Null => serde_json::Value::Null,
        Cell::Int(i) => serde_json::json!(i),
        Cell::Float(x) if x.is_finite() => serde_json::json!(x),
        Cell::Float(x) => serde_json::json!(x.to_string()),
        Cell::Bool(b) => serde_json::json!(b),
        Cell::Str(s) => serde_json::json!(s),
    }
}
