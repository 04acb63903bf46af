//! What users type, at random: statements built from spel's grammar (verbs, options,
//! formulas, expressions), the same mutated a character or a token at a time, and raw
//! bytes, each run by a session holding a small table. Every input must end in a
//! result or a located diagnostic that is not an internal error: never a panic, never
//! an error without a place, never more than a few seconds.
//!
//! The test command runs 3,000 inputs (seed 1). Longer runs:
//!
//!     SPEL_FUZZ_CASES=10000000 SPEL_FUZZ_SEED=7 cargo test --release -p spel-stdlib \
//!         --test integration fuzz -- --nocapture

use std::time::{Duration, Instant};

use spel_stdlib::Session;

use crate::session;

/// A seeded xorshift stream: the same inputs on every machine.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const COLUMNS: &[&str] = &["y", "x", "g", "w", "k", "d", "s", "nope", "`y`"];
const LITERALS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2.5",
    "1e308",
    "1e-308",
    "0.0",
    "\"London\"",
    "\"\"",
    "true",
    "false",
    "2020-03-01",
    "[1, 2]",
    "[\"a\", \"b\"]",
    "[]",
    "2019-02-30",
];
const FUNCTIONS: &[&str] = &[
    "mean",
    "sum",
    "log",
    "exp",
    "sqrt",
    "abs",
    "round",
    "n",
    "min",
    "max",
    "if_else",
    "is_null",
    "year",
    "factor",
    "row_number",
    "median",
    "sd",
    "nope",
];
const OPERATORS: &[&str] = &[
    "+", "-", "*", "/", "^", "==", "!=", "<", ">=", "&", "|", "in",
];
const VERBS: &[&str] = &[
    "filter",
    "derive",
    "select",
    "drop",
    "rename",
    "sort",
    "head",
    "summarise",
    "tabulate",
    "describe",
    "model",
    "compare",
    "rate",
    "sii",
    "concentration",
    "its",
    "did",
    "plot",
    "tidy",
    "predict",
    "margins",
    "report",
    "interpret",
    "power",
    "join",
    "use",
    "print",
    "frobnicate",
];
const OPTIONS: &[&str] = &[
    "family = logit",
    "family = \"poisson\"",
    "family = negbin",
    "family = probit",
    "family = ols",
    "family = nope",
    "se = robust",
    "se = cluster",
    "se = hc3",
    "cluster = g",
    "cluster = [g, k]",
    "weights = w",
    "freq = k",
    "trials = k",
    "by = g",
    "n = 3",
    "n = 0",
    "n = -1",
    "n = 1e12",
    "bins = 1e9",
    "bins = 0",
    "level = 0.9",
    "level = 2",
    "reps = 2",
    "seed = 1",
    "break = 3",
    "unit = g",
    "time = x",
    "first = k",
    "paired = true",
    "ref = \"a\"",
    "separated = keep",
    "type = response",
];

fn expr(draw: &mut Draw, depth: usize) -> String {
    let atom = |draw: &mut Draw| {
        if draw.chance(50) {
            draw.pick(COLUMNS).to_string()
        } else {
            draw.pick(LITERALS).to_string()
        }
    };
    if depth == 0 {
        return atom(draw);
    }
    match draw.below(5) {
        0 => format!(
            "{} {} {}",
            expr(draw, depth - 1),
            draw.pick(OPERATORS),
            expr(draw, depth - 1)
        ),
        1 => format!("{}({})", draw.pick(FUNCTIONS), expr(draw, depth - 1)),
        2 => format!("({})", expr(draw, depth - 1)),
        3 => format!("-{}", expr(draw, depth - 1)),
        _ => atom(draw),
    }
}

fn formula(draw: &mut Draw) -> String {
    let terms = [
        "x",
        "g",
        "factor(g)",
        "fe(g)",
        "x:g",
        "x*g",
        "x^2",
        "offset(log(w))",
        "k",
        "nope",
    ];
    let mut rhs = vec![terms[draw.below(terms.len())].to_string()];
    for _ in 0..draw.below(3) {
        rhs.push(terms[draw.below(terms.len())].to_string());
    }
    let condition = if draw.chance(20) {
        format!(" | {}", expr(draw, 1))
    } else {
        String::new()
    };
    format!(
        "{} ~ {}{condition}",
        draw.pick(&["y", "x", "s", "k"]),
        rhs.join(" + ")
    )
}

/// A statement as a user might write it.
fn statement(draw: &mut Draw) -> String {
    let verb = draw.pick(VERBS);
    let mut args = match verb {
        "power" if draw.chance(50) => format!("simulate {}", formula(draw)),
        "model" | "its" | "did" | "power" => formula(draw),
        "derive" | "summarise" => format!("z = {}", expr(draw, 2)),
        "plot" => format!(
            "{} {}",
            draw.pick(&["hist", "bar", "line", "scatter", "nope"]),
            expr(draw, 0)
        ),
        _ => expr(draw, 2),
    };
    for _ in 0..draw.below(3) {
        args += &format!(", {}", draw.pick(OPTIONS));
    }
    match draw.below(6) {
        0 => format!("v = {}", expr(draw, 3)),
        1 => format!("{verb} {args}"),
        2 => format!(
            "t |> {verb} {args} |> {} {}",
            draw.pick(VERBS),
            expr(draw, 1)
        ),
        _ => format!("t |> {verb} {args}"),
    }
}

