//! `read` and `write`.

use spel_grammar::Diagnostic;
use spel_grammar::ast::{Arg, Connective};

use super::{OptionKind, OptionSpec, Output, Verb, VerbCtx};
use crate::eval::expr::evaluate;
use crate::files::{self, Encoding, ReadOptions};
use crate::format;
use crate::value::Value;

pub static VERBS: &[Verb] = &[
    Verb {
        name: "read",
        signature: "read \"PATH\" [, delimiter = \",\"] [, encoding = \"utf8\"] [, null_values = [\"NA\"]] [, source_file = true]",
        summary: "Read a CSV, Parquet or NDJSON file (by extension) as a table.",
        description: "The format follows the extension: .csv (also .tsv, .txt), .parquet, \
                      .ndjson or .jsonl. A path with `*` reads every matching file and \
                      stacks them, columns aligned by name (a note says which columns some \
                      files lack; those cells are missing), with the file each row came \
                      from in a `source_file` column if asked. CSV files must be UTF-8 (a \
                      byte-order mark is skipped) unless `encoding = \"cp1252\"` is given, \
                      as NHS England's workforce files need. Column types are inferred \
                      from the whole file.",
        connectives: &[],
        options: &[
            OptionSpec {
                name: "delimiter",
                values: "one character, such as \";\" or \"\\t\"",
                kind: OptionKind::Text,
                summary: "Field separator of a CSV file (default \",\").",
            },
            OptionSpec {
                name: "encoding",
                values: "\"utf8\" or \"cp1252\"",
                kind: OptionKind::Text,
                summary: "Text encoding of a CSV file (default UTF-8).",
            },
            OptionSpec {
                name: "null_values",
                values: "a string or a list of strings",
                kind: OptionKind::Value,
                summary: "Cell texts that mean missing, such as \"NA\" or \"-\".",
            },
            OptionSpec {
                name: "source_file",
                values: "true or false",
                kind: OptionKind::Bool,
                summary: "Add a `source_file` column: the name of the file each row came from.",
            },
        ],
        named_arguments: false,
        output: Output::Computed,
        examples: &[],
        run: read,
    },
    Verb {
        name: "write",
        signature: "write [TABLE] to \"PATH\"",
        summary: "Write a table to a CSV or Parquet file (by extension).",
        description: "The file is written to a temporary file in the same folder and \
                      renamed into place when complete, so a failure never leaves a \
                      half-written file.",
        connectives: &[Connective::To],
        options: &[],
        named_arguments: false,
        output: Output::Computed,
        examples: &[],
        run: write,
    },
];

fn read(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    let [arg] = args.as_slice() else {
        return Err(ctx.usage_error("`read` takes one file path in double quotes"));
    };
    let path = match arg.as_expr().map(|e| evaluate(e, ctx.env)) {
        Some(Ok(Value::Str(path))) => path,
        Some(Err(d)) => return Err(d),
        _ => {
            return Err(Diagnostic::new(
                "spel::read::path",
                "`read` takes a file path in double quotes",
            )
            .at(arg.span)
            .with_help(format!("write `read \"{}\"`", ctx.text(arg.span))));
        }
    };
    let mut options = ReadOptions {
        delimiter: b',',
        encoding: Encoding::Utf8,
        null_values: Vec::new(),
        source_file: false,
    };
    match ctx.option_value("source_file")? {
        None => {}
        Some((Value::Bool(b), _)) => options.source_file = b,
        Some((_, span)) => {
            return Err(Diagnostic::new(
                "spel::read::source_file",
                "`source_file` is true or false",
            )
            .at(span));
        }
    }
    if path.to_lowercase().ends_with(".tsv") {
        options.delimiter = b'\t';
    }
    if let Some((value, span)) = ctx.option_value("delimiter")? {
        options.delimiter = match value {
            Value::Str(s) if s.len() == 1 => s.as_bytes()[0],
            _ => {
                return Err(Diagnostic::new(
                    "spel::read::delimiter",
                    "`delimiter` is one character in quotes",
                )
                .at(span)
                .with_help("for example `delimiter = \";\"` or `delimiter = \"\\t\"`"));
            }
        };
    }
    if let Some((value, span)) = ctx.option_value("encoding")? {
        let name = match &value {
            Value::Str(s) => s.to_lowercase().replace(['-', '_'], ""),
            _ => String::new(),
        };
        options.encoding = match name.as_str() {
            "utf8" => Encoding::Utf8,
            "cp1252" | "windows1252" | "latin1" => Encoding::Cp1252,
            _ => {
                return Err(
                    Diagnostic::new("spel::read::encoding_name", "unknown encoding")
                        .at(span)
                        .with_help("use `encoding = \"utf8\"` or `encoding = \"cp1252\"`"),
                );
            }
        };
    }
    if let Some((value, span)) = ctx.option_value("null_values")? {
        options.null_values = match value {
            Value::Str(s) => vec![s],
            Value::List(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::Str(s) => Ok(s),
                    _ => Err(Diagnostic::new(
                        "spel::read::null_values",
                        "`null_values` are strings",
                    )
                    .at(span)),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(Diagnostic::new(
                    "spel::read::null_values",
                    "`null_values` are strings",
                )
                .at(span));
            }
        };
    }
    let resolved = ctx.env.resolve_path(&path);
    let base = ctx.env.base_dir.map(|b| b.to_path_buf());
    let span = arg.span;
    let (table, notes) = ctx
        .env
        .work()
        .run(&format!("reading {path}"), span, move || {
            files::read(&resolved, base.as_deref(), &options, span)
        })?;
    ctx.effects.notes.extend(notes);
    Ok(Value::Table(table))
}

