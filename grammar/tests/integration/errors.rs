use crate::error_of;

#[test]
fn scratch_errors() {
    for src in [
        "model confidence ~ lw_fte_50k + + age",
        "model confidence = lw_fte_50k + age",
        "model y ~ fe(year | ltc, family = logit",
        "x = (1 + 2))",
        "filter year >=",
        "x = 'abc'",
        "summarise mean(x) by",
        "x = [1, 2\ny = 3",
        "read \"a.csv\",",
        "a |> ",
        "x = 1 2 3 +",
        "print \"abc",
        "select a, , b",
    ] {
        println!("{src}\n{}", error_of(src));
    }
}
