//! `simulate`: built-in study data with known effects.

use polars::prelude::{DataFrame, IntoLazy, PolarsResult};
use spel_grammar::Diagnostic;

use super::{Example, OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::simulate::{gpps, observational, survey, teaching};
use crate::value::Value;

pub static VERBS: &[Verb] = &[Verb {
    name: "simulate",
    signature: "simulate gpps [, n = 4132676] [, seed = 1] [, quality_trend = 0] [, practice_sd = 0] | gpps_truth | rollout [, n = 300] [, pretrend = 0] | referrals_monthly [, shock = 0] | gp_visits [, n = 2000] [, comparison_spike = 1.3] | referrals [, n = 160128] | link_worker_sessions [, n = 5000] [, confounding = 1] | funding_cutoff [, n = 6500] [, compliance = 1] | link_worker_referral [, n = 3000] [, selection = 1] | pilot_area [, n = 30] | patient_survey [, n = 140] [, icc = 0.05]",
    summary: "Simulated studies with known effects: the GP Patient Survey, a staggered roll-out, a monthly series, paired GP visits, chosen sessions, funding by a cutoff, referral by need, a pilot area, a stratified two-stage patient survey.",
    description: "`simulate gpps` makes respondents in waves 2018–2023, nested in 6,500 \
                  practices, 1,250 PCNs, 42 ICBs and 7 regions, with link-worker FTE per \
                  50,000 patients by PCN and year and five 0/1 outcomes whose true odds \
                  ratios per unit of `lw_fte_50k` are known (`simulate gpps_truth`). PCN \
                  quality confounds a pooled model; `fe(pcn)` recovers the truth. For \
                  teaching the designs: `rollout` (PCNs adopting link workers in different \
                  quarters, effects growing with time since adoption), `referrals_monthly` \
                  (a monthly series with winter peaks and a change in July 2019) and \
                  `gp_visits` (visits before and after referral, with a matched comparison \
                  group and regression to the mean) and `referrals` (Bu et al.'s national \
                  referral records: route, reason, link-worker contacts, interventions) and \
                  `link_worker_sessions` (sessions chosen by motivated people, with two \
                  instruments) and `funding_cutoff` (practices funded for a link worker \
                  above a deprivation score: a discontinuity) and `link_worker_referral` \
                  (people referred for measured reasons: propensity scores) and \
                  `pilot_area` (one area piloting link workers among areas with trends \
                  of their own: synthetic control) and `patient_survey` (practices sampled \
                  within regions, 25 respondents each, with design weights: survey \
                  estimation); docs/simulate.md gives their true \
                  effects. The same seed gives the same table on every machine.",
    connectives: &[],
    options: &[
        OptionSpec {
            name: "n",
            values: "a number of respondents",
            kind: OptionKind::Whole {
                min: 1.0,
                max: 100_000_000.0,
            },
            summary: "Respondents (gpps, default 4,132,676, the study's size), PCNs (rollout, default 300) or people (gp_visits, default 2,000; link_worker_sessions, default 5,000; link_worker_referral, default 3,000) or areas (pilot_area, default 30, at least 10).",
        },
        OptionSpec {
            name: "seed",
            values: "a whole number",
            kind: OptionKind::SEED,
            summary: "The random seed (default 1).",
        },
        OptionSpec {
            name: "pretrend",
            values: "a number of points a quarter",
            kind: OptionKind::Number {
                min: -10.0,
                max: 10.0,
            },
            summary: "rollout only: PCNs that ever adopt drift by this much a quarter more than the others, before and after adopting — parallel trends broken (default 0).",
        },
        OptionSpec {
            name: "quality_trend",
            values: "log-odds a wave",
            kind: OptionKind::Number {
                min: -1.0,
                max: 1.0,
            },
            summary: "gpps only: each PCN's unseen quality rises this much a wave per unit of its recruitment speed — a time-varying confounder (default 0).",
        },
        OptionSpec {
            name: "practice_sd",
            values: "a standard deviation in log-odds",
            kind: OptionKind::Number { min: 0.0, max: 5.0 },
            summary: "gpps only: each practice has its own effect on every outcome's log-odds, drawn with this standard deviation independently of everything else — what `(1 | practice)` estimates (default 0).",
        },
        OptionSpec {
            name: "shock",
            values: "a number of referrals",
            kind: OptionKind::Number {
                min: -1000.0,
                max: 1000.0,
            },
            summary: "referrals_monthly only: something else adds this many referrals in July 2019, fading by a fifth a month (default 0).",
        },
        OptionSpec {
            name: "comparison_spike",
            values: "a ratio to usual use",
            kind: OptionKind::Number { min: 0.0, max: 5.0 },
            summary: "gp_visits only: the comparison group's use before, relative to usual (default 1.3, the referred group's) — below 1.3, unequal regression to the mean.",
        },
        OptionSpec {
            name: "confounding",
            values: "a multiple of the unmeasured motivation",
            kind: OptionKind::Number { min: 0.0, max: 5.0 },
            summary: "link_worker_sessions only: how strongly unmeasured motivation raises both sessions and wellbeing (default 1; 0, none: OLS is then unbiased).",
        },
        OptionSpec {
            name: "compliance",
            values: "a share from 0 to 1",
            kind: OptionKind::Number { min: 0.0, max: 1.0 },
            summary: "funding_cutoff only: the jump at the cutoff in the chance of having a link worker (default 1, sharp; below 1, fuzzy).",
        },
        OptionSpec {
            name: "selection",
            values: "a multiple of the reasons for referral",
            kind: OptionKind::Number { min: 0.0, max: 5.0 },
            summary: "link_worker_referral only: how strongly age, conditions, loneliness and deprivation decide referral (default 1; 0, a randomised trial).",
        },
        OptionSpec {
            name: "icc",
            values: "a share between 0 and 1",
            kind: OptionKind::Number { min: 0.0, max: 1.0 },
            summary: "patient_survey only: the practices' share of the variance of wellbeing (default 0.05).",
        },
    ],
    named_arguments: false,
    output: Output::Preview,
    examples: &[Example {
        summary: "The true odds ratios",
        code: "simulate gpps_truth |> select outcome, true_odds_ratio",
        output: r#"shape: (5, 2)
┌─────────────────┬─────────────────┐
│ outcome         ┆ true_odds_ratio │
│ ---             ┆ ---             │
│ str             ┆ f64             │
╞═════════════════╪═════════════════╡
│ confidence      ┆           1.006 │
│ support         ┆           1.005 │
│ good_experience ┆           1.015 │
│ mh_understood   ┆           1.012 │
│ isolated        ┆               1 │
└─────────────────┴─────────────────┘"#,
    }],
    run: simulate,
}];

/// Refuses a simulation of `units` that would not fit in memory at `bytes_each` (about
/// twice what each takes at the peak: measured 1,020 bytes a PCN of `rollout`, 140 a
/// referral, 68 a person of `gp_visits`; 250 a respondent of `gpps`, measured as is).
fn fits(ctx: &VerbCtx, units: usize, bytes_each: u64, unit: &str) -> Result<(), Diagnostic> {
    let at = ctx
        .option_value("n")?
        .map_or(ctx.call.span, |(_, span)| span);
    let what = format!("a study of {} {unit}", crate::format::count(units));
    crate::memory::check(units as f64 * bytes_each as f64, &what, at)
}

/// The options that break a design's assumption, each in the one study it belongs to.
const SCENARIOS: [(&str, &str, &str); 9] = [
    (
        "pretrend",
        "rollout",
        "breaks the parallel trends of `rollout`",
    ),
    (
        "quality_trend",
        "gpps",
        "adds a time-varying confounder to `gpps`",
    ),
    (
        "practice_sd",
        "gpps",
        "gives the practices of `gpps` effects of their own",
    ),
    (
        "shock",
        "referrals_monthly",
        "adds a shock at the break of `referrals_monthly`",
    ),
    (
        "comparison_spike",
        "gp_visits",
        "sets the comparison group's spike in `gp_visits`",
    ),
    (
        "confounding",
        "link_worker_sessions",
        "sets the unmeasured confounding of `link_worker_sessions`",
    ),
    (
        "compliance",
        "funding_cutoff",
        "sets who follows the cutoff in `funding_cutoff`",
    ),
    (
        "selection",
        "link_worker_referral",
        "sets who is referred in `link_worker_referral`",
    ),
    (
        "icc",
        "patient_survey",
        "sets how much practices differ in `patient_survey`",
    ),
];

/// A scenario's option given for another study is an error, not an option ignored.
fn check_scenarios(ctx: &VerbCtx, name: &str) -> Result<(), Diagnostic> {
    for (option, study, what) in SCENARIOS {
        if name != study
            && let Some((_, span)) = ctx.option_value(option)?
        {
            return Err(Diagnostic::new(
                "spel::simulate::option",
                format!("`{option}` {what} only"),
            )
            .at(span)
            .with_help(format!("write `simulate {study}, {option} = ...`")));
        }
    }
    Ok(())
}

/// Rows (or PCNs, or people) a simulation makes when completion previews it.
const PREVIEW_ROWS: f64 = 20.0;

fn simulate(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let [arg] = args.as_slice() else {
        return Err(ctx.usage_error(
            "`simulate` takes the name of a study: gpps, gpps_truth, rollout, referrals_monthly, gp_visits, referrals, link_worker_sessions, funding_cutoff, link_worker_referral, pilot_area or patient_survey",
        ));
    };
    let name = arg.as_expr().and_then(|e| e.as_ident()).unwrap_or("");
    // For completion, a few rows: the columns are the same whatever the size.
    let preview = ctx.env.preview;
    let whole = |option: &str, default: f64| -> Result<f64, Diagnostic> {
        let size = |x: f64| {
            if preview && option == "n" {
                x.min(PREVIEW_ROWS)
            } else {
                x
            }
        };
        match ctx.option_value(option)? {
            None => Ok(size(default)),
            Some((Value::Number(x), _)) if x >= 1.0 && x.fract() == 0.0 => Ok(size(x)),
            Some((_, span)) => Err(Diagnostic::new(
                "spel::simulate::option",
                format!("`{option}` is a whole number of 1 or more"),
            )
            .at(span)),
        }
    };
    check_scenarios(ctx, name)?;
    let number = |option: &str, default: f64| -> Result<f64, Diagnostic> {
        Ok(match ctx.option_value(option)? {
            Some((Value::Number(x), _)) => x,
            _ => default,
        })
    };
    let seed = whole("seed", 1.0)? as u64;
    // Each study is made on a worker thread, which an interrupt stops.
    type Make = Box<dyn FnOnce() -> PolarsResult<DataFrame> + Send>;
    let make: Make = match name {
        "gpps" => {
            let rows = whole("n", gpps::DEFAULT_ROWS as f64)? as usize;
            fits(
                ctx,
                rows,
                crate::memory::SURVEY_BYTES_PER_RESPONDENT,
                "respondents",
            )?;
            let scenario = gpps::Scenario {
                quality_trend: number("quality_trend", 0.0)?,
                practice_sd: number("practice_sd", 0.0)?,
            };
            Box::new(move || gpps::generate(rows, seed, scenario))
        }
        "gpps_truth" => Box::new(gpps::truth),
        "rollout" => {
            let pcns = whole("n", 300.0)? as usize;
            fits(ctx, pcns, 2_000, "PCNs")?;
            let pretrend = number("pretrend", 0.0)?;
            Box::new(move || teaching::rollout(pcns, seed, pretrend))
        }
        "referrals_monthly" => {
            let shock = number("shock", 0.0)?;
            Box::new(move || teaching::referrals_monthly(seed, shock))
        }
        "referrals" => {
            let n = whole("n", teaching::REFERRALS as f64)? as usize;
            fits(ctx, n, 300, "referrals")?;
            Box::new(move || teaching::referrals(n, seed))
        }
        "link_worker_sessions" => {
            let people = whole("n", 5000.0)? as usize;
            fits(ctx, people, 150, "people")?;
            let confounding = number("confounding", 1.0)?;
            Box::new(move || teaching::link_worker_sessions(people, seed, confounding))
        }
        "funding_cutoff" => {
            let practices = whole("n", 6500.0)? as usize;
            fits(ctx, practices, 150, "practices")?;
            let compliance = number("compliance", 1.0)?;
            Box::new(move || teaching::funding_cutoff(practices, seed, compliance))
        }
        "link_worker_referral" => {
            let people = whole("n", 3000.0)? as usize;
            fits(ctx, people, 150, "people")?;
            let selection = number("selection", 1.0)?;
            Box::new(move || observational::link_worker_referral(people, seed, selection))
        }
        "pilot_area" => {
            let areas = whole("n", 30.0)? as usize;
            if areas < 10 && !preview {
                let at = ctx
                    .option_value("n")?
                    .map_or(ctx.call.span, |(_, span)| span);
                return Err(Diagnostic::new(
                    "spel::simulate::option",
                    "`pilot_area` needs at least 10 areas: the pilot and 9 others",
                )
                .at(at)
                .with_help("write `simulate pilot_area, n = 30` (the default)"));
            }
            fits(ctx, areas, 20 * 150, "areas")?;
            Box::new(move || observational::pilot_area(areas.max(10), seed))
        }
        "patient_survey" => {
            let practices = whole("n", survey::DEFAULT_PRACTICES as f64)? as usize;
            fits(
                ctx,
                practices * survey::RESPONDENTS_PER_PRACTICE,
                300,
                "respondents",
            )?;
            let icc = number("icc", survey::DEFAULT_ICC)?;
            Box::new(move || survey::patient_survey(practices, seed, icc))
        }
        "gp_visits" => {
            let people = whole("n", 2000.0)? as usize;
            fits(ctx, people, 150, "people")?;
            let spike = number("comparison_spike", teaching::RECENT_HIGH_USE)?;
            Box::new(move || teaching::gp_visits(people, seed, spike))
        }
        _ => {
            return Err(Diagnostic::new(
                "spel::simulate::study",
                format!("there is no built-in study `{name}`"),
            )
            .at(arg.span)
            .suggest(spel_grammar::did_you_mean(
                name,
                [
                    "gpps",
                    "gpps_truth",
                    "rollout",
                    "referrals_monthly",
                    "gp_visits",
                    "referrals",
                    "link_worker_sessions",
                    "funding_cutoff",
                    "link_worker_referral",
                    "pilot_area",
                    "patient_survey",
                ],
            ))
            .with_note(
                "built-in studies: gpps (the GP Patient Survey), gpps_truth (its true parameters), \
                 rollout, referrals_monthly, gp_visits, referrals, link_worker_sessions, funding_cutoff, link_worker_referral, pilot_area, patient_survey",
            ));
        }
    };
    let span = arg.span;
    let what = if name == "gpps" {
        "simulating the survey".to_string()
    } else {
        format!("simulating {name}")
    };
    let frame = ctx.env.work().run(&what, span, move || {
        make().map_err(|e| polars_error(e).at(span))
    })?;
    Ok(Value::Table(frame.lazy()))
}
