//! `compare`: two measurements or two groups. Paired: t-test, Wilcoxon signed-rank
//! and, for counts, the rate ratio; unpaired: Welch's t-test and Mann–Whitney U, with
//! scipy's conventions.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::Connective;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use super::super::{Example, OptionKind, OptionSpec, Verb, VerbCtx};
use super::complete_pairs;
use crate::errors::polars_error;
use crate::value::Value;

pub const VERB: Verb = Verb {
    name: "compare",
    signature: "compare FIRST, SECOND [, paired = true] | compare OUTCOME by GROUP",
    summary: "Compare two measurements (paired) or two groups: t-tests, rank tests, rate ratios.",
    description: "Differences are SECOND − FIRST (after − before). Paired (`paired = true`), over \
                  rows where both are present: the paired t-test with the mean difference and its \
                  interval; the Wilcoxon signed-rank test (zero differences dropped, no continuity \
                  correction, p-value exact without ties or zeros for n ≤ 50, a permutation over \
                  signs for up to 13 pairs otherwise, normal with a tie correction beyond); and, \
                  when both columns are counts, the rate ratio ΣSECOND/ΣFIRST of a Poisson model \
                  with a unit effect, SE clustered by unit. Unpaired (two columns, or OUTCOME \
                  by a GROUP with two levels, the second level against the first): Welch's \
                  t-test and the Mann–Whitney U test of SECOND against FIRST (continuity \
                  correction; exact p-value when a group has 8 or fewer and there are no ties).",
    connectives: &[Connective::By],
    options: &[OptionSpec {
        name: "paired",
        values: "true or false",
        kind: OptionKind::Bool,
        summary: "The columns are two measurements of the same units.",
    }],
    named_arguments: false,
    examples: &[
        Example {
            summary: "GP visits before and after seeing a link worker",
            code: "table before = [3, 5, 2, 8, 6, 4, 7, 3], after = [2, 4, 2, 5, 6, 3, 4, 1]\n  |> compare before, after, paired = true",
            output: r#"shape: (3, 8)
┌──────────────────────┬─────┬───────────┬──────┬─────────────┬──────────┬──────────┬───────────┐
│ test                 ┆ n   ┆ statistic ┆ df   ┆ p_value     ┆ estimate ┆ conf_low ┆ conf_high │
│ ---                  ┆ --- ┆ ---       ┆ ---  ┆ ---         ┆ ---      ┆ ---      ┆ ---       │
│ str                  ┆ i64 ┆ f64       ┆ f64  ┆ f64         ┆ f64      ┆ f64      ┆ f64       │
╞══════════════════════╪═════╪═══════════╪══════╪═════════════╪══════════╪══════════╪═══════════╡
│ paired t             ┆   8 ┆  -3.27437 ┆  7.0 ┆   0.0135921 ┆   -1.375 ┆ -2.36797 ┆ -0.382029 │
│ Wilcoxon signed-rank ┆   6 ┆       0.0 ┆ null ┆     0.03125 ┆     null ┆     null ┆      null │
│ rate ratio           ┆   8 ┆  -3.44128 ┆ null ┆ 0.000578962 ┆ 0.710526 ┆ 0.584855 ┆  0.863201 │
└──────────────────────┴─────┴───────────┴──────┴─────────────┴──────────┴──────────┴───────────┘"#,
        },
        Example {
            summary: "Wellbeing scores in two groups",
            code: "table group = [\"usual care\", \"usual care\", \"usual care\", \"usual care\", \"link worker\", \"link worker\", \"link worker\", \"link worker\"],\n      score = [21.0, 24.5, 19.0, 22.5, 25.0, 27.5, 23.0, 26.0]\n  |> compare score by group",
            output: r#"shape: (2, 8)
┌────────────────┬─────┬───────────┬─────────┬───────────┬──────────┬──────────┬───────────┐
│ test           ┆ n   ┆ statistic ┆ df      ┆ p_value   ┆ estimate ┆ conf_low ┆ conf_high │
│ ---            ┆ --- ┆ ---       ┆ ---     ┆ ---       ┆ ---      ┆ ---      ┆ ---       │
│ str            ┆ i64 ┆ f64       ┆ f64     ┆ f64       ┆ f64      ┆ f64      ┆ f64       │
╞════════════════╪═════╪═══════════╪═════════╪═══════════╪══════════╪══════════╪═══════════╡
│ Welch t        ┆   8 ┆  -2.41947 ┆ 5.75462 ┆ 0.0536455 ┆   -3.625 ┆ -7.32935 ┆ 0.0793466 │
│ Mann–Whitney U ┆   8 ┆       1.0 ┆    null ┆ 0.0571429 ┆     null ┆     null ┆      null │
└────────────────┴─────┴───────────┴─────────┴───────────┴──────────┴──────────┴───────────┘"#,
        },
    ],
    run: compare,
};

/// The rows of a comparison's table.
struct Test {
    name: &'static str,
    n: usize,
    statistic: f64,
    df: Option<f64>,
    p_value: f64,
    estimate: Option<f64>,
    interval: Option<(f64, f64)>,
}

