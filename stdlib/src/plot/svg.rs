//! A plot as standalone SVG, readable at notebook width: axis titles, thousands
//! separators, the Okabe–Ito palette, category labels turned or thinned so they never
//! overlap. No ids or `<style>`, so many plots can share one page.

use std::fmt::Write;

use super::{
    BALANCE_THRESHOLD, Datum, FUNNEL_Z, Mark, PALETTE, Plot, Scale, date_label, tick_label, ticks,
};
use crate::markup::escape;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 380.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
/// Average glyph width at 12 px, for laying out labels without a font engine.
const CHAR: f64 = 6.6;
const GRID: &str = "#e6e6e6";
const INK: &str = "#333333";

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR
}

/// Where a datum starts and ends across the plot, in pixels.
type Across = dyn Fn(&Datum) -> (f64, f64);

/// A linear map from data to pixels.
#[derive(Clone, Copy)]
struct Linear {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Linear {
    fn at(&self, v: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if d1 == d0 {
            return (r0 + r1) / 2.0;
        }
        r0 + (v - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// A value placed on a possibly transformed axis (a forest plot's log scale).
struct Placed<F: Fn(f64) -> f64> {
    linear: Linear,
    place: F,
}

impl<F: Fn(f64) -> f64> Placed<F> {
    fn at(&self, v: f64) -> f64 {
        self.linear.at((self.place)(v))
    }
}

/// The data's extent over `values`, with room added and zero included when asked.
fn extent(values: impl Iterator<Item = f64>, include_zero: bool) -> (f64, f64) {
    let (mut low, mut high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    if include_zero {
        low = low.min(0.0);
        high = high.max(0.0);
    }
    if low == high {
        let pad = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
        return (low - pad, high + pad);
    }
    (low, high)
}

fn y_values(data: &[Datum]) -> impl Iterator<Item = f64> + '_ {
    data.iter()
        .flat_map(|d| [Some(d.y), d.low, d.high, d.truth])
        .flatten()
}

pub fn render(plot: &Plot) -> String {
    if plot.mark.is_rows() {
        return forest(plot);
    }
    if plot.mark == Mark::Funnel {
        return funnel(plot);
    }
    let mut out = String::new();
    let legend = plot.series.len() > 1 || plot.has_truth();
    let legend_width = if legend {
        plot.series
            .iter()
            .chain(plot.series_title.iter())
            .map(|s| text_width(s))
            .chain(plot.has_truth().then(|| text_width("truth")))
            .fold(0.0, f64::max)
            + 40.0
    } else {
        0.0
    };

    // The value axis.
    let include_zero = matches!(plot.mark, Mark::Bar | Mark::Histogram);
    let mut values: Vec<f64> = y_values(&plot.data).collect();
    values.extend(plot.reference);
    let (y_low, y_high) = extent(values.into_iter(), include_zero);
    let (y_ticks, y_step) = ticks(y_low, y_high, 5);
    let y_labels: Vec<String> = y_ticks.iter().map(|v| tick_label(*v, y_step)).collect();
    let left = 28.0 + y_labels.iter().map(|l| text_width(l)).fold(0.0, f64::max) + 10.0;

    // The x axis: categories in bands, or a continuous scale.
    let top = if plot.title.is_some() { 44.0 } else { 20.0 };
    let right = WIDTH - 16.0 - legend_width;
    let plot_width = right - left;
    let mut bottom_room = 52.0;
    let mut rotate = false;
    let mut label_every = 1;
    if plot.x_scale == Scale::Category {
        let band = plot_width / plot.categories.len().max(1) as f64;
        let widest = plot
            .categories
            .iter()
            .map(|c| text_width(c))
            .fold(0.0, f64::max);
        if widest > band - 4.0 {
            rotate = true;
            // Turned 40°, a label needs about 0.65 of its width below the axis.
            bottom_room += (widest.min(160.0) * 0.65 - 10.0).max(0.0);
            label_every = ((14.0 / band).ceil() as usize).max(1);
        }
    }
    let bottom = HEIGHT - bottom_room;
    let y = Linear {
        domain: (y_ticks[0], *y_ticks.last().unwrap_or(&1.0)),
        range: (bottom, top),
    };

    open(&mut out, plot, HEIGHT, left);
    // Grid and value labels.
    for (v, label) in y_ticks.iter().zip(&y_labels) {
        let py = y.at(*v);
        let _ = write!(
            out,
            r#"<line x1="{left:.1}" x2="{right:.1}" y1="{py:.1}" y2="{py:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text>"#,
            left - 6.0,
            py + 4.0,
            escape(label)
        );
    }
    let _ = write!(
        out,
        r#"<text transform="translate(14,{:.1}) rotate(-90)" text-anchor="middle" fill="{INK}">{}</text>"#,
        (top + bottom) / 2.0,
        escape(&plot.y_title)
    );

    // Where each datum goes across.
    // Where each datum goes across.
    let x_position: Box<Across> = if plot.x_scale == Scale::Category {
        category_axis(&mut out, plot, (left, right, bottom), rotate, label_every)
    } else {
        continuous_axis(&mut out, plot, (left, right, bottom))
    };
    let _ = write!(
        out,
        r#"<line x1="{left:.1}" x2="{right:.1}" y1="{bottom:.1}" y2="{bottom:.1}" stroke="{INK}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text>"#,
        (left + right) / 2.0,
        HEIGHT - 10.0,
        escape(&plot.x_title)
    );
    if let Some(r) = plot.reference {
        let py = y.at(r);
        let _ = write!(
            out,
            r#"<line x1="{left:.1}" x2="{right:.1}" y1="{py:.1}" y2="{py:.1}" stroke="{INK}" stroke-dasharray="4 3"/>"#
        );
    }

    if let Some(v) = plot.x_reference.filter(|_| plot.x_scale != Scale::Category) {
        let at = Datum {
            x: v,
            x_end: None,
            label: String::new(),
            y: 0.0,
            low: None,
            high: None,
            truth: None,
            series: 0,
        };
        let px = x_position(&at).0;
        if (left..=right).contains(&px) {
            let _ = write!(
                out,
                r#"<line x1="{px:.1}" x2="{px:.1}" y1="{top:.1}" y2="{bottom:.1}" stroke="{INK}" stroke-dasharray="4 3"/>"#
            );
        }
    }
    draw_marks(&mut out, plot, &*x_position, y);
    if legend {
        draw_legend(&mut out, plot, right + 16.0, top + 4.0);
    }
    out.push_str("</svg>");
    out
}

/// The x axis of categories, one band each (labels turned when they do not fit), and
/// where a datum goes across its band (bars of several series side by side).
fn category_axis(
    out: &mut String,
    plot: &Plot,
    (left, right, bottom): (f64, f64, f64),
    rotate: bool,
    label_every: usize,
) -> Box<Across> {
    let plot_width = right - left;
    let n = plot.categories.len().max(1) as f64;
    let band = plot_width / n;
    let series = plot.series.len().max(1) as f64;
    for (i, category) in plot.categories.iter().enumerate() {
        if i % label_every != 0 {
            continue;
        }
        let cx = left + band * (i as f64 + 0.5);
        if rotate {
            let _ = write!(
                out,
                r#"<text transform="translate({cx:.1},{:.1}) rotate(-40)" text-anchor="end" fill="{INK}">{}</text>"#,
                bottom + 14.0,
                escape(category)
            );
        } else {
            let _ = write!(
                out,
                r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text>"#,
                bottom + 18.0,
                escape(category)
            );
        }
    }
    let dodge = plot.mark == Mark::Bar;
    Box::new(move |d: &Datum| {
        let start = left + band * d.x;
        if dodge {
            let inner = band * 0.8 / series;
            let x0 = start + band * 0.1 + inner * d.series as f64;
            (x0, x0 + inner)
        } else {
            (start + band * 0.5, start + band * 0.5)
        }
    })
}

/// A continuous x axis (numbers, years or dates) with its ticks, and where a datum goes.
fn continuous_axis(
    out: &mut String,
    plot: &Plot,
    (left, right, bottom): (f64, f64, f64),
) -> Box<Across> {
    let (x_low, x_high) = extent(
        plot.data
            .iter()
            .flat_map(|d| [Some(d.x), d.x_end])
            .flatten(),
        false,
    );
    let span = x_high - x_low;
    let years = plot.x_is_years();
    // Whole-number x (years, quarters, event times) gets whole-number ticks: no half
    // years, no event time 2.5.
    let whole = plot.mark != Mark::Histogram && plot.data.iter().all(|d| d.x.fract() == 0.0);
    let (x_ticks, x_step) = if plot.x_scale == Scale::Date {
        date_ticks(x_low, x_high)
    } else {
        let (t, step) = ticks(x_low, x_high, 6);
        if whole && step.fract() != 0.0 {
            let step = step.floor().max(1.0);
            let (first, last) = ((x_low / step).floor() as i64, (x_high / step).ceil() as i64);
            ((first..=last).map(|k| k as f64 * step).collect(), step)
        } else {
            (t, step)
        }
    };
    let (d0, d1) = if plot.mark == Mark::Histogram {
        (x_low, x_high)
    } else {
        (x_low - span * 0.03, x_high + span * 0.03)
    };
    let x = Linear {
        domain: (d0, d1),
        range: (left, right),
    };
    for v in x_ticks
        .iter()
        .filter(|v| **v >= d0 - 1e-9 && **v <= d1 + 1e-9)
    {
        let px = x.at(*v);
        let label = if plot.x_scale == Scale::Date {
            date_label(*v, span)
        } else if years {
            format!("{v:.0}")
        } else {
            tick_label(*v, x_step)
        };
        let _ = write!(
            out,
            r#"<line x1="{px:.1}" x2="{px:.1}" y1="{bottom:.1}" y2="{:.1}" stroke="{INK}"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text>"#,
            bottom + 5.0,
            bottom + 18.0,
            escape(&label)
        );
    }
    Box::new(move |d: &Datum| (x.at(d.x), d.x_end.map_or(x.at(d.x), |e| x.at(e))))
}

/// The marks, series by series.
fn draw_marks(out: &mut String, plot: &Plot, x_position: &Across, y: Linear) {
    for s in 0..plot.series.len().max(1) {
        let colour = PALETTE[s % PALETTE.len()];
        let mut points: Vec<&Datum> = plot.data.iter().filter(|d| d.series == s).collect();
        match plot.mark {
            Mark::Line => {
                points.sort_by(|a, b| a.x.total_cmp(&b.x));
                draw_band(out, &points, x_position, y, colour);
                let path: Vec<String> = points
                    .iter()
                    .filter(|d| d.y.is_finite())
                    .map(|d| format!("{:.1},{:.1}", x_position(d).0, y.at(d.y)))
                    .collect();
                let _ = write!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                    path.join(" ")
                );
                if points.len() <= 60 {
                    for d in points.iter().filter(|d| d.y.is_finite()) {
                        let _ = write!(
                            out,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"/>"#,
                            x_position(d).0,
                            y.at(d.y)
                        );
                    }
                }
            }
            Mark::Bar | Mark::Histogram => {
                for d in &points {
                    let (x0, x1) = x_position(d);
                    let (top_px, base) = (y.at(d.y.max(0.0)), y.at(d.y.min(0.0)));
                    let gap = if plot.mark == Mark::Histogram {
                        0.5
                    } else {
                        0.0
                    };
                    let _ = write!(
                        out,
                        r#"<rect x="{:.1}" y="{top_px:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/>"#,
                        x0 + gap,
                        (x1 - x0 - 2.0 * gap).max(0.5),
                        (base - top_px).max(0.0)
                    );
                }
            }
            Mark::Discontinuity if s > 0 => {
                // One line a side: never drawn across the cutoff.
                for side in ["below", "above"] {
                    let path: Vec<String> = points
                        .iter()
                        .filter(|d| d.label == side && d.y.is_finite())
                        .map(|d| format!("{:.1},{:.1}", x_position(d).0, y.at(d.y)))
                        .collect();
                    let _ = write!(
                        out,
                        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                        path.join(" ")
                    );
                }
            }
            // A discontinuity's binned means (series 0) are points, as a scatter's.
            Mark::Scatter | Mark::Discontinuity => {
                for d in points.iter().filter(|d| d.y.is_finite()) {
                    let _ = write!(
                        out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}" fill-opacity="0.7"/>"#,
                        x_position(d).0,
                        y.at(d.y)
                    );
                }
            }
            Mark::Interval => {
                // Several series side by side around each x, so intervals do not overlap.
                let offset = (s as f64 - (plot.series.len().max(1) as f64 - 1.0) / 2.0) * 6.0;
                for d in points.iter().filter(|d| d.y.is_finite()) {
                    let px = x_position(d).0 + offset;
                    if let (Some(lo), Some(hi)) = (d.low, d.high) {
                        let _ = write!(
                            out,
                            r#"<line x1="{px:.1}" x2="{px:.1}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.5"/>"#,
                            y.at(lo),
                            y.at(hi)
                        );
                    }
                    let _ = write!(
                        out,
                        r#"<circle cx="{px:.1}" cy="{:.1}" r="3.5" fill="{colour}"/>"#,
                        y.at(d.y)
                    );
                    if let Some(truth) = d.truth.filter(|t| t.is_finite()) {
                        diamond(out, px + 7.0, y.at(truth));
                    }
                }
            }
            Mark::Forest | Mark::Balance | Mark::Funnel => {}
        }
    }
}

/// A line's band (`low` to `high`, an interval around it), shaded behind the line: out
/// along the upper ends, back along the lower.
fn draw_band(out: &mut String, points: &[&Datum], x_position: &Across, y: Linear, colour: &str) {
    let ends: Vec<(f64, f64, f64)> = points
        .iter()
        .filter_map(|d| match (d.low, d.high) {
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() => {
                Some((x_position(d).0, y.at(lo), y.at(hi)))
            }
            _ => None,
        })
        .collect();
    if ends.len() < 2 {
        return;
    }
    let upper = ends.iter().map(|(x, _, hi)| format!("{x:.1},{hi:.1}"));
    let lower = ends
        .iter()
        .rev()
        .map(|(x, lo, _)| format!("{x:.1},{lo:.1}"));
    let outline: Vec<String> = upper.chain(lower).collect();
    let _ = write!(
        out,
        r#"<polygon points="{}" fill="{colour}" fill-opacity="0.15" stroke="none"/>"#,
        outline.join(" ")
    );
}

/// A truth's mark: an open diamond centred at (x, y).
fn diamond(out: &mut String, x: f64, y: f64) {
    let _ = write!(
        out,
        r#"<path d="M{x:.1},{:.1} L{:.1},{y:.1} L{x:.1},{:.1} L{:.1},{y:.1} Z" fill="white" stroke="{INK}" stroke-width="1.5"/>"#,
        y - 5.0,
        x + 5.0,
        y + 5.0,
        x - 5.0
    );
}

/// The legend: the series' title, then a swatch and a name per series.
fn draw_legend(out: &mut String, plot: &Plot, lx: f64, top: f64) {
    let mut ly = top;
    if let Some(title) = &plot.series_title {
        let _ = write!(
            out,
            r#"<text x="{lx:.1}" y="{ly:.1}" font-weight="600" fill="{INK}">{}</text>"#,
            escape(title)
        );
        ly += 18.0;
    }
    let named = if plot.series.len() > 1 {
        plot.series.as_slice()
    } else {
        &[]
    };
    for (s, name) in named.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        if plot.mark == Mark::Balance {
            // As the points: hollow before, filled after.
            let fill = if s == 0 { "white" } else { colour };
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4.5" fill="{fill}" stroke="{colour}" stroke-width="1.5"/>"#,
                lx + 6.0,
                ly - 4.0
            );
        } else {
            let _ = write!(
                out,
                r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/>"#,
                ly - 10.0
            );
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{ly:.1}" fill="{INK}">{}</text>"#,
            lx + 18.0,
            escape(name)
        );
        ly += 18.0;
    }
    if plot.has_truth() {
        diamond(out, lx + 6.0, ly - 4.0);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{ly:.1}" fill="{INK}">truth</text>"#,
            lx + 18.0
        );
    }
}

