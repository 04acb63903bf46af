//! Meta-commands (`:help`, `:tables`, `:load`, `:save`, `:clear`, `:quit`) and the help
//! texts behind them and behind inspection. They live in the engine so every front end
//! offers the same ones.

use std::fmt::Write as _;

use spel_grammar::{Diagnostic, did_you_mean};

use crate::functions;
use crate::verbs::{self, Verb};

/// The meta-commands, for `:help` and completion.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        ":help [VERB]",
        "list the verbs and functions, or explain one",
    ),
    (":tables", "the session's names, with their types and sizes"),
    (":load FILE", "run a script into this session"),
    (
        ":save FILE",
        "write this session's successful statements as a script",
    ),
    (":clear", "remove every name and the current table"),
    (":quit", "leave (Ctrl-D does too)"),
];

/// What a meta-command asks the front end to do besides printing its text.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    Quit,
}

/// Help on one verb: signature, description, options and examples.
pub fn verb_help(verb: &Verb) -> String {
    let mut out = format!("{}\n\n  {}\n", verb.summary, verb.signature);
    if !verb.description.is_empty() {
        out.push('\n');
        out.push_str(&wrap(verb.description, 88));
    }
    if !verb.options.is_empty() {
        out.push_str("\nOptions:\n");
        for option in verb.options {
            let _ = writeln!(
                out,
                "  {} = {}  {}",
                option.name, option.values, option.summary
            );
        }
    }
    for example in verb.examples {
        let _ = write!(out, "\nExample: {}\n", example.summary);
        for line in example.code.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out.trim_end().to_string()
}

pub fn function_help(function: &functions::Function) -> String {
    format!("{}\n\n  {}", function.summary, function.signature())
}

/// `:help` with no argument: every verb and function on a line.
pub fn overview() -> String {
    let mut out = String::from("Verbs:\n");
    for verb in verbs::all() {
        let _ = writeln!(out, "  {:<10} {}", verb.name, verb.summary);
    }
    out.push_str("\nFunctions:\n");
    for function in functions::FUNCTIONS {
        let _ = writeln!(out, "  {:<28} {}", function.signature(), function.summary);
    }
    out.push_str("\nCommands:\n");
    for (command, summary) in COMMANDS {
        let _ = writeln!(out, "  {command:<14} {summary}");
    }
    out.push_str("\n`:help VERB` explains one verb; docs/language.md has the whole language.");
    out
}

/// `:help NAME`.
pub fn help_on(name: &str) -> Result<String, Diagnostic> {
    if let Some(verb) = verbs::find(name) {
        return Ok(verb_help(verb));
    }
    if let Some(function) = functions::find(name) {
        return Ok(function_help(function));
    }
    let names = verbs::names().chain(functions::names());
    Err(Diagnostic::new(
        "spel::help::unknown",
        format!("no verb or function is called `{name}`"),
    )
    .suggest(did_you_mean(name, names)))
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
