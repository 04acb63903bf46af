//! Golden tests: each `tests/golden/<area>/<name>.spel` with snapshots of what
//! `spel run` prints as text and as JSON (stdlib/tests/integration/snapshots/), and of
//! the HTML a notebook shows for scripts that start `# html`.

use crate::{repo_root, run_in, session};

#[test]
fn golden_scripts() {
    insta::glob!("../golden", "**/*.spel", |path| {
        let src = std::fs::read_to_string(path).expect("golden script is readable");
        let name = path
            .strip_prefix(repo_root())
            .unwrap_or(path)
            .display()
            .to_string();
        let run = run_in(&mut session(), &src, &name);
        insta::assert_snapshot!("text", run.transcript());
        if !src.starts_with("# skip: json") {
            insta::assert_snapshot!("json", run.json);
        }
        if src.starts_with("# html") {
            insta::assert_snapshot!("html", run.html);
        }
        // Plots: their SVG a tag a line and their Vega-Lite spec, readable in review.
        let plots: Vec<String> = run
            .json
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|v| v["type"] == "plot")
            .map(|v| {
                format!(
                    "{}\n\n{}",
                    v["svg"].as_str().unwrap_or("").replace("><", ">\n<"),
                    serde_json::to_string_pretty(&v["vegalite"]).unwrap_or_default()
                )
            })
            .collect();
        if !plots.is_empty() {
            insta::assert_snapshot!("plots", plots.join("\n\n"));
        }
    });
}
