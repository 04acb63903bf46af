//! Models checked against themselves the way fixest checks itself (the reference
//! numbers from R are checked through the binary in repl/tests/integration/refcases.rs),
//! and the simulated study's known truth.

use serde_json::Value;

use crate::run;

/// The JSON of the last model a script shows.
fn last_model(src: &str) -> Value {
    let out = run(src);
    if let Some(e) = out.error {
        panic!("{src}\n{e}");
    }
    let line = out.json.lines().last().expect("the script shows a model");
    serde_json::from_str(line).unwrap()
}

fn term<'a>(model: &'a Value, name: &str) -> &'a Value {
    model["terms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["term"] == name)
        .unwrap_or_else(|| panic!("no term {name} in {model}"))
}

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * b.abs().max(1e-12)
}

const SURVEY: &str = "gpps = simulate gpps, n = 20000, seed = 3\nuse gpps\n";

#[test]
fn absorbed_effects_give_the_slopes_of_dummies() {
    for family in ["logit", "ols"] {
        let dummies = last_model(&format!(
            "{SURVEY}model good_experience ~ lw_fte_50k + sex + factor(region), family = {family}"
        ));
        let absorbed = last_model(&format!(
            "{SURVEY}model good_experience ~ lw_fte_50k + sex + fe(region), family = {family}"
        ));
        for name in ["lw_fte_50k", "sexMale"] {
            let (a, b) = (term(&dummies, name), term(&absorbed, name));
            assert!(
                close(
                    a["estimate"].as_f64().unwrap(),
                    b["estimate"].as_f64().unwrap(),
                    1e-8
                ),
                "{family} {name}"
            );
            assert!(
                close(
                    a["std_error"].as_f64().unwrap(),
                    b["std_error"].as_f64().unwrap(),
                    1e-6
                ),
                "{family} {name}"
            );
        }
    }
}

#[test]
fn a_small_absorbed_effect_beside_a_large_one_gives_what_its_dummies_give() {
    // fe(year) beside fe(pcn) (or fe(practice), nested in the PCN clusters) joins the
    // design as year dummies and is partialled out again: the same estimates, standard
    // errors and absorbed effects as writing factor(year), in each family, with and
    // without weights.
    let terms = "lw_fte_50k + sex + age_band";
    for (family, weights, large) in [
        ("logit", ", weights = weight", "pcn"),
        ("logit", "", "practice"),
        ("ols", ", weights = weight", "pcn"),
        ("ols", "", "practice"),
        ("poisson", "", "pcn"),
    ] {
        let options = format!("family = {family}, cluster = pcn{weights}");
        let dummies = last_model(&format!(
            "{SURVEY}model good_experience ~ {terms} + factor(year) + fe({large}), {options}"
        ));
        let absorbed = last_model(&format!(
            "{SURVEY}model good_experience ~ {terms} + fe(year) + fe({large}), {options}"
        ));
        for t in absorbed["terms"].as_array().unwrap() {
            let name = t["term"].as_str().unwrap();
            let d = term(&dummies, name);
            for field in ["estimate", "std_error", "p_value"] {
                let (a, b) = (t[field].as_f64().unwrap(), d[field].as_f64().unwrap());
                assert!(
                    close(a, b, 1e-9),
                    "{family}{weights} {name} {field}: {a} vs {b}"
                );
            }
        }
        assert_eq!(
            absorbed["terms"].as_array().unwrap().len() + 5,
            dummies["terms"].as_array().unwrap().len(),
            "the year dummies are not reported as terms"
        );
        let notes = absorbed["notes"].to_string();
        assert!(notes.contains("year (6 levels)"), "{notes}");
    }
}

/// Asserts that every term of `model` has the estimate, standard error and p-value of
/// the same term in `reference`.
fn same_terms(model: &Value, reference: &Value, what: &str) {
    for t in model["terms"].as_array().unwrap() {
        let name = t["term"].as_str().unwrap();
        let r = term(reference, name);
        for field in ["estimate", "std_error", "p_value"] {
            let (a, b) = (t[field].as_f64().unwrap(), r[field].as_f64().unwrap());
            assert!(close(a, b, 1e-8), "{what} {name} {field}: {a} vs {b}");
        }
    }
}

