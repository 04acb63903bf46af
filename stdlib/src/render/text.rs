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
    let shown = columns_that_fit(&t.columns, &widths, width);
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

/// Columns a reader can best spare when a table is too wide, the first spared first (a
/// band's two ends together): a test statistic and a standard error say again what the
/// estimate and its interval say.
const SPARE_FIRST: [&[&str]; 5] = [
    &["statistic"],
    &["std_error"],
    &["band_low", "band_high"],
    &["event_time"],
    &["df"],
];

/// Which columns fit in `width`: all; or without those a reader can spare (`SPARE_FIRST`);
/// or as many as fit from the left, then the last column when there is room for it. Each
/// run of left-out columns is one `…` column (`None`).
fn columns_that_fit(names: &[String], widths: &[usize], width: usize) -> Vec<Option<usize>> {
    let cost = |c: usize| widths[c] + 3;
    let drawn = |shown: &[Option<usize>]| -> usize {
        shown.iter().map(|c| c.map_or(4, cost)).sum::<usize>() + 1
    };
    let all: Vec<usize> = (0..widths.len()).collect();
    if drawn(&with_gaps(&all, widths.len())) <= width || widths.len() <= 2 {
        return all.into_iter().map(Some).collect();
    }
    let mut kept = all;
    for spare in SPARE_FIRST {
        kept.retain(|&c| !spare.contains(&names[c].as_str()));
        let shown = with_gaps(&kept, widths.len());
        if drawn(&shown) <= width {
            return shown;
        }
    }
    // From the left, keeping the last column when there is room for it; at least one.
    let Some((&last, rest)) = kept.split_last() else {
        return vec![None];
    };
    let fits = |chosen: &[usize]| drawn(&with_gaps(chosen, widths.len())) <= width;
    let keep_last = rest.first().is_some_and(|&c| fits(&[c, last]));
    let mut chosen: Vec<usize> = Vec::new();
    for &c in rest {
        let mut trial = chosen.clone();
        trial.push(c);
        if keep_last {
            trial.push(last);
        }
        if !fits(&trial) && !chosen.is_empty() {
            break;
        }
        chosen.push(c);
    }
    if keep_last {
        chosen.push(last);
    }
    let mut shown = with_gaps(&chosen, widths.len());
    if !keep_last && shown.last() != Some(&None) {
        shown.push(None);
    }
    shown
}

/// The kept columns in order, each run of columns left out between them as one `None`.
fn with_gaps(kept: &[usize], columns: usize) -> Vec<Option<usize>> {
    let mut shown = Vec::new();
    for c in 0..columns {
        if kept.contains(&c) {
            shown.push(Some(c));
        } else if shown.last() != Some(&None) {
            shown.push(None);
        }
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

#[cfg(test)]
mod tests {
    use super::columns_that_fit;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_wide_table_spares_what_a_reader_needs_least() {
        let columns = names(&[
            "term",
            "estimate",
            "std_error",
            "statistic",
            "p_value",
            "conf_low",
            "conf_high",
        ]);
        let widths = [10; 7];
        // All seven take 7 × 13 + 1 = 92.
        assert_eq!(columns_that_fit(&columns, &widths, 92).len(), 7);
        // Without the statistic: 6 × 13 + 4 + 1 = 83.
        assert_eq!(
            columns_that_fit(&columns, &widths, 83),
            [Some(0), Some(1), Some(2), None, Some(4), Some(5), Some(6)]
        );
        // Without the standard error too: one `…` for the two.
        assert_eq!(
            columns_that_fit(&columns, &widths, 75),
            [Some(0), Some(1), None, Some(4), Some(5), Some(6)]
        );
        // Narrower still: from the left, and the last column.
        assert_eq!(
            columns_that_fit(&columns, &widths, 50),
            [Some(0), Some(1), None, Some(6)]
        );
    }
}
