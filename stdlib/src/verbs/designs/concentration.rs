//! `concentration`: concentration indices (standard, Erreygers, Wagstaff) with their SE.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::Connective;

crate::choice! {
    /// Which concentration index: the standard one, or a bounded outcome's corrections.
    enum ConcentrationType { Standard = "standard", Erreygers = "erreygers", Wagstaff = "wagstaff" }
}

use super::super::{Choice, Example, OptionKind, OptionSpec, Verb, VerbCtx};
use super::complete_pairs;
use crate::errors::polars_error;
use crate::value::Value;

pub const VERB: Verb = Verb {
    name: "concentration",
    signature: "concentration OUTCOME by RANK [, type = standard | erreygers | wagstaff]",
    summary: "Concentration index of an outcome across a socioeconomic ranking, with its SE.",
    description: "Ranks rows by RANK (fractional ranks, ties averaged) and gives the \
                  concentration index C = 2·cov(y, r)/mean(y) with the standard error of \
                  Kakwani, Wagstaff and van Doorslaer (1997). `erreygers` (4·mean/(b − a)·C) \
                  and `wagstaff` (mean·(b − a)/((b − mean)(mean − a))·C) correct it for a \
                  bounded outcome, with bounds a and b the outcome's observed minimum and \
                  maximum (0 and 1 for a 0/1 outcome); their SEs scale C's.",
    connectives: &[Connective::By],
    options: &[
        OptionSpec {
            name: "type",
            values: "standard, erreygers or wagstaff",
            kind: OptionKind::Word(ConcentrationType::WORDS),
            summary: "Which index.",
        },
        OptionSpec {
            name: "curve",
            values: "true",
            kind: OptionKind::Bool,
            summary: "Give the concentration curve's points instead of the index.",
        },
    ],
    named_arguments: false,
    examples: &[Example {
        summary: "Good experience across deprivation",
        code: "table good = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1], affluence = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  |> concentration good by affluence",
        output: r#"shape: (1, 7)
┌──────────┬─────┬───────────┬───────────┬──────────┬───────────┬───────────┐
│ index    ┆ n   ┆ estimate  ┆ std_error ┆ p_value  ┆ conf_low  ┆ conf_high │
│ ---      ┆ --- ┆ ---       ┆ ---       ┆ ---      ┆ ---       ┆ ---       │
│ str      ┆ i64 ┆ f64       ┆ f64       ┆ f64      ┆ f64       ┆ f64       │
╞══════════╪═════╪═══════════╪═══════════╪══════════╪═══════════╪═══════════╡
│ standard ┆  10 ┆ 0.0142857 ┆  0.122689 ┆ 0.907305 ┆ -0.226179 ┆  0.254751 │
└──────────┴─────┴───────────┴───────────┴──────────┴───────────┴───────────┘"#,
    }],
    run: concentration,
};

fn concentration(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    let [outcome] = args.as_slice() else {
        return Err(
            ctx.usage_error("`concentration` takes an outcome, as `concentration good by imd`")
        );
    };
    let by = ctx.clause_args(Connective::By);
    let (Some(outcome_ast), Some(rank_ast)) =
        (outcome.as_expr(), by.first().and_then(|a| a.as_expr()))
    else {
        return Err(ctx.usage_error("`concentration` needs `by` and the ranking column"));
    };
    let kind = ctx
        .choice::<ConcentrationType>("type")?
        .unwrap_or(ConcentrationType::Standard);
    let (y, _) = scope.checked(outcome_ast)?;
    let (rank, _) = scope.checked(rank_ast)?;
    let (ys, ranks) = complete_pairs(ctx, lf, y, rank, true, "ranking")?;
    let n = ys.len();
    let nf = n as f64;
    let mean = ys.iter().sum::<f64>() / nf;
    let (low, high) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    if n < 2 || low < 0.0 || mean <= 0.0 {
        return Err(Diagnostic::new(
            "spel::concentration::outcome",
            "a concentration index needs an outcome of 0 or more with a positive mean",
        )
        .at(outcome_ast.span)
        .with_help("for an outcome that can be negative, compare groups with `summarise ... by` or use `sii`"));
    }
    // Fractional ranks (i - 0.5)/n, averaged over tied values of the ranking.
    let mut fractional = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && ranks[j + 1] == ranks[i] {
            j += 1;
        }
        let average = ((i + j) as f64 / 2.0 + 0.5) / nf;
        for value in fractional.iter_mut().take(j + 1).skip(i) {
            *value = average;
        }
        i = j + 1;
    }
    if ctx.flag("curve")? == Some(true) {
        return curve(ctx, &ys, &ranks);
    }
    let c = 2.0 / (nf * mean) * ys.iter().zip(&fractional).map(|(y, r)| y * r).sum::<f64>() - 1.0;
    // Kakwani, Wagstaff & van Doorslaer (1997), eq. 14.
    let mut cumulative = 0.0;
    let mut sum_squares = 0.0;
    for (y, r) in ys.iter().zip(&fractional) {
        let previous = cumulative;
        cumulative += y / (nf * mean);
        let a = (y / mean) * (2.0 * r - 1.0 - c) + 2.0 - previous - cumulative;
        sum_squares += a * a;
    }
    let se_c = ((sum_squares / nf - (1.0 + c).powi(2)) / nf)
        .max(0.0)
        .sqrt();
    let scale = match kind {
        ConcentrationType::Erreygers => 4.0 * mean / (high - low),
        ConcentrationType::Wagstaff => mean * (high - low) / ((high - mean) * (mean - low)),
        ConcentrationType::Standard => 1.0,
    };
    if !scale.is_finite() {
        return Err(Diagnostic::new(
            "spel::concentration::bounds",
            format!(
                "the {} index needs an outcome that varies between its bounds",
                kind.word()
            ),
        )
        .at(outcome_ast.span));
    }
    let result = crate::model::Coefficient::wald(
        kind.word(),
        scale * c,
        scale * se_c,
        crate::model::Distribution::Normal,
        0.95,
    );
    super::estimate_table(ctx, &result, n)
}

/// The concentration curve: cumulative share of the outcome against cumulative share
/// of the population ranked from the lowest RANK, one point after each distinct rank.
fn curve(ctx: &VerbCtx, ys: &[f64], ranks: &[f64]) -> Result<Value, Diagnostic> {
    let n = ys.len();
    let total: f64 = ys.iter().sum();
    let (mut population, mut outcome) = (vec![0.0], vec![0.0]);
    let mut running = 0.0;
    for i in 0..n {
        running += ys[i];
        if i + 1 == n || ranks[i + 1] != ranks[i] {
            population.push((i + 1) as f64 / n as f64);
            outcome.push(running / total);
        }
    }
    let table = df!(
        "population_share" => population,
        "outcome_share" => outcome,
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(table.lazy()))
}
