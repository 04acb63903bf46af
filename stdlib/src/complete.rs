//! Completion: what may come at the cursor, from the verb registry, the functions, the
//! session's bindings and the columns of the table in scope. One implementation for the
//! REPL and the Jupyter kernel (which converts its code-point cursor to bytes first).

use polars::prelude::*;
use spel_grammar::ast::StatementKind;
use spel_grammar::{SourceId, SourceMap};

use crate::eval::{Effects, Env};
use crate::functions;
use crate::pipeline;
use crate::value::{Value, dtype_name};
use crate::verbs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Verb,
    Function,
    Option,
    OptionValue,
    Binding,
    Column,
    Keyword,
}

impl Kind {
    /// The word JupyterLab shows beside a match (`_jupyter_types_experimental`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Verb => "verb",
            Kind::Function => "function",
            Kind::Option => "option",
            Kind::OptionValue => "value",
            Kind::Binding => "variable",
            Kind::Column => "column",
            Kind::Keyword => "keyword",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// What to insert.
    pub text: String,
    pub kind: Kind,
    /// A type or signature to show beside it.
    pub detail: String,
}

/// Candidates for the word at `start..end` (byte offsets) of the code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completions {
    pub start: usize,
    pub end: usize,
    pub candidates: Vec<Candidate>,
}

/// Where the cursor stands in a statement, read from the text before it.
enum Context {
    /// The start of a statement or just after `|>`: a verb (or, at the start, a name).
    StatementStart { after_pipe: bool },
    /// After `option =` of a verb whose option takes one of a few words.
    OptionValue { verb: String, option: String },
    /// After a comma in a verb call: an option name, or a column.
    AfterComma { verb: String },
    /// Anywhere else in a verb call: a column, binding or function.
    Value,
}

pub(crate) fn complete(
    code: &str,
    cursor: usize,
    bindings: &std::collections::BTreeMap<String, Value>,
    current: Option<&str>,
) -> Completions {
    let cursor = floor_boundary(code, cursor.min(code.len()));
    let start = code[..cursor]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
        .last()
        .map_or(cursor, |(i, _)| i);
    let prefix = &code[start..cursor];
    let end = code[cursor..]
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
        .map_or(code.len(), |(i, _)| cursor + i);
    let statement = current_statement(&code[..start]);
    let mut candidates = Vec::new();
    match context(statement) {
        Context::StatementStart { after_pipe } => {
            candidates.extend(verb_candidates());
            if !after_pipe {
                candidates.extend(binding_candidates(bindings));
            }
        }
        Context::OptionValue { verb, option } => {
            if let Some(spec) =
                verbs::find(&verb).and_then(|v| v.options.iter().find(|o| o.name == option))
            {
                let words: &[&str] = match spec.kind {
                    verbs::OptionKind::Bool => &["true", "false"],
                    kind => kind.words(),
                };
                candidates.extend(words.iter().map(|c| Candidate {
                    text: c.to_string(),
                    kind: Kind::OptionValue,
                    detail: option.clone(),
                }));
            }
            if candidates.is_empty() {
                candidates.extend(column_candidates(statement, bindings, current));
                candidates.extend(binding_candidates(bindings));
            }
        }
        Context::AfterComma { verb } => {
            if let Some(spec) = verbs::find(&verb) {
                candidates.extend(spec.options.iter().map(|o| Candidate {
                    text: o.name.to_string(),
                    kind: Kind::Option,
                    detail: o.values.to_string(),
                }));
            }
            candidates.extend(column_candidates(statement, bindings, current));
            candidates.extend(function_candidates());
        }
        Context::Value => {
            candidates.extend(column_candidates(statement, bindings, current));
            candidates.extend(binding_candidates(bindings));
            candidates.extend(function_candidates());
            // Connectives end a verb's arguments; inside a call's brackets they cannot.
            let in_call = statement.matches('(').count() > statement.matches(')').count();
            candidates.extend(
                spel_grammar::ast::Connective::ALL
                    .iter()
                    .filter(|_| !in_call)
                    .map(|c| Candidate {
                        text: c.as_str().into(),
                        kind: Kind::Keyword,
                        detail: "connective".into(),
                    }),
            );
        }
    }
    let lower = prefix.to_lowercase();
    candidates.retain(|c| c.text.to_lowercase().starts_with(&lower));
    // Exact-case matches first, then by kind in the order added, then alphabetically.
    candidates.sort_by_key(|c| !c.text.starts_with(prefix));
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|c| seen.insert(c.text.clone()));
    Completions {
        start,
        end,
        candidates,
    }
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The text of the statement the cursor is in, up to the word being completed.
fn current_statement(before: &str) -> &str {
    let joined = spel_grammar::join_continued_lines(before);
    let from = joined.rfind(['\n', ';']).map_or(0, |i| i + 1);
    &before[from..]
}

