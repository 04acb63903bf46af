//! The interactive session: prompts, continuation lines, history, Ctrl-C and Ctrl-D,
//! meta-commands. Results print exactly as `spel run` prints them.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};
use spel_stdlib::meta::After;
use spel_stdlib::{Completeness, Session, is_complete};

use crate::helper::SpelHelper;
use crate::progress::Spinner;
use crate::terminal::{output_width, stderr_colour};

const PROMPT: &str = "spel> ";
const CONTINUATION: &str = "  ... ";

/// `~/.local/share/spel/history` on Linux (the platform's data folder elsewhere).
fn history_path() -> Option<PathBuf> {
    let folder = dirs::data_dir()?.join("spel");
    std::fs::create_dir_all(&folder).ok()?;
    Some(folder.join("history"))
}

pub fn run() -> ExitCode {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut session = Session::new();
    session.width = output_width(session.width);
    if interactive {
        session.progress = Some(Arc::new(Spinner::default()));
    }
    let interrupt = session.interrupt_handle();
    // Ctrl-C while a statement runs stops it; at the prompt rustyline reads it as a key.
    let _ = ctrlc::set_handler(move || interrupt.store(true, Ordering::SeqCst));

    let session = Rc::new(RefCell::new(session));
    let config = Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: Editor<SpelHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return ExitCode::FAILURE;
        }
    };
    editor.set_helper(Some(SpelHelper::new(Rc::clone(&session), interactive)));
    editor.set_auto_add_history(false);
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    if interactive {
        println!(
            "spel {} — `:help` for help, Ctrl-D to leave",
            env!("CARGO_PKG_VERSION")
        );
    }

    let mut pending = String::new();
    let mut entry = 0;
    loop {
        let prompt = if pending.is_empty() {
            PROMPT
        } else {
            CONTINUATION
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: this input cannot be read ({e}); type text in UTF-8");
                pending.clear();
                continue;
            }
        };
        if let Some(c) = line
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            eprintln!(
                "error: the input holds a control character (U+{:04X}); nothing was run",
                c as u32
            );
            pending.clear();
            continue;
        }
        if pending.is_empty() && line.trim_start().starts_with(':') {
            remember(&mut editor, &history, line.trim());
            let outcome = spel_stdlib::guard::guarded(|| {
                session
                    .borrow_mut()
                    .meta(&line, &mut |shown| print_shown(shown))
            })
            .unwrap_or_else(|| Err(spel_stdlib::Diagnostic::internal("the meta-command failed")));
            match outcome {
                Ok(After::Quit) => break,
                Ok(After::Continue) => {}
                Err(diagnostic) => report(&session.borrow(), &diagnostic),
            }
            refresh(&mut editor);
            continue;
        }
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        if pending.trim().is_empty() {
            pending.clear();
            continue;
        }
        if matches!(is_complete(&pending), Completeness::Incomplete { .. }) {
            continue;
        }
        let code = std::mem::take(&mut pending);
        remember(&mut editor, &history, code.trim_end());
        entry += 1;
        let result =
            session
                .borrow_mut()
                .execute(&code, &format!("<input {entry}>"), &mut |shown| {
                    print_shown(shown)
                });
        if let Err(diagnostic) = result {
            report(&session.borrow(), &diagnostic);
        }
        refresh(&mut editor);
    }
    ExitCode::SUCCESS
}

fn print_shown(shown: &spel_stdlib::Shown) {
    let mut stdout = std::io::stdout().lock();
    let width = output_width(spel_stdlib::render::DEFAULT_WIDTH);
    let _ = writeln!(stdout, "{}", shown.text(width));
    let _ = stdout.flush();
}

fn report(session: &Session, diagnostic: &spel_stdlib::Diagnostic) {
    eprint!("{}", session.render_error(diagnostic, stderr_colour()));
}

fn remember(editor: &mut Editor<SpelHelper, DefaultHistory>, path: &Option<PathBuf>, entry: &str) {
    let _ = editor.add_history_entry(entry);
    if let Some(path) = path {
        let _ = editor.append_history(path);
    }
}

fn refresh(editor: &mut Editor<SpelHelper, DefaultHistory>) {
    if let Some(helper) = editor.helper_mut() {
        helper.refresh();
    }
}
