//! Tables as a notebook's `text/html`: a plain `<table>` with classes, no scripts.

use super::text::visible_rows;
use super::{Cell, TableSnapshot};
use crate::markup::escape;

pub(super) fn table(t: &TableSnapshot) -> String {
    let mut out = String::from(
        "<div class=\"spel-table\">\n<style>\
         .spel-table table{border-collapse:collapse;font-variant-numeric:tabular-nums}\
         .spel-table th,.spel-table td{padding:2px 8px}\
         .spel-table .num{text-align:right}\
         .spel-table .null{color:#999;font-style:italic}\
         .spel-table caption{caption-side:bottom;text-align:left;color:#666;font-size:85%;white-space:nowrap}\
         </style>\n<table>\n",
    );
    let plural = crate::format::plural;
    out.push_str(&format!(
        "<caption>{} × {}</caption>\n<thead>\n<tr>",
        plural(t.n_rows, "row"),
        plural(t.columns.len(), "column")
    ));
    // A column's type is in its header's tooltip, not a row of its own.
    for ((name, dtype), numeric) in t.columns.iter().zip(&t.dtypes).zip(&t.numeric) {
        out.push_str(&format!(
            "<th{} title=\"{}\">{}</th>",
            class(*numeric),
            escape(dtype),
            escape(name)
        ));
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    let styles = t.styles();
    for row in visible_rows(t) {
        out.push_str("<tr>");
        match row {
            Some(cells) => {
                for ((cell, numeric), style) in cells.iter().zip(&t.numeric).zip(&styles) {
                    if *cell == Cell::Null {
                        out.push_str("<td class=\"null\">null</td>");
                    } else {
                        out.push_str(&format!(
                            "<td{}>{}</td>",
                            class(*numeric),
                            escape(&cell.text(*style))
                        ));
                    }
                }
            }
            None => {
                for _ in &t.columns {
                    out.push_str("<td>…</td>");
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>");
    out
}

fn class(numeric: bool) -> &'static str {
    if numeric { " class=\"num\"" } else { "" }
}

/// Conventions a specialist checks and a reader may skip, folded under one summary line;
/// nothing when there are none.
pub(crate) fn conventions<S: AsRef<str>>(lines: &[S]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let body: String = lines
        .iter()
        .map(|line| format!("<p>{}</p>\n", escape(line.as_ref())))
        .collect();
    format!("<details><summary>Conventions</summary>\n{body}</details>\n")
}
