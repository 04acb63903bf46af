//! Built-in simulated study data with known effects, so notebooks and courses run
//! without restricted data. The data-generating processes: docs/models.md ("The
//! simulated study") for `gpps`, docs/simulate.md for the teaching studies.

pub mod gpps;
pub mod observational;
pub mod survey;
pub mod teaching;

use polars::prelude::{PolarsError, PolarsResult};

/// Every 65,536 units (respondents, people, PCNs), whether the user has interrupted: an
/// interrupted simulation stops there rather than filling the rest.
pub(crate) fn stop_if_interrupted(unit: usize) -> PolarsResult<()> {
    if unit.is_multiple_of(65_536) && spel_stats::cancel::requested() {
        return Err(PolarsError::ComputeError("interrupted".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn an_interrupted_simulation_stops() {
        spel_stats::cancel::watch(Arc::new(AtomicBool::new(true)));
        let made = [
            super::gpps::generate(10, 1, Default::default()).is_err(),
            super::teaching::rollout(10, 1, 0.0).is_err(),
            super::teaching::gp_visits(10, 1, super::teaching::RECENT_HIGH_USE).is_err(),
            super::teaching::referrals(10, 1).is_err(),
            super::observational::link_worker_referral(10, 1, 1.0).is_err(),
            super::observational::pilot_area(10, 1).is_err(),
            super::survey::patient_survey(6_500, 1, 0.05).is_err(),
        ];
        spel_stats::cancel::watch(Arc::new(AtomicBool::new(false)));
        assert_eq!(
            made, [true; 7],
            "gpps, rollout, gp_visits, referrals, link_worker_referral, pilot_area, patient_survey"
        );
        assert!(super::teaching::referrals(10, 1).is_ok());
    }
}