/// `text` with a character or a token removed, doubled or replaced.
fn mutate(draw: &mut Draw, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return text.to_string();
    }
    let at = draw.below(chars.len());
    let noise = [
        '(', ')', '[', ']', '"', '`', ',', '|', '>', '~', '=', '\n', '\\', '#', 'é', '\u{0}',
    ];
    let mut out = chars.clone();
    match draw.below(4) {
        0 => {
            out.remove(at);
        }
        1 => out.insert(at, chars[at]),
        2 => out[at] = noise[draw.below(noise.len())],
        _ => out.insert(at, noise[draw.below(noise.len())]),
    }
    out.into_iter().collect()
}

fn raw_bytes(draw: &mut Draw) -> String {
    let bytes: Vec<u8> = (0..draw.below(60)).map(|_| draw.below(256) as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn small_session() -> Session {
    let mut s = session();
    let setup = "t = table y = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1], \
                 x = [1.5, 2, 3.5, 4, 5, 6.5, 7, 8, 9.5, 10], \
                 g = [\"a\", \"b\", \"a\", \"b\", \"c\", \"a\", \"c\", \"b\", \"a\", \"c\"], \
                 w = [1, 2, 1, 2, 1, 2, 1, 2, 1, 2], k = [3, 1, 2, 3, 1, 2, 3, 1, 2, 3], \
                 d = [2020-01-01, 2020-02-01, 2020-03-01, 2020-04-01, 2020-05-01, \
                      2020-06-01, 2020-07-01, 2020-08-01, 2020-09-01, 2020-10-01], \
                 s = [\"1\", \"2\", \"x\", \"\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\"]";
    s.execute(setup, "setup", &mut |_| {})
        .expect("the fuzzing table");
    s
}

/// What is wrong with the outcome of one input, if anything.
fn failure(session: &mut Session, input: &str) -> Option<String> {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        session.execute(input, "fuzz", &mut |_| {})
    }));
    let took = started.elapsed();
    let problem = match outcome {
        Err(_) => Some("panicked".to_string()),
        Ok(Err(d)) if d.code == "spel::internal" => Some(format!("internal error: {}", d.message)),
        Ok(Err(d)) if d.span.is_none() => {
            Some(format!("error without a place: {} {}", d.code, d.message))
        }
        _ => None,
    };
    problem.or_else(|| (took > Duration::from_secs(10)).then(|| format!("took {took:?}")))
}

/// Inputs the fuzzer found failing, each fixed: run on every test.
const FOUND: &[&str] = &[
    "t |> plot hist []",
    "t |> filter x | y == 1",
    "t |> model x ~ offset(log(w)) + fe(g), cluster = [g, k] |> interpret is_missing(k)",
    "t |> margins -false in ([])",
    "predict (1e-08) * false in []",
    "t |> derive z = (x > 1) & !2.5",
    // After a sort, polars' top-k buffer is the size of `head`'s count: 1e10 aborted.
    "t |> sort x |> head 1e10",
    "v = 0.0 | is_null(-\"London\")",
    "v = 0.0 >= true < 1e-308 & round(-\"London\")",
];

#[test]
fn inputs_the_fuzzer_found() {
    let mut session = small_session();
    for input in FOUND {
        if let Some(problem) = failure(&mut session, input) {
            panic!("{problem}\n    {input:?}");
        }
    }
}

#[test]
fn fuzz_what_users_type() {
    let cases: usize = std::env::var("SPEL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("SPEL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut draw = Draw(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let echo = std::env::var_os("SPEL_FUZZ_ECHO").is_some();
    let mut session = small_session();
    let mut failures = Vec::new();
    for case in 0..cases {
        let input = match case % 3 {
            0 => statement(&mut draw),
            1 => {
                let valid = statement(&mut draw);
                mutate(&mut draw, &valid)
            }
            _ => raw_bytes(&mut draw),
        };
        // Polars' own warnings go to stderr, which the fuzzer cannot read: with
        // SPEL_FUZZ_ECHO set, each input is printed there first, so a warning follows
        // the input that caused it.
        if echo {
            eprintln!("input {case}: {input:?}");
        }
        if let Some(problem) = failure(&mut session, &input) {
            failures.push(format!("{problem}\n    {input:?}"));
        }
        // A binding the input made must not stop the next from finding the table.
        if case % 200 == 199 {
            session = small_session();
        }
    }
    println!("{cases} inputs (seed {seed}), {} failures", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {cases} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
