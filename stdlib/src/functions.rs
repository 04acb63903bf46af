//! Functions usable inside expressions (`mean(x)`, `round(x, 2)`, `per(x, pop, 1000)`),
//! each described once for help, completion and the docs.

use polars::prelude::*;
use spel_grammar::ast::{CallArg, Expr as Ast, ExprKind, Ident};
use spel_grammar::{Diagnostic, Span, did_you_mean};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Many rows to one (in `summarise`; in `derive` the value repeats on every row).
    Aggregate,
    /// Row by row.
    Elementwise,
}

/// A parameter: its name and whether it takes a column expression or a constant.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub constant: bool,
    pub required: bool,
}

const fn column(name: &'static str) -> Param {
    Param {
        name,
        constant: false,
        required: true,
    }
}
const fn constant(name: &'static str) -> Param {
    Param {
        name,
        constant: true,
        required: true,
    }
}
const fn optional(name: &'static str) -> Param {
    Param {
        name,
        constant: true,
        required: false,
    }
}

pub struct Function {
    pub name: &'static str,
    pub params: &'static [Param],
    pub kind: Kind,
    pub summary: &'static str,
    build: fn(&Args) -> Result<Expr, Diagnostic>,
}

impl Function {
    /// `round(x, digits = 0)`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| match (p.required, p.name) {
                (false, "digits") => "digits = 0".to_string(),
                (false, name) => format!("{name} = …"),
                (true, name) => name.to_string(),
            })
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }
}

pub static FUNCTIONS: &[Function] = &[
    Function {
        name: "sum",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Sum of the non-missing values.",
        build: |a| Ok(a.expr(0)?.sum()),
    },
    Function {
        name: "mean",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Mean of the non-missing values.",
        build: |a| Ok(a.expr(0)?.mean()),
    },
    Function {
        name: "median",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Median of the non-missing values.",
        build: |a| Ok(a.expr(0)?.median()),
    },
    Function {
        name: "min",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Smallest value.",
        build: |a| Ok(a.expr(0)?.min()),
    },
    Function {
        name: "max",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Largest value.",
        build: |a| Ok(a.expr(0)?.max()),
    },
    Function {
        name: "sd",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Sample standard deviation (n − 1 denominator, as R's sd and Stata's summarize).",
        build: |a| Ok(a.expr(0)?.std(1)),
    },
    Function {
        name: "var",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Sample variance (n − 1 denominator).",
        build: |a| Ok(a.expr(0)?.var(1)),
    },
    Function {
        name: "n",
        params: &[],
        kind: Kind::Aggregate,
        summary: "Number of rows (in each group).",
        build: |_| Ok(len()),
    },
    Function {
        name: "count",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Number of non-missing values of x.",
        build: |a| Ok(a.expr(0)?.count()),
    },
    Function {
        name: "n_distinct",
        params: &[column("x")],
        kind: Kind::Aggregate,
        summary: "Number of distinct values of x (missing counts as one).",
        build: |a| Ok(a.expr(0)?.n_unique()),
    },
    Function {
        name: "quantile",
        params: &[column("x"), constant("p")],
        kind: Kind::Aggregate,
        summary: "The p-th quantile, interpolated linearly (R's type 7).",
        build: quantile,
    },
    Function {
        name: "log",
        params: &[column("x")],
        kind: Kind::Elementwise,
        summary: "Natural logarithm.",
        build: |a| {
            Ok(a.expr(0)?
                .cast(DataType::Float64)
                .log(lit(std::f64::consts::E)))
        },
    },
    Function {
        name: "exp",
        params: &[column("x")],
        kind: Kind::Elementwise,
        summary: "Exponential, e to the x.",
        build: |a| Ok(a.expr(0)?.cast(DataType::Float64).exp()),
    },
    Function {
        name: "sqrt",
        params: &[column("x")],
        kind: Kind::Elementwise,
        summary: "Square root.",
        build: |a| Ok(a.expr(0)?.cast(DataType::Float64).sqrt()),
    },
    Function {
        name: "abs",
        params: &[column("x")],
        kind: Kind::Elementwise,
        summary: "Absolute value.",
        build: |a| Ok(a.expr(0)?.abs()),
    },
    Function {
        name: "round",
        params: &[column("x"), optional("digits")],
        kind: Kind::Elementwise,
        summary: "Round to `digits` decimal places, halves to even (as R's round).",
        build: round,
    },
    Function {
        name: "is_null",
        params: &[column("x")],
        kind: Kind::Elementwise,
        summary: "True where x is missing.",
        build: |a| Ok(a.expr(0)?.is_null()),
    },
    Function {
        name: "if_else",
        params: &[column("condition"), column("yes"), column("no")],
        kind: Kind::Elementwise,
        summary: "`yes` where the condition holds, otherwise `no` (missing where the condition is missing).",
        build: |a| Ok(when(a.expr(0)?).then(a.expr(1)?).otherwise(a.expr(2)?)),
    },
    Function {
        name: "coalesce",
        params: &[column("x"), column("default")],
        kind: Kind::Elementwise,
        summary: "x, or `default` where x is missing (zero-filling: `coalesce(fte, 0)`).",
        build: |a| Ok(a.expr(0)?.fill_null(a.expr(1)?)),
    },
    Function {
        name: "date",
        params: &[column("year"), column("month"), column("day")],
        kind: Kind::Elementwise,
        summary: "The date of a year, month and day (`date(CENSUS_YEAR, CENSUS_MONTH, 1)`).",
        build: make_date,
    },
    Function {
        name: "year",
        params: &[column("date")],
        kind: Kind::Elementwise,
        summary: "The year of a date.",
        build: |a| Ok(a.expr(0)?.dt().year()),
    },
    Function {
        name: "quarter",
        params: &[column("date")],
        kind: Kind::Elementwise,
        summary: "The quarter (1–4) of a date.",
        build: |a| Ok(a.expr(0)?.dt().quarter()),
    },
    Function {
        name: "month",
        params: &[column("date")],
        kind: Kind::Elementwise,
        summary: "The month (1–12) of a date.",
        build: |a| Ok(a.expr(0)?.dt().month()),
    },
    Function {
        name: "row_number",
        params: &[],
        kind: Kind::Elementwise,
        summary: "1, 2, 3, … down the rows: an id for each row.",
        build: row_number,
    },
    Function {
        name: "per",
        params: &[column("x"), column("population"), constant("k")],
        kind: Kind::Elementwise,
        summary: "The rate of x per k of population: k · x / population.",
        build: per,
    },
];

