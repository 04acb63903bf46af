//! A formula's right-hand side to a list of terms: crossings expanded in R's order,
//! the intercept decided, and `fe()`, `offset()` and `factor()` recognised.

use spel_grammar::ast::{Expr, ExprKind, Formula};
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
}

/// Resolves the right-hand side. `text` gives each expression's source (for names).
pub fn resolve(formula: &Formula, text: &dyn Fn(Span) -> String) -> Result<Resolved, Diagnostic> {
    let mut resolved = Resolved {
        intercept: true,
        terms: Vec::new(),
        fixed_effects: Vec::new(),
        offsets: Vec::new(),
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
