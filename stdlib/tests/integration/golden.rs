//! Golden tests: each `tests/golden/<area>/<name>.spel` with snapshots of what
//! `spel run` prints as text and as JSON (stdlib/tests/integration/snapshots/).

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
    });
}
