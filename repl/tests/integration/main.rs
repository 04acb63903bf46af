//! The `spel` command as a user runs it: stdout, stderr and exit status.

mod refcases;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn spel(args: &[&str], script: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analysis.spel");
    std::fs::write(&path, script).unwrap();
    let mut full: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    full.push(path.display().to_string());
    let output = Command::new(env!("CARGO_BIN_EXE_spel"))
        .args(&full)
        .current_dir(repo_root())
        .output()
        .unwrap();
    (output, dir)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const REGIONS: &str = r#"
wf = read "examples/data/pcn_workforce_2020_03.csv", encoding = "cp1252"
wf |> filter STAFF_ROLE == "Social Prescribing Link Workers"
   |> summarise fte = sum(FTE) by COMM_REGION_NAME
"#;

#[test]
fn run_prints_regional_totals_as_text_and_json() {
    let (out, _dir) = spel(&["run"], REGIONS);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("shape: (7, 2)"), "{text}");
    assert!(text.contains("London                   ┆ 22.51"), "{text}");

    let (out, _dir) = spel(&["run", "--format", "json"], REGIONS);
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(line["type"], "table");
    let rows = line["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    let total: f64 = rows.iter().map(|r| r[1].as_f64().unwrap()).sum();
    assert!((total - 112.3).abs() < 0.05, "total {total}");
    let london = rows.iter().find(|r| r[0] == "London").unwrap();
    assert!((london[1].as_f64().unwrap() - 22.5067).abs() < 1e-3);
}

#[test]
fn run_stops_at_the_first_error_with_its_location() {
    let script = "print \"before\"\nt = table x = [1]\nt |> filter y > 1\nprint \"after\"\n";
    let (out, _dir) = spel(&["run"], script);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "before\n");
    let err = stderr(&out);
    assert!(err.contains("unknown column `y`"), "{err}");
    assert!(err.contains("analysis.spel:3:13"), "{err}");
    assert!(err.contains(" 3 | t |> filter y > 1"), "{err}");
    // The marker sits under the `y` (column 13 of the quoted line).
    let quoted = err
        .lines()
        .position(|l| l.contains("t |> filter y > 1"))
        .unwrap();
    let marker = err.lines().nth(quoted + 1).unwrap();
    let line_start = err.lines().nth(quoted).unwrap().find("t |>").unwrap();
    assert_eq!(marker.chars().nth(line_start + 12), Some('|'), "{err}");
    assert!(!err.contains("after"));
}

#[test]
fn run_writes_no_partial_file_when_a_statement_fails() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    let script = format!(
        "t = table x = [1]\nwrite t |> filter nope > 1 to \"{}\"\n",
        target.display()
    );
    let (out, _script_dir) = spel(&["run"], &script);
    assert_eq!(out.status.code(), Some(1));
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn run_writes_html_as_a_notebook_shows_it() {
    let (out, _dir) = spel(
        &["run", "--format", "html"],
        "t = table y = [1.2, 2.3, 2.9, 4.1], x = [1, 2, 3, 4]\nt\nt |> model y ~ x\nprint \"done\"\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let html = stdout(&out);
    assert!(html.contains("<div class=\"spel-table\">"), "{html}");
    assert!(html.contains("<div class=\"spel-model\">"), "{html}");
    assert!(
        html.contains("<caption>Linear regression (OLS): y ~ x</caption>"),
        "{html}"
    );
    assert!(
        html.contains("<pre class=\"spel-text\">done</pre>"),
        "{html}"
    );
}

#[test]
fn check_parses_without_running() {
    let (out, _dir) = spel(&["check"], "x = read \"does-not-exist.csv\"\nx |> head 2\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 statements, no syntax errors"));

    let (out, _dir) = spel(&["check"], "x = (1 +\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("never closed"));
}

#[test]
fn missing_script_is_a_plain_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_spel"))
        .args(["run", "no-such-script.spel"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read no-such-script.spel"));
}

/// A script saved as Windows-1252 is refused at its first bad byte, with the line and
/// column, by `run` and `check` alike.
#[test]
fn a_script_that_is_not_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin.spel");
    std::fs::write(&path, b"x = 1\ny = \"caf\xe9\"\n").unwrap();
    for command in ["run", "check"] {
        let out = Command::new(env!("CARGO_BIN_EXE_spel"))
            .args([command, path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let error = stderr(&out);
        assert!(error.contains("spel::script::encoding"), "{error}");
        assert!(error.contains("byte 0xE9 at line 2, column 9"), "{error}");
        assert!(error.contains("latin.spel:2:9"), "{error}");
    }
}

/// Sizes the user gives are checked against the memory available before the work: a
/// survey or a power simulation too large for it is a located error with the estimate
/// (it was an allocation failure that aborted the process). SPEL_MEMORY_LIMIT caps
/// what spel assumes is available, so the test does not depend on the machine.
#[test]
fn sizes_beyond_the_memory_are_located_errors() {
    for (script, says) in [
        (
            "simulate gpps, n = 8000000\n",
            "a study of 8,000,000 respondents would need about 2.0 GB; 1.0 GB is available",
        ),
        (
            "simulate rollout, n = 1000000\n",
            "a study of 1,000,000 PCNs would need about 2.0 GB",
        ),
        (
            "power simulate good_experience ~ lw_fte_50k, n = 1e12, reps = 2, family = logit\n",
            "each simulated survey of 1,000,000,000,000 respondents",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.spel");
        std::fs::write(&path, script).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_spel"))
            .args(["run", path.to_str().unwrap()])
            .env("SPEL_MEMORY_LIMIT", "1000000000")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let error = stderr(&out);
        assert!(
            error.contains("spel::memory::too_large") && error.contains(says),
            "{error}"
        );
        assert!(error.contains("big.spel:1:"), "not located: {error}");
    }
}
