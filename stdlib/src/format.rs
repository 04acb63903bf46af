//! Number formatting: the one place spel decides how a number is written.

/// A float as shown in tables and results: up to six significant digits after the
/// point for small numbers, never fewer digits than the integer part, no trailing
/// zeros, scientific notation only for very large or very small magnitudes.
pub fn float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return "0.0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-5..15).contains(&magnitude) {
        return scientific(x);
    }
    let decimals = (5 - magnitude).clamp(1, 10) as usize;
    let text = format!("{x:.decimals$}");
    let trimmed = text.trim_end_matches('0');
    if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_string()
    }
}

/// A scalar number as a result: integers without a decimal point (`42`), others as
/// [`float`].
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        float(x)
    }
}

fn scientific(x: f64) -> String {
    let text = format!("{x:.5e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e{exponent}")
        }
        None => text,
    }
}

/// How a column's numbers are written for a reader (text and HTML; JSON keeps them raw),
/// decided by the column's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Number,
    /// `p_value` and `p_value_*`: `<0.001`, else three decimals.
    PValue,
    /// `share`, `*_share`, `share_*`, `coverage` and `power` (and their `…_mc_se`, the
    /// Monte Carlo errors, in the same units): shares of 1, as percentages.
    Share,
}

impl Style {
    pub fn of(column: &str) -> Style {
        let lower = column.to_ascii_lowercase();
        let name = lower.strip_suffix("_mc_se").unwrap_or(&lower);
        if name == "p_value" || name.starts_with("p_value_") {
            Style::PValue
        } else if name == "share"
            || name.ends_with("_share")
            || name.starts_with("share_")
            || name == "coverage"
            || name == "power"
        {
            Style::Share
        } else {
            Style::Number
        }
    }

    /// `x` written in this style.
    pub fn write(self, x: f64) -> String {
        match self {
            Style::PValue if x.is_finite() => p_value(x),
            Style::Share if (0.0..=1.0).contains(&x) => format!("{}%", shown(x * 100.0)),
            _ => shown(x),
        }
    }
}

/// A number as a reader sees it: four significant figures (the whole part is never
/// rounded), no trailing zeros, so a whole number has no point; thousands separators
/// from 10,000 (so years stay 2021); scientific notation below 0.0001 and from 10^15.
pub fn shown(x: f64) -> String {
    if !x.is_finite() {
        return float(x);
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        let text = format!("{:.3e}", x);
        return match text.split_once('e') {
            Some((mantissa, exponent)) => {
                let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{mantissa}e{exponent}")
            }
            None => text,
        };
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{:.decimals$}", x.abs());
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let sign = if x < 0.0 && text != "0" { "-" } else { "" };
    let point = if fraction.is_empty() { "" } else { "." };
    format!("{sign}{}{point}{fraction}", grouped(whole))
}

/// An integer as a reader sees it: thousands separators from 10,000.
pub fn whole(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", grouped(&n.unsigned_abs().to_string()))
}

/// Digits with thousands separators when there are five or more.
fn grouped(digits: &str) -> String {
    if digits.len() < 5 {
        digits.to_string()
    } else {
        separated(digits)
    }
}

/// Digits with a comma before each group of three from the right.
fn separated(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A p-value as tables report it: `<0.001`, else three decimals.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// An integer with thousands separators, for counts in prose ("4,132,676 rows").
pub fn count(n: usize) -> String {
    separated(&n.to_string())
}

/// A large statistic with thousands separators and one decimal (-1,253,402.3).
pub fn thousands(x: f64) -> String {
    let sign = if x < 0.0 { "-" } else { "" };
    let rounded = format!("{:.1}", x.abs());
    let (whole, fraction) = rounded.split_once('.').unwrap_or((&rounded, "0"));
    let whole: usize = whole.parse().unwrap_or(0);
    format!("{sign}{}.{fraction}", count(whole))
}

/// "1 row", "4,132,676 rows".
pub fn plural(n: usize, word: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {word}{s}", count(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_like_polars() {
        assert_eq!(float(112.30000000000001), "112.3");
        assert_eq!(float(0.986666667), "0.986667");
        assert_eq!(float(1093.3), "1093.3");
        assert_eq!(float(4132676.5), "4132676.5");
        assert_eq!(float(2.0), "2.0");
        assert_eq!(float(-0.000012345), "-0.000012345");
        assert_eq!(float(1.5e20), "1.5e20");
        assert_eq!(number(42.0), "42");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(count(4132676), "4,132,676");
        assert_eq!(count(12), "12");
        assert_eq!(thousands(-1253402.34), "-1,253,402.3");
        assert_eq!(thousands(120952.0), "120,952.0");
    }

    #[test]
    fn readers_see_four_significant_figures_and_separators_from_ten_thousand() {
        assert_eq!(shown(0.189731), "0.1897");
        assert_eq!(shown(464198.0), "464,198");
        assert_eq!(shown(1093.3), "1093");
        assert_eq!(shown(2021.0), "2021");
        assert_eq!(shown(12.3456), "12.35");
        assert_eq!(shown(2.0), "2");
        assert_eq!(shown(-0.98401), "-0.984");
        assert_eq!(shown(9.99996), "10");
        assert_eq!(shown(0.00012), "0.00012");
        assert_eq!(shown(-0.000012346), "-1.235e-5");
        assert_eq!(shown(1.5e20), "1.5e20");
        assert_eq!(shown(-4132676.4), "-4,132,676");
        assert_eq!(shown(f64::NAN), "NaN");
        assert_eq!(whole(4132676), "4,132,676");
        assert_eq!(whole(-2021), "-2021");
        assert_eq!(Style::of("p_value").write(2.43561e-44), "<0.001");
        assert_eq!(Style::of("p_value").write(0.0478186), "0.048");
        assert_eq!(Style::of("p_value").write(f64::NAN), "NaN");
        assert_eq!(Style::of("coverage").write(0.867), "86.7%");
        assert_eq!(Style::of("coverage_mc_se").write(0.06206), "6.206%");
        assert_eq!(Style::of("ethnic_share").write(0.04), "4%");
        assert_eq!(Style::of("share").write(1.5), "1.5");
        assert_eq!(Style::of("estimate").write(0.0151), "0.0151");
    }
}
