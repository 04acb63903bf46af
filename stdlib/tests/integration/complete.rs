//! Completion and inspection, as the REPL and the kernel use them.

use crate::{run_in, session};

fn texts(session: &spel_stdlib::Session, code: &str) -> Vec<String> {
    session
        .complete(code, code.len())
        .candidates
        .into_iter()
        .map(|c| c.text)
        .collect()
}

#[test]
fn verbs_at_the_start_and_after_a_pipe() {
    let s = session();
    assert_eq!(texts(&s, "fil"), ["filter"]);
    assert_eq!(texts(&s, "d |> su"), ["summarise", "survey"]);
    assert_eq!(texts(&s, "x = rea"), ["read"]);
}

#[test]
fn columns_of_the_table_in_scope() {
    let mut s = session();
    run_in(
        &mut s,
        "wf = table FTE = [1], PCN_CODE = [\"a\"], year = [2020]",
        "a",
    );
    // In a pipeline: the columns of its table, with stages before the cursor planned.
    assert_eq!(texts(&s, "wf |> filter PC"), ["PCN_CODE"]);
    assert_eq!(
        texts(&s, "wf |> derive per_pcn = FTE |> filter per_"),
        ["per_pcn"]
    );
    // After `use`.
    run_in(&mut s, "use wf", "b");
    assert_eq!(texts(&s, "summarise sum(F"), ["FTE"]);
    // Types come along for JupyterLab and the REPL's menu.
    let completions = s.complete("tabulate ye", 11);
    assert_eq!(completions.candidates[0].detail, "f64");
    assert_eq!((completions.start, completions.end), (9, 11));
}

#[test]
fn options_and_their_values() {
    let mut s = session();
    run_in(&mut s, "t = table x = [1]", "a");
    assert_eq!(texts(&s, "read \"a.csv\", enc"), ["encoding"]);
    let after_comma = texts(&s, "t |> tabulate x, we");
    assert_eq!(after_comma, ["weights"]);
    assert_eq!(texts(&s, "t |> model y ~ x, family = lo"), ["logit"]);
    assert_eq!(
        texts(&s, "t |> model y ~ x, se = cl"),
        ["classical", "cluster"]
    );
}

#[test]
fn bindings_and_functions_in_values() {
    let mut s = session();
    run_in(&mut s, "panel = table x = [1]\nthreshold = 3", "a");
    assert!(texts(&s, "pan").contains(&"panel".to_string()));
    assert!(texts(&s, "panel |> filter x > thr").contains(&"threshold".to_string()));
    assert!(texts(&s, "panel |> summarise me").contains(&"mean".to_string()));
    assert!(texts(&s, "panel |> summarise me").contains(&"median".to_string()));
}

#[test]
fn cursor_in_the_middle_of_a_word_and_of_multibyte_text() {
    let s = session();
    // `é` is two bytes: the word starts at byte 8 and the line ends at byte 12.
    let completions = s.complete("\"é\" |> filt", 12);
    assert_eq!(completions.start, 8);
    assert_eq!(completions.candidates[0].text, "filter");
    let middle = s.complete("filter", 3);
    assert_eq!((middle.start, middle.end), (0, 6));
}

#[test]
fn inspection_explains_verbs_functions_and_names() {
    let mut s = session();
    run_in(
        &mut s,
        "t = table region = [\"London\", \"North West\"]",
        "a",
    );
    let verb = s.inspect("t |> tabulate region", 8).unwrap();
    assert!(verb.contains("tabulate COLUMN, ..."), "{verb}");
    assert!(verb.contains("Options:"), "{verb}");
    let function = s.inspect("x = round(2.5)", 6).unwrap();
    assert!(function.contains("round(x, digits = 0)"), "{function}");
    let binding = s.inspect("t", 1).unwrap();
    assert!(
        binding.starts_with("t: table, 2 rows × 1 column\n\nshape: (2, 1)"),
        "{binding}"
    );
    assert!(binding.contains("North West"), "{binding}");
    assert_eq!(
        s.inspect("t |> tabulate region", 17).unwrap(),
        "region: column (str)"
    );
    assert_eq!(s.inspect("   ", 1), None);
}

#[test]
fn meta_commands() {
    let mut s = session();
    let dir = tempfile::tempdir().unwrap();
    let mut printed = Vec::new();
    let mut collect = |shown: &spel_stdlib::Shown| printed.push(shown.text(100));
    s.execute("x = 1\nt = table a = [1, 2]\nbad = nope", "a", &mut |_| {})
        .unwrap_err();
    s.meta(":tables", &mut collect).unwrap();
    s.meta(":help sort", &mut collect).unwrap();
    let script = dir.path().join("session.spel");
    s.meta(&format!(":save {}", script.display()), &mut collect)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&script).unwrap(),
        "x = 1\nt = table a = [1, 2]\n"
    );
    s.meta(":clear", &mut collect).unwrap();
    s.meta(&format!(":load {}", script.display()), &mut collect)
        .unwrap();
    assert_eq!(
        s.meta(":quit", &mut collect).unwrap(),
        spel_stdlib::meta::After::Quit
    );
    let error = s.meta(":hlep", &mut collect).unwrap_err();
    assert!(
        error.help.as_deref() == Some("did you mean `:help`?"),
        "{:?}",
        error.help
    );
    assert!(
        printed[0].contains("t                table, 2 rows × 1 column\n"),
        "{}",
        printed[0]
    );
    assert!(
        printed[0].contains("x                number 1"),
        "{}",
        printed[0]
    );
    assert!(printed[1].contains("Order rows"), "{}", printed[1]);
    assert!(printed[2].contains("saved 2 statements"), "{}", printed[2]);
    assert!(printed[3].contains("removed 2 names"), "{}", printed[3]);
    assert_eq!(run_in(&mut s, "x", "b").text, "1\n");
}

/// A Tab never does a verb's work: the columns after a simulation come from a few of
/// its rows (a hundred million here would take minutes and gigabytes), and after a
/// verb that must compute (a fit, a file) there are none to offer, rather than the fit
/// being run on the engine thread to find out.
#[test]
fn completion_plans_and_never_computes() {
    let mut s = session();
    assert_eq!(
        texts(&s, "simulate gpps, n = 100000000, seed = 1 |> filter lw_"),
        ["lw_fte_50k"]
    );
    assert_eq!(
        texts(&s, "simulate gpps |> derive z = lw_fte_50k * 2 |> filter z"),
        ["z"]
    );
    run_in(&mut s, "t = table y = [1, 2, 3, 4], x = [1, 3, 2, 5]", "a");
    assert!(texts(&s, "t |> model y ~ x |> filter x").is_empty());
    assert!(texts(&s, "read \"no-such-file.csv\" |> filter x").is_empty());
    assert!(texts(&s, "t |> write \"never-written.csv\" |> filter x").is_empty());
    assert!(!std::path::Path::new("never-written.csv").exists());
    // Every verb says which it is.
    for verb in spel_stdlib::verbs::all() {
        let computes = matches!(verb.name, "model" | "read" | "write" | "did" | "power");
        if computes {
            assert_eq!(
                verb.output,
                spel_stdlib::verbs::Output::Computed,
                "{}",
                verb.name
            );
        }
    }
}
