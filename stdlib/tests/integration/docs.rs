//! Every documented example is a test: the verb registry's examples, and the ```spel
//! blocks of README.md and docs/*.md.

use spel_stdlib::verbs;

use crate::{repo_root, run, run_in, session};

#[test]
fn verb_registry_examples_print_what_they_say() {
    let mut checked = 0;
    for verb in verbs::all() {
        for example in verb.examples {
            let out = run(example.code);
            assert!(
                out.error.is_none(),
                "{} example failed:\n{}",
                verb.name,
                out.error.unwrap()
            );
            assert_eq!(
                out.text.trim_end(),
                example.output.trim_end(),
                "{} example `{}` printed something else",
                verb.name,
                example.summary
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} examples");
}

/// A fenced block of a markdown file: its info string, code, and the ```text block
/// right after it, if any.
struct Block {
    info: String,
    code: String,
    expected: Option<String>,
    line: usize,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut lines = markdown.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let mut code = String::new();
        for (_, inner) in lines.by_ref() {
            if inner.trim_start().starts_with("```") {
                break;
            }
            code.push_str(inner);
            code.push('\n');
        }
        if info.trim() == "text"
            && blocks
                .last()
                .is_some_and(|b| b.expected.is_none() && b.info.starts_with("spel"))
        {
            if let Some(last) = blocks.last_mut() {
                last.expected = Some(code);
            }
            continue;
        }
        blocks.push(Block {
            info: info.trim().to_string(),
            code,
            expected: None,
            line: number + 1,
        });
    }
    blocks
}

fn check_markdown(path: &str) -> usize {
    let markdown = std::fs::read_to_string(repo_root().join(path)).unwrap();
    let mut checked = 0;
    for block in blocks(&markdown) {
        let place = format!("{path}:{}", block.line);
        match block.info.as_str() {
            // Runs, and prints what the following ```text block shows.
            "spel" => {
                let out = run_in(&mut session(), &block.code, "example.spel");
                if let Some(e) = &out.error {
                    panic!("{place} failed:\n{e}");
                }
                if let Some(expected) = &block.expected {
                    assert_eq!(
                        out.text.trim_end(),
                        expected.trim_end(),
                        "{place} printed something else"
                    );
                }
            }
            // Must fail, with the error shown in the following ```text block.
            "spel-error" => {
                let out = run_in(&mut session(), &block.code, "example.spel");
                let Some(error) = out.error else {
                    panic!("{place} should fail");
                };
                if let Some(expected) = &block.expected {
                    assert_eq!(
                        error.trim_end(),
                        expected.trim_end(),
                        "{place} failed differently"
                    );
                }
            }
            // Syntax of features still to come: must parse.
            "spel-parse" => {
                if let Err(e) = spel_grammar::parse(&block.code, spel_grammar::SourceId(0)) {
                    panic!("{place} does not parse: {}", e[0].message);
                }
            }
            _ => continue,
        }
        checked += 1;
    }
    checked
}

#[test]
fn readme_examples_run() {
    assert!(check_markdown("README.md") >= 3);
}

#[test]
fn language_reference_examples_run() {
    assert!(check_markdown("docs/language.md") >= 10);
}

#[test]
fn design_guide_examples_run() {
    assert!(check_markdown("docs/designs.md") >= 1);
}

#[test]
fn plot_guide_examples_run() {
    assert!(check_markdown("docs/plots.md") >= 4);
}

#[test]
fn simulator_guide_examples_run() {
    assert!(check_markdown("docs/simulate.md") >= 1);
}

#[test]
fn meta_analysis_guide_examples_run() {
    assert!(check_markdown("docs/meta.md") >= 3);
}

#[test]
fn survey_guide_examples_run() {
    assert!(check_markdown("docs/survey.md") >= 7);
}

#[test]
fn model_guide_examples_run() {
    assert!(check_markdown("docs/models.md") >= 4);
}

#[test]
fn mixed_model_guide_examples_run() {
    assert!(check_markdown("docs/mixed.md") >= 4);
}
