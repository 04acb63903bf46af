//! The `spel` command: the REPL (no arguments), `spel run` and `spel check`.

mod helper;
mod progress;
mod repl;
mod run;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "spel",
    version,
    about = "A language for evaluating health-service programmes",
    long_about = "A language for evaluating health-service programmes.\n\nWith no command, spel starts an interactive session (the REPL)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a script: print each result; stop at the first error (exit status 1).
    Run {
        file: PathBuf,
        /// `text` as the terminal shows, `json` (one object a line per result), or `html`
        /// (each result as a notebook shows it).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Parse a script without running it; report the first syntax error.
    Check { file: PathBuf },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// Each result's HTML (as a notebook shows it), one after another.
    Html,
}

fn main() -> ExitCode {
    // Engine panics are caught per statement and reported as diagnostics; the default
    // hook would print a second, rawer message.
    std::panic::set_hook(Box::new(|_| {}));
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Run { file, format }) => run::run(&file, format),
        Some(Command::Check { file }) => run::check(&file),
        None => repl::run(),
    }
}
