//! A session: the bindings, the current table and every source it has run. The REPL,
//! `spel run` and the Jupyter kernel each hold one and only translate its results.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use spel_grammar::ast::{Statement, StatementKind};
use spel_grammar::{Colour, Diagnostic, SourceMap, parse, render};

use crate::complete::Completions;
use crate::eval::{Effects, Env};
use crate::meta::{self, After};
use crate::pipeline;
use crate::render::{Shown, snapshot};
use crate::value::Value;
use crate::verbs;
use crate::work::{Progress, Work};

/// What a statement gives the front end to display.
pub type Output = Shown;

pub struct Session {
    bindings: BTreeMap<String, Value>,
    current: Option<String>,
    sources: SourceMap,
    interrupt: Arc<AtomicBool>,
    /// Width text tables are fitted to (the terminal's, where known).
    pub width: usize,
    /// Where relative file paths start; the working directory when `None`.
    pub base_dir: Option<PathBuf>,
    /// Told when long work starts and ends, to show progress.
    pub progress: Option<Arc<dyn Progress>>,
    /// The text of every statement that succeeded, for `:save`.
    script: Vec<String>,
    /// Columns' labels, from `label`.
    labels: BTreeMap<String, String>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            bindings: BTreeMap::new(),
            current: None,
            sources: SourceMap::default(),
            interrupt: Arc::new(AtomicBool::new(false)),
            width: crate::render::DEFAULT_WIDTH,
            base_dir: None,
            progress: None,
            script: Vec::new(),
            labels: BTreeMap::new(),
        }
    }
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs every statement of `code` in order, handing each shown result to
    /// `on_output` as soon as it is ready. Stops at the first error: the statements
    /// before it have taken effect, the failing one changed nothing, none after it ran.
    pub fn execute(
        &mut self,
        code: &str,
        source_name: &str,
        on_output: &mut dyn FnMut(&Output),
    ) -> Result<(), Diagnostic> {
        let source = self.sources.add(source_name, code);
        // A Ctrl-C pressed while nothing ran must not stop this code.
        self.interrupt
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let program = parse(code, source).map_err(|errors| {
            errors
                .into_iter()
                .next()
                .unwrap_or_else(|| Diagnostic::internal("a parse failed without a message"))
        })?;
        for statement in &program.statements {
            let result = catch_unwind(AssertUnwindSafe(|| self.statement(statement)));
            let shown = match result {
                Ok(result) => result?,
                Err(panic) => {
                    return Err(Diagnostic::internal(crate::errors::panic_message(&panic))
                        .at(statement.span));
                }
            };
            self.script
                .push(code[statement.span.range()].trim().to_string());
            for shown in &shown {
                on_output(shown);
            }
        }
        Ok(())
    }

    /// The diagnostic as the user sees it, with the source line and a caret.
    pub fn render_error(&self, diagnostic: &Diagnostic, colour: Colour) -> String {
        render(diagnostic, &self.sources, colour)
    }

    /// A flag that, once set, stops the running statement at its next step.
    pub fn interrupt_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.interrupt)
    }

    pub fn bindings(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.bindings.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn current_table(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The column names of every table the session holds (for highlighting).
    pub fn known_columns(&self) -> Vec<String> {
        crate::guard::fault_point("columns");
        let mut names = Vec::new();
        for value in self.bindings.values() {
            if let Some(lf) = value.columns_table()
                && let Ok(schema) = lf.clone().collect_schema()
            {
                names.extend(schema.iter_names().map(|n| n.to_string()));
            }
        }
        names
    }

    /// Completion candidates at byte offset `cursor` of `code`.
    pub fn complete(&self, code: &str, cursor: usize) -> Completions {
        crate::guard::fault_point("complete");
        crate::complete::complete(code, cursor, &self.bindings, self.current.as_deref())
    }

    /// Help on the word at byte offset `cursor`: a verb's or function's help, a name's
    /// type and size, or a column's type.
    pub fn inspect(&self, code: &str, cursor: usize) -> Option<String> {
        crate::guard::fault_point("inspect");
        let completions = self.complete(code, cursor);
        let word = code.get(completions.start..completions.end)?;
        if word.is_empty() {
            return None;
        }
        if let Some(verb) = verbs::find(word) {
            return Some(meta::verb_help(verb));
        }
        if let Some(function) = crate::functions::find(word) {
            return Some(meta::function_help(function));
        }
        if let Some(value) = self.bindings.get(word) {
            let mut text = format!("{word}: {}", self.describe_value(value));
            // A table's first rows, as IRkernel shows an object's printed form.
            if let Value::Table(lf) = value
                && let Ok(preview) = snapshot(
                    &Value::Table(lf.clone().limit(5)),
                    self.work(),
                    Default::default(),
                )
            {
                text.push_str("\n\n");
                text.push_str(&preview.text(self.width));
            }
            return Some(text);
        }
        completions
            .candidates
            .into_iter()
            .find(|c| c.text == word)
            .map(|c| format!("{word}: {} ({})", c.kind.label(), c.detail))
    }

    /// "table, 7,371 rows × 16 columns" or "number 42".
    fn describe_value(&self, value: &Value) -> String {
        match value {
            Value::Table(lf) => {
                let work = Work {
                    interrupt: &self.interrupt,
                    progress: None,
                };
                let shape = lf.clone().collect_schema().ok().and_then(|schema| {
                    let counted = work
                        .collect(
                            lf.clone().select([polars::prelude::len().alias("n")]),
                            "counting rows",
                            Default::default(),
                        )
                        .ok()?;
                    let n = counted.column("n").ok()?.get(0).ok()?.extract::<u64>()?;
                    let plural = crate::format::plural;
                    Some(format!(
                        "{} × {}",
                        plural(n as usize, "row"),
                        plural(schema.len(), "column")
                    ))
                });
                format!("table, {}", shape.unwrap_or_else(|| "size unknown".into()))
            }
            other => match snapshot(other, self.work(), Default::default()) {
                Ok(shown) => format!("{} {}", other.type_name(), shown.text(self.width)),
                Err(_) => other.type_name().to_string(),
            },
        }
    }

    fn work(&self) -> Work<'_> {
        Work {
            interrupt: &self.interrupt,
            progress: self.progress.as_deref(),
        }
    }

    /// Runs a meta-command line such as `:help filter`; results go to `on_output`.
    pub fn meta(
        &mut self,
        line: &str,
        on_output: &mut dyn FnMut(&Output),
    ) -> Result<After, Diagnostic> {
        crate::guard::fault_point("meta");
        let line = line.trim();
        let (command, argument) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let argument = argument.trim();
        let say = |text: String, on_output: &mut dyn FnMut(&Output)| {
            on_output(&Shown::Message(text));
        };
        match command {
            ":help" | ":h" | ":?" => {
                let text = if argument.is_empty() {
                    meta::overview()
                } else {
                    meta::help_on(argument)?
                };
                say(text, on_output);
            }
            ":tables" | ":vars" => {
                let mut lines = Vec::new();
                for (name, value) in &self.bindings {
                    let current = if self.current.as_deref() == Some(name) {
                        "  (in use)"
                    } else {
                        ""
                    };
                    lines.push(format!(
                        "{name:<16} {}{current}",
                        self.describe_value(value)
                    ));
                }
                if lines.is_empty() {
                    lines.push("no names yet: bind one with `name = ...`".into());
                }
                say(lines.join("\n"), on_output);
            }
            ":load" => {
                let path = self.meta_path(command, argument)?;
                let code = std::fs::read_to_string(&path).map_err(|e| {
                    Diagnostic::new("spel::meta::load", format!("cannot read {argument}: {e}"))
                })?;
                self.execute(&code, argument, on_output)?;
            }
            ":save" => {
                let path = self.meta_path(command, argument)?;
                let mut text = self.script.join("\n");
                text.push('\n');
                crate::files::write_text(&path, &text).map_err(|e| {
                    Diagnostic::new("spel::meta::save", format!("cannot write {argument}: {e}"))
                })?;
                say(
                    format!("saved {} statements to {argument}", self.script.len()),
                    on_output,
                );
            }
            ":clear" => {
                let n = self.bindings.len();
                self.bindings.clear();
                self.current = None;
                self.labels.clear();
                say(
                    format!("removed {n} names, the current table and the labels"),
                    on_output,
                );
            }
            ":quit" | ":q" | ":exit" => return Ok(After::Quit),
            _ => {
                let names = meta::COMMANDS
                    .iter()
                    .map(|(c, _)| c.split_whitespace().next().unwrap_or(c));
                return Err(Diagnostic::new(
                    "spel::meta::unknown",
                    format!("unknown command `{command}`"),
                )
                .suggest(spel_grammar::did_you_mean(command, names))
                .with_note("`:help` lists the commands"));
            }
        }
        Ok(After::Continue)
    }

    fn meta_path(&self, command: &str, argument: &str) -> Result<PathBuf, Diagnostic> {
        if argument.is_empty() {
            return Err(Diagnostic::new(
                "spel::meta::path",
                format!("`{command}` needs a file name, as `{command} analysis.spel`"),
            ));
        }
        Ok(match &self.base_dir {
            Some(base) => base.join(argument),
            None => PathBuf::from(argument),
        })
    }

    /// Runs one statement; returns what to show: its notes, then its result.
    fn statement(&mut self, statement: &Statement) -> Result<Vec<Shown>, Diagnostic> {
        let mut effects = Effects::default();
        let env = Env {
            bindings: &self.bindings,
            current: self.current.as_deref(),
            sources: &self.sources,
            interrupt: &self.interrupt,
            base_dir: self.base_dir.as_deref(),
            progress: self.progress.as_deref(),
            preview: false,
            labels: &self.labels,
        };
        env.check_interrupt(statement.span)?;
        let (binding, shown) = match &statement.kind {
            StatementKind::Assign { name, value } => {
                if verbs::find(&name.name).is_some() {
                    return Err(Diagnostic::new(
                        "spel::name::verb",
                        format!("`{}` is a verb and cannot name a value", name.name),
                    )
                    .at(name.span)
                    .with_help(format!("choose another name, such as `my_{}`", name.name)));
                }
                let value = pipeline::run(&env, value, &mut effects)?;
                if matches!(value, Value::Message(_) | Value::Nothing) {
                    return Err(Diagnostic::new(
                        "spel::name::nothing",
                        "this statement gives nothing to name",
                    )
                    .at(statement.span)
                    .with_help(format!("drop `{} =` and run it on its own", name.name)));
                }
                (Some((name.name.clone(), value)), None)
            }
            StatementKind::Show(pipeline) => match pipeline::run(&env, pipeline, &mut effects)? {
                Value::Nothing => (None, None),
                value => (
                    None,
                    Some(
                        snapshot(&value, env.work(), statement.span)
                            .map_err(|d| d.or_at(statement.span))?,
                    ),
                ),
            },
        };
        // Only now, with the statement complete, does the session change.
        if let Some((name, value)) = binding {
            self.bindings.insert(name, value);
        }
        if let Some(table) = effects.use_table {
            self.current = Some(table);
        }
        if let Some((name, value)) = effects.rebind {
            self.bindings.insert(name, value);
        }
        self.labels.extend(effects.labels);
        let mut out: Vec<Shown> = effects
            .notes
            .into_iter()
            .map(|note| Shown::Message(format!("Note: {note}")))
            .collect();
        out.extend(shown);
        Ok(out)
    }
}
