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

/// An integer with thousands separators, for counts in prose ("4,132,676 rows").
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
}
