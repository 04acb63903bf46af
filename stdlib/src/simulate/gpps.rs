//! A synthetic GP Patient Survey shaped like Wilding et al.'s study of social
//! prescribing link workers: waves 2018–2023, respondents in practices, PCNs, ICBs and
//! regions, link-worker FTE per 50,000 patients by PCN and year, and five outcomes
//! with known odds ratios per unit of `lw_fte_50k`.
//!
//! PCNs differ in a baseline quality that is worse where deprivation is higher and
//! that also made them recruit link workers faster: a pooled model is confounded, and
//! PCN fixed effects recover the truth. One PCG64 stream per seed, drawn in a fixed
//! order, gives the same table on every platform.

use polars::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

/// The respondents of the real six waves the study used.
pub const DEFAULT_ROWS: usize = 4_132_676;
pub const YEARS: [i32; 6] = [2018, 2019, 2020, 2021, 2022, 2023];
pub const REGIONS: [&str; 7] = [
    "East of England",
    "London",
    "Midlands",
    "North East and Yorkshire",
    "North West",
    "South East",
    "South West",
];
/// How fast each region took on link workers (relative).
const REGION_SPEED: [f64; 7] = [0.9, 0.8, 1.2, 1.1, 1.3, 0.9, 1.0];
pub const ICBS: usize = 42;
pub const PCNS: usize = 1_250;
pub const PRACTICES: usize = 6_500;
const AGE_BANDS: [&str; 6] = ["16-34", "35-44", "45-54", "55-64", "65-74", "75+"];
const AGE_SHARES: [f64; 6] = [0.21, 0.15, 0.18, 0.18, 0.15, 0.13];
const ETHNICITIES: [&str; 5] = ["Asian", "Black", "Mixed", "Other", "White"];

/// The five outcomes: name, true odds ratio per unit of `lw_fte_50k`, the rows it is
/// asked of, its baseline log-odds and how strongly PCN quality moves it.
pub struct Outcome {
    pub name: &'static str,
    pub odds_ratio: f64,
    pub population: &'static str,
    intercept: f64,
    quality: f64,
}

pub const OUTCOMES: [Outcome; 5] = [
    Outcome {
        name: "confidence",
        odds_ratio: 1.006,
        population: "ltc",
        intercept: 0.9,
        quality: 1.0,
    },
    Outcome {
        name: "support",
        odds_ratio: 1.005,
        population: "ltc",
        intercept: 0.5,
        quality: 1.0,
    },
    Outcome {
        name: "good_experience",
        odds_ratio: 1.015,
        population: "all",
        intercept: 1.0,
        quality: 1.2,
    },
    Outcome {
        name: "mh_understood",
        odds_ratio: 1.012,
        population: "mh_need",
        intercept: 0.8,
        quality: 1.0,
    },
    Outcome {
        name: "isolated",
        odds_ratio: 1.000,
        population: "all",
        intercept: -1.4,
        quality: -0.8,
    },
];

/// The true parameters, as a table.
pub fn truth() -> PolarsResult<DataFrame> {
    df!(
        "outcome" => OUTCOMES.iter().map(|o| o.name).collect::<Vec<_>>(),
        "true_odds_ratio" => OUTCOMES.iter().map(|o| o.odds_ratio).collect::<Vec<_>>(),
        "true_log_odds" => OUTCOMES.iter().map(|o| o.odds_ratio.ln()).collect::<Vec<_>>(),
        "asked_of" => OUTCOMES.iter().map(|o| match o.population {
            "ltc" => "respondents with a long-term condition",
            "mh_need" => "respondents with mental-health needs",
            _ => "all respondents",
        }).collect::<Vec<_>>(),
    )
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn normal(rng: &mut Pcg64) -> f64 {
    StandardNormal.sample(rng)
}

/// Draws from shares that sum to one.
pub(crate) fn pick(rng: &mut Pcg64, shares: &[f64]) -> usize {
    let u: f64 = rng.random();
    let mut total = 0.0;
    for (i, share) in shares.iter().enumerate() {
        total += share;
        if u < total {
            return i;
        }
    }
    shares.len() - 1
}

/// The departures from the base study a simulation can ask for (all 0 by default).
#[derive(Clone, Copy, Debug, Default)]
pub struct Scenario {
    /// Each PCN's unseen quality also rises by this much a wave (log-odds) per unit of
    /// its recruitment speed, so PCNs taking on link workers fastest improve fastest in
    /// ways the survey does not measure: a time-varying confounder that PCN fixed effects
    /// do not remove.
    pub quality_trend: f64,
    /// Each practice's own effect on the log-odds of every outcome, drawn N(0, sd²)
    /// independently of everything else: what `(1 | practice)` estimates.
    pub practice_sd: f64,
}

/// A separate stream for the practices' effects, so that the main stream's draws, and
/// with them every table made without `practice_sd`, stay as they were.
const PRACTICE_STREAM: u128 = 0x005e_ed0f_9ac7_1ce5;

/// The table of `rows` respondents. The draws are the same whatever the scenario: it
/// changes what the outcomes' log-odds add up to, not who is drawn.
pub fn generate(rows: usize, seed: u64, scenario: Scenario) -> PolarsResult<DataFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut networks = Networks::draw(&mut rng);
    networks.quality_trend = scenario.quality_trend;
    let mut practice_rng = Pcg64::new(u128::from(seed), PRACTICE_STREAM);
    networks.practice_effect = (0..PRACTICES)
        .map(|_| scenario.practice_sd * normal(&mut practice_rng))
        .collect();
    let mut respondents = Respondents::with_capacity(rows);
    // Quintile cut-points of the practice-plus-person deprivation score (sd ~ 1.33).
    let cuts = [-0.8416, -0.2533, 0.2533, 0.8416].map(|z| z * 1.3285);
    for k in 0..rows {
        super::stop_if_interrupted(k)?;
        let y = k * YEARS.len() / rows.max(1);
        respondents.draw(&mut rng, &networks, &cuts, y);
    }
    respondents.into_frame()
}