#[test]
fn two_absorbed_effects_with_robust_errors_give_what_dummies_give() {
    // Robust errors read the rows, so fe(year) + fe(pcn) does not join the year as
    // dummies: it goes by the table of PCN-year combinations, whose means are projected
    // by conjugate gradients. Demeaning the logit's first working response so (then on
    // the rows) once threw the effects off along the null space the two groupings share,
    // and the fit overflowed.
    let terms = "lw_fte_50k + sex + age_band";
    for seed in [1, 2, 3] {
        let survey = format!("gpps = simulate gpps, n = 30000, seed = {seed}\nuse gpps\n");
        let options = "family = logit, se = robust";
        let dummies = last_model(&format!(
            "{survey}model good_experience ~ {terms} + factor(year) + fe(pcn), {options}"
        ));
        let absorbed = last_model(&format!(
            "{survey}model good_experience ~ {terms} + fe(year) + fe(pcn), {options}"
        ));
        same_terms(&absorbed, &dummies, &format!("seed {seed}"));
        let notes = absorbed["notes"].to_string();
        assert!(!notes.contains("stopped short"), "{notes}");
    }
}

#[test]
fn an_absorbed_effect_nested_in_another_adds_nothing() {
    // Regions hold whole PCNs: fe(region) beside fe(pcn) is left out of the fit and of
    // the degrees of freedom (OLS's classical errors count absorbed parameters), and said.
    let terms = "lw_fte_50k + sex + age_band";
    for options in [
        "family = ols",
        "family = logit, se = robust",
        "family = logit, cluster = pcn, weights = weight",
    ] {
        let nested = last_model(&format!(
            "{SURVEY}model good_experience ~ {terms} + fe(year) + fe(region) + fe(pcn), {options}"
        ));
        let plain = last_model(&format!(
            "{SURVEY}model good_experience ~ {terms} + fe(year) + fe(pcn), {options}"
        ));
        same_terms(&nested, &plain, options);
        let notes = nested["notes"].to_string();
        assert!(
            notes.contains("`pcn` is nested in `region`"),
            "{options}: {notes}"
        );
    }
}

