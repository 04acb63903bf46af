//! The rustyline helper: completion from the engine, syntax highlighting, and a hint
//! of a verb's signature as it is typed. No language knowledge lives here beyond
//! colouring: candidates, names and signatures all come from the engine.

use spel_stdlib::guard::guarded;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use spel_stdlib::{Session, verbs};

pub struct SpelHelper {
    pub session: Rc<RefCell<Session>>,
    /// Column names of the session's tables, refreshed after each statement.
    pub columns: HashSet<String>,
    pub colour: bool,
}

impl SpelHelper {
    pub fn new(session: Rc<RefCell<Session>>, colour: bool) -> Self {
        let mut helper = SpelHelper {
            session,
            columns: HashSet::new(),
            colour,
        };
        helper.refresh();
        helper
    }

    /// Re-reads the column names the session knows (after a statement ran).
    pub fn refresh(&mut self) {
        if let Some(columns) = guarded(|| self.session.borrow().known_columns()) {
            self.columns = columns.into_iter().collect();
        }
    }
}

impl Completer for SpelHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let Some(completions) = guarded(|| self.session.borrow().complete(line, pos)) else {
            return Ok((pos, Vec::new()));
        };
        let pairs = completions
            .candidates
            .into_iter()
            .map(|c| Pair {
                display: format!("{}  ({})", c.text, c.detail),
                replacement: c.text,
            })
            .collect();
        Ok((completions.start, pairs))
    }
}

/// A verb's signature shown after the cursor; never inserted.
pub struct SignatureHint(String);

impl Hint for SignatureHint {
    fn display(&self) -> &str {
        &self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Hinter for SpelHelper {
    type Hint = SignatureHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<SignatureHint> {
        // A bug in completion, a hint or the colours costs that keystroke's help, never
        // the session (the panic hook is silent in the REPL).
        guarded(|| {
            spel_stdlib::guard::fault_point("hint");
            signature_hint(line, pos)
        })
        .flatten()
        .map(SignatureHint)
    }
}

/// After `verb ` at the start of a statement or after `|>`, the rest of its signature.
pub fn signature_hint(line: &str, pos: usize) -> Option<String> {
    if pos != line.len() || !line.ends_with(' ') {
        return None;
    }
    let before = line.trim_end();
    let stage = before.rsplit("|>").next().unwrap_or(before);
    let stage = match stage.split_once('=') {
        Some((name, rest)) if !name.trim().contains(' ') && !rest.starts_with('=') => rest,
        _ => stage,
    };
    let word = stage.trim();
    if word.contains(char::is_whitespace) {
        return None;
    }
    let verb = verbs::find(word)?;
    let rest = verb.signature.strip_prefix(verb.name)?.trim_start();
    (!rest.is_empty()).then(|| rest.to_string())
}

impl Highlighter for SpelHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.colour {
            return Cow::Borrowed(line);
        }
        match guarded(|| {
            spel_stdlib::guard::fault_point("highlight");
            highlight(line, &self.columns)
        }) {
            Some(coloured) => Cow::Owned(coloured),
            None => Cow::Borrowed(line),
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if !self.colour {
            return Cow::Borrowed(hint);
        }
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.colour
    }
}

/// Continuation is decided by the REPL loop (with the grammar's `is_complete`), so
/// that it can show its own `  ... ` prompt.
impl Validator for SpelHelper {}

impl Helper for SpelHelper {}

const KEYWORDS: &[&str] = &[
    "by", "on", "as", "to", "per", "of", "from", "asc", "desc", "in", "true", "false",
];

/// Colours a line without changing its width: verbs, keywords, strings, numbers,
/// comments and the session's column names.
pub fn highlight(line: &str, columns: &HashSet<String>) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    let mut rest = line;
    let paint = |out: &mut String, code: &str, text: &str| {
        out.push_str(&format!("\x1b[{code}m{text}\x1b[0m"));
    };
    while let Some(c) = rest.chars().next() {
        let taken = match c {
            '#' => {
                paint(&mut out, "2", rest);
                rest.len()
            }
            '"' | '`' => {
                let mut escaped = false;
                let close = rest[1..]
                    .char_indices()
                    .find(|&(_, ch)| {
                        let end = ch == c && !escaped;
                        escaped = ch == '\\' && !escaped;
                        end
                    })
                    .map_or(rest.len(), |(i, _)| i + 2);
                let code = if c == '"' { "32" } else { "33" };
                paint(&mut out, code, &rest[..close]);
                close
            }
            c if c.is_ascii_digit() => {
                let end = rest
                    .find(|ch: char| !(ch.is_ascii_digit() || ch == '.' || ch == '-' || ch == 'e'))
                    .unwrap_or(rest.len());
                paint(&mut out, "36", &rest[..end]);
                end
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = rest
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '.'))
                    .unwrap_or(rest.len());
                let word = &rest[..end];
                if KEYWORDS.contains(&word) {
                    paint(&mut out, "35", word);
                } else if verbs::find(word).is_some() {
                    paint(&mut out, "1;34", word);
                } else if columns.contains(word) {
                    paint(&mut out, "33", word);
                } else {
                    out.push_str(word);
                }
                end
            }
            _ => {
                out.push(c);
                c.len_utf8()
            }
        };
        rest = &rest[taken..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for d in chars.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn highlighting_keeps_the_text_and_colours_each_kind() {
        let columns: HashSet<String> = ["FTE".to_string()].into();
        let line = "wf |> filter FTE > 0.5 & x in [\"a\\\"b\"] # note";
        let coloured = highlight(line, &columns);
        assert_eq!(strip_ansi(&coloured), line);
        assert!(coloured.contains("\x1b[1;34mfilter\x1b[0m"));
        assert!(coloured.contains("\x1b[33mFTE\x1b[0m"));
        assert!(coloured.contains("\x1b[36m0.5\x1b[0m"));
        assert!(coloured.contains("\x1b[35min\x1b[0m"));
        assert!(coloured.contains("\x1b[32m\"a\\\"b\"\x1b[0m"));
        assert!(coloured.contains("\x1b[2m# note\x1b[0m"));
    }

    #[test]
    fn hints_show_the_signature_after_a_verb() {
        assert_eq!(
            signature_hint("filter ", 7).as_deref(),
            Some("CONDITION [, CONDITION ...]")
        );
        assert_eq!(
            signature_hint("d |> sort ", 10).as_deref(),
            Some("COLUMN [asc|desc], ...")
        );
        assert_eq!(
            signature_hint("x = head ", 9).as_deref(),
            Some("[N] [from TABLE]")
        );
        assert_eq!(signature_hint("filter x ", 9), None);
        assert_eq!(signature_hint("filter", 6), None);
    }

    #[test]
    fn completion_comes_from_the_session() {
        let session = Rc::new(RefCell::new(Session::new()));
        session
            .borrow_mut()
            .execute(
                "wf = table FTE = [1], PCN_CODE = [\"a\"]",
                "<test>",
                &mut |_| {},
            )
            .unwrap();
        let helper = SpelHelper::new(session, false);
        let history = rustyline::history::DefaultHistory::new();
        let ctx = Context::new(&history);
        let (start, pairs) = helper.complete("wf |> filter PC", 15, &ctx).unwrap();
        assert_eq!(start, 13);
        assert_eq!(pairs[0].replacement, "PCN_CODE");
        let (_, pairs) = helper.complete("wf |> desc", 10, &ctx).unwrap();
        assert_eq!(
            pairs
                .iter()
                .map(|p| p.replacement.as_str())
                .collect::<Vec<_>>(),
            ["describe"]
        );
        assert!(helper.columns.contains("FTE"));
    }
}