pub fn find(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.name)
}

/// What a call's arguments are translated in: the scope the call stands in. A trait, so
/// that the table of functions does not depend on the evaluator that calls into it.
pub trait CallScope {
    /// The polars expression for an argument.
    fn expr(&self, ast: &Ast) -> Result<Expr, Diagnostic>;
    /// An argument's value when it is a single number (`digits`, `p`).
    fn number(&self, ast: &Ast) -> Option<f64>;
    /// The columns in scope, in order; empty outside a table.
    fn column_names(&self) -> Vec<String>;
}

/// A call's arguments matched to the function's parameters.
pub struct Args<'a> {
    function: &'static Function,
    values: Vec<Option<&'a Ast>>,
    scope: &'a dyn CallScope,
    span: Span,
}

impl Args<'_> {
    pub fn expr(&self, index: usize) -> Result<Expr, Diagnostic> {
        match self.values.get(index).copied().flatten() {
            Some(ast) => self.scope.expr(ast),
            None => Err(self.missing(index)),
        }
    }

    /// A constant argument such as `digits` or `p`; `None` when optional and absent.
    pub fn number(&self, index: usize) -> Result<Option<f64>, Diagnostic> {
        let Some(ast) = self.values.get(index).copied().flatten() else {
            return Ok(None);
        };
        let name = self.function.params[index].name;
        match self.scope.number(ast) {
            Some(x) => Ok(Some(x)),
            None => Err(Diagnostic::new(
                "spel::function::constant",
                format!("`{name}` of `{}` must be a number", self.function.name),
            )
            .at(ast.span)
            .with_help(format!(
                "write a number, as in `{}`",
                self.function.signature()
            ))),
        }
    }

    fn missing(&self, index: usize) -> Diagnostic {
        let name = self.function.params.get(index).map_or("?", |p| p.name);
        Diagnostic::new(
            "spel::function::missing_argument",
            format!("`{}` needs `{name}`", self.function.name),
        )
        .at(self.span)
        .with_help(format!("call it as `{}`", self.function.signature()))
    }
}

/// Builds the polars expression for a call, checking the function and its arguments.
pub fn build(
    function: &Ident,
    args: &[CallArg],
    span: Span,
    scope: &dyn CallScope,
) -> Result<Expr, Diagnostic> {
    let Some(spec) = find(&function.name) else {
        return Err(unknown_function(function, scope));
    };
    let mut values: Vec<Option<&Ast>> = vec![None; spec.params.len()];
    let mut next_positional = 0;
    for arg in args {
        let index = match &arg.name {
            Some(name) => spec
                .params
                .iter()
                .position(|p| p.name == name.name)
                .ok_or_else(|| {
                    Diagnostic::new(
                        "spel::function::unknown_argument",
                        format!("`{}` has no argument `{}`", spec.name, name.name),
                    )
                    .at(name.span)
                    .suggest(did_you_mean(&name.name, spec.params.iter().map(|p| p.name)))
                })?,
            None => {
                while next_positional < values.len() && values[next_positional].is_some() {
                    next_positional += 1;
                }
                next_positional
            }
        };
        if index >= values.len() {
            return Err(Diagnostic::new(
                "spel::function::too_many_arguments",
                format!(
                    "`{}` takes {} argument{}",
                    spec.name,
                    spec.params.len(),
                    if spec.params.len() == 1 { "" } else { "s" }
                ),
            )
            .at(arg.value.span)
            .with_help(format!("call it as `{}`", spec.signature())));
        }
        values[index] = Some(&arg.value);
    }
    let parsed = Args {
        function: spec,
        values,
        scope,
        span,
    };
    for (index, param) in spec.params.iter().enumerate() {
        if param.required && parsed.values[index].is_none() {
            return Err(parsed.missing(index));
        }
    }
    (spec.build)(&parsed)
}

