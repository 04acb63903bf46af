//! Verbs that make, pick or show a table: `table`, `use`, `head`, `describe`, `print`.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::ExprKind;

use super::{Example, Output, Verb, VerbCtx};
use crate::errors::polars_error;
use crate::eval::expr::evaluate;
use crate::value::{Value, dtype_name};

pub static VERBS: &[Verb] = &[
    Verb {
        name: "table",
        signature: "table name = [values], ...",
        summary: "Make a small table from lists, one per column.",
        description: "Each named list becomes a column; the lists must be equally long. \
                      Handy for teaching, for lookup tables and for examples.",
        connectives: &[],
        options: &[],
        named_arguments: true,
        output: Output::Plan,
        examples: &[Example {
            summary: "A three-row table",
            code: "table region = [\"London\", \"North West\", \"London\"], fte = [1.5, 2, 0.5]",
            output: r#"shape: (3, 2)
┌────────────┬─────┐
│ region     ┆ fte │
│ ---        ┆ --- │
│ str        ┆ f64 │
╞════════════╪═════╡
│ London     ┆ 1.5 │
│ North West ┆   2 │
│ London     ┆ 0.5 │
└────────────┴─────┘"#,
        }],
        run: make_table,
    },
    Verb {
        name: "use",
        signature: "use TABLE",
        summary: "Make a table the current one, for verbs that name none.",
        description: "After `use d`, `describe`, `head`, `filter` and the other verbs work on \
                      `d` unless a table is piped in or named with `from`. The name is \
                      followed: if `d` is bound again, the new table is used.",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Plan,
        examples: &[Example {
            summary: "Work on one table",
            code: "d = table x = [3, 1, 2]\nuse d\nsort x",
            output: r#"shape: (3, 1)
┌─────┐
│ x   │
│ --- │
│ f64 │
╞═════╡
│   1 │
│   2 │
│   3 │
└─────┘"#,
        }],
        run: use_table,
    },
    Verb {
        name: "label",
        signature: "label COLUMN = \"words\", ...",
        summary: "Say in words what columns are, for sentences such as `interpret`'s.",
        description: "`label lw_fte_50k = \"link-worker FTE per 50,000 patients\"` names the \
                      column in words wherever spel writes a sentence about it (`interpret`), \
                      the column's name after the words the first time. Labels belong to the \
                      session, by column name, as a codebook does: any table's column of that \
                      name is labelled. A label given again replaces the old one; `label` alone \
                      lists them; `:clear` removes them.",
        connectives: &[],
        options: &[],
        named_arguments: true,
        output: Output::Plan,
        examples: &[Example {
            summary: "Label a column, then list the labels",
            code: "label lw_fte_50k = \"link-worker FTE per 50,000 patients\"\nlabel",
            output: r#"labelled lw_fte_50k
shape: (1, 2)
┌────────────┬──────────────────────────────────┐
│ column     ┆ label                            │
│ ---        ┆ ---                              │
│ str        ┆ str                              │
╞════════════╪══════════════════════════════════╡
│ lw_fte_50k ┆ link-worker FTE per 50,000 pati… │
└────────────┴──────────────────────────────────┘"#,
        }],
        run: label,
    },
    Verb {
        name: "head",
        signature: "head [N] [from TABLE]",
        summary: "The first N rows (10 if not given).",
        description: "Shows the first rows of the table in scope.",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Plan,
        examples: &[Example {
            summary: "First two rows",
            code: "table x = [1, 2, 3] |> head 2",
            output: r#"shape: (2, 1)
┌─────┐
│ x   │
│ --- │
│ f64 │
╞═════╡
│   1 │
│   2 │
└─────┘"#,
        }],
        run: head,
    },
    Verb {
        name: "describe",
        signature: "describe [from TABLE]",
        summary: "Each column's type, missing values, mean, min, max and levels.",
        description: "One row per column: its type, how many values are present and \
                      missing, the number of distinct values, the mean (numbers), the \
                      minimum and maximum, and for text the first levels in sorted order.",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "Describe a small table",
            code: "table g = [\"a\", \"b\", \"a\"], x = [1, 2, 6] |> describe",
            output: r#"shape: (2, 9)
┌────────┬──────┬─────┬─────────┬──────────┬──────┬─────┬─────┬────────┐
│ column ┆ type ┆ n   ┆ missing ┆ distinct ┆ mean ┆ min ┆ max ┆ levels │
│ ---    ┆ ---  ┆ --- ┆ ---     ┆ ---      ┆ ---  ┆ --- ┆ --- ┆ ---    │
│ str    ┆ str  ┆ i64 ┆ i64     ┆ i64      ┆ f64  ┆ str ┆ str ┆ str    │
╞════════╪══════╪═════╪═════════╪══════════╪══════╪═════╪═════╪════════╡
│ g      ┆ str  ┆   3 ┆       0 ┆        2 ┆ null ┆ a   ┆ b   ┆ a, b   │
│ x      ┆ f64  ┆   3 ┆       0 ┆        3 ┆    3 ┆ 1   ┆ 6   ┆ null   │
└────────┴──────┴─────┴─────────┴──────────┴──────┴─────┴─────┴────────┘"#,
        }],
        run: describe,
    },
    Verb {
        name: "print",
        signature: "print VALUE, ...",
        summary: "Write values to standard output as one line.",
        description: "Strings are written as they are; other values as they are shown.",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Computed,
        examples: &[Example {
            summary: "Hello",
            code: "print \"hello, world\"",
            output: "hello, world",
        }],
        run: print,
    },
];

