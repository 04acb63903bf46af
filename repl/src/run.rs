//! `spel run` and `spel check`: read a file, hand it to the engine, print what it gives.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use spel_stdlib::Session;

use crate::Format;
use crate::terminal::{output_width, stderr_colour};

fn read_script(path: &Path) -> Result<String, ExitCode> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            let shown = path.display().to_string();
            eprint!(
                "{}",
                not_utf8(&shown, e.as_bytes(), e.utf8_error().valid_up_to())
            );
            ExitCode::FAILURE
        }),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            Err(ExitCode::FAILURE)
        }
    }
}

/// A script that is not UTF-8, as a diagnostic at its first bad byte (`at`), on the text
/// read with bad bytes replaced.
fn not_utf8(path: &str, bytes: &[u8], at: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text[..at].matches('\n').count() + 1;
    let column = text[..at]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.chars().count())
        + 1;
    let mut sources = spel_grammar::SourceMap::default();
    let source = sources.add(path.to_string(), &*text);
    let bad = spel_grammar::Span::new(source, at, at + '\u{FFFD}'.len_utf8());
    let diagnostic = spel_grammar::Diagnostic::new(
        "spel::script::encoding",
        format!(
            "the script is not UTF-8 text: byte 0x{:02X} at line {line}, column {column}",
            bytes[at]
        ),
    )
    .at(bad)
    .with_help(
        "save the script as UTF-8 (most editors: Save As, encoding UTF-8); data files in \
         other encodings are read with `read \"FILE\", encoding = \"cp1252\"`",
    );
    spel_grammar::render(&diagnostic, &sources, stderr_colour())
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
