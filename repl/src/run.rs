//! `spel run` and `spel check`: read a file, hand it to the engine, print what it gives.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use spel_stdlib::Session;

use crate::Format;
use crate::terminal::{output_width, stderr_colour};

fn read_script(path: &Path) -> Result<String, ExitCode> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            eprintln!(
                "error: {} is not UTF-8 text; save the script as UTF-8",
                path.display()
            );
            ExitCode::FAILURE
        }),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            Err(ExitCode::FAILURE)
        }
    }
}

pub fn run(path: &Path, format: Format) -> ExitCode {
    let code = match read_script(path) {
        Ok(code) => code,
        Err(status) => return status,
    };
    let mut session = Session::new();
    session.width = output_width(session.width);
    let width = session.width;
    let mut stdout = std::io::stdout().lock();
    let result = session.execute(&code, &path.display().to_string(), &mut |shown| {
        let line = match format {
            Format::Text => shown.text(width),
            Format::Json => shown.json().to_string(),
            Format::Html => shown
                .html()
                .unwrap_or_else(|| spel_stdlib::render::html_text(&shown.text(width))),
        };
        let _ = writeln!(stdout, "{line}");
    });
    let _ = stdout.flush();
    drop(stdout);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(diagnostic) => {
            eprint!("{}", session.render_error(&diagnostic, stderr_colour()));
            ExitCode::FAILURE
        }
    }
}

pub fn check(path: &Path) -> ExitCode {
    let code = match read_script(path) {
        Ok(code) => code,
        Err(status) => return status,
    };
    let mut sources = spel_grammar::SourceMap::default();
    let source = sources.add(path.display().to_string(), code.as_str());
    match spel_grammar::parse(&code, source) {
        Ok(program) => {
            println!(
                "{}: {} statements, no syntax errors",
                path.display(),
                program.statements.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in &errors {
                eprint!("{}", spel_grammar::render(error, &sources, stderr_colour()));
            }
            ExitCode::FAILURE
        }
    }
}