fn unknown_function(function: &Ident, scope: &dyn CallScope) -> Diagnostic {
    let name = &function.name;
    let mut diagnostic = Diagnostic::new(
        "spel::function::unknown",
        format!("unknown function `{name}`"),
    )
    .at(function.span)
    .with_label("not a function");
    if let Some(s) = did_you_mean(name, names()) {
        diagnostic = diagnostic.with_help(format!("did you mean `{s}`?"));
    } else if scope.column_names().iter().any(|c| c == name) {
        diagnostic = diagnostic.with_help(format!("`{name}` is a column; columns are not called"));
    }
    diagnostic
}

fn quantile(a: &Args) -> Result<Expr, Diagnostic> {
    let p = a.number(1)?.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&p) {
        return Err(Diagnostic::new(
            "spel::function::range",
            format!("a quantile's `p` is between 0 and 1, not {p}"),
        )
        .at(a.span));
    }
    Ok(a.expr(0)?.quantile(lit(p), QuantileMethod::Linear))
}

fn round(a: &Args) -> Result<Expr, Diagnostic> {
    let digits = a.number(1)?.unwrap_or(0.0);
    if digits < 0.0 || digits.fract() != 0.0 {
        return Err(Diagnostic::new(
            "spel::function::range",
            format!("`digits` is a whole number of decimal places, not {digits}"),
        )
        .at(a.span));
    }
    Ok(a.expr(0)?
        .cast(DataType::Float64)
        .round(digits as u32, RoundMode::HalfToEven))
}

/// A running count of ones: polars' `int_range` needs a feature not built here.
fn row_number(a: &Args) -> Result<Expr, Diagnostic> {
    let Some(first) = a.scope.column_names().into_iter().next() else {
        return Err(Diagnostic::new(
            "spel::function::no_table",
            "`row_number()` numbers the rows of a table",
        )
        .at(a.span));
    };
    let ones = col(first).is_null().cast(DataType::Int64) * lit(0i64) + lit(1i64);
    Ok(ones.cum_sum(false))
}

fn per(a: &Args) -> Result<Expr, Diagnostic> {
    let k = a.expr(2)?;
    Ok(a.expr(0)?.cast(DataType::Float64) * k / a.expr(1)?.cast(DataType::Float64))
}

/// Whether an expression calls an aggregate anywhere (so `summarise` can say when an
/// unnamed argument is not a summary).
pub fn has_aggregate(ast: &Ast) -> bool {
    match &ast.kind {
        ExprKind::Call { function, args } => {
            find(&function.name).is_some_and(|f| f.kind == Kind::Aggregate)
                || args.iter().any(|a| has_aggregate(&a.value))
        }
        ExprKind::Unary { operand, .. } => has_aggregate(operand),
        ExprKind::Binary { left, right, .. } => has_aggregate(left) || has_aggregate(right),
        _ => false,
    }
}

/// A date from year, month and day columns: days since 1970-01-01 by the civil-calendar
/// arithmetic of Howard Hinnant's `days_from_civil` (exact for the proleptic Gregorian
/// calendar), so no string parsing is involved.
fn make_date(a: &Args) -> Result<Expr, Diagnostic> {
    let int = |e: Expr| e.cast(DataType::Int64);
    let (y, m, d) = (int(a.expr(0)?), int(a.expr(1)?), int(a.expr(2)?));
    // Years start in March, so the leap day ends the year.
    let y = y - when(m.clone().lt_eq(lit(2))).then(lit(1)).otherwise(lit(0));
    let era = y.clone().floor_div(lit(400));
    let year_of_era = y - era.clone() * lit(400);
    let month_index = when(m.clone().gt(lit(2)))
        .then(m.clone() - lit(3))
        .otherwise(m + lit(9));
    let day_of_year = (lit(153) * month_index + lit(2)).floor_div(lit(5)) + d - lit(1);
    let day_of_era = year_of_era.clone() * lit(365) + year_of_era.clone().floor_div(lit(4))
        - year_of_era.floor_div(lit(100))
        + day_of_year;
    let days = era * lit(146_097) + day_of_era - lit(719_468);
    Ok(days.cast(DataType::Int32).cast(DataType::Date))
}
