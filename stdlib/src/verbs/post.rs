//! After a fit: `report` (models side by side) and `interpret` (a sentence to quote).

use polars::prelude::*;
use spel_grammar::ast::Connective;
use spel_grammar::{Diagnostic, Span, did_you_mean};

use super::{Choice, Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::eval::expr::evaluate;
use crate::model::{Coefficient, Model};
use crate::value::Value;

crate::choice! {
    /// The scale of `predict`'s values.
    enum PredictScale { Response = "response", Link = "link" }
}

pub static VERBS: &[Verb] = &[
    Verb {
        name: "tidy",
        signature: "tidy MODEL, MODEL, ... [on TERM] [, exponentiate = true]",
        summary: "Models' coefficients as a table (broom's tidy), one row per model and term.",
        description: "Columns `model` (the name it is bound to), `outcome`, `term`, \
                      `estimate`, `std_error`, `statistic`, `p_value`, `conf_low`, \
                      `conf_high` and `n`, so estimates join other tables (published \
                      figures, true values) and plot. `on TERM` keeps that term; \
                      `exponentiate = true` gives odds or rate ratios and their intervals \
                      for logit, Poisson and negative binomial models, as broom's option.",
        connectives: &[Connective::On],
        options: &[OptionSpec {
            name: "exponentiate",
            values: "true or false",
            kind: OptionKind::Bool,
            summary: "Ratios (exp of estimate and interval) for log-link models.",
        }],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "One term of two models",
            code: "d = table y = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1], z = [1, 0, 0, 1, 1, 0, 1, 1, 0, 1], x = [1, 2, 2, 3, 4, 5, 5, 6, 7, 8]\nm1 = d |> model y ~ x\nm2 = d |> model z ~ x\ntidy m1, m2 on x, exponentiate = true",
            output: r#"shape: (2, 10)
┌───────┬─────────┬──────┬──────────┬───────────┬───────────┬─────────┬──────────┬───────────┬─────┐
│ model ┆ outcome ┆ term ┆ estimate ┆ std_error ┆ statistic ┆ p_value ┆ conf_low ┆ conf_high ┆ n   │
│ ---   ┆ ---     ┆ ---  ┆ ---      ┆ ---       ┆ ---       ┆ ---     ┆ ---      ┆ ---       ┆ --- │
│ str   ┆ str     ┆ str  ┆ f64      ┆ f64       ┆ f64       ┆ f64     ┆ f64      ┆ f64       ┆ i64 │
╞═══════╪═════════╪══════╪══════════╪═══════════╪═══════════╪═════════╪══════════╪═══════════╪═════╡
│ m1    ┆ y       ┆ x    ┆    2.075 ┆     0.462 ┆      1.58 ┆   0.114 ┆   0.8389 ┆     5.131 ┆  10 │
│ m2    ┆ z       ┆ x    ┆    1.111 ┆    0.2988 ┆    0.3517 ┆   0.725 ┆   0.6184 ┆     1.995 ┆  10 │
└───────┴─────────┴──────┴──────────┴───────────┴───────────┴─────────┴──────────┴───────────┴─────┘"#,
        }],
        run: tidy,
    },
    Verb {
        name: "predict",
        signature: "predict MODEL as NAME [, type = response | link] [, random = true | false]",
        summary: "Add the model's predictions as a column (to the current table, as Stata).",
        description: "`type = response` (the default) gives the expected outcome — a \
                      probability for a logit or probit, a count for Poisson — and `link` the \
                      linear predictor. Rows with a value missing get a missing prediction. \
                      Without a pipe or `from`, the column is added to the current table \
                      (as Stata's `predict`); with one, the new table is the result. \
                      For a model with random effects the predictions include each row's \
                      group effects (a group the fit never saw adds none); `random = false` \
                      gives the fixed part alone, the population's prediction.",
        connectives: &[Connective::As],
        options: &[
            OptionSpec {
                name: "type",
                values: "response or link",
                kind: OptionKind::Word(PredictScale::WORDS),
                summary: "The scale of the predictions.",
            },
            OptionSpec {
                name: "random",
                values: "true or false",
                kind: OptionKind::Bool,
                summary: "With random effects: include each row's group effects (default true).",
            },
        ],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "Fitted values of a line",
            code: "t = table y = [1.2, 2.3, 2.9, 4.1], x = [1, 2, 3, 4]\nm = t |> model y ~ x\nt |> predict m as fitted",
            output: r#"shape: (4, 3)
┌─────┬─────┬────────┐
│ y   ┆ x   ┆ fitted │
│ --- ┆ --- ┆ ---    │
│ f64 ┆ f64 ┆ f64    │
╞═════╪═════╪════════╡
│ 1.2 ┆   1 ┆   1.23 │
│ 2.3 ┆   2 ┆   2.16 │
│ 2.9 ┆   3 ┆   3.09 │
│ 4.1 ┆   4 ┆   4.02 │
└─────┴─────┴────────┘"#,
        }],
        run: predict,
    },
    Verb {
        name: "margins",
        signature: "margins MODEL [on VARIABLE, ...]",
        summary: "Average marginal effects with delta-method standard errors.",
        description: "For each numeric column the model uses, the average change in the \
                      expected outcome (a probability for a logit) per unit of it, through \
                      every term it enters; for each factor, the average change from the \
                      reference level to each other level. As Stata's `margins, dydx(*)` and \
                      R's `avg_slopes`; averages use the model's weights; z-based intervals. \
                      `on x` gives only x's (Stata's `dydx(x)`): much faster on large data.",
        connectives: &[Connective::On],
        options: &[],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "Probability changes from a logit",
            code: "d = table y = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1], x = [1, 2, 2, 3, 4, 5, 5, 6, 7, 8]\nm = d |> model y ~ x\nmargins m",
            output: r#"shape: (1, 8)
┌──────┬──────────┬──────────┬───────────┬───────────┬─────────┬──────────┬───────────┐
│ term ┆ contrast ┆ estimate ┆ std_error ┆ statistic ┆ p_value ┆ conf_low ┆ conf_high │
│ ---  ┆ ---      ┆ ---      ┆ ---       ┆ ---       ┆ ---     ┆ ---      ┆ ---       │
│ str  ┆ str      ┆ f64      ┆ f64       ┆ f64       ┆ f64     ┆ f64      ┆ f64       │
╞══════╪══════════╪══════════╪═══════════╪═══════════╪═════════╪══════════╪═══════════╡
│ x    ┆ dY/dX    ┆   0.1145 ┆   0.02784 ┆     4.114 ┆  <0.001 ┆  0.05998 ┆    0.1691 │
└──────┴──────────┴──────────┴───────────┴───────────┴─────────┴──────────┴───────────┘"#,
        }],
        run: margins,
    },
    Verb {
        name: "report",
        signature: "report MODEL, MODEL, ...",
        summary: "Models side by side: a regression table as a paper prints one.",
        description: "One column per model, one row per term: odds ratios for logits, rate \
                      ratios for Poisson and negative binomial models, coefficients \
                      otherwise, each with its confidence interval, then the rows used, \
                      absorbed fixed effects and the standard errors.",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "Two models of one outcome",
            code: "t = table y = [1.2, 2.3, 2.9, 4.1, 5.2, 5.8], x = [1, 2, 3, 4, 5, 6], z = [0, 1, 0, 1, 1, 0]\nm1 = t |> model y ~ x\nm2 = t |> model y ~ x + z\nreport m1, m2",
            output: r#"shape: (7, 3)
┌─────────────────┬────────────────────────────┬─────────────────────────────┐
│ term            ┆ m1                         ┆ m2                          │
│ ---             ┆ ---                        ┆ ---                         │
│ str             ┆ str                        ┆ str                         │
╞═════════════════╪════════════════════════════╪═════════════════════════════╡
│ (Intercept)     ┆ 0.2933 (-0.1642 to 0.7509) ┆ 0.1910 (-0.1132 to 0.4953)  │
│ x               ┆ 0.9400 (0.8225 to 1.057)   ┆ 0.9327 (0.8587 to 1.007)    │
│ z               ┆                            ┆ 0.2558 (0.002896 to 0.5086) │
│ scale           ┆ coefficient                ┆ coefficient                 │
│ rows            ┆ 6                          ┆ 6                           │
│ fixed effects   ┆ none                       ┆ none                        │
│ standard errors ┆ model-based                ┆ model-based                 │
└─────────────────┴────────────────────────────┴─────────────────────────────┘"#,
        }],
        run: report,
    },
    Verb {
        name: "interpret",
        signature: "interpret MODEL on TERM",
        summary: "One term's estimate as a sentence a reader can quote.",
        description: "Says what a one-unit change (or, for a factor level, the change from \
                      the reference level) is associated with, on the scale a reader \
                      expects: odds for a logit, rates for Poisson and negative binomial \
                      models, the outcome's units for OLS; with the interval and p-value.",
        connectives: &[Connective::On],
        options: &[],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "A slope in words",
            code: "m = table y = [1.2, 2.3, 2.9, 4.1, 5.2, 5.8], x = [1, 2, 3, 4, 5, 6] |> model y ~ x\ninterpret m on x",
            output: r#"Each additional unit of x is associated with a difference of 0.9400 in y (95% CI 0.8225 to 1.057; p < 0.001)."#,
        }],
        run: interpret,
    },
    Verb {
        name: "ranef",
        signature: "ranef MODEL",
        summary: "A mixed model's random effects by group: the conditional modes, as lme4's `ranef`.",
        description: "One row per group and term of each random-effects term: the group's \
                      predicted deviation from the fixed effects (its BLUP), shrunk towards \
                      zero the fewer rows and the less between-group variance there are, \
                      with its conditional standard deviation (lme4's `condsd`, given the \
                      estimated fixed effects and variances).",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "Each group's intercept",
            code: "d = table y = [3.1, 2.9, 3.4, 5.2, 4.8, 5.1, 4.0, 4.4, 3.9], x = [1, 2, 3, 1, 2, 3, 1, 2, 3], g = [\"a\", \"a\", \"a\", \"b\", \"b\", \"b\", \"c\", \"c\", \"c\"]\nm = d |> model y ~ x + (1 | g)\nranef m",
            output: r#"shape: (3, 5)
┌──────────┬───────┬─────────────┬──────────┬───────────┐
│ grouping ┆ group ┆ term        ┆ estimate ┆ std_error │
│ ---      ┆ ---   ┆ ---         ┆ ---      ┆ ---       │
│ str      ┆ str   ┆ str         ┆ f64      ┆ f64       │
╞══════════╪═══════╪═════════════╪══════════╪═══════════╡
│ g        ┆ a     ┆ (Intercept) ┆  -0.9307 ┆    0.1511 │
│ g        ┆ b     ┆ (Intercept) ┆   0.9199 ┆    0.1511 │
│ g        ┆ c     ┆ (Intercept) ┆  0.01082 ┆    0.1511 │
└──────────┴───────┴─────────────┴──────────┴───────────┘"#,
        }],
        run: ranef,
    },
];