fn make_table(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`table` needs at least one column, as `x = [1, 2, 3]`"));
    }
    let mut columns = Vec::new();
    let mut height: Option<(usize, &str)> = None;
    for arg in args {
        let (Some(name), Some(expr)) = (&arg.name, arg.as_expr()) else {
            return Err(Diagnostic::new(
                "spel::table::unnamed",
                "each column of `table` needs a name",
            )
            .at(arg.span)
            .with_help(format!("write `name = {}`", ctx.text(arg.span))));
        };
        let values = match evaluate(expr, ctx.env)? {
            Value::List(items) => items,
            scalar @ (Value::Number(_) | Value::Str(_) | Value::Bool(_) | Value::Date(_)) => {
                vec![scalar]
            }
            other => {
                return Err(Diagnostic::new(
                    "spel::table::column",
                    format!("a column is a list of values, not a {}", other.type_name()),
                )
                .at(expr.span));
            }
        };
        match height {
            Some((h, first)) if h != values.len() => {
                return Err(Diagnostic::new(
                    "spel::table::ragged",
                    format!(
                        "`{}` has {} values but `{first}` has {h}",
                        name.name,
                        values.len()
                    ),
                )
                .at(expr.span)
                .with_help("give every column the same number of values"));
            }
            None => height = Some((values.len(), &name.name)),
            _ => {}
        }
        let series = crate::eval::expr::list_series(&values)
            .map_err(|d| d.or_at(expr.span))?
            .with_name(name.name.as_str().into());
        columns.push(series.into_column());
    }
    let df = DataFrame::new_infer_height(columns).map_err(|e| polars_error(e).at(ctx.call.span))?;
    Ok(Value::Table(df.lazy()))
}

fn use_table(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let [arg] = args.as_slice() else {
        return Err(ctx.usage_error("`use` takes the name of one table"));
    };
    let Some(name) = arg.as_expr().and_then(|e| e.as_ident()) else {
        return Err(
            Diagnostic::new("spel::use::name", "`use` takes the name of a table")
                .at(arg.span)
                .with_help("bind the table first: `d = read \"file.csv\"`, then `use d`"),
        );
    };
    match ctx.env.bindings.get(name) {
        Some(Value::Table(_) | Value::Survey(_)) => {
            ctx.effects.use_table = Some(name.to_string());
            Ok(Value::Nothing)
        }
        Some(other) => Err(Diagnostic::new(
            "spel::use::not_table",
            format!("`{name}` is a {}, not a table", other.type_name()),
        )
        .at(arg.span)),
        None => Err(ctx.env.unknown_name(name, arg.span)),
    }
}

/// `label name = "words", ...`: the labels to add once the statement succeeds; `label`
/// alone, the labels so far as a table.
fn label(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    if args.is_empty() {
        let (names, words): (Vec<&str>, Vec<&str>) = ctx
            .env
            .labels
            .iter()
            .map(|(n, w)| (n.as_str(), w.as_str()))
            .unzip();
        let table = df!("column" => names, "label" => words)
            .map_err(|e| polars_error(e).at(ctx.call.span))?;
        return Ok(Value::Table(table.lazy()));
    }
    let mut labelled = Vec::new();
    for arg in args {
        let words = match (&arg.name, arg.as_expr().map(|e| &e.kind)) {
            (Some(name), Some(ExprKind::Str(words))) if !words.trim().is_empty() => {
                (name.name.clone(), words.trim().to_string())
            }
            _ => {
                return Err(Diagnostic::new(
                    "spel::label::form",
                    "`label` takes a column name and its words in quotes",
                )
                .at(arg.span)
                .with_help("write `label lw_fte_50k = \"link-worker FTE per 50,000 patients\"`"));
            }
        };
        labelled.push(words.0.clone());
        ctx.effects.labels.push(words);
    }
    Ok(Value::Message(format!("labelled {}", labelled.join(", "))))
}

fn head(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let args = ctx.args();
    let n = match args.as_slice() {
        [] => 10,
        [arg] => {
            let expr = arg
                .as_expr()
                .ok_or_else(|| ctx.usage_error("`head` takes a number"))?;
            match evaluate(expr, ctx.env)? {
                Value::Number(x) if x >= 0.0 && x.fract() == 0.0 => x as IdxSize,
                _ => {
                    return Err(Diagnostic::new(
                        "spel::head::count",
                        "`head` takes a whole number of rows",
                    )
                    .at(expr.span));
                }
            }
        }
        _ => return Err(ctx.usage_error("`head` takes one number")),
    };
    // After a sort, polars keeps the first n rows in a buffer of n, made before any row
    // arrives: `head 1e10` would ask for hundreds of gigabytes. More rows than the table
    // has are the table.
    let n = if n > LARGE_HEAD {
        n.min(ctx.env.work().count(&lf, ctx.call.span)? as IdxSize)
    } else {
        n
    };
    Ok(Value::Table(lf.limit(n)))
}

