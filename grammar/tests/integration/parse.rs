use spel_grammar::{SourceId, parse};

fn ast(src: &str) -> String {
    let program = parse(src, SourceId(0)).unwrap_or_else(|e| panic!("{src}: {e:?}"));
    serde_json::to_string(&program).unwrap()
}

#[test]
fn scratch() {
    for src in [
        "x = 6 * 7",
        "describe",
        "head 10",
        "model confidence ~ lw_fte_50k | ltc",
        "m = model y ~ a + factor(b, ref = \"x\") + c:d + e*f + fe(g) + offset(log(h)) - 1 | age >= 30 & kids > 0, family = logit, weights = wt",
        "panel = gpps\n  |> join wf on [pcn, year]\n  |> filter year >= 2018 & !is_null(good_experience)",
        "sort year desc, region",
        "summarise fte = sum(FTE), pcns = n_distinct(PCN_CODE) by COMM_REGION_NAME",
        "x = 2019-07-01; y = `Practice Code`",
        "join inner wf on pcn",
    ] {
        println!("{src}\n  {}\n", ast(src));
    }
}
