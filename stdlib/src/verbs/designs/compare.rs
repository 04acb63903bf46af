//! `compare`: paired t-test and Wilcoxon signed-rank test (scipy's conventions).

use polars::prelude::*;
use spel_grammar::Diagnostic;
use statrs::distribution::{ContinuousCDF, Normal};

use super::super::{Example, OptionSpec, Verb, VerbCtx};
use super::complete_pairs;
use crate::errors::polars_error;
use crate::value::Value;

pub const VERB: Verb = Verb {
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
};

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
