//! Syntax errors as a user sees them: plain words, line and column, a caret.

use crate::error_of;

#[test]
fn missing_term_after_plus() {
    insta::assert_snapshot!(error_of("model confidence ~ lw_fte_50k + + age"));
}

#[test]
fn unclosed_call_in_formula() {
    insta::assert_snapshot!(error_of("model y ~ fe(year | ltc, family = logit"));
}

#[test]
fn unmatched_closing_bracket() {
    insta::assert_snapshot!(error_of("x = (1 + 2))"));
}

#[test]
fn pipeline_inside_brackets() {
    insta::assert_snapshot!(error_of("tidy (d |> model y ~ x) on x"));
}

#[test]
fn single_quotes() {
    insta::assert_snapshot!(error_of("x = 'abc'"));
}

#[test]
fn nothing_after_connective() {
    insta::assert_snapshot!(error_of("summarise mean(x) by"));
}

#[test]
fn two_values_in_a_row() {
    insta::assert_snapshot!(error_of("x = 1 2"));
}

#[test]
fn unterminated_string_on_the_second_line() {
    insta::assert_snapshot!(error_of("x = 1\nprint \"abc"));
}

#[test]
fn empty_argument_between_commas() {
    insta::assert_snapshot!(error_of("select a, , b"));
}

#[test]
fn nothing_after_pipe() {
    insta::assert_snapshot!(error_of("a |>"));
}
