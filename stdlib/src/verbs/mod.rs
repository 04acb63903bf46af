//! The verb registry. Each verb describes itself (name, signature, options, examples)
//! so one record feeds `:help`, completion, inspection, the docs and the example tests.

mod data;
mod designs;
mod io;
pub(crate) mod model;
mod plot;
mod post;
mod reshape;
pub mod signature;
mod simulate;
mod summary;
pub(crate) mod survey;

use polars::prelude::*;
use spel_grammar::ast::{Arg, ArgValue, Clause, Connective, Expr as Ast, VerbCall};
use spel_grammar::{Diagnostic, Span, did_you_mean};

use crate::errors::polars_error;
use crate::eval::expr::Scope;
use crate::eval::{Effects, Env};
use crate::value::Value;
pub use signature::{Choice, OptionKind, OptionSpec};

/// A runnable example: the code and the text it prints.
pub struct Example {
    pub summary: &'static str,
    pub code: &'static str,
    pub output: &'static str,
}

pub struct Verb {
    pub name: &'static str,
    pub signature: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub connectives: &'static [Connective],
    pub options: &'static [OptionSpec],
    /// Whether `name = value` arguments that are not options mean something
    /// (new columns in `derive`, named summaries in `summarise`).
    pub named_arguments: bool,
    /// What its result is made of, for completion: which columns follow it.
    pub output: Output,
    pub examples: &'static [Example],
    pub run: fn(&mut VerbCtx) -> Result<Value, Diagnostic>,
}

/// How a verb's result comes about, so that completion can know the columns after it
/// without doing its work (a Tab must answer at once, whatever the data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// A lazy plan over its input (`filter`, `derive`, ...): building it computes
    /// nothing, so completion runs it and asks polars for the plan's columns.
    Plan,
    /// Computed, but its columns do not depend on its size: with [`Env::preview`] set
    /// it makes a few rows instead of its full size (`simulate`).
    Preview,
    /// Known only by doing the work (a fit, a file): completion offers no columns
    /// after it.
    Computed,
}

pub fn all() -> impl Iterator<Item = &'static Verb> {
    data::VERBS
        .iter()
        .chain(io::VERBS)
        .chain(reshape::VERBS)
        .chain(summary::VERBS)
        .chain(model::VERBS)
        .chain(post::VERBS)
        .chain(simulate::VERBS)
        .chain(designs::VERBS)
        .chain(survey::VERBS)
        .chain(plot::VERBS)
}

pub fn find(name: &str) -> Option<&'static Verb> {
    all().find(|v| v.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    all().map(|v| v.name)
}

/// One verb call being run: its arguments sorted into positionals, clauses and options,
/// and the table it works on.
pub struct VerbCtx<'a> {
    pub env: &'a Env<'a>,
    pub verb: &'static Verb,
    pub call: &'a VerbCall,
    input: Option<Value>,
    pub effects: &'a mut Effects,
}

impl<'a> VerbCtx<'a> {
    pub fn new(
        env: &'a Env<'a>,
        verb: &'static Verb,
        call: &'a VerbCall,
        input: Option<Value>,
        effects: &'a mut Effects,
    ) -> Result<Self, Diagnostic> {
        let ctx = VerbCtx {
            env,
            verb,
            call,
            input,
            effects,
        };
        ctx.check_shape()?;
        ctx.check_options()?;
        Ok(ctx)
    }

