//! Expressions to polars expressions. Inside a table's scope (`filter`, `derive`,
//! `summarise`) names resolve to columns first, then to scalar bindings; outside any table
//! (`x = 6 * 7`) an expression is evaluated by polars on an empty frame, so functions mean
//! exactly what they mean inside a table.

use chrono::NaiveDate;
use polars::prelude::*;
use spel_grammar::ast::{BinaryOp, Expr as Ast, ExprKind, UnaryOp};
use spel_grammar::{Diagnostic, Span, did_you_mean};

use super::Env;
use crate::errors::polars_error;
use crate::functions::{self, CallScope};
use crate::value::{Value, dtype_name};

/// The columns an expression can see, and the session's bindings behind them.
pub struct Scope<'a> {
    pub schema: SchemaRef,
    pub env: &'a Env<'a>,
}

impl Scope<'_> {
    /// The polars expression for `ast`, with unknown names reported at their span.
    pub fn expr(&self, ast: &Ast) -> Result<Expr, Diagnostic> {
        Ok(match &ast.kind {
            ExprKind::Number(x) => lit(*x),
            ExprKind::Str(s) => lit(s.clone()),
            ExprKind::Bool(b) => lit(*b),
            ExprKind::Date(text) => lit(parse_date(text, ast.span)?),
            ExprKind::Ident(name) => self.name(name, ast)?,
            ExprKind::List(_) => {
                return Err(Diagnostic::new(
                    "spel::type::list",
                    "a list can only stand after `in` here",
                )
                .at(ast.span)
                .with_help("to test membership, write `x in [a, b]`"));
            }
            ExprKind::Call { function, args } => functions::build(function, args, ast.span, self)?,
            ExprKind::Unary { op, operand } => {
                let inner = self.expr(operand)?;
                match op {
                    UnaryOp::Not => self.check_not(operand, &inner)?,
                    UnaryOp::Neg => self.check_neg(operand, &inner)?,
                }
                match op {
                    UnaryOp::Neg => lit(0.0) - inner,
                    UnaryOp::Not => inner.not(),
                }
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right)?,
        })
    }

    fn name(&self, name: &str, ast: &Ast) -> Result<Expr, Diagnostic> {
        if self.schema.contains(name) {
            return Ok(col(name));
        }
        match self.env.bindings.get(name) {
            Some(value) => value.to_literal().ok_or_else(|| {
                Diagnostic::new(
                    "spel::type::not_scalar",
                    format!(
                        "`{name}` is a {}, not a column or a single value",
                        value.type_name()
                    ),
                )
                .at(ast.span)
            }),
            // Outside any table (`x = nope + 1`) the name can only be a binding.
            None if self.schema.is_empty() => Err(self.env.unknown_name(name, ast.span)),
            None => Err(self.unknown_column(name, ast)),
        }
    }

    pub fn unknown_column(&self, name: &str, ast: &Ast) -> Diagnostic {
        let columns = self.schema.iter_names().map(|n| n.as_str());
        let scalars = self
            .env
            .bindings
            .iter()
            .filter(|(_, v)| v.to_literal().is_some())
            .map(|(k, _)| k.as_str());
        let suggestion = did_you_mean(name, columns.chain(scalars));
        let mut diagnostic =
            Diagnostic::new("spel::column::unknown", format!("unknown column `{name}`"))
                .at(ast.span)
                .with_label("not a column of this table");
        diagnostic = match suggestion {
            Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
            None => diagnostic.with_help(format!("the columns are {}", self.column_list())),
        };
        diagnostic
    }

    /// "`a`, `b`, `c` and 12 more", for help lines.
    pub fn column_list(&self) -> String {
        let names: Vec<String> = self
            .schema
            .iter_names()
            .take(8)
            .map(|n| format!("`{n}`"))
            .collect();
        let rest = self.schema.len().saturating_sub(names.len());
        if rest > 0 {
            format!("{} and {rest} more", names.join(", "))
        } else {
            names.join(", ")
        }
    }

    fn binary(&self, op: BinaryOp, left: &Ast, right: &Ast) -> Result<Expr, Diagnostic> {
        if op == BinaryOp::In {
            return self.membership(left, right);
        }
        // Along a chain (`a + b + c + …`, parsed as ((a + b) + c) + …) in a loop: the
        // recursion is only as deep as the expression nests, never as long as it is.
        let mut spine = vec![(op, right)];
        let mut leftmost = left;
        while let ExprKind::Binary { op, left, right } = &leftmost.kind
            && *op != BinaryOp::In
        {
            spine.push((*op, right));
            leftmost = left;
        }
        let mut done = (self.expr(leftmost)?, leftmost.span, kind_of(leftmost));
        for (op, right) in spine.into_iter().rev() {
            let r = self.expr(right)?;
            let (l, span, left_kind) = done;
            let left_side = Side {
                span,
                kind: left_kind,
                expr: &l,
            };
            let right_side = Side {
                span: right.span,
                kind: kind_of(right),
                expr: &r,
            };
            self.check_operands(op, &left_side, &right_side)?;
            done = (
                combine(op, l, r),
                span.to(right.span),
                Some(result_kind(op)),
            );
        }
        Ok(done.0)
    }
}

