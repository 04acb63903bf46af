//! `power`: analytic power and sample size for a logit slope (Hsieh, Bloch & Larsen
//! 1998, with a design effect), and empirical power and CI coverage by re-fitting a
//! model on simulated surveys.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::{Connective, Formula};
use spel_stats::designs::power::LogitSlope;

use super::super::{Choice, Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::format::{Style, number as number_text, shown};
use crate::model::{Coefficient, ModelFamily};
use crate::simulate::gpps;
use crate::value::{Report, Value};

crate::choice! {
    /// What `power logit` solves for.
    enum Solve { N = "n", Or = "or", Power = "power" }
}

pub const VERB: Verb = Verb {
    name: "power",
    signature: "power logit, or = OR, p0 = P [, sd = S] (, n = N | , power = 0.8) [, solve = n | or | power] [, alpha = 0.05] [, deff = D] | power simulate FORMULA [on TERM], n = N, reps = R [, model options]",
    summary: "Power or sample size for a logit slope, analytic or by simulating the survey.",
    description: "`power logit`: the Wald test of a logit slope per unit of a covariate with \
                  standard deviation `sd` (default 1), outcome probability `p0` at the \
                  covariate's mean, two-sided level `alpha`: power = Φ(|log OR|·sd·√(n·p0(1 − p0)/deff) \
                  − z(1 − α/2)) (Hsieh, Bloch & Larsen 1998), and n or the smallest detectable OR \
                  solved from it. `deff` inflates n for clustering and weights. `power simulate`: \
                  fits the model on `reps` surveys from `simulate gpps` with `n` rows (seeds \
                  `seed`, `seed` + 1, ...) and reports the share of fits whose test of the term \
                  rejects at `alpha` (empirical power, with its Monte Carlo standard error) and, \
                  for `lw_fte_50k`, whose interval covers the simulator's true odds ratio \
                  (coverage). The term is `lw_fte_50k` unless `on TERM` names another.",
    connectives: &[Connective::On],
    options: &[
        OptionSpec::new(
            "or",
            OptionKind::POSITIVE,
            "an odds ratio per unit",
            "The effect to detect.",
        ),
        OptionSpec::new(
            "p0",
            OptionKind::PROBABILITY,
            "a probability",
            "The outcome's probability at the covariate's mean.",
        ),
        OptionSpec::new(
            "sd",
            OptionKind::POSITIVE,
            "a positive number",
            "The covariate's standard deviation (default 1).",
        ),
        OptionSpec::new(
            "n",
            OptionKind::Number {
                min: 1.0,
                max: f64::INFINITY,
            },
            "a whole number",
            "Respondents.",
        ),
        OptionSpec::new(
            "power",
            OptionKind::PROBABILITY,
            "a probability",
            "The power wanted (to solve for n or the OR).",
        ),
        OptionSpec {
            name: "solve",
            values: "n, or or power",
            kind: OptionKind::Word(Solve::WORDS),
            summary: "What to solve for (default: what is missing).",
        },
        OptionSpec::new(
            "alpha",
            OptionKind::PROBABILITY,
            "a probability",
            "Two-sided significance level (default 0.05).",
        ),
        OptionSpec::new(
            "deff",
            OptionKind::Number {
                min: 1.0,
                max: f64::INFINITY,
            },
            "a number of 1 or more",
            "Design effect (default 1).",
        ),
        OptionSpec::new(
            "reps",
            OptionKind::Whole {
                min: 1.0,
                max: 100_000.0,
            },
            "a whole number",
            "Simulated surveys (`power simulate`).",
        ),
        OptionSpec::new(
            "seed",
            OptionKind::SEED,
            "a whole number",
            "First seed (`power simulate`, default 1).",
        ),
        OptionSpec {
            name: "family",
            values: "ols, logit, probit, poisson or negbin",
            kind: OptionKind::Word(ModelFamily::WORDS),
            summary: "Model family (`power simulate`).",
        },
        OptionSpec::new(
            "weights",
            OptionKind::Column,
            "a column",
            "Survey weights (`power simulate`).",
        ),
        OptionSpec::new(
            "cluster",
            OptionKind::Column,
            "a column",
            "Cluster-robust SEs (`power simulate`).",
        ),
    ],
    named_arguments: false,
    output: Output::Computed,
    examples: &[
        Example {
            summary: "Power to detect the published odds ratio with four million respondents",
            code: "power logit, or = 1.006, p0 = 0.7, sd = 1.5, n = 4132676, deff = 4",
            output: r#"Power of a logit slope (Wald test): power: 98.68%
shape: (1, 7)
┌───────────┬────────────┬─────┬─────┬───────┬──────┬────────┐
│ n         ┆ odds_ratio ┆ p0  ┆ sd  ┆ alpha ┆ deff ┆ power  │
│ ---       ┆ ---        ┆ --- ┆ --- ┆ ---   ┆ ---  ┆ ---    │
│ f64       ┆ f64        ┆ f64 ┆ f64 ┆ f64   ┆ f64  ┆ f64    │
╞═══════════╪════════════╪═════╪═════╪═══════╪══════╪════════╡
│ 4,132,676 ┆      1.006 ┆ 0.7 ┆ 1.5 ┆  0.05 ┆    4 ┆ 98.68% │
└───────────┴────────────┴─────┴─────┴───────┴──────┴────────┘
Note: Hsieh, Bloch & Larsen (1998): power = Φ(|log OR|·sd·√(n·p0(1 − p0)/deff) − z(1 − α/2)), for a covariate with standard deviation sd and p0 the outcome's probability at its mean"#,
        },
        Example {
            summary: "Respondents needed for 80% power",
            code: "power logit, or = 1.006, p0 = 0.7, sd = 1.5, power = 0.8",
            output: r#"Power of a logit slope (Wald test): respondents needed: 464,198
shape: (1, 7)
┌─────────┬────────────┬─────┬─────┬───────┬──────┬───────┐
│ n       ┆ odds_ratio ┆ p0  ┆ sd  ┆ alpha ┆ deff ┆ power │
│ ---     ┆ ---        ┆ --- ┆ --- ┆ ---   ┆ ---  ┆ ---   │
│ f64     ┆ f64        ┆ f64 ┆ f64 ┆ f64   ┆ f64  ┆ f64   │
╞═════════╪════════════╪═════╪═════╪═══════╪══════╪═══════╡
│ 464,198 ┆      1.006 ┆ 0.7 ┆ 1.5 ┆  0.05 ┆    1 ┆   80% │
└─────────┴────────────┴─────┴─────┴───────┴──────┴───────┘
Note: Hsieh, Bloch & Larsen (1998): power = Φ(|log OR|·sd·√(n·p0(1 − p0)/deff) − z(1 − α/2)), for a covariate with standard deviation sd and p0 the outcome's probability at its mean"#,
        },
    ],
    run: power,
};

fn power(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let kind = args
        .first()
        .and_then(|a| a.as_expr())
        .and_then(|e| e.as_ident());
    match kind {
        Some("logit") => analytic(ctx),
        Some("simulate") => {
            let formula = args
                .iter()
                .find_map(|a| super::super::formula_of(a))
                .ok_or_else(|| {
                    ctx.usage_error(
                        "`power simulate` takes a model formula, as `power simulate good_experience ~ lw_fte_50k + fe(pcn), n = 20000, reps = 100`",
                    )
                })?;
            simulated(ctx, formula)
        }
        _ => Err(ctx
            .usage_error("`power` takes `logit` (analytic) or `simulate` (by simulation)")
            .suggest(spel_grammar::did_you_mean(
                kind.unwrap_or(""),
                ["logit", "simulate"],
            ))),
    }
}

fn analytic(ctx: &VerbCtx) -> Result<Value, Diagnostic> {
    let number =
        |name: &str| -> Result<Option<f64>, Diagnostic> { Ok(ctx.number(name)?.map(|(x, _)| x)) };
    let p0 = number("p0")?.ok_or_else(|| {
        ctx.usage_error("`power logit` needs `p0 = ...`, the outcome's probability")
    })?;
    let test = LogitSlope {
        p0,
        sd: number("sd")?.unwrap_or(1.0),
        alpha: number("alpha")?.unwrap_or(0.05),
        deff: number("deff")?.unwrap_or(1.0),
    };
    let (
        LogitSlope {
            sd, alpha, deff, ..
        },
        or,
        n,
    ) = (test, number("or")?, number("n")?);
    let wanted = number("power")?;
    let solve = match ctx.choice::<Solve>("solve")? {
        Some(solve) => solve,
        None => match (or, n, wanted) {
            (Some(_), Some(_), _) => Solve::Power,
            (Some(_), None, Some(_)) => Solve::N,
            (None, Some(_), Some(_)) => Solve::Or,
            _ => {
                return Err(ctx.usage_error(
                    "give two of `or`, `n` and `power`, and `power logit` solves for the third",
                ));
            }
        },
    };
    let missing =
        |name: &str| ctx.usage_error(format!("solving for {} needs `{name} = ...`", solve.word()));
    let impossible = |message: String, name: &str| {
        let span = ctx.option(name).map_or(ctx.call.span, |a| a.span);
        Diagnostic::new("spel::power::impossible", message).at(span)
    };
    let above_chance = |wanted: f64| {
        if wanted > alpha / 2.0 {
            return Ok(wanted);
        }
        Err(impossible(
            format!(
                "power {} is below what chance alone gives ({})",
                number_text(wanted),
                number_text(alpha / 2.0)
            ),
            "power",
        ))
    };
    let (or, n, achieved) = match solve {
        Solve::Power => {
            let (or, n) = (
                or.ok_or_else(|| missing("or"))?,
                n.ok_or_else(|| missing("n"))?,
            );
            (or, n, test.power(or, n))
        }
        Solve::N => {
            let (or, wanted) = (
                or.ok_or_else(|| missing("or"))?,
                wanted.ok_or_else(|| missing("power"))?,
            );
            if or == 1.0 {
                return Err(impossible(
                    "an odds ratio of 1 is no effect: no sample size detects it".into(),
                    "or",
                )
                .with_help("give the smallest effect worth detecting, such as `or = 1.01`"));
            }
            let wanted = above_chance(wanted)?;
            (or, test.respondents(or, wanted), wanted)
        }
        Solve::Or => {
            let (n, wanted) = (
                n.ok_or_else(|| missing("n"))?,
                wanted.ok_or_else(|| missing("power"))?,
            );
            let wanted = above_chance(wanted)?;
            (test.detectable_odds_ratio(n, wanted), n, wanted)
        }
    };
    let table = df!(
        "n" => [n],
        "odds_ratio" => [or],
        "p0" => [p0],
        "sd" => [sd],
        "alpha" => [alpha],
        "deff" => [deff],
        "power" => [achieved],
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    let solved = match solve {
        Solve::N => format!("respondents needed: {}", shown(n)),
        Solve::Or => format!("smallest detectable odds ratio: {}", shown(or)),
        Solve::Power => format!("power: {}", Style::Share.write(achieved)),
    };
    Ok(Value::Report(std::sync::Arc::new(Report {
        title: format!("Power of a logit slope (Wald test): {solved}"),
        table,
        notes: Vec::new(),
        conventions: vec![
            "Hsieh, Bloch & Larsen (1998): power = Φ(|log OR|·sd·√(n·p0(1 − p0)/deff) − z(1 − α/2)), \
             for a covariate with standard deviation sd and p0 the outcome's probability at its mean"
                .into(),
        ],
    })))
}

fn simulated(ctx: &VerbCtx, formula: &Formula) -> Result<Value, Diagnostic> {
    let whole = |name: &str, default: Option<f64>| -> Result<f64, Diagnostic> {
        match (ctx.option_value(name)?, default) {
            (Some((Value::Number(x), _)), _) if x >= 1.0 && x.fract() == 0.0 => Ok(x),
            (Some((_, span)), _) => Err(Diagnostic::new(
                "spel::power::option",
                format!("`{name}` is a whole number of 1 or more"),
            )
            .at(span)),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(ctx.usage_error(format!("`power simulate` needs `{name} = ...`"))),
        }
    };
    let n = whole("n", None)? as usize;
    let reps = whole("reps", None)? as usize;
    let seed = whole("seed", Some(1.0))? as u64;
    let alpha = ctx.number("alpha")?.map_or(0.05, |(x, _)| x);
    let outcome = ctx.text(formula.lhs.span).to_string();
    let Some(truth) = gpps::OUTCOMES.iter().find(|o| o.name == outcome) else {
        return Err(Diagnostic::new(
            "spel::power::outcome",
            format!("`{outcome}` is not an outcome of the simulated survey"),
        )
        .at(formula.lhs.span)
        .suggest(spel_grammar::did_you_mean(
            &outcome,
            gpps::OUTCOMES.iter().map(|o| o.name),
        ))
        .with_note(format!(
            "its outcomes are {}",
            gpps::OUTCOMES
                .iter()
                .map(|o| o.name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let chosen = ctx
        .clause_args(Connective::On)
        .first()
        .map(|a| (ctx.text(a.span).to_string(), a.span));
    // One survey at a time: each replicate's memory is freed before the next.
    let needed = n as f64 * crate::memory::SURVEY_BYTES_PER_RESPONDENT as f64;
    let what = format!(
        "each simulated survey of {} respondents",
        crate::format::count(n)
    );
    crate::memory::check(
        needed,
        &what,
        ctx.option_value("n")?.map_or(ctx.call.span, |(_, at)| at),
    )?;
    let work = ctx.env.work();
    let mut estimates = Vec::with_capacity(reps);
    let mut term = String::new();
    for rep in 0..reps {
        let span = ctx.call.span;
        let this_seed = seed + rep as u64;
        let frame = work.run(
            &format!("simulating survey {} of {reps}", rep + 1),
            span,
            move || {
                gpps::generate(n, this_seed, Default::default())
                    .map_err(|e| polars_error(e).at(span))
            },
        )?;
        let model = super::super::model::fit_formula(ctx, formula, frame.lazy())?;
        let coefficient = tested_term(&model.coefficients, chosen.as_ref(), formula)?;
        term = coefficient.term.clone();
        estimates.push(coefficient.clone());
    }
    // The simulator knows the effect of link-worker staffing only.
    let true_log_odds = (term == "lw_fte_50k").then(|| truth.odds_ratio.ln());
    let replicates = Replicates {
        term,
        estimates,
        true_log_odds,
        n,
        alpha,
    };
    replicates.report(ctx, formula)
}

/// The fits of `power simulate`'s surveys, and what they are judged against.
struct Replicates {
    term: String,
    estimates: Vec<Coefficient>,
    true_log_odds: Option<f64>,
    n: usize,
    alpha: f64,
}

impl Replicates {
    /// Power and coverage with their Monte Carlo errors, as a report.
    fn report(self, ctx: &VerbCtx, formula: &Formula) -> Result<Value, Diagnostic> {
        let Replicates {
            term,
            estimates,
            true_log_odds,
            n,
            alpha,
        } = self;
        let reps = estimates.len();
        let k = reps as f64;
        let power = estimates.iter().filter(|c| c.p_value < alpha).count() as f64 / k;
        let coverage = true_log_odds.map(|truth| {
            estimates
                .iter()
                .filter(|c| c.conf_low <= truth && truth <= c.conf_high)
                .count() as f64
                / k
        });
        // A share's Monte Carlo standard error: how far another run of `reps` could differ.
        let monte_carlo = |share: f64| (share * (1.0 - share) / k).sqrt();
        let mean = estimates.iter().map(|c| c.estimate).sum::<f64>() / k;
        let spread = (estimates
            .iter()
            .map(|c| (c.estimate - mean).powi(2))
            .sum::<f64>()
            / (k - 1.0).max(1.0))
        .sqrt();
        let mean_se = estimates.iter().map(|c| c.std_error).sum::<f64>() / k;
        // What a reader looks for first, first: the text table shows what fits its width.
        let table = df!(
            "term" => [term.clone()],
            "power" => [power],
            "power_mc_se" => [monte_carlo(power)],
            "coverage" => [coverage],
            "coverage_mc_se" => [coverage.map(monte_carlo)],
            "true_odds_ratio" => [true_log_odds.map(f64::exp)],
            "mean_odds_ratio" => [mean.exp()],
            "mean_std_error" => [mean_se],
            "sd_estimate" => [spread],
            "n" => [n as i64],
            "reps" => [reps as i64],
        )
        .map_err(|e| polars_error(e).at(ctx.call.span))?;
        let coverage_note = match true_log_odds {
            Some(truth) => format!(
                "coverage the share of 95% intervals containing the true log odds ratio {}",
                shown(truth)
            ),
            None => format!(
                "the simulated survey has no known effect of `{term}` (it knows that of \
                 `lw_fte_50k`), so coverage is not computed"
            ),
        };
        Ok(Value::Report(std::sync::Arc::new(Report {
            title: format!(
                "Simulated power: {} fitted on {reps} surveys of {} respondents",
                ctx.text(formula.span)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                shown(n as f64)
            ),
            table,
            notes: vec![
                format!(
                    "power is the share of fits with p < {} for `{term}`; {coverage_note}",
                    number_text(alpha),
                ),
                "mean_std_error near sd_estimate means the standard errors are honest".into(),
            ],
            conventions: vec![
                "power_mc_se and coverage_mc_se are Monte Carlo standard errors: √(p(1 − p)/reps)"
                    .into(),
            ],
        })))
    }
}

/// The coefficient `power simulate` tests: the one `on TERM` names, or `lw_fte_50k`.
fn tested_term<'m>(
    coefficients: &'m [Coefficient],
    chosen: Option<&(String, spel_grammar::Span)>,
    formula: &Formula,
) -> Result<&'m Coefficient, Diagnostic> {
    let terms = || {
        coefficients
            .iter()
            .map(|c| format!("`{}`", c.term))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (name, span) = match chosen {
        Some((name, span)) => (name.as_str(), *span),
        None => ("lw_fte_50k", formula.span),
    };
    // A two-level factor is named by its variable (`on sex` tests `sexMale`).
    let of_factor = || {
        let mut levels = coefficients.iter().filter(|c| {
            c.term.starts_with(name) && c.term.len() > name.len() && !c.term.contains(':')
        });
        match (levels.next(), levels.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    };
    let found = coefficients
        .iter()
        .find(|c| c.term == name)
        .or_else(of_factor);
    found.ok_or_else(|| {
        let diagnostic = match chosen {
            Some(_) => Diagnostic::new(
                "spel::power::term",
                format!("the model has no term `{name}`"),
            )
            .suggest(spel_grammar::did_you_mean(
                name,
                coefficients.iter().map(|c| c.term.as_str()),
            )),
            None => Diagnostic::new(
                "spel::power::term",
                "`power simulate` tests `lw_fte_50k`, which this model does not have",
            )
            .with_help("name the term to test: `power simulate FORMULA on TERM, ...`"),
        };
        diagnostic
            .at(span)
            .with_note(format!("its terms are {}", terms()))
    })
}