/// The PCNs and practices the respondents belong to, drawn before any respondent.
struct Networks {
    pcn_quality: Vec<f64>,
    /// How fast each PCN took on link workers (relative).
    pcn_rate: Vec<f64>,
    /// Log-odds of quality gained a wave per unit of `pcn_rate` (the `quality_trend`).
    quality_trend: f64,
    /// Each PCN's link-worker FTE per 50,000 patients, by year.
    lw: Vec<[f64; YEARS.len()]>,
    practice_deprivation: Vec<f64>,
    /// Each practice's own log-odds (`practice_sd`; zero by default).
    practice_effect: Vec<f64>,
}

/// The columns of the table as they fill, a respondent at a time. Text columns hold
/// each row's index into a list of names, turned into text once at the end: four
/// million rows formatted one string at a time took a third of the simulation.
struct Respondents {
    year: Vec<i32>,
    practice: Vec<u16>,
    age_band: Vec<u8>,
    sex: Vec<u8>,
    ethnicity: Vec<u8>,
    imd_quintile: Vec<i32>,
    ltc: Vec<bool>,
    mh_need: Vec<bool>,
    weight: Vec<f64>,
    lw_fte_50k: Vec<f64>,
    /// Each outcome's answers; `None` where the question is not asked.
    outcomes: Vec<Vec<Option<i32>>>,
}

impl Networks {
    fn draw(rng: &mut Pcg64) -> Networks {
        // PCNs: deprivation, baseline quality, and their link-worker series.
        let mut pcn_deprivation = vec![0.0; PCNS];
        let mut pcn_quality = vec![0.0; PCNS];
        let mut pcn_rate = vec![0.0; PCNS];
        for p in 0..PCNS {
            let region = region_of(p % ICBS);
            pcn_deprivation[p] = normal(rng);
            pcn_quality[p] = -0.25 * pcn_deprivation[p] + 0.2 * normal(rng);
            pcn_rate[p] = REGION_SPEED[region] * (2.0 * pcn_quality[p] + 0.3 * normal(rng)).exp();
        }
        // FTE per 50,000 patients: none before the 2019 contract, then rising.
        let mut lw = vec![[0.0; YEARS.len()]; PCNS];
        for p in 0..PCNS {
            for (y, &year) in YEARS.iter().enumerate() {
                if year >= 2020 {
                    let trend = pcn_rate[p] * f64::from(year - 2019) * 0.9;
                    lw[p][y] = (trend * (1.0 + 0.15 * normal(rng))).max(0.0);
                }
            }
        }
        let practice_deprivation: Vec<f64> = (0..PRACTICES)
            .map(|j| pcn_deprivation[j % PCNS] + 0.5 * normal(rng))
            .collect();
        Networks {
            pcn_quality,
            pcn_rate,
            quality_trend: 0.0,
            lw,
            practice_deprivation,
            practice_effect: vec![0.0; PRACTICES],
        }
    }
}

impl Respondents {
    fn with_capacity(rows: usize) -> Respondents {
        Respondents {
            year: Vec::with_capacity(rows),
            practice: Vec::with_capacity(rows),
            age_band: Vec::with_capacity(rows),
            sex: Vec::with_capacity(rows),
            ethnicity: Vec::with_capacity(rows),
            imd_quintile: Vec::with_capacity(rows),
            ltc: Vec::with_capacity(rows),
            mh_need: Vec::with_capacity(rows),
            weight: Vec::with_capacity(rows),
            lw_fte_50k: Vec::with_capacity(rows),
            outcomes: (0..OUTCOMES.len())
                .map(|_| Vec::with_capacity(rows))
                .collect(),
        }
    }