fn compare(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    let paired = match ctx.option_value("paired")? {
        Some((Value::Bool(b), _)) => b,
        Some((_, span)) => {
            return Err(
                Diagnostic::new("spel::compare::paired", "`paired` is true or false").at(span),
            );
        }
        None => false,
    };
    let by = ctx.clause_args(Connective::By);
    let tests = match (args.as_slice(), by.as_slice()) {
        ([outcome], [group]) if !paired => {
            let (Some(outcome_ast), Some(group_ast)) = (outcome.as_expr(), group.as_expr()) else {
                return Err(ctx.usage_error("`compare` takes a column and `by` a group column"));
            };
            let (y, _) = scope.checked(outcome_ast)?;
            let (g, _) = scope.checked(group_ast)?;
            let df = ctx.env.work().collect(
                lf.select([
                    y.cast(DataType::Float64).alias("y"),
                    g.cast(DataType::String).alias("g"),
                ])
                .drop_nulls(None),
                "comparing groups",
                ctx.call.span,
            )?;
            let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
            let ys = df.column("y").map_err(fail)?.f64().map_err(fail)?.clone();
            let gs = df.column("g").map_err(fail)?.str().map_err(fail)?.clone();
            let mut levels: Vec<&str> = gs.iter().flatten().collect();
            levels.sort_unstable();
            levels.dedup();
            let [first, second] = levels.as_slice() else {
                return Err(Diagnostic::new(
                    "spel::compare::groups",
                    format!(
                        "`compare ... by` needs a group with two levels, and this one has {}",
                        levels.len()
                    ),
                )
                .at(group_ast.span)
                .with_note(format!(
                    "its levels are {}",
                    levels
                        .iter()
                        .take(10)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .with_help("keep two groups with `filter` first"));
            };
            let values = |level: &str| -> Vec<f64> {
                ys.iter()
                    .zip(gs.iter())
                    .filter(|(_, g)| *g == Some(level))
                    .filter_map(|(y, _)| y)
                    .collect()
            };
            unpaired(ctx, &values(first), &values(second))?
        }
        ([first, second], []) => {
            let (Some(first_ast), Some(second_ast)) = (first.as_expr(), second.as_expr()) else {
                return Err(ctx.usage_error("`compare` takes two columns"));
            };
            let (a, _) = scope.checked(first_ast)?;
            let (b, _) = scope.checked(second_ast)?;
            if paired {
                let (firsts, seconds) = complete_pairs(ctx, lf, a, b, false, "comparing")?;
                paired_tests(ctx, &firsts, &seconds)?
            } else {
                let column = |e: Expr| -> Result<Vec<f64>, Diagnostic> {
                    let df = ctx.env.work().collect(
                        lf.clone()
                            .select([e.cast(DataType::Float64).alias("x")])
                            .drop_nulls(None),
                        "comparing",
                        ctx.call.span,
                    )?;
                    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);
                    Ok(df
                        .column("x")
                        .map_err(fail)?
                        .f64()
                        .map_err(fail)?
                        .iter()
                        .flatten()
                        .collect())
                };
                unpaired(ctx, &column(a)?, &column(b)?)?
            }
        }
        _ => {
            return Err(ctx.usage_error(
                "`compare` takes two columns (`compare before, after, paired = true`) or a column by a group (`compare score by group`)",
            ));
        }
    };
    let df = df!(
        "test" => tests.iter().map(|t| t.name).collect::<Vec<_>>(),
        "n" => tests.iter().map(|t| t.n as i64).collect::<Vec<_>>(),
        "statistic" => tests.iter().map(|t| t.statistic).collect::<Vec<_>>(),
        "df" => tests.iter().map(|t| t.df).collect::<Vec<_>>(),
        "p_value" => tests.iter().map(|t| t.p_value).collect::<Vec<_>>(),
        "estimate" => tests.iter().map(|t| t.estimate).collect::<Vec<_>>(),
        "conf_low" => tests.iter().map(|t| t.interval.map(|i| i.0)).collect::<Vec<_>>(),
        "conf_high" => tests.iter().map(|t| t.interval.map(|i| i.1)).collect::<Vec<_>>(),
    )
    .map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(df.lazy()))
}

fn students_t(df: f64) -> Result<StudentsT, Diagnostic> {
    StudentsT::new(0.0, 1.0, df).map_err(|_| Diagnostic::internal("t distribution"))
}

fn paired_tests(ctx: &VerbCtx, firsts: &[f64], seconds: &[f64]) -> Result<Vec<Test>, Diagnostic> {
    let d: Vec<f64> = firsts.iter().zip(seconds).map(|(a, b)| b - a).collect();
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
    let student = students_t(n - 1.0)?;
    let crit = student.inverse_cdf(0.975);
    let (w, w_p, w_n) = wilcoxon(&d);
    let mut tests = vec![
        Test {
            name: "paired t",
            n: d.len(),
            statistic: t,
            df: Some(n - 1.0),
            p_value: 2.0 * student.cdf(-t.abs()),
            estimate: Some(mean),
            interval: Some((mean - crit * se, mean + crit * se)),
        },
        Test {
            name: "Wilcoxon signed-rank",
            n: w_n,
            statistic: w,
            df: None,
            p_value: w_p,
            estimate: None,
            interval: None,
        },
    ];
    let is_count = |x: &f64| *x >= 0.0 && x.fract() == 0.0;
    if firsts.iter().all(is_count) && seconds.iter().all(is_count) {
        tests.extend(rate_ratio(firsts, seconds));
    }
    Ok(tests)
}

