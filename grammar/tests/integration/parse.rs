//! Parse trees (as YAML, spans as `source:start-end`) for each construct of the grammar.

use spel_grammar::{SourceId, parse};

fn ast(src: &str) -> spel_grammar::ast::Program {
    parse(src, SourceId(0)).unwrap_or_else(|e| panic!("{src}: {:?}", e[0].message))
}

#[test]
fn assignment_and_precedence() {
    insta::assert_yaml_snapshot!(ast("x = 1 + 2 * 3 ^ 2 ^ 1 > 4 & !done | a in [1, 2]"));
}

#[test]
fn bare_names_and_verbs_without_arguments() {
    insta::assert_yaml_snapshot!(ast("describe\nx\nhead 10"));
}

#[test]
fn pipeline_over_lines_with_comments() {
    insta::assert_yaml_snapshot!(ast(
        "panel = gpps   # the survey\n  |> join wf on [pcn, year]\n  # keep recent years\n  |> filter year >= 2018 & !is_null(good_experience)"
    ));
}

#[test]
fn verb_with_clauses_options_and_sort_orders() {
    insta::assert_yaml_snapshot!(ast(
        "summarise fte = sum(FTE), n() by region, year\nsort year desc, region asc\nwrite panel to \"out/panel.parquet\"\nread \"a.csv\", encoding = \"cp1252\""
    ));
}

#[test]
fn formula_with_every_kind_of_term() {
    insta::assert_yaml_snapshot!(ast(
        "m = model y ~ a + factor(b, ref = \"x\") + c:d + e*f:g + fe(h) + offset(log(k)) + x^2 - 1 | age >= 30 & kids > 0,\n  family = logit, weights = wt, cluster = pcn"
    ));
}

#[test]
fn literals() {
    insta::assert_yaml_snapshot!(ast(
        "x = [2019-07-01, 1.5e3, .5, \"a \\\"quoted\\\" word\", true, false, `Practice Code`]"
    ));
}

#[test]
fn statements_split_on_newlines_and_semicolons() {
    let program = ast("a = 1; b = 2\n\nc = 3\n");
    assert_eq!(program.statements.len(), 3);
    let program = ast("x = f(1,\n  2)\ny = 1 +\n  2\nz = 3");
    assert_eq!(program.statements.len(), 3);
}

#[test]
fn keywords_are_words_only_when_whole() {
    // `income`, `total` and `order` begin with keywords but are names.
    let program = ast("income |> filter total > 0 & order in [1] & ontime & bytes > 1");
    assert_eq!(program.statements.len(), 1);
}

#[test]
fn parsing_never_panics_on_odd_input() {
    for src in [
        "",
        "\n\n",
        "((((",
        "))))",
        "|>",
        "~",
        "\"",
        "`",
        "x = \u{1F600}",
        "a |> |> b",
        "1e",
        "2019-13-45",
        "#",
        "\u{0}",
    ] {
        let _ = parse(src, SourceId(0));
        let _ = spel_grammar::is_complete(src);
    }
}

/// The design draft's examples and the seed study (copied from the draft into
/// `tests/data/design_draft/`, one file per example block) must keep parsing;
/// docs/language.md runs the ones that can run today.
#[test]
fn design_draft_and_seed_study_parse() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/design_draft");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "spel"))
        .collect();
    files.sort();
    for path in &files {
        let src = std::fs::read_to_string(path).unwrap();
        parse(&src, SourceId(0))
            .unwrap_or_else(|e| panic!("{}:\n{src}\n{}", path.display(), e[0].message));
    }
    assert_eq!(files.len(), 8, "the seed study and seven example blocks");
}
