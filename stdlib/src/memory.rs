//! What the machine can hold. A size the user gives (respondents to simulate, say) is
//! checked against the memory available before the work starts: a request too large
//! is a located error with the estimate, never an allocation that aborts the process.

use spel_grammar::{Diagnostic, Span};

/// Caps the memory spel assumes it may use, in bytes (for a shared server, or a test);
/// it never raises what the system reports.
pub const LIMIT_VARIABLE: &str = "SPEL_MEMORY_LIMIT";

/// Bytes a simulated survey holds at its peak per respondent (measured: 1,015 MB for
/// 4,000,000 against 272 MB for 1,000,000).
pub const SURVEY_BYTES_PER_RESPONDENT: u64 = 250;

/// The memory available now: Linux's `MemAvailable`, capped by [`LIMIT_VARIABLE`];
/// `None` where neither is known (then nothing is refused).
pub fn available() -> Option<u64> {
    let limit = std::env::var(LIMIT_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let system = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024))
        });
    match (limit, system) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Refuses work that would need more than the memory available, naming both.
pub fn check(needed: f64, what: &str, span: Span) -> Result<(), Diagnostic> {
    let Some(available) = available() else {
        return Ok(());
    };
    if needed <= available as f64 {
        return Ok(());
    }
    Err(Diagnostic::new(
        "spel::memory::too_large",
        format!(
            "{what} would need about {}; {} is available",
            gigabytes(needed),
            gigabytes(available as f64)
        ),
    )
    .at(span)
    .with_help(
        "ask for less: a smaller `n` (a sample of a million respondents keeps the \
                survey's structure)",
    ))
}

fn gigabytes(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else {
        format!("{:.0} MB", bytes / 1e6)
    }
}
