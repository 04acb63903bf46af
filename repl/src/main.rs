//! The `spel` command: the REPL (no arguments), `spel run` and `spel check`.

mod helper;
mod progress;
mod repl;
mod run;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// A fit on millions of rows allocates and frees vectors of tens of megabytes. glibc's
// malloc maps each one afresh, and the kernel's faulting-in and zeroing of its pages
// took a third of the CPU time of the national-scale study; mimalloc reuses memory
// freed within the process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (a stable number; the sys crate
/// names the options around it but not this one).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// `mi_option_allow_thp`, likewise.
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

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
    /// The Jupyter kernel: `spel kernel install`, or run with `--connection-file`.
    Kernel {
        #[command(subcommand)]
        action: Option<KernelAction>,
        /// The connection file Jupyter gives the kernel.
        #[arg(long, short = 'f')]
        connection_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KernelAction {
    /// Write the kernelspec where Jupyter looks (as `python -m ipykernel install`).
    Install {
        /// For this user (the default).
        #[arg(long)]
        user: bool,
        /// Into the active Python environment.
        #[arg(long)]
        sys_prefix: bool,
        /// Into DIR/share/jupyter.
        #[arg(long)]
        prefix: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// Each result's HTML (as a notebook shows it), one after another.
    Html,
}

/// Memory on small pages only. Freed at once (above), memory that comes back as a
/// transparent huge page is zeroed 2 MiB at a time however little of it is used: the
/// full-size study (examples/study.spel) spent 60% of its time in the kernel's zeroing
/// and took 16-22 s, against 6-8 s on small pages; fits take the same time run after
/// run (BENCHMARKS.md, "Small pages, and the simulator's text columns").
fn without_huge_pages() {
    // SAFETY: sets an option by its number; mimalloc reads it at each new mapping.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    // Where the system gives huge pages to every mapping, not only those asking.
    #[cfg(target_os = "linux")]
    // SAFETY: a process-wide flag with plain integer arguments; its result (refused on
    // kernels without it) changes nothing we rely on.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    // Memory freed goes back to the system at once, not a second later: a fit's peak stays
    // near what glibc's malloc gives (about 8% above it on the national-scale study,
    // against 45% with the delay) and a kernel left idle holds no more than it uses.
    // SAFETY: sets an option by its number; mimalloc reads it at each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    without_huge_pages();
    // polars maps a local file it scans into memory, and every page it has read counts
    // as this process's until the scan ends: a quarter of the peak of a 41-million-row
    // fit. Read in blocks instead (its reader for remote files), the pages go back to the
    // system's file cache as the batches pass. A value the user set is kept.
    if std::env::var_os("POLARS_FORCE_ASYNC").is_none() {
        // SAFETY: no other thread has started yet, so none reads the environment.
        unsafe { std::env::set_var("POLARS_FORCE_ASYNC", "1") };
    }
    // Engine panics are caught per statement and reported as diagnostics; the default
    // hook would print a second, rawer message. SPEL_DEBUG_PANIC=1 prints its place.
    let debug = std::env::var_os("SPEL_DEBUG_PANIC").is_some();
    std::panic::set_hook(Box::new(move |info| {
        if debug {
            eprintln!("{info}");
        }
    }));
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Run { file, format }) => run::run(&file, format),
        Some(Command::Check { file }) => run::check(&file),
        Some(Command::Kernel {
            action,
            connection_file,
        }) => kernel(action, connection_file),
        None => repl::run(),
    }
}

fn kernel(action: Option<KernelAction>, connection_file: Option<PathBuf>) -> ExitCode {
    use spel_kernel::install::{Target, install};
    match (action, connection_file) {
        (
            Some(KernelAction::Install {
                user: _,
                sys_prefix,
                prefix,
            }),
            _,
        ) => {
            let target = match (sys_prefix, prefix) {
                (_, Some(dir)) => Target::Prefix(dir),
                (true, None) => Target::SysPrefix,
                _ => Target::User,
            };
            let executable = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("spel"));
            match install(&target, &executable) {
                Ok(folder) => {
                    println!("installed the spel kernel in {}", folder.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        (None, Some(file)) => match spel_kernel::run(&file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        (None, None) => {
            eprintln!(
                "usage: spel kernel install [--user | --sys-prefix | --prefix DIR], or spel kernel --connection-file FILE"
            );
            ExitCode::FAILURE
        }
    }
}
