//! Plots beyond their golden snapshots: saved to files, and their errors.

use super::{run_in, session};

#[test]
fn a_plot_is_written_as_svg_or_as_its_vega_lite_spec() {
    let folder = tempfile::tempdir().unwrap();
    let mut s = session();
    s.base_dir = Some(folder.path().to_path_buf());
    let out = run_in(
        &mut s,
        "p = table x = [1, 2, 3], y = [2.0, 4.5, 3.0] |> plot line y by x\nwrite p to \"figure.svg\"\nwrite p to \"figure.json\"",
        "plot.spel",
    );
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.text.contains("wrote the plot to figure.svg"));
    let svg = std::fs::read_to_string(folder.path().join("figure.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.path().join("figure.json")).unwrap())
            .unwrap();
    assert_eq!(spec["data"]["values"][1]["y"], 4.5);
    // Another extension is refused, and nothing is written.
    let out = run_in(&mut s, "write p to \"figure.png\"", "plot.spel");
    assert!(out.error.unwrap().contains("a plot is written as .svg"));
    assert!(!folder.path().join("figure.png").exists());
}

#[test]
fn a_plot_of_nothing_or_of_an_unknown_kind_is_an_error() {
    let mut s = session();
    let kind = run_in(
        &mut s,
        "table x = [1, 2], y = [1, 2] |> plot pie y by x",
        "p.spel",
    );
    assert!(
        kind.error
            .unwrap()
            .contains("`plot` draws line, bar, hist, scatter, interval")
    );
    let interval = run_in(
        &mut s,
        "table x = [1, 2], y = [1, 2] |> plot interval y by x",
        "p.spel",
    );
    assert!(
        interval
            .error
            .unwrap()
            .contains("needs `low = ...` and `high = ...`")
    );
}
