//! Plots: one description ([`Plot`]) that renders to clean hand-built SVG ([`svg`]), to a
//! Vega-Lite v5 spec ([`vegalite`]) and to a one-line text description. Hand-built SVG
//! rather than a plotting crate: the marks are few, and owning the markup keeps the
//! output small, deterministic (golden tests compare it) and free of ids that clash when
//! a notebook shows many plots inline.

pub mod svg;
pub mod vegalite;

/// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Line,
    Bar,
    /// Bars over bins of a numeric column (already counted).
    Histogram,
    Scatter,
    /// A point with an interval (estimates with CIs: event studies, coefficient paths).
    Interval,
    /// Estimates with CIs, one row per label, a line at the null (models side by side).
    /// In a meta-analysis's forest plot, series 1 is the pooled estimate (a diamond
    /// spanning its interval) and series 2 the prediction interval (a line alone).
    Forest,
    /// A regression discontinuity: binned means (series 0) as points and a fitted curve
    /// (series 1) as one line a side, the side in each datum's `label`.
    Discontinuity,
    /// A funnel plot: each study's estimate (x) against its standard error (y, 0 at the
    /// top), a line at the pooled estimate (`x_reference`) and the region where 95% of
    /// studies would fall without heterogeneity or small-study effects.
    Funnel,
    /// A love plot: one row per covariate (laid out as a forest plot), its standardised
    /// difference before (series 0, hollow) and after (series 1) weighting or matching,
    /// a line at 0 and dashed lines at ±[`BALANCE_THRESHOLD`].
    Balance,
}

/// The normal quantile of a funnel plot's 95% region.
pub const FUNNEL_Z: f64 = 1.959963984540054;

/// The absolute standardised difference beyond which a covariate is commonly called
/// imbalanced (cobalt's and `balance`'s 0.1).
pub const BALANCE_THRESHOLD: f64 = 0.1;

impl Mark {
    pub fn word(self) -> &'static str {
        match self {
            Mark::Line => "line",
            Mark::Bar => "bar",
            Mark::Histogram => "histogram",
            Mark::Scatter => "scatter",
            Mark::Interval => "interval",
            Mark::Forest => "forest",
            Mark::Discontinuity => "discontinuity",
            Mark::Balance => "balance",
            Mark::Funnel => "funnel",
        }
    }

    /// Whether the plot is laid out as rows of labels with values across (a forest plot,
    /// a love plot).
    pub fn is_rows(self) -> bool {
        matches!(self, Mark::Forest | Mark::Balance)
    }
}

/// What the x values are: numbers, dates (days since 1970-01-01) or categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Number,
    Date,
    Category,
}

/// One plotted row. For a histogram `x` is the bin start and `x_end` its end; for a
/// forest plot `label` names the row and `x`… hold nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Datum {
    pub x: f64,
    pub x_end: Option<f64>,
    pub label: String,
    pub y: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// What the estimate should be, when known (a simulation's truth): drawn beside it.
    pub truth: Option<f64>,
    pub series: usize,
}

#[derive(Clone, Debug)]
pub struct Plot {
    pub mark: Mark,
    pub title: Option<String>,
    pub x_title: String,
    pub y_title: String,
    pub x_scale: Scale,
    /// Category names in order (for `Scale::Category` and forest rows).
    pub categories: Vec<String>,
    /// Series names in order; one unnamed series when nothing is coloured.
    pub series: Vec<String>,
    pub series_title: Option<String>,
    pub data: Vec<Datum>,
    /// A reference line: horizontal at y (vertical at x for a forest plot).
    pub reference: Option<f64>,
    /// The value axis is logarithmic: ratios in a forest plot, so that 0.5 and 2 lie
    /// equally far from 1.
    pub log_scale: bool,
    /// A vertical reference line at this x (days since 1970-01-01 on a date axis).
    pub x_reference: Option<f64>,
}

impl Plot {
    /// Whether any point carries a truth to draw beside its estimate.
    pub fn has_truth(&self) -> bool {
        self.data.iter().any(|d| d.truth.is_some())
    }

    /// Whether the x values are calendar years (whole numbers from 1800 to 2200), which
    /// are written without a thousands separator: 2023, not 2,023.
    pub fn x_is_years(&self) -> bool {
        self.x_scale == Scale::Number
            && !self.data.is_empty()
            && self
                .data
                .iter()
                .all(|d| d.x.fract() == 0.0 && (1800.0..=2200.0).contains(&d.x))
    }

