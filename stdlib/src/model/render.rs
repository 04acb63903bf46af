//! A model as a paper reports it: text for the terminal, a regression table in HTML,
//! and JSON with the broom names.

use super::{Distribution, Model};
use crate::format;
use crate::markup::escape;

/// Coefficients and their statistics to four significant digits, as a table shows them.
pub fn sig(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NA".into()
        } else {
            format::float(x)
        };
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Fit statistics: four significant digits, or thousands separators when large.
fn stat(x: f64) -> String {
    if x.is_finite() && x.abs() >= 1e5 {
        format::thousands(x)
    } else {
        sig(x)
    }
}

use format::p_value;

fn statistic_name(model: &Model) -> &'static str {
    match model.distribution {
        Distribution::Normal => "z",
        Distribution::StudentT(_) => "t",
    }
}

/// "Rows: 1,234 used of 4,000; 2,700 outside `| ltc`; 66 dropped for missing values (…)".
pub fn rows_line(model: &Model) -> String {
    let mut parts = vec![format!(
        "{} used of {}",
        format::count(model.n),
        format::count(model.n_total)
    )];
    if model.n_outside_condition > 0 {
        let condition = model.condition.as_deref().unwrap_or("the condition");
        parts.push(format!(
            "{} outside `| {condition}`",
            format::count(model.n_outside_condition)
        ));
    }
    if model.n_dropped_missing > 0 {
        let by: Vec<String> = model
            .missing
            .iter()
            .map(|(name, n)| format!("{name} {}", format::count(*n)))
            .collect();
        parts.push(format!(
            "{} dropped for missing values ({})",
            format::count(model.n_dropped_missing),
            by.join(", ")
        ));
    }
    if model.n_dropped_separated > 0 {
        parts.push(format!(
            "{} in absorbed groups whose outcome never varies",
            format::count(model.n_dropped_separated)
        ));
    }
    let mut line = format!("Rows: {}", parts.join("; "));
    if let Some(weighted) = model.n_weighted {
        line.push_str(&format!(
            " (standing for {} with frequency weights)",
            format::number(weighted)
        ));
    }
    line
}

pub fn text(model: &Model) -> String {
    let mut out = format!("{}: {}\n", model.family_title(), model.formula);
    out.push_str(&rows_line(model));
    out.push('\n');
    out.push_str(&format!("Standard errors: {}\n\n", model.se_description));
    let level = format::number(model.level * 100.0);
    let mut header = vec![
        "term".to_string(),
        "estimate".into(),
        "std.error".into(),
        statistic_name(model).into(),
        "p".into(),
        format!("{level}% CI"),
    ];
    if let Some((name, _)) = model.ratio_name() {
        header.push(if name == "odds_ratio" {
            "odds ratio".into()
        } else {
            "IRR".into()
        });
        header.push(format!("{level}% CI"));
    }
    let mut rows = vec![header];
    for c in &model.coefficients {
        let mut row = vec![
            c.term.clone(),
            sig(c.estimate),
            sig(c.std_error),
            format!("{:.2}", c.statistic),
            p_value(c.p_value),
            format!("{} to {}", sig(c.conf_low), sig(c.conf_high)),
        ];
        if model.ratio_name().is_some() {
            row.push(sig(c.estimate.exp()));
            row.push(format!(
                "{} to {}",
                sig(c.conf_low.exp()),
                sig(c.conf_high.exp())
            ));
        }
        rows.push(row);
    }
    out.push_str(&aligned(&rows, 1));
    if let Some(mixed) = &model.mixed {
        out.push('\n');
        out.push_str(&aligned(&random_rows(mixed), 2));
        out.push_str(&groups_line(mixed));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&fit_line(model));
    for line in instrumental_lines(model) {
        out.push('\n');
        out.push_str(&line);
    }
    if !model.notes.is_empty() || !model.conventions.is_empty() {
        out.push_str("\nNotes:");
        for note in model.notes.iter().chain(&model.conventions) {
            out.push_str(&format!("\n- {note}"));
        }
    }
    out
}

