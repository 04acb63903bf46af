//! The one "did you mean" used for columns, bindings, verbs, functions and options.

/// The candidate closest to `name`, if it is close enough to be a plausible typo.
///
/// A case-insensitive exact match wins (`fte` → `FTE`); otherwise the smallest
/// Damerau–Levenshtein distance, allowing about one edit per three characters.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = name.to_lowercase();
    let allowed = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let cand_lower = candidate.to_lowercase();
        let distance = if cand_lower == lower {
            0
        } else {
            strsim::damerau_levenshtein(&lower, &cand_lower)
        };
        let underscore_only = lower.replace('_', "") == cand_lower.replace('_', "");
        let distance = if underscore_only {
            distance.min(1)
        } else {
            distance
        };
        // Replacing every letter of a short name is not a typo (`t` is not a slip for `x`).
        let plausible = distance < name.chars().count().max(2);
        if distance <= allowed && plausible && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_and_not_far_ones() {
        let cols = ["lw_fte_50k", "year", "pcn", "FTE"];
        assert_eq!(did_you_mean("lw_fte50k", cols), Some("lw_fte_50k".into()));
        assert_eq!(did_you_mean("fte", cols), Some("FTE".into()));
        assert_eq!(did_you_mean("yaer", cols), Some("year".into()));
        assert_eq!(did_you_mean("region", cols), None);
    }
}
