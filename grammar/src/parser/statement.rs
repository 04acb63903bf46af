//! Statements, pipelines and generic verb calls.

use pest::iterators::Pair;

use super::{Builder, Rule, unexpected};
use crate::ast::*;
use crate::diagnostic::Diagnostic;

impl Builder {
    pub(super) fn statement(&self, pair: Pair<Rule>) -> Result<Statement, Diagnostic> {
        let span = self.span(&pair);
        let inner = first_child(&pair, self)?;
        let kind = match inner.as_rule() {
            Rule::assignment => {
                let mut parts = inner.into_inner().filter(|p| p.as_rule() != Rule::assign);
                let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                    return Err(Diagnostic::internal("assignment without a value").at(span));
                };
                StatementKind::Assign {
                    name: self.ident(name),
                    value: self.pipeline(value)?,
                }
            }
            Rule::pipeline => StatementKind::Show(self.pipeline(inner)?),
            _ => return Err(unexpected(&inner, self)),
        };
        Ok(Statement { kind, span })
    }

    fn pipeline(&self, pair: Pair<Rule>) -> Result<Pipeline, Diagnostic> {
        let span = self.span(&pair);
        let mut parts = pair.into_inner().filter(|p| p.as_rule() != Rule::pipe);
        let Some(first) = parts.next() else {
            return Err(Diagnostic::internal("empty pipeline").at(span));
        };
        let first = match first.as_rule() {
            Rule::expr => Stage::Expr(self.expr(first)?),
            Rule::verb_call => Stage::Verb(self.verb_call(first)?),
            _ => return Err(unexpected(&first, self)),
        };
        let rest = parts.map(|p| self.verb_call(p)).collect::<Result<_, _>>()?;
        Ok(Pipeline { first, rest, span })
    }

    fn verb_call(&self, pair: Pair<Rule>) -> Result<VerbCall, Diagnostic> {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let Some(verb) = parts.next() else {
            return Err(Diagnostic::internal("verb call without a name").at(span));
        };
        let verb = self.ident(verb);
        let mut args = Vec::new();
        let mut clauses = Vec::new();
        for part in parts {
            match part.as_rule() {
                Rule::arguments => args = self.arguments(part)?,
                Rule::clause => clauses.push(self.clause(part)?),
                _ => return Err(unexpected(&part, self)),
            }
        }
        Ok(VerbCall {
            verb,
            args,
            clauses,
            span,
        })
    }

    fn clause(&self, pair: Pair<Rule>) -> Result<Clause, Diagnostic> {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let (Some(connective), Some(arguments)) = (parts.next(), parts.next()) else {
            return Err(Diagnostic::internal("clause without arguments").at(span));
        };
        let connective_span = self.span(&connective);
        let word = first_child(&connective, self)?;
        let connective = match word.as_rule() {
            Rule::kw_by => Connective::By,
            Rule::kw_on => Connective::On,
            Rule::kw_as => Connective::As,
            Rule::kw_to => Connective::To,
            Rule::kw_per => Connective::Per,
            Rule::kw_of => Connective::Of,
            Rule::kw_from => Connective::From,
            _ => return Err(unexpected(&word, self)),
        };
        Ok(Clause {
            connective,
            connective_span,
            args: self.arguments(arguments)?,
            span,
        })
    }

    fn arguments(&self, pair: Pair<Rule>) -> Result<Vec<Arg>, Diagnostic> {
        pair.into_inner().map(|p| self.argument(p)).collect()
    }

    fn argument(&self, pair: Pair<Rule>) -> Result<Arg, Diagnostic> {
        let span = self.span(&pair);
        let inner = first_child(&pair, self)?;
        match inner.as_rule() {
            Rule::named_argument => {
                let mut parts = inner.into_inner().filter(|p| p.as_rule() != Rule::assign);
                let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                    return Err(Diagnostic::internal("named argument without a value").at(span));
                };
                Ok(Arg {
                    name: Some(self.ident(name)),
                    value: self.arg_value(value)?,
                    order: None,
                    span,
                })
            }
            Rule::formula => Ok(Arg {
                name: None,
                value: ArgValue::Formula(self.formula(inner)?),
                order: None,
                span,
            }),
            Rule::ordered_expr => {
                let mut parts = inner.into_inner();
                let Some(value) = parts.next() else {
                    return Err(Diagnostic::internal("empty argument").at(span));
                };
                let order = match parts.next() {
                    Some(order) => {
                        let order_span = self.span(&order);
                        let word = first_child(&order, self)?;
                        let order = if word.as_rule() == Rule::kw_desc {
                            SortOrder::Desc
                        } else {
                            SortOrder::Asc
                        };
                        Some((order, order_span))
                    }
                    None => None,
                };
                Ok(Arg {
                    name: None,
                    value: ArgValue::Expr(self.expr(value)?),
                    order,
                    span,
                })
            }
            _ => Err(unexpected(&inner, self)),
        }
    }

    fn arg_value(&self, pair: Pair<Rule>) -> Result<ArgValue, Diagnostic> {
        match pair.as_rule() {
            Rule::formula => Ok(ArgValue::Formula(self.formula(pair)?)),
            _ => Ok(ArgValue::Expr(self.expr(pair)?)),
        }
    }

    pub(super) fn ident(&self, pair: Pair<Rule>) -> Ident {
        let span = self.span(&pair);
        let text = pair.as_str();
        let name = text
            .strip_prefix('`')
            .and_then(|t| t.strip_suffix('`'))
            .unwrap_or(text);
        Ident {
            name: name.to_string(),
            span,
        }
    }
}

pub(super) fn first_child<'i>(
    pair: &Pair<'i, Rule>,
    builder: &Builder,
) -> Result<Pair<'i, Rule>, Diagnostic> {
    pair.clone()
        .into_inner()
        .next()
        .ok_or_else(|| Diagnostic::internal("empty node in the parse tree").at(builder.span(pair)))
}