    /// Rejects connectives and options the verb does not take, with suggestions.
    fn check_shape(&self) -> Result<(), Diagnostic> {
        // `a > 0 and b > 0` reads as three arguments; say what the user meant. (An
        // option's value may be the word: `solve = or`.)
        for arg in self.all_args().filter(|a| a.name.is_none()) {
            let word = arg.as_expr().and_then(|e| e.as_ident());
            if let Some((word, symbol)) = match word {
                Some("and") => Some(("and", "&")),
                Some("or") => Some(("or", "|")),
                _ => None,
            } {
                return Err(Diagnostic::new(
                    "spel::expr::word_operator",
                    format!("spel writes `{word}` as `{symbol}`"),
                )
                .at(arg.span)
                .with_help(format!("write `first > 0 {symbol} period >= first`")));
            }
        }
        for clause in &self.call.clauses {
            if clause.connective != Connective::From
                && !self.verb.connectives.contains(&clause.connective)
            {
                let allowed: Vec<String> = self
                    .verb
                    .connectives
                    .iter()
                    .map(|c| format!("`{}`", c.as_str()))
                    .collect();
                let help = if allowed.is_empty() {
                    format!(
                        "`{}` takes no `{}` clause",
                        self.verb.name,
                        clause.connective.as_str()
                    )
                } else {
                    format!("`{}` takes {}", self.verb.name, allowed.join(", "))
                };
                return Err(Diagnostic::new(
                    "spel::verb::connective",
                    format!(
                        "`{}` does not take `{}`",
                        self.verb.name,
                        clause.connective.as_str()
                    ),
                )
                .at(clause.connective_span)
                .with_help(help)
                .with_note(format!("usage: {}", self.verb.signature)));
            }
        }
        for arg in self.all_args() {
            let Some(name) = &arg.name else { continue };
            let is_option = self.verb.options.iter().any(|o| o.name == name.name);
            if is_option || self.verb.named_arguments {
                continue;
            }
            let options = self.verb.options.iter().map(|o| o.name);
            let mut diagnostic = Diagnostic::new(
                "spel::verb::option",
                format!("`{}` has no option `{}`", self.verb.name, name.name),
            )
            .at(name.span)
            .with_label("unknown option");
            diagnostic = match did_you_mean(&name.name, options) {
                Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
                None if self.verb.options.is_empty() => {
                    diagnostic.with_help(format!("`{}` takes no options", self.verb.name))
                }
                None => {
                    let names: Vec<String> = self
                        .verb
                        .options
                        .iter()
                        .map(|o| format!("`{}`", o.name))
                        .collect();
                    diagnostic.with_help(format!("its options are {}", names.join(", ")))
                }
            };
            let first = self.call.args.first().is_some_and(|a| std::ptr::eq(a, arg));
            if first && self.verb.signature.contains(" ~ ") {
                diagnostic = Diagnostic::new(
                    "spel::model::formula",
                    format!("`{}` needs a formula, `outcome ~ terms`", self.verb.name),
                )
                .at(arg.span)
                .with_help(format!(
                    "write `~` where the `=` is: `{} {} ~ {}`",
                    self.verb.name,
                    name.name,
                    self.env.text(arg.as_expr().map_or(arg.span, |e| e.span))
                ));
            }
            if self.verb.name == "filter" {
                diagnostic = Diagnostic::new(
                    "spel::filter::assignment",
                    "`=` names a value; to compare, write `==`",
                )
                .at(arg.span)
                .with_help(format!(
                    "write `filter {} == {}`",
                    name.name,
                    self.env.text(arg.as_expr().map_or(arg.span, |e| e.span))
                ));
            }
            return Err(diagnostic);
        }
        Ok(())
    }

    /// Checks every option's value against its declared kind, before the verb runs.
    fn check_options(&self) -> Result<(), Diagnostic> {
        for arg in self.all_args() {
            if let Some(spec) = self.spec_of(arg) {
                signature::check_option(spec, arg, self.env)?;
            }
        }
        Ok(())
    }

