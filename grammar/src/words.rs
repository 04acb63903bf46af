//! The words the grammar reserves, read from the grammar's own text, so that the
//! highlighters and completion never list them a second time.

const GRAMMAR: &str = include_str!("spel.pest");

/// The reserved words (`by`, `on`, ..., `true`, `false`, `in`): each `kw_*` rule's
/// literal, in the grammar's order.
pub fn keywords() -> Vec<&'static str> {
    GRAMMAR
        .lines()
        .filter_map(|line| {
            let rule = line.strip_prefix("kw_")?;
            let (_, body) = rule.split_once("@{ \"")?;
            body.split('"').next()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SourceId, parse};

    #[test]
    fn every_keyword_is_reserved_and_nothing_else_is() {
        let words = keywords();
        assert_eq!(
            words,
            [
                "by", "on", "as", "to", "per", "of", "from", "asc", "desc", "true", "false", "in"
            ]
        );
        for word in &words {
            let assignment = format!("{word} = 1");
            assert!(
                parse(&assignment, SourceId(0)).is_err(),
                "{word} was assignable"
            );
        }
        assert!(parse("byte = 1", SourceId(0)).is_ok());
    }
}
