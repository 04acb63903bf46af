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
//! - `link_worker_sessions`: sessions chosen by people whose unmeasured motivation also
//!   raises their wellbeing, with two instruments (instrumental variables).

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

pub(super) fn normal(rng: &mut Pcg64) -> f64 {
    StandardNormal.sample(rng)
}

/// `pretrend`: PCNs that ever adopt drift by this many points a quarter more than those
/// that never do, in every quarter: the design's parallel-trends assumption broken (0 keeps
/// it). The draws are the same whatever `pretrend` is.
pub fn rollout(pcns: usize, seed: u64, pretrend: f64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let start = NaiveDate::from_ymd_opt(2019, 7, 1).unwrap_or_default();
    let (mut pcn, mut quarter, mut quarter_start, mut first, mut treated, mut score) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut true_effect = Vec::new();
    for p in 0..pcns {
        super::stop_if_interrupted(p)?;
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
        let drift = if g > 0 { pretrend } else { 0.0 };
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
                ((baseline
                    + 0.3 * f64::from(t)
                    + drift * f64::from(t)
                    + effect
                    + normal(&mut rng))
                    * 100.0)
                    .round()
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

/// How much of a shock at the break is left a month later (`referrals_monthly, shock`).
pub const SHOCK_PERSISTENCE: f64 = 0.8;

/// `shock`: something else happened in the month the funding began — `shock` extra
/// referrals that month, fading by a fifth each month after — which a single series
/// cannot tell from the funding's own jump (0 leaves it out). The draws are the same
/// whatever it is.
pub fn referrals_monthly(seed: u64, shock: f64) -> PolarsResult<DataFrame> {
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
        let surge = if after {
            shock * SHOCK_PERSISTENCE.powf(since)
        } else {
            0.0
        };
        let level =
            200.0 + 1.0 * t + season + if after { 20.0 + 1.5 * since } else { 0.0 } + surge + noise;
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
pub const RECENT_HIGH_USE: f64 = 1.3;

/// `comparison_spike`: how much higher than usual the comparison group's use was in the
/// six months before (`RECENT_HIGH_USE` when it was matched as well as the referred
/// group's). Below it, the comparison group regresses less to its mean than the referred
/// and the before–after contrast credits the link worker with the difference. The people,
/// their usual rates and all the referred group's visits are the same whatever it is:
/// the comparison group's visits before are thinned (or topped up) from a second stream.
pub fn gp_visits(people: usize, seed: u64, comparison_spike: f64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut respike = Pcg64::seed_from_u64(seed ^ 0x5eed_5eed_5eed_5eed);
    let usual = Gamma::new(2.0, 2.0).map_err(|e| polars_err!(ComputeError: "{e}"))?;
    let (mut id, mut group, mut age, mut imd, mut before, mut after) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..people {
        super::stop_if_interrupted(i)?;
        let referred = i % 2 == 0;
        let rate: f64 = usual.sample(&mut rng);
        let draw = |mean: f64, rng: &mut Pcg64| -> f64 {
            Poisson::new(mean.max(1e-9)).map_or(0.0, |d| d.sample(rng))
        };
        let mut b = draw(rate * RECENT_HIGH_USE, &mut rng);
        if !referred && comparison_spike != RECENT_HIGH_USE {
            b = respiked(b, rate, comparison_spike, &mut respike);
        }
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

/// Visits `before`, drawn as Poisson(rate·RECENT_HIGH_USE), turned into a draw of
/// Poisson(rate·spike): each visit kept with probability spike / RECENT_HIGH_USE
/// (thinning a Poisson count gives a Poisson count), or Poisson(rate·(spike −
/// RECENT_HIGH_USE)) more visits added.
fn respiked(before: f64, rate: f64, spike: f64, rng: &mut Pcg64) -> f64 {
    if spike < RECENT_HIGH_USE {
        let keep = spike / RECENT_HIGH_USE;
        (0..before as u64)
            .filter(|_| rng.random::<f64>() < keep)
            .count() as f64
    } else {
        let extra = rate * (spike - RECENT_HIGH_USE);
        before + Poisson::new(extra.max(1e-9)).map_or(0.0, |d| d.sample(rng))
    }
}

/// Referral reasons and their shares (Bu et al. report mental health first).
pub const REASONS: [(&str, f64); 7] = [
    ("Mental health", 0.31),
    ("Loneliness or isolation", 0.17),
    ("Money, debt and benefits", 0.14),
    ("Housing", 0.09),
    ("Physical activity and lifestyle", 0.11),
    ("Long-term condition support", 0.10),
    ("Other", 0.08),
];
/// Referrals in Bu et al.'s national sample.
pub const REFERRALS: usize = 160_128;
/// True odds ratios for receiving an intervention (among referrals with a link-worker
/// contact): non-medical route, age 65 and over, and IMD quintiles 2–5 against 1.
pub const INTERVENTION_OR_NON_MEDICAL: f64 = 1.3;
pub const INTERVENTION_OR_AGE_65: f64 = 1.2;
pub const INTERVENTION_OR_IMD: [f64; 4] = [1.05, 1.1, 1.15, 1.2];
/// True rate ratios for the number of link-worker contacts (negative binomial, θ = 3).
pub const CONTACTS_IRR_NON_MEDICAL: f64 = 1.15;
pub const CONTACTS_IRR_AGE_65: f64 = 1.1;
pub const CONTACTS_IRR_MOST_DEPRIVED: f64 = 1.2;
pub const CONTACTS_THETA: f64 = 3.0;

pub fn referrals(n: usize, seed: u64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let age_bands = ["18-34", "35-49", "50-64", "65-79", "80+"];
    let age_shares = [0.22, 0.24, 0.24, 0.2, 0.1];
    let ethnicities = ["Asian", "Black", "Mixed", "Other", "White"];
    let ethnic_shares = [0.08, 0.04, 0.02, 0.02, 0.84];
    // More referrals come from more deprived areas.
    let imd_shares = [0.26, 0.23, 0.2, 0.17, 0.14];
    let reason_shares: Vec<f64> = REASONS.iter().map(|r| r.1).collect();
    let columns = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut route, mut reason, mut age, mut sex, mut ethnicity, mut imd) = columns;
    let (mut contacts, mut intervention) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for k in 0..n {
        super::stop_if_interrupted(k)?;
        let non_medical = rng.random::<f64>() < 0.35;
        let a = super::gpps::pick(&mut rng, &age_shares);
        let old = a >= 3;
        let q = super::gpps::pick(&mut rng, &imd_shares);
        let female = rng.random::<f64>() < 0.62;
        let e = super::gpps::pick(&mut rng, &ethnic_shares);
        let r = super::gpps::pick(&mut rng, &reason_shares);
        // Contacts: negative binomial as a Poisson–gamma mixture with mean mu.
        let mu =
            3.2 * if non_medical {
                CONTACTS_IRR_NON_MEDICAL
            } else {
                1.0
            } * if old { CONTACTS_IRR_AGE_65 } else { 1.0 }
                * if q == 0 {
                    CONTACTS_IRR_MOST_DEPRIVED
                } else {
                    1.0
                };
        let frailty =
            Gamma::new(CONTACTS_THETA, 1.0 / CONTACTS_THETA).map_or(1.0, |g| g.sample(&mut rng));
        let count = Poisson::new((mu * frailty).max(1e-9)).map_or(0.0, |p| p.sample(&mut rng));
        let log_odds = -0.55
            + if non_medical {
                INTERVENTION_OR_NON_MEDICAL.ln()
            } else {
                0.0
            }
            + if old {
                INTERVENTION_OR_AGE_65.ln()
            } else {
                0.0
            }
            + if q > 0 {
                INTERVENTION_OR_IMD[q - 1].ln()
            } else {
                0.0
            };
        let helped = count > 0.0 && rng.random::<f64>() < 1.0 / (1.0 + (-log_odds).exp());
        route.push(if non_medical {
            "non-medical"
        } else {
            "medical"
        });
        reason.push(REASONS[r].0);
        age.push(age_bands[a]);
        sex.push(if female { "female" } else { "male" });
        ethnicity.push(ethnicities[e]);
        imd.push(q as i32 + 1);
        contacts.push(count as i32);
        intervention.push(i32::from(helped));
    }
    df!(
        "route" => route,
        "reason" => reason,
        "age_band" => age,
        "sex" => sex,
        "ethnicity" => ethnicity,
        "imd_quintile" => imd,
        "lw_contacts" => contacts,
        "intervention" => intervention,
    )
}

/// `simulate link_worker_sessions`: the true effect of one more link-worker session on
/// the wellbeing score (WEMWBS points).
pub const SESSION_EFFECT: f64 = 0.8;

/// People referred to social prescribing, who choose how many link-worker sessions to
/// attend. Unmeasured motivation (scaled by `confounding`; 0 removes it) raises both the
/// sessions and the wellbeing score at follow-up, so OLS of wellbeing on sessions
/// overstates [`SESSION_EFFECT`]. Whether the person's practice had a link worker in
/// post (`practice_lw`) and the distance to the link worker's base (`distance_km`)
/// move the sessions but not wellbeing otherwise: instruments. The draws are the same
/// whatever `confounding` is.
pub fn link_worker_sessions(n: usize, seed: u64, confounding: f64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let (mut person, mut age, mut practice_lw, mut distance) = (vec![], vec![], vec![], vec![]);
    let (mut sessions, mut wellbeing) = (vec![], vec![]);
    for k in 0..n {
        super::stop_if_interrupted(k)?;
        let years = rng.random_range(18..=85);
        let motivation = normal(&mut rng) * confounding;
        let in_post = rng.random::<f64>() < 0.5;
        let km = (0.8 + 0.6 * normal(&mut rng)).exp();
        let attended = (1.5 + 3.0 * f64::from(u8::from(in_post)) - 0.4 * km
            + 1.5 * motivation
            + 1.2 * normal(&mut rng))
        .round()
        .max(0.0);
        let score = 40.0 + SESSION_EFFECT * attended + 2.5 * motivation
            - 0.05 * f64::from(years - 50)
            + 5.0 * normal(&mut rng);
        person.push(k as i64 + 1);
        age.push(years);
        practice_lw.push(i32::from(in_post));
        distance.push((km * 10.0).round() / 10.0);
        sessions.push(attended as i32);
        wellbeing.push((score * 10.0).round() / 10.0);
    }
    df!(
        "person" => person,
        "age" => age,
        "practice_lw" => practice_lw,
        "distance_km" => distance,
        "sessions" => sessions,
        "wellbeing" => wellbeing,
    )
}

/// The true effect of a link worker on a practice's share of patients confident in
/// managing their long-term conditions (percentage points), in [`funding_cutoff`].
pub const FUNDING_EFFECT: f64 = 2.0;

/// The IMD score from which practices were funded early (in [`funding_cutoff`]).
pub const FUNDING_CUTOFF: f64 = 30.0;

/// Practices funded for a link worker a year early when their deprivation (IMD) score
/// was [`FUNDING_CUTOFF`] or more: a regression discontinuity. Confidence falls with
/// deprivation, smoothly and curved, so practices with a link worker (the deprived)
/// look worse than those without; at the cutoff, the jump is the effect. `compliance`
/// is the jump in the chance of having a link worker: 1, everyone funded has one and
/// no one else (sharp); below 1, a share of funded practices had none and of the others
/// had one anyway (fuzzy), and the jump in confidence shrinks to `compliance` times
/// [`FUNDING_EFFECT`]. The draws are the same whatever `compliance` is.
pub fn funding_cutoff(n: usize, seed: u64, compliance: f64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let (mut practice, mut imd, mut funded, mut link_worker, mut confidence) =
        (vec![], vec![], vec![], vec![], vec![]);
    for k in 0..n {
        super::stop_if_interrupted(k)?;
        // England's practices score from about 2 to 75, mean 23 and sd 12.
        let score = loop {
            let draw = 23.0 + 12.0 * normal(&mut rng);
            if (2.0..=75.0).contains(&draw) {
                break (draw * 1000.0).round() / 1000.0;
            }
        };
        let eligible = score >= FUNDING_CUTOFF;
        let chance = if eligible {
            (1.0 + compliance) / 2.0
        } else {
            (1.0 - compliance) / 2.0
        };
        let has = rng.random::<f64>() < chance;
        let distance = score - FUNDING_CUTOFF;
        let share = 68.0 - 0.2 * distance - 0.003 * distance * distance
            + FUNDING_EFFECT * f64::from(u8::from(has))
            + 3.0 * normal(&mut rng);
        practice.push(k as i64 + 1);
        imd.push(score);
        funded.push(i32::from(eligible));
        link_worker.push(i32::from(has));
        confidence.push((share.clamp(0.0, 100.0) * 10.0).round() / 10.0);
    }
    df!(
        "practice" => practice,
        "imd_score" => imd,
        "funded" => funded,
        "link_worker" => link_worker,
        "confidence" => confidence,
    )
}
