//! The syntax tree. Every node carries the byte span of the text it came from.

use serde::Serialize;

use crate::span::Span;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Program {
    pub statements: Vec<Statement>,
}

/// One statement: `name = pipeline` or a pipeline whose result is shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Statement {
    pub kind: StatementKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum StatementKind {
    Assign { name: Ident, value: Pipeline },
    Show(Pipeline),
}

/// `first |> verb ... |> verb ...`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pipeline {
    pub first: Stage,
    pub rest: Vec<VerbCall>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Stage {
    /// A value: `6 * 7`, `panel`, or a bare name that may turn out to be a verb
    /// (`describe`); the engine decides, since verbs are not known to the grammar.
    Expr(Expr),
    Verb(VerbCall),
}

impl Stage {
    pub fn span(&self) -> Span {
        match self {
            Stage::Expr(e) => e.span,
            Stage::Verb(v) => v.span,
        }
    }
}

/// `name args (connective args)*`, where options are the named arguments the verb's
/// signature declares (`family = logit`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerbCall {
    pub verb: Ident,
    pub args: Vec<Arg>,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Clause {
    pub connective: Connective,
    pub connective_span: Span,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Connective {
    By,
    On,
    As,
    To,
    Per,
    Of,
    From,
}

impl Connective {
    pub const ALL: [Connective; 7] = [
        Connective::By,
        Connective::On,
        Connective::As,
        Connective::To,
        Connective::Per,
        Connective::Of,
        Connective::From,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Connective::By => "by",
            Connective::On => "on",
            Connective::As => "as",
            Connective::To => "to",
            Connective::Per => "per",
            Connective::Of => "of",
            Connective::From => "from",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    /// `name = value`; `None` for a positional argument.
    pub name: Option<Ident>,
    pub value: ArgValue,
    /// A trailing `asc` or `desc` (only `sort` accepts one).
    pub order: Option<(SortOrder, Span)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ArgValue {
    Expr(Expr),
    Formula(Formula),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// `lhs ~ rhs | condition`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Formula {
    pub lhs: Expr,
    pub rhs: Vec<FormulaTerm>,
    pub condition: Option<Expr>,
    pub span: Span,
}

/// One `+`- or `-`-separated term of a formula's right-hand side: interaction groups
/// joined by `*` (each group's factors joined by `:`), so `a*b:c` is `[[a], [b, c]]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FormulaTerm {
    /// `- term` removes it (as `- 1` removes the intercept).
    pub removed: bool,
    pub crossed: Vec<Vec<Expr>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// Taken apart in a loop: an operator chain the parser refuses for its length (20,000
/// terms, say) is still built first, and dropping it node by node would recurse once
/// per link.
impl Drop for Expr {
    fn drop(&mut self) {
        let mut children = Vec::new();
        take_operands(&mut self.kind, &mut children);
        while let Some(mut child) = children.pop() {
            take_operands(&mut child.kind, &mut children);
        }
    }
}

/// Moves an operator's operands out of `kind` (leaving it without them) onto `into`.
fn take_operands(kind: &mut ExprKind, into: &mut Vec<Expr>) {
    let placeholder = || Expr {
        kind: ExprKind::Bool(false),
        span: Span::new(crate::span::SourceId(0), 0, 0),
    };
    match kind {
        ExprKind::Binary { left, right, .. } => {
            into.push(std::mem::replace(left, placeholder()));
            into.push(std::mem::replace(right, placeholder()));
        }
        ExprKind::Unary { operand, .. } => into.push(std::mem::replace(operand, placeholder())),
        _ => {}
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExprKind {
    Number(f64),
    Str(String),
    Bool(bool),
    /// `2019-07-01`, kept as written and checked by the engine.
    Date(String),
    Ident(String),
    List(Vec<Expr>),
    Call {
        function: Ident,
        args: Vec<CallArg>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallArg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "|",
            BinaryOp::And => "&",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "^",
        }
    }
}

impl Expr {
    /// The name, when the expression is a bare identifier.
    pub fn as_ident(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Ident(name) => Some(name),
            _ => None,
        }
    }
}

impl Arg {
    pub fn as_expr(&self) -> Option<&Expr> {
        match &self.value {
            ArgValue::Expr(e) => Some(e),
            ArgValue::Formula(_) => None,
        }
    }
}
