//! Verbs that change rows or columns: `filter`, `derive`, `select`, `drop`, `rename`,
//! `sort`, `join`.

use polars::prelude::*;
use spel_grammar::Diagnostic;
use spel_grammar::ast::{Connective, SortOrder};

use super::{Example, Output, Verb, VerbCtx, column_names};
use crate::value::{Survey, Value, dtype_name};

pub static VERBS: &[Verb] = &[
    Verb {
        name: "filter",
        signature: "filter CONDITION [, CONDITION ...]",
        summary: "Keep the rows where every condition is true.",
        description: "Conditions compare columns with `==`, `!=`, `<`, `<=`, `>`, `>=`, test \
                      membership with `in [...]`, and combine with `&`, `|` and `!`. Rows \
                      where a condition is missing are dropped, as in R's `filter` and \
                      Stata's `keep if`.",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Plan,
        examples: &[Example {
            summary: "Keep London rows with more than one FTE",
            code: "table region = [\"London\", \"North West\", \"London\"], fte = [1.5, 2, 0.5]\n  |> filter region == \"London\" & fte > 1",
            output: r#"shape: (1, 2)
┌────────┬─────┐
│ region ┆ fte │
│ ---    ┆ --- │
│ str    ┆ f64 │
╞════════╪═════╡
│ London ┆ 1.5 │
└────────┴─────┘"#,
        }],
        run: filter,
    },
    Verb {
        name: "derive",
        signature: "derive NAME = EXPRESSION, ...",
        summary: "Add or replace columns computed from others.",
        description: "Each new column may use the ones before it. An aggregate such as \
                      `mean(x)` repeats its value on every row.",
        connectives: &[],
        options: &[],
        named_arguments: true,
        output: Output::Plan,
        examples: &[Example {
            summary: "FTE per 10,000 patients",
            code: "table fte = [2, 3], patients = [40000, 60000]\n  |> derive fte_10k = per(fte, patients, 10000)",
            output: r#"shape: (2, 3)
┌─────┬──────────┬─────────┐
│ fte ┆ patients ┆ fte_10k │
│ --- ┆ ---      ┆ ---     │
│ f64 ┆ f64      ┆ f64     │
╞═════╪══════════╪═════════╡
│   2 ┆   40,000 ┆     0.5 │
│   3 ┆   60,000 ┆     0.5 │
└─────┴──────────┴─────────┘"#,
        }],
        run: derive,
    },
    Verb {
        name: "select",
        signature: "select COLUMN, ... | select [COLUMN, ...]",
        summary: "Keep only these columns, in this order (`new = old` renames).",
        description: "",
        connectives: &[],
        options: &[],
        named_arguments: true,
        output: Output::Plan,
        examples: &[Example {
            summary: "Pick and rename",
            code: "table a = [1], b = [2], c = [3] |> select c, first = a",
            output: r#"shape: (1, 2)
┌─────┬───────┐
│ c   ┆ first │
│ --- ┆ ---   │
│ f64 ┆ f64   │
╞═════╪═══════╡
│   3 ┆     1 │
└─────┴───────┘"#,
        }],
        run: select,
    },
    Verb {
        name: "drop",
        signature: "drop COLUMN, ...",
        summary: "Remove these columns.",
        description: "",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Plan,
        examples: &[Example {
            summary: "Drop one column",
            code: "table a = [1], b = [2] |> drop b",
            output: r#"shape: (1, 1)
┌─────┐
│ a   │
│ --- │
│ f64 │
╞═════╡
│   1 │
└─────┘"#,
        }],
        run: drop,
    },
    Verb {
        name: "rename",
        signature: "rename NEW = OLD, ...",
        summary: "Give columns new names.",
        description: "Written as dplyr's `rename`: the new name on the left.",
        connectives: &[],
        options: &[],
        named_arguments: true,
        output: Output::Plan,
        examples: &[Example {
            summary: "Rename a column",
            code: "table FTE = [1.5] |> rename fte = FTE",
            output: r#"shape: (1, 1)
┌─────┐
│ fte │
│ --- │
│ f64 │
╞═════╡
│ 1.5 │
└─────┘"#,
        }],
        run: rename,
    },
    Verb {
        name: "sort",
        signature: "sort COLUMN [asc|desc], ...",
        summary: "Order rows by one or more columns; missing values last.",
        description: "",
        connectives: &[],
        options: &[],
        named_arguments: false,
        output: Output::Plan,
        examples: &[Example {
            summary: "Largest first",
            code: "table g = [\"a\", \"b\", \"c\"], x = [2, 3, 1] |> sort x desc",
            output: r#"shape: (3, 2)
┌─────┬─────┐
│ g   ┆ x   │
│ --- ┆ --- │
│ str ┆ f64 │
╞═════╪═════╡
│ b   ┆   3 │
│ a   ┆   2 │
│ c   ┆   1 │
└─────┴─────┘"#,
        }],
        run: sort,
    },
    Verb {
        name: "join",
        signature: "join [left|inner|full|semi|anti] TABLE on KEY | on [KEY, ...]",
        summary: "Add the columns of another table, matching rows on key columns.",
        description: "A left join by default: every row of the table in scope is kept, \
                      with missing values where the other table has no match. Both \
                      tables must have the key columns, of matching types. Columns \
                      in both that are not keys get the suffix `_right` from the other table.",
        connectives: &[Connective::On],
        options: &[],
        named_arguments: false,
        output: Output::Plan,
        examples: &[Example {
            summary: "Look up region populations",
            code: "pop = table region = [\"London\", \"North West\"], patients = [9000, 7000]\ntable region = [\"London\", \"London\", \"South West\"], fte = [1, 2, 3]\n  |> join pop on region",
            output: r#"shape: (3, 3)
┌────────────┬─────┬──────────┐
│ region     ┆ fte ┆ patients │
│ ---        ┆ --- ┆ ---      │
│ str        ┆ f64 ┆ f64      │
╞════════════╪═════╪══════════╡
│ London     ┆   1 ┆     9000 │
│ London     ┆   2 ┆     9000 │
│ South West ┆   3 ┆     null │
└────────────┴─────┴──────────┘"#,
        }],
        run: join,
    },
];

