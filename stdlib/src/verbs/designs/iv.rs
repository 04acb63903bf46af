//! `iv`: instrumental variables by two-stage least squares, with the formula, weights,
//! clusters and variances of `model` (the fits: `model::iv`).

use spel_grammar::Diagnostic;
use spel_grammar::ast::{Expr as Ast, ExprKind};

use super::super::model::{
    check_no_condition_in_options, cluster_columns, column_option, model_options,
};
use super::super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::choice::Choice;
use crate::formula::design::{self, Design, MatrixColumn};
use crate::formula::resolve::{self, Resolved, Term, Variable};
use crate::model::ModelFamily;
use crate::model::iv::{Roles, two_stage};
use crate::value::Value;
use spel_stats::vcov::{Adjustment, Estimator};

pub const VERB: Verb = Verb {
    name: "iv",
    signature: "iv OUTCOME ~ EXOGENOUS TERMS [| CONDITION], endogenous = X, instruments = Z [, weights = w] [, cluster = c] [, se = classical | robust | cluster]",
    summary: "Instrumental variables (2SLS): the effect of endogenous terms, identified by excluded instruments.",
    description: "Two-stage least squares as R's `AER::ivreg`, Stata's `ivregress 2sls, small` \
                  and linearmodels' `IV2SLS(..., debiased = True)`: σ² with N − K and t tests. \
                  The formula holds the outcome and the exogenous terms (factors, `fe()`, \
                  `| condition` as in `model`); `endogenous` and `instruments` name one column \
                  or a list `[a, b]` of numeric columns. Beside the estimates: each first \
                  stage's F of the excluded instruments (under the model's standard errors) and \
                  partial R², Wu–Hausman's test of endogeneity and, with more instruments than \
                  endogenous terms, Sargan's test of over-identification (both homoskedastic, \
                  as AER and linearmodels compute them).",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "endogenous",
            values: "a column or [col1, col2]",
            kind: OptionKind::Columns,
            summary: "The terms the instruments stand in for.",
        },
        OptionSpec {
            name: "instruments",
            values: "a column or [col1, col2]",
            kind: OptionKind::Columns,
            summary: "Excluded instruments: they move the endogenous terms and the outcome only through them.",
        },
        OptionSpec {
            name: "weights",
            values: "a column",
            kind: OptionKind::Column,
            summary: "Probability (sampling) weights; standard errors become robust.",
        },
        OptionSpec::CLUSTERS,
        OptionSpec {
            name: "se",
            values: "classical, robust or cluster",
            kind: OptionKind::Word(Estimator::WORDS),
            summary: "How standard errors are estimated (HC3 is not defined for 2SLS).",
        },
        OptionSpec {
            name: "ssc",
            values: "stata, none, ml, reg or min",
            kind: OptionKind::Word(Adjustment::WORDS),
            summary: "The small-sample factor of robust and clustered errors (default: Stata's).",
        },
        OptionSpec::LEVEL,
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[Example {
        summary: "Distance to a clinic instruments uptake",
        code: "table uptake = [1, 3, 2, 5, 4, 6, 5, 8], near = [0, 1, 0, 1, 0, 1, 1, 1], \
               age = [30, 41, 35, 52, 47, 60, 38, 55], health = [2.0, 3.1, 2.4, 4.6, 3.9, 5.5, 4.1, 6.8]\n  \
               |> iv health ~ age, endogenous = uptake, instruments = near",
        output: r#"Instrumental variables (2SLS): health ~ age
Rows: 8 used of 8
Standard errors: model-based; t(5)-based 95% intervals

term         estimate  std.error      t      p              95% CI
──────────────────────────────────────────────────────────────────
(Intercept)  -0.05062     0.7576  -0.07  0.949     -1.998 to 1.897
age           0.04434    0.03101   1.43  0.212  -0.03538 to 0.1241
uptake         0.4980     0.1632   3.05  0.028   0.07853 to 0.9175

R² 0.9823
Endogenous: uptake; excluded instruments: near
First stage of uptake: instruments' F(1, 5) = 1.521, p = 0.272   partial R² 0.2332
Wu–Hausman test of endogeneity: F(1, 4) = 0.7271, p = 0.442
Notes:
- The instruments' F in the first stage of uptake is 1.521, below 10 (Staiger and Stock's rule of thumb): weak instruments pull 2SLS towards OLS, and its tests and intervals are unreliable."#,
    }],
    run: iv,
};

