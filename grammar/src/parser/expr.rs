//! Expressions by operator precedence (pest's Pratt parser), loosest first:
//! `|`, `&`, comparisons and `in`, `+ -`, `* /`, unary `- !`, then `^`.

use std::sync::LazyLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::statement::first_child;
use super::{Builder, Rule, unexpected};
use crate::ast::*;
use crate::diagnostic::Diagnostic;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
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
        .op(Op::infix(Rule::pow, Assoc::Right))
});

impl Builder {
    pub(super) fn expr(&self, pair: Pair<Rule>) -> Result<Expr, Diagnostic> {
        self.climb(pair.into_inner())
    }

    fn climb(&self, pairs: Pairs<Rule>) -> Result<Expr, Diagnostic> {
        PRATT
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, operand| {
                let operand = operand?;
                let op_span = self.span(&op);
                let kind = match op.as_rule() {
                    Rule::neg => UnaryOp::Neg,
                    _ => UnaryOp::Not,
                };
                Ok(Expr {
                    span: op_span.to(operand.span),
                    kind: ExprKind::Unary {
                        op: kind,
                        operand: Box::new(operand),
                    },
                })
            })
            .map_infix(|left, op, right| {
                let (left, right) = (left?, right?);
                let op = match op.as_rule() {
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
                    _ => BinaryOp::Pow,
                };
                Ok(Expr {
                    span: left.span.to(right.span),
                    kind: ExprKind::Binary {
                        op,
                        left: Box::new(left),
                        right: Box::new(right),
                    },
                })
            })
            .parse(pairs)
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