fn filter(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    if let Some(survey) = ctx.survey()? {
        return filter_survey(ctx, &survey);
    }
    let lf = ctx.table()?;
    let condition = filter_condition(ctx, &lf)?;
    Ok(Value::Table(lf.filter(condition)))
}

/// A survey's subpopulation: its rows stay (every PSU counts in a variance); the
/// condition joins its domain.
fn filter_survey(ctx: &VerbCtx, survey: &Survey) -> Result<Value, Diagnostic> {
    let condition = filter_condition(ctx, &survey.table)?;
    let mut subpopulation = survey.clone();
    subpopulation.domain = Some(match subpopulation.domain {
        Some(domain) => domain.and(condition),
        None => condition,
    });
    subpopulation
        .domain_text
        .extend(ctx.args().iter().map(|a| ctx.text(a.span).to_string()));
    Ok(Value::Survey(std::sync::Arc::new(subpopulation)))
}

/// `filter`'s conditions, each checked to be true or false, joined by `&`.
fn filter_condition(ctx: &VerbCtx, lf: &LazyFrame) -> Result<Expr, Diagnostic> {
    let scope = ctx.scope(lf)?;
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`filter` needs a condition, such as `year >= 2020`"));
    }
    let mut condition: Option<Expr> = None;
    for arg in args {
        let Some(ast) = arg.as_expr() else {
            return Err(ctx.usage_error("`filter` takes conditions"));
        };
        let (expr, dtype) = scope.checked(ast)?;
        if dtype != DataType::Boolean {
            let text = ctx.text(ast.span);
            return Err(Diagnostic::new(
                "spel::filter::not_condition",
                format!(
                    "`filter` needs a condition that is true or false, but `{text}` is {}",
                    describe_type(&dtype)
                ),
            )
            .at(ast.span)
            .with_label(format!("this is {}", dtype_name(&dtype)))
            .with_help(format!(
                "compare it with something, as in `{text} == ...` or `{text} > ...`"
            )));
        }
        condition = Some(match condition {
            Some(c) => c.and(expr),
            None => expr,
        });
    }
    condition.ok_or_else(|| ctx.usage_error("`filter` needs a condition"))
}