    /// The one line a terminal shows for a plot.
    pub fn describe(&self) -> String {
        let mut text = match self.mark {
            Mark::Forest => format!(
                "forest plot of {} ({} rows{})",
                lowercase_first(&self.x_title),
                self.categories.len(),
                if self.log_scale { ", log scale" } else { "" }
            ),
            Mark::Balance => format!(
                "balance plot of {} ({} covariates{})",
                lowercase_first(&self.x_title),
                self.categories.len(),
                if self.series.len() > 1 {
                    ", before and after"
                } else {
                    ""
                }
            ),
            Mark::Funnel => format!(
                "funnel plot of {} against its standard error ({} studies)",
                self.x_title,
                self.data.len()
            ),
            Mark::Histogram => format!("histogram of {} ({} bins)", self.x_title, self.data.len()),
            Mark::Discontinuity => format!(
                "discontinuity plot of {} by {} ({} binned means, a {} each side)",
                self.y_title,
                self.x_title,
                self.data.iter().filter(|d| d.series == 0).count(),
                self.series.get(1).map_or("fit", String::as_str)
            ),
            _ => format!(
                "{} plot of {} by {} ({} points)",
                self.mark.word(),
                self.y_title,
                self.x_title,
                self.data.len()
            ),
        };
        if self.has_truth() {
            text.push_str(", with the truth");
        }
        if self.series.len() > 1 && !matches!(self.mark, Mark::Discontinuity | Mark::Balance) {
            text.push_str(&format!(
                ", {} series by {}",
                self.series.len(),
                self.series_title.as_deref().unwrap_or("column")
            ));
        }
        if let Some(title) = &self.title {
            text = format!("{title}: {text}");
        }
        text
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Tick positions: "nice" steps of 1, 2 or 5 × 10^k covering [low, high].
pub fn ticks(low: f64, high: f64, wanted: usize) -> (Vec<f64>, f64) {
    let span = if high > low {
        high - low
    } else {
        low.abs().max(1.0)
    };
    let rough = span / wanted.max(1) as f64;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| span / s <= wanted as f64 + 0.5)
        .unwrap_or(10.0 * power);
    let first = (low / step + 1e-9).floor();
    let last = (high / step - 1e-9).ceil().max(first + 1.0);
    let out = (first as i64..=last as i64)
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < step * 1e-9 { 0.0 } else { v }
        })
        .collect();
    (out, step)
}

/// A tick label: as many decimals as the step needs, thousands separated.
pub fn tick_label(value: f64, step: f64) -> String {
    // The fewest decimals that write the step exactly (2.5 needs one, 0.005 three).
    let decimals = (0..8)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(8) as usize;
    let text = format!("{value:.decimals$}");
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if grouped.chars().all(|c| c == '0' || c == ',')
        && fraction.is_none_or(|f| f.chars().all(|c| c == '0'))
    {
        ""
    } else {
        sign
    };
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A date tick: days since 1970-01-01 as `2021-03` (or the full date for short spans).
pub fn date_label(days: f64, span_days: f64) -> String {
    let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|d| d.checked_add_signed(chrono::Duration::days(days.round() as i64)))
        .unwrap_or_default();
    if span_days > 400.0 {
        date.format("%Y-%m").to_string()
    } else {
        date.format("%Y-%m-%d").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let (t, step) = ticks(0.0, 2047.0, 5);
        assert_eq!(step, 500.0);
        assert_eq!(t.first(), Some(&0.0));
        assert_eq!(t.last(), Some(&2500.0));
        let (t, step) = ticks(0.996, 1.021, 5);
        assert!((step - 0.005).abs() < 1e-12, "{step}");
        assert!(t[0] <= 0.996 && *t.last().unwrap() >= 1.021);
    }

    #[test]
    fn tick_labels_have_separators_and_enough_decimals() {
        assert_eq!(tick_label(4_132_676.0, 1000.0), "4,132,676");
        assert_eq!(tick_label(1.005, 0.005), "1.005");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(tick_label(-0.0, 0.5), "0.0");
        assert_eq!(tick_label(-1500.0, 500.0), "-1,500");
        assert_eq!(tick_label(12.5, 2.5), "12.5");
        assert_eq!(tick_label(10.0, 2.5), "10.0");
    }
}
