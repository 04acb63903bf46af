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

/// The design draft's examples and the seed study (in the planning folder beside the
/// project) must keep parsing; docs/language.md runs the ones that can run today.
#[test]
fn design_draft_and_seed_study_parse() {
    let design = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/design");
    let read = |name: &str| {
        std::fs::read_to_string(design.join(name))
            .unwrap_or_else(|e| panic!("{} must be beside the project: {e}", design.display()))
    };
    let (draft, seed) = (read("language.md"), read("seed_study.spel"));
    parse(&seed, SourceId(0)).unwrap_or_else(|e| panic!("seed study: {}", e[0].message));
    let mut blocks = 0;
    let mut block = String::new();
    for line in draft.lines().chain(std::iter::once("end")) {
        if let Some(code) = line.strip_prefix("    ") {
            block.push_str(code);
            block.push('\n');
        } else if !block.trim().is_empty() && !line.trim().is_empty() {
            parse(&block, SourceId(0))
                .unwrap_or_else(|e| panic!("draft block:\n{block}\n{}", e[0].message));
            blocks += 1;
            block.clear();
        }
    }
    assert!(blocks >= 6, "found {blocks} blocks");
}