fn describe_type(dtype: &DataType) -> String {
    if dtype.is_primitive_numeric() {
        format!("a number ({})", dtype_name(dtype))
    } else if dtype == &DataType::String {
        "text (str)".into()
    } else {
        format!("of type {}", dtype_name(dtype))
    }
}

fn derive(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    if let Some(survey) = ctx.survey()? {
        let mut derived = (*survey).clone();
        derived.table = derive_columns(ctx, survey.table.clone())?;
        return Ok(Value::Survey(std::sync::Arc::new(derived)));
    }
    Ok(Value::Table(derive_columns(ctx, ctx.table()?)?))
}

fn derive_columns(ctx: &VerbCtx, mut lf: LazyFrame) -> Result<LazyFrame, Diagnostic> {
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`derive` needs `name = expression`"));
    }
    for arg in args {
        let (Some(name), Some(ast)) = (&arg.name, arg.as_expr()) else {
            return Err(
                Diagnostic::new("spel::derive::unnamed", "each new column needs a name")
                    .at(arg.span)
                    .with_help(format!("write `derive new_name = {}`", ctx.text(arg.span))),
            );
        };
        // Each column sees the ones derived before it, as in dplyr's mutate.
        let scope = ctx.scope(&lf)?;
        let (expr, _) = scope.checked(ast)?;
        lf = lf.with_columns([expr.alias(name.name.as_str())]);
    }
    Ok(lf)
}

fn select(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`select` needs the columns to keep"));
    }
    let mut exprs = Vec::new();
    for arg in args {
        match (&arg.name, arg.as_expr()) {
            (Some(new), Some(old)) => {
                let old = super::column_name_of(old, &scope)?;
                exprs.push(col(old).alias(new.name.as_str()));
            }
            _ => {
                for (name, _) in column_names(&[arg], &scope)? {
                    exprs.push(col(name));
                }
            }
        }
    }
    Ok(Value::Table(lf.select(exprs)))
}

fn drop(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`drop` needs the columns to remove"));
    }
    let names: Vec<String> = column_names(&args, &scope)?
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let keep: Vec<Expr> = scope
        .schema
        .iter_names()
        .filter(|n| !names.iter().any(|d| d == n.as_str()))
        .map(|n| col(n.clone()))
        .collect();
    Ok(Value::Table(lf.select(keep)))
}

fn rename(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`rename` needs `new = old`"));
    }
    let (mut old_names, mut new_names) = (Vec::new(), Vec::new());
    for arg in args {
        let (Some(new), Some(old)) = (&arg.name, arg.as_expr()) else {
            return Err(
                Diagnostic::new("spel::rename::form", "write `rename new = old`").at(arg.span),
            );
        };
        let old = super::column_name_of(old, &scope)?;
        if scope.schema.contains(&new.name) && new.name != old {
            return Err(Diagnostic::new(
                "spel::rename::exists",
                format!("the table already has a column `{}`", new.name),
            )
            .at(new.span)
            .with_help("drop it first, or choose another name"));
        }
        old_names.push(old.to_string());
        new_names.push(new.name.clone());
    }
    Ok(Value::Table(lf.rename(old_names, new_names, true)))
}