/// One side of an operator as [`Scope::check_operands`] sees it.
struct Side<'a> {
    span: Span,
    /// The type an operator's result is known to have without asking polars.
    kind: Option<DataType>,
    expr: &'a Expr,
}

/// What an operator gives, as far as telling text from the rest goes: a number for
/// arithmetic (text cannot take part in it), true or false for the rest.
fn result_kind(op: BinaryOp) -> DataType {
    match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Pow => {
            DataType::Float64
        }
        _ => DataType::Boolean,
    }
}

/// [`result_kind`] for an operator's node; `None` for anything else (polars says).
fn kind_of(ast: &Ast) -> Option<DataType> {
    match &ast.kind {
        ExprKind::Binary { op, .. } => Some(result_kind(*op)),
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => Some(DataType::Float64),
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => Some(DataType::Boolean),
        _ => None,
    }
}

fn combine(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    match op {
        BinaryOp::Or => l.or(r),
        BinaryOp::And => l.and(r),
        BinaryOp::Eq => l.eq(r),
        BinaryOp::NotEq => l.neq(r),
        BinaryOp::Lt => l.lt(r),
        BinaryOp::LtEq => l.lt_eq(r),
        BinaryOp::Gt => l.gt(r),
        BinaryOp::GtEq => l.gt_eq(r),
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        // True division, whatever the column types: 7 / 2 is 3.5 as in R and Stata.
        BinaryOp::Div => l.cast(DataType::Float64) / r.cast(DataType::Float64),
        BinaryOp::Pow => l.cast(DataType::Float64).pow(r),
        BinaryOp::In => unreachable!("membership is built by Scope::membership"),
    }
}