fn iv(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let [arg] = args.as_slice() else {
        return Err(ctx.usage_error(
            "`iv` takes one formula, as `iv y ~ x, endogenous = d, instruments = z`",
        ));
    };
    let Some(formula) = super::super::formula_of(arg) else {
        return Err(Diagnostic::new(
            "spel::iv::formula",
            "`iv` needs a formula: `outcome ~ exogenous terms`",
        )
        .at(arg.span)
        .with_help("write `iv y ~ x, endogenous = d, instruments = z`"));
    };
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let text = |s| ctx.text(s).to_string();
    let resolved = resolve::resolve(formula, &text)?;
    check_no_condition_in_options(ctx, formula)?;
    let endogenous = listed(ctx, "endogenous")?;
    let instruments = listed(ctx, "instruments")?;
    check_roles(ctx, &resolved, &endogenous, &instruments)?;
    let mut all_terms = resolved.clone();
    for ast in endogenous.iter().chain(&instruments) {
        all_terms.terms.push(Term {
            variables: vec![Variable {
                expr: (*ast).clone(),
                name: ctx.text(ast.span).to_string(),
                factor: None,
            }],
            span: ast.span,
        });
    }
    let request = design::Request {
        outcome: &formula.lhs,
        condition: formula.condition.as_ref(),
        weights: column_option(ctx, "weights"),
        freq: None,
        trials: None,
        clusters: cluster_columns(ctx)?,
        codings: &[],
    };
    let mut options = model_options(ctx, formula, &resolved)?;
    options.family = Some(ModelFamily::Ols);
    if options.estimator == Some(Estimator::Hc3) {
        // Leverages of the second stage's fitted columns are not those of the structural
        // equation; neither linearmodels nor Stata offers HC3 for 2SLS.
        return Err(Diagnostic::new(
            "spel::iv::hc3",
            "`se = hc3` is not defined for two-stage least squares",
        )
        .at(options.span_of("se"))
        .with_help(
            "use `se = robust` (HC1, as `ivregress 2sls, vce(robust) small`) or `cluster =`",
        ));
    }
    for name in ["endogenous", "instruments"] {
        if let Some(a) = ctx.option(name) {
            options.option_spans.push((name, a.span));
        }
    }
    let built = design::build(
        lf.clone(),
        &scope,
        &all_terms,
        &request,
        ctx.env.work(),
        ctx.call.span,
    )?;
    let roles = Roles {
        endogenous: columns_of(ctx, &built, &endogenous, "endogenous")?,
        instruments: columns_of(ctx, &built, &instruments, "instruments")?,
    };
    let source = crate::model::Source {
        table: lf,
        resolved: {
            let mut structural = resolved.clone();
            structural.terms.extend(
                all_terms.terms[resolved.terms.len()..][..endogenous.len()]
                    .iter()
                    .cloned(),
            );
            structural
        },
        outcome: formula.lhs.clone(),
        condition: formula.condition.clone(),
        weights: request.weights.cloned(),
        freq: None,
        trials: None,
        clusters: request.clusters.iter().map(|c| (*c).clone()).collect(),
        codings: built.codings.clone(),
    };
    let what = format!(
        "fitting two-stage least squares on {}",
        crate::format::plural(built.y.len(), "row")
    );
    let mut model = ctx.env.work().run(&what, ctx.call.span, move || {
        two_stage(built, &roles, &options)
    })?;
    model.source = Some(source);
    Ok(Value::Model(std::sync::Arc::new(model)))
}

