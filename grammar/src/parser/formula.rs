//! The formula sub-grammar: `y ~ a + factor(b) + c:d + e*f - 1 | condition`.

use pest::iterators::Pair;

use super::statement::first_child;
use super::{Builder, Rule, unexpected};
use crate::ast::*;
use crate::diagnostic::Diagnostic;

impl Builder {
    pub(super) fn formula(&self, pair: Pair<Rule>) -> Result<Formula, Diagnostic> {
        let span = self.span(&pair);
        let mut lhs = None;
        let mut rhs = Vec::new();
        let mut condition = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::expr if lhs.is_none() => lhs = Some(self.expr(part)?),
                Rule::expr => condition = Some(self.expr(part)?),
                Rule::formula_rhs => rhs = self.formula_rhs(part)?,
                Rule::tilde | Rule::condition_bar => {}
                _ => return Err(unexpected(&part, self)),
            }
        }
        let Some(lhs) = lhs else {
            return Err(Diagnostic::internal("formula without an outcome").at(span));
        };
        Ok(Formula {
            lhs,
            rhs,
            condition,
            span,
        })
    }

    fn formula_rhs(&self, pair: Pair<Rule>) -> Result<Vec<FormulaTerm>, Diagnostic> {
        let mut terms = Vec::new();
        let mut removed_next = false;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::term_sign => removed_next = part.as_str() == "-",
                Rule::formula_term => {
                    let inner = first_child(&part, self)?;
                    let mut term = match inner.as_rule() {
                        Rule::removed_term => {
                            let mut term = self.crossed_term(first_child(&inner, self)?)?;
                            term.removed = true;
                            term.span = self.span(&inner);
                            term
                        }
                        _ => self.crossed_term(inner)?,
                    };
                    term.removed ^= removed_next;
                    removed_next = false;
                    terms.push(term);
                }
                _ => return Err(unexpected(&part, self)),
            }
        }
        Ok(terms)
    }

    fn crossed_term(&self, pair: Pair<Rule>) -> Result<FormulaTerm, Diagnostic> {
        let span = self.span(&pair);
        let crossed = pair
            .into_inner()
            .map(|interaction| {
                interaction
                    .into_inner()
                    .map(|factor| self.formula_factor(factor))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FormulaTerm {
            removed: false,
            crossed,
            span,
        })
    }

    fn formula_factor(&self, pair: Pair<Rule>) -> Result<Expr, Diagnostic> {
        let span = self.span(&pair);
        let inner = first_child(&pair, self)?;
        if inner.as_rule() != Rule::formula_power {
            return self.primary(inner);
        }
        let mut parts = inner.into_inner();
        let (Some(base), Some(exponent)) = (parts.next(), parts.next()) else {
            return Err(Diagnostic::internal("power without an exponent").at(span));
        };
        Ok(Expr {
            kind: ExprKind::Binary {
                op: BinaryOp::Pow,
                left: Box::new(self.primary(base)?),
                right: Box::new(self.primary(exponent)?),
            },
            span,
        })
    }
}