/// Rows as a text table: the first `left` columns left-aligned, the others right, a
/// rule under the header.
fn aligned(rows: &[Vec<String>], left: usize) -> String {
    let mut out = String::new();
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|j| rows.iter().map(|r| r[j].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(j, cell)| {
                let pad = " ".repeat(widths[j] - cell.chars().count());
                if j < left {
                    format!("{cell}{pad}")
                } else {
                    format!("{pad}{cell}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out.push_str(&"─".repeat(total));
            out.push('\n');
        }
    }
    out
}

/// The variance components as lme4's summary lists them: each grouping's terms with
/// their variance, standard deviation and correlations with the terms above, then the
/// residual.
fn random_rows(mixed: &super::mixed::Mixed) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "random effect".to_string(),
        "term".into(),
        "variance".into(),
        "std.dev.".into(),
        "corr".into(),
    ]];
    for c in &mixed.components {
        for (a, term) in c.terms.iter().enumerate() {
            let correlations: Vec<String> = (0..a)
                .map(|b| format!("{:.3}", c.correlation(a, b)))
                .collect();
            rows.push(vec![
                if a == 0 {
                    c.grouping.clone()
                } else {
                    String::new()
                },
                term.clone(),
                sig(c.covariance[a][a]),
                sig(c.covariance[a][a].sqrt()),
                correlations.join(" "),
            ]);
        }
    }
    if mixed.family == super::ModelFamily::Ols {
        rows.push(vec![
            "Residual".into(),
            String::new(),
            sig(mixed.sigma * mixed.sigma),
            sig(mixed.sigma),
            String::new(),
        ]);
    }
    rows
}

/// "Groups: practice 140; ICC (practice) 0.0512".
fn groups_line(mixed: &super::mixed::Mixed) -> String {
    let groups: Vec<String> = mixed
        .components
        .iter()
        .map(|c| format!("{} {}", c.grouping, format::count(c.labels.len())))
        .collect();
    let mut line = format!("Groups: {}", groups.join(", "));
    if let Some(icc) = mixed.icc() {
        let shares: Vec<String> = icc
            .iter()
            .map(|(g, v)| format!("ICC ({g}) {}", sig(*v)))
            .collect();
        line.push_str(&format!("; {}", shares.join(", ")));
    }
    line
}

fn fit_line(model: &Model) -> String {
    if let Some(mixed) = &model.mixed {
        // One decimal, as lme4's summary prints them.
        let decimal = |x: f64| {
            if x.abs() < 1e5 {
                format!("{x:.1}")
            } else {
                format::thousands(x)
            }
        };
        let mut parts = vec![if mixed.reml {
            format!("REML criterion {}", decimal(mixed.criterion))
        } else {
            format!(
                "log-likelihood {}   deviance {}",
                decimal(-mixed.criterion / 2.0),
                decimal(mixed.criterion)
            )
        }];
        parts.extend(model.aic.map(|aic| format!("AIC {}", decimal(aic))));
        parts.extend(model.bic.map(|bic| format!("BIC {}", decimal(bic))));
        return parts.join("   ");
    }
    let mut parts = Vec::new();
    if let Some(ll) = model.log_lik {
        parts.push(format!("log-likelihood {}", stat(ll)));
    }
    if let Some(aic) = model.aic {
        parts.push(format!("AIC {}", stat(aic)));
    }
    if let Some(bic) = model.bic {
        parts.push(format!("BIC {}", stat(bic)));
    }
    if let Some(r2) = model.r_squared {
        parts.push(format!("R² {r2:.4}"));
    }
    if let Some(r2) = model.pseudo_r_squared {
        parts.push(format!("pseudo-R² {r2:.4}"));
    }
    if model.family != super::ModelFamily::Ols {
        parts.push(format!("deviance {}", stat(model.deviance)));
    }
    if let Some((theta, se)) = model.theta {
        parts.push(format!("theta {} (SE {})", sig(theta), sig(se)));
    }
    parts.join("   ")
}

