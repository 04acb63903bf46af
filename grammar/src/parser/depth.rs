//! How deep and how long input may be. The parser's and the engine's walks over an
//! expression recurse once per level of nesting, so the levels are limited before
//! anything recurses: brackets before pest reads the text, everything else on the built
//! expression. A chain of one operator (`a + b + c + …`) is not nesting; the walks go
//! along it in a loop. Its length is limited too, for polars: its type checks and
//! optimiser walk a chain once per link (a 1,000-term sum took a minute).

use crate::ast::{BinaryOp, Expr, ExprKind};
use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};

/// Levels of brackets, prefix operators, powers and calls an expression may nest.
pub const MAX_NESTING: usize = 256;
/// Operators (`+`, `-`, `==`, `!`, …) in one expression.
pub const MAX_OPERATORS: usize = 200;

fn too_deep(span: Span, what: &str) -> Diagnostic {
    Diagnostic::new(
        "spel::parse::too_deep",
        format!("{what} nest more than {MAX_NESTING} levels deep here, spel's limit"),
    )
    .at(span)
    .with_help("name a part first (`part = …`) and use the name")
}

/// The first bracket that opens a level beyond the limit, outside strings and
/// quoted names (`text` is the layout pass's, offsets as in the source).
pub fn check_brackets(text: &str, source: SourceId) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q == '"' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(Span::new(source, at, at + 1), "brackets"));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The class of operators that chain without nesting: `+` with `-`, `*` with `/`, ...
fn chains_with(a: BinaryOp, b: BinaryOp) -> bool {
    use BinaryOp::*;
    let class = |op| match op {
        Or => 1,
        And => 2,
        Eq | NotEq | Lt | LtEq | Gt | GtEq | In => 3,
        Add | Sub => 4,
        Mul | Div => 5,
        Pow => 7,
    };
    a != Pow && class(a) == class(b)
}

/// The first part of `expr` that nests beyond the limit, or `expr` if it has too many
/// operators; found without recursion.
pub fn check_expr(expr: &Expr) -> Result<(), Diagnostic> {
    let mut stack: Vec<(&Expr, usize)> = vec![(expr, 0)];
    let mut operators = 0;
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_NESTING {
            return Err(too_deep(node.span, "expressions"));
        }
        if matches!(node.kind, ExprKind::Binary { .. } | ExprKind::Unary { .. }) {
            operators += 1;
        }
        match &node.kind {
            ExprKind::Binary { op, left, right } => {
                let continues = matches!(&left.kind, ExprKind::Binary { op: inner, .. } if chains_with(*op, *inner));
                stack.push((left, if continues { depth } else { depth + 1 }));
                stack.push((right, depth + 1));
            }
            ExprKind::Unary { operand, .. } => stack.push((operand, depth + 1)),
            ExprKind::Call { args, .. } => {
                stack.extend(args.iter().map(|a| (&a.value, depth + 1)));
            }
            ExprKind::List(items) => stack.extend(items.iter().map(|e| (e, depth + 1))),
            _ => {}
        }
    }
    if operators > MAX_OPERATORS {
        return Err(Diagnostic::new(
            "spel::parse::too_long",
            format!(
                "this expression has {operators} operators, more than spel's limit of \
                 {MAX_OPERATORS}"
            ),
        )
        // Its first character: a chain this long runs past any screen's width.
        .at(Span::new(
            expr.span.source,
            expr.span.start,
            expr.span.start + 1,
        ))
        .with_label("this expression")
        .with_help(
            "build it in steps: name a part (`part = …`, or `derive part = …`) and use the name",
        ));
    }
    Ok(())
}
