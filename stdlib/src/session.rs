//! A session: the bindings, the current table and every source it has run. The REPL,
//! `spel run` and the Jupyter kernel each hold one and only translate its results.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use spel_grammar::ast::{Statement, StatementKind};
use spel_grammar::{Colour, Diagnostic, SourceMap, parse, render};

use crate::eval::{Effects, Env};
use crate::render::{Shown, snapshot};
use crate::value::Value;
use crate::verbs;

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
        let program = parse(code, source).map_err(|mut errors| errors.remove(0))?;
        for statement in &program.statements {
            let result = catch_unwind(AssertUnwindSafe(|| self.statement(statement)));
            let shown = match result {
                Ok(result) => result?,
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a panic".into());
                    return Err(Diagnostic::internal(message).at(statement.span));
                }
            };
            if let Some(shown) = shown {
                on_output(&shown);
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

    fn statement(&mut self, statement: &Statement) -> Result<Option<Shown>, Diagnostic> {
        let mut effects = Effects::default();
        let env = Env {
            bindings: &self.bindings,
            current: self.current.as_deref(),
            sources: &self.sources,
            interrupt: &self.interrupt,
            base_dir: self.base_dir.as_deref(),
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
                let value = env.pipeline(value, &mut effects)?;
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
            StatementKind::Show(pipeline) => match env.pipeline(pipeline, &mut effects)? {
                Value::Nothing => (None, None),
                value => (
                    None,
                    Some(snapshot(&value).map_err(|d| d.or_at(statement.span))?),
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
        Ok(shown)
    }
}
