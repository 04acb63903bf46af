//! A formula's right-hand side to a list of terms: crossings expanded in R's order,
//! the intercept decided, and `fe()`, `offset()`, `factor()` and random effects
//! `(x | group)` recognised.

use spel_grammar::ast::{BinaryOp, Expr, ExprKind, Formula, UnaryOp};
use spel_grammar::{Diagnostic, Span};

/// One variable of a term: a numeric expression or a factor.
#[derive(Clone, Debug)]
pub struct Variable {
    /// The expression whose values the variable takes (`x`, `log(x)`).
    pub expr: Expr,
    /// How the variable is named in coefficient names (`x`, `log(x)`; a factor's column).
    pub name: String,
    /// `factor(x)` or `factor(x, ref = "level")`; `None` lets the column's type decide.
    pub factor: Option<FactorSpec>,
}

#[derive(Clone, Debug)]
pub struct FactorSpec {
    pub reference: Option<(String, Span)>,
}

/// A term: the product of its variables (`a:b` has two); the intercept has none.
#[derive(Clone, Debug)]
pub struct Term {
    pub variables: Vec<Variable>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Resolved {
    pub intercept: bool,
    pub terms: Vec<Term>,
    /// `fe(x)`: effects absorbed, not estimated.
    pub fixed_effects: Vec<Variable>,
    pub offsets: Vec<Variable>,
    /// `(1 | g)`, `(x | g)`, `(1 | a/b)`: effects that vary by group, as lme4's.
    pub random: Vec<RandomEffect>,
}

/// A random-effects term: an intercept and slopes that vary over a grouping's levels.
#[derive(Clone, Debug)]
pub struct RandomEffect {
    pub intercept: bool,
    /// Numeric variables whose coefficients vary by group.
    pub slopes: Vec<Variable>,
    /// The grouping's columns: one, or several whose combinations are the groups
    /// (`a/b` gives the terms `a` and `b:a`).
    pub grouping: Vec<Variable>,
    /// The grouping as lme4 names it (`practice`, `practice:pcn`).
    pub name: String,
    pub span: Span,
}

/// Resolves the right-hand side. `text` gives each expression's source (for names).
pub fn resolve(formula: &Formula, text: &dyn Fn(Span) -> String) -> Result<Resolved, Diagnostic> {
    let mut resolved = Resolved {
        intercept: true,
        terms: Vec::new(),
        fixed_effects: Vec::new(),
        offsets: Vec::new(),
        random: Vec::new(),
    };
    let mut removed: Vec<Vec<String>> = Vec::new();
    for term in &formula.rhs {
        // `0`, `1`, `-1`: the intercept.
        if let [group] = term.crossed.as_slice()
            && let [single] = group.as_slice()
            && let ExprKind::Number(x) = single.kind
        {
            match (x, term.removed) {
                (0.0, false) | (1.0, true) => resolved.intercept = false,
                (1.0, false) => resolved.intercept = true,
                _ => {
                    return Err(Diagnostic::new(
                        "spel::formula::number",
                        format!("`{}` cannot be a term", text(single.span)),
                    )
                    .at(single.span)
                    .with_help("a number in a formula is `0` or `-1` (no intercept) or `1`"));
                }
            }
            continue;
        }
        if let [group] = term.crossed.as_slice()
            && let [single] = group.as_slice()
            && let Some((kind, inner)) = special_call(single)
        {
            let variable = Variable {
                expr: inner.clone(),
                name: text(inner.span),
                factor: None,
            };
            match kind {
                "fe" => resolved.fixed_effects.push(variable),
                _ => resolved.offsets.push(variable),
            }
            continue;
        }
        if let [group] = term.crossed.as_slice()
            && let [single] = group.as_slice()
            && let ExprKind::Binary {
                op: BinaryOp::Or,
                left,
                right,
            } = &single.kind
        {
            if term.removed {
                return Err(Diagnostic::new(
                    "spel::formula::random",
                    "a random-effects term cannot be removed",
                )
                .at(single.span)
                .with_help("leave the term out instead"));
            }
            if let Some(bar) = [left, right].into_iter().find_map(|side| or_inside(side)) {
                return Err(Diagnostic::new(
                    "spel::formula::random",
                    "a random-effects term has one `|`",
                )
                .at(bar.span)
                .with_help("give each grouping its own term, `(1 | g) + (1 | h)`, or nest them, `(1 | g/h)`"));
            }
            resolved
                .random
                .extend(random_effects(left, right, single.span, text)?);
            continue;
        }
        let groups: Vec<Vec<Variable>> = term
            .crossed
            .iter()
            .map(|group| group.iter().map(|e| variable(e, text)).collect())
            .collect::<Result<_, _>>()?;
        for variables in expand(&groups) {
            let key = term_key(&variables);
            if term.removed {
                removed.push(key);
            } else if !resolved.terms.iter().any(|t| term_key(&t.variables) == key) {
                resolved.terms.push(Term {
                    variables,
                    span: term.span,
                });
            }
        }
    }
    resolved
        .terms
        .retain(|t| !removed.contains(&term_key(&t.variables)));
    Ok(resolved)
}

/// `(slopes | grouping)`: one term, or one per level of nesting for `a/b`.
fn random_effects(
    slopes: &Expr,
    grouping: &Expr,
    span: Span,
    text: &dyn Fn(Span) -> String,
) -> Result<Vec<RandomEffect>, Diagnostic> {
    let mut intercept = true;
    let mut variables = Vec::new();
    for (expr, removed) in summands(slopes, false) {
        match expr.kind {
            ExprKind::Number(x) if (x == 0.0 && !removed) || (x == 1.0 && removed) => {
                intercept = false
            }
            ExprKind::Number(1.0) => intercept = true,
            ExprKind::Number(_) => {
                return Err(Diagnostic::new(
                    "spel::formula::number",
                    format!("`{}` cannot be a term", text(expr.span)),
                )
                .at(expr.span)
                .with_help("a number before `|` is `0` (no random intercept) or `1`"));
            }
            _ if removed => {
                return Err(Diagnostic::new(
                    "spel::formula::random",
                    "only the intercept can be removed before `|`",
                )
                .at(expr.span)
                .with_help("write `(0 + x | g)` for a slope without an intercept"));
            }
            _ => {
                let v = variable(expr, text)?;
                if v.factor.is_some() {
                    return Err(Diagnostic::new(
                        "spel::formula::random_factor",
                        "random slopes on a factor are not supported",
                    )
                    .at(expr.span)
                    .with_help("use a numeric variable, or a grouping of its own: `(1 | g/f)`"));
                }
                variables.push(v);
            }
        }
    }
    if !intercept && variables.is_empty() {
        return Err(Diagnostic::new(
            "spel::formula::random",
            "a random-effects term needs an intercept or a slope",
        )
        .at(span)
        .with_help("write `(1 | g)` for a random intercept"));
    }
    let mut nesting = Vec::new();
    nested(grouping, &mut nesting);
    let mut grouping_columns: Vec<Variable> = Vec::new();
    let mut terms = Vec::new();
    for g in nesting {
        if !matches!(g.kind, ExprKind::Ident(_)) {
            return Err(Diagnostic::new(
                "spel::formula::random_grouping",
                format!("`{}` cannot group the rows", text(g.span)),
            )
            .at(g.span)
            .with_help("after `|` write a column, as `(1 | practice)`, or nested columns, as `(1 | pcn/practice)`"));
        }
        grouping_columns.push(Variable {
            expr: g.clone(),
            name: text(g.span),
            factor: None,
        });
        // lme4 names the inner grouping first: `b:a` for `a/b`.
        let name = grouping_columns
            .iter()
            .rev()
            .map(|v| v.name.clone())
            .collect::<Vec<_>>()
            .join(":");
        terms.push(RandomEffect {
            intercept,
            slopes: variables.clone(),
            grouping: grouping_columns.clone(),
            name,
            span,
        });
    }
    Ok(terms)
}

/// A `|` within an expression, where a random-effects term has a second bar.
fn or_inside(expr: &Expr) -> Option<&Expr> {
    match &expr.kind {
        ExprKind::Binary {
            op: BinaryOp::Or, ..
        } => Some(expr),
        ExprKind::Binary { left, right, .. } => or_inside(left).or_else(|| or_inside(right)),
        ExprKind::Unary { operand, .. } => or_inside(operand),
        _ => None,
    }
}

/// The summands of `a + b - c`, each with whether it is subtracted.
fn summands(expr: &Expr, removed: bool) -> Vec<(&Expr, bool)> {
    match &expr.kind {
        ExprKind::Binary {
            op: op @ (BinaryOp::Add | BinaryOp::Sub),
            left,
            right,
        } => {
            let mut out = summands(left, removed);
            out.extend(summands(right, removed ^ (*op == BinaryOp::Sub)));
            out
        }
        ExprKind::Unary {
            op: UnaryOp::Neg,
            operand,
        } => summands(operand, !removed),
        _ => vec![(expr, removed)],
    }
}

/// `a/b/c` → a, b, c: the outer grouping first.
fn nested<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match &expr.kind {
        ExprKind::Binary {
            op: BinaryOp::Div,
            left,
            right,
        } => {
            nested(left, out);
            nested(right, out);
        }
        _ => out.push(expr),
    }
}

