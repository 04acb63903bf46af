//! Expressions by operator precedence, loosest first: `|`, `&`, comparisons and `in`,
//! `+ -`, `* /`, unary `- !`, then `^` (right-associative). Climbed over a loop with
//! explicit stacks (shunting-yard), so a chain of 20,000 terms or prefixes costs no
//! depth of the parser's own stack; how deep an expression may nest, and how many
//! operators it may have, is checked after (see `depth.rs`).

use pest::iterators::{Pair, Pairs};

use super::statement::first_child;
use super::{Builder, Rule, unexpected};
use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// How tightly an operator binds; prefix operators bind tighter than `*` and looser
/// than `^`, so `-2^2` is `-(2^2)`.
fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq
        | BinaryOp::In => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div => 5,
        BinaryOp::Pow => 7,
    }
}
const PREFIX: u8 = 6;

fn binary_op(rule: Rule) -> Option<BinaryOp> {
    Some(match rule {
        Rule::or => BinaryOp::Or,
        Rule::and => BinaryOp::And,
        Rule::eq => BinaryOp::Eq,
        Rule::not_eq => BinaryOp::NotEq,
        Rule::lt => BinaryOp::Lt,
        Rule::lt_eq => BinaryOp::LtEq,
        Rule::gt => BinaryOp::Gt,
        Rule::gt_eq => BinaryOp::GtEq,
        Rule::kw_in => BinaryOp::In,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        Rule::pow => BinaryOp::Pow,
        _ => return None,
    })
}

/// An operator waiting for its operands.
enum Pending {
    Prefix(UnaryOp, Span),
    Infix(BinaryOp),
}

impl Pending {
    fn precedence(&self) -> u8 {
        match self {
            Pending::Prefix(..) => PREFIX,
            Pending::Infix(op) => precedence(*op),
        }
    }
}

/// The operands built so far and the operators not yet applied.
#[derive(Default)]
struct Climb {
    operands: Vec<Expr>,
    pending: Vec<Pending>,
}

impl Climb {
    /// Applies the operators on the stack that bind at least as tightly as an infix
    /// operator of precedence `incoming` (more tightly, for the right-associative `^`).
    fn reduce_for(&mut self, incoming: BinaryOp) {
        let p = precedence(incoming);
        while let Some(top) = self.pending.last() {
            let tighter =
                top.precedence() > p || (top.precedence() == p && incoming != BinaryOp::Pow);
            if !tighter {
                break;
            }
            self.apply();
        }
    }

    fn apply(&mut self) {
        let Some(op) = self.pending.pop() else { return };
        let Some(right) = self.operands.pop() else {
            return;
        };
        let expr = match op {
            Pending::Prefix(op, at) => Expr {
                span: at.to(right.span),
                kind: ExprKind::Unary {
                    op,
                    operand: Box::new(right),
                },
            },
            Pending::Infix(op) => {
                let Some(left) = self.operands.pop() else {
                    return;
                };
                Expr {
                    span: left.span.to(right.span),
                    kind: ExprKind::Binary {
                        op,
                        left: Box::new(left),
                        right: Box::new(right),
                    },
                }
            }
        };
        self.operands.push(expr);
    }
}

impl Builder {
    pub(super) fn expr(&self, pair: Pair<Rule>) -> Result<Expr, Diagnostic> {
        let span = self.span(&pair);
        let expr = self
            .climb(pair.into_inner())?
            .ok_or_else(|| Diagnostic::internal("an expression without a value").at(span))?;
        super::depth::check_expr(&expr)?;
        Ok(expr)
    }

    fn climb(&self, pairs: Pairs<Rule>) -> Result<Option<Expr>, Diagnostic> {
        let mut climb = Climb::default();
        for pair in pairs {
            match pair.as_rule() {
                Rule::neg => climb
                    .pending
                    .push(Pending::Prefix(UnaryOp::Neg, self.span(&pair))),
                Rule::not => climb
                    .pending
                    .push(Pending::Prefix(UnaryOp::Not, self.span(&pair))),
                rule => match binary_op(rule) {
                    Some(op) => {
                        climb.reduce_for(op);
                        climb.pending.push(Pending::Infix(op));
                    }
                    None => climb.operands.push(self.primary(pair)?),
                },
            }
        }
        while !climb.pending.is_empty() {
            climb.apply();
        }
        Ok(climb.operands.pop())
    }

    pub(super) fn primary(&self, pair: Pair<Rule>) -> Result<Expr, Diagnostic> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::expr => return self.expr(pair),
            Rule::number => {
                let text = pair.as_str();
                let value = text.parse::<f64>().map_err(|_| {
                    Diagnostic::new("spel::parse::number", format!("`{text}` is not a number"))
                        .at(span)
                })?;
                ExprKind::Number(value)
            }
            Rule::string => {
                let body = first_child(&pair, self)?;
                ExprKind::Str(unescape(body.as_str()))
            }
            Rule::boolean => {
                let word = first_child(&pair, self)?;
                ExprKind::Bool(word.as_rule() == Rule::kw_true)
            }
            Rule::date => ExprKind::Date(pair.as_str().to_string()),
            Rule::identifier => ExprKind::Ident(self.ident(pair).name),
            Rule::list => {
                let items = pair.into_inner().map(|p| self.expr(p));
                ExprKind::List(items.collect::<Result<_, _>>()?)
            }
            Rule::call => return self.call(pair),
            _ => return Err(unexpected(&pair, self)),
        };
        Ok(Expr { kind, span })
    }

    pub(super) fn call(&self, pair: Pair<Rule>) -> Result<Expr, Diagnostic> {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let Some(function) = parts.next() else {
            return Err(Diagnostic::internal("call without a name").at(span));
        };
        let function = self.ident(function);
        let mut args = Vec::new();
        for arg in parts {
            let mut inner = arg.into_inner().filter(|p| p.as_rule() != Rule::assign);
            let (Some(first), second) = (inner.next(), inner.next()) else {
                continue;
            };
            args.push(match second {
                Some(value) => CallArg {
                    name: Some(self.ident(first)),
                    value: self.expr(value)?,
                },
                None => CallArg {
                    name: None,
                    value: self.expr(first)?,
                },
            });
        }
        Ok(Expr {
            kind: ExprKind::Call { function, args },
            span,
        })
    }
}

