//! Expressions outside any table (`x = 6 * 7`): evaluated by polars on an empty frame,
//! so functions mean exactly what they mean inside a table.

use chrono::NaiveDate;
use polars::prelude::*;
use spel_grammar::ast::{Expr as Ast, ExprKind};
use spel_grammar::{Diagnostic, Span};

use super::Env;
use super::expr::Scope;
use crate::errors::polars_error;
use crate::value::Value;

pub fn evaluate(ast: &Ast, env: &Env) -> Result<Value, Diagnostic> {
    match &ast.kind {
        ExprKind::Number(x) => return Ok(Value::Number(*x)),
        ExprKind::Str(s) => return Ok(Value::Str(s.clone())),
        ExprKind::Bool(b) => return Ok(Value::Bool(*b)),
        ExprKind::Date(text) => return Ok(Value::Date(parse_date(text, ast.span)?)),
        ExprKind::Ident(name) => {
            return env
                .bindings
                .get(name)
                .cloned()
                .ok_or_else(|| env.unknown_name(name, ast.span));
        }
        ExprKind::List(items) => {
            let values = items.iter().map(|item| evaluate(item, env));
            return Ok(Value::List(values.collect::<Result<_, _>>()?));
        }
        _ => {}
    }
    let scope = Scope {
        schema: Arc::new(Schema::default()),
        env,
    };
    let (expr, _) = scope.checked(ast)?;
    let frame = DataFrame::empty()
        .lazy()
        .select([expr.alias("value")])
        .collect()
        .map_err(|e| polars_error(e).at(ast.span))?;
    let column = frame
        .column("value")
        .map_err(|e| polars_error(e).at(ast.span))?;
    let value = column.get(0).map_err(|e| polars_error(e).at(ast.span))?;
    from_any_value(&value).ok_or_else(|| {
        Diagnostic::new(
            "spel::type::unsupported",
            format!(
                "this gives a {}, which spel cannot hold as a value",
                value.dtype()
            ),
        )
        .at(ast.span)
    })
}

/// A single polars value as a spel value; `None` for nested types.
pub fn from_any_value(value: &AnyValue) -> Option<Value> {
    Some(match value {
        AnyValue::Null => Value::Number(f64::NAN),
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::String(s) => Value::Str(s.to_string()),
        AnyValue::StringOwned(s) => Value::Str(s.to_string()),
        AnyValue::Date(days) => Value::Date(
            NaiveDate::from_num_days_from_ce_opt(*days + 719_163).unwrap_or(NaiveDate::MIN),
        ),
        other => Value::Number(other.extract::<f64>()?),
    })
}

/// A `2019-07-01` literal; the grammar checked its shape, this checks the calendar.
pub fn parse_date(text: &str, span: Span) -> Result<NaiveDate, Diagnostic> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Diagnostic::new("spel::date::invalid", format!("`{text}` is not a date"))
            .at(span)
            .with_help("dates are written year-month-day, as 2019-07-01")
    })
}
