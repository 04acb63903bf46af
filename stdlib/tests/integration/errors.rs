//! Error messages that are not whole golden scripts: each says where and what to do.

use crate::fails;

#[test]
fn unknown_column_suggests_the_close_name() {
    let error = fails("t = table lw_fte_50k = [1]\nt |> filter lw_fte50k > 1");
    assert!(error.contains("unknown column `lw_fte50k`"), "{error}");
    assert!(error.contains("did you mean `lw_fte_50k`?"), "{error}");
    assert!(error.contains("test.spel:2:13"), "{error}");
    assert!(error.contains("^^^"), "{error}");
}

#[test]
fn unknown_binding_and_verb_suggest_names() {
    assert!(fails("panel = 1\npanle").contains("did you mean `panel`?"));
    assert!(fails("t = table x = [1]\nt |> fliter x > 0").contains("did you mean `filter`?"));
    assert!(fails("t = table x = [1]\nt |> summarise maen(x)").contains("did you mean `mean`?"));
    assert!(fails("read \"x.csv\", encodng = \"cp1252\"").contains("did you mean `encoding`?"));
}

#[test]
fn function_arguments_are_checked() {
    assert!(fails("x = round()").contains("`round` needs `x`"));
    assert!(fails("x = round(1, 2, 3)").contains("`round` takes 2 arguments"));
    assert!(fails("x = round(1, digit = 2)").contains("did you mean `digits`?"));
    assert!(fails("x = quantile(1, 2)").contains("between 0 and 1"));
}

#[test]
fn verbs_reject_wrong_shapes() {
    assert!(fails("t = table x = [1]\nt |> summarise x").contains("not a summary"));
    assert!(fails("t = table x = [1]\nt |> derive x + 1").contains("needs a name"));
    assert!(fails("t = table x = [1]\nt |> sort x by x").contains("`sort` does not take `by`"));
    assert!(fails("t = table x = [1], y = [1, 2]").contains("has 2 values but `x` has 1"));
    assert!(fails("t = table x = [1]\nt |> join sideways t on x").contains("not a kind of join"));
    assert!(fails("t = table x = [1]\nt |> rename x = y").contains("unknown column `y`"));
}

#[test]
fn syntax_errors_name_what_was_expected() {
    let error = fails("x = (1 +");
    assert!(error.contains("never closed"), "{error}");
    let error = fails("t = table x = [1]\nt |> derive y = x + * 2");
    assert!(
        error.contains("expected a value after `+`, found `*`"),
        "{error}"
    );
}
