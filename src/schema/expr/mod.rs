//! The expression language: one language for `relevant`, `constraint`, `required`, `derived`
//! variables and instrument scoring.
//!
//! Owns parsing ([`parse`]), name resolution and type checking ([`check()`]) into a resolved
//! [`Expr`], the record-at-a-time evaluator ([`eval`]) used by capture, and the compiler to
//! Polars expressions (`polars`) used by analysis. Both back ends implement one semantics,
//! written down once in the README: a missing value propagates through arithmetic,
//! comparisons and functions, except `is_missing`, `coalesce`, `count_missing` and
//! `prorated_sum`; `and`/`or` are three-valued (Kleene). A property test runs both back ends on
//! random expressions and records and requires identical results.
//!
//! This module does not know about YAML or files: callers give it text and a [`Scope`].

pub mod parse;
pub mod polars;
#[cfg(test)]
mod proptests;

use std::collections::HashMap;
use std::sync::Arc;

pub use parse::{Ast, AstKind, BinOp, Link, SyntaxError, UnOp, MAX_NESTING};

/// The type of a value in the expression language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExprType {
    /// A number (integer, decimal, integer-coded choice).
    Num,
    /// Text (text answers, text-coded choices, area codes).
    Text,
    /// A truth value.
    Bool,
    /// A date, held as days since 1970-01-01.
    Date,
    /// The set of choices of a `select_multiple` answer.
    Multi,
}

impl ExprType {
    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            ExprType::Num => "number",
            ExprType::Text => "text",
            ExprType::Bool => "boolean",
            ExprType::Date => "date",
            ExprType::Multi => "multiple choice",
        }
    }
}

/// One value: an answer, or the result of an expression.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// No answer, a missing code, or a result that cannot be computed.
    #[default]
    Missing,
    /// A number (dates are days since 1970-01-01).
    Num(f64),
    /// A truth value.
    Bool(bool),
    /// Text.
    Text(Arc<str>),
    /// Chosen choices of a `select_multiple`, as indices into its choice list, ascending.
    Multi(Arc<[u32]>),
}

impl Value {
    /// Whether the value is missing.
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Missing)
    }
    /// The number, if one.
    pub fn num(&self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(*v),
            _ => None,
        }
    }
    /// The truth value, if one.
    pub fn bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }
}

/// A lookup table: number keys to number values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// Entries in key order.
    pub entries: Vec<(f64, f64)>,
}

impl Table {
    /// The value for `key`, compared exactly.
    pub fn get(&self, key: f64) -> Option<f64> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// What the checker needs to know about a variable in scope.
#[derive(Debug, Clone)]
pub struct VarInfo {
    /// The variable's id (also its column name in analysis frames).
    pub id: String,
    /// Its type in expressions.
    pub ty: ExprType,
    /// Choice codes, in choice-list order, for select types (as text; integer codes as written).
    pub codes: Option<Vec<String>>,
}

/// The variables an expression may name, each with a slot in the record.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    vars: Vec<VarInfo>,
    index: HashMap<String, usize>,
}

impl Scope {
    /// An empty scope.
    pub fn new() -> Scope {
        Scope::default()
    }
    /// Adds a variable; returns its slot. A second variable with the same id replaces the first.
    pub fn push(&mut self, info: VarInfo) -> usize {
        let slot = self.vars.len();
        self.index.insert(info.id.clone(), slot);
        self.vars.push(info);
        slot
    }
    /// The slot of `id`.
    pub fn slot(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
    /// The variable in `slot`.
    pub fn var(&self, slot: usize) -> &VarInfo {
        &self.vars[slot]
    }
    /// All variables in slot order.
    pub fn vars(&self) -> &[VarInfo] {
        &self.vars
    }
    /// Number of slots.
    pub fn len(&self) -> usize {
        self.vars.len()
    }
    /// Whether the scope is empty.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
    /// Ids in scope (for suggestions).
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|v| v.id.as_str())
    }
}

/// Everything besides variables that names in an expression may refer to.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Named constants (instrument params).
    pub params: HashMap<String, f64>,
    /// Lookup tables.
    pub tables: HashMap<String, Arc<Table>>,
    /// Other ids that exist in the definition but not in this scope (for better messages).
    pub elsewhere: HashMap<String, String>,
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (missing when dividing by zero)
    Div,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Aggregating functions over a list of numbers (complete case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// `sum(...)`
    Sum,
    /// `mean(...)`
    Mean,
    /// `min(...)`
    Min,
    /// `max(...)`
    Max,
}

