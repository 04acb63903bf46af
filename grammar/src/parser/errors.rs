//! The one boundary where pest errors become spel diagnostics in plain words.

use pest::error::{Error, InputLocation};

use super::Rule;
use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

/// "expected a value after `+`, found end of line", with the span at the furthest
/// point the parser reached (pest's detailed attempts, not its first guess).
pub(super) fn to_diagnostic(error: &Error<Rule>, src: &str, source: SourceId) -> Diagnostic {
    let fallback = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (position, mut expected) = match error.parse_attempts() {
        Some(attempts) => {
            let mut words: Vec<&'static str> = Vec::new();
            for token in attempts.expected_tokens() {
                if let Some(word) = token_words(&token.to_string()) {
                    words.push(word);
                }
            }
            for stack in attempts.call_stacks() {
                // A failed literal token is named by `expected_tokens` above; only a
                // failed rule says something more.
                if let Some(word) = stack.deepest.get_rule().copied().and_then(rule_words) {
                    words.push(word);
                }
            }
            (attempts.max_position, words)
        }
        None => (fallback, Vec::new()),
    };
    // The end of a statement is checked by lookahead, which pest does not report.
    if expected.contains(&"`|>`") {
        expected.push("end of the statement");
    }
    expected.sort_by_key(|w| word_rank(w));
    expected.dedup();
    let position_floor = floor_boundary(src, position.min(src.len()));
    let previous = src[..position_floor].trim_end().chars().last();
    let after_connective = operator_before(src, position).is_some();
    let after_value = !after_connective
        && previous
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, ')' | ']' | '"' | '`' | '_'));
    let value_words = [
        "a value", "a name", "a number", "a string", "a date", "a term",
    ];
    if after_value && expected.iter().any(|w| !value_words.contains(w)) {
        // After a complete value, "expected a value" only restates backtracking.
        expected.retain(|w| !value_words.contains(w));
    } else if expected
        .iter()
        .any(|w| value_words.contains(w) || *w == "an argument")
    {
        // A `-` or `!` could start a value here; that is not "an operator".
        expected.retain(|w| *w != "an operator");
    }
    let position = position.min(src.len());
    let found = found_at(src, position);
    if operator_before(src, position) == Some("|>") && expected == ["a name"] {
        expected = vec!["a verb"];
    }
    if matches!(found, Found::End)
        && let Some(diagnostic) = unclosed_at_end(src, source)
    {
        return diagnostic;
    }
    if let Found::Text(t) = &found
        && (t == ")" || t == "]")
        && unmatched_closer(&src[..position], t)
    {
        return Diagnostic::new(
            "spel::parse::unmatched",
            format!("`{t}` without an opening bracket"),
        )
        .at(Span::new(source, position, position + 1))
        .with_label("nothing opened this")
        .with_help("remove it, or add the opening bracket where it belongs");
    }
    if let Found::Text(t) = &found
        && t.starts_with('>')
        && src[..position].ends_with('|')
        && inside_brackets(&src[..position])
    {
        return Diagnostic::new(
            "spel::parse::pipe_in_brackets",
            "a pipeline `|>` cannot stand inside brackets",
        )
        .at(Span::new(source, position - 1, position + 1))
        .with_label("a pipeline inside brackets")
        .with_help(
            "name its result first, as `m = d |> model y ~ x`, then use the name: `tidy m on x`",
        );
    }
    let after = operator_before(src, position);

    let what = if expected.is_empty() {
        "something else".to_string()
    } else {
        join_or(&expected)
    };
    let mut message = format!("expected {what}");
    if let Some(op) = after {
        message.push_str(&format!(" after `{op}`"));
    }
    message.push_str(&format!(", found {}", found.describe()));

    let blanks = src[floor_boundary(src, position)..].len()
        - src[floor_boundary(src, position)..]
            .trim_start_matches([' ', '\t'])
            .len();
    let position = position + blanks;
    let span = Span::new(source, position, position + found.len());
    let mut diagnostic = Diagnostic::new("spel::parse::syntax", message)
        .at(span)
        .with_label(format!("expected {what} here"));
    if let Some(help) = help_for(src, position, &found) {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostic
}

/// Whether the end of `before` is inside round or square brackets.
fn inside_brackets(before: &str) -> bool {
    !unmatched_closer(before, ")") || !unmatched_closer(before, "]")
}

/// Whether a closer at the end of `before` has no opener left to close (strings and
/// comments are blanked by the layout pass first, so their brackets do not count).
fn unmatched_closer(before: &str, closer: &str) -> bool {
    let opener = if closer == ")" { '(' } else { '[' };
    let closer = if closer == ")" { ')' } else { ']' };
    let blanked = crate::layout::join_continued_lines(before);
    let without_strings = blank_strings(&blanked);
    let opened = without_strings.matches(opener).count();
    let closed = without_strings.matches(closer).count();
    closed >= opened
}

fn blank_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => escaped = false,
            }
            out.push(' ');
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// An input that stops inside a string, backtick name or bracket: point at the opener.
fn unclosed_at_end(src: &str, source: SourceId) -> Option<Diagnostic> {
    let (at, opener) = crate::layout::unclosed_opener(src)?;
    let (what, closer) = match opener {
        '"' => ("string", '"'),
        '`' => ("quoted name", '`'),
        '(' => ("bracket", ')'),
        '[' => ("list", ']'),
        _ => ("brace", '}'),
    };
    Some(
        Diagnostic::new(
            "spel::parse::unclosed",
            format!("this {what} is never closed"),
        )
        .at(Span::new(source, at, at + 1))
        .with_label(format!("opened here; the input ends before a `{closer}`"))
        .with_help(format!("add the closing `{closer}`")),
    )
}

