//! Source text to [`Program`]: the layout pass, pest, then pairs to AST nodes.

mod depth;
mod errors;
mod expr;
mod formula;
mod statement;

use pest::Parser;
use pest::iterators::Pair;
use pest_derive::Parser;

use crate::ast::Program;
use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

#[derive(Parser)]
#[grammar = "spel.pest"]
pub(crate) struct SpelParser;

/// Parses a whole script, cell or REPL entry.
///
/// Errors come back as spel [`Diagnostic`]s in plain words; no pest message leaks out.
pub fn parse(src: &str, source: SourceId) -> Result<Program, Vec<Diagnostic>> {
    static DETAIL: std::sync::Once = std::sync::Once::new();
    // Detailed attempts give the furthest position and the literal tokens expected
    // there, which the plain-words conversion needs.
    DETAIL.call_once(|| pest::set_error_detail(true));

    let joined = crate::layout::join_continued_lines(src);
    depth::check_brackets(&joined, source).map_err(|d| vec![d])?;
    let mut pairs = match SpelParser::parse(Rule::program, &joined) {
        Ok(pairs) => pairs,
        Err(error) => return Err(vec![errors::to_diagnostic(&error, src, source)]),
    };
    let Some(program) = pairs.next() else {
        return Ok(Program { statements: vec![] });
    };
    let builder = Builder { source };
    let statements = program
        .into_inner()
        .filter(|p| p.as_rule() == Rule::statement)
        .map(|p| builder.statement(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|d| vec![d])?;
    Ok(Program { statements })
}

/// Turns pest pairs into AST nodes, stamping each with its span in `source`.
pub(crate) struct Builder {
    source: SourceId,
}

impl Builder {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        // Rules swallow trailing blanks before an optional repetition; a span should
        // cover only the text itself.
        let s = pair.as_span();
        let trimmed = pair.as_str().trim_end().len();
        Span::new(self.source, s.start(), s.start() + trimmed)
    }
}

/// A grammar rule matched something the AST builder did not expect: a bug, not a
/// user error.
fn unexpected(pair: &Pair<Rule>, builder: &Builder) -> Diagnostic {
    Diagnostic::internal(format!("unexpected {:?} in the parse tree", pair.as_rule()))
        .at(builder.span(pair))
}
