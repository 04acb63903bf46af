//! Survey designs: the `api` samples' estimates as R's survey package prints them (its
//! own examples: `svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc)` and
//! `svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc)`), subpopulations, and what a survey
//! refuses. Random designs against R at test time are in tests/differential/survey.py.

use serde_json::Value;

use super::{fails, run};

const STRATIFIED: &str = "apistrat = read \"examples/data/apistrat.csv\"\n\
     dstrat = survey apistrat, weights = pw, strata = stype, fpc = fpc\n";
const CLUSTERED: &str = "apiclus1 = read \"examples/data/apiclus1.csv\"\n\
     dclus1 = apiclus1 |> survey weights = pw, psu = dnum, fpc = fpc\n";

/// Each row of the last result as column → value.
fn rows(src: &str) -> Vec<serde_json::Map<String, Value>> {
    let out = run(src);
    assert!(out.error.is_none(), "{:?}", out.error);
    let last: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
    let columns: Vec<String> = last["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    last["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            columns
                .iter()
                .cloned()
                .zip(r.as_array().unwrap().iter().cloned())
                .collect()
        })
        .collect()
}

/// `value` agrees with R's printed `printed` to the digits printed.
fn printed(value: &Value, printed: f64, digits: i32) {
    let value = value.as_f64().unwrap();
    let unit = 10f64.powi(printed.abs().log10().floor() as i32 - digits + 1);
    assert!(
        (value - printed).abs() <= unit,
        "{value} is not R's {printed}"
    );
}

#[test]
fn the_stratified_api_sample_gives_r_s_published_estimates() {
    let rows = rows(&format!(
        "{STRATIFIED}estimate mean(api00), total(enroll) from dstrat"
    ));
    // svymean(~api00, dstrat, deff = TRUE): 662.29, SE 9.4089, DEff 1.2045.
    printed(&rows[0]["estimate"], 662.2874, 7);
    printed(&rows[0]["std_error"], 9.4089, 5);
    printed(&rows[0]["deff"], 1.2045, 5);
    // svytotal(~enroll, dstrat): 3687178, SE 114642.
    printed(&rows[1]["estimate"], 3687178.0, 7);
    printed(&rows[1]["std_error"], 114642.0, 6);
}

#[test]
fn the_cluster_api_sample_gives_r_s_published_estimates() {
    let rows = rows(&format!(
        "{CLUSTERED}estimate mean(api00), total(enroll), quantile(api00, 0.5), proportion(stype) from dclus1"
    ));
    printed(&rows[0]["estimate"], 644.169, 6);
    printed(&rows[0]["std_error"], 23.542, 5);
    printed(&rows[0]["deff"], 9.3459, 5);
    printed(&rows[1]["estimate"], 3404940.0, 7);
    printed(&rows[1]["std_error"], 932235.0, 6);
    // svyquantile(~api00, dclus1, 0.5): 652 (561, 714), SE 35.66788.
    printed(&rows[2]["estimate"], 652.0, 3);
    printed(&rows[2]["conf_low"], 561.0, 3);
    printed(&rows[2]["conf_high"], 714.0, 3);
    printed(&rows[2]["std_error"], 35.66788, 7);
    // svymean(~stype, dclus1): E 0.786885 (0.0463).
    assert_eq!(rows[3]["level"], "E");
    printed(&rows[3]["estimate"], 0.786885, 6);
    printed(&rows[3]["std_error"], 0.0463, 3);
}

#[test]
fn groups_and_subpopulations_keep_every_psu() {
    let by = rows(&format!(
        "{CLUSTERED}estimate mean(api00) by stype from dclus1"
    ));
    // svyby(~api00, ~stype, dclus1, svymean, deff = TRUE)
    printed(&by[0]["estimate"], 648.8681, 7);
    printed(&by[0]["std_error"], 22.36241, 7);
    printed(&by[0]["deff"], 6.583674, 7);
    printed(&by[1]["std_error"], 38.02025, 7);
    // svymean(~api00, subset(dclus1, sch.wide == "Yes")): 649.36 (23.427).
    let sub = rows(&format!(
        "{CLUSTERED}dclus1 |> filter sch_wide == \"Yes\" |> estimate mean(api00)"
    ));
    printed(&sub[0]["estimate"], 649.36, 5);
    printed(&sub[0]["std_error"], 23.427, 5);
    assert_eq!(sub[0]["n"], 160);
    // Filtering the table first makes a smaller sample, not a subpopulation: PSUs
    // without a high school drop out of the variance and its degrees of freedom.
    let smaller = rows(
        "apiclus1 = read \"examples/data/apiclus1.csv\" |> filter stype == \"H\"\n\
         s = apiclus1 |> survey weights = pw, psu = dnum, fpc = fpc\n\
         estimate mean(api00) from s",
    );
    let sub = rows(&format!(
        "{CLUSTERED}dclus1 |> filter stype == \"H\" |> estimate mean(api00)"
    ));
    printed(&sub[0]["std_error"], 38.02025, 7);
    assert_ne!(smaller[0]["std_error"], sub[0]["std_error"]);
}

