//! `simulate patient_survey`: a stratified two-stage sample of patients, as a national
//! patient survey draws them (docs/simulate.md). Practices are sampled at random within
//! each NHS region, then 25 respondents within each; every respondent's weight is the
//! inverse of their chance of selection. The population's mean wellbeing is known
//! ([`TRUE_MEAN`]), and so is how much practices differ ([`DEFAULT_ICC`] of the
//! variance), which sets the design effect of clustering.

use polars::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::teaching::normal;

/// The regions (strata): each one's number of practices and its mean wellbeing's
/// difference from [`TRUE_MEAN`]. Weighted by their practices the differences sum to 0.
pub const REGIONS: [(&str, usize, f64); 7] = [
    ("North East and Yorkshire", 1000, -1.5),
    ("North West", 1000, -1.0),
    ("Midlands", 1000, -0.5),
    ("East of England", 1000, 0.5),
    ("London", 1000, 1.0),
    ("South East", 1000, 1.5),
    ("South West", 500, 0.0),
];

/// The population's mean wellbeing score (on a 0–100 scale, SD 10 about the regions').
pub const TRUE_MEAN: f64 = 70.0;

/// Respondents sampled in each practice.
pub const RESPONDENTS_PER_PRACTICE: usize = 25;

/// Practices sampled in all, by default.
pub const DEFAULT_PRACTICES: usize = 140;

/// The practices' share of the variance of wellbeing within a region (the intraclass
/// correlation), by default: with 25 respondents a practice, clustering multiplies a
/// mean's variance by about 1 + 24 · 0.05 = 2.2.
pub const DEFAULT_ICC: f64 = 0.05;

/// `practices` sampled across the regions in proportion to their size (at least two in
/// each), 25 respondents in each; `icc` of wellbeing's variance lies between practices.
pub fn patient_survey(practices: usize, seed: u64, icc: f64) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let population: usize = REGIONS.iter().map(|r| r.1).sum();
    let (between, within) = (10.0 * icc.sqrt(), 10.0 * (1.0 - icc).sqrt());
    let (mut region, mut practice, mut in_region, mut list) = (vec![], vec![], vec![], vec![]);
    let (mut respondent, mut weight, mut wellbeing, mut good) = (vec![], vec![], vec![], vec![]);
    let mut number = 0;
    for &(name, size, shift) in &REGIONS {
        let sampled = ((practices * size) as f64 / population as f64)
            .round()
            .clamp(2.0, size as f64) as usize;
        for _ in 0..sampled {
            number += 1;
            let list_size: i64 = rng.random_range(2_000..=16_000);
            let effect = between * normal(&mut rng);
            let w = (size as f64 / sampled as f64)
                * (list_size as f64 / RESPONDENTS_PER_PRACTICE as f64);
            for k in 0..RESPONDENTS_PER_PRACTICE {
                super::stop_if_interrupted(region.len())?;
                let score = TRUE_MEAN + shift + effect + within * normal(&mut rng);
                let chance = 1.0 / (1.0 + (-(1.2 + 0.15 * (score - TRUE_MEAN))).exp());
                region.push(name);
                practice.push(format!("P{number:04}"));
                in_region.push(size as i64);
                list.push(list_size);
                respondent.push(format!("P{number:04}-{:02}", k + 1));
                weight.push((w * 100.0).round() / 100.0);
                wellbeing.push((score * 10.0).round() / 10.0);
                good.push(i32::from(rng.random::<f64>() < chance));
            }
        }
    }
    df!(
        "region" => region,
        "practice" => practice,
        "practices_in_region" => in_region,
        "list_size" => list,
        "respondent" => respondent,
        "weight" => weight,
        "wellbeing" => wellbeing,
        "good_experience" => good,
    )
}