/// A checked expression: names resolved to slots, functions to their implementations.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant (literal or param).
    Const(Value),
    /// A variable by slot.
    Var(usize),
    /// This answer.
    Dot,
    /// `-x`
    Neg(Box<Expr>),
    /// `not x`
    Not(Box<Expr>),
    /// Arithmetic left to right: the first operand, then each operator with its right operand
    /// (`a - b + c` is `(a - b) + c`). Flat, so a long chain needs no deep recursion.
    Arith(Box<Expr>, Vec<(Arith, Expr)>),
    /// Comparison.
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    /// Kleene and of two or more operands.
    And(Vec<Expr>),
    /// Kleene or of two or more operands.
    Or(Vec<Expr>),
    /// `if(c, a, b)`
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `coalesce(...)`
    Coalesce(Vec<Expr>),
    /// `selected(q, v)`: slot of q, index of v in its choices.
    Selected(usize, u32),
    /// `count_selected(q)`: slot of q, number of choices.
    CountSelected(usize, u32),
    /// `sum`, `mean`, `min`, `max`.
    Agg(Agg, Vec<Expr>),
    /// `prorated_sum(k, ...)`
    ProratedSum(Box<Expr>, Vec<Expr>),
    /// `count_missing(...)`
    CountMissing(Vec<Expr>),
    /// `is_missing(x)`
    IsMissing(Box<Expr>),
    /// `lookup(table, x)`
    Lookup(Arc<Table>, Box<Expr>),
}

impl Expr {
    /// Slots this expression reads.
    pub fn slots(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Var(s) | Expr::Selected(s, _) | Expr::CountSelected(s, _) => out.push(*s),
            Expr::Const(_) | Expr::Dot => {}
            Expr::Neg(a) | Expr::Not(a) | Expr::IsMissing(a) | Expr::Lookup(_, a) => a.slots(out),
            Expr::Arith(a, rest) => {
                a.slots(out);
                rest.iter().for_each(|(_, e)| e.slots(out));
            }
            Expr::Cmp(_, a, b) => {
                a.slots(out);
                b.slots(out);
            }
            Expr::If(a, b, c) => {
                a.slots(out);
                b.slots(out);
                c.slots(out);
            }
            Expr::Coalesce(v) | Expr::Agg(_, v) | Expr::CountMissing(v) | Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.slots(out)),
            Expr::ProratedSum(k, v) => {
                k.slots(out);
                v.iter().for_each(|e| e.slots(out));
            }
        }
    }
}

/// A problem in an expression: 0-based character offset and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Offset in the expression text.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

/// Names (identifiers outside function-name position) that an expression text mentions.
pub fn names(ast: &Ast, out: &mut Vec<(String, usize)>) {
    match &ast.kind {
        AstKind::Name(n) => out.push((n.clone(), ast.at)),
        AstKind::Unary(_, a) => names(a, out),
        AstKind::Binary(_, a, b) => {
            names(a, out);
            names(b, out);
        }
        AstKind::Chain(a, links) => {
            names(a, out);
            for l in links {
                names(&l.operand, out);
            }
        }
        AstKind::Call(f, args) => {
            for (i, a) in args.iter().enumerate() {
                if f == "lookup" && i == 0 {
                    continue;
                }
                names(a, out);
            }
        }
        _ => {}
    }
}

const FUNCTIONS: &[&str] = &[
    "if",
    "coalesce",
    "selected",
    "count_selected",
    "sum",
    "mean",
    "min",
    "max",
    "prorated_sum",
    "count_missing",
    "is_missing",
    "lookup",
];

struct Checker<'a> {
    scope: &'a Scope,
    ctx: &'a Context,
    dot: Option<usize>,
    errors: Vec<ExprError>,
    /// Messages for unknown names already described (a long expression may repeat one often).
    described: HashMap<String, String>,
}

fn codes_text(codes: &[String]) -> String {
    if codes.len() > 12 {
        format!("{}, ...", codes[..12].join(", "))
    } else {
        codes.join(", ")
    }
}