fn sort(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let lf = ctx.table()?;
    let scope = ctx.scope(&lf)?;
    let args = ctx.args();
    if args.is_empty() {
        return Err(ctx.usage_error("`sort` needs the columns to sort by"));
    }
    let mut keys = Vec::new();
    let mut descending = Vec::new();
    for arg in args {
        let Some(ast) = arg.as_expr() else {
            return Err(ctx.usage_error("`sort` takes columns"));
        };
        keys.push(scope.checked(ast)?.0);
        descending.push(matches!(arg.order, Some((SortOrder::Desc, _))));
    }
    let options = SortMultipleOptions::default()
        .with_order_descending_multi(descending)
        .with_nulls_last(true)
        .with_maintain_order(true);
    Ok(Value::Table(lf.sort_by_exprs(keys, options)))
}

fn join(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let left = ctx.table()?;
    let args = ctx.args();
    let (how, right_arg) = match args.as_slice() {
        [table] => (JoinType::Left, *table),
        [kind, table] => {
            let word = kind.as_expr().and_then(|e| e.as_ident()).unwrap_or("");
            let how = match word {
                "left" => JoinType::Left,
                "inner" => JoinType::Inner,
                "full" | "outer" => JoinType::Full,
                "semi" => JoinType::Semi,
                "anti" => JoinType::Anti,
                _ => {
                    return Err(Diagnostic::new(
                        "spel::join::kind",
                        format!("`{word}` is not a kind of join"),
                    )
                    .at(kind.span)
                    .suggest(spel_grammar::did_you_mean(
                        word,
                        ["left", "inner", "full", "semi", "anti"],
                    ))
                    .with_note("kinds: left (the default), inner, full, semi, anti"));
                }
            };
            (how, *table)
        }
        _ => return Err(ctx.usage_error("`join` takes the other table, as `join wf on pcn`")),
    };
    let mut right = ctx.table_arg(right_arg)?;
    let on = ctx.clause_args(Connective::On);
    if on.is_empty() {
        return Err(ctx.usage_error("`join` needs `on` and the key columns"));
    }
    let left_scope = ctx.scope(&left)?;
    let right_scope = ctx.scope(&right)?;
    let right_name = ctx.text(right_arg.span).to_string();
    let mut keys = Vec::new();
    for arg in &on {
        let items: Vec<&spel_grammar::ast::Expr> = match arg.as_expr().map(|e| &e.kind) {
            Some(spel_grammar::ast::ExprKind::List(items)) => items.iter().collect(),
            Some(_) => arg.as_expr().into_iter().collect(),
            None => return Err(ctx.usage_error("`on` takes column names")),
        };
        for item in items {
            let name = super::column_name_of(item, &left_scope)
                .map_err(|d| d.with_note("the table in scope lacks this key"))?;
            if !right_scope.schema.contains(name) {
                return Err(right_scope
                    .unknown_column(name, item)
                    .with_label(format!("`{right_name}` has no column `{name}`"))
                    .with_note(format!(
                        "a join key must be a column of both tables; `{right_name}` has {}",
                        right_scope.column_list()
                    )));
            }
            let (lt, rt) = (left_scope.schema.get(name), right_scope.schema.get(name));
            if let (Some(lt), Some(rt)) = (lt, rt)
                && lt != rt
                && !(lt.is_primitive_numeric() && rt.is_primitive_numeric())
            {
                return Err(Diagnostic::new(
                    "spel::join::key_type",
                    format!(
                        "`{name}` is {} here but {} in `{right_name}`",
                        dtype_name(lt),
                        dtype_name(rt)
                    ),
                )
                .at(item.span)
                .with_help("make the types match first, e.g. with `derive`"));
            }
            // Integer and float keys (2020 and 2020.0) match, as in R and Stata.
            if let (Some(lt), Some(rt)) = (lt, rt)
                && lt != rt
            {
                right = right.with_columns([col(name).cast(lt.clone())]);
            }
            keys.push(name.to_string());
        }
    }
    let key_exprs: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let mut join_args = JoinArgs::new(how);
    join_args.coalesce = JoinCoalesce::CoalesceColumns;
    join_args.maintain_order = MaintainOrderJoin::Left;
    Ok(Value::Table(left.join(
        right,
        key_exprs.clone(),
        key_exprs,
        join_args,
    )))
}