impl Scope<'_> {
    fn membership(&self, left: &Ast, right: &Ast) -> Result<Expr, Diagnostic> {
        let l = self.expr(left)?;
        let items: Vec<Value> = match &right.kind {
            ExprKind::List(items) => items
                .iter()
                .map(|item| evaluate(item, self.env))
                .collect::<Result<_, _>>()?,
            ExprKind::Ident(name) => match self.env.bindings.get(name) {
                Some(Value::List(items)) => items.clone(),
                _ => return Err(not_a_list(right)),
            },
            _ => return Err(not_a_list(right)),
        };
        if items.is_empty() {
            // Nothing is in an empty list (polars cannot test against a list of no type).
            return Ok(l.is_null().and(lit(false)));
        }
        let series = list_series(&items).map_err(|d| d.or_at(right.span))?;
        Ok(l.is_in(lit(series).implode(false), false))
    }

    /// Rejects text compared with or added to numbers before polars would, so the
    /// error points at the operator and names both types.
    fn check_operands(&self, op: BinaryOp, left: &Side, right: &Side) -> Result<(), Diagnostic> {
        let dtype = |side: &Side| match &side.kind {
            Some(kind) => Ok(kind.clone()),
            None => self.dtype_of(side.expr),
        };
        let logical = matches!(op, BinaryOp::And | BinaryOp::Or);
        // `&` and `|` join conditions; polars would take numbers bitwise (2 & 1 is 0).
        // One side that is not a condition is enough to say so, even when the other's
        // type is unknown (itself an error polars would report later, or not at all).
        let condition = |d: &DataType| matches!(d, DataType::Boolean | DataType::Null);
        let (lt, rt) = match (dtype(left), dtype(right)) {
            (Ok(lt), Ok(rt)) => (lt, rt),
            (Ok(known), Err(_)) | (Err(_), Ok(known)) if logical && !condition(&known) => {
                (known.clone(), known)
            }
            _ => return Ok(()),
        };
        let text = |d: &DataType| d == &DataType::String || d.is_categorical();
        let arithmetic = matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Pow
        );
        let clash = if arithmetic {
            text(&lt) || text(&rt)
        } else if logical {
            !condition(&lt) || !condition(&rt)
        } else {
            text(&lt) != text(&rt) && lt != DataType::Null && rt != DataType::Null
        };
        if !clash {
            return Ok(());
        }
        // The exact type, from polars, now that there is an error to explain.
        let describe = |side: &Side| match dtype(side) {
            Ok(kind) => {
                let dtype = self.dtype_of(side.expr).unwrap_or(kind);
                format!("`{}` ({})", self.env.text(side.span), dtype_name(&dtype))
            }
            Err(_) => format!("`{}`", self.env.text(side.span)),
        };
        let verb = if arithmetic || logical {
            "combine"
        } else {
            "compare"
        };
        Err(Diagnostic::new(
            "spel::type::mismatch",
            format!(
                "`{}` cannot {verb} {} and {}",
                op.symbol(),
                describe(left),
                describe(right)
            ),
        )
        .at(left.span.to(right.span))
        .with_label("these types do not go together")
        .with_help(if logical {
            "`&` and `|` join conditions, each true or false: `x > 0 & g == \"a\"`"
        } else if text(&lt) || text(&rt) {
            "text values are quoted: `region == \"London\"`; numbers are not: `year == 2020`"
        } else {
            "convert one side first"
        }))
    }

    /// A unary operand's type: from its form where that tells (cheap), else from polars;
    /// `None` when neither knows (an error reported elsewhere).
    fn operand_type(&self, operand: &Ast, inner: &Expr) -> Option<DataType> {
        kind_of(operand).or_else(|| self.dtype_of(inner).ok())
    }

    /// `!` negates a condition; polars would take a number bitwise (`!5` is −6).
    fn check_not(&self, operand: &Ast, inner: &Expr) -> Result<(), Diagnostic> {
        let Some(dtype) = self.operand_type(operand, inner) else {
            return Ok(());
        };
        if matches!(dtype, DataType::Boolean | DataType::Null) {
            return Ok(());
        }
        let dtype = self.dtype_of(inner).unwrap_or(dtype);
        Err(Diagnostic::new(
            "spel::type::mismatch",
            format!(
                "`!` turns a condition's true into false, but `{}` is {}",
                self.env.text(operand.span),
                dtype_name(&dtype)
            ),
        )
        .at(operand.span)
        .with_label("not true or false")
        .with_help("write a condition after `!`: `!(x > 0)`, `!is_null(x)`"))
    }

    /// `-` negates a number; polars would subtract text from zero only when it runs,
    /// and in a scalar or a condition not at all (a found input reached polars as
    /// `true & round(-"London")`).
    fn check_neg(&self, operand: &Ast, inner: &Expr) -> Result<(), Diagnostic> {
        let Some(dtype) = self.operand_type(operand, inner) else {
            return Ok(());
        };
        if !(dtype == DataType::String || dtype.is_categorical()) {
            return Ok(());
        }
        Err(Diagnostic::new(
            "spel::type::mismatch",
            format!(
                "`-` negates a number, but `{}` is text",
                self.env.text(operand.span)
            ),
        )
        .at(operand.span)
        .with_label("text, not a number")
        .with_help("numbers are not quoted: `-5`; to turn text into a number, convert it first"))
    }

    /// The type `expr` would have, found by planning on an empty frame (no data read).
    pub fn dtype_of(&self, expr: &Expr) -> Result<DataType, Diagnostic> {
        let empty = DataFrame::empty_with_schema(&self.schema);
        let schema = empty
            .lazy()
            .select([expr.clone().alias("value")])
            .collect_schema()
            .map_err(polars_error)?;
        Ok(schema.get("value").cloned().unwrap_or(DataType::Null))
    }

    /// Translates and type-checks `ast`; a type error is pinned to the innermost
    /// part that fails, with the types on each side named.
    pub fn checked(&self, ast: &Ast) -> Result<(Expr, DataType), Diagnostic> {
        let expr = self.expr(ast)?;
        match self.dtype_of(&expr) {
            Ok(dtype) => Ok((expr, dtype)),
            Err(error) => Err(self.explain(ast).unwrap_or(error.at(ast.span))),
        }
    }

    fn explain(&self, ast: &Ast) -> Option<Diagnostic> {
        let children: Vec<&Ast> = match &ast.kind {
            ExprKind::Binary { left, right, .. } => vec![left, right],
            ExprKind::Unary { operand, .. } => vec![operand],
            ExprKind::Call { args, .. } => args.iter().map(|a| &a.value).collect(),
            _ => vec![],
        };
        for child in &children {
            if let Some(d) = self.explain(child) {
                return Some(d);
            }
        }
        let expr = self.expr(ast).ok()?;
        let error = self.dtype_of(&expr).err()?;
        let ExprKind::Binary { op, left, right } = &ast.kind else {
            return Some(error.at(ast.span));
        };
        let describe = |side: &Ast| {
            let dtype = self
                .expr(side)
                .ok()
                .and_then(|e| self.dtype_of(&e).ok())
                .map_or("?".into(), |d| dtype_name(&d));
            format!("`{}` ({dtype})", self.env.text(side.span))
        };
        Some(
            Diagnostic::new(
                "spel::type::mismatch",
                format!(
                    "`{}` cannot combine {} and {}",
                    op.symbol(),
                    describe(left),
                    describe(right)
                ),
            )
            .at(ast.span)
            .with_label("these types do not go together")
            .with_help("compare numbers with numbers and text with quoted text, e.g. `region == \"London\"`"),
        )
    }
}

