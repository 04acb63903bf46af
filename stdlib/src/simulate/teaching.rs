//! Small simulated studies for teaching the evaluation designs, each with its true
//! effects written down (docs/simulate.md) so a course can compare estimates with them:
//!
//! - `rollout`: PCNs taking on link workers in different quarters (staggered adoption)
//!   with effects that grow with time since adoption — where TWFE goes wrong.
//! - `referrals_monthly`: a monthly series of social-prescribing referrals with winter
//!   peaks and a change when the funding began (interrupted time series).
//! - `gp_visits`: GP visits in the six months before and after, for people referred to a
//!   link worker and a comparison group matched on recent high use (regression to the
//!   mean).

use chrono::{Months, NaiveDate};
use polars::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Gamma, Poisson, StandardNormal};
use rand_pcg::Pcg64;

/// Quarters in the roll-out panel, and the adoption cohorts with their shares (0 is
/// never treated).
pub const ROLLOUT_QUARTERS: usize = 12;
const COHORTS: [(u32, f64); 5] = [(0, 0.2), (3, 0.2), (5, 0.25), (7, 0.2), (9, 0.15)];

/// The true effect on the experience score `e` quarters after adoption in a cohort
/// first treated in quarter `g`: a jump, growth each quarter, larger in early cohorts.
pub fn rollout_effect(g: u32, e: u32) -> f64 {
    let early = if g <= 3 { 1.0 } else { 0.0 };
    1.0 + 0.5 * f64::from(e) + early
}

fn normal(rng: &mut Pcg64) -> f64 {
    StandardNormal.sample(rng)
}

pub fn rollout(pcns: usize, seed: u64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let start = NaiveDate::from_ymd_opt(2019, 7, 1).unwrap_or_default();
    let (mut pcn, mut quarter, mut quarter_start, mut first, mut treated, mut score) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut true_effect = Vec::new();
    for p in 0..pcns {
        let u: f64 = rng.random();
        let mut total = 0.0;
        let mut g = 0;
        for (cohort, share) in COHORTS {
            total += share;
            if u < total {
                g = cohort;
                break;
            }
        }
        // Earlier adopters start from a higher baseline: levels differ, trends do not.
        let baseline = 70.0 + 2.0 * normal(&mut rng) + if g == 3 { 2.0 } else { 0.0 };
        for t in 1..=ROLLOUT_QUARTERS as u32 {
            let on = g > 0 && t >= g;
            let effect = if on { rollout_effect(g, t - g) } else { 0.0 };
            pcn.push(format!("P{:04}", p + 1));
            quarter.push(t as i32);
            quarter_start.push(start + Months::new(3 * (t - 1)));
            first.push(g as i32);
            treated.push(i32::from(on));
            true_effect.push(effect);
            score.push(
                ((baseline + 0.3 * f64::from(t) + effect + normal(&mut rng)) * 100.0).round()
                    / 100.0,
            );
        }
    }
    df!(
        "pcn" => pcn,
        "quarter" => quarter,
        "quarter_start" => quarter_start,
        "first" => first,
        "treated" => treated,
        "experience" => score,
        "true_effect" => true_effect,
    )
}

/// The first month of the funded service in the monthly series.
pub const FUNDING_MONTH: (i32, u32) = (2019, 7);

pub fn referrals_monthly(seed: u64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let start = NaiveDate::from_ymd_opt(2017, 1, 1).unwrap_or_default();
    let funding = NaiveDate::from_ymd_opt(FUNDING_MONTH.0, FUNDING_MONTH.1, 1).unwrap_or_default();
    let (mut month, mut index, mut calendar, mut referrals) = (vec![], vec![], vec![], vec![]);
    let mut noise = 0.0;
    for m in 0..72u32 {
        let date = start + Months::new(m);
        let t = f64::from(m + 1);
        let calendar_month = (m % 12) + 1;
        // Winter peak: +12 in December–February, +6 in November and March.
        let season = match calendar_month {
            12 | 1 | 2 => 12.0,
            11 | 3 => 6.0,
            _ => 0.0,
        };
        let after = date >= funding;
        let since = if after { f64::from(m) - 30.0 } else { 0.0 };
        // AR(1) noise, as monthly counts wander.
        noise = 0.4 * noise + 4.0 * normal(&mut rng);
        let level = 200.0 + 1.0 * t + season + if after { 20.0 + 1.5 * since } else { 0.0 } + noise;
        month.push(date);
        index.push((m + 1) as i32);
        calendar.push(calendar_month as i32);
        referrals.push(level.round());
    }
    df!(
        "month" => month,
        "t" => index,
        "calendar_month" => calendar,
        "referrals_per_100k" => referrals,
    )
}

/// True rate ratio of GP visits after vs before among the referred, relative to what
/// they would have had: the link worker's effect.
pub const GP_VISITS_EFFECT: f64 = 0.9;
/// How much higher than usual use was in the six months before referral (and before
/// matching, for the comparison group): the regression to the mean.
const RECENT_HIGH_USE: f64 = 1.3;

pub fn gp_visits(people: usize, seed: u64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let usual = Gamma::new(2.0, 2.0).map_err(|e| polars_err!(ComputeError: "{e}"))?;
    let (mut id, mut group, mut age, mut imd, mut before, mut after) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..people {
        let referred = i % 2 == 0;
        let rate: f64 = usual.sample(&mut rng);
        let draw = |mean: f64, rng: &mut Pcg64| -> f64 {
            Poisson::new(mean.max(1e-9)).map_or(0.0, |d| d.sample(rng))
        };
        let b = draw(rate * RECENT_HIGH_USE, &mut rng);
        let a = draw(
            rate * if referred { GP_VISITS_EFFECT } else { 1.0 },
            &mut rng,
        );
        id.push((i + 1) as i32);
        group.push(if referred { "referred" } else { "comparison" });
        age.push(18 + rng.random_range(0..70));
        imd.push(1 + rng.random_range(0..5));
        before.push(b as i32);
        after.push(a as i32);
    }
    df!(
        "person" => id,
        "group" => group,
        "age" => age,
        "imd_quintile" => imd,
        "visits_before" => before,
        "visits_after" => after,
    )
}