    fn spec_of(&self, arg: &Arg) -> Option<&'static OptionSpec> {
        let name = arg.name.as_ref()?;
        self.verb.options.iter().find(|o| o.name == name.name)
    }

    fn all_args(&self) -> impl Iterator<Item = &'a Arg> {
        self.call
            .args
            .iter()
            .chain(self.call.clauses.iter().flat_map(|c| c.args.iter()))
    }

    /// Positional (and, for verbs that take them, named non-option) arguments before
    /// any connective.
    pub fn args(&self) -> Vec<&'a Arg> {
        self.call
            .args
            .iter()
            .filter(|a| !self.is_option(a))
            .collect()
    }

    fn is_option(&self, arg: &Arg) -> bool {
        arg.name
            .as_ref()
            .is_some_and(|n| self.verb.options.iter().any(|o| o.name == n.name))
    }

    pub fn clause(&self, connective: Connective) -> Option<&'a Clause> {
        self.call
            .clauses
            .iter()
            .find(|c| c.connective == connective)
    }

    /// A clause's arguments without the options that may trail it.
    pub fn clause_args(&self, connective: Connective) -> Vec<&'a Arg> {
        self.clause(connective)
            .map(|c| c.args.iter().filter(|a| !self.is_option(a)).collect())
            .unwrap_or_default()
    }

    pub fn option(&self, name: &str) -> Option<&'a Arg> {
        self.all_args()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == name) && self.is_option(a))
    }

    /// An option's value as a constant (`delimiter = ";"`, `n = 5`), checked against its
    /// kind: a word of a set (bare or quoted) comes back as a string.
    pub fn option_value(&self, name: &str) -> Result<Option<(Value, Span)>, Diagnostic> {
        let Some((spec, expr)) = self.option_expr(name)? else {
            return Ok(None);
        };
        match spec.kind {
            OptionKind::Word(words) => {
                let index = signature::check_word(spec, words, expr)?;
                Ok(Some((Value::Str(words[index].to_string()), expr.span)))
            }
            OptionKind::Number { .. }
            | OptionKind::Whole { .. }
            | OptionKind::Bool
            | OptionKind::Text => signature::constant(spec, expr, self.env).map(Some),
            OptionKind::Column | OptionKind::Columns | OptionKind::Value => Ok(Some((
                crate::eval::expr::evaluate(expr, self.env)?,
                expr.span,
            ))),
        }
    }

    /// A word option's value as the verb's enum (`family = logit` or `"logit"`).
    pub fn choice<T: Choice>(&self, name: &str) -> Result<Option<T>, Diagnostic> {
        let Some((spec, expr)) = self.option_expr(name)? else {
            return Ok(None);
        };
        if spec.kind != OptionKind::Word(T::WORDS) {
            return Err(Diagnostic::internal(format!(
                "`{name}` of `{}` is not declared with the words its verb reads",
                self.verb.name
            ))
            .at(expr.span));
        }
        let index = signature::check_word(spec, T::WORDS, expr)?;
        Ok(Some(T::VALUES[index]))
    }

    /// A number option's value (in its declared range) and where it was written.
    pub fn number(&self, name: &str) -> Result<Option<(f64, Span)>, Diagnostic> {
        Ok(match self.option_value(name)? {
            Some((Value::Number(x), span)) => Some((x, span)),
            _ => None,
        })
    }

    /// A true-or-false option's value.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, Diagnostic> {
        Ok(match self.option_value(name)? {
            Some((Value::Bool(b), _)) => Some(b),
            _ => None,
        })
    }

    /// An option's declaration and the expression written for it.
    fn option_expr(
        &self,
        name: &str,
    ) -> Result<Option<(&'static OptionSpec, &'a Ast)>, Diagnostic> {
        let Some(arg) = self.option(name) else {
            return Ok(None);
        };
        let Some(spec) = self.spec_of(arg) else {
            return Err(Diagnostic::internal(format!(
                "`{}` declares no option `{name}`",
                self.verb.name
            ))
            .at(arg.span));
        };
        let Some(expr) = arg.as_expr() else {
            return Err(Diagnostic::new(
                "spel::verb::option_value",
                format!("`{name}` cannot be a formula"),
            )
            .at(arg.span));
        };
        Ok(Some((spec, expr)))
    }

    /// The table this verb works on: piped in, `from x`, or the current table. A survey
    /// there is an error: this verb would ignore its design.
    pub fn table(&self) -> Result<LazyFrame, Diagnostic> {
        match self.source()? {
            Some((Value::Survey(_), span)) => Err(self.survey_not_table(span)),
            Some((value, span)) => value
                .as_table()
                .ok_or_else(|| not_a_table(span, value.type_name())),
            None => Err(Diagnostic::new(
                "spel::table::none",
                format!("`{}` needs a table, and none is in use", self.verb.name),
            )
            .at(self.call.verb.span)
            .with_help(format!(
                "pipe one in (`d |> {0} ...`), add `from d`, or `use d` first",
                self.verb.name
            ))),
        }
    }

    /// The survey this verb works on, when its table is one (piped in, `from s`, or in
    /// use); `None` when it is a plain table or there is none.
    pub fn survey(&self) -> Result<Option<std::sync::Arc<crate::value::Survey>>, Diagnostic> {
        Ok(match self.source()? {
            Some((Value::Survey(s), _)) => Some(s),
            _ => None,
        })
    }

    /// The value the verb works on and where it was named: piped in (the verb's span),
    /// `from x`, or the current table.
    fn source(&self) -> Result<Option<(Value, Span)>, Diagnostic> {
        if let Some(value) = &self.input {
            return Ok(Some((value.clone(), self.call.verb.span)));
        }
        if let Some(from) = self.clause(Connective::From) {
            let Some(arg) = from.args.first() else {
                return Err(Diagnostic::internal("empty from clause").at(from.span));
            };
            let Some(expr) = arg.as_expr() else {
                return Err(not_a_table(arg.span, "formula"));
            };
            return Ok(Some((
                crate::eval::expr::evaluate(expr, self.env)?,
                expr.span,
            )));
        }
        Ok(self
            .env
            .current
            .and_then(|name| self.env.bindings.get(name))
            .map(|value| (value.clone(), self.call.verb.span)))
    }

    fn survey_not_table(&self, span: Span) -> Diagnostic {
        Diagnostic::new(
            "spel::survey::plain_verb",
            format!("`{}` would ignore this survey's design", self.verb.name),
        )
        .at(span)
        .with_label("a survey: weights, strata and PSUs")
        .with_help(
            "estimate from it with its design (`estimate mean(x) from s`, `model y ~ x from s`); \
             `filter` and `derive` keep the design; to treat its rows as a plain table, use \
             the table the survey was made from",
        )
    }

    /// Whether a table was piped in.
    pub fn has_input(&self) -> bool {
        self.input.is_some()
    }

    /// An argument that must name (or compute) a table.
    pub fn table_arg(&self, arg: &Arg) -> Result<LazyFrame, Diagnostic> {
        let Some(expr) = arg.as_expr() else {
            return Err(not_a_table(arg.span, "formula"));
        };
        match crate::eval::expr::evaluate(expr, self.env)? {
            Value::Survey(_) => Err(self.survey_not_table(expr.span)),
            value => value
                .as_table()
                .ok_or_else(|| not_a_table(expr.span, value.type_name())),
        }
    }

    /// A scope over `lf`'s columns for translating expressions.
    pub fn scope(&self, lf: &LazyFrame) -> Result<Scope<'a>, Diagnostic> {
        let schema = lf
            .clone()
            .collect_schema()
            .map_err(|e| polars_error(e).at(self.call.span))?;
        Ok(Scope {
            schema,
            env: self.env,
        })
    }

    pub fn text(&self, span: Span) -> &str {
        self.env.text(span)
    }

    /// An error for a missing required argument, with the usage line.
    pub fn usage_error(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new("spel::verb::usage", message)
            .at(self.call.span)
            .with_note(format!("usage: {}", self.verb.signature))
    }
}