pub fn html(model: &Model) -> String {
    let level = format::number(model.level * 100.0);
    let ratio = model.ratio_name().map(|(name, _)| {
        if name == "odds_ratio" {
            "Odds ratio"
        } else {
            "IRR"
        }
    });
    let mut out = String::from(
        "<div class=\"spel-model\">\n<style>\
         .spel-model table{border-collapse:collapse;font-variant-numeric:tabular-nums}\
         .spel-model th,.spel-model td{padding:2px 10px;text-align:right}\
         .spel-model th:first-child,.spel-model td:first-child{text-align:left}\
         .spel-model thead{border-top:2px solid;border-bottom:1px solid}\
         .spel-model tbody{border-bottom:2px solid}\
         .spel-model caption{text-align:left;font-weight:bold;padding-bottom:4px}\
         .spel-model p{margin:2px 0;font-size:90%;color:#444}\
         </style>\n<table>\n",
    );
    out.push_str(&format!(
        "<caption>{}: {}</caption>\n<thead><tr><th>Term</th><th>Estimate</th><th>Std. error</th><th>{}</th><th>p</th><th>{level}% CI</th>",
        escape(model.family_title()),
        escape(&model.formula),
        statistic_name(model)
    ));
    if let Some(name) = ratio {
        out.push_str(&format!("<th>{name}</th><th>{level}% CI</th>"));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for c in &model.coefficients {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{} to {}</td>",
            escape(&c.term),
            sig(c.estimate),
            sig(c.std_error),
            c.statistic,
            escape(&p_value(c.p_value)),
            sig(c.conf_low),
            sig(c.conf_high)
        ));
        if ratio.is_some() {
            out.push_str(&format!(
                "<td>{}</td><td>{} to {}</td>",
                sig(c.estimate.exp()),
                sig(c.conf_low.exp()),
                sig(c.conf_high.exp())
            ));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    if let Some(mixed) = &model.mixed {
        out.push_str(&random_html(mixed));
    }
    out.push_str(&format!("<p>{}</p>\n", escape(&rows_line(model))));
    // The small-sample factor is a convention: folded below with the others.
    let se_shown = match model.se_factor.as_str() {
        "" => model.se_description.clone(),
        factor => model.se_description.replace(&format!(", {factor}"), ""),
    };
    out.push_str(&format!("<p>Standard errors: {}</p>\n", escape(&se_shown)));
    out.push_str(&format!(
        "<p>{}</p>\n",
        escape(&fit_line(model)).replace("   ", " · ")
    ));
    for line in instrumental_lines(model) {
        out.push_str(&format!("<p>{}</p>\n", escape(&line)));
    }
    for note in &model.notes {
        out.push_str(&format!("<p>Note: {}</p>\n", escape(note)));
    }
    let factor =
        (!model.se_factor.is_empty()).then(|| format!("Standard errors: {}.", model.se_factor));
    let conventions: Vec<&String> = factor.iter().chain(&model.conventions).collect();
    out.push_str(&crate::render::html::conventions(&conventions));
    out.push_str("</div>");
    out
}

/// The variance components as a second table, and the groups.
fn random_html(mixed: &super::mixed::Mixed) -> String {
    let rows = random_rows(mixed);
    // The grouping and the term read as labels: left-aligned, as the first column.
    let align = |j: usize| {
        if j < 2 {
            " style=\"text-align:left\""
        } else {
            ""
        }
    };
    let mut out = String::from("<table style=\"margin-top:8px\">\n<thead><tr>");
    for (j, cell) in rows[0].iter().enumerate() {
        out.push_str(&format!(
            "<th{}>{}</th>",
            align(j),
            escape(&capitalised(cell))
        ));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &rows[1..] {
        out.push_str("<tr>");
        for (j, cell) in row.iter().enumerate() {
            out.push_str(&format!("<td{}>{}</td>", align(j), escape(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out.push_str(&format!("<p>{}</p>\n", escape(&groups_line(mixed))));
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn random_json(mixed: &super::mixed::Mixed) -> serde_json::Value {
    let components: Vec<serde_json::Value> = mixed
        .components
        .iter()
        .flat_map(|c| {
            c.terms.iter().enumerate().map(move |(a, term)| {
                serde_json::json!({
                    "group": c.grouping,
                    "term": term,
                    "variance": c.covariance[a][a],
                    "std_dev": c.covariance[a][a].sqrt(),
                    "correlations": (0..a).map(|b| c.correlation(a, b)).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    serde_json::json!({
        "reml": mixed.reml,
        "criterion": mixed.criterion,
        "residual_std_dev": mixed.sigma,
        "components": components,
        "groups": mixed.components.iter().map(|c| serde_json::json!({"group": c.grouping, "n": c.labels.len()})).collect::<Vec<_>>(),
        "icc": mixed.icc().map(|icc| icc.into_iter().map(|(g, v)| serde_json::json!({"group": g, "icc": v})).collect::<Vec<_>>()),
        "singular": mixed.singular,
    })
}

pub fn json(model: &Model) -> serde_json::Value {
    let terms: Vec<serde_json::Value> = model
        .coefficients
        .iter()
        .map(|c| {
            let mut term = serde_json::json!({
                "term": c.term,
                "estimate": c.estimate,
                "std_error": c.std_error,
                "statistic": c.statistic,
                "p_value": c.p_value,
                "conf_low": c.conf_low,
                "conf_high": c.conf_high,
            });
            if let Some((_, prefix)) = model.ratio_name()
                && let Some(object) = term.as_object_mut()
            {
                let name = if prefix == "or" { "odds_ratio" } else { "irr" };
                object.insert(name.into(), serde_json::json!(c.estimate.exp()));
                object.insert(
                    format!("{prefix}_conf_low"),
                    serde_json::json!(c.conf_low.exp()),
                );
                object.insert(
                    format!("{prefix}_conf_high"),
                    serde_json::json!(c.conf_high.exp()),
                );
            }
            term
        })
        .collect();
    let mut json = serde_json::json!({
        "type": "model",
        "family": crate::choice::Choice::word(model.family),
        "formula": model.formula,
        "n": model.n,
        "n_dropped": model.n_outside_condition + model.n_dropped_missing + model.n_dropped_separated,
        "terms": terms,
        "log_lik": model.log_lik,
        "aic": model.aic,
        "bic": model.bic,
        "deviance": model.deviance,
        "theta": model.theta.map(|t| t.0),
        "theta_std_error": model.theta.map(|t| t.1),
        "dropped_collinear": model.collinear,
        "se": model.se_description,
        "notes": model.notes.iter().chain(&model.conventions).collect::<Vec<_>>(),
    });
    if let (Some(mixed), Some(object)) = (&model.mixed, json.as_object_mut()) {
        object.insert("random_effects".into(), random_json(mixed));
    }
    if let (Some(iv), Some(object)) = (&model.instrumental, json.as_object_mut()) {
        object.insert("instrumental".into(), instrumental_json(iv));
    }
    json
}

/// Two-stage least squares' lines under the fit statistics: what instruments what,
/// each first stage's strength, and the tests of endogeneity and over-identification.
fn instrumental_lines(model: &Model) -> Vec<String> {
    let Some(iv) = &model.instrumental else {
        return Vec::new();
    };
    let mut lines = vec![format!(
        "Endogenous: {}; excluded instruments: {}",
        iv.endogenous.join(", "),
        iv.instruments.join(", ")
    )];
    for first in &iv.first_stages {
        lines.push(format!(
            "First stage of {}: instruments' {}   partial R² {:.4}",
            first.variable,
            test_text(&first.f),
            first.partial_r_squared
        ));
    }
    lines.push(format!(
        "Wu–Hausman test of endogeneity: {}",
        test_text(&iv.wu_hausman)
    ));
    if let Some(sargan) = &iv.sargan {
        lines.push(format!(
            "Sargan test of over-identification: {}",
            test_text(sargan)
        ));
    }
    lines
}

/// "F(1, 3003) = 13.26, p < 0.001".
fn test_text(test: &spel_stats::designs::iv::Test) -> String {
    use spel_stats::designs::iv::Reference;
    let name = match test.distribution {
        Reference::F(a, b) => format!("F({}, {})", format::number(a), format::number(b)),
        Reference::ChiSquared(df) => format!("χ²({})", format::number(df)),
    };
    let p = p_value(test.p_value);
    let p = match p.strip_prefix('<') {
        Some(bound) => format!("p < {bound}"),
        None => format!("p = {p}"),
    };
    format!("{name} = {}, {p}", sig(test.statistic))
}

fn instrumental_json(iv: &super::iv::Instrumental) -> serde_json::Value {
    use spel_stats::designs::iv::{Reference, Test};
    let test = |t: &Test| {
        let (df1, df2) = match t.distribution {
            Reference::F(a, b) => (a, Some(b)),
            Reference::ChiSquared(df) => (df, None),
        };
        serde_json::json!({"statistic": t.statistic, "df": df1, "df_denominator": df2, "p_value": t.p_value})
    };
    serde_json::json!({
        "endogenous": iv.endogenous,
        "instruments": iv.instruments,
        "first_stages": iv.first_stages.iter().map(|f| serde_json::json!({
            "variable": f.variable,
            "f": test(&f.f),
            "partial_r_squared": f.partial_r_squared,
        })).collect::<Vec<_>>(),
        "wu_hausman": test(&iv.wu_hausman),
        "sargan": iv.sargan.as_ref().map(test),
    })
}
