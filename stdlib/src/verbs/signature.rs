//! What a verb's options may be, checked in one place before any verb runs.
//!
//! Each option declares an [`OptionKind`]. The checker ([`check_option`]) reads every
//! option of a call against its kind: a word of a set is accepted bare or quoted alike
//! (`family = logit` ≡ `family = "logit"`), a number must lie in its range. Verbs then
//! read typed values ([`super::VerbCtx::choice`], [`super::VerbCtx::number`], ...), never
//! strings matched with a catch-all arm.

use spel_grammar::ast::{Arg, Expr as Ast, ExprKind};
use spel_grammar::{Diagnostic, Span, did_you_mean};

pub use crate::choice::Choice;
use crate::eval::Env;
use crate::value::Value;

/// An option a verb accepts after a comma: `encoding = "cp1252"`.
pub struct OptionSpec {
    pub name: &'static str,
    /// What a value looks like, in words, for help and completion.
    pub values: &'static str,
    pub kind: OptionKind,
    pub summary: &'static str,
}

impl OptionSpec {
    /// `level`: the confidence level of a verb's intervals.
    pub const LEVEL: OptionSpec = OptionSpec {
        name: "level",
        values: "a number such as 0.95",
        kind: OptionKind::PROBABILITY,
        summary: "Confidence level of the intervals.",
    };

    /// `cluster`: one or two columns for cluster-robust standard errors (`model`, `iv`).
    pub const CLUSTERS: OptionSpec = OptionSpec {
        name: "cluster",
        values: "a column or [col1, col2]",
        kind: OptionKind::Columns,
        summary: "Cluster-robust standard errors by one or two columns.",
    };

    pub const fn new(
        name: &'static str,
        kind: OptionKind,
        values: &'static str,
        summary: &'static str,
    ) -> Self {
        OptionSpec {
            name,
            values,
            kind,
            summary,
        }
    }
}

/// What an option's value must be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptionKind {
    /// A column of the table (or an expression of its columns, where the verb says so).
    Column,
    /// One column, or a list of them: `[a, b]`.
    Columns,
    /// A number from `min` to `max` (either end may be infinite).
    Number {
        min: f64,
        max: f64,
    },
    /// A whole number from `min` to `max`.
    Whole {
        min: f64,
        max: f64,
    },
    Bool,
    Text,
    /// One of a set of words, written bare or quoted alike.
    Word(&'static [&'static str]),
    /// A value the verb reads itself: a level of a column, a date or a number, a list
    /// of texts.
    Value,
}

impl OptionKind {
    /// A positive number (above zero).
    pub const POSITIVE: OptionKind = OptionKind::Number {
        min: f64::MIN_POSITIVE,
        max: f64::INFINITY,
    };
    /// A probability strictly between 0 and 1.
    pub const PROBABILITY: OptionKind = OptionKind::Number {
        min: f64::EPSILON,
        max: 1.0 - f64::EPSILON,
    };
    /// A whole number of 0 or more (a seed).
    pub const SEED: OptionKind = OptionKind::Whole {
        min: 0.0,
        max: 9_007_199_254_740_992.0,
    };

    /// The words of a set, or none.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            OptionKind::Word(words) => words,
            _ => &[],
        }
    }
}

/// What R, Stata and Python call some of spel's words, with how to say it in spel.
const FOREIGN_WORDS: &[(&str, &str, &str)] = &[
    (
        "binomial",
        "logit",
        "R's `binomial` family is spel's `logit`",
    ),
    (
        "logistic",
        "logit",
        "a logistic regression is spel's `logit`",
    ),
    ("gaussian", "ols", "R's `gaussian` family is spel's `ols`"),
    ("normal", "ols", "a normal linear model is spel's `ols`"),
    ("linear", "ols", "a linear model is spel's `ols`"),
    ("lm", "ols", "R's `lm` is spel's `ols`"),
    ("regress", "ols", "Stata's `regress` is spel's `ols`"),
    ("nbreg", "negbin", "Stata's `nbreg` is spel's `negbin`"),
    (
        "negative_binomial",
        "negbin",
        "the negative binomial is spel's `negbin`",
    ),
    ("nb", "negbin", "the negative binomial is spel's `negbin`"),
    ("nb2", "negbin", "NB2 is spel's `negbin`"),
    (
        "quasipoisson",
        "poisson",
        "spel's `poisson` with `se = robust` plays the part of R's `quasipoisson`",
    ),
    (
        "hc1",
        "robust",
        "HC1 is spel's `robust` (its small-sample factor n/(n-k) is `ssc = reg`, Stata's default for OLS)",
    ),
    ("hc0", "robust", "HC0 is spel's `robust` with `ssc = none`"),
    (
        "hc",
        "robust",
        "heteroskedasticity-robust errors are spel's `robust`",
    ),
    (
        "sandwich",
        "robust",
        "sandwich errors are spel's `robust`, or `cluster` with `cluster =`",
    ),
    ("iid", "classical", "iid errors are spel's `classical`"),
    (
        "ols",
        "classical",
        "model-based (OLS) errors are spel's `classical`",
    ),
    (
        "cl",
        "cluster",
        "clustered errors are spel's `cluster` (with `cluster = column`)",
    ),
    (
        "clustered",
        "cluster",
        "clustered errors are spel's `cluster` (with `cluster = column`)",
    ),
    (
        "notyettreated",
        "notyet",
        "the not-yet-treated controls are spel's `notyet`",
    ),
    (
        "nevertreated",
        "never",
        "the never-treated controls are spel's `never`",
    ),
];

/// The word an option's value is, bare or quoted, with its span.
fn word_of(expr: &Ast) -> Option<(&str, Span)> {
    match &expr.kind {
        ExprKind::Str(s) => Some((s.as_str(), expr.span)),
        _ => expr.as_ident().map(|w| (w, expr.span)),
    }
}

