//! Evaluation designs for teaching. `rate`: event rates with exact Poisson CIs and
//! rate ratios against a reference group.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::Connective;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

use super::{Example, OptionSpec, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::value::Value;

pub static VERBS: &[Verb] = &[
    Verb {
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
        options: &[OptionSpec {
            name: "type",
            values: "standard, erreygers or wagstaff",
            choices: &["standard", "erreygers", "wagstaff"],
            summary: "Which index.",
        }],
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
    },
    Verb {
        name: "its",
        signature: "its OUTCOME ~ TIME, break = VALUE [, lags = K]",
        summary: "Interrupted time series: level and slope change at a break, Newey–West SEs.",
        description: "Segmented regression OUTCOME = b0 + b1·TIME + b2·after + b3·(TIME − break)·after, \
                      with `after` true from the break period on (time since the break is 0 in the \
                      break period). Standard errors are Newey–West (Bartlett kernel, K lags, default \
                      floor(4·(n/100)^(2/9))) with no small-sample factor and z-based intervals, as \
                      statsmodels' OLS with `cov_type = \"HAC\"`.",
        connectives: &[],
        options: &[
            OptionSpec {
                name: "break",
                values: "a value of TIME (a number or a date)",
                choices: &[],
                summary: "The first period after the change.",
            },
            OptionSpec {
                name: "lags",
                values: "a whole number",
                choices: &[],
                summary: "Newey–West lags.",
            },
        ],
        named_arguments: false,
        examples: &[Example {
            summary: "Referrals before and after a service began",
            code: "table month = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], referrals = [20, 22, 21, 24, 25, 18, 19, 20, 21, 23]\n  |> its referrals ~ month, break = 6, lags = 1",
            output: r#"shape: (4, 7)
┌──────────────┬──────────────┬───────────┬──────────────┬─────────────┬───────────┬───────────┐
│ term         ┆ estimate     ┆ std_error ┆ statistic    ┆ p_value     ┆ conf_low  ┆ conf_high │
│ ---          ┆ ---          ┆ ---       ┆ ---          ┆ ---         ┆ ---       ┆ ---       │
│ str          ┆ f64          ┆ f64       ┆ f64          ┆ f64         ┆ f64       ┆ f64       │
╞══════════════╪══════════════╪═══════════╪══════════════╪═════════════╪═══════════╪═══════════╡
│ (Intercept)  ┆         18.8 ┆  0.385746 ┆      48.7367 ┆         0.0 ┆    18.044 ┆    19.556 │
│ month        ┆          1.2 ┆   0.10583 ┆      11.3389 ┆ 8.41632e-30 ┆  0.992577 ┆   1.40742 │
│ level_change ┆         -8.2 ┆  0.389872 ┆     -21.0326 ┆ 3.30362e-98 ┆  -8.96413 ┆  -7.43587 │
│ slope_change ┆ -1.90659e-14 ┆  0.138564 ┆ -1.37596e-13 ┆         1.0 ┆ -0.271581 ┆  0.271581 │
└──────────────┴──────────────┴───────────┴──────────────┴─────────────┴───────────┴───────────┘"#,
        }],
        run: its,
    },
    Verb {
        name: "compare",
        signature: "compare FIRST, SECOND, paired = true",
        summary: "Paired comparison of two columns: paired t-test and Wilcoxon signed-rank test.",
        description: "Differences are SECOND − FIRST (after − before), over rows where both are \
                  present. The paired t-test gives the mean difference with its interval; the \
                  Wilcoxon signed-rank test drops zero differences, applies no continuity \
                  correction and chooses its p-value as scipy does: exact without ties or zeros \
                  (n ≤ 50), a full permutation over signs for up to 13 pairs otherwise, the \
                  normal approximation with a tie correction beyond.",
        connectives: &[],
        options: &[OptionSpec {
            name: "paired",
            values: "true",
            choices: &[],
            summary: "The columns are two measurements of the same units (required for now).",
        }],
        named_arguments: false,
        examples: &[Example {
            summary: "GP visits before and after seeing a link worker",
            code: "table before = [3, 5, 2, 8, 6, 4, 7, 3], after = [2, 4, 2, 5, 6, 3, 4, 1]\n  |> compare before, after, paired = true",
            output: r#"shape: (2, 8)
┌──────────────────────┬─────┬───────────┬──────┬───────────┬─────────────────┬───┬───────────┐
│ test                 ┆ n   ┆ statistic ┆ df   ┆ p_value   ┆ mean_difference ┆ … ┆ conf_high │
│ ---                  ┆ --- ┆ ---       ┆ ---  ┆ ---       ┆ ---             ┆ … ┆ ---       │
│ str                  ┆ i64 ┆ f64       ┆ f64  ┆ f64       ┆ f64             ┆ … ┆ f64       │
╞══════════════════════╪═════╪═══════════╪══════╪═══════════╪═════════════════╪═══╪═══════════╡
│ paired t             ┆   8 ┆  -3.27437 ┆  7.0 ┆ 0.0135921 ┆          -1.375 ┆ … ┆ -0.382029 │
│ Wilcoxon signed-rank ┆   6 ┆       0.0 ┆ null ┆   0.03125 ┆            null ┆ … ┆      null │
└──────────────────────┴─────┴───────────┴──────┴───────────┴─────────────────┴───┴───────────┘"#,
        }],
        run: compare,
    },
    Verb {
        name: "rate",
        signature: "rate EVENTS per K of POPULATION [by GROUP, ...] [, ref = \"level\"] [, level = 0.95]",
        summary: "Event rates per K of a population, with exact Poisson CIs and rate ratios.",
        description: "Sums the events and the population (in each group), and gives the rate per K \
                  with its exact Poisson (Garwood) interval. With `by`, each group's rate ratio \
                  against the reference group (the first in sorted order, or `ref`) with a \
                  Wald interval on the log scale.",
        connectives: &[Connective::Per, Connective::Of, Connective::By],
        options: &[
            OptionSpec {
                name: "ref",
                values: "a level of the group",
                choices: &[],
                summary: "The reference group for rate ratios.",
            },
            OptionSpec {
                name: "level",
                values: "a number such as 0.95",
                choices: &[],
                summary: "Confidence level.",
            },
        ],
        named_arguments: false,
        examples: &[Example {
            summary: "Referrals per 1,000 patients by deprivation",
            code: "table imd = [\"least\", \"most\"], referrals = [10, 20], patients = [1000, 1000]\n  |> rate referrals per 1000 of patients by imd",
            output: r#"shape: (2, 9)
┌───────┬────────┬────────────┬──────┬──────────┬───────────┬────────────┬───┬──────────────┐
│ imd   ┆ events ┆ population ┆ rate ┆ conf_low ┆ conf_high ┆ rate_ratio ┆ … ┆ rr_conf_high │
│ ---   ┆ ---    ┆ ---        ┆ ---  ┆ ---      ┆ ---       ┆ ---        ┆ … ┆ ---          │
│ str   ┆ f64    ┆ f64        ┆ f64  ┆ f64      ┆ f64       ┆ f64        ┆ … ┆ f64          │
╞═══════╪════════╪════════════╪══════╪══════════╪═══════════╪════════════╪═══╪══════════════╡
│ least ┆   10.0 ┆     1000.0 ┆ 10.0 ┆  4.79539 ┆   18.3904 ┆        1.0 ┆ … ┆         null │
│ most  ┆   20.0 ┆     1000.0 ┆ 20.0 ┆  12.2165 ┆   30.8884 ┆        2.0 ┆ … ┆      4.27267 │
└───────┴────────┴────────────┴──────┴──────────┴───────────┴────────────┴───┴──────────────┘"#,
        }],
        run: rate,
    },
];

/// The exact (Garwood) Poisson interval for a count.
pub fn poisson_interval(count: f64, level: f64) -> (f64, f64) {
    let alpha = 1.0 - level;
    let lower = if count <= 0.0 {
        0.0
    } else {
        ChiSquared::new(2.0 * count).map_or(f64::NAN, |d| d.inverse_cdf(alpha / 2.0) / 2.0)
    };
    let upper = ChiSquared::new(2.0 * (count + 1.0))
        .map_or(f64::NAN, |d| d.inverse_cdf(1.0 - alpha / 2.0) / 2.0);
    (lower, upper)
}

fn rate(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    let [events_arg] = args.as_slice() else {
        return Err(
            ctx.usage_error("`rate` takes the events, as `rate referrals per 1000 of patients`")
        );
    };
    let events_ast = events_arg
        .as_expr()
        .ok_or_else(|| ctx.usage_error("the events are a column"))?;
    let per = ctx.clause_args(Connective::Per);
    let k = match per
        .first()
        .and_then(|a| a.as_expr())
        .map(|e| crate::eval::scalar::evaluate(e, ctx.env))
    {
        Some(Ok(Value::Number(k))) if k > 0.0 => k,
        Some(Err(d)) => return Err(d),
        _ => return Err(ctx.usage_error("`rate` needs `per` and a positive number, as `per 1000`")),
    };
    let of = ctx.clause_args(Connective::Of);
    let Some(population_ast) = of.first().and_then(|a| a.as_expr()) else {
        return Err(
            ctx.usage_error("`rate` needs `of` and the population column, as `of patients`")
        );
    };
    let keys: Vec<String> = super::column_names(&ctx.clause_args(Connective::By), &scope)?
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let level = match ctx.option_value("level")? {
        Some((Value::Number(x), _)) if x > 0.0 && x < 1.0 => x,
        Some((_, span)) => {
            return Err(
                Diagnostic::new("spel::rate::level", "`level` is between 0 and 1").at(span),
            );
        }
        None => 0.95,
    };
    let (events, _) = scope.checked(events_ast)?;
    let (population, _) = scope.checked(population_ast)?;
    let aggregates = [
        events.cast(DataType::Float64).sum().alias("events"),
        population.cast(DataType::Float64).sum().alias("population"),
    ];
    let key_exprs: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let summed = if keys.is_empty() {
        lf.select(aggregates)
    } else {
        lf.group_by(key_exprs.clone())
            .agg(aggregates)
            .sort_by_exprs(
                key_exprs,
                SortMultipleOptions::default().with_nulls_last(true),
            )
    };
    let mut df = ctx
        .env
        .work()
        .collect(summed, "computing rates", ctx.call.span)?;
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let numbers = |df: &DataFrame, name: &str| -> Result<Vec<f64>, Diagnostic> {
        Ok(df
            .column(name)
            .map_err(fail)?
            .f64()
            .map_err(fail)?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    let counts = numbers(&df, "events")?;
    let people = numbers(&df, "population")?;
    if let Some(bad) = counts.iter().find(|c| **c < 0.0 || c.fract() != 0.0) {
        return Err(Diagnostic::new(
            "spel::rate::events",
            format!("events are counts of 0 or more, not {bad}"),
        )
        .at(events_ast.span));
    }
    if people.iter().any(|p| *p <= 0.0) {
        return Err(Diagnostic::new(
            "spel::rate::population",
            "a group's population is 0 or less",
        )
        .at(population_ast.span));
    }
    let mut rates = Vec::new();
    let mut lows = Vec::new();
    let mut highs = Vec::new();
    for (count, population) in counts.iter().zip(&people) {
        let (low, high) = poisson_interval(*count, level);
        rates.push(count / population * k);
        lows.push(low / population * k);
        highs.push(high / population * k);
    }
    let mut columns = vec![
        Column::new("rate".into(), rates.clone()),
        Column::new("conf_low".into(), lows),
        Column::new("conf_high".into(), highs),
    ];
    if let Some(first_key) = keys.first() {
        let labels: Vec<String> = df
            .column(first_key)
            .map_err(fail)?
            .cast(&DataType::String)
            .map_err(fail)?
            .str()
            .map_err(fail)?
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect();
        let reference = match ctx.option_value("ref")? {
            Some((value, span)) => {
                let wanted = match value {
                    Value::Str(s) => s,
                    Value::Number(x) => crate::format::number(x),
                    _ => String::new(),
                };
                labels.iter().position(|l| *l == wanted).ok_or_else(|| {
                    Diagnostic::new(
                        "spel::rate::ref",
                        format!("`{first_key}` has no group \"{wanted}\""),
                    )
                    .at(span)
                    .with_note(format!("its groups are {}", labels.join(", ")))
                })?
            }
            None => 0,
        };
        let z = Normal::standard().inverse_cdf(1.0 - (1.0 - level) / 2.0);
        let (ref_count, ref_rate) = (counts[reference], rates[reference]);
        let mut ratio = Vec::new();
        let mut ratio_low = Vec::new();
        let mut ratio_high = Vec::new();
        for (row, (count, r)) in counts.iter().zip(&rates).enumerate() {
            // The reference group's ratio is 1 by definition: no interval.
            if row == reference {
                ratio.push(Some(1.0));
                ratio_low.push(None);
                ratio_high.push(None);
                continue;
            }
            let rr = r / ref_rate;
            let se = (1.0 / count + 1.0 / ref_count).sqrt();
            ratio.push(Some(rr));
            ratio_low.push(Some(rr * (-z * se).exp()));
            ratio_high.push(Some(rr * (z * se).exp()));
        }
        columns.push(Column::new("rate_ratio".into(), ratio));
        columns.push(Column::new("rr_conf_low".into(), ratio_low));
        columns.push(Column::new("rr_conf_high".into(), ratio_high));
    }
    for column in columns {
        df.with_column(column).map_err(fail)?;
    }
    Ok(Value::Table(df.lazy()))
}

fn compare(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    let [first, second] = args.as_slice() else {
        return Err(ctx.usage_error(
            "`compare` takes two columns, as `compare before, after, paired = true`",
        ));
    };
    if !matches!(ctx.option_value("paired")?, Some((Value::Bool(true), _))) {
        return Err(
            ctx.usage_error("only paired comparisons are built so far: add `paired = true`")
        );
    }
    let (Some(first_ast), Some(second_ast)) = (first.as_expr(), second.as_expr()) else {
        return Err(ctx.usage_error("`compare` takes two columns"));
    };
    let (a, _) = scope.checked(first_ast)?;
    let (b, _) = scope.checked(second_ast)?;
    let (firsts, seconds) = complete_pairs(ctx, lf, a, b, false, "comparing")?;
    let d: Vec<f64> = firsts.iter().zip(&seconds).map(|(a, b)| b - a).collect();
    if d.len() < 2 {
        return Err(Diagnostic::new(
            "spel::compare::pairs",
            "fewer than two complete pairs to compare",
        )
        .at(ctx.call.span));
    }
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let se = sd / n.sqrt();
    let t = mean / se;
    let student = statrs::distribution::StudentsT::new(0.0, 1.0, n - 1.0)
        .map_err(|_| Diagnostic::internal("t distribution"))?;
    let crit = student.inverse_cdf(0.975);
    let t_p = 2.0 * student.cdf(-t.abs());
    let (w, w_p, w_n) = wilcoxon(&d);
    let df = df!(
        "test" => ["paired t", "Wilcoxon signed-rank"],
        "n" => [d.len() as i64, w_n as i64],
        "statistic" => [t, w],
        "df" => [Some(n - 1.0), None],
        "p_value" => [t_p, w_p],
        "mean_difference" => [Some(mean), None],
        "conf_low" => [Some(mean - crit * se), None],
        "conf_high" => [Some(mean + crit * se), None],
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(df.lazy()))
}

/// The Wilcoxon signed-rank test as scipy's `wilcoxon` with its defaults: statistic
/// min(W+, W−), p-value exact, by permutation or asymptotic as described above.
/// Returns (statistic, p-value, pairs with a non-zero difference).
pub fn wilcoxon(d: &[f64]) -> (f64, f64, usize) {
    let all = d.len();
    let mut nonzero: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    let zeros = all - nonzero.len();
    let n = nonzero.len();
    if n == 0 {
        return (0.0, 1.0, 0);
    }
    nonzero.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nonzero[j + 1].abs() == nonzero[i].abs() {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for rank in ranks.iter_mut().take(j + 1).skip(i) {
            *rank = average;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let ties = tie_term > 0.0;
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let total = (n * (n + 1)) as f64 / 2.0;
    // (+ 0.0: an empty float sum is -0.0.)
    let statistic = r_plus.min(total - r_plus) + 0.0;
    let p = if all <= 50 && !ties && zeros == 0 {
        // Exact null distribution of W+: the number of subsets of 1..n with each sum.
        let max = n * (n + 1) / 2;
        let mut ways = vec![0.0_f64; max + 1];
        ways[0] = 1.0;
        for k in 1..=n {
            for s in (k..=max).rev() {
                ways[s] += ways[s - k];
            }
        }
        let all_ways = 2f64.powi(n as i32);
        let observed = r_plus.round() as usize;
        let below: f64 = ways[..=observed].iter().sum::<f64>() / all_ways;
        let above: f64 = ways[observed..].iter().sum::<f64>() / all_ways;
        (2.0 * below.min(above)).min(1.0)
    } else if all <= 13 {
        // Every assignment of signs to the ranks (ties and zeros make the exact
        // distribution above wrong).
        let (mut below, mut above) = (0.0_f64, 0.0_f64);
        let count = 1u32 << n;
        for mask in 0..count {
            let t: f64 = ranks
                .iter()
                .enumerate()
                .filter(|(k, _)| mask & (1 << k) != 0)
                .map(|(_, r)| r)
                .sum();
            if t <= r_plus + 1e-9 {
                below += 1.0;
            }
            if t >= r_plus - 1e-9 {
                above += 1.0;
            }
        }
        (2.0 * (below.min(above)) / f64::from(count)).min(1.0)
    } else {
        let nf = n as f64;
        let mean = nf * (nf + 1.0) / 4.0;
        let sd = ((nf * (nf + 1.0) * (2.0 * nf + 1.0) - tie_term / 2.0) / 24.0).sqrt();
        let z = (r_plus - mean) / sd;
        2.0 * Normal::standard().cdf(-z.abs())
    };
    (statistic, p, n)
}

// The Newey–West sums index a 4×4 matrix by row and column.
#[allow(clippy::needless_range_loop)]
fn its(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    let formula = args
        .iter()
        .find_map(|a| super::formula_of(a))
        .ok_or_else(|| {
            ctx.usage_error("`its` takes a formula, as `its referrals ~ month, break = 7`")
        })?;
    let [term] = formula.rhs.as_slice() else {
        return Err(ctx.usage_error("`its` takes one time column on the right of `~`"));
    };
    let Some(time_ast) = term.crossed.first().and_then(|g| g.first()) else {
        return Err(ctx.usage_error("`its` takes one time column on the right of `~`"));
    };
    let time_name = ctx.text(time_ast.span).to_string();
    let (y, _) = scope.checked(&formula.lhs)?;
    let (time, time_type) = scope.checked(time_ast)?;
    let Some((brk, brk_span)) = ctx.option_value("break")? else {
        return Err(ctx.usage_error("`its` needs `break = ...`, the first period after the change"));
    };
    let brk = match brk {
        Value::Number(x) => x,
        Value::Date(d) => f64::from(
            (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32,
        ),
        _ => {
            return Err(
                Diagnostic::new("spel::its::break", "`break` is a number or a date").at(brk_span),
            );
        }
    };
    let time = if time_type == DataType::Date {
        time.cast(DataType::Int32)
    } else {
        time
    };
    let (ys, ts) = complete_pairs(ctx, lf, y, time, true, "fitting the time series")?;
    let n = ys.len();
    let (first, last) = (
        ts.first().copied().unwrap_or(0.0),
        ts.last().copied().unwrap_or(0.0),
    );
    if n < 5 || brk <= first || brk > last {
        return Err(Diagnostic::new(
            "spel::its::break_outside",
            "the break must fall after the first period and no later than the last",
        )
        .at(brk_span)
        .with_note(format!(
            "the data run from {} to {} ({n} periods)",
            crate::format::number(first),
            crate::format::number(last)
        )));
    }
    let columns: Vec<Vec<f64>> = vec![
        vec![1.0; n],
        ts.clone(),
        ts.iter()
            .map(|t| if *t >= brk { 1.0 } else { 0.0 })
            .collect(),
        ts.iter()
            .map(|t| if *t >= brk { t - brk } else { 0.0 })
            .collect(),
    ];
    let keep: Vec<usize> = (0..4).collect();
    let ones = vec![1.0; n];
    let (xtx, xty) = crate::stats::linalg::cross_products(&columns, &keep, &ones, &ys);
    let (Some(beta), Some(bread)) = (
        crate::stats::linalg::solve(&xtx, &xty),
        crate::stats::linalg::inverse(&xtx),
    ) else {
        return Err(Diagnostic::new(
            "spel::its::singular",
            "the time series cannot be fitted (too few distinct periods on a side of the break)",
        )
        .at(ctx.call.span));
    };
    let residuals: Vec<f64> = (0..n)
        .map(|i| ys[i] - (0..4).map(|j| columns[j][i] * beta[j]).sum::<f64>())
        .collect();
    let lags = match ctx.option_value("lags")? {
        Some((Value::Number(k), _)) if k >= 0.0 && k.fract() == 0.0 => k as usize,
        Some((_, span)) => {
            return Err(Diagnostic::new("spel::its::lags", "`lags` is a whole number").at(span));
        }
        None => (4.0 * (n as f64 / 100.0).powf(2.0 / 9.0)).floor() as usize,
    };
    // Newey–West: Bartlett-weighted autocovariances of the scores x_t e_t.
    let score = |t: usize, j: usize| columns[j][t] * residuals[t];
    let mut meat = [[0.0_f64; 4]; 4];
    for lag in 0..=lags.min(n - 1) {
        let weight = if lag == 0 {
            1.0
        } else {
            1.0 - lag as f64 / (lags as f64 + 1.0)
        };
        for t in lag..n {
            for a in 0..4 {
                for b in 0..4 {
                    let term = score(t, a) * score(t - lag, b);
                    meat[a][b] += weight
                        * if lag == 0 {
                            term
                        } else {
                            term + score(t - lag, a) * score(t, b)
                        };
                }
            }
        }
    }
    let mut variance = [[0.0_f64; 4]; 4];
    for a in 0..4 {
        for b in 0..4 {
            let mut total = 0.0;
            for c in 0..4 {
                for d in 0..4 {
                    total += bread[(a, c)] * meat[c][d] * bread[(d, b)];
                }
            }
            variance[a][b] = total;
        }
    }
    let names = [
        "(Intercept)",
        time_name.as_str(),
        "level_change",
        "slope_change",
    ];
    let rows: Vec<crate::model::Coefficient> = (0..4)
        .map(|j| {
            crate::model::Coefficient::wald(
                names[j],
                beta[j],
                variance[j][j].sqrt(),
                crate::model::Distribution::Normal,
                0.95,
            )
        })
        .collect();
    let column =
        |f: fn(&crate::model::Coefficient) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let table = df!(
        "term" => rows.iter().map(|c| c.term.clone()).collect::<Vec<_>>(),
        "estimate" => column(|c| c.estimate),
        "std_error" => column(|c| c.std_error),
        "statistic" => column(|c| c.statistic),
        "p_value" => column(|c| c.p_value),
        "conf_low" => column(|c| c.conf_low),
        "conf_high" => column(|c| c.conf_high),
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(table.lazy()))
}

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
    let kind = match ctx.option_value("type")? {
        Some((Value::Str(s), _)) => s,
        _ => "standard".to_string(),
    };
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
    let scale = match kind.as_str() {
        "erreygers" => 4.0 * mean / (high - low),
        "wagstaff" => mean * (high - low) / ((high - mean) * (mean - low)),
        _ => 1.0,
    };
    if !scale.is_finite() {
        return Err(Diagnostic::new(
            "spel::concentration::bounds",
            format!("the {kind} index needs an outcome that varies between its bounds"),
        )
        .at(outcome_ast.span));
    }
    let result = crate::model::Coefficient::wald(
        &kind,
        scale * c,
        scale * se_c,
        crate::model::Distribution::Normal,
        0.95,
    );
    let table = df!(
        "index" => [result.term.clone()],
        "n" => [n as i64],
        "estimate" => [result.estimate],
        "std_error" => [result.std_error],
        "p_value" => [result.p_value],
        "conf_low" => [result.conf_low],
        "conf_high" => [result.conf_high],
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(table.lazy()))
}

/// Two columns as numbers over the rows where both are present (sorted by the second
/// when asked): the data every design here starts from.
fn complete_pairs(
    ctx: &VerbCtx,
    lf: LazyFrame,
    first: Expr,
    second: Expr,
    sort_by_second: bool,
    what: &str,
) -> Result<(Vec<f64>, Vec<f64>), Diagnostic> {
    let mut pairs = lf
        .select([
            first.cast(DataType::Float64).alias("first"),
            second.cast(DataType::Float64).alias("second"),
        ])
        .drop_nulls(None);
    if sort_by_second {
        pairs = pairs.sort(["second"], SortMultipleOptions::default());
    }
    let df = ctx.env.work().collect(pairs, what, ctx.call.span)?;
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
    let values = |name: &str| -> Result<Vec<f64>, Diagnostic> {
        Ok(df
            .column(name)
            .map_err(fail)?
            .f64()
            .map_err(fail)?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    Ok((values("first")?, values("second")?))
}
