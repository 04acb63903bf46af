//! Tables as text, drawn the way polars prints a DataFrame.

use super::{Cell, SHOWN_ROWS, TableSnapshot};

/// Tables this short are shown whole (a regression report, a `describe`); longer ones
/// show their first and last five rows, as polars does.
const ALL_ROWS_UP_TO: usize = 25;

/// Widest a cell may be before it is cut with `…`.
const MAX_CELL: usize = 32;

/// Rows to show: all of a short table; the first and last five of a long one, with
/// `None` standing for the elided middle.
pub(super) fn visible_rows(t: &TableSnapshot) -> Vec<Option<&Vec<Cell>>> {
    if t.n_rows <= ALL_ROWS_UP_TO || t.head.len() < SHOWN_ROWS / 2 {
        return t.head.iter().map(Some).collect();
    }
    let half = SHOWN_ROWS / 2;
    let tail: Vec<&Vec<Cell>> = if t.tail.is_empty() {
        t.head[t.head.len().saturating_sub(half)..].iter().collect()
    } else {
        t.tail.iter().collect()
    };
    let mut rows: Vec<Option<&Vec<Cell>>> = t.head[..half].iter().map(Some).collect();
    rows.push(None);
    rows.extend(tail.into_iter().map(Some));
    rows
}

/// `4_132_676`, as polars writes a shape.
pub(super) fn shape_number(n: usize) -> String {
    crate::format::count(n).replace(',', "_")
}

pub(super) fn table(t: &TableSnapshot, width: usize) -> String {
    let rows = visible_rows(t);
    let styles = t.styles();
    let cell_text = |cell: &Cell, c: usize| clip(&cell.text(styles[c]));
    let mut widths: Vec<usize> = (0..t.columns.len())
        .map(|c| {
            let header = clip(&t.columns[c])
                .chars()
                .count()
                .max(t.dtypes[c].chars().count());
            rows.iter()
                .flatten()
                .map(|r| cell_text(&r[c], c).chars().count())
                .fold(header.max(3), usize::max)
        })
        .collect();
    let shown = columns_that_fit(&widths, width);
    widths = shown.iter().map(|&c| c.map_or(1, |c| widths[c])).collect();

    let mut out = format!("shape: ({}, {})\n", shape_number(t.n_rows), t.columns.len());
    out.push_str(&border('┌', '┬', '┐', '─', &widths));
    let header_line = |f: &dyn Fn(usize) -> String| {
        let cells: Vec<String> = shown
            .iter()
            .zip(&widths)
            .map(|(c, w)| pad(&c.map_or("…".into(), f), *w, false))
            .collect();
        format!("│ {} │\n", cells.join(" ┆ "))
    };
    out.push_str(&header_line(&|c| clip(&t.columns[c])));
    out.push_str(&header_line(&|_| "---".into()));
    out.push_str(&header_line(&|c| t.dtypes[c].clone()));
    out.push_str(&border('╞', '╪', '╡', '═', &widths));
    for row in &rows {
        let cells: Vec<String> = shown
            .iter()
            .zip(&widths)
            .map(|(c, w)| match (c, row) {
                (Some(c), Some(r)) => pad(&cell_text(&r[*c], *c), *w, t.numeric[*c]),
                _ => pad("…", *w, false),
            })
            .collect();
        out.push_str(&format!("│ {} │\n", cells.join(" ┆ ")));
    }
    out.push_str(&border('└', '┴', '┘', '─', &widths));
    out.pop();
    out
}

/// Which columns fit in `width`: all, or as many as fit from the left, then a `…`
/// column (`None`), then the last column when there is room for it.
fn columns_that_fit(widths: &[usize], width: usize) -> Vec<Option<usize>> {
    let cost = |c: usize| widths[c] + 3;
    let total: usize = (0..widths.len()).map(cost).sum::<usize>() + 1;
    if total <= width || widths.len() <= 2 {
        return (0..widths.len()).map(Some).collect();
    }
    let last = widths.len() - 1;
    let ellipsis = 4;
    let mut budget = width.saturating_sub(1 + ellipsis);
    let keep_last = cost(last) + cost(0) <= budget;
    if keep_last {
        budget -= cost(last);
    }
    let mut shown = Vec::new();
    let mut used = 0;
    for c in 0..last {
        if used + cost(c) > budget && !shown.is_empty() {
            break;
        }
        used += cost(c);
        shown.push(Some(c));
    }
    shown.push(None);
    if keep_last {
        shown.push(Some(last));
    }
    shown
}

fn clip(text: &str) -> String {
    let text = text.replace('\n', "\\n");
    if text.chars().count() <= MAX_CELL {
        return text;
    }
    let kept: String = text.chars().take(MAX_CELL - 1).collect();
    format!("{kept}…")
}

fn pad(text: &str, width: usize, right_align: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text.chars().count()));
    if right_align {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

fn border(left: char, mid: char, right: char, fill: char, widths: &[usize]) -> String {
    let parts: Vec<String> = widths
        .iter()
        .map(|w| fill.to_string().repeat(w + 2))
        .collect();
    format!("{left}{}{right}\n", parts.join(&mid.to_string()))
}