#[test]
fn unit_weights_change_nothing() {
    let plain = last_model(&format!(
        "{SURVEY}model confidence ~ lw_fte_50k + sex | ltc"
    ));
    let weighted = last_model(&format!(
        "{SURVEY}gpps |> derive one = 1 |> model confidence ~ lw_fte_50k + sex | ltc, weights = one, se = classical"
    ));
    let counted = last_model(&format!(
        "{SURVEY}gpps |> derive one = 1 |> model confidence ~ lw_fte_50k + sex | ltc, freq = one"
    ));
    for other in [&weighted, &counted] {
        for name in ["(Intercept)", "lw_fte_50k", "sexMale"] {
            for field in ["estimate", "std_error"] {
                let (a, b) = (
                    term(&plain, name)[field].as_f64().unwrap(),
                    term(other, name)[field].as_f64().unwrap(),
                );
                assert!(close(a, b, 1e-9), "{name} {field}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn one_row_a_cluster_is_robust() {
    let robust = last_model(&format!(
        "{SURVEY}model confidence ~ lw_fte_50k + sex | ltc, se = robust"
    ));
    let clustered = last_model(&format!(
        "{SURVEY}gpps |> derive id = row_number() |> model confidence ~ lw_fte_50k + sex | ltc, cluster = id"
    ));
    for name in ["(Intercept)", "lw_fte_50k", "sexMale"] {
        let (a, b) = (
            term(&robust, name)["std_error"].as_f64().unwrap(),
            term(&clustered, name)["std_error"].as_f64().unwrap(),
        );
        assert!(close(a, b, 1e-9), "{name}: {a} vs {b}");
    }
}

#[test]
fn frequency_weights_are_repeated_rows() {
    // The OLS log-likelihood too: the expanded rows', not R's precision-weight formula.
    for family in ["logit", "ols"] {
        let expanded = last_model(&format!(
            "table x = [1, 1, 2, 3, 3, 3, 4, 4, 5], y = [0, 1, 1, 0, 1, 0, 1, 1, 0]\n  |> model y ~ x, se = robust, family = {family}"
        ));
        let counted = last_model(&format!(
            "table x = [1, 1, 2, 3, 3, 4, 5], y = [0, 1, 1, 0, 1, 1, 0], f = [1, 1, 1, 2, 1, 2, 1]\n  |> model y ~ x, freq = f, se = robust, family = {family}"
        ));
        for name in ["(Intercept)", "x"] {
            for field in ["estimate", "std_error"] {
                let (a, b) = (
                    term(&expanded, name)[field].as_f64().unwrap(),
                    term(&counted, name)[field].as_f64().unwrap(),
                );
                assert!(close(a, b, 1e-9), "{family} {name} {field}: {a} vs {b}");
            }
        }
        let (a, b) = (
            expanded["log_lik"].as_f64().unwrap(),
            counted["log_lik"].as_f64().unwrap(),
        );
        assert!(close(a, b, 1e-10), "{family} log-likelihood {a} vs {b}");
    }
}

/// A calendar-year quadratic keeps its square, as R and statsmodels do, with the
/// estimates and standard errors of exact arithmetic (mpmath, 50 digits; statsmodels'
/// QR fit gives the same estimates but standard errors 3e-5 off, from the pseudo-inverse
/// of X'X), and a cubic of 21 years loses its cube, as R's QR drops it (the cube leaves
/// 2e-8 of its norm, below R's 1e-7).
#[test]
fn calendar_year_polynomials_are_kept_as_r_keeps_them() {
    let data = "table year = [2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009, 2010], \
        y = [1.0, 1.4, 2.1, 2.2, 3.0, 3.1, 3.9, 4.6, 4.8, 5.9, 6.4]\n";
    let quadratic = last_model(&format!("{data}  |> model y ~ year + year^2"));
    assert_eq!(quadratic["dropped_collinear"], serde_json::json!([]));
    for (name, estimate, se) in [
        ("(Intercept)", 64526.3776223777, 26101.9935888657),
        ("year", -64.89668997669, 26.0369471588482),
        ("year^2", 0.0163170163170163, 0.00649300270422908),
    ] {
        assert!(close(
            term(&quadratic, name)["estimate"].as_f64().unwrap(),
            estimate,
            1e-8
        ));
        assert!(close(
            term(&quadratic, name)["std_error"].as_f64().unwrap(),
            se,
            1e-8
        ));
    }
    assert!(close(
        quadratic["log_lik"].as_f64().unwrap(),
        4.400181187510675,
        1e-10
    ));
    let years = "table year = [2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009, 2010, \
        2011, 2012, 2013, 2014, 2015, 2016, 2017, 2018, 2019, 2020]\n  |> derive y = (year - 2010)^2 / 10 + log(year - 1995)\n";
    let cubic = last_model(&format!("{years}  |> model y ~ year + year^2 + year^3"));
    assert_eq!(cubic["dropped_collinear"], serde_json::json!(["year^3"]));
}

/// Absorbed groups whose outcome never varies are dropped with their rows, as fixest and
/// Stata drop them, and said; the estimates are those of the fit that keeps them (whose
/// note now names the groups as the cause, not the terms).
#[test]
fn absorbed_groups_whose_outcome_never_varies_are_dropped_and_said() {
    let fit = |extra: &str| {
        last_model(&format!(
            "gpps = simulate gpps, n = 30000, seed = 1\nuse gpps\nmodel good_experience ~ lw_fte_50k + sex + fe(year) + fe(pcn), cluster = pcn{extra}"
        ))
    };
    let (dropped, kept) = (fit(""), fit(", separated = keep"));
    assert_eq!(dropped["n"], 29764);
    assert_eq!(kept["n"], 30000);
    let notes = dropped["notes"].to_string();
    assert!(
        notes.contains(
            "236 rows dropped with 12 groups of `pcn` whose outcome is always 0 or always 1"
        ),
        "{notes}"
    );
    let kept_notes = kept["notes"].to_string();
    assert!(
        kept_notes.contains("236 rows in absorbed groups whose outcome never varies"),
        "{kept_notes}"
    );
    assert!(!kept_notes.contains("Quasi-complete"), "{kept_notes}");
    for name in ["lw_fte_50k", "sexMale"] {
        let (a, b) = (
            term(&dropped, name)["estimate"].as_f64().unwrap(),
            term(&kept, name)["estimate"].as_f64().unwrap(),
        );
        assert!(close(a, b, 1e-6), "{name}: {a} vs {b}");
    }
}

/// Counts no more dispersed than a Poisson's: theta runs off, and the note says so, as
/// MASS warns.
#[test]
fn a_negative_binomial_without_overdispersion_says_so() {
    let model = last_model(
        "table x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], y = [2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3]\n  |> model y ~ x, family = negbin",
    );
    let notes = model["notes"].to_string();
    assert!(notes.contains("grew without bound"), "{notes}");
}

#[test]
fn hc3_is_refused_with_absorbed_effects() {
    let out = run(
        "table x = [1, 2, 3, 4, 5, 6], g = [\"a\", \"a\", \"b\", \"b\", \"c\", \"c\"], y = [1.0, 2.5, 2.0, 4.5, 3.0, 6.5]\n  |> model y ~ x + fe(g), se = hc3",
    );
    let error = out.error.expect("an error");
    assert!(error.contains("spel::model::hc3_absorbed"), "{error}");
    assert!(error.contains("factor(...)"), "{error}");
}

/// A two-way clustered variance with a negative eigenvalue (a random case that the
/// differential tests found) is clipped at zero, with a note, so every term has a
/// standard error (it had none before).
#[test]
fn two_way_clusters_are_made_positive_semi_definite() {
    let model = last_model(
        "d = read \"stdlib/tests/data/two_way_clusters.csv\"\nuse d\nmodel y ~ x1 + x2 + x3 + g, family = ols, cluster = [grp, other]",
    );
    assert!(
        model["notes"]
            .to_string()
            .contains("not positive semi-definite")
    );
    for t in model["terms"].as_array().unwrap() {
        assert!(t["std_error"].as_f64().is_some_and(f64::is_finite), "{t}");
    }
}

#[test]
fn fixed_effects_recover_the_true_odds_ratio_and_pooling_does_not() {
    let study = "gpps = simulate gpps, n = 200000, seed = 11\nuse gpps\n";
    let within = last_model(&format!(
        "{study}model good_experience ~ lw_fte_50k + age_band + sex + ethnicity + factor(imd_quintile) + fe(year) + fe(pcn), weights = weight, cluster = pcn"
    ));
    let lw = term(&within, "lw_fte_50k");
    let truth = 1.015_f64;
    let (low, high) = (
        lw["or_conf_low"].as_f64().unwrap(),
        lw["or_conf_high"].as_f64().unwrap(),
    );
    assert!(
        low < truth && truth < high,
        "true OR {truth} outside {low}..{high}"
    );
    let pooled = last_model(&format!(
        "{study}model good_experience ~ lw_fte_50k + age_band + sex + factor(year), weights = weight, cluster = pcn"
    ));
    let confounded = term(&pooled, "lw_fte_50k")["or_conf_low"].as_f64().unwrap();
    assert!(
        confounded > truth,
        "the pooled model should be confounded upwards"
    );
}

#[test]
fn the_design_cards_one_liner_reports_odds_ratios() {
    let out = run(
        "gpps = simulate gpps, n = 20000, seed = 5\nuse gpps\nmodel confidence ~ lw_fte_50k | ltc",
    );
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(
        out.text
            .starts_with("Logistic regression (logit): confidence ~ lw_fte_50k | ltc"),
        "{}",
        out.text
    );
    assert!(out.text.contains("odds ratio"), "{}", out.text);
    assert!(out.text.contains("outside `| ltc`"), "{}", out.text);
    assert!(out.text.contains("so the model is a logit"), "{}", out.text);
}

#[test]
fn the_simulator_is_deterministic_for_a_seed() {
    let first = run("simulate gpps, n = 1000, seed = 42");
    let again = run("simulate gpps, n = 1000, seed = 42");
    let other = run("simulate gpps, n = 1000, seed = 43");
    assert_eq!(first.json, again.json);
    assert_ne!(first.json, other.json);
}

/// 95% CIs from the within-PCN model cover the true OR of good_experience in 93–97%
/// of 200 simulated studies. Slow (minutes): run with
/// `cargo test -p spel-stdlib --test integration coverage -- --ignored`.
#[test]
#[ignore]
fn coverage_of_the_true_odds_ratio() {
    let mut covered = 0;
    let runs = 200;
    for seed in 1..=runs {
        let model = last_model(&format!(
            "gpps = simulate gpps, n = 30000, seed = {seed}\nuse gpps\nmodel good_experience ~ lw_fte_50k + sex + fe(year) + fe(pcn), cluster = pcn"
        ));
        let lw = term(&model, "lw_fte_50k");
        let (low, high) = (
            lw["or_conf_low"].as_f64().unwrap(),
            lw["or_conf_high"].as_f64().unwrap(),
        );
        if low < 1.015 && 1.015 < high {
            covered += 1;
        }
    }
    let share = f64::from(covered) / f64::from(runs);
    println!("coverage of the true odds ratio: {covered} of {runs} intervals ({share})");
    assert!((0.93..=0.97).contains(&share), "coverage {share}");
}

#[test]
fn average_marginal_effects_match_statsmodels_and_stata() {
    // statsmodels' Logit(...).get_margeff() on the Spector data (as Stata's
    // `margins, dydx(*)`): GPA 0.3626 (0.109), TUCE 0.0122 (0.018), PSI 0.3052 (0.092).
    let data = crate::repo_root().join("repl/tests/refcases/data/spector.csv");
    let out = run(&format!(
        "d = read \"{}\"\nm = d |> model GRADE ~ GPA + TUCE + PSI\nmargins m",
        data.display()
    ));
    assert!(out.error.is_none(), "{:?}", out.error);
    let table: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
    let expected = [
        ("GPA", 0.3626, 0.109),
        ("TUCE", 0.0122, 0.018),
        ("PSI", 0.3052, 0.092),
    ];
    for (row, (name, estimate, se)) in table["rows"].as_array().unwrap().iter().zip(expected) {
        assert_eq!(row[0], name);
        assert!(
            (row[2].as_f64().unwrap() - estimate).abs() < 5e-5,
            "{name} {row}"
        );
        assert!((row[3].as_f64().unwrap() - se).abs() < 5e-4, "{name} {row}");
    }
}

#[test]
fn margins_of_ols_are_the_slopes() {
    let model = "t = table y = [1.2, 2.3, 2.9, 4.1, 5.2, 5.8], x = [1, 2, 3, 4, 5, 6], g = [\"a\", \"b\", \"a\", \"b\", \"b\", \"a\"]\nm = t |> model y ~ x + g\n";
    let fitted = last_model(&format!("{model}m"));
    let out = run(&format!("{model}margins m"));
    let table: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
    for (row, name) in table["rows"].as_array().unwrap().iter().zip(["x", "gb"]) {
        let coef = term(&fitted, name);
        assert!(
            close(
                row[2].as_f64().unwrap(),
                coef["estimate"].as_f64().unwrap(),
                1e-6
            ),
            "{row}"
        );
        assert!(
            close(
                row[3].as_f64().unwrap(),
                coef["std_error"].as_f64().unwrap(),
                1e-6
            ),
            "{row}"
        );
    }
}

#[test]
fn predictions_of_a_logit_average_to_the_outcome_and_join_the_current_table() {
    let src = "t = table y = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1], x = [1, 2, 2, 3, 4, 5, 5, 6, 7, 8], g = [\"a\", \"b\", \"a\", \"b\", \"a\", \"b\", \"a\", \"b\", \"a\", \"b\"]\n\
               m = t |> model y ~ x + g\n\
               use t\n\
               predict m as p\n\
               t |> summarise mean(p), mean(y), n()";
    let out = run(src);
    assert!(out.error.is_none(), "{:?}", out.error);
    let table: Value = serde_json::from_str(out.json.lines().last().unwrap()).unwrap();
    let row = &table["rows"][0];
    assert!(
        close(row[0].as_f64().unwrap(), row[1].as_f64().unwrap(), 1e-8),
        "{row}"
    );
    assert_eq!(row[2], 10);
    let missing = run(
        "t = table y = [0, 1, 0, 1], x = [1, 2, 3, 4]\nm = t |> model y ~ x, family = ols\ntable x = [2.5] |> derive x = if_else(x > 2, x, x) |> predict m as fitted",
    );
    assert!(missing.error.is_none(), "{:?}", missing.error);
    // With absorbed effects, predictions on the fitting rows reproduce the fit: a
    // logit's mean prediction equals the mean outcome within every level.
    let fixed = run(
        "gpps = simulate gpps, n = 3000, seed = 1\nm = gpps |> model isolated ~ lw_fte_50k + fe(region) + fe(year)\ngpps |> predict m as p |> summarise mean(p), mean(isolated) by region",
    );
    assert!(fixed.error.is_none(), "{:?}", fixed.error);
    let table: Value = serde_json::from_str(fixed.json.lines().last().unwrap()).unwrap();
    for row in table["rows"].as_array().unwrap() {
        assert!(
            close(row[1].as_f64().unwrap(), row[2].as_f64().unwrap(), 1e-6),
            "{row}"
        );
    }

    // A factor level the fit never saw has no estimate: a missing prediction, not the
    // reference level's; a seen level gets the intercept plus its own coefficient.
    let unseen = run(
        "t = table y = [1.0, 2.0, 3.5, 4.0, 6.5, 5.5], g = [\"a\", \"a\", \"b\", \"b\", \"c\", \"c\"]\n\
         m = t |> model y ~ g\n\
         table g = [\"b\", \"d\", \"a\"] |> predict m as p",
    );
    assert!(unseen.error.is_none(), "{:?}", unseen.error);
    let table: Value = serde_json::from_str(unseen.json.lines().last().unwrap()).unwrap();
    let p: Vec<Option<f64>> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[1].as_f64())
        .collect();
    assert!(p[1].is_none(), "{table}");
    assert!(
        close(p[0].unwrap(), 3.75, 1e-9) && close(p[2].unwrap(), 1.5, 1e-9),
        "{table}"
    );
}

#[test]
fn rates_have_exact_poisson_intervals_and_ratios() {
    // Garwood: qchisq(0.025, 2x)/2 and qchisq(0.975, 2(x+1))/2; for 10 events
    // 4.795389 and 18.390356, for 20 12.216520 and 30.888378, for 0 events 0 and 3.688879.
    let out = run(
        "table imd = [\"least\", \"most\"], referrals = [10, 20], patients = [1000, 1000]\n  |> rate referrals per 1000 of patients by imd\ntable referrals = [0], patients = [500] |> rate referrals per 1000 of patients",
    );
    assert!(out.error.is_none(), "{:?}", out.error);
    let lines: Vec<Value> = out
        .json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows = lines[0]["rows"].as_array().unwrap();
    let f = |row: &Value, i: usize| row[i].as_f64().unwrap();
    assert!(close(f(&rows[0], 4), 4.795389, 1e-6) && close(f(&rows[0], 5), 18.390356, 1e-6));
    assert!(close(f(&rows[1], 4), 12.216520, 1e-6) && close(f(&rows[1], 5), 30.888378, 1e-6));
    // Rate ratio 2 with a log-scale Wald interval exp(log 2 ± 1.96·sqrt(1/10 + 1/20)).
    assert!(close(f(&rows[1], 6), 2.0, 1e-12));
    assert!(close(f(&rows[1], 7), 0.936184, 1e-5) && close(f(&rows[1], 8), 4.272666, 1e-5));
    assert!(rows[0][7].is_null());
    let none = &lines[1]["rows"][0];
    assert_eq!(none[3].as_f64().unwrap(), 0.0);
    assert!(close(
        none[4].as_f64().unwrap(),
        3.688879 / 500.0 * 1000.0,
        1e-6
    ));
}

/// Inputs a fit cannot use are located errors before it: a text outcome (never cast,
/// even when its texts look like numbers), weights that are all zero, fewer observations
/// than parameters.
#[test]
fn unusable_inputs_are_located_errors() {
    for (src, code, says) in [
        (
            "table y = [\"low\", \"high\", \"low\", \"high\"], x = [1, 2, 3, 4] |> model y ~ x, family = ols",
            "spel::model::outcome",
            "is a str column",
        ),
        (
            "table y = [\"1\", \"2\", \"1\", \"3\"], x = [1, 2, 3, 4] |> model y ~ x, family = ols",
            "spel::model::outcome",
            "derive good = if_else(y",
        ),
        (
            "table y = [1.0, 2.0, 1.5, 3.0], x = [1, 2, 3, 4], w0 = [0, 0, 0, 0] |> model y ~ x, weights = w0",
            "spel::model::weights_zero",
            "every `weights` is 0",
        ),
        (
            "table y = [1, 1, 0, 0], x = [1, 2, 3, 4], g = [\"a\", \"a\", \"b\", \"b\"] |> model y ~ x + fe(g), family = logit",
            "spel::model::all_separated",
            "every row is in an absorbed group whose outcome never varies",
        ),
        (
            "table y = [1.0, 2.0, 1.5, 3.0], x = [1, 2, 3, 4], w = [1, 1, 0, 0] |> model y ~ x, weights = w",
            "spel::model::too_few_rows",
            "2 observations with a positive weight for 2 parameters",
        ),
    ] {
        let error = run(src)
            .error
            .unwrap_or_else(|| panic!("no error for {src}"));
        assert!(
            error.contains(code) && error.contains(says),
            "{src}\n{error}"
        );
        assert!(!error.contains("internal"), "{error}");
    }
}

/// Fits that break down stop with a located error saying how, as R's `glm` stops;
/// never zero coefficients or a worse step accepted with only "did not converge".
#[test]
fn fits_that_break_down_are_located_errors() {
    let table = |offset: &str| {
        format!(
            "table y = [0, 1, 2, 3, 1, 0, 2, 4], x = [1, 2, 3, 4, 5, 6, 7, 8], \
             o = [0, 0, 0, {offset}, 0, 0, 0, 0] |> model y ~ x + offset(o), family = poisson"
        )
    };
    for (src, says) in [
        (table("800"), "at iteration 1 the fitted means overflow"),
        (table("-800"), "at iteration 1 the fitted means overflow"),
        (
            table("300"),
            "normal equations could not be solved at iteration 2",
        ),
    ] {
        let error = run(&src)
            .error
            .unwrap_or_else(|| panic!("no error for {src}"));
        assert!(
            error.contains("spel::model::irls") && error.contains(says),
            "{src}\n{error}"
        );
        assert!(
            error.contains("offset(o)") || error.contains("model y"),
            "not located: {error}"
        );
    }
}

/// A Poisson mean below 2.2e-16 is held there, as R's log link holds it, with the
/// working weight at the same floor: one row with an offset of −800 leaves the others'
/// fit as it would be (the intercept's MLE is log(3000/2999): Σy = Σ exp(a + o)).
#[test]
fn vanishing_poisson_means_are_held_at_the_floor() {
    let out = run("simulate gpps, n = 3000, seed = 1 \
         |> derive o = if_else(row_number() == 5, -800, 0), y = 1 \
         |> model y ~ 1 + offset(o), family = poisson");
    assert!(out.error.is_none(), "{:?}", out.error);
    let model: Value = serde_json::from_str(out.json.lines().next().unwrap()).unwrap();
    let estimate = model["terms"][0]["estimate"].as_f64().unwrap();
    assert!(
        close(estimate, (3000.0_f64 / 2999.0).ln(), 1e-9),
        "{estimate}"
    );
}

/// Differences that never vary have no t test: a located error, not a panic.
#[test]
fn comparisons_without_variation_say_so() {
    let out =
        run("table before = [1, 2, 3], after = [2, 3, 4] |> compare before, after, paired = true");
    let error = out.error.expect("an error");
    assert!(error.contains("spel::compare::no_variation"), "{error}");
    assert!(!error.contains("internal"), "{error}");
}

#[test]
fn paired_comparisons_match_scipy() {
    // scipy 1.17: ttest_rel(after, before) and wilcoxon(after, before) with defaults.
    let cases = [
        // no ties or zeros: the exact distribution
        (
            "[10, 12, 9, 14, 11, 13, 8, 15, 16, 7]",
            "[12.5, 11.2, 12.1, 13.05, 14.7, 12.35, 10.9, 17.8, 15.45, 9.6]",
            2.406089000733851,
            0.03950153652360807,
            10.0,
            0.083984375,
        ),
        // ties, 20 pairs: the normal approximation with a tie correction
        (
            "[3, 5, 2, 8, 6, 4, 7, 3, 5, 9, 2, 4, 6, 7, 1, 5, 6, 7, 3, 4]",
            "[1, 4, 2, 5, 7, 3, 2, 1, 5, 6, 1, 3, 2, 4, 3, 4, 4, 4, 3, 2]",
            -4.076051364062403,
            0.0006440202531301748,
            12.5,
            0.002231156805633763,
        ),
        // ties and zeros, 12 pairs: a permutation over signs
        (
            "[3, 5, 2, 8, 6, 4, 7, 3, 5, 9, 2, 4]",
            "[2, 4, 2, 5, 6, 3, 4, 1, 5, 6, 1, 3]",
            -4.0,
            0.0020861935669749536,
            0.0,
            0.00390625,
        ),
    ];
    for (before, after, t, t_p, w, w_p) in cases {
        let out = run(&format!(
            "table before = {before}, after = {after} |> compare before, after, paired = true"
        ));
        assert!(out.error.is_none(), "{:?}", out.error);
        let table: Value = serde_json::from_str(out.json.trim()).unwrap();
        let rows = table["rows"].as_array().unwrap();
        assert!(close(rows[0][2].as_f64().unwrap(), t, 1e-9), "{rows:?}");
        assert!(close(rows[0][4].as_f64().unwrap(), t_p, 1e-6), "{rows:?}");
        assert_eq!(rows[1][2].as_f64().unwrap(), w, "{rows:?}");
        assert!(close(rows[1][4].as_f64().unwrap(), w_p, 1e-9), "{rows:?}");
    }
}

/// `its` reads neighbouring rows as neighbouring periods: a period twice (areas stacked)
/// or a gap is an error, and `level =` sets the intervals.
#[test]
fn interrupted_time_series_checks_its_periods() {
    let series = |months: &str| {
        format!(
            "table month = [{months}], referrals = [20, 22, 21, 24, 25, 18, 19, 20, 21, 23]\n  |> its referrals ~ month, break = 6"
        )
    };
    let twice = run(&series("1, 2, 2, 3, 4, 5, 6, 7, 8, 9"))
        .error
        .expect("an error");
    assert!(
        twice.contains("spel::its::duplicate_period")
            && twice.contains("period 2 appears in 2 rows"),
        "{twice}"
    );
    let gap = run(&series("1, 2, 3, 4, 5, 6, 8, 9, 10, 11"))
        .error
        .expect("an error");
    assert!(gap.contains("6 is followed by 8"), "{gap}");
    let months = "2019-01-01, 2019-02-01, 2019-03-01, 2019-04-01, 2019-05-01, 2019-06-01, \
                  2019-07-01, 2019-08-01, 2019-09-01, 2019-10-01";
    let dated = run(&format!(
        "{}, lags = 1",
        series(months).replace("break = 6", "break = 2019-06-01")
    ));
    assert!(
        dated.error.is_none(),
        "calendar months are evenly spaced: {:?}",
        dated.error
    );
    let at = |level: &str| -> Vec<Value> {
        let out = run(&format!(
            "{}, lags = 1{level}",
            series("1, 2, 3, 4, 5, 6, 7, 8, 9, 10")
        ));
        let table: Value = serde_json::from_str(out.json.trim()).unwrap();
        table["rows"].as_array().unwrap().clone()
    };
    let (ninety, default) = (at(", level = 0.9"), at(""));
    // The 90% half-width is z(0.95)/z(0.975) of the 95% one.
    let half = |rows: &[Value]| rows[2][6].as_f64().unwrap() - rows[2][1].as_f64().unwrap();
    assert!(close(
        half(&ninety) / half(&default),
        1.6448536269514722 / 1.959963984540054,
        1e-9
    ));
}

#[test]
fn interrupted_time_series_matches_statsmodels_hac() {
    // statsmodels 0.15: OLS(y, [1, t, after, since]).fit(cov_type="HAC", cov_kwds={"maxlags": 2}).
    let out = run(
        "table month = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24], y = [10.2, 10.8, 11.1, 11.9, 12.3, 12.2, 13.0, 13.4, 13.1, 14.0, 14.2, 14.9, 12.1, 12.6, 12.4, 12.9, 13.3, 13.1, 13.8, 13.6, 14.1, 14.4, 14.2, 14.9]\n  |> its y ~ month, break = 13, lags = 2",
    );
    assert!(out.error.is_none(), "{:?}", out.error);
    let table: Value = serde_json::from_str(out.json.trim()).unwrap();
    let expected = [
        ("(Intercept)", 10.03030303030304, 0.11687768152889888),
        ("month", 0.3940559440559436, 0.014851007984863955),
        ("level_change", -2.987645687645687, 0.10517741822261635),
        ("slope_change", -0.16048951048951, 0.01655188198884889),
    ];
    for (row, (name, estimate, se)) in table["rows"].as_array().unwrap().iter().zip(expected) {
        assert_eq!(row[0], name);
        assert!(close(row[1].as_f64().unwrap(), estimate, 1e-9), "{row}");
        assert!(close(row[2].as_f64().unwrap(), se, 1e-9), "{row}");
    }
    let outside =
        run("table month = [1, 2, 3, 4, 5, 6], y = [1, 2, 3, 4, 5, 6] |> its y ~ month, break = 9");
    assert!(outside.error.unwrap().contains("the data run from 1 to 6"));
}

#[test]
fn concentration_indices_follow_their_formulas() {
    // Computed by hand (Python, the formulas in docs/designs.md) for this case: C = 1/70,
    // SE(C) = 0.1226885411687287 (Kakwani et al. 1997), Erreygers 0.04, Wagstaff 1/21.
    let base = "t = table good = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1], affluence = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n";
    for (kind, estimate, se) in [
        ("standard", 1.0 / 70.0, 0.1226885411687287),
        ("erreygers", 0.04, 0.1226885411687287 * 4.0 * 0.7),
        (
            "wagstaff",
            1.0 / 21.0,
            0.1226885411687287 * 0.7 / (0.3 * 0.7),
        ),
    ] {
        let out = run(&format!(
            "{base}t |> concentration good by affluence, type = {kind}"
        ));
        assert!(out.error.is_none(), "{:?}", out.error);
        let table: Value = serde_json::from_str(out.json.trim()).unwrap();
        let row = &table["rows"][0];
        assert!(
            close(row[2].as_f64().unwrap(), estimate, 1e-9),
            "{kind} {row}"
        );
        assert!(close(row[3].as_f64().unwrap(), se, 1e-9), "{kind} {row}");
    }
    let negative = run("table y = [1, -2, 3], r = [1, 2, 3] |> concentration y by r");
    assert!(
        negative
            .error
            .unwrap()
            .contains("needs an outcome of 0 or more")
    );
}

#[test]
fn a_model_reads_its_rows_batch_by_batch_as_one_table() {
    // 600,000 rows come in three batches: rows with a missing outcome are dropped in the
    // later ones, a factor's level first appears in the second, and the rows in reverse
    // order put both in other batches. The fit is the same either way.
    let data = "gpps = simulate gpps, n = 600000, seed = 5\n\
        d = gpps |> derive r = row_number(), \
        y = if_else(r > 300000 & round(r / 97) * 97 == r, log(-1), good_experience), \
        band = if_else(r > 400000 & sex == \"Male\", \"late\", age_band), \
        w = if_else(r > 300000 & round(r / 1000) * 1000 == r, log(-1), weight)\n";
    let model = "model y ~ lw_fte_50k + sex + band + fe(pcn), weights = weight, cluster = pcn";
    let forward = last_model(&format!("{data}d |> {model}"));
    let reversed = last_model(&format!("{data}d |> sort r desc |> {model}"));
    same_terms(&forward, &reversed, "reversed rows");
    assert_eq!(forward["n_dropped"], 3093, "{}", forward["n_dropped"]);
    assert_eq!(forward["n"], reversed["n"]);
    assert!(close(
        term(&forward, "bandlate")["estimate"].as_f64().unwrap(),
        term(&reversed, "bandlate")["estimate"].as_f64().unwrap(),
        1e-8
    ));
    // A missing weight is counted over every batch before it is refused.
    let out = run(&format!("{data}d |> model y ~ lw_fte_50k, weights = w"));
    let error = out.error.expect("missing weights are an error");
    assert!(error.contains("missing in 300 rows"), "{error}");
}