/// Above this, `head`'s count is first held to the table's rows.
const LARGE_HEAD: IdxSize = 100_000;

fn describe(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    if let Some(arg) = ctx.args().first() {
        return Err(
            Diagnostic::new("spel::describe::args", "`describe` takes no arguments")
                .at(arg.span)
                .with_help("to describe another table, write `describe from d` or `d |> describe`"),
        );
    }
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let fail = |e: PolarsError| polars_error(e).at(ctx.call.span);

    let mut aggregates = Vec::new();
    for (name, dtype) in scope.schema.iter() {
        let c = || col(name.clone());
        let tag = |what: &str| format!("{what}\u{1f}{name}");
        aggregates.push(c().count().cast(DataType::Int64).alias(tag("n")));
        aggregates.push(c().null_count().cast(DataType::Int64).alias(tag("missing")));
        aggregates.push(c().n_unique().cast(DataType::Int64).alias(tag("distinct")));
        let numeric = dtype.is_primitive_numeric() || dtype == &DataType::Boolean;
        let mean = if numeric {
            c().cast(DataType::Float64).mean()
        } else {
            lit(NULL).cast(DataType::Float64)
        };
        aggregates.push(mean.alias(tag("mean")));
        aggregates.push(c().min().cast(DataType::String).alias(tag("min")));
        aggregates.push(c().max().cast(DataType::String).alias(tag("max")));
    }
    let stats = ctx.env.work().collect(
        lf.clone().select(aggregates),
        "describing the table",
        ctx.call.span,
    )?;
    let get = |what: &str, name: &str| {
        stats
            .column(&format!("{what}\u{1f}{name}"))
            .ok()
            .and_then(|c| c.get(0).ok())
            .map(|v| v.into_static())
    };

    let (mut names, mut types, mut present, mut missing, mut distinct) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut means, mut mins, mut maxs, mut levels) = (vec![], vec![], vec![], vec![]);
    for (name, dtype) in scope.schema.iter() {
        names.push(name.to_string());
        types.push(dtype_name(dtype));
        present.push(get("n", name).and_then(|v| v.extract::<i64>()));
        missing.push(get("missing", name).and_then(|v| v.extract::<i64>()));
        distinct.push(get("distinct", name).and_then(|v| v.extract::<i64>()));
        means.push(get("mean", name).and_then(|v| v.extract::<f64>()));
        let as_text = |v: Option<AnyValue>| -> Option<String> {
            match v? {
                AnyValue::Null => None,
                AnyValue::String(s) => Some(shorten_number(s, dtype)),
                AnyValue::StringOwned(s) => Some(shorten_number(&s, dtype)),
                other => Some(other.to_string()),
            }
        };
        mins.push(as_text(get("min", name)));
        maxs.push(as_text(get("max", name)));
        levels.push(if dtype == &DataType::String || dtype.is_categorical() {
            Some(first_levels(&lf, name).map_err(fail)?)
        } else {
            None
        });
    }
    let df = df!(
        "column" => names,
        "type" => types,
        "n" => present,
        "missing" => missing,
        "distinct" => distinct,
        "mean" => means,
        "min" => mins,
        "max" => maxs,
        "levels" => levels,
    )
    .map_err(fail)?;
    Ok(Value::Table(df.lazy()))
}

/// Floats cast to text by polars keep every digit; show them as spel shows numbers.
fn shorten_number(text: &str, dtype: &DataType) -> String {
    if dtype.is_float()
        && let Ok(x) = text.parse::<f64>()
    {
        return crate::format::shown(x);
    }
    text.to_string()
}

/// "a, b, c, …": the first three distinct values in sorted order.
fn first_levels(lf: &LazyFrame, name: &str) -> PolarsResult<String> {
    let levels = lf
        .clone()
        .select([col(name)
            .cast(DataType::String)
            .drop_nulls()
            .unique()
            .sort(SortOptions::default())
            .head(Some(4))])
        .collect()?;
    let column = levels.column(name)?;
    let values = column.str()?;
    let mut shown: Vec<String> = values
        .iter()
        .flatten()
        .take(3)
        .map(str::to_string)
        .collect();
    if values.len() > 3 {
        shown.push("…".into());
    }
    Ok(shown.join(", "))
}

fn print(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let mut parts = Vec::new();
    for arg in ctx.args() {
        let Some(expr) = arg.as_expr() else {
            return Err(ctx.usage_error("`print` takes values"));
        };
        let value = match expr.as_ident().and_then(|n| ctx.env.bindings.get(n)) {
            Some(v) => v.clone(),
            None => evaluate(expr, ctx.env)?,
        };
        parts.push(match value {
            Value::Str(s) | Value::Message(s) => s,
            other => crate::render::snapshot(&other, ctx.env.work(), expr.span)?
                .text(crate::render::DEFAULT_WIDTH),
        });
    }
    Ok(Value::Message(parts.join(" ")))
}