/// One column or a list of them; the option is required.
fn listed<'a>(ctx: &VerbCtx<'a>, name: &str) -> Result<Vec<&'a Ast>, Diagnostic> {
    match column_option(ctx, name) {
        Some(Ast {
            kind: ExprKind::List(items),
            span,
        }) if items.is_empty() => {
            Err(Diagnostic::new("spel::iv::empty", format!("`{name}` names no column")).at(*span))
        }
        Some(Ast {
            kind: ExprKind::List(items),
            ..
        }) => Ok(items.iter().collect()),
        Some(one) => Ok(vec![one]),
        None => Err(ctx
            .usage_error(format!("`iv` needs `{name} =`"))
            .with_help("write `iv y ~ x, endogenous = d, instruments = z`")),
    }
}

/// An endogenous term or instrument that is also a formula term (or both at once) is
/// a specification error: each variable has one role.
fn check_roles(
    ctx: &VerbCtx,
    resolved: &Resolved,
    endogenous: &[&Ast],
    instruments: &[&Ast],
) -> Result<(), Diagnostic> {
    let in_formula = |name: &str| {
        resolved
            .terms
            .iter()
            .flat_map(|t| &t.variables)
            .any(|v| v.name == name)
            || resolved.fixed_effects.iter().any(|v| v.name == name)
    };
    for (role, list) in [("endogenous", endogenous), ("instruments", instruments)] {
        for ast in list {
            let name = ctx.text(ast.span);
            if in_formula(name) {
                let help = if role == "endogenous" {
                    format!(
                        "take `{name}` out of the formula: `endogenous` terms are estimated beside the formula's"
                    )
                } else {
                    format!(
                        "an instrument is excluded from the outcome's equation: take `{name}` out of the formula, or out of `instruments`"
                    )
                };
                return Err(Diagnostic::new(
                    "spel::iv::role",
                    format!(
                        "`{name}` is both a term of the formula and {}",
                        if role == "endogenous" {
                            "endogenous"
                        } else {
                            "an instrument"
                        }
                    ),
                )
                .at(ast.span)
                .with_help(help));
            }
        }
    }
    for ast in instruments {
        let name = ctx.text(ast.span);
        if endogenous.iter().any(|e| ctx.text(e.span) == name) {
            return Err(Diagnostic::new(
                "spel::iv::role",
                format!("`{name}` is both endogenous and an instrument"),
            )
            .at(ast.span)
            .with_help("an instrument stands in for an endogenous term; it cannot be one"));
        }
    }
    if instruments.len() < endogenous.len() {
        return Err(Diagnostic::new(
            "spel::iv::under_identified",
            format!(
                "{} endogenous terms need at least as many instruments; `instruments` names {}",
                endogenous.len(),
                instruments.len()
            ),
        )
        .at(ctx.option("instruments").map_or(ctx.call.span, |a| a.span))
        .with_help("each endogenous term needs an excluded instrument of its own"));
    }
    Ok(())
}

/// Each listed variable's column in the design: one numeric column each.
fn columns_of(
    ctx: &VerbCtx,
    design: &Design,
    asts: &[&Ast],
    role: &str,
) -> Result<Vec<usize>, Diagnostic> {
    asts.iter()
        .map(|ast| {
            let name = ctx.text(ast.span);
            match design.names.iter().position(|n| n == name) {
                Some(j) if matches!(design.columns[j], MatrixColumn::Values(_)) => Ok(j),
                _ => Err(Diagnostic::new(
                    "spel::iv::not_numeric",
                    format!("`{name}` ({role}) must be a number: text and true/false columns become factors"),
                )
                .at(ast.span)
                .with_help(format!("for a 0/1 variable, give it as a number: `derive {name}_01 = if_else({name}, 1, 0)`"))),
            }
        })
        .collect()
}