/// `fe(x)` or `offset(e)`, with the expression inside.
fn special_call(expr: &Expr) -> Option<(&'static str, &Expr)> {
    let ExprKind::Call { function, args } = &expr.kind else {
        return None;
    };
    let kind = match function.name.as_str() {
        "fe" => "fe",
        "offset" => "offset",
        _ => return None,
    };
    match args.as_slice() {
        [arg] if arg.name.is_none() => Some((kind, &arg.value)),
        _ => None,
    }
}

fn variable(expr: &Expr, text: &dyn Fn(Span) -> String) -> Result<Variable, Diagnostic> {
    if let ExprKind::Binary {
        op: BinaryOp::Or, ..
    } = expr.kind
    {
        return Err(Diagnostic::new(
            "spel::formula::random",
            "a random-effects term must be a term on its own",
        )
        .at(expr.span)
        .with_help("add it between `+` signs, as `y ~ x + (1 | g)`; to let x's slope vary by g, write `(x | g)`"));
    }
    if let ExprKind::Call { function, args } = &expr.kind {
        match function.name.as_str() {
            "factor" => {
                let Some(first) = args.first().filter(|a| a.name.is_none()) else {
                    return Err(Diagnostic::new(
                        "spel::formula::factor",
                        "`factor` needs a column",
                    )
                    .at(expr.span)
                    .with_help("write `factor(x)` or `factor(x, ref = \"level\")`"));
                };
                let mut reference = None;
                for arg in &args[1..] {
                    match (&arg.name, &arg.value.kind) {
                        (Some(n), ExprKind::Str(s)) if n.name == "ref" => {
                            reference = Some((s.clone(), arg.value.span));
                        }
                        (Some(n), ExprKind::Number(x)) if n.name == "ref" => {
                            reference = Some((crate::format::number(*x), arg.value.span));
                        }
                        _ => {
                            return Err(Diagnostic::new(
                                "spel::formula::factor",
                                "`factor` takes a column and `ref = \"level\"`",
                            )
                            .at(arg.value.span));
                        }
                    }
                }
                let name = match first.value.as_ident() {
                    Some(n) => n.to_string(),
                    None => text(first.value.span),
                };
                return Ok(Variable {
                    expr: first.value.clone(),
                    name,
                    factor: Some(FactorSpec { reference }),
                });
            }
            "fe" | "offset" => {
                return Err(Diagnostic::new(
                    "spel::formula::special",
                    format!("`{}(...)` must be a term on its own", function.name),
                )
                .at(expr.span)
                .with_help("write it between `+` signs, not inside an interaction"));
            }
            _ => {}
        }
    }
    Ok(Variable {
        expr: expr.clone(),
        name: text(expr.span),
        factor: None,
    })
}

/// `a*b*c` → a, b, c, a:b, a:c, b:c, a:b:c (by degree, then in order, as R).
fn expand(groups: &[Vec<Variable>]) -> Vec<Vec<Variable>> {
    let n = groups.len();
    let mut subsets: Vec<Vec<usize>> = (1..(1u32 << n))
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
        .collect();
    subsets.sort_by_key(|s| (s.len(), s.clone()));
    subsets
        .into_iter()
        .map(|subset| subset.iter().flat_map(|&i| groups[i].clone()).collect())
        .collect()
}

fn term_key(variables: &[Variable]) -> Vec<String> {
    let mut key: Vec<String> = variables.iter().map(|v| v.name.clone()).collect();
    key.sort();
    key
}

/// How a factor was coded: its levels in order and its reference level.
#[derive(Clone, Debug)]
pub struct FactorCoding {
    pub name: String,
    pub levels: Vec<String>,
    pub reference: String,
}