fn write(ctx: &mut VerbCtx) -> Result<Value, Diagnostic> {
    let args = ctx.args();
    // A plot is written as its SVG or its Vega-Lite spec.
    if let [arg] = args.as_slice()
        && let Some(expr) = arg.as_expr()
        && let Value::Plot(plot) = evaluate(expr, ctx.env)?
    {
        return write_plot(ctx, &plot);
    }
    let lf = match args.as_slice() {
        [] => ctx.table()?,
        [arg] => ctx.table_arg(arg)?,
        _ => return Err(ctx.usage_error("`write` takes one table")),
    };
    let to = ctx.clause_args(Connective::To);
    let [target] = to.as_slice() else {
        return Err(ctx.usage_error("`write` needs `to \"file.csv\"`"));
    };
    let path = target_path(ctx, target)?;
    let mut df = ctx
        .env
        .work()
        .collect(lf, &format!("computing {path}"), ctx.call.span)?;
    files::write(
        &mut df,
        &ctx.env.resolve_path(&path),
        ctx.env.base_dir,
        target.span,
    )?;
    Ok(Value::Message(format!(
        "wrote {} × {} to {path}",
        format::plural(df.height(), "row"),
        format::plural(df.width(), "column")
    )))
}

/// The path after `to`, which must be a string.
fn target_path(ctx: &VerbCtx, target: &Arg) -> Result<String, Diagnostic> {
    match target.as_expr().map(|e| evaluate(e, ctx.env)) {
        Some(Ok(Value::Str(path))) => Ok(path),
        Some(Err(d)) => Err(d),
        _ => Err(Diagnostic::new(
            "spel::write::path",
            "`to` takes a file path in double quotes",
        )
        .at(target.span)),
    }
}

fn write_plot(ctx: &VerbCtx, plot: &crate::plot::Plot) -> Result<Value, Diagnostic> {
    let to = ctx.clause_args(Connective::To);
    let target = match to.as_slice() {
        [target] => target,
        _ => return Err(ctx.usage_error("`write` needs `to \"figure.svg\"`")),
    };
    let path = target_path(ctx, target)?;
    let text = if path.ends_with(".svg") {
        crate::plot::svg::render(plot)
    } else if path.ends_with(".json") {
        serde_json::to_string_pretty(&crate::plot::vegalite::spec(plot)).unwrap_or_default()
    } else {
        return Err(Diagnostic::new(
            "spel::write::format",
            "a plot is written as .svg, or as .json (its Vega-Lite spec)",
        )
        .at(target.span));
    };
    files::write_text(&ctx.env.resolve_path(&path), &text).map_err(|e| {
        Diagnostic::new("spel::write::io", format!("cannot write `{path}`: {e}")).at(target.span)
    })?;
    Ok(Value::Message(format!("wrote the plot to {path}")))
}