/// ΣSECOND/ΣFIRST: the maximum-likelihood rate ratio of a Poisson model with a unit
/// effect (conditional Poisson), SE of its log clustered by unit with G/(G − 1).
fn rate_ratio(firsts: &[f64], seconds: &[f64]) -> Option<Test> {
    let (total_first, total_second) = (firsts.iter().sum::<f64>(), seconds.iter().sum::<f64>());
    if total_first <= 0.0 || total_second <= 0.0 {
        return None;
    }
    let g = firsts.len() as f64;
    let meat: f64 = firsts
        .iter()
        .zip(seconds)
        .map(|(a, b)| (b / total_second - a / total_first).powi(2))
        .sum();
    let se = (g / (g - 1.0) * meat).sqrt();
    let log_ratio = (total_second / total_first).ln();
    let z = Normal::standard().inverse_cdf(0.975);
    Some(Test {
        name: "rate ratio",
        n: firsts.len(),
        statistic: log_ratio / se,
        df: None,
        p_value: 2.0 * Normal::standard().cdf(-(log_ratio / se).abs()),
        estimate: Some(log_ratio.exp()),
        interval: Some(((log_ratio - z * se).exp(), (log_ratio + z * se).exp())),
    })
}

fn unpaired(ctx: &VerbCtx, firsts: &[f64], seconds: &[f64]) -> Result<Vec<Test>, Diagnostic> {
    if firsts.len() < 2 || seconds.len() < 2 {
        return Err(Diagnostic::new(
            "spel::compare::groups",
            "each group needs at least two values to compare",
        )
        .at(ctx.call.span));
    }
    let moments = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let variance = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (n, mean, variance)
    };
    let (n1, m1, v1) = moments(firsts);
    let (n2, m2, v2) = moments(seconds);
    let (q1, q2) = (v1 / n1, v2 / n2);
    let se = (q1 + q2).sqrt();
    // Welch–Satterthwaite degrees of freedom.
    let df = (q1 + q2).powi(2) / (q1 * q1 / (n1 - 1.0) + q2 * q2 / (n2 - 1.0));
    let difference = m2 - m1;
    let t = difference / se;
    let student = students_t(df)?;
    let crit = student.inverse_cdf(0.975);
    let (u, u_p) = mann_whitney(seconds, firsts);
    Ok(vec![
        Test {
            name: "Welch t",
            n: firsts.len() + seconds.len(),
            statistic: t,
            df: Some(df),
            p_value: 2.0 * student.cdf(-t.abs()),
            estimate: Some(difference),
            interval: Some((difference - crit * se, difference + crit * se)),
        },
        Test {
            name: "Mann–Whitney U",
            n: firsts.len() + seconds.len(),
            statistic: u,
            df: None,
            p_value: u_p,
            estimate: None,
            interval: None,
        },
    ])
}

/// The Mann–Whitney U of `x` against `y` as scipy's `mannwhitneyu` with its defaults:
/// two-sided, exact when either sample has 8 or fewer and there are no ties, otherwise
/// normal with the tie and continuity corrections. Returns (U of x, p-value).
pub fn mann_whitney(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (n1, n2) = (x.len(), y.len());
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut rank_sum, mut tie_term) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += all[i..=j].iter().filter(|(_, in_x)| *in_x).count() as f64 * average;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let u1 = rank_sum - (n1 * (n1 + 1)) as f64 / 2.0;
    let u = u1.max((n1 * n2) as f64 - u1);
    let p = if (n1 <= 8 || n2 <= 8) && tie_term == 0.0 {
        // Exact: the number of arrangements with each U are the coefficients of the
        // Gaussian binomial [n1 + n2 choose s]_q = Π_i (1 − q^(l+i)) / (1 − q^i), with
        // s the smaller sample and l the larger.
        let (small, large) = (n1.min(n2), n1.max(n2));
        let mut ways = vec![0.0_f64; n1 * n2 + 1];
        ways[0] = 1.0;
        for i in 1..=small {
            for k in (large + i..ways.len()).rev() {
                ways[k] -= ways[k - large - i];
            }
            for k in i..ways.len() {
                ways[k] += ways[k - i];
            }
        }
        let total: f64 = ways.iter().sum();
        let at_least: f64 = ways[u.round() as usize..].iter().sum();
        2.0 * at_least / total
    } else {
        let (a, b, nf) = (n1 as f64, n2 as f64, n as f64);
        let sd = (a * b / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)))).sqrt();
        let z = (u - a * b / 2.0 - 0.5) / sd;
        2.0 * Normal::standard().cdf(-z)
    };
    (u1, p.clamp(0.0, 1.0))
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
