//! The national-scale models (issue: 4.1 million respondents, fitted by cells and
//! chunks) on a 1% sample of the study, against statsmodels and glum
//! (`stdlib/tests/data/gpps_sample.py` made the reference numbers). Every coefficient
//! to 1e-6 relative, every cluster-robust SE to 1e-4.

use serde_json::Value;

use super::{repo_root, run};

fn reference() -> Value {
    let path = repo_root().join("stdlib/tests/data/gpps_sample_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

const TERMS: &str = "lw_fte_50k + age_band + sex + ethnicity + factor(imd_quintile) + factor(year)";

#[test]
fn study_models_on_a_one_percent_sample_equal_statsmodels_and_glum() {
    let reference = reference();
    for (model, extra) in [("A", ""), ("B", " + fe(pcn)")] {
        // statsmodels' cluster factor is G/(G-1)·(N-1)/(N-K): spel's `ssc = reg`.
        let src = format!(
            "d = simulate gpps, n = 41327\n\
             m = d |> model good_experience ~ {TERMS}{extra}, weights = weight, cluster = pcn, ssc = reg\n\
             tidy m\n"
        );
        let out = run(&src);
        assert!(out.error.is_none(), "{:?}", out.error);
        let last: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
        let columns: Vec<&str> = last["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
        let (term, estimate, se) = (at("term"), at("estimate"), at("std_error"));
        let rows = last["rows"].as_array().unwrap();
        let expected = reference[model].as_object().unwrap();
        let terms: Vec<&str> = rows.iter().map(|r| r[term].as_str().unwrap()).collect();
        for name in expected.keys().filter(|k| !k.starts_with("glum")) {
            assert!(
                terms.contains(&name.as_str()),
                "{model}: no term {name} in {terms:?}"
            );
        }
        assert_eq!(rows.len(), expected.len() - 1, "{model}: {terms:?}");
        for row in rows {
            let name = row[term].as_str().unwrap();
            let want = &expected[name];
            let (b, s) = (row[estimate].as_f64().unwrap(), row[se].as_f64().unwrap());
            let (want_b, want_s) = (
                want["estimate"].as_f64().unwrap(),
                want["std_error"].as_f64().unwrap(),
            );
            assert!(
                relative(b, want_b) < 1e-6,
                "{model} {name}: {b} vs statsmodels {want_b}"
            );
            assert!(
                relative(s, want_s) < 1e-4,
                "{model} {name}: SE {s} vs statsmodels {want_s}"
            );
            if name == "lw_fte_50k" {
                let glum = expected["glum_lw_fte_50k"].as_f64().unwrap();
                assert!(relative(b, glum) < 1e-6, "{model}: {b} vs glum {glum}");
            }
        }
    }
}