/// The `<svg>` element with its accessible title, a white background and the plot's
/// title at `title_x`.
fn open(out: &mut String, plot: &Plot, height: f64, title_x: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="12" role="img"><title>{}</title><rect width="{WIDTH}" height="{height}" fill="white"/>"#,
        escape(&plot.describe())
    );
    if let Some(title) = &plot.title {
        let _ = write!(
            out,
            r#"<text x="{title_x}" y="24" font-size="15" font-weight="600" fill="{INK}">{}</text>"#,
            escape(title)
        );
    }
}

/// Date ticks at the start of months, every 1, 3, 6, 12 or 24 months.
fn date_ticks(low: f64, high: f64) -> (Vec<f64>, f64) {
    use chrono::{Datelike, NaiveDate};
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let to_date = |days: f64| {
        epoch
            .checked_add_signed(chrono::Duration::days(days.floor() as i64))
            .unwrap_or(epoch)
    };
    let (start, end) = (to_date(low), to_date(high));
    let months = (end.year() - start.year()) * 12 + end.month() as i32 - start.month() as i32;
    let step = [1, 3, 6, 12, 24, 60]
        .into_iter()
        .find(|s| months / s <= 7)
        .unwrap_or(120);
    let mut out = Vec::new();
    let (mut year, mut month) = (start.year(), start.month() as i32);
    // Start on a month that is a multiple of the step (January, April, ... for 3).
    while (month - 1) % step.min(12) != 0 {
        month += 1;
        if month > 12 {
            month = 1;
            year += 1;
        }
    }
    while let Some(date) = NaiveDate::from_ymd_opt(year, month as u32, 1) {
        if date > end {
            break;
        }
        if date >= start {
            out.push((date - epoch).num_days() as f64);
        }
        month += step;
        while month > 12 {
            month -= 12;
            year += 1;
        }
    }
    (out, f64::from(step) * 30.0)
}

