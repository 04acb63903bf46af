//! Statements to values: pipelines, verb dispatch and bare names.

pub mod expr;
pub mod scalar;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use spel_grammar::ast::{Pipeline, Stage, VerbCall};
use spel_grammar::{Diagnostic, SourceMap, Span, did_you_mean};

use crate::functions;
use crate::value::Value;
use crate::verbs::{self, VerbCtx};
use crate::work::{Progress, Work};

/// What a statement may read: the session's bindings, current table and sources.
pub struct Env<'s> {
    pub bindings: &'s BTreeMap<String, Value>,
    pub current: Option<&'s str>,
    pub sources: &'s SourceMap,
    /// Set by Ctrl-C or a Jupyter interrupt; checked between steps.
    pub interrupt: &'s AtomicBool,
    /// Where relative file paths start (the process's working directory if `None`).
    pub base_dir: Option<&'s Path>,
    pub progress: Option<&'s dyn Progress>,
}

/// What a statement changes besides its binding, applied only if it succeeds.
#[derive(Default)]
pub struct Effects {
    pub use_table: Option<String>,
    /// A binding to replace (`predict` adds a column to the current table, as Stata).
    pub rebind: Option<(String, Value)>,
    /// What the user should know about how the result was made (files whose columns
    /// differ), shown before the result.
    pub notes: Vec<String>,
}

impl Env<'_> {
    pub fn text(&self, span: Span) -> &str {
        self.sources.slice(span)
    }

    /// A path as the user wrote it, resolved against the session's base directory.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        match self.base_dir {
            Some(base) if Path::new(path).is_relative() => base.join(path),
            _ => PathBuf::from(path),
        }
    }

    /// How long work of this statement runs: interruptibly, with progress shown.
    pub fn work(&self) -> Work<'_> {
        Work {
            interrupt: self.interrupt,
            progress: self.progress,
        }
    }

    pub fn check_interrupt(&self, span: Span) -> Result<(), Diagnostic> {
        if self.interrupt.swap(false, Ordering::SeqCst) {
            return Err(Diagnostic::new("spel::interrupted", "interrupted").at(span));
        }
        Ok(())
    }

    pub fn pipeline(
        &self,
        pipeline: &Pipeline,
        effects: &mut Effects,
    ) -> Result<Value, Diagnostic> {
        let mut value = match &pipeline.first {
            Stage::Expr(expr) => match expr.as_ident() {
                Some(name) => self.bare_name(name, expr.span, effects)?,
                None => scalar::evaluate(expr, self)?,
            },
            Stage::Verb(call) => self.verb(call, None, effects)?,
        };
        for call in &pipeline.rest {
            self.check_interrupt(call.span)?;
            if value.as_table().is_none() {
                return Err(Diagnostic::new(
                    "spel::pipe::not_table",
                    format!(
                        "`|>` passes a table along, but this is a {}",
                        value.type_name()
                    ),
                )
                .at(pipeline.first.span())
                .with_label("this is not a table")
                .with_help("start a pipeline with a table, such as a name bound by `read`"));
            }
            value = self.verb(call, Some(value), effects)?;
        }
        Ok(value)
    }

    /// A bare name: a binding, or a verb called with no arguments (`describe`).
    fn bare_name(
        &self,
        name: &str,
        span: Span,
        effects: &mut Effects,
    ) -> Result<Value, Diagnostic> {
        if let Some(value) = self.bindings.get(name) {
            return Ok(value.clone());
        }
        if verbs::find(name).is_some() {
            let call = VerbCall {
                verb: spel_grammar::ast::Ident {
                    name: name.to_string(),
                    span,
                },
                args: vec![],
                clauses: vec![],
                span,
            };
            return self.verb(&call, None, effects);
        }
        if functions::find(name).is_some() {
            return Err(Diagnostic::new(
                "spel::name::function",
                format!("`{name}` is a function; it needs brackets"),
            )
            .at(span)
            .with_help(format!("call it, as in `{name}(x)`")));
        }
        Err(self.unknown_name(name, span))
    }

    pub fn unknown_name(&self, name: &str, span: Span) -> Diagnostic {
        let mut candidates: Vec<&str> = self.bindings.keys().map(String::as_str).collect();
        for verb in verbs::names() {
            candidates.push(verb);
        }
        Diagnostic::new("spel::name::unknown", format!("unknown name `{name}`"))
            .at(span)
            .with_label("no value or verb has this name")
            .suggest(did_you_mean(name, candidates))
    }

    pub fn verb(
        &self,
        call: &VerbCall,
        input: Option<Value>,
        effects: &mut Effects,
    ) -> Result<Value, Diagnostic> {
        let Some(verb) = verbs::find(&call.verb.name) else {
            let name = &call.verb.name;
            let mut diagnostic =
                Diagnostic::new("spel::verb::unknown", format!("unknown verb `{name}`"))
                    .at(call.verb.span)
                    .with_label("not a verb");
            diagnostic = match did_you_mean(name, verbs::names()) {
                Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
                None if self.bindings.contains_key(name) => diagnostic.with_help(format!(
                    "`{name}` is a value; to pass it to a verb, write `{name} |> verb ...`"
                )),
                None => {
                    let all: Vec<&str> = verbs::names().collect();
                    diagnostic.with_note(format!("the verbs are {}", all.join(", ")))
                }
            };
            return Err(diagnostic);
        };
        let mut ctx = VerbCtx::new(self, verb, call, input, effects)?;
        (verb.run)(&mut ctx).map_err(|d| d.or_at(call.span))
    }
}
