//! Simulated observational studies for the designs that compare the treated with a
//! chosen comparison (docs/simulate.md):
//!
//! - `link_worker_referral`: people referred to a link worker because they were lonelier
//!   and sicker, with every reason for referral measured (propensity scores).
//! - `pilot_area`: one area that piloted link workers in every practice, and the areas
//!   that did not, whose admissions follow trends of their own (synthetic control).

use polars::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::teaching::normal;

/// `simulate link_worker_referral`: the true effect of referral to a link worker on the
/// wellbeing score (WEMWBS points), the same for everyone (so the effect on the referred
/// and on everyone are equal).
pub const REFERRAL_EFFECT: f64 = 3.0;

/// The log-odds of referral, before `selection` scales the characteristics' part.
fn referral_log_odds(age: f64, ltc: f64, lonely: f64, imd_quintile: f64, selection: f64) -> f64 {
    -2.3 + selection
        * (0.45 * (ltc - 1.5) + 1.6 * lonely + 0.025 * (age - 50.0) + 0.25 * (imd_quintile - 3.0))
}

/// People registered with practices that have a link worker, some referred to one. The
/// lonelier, the sicker, the older and the more deprived are more often referred, and
/// have lower wellbeing whether referred or not, so the referred look no better off
/// than the rest; every reason for referral is a column, so weighting or matching on
/// them recovers [`REFERRAL_EFFECT`]. `selection` scales how strongly the
/// characteristics decide referral: 0 is a randomised trial. The draws are the same
/// whatever `selection` is.
pub fn link_worker_referral(n: usize, seed: u64, selection: f64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let (mut person, mut age, mut female, mut ltc) = (vec![], vec![], vec![], vec![]);
    let (mut lonely, mut imd, mut referred, mut wellbeing) = (vec![], vec![], vec![], vec![]);
    for k in 0..n {
        super::stop_if_interrupted(k)?;
        let years: i32 = rng.random_range(18..=90);
        let woman = rng.random::<f64>() < 0.55;
        // Long-term conditions rise with age: 0 to 5, about 1.5 at 55.
        let older = f64::from(years - 18) / 72.0;
        let conditions = (0..5)
            .filter(|_| rng.random::<f64>() < 0.1 + 0.4 * older)
            .count() as i32;
        let alone = rng.random::<f64>() < 0.3;
        let quintile: i32 = rng.random_range(1..=5);
        let chance = 1.0
            / (1.0
                + (-referral_log_odds(
                    f64::from(years),
                    f64::from(conditions),
                    f64::from(u8::from(alone)),
                    f64::from(quintile),
                    selection,
                ))
                .exp());
        let was_referred = rng.random::<f64>() < chance;
        let score = 50.0
            - 2.0 * f64::from(conditions)
            - 7.0 * f64::from(u8::from(alone))
            - 1.0 * f64::from(quintile - 3)
            - 0.03 * f64::from(years - 50)
            + REFERRAL_EFFECT * f64::from(u8::from(was_referred))
            + 6.0 * normal(&mut rng);
        person.push(k as i64 + 1);
        age.push(years);
        female.push(i32::from(woman));
        ltc.push(conditions);
        lonely.push(i32::from(alone));
        imd.push(quintile);
        referred.push(i32::from(was_referred));
        // WEMWBS is a whole number from 14 to 70.
        wellbeing.push(score.round().clamp(14.0, 70.0) as i32);
    }
    df!(
        "person" => person,
        "age" => age,
        "female" => female,
        "ltc" => ltc,
        "lonely" => lonely,
        "imd_quintile" => imd,
        "referred" => referred,
        "wellbeing" => wellbeing,
    )
}

/// `simulate pilot_area`: the true effect of the pilot on emergency admissions (per
/// 1,000 people a year), in every year from [`PILOT_START`].
pub const PILOT_EFFECT: f64 = -4.0;
/// The first year of the pilot, and the years of the panel.
pub const PILOT_START: i32 = 2019;
const PILOT_YEARS: std::ops::RangeInclusive<i32> = 2004..=2023;
/// The pilot area is a mixture of the donors with the 2nd, 4th and 6th steepest trends,
/// with these shares: steep, but inside the range of the others.
const PILOT_MIX: [(usize, f64); 3] = [(1, 0.5), (3, 0.3), (5, 0.2)];

/// `areas` areas over 2004–2023: "Pilot", which put a link worker in every practice from
/// [`PILOT_START`], and the others ("Area 01", ...). Each area's admissions follow a
/// common rise, a trend of its own (growing with its share of older people) and a common
/// shock (weighted by its deprivation): a factor model. The pilot area is a mixture of
/// three areas with steep trends ([`PILOT_MIX`]), so a weighted average of the others
/// can follow it and a plain comparison with all of them cannot.
pub fn pilot_area(areas: usize, seed: u64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let donors = areas.saturating_sub(1).max(PILOT_MIX[2].0 + 1);
    // Each donor's loadings: ageing (0 to 1) and deprivation (0 to 1).
    let mut loadings: Vec<(f64, f64)> = (0..donors)
        .map(|_| (rng.random::<f64>(), rng.random::<f64>()))
        .collect();
    let steepest = {
        let mut order: Vec<usize> = (0..donors).collect();
        order.sort_by(|&a, &b| loadings[b].0.total_cmp(&loadings[a].0));
        order
    };
    let pilot = PILOT_MIX.iter().fold((0.0, 0.0), |(a, d), &(rank, share)| {
        let (ageing, deprivation) = loadings[steepest[rank]];
        (a + share * ageing, d + share * deprivation)
    });
    loadings.insert(0, pilot);
    // The common shock: a random walk, one step a year.
    let mut shock = 0.0;
    let shocks: Vec<f64> = PILOT_YEARS
        .map(|_| {
            shock += normal(&mut rng);
            shock
        })
        .collect();
    let (mut area, mut year, mut admissions) = (vec![], vec![], vec![]);
    let (mut over65, mut imd, mut is_pilot, mut treated) = (vec![], vec![], vec![], vec![]);
    for (i, &(ageing, deprivation)) in loadings.iter().enumerate() {
        super::stop_if_interrupted(i)?;
        let name = if i == 0 {
            "Pilot".to_string()
        } else {
            format!("Area {i:02}")
        };
        let score = 12.0 + 25.0 * deprivation + normal(&mut rng);
        for (t, calendar) in PILOT_YEARS.enumerate() {
            let since = f64::from(calendar - PILOT_YEARS.start());
            let piloting = i == 0 && calendar >= PILOT_START;
            let rate = 95.0
                + 1.0 * since
                + 15.0 * ageing
                + 2.0 * ageing * since
                + 3.0 * deprivation * shocks[t]
                + if piloting { PILOT_EFFECT } else { 0.0 }
                + 0.5 * normal(&mut rng);
            area.push(name.clone());
            year.push(calendar);
            admissions.push((rate * 10.0).round() / 10.0);
            over65.push(
                ((14.0 + 10.0 * ageing + 0.15 * since + 0.3 * normal(&mut rng)) * 10.0).round()
                    / 10.0,
            );
            imd.push((score * 10.0).round() / 10.0);
            is_pilot.push(i32::from(i == 0));
            treated.push(i32::from(piloting));
        }
    }
    df!(
        "area" => area,
        "year" => year,
        "admissions" => admissions,
        "over65" => over65,
        "imd" => imd,
        "pilot" => is_pilot,
        "treated" => treated,
    )
}