fn ranef(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let models = models(ctx, &args)?;
    let [(name, model)] = models.as_slice() else {
        return Err(ctx.usage_error("`ranef` takes one model, as `ranef m`"));
    };
    let Some(mixed) = &model.mixed else {
        return Err(Diagnostic::new(
            "spel::post::not_mixed",
            format!("`{name}` has no random effects"),
        )
        .at(args[0].span)
        .with_help("fit a model with a random-effects term, as `model y ~ x + (1 | group)`"));
    };
    let (mut grouping, mut level, mut term) = (Vec::new(), Vec::new(), Vec::new());
    let (mut estimate, mut std_error) = (Vec::new(), Vec::new());
    for c in &mixed.components {
        for ((label, modes), sds) in c.labels.iter().zip(&c.modes).zip(&c.mode_sds) {
            for ((t, b), sd) in c.terms.iter().zip(modes).zip(sds) {
                grouping.push(c.grouping.clone());
                level.push(label.clone());
                term.push(t.clone());
                estimate.push(*b);
                std_error.push(*sd);
            }
        }
    }
    let df = DataFrame::new_infer_height(vec![
        Column::new("grouping".into(), grouping),
        Column::new("group".into(), level),
        Column::new("term".into(), term),
        Column::new("estimate".into(), estimate),
        Column::new("std_error".into(), std_error),
    ])
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(df.lazy()))
}

