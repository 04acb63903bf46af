//! The real NHS England files: encodings, byte-order marks and the published figures.

use crate::{fails, ok, repo_root, run};

/// Total link-worker FTE and PCNs with one, from spel's JSON output.
fn link_workers(file: &str) -> (f64, i64) {
    let src = format!(
        "read \"{file}\", encoding = \"cp1252\"\n\
           |> filter STAFF_ROLE == \"Social Prescribing Link Workers\"\n\
           |> summarise fte = sum(FTE), pcns = n_distinct(PCN_CODE)"
    );
    let out = run(&src);
    assert!(out.error.is_none(), "{:?}", out.error);
    let line: serde_json::Value = serde_json::from_str(out.json.trim()).unwrap();
    let row = &line["rows"][0];
    (row[0].as_f64().unwrap(), row[1].as_i64().unwrap())
}

#[test]
fn march_2020_has_112_fte_in_106_pcns() {
    let (fte, pcns) = link_workers("examples/data/pcn_workforce_2020_03.csv");
    assert!((fte - 112.3).abs() < 0.05, "FTE {fte}");
    assert_eq!(pcns, 106);
}

#[test]
fn march_2021_has_1093_fte_in_631_pcns() {
    let (fte, pcns) = link_workers("examples/data/pcn_workforce_2021_03.csv");
    assert!((fte - 1093.3).abs() < 0.05, "FTE {fte}");
    assert_eq!(pcns, 631);
}

#[test]
fn every_workforce_file_reads_as_cp1252_and_not_without_it() {
    let folder = repo_root().join("examples/data");
    let entries =
        std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    let mut checked = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("pcn_workforce_") {
            continue;
        }
        let path = entry.path().display().to_string();
        let text = ok(&format!(
            "read \"{path}\", encoding = \"cp1252\" |> summarise n(), n_distinct(CENSUS_MONTH)"
        ));
        assert!(
            text.contains("│ ") && !text.contains("null"),
            "{name}: {text}"
        );
        let error = fails(&format!("read \"{path}\""));
        assert!(error.contains("is not valid UTF-8"), "{name}: {error}");
        assert!(error.contains("encoding = \"cp1252\""), "{name}: {error}");
        checked += 1;
    }
    assert!(checked >= 9, "found only {checked} workforce files");
}

#[test]
fn payments_file_byte_order_mark_is_skipped() {
    let out = run("read \"examples/data/gp_payments_2020_2021.csv\"");
    let line: serde_json::Value = serde_json::from_str(out.json.trim()).unwrap();
    assert_eq!(line["columns"][0], "NHS England (Region) code");
    assert!(line["n_rows"].as_u64().unwrap() > 6000);
}

#[test]
fn all_quarters_stack_into_one_series() {
    let folder = repo_root().join("examples/data");
    // Counting rows of many stacked files once tripped a polars optimisation (a u128
    // sum of per-file lengths).
    let pattern = folder.join("pcn_workforce_*.csv").display().to_string();
    let out = run(&format!(
        "wf = read \"{pattern}\", encoding = \"cp1252\"\n\
         wf |> summarise n(), quarters = n_distinct(CENSUS_YEAR * 100 + CENSUS_MONTH)\n\
         wf |> filter STAFF_ROLE == \"Social Prescribing Link Workers\"\n\
            |> summarise fte = round(sum(FTE), 1) by CENSUS_YEAR, CENSUS_MONTH"
    ));
    assert!(out.error.is_none(), "{:?}", out.error);
    let lines: Vec<serde_json::Value> = out
        .json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["rows"][0][1], 9);
    assert!(lines[0]["rows"][0][0].as_u64().unwrap() > 50_000);
    let series = lines[1]["rows"].as_array().unwrap();
    assert_eq!(series.len(), 9);
    assert_eq!(series[0], serde_json::json!([2020, 3, 112.3]));
    assert_eq!(series[4], serde_json::json!([2021, 3, 1093.3]));
}