impl Checker<'_> {
    fn err(&mut self, at: usize, message: String) {
        self.errors.push(ExprError { at, message });
    }

    fn describe_name(&mut self, name: &str) -> String {
        if let Some(m) = self.described.get(name) {
            return m.clone();
        }
        let m = if let Some(where_) = self.ctx.elsewhere.get(name) {
            format!("'{name}' {where_}")
        } else {
            let cands = self.scope.ids().chain(self.ctx.params.keys().map(|s| s.as_str()));
            format!("unknown question '{name}'{}", super::yaml::did_you_mean(name, cands))
        };
        self.described.insert(name.to_string(), m.clone());
        m
    }

    fn check(&mut self, ast: &Ast) -> Option<(Expr, ExprType)> {
        match &ast.kind {
            AstKind::Num(v) => Some((Expr::Const(Value::Num(*v)), ExprType::Num)),
            AstKind::Str(s) => Some((Expr::Const(Value::Text(s.as_str().into())), ExprType::Text)),
            AstKind::Bool(b) => Some((Expr::Const(Value::Bool(*b)), ExprType::Bool)),
            AstKind::Dot => match self.dot {
                Some(slot) => Some((Expr::Dot, self.scope.var(slot).ty)),
                None => {
                    self.err(ast.at, "'.' (this answer) can only be used in a question's constraint".into());
                    None
                }
            },
            AstKind::Name(n) => {
                if let Some(slot) = self.scope.slot(n) {
                    return Some((Expr::Var(slot), self.scope.var(slot).ty));
                }
                if let Some(v) = self.ctx.params.get(n) {
                    return Some((Expr::Const(Value::Num(*v)), ExprType::Num));
                }
                if self.ctx.tables.contains_key(n) {
                    self.err(ast.at, format!("'{n}' is a table: use lookup({n}, x)"));
                    return None;
                }
                let m = self.describe_name(n);
                self.err(ast.at, m);
                None
            }
            AstKind::Unary(UnOp::Neg, a) => {
                let (e, t) = self.check(a)?;
                self.want(a.at, t, ExprType::Num, "'-'")?;
                Some((Expr::Neg(Box::new(e)), ExprType::Num))
            }
            AstKind::Unary(UnOp::Not, a) => {
                let (e, t) = self.check(a)?;
                self.want(a.at, t, ExprType::Bool, "'not'")?;
                Some((Expr::Not(Box::new(e)), ExprType::Bool))
            }
            AstKind::Binary(op, a, b) => self.binary(*op, a, b, ast.at),
            AstKind::Chain(first, links) => self.chain(first, links),
            AstKind::Call(f, args) => self.call(f, args, ast.at),
        }
    }

    fn want(&mut self, at: usize, got: ExprType, want: ExprType, what: &str) -> Option<()> {
        if got == want {
            Some(())
        } else {
            self.err(at, format!("type mismatch: {what} needs a {}, found a {}", want.name(), got.name()));
            None
        }
    }

    /// Checks that a literal compared with a select_one is one of its codes.
    fn check_code(&mut self, var: &Ast, lit: &Ast) {
        let (AstKind::Name(n), Some(slot)) = (
            &var.kind,
            match &var.kind {
                AstKind::Name(n) => self.scope.slot(n),
                _ => None,
            },
        ) else {
            return;
        };
        let Some(codes) = self.scope.var(slot).codes.clone() else { return };
        let text = match &lit.kind {
            AstKind::Num(v) => format_num(*v),
            AstKind::Str(s) => s.clone(),
            _ => return,
        };
        if !codes.contains(&text) {
            self.err(lit.at, format!("{text} is not a choice of '{n}' (choices: {})", codes_text(&codes)));
        }
    }

    /// A chain of `and`, of `or`, of `+`/`-` or of `*`/`/` (the parser never mixes levels).
    fn chain(&mut self, first: &Ast, links: &[Link]) -> Option<(Expr, ExprType)> {
        // every operand is checked, so that all their problems are reported at once
        let head = self.check(first);
        let rest: Vec<Option<(Expr, ExprType)>> = links.iter().map(|l| self.check(&l.operand)).collect();
        let (head, head_ty) = head?;
        let rest: Vec<(Expr, ExprType)> = rest.into_iter().collect::<Option<_>>()?;
        let op = links.first()?.op;
        if matches!(op, BinOp::And | BinOp::Or) {
            let mut items = Vec::with_capacity(rest.len() + 1);
            let operands = std::iter::once(((head, head_ty), first)).chain(rest.into_iter().zip(links.iter().map(|l| &l.operand)));
            for ((e, t), x) in operands {
                if t != ExprType::Bool {
                    self.err(x.at, format!("type mismatch: '{op}' needs booleans, found a {}", t.name()));
                    return None;
                }
                items.push(e);
            }
            return Some((if op == BinOp::And { Expr::And(items) } else { Expr::Or(items) }, ExprType::Bool));
        }
        // left to right: `d1 - d2` of two dates is a number of days, and only numbers go further
        let mut ty = head_ty;
        let mut out = Vec::with_capacity(rest.len());
        for (l, (e, t)) in links.iter().zip(rest) {
            let date_ok = l.op == BinOp::Sub && ty == ExprType::Date && t == ExprType::Date;
            if !date_ok && (ty != ExprType::Num || t != ExprType::Num) {
                let bad = if ty != ExprType::Num { ty } else { t };
                self.err(l.at, format!("type mismatch: '{}' needs numbers, found a {}", l.op, bad.name()));
                return None;
            }
            ty = ExprType::Num;
            let k = match l.op {
                BinOp::Add => Arith::Add,
                BinOp::Sub => Arith::Sub,
                BinOp::Mul => Arith::Mul,
                _ => Arith::Div,
            };
            out.push((k, e));
        }
        Some((Expr::Arith(Box::new(head), out), ExprType::Num))
    }

    /// A comparison.
    fn binary(&mut self, op: BinOp, a: &Ast, b: &Ast, at: usize) -> Option<(Expr, ExprType)> {
        let l = self.check(a);
        let r = self.check(b);
        let ((le, lt), (re, rt)) = (l?, r?);
        if lt != rt || lt == ExprType::Multi {
            let hint = if lt == ExprType::Multi || rt == ExprType::Multi {
                ": use selected(q, value) for a multiple-choice question"
            } else {
                ""
            };
            self.err(at, format!("type mismatch: cannot compare a {} with a {}{hint}", lt.name(), rt.name()));
            return None;
        }
        if lt == ExprType::Bool && !matches!(op, BinOp::Eq | BinOp::Ne) {
            self.err(at, format!("type mismatch: '{op}' cannot order booleans"));
            return None;
        }
        self.check_code(a, b);
        self.check_code(b, a);
        let k = match op {
            BinOp::Eq => Cmp::Eq,
            BinOp::Ne => Cmp::Ne,
            BinOp::Lt => Cmp::Lt,
            BinOp::Le => Cmp::Le,
            BinOp::Gt => Cmp::Gt,
            _ => Cmp::Ge,
        };
        Some((Expr::Cmp(k, Box::new(le), Box::new(re)), ExprType::Bool))
    }

    fn all_num(&mut self, f: &str, args: &[Ast]) -> Option<Vec<Expr>> {
        let mut out = Vec::new();
        let mut ok = true;
        for a in args {
            match self.check(a) {
                Some((e, ExprType::Num)) => out.push(e),
                Some((_, t)) => {
                    self.err(a.at, format!("type mismatch: {f}() needs numbers, found a {}", t.name()));
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn multi_arg(&mut self, f: &str, a: &Ast) -> Option<(usize, Vec<String>)> {
        if let AstKind::Name(n) = &a.kind {
            if let Some(slot) = self.scope.slot(n) {
                let v = self.scope.var(slot);
                if v.ty == ExprType::Multi {
                    return Some((slot, v.codes.clone().unwrap_or_default()));
                }
                self.err(
                    a.at,
                    format!("type mismatch: {f}() needs a select_multiple question, '{n}' is a {}", v.ty.name()),
                );
                return None;
            }
            let m = self.describe_name(n);
            self.err(a.at, m);
            return None;
        }
        self.err(a.at, format!("{f}() needs the id of a select_multiple question as its first argument"));
        None
    }

    fn call(&mut self, f: &str, args: &[Ast], at: usize) -> Option<(Expr, ExprType)> {
        let arity = |n: usize| args.len() == n;
        let bad_arity = |me: &mut Self, what: &str| {
            me.err(at, format!("{f}() takes {what}, found {} argument(s)", args.len()));
            None
        };
        match f {
            "if" => {
                if !arity(3) {
                    return bad_arity(self, "3 arguments (condition, then, else)");
                }
                let c = self.check(&args[0]);
                let a = self.check(&args[1]);
                let b = self.check(&args[2]);
                let ((ce, ct), (ae, at_), (be, bt)) = (c?, a?, b?);
                self.want(args[0].at, ct, ExprType::Bool, "the condition of if()")?;
                if at_ != bt {
                    self.err(args[2].at, format!("type mismatch: if() branches differ: {} and {}", at_.name(), bt.name()));
                    return None;
                }
                Some((Expr::If(Box::new(ce), Box::new(ae), Box::new(be)), at_))
            }
            "coalesce" => {
                if args.is_empty() {
                    return bad_arity(self, "at least one argument");
                }
                let mut out = Vec::new();
                let mut ty = None;
                for a in args {
                    let (e, t) = self.check(a)?;
                    match ty {
                        None => ty = Some(t),
                        Some(t0) if t0 != t => {
                            self.err(a.at, format!("type mismatch: coalesce() arguments differ: {} and {}", t0.name(), t.name()));
                            return None;
                        }
                        _ => {}
                    }
                    out.push(e);
                }
                Some((Expr::Coalesce(out), ty.unwrap_or(ExprType::Num)))
            }
            "selected" => {
                if !arity(2) {
                    return bad_arity(self, "2 arguments (question, choice)");
                }
                let (slot, codes) = self.multi_arg(f, &args[0])?;
                let text = match &args[1].kind {
                    AstKind::Num(v) => format_num(*v),
                    AstKind::Str(s) => s.clone(),
                    _ => {
                        self.err(args[1].at, "selected() needs a choice value (a literal) as its second argument".into());
                        return None;
                    }
                };
                match codes.iter().position(|c| *c == text) {
                    Some(i) => Some((Expr::Selected(slot, i as u32), ExprType::Bool)),
                    None => {
                        let n = &self.scope.var(slot).id;
                        let m = format!("{text} is not a choice of '{n}' (choices: {})", codes_text(&codes));
                        self.err(args[1].at, m);
                        None
                    }
                }
            }
            "count_selected" => {
                if !arity(1) {
                    return bad_arity(self, "1 argument");
                }
                let (slot, codes) = self.multi_arg(f, &args[0])?;
                Some((Expr::CountSelected(slot, codes.len() as u32), ExprType::Num))
            }
            "sum" | "mean" | "min" | "max" => {
                if args.is_empty() {
                    return bad_arity(self, "at least one argument");
                }
                let v = self.all_num(f, args)?;
                let k = match f {
                    "sum" => Agg::Sum,
                    "mean" => Agg::Mean,
                    "min" => Agg::Min,
                    _ => Agg::Max,
                };
                Some((Expr::Agg(k, v), ExprType::Num))
            }
            "prorated_sum" => {
                if args.len() < 2 {
                    return bad_arity(self, "a number of items allowed missing, then at least one item");
                }
                let mut v = self.all_num(f, args)?;
                let k = v.remove(0);
                Some((Expr::ProratedSum(Box::new(k), v), ExprType::Num))
            }
            "count_missing" => {
                if args.is_empty() {
                    return bad_arity(self, "at least one argument");
                }
                let mut out = Vec::new();
                for a in args {
                    out.push(self.check(a)?.0);
                }
                Some((Expr::CountMissing(out), ExprType::Num))
            }
            "is_missing" => {
                if !arity(1) {
                    return bad_arity(self, "1 argument");
                }
                let (e, _) = self.check(&args[0])?;
                Some((Expr::IsMissing(Box::new(e)), ExprType::Bool))
            }
            "lookup" => {
                if !arity(2) {
                    return bad_arity(self, "2 arguments (table, value)");
                }
                let AstKind::Name(t) = &args[0].kind else {
                    self.err(args[0].at, "lookup() needs a table name as its first argument".into());
                    return None;
                };
                let Some(table) = self.ctx.tables.get(t).cloned() else {
                    let cands: Vec<&str> = self.ctx.tables.keys().map(|s| s.as_str()).collect();
                    let m = format!("unknown table '{t}'{}", super::yaml::did_you_mean(t, cands));
                    self.err(args[0].at, m);
                    return None;
                };
                let (e, ty) = self.check(&args[1])?;
                self.want(args[1].at, ty, ExprType::Num, "lookup()")?;
                Some((Expr::Lookup(table, Box::new(e)), ExprType::Num))
            }
            _ => {
                let m = format!("unknown function '{f}'{}", super::yaml::did_you_mean(f, FUNCTIONS.iter().copied()));
                self.err(at, m);
                None
            }
        }
    }
}

/// Formats a number the way codes are written (`1`, not `1.0`).
pub fn format_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Resolves names and checks types. `dot` is the slot of the question a constraint belongs to.
pub fn check(ast: &Ast, scope: &Scope, ctx: &Context, dot: Option<usize>) -> Result<(Expr, ExprType), Vec<ExprError>> {
    let mut c = Checker {
        scope,
        ctx,
        dot,
        errors: Vec::new(),
        described: HashMap::new(),
    };
    match c.check(ast) {
        Some(r) if c.errors.is_empty() => Ok(r),
        _ => {
            if c.errors.is_empty() {
                c.errors.push(ExprError {
                    at: ast.at,
                    message: "invalid expression".into(),
                });
            }
            Err(c.errors)
        }
    }
}

/// Parses and checks in one step.
pub fn compile(text: &str, scope: &Scope, ctx: &Context, dot: Option<usize>) -> Result<(Expr, ExprType), Vec<ExprError>> {
    let ast = parse::parse(text).map_err(|e| {
        vec![ExprError {
            at: e.at,
            message: format!("syntax error: {}", e.message),
        }]
    })?;
    check(&ast, scope, ctx, dot)
}

fn cmp_values(op: Cmp, a: &Value, b: &Value) -> Value {
    use std::cmp::Ordering;
    let ord = match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
        (Value::Text(x), Value::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    };
    let Some(o) = ord else { return Value::Missing };
    Value::Bool(match op {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Ne => o != Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Le => o != Ordering::Greater,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
    })
}

/// One arithmetic step; `None` (missing) when dividing by zero.
pub(crate) fn arith(op: Arith, x: f64, y: f64) -> Option<f64> {
    match op {
        Arith::Add => Some(x + y),
        Arith::Sub => Some(x - y),
        Arith::Mul => Some(x * y),
        Arith::Div => (y != 0.0).then(|| x / y),
    }
}

/// Kleene `and` (`decisive` false) or `or` (`decisive` true) of truth values, `None` being
/// missing: the decisive value wins wherever it is, else missing if any is missing.
pub(crate) fn kleene(items: impl IntoIterator<Item = Option<bool>>, decisive: bool) -> Value {
    let mut unknown = false;
    for b in items {
        match b {
            Some(b) if b == decisive => return Value::Bool(decisive),
            Some(_) => {}
            None => unknown = true,
        }
    }
    if unknown {
        Value::Missing
    } else {
        Value::Bool(!decisive)
    }
}

/// Evaluates a checked expression on one record (values by slot). `dot` is this answer.
pub fn eval(e: &Expr, rec: &[Value], dot: &Value) -> Value {
    match e {
        Expr::Const(v) => v.clone(),
        Expr::Var(s) => rec.get(*s).cloned().unwrap_or_default(),
        Expr::Dot => dot.clone(),
        Expr::Neg(a) => match eval(a, rec, dot) {
            Value::Num(v) => Value::Num(-v),
            _ => Value::Missing,
        },
        Expr::Not(a) => match eval(a, rec, dot) {
            Value::Bool(v) => Value::Bool(!v),
            _ => Value::Missing,
        },
        Expr::Arith(first, rest) => {
            let Some(mut acc) = eval(first, rec, dot).num() else { return Value::Missing };
            for (op, x) in rest {
                let Some(y) = eval(x, rec, dot).num() else { return Value::Missing };
                let Some(v) = arith(*op, acc, y) else { return Value::Missing };
                acc = v;
            }
            Value::Num(acc)
        }
        Expr::Cmp(op, a, b) => cmp_values(*op, &eval(a, rec, dot), &eval(b, rec, dot)),
        Expr::And(items) => kleene(items.iter().map(|x| eval(x, rec, dot).bool()), false),
        Expr::Or(items) => kleene(items.iter().map(|x| eval(x, rec, dot).bool()), true),
        Expr::If(c, a, b) => match eval(c, rec, dot).bool() {
            Some(true) => eval(a, rec, dot),
            Some(false) => eval(b, rec, dot),
            None => Value::Missing,
        },
        Expr::Coalesce(v) => v.iter().map(|x| eval(x, rec, dot)).find(|x| !x.is_missing()).unwrap_or_default(),
        Expr::Selected(s, i) => match rec.get(*s) {
            Some(Value::Multi(set)) => Value::Bool(set.contains(i)),
            _ => Value::Missing,
        },
        Expr::CountSelected(s, _) => match rec.get(*s) {
            Some(Value::Multi(set)) => Value::Num(set.len() as f64),
            _ => Value::Missing,
        },
        Expr::Agg(k, v) => {
            let mut acc: Option<f64> = None;
            for x in v {
                let Some(y) = eval(x, rec, dot).num() else { return Value::Missing };
                acc = Some(match (acc, k) {
                    (None, _) => y,
                    (Some(a), Agg::Sum | Agg::Mean) => a + y,
                    (Some(a), Agg::Min) => a.min(y),
                    (Some(a), Agg::Max) => a.max(y),
                });
            }
            match (acc, k) {
                (Some(a), Agg::Mean) => Value::Num(a / v.len() as f64),
                (Some(a), _) => Value::Num(a),
                (None, _) => Value::Missing,
            }
        }
        Expr::ProratedSum(k, v) => {
            let Some(k) = eval(k, rec, dot).num() else { return Value::Missing };
            let mut sum = 0.0;
            let mut answered = 0usize;
            for x in v {
                if let Some(y) = eval(x, rec, dot).num() {
                    sum += y;
                    answered += 1;
                }
            }
            let missing = (v.len() - answered) as f64;
            if answered == 0 || missing > k {
                Value::Missing
            } else {
                Value::Num(sum * v.len() as f64 / answered as f64)
            }
        }
        Expr::CountMissing(v) => Value::Num(v.iter().filter(|x| eval(x, rec, dot).is_missing()).count() as f64),
        Expr::IsMissing(a) => Value::Bool(eval(a, rec, dot).is_missing()),
        Expr::Lookup(t, a) => match eval(a, rec, dot).num().and_then(|x| t.get(x)) {
            Some(v) => Value::Num(v),
            None => Value::Missing,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let mut s = Scope::new();
        s.push(VarInfo {
            id: "a".into(),
            ty: ExprType::Num,
            codes: None,
        });
        s.push(VarInfo {
            id: "b".into(),
            ty: ExprType::Num,
            codes: None,
        });
        s.push(VarInfo {
            id: "sex".into(),
            ty: ExprType::Num,
            codes: Some(vec!["1".into(), "2".into()]),
        });
        s.push(VarInfo {
            id: "help".into(),
            ty: ExprType::Multi,
            codes: Some(vec!["gp".into(), "ae".into()]),
        });
        s.push(VarInfo {
            id: "name".into(),
            ty: ExprType::Text,
            codes: None,
        });
        s.push(VarInfo {
            id: "born".into(),
            ty: ExprType::Date,
            codes: None,
        });
        s
    }

    fn run(text: &str, rec: &[Value]) -> Value {
        let (e, _) = compile(text, &scope(), &Context::default(), None).unwrap();
        eval(&e, rec, &Value::Missing)
    }

    #[test]
    fn missing_propagates_and_kleene() {
        let rec = [
            Value::Num(1.0),
            Value::Missing,
            Value::Num(2.0),
            Value::Multi(Arc::from(vec![1u32])),
            Value::Missing,
        ];
        assert_eq!(run("a + b", &rec), Value::Missing);
        assert_eq!(run("b > 1", &rec), Value::Missing);
        assert_eq!(run("a > 5 and b > 1", &rec), Value::Bool(false));
        assert_eq!(run("a < 5 or b > 1", &rec), Value::Bool(true));
        assert_eq!(run("coalesce(b, a)", &rec), Value::Num(1.0));
        assert_eq!(run("is_missing(b)", &rec), Value::Bool(true));
        assert_eq!(run("selected(help, 'ae')", &rec), Value::Bool(true));
        assert_eq!(run("count_selected(help)", &rec), Value::Num(1.0));
        assert_eq!(run("prorated_sum(1, a, b, sex)", &rec), Value::Num(4.5));
        assert_eq!(run("prorated_sum(0, a, b, sex)", &rec), Value::Missing);
        assert_eq!(run("a / 0", &rec), Value::Missing);
    }

    #[test]
    fn check_errors() {
        let e = compile("a + nam", &scope(), &Context::default(), None).unwrap_err();
        assert_eq!(e[0].at, 4);
        assert!(e[0].message.contains("did you mean 'name'"), "{e:?}");
        let e = compile("sex == 3", &scope(), &Context::default(), None).unwrap_err();
        assert!(e[0].message.contains("not a choice"), "{e:?}");
        let e = compile("name + 1", &scope(), &Context::default(), None).unwrap_err();
        assert!(e[0].message.contains("type mismatch"), "{e:?}");
        let e = compile("help == 1", &scope(), &Context::default(), None).unwrap_err();
        assert!(e[0].message.contains("selected"), "{e:?}");
        let e = compile("summ(a)", &scope(), &Context::default(), None).unwrap_err();
        assert!(e[0].message.contains("did you mean 'sum'"), "{e:?}");
    }

    /// Regression (issue 15): chains of 10,000 and more terms overflowed the stack in the
    /// parser, checker and evaluator (each operator was one more level of recursion). Unit tests
    /// run on threads with a 2 MB stack, a quarter of the main thread's.
    #[test]
    fn r15_long_chains_check_and_evaluate() {
        let rec = [
            Value::Num(1.0),
            Value::Num(0.5),
            Value::Missing,
            Value::Missing,
            Value::Missing,
            Value::Num(10.0),
        ];
        let n = 50_000;
        assert_eq!(run(&vec!["a"; n].join(" + "), &rec), Value::Num(n as f64));
        assert_eq!(run(&format!("sum({})", vec!["a"; n].join(", ")), &rec), Value::Num(n as f64));
        assert_eq!(run(&vec!["a - b"; n].join(" + "), &rec), Value::Num(n as f64 / 2.0));
        assert_eq!(run(&vec!["a * 2 / b"; n].join(" + "), &rec), Value::Num(4.0 * n as f64));
        assert_eq!(run(&vec!["a > 0"; n].join(" and "), &rec), Value::Bool(true));
        assert_eq!(run(&(vec!["a > 1"; n].join(" or ") + " or b > 0"), &rec), Value::Bool(true));
        // Kleene: one false decides an `and` whatever is missing; else missing propagates
        assert_eq!(run(&(vec!["sex == 1"; n].join(" and ") + " and a > 1"), &rec), Value::Bool(false));
        assert_eq!(run(&(vec!["a > 0"; n].join(" and ") + " and sex == 1"), &rec), Value::Missing);
        assert_eq!(run(&(vec!["a"; n].join(" + ") + " + sex"), &rec), Value::Missing);
        assert_eq!(run(&(vec!["a"; n].join(" * ") + " / (a - 1)"), &rec), Value::Missing);
    }

    #[test]
    fn r15_chain_type_errors_point_at_the_operator() {
        let e = compile("1 + 2 + name + 3", &scope(), &Context::default(), None).unwrap_err();
        assert_eq!((e.len(), e[0].at), (1, 6), "{e:?}");
        assert!(e[0].message.contains("'+' needs numbers, found a text"), "{e:?}");
        let e = compile("name * 2 * 3", &scope(), &Context::default(), None).unwrap_err();
        assert_eq!(e[0].at, 5, "{e:?}");
        // two dates subtract to a number of days, which may go on; a third date may not
        assert_eq!(compile("born - born + 1", &scope(), &Context::default(), None).unwrap().1, ExprType::Num);
        let e = compile("born - born - born", &scope(), &Context::default(), None).unwrap_err();
        assert_eq!(e[0].at, 12, "{e:?}");
        assert!(e[0].message.contains("found a date"), "{e:?}");
        let e = compile("a > 1 and a and b > 1", &scope(), &Context::default(), None).unwrap_err();
        assert_eq!(e[0].at, 10, "{e:?}");
        assert!(e[0].message.contains("'and' needs booleans, found a number"), "{e:?}");
        // every operand's problems are reported, not only the first
        let e = compile(&vec!["zz"; 1000].join(" + "), &scope(), &Context::default(), None).unwrap_err();
        assert_eq!(e.len(), 1000);
        assert_eq!(e[999].at, 999 * 5);
    }
}