#[test]
fn a_survey_keeps_its_design_through_derive_and_use() {
    let derived = rows(&format!(
        "{STRATIFIED}dstrat = dstrat |> derive api_gain = api00 - api99\nuse dstrat\nestimate mean(api_gain)"
    ));
    assert_eq!(derived[0]["n"], 200);
    let shown = run(&format!("{STRATIFIED}dstrat"));
    assert!(
        shown
            .text
            .contains("Survey design: stratified sample, 200 rows in 3 strata and 200 PSUs"),
        "{}",
        shown.text
    );
}

#[test]
fn verbs_that_would_ignore_the_design_refuse_a_survey() {
    for verb in ["summarise m = mean(api00)", "head", "sort api00"] {
        let error = fails(&format!("{STRATIFIED}dstrat |> {verb}"));
        assert!(
            error.contains("spel::survey::plain_verb"),
            "{verb}: {error}"
        );
        assert!(error.contains("estimate mean(x) from s"), "{error}");
    }
    let error = fails(&format!("{STRATIFIED}estimate mean(api00) from apistrat"));
    assert!(error.contains("spel::survey::expected"), "{error}");
}

#[test]
fn bad_designs_are_located_errors() {
    let lonely = fails(
        "d = table s = [\"a\", \"a\", \"b\"], x = [1, 2, 3], w = [1, 1, 1]\n\
         survey d, weights = w, strata = s",
    );
    assert!(lonely.contains("spel::survey::lonely_psu"), "{lonely}");
    assert!(
        lonely.contains("stratum s = b has a single PSU"),
        "{lonely}"
    );
    assert!(lonely.contains("lonely_psu = adjust"), "{lonely}");
    let negative = fails("d = table x = [1, 2], w = [1, -2]\nsurvey d, weights = w");
    assert!(negative.contains("spel::survey::weight"), "{negative}");
    let varies = fails("d = table x = [1, 2], n = [10, 11]\nsurvey d, fpc = n");
    assert!(varies.contains("spel::survey::fpc"), "{varies}");
    let small = fails("d = table x = [1, 2, 3], n = [2, 2, 2]\nsurvey d, fpc = n");
    assert!(
        small.contains("samples 3 PSUs from a population of 2"),
        "{small}"
    );
    let one = fails("d = table x = [1, 2], c = [7, 7]\nsurvey d, psu = c");
    assert!(one.contains("spel::survey::single_psu"), "{one}");
    let missing =
        fails("d = read \"stdlib/tests/data/survey_missing_weight.csv\"\nsurvey d, weights = w");
    assert!(missing.contains("row 2 has no weight"), "{missing}");
}

#[test]
fn statistics_are_checked_before_anything_is_read() {
    let s = "d = table x = [1, 2, 3, 4], g = [\"a\", \"b\", \"a\", \"b\"]\ns = survey d\n";
    let unknown = fails(&format!("{s}estimate median(x) from s"));
    assert!(unknown.contains("spel::estimate::statistic"), "{unknown}");
    let bare = fails(&format!("{s}estimate x from s"));
    assert!(bare.contains("write `mean(x)`"), "{bare}");
    let text = fails(&format!("{s}estimate mean(g) from s"));
    assert!(text.contains("proportion(g)"), "{text}");
    let p = fails(&format!("{s}estimate quantile(x, 1.5) from s"));
    assert!(p.contains("spel::estimate::probability"), "{p}");
    let empty = fails(&format!("{s}s |> filter x > 10 |> estimate mean(x)"));
    assert!(empty.contains("spel::survey::empty"), "{empty}");
}

#[test]
fn the_simulated_patient_survey_recovers_its_true_mean_with_its_design_effect() {
    let (mut covered, mut deff) = (0, 0.0);
    let seeds = 40;
    for seed in 1..=seeds {
        let rows = rows(&format!(
            "patients = simulate patient_survey, seed = {seed}\n\
             s = survey patients, weights = weight, strata = region, psu = practice, fpc = practices_in_region\n\
             estimate mean(wellbeing) from s"
        ));
        let (low, high) = (
            rows[0]["conf_low"].as_f64().unwrap(),
            rows[0]["conf_high"].as_f64().unwrap(),
        );
        covered += usize::from(low <= 70.0 && 70.0 <= high);
        deff += rows[0]["deff"].as_f64().unwrap() / f64::from(seeds);
    }
    // 95% intervals: 38 of 40 expected, fewer than 34 has a chance below 1%.
    assert!(
        covered >= 34,
        "{covered} of {seeds} intervals cover the true mean"
    );
    // About 2.2 from 25 respondents a practice at an ICC of 0.05, a fifth more from the
    // unequal weights.
    assert!((2.0..3.0).contains(&deff), "mean design effect {deff}");
}
