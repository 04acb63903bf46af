//! Where statements end: the continuation rules of the language, implemented once.
//!
//! A statement goes on to the next line while a bracket is open, while the line ends in
//! an operator, `,` or `~`, or when the next line begins with `|>` or with a connective
//! (`by`, `on`, `as`, `to`, `per`, `of`, `from`), which can never begin a statement. This pass decides
//! which newlines end statements and blanks out the rest (and comments) with spaces, so
//! byte offsets are unchanged and the grammar only ever sees a newline where a
//! statement ends. [`is_complete`] answers the REPL's and the kernel's question from the
//! same scan.

/// Whether input is ready to run (the Jupyter `is_complete` and REPL validator answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    /// More lines are needed; `indent` is what the next line might start with.
    Incomplete {
        indent: String,
    },
    /// The input will not parse however it goes on; running it shows the error.
    Invalid,
}

/// The end state of a scan: what is still open when the text stops.
struct Scan {
    text: String,
    open_brackets: usize,
    in_string: bool,
    in_backticks: bool,
    ends_in_operator: bool,
    /// Byte offset and character of the innermost opener (bracket, quote or backtick)
    /// still open at the end of the text.
    unclosed: Option<(usize, u8)>,
}

/// The innermost bracket, string or backtick name left open at the end of `src`.
pub(crate) fn unclosed_opener(src: &str) -> Option<(usize, char)> {
    scan(src).unclosed.map(|(at, c)| (at, c as char))
}

/// The source with non-terminating newlines and comments replaced by spaces.
pub fn join_continued_lines(src: &str) -> String {
    scan(src).text
}

/// Complete, incomplete (with an indent) or invalid, by the continuation rules and
/// then the parser.
pub fn is_complete(src: &str) -> Completeness {
    let scanned = scan(src);
    if scanned.in_string || scanned.in_backticks || scanned.open_brackets > 0 {
        return Completeness::Incomplete {
            indent: "  ".repeat(scanned.open_brackets.max(1)),
        };
    }
    if scanned.ends_in_operator {
        return Completeness::Incomplete {
            indent: "  ".into(),
        };
    }
    match crate::parse(src, crate::SourceId(0)) {
        Ok(_) => Completeness::Complete,
        Err(_) => Completeness::Invalid,
    }
}

/// Characters that, ending a line, continue the statement on the next one.
fn is_continuing(byte: u8) -> bool {
    matches!(
        byte,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'^'
            | b'='
            | b'<'
            | b'>'
            | b'!'
            | b'&'
            | b'|'
            | b'~'
            | b','
            | b':'
    )
}

fn scan(src: &str) -> Scan {
    let bytes = src.as_bytes();
    let mut out = bytes.to_vec();
    let mut brackets: Vec<(usize, u8)> = Vec::new();
    let mut quote_at = 0;
    let mut in_string = false;
    let mut in_backticks = false;
    let mut last_significant: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if in_backticks {
            if b == b'`' {
                in_backticks = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                quote_at = i;
                last_significant = Some(b);
            }
            b'`' => {
                in_backticks = true;
                quote_at = i;
                last_significant = Some(b);
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                brackets.push((i, b));
                last_significant = Some(b);
            }
            b')' | b']' | b'}' => {
                let opener = match b {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                if brackets.last().is_some_and(|&(_, open)| open == opener) {
                    brackets.pop();
                }
                last_significant = Some(b);
            }
            b'\n' => {
                let continued = !brackets.is_empty()
                    || last_significant.is_some_and(is_continuing)
                    || next_line_continues(bytes, i + 1);
                if continued {
                    out[i] = b' ';
                    if i > 0 && bytes[i - 1] == b'\r' {
                        out[i - 1] = b' ';
                    }
                } else {
                    last_significant = None;
                }
            }
            b' ' | b'\t' | b'\r' => {}
            _ => last_significant = Some(b),
        }
        i += 1;
    }
    let ends_in_operator = last_significant.is_some_and(is_continuing);
    let unclosed = if in_string {
        Some((quote_at, b'"'))
    } else if in_backticks {
        Some((quote_at, b'`'))
    } else {
        brackets.last().copied()
    };
    Scan {
        // Only ASCII bytes were replaced by ASCII spaces, so this stays valid UTF-8.
        text: String::from_utf8(out).unwrap_or_else(|_| src.to_string()),
        open_brackets: brackets.len(),
        in_string,
        in_backticks,
        ends_in_operator,
        unclosed,
    }
}

/// Whether the next line that holds anything but blanks and comments begins with `|>`
/// or a connective word.
fn next_line_continues(bytes: &[u8], mut i: usize) -> bool {
    loop {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let rest = &bytes[i..];
        let word_end = rest
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.'))
            .unwrap_or(rest.len());
        let word = &rest[..word_end];
        let connective = [&b"by"[..], b"on", b"as", b"to", b"per", b"of", b"from"].contains(&word)
            && rest.get(word_end) != Some(&b'(');
        return rest.starts_with(b"|>") || connective;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incomplete(src: &str) -> bool {
        matches!(is_complete(src), Completeness::Incomplete { .. })
    }

    #[test]
    fn continuation_rules() {
        assert!(incomplete("x = (1 +"));
        assert!(incomplete("x = 1 +"));
        assert!(incomplete("model y ~"));
        assert!(incomplete("tabulate region,"));
        assert!(incomplete("print \"unterminated"));
        assert!(incomplete("x = [1, 2"));
        assert!(incomplete("d |>"));
        assert_eq!(is_complete("x = 6 * 7"), Completeness::Complete);
        assert_eq!(is_complete("x = (1 + 2))"), Completeness::Invalid);
        assert_eq!(is_complete("x = 1 +\n  2"), Completeness::Complete);
    }

    #[test]
    fn newlines_inside_strings_and_comments_are_kept_apart() {
        let src = "a = 1 + # note (\n 2\nb = \"x\ny\"";
        let joined = join_continued_lines(src);
        assert_eq!(joined.len(), src.len());
        assert_eq!(joined.matches('\n').count(), 2, "{joined:?}");
        assert!(joined.starts_with("a = 1 + ") && !joined.contains('#'));
        let clause = join_continued_lines("summarise n()\n  by region\nbyline = 1");
        assert_eq!(clause.matches('\n').count(), 1, "{clause:?}");
        let piped = join_continued_lines("d\n  # comment\n  |> head 2");
        assert!(
            !piped.contains('\n') && piped.ends_with("|> head 2"),
            "{piped:?}"
        );
    }
}