impl CallScope for Scope<'_> {
    fn expr(&self, ast: &Ast) -> Result<Expr, Diagnostic> {
        Scope::expr(self, ast)
    }

    fn number(&self, ast: &Ast) -> Option<f64> {
        match evaluate(ast, self.env) {
            Ok(Value::Number(x)) => Some(x),
            _ => None,
        }
    }

    fn column_names(&self) -> Vec<String> {
        self.schema.iter_names().map(|n| n.to_string()).collect()
    }
}

fn not_a_list(ast: &Ast) -> Diagnostic {
    Diagnostic::new("spel::type::not_list", "`in` needs a list after it")
        .at(ast.span)
        .with_help("write the values in brackets: `region in [\"London\", \"North West\"]`")
}

/// A list of scalars as one polars series (all numbers, all strings, ...).
pub fn list_series(items: &[Value]) -> Result<Series, Diagnostic> {
    let name = PlSmallStr::from_static("list");
    let mismatch = || {
        Diagnostic::new(
            "spel::type::mixed_list",
            "a list's items must all be of one type",
        )
    };
    // Every item must be of the first item's kind; `pick` takes it out of a value.
    fn all_of<T>(items: &[Value], pick: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
        items.iter().map(pick).collect()
    }
    match items.first() {
        None => Ok(Series::new_empty(name, &DataType::Null)),
        Some(Value::Number(_)) => {
            let values = all_of(items, |v| match v {
                Value::Number(x) => Some(*x),
                _ => None,
            });
            Ok(Series::new(name, values.ok_or_else(mismatch)?))
        }
        Some(Value::Str(_)) => {
            let values = all_of(items, |v| match v {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            });
            Ok(Series::new(name, values.ok_or_else(mismatch)?))
        }
        Some(Value::Bool(_)) => {
            let values = all_of(items, |v| match v {
                Value::Bool(b) => Some(*b),
                _ => None,
            });
            Ok(Series::new(name, values.ok_or_else(mismatch)?))
        }
        Some(Value::Date(_)) => {
            let values = all_of(items, |v| match v {
                Value::Date(d) => Some(*d),
                _ => None,
            });
            Series::new(name, values.ok_or_else(mismatch)?)
                .cast(&DataType::Date)
                .map_err(polars_error)
        }
        Some(other) => Err(Diagnostic::new(
            "spel::type::list_item",
            format!("a list cannot hold a {}", other.type_name()),
        )),
    }
}

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
