//! Options of a word set, checked in one place for every verb: a word written bare
//! and quoted means the same; a word outside the set is a located error naming the
//! set, with what spel calls R's and Stata's names.

use spel_stdlib::verbs::{self, OptionKind};

use crate::{fails, ok, run};

/// What a run printed, or the first line of its error (which quotes no source).
fn outcome(src: &str) -> String {
    let run = run(src);
    match run.error {
        Some(e) => e.lines().next().unwrap_or_default().to_string(),
        None => run.text,
    }
}

/// Every word of every option of a word set, on the verb's first example.
#[test]
fn a_word_quoted_is_the_word_bare() {
    let mut checked = 0;
    for verb in verbs::all() {
        for option in verb.options {
            let OptionKind::Word(words) = option.kind else {
                continue;
            };
            let example = verb
                .examples
                .first()
                .expect("a verb with options has an example");
            for word in words {
                let bare = outcome(&format!("{}, {} = {word}", example.code, option.name));
                let quoted = outcome(&format!("{}, {} = \"{word}\"", example.code, option.name));
                assert_eq!(bare, quoted, "{} {} = {word}", verb.name, option.name);
                checked += 1;
            }
            let error = fails(&format!("{}, {} = nonsense", example.code, option.name));
            assert!(
                error.contains(&format!("`nonsense` is not a value of `{}`", option.name)),
                "{error}"
            );
            assert!(error.contains("test.spel:"), "not located: {error}");
            for word in words {
                assert!(error.contains(word), "{} missing from {error}", word);
            }
        }
    }
    assert!(checked >= 20, "only {checked} words checked");
}

#[test]
fn a_quoted_word_fits_the_model_the_bare_one_does() {
    let table = "table y = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1], x = [1, 2, 2, 3, 4, 5, 5, 6, 7, 8], \
                 g = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]";
    for (bare, quoted) in [
        ("family = probit", "family = \"probit\""),
        ("family = ols", "family = \"ols\""),
        ("family = poisson", "family = \"poisson\""),
        ("se = robust", "se = \"robust\""),
        ("se = hc3", "se = \"hc3\""),
        ("cluster = g, ssc = min", "cluster = g, ssc = \"min\""),
    ] {
        let a = ok(&format!("{table} |> model y ~ x, {bare}"));
        let b = ok(&format!("{table} |> model y ~ x, {quoted}"));
        assert_eq!(a, b, "{bare}");
    }
    let probit = ok(&format!("{table} |> model y ~ x, family = \"probit\""));
    assert!(probit.starts_with("Probit regression"), "{probit}");
}

#[test]
fn other_tools_words_are_named_in_spel_s() {
    let table = "table y = [0, 0, 1, 0, 1, 1], x = [1, 2, 2, 3, 4, 5]";
    for (option, help) in [
        (
            "family = \"binomial\"",
            "did you mean `logit`? R's `binomial` family",
        ),
        (
            "family = binomial",
            "did you mean `logit`? R's `binomial` family",
        ),
        (
            "family = \"Logit\"",
            "did you mean `logit`? words are lower case",
        ),
        ("family = \"gaussian\"", "did you mean `ols`?"),
        ("family = nbreg", "did you mean `negbin`? Stata's `nbreg`"),
        (
            "se = \"HC1\"",
            "did you mean `robust`? HC1 is spel's `robust`",
        ),
        ("se = HC0", "did you mean `robust`?"),
        ("se = robst", "did you mean `robust`?"),
    ] {
        let error = fails(&format!("{table} |> model y ~ x, {option}"));
        assert!(error.contains(help), "{option}: {error}");
        assert!(error.contains("is not a value of"), "{option}: {error}");
    }
}

#[test]
fn numbers_out_of_range_are_located_errors() {
    let table = "table y = [0, 0, 1, 0, 1, 1], x = [1, 2, 2, 3, 4, 5]";
    for (call, message) in [
        (
            format!("{table} |> model y ~ x, level = 1.5"),
            "`level = 1.5` is out of range",
        ),
        (
            format!("{table} |> model y ~ x, level = \"high\""),
            "`level` takes a number, not a string",
        ),
        (
            "simulate gpps, n = 1e12".to_string(),
            "`n = 1000000000000` is out of range",
        ),
        (
            "simulate gpps, n = 2.5".to_string(),
            "`n = 2.5` is out of range",
        ),
        (
            format!("{table} |> plot hist x, bins = 0"),
            "`bins = 0` is out of range",
        ),
        (
            format!("{table} |> compare y by x, paired = \"yes\""),
            "`paired` takes true or false, not a string",
        ),
        (
            "power logit, or = 1.1, p0 = 0.5, n = 100, alpha = 0".to_string(),
            "`alpha = 0` is out of range",
        ),
    ] {
        let error = fails(&call);
        assert!(error.contains(message), "{call}: {error}");
        assert!(error.contains("test.spel:1:"), "not located: {error}");
    }
}
