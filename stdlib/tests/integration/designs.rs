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
fn a_balanced_event_study_matches_csdid_balance_e() {
    // csdid's aggte(typec = "dynamic", balance_e = 3): cohorts 3 and 5 (observed at least
    // three quarters after adoption, of eight), event times -3 to 3.
    let reference = reference();
    for (controls, key) in [("never", "nevertreated"), ("notyet", "notyettreated")] {
        for (weights, wkey) in [("", "unweighted"), (", weights = weight", "weighted")] {
            let expected = &reference[key][wkey];
            let out = run(&format!(
                "{PANEL}d |> did y ~ treated, unit = pcn, time = quarter, first = first, controls = {controls}{weights}, balance = 3"
            ));
            assert!(out.error.is_none(), "{:?}", out.error);
            let last: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
            let notes = last["notes"].to_string();
            assert!(notes.contains("cohorts first treated in 3, 5"), "{notes}");
            let summary = last["rows"].as_array().unwrap();
            // The simple aggregation keeps every cohort.
            assert!(close(
                summary[1][3].as_f64().unwrap(),
                expected["simple"]["att"].as_f64().unwrap(),
                1e-9
            ));
            let overall = &expected["dynamic_balanced_3_overall"];
            for (column, field) in [(3, "att"), (4, "se")] {
                assert!(close(
                    summary[2][column].as_f64().unwrap(),
                    overall[field].as_f64().unwrap(),
                    1e-9
                ));
            }
            let expected_events = expected["dynamic_balanced_3"].as_array().unwrap();
            let events = &summary[3..];
            assert_eq!(events.len(), expected_events.len(), "{controls} {wkey}");
            for (row, want) in events.iter().zip(expected_events) {
                assert_eq!(row[2].as_i64(), want["e"].as_i64());
                for (column, field) in [(3, "att"), (4, "se")] {
                    assert!(
                        close(
                            row[column].as_f64().unwrap(),
                            want[field].as_f64().unwrap(),
                            1e-9
                        ),
                        "{row:?} {want}"
                    );
                }
            }
        }
    }
    let beyond = run(&format!(
        "{PANEL}d |> did y ~ treated, unit = pcn, time = quarter, first = first, balance = 6"
    ))
    .transcript();
    assert!(
        beyond.contains("no cohort is observed 6 periods after adoption"),
        "{beyond}"
    );
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

/// TWFE is fitted on the balanced panel CS uses: with one period of unit 1 gone, it
/// equals the model fitted without unit 1 (the model's TWFE: unit and time effects,
/// clustered by unit, absorbed levels counted as `did` counts them).
#[test]
fn did_fits_twfe_on_the_same_sample_as_callaway_santanna() {
    let gap = "d |> filter !(pcn == 1 & quarter == 3)";
    let summary = rows(&format!(
        "{PANEL}{gap} |> did y ~ treated, unit = pcn, time = quarter, first = first"
    ));
    let twfe = &summary[0];
    let out = run(&format!(
        "{PANEL}{gap} |> filter pcn != 1 |> model y ~ treated + fe(pcn) + fe(quarter), cluster = pcn, df = residual"
    ));
    assert!(out.error.is_none(), "{:?}", out.error);
    let model: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
    let treated = &model["terms"][0];
    assert_eq!(treated["term"], "treatedTRUE");
    assert!(close(
        twfe[3].as_f64().unwrap(),
        treated["estimate"].as_f64().unwrap(),
        1e-9
    ));
    assert!(close(
        twfe[4].as_f64().unwrap(),
        treated["std_error"].as_f64().unwrap(),
        1e-9
    ));
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

#[test]
fn unpaired_comparisons_match_scipy() {
    // scipy 1.17: ttest_ind(second, first, equal_var=False) and mannwhitneyu(second, first).
    let exact = rows(
        "table g = [\"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"a\", \"b\", \"b\", \"b\", \"b\", \"b\", \"b\", \"b\", \"b\"], v = [3.1, 4.2, 2.8, 5.0, 4.4, 3.9, 4.1, 3.3, 2.9, 4.8, 4.0, 5.1, 4.7, 5.9, 3.8, 5.5, 6.2, 4.9]\n  |> compare v by g",
    );
    assert!(close(
        exact[0][2].as_f64().unwrap(),
        2.9796742835657386,
        1e-9
    ));
    assert!(close(
        exact[0][3].as_f64().unwrap(),
        14.580135103612909,
        1e-9
    ));
    assert!(close(
        exact[0][4].as_f64().unwrap(),
        0.009588635798768237,
        1e-7
    ));
    assert!(close(
        exact[0][6].as_f64().unwrap(),
        0.32883865035458093,
        1e-9
    ));
    assert_eq!(exact[1][2].as_f64().unwrap(), 66.0);
    assert!(close(
        exact[1][4].as_f64().unwrap(),
        0.020521961698432286,
        1e-9
    ));
    // Ties: the normal approximation with tie and continuity corrections.
    let ties = rows(
        "table x = [3, 5, 2, 8, 6, 4, 7, 3, 5, 9, 2, 4], y = [4, 6, 6, 9, 7, 5, 8, 3, 6, 9, 5, 7] |> compare x, y",
    );
    assert!(close(
        ties[0][2].as_f64().unwrap(),
        1.6619103868129292,
        1e-9
    ));
    assert!(close(
        ties[0][4].as_f64().unwrap(),
        0.11129357381876494,
        1e-7
    ));
    assert_eq!(ties[1][2].as_f64().unwrap(), 100.0);
    assert!(close(
        ties[1][4].as_f64().unwrap(),
        0.10937826452134577,
        1e-9
    ));
    let three = run(
        "table v = [1, 2, 3, 4, 5, 6], g = [\"a\", \"a\", \"b\", \"b\", \"c\", \"c\"] |> compare v by g",
    );
    assert!(
        three
            .error
            .unwrap()
            .contains("two levels, and this one has 3")
    );
}

#[test]
fn paired_counts_give_the_conditional_poisson_rate_ratio() {
    // statsmodels GLM Poisson with a dummy per person, cov_type="cluster" by person,
    // times G/(G - 1): RR 1.2931034482758705, SE(log RR) 0.0794163119260392.
    let out = rows(
        "table x = [3, 5, 2, 8, 6, 4, 7, 3, 5, 9, 2, 4], y = [4, 6, 6, 9, 7, 5, 8, 3, 6, 9, 5, 7] |> compare x, y, paired = true",
    );
    let ratio = &out[2];
    assert_eq!(ratio[0], "rate ratio");
    assert!(close(ratio[5].as_f64().unwrap(), 1.2931034482758705, 1e-12));
    let se = ratio[5].as_f64().unwrap().ln() / ratio[2].as_f64().unwrap();
    assert!(close(se, 0.0794163119260392, 1e-9));
    // Not counts: no rate ratio.
    let measured =
        rows("table x = [1.5, 2.5, 3.0], y = [2.0, 2.5, 4.5] |> compare x, y, paired = true");
    assert_eq!(measured.len(), 2);
}

#[test]
fn slope_index_matches_weighted_least_squares_on_ridits() {
    // statsmodels WLS(y, [1, ridit], weights).fit(cov_type="HC1").
    let unweighted = rows(
        "table good = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1], q = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5] |> sii good by q",
    );
    assert!(close(unweighted[0][2].as_f64().unwrap(), 0.25, 1e-12));
    assert!(close(unweighted[0][3].as_f64().unwrap(), 0.3101299, 1e-6));
    let weighted = rows(
        "table good = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1], q = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5], w = [1, 2, 1, 1, 0.5, 1, 1, 2, 1, 1, 1, 3, 1, 1, 2, 1, 1, 1, 0.5, 1] |> sii good by q, weights = w",
    );
    assert!(close(
        weighted[0][2].as_f64().unwrap(),
        0.280399274047187,
        1e-9
    ));
    assert!(close(
        weighted[0][3].as_f64().unwrap(),
        0.357399356439984,
        1e-9
    ));
}

#[test]
fn concentration_curve_accumulates_from_the_lowest_rank() {
    let points = rows(
        "table good = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1], affluence = [1, 2, 3, 4, 5, 5, 7, 8, 9, 10] |> concentration good by affluence, curve = true",
    );
    // Ten people, nine distinct ranks, seven with the outcome: (0, 0) then one point a rank.
    assert_eq!(points.len(), 10);
    assert_eq!(points[0], serde_json::json!([0.0, 0.0]));
    assert!(close(points[5][0].as_f64().unwrap(), 0.6, 1e-12));
    assert!(close(points[5][1].as_f64().unwrap(), 4.0 / 7.0, 1e-12));
    assert_eq!(points[9], serde_json::json!([1.0, 1.0]));
}

#[test]
fn seasonal_interrupted_time_series_matches_statsmodels_hac() {
    // statsmodels 0.15: OLS(y, [1, t, after, since, month dummies 2..12]).fit(cov_type="HAC", cov_kwds={"maxlags": 3}).
    let out = rows(
        "table month = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36],\n      y = [51.9, 53.7, 53.93, 53.31, 53.05, 51.41, 51.36, 51.94, 50.11, 50.78, 53.39, 55.16, 56.81, 57.27, 58.97, 59.69, 56.96, 56.74, 49.2, 48.91, 48.16, 50.37, 50.63, 53.87, 55.46, 56.41, 54.68, 56.46, 56.05, 54.91, 51.97, 52.12, 51.42, 52.19, 55.36, 55.19],\n      calendar = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]\n  |> its y ~ month, break = 19, seasonal = calendar, lags = 3",
    );
    let expected = [
        ("(Intercept)", 51.88031898019189, 0.2590515968255973),
        ("month", 0.3928344552769974, 0.018164563926627953),
        ("level_change", -5.93165389972142, 0.33130716317712383),
        ("slope_change", -0.143307799442884, 0.02743775857756323),
    ];
    for (row, (name, estimate, se)) in out.iter().zip(expected) {
        assert_eq!(row[0], name);
        assert!(close(row[1].as_f64().unwrap(), estimate, 1e-9), "{row}");
        assert!(close(row[2].as_f64().unwrap(), se, 1e-9), "{row}");
    }
    assert_eq!(out.len(), 15);
    assert_eq!(out[4][0], "factor(calendar)2");
}

#[test]
fn analytic_power_follows_hsieh_and_solves_both_ways() {
    // n = ((z(0.975) + z(0.8)) / log 1.006)^2 / (0.7 · 0.3 · 1.5²), by hand 464,197.6.
    let z_alpha = 1.959963984540054_f64;
    let z_power = 0.8416212335729143_f64;
    let by_hand = ((z_alpha + z_power) / 1.006_f64.ln()).powi(2) / (0.7 * 0.3 * 2.25);
    let solved = rows("power logit, or = 1.006, p0 = 0.7, sd = 1.5, power = 0.8");
    assert_eq!(solved[0][0].as_f64().unwrap(), by_hand.ceil());
    // Back again: that n gives (just over) 80% power, and the OR solved at it is 1.006.
    let back = rows(&format!(
        "power logit, or = 1.006, p0 = 0.7, sd = 1.5, n = {}",
        by_hand.ceil()
    ));
    let achieved = back[0][6].as_f64().unwrap();
    assert!((0.8..0.80001).contains(&achieved), "{achieved}");
    let or = rows(&format!(
        "power logit, n = {by_hand}, p0 = 0.7, sd = 1.5, power = 0.8"
    ));
    assert!(close(or[0][1].as_f64().unwrap(), 1.006, 1e-12));
    // A design effect of 2 doubles the respondents needed.
    let clustered = rows("power logit, or = 1.006, p0 = 0.7, sd = 1.5, power = 0.8, deff = 2");
    assert_eq!(clustered[0][0].as_f64().unwrap(), (2.0 * by_hand).ceil());
}

#[test]
fn power_refuses_impossible_targets() {
    let none = run("power logit, or = 1, p0 = 0.7, power = 0.8")
        .error
        .unwrap();
    assert!(none.contains("no sample size detects it"), "{none}");
    let chance = run("power logit, or = 1.01, p0 = 0.7, power = 0.01")
        .error
        .unwrap();
    assert!(chance.contains("below what chance alone gives"), "{chance}");
    let certain = run("power logit, or = 1.01, p0 = 0.7, power = 1")
        .error
        .unwrap();
    assert!(
        certain.contains("`power = 1` is out of range")
            && certain.contains("`power` takes a probability, above 0 and below 1"),
        "{certain}"
    );
}

#[test]
fn simulated_power_rejects_at_the_level_under_no_effect_and_covers_the_truth() {
    // `isolated` is the negative control: its true odds ratio is 1, so the share of
    // rejections is the test's size and coverage its complement.
    let null = rows(
        "power simulate isolated ~ lw_fte_50k + factor(year) + fe(pcn), n = 20000, reps = 40, weights = weight, cluster = pcn",
    );
    // term, power, its MC SE, coverage, its MC SE, true OR, ...
    let (power, coverage) = (null[0][1].as_f64().unwrap(), null[0][3].as_f64().unwrap());
    assert!(power <= 0.15, "size {power}");
    assert!(close(power + coverage, 1.0, 1e-12));
    let monte_carlo = (power * (1.0 - power) / 40.0).sqrt();
    assert!(close(null[0][2].as_f64().unwrap(), monte_carlo, 1e-12));
    // At 400,000 respondents the effect on good experience (OR 1.015) is found nearly always.
    let large = rows(
        "power simulate good_experience ~ lw_fte_50k + factor(year) + fe(pcn), n = 400000, reps = 3, weights = weight, cluster = pcn",
    );
    assert_eq!(large[0][1].as_f64().unwrap(), 1.0);
}

/// `power simulate` tests the term it names, and knows the truth of `lw_fte_50k` only.
#[test]
fn simulated_power_names_its_term_and_its_truth() {
    let sex = rows("power simulate good_experience ~ lw_fte_50k + sex on sex, n = 2000, reps = 3");
    assert_eq!(sex[0][0].as_str(), Some("sexMale"));
    assert!(sex[0][3].is_null() && sex[0][5].is_null(), "{:?}", sex[0]);
    let out = run("power simulate good_experience ~ lw_fte_50k + sex on sex, n = 2000, reps = 3");
    assert!(
        out.text.contains("no known effect of `sexMale`"),
        "{}",
        out.text
    );
    let missing = run("power simulate good_experience ~ sex, n = 2000, reps = 2").transcript();
    assert!(
        missing.contains("tests `lw_fte_50k`, which this model does not have"),
        "{missing}"
    );
    let unknown =
        run("power simulate good_experience ~ lw_fte_50k on sexx, n = 2000, reps = 2").transcript();
    assert!(
        unknown.contains("the model has no term `sexx`"),
        "{unknown}"
    );
}

/// A number from the first row of a script's last result, by column name.
fn value(src: &str, column: &str) -> f64 {
    numbers(src, column)[0]
}

#[test]
fn the_rollout_simulator_biases_twfe_and_callaway_santanna_recovers_its_truth() {
    let truth = value(
        "simulate rollout |> filter treated == 1 |> summarise t = mean(true_effect)",
        "t",
    );
    let summary = rows(
        "simulate rollout |> did experience ~ treated, unit = pcn, time = quarter, first = first",
    );
    let (twfe, twfe_se) = (
        summary[0][3].as_f64().unwrap(),
        summary[0][4].as_f64().unwrap(),
    );
    let (cs, cs_se) = (
        summary[1][3].as_f64().unwrap(),
        summary[1][4].as_f64().unwrap(),
    );
    assert!(
        (cs - truth).abs() < 3.0 * cs_se,
        "CS {cs} ± {cs_se}, truth {truth}"
    );
    assert!(
        (twfe - truth).abs() > 5.0 * twfe_se,
        "TWFE {twfe} ± {twfe_se}, truth {truth}"
    );
}

#[test]
fn the_monthly_series_and_gp_visits_carry_their_stated_effects() {
    // Over several seeds the interrupted time series brackets the true slope change of 1.5.
    let mut slopes = Vec::new();
    for seed in 1..=6 {
        slopes.push(value(
            &format!("simulate referrals_monthly, seed = {seed} |> its referrals_per_100k ~ t, break = 31, seasonal = calendar_month |> filter term == \"slope_change\""),
            "estimate",
        ));
    }
    let mean = slopes.iter().sum::<f64>() / slopes.len() as f64;
    assert!((mean - 1.5).abs() < 0.1, "{slopes:?}");
    // With many people the ratio of the groups' rate ratios is the true 0.9.
    let ratio = value(
        "simulate gp_visits, n = 40000 |> summarise rb = sum(if_else(group == \"referred\", visits_before, 0)), ra = sum(if_else(group == \"referred\", visits_after, 0)), cb = sum(if_else(group == \"comparison\", visits_before, 0)), ca = sum(if_else(group == \"comparison\", visits_after, 0)) |> derive r = (ra / rb) / (ca / cb)",
        "r",
    );
    assert!((ratio - 0.9).abs() < 0.02, "{ratio}");
}

#[test]
fn the_referrals_simulator_carries_its_stated_odds_and_rate_ratios() {
    let model = |src: &str| -> Value {
        let out = run(&format!("r = simulate referrals, n = 60000\n{src}"));
        assert!(out.error.is_none(), "{:?}", out.error);
        serde_json::from_str(out.json.lines().last().unwrap()).unwrap()
    };
    let covers = |m: &Value, term: &str, truth: f64| {
        let row = m["terms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["term"] == term)
            .unwrap_or_else(|| panic!("no {term} in {m}"));
        let (low, high) = (
            row["conf_low"].as_f64().unwrap(),
            row["conf_high"].as_f64().unwrap(),
        );
        assert!(
            low <= truth.ln() && truth.ln() <= high,
            "{term}: {low}..{high} vs {}",
            truth.ln()
        );
    };
    let logit = model(
        "r |> model intervention ~ route + factor(imd_quintile) + age_band + sex | lw_contacts > 0",
    );
    covers(&logit, "routenon-medical", 1.3);
    covers(&logit, "imd_quintile5", 1.2);
    let negbin =
        model("r |> model lw_contacts ~ route + factor(imd_quintile) + age_band, family = negbin");
    covers(&negbin, "routenon-medical", 1.15);
    covers(&negbin, "imd_quintile3", 1.0 / 1.2);
}

/// Every row of a script's last table, as a column of numbers.
fn numbers(src: &str, column: &str) -> Vec<f64> {
    let out = run(src);
    assert!(out.error.is_none(), "{:?}", out.error);
    let last: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
    let at = last["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == column)
        .unwrap();
    last["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[at].as_f64().unwrap())
        .collect()
}

#[test]
fn a_smaller_comparison_spike_keeps_the_people_and_biases_the_contrast() {
    let visits = |spike: &str, group: &str, column: &str| {
        numbers(
            &format!("simulate gp_visits, n = 400{spike} |> filter group == \"{group}\""),
            column,
        )
    };
    // The referred group, everyone's visits after and their ages are the same draws.
    for column in ["visits_before", "visits_after"] {
        assert_eq!(
            visits("", "referred", column),
            visits(", comparison_spike = 1.1", "referred", column)
        );
    }
    assert_eq!(
        visits("", "comparison", "visits_after"),
        visits(", comparison_spike = 1.1", "comparison", "visits_after")
    );
    // Thinned, never added to: each comparison person has at most the visits before.
    let (before, thinned) = (
        visits("", "comparison", "visits_before"),
        visits(", comparison_spike = 1.1", "comparison", "visits_before"),
    );
    assert!(before.iter().zip(&thinned).all(|(b, t)| t <= b));
    assert!(thinned.iter().sum::<f64>() < before.iter().sum::<f64>());
    // On many people the contrast is 0.9 × 1.1 / 1.3, not the true 0.9; the comparison
    // group's mean use before is 4 × 1.1.
    let contrast = "|> summarise rb = sum(if_else(group == \"referred\", visits_before, 0)), ra = sum(if_else(group == \"referred\", visits_after, 0)), cb = sum(if_else(group == \"comparison\", visits_before, 0)), ca = sum(if_else(group == \"comparison\", visits_after, 0)) |> derive r = (ra / rb) / (ca / cb), comparison_before = cb / 20000";
    let study = "simulate gp_visits, n = 40000, comparison_spike = 1.1";
    let ratio = value(&format!("{study} {contrast}"), "r");
    assert!((ratio - 0.9 * 1.1 / 1.3).abs() < 0.02, "{ratio}");
    let before = value(&format!("{study} {contrast}"), "comparison_before");
    assert!((before - 4.4).abs() < 0.1, "{before}");
    // Above 1.3 visits are added.
    let topped_up = visits(", comparison_spike = 1.6", "comparison", "visits_before");
    let before = visits("", "comparison", "visits_before");
    assert!(topped_up.iter().zip(&before).all(|(t, b)| t >= b));
    assert!(topped_up.iter().sum::<f64>() > before.iter().sum::<f64>());
}

#[test]
fn a_shock_at_the_break_adds_a_fading_surge_and_nothing_else() {
    let series = |shock: &str| {
        numbers(
            &format!("simulate referrals_monthly{shock}"),
            "referrals_per_100k",
        )
    };
    let (plain, shocked) = (series(""), series(", shock = 40"));
    for (m, (p, s)) in plain.iter().zip(&shocked).enumerate() {
        // Month index 30 is July 2019 (t = 31); the surge fades by a fifth a month.
        let surge = if m >= 30 {
            40.0 * 0.8_f64.powi(m as i32 - 30)
        } else {
            0.0
        };
        assert!((s - p - surge).abs() <= 1.0, "month {m}: {p} then {s}");
    }
    // The segmented regression, blind to it, takes a larger jump and a smaller slope.
    let estimate = |shock: &str, term: &str| {
        value(
            &format!(
                "simulate referrals_monthly{shock} |> its referrals_per_100k ~ t, break = 31, seasonal = calendar_month |> filter term == \"{term}\""
            ),
            "estimate",
        )
    };
    assert!(estimate(", shock = 40", "level_change") > estimate("", "level_change") + 10.0);
    assert!(estimate(", shock = 40", "slope_change") < estimate("", "slope_change") - 0.4);
}

#[test]
fn a_quality_trend_confounds_the_within_pcn_negative_control() {
    let study = "simulate gpps, n = 300000";
    let same = |column: &str| {
        numbers(&format!("{study} |> head 2000 |> select {column}"), column)
            == numbers(
                &format!("{study}, quality_trend = 0.05 |> head 2000 |> select {column}"),
                column,
            )
    };
    assert!(
        same("lw_fte_50k") && same("weight"),
        "the same networks and people"
    );
    let isolation = |trend: &str| {
        numbers(
            &format!(
                "m = {study}{trend} |> model isolated ~ lw_fte_50k + factor(year) + fe(pcn), cluster = pcn\ntidy m on lw_fte_50k, exponentiate = true"
            ),
            "conf_high",
        )[0]
    };
    // Without the trend the negative control is null; with it, within PCNs, it is not.
    assert!(isolation("") > 1.0);
    assert!(isolation(", quality_trend = 0.05") < 1.0);
}

#[test]
fn the_funding_cutoff_simulator_is_recovered_by_the_discontinuity_at_its_coverage() {
    // Over 40 seeds the robust interval holds the true jump of 2 about 95% of the time
    // (38 here), the estimates centre on it, and the naive comparison is of the wrong sign.
    let (mut covered, mut sum) = (0, 0.0);
    for seed in 1..=40 {
        let robust = rows(&format!(
            "simulate funding_cutoff, seed = {seed} |> rdd confidence ~ imd_score, cutoff = 30 |> filter method == \"robust\""
        ));
        let estimate = robust[0][2].as_f64().unwrap();
        let (low, high) = (
            robust[0][6].as_f64().unwrap(),
            robust[0][7].as_f64().unwrap(),
        );
        covered += usize::from(low <= 2.0 && 2.0 <= high);
        sum += estimate;
    }
    assert!(
        (36..=40).contains(&covered),
        "{covered} of 40 intervals hold 2"
    );
    assert!((sum / 40.0 - 2.0).abs() < 0.2, "mean {}", sum / 40.0);
    let naive = value(
        "naive = simulate funding_cutoff |> model confidence ~ link_worker\ntidy naive |> filter term == \"link_worker\"",
        "estimate",
    );
    assert!(naive < 0.0, "{naive}");
    // Fuzzy: with compliance 0.6 the sharp jump shrinks to about 1.2 and the fuzzy ratio
    // is the effect again.
    let (mut sharp, mut fuzzy) = (0.0, 0.0);
    for seed in 1..=10 {
        let src = format!("simulate funding_cutoff, seed = {seed}, compliance = 0.6");
        sharp += rows(&format!(
            "{src} |> rdd confidence ~ imd_score, cutoff = 30 |> filter method == \"robust\""
        ))[0][2]
            .as_f64()
            .unwrap();
        fuzzy += rows(&format!(
            "{src} |> rdd confidence ~ imd_score, cutoff = 30, fuzzy = link_worker |> filter method == \"robust\" & term == \"confidence\""
        ))[0][2]
            .as_f64()
            .unwrap();
    }
    assert!((sharp / 10.0 - 1.2).abs() < 0.3, "sharp {}", sharp / 10.0);
    assert!((fuzzy / 10.0 - 2.0).abs() < 0.5, "fuzzy {}", fuzzy / 10.0);
}

/// How often a result's intervals hold `truth` and the mean of its estimates, over seeds:
/// `row` reads (estimate, conf_low, conf_high) from a run's rows.
fn coverage_and_mean(
    scripts: impl Iterator<Item = String>,
    truth: f64,
    row: impl Fn(&[Value]) -> (f64, f64, f64),
) -> (usize, f64) {
    let (mut covered, mut sum, mut runs) = (0, 0.0, 0.0);
    for script in scripts {
        let (estimate, low, high) = row(&rows(&script));
        covered += usize::from(low <= truth && truth <= high);
        sum += estimate;
        runs += 1.0;
    }
    (covered, sum / runs)
}

#[test]
fn the_referral_simulator_misleads_the_plain_difference_and_weighting_recovers_its_truth() {
    let people = |seed: u64| format!("simulate link_worker_referral, seed = {seed}");
    let covariates = "covariates = [age, female, ltc, lonely, imd_quintile]";
    let effect = |rows: &[Value]| {
        let number = |k: usize| rows[0][k].as_f64().unwrap();
        (number(1), number(5), number(6))
    };
    for (verb, option) in [("ipw", ""), ("ipw", ", estimand = att"), ("aipw", "")] {
        let (covered, mean) = coverage_and_mean(
            (1..=40).map(|seed| {
                format!(
                    "{} |> {verb} wellbeing ~ referred, {covariates}{option}",
                    people(seed)
                )
            }),
            3.0,
            effect,
        );
        assert!(
            (35..=40).contains(&covered),
            "{verb}{option}: {covered} of 40 hold 3"
        );
        assert!((mean - 3.0).abs() < 0.2, "{verb}{option}: mean {mean}");
    }
    let welch = |rows: &[Value]| {
        let number = |k: usize| rows[0][k].as_f64().unwrap();
        (number(5), number(6), number(7))
    };
    let plain = |seed: u64, selection: &str| {
        format!(
            "{}{selection} |> compare wellbeing by referred |> filter test == \"Welch t\"",
            people(seed)
        )
    };
    // The referred look worse off: no interval of the plain difference holds 3.
    let (covered, mean) = coverage_and_mean((1..=40).map(|seed| plain(seed, "")), 3.0, welch);
    assert_eq!(covered, 0, "the plain difference held 3 in {covered} of 40");
    assert!(mean < 0.0, "plain difference {mean}");
    // Referral at random: the plain difference is right.
    let (covered, mean) = coverage_and_mean(
        (1..=40).map(|seed| plain(seed, ", selection = 0")),
        3.0,
        welch,
    );
    assert!(
        (35..=40).contains(&covered),
        "{covered} of 40 hold 3 at random"
    );
    assert!((mean - 3.0).abs() < 0.3, "at random {mean}");
    // Matching with replacement centres on the truth too.
    let (_, mean) = coverage_and_mean(
        (1..=20).map(|seed| {
            format!(
                "{} |> match wellbeing ~ referred, {covariates}, replace = true",
                people(seed)
            )
        }),
        3.0,
        effect,
    );
    assert!((mean - 3.0).abs() < 0.35, "matching {mean}");
}

#[test]
fn the_pilot_area_simulator_misleads_twfe_and_the_synthetic_control_recovers_its_truth() {
    let synth = "synth admissions, unit = area, time = year, treated = \"Pilot\", start = 2019";
    let (mut gaps, mut twfe, mut first) = (0.0, 0.0, 0);
    for seed in 1..=10 {
        let areas = format!("areas = simulate pilot_area, seed = {seed}\n");
        gaps += value(
            &format!(
                "{areas}areas |> {synth}, show = paths |> filter time >= 2019 |> summarise gap = mean(gap)"
            ),
            "gap",
        );
        twfe += value(
            &format!(
                "{areas}m = areas |> model admissions ~ treated + fe(area) + fe(year)\ntidy m"
            ),
            "estimate",
        );
        let rank = value(
            &format!(
                "{areas}areas |> {synth}, placebo = true, show = placebos |> filter unit == \"Pilot\""
            ),
            "rank",
        );
        first += usize::from(rank == 1.0);
    }
    let (gap, twfe) = (gaps / 10.0, twfe / 10.0);
    assert!(
        (gap + 4.0).abs() < 0.6,
        "synthetic control's mean gap {gap}"
    );
    assert!(
        twfe > 0.0,
        "two-way fixed effects {twfe}: of the wrong sign"
    );
    assert!(
        first >= 6,
        "the pilot ranked first in {first} of 10 placebo tests"
    );
}