    /// One respondent of wave `y`.
    #[inline]
    fn draw(&mut self, rng: &mut Pcg64, networks: &Networks, cuts: &[f64; 4], y: usize) {
        let j = rng.random_range(0..PRACTICES);
        let p = j % PCNS;
        let r = region_of(p % ICBS);
        let age = pick(rng, &AGE_SHARES);
        let male = rng.random::<f64>() < 0.45;
        let ethnic_shares: [f64; 5] = if REGIONS[r] == "London" {
            [0.18, 0.13, 0.05, 0.06, 0.58]
        } else {
            [0.07, 0.02, 0.02, 0.02, 0.87]
        };
        let eth = pick(rng, &ethnic_shares);
        let person_deprivation = networks.practice_deprivation[j] + 0.6 * normal(rng);
        // IMD quintile 1 is the most deprived fifth, as in the English indices.
        let bucket = cuts.iter().filter(|&&c| person_deprivation > c).count();
        let quintile = 5 - bucket as i32;
        let has_ltc =
            rng.random::<f64>() < logistic(-1.0 + 0.45 * age as f64 + 0.2 * person_deprivation);
        let has_mh_need =
            rng.random::<f64>() < logistic(-1.9 + 0.3 * person_deprivation - 0.15 * age as f64);
        let w = (0.35 * normal(rng)).exp();
        let fte = networks.lw[p][y];
        let quality =
            networks.pcn_quality[p] + networks.quality_trend * networks.pcn_rate[p] * y as f64;
        let practice = networks.practice_effect[j];
        let common = 0.08 * age as f64 + if male { 0.05 } else { 0.0 }
            - if ETHNICITIES[eth] == "White" {
                0.0
            } else {
                0.15
            }
            - 0.05 * f64::from(5 - quintile)
            - 0.03 * y as f64;
        for (o, outcome) in OUTCOMES.iter().enumerate() {
            let eta = outcome.intercept
                + outcome.quality * quality
                + common
                + practice
                + outcome.odds_ratio.ln() * fte;
            // Every row draws for every outcome, so the stream never depends on who is asked.
            let answer = i32::from(rng.random::<f64>() < logistic(eta));
            let asked = match outcome.population {
                "ltc" => has_ltc,
                "mh_need" => has_mh_need,
                _ => true,
            };
            self.outcomes[o].push(asked.then_some(answer));
        }
        self.year.push(YEARS[y]);
        self.practice.push(j as u16);
        self.age_band.push(age as u8);
        self.sex.push(u8::from(male));
        self.ethnicity.push(eth as u8);
        self.imd_quintile.push(quintile);
        self.ltc.push(has_ltc);
        self.mh_need.push(has_mh_need);
        self.weight.push(w);
        self.lw_fte_50k.push(fte);
    }

    fn into_frame(self) -> PolarsResult<DataFrame> {
        // The names of each practice's practice, PCN, ICB and region, by practice.
        let practices: Vec<String> = (1..=PRACTICES).map(|j| format!("P{j:05}")).collect();
        let pcns: Vec<String> = (1..=PCNS).map(|p| format!("PCN{p:04}")).collect();
        let icbs: Vec<String> = (1..=ICBS).map(|i| format!("ICB{i:02}")).collect();
        let practice_names: Vec<&str> = practices.iter().map(String::as_str).collect();
        let pcn_names: Vec<&str> = pcns.iter().map(String::as_str).collect();
        let icb_names: Vec<&str> = icbs.iter().map(String::as_str).collect();
        let pcn_of = by_practice(|j| j % PCNS, &pcn_names);
        let icb_of = by_practice(|j| j % PCNS % ICBS, &icb_names);
        let region_of_practice = by_practice(|j| region_of(j % PCNS % ICBS), &REGIONS);
        let mut columns = vec![
            Column::new("year".into(), self.year),
            labelled("practice", &self.practice, &practice_names),
            labelled("pcn", &self.practice, &pcn_of),
            labelled("icb", &self.practice, &icb_of),
            labelled("region", &self.practice, &region_of_practice),
            labelled("age_band", &self.age_band, &AGE_BANDS),
            labelled("sex", &self.sex, &["Female", "Male"]),
            labelled("ethnicity", &self.ethnicity, &ETHNICITIES),
            Column::new("imd_quintile".into(), self.imd_quintile),
            Column::new("ltc".into(), self.ltc),
            Column::new("mh_need".into(), self.mh_need),
            Column::new("weight".into(), self.weight),
            Column::new("lw_fte_50k".into(), self.lw_fte_50k),
        ];
        for (outcome, values) in OUTCOMES.iter().zip(self.outcomes) {
            columns.push(Column::new(outcome.name.into(), values));
        }
        DataFrame::new_infer_height(columns)
    }
}

/// The region of ICB `i` (ICBs are numbered region by region).
fn region_of(icb: usize) -> usize {
    icb / (ICBS / REGIONS.len())
}

/// For each practice, the name of the unit of `names` it belongs to (`unit` of its index).
fn by_practice<'a>(unit: fn(usize) -> usize, names: &[&'a str]) -> Vec<&'a str> {
    (0..PRACTICES).map(|j| names[unit(j)]).collect()
}

/// A text column from each row's index into `names`.
fn labelled<Code: Copy + Into<usize>>(name: &str, codes: &[Code], names: &[&str]) -> Column {
    let labels = codes.iter().map(|&code| names[code.into()]);
    StringChunked::from_iter_values(name.into(), labels).into_column()
}