/// What stands at the error position, for "found ...".
enum Found {
    End,
    EndOfLine,
    Text(String),
}

impl Found {
    fn describe(&self) -> String {
        match self {
            Found::End => "end of input".into(),
            Found::EndOfLine => "end of line".into(),
            Found::Text(t) => format!("`{t}`"),
        }
    }

    fn len(&self) -> usize {
        match self {
            Found::Text(t) => t.len(),
            _ => 0,
        }
    }
}

fn found_at(src: &str, position: usize) -> Found {
    let rest = src[floor_boundary(src, position)..].trim_start_matches([' ', '\t']);
    let Some(first) = rest.chars().next() else {
        return Found::End;
    };
    if first == '\n' || first == '\r' {
        return Found::EndOfLine;
    }
    let word: String = if first.is_alphanumeric() || first == '_' {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect()
    } else {
        let two: String = rest.chars().take(2).collect();
        match two.as_str() {
            "==" | "!=" | "<=" | ">=" | "|>" => two,
            _ => first.to_string(),
        }
    };
    Found::Text(word)
}

/// The operator just before `position` (ignoring blanks), if the text there ends in one.
fn operator_before(src: &str, position: usize) -> Option<&str> {
    let before = src[..floor_boundary(src, position)].trim_end();
    let last_word = before
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("");
    let connectives = ["by", "on", "as", "to", "per", "of", "from", "in"];
    if let Some(word) = connectives.into_iter().find(|w| *w == last_word) {
        return Some(word);
    }
    [
        "|>", "==", "!=", "<=", ">=", "+", "-", "*", "/", "^", "&", "|", "~", "=", ",", ":", "<",
        ">", "!",
    ]
    .into_iter()
    .find(|op| before.ends_with(op))
}

fn floor_boundary(src: &str, mut position: usize) -> usize {
    while position > 0 && !src.is_char_boundary(position) {
        position -= 1;
    }
    position
}

/// Hints for the common slips.
fn help_for(src: &str, position: usize, found: &Found) -> Option<String> {
    let before = src[..floor_boundary(src, position)].trim_end();
    match found {
        Found::Text(t) if t == "=" && !before.is_empty() => {
            Some("to compare, write `==`; `=` names a value or an option".into())
        }
        Found::Text(t) if t == "'" => Some("strings use double quotes: \"like this\"".into()),
        Found::Text(t) if t == ")" || t == "]" => {
            Some(format!("this `{t}` has no matching opening bracket"))
        }
        _ => None,
    }
}

/// Literal tokens worth naming; whitespace and single letters of keywords are not.
fn token_words(token: &str) -> Option<&'static str> {
    Some(match token {
        "~" => "`~`",
        ")" => "`)`",
        "]" => "`]`",
        "(" => "`(`",
        "," => "`,`",
        "=" => "`=`",
        "|>" => "`|>`",
        "\"" => "a string",
        "`" => "a name",
        "+" | "-" | "*" | "/" | "^" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "&" | "|" => {
            "an operator"
        }
        _ => return None,
    })
}

fn rule_words(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::identifier
        | Rule::bare_identifier
        | Rule::quoted_identifier
        | Rule::function_name => "a name",
        Rule::number => "a number",
        Rule::string | Rule::string_body => "a string",
        Rule::date => "a date",
        Rule::expr | Rule::call | Rule::list | Rule::boolean | Rule::call_arg => "a value",
        Rule::formula_rhs
        | Rule::formula_term
        | Rule::crossed_term
        | Rule::interaction
        | Rule::formula_factor
        | Rule::formula_power
        | Rule::removed_term => "a term",
        Rule::verb_call | Rule::statement | Rule::assignment | Rule::pipeline => "a statement",
        Rule::arguments | Rule::argument | Rule::named_argument | Rule::ordered_expr => {
            "an argument"
        }
        Rule::connective | Rule::clause => "`by`, `on`, `as`, `to`, `per`, `of` or `from`",
        Rule::EOI | Rule::program | Rule::separator => "end of the statement",
        Rule::pipe => "`|>`",
        Rule::tilde => "`~`",
        Rule::assign => "`=`",
        Rule::condition_bar => "`|`",
        _ => return None,
    })
}

/// Values first, punctuation last, so the message reads naturally.
fn word_rank(word: &str) -> usize {
    [
        "a statement",
        "an argument",
        "a term",
        "a value",
        "a name",
        "a number",
        "a string",
        "a date",
        "`=`",
        "`~`",
        "`,`",
        "`)`",
        "`]`",
        "`|`",
        "an operator",
        "`|>`",
        "end of the statement",
    ]
    .iter()
    .position(|w| *w == word)
    .unwrap_or(usize::MAX)
}

fn join_or(words: &[&str]) -> String {
    let words = simplify(words);
    match words.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// "a value" covers names, numbers, strings and dates; "an argument" covers values.
fn simplify<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let has = |w: &str| words.contains(&w);
    words
        .iter()
        .copied()
        .filter(|w| {
            let covered_by_value = matches!(*w, "a name" | "a number" | "a string" | "a date");
            let covered_by_argument =
                matches!(*w, "a value" | "a term" | "`(`") || covered_by_value;
            let is_paren = *w == "`(`";
            let has_value = has("a value") || has("a term") || has("an argument");
            !((covered_by_value || is_paren) && has_value
                || covered_by_argument && has("an argument") && *w != "an argument")
        })
        .take(5)
        .collect()
}