fn not_a_table(span: Span, type_name: &str) -> Diagnostic {
    Diagnostic::new(
        "spel::table::expected",
        format!("expected a table here, found a {type_name}"),
    )
    .at(span)
}

/// The plain column name an argument is (`select a, b`), or an error pointing at it.
pub fn column_name<'x>(arg: &'x Arg, scope: &Scope) -> Result<&'x str, Diagnostic> {
    let Some(expr) = arg.as_expr() else {
        return Err(
            Diagnostic::new("spel::column::expected", "expected a column name").at(arg.span),
        );
    };
    column_name_of(expr, scope)
}

pub fn column_name_of<'x>(expr: &'x Ast, scope: &Scope) -> Result<&'x str, Diagnostic> {
    let Some(name) = expr.as_ident() else {
        return Err(Diagnostic::new("spel::column::expected", "expected a column name")
            .at(expr.span)
            .with_help("write the column's name; quote names with spaces in backticks: `Practice Code`"));
    };
    if !scope.schema.contains(name) {
        return Err(scope.unknown_column(name, expr));
    }
    Ok(name)
}

/// Column names given as `a, b` or as one list `[a, b]`.
pub fn column_names<'x>(
    args: &[&'x Arg],
    scope: &Scope,
) -> Result<Vec<(&'x str, Span)>, Diagnostic> {
    let mut names = Vec::new();
    for arg in args {
        match arg.as_expr().map(|e| &e.kind) {
            Some(spel_grammar::ast::ExprKind::List(items)) => {
                for item in items {
                    names.push((column_name_of(item, scope)?, item.span));
                }
            }
            _ => names.push((column_name(arg, scope)?, arg.span)),
        }
    }
    Ok(names)
}

/// The formula of an argument, if it is one (for verbs that take formulas).
pub fn formula_of(arg: &Arg) -> Option<&spel_grammar::ast::Formula> {
    match &arg.value {
        ArgValue::Formula(f) => Some(f),
        ArgValue::Expr(_) => None,
    }
}
