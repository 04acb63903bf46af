//! Evaluation designs against the packages that define them, on shared test data
//! (`stdlib/tests/data/did_staggered.py` made the data and the reference numbers).

use serde_json::Value;

use super::{repo_root, run};

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * (1.0 + b.abs())
}

fn reference() -> Value {
    let path = repo_root().join("stdlib/tests/data/did_staggered_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The JSON rows of the last result of a script that must succeed.
fn rows(src: &str) -> Vec<Value> {
    let out = run(src);
    assert!(out.error.is_none(), "{:?}", out.error);
    let last: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
    last["rows"].as_array().unwrap().clone()
}

const PANEL: &str = "d = read \"stdlib/tests/data/did_staggered.csv\" |> derive treated = first > 0 & quarter >= first\n";

#[test]
fn did_matches_csdid_for_both_control_groups_with_and_without_weights() {
    let reference = reference();
    for (controls, key) in [("never", "nevertreated"), ("notyet", "notyettreated")] {
        for (weights, wkey) in [("", "unweighted"), (", weights = weight", "weighted")] {
            let expected = &reference[key][wkey];
            let call = format!(
                "d |> did y ~ treated, unit = pcn, time = quarter, first = first, controls = {controls}{weights}"
            );
            // Every group-time ATT and its analytic SE.
            let cells = rows(&format!("{PANEL}{call}, show = group_time"));
            let expected_cells = expected["att_gt"].as_array().unwrap();
            assert_eq!(cells.len(), expected_cells.len(), "{controls} {wkey}");
            for (row, want) in cells.iter().zip(expected_cells) {
                assert_eq!(row[0].as_f64(), want["group"].as_f64());
                assert_eq!(row[1].as_f64(), want["time"].as_f64());
                assert!(
                    close(
                        row[3].as_f64().unwrap(),
                        want["att"].as_f64().unwrap(),
                        1e-9
                    ),
                    "{row:?} {want}"
                );
                assert!(
                    close(row[4].as_f64().unwrap(), want["se"].as_f64().unwrap(), 1e-9),
                    "{row:?} {want}"
                );
            }
            // The simple aggregation, the event-study average and each event time.
            let summary = rows(&format!("{PANEL}{call}"));
            let simple = &summary[1];
            assert_eq!(simple[0], "CS simple");
            assert!(close(
                simple[3].as_f64().unwrap(),
                expected["simple"]["att"].as_f64().unwrap(),
                1e-9
            ));
            assert!(close(
                simple[4].as_f64().unwrap(),
                expected["simple"]["se"].as_f64().unwrap(),
                1e-9
            ));
            let average = &summary[2];
            assert!(close(
                average[3].as_f64().unwrap(),
                expected["dynamic_overall"]["att"].as_f64().unwrap(),
                1e-9
            ));
            assert!(close(
                average[4].as_f64().unwrap(),
                expected["dynamic_overall"]["se"].as_f64().unwrap(),
                1e-9
            ));
            let events = &summary[3..];
            let expected_events = expected["dynamic"].as_array().unwrap();
            assert_eq!(events.len(), expected_events.len());
            for (row, want) in events.iter().zip(expected_events) {
                assert_eq!(row[2].as_i64(), want["e"].as_i64());
                assert!(
                    close(
                        row[3].as_f64().unwrap(),
                        want["att"].as_f64().unwrap(),
                        1e-9
                    ),
                    "{row:?} {want}"
                );
                assert!(
                    close(row[4].as_f64().unwrap(), want["se"].as_f64().unwrap(), 1e-9),
                    "{row:?} {want}"
                );
                // The simultaneous band is wider than the pointwise interval.
                assert!(row[7].as_f64().unwrap() < row[5].as_f64().unwrap());
                assert!(row[8].as_f64().unwrap() > row[6].as_f64().unwrap());
            }
        }
    }
}

#[test]
fn did_twfe_matches_ols_with_unit_and_time_dummies() {
    // statsmodels OLS with explicit dummies, clustered by unit, K counting every level.
    let reference = reference();
    for (weights, key) in [("", "unweighted"), (", weights = weight", "weighted_wls")] {
        let summary = rows(&format!(
            "{PANEL}d |> did y ~ treated, unit = pcn, time = quarter, first = first{weights}"
        ));
        let twfe = &summary[0];
        assert_eq!(twfe[0], "TWFE");
        let want = &reference["twfe"][key];
        assert!(close(
            twfe[3].as_f64().unwrap(),
            want["coef"].as_f64().unwrap(),
            1e-9
        ));
        assert!(close(
            twfe[4].as_f64().unwrap(),
            want["se_cluster_areg_full_K"].as_f64().unwrap(),
            1e-9
        ));
    }
}

#[test]
fn did_refuses_units_that_never_change_treatment() {
    let out = run(&format!(
        "{PANEL}d |> derive never = 0 |> did y ~ treated, unit = pcn, time = quarter, first = never"
    ));
    let error = out.error.expect("an error");
    assert!(error.contains("no unit changes treatment"), "{error}");
    let out = run(&format!(
        "{PANEL}d |> filter first > 0 |> did y ~ treated, unit = pcn, time = quarter, first = first"
    ));
    let error = out.error.expect("an error");
    assert!(error.contains("controls = notyet"), "{error}");
}