/// `\"`, `\\`, `\n`, `\t`; any other escaped character stands for itself.
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use pest::Parser;
    use pest::pratt_parser::{Assoc, Op, PrattParser};

    use super::*;
    use crate::parser::SpelParser;
    use crate::span::SourceId;

    /// pest's Pratt parser with the precedence the climber implements: the reference
    /// the climber must equal.
    fn reference(builder: &Builder, pairs: Pairs<Rule>) -> Expr {
        let pratt = PrattParser::new()
            .op(Op::infix(Rule::or, Assoc::Left))
            .op(Op::infix(Rule::and, Assoc::Left))
            .op(Op::infix(Rule::eq, Assoc::Left)
                | Op::infix(Rule::not_eq, Assoc::Left)
                | Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::lt_eq, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::gt_eq, Assoc::Left)
                | Op::infix(Rule::kw_in, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
            .op(Op::prefix(Rule::neg) | Op::prefix(Rule::not))
            .op(Op::infix(Rule::pow, Assoc::Right));
        pratt
            .map_primary(|p| match p.as_rule() {
                Rule::expr => reference(builder, p.into_inner()),
                _ => builder.primary(p).unwrap(),
            })
            .map_prefix(|op, operand| Expr {
                span: builder.span(&op).to(operand.span),
                kind: ExprKind::Unary {
                    op: if op.as_rule() == Rule::neg {
                        UnaryOp::Neg
                    } else {
                        UnaryOp::Not
                    },
                    operand: Box::new(operand),
                },
            })
            .map_infix(|left, op, right| Expr {
                span: left.span.to(right.span),
                kind: ExprKind::Binary {
                    op: binary_op(op.as_rule()).unwrap(),
                    left: Box::new(left),
                    right: Box::new(right),
                },
            })
            .parse(pairs)
    }

    fn next(state: &mut u64, n: u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state % n
    }

    /// A random expression of every operator, prefixes and brackets (xorshift, seeded).
    fn random_expr(state: &mut u64, depth: u32) -> String {
        let infix = [
            "|", "&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "^",
        ];
        let mut out = String::new();
        for term in 0..=next(state, 5) {
            if term > 0 {
                out += &format!(" {} ", infix[next(state, infix.len() as u64) as usize]);
            }
            for _ in 0..next(state, 3) {
                out += if next(state, 2) == 0 { "-" } else { "!" };
            }
            match next(state, 4) {
                0 if depth > 0 => out += &format!("({})", random_expr(state, depth - 1)),
                1 => out += "x",
                _ => out += &next(state, 10).to_string(),
            }
        }
        out
    }

    #[test]
    fn the_climber_equals_pests_pratt_parser() {
        let builder = Builder {
            source: SourceId(0),
        };
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..3000 {
            let text = random_expr(&mut state, 3);
            let pair = SpelParser::parse(Rule::expr, &text)
                .unwrap_or_else(|e| panic!("{text}: {e}"))
                .next()
                .unwrap();
            let climbed = builder.expr(pair.clone()).unwrap();
            assert_eq!(climbed, reference(&builder, pair.into_inner()), "{text}");
        }
    }

    #[test]
    fn chains_of_any_length_and_nesting_to_the_limit() {
        let builder = Builder {
            source: SourceId(0),
        };
        let parse = |text: &str| {
            let pair = SpelParser::parse(Rule::expr, text).unwrap().next().unwrap();
            builder.expr(pair)
        };
        use super::super::depth::{MAX_NESTING, MAX_OPERATORS};
        // A chain as long as the operator limit allows nests no deeper than one level.
        assert!(parse(&vec!["1"; MAX_OPERATORS + 1].join(" + ")).is_ok());
        assert!(parse(&vec!["x"; MAX_OPERATORS + 1].join(" * ")).is_ok());
        let error = parse(&vec!["1"; 20_000].join(" + ")).unwrap_err();
        assert_eq!(error.code, "spel::parse::too_long");
        assert!(
            error.message.contains("19999 operators"),
            "{}",
            error.message
        );
        let deep = |n: usize| format!("{}1", "-".repeat(n));
        assert!(parse(&deep(MAX_NESTING.min(MAX_OPERATORS))).is_ok());
        let error = parse(&deep(20_000)).unwrap_err();
        assert_eq!(error.code, "spel::parse::too_deep");
        let error = parse(&vec!["2"; 20_000].join(" ^ ")).unwrap_err();
        assert_eq!(error.code, "spel::parse::too_deep");
    }
}
