//! Pipelines to values: the first stage (a name, an expression or a verb), then each verb
//! after `|>` in turn. This sits above the verbs, which it dispatches; the verbs and the
//! expressions beneath them read only `Env`.

use spel_grammar::ast::{Ident, Pipeline, Stage, VerbCall};
use spel_grammar::{Diagnostic, Span, did_you_mean};

use crate::eval::expr::evaluate;
use crate::eval::{Effects, Env};
use crate::functions;
use crate::value::Value;
use crate::verbs::{self, VerbCtx};

pub fn run(env: &Env, pipeline: &Pipeline, effects: &mut Effects) -> Result<Value, Diagnostic> {
    let mut value = match &pipeline.first {
        Stage::Expr(expr) => match expr.as_ident() {
            Some(name) => bare_name(env, name, expr.span, effects)?,
            None => evaluate(expr, env)?,
        },
        Stage::Verb(call) => verb(env, call, None, effects)?,
    };
    // The stage whose value goes along next: where a value that is not a table came from.
    let mut made_by = pipeline.first.span();
    for call in &pipeline.rest {
        env.check_interrupt(call.span)?;
        // A survey goes along too: verbs that would ignore its design refuse it.
        if value.columns_table().is_none() {
            let help = if made_by == pipeline.first.span() {
                "start a pipeline with a table, such as a name bound by `read`".to_string()
            } else {
                let rest = Span::new(call.span.source, call.verb.span.end, call.span.end);
                format!(
                    "name the {0} and give it to `{1}` by name: `m = ... |> {2}`, then `{1} m{3}`",
                    value.type_name(),
                    call.verb.name,
                    env.text(made_by),
                    env.text(rest),
                )
            };
            return Err(Diagnostic::new(
                "spel::pipe::not_table",
                format!(
                    "`|>` passes a table along, but this is a {}",
                    value.type_name()
                ),
            )
            .at(made_by)
            .with_label("this is not a table")
            .with_help(help));
        }
        value = verb(env, call, Some(value), effects)?;
        made_by = call.span;
    }
    Ok(value)
}

/// A bare name: a binding, or a verb called with no arguments (`describe`).
fn bare_name(
    env: &Env,
    name: &str,
    span: Span,
    effects: &mut Effects,
) -> Result<Value, Diagnostic> {
    if let Some(value) = env.bindings.get(name) {
        return Ok(value.clone());
    }
    if verbs::find(name).is_some() {
        let call = VerbCall {
            verb: Ident {
                name: name.to_string(),
                span,
            },
            args: vec![],
            clauses: vec![],
            span,
        };
        return verb(env, &call, None, effects);
    }
    if functions::find(name).is_some() {
        return Err(Diagnostic::new(
            "spel::name::function",
            format!("`{name}` is a function; it needs brackets"),
        )
        .at(span)
        .with_help(format!("call it, as in `{name}(x)`")));
    }
    let verb_names: Vec<&str> = verbs::names().collect();
    Err(env.unknown_name_among(name, span, &verb_names))
}

fn verb(
    env: &Env,
    call: &VerbCall,
    input: Option<Value>,
    effects: &mut Effects,
) -> Result<Value, Diagnostic> {
    let Some(verb) = verbs::find(&call.verb.name) else {
        return Err(unknown_verb(env, call));
    };
    if env.preview && verb.output == verbs::Output::Computed {
        return Err(Diagnostic::new(
            "spel::complete::computed",
            format!("`{}`'s columns are known only by running it", verb.name),
        )
        .at(call.span));
    }
    let mut ctx = VerbCtx::new(env, verb, call, input, effects)?;
    (verb.run)(&mut ctx).map_err(|d| d.or_at(call.span))
}

fn unknown_verb(env: &Env, call: &VerbCall) -> Diagnostic {
    let name = &call.verb.name;
    let diagnostic = Diagnostic::new("spel::verb::unknown", format!("unknown verb `{name}`"))
        .at(call.verb.span)
        .with_label("not a verb");
    match did_you_mean(name, verbs::names()) {
        Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
        None if env.bindings.contains_key(name) => diagnostic.with_help(format!(
            "`{name}` is a value; to pass it to a verb, write `{name} |> verb ...`"
        )),
        None => {
            let all: Vec<&str> = verbs::names().collect();
            diagnostic.with_note(format!("the verbs are {}", all.join(", ")))
        }
    }
}
