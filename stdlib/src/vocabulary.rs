//! The words of the language, for highlighters: the grammar's keywords, the verbs,
//! the functions (of expressions and of formulas) and the verbs' options, each list
//! sorted and without repeats. `python/spel_pygments/vocabulary.json` is this list written
//! (the Pygments lexer and the JupyterLab extension read it); a test keeps it current.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{formula, functions, verbs};

pub fn vocabulary() -> Value {
    let options = verbs::all().flat_map(|v| v.options.iter().map(|o| o.name));
    json!({
        "keywords": sorted(spel_grammar::keywords()),
        "verbs": sorted(verbs::names()),
        "functions": sorted(functions::names().chain(formula::TERM_FUNCTIONS)),
        "options": sorted(options),
    })
}

fn sorted(words: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
    words
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file the highlighters read equals the registry's words; with
    /// `UPDATE_VOCABULARY=1` the test writes it instead.
    #[test]
    fn the_highlighters_word_lists_are_the_registry_s() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../python/spel_pygments/vocabulary.json"
        );
        let text = serde_json::to_string_pretty(&vocabulary()).expect("words serialise") + "\n";
        if std::env::var_os("UPDATE_VOCABULARY").is_some() {
            std::fs::write(path, &text).expect("python/spel_pygments/vocabulary.json is writable");
        }
        let stored = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            stored == text,
            "python/spel_pygments/vocabulary.json is not the registry's words: run \
             `UPDATE_VOCABULARY=1 cargo test -p spel-stdlib vocabulary`"
        );
        let words = vocabulary();
        for (list, word) in [
            ("verbs", "model"),
            ("functions", "fe"),
            ("options", "cluster"),
        ] {
            assert!(
                words[list]
                    .as_array()
                    .expect("a list")
                    .iter()
                    .any(|w| w == word)
            );
        }
    }
}
