//! Every public reference case and variant (R and statsmodels results in
//! `repl/tests/refcases/`), fitted through `spel run --format json` and judged by the
//! cases' own `check.py` at their stated tolerances.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Map, Value, json};

/// The spel options that select a reference variant's standard errors.
fn variant_options(variant: &str, spec_cluster: &Value) -> Option<String> {
    let default_cluster = match spec_cluster {
        Value::String(c) => c.clone(),
        Value::Array(items) => items.first()?.as_str()?.to_string(),
        _ => String::new(),
    };
    let cluster_of = |v: &str| {
        if v.contains("firm_year") || v.contains("twoway") {
            "[firm, year]".to_string()
        } else if v.ends_with("_firm") || v.contains("_firm_") {
            "firm".to_string()
        } else if v.ends_with("_year") {
            "year".to_string()
        } else {
            default_cluster.clone()
        }
    };
    Some(match variant {
        "model" => "se = classical".into(),
        "HC0" => "se = robust, ssc = none".into(),
        "HC1" | "HC1_dummies" => "se = robust, ssc = reg".into(),
        "HC0_stata_ml" => "se = robust, ssc = ml".into(),
        "HC3" => "se = hc3".into(),
        v if v.starts_with("CR0") => {
            format!("se = cluster, cluster = {}, ssc = none", cluster_of(v))
        }
        v if v.starts_with("CR1_G") => {
            format!("se = cluster, cluster = {}, ssc = ml", cluster_of(v))
        }
        v if v.ends_with("_tNK") => format!(
            "se = cluster, cluster = {}, ssc = reg, df = residual",
            cluster_of(v)
        ),
        v if v.starts_with("CR1_stata_reg") || v.starts_with("CR1_firm") => {
            format!("se = cluster, cluster = {}, ssc = reg", cluster_of(v))
        }
        "CR_twoway_firm_year" => "se = cluster, cluster = [firm, year]".into(),
        "CR_twoway_minG" => "se = cluster, cluster = [firm, year], ssc = min".into(),
        _ => return None,
    })
}

fn script(folder: &std::path::Path, spec: &Value, variant: &str) -> Option<String> {
    let family = match (
        spec["family"].as_str()?,
        spec["link"].as_str().unwrap_or(""),
    ) {
        ("binomial", "probit") => "probit",
        ("binomial", _) => "logit",
        ("poisson", _) => "poisson",
        ("gaussian", _) => "ols",
        (f, _) if f.starts_with("negative binomial") => "negbin",
        _ => return None,
    };
    let factors = spec["factors"].as_object().cloned().unwrap_or_default();
    let mut terms: Vec<String> = Vec::new();
    for predictor in spec["predictors"].as_array()? {
        let predictor = predictor.as_str()?;
        let bare = predictor
            .trim_start_matches("factor(")
            .trim_end_matches(')');
        match factors.get(bare) {
            Some(factor) => {
                let reference = match &factor["reference"] {
                    Value::String(s) => format!("\"{s}\""),
                    other => other.to_string(),
                };
                terms.push(format!("factor({bare}, ref = {reference})"));
            }
            None => terms.push(predictor.to_string()),
        }
    }
    if let Some(offset) = spec["offset"].as_str() {
        terms.push(format!("offset({offset})"));
    }
    for fe in spec["fe"].as_array().into_iter().flatten() {
        terms.push(format!("fe({})", fe.as_str()?));
    }
    let mut formula = format!("{} ~ {}", spec["outcome"].as_str()?, terms.join(" + "));
    if let Some(subset) = spec["subset"]["expr"].as_str() {
        formula.push_str(&format!(" | {subset}"));
    }
    let mut options = vec![
        format!("family = {family}"),
        variant_options(variant, &spec["cluster"])?,
    ];
    if spec["weights"]["type"] == "probability" {
        options.push(format!("weights = {}", spec["weights"]["column"].as_str()?));
    }
    let data = folder.join(spec["data"].as_str()?);
    Some(format!(
        "d = read \"{}\"\nd |> model {formula}, {}\n",
        data.display(),
        options.join(", ")
    ))
}

/// spel's JSON model line as `check.py`'s candidate.
fn candidate(case: &str, variant: &str, model: &Value, has_loglik: bool) -> Value {
    let mut out = Map::new();
    out.insert("case".into(), json!(case));
    out.insert("variant".into(), json!(variant));
    let pairs = [
        ("coef", "estimate"),
        ("se", "std_error"),
        ("stat", "statistic"),
        ("p", "p_value"),
        ("ci_low", "conf_low"),
        ("ci_high", "conf_high"),
        ("or", "odds_ratio"),
        ("or_ci_low", "or_conf_low"),
        ("or_ci_high", "or_conf_high"),
    ];
    for (key, field) in pairs {
        let mut values = Map::new();
        for term in model["terms"].as_array().into_iter().flatten() {
            if let (Some(name), Some(value)) = (term["term"].as_str(), term.get(field)) {
                values.insert(name.to_string(), value.clone());
            }
        }
        if !values.is_empty() {
            out.insert(key.into(), Value::Object(values));
        }
    }
    if has_loglik {
        for key in ["aic", "bic"] {
            out.insert(key.into(), model[key].clone());
        }
        out.insert("loglik".into(), model["log_lik"].clone());
    }
    out.insert("deviance".into(), model["deviance"].clone());
    out.insert("n".into(), model["n"].clone());
    if !model["theta"].is_null() {
        out.insert("theta".into(), model["theta"].clone());
    }
    Value::Object(out)
}

#[test]
fn every_reference_case_and_variant_passes_check_py() {
    let folder = crate::repo_root().join("repl/tests/refcases");
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut judged = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = case["spec"]["name"].as_str().unwrap().to_string();
        let has_loglik = !case["reference"]["fit"]["loglik"].is_null();
        for variant in case["reference"]["inference"].as_object().unwrap().keys() {
            let Some(code) = script(&folder, &case["spec"], variant) else {
                failures.push(format!(
                    "{name}/{variant}: no spel options for this variant"
                ));
                continue;
            };
            let script_path = dir.path().join(format!("{name}-{variant}.spel"));
            std::fs::write(&script_path, &code).unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_spel"))
                .args(["run", "--format", "json"])
                .arg(&script_path)
                .output()
                .unwrap();
            if !out.status.success() {
                failures.push(format!(
                    "{name}/{variant}: spel failed\n{code}{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
            let model: Value =
                serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
            let candidate_path = dir.path().join(format!("{name}-{variant}.json"));
            std::fs::write(
                &candidate_path,
                candidate(&name, variant, &model, has_loglik).to_string(),
            )
            .unwrap();
            let judged_by = Command::new("python3")
                .arg(folder.join("check.py"))
                .arg(&candidate_path)
                .output()
                .unwrap();
            judged += 1;
            let report = String::from_utf8_lossy(&judged_by.stdout).into_owned();
            println!("{name}/{variant}: {}", report.lines().last().unwrap_or(""));
            if !judged_by.status.success() {
                failures.push(format!("{name}/{variant}:\n{code}{report}"));
            }
        }
    }
    assert!(judged >= 40, "judged only {judged} variants");
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