fn tidy(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`tidy` takes models: `tidy m1, m2 on lw_fte_50k`"));
    }
    let models = models(ctx, &args)?;
    let on = ctx.clause_args(Connective::On);
    let wanted = on
        .first()
        .and_then(|a| a.as_expr())
        .map(|e| (ctx.text(e.span).to_string(), e.span));
    let exponentiate = match ctx.option_value("exponentiate")? {
        None => false,
        Some((Value::Bool(b), _)) => b,
        Some((_, span)) => {
            return Err(Diagnostic::new(
                "spel::tidy::exponentiate",
                "`exponentiate` is true or false",
            )
            .at(span));
        }
    };
    let (mut model_names, mut outcomes, mut terms, mut n) = (vec![], vec![], vec![], vec![]);
    let mut numbers: [Vec<f64>; 6] = Default::default();
    for (name, model) in &models {
        let ratio = exponentiate && model.ratio_name().is_some();
        let mut found = false;
        for c in &model.coefficients {
            if wanted.as_ref().is_some_and(|(term, _)| *term != c.term) {
                continue;
            }
            found = true;
            let scale = |x: f64| if ratio { x.exp() } else { x };
            model_names.push(name.clone());
            outcomes.push(model.outcome.clone());
            terms.push(c.term.clone());
            n.push(model.n as i64);
            for (column, value) in numbers.iter_mut().zip([
                scale(c.estimate),
                c.std_error,
                c.statistic,
                c.p_value,
                scale(c.conf_low),
                scale(c.conf_high),
            ]) {
                column.push(value);
            }
        }
        if let (false, Some((term, span))) = (found, &wanted) {
            return Err(Diagnostic::new(
                "spel::tidy::term",
                format!("`{name}` has no term `{term}`"),
            )
            .at(*span)
            .suggest(did_you_mean(
                term,
                model.coefficients.iter().map(|c| c.term.as_str()),
            ))
            .with_note(format!(
                "its terms are {}",
                model
                    .coefficients
                    .iter()
                    .map(|c| c.term.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let [estimate, std_error, statistic, p_value, conf_low, conf_high] = numbers;
    let table = df!(
        "model" => model_names,
        "outcome" => outcomes,
        "term" => terms,
        "estimate" => estimate,
        "std_error" => std_error,
        "statistic" => statistic,
        "p_value" => p_value,
        "conf_low" => conf_low,
        "conf_high" => conf_high,
        "n" => n,
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(table.lazy()))
}

/// The models named by the arguments, with the names to head their columns.
pub(super) fn models(
    ctx: &VerbCtx,
    args: &[&spel_grammar::ast::Arg],
) -> Result<Vec<(String, std::sync::Arc<Model>)>, Diagnostic> {
    let mut out = Vec::new();
    for arg in args {
        let Some(expr) = arg.as_expr() else {
            return Err(ctx.usage_error("give the models by name"));
        };
        match evaluate(expr, ctx.env)? {
            Value::Model(m) => out.push((ctx.text(expr.span).to_string(), m)),
            other => {
                return Err(Diagnostic::new(
                    "spel::post::not_model",
                    format!(
                        "`{}` is a {}, not a model",
                        ctx.text(expr.span),
                        other.type_name()
                    ),
                )
                .at(expr.span)
                .with_help("fit one first: `m = model y ~ x`"));
            }
        }
    }
    Ok(out)
}

/// "1.015 (1.006 to 1.024)" on the scale the model reports.
fn cell(model: &Model, c: &Coefficient) -> String {
    let f = |x: f64| crate::model::render::sig(x);
    if model.ratio_name().is_some() {
        format!(
            "{} ({} to {})",
            f(c.estimate.exp()),
            f(c.conf_low.exp()),
            f(c.conf_high.exp())
        )
    } else {
        format!(
            "{} ({} to {})",
            f(c.estimate),
            f(c.conf_low),
            f(c.conf_high)
        )
    }
}

fn report(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`report` takes one or more models"));
    }
    let models = models(ctx, &args)?;
    let mut terms: Vec<String> = Vec::new();
    for (_, m) in &models {
        for c in &m.coefficients {
            if !terms.contains(&c.term) {
                terms.push(c.term.clone());
            }
        }
    }
    let mut labels: Vec<String> = terms.clone();
    labels.extend(["scale", "rows", "fixed effects", "standard errors"].map(String::from));
    let any_random = models.iter().any(|(_, m)| m.mixed.is_some());
    if any_random {
        labels.push("random effects".into());
    }
    let mut columns = vec![Column::new("term".into(), labels)];
    for (name, m) in &models {
        let mut cells: Vec<String> = terms
            .iter()
            .map(|t| {
                m.coefficients
                    .iter()
                    .find(|c| &c.term == t)
                    .map_or(String::new(), |c| cell(m, c))
            })
            .collect();
        cells.push(match m.ratio_name() {
            Some(("odds_ratio", _)) => "odds ratio".into(),
            Some(_) => "rate ratio".into(),
            None => "coefficient".into(),
        });
        cells.push(crate::format::count(m.n));
        let fe: Vec<&str> = m.fixed_effects.iter().map(|(n, _)| n.as_str()).collect();
        cells.push(if fe.is_empty() {
            "none".into()
        } else {
            fe.join(", ")
        });
        cells.push(match m.clusters.as_slice() {
            [] => m
                .se_description
                .split([',', ';'])
                .next()
                .unwrap_or("")
                .to_string(),
            clusters => format!(
                "clustered by {}",
                clusters
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        });
        if any_random {
            cells.push(random_effects_cell(m));
        }
        columns.push(Column::new(name.as_str().into(), cells));
    }
    let df = DataFrame::new_infer_height(columns).map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(df.lazy()))
}

/// "practice", "Subject: (Intercept), Days": each grouping and what varies by it.
fn random_effects_cell(model: &Model) -> String {
    let Some(mixed) = &model.mixed else {
        return "none".into();
    };
    mixed
        .components
        .iter()
        .map(|c| match c.terms.as_slice() {
            [only] if only == "(Intercept)" => c.grouping.clone(),
            terms => format!("{}: {}", c.grouping, terms.join(", ")),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn interpret(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let models = models(ctx, &args)?;
    let [(model_name, model)] = models.as_slice() else {
        return Err(ctx.usage_error("`interpret` takes one model, as `interpret m on x`"));
    };
    let on = ctx.clause_args(Connective::On);
    let [term_arg] = on.as_slice() else {
        return Err(ctx.usage_error("`interpret` needs `on` and a term, as `interpret m on x`"));
    };
    let span: Span = term_arg.span;
    let wanted = ctx.text(span).trim_matches('`').to_string();
    let Some(c) = model.coefficients.iter().find(|c| c.term == wanted) else {
        let names = model.coefficients.iter().map(|c| c.term.as_str());
        return Err(Diagnostic::new(
            "spel::interpret::term",
            format!("`{model_name}` has no term `{wanted}`"),
        )
        .at(span)
        .suggest(did_you_mean(&wanted, names))
        .with_note(format!(
            "its terms are {}",
            model
                .coefficients
                .iter()
                .map(|c| format!("`{}`", c.term))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    Ok(Value::Message(sentence(model, c, ctx.env.labels)))
}

/// "Each additional unit of x is associated with …", each column named in the words
/// `label` gave it, if any; the term's name follows its words the first time (the
/// outcome's is in the model's header).
pub fn sentence(
    model: &Model,
    c: &Coefficient,
    labels: &std::collections::BTreeMap<String, String>,
) -> String {
    let words = |name: &str| {
        labels
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    };
    let introduced = |name: &str| match labels.get(name) {
        Some(label) => format!("{label} ({name})"),
        None => name.to_string(),
    };
    let f = |x: f64| crate::model::render::sig(x);
    let level = crate::format::number(model.level * 100.0);
    let p = if c.p_value < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {:.3}", c.p_value)
    };
    let reference = model.references.iter().find_map(|(factor, reference)| {
        c.term
            .strip_prefix(factor.as_str())
            .filter(|l| !l.is_empty() && !c.term.contains(':'))
            .map(|level| (factor, reference, level))
    });
    let subject = match reference {
        Some((factor, reference, level)) => format!(
            "Compared with {} = {reference}, {} = {level} is",
            introduced(factor),
            words(factor)
        ),
        None => format!("Each additional unit of {} is", introduced(&c.term)),
    };
    let variable = model
        .variables
        .iter()
        .find(|v| c.term == **v || reference.is_some_and(|(factor, _, _)| factor == *v))
        .cloned()
        .unwrap_or_default();
    let others: Vec<String> = model
        .variables
        .iter()
        .filter(|v| **v != variable)
        .map(|v| words(v))
        .collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let fe: Vec<String> = model.fixed_effects.iter().map(|(n, _)| words(n)).collect();
    let fe: Vec<&str> = fe.iter().map(String::as_str).collect();
    let adjusted = match (others.is_empty(), fe.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(", adjusting for {}", and_list(&others)),
        (true, false) => format!(", within {}", and_list(&fe)),
        (false, false) => format!(
            ", adjusting for {} and within {}",
            and_list(&others),
            and_list(&fe)
        ),
    };
    let said = match model.ratio_name() {
        Some((name, _)) => {
            let ratio = c.estimate.exp();
            let percent = (ratio - 1.0) * 100.0;
            let direction = if percent >= 0.0 { "higher" } else { "lower" };
            let (what, label) = if name == "odds_ratio" {
                ("odds", "OR")
            } else {
                ("rate", "IRR")
            };
            format!(
                "{subject} associated with {:.1}% {direction} {what} of {} ({label} {}, {level}% CI {} to {}; {p}){adjusted}.",
                percent.abs(),
                words(&model.outcome),
                f(ratio),
                f(c.conf_low.exp()),
                f(c.conf_high.exp())
            )
        }
        None => format!(
            "{subject} associated with a difference of {} in {} ({level}% CI {} to {}; {p}){adjusted}.",
            f(c.estimate),
            words(&model.outcome),
            f(c.conf_low),
            f(c.conf_high)
        ),
    };
    // An association is not an effect the data rule out being none.
    if c.conf_low <= 0.0 && c.conf_high >= 0.0 {
        let none = match model.ratio_name() {
            Some(("odds_ratio", _)) => "an odds ratio of 1",
            Some(_) => "a rate ratio of 1",
            None => "a difference of 0",
        };
        return format!(
            "{said} The interval includes {none}: the data are consistent with no association."
        );
    }
    said
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn margins(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let models = models(ctx, &args)?;
    let [(_, model)] = models.as_slice() else {
        return Err(ctx.usage_error("`margins` takes one model, as `margins m`"));
    };
    let mut only = Vec::new();
    for arg in ctx.clause_args(Connective::On) {
        let Some(expr) = arg.as_expr() else {
            return Err(ctx.usage_error("`on` takes the model's variables, as `on lw_fte_50k`"));
        };
        let name = ctx.text(expr.span).to_string();
        if !model.variables.contains(&name) {
            return Err(Diagnostic::new(
                "spel::margins::variable",
                format!("the model has no variable `{name}`"),
            )
            .at(expr.span)
            .suggest(did_you_mean(
                &name,
                model.variables.iter().map(String::as_str),
            ))
            .with_note(format!("its variables are {}", model.variables.join(", "))));
        }
        only.push(name);
    }
    let effects = crate::model::margins::average_marginal_effects(
        model,
        ctx.env,
        ctx.env.work(),
        ctx.call.span,
        &only,
    )?;
    let column = |f: fn(&Coefficient) -> f64| {
        effects
            .iter()
            .map(|e| f(&e.inference))
            .collect::<Vec<f64>>()
    };
    let df = df!(
        "term" => effects.iter().map(|e| e.inference.term.clone()).collect::<Vec<_>>(),
        "contrast" => effects.iter().map(|e| e.contrast.clone()).collect::<Vec<_>>(),
        "estimate" => column(|e| e.estimate),
        "std_error" => column(|e| e.std_error),
        "statistic" => column(|e| e.statistic),
        "p_value" => column(|e| e.p_value),
        "conf_low" => column(|e| e.conf_low),
        "conf_high" => column(|e| e.conf_high),
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(df.lazy()))
}

fn predict(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let models = models(ctx, &args)?;
    let [(_, model)] = models.as_slice() else {
        return Err(ctx.usage_error("`predict` takes one model, as `predict m as p_hat`"));
    };
    let name_arg = ctx.clause_args(Connective::As);
    let Some(name) = name_arg
        .first()
        .and_then(|a| a.as_expr())
        .and_then(|e| e.as_ident())
    else {
        return Err(ctx.usage_error("`predict` needs `as` and a new column's name"));
    };
    let scale = crate::model::predict::Scale {
        link: ctx.choice::<PredictScale>("type")? == Some(PredictScale::Link),
        random: ctx.flag("random")?.unwrap_or(true),
    };
    let table = ctx.table()?;
    let column = crate::model::predict::predictions(
        model,
        &table,
        ctx.env,
        ctx.env.work(),
        ctx.call.span,
        scale,
    )?;
    let augmented = table.with_columns([lit(Series::new(name.into(), column)).alias(name)]);
    let piped = ctx.has_input() || ctx.clause(Connective::From).is_some();
    match (piped, ctx.env.current) {
        (false, Some(current)) => {
            ctx.effects.rebind = Some((current.to_string(), Value::Table(augmented)));
            Ok(Value::Nothing)
        }
        _ => Ok(Value::Table(augmented)),
    }
}