fn context(statement: &str) -> Context {
    let trimmed = statement.trim_end();
    let after_assign = strip_assignment(statement.trim_start());
    if after_assign.trim().is_empty() {
        return Context::StatementStart { after_pipe: false };
    }
    if trimmed.ends_with("|>") {
        return Context::StatementStart { after_pipe: true };
    }
    let stage = trimmed.rsplit("|>").next().unwrap_or(trimmed).trim_start();
    let verb: String = stage
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if let Some(before_eq) = trimmed.strip_suffix('=')
        && !before_eq.ends_with(['=', '!', '<', '>'])
    {
        let option: String = before_eq
            .trim_end()
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Context::OptionValue { verb, option };
    }
    if trimmed.ends_with(',') {
        return Context::AfterComma { verb };
    }
    Context::Value
}

/// `x = rest` → `rest`; anything else unchanged.
fn strip_assignment(statement: &str) -> &str {
    let name_end = statement
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(statement.len());
    let rest = statement[name_end..].trim_start();
    match rest.strip_prefix('=') {
        Some(after) if name_end > 0 && !after.starts_with('=') => after,
        _ => statement,
    }
}

fn verb_candidates() -> impl Iterator<Item = Candidate> {
    verbs::all().map(|v| Candidate {
        text: v.name.to_string(),
        kind: Kind::Verb,
        detail: v.signature.to_string(),
    })
}

fn function_candidates() -> impl Iterator<Item = Candidate> {
    functions::FUNCTIONS.iter().map(|f| Candidate {
        text: f.name.to_string(),
        kind: Kind::Function,
        detail: f.signature(),
    })
}

fn binding_candidates(bindings: &std::collections::BTreeMap<String, Value>) -> Vec<Candidate> {
    bindings
        .iter()
        .map(|(name, value)| Candidate {
            text: name.clone(),
            kind: Kind::Binding,
            detail: value.type_name().to_string(),
        })
        .collect()
}

/// The columns of the table the statement works on: the pipeline's stages so far,
/// planned (not run) on the table they start from, or the current table.
fn column_candidates(
    statement: &str,
    bindings: &std::collections::BTreeMap<String, Value>,
    current: Option<&str>,
) -> Vec<Candidate> {
    let schema =
        scope_schema(statement, bindings).or_else(|| match current.and_then(|c| bindings.get(c)) {
            Some(value) => value.columns_table()?.collect_schema().ok(),
            None => None,
        });
    let Some(schema) = schema else {
        return Vec::new();
    };
    schema
        .iter()
        .map(|(name, dtype)| Candidate {
            text: name.to_string(),
            kind: Kind::Column,
            detail: dtype_name(dtype),
        })
        .collect()
}

/// Plans the stages before the cursor's own (`d |> derive a = x |> filter a` → the
/// schema of `d |> derive a = x`), in preview: verbs that only plan are run, a
/// simulation makes a few rows, and a verb that must compute (a fit, a file) stops it
/// with no columns (see [`crate::verbs::Output`]).
fn scope_schema(
    statement: &str,
    bindings: &std::collections::BTreeMap<String, Value>,
) -> Option<SchemaRef> {
    let body = strip_assignment(statement.trim_start());
    let cut = body.rfind("|>")?;
    let prefix = &body[..cut];
    let mut sources = SourceMap::default();
    let source: SourceId = sources.add("<completion>", prefix);
    let program = spel_grammar::parse(prefix, source).ok()?;
    let statement = program.statements.last()?;
    let StatementKind::Show(pipeline) = &statement.kind else {
        return None;
    };
    let interrupt = std::sync::atomic::AtomicBool::new(false);
    let env = Env {
        bindings,
        current: None,
        sources: &sources,
        interrupt: &interrupt,
        base_dir: None,
        progress: None,
        preview: true,
        labels: &std::collections::BTreeMap::new(),
    };
    let value = pipeline::run(&env, pipeline, &mut Effects::default()).ok()?;
    value.columns_table()?.collect_schema().ok()
}