/// Ticks for a wide logarithmic axis: 1, 2 and 5 times powers of ten, from the largest
/// at or below `low` to the smallest at or above `high` (1 and 10 alone when that would
/// be more than nine).
fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let candidates = |multiples: &[f64]| -> Vec<f64> {
        let (first, last) = (
            low.log10().floor() as i32 - 1,
            high.log10().ceil() as i32 + 1,
        );
        let all: Vec<f64> = (first..=last)
            .flat_map(|p| multiples.iter().map(move |m| m * 10f64.powi(p)))
            .collect();
        let start = all
            .iter()
            .rposition(|v| *v <= low * (1.0 + 1e-9))
            .unwrap_or(0);
        let end = all
            .iter()
            .position(|v| *v >= high * (1.0 - 1e-9))
            .unwrap_or(all.len() - 1);
        all[start..=end].to_vec()
    };
    let fine = candidates(&[1.0, 2.0, 5.0]);
    if fine.len() <= 9 {
        fine
    } else {
        candidates(&[1.0])
    }
}

/// A forest plot: one row per estimate, intervals across, a line at the null. A love
/// plot (`Mark::Balance`) is laid out the same: its points without intervals, hollow
/// before and filled after, dashed lines at the threshold of imbalance, and a legend.
fn forest(plot: &Plot) -> String {
    let love = plot.mark == Mark::Balance;
    let mut out = String::new();
    let rows = plot.categories.len().max(1) as f64;
    let height = (if plot.title.is_some() { 44.0 } else { 20.0 }) + rows * 30.0 + 56.0;
    let top = if plot.title.is_some() { 44.0 } else { 20.0 };
    let bottom = height - 56.0;
    let left = 20.0
        + plot
            .categories
            .iter()
            .map(|c| text_width(c))
            .fold(0.0, f64::max)
            .min(260.0);
    // Room on the right for "1.015 (1.009 to 1.021)", or for the legend.
    let right = WIDTH - 170.0;
    let mut values: Vec<f64> = y_values(&plot.data).collect();
    values.extend(plot.reference);
    if love {
        values.extend([-BALANCE_THRESHOLD, BALANCE_THRESHOLD]);
    }
    let (low, high) = extent(values.into_iter(), false);
    let (mut x_ticks, mut step) = ticks(low, high, 5);
    // Ratios spanning more than a factor of four (a meta-analysis's trials) get ticks at
    // 1, 2 and 5 times powers of ten, even on the logarithmic axis.
    let wide = plot.log_scale && low > 0.0 && high / low > 4.0;
    if wide {
        x_ticks = log_ticks(low, high);
        step = x_ticks[0];
    }
    // On a log scale the ticks stay round ratios, placed by their logarithms; a tick at
    // or below zero has no place, and the axis then starts at the lowest value.
    if plot.log_scale && !wide {
        x_ticks.retain(|v| *v > 0.0);
        if x_ticks.first().is_none_or(|t| *t > low) && low > 0.0 {
            x_ticks.insert(0, low);
        }
        if x_ticks.last().is_none_or(|t| *t < high) {
            x_ticks.push(high);
        }
    }
    let place = |v: f64| {
        if plot.log_scale {
            v.max(f64::MIN_POSITIVE).ln()
        } else {
            v
        }
    };
    let linear = Linear {
        domain: (place(x_ticks[0]), place(*x_ticks.last().unwrap_or(&1.0))),
        range: (left, right),
    };
    let x = Placed { linear, place };
    open(&mut out, plot, height, 20.0);
    for v in &x_ticks {
        let px = x.at(*v);
        let _ = write!(
            out,
            r#"<line x1="{px:.1}" x2="{px:.1}" y1="{top:.1}" y2="{bottom:.1}" stroke="{GRID}"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text>"#,
            bottom + 18.0,
            tick_label(*v, if wide { *v } else { step })
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{left:.1}" x2="{right:.1}" y1="{bottom:.1}" y2="{bottom:.1}" stroke="{INK}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text>"#,
        (left + right) / 2.0,
        height - 12.0,
        escape(&plot.x_title)
    );
    if let Some(r) = plot.reference {
        let px = x.at(r);
        let dash = if love {
            ""
        } else {
            r#" stroke-dasharray="4 3""#
        };
        let _ = write!(
            out,
            r#"<line x1="{px:.1}" x2="{px:.1}" y1="{top:.1}" y2="{bottom:.1}" stroke="{INK}"{dash}/>"#
        );
    }
    if love {
        for threshold in [-BALANCE_THRESHOLD, BALANCE_THRESHOLD] {
            let px = x.at(threshold);
            let _ = write!(
                out,
                r#"<line x1="{px:.1}" x2="{px:.1}" y1="{top:.1}" y2="{bottom:.1}" stroke="{INK}" stroke-opacity="0.6" stroke-dasharray="4 3"/>"#
            );
        }
        draw_legend(&mut out, plot, right + 24.0, top + 12.0);
    }
    let digits = if wide {
        2
    } else {
        (-step.log10().floor()).max(0.0) as usize + 1
    };
    for (i, label) in plot.categories.iter().enumerate() {
        let cy = top + 30.0 * (i as f64 + 0.5);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text>"#,
            left - 10.0,
            cy + 4.0,
            escape(label)
        );
        for d in plot.data.iter().filter(|d| d.x as usize == i) {
            let colour = PALETTE[d.series % PALETTE.len()];
            if let (Some(lo), Some(hi)) = (d.low, d.high) {
                if d.series == 1 && !love {
                    // The pooled estimate: a diamond across its interval.
                    let _ = write!(
                        out,
                        r#"<path d="M{:.1},{cy:.1} L{:.1},{:.1} L{:.1},{cy:.1} L{:.1},{:.1} Z" fill="{INK}"/>"#,
                        x.at(lo),
                        x.at(d.y),
                        cy - 7.0,
                        x.at(hi),
                        x.at(d.y),
                        cy + 7.0
                    );
                } else {
                    let _ = write!(
                        out,
                        r#"<line x1="{:.1}" x2="{:.1}" y1="{cy:.1}" y2="{cy:.1}" stroke="{colour}" stroke-width="2"/>"#,
                        x.at(lo),
                        x.at(hi)
                    );
                }
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" fill="{INK}">{:.digits$} ({:.digits$} to {:.digits$})</text>"#,
                    right + 12.0,
                    cy + 4.0,
                    d.y,
                    lo,
                    hi
                );
            }
            if love {
                let fill = if d.series == 0 && plot.series.len() > 1 {
                    "white"
                } else {
                    colour
                };
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{cy:.1}" r="4.5" fill="{fill}" stroke="{colour}" stroke-width="1.5"/>"#,
                    x.at(d.y)
                );
                continue;
            }
            if d.series == 0 {
                let _ = write!(
                    out,
                    r#"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="{colour}"/>"#,
                    x.at(d.y) - 4.0,
                    cy - 4.0
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// A funnel plot: studies by estimate across and standard error down (0 at the top), the
/// pooled estimate's line and the 95% region around it, which narrows to the top.
fn funnel(plot: &Plot) -> String {
    let mut out = String::new();
    let top = if plot.title.is_some() { 44.0 } else { 20.0 };
    let (bottom, left, right) = (HEIGHT - 56.0, 70.0, WIDTH - 30.0);
    let centre = plot.x_reference.unwrap_or(0.0);
    let deepest = plot.data.iter().map(|d| d.y).fold(0.0_f64, f64::max) * 1.05;
    let (y_ticks, y_step) = ticks(0.0, deepest.max(f64::MIN_POSITIVE), 5);
    let depth = *y_ticks.last().unwrap_or(&1.0);
    let reach = FUNNEL_Z * depth;
    let (x_low, x_high) = plot
        .data
        .iter()
        .fold((centre - reach, centre + reach), |(l, h), d| {
            (l.min(d.x), h.max(d.x))
        });
    let (x_ticks, x_step) = ticks(x_low, x_high, 6);
    let x = Linear {
        domain: (x_ticks[0], *x_ticks.last().unwrap_or(&x_high)),
        range: (left, right),
    };
    let y = Linear {
        domain: (0.0, depth),
        range: (top, bottom),
    };
    open(&mut out, plot, HEIGHT, 20.0);
    // The region: white inside a grey ground, as metafor draws it.
    let _ = write!(
        out,
        r#"<rect x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{GRID}"/><path d="M{:.1},{top:.1} L{:.1},{bottom:.1} L{:.1},{bottom:.1} Z" fill="white"/>"#,
        right - left,
        bottom - top,
        x.at(centre),
        x.at(centre - reach),
        x.at(centre + reach)
    );
    for v in &y_ticks {
        let py = y.at(*v);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{INK}">{}</text>"#,
            left - 8.0,
            py + 4.0,
            tick_label(*v, y_step)
        );
    }
    for v in &x_ticks {
        let px = x.at(*v);
        let _ = write!(
            out,
            r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text>"#,
            bottom + 18.0,
            tick_label(*v, x_step)
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{:.1}" x2="{:.1}" y1="{top:.1}" y2="{bottom:.1}" stroke="{INK}" stroke-dasharray="4 3"/><line x1="{left:.1}" x2="{right:.1}" y1="{bottom:.1}" y2="{bottom:.1}" stroke="{INK}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{INK}">{}</text><text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle" fill="{INK}">{}</text>"#,
        x.at(centre),
        x.at(centre),
        (left + right) / 2.0,
        HEIGHT - 12.0,
        escape(&plot.x_title),
        (top + bottom) / 2.0,
        escape(&plot.y_title)
    );
    for d in &plot.data {
        let _ = write!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{}"><title>{}</title></circle>"#,
            x.at(d.x),
            y.at(d.y),
            PALETTE[0],
            escape(&d.label)
        );
    }
    out.push_str("</svg>");
    out
}
