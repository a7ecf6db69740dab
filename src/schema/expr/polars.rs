//! Compiles checked expressions to Polars expressions, for analysis over whole columns.
//!
//! Owns the column-wise translation only. Column naming follows the analysis frame: a variable's
//! column is its id; a `select_multiple` question `q` has one boolean indicator column per choice
//! named `q:CODE` (null when `q` has no answer). The semantics must equal `super::eval`, which the
//! property test in `tests` checks on random expressions and records.

use polars::prelude::{col, lit, when, DataType, Expr as PExpr, NULL};

use super::{Agg, Arith, Cmp, Expr, Scope, Value};

/// The name of the indicator column of choice `code` of select_multiple question `id`.
pub fn indicator_column(id: &str, code: &str) -> String {
    format!("{id}:{code}")
}

fn null() -> PExpr {
    lit(NULL)
}

fn fold_add(items: Vec<PExpr>) -> PExpr {
    let mut it = items.into_iter();
    let first = it.next().unwrap_or_else(|| lit(0.0));
    it.fold(first, |a, b| a + b)
}

fn any_null(items: &[PExpr]) -> PExpr {
    let mut it = items.iter().cloned().map(|e| e.is_null());
    let first = it.next().unwrap_or_else(|| lit(false));
    it.fold(first, |a, b| a.or(b))
}

/// `x / y` computed value by value. Polars divides a column by a scalar as a multiplication by
/// the reciprocal (`x * (1 / y)`), which can differ from `x / y` in the last bit; broadcasting
/// the divisor to a column first keeps the result equal to the evaluator's.
fn exact_div(x: PExpr, y: PExpr) -> PExpr {
    let y = when(x.clone().is_null()).then(null()).otherwise(y);
    x / y
}

/// Translates `e` into a Polars expression over the analysis frame of `scope`.
/// `dot` names the column of "this answer" when compiling a constraint.
pub fn to_polars(e: &Expr, scope: &Scope, dot: Option<&str>) -> PExpr {
    let rec = |x: &Expr| to_polars(x, scope, dot);
    match e {
        Expr::Const(Value::Num(v)) => lit(*v),
        Expr::Const(Value::Bool(v)) => lit(*v),
        Expr::Const(Value::Text(s)) => lit(s.to_string()),
        Expr::Const(_) => null(),
        Expr::Var(s) => {
            let v = scope.var(*s);
            match (v.ty, v.codes.as_ref().and_then(|c| c.first())) {
                // a select_multiple has no column of its own, only indicators; the language
                // observes it whole only as missing or not (is_missing, count_missing, coalesce),
                // and its first indicator is null exactly when it has no answer
                (super::ExprType::Multi, Some(code)) => col(indicator_column(&v.id, code).as_str()),
                _ => col(v.id.as_str()),
            }
        }
        Expr::Dot => match dot {
            Some(c) => col(c),
            None => null(),
        },
        Expr::Neg(a) => rec(a) * lit(-1.0),
        Expr::Not(a) => rec(a).not(),
        Expr::Arith(op, a, b) => {
            let (x, y) = (rec(a), rec(b));
            match op {
                Arith::Add => x + y,
                Arith::Sub => x - y,
                Arith::Mul => x * y,
                Arith::Div => when(y.clone().eq(lit(0.0))).then(null()).otherwise(exact_div(x, y)),
            }
        }
        Expr::Cmp(op, a, b) => {
            let (x, y) = (rec(a), rec(b));
            match op {
                Cmp::Eq => x.eq(y),
                Cmp::Ne => x.neq(y),
                Cmp::Lt => x.lt(y),
                Cmp::Le => x.lt_eq(y),
                Cmp::Gt => x.gt(y),
                Cmp::Ge => x.gt_eq(y),
            }
        }
        Expr::And(a, b) => rec(a).and(rec(b)),
        Expr::Or(a, b) => rec(a).or(rec(b)),
        Expr::If(c, a, b) => {
            let c = rec(c);
            when(c.clone().is_null()).then(null()).when(c).then(rec(a)).otherwise(rec(b))
        }
        Expr::Coalesce(v) => {
            let items: Vec<PExpr> = v.iter().map(rec).collect();
            polars::prelude::coalesce(&items)
        }
        Expr::Selected(s, i) => {
            let v = scope.var(*s);
            let code = v.codes.as_ref().and_then(|c| c.get(*i as usize)).map(String::as_str).unwrap_or("");
            col(indicator_column(&v.id, code).as_str())
        }
        Expr::CountSelected(s, _) => {
            let v = scope.var(*s);
            let items: Vec<PExpr> = v
                .codes
                .iter()
                .flatten()
                .map(|c| col(indicator_column(&v.id, c).as_str()).cast(DataType::Float64))
                .collect();
            fold_add(items)
        }
        Expr::Agg(k, v) => {
            let items: Vec<PExpr> = v.iter().map(rec).collect();
            let n = items.len() as f64;
            match k {
                Agg::Sum => fold_add(items),
                Agg::Mean => exact_div(fold_add(items), lit(n)),
                Agg::Min | Agg::Max => {
                    let m = if *k == Agg::Min {
                        polars::lazy::dsl::min_horizontal(&items)
                    } else {
                        polars::lazy::dsl::max_horizontal(&items)
                    };
                    match m {
                        Ok(m) => when(any_null(&items)).then(null()).otherwise(m),
                        Err(_) => null(),
                    }
                }
            }
        }
        Expr::ProratedSum(k, v) => {
            let items: Vec<PExpr> = v.iter().map(rec).collect();
            let n = items.len() as f64;
            let answered = fold_add(items.iter().cloned().map(|e| e.is_not_null().cast(DataType::Float64)).collect());
            let total = fold_add(items.into_iter().map(|e| e.fill_null(lit(0.0))).collect());
            let k = rec(k);
            let bad = k.clone().is_null().or(answered.clone().eq(lit(0.0))).or((lit(n) - answered.clone()).gt(k));
            when(bad).then(null()).otherwise(exact_div(total * lit(n), answered))
        }
        Expr::CountMissing(v) => fold_add(v.iter().map(|x| rec(x).is_null().cast(DataType::Float64)).collect()),
        Expr::IsMissing(a) => rec(a).is_null(),
        Expr::Lookup(t, a) => {
            let x = rec(a);
            t.entries.iter().rev().fold(null().cast(DataType::Float64), |acc, (k, v)| {
                when(x.clone().eq(lit(*k))).then(lit(*v)).otherwise(acc)
            })
        }
    }
}
