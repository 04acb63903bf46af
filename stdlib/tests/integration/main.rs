//! Engine integration tests: golden scripts, documented examples, the real NHS files,
//! error messages and session guarantees. One binary, to keep link time down.

mod complete;
mod designs;
mod docs;
mod errors;
mod fuzz;
mod golden;
mod models;
mod nhs;
mod options;
mod plots;
mod scale;
mod session;
mod survey;

use std::path::{Path, PathBuf};

use spel_stdlib::{Colour, Session};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the stdlib crate sits in the workspace")
        .to_path_buf()
}

/// What running a script printed: results as text and as JSON lines, and the
/// rendered error if a statement failed.
pub struct Run {
    pub text: String,
    pub json: String,
    /// Each result's HTML (what a notebook shows), one after another.
    pub html: String,
    pub error: Option<String>,
}

impl Run {
    /// Text output followed by the error, as `spel run` shows stdout then stderr.
    pub fn transcript(&self) -> String {
        match &self.error {
            Some(e) => format!("{}{e}", self.text),
            None => self.text.clone(),
        }
    }
}

/// A fresh session whose relative paths start at the repository root.
pub fn session() -> Session {
    let mut session = Session::new();
    session.base_dir = Some(repo_root());
    session
}

pub fn run_in(session: &mut Session, src: &str, name: &str) -> Run {
    let mut text = String::new();
    let mut json = String::new();
    let mut html = String::new();
    let result = session.execute(src, name, &mut |shown| {
        text.push_str(&shown.text(100));
        text.push('\n');
        json.push_str(&shown.json().to_string());
        json.push('\n');
        if let Some(page) = shown.html() {
            html.push_str(&page);
            html.push('\n');
        }
    });
    let error = result
        .err()
        .map(|d| session.render_error(&d, Colour::Never));
    Run {
        text,
        json,
        html,
        error,
    }
}

pub fn run(src: &str) -> Run {
    run_in(&mut session(), src, "test.spel")
}

/// Runs `src`, which must succeed, and returns its text output.
pub fn ok(src: &str) -> String {
    let run = run(src);
    if let Some(e) = run.error {
        panic!("{src}\nfailed:\n{e}");
    }
    run.text
}

/// Runs `src`, which must fail, and returns the rendered error.
pub fn fails(src: &str) -> String {
    run(src)
        .error
        .unwrap_or_else(|| panic!("expected an error from:\n{src}"))
}