/// Checks one option of a call against its kind.
pub fn check_option(spec: &OptionSpec, arg: &Arg, env: &Env) -> Result<(), Diagnostic> {
    let name = spec.name;
    let Some(expr) = arg.as_expr() else {
        return Err(Diagnostic::new(
            "spel::verb::option_value",
            format!("`{name}` cannot be a formula"),
        )
        .at(arg.span)
        .with_note(format!("`{name}` is {}", spec.values)));
    };
    match spec.kind {
        OptionKind::Word(words) => check_word(spec, words, expr).map(|_| ()),
        OptionKind::Number { .. }
        | OptionKind::Whole { .. }
        | OptionKind::Bool
        | OptionKind::Text => constant(spec, expr, env).map(|_| ()),
        OptionKind::Column | OptionKind::Columns | OptionKind::Value => Ok(()),
    }
}

/// The index of the word an option's value is in its set.
pub fn check_word(
    spec: &OptionSpec,
    words: &[&'static str],
    expr: &Ast,
) -> Result<usize, Diagnostic> {
    let name = spec.name;
    let allowed = words.join(", ");
    let Some((word, span)) = word_of(expr) else {
        return Err(Diagnostic::new(
            "spel::verb::option_value",
            format!("`{name}` takes a word, one of {allowed}"),
        )
        .at(expr.span)
        .with_help(format!("write `{name} = {}`", words[0])));
    };
    if let Some(index) = words.iter().position(|w| *w == word) {
        return Ok(index);
    }
    let lower = word.to_lowercase();
    let diagnostic = Diagnostic::new(
        "spel::verb::option_value",
        format!("`{word}` is not a value of `{name}`"),
    )
    .at(span)
    .with_label(format!("`{name}` is one of {allowed}"));
    if let Some(same) = words.iter().find(|w| w.to_lowercase() == lower) {
        return Err(diagnostic.with_help(format!("did you mean `{same}`? words are lower case")));
    }
    let foreign = FOREIGN_WORDS
        .iter()
        .find(|(other, ours, _)| *other == lower && words.contains(ours));
    if let Some((_, ours, why)) = foreign {
        return Err(diagnostic.with_help(format!("did you mean `{ours}`? {why}")));
    }
    Err(diagnostic.suggest(did_you_mean(&lower, words.iter().copied())))
}

/// A constant option's value, checked against its kind.
pub fn constant(spec: &OptionSpec, expr: &Ast, env: &Env) -> Result<(Value, Span), Diagnostic> {
    let value = crate::eval::expr::evaluate(expr, env)?;
    let name = spec.name;
    let wrong = |what: &str| {
        Diagnostic::new(
            "spel::verb::option_value",
            format!("`{name}` takes {what}, not a {}", value.type_name()),
        )
        .at(expr.span)
        .with_note(format!("`{name}` is {}", spec.values))
    };
    match spec.kind {
        OptionKind::Number { min, max } | OptionKind::Whole { min, max } => {
            let whole = matches!(spec.kind, OptionKind::Whole { .. });
            let Value::Number(x) = value else {
                return Err(wrong(if whole { "a whole number" } else { "a number" }));
            };
            if x.is_nan() || x < min || x > max || (whole && x.fract() != 0.0) {
                return Err(Diagnostic::new(
                    "spel::verb::option_range",
                    format!("`{name} = {}` is out of range", crate::format::number(x)),
                )
                .at(expr.span)
                .with_label(format!("`{name}` is {}", spec.values))
                .with_help(range_help(name, min, max, whole)));
            }
        }
        OptionKind::Bool if !matches!(value, Value::Bool(_)) => {
            return Err(wrong("true or false"));
        }
        OptionKind::Text if !matches!(value, Value::Str(_)) => {
            return Err(wrong("a text in quotes"));
        }
        _ => {}
    }
    Ok((value, expr.span))
}

fn range_help(name: &str, min: f64, max: f64, whole: bool) -> String {
    let what = if whole { "a whole number" } else { "a number" };
    let n = crate::format::number;
    if (OptionKind::Number { min, max }) == OptionKind::PROBABILITY {
        return format!("`{name}` takes a probability, above 0 and below 1");
    }
    match (min == f64::MIN_POSITIVE, min.is_finite(), max.is_finite()) {
        (true, _, false) => format!("`{name}` takes {what} above 0"),
        (true, _, true) => format!("`{name}` takes {what} above 0, up to {}", n(max)),
        (false, true, true) => format!("`{name}` takes {what} from {} to {}", n(min), n(max)),
        (false, true, false) => format!("`{name}` takes {what} of {} or more", n(min)),
        (false, false, true) => format!("`{name}` takes {what} of {} or less", n(max)),
        (false, false, false) => format!("`{name}` takes {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_set_is_lower_case_and_distinct() {
        for verb in super::super::all() {
            for option in verb.options {
                let words = option.kind.words();
                for (i, w) in words.iter().enumerate() {
                    assert_eq!(w.to_lowercase(), *w, "{}: {}", verb.name, option.name);
                    assert!(!words[..i].contains(w), "{}: {}", verb.name, option.name);
                }
            }
        }
    }

    #[test]
    fn foreign_words_point_at_words_spel_has() {
        let all: Vec<&str> = super::super::all()
            .flat_map(|v| v.options.iter())
            .flat_map(|o| o.kind.words().iter().copied())
            .collect();
        for (foreign, ours, _) in FOREIGN_WORDS {
            assert!(all.contains(ours), "{foreign} -> {ours}");
            assert!(!all.contains(foreign) || *foreign == "ols", "{foreign}");
        }
    }
}
