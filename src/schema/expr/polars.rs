//! Compiles checked expressions to Polars expressions, for analysis over whole columns.
//!
//! Owns the column-wise translation only. Column naming follows the analysis frame: a variable's
//! column is its id; a `select_multiple` question `q` has one boolean indicator column per choice
//! named `q:CODE` (null when `q` has no answer). The semantics must equal `super::eval`, which the
//! property test in `tests` checks on random expressions and records.
//!
//! Shape of the translation, so that no input can make Polars recurse deeply or use memory out
//! of proportion:
//! - every subexpression appears once in the Polars tree (an input written twice is converted
//!   twice by Polars, which doubles the work per level of nesting);
//! - the tree is as deep as the expression is nested, not as long: a chain of operators or a
//!   list of arguments is one node with many inputs, or (`and`, `or`, `coalesce`, `min`, `max`,
//!   `count_missing`, whose grouping does not change results) a balanced tree of depth log2(n);
//! - where a Polars primitive would need an input twice (the null test of `if`, division by
//!   zero) or would change the order of floating-point operations (sums of many terms), the node
//!   is a column function here that computes what `super::eval` computes from each input once;
//! - Polars holds all the inputs of a node in memory at once, so a node whose order matters
//!   (arithmetic, `sum`, `mean`, `prorated_sum`) with more than [`WIDE`] computed operands is
//!   evaluated row by row with `super::eval` itself, from the columns it reads.

use std::sync::Arc;

use polars::prelude::{
    col, lit, map_multiple, BooleanChunked, ChunkCompareEq, ChunkFullNull, ChunkZip, Column, DataType, Expr as PExpr, Field, Float64Chunked, IntoColumn,
    NewChunkedArray, PolarsResult, StringChunked, NULL,
};

use super::{arith, eval, Agg, Arith, Cmp, Expr, ExprType, Scope, Table, Value};

/// The name of the indicator column of choice `code` of select_multiple question `id`.
pub fn indicator_column(id: &str, code: &str) -> String {
    format!("{id}:{code}")
}

/// Most operands Polars computes and holds at once for one order-sensitive node; a wider node
/// is evaluated row by row instead. Realistic expressions (a score over a few dozen items) stay
/// well under it and get the column-wise path.
pub const WIDE: usize = 64;

fn null() -> PExpr {
    lit(NULL)
}

/// Rows of a function's result: inputs are whole columns or (literals) one value to repeat.
fn height(cols: &[Column]) -> usize {
    cols.iter().map(Column::len).find(|&n| n != 1).unwrap_or(1)
}

/// A column of `n` rows: `c`, or its one value repeated.
fn broadcast(c: &Column, n: usize) -> Column {
    if c.len() == 1 && n != 1 {
        c.new_from_index(0, n)
    } else {
        c.clone()
    }
}

/// `c` as `n` numbers in one chunk.
fn f64s(c: &Column, n: usize) -> PolarsResult<Float64Chunked> {
    Ok(broadcast(&c.cast(&DataType::Float64)?, n).f64()?.rechunk().into_owned())
}

/// `c` as `n` truth values in one chunk.
fn bools(c: &Column, n: usize) -> PolarsResult<BooleanChunked> {
    Ok(broadcast(&c.cast(&DataType::Boolean)?, n).bool()?.rechunk().into_owned())
}

/// A node computing a number per row from `inputs`, each evaluated once by Polars.
fn num_function(inputs: Vec<PExpr>, f: impl Fn(&[Column], usize) -> PolarsResult<Float64Chunked> + Send + Sync + 'static) -> PExpr {
    map_multiple(
        move |cols: &mut [Column]| {
            let n = height(cols);
            let name = cols[0].name().clone();
            Ok(f(cols, n)?.with_name(name).into_column())
        },
        inputs,
        |_, fields: &[Field]| Ok(Field::new(fields[0].name().clone(), DataType::Float64)),
    )
}

/// `x op y`, value by value, both of `n` rows. Polars' kernels compute as `eval` does, except
/// that they divide by a single value as a multiplication by its reciprocal (one bit off): a
/// one-row division is done here.
fn arith_columns(op: Arith, x: &Float64Chunked, y: &Float64Chunked) -> PolarsResult<Float64Chunked> {
    Ok(match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        Arith::Mul => x * y,
        Arith::Div if y.len() == 1 => x.iter().zip(y.iter()).map(|(x, y)| arith(Arith::Div, x?, y?)).collect(),
        Arith::Div => (x / y).zip_with(&y.not_equal(0.0), &Float64Chunked::full_null(x.name().clone(), x.len()))?,
    })
}

/// `a op b op c ...` left to right (the order of floating-point operations matters).
fn arith_chain(first: PExpr, rest: Vec<(Arith, PExpr)>) -> PExpr {
    let (ops, operands): (Vec<Arith>, Vec<PExpr>) = rest.into_iter().unzip();
    let inputs: Vec<PExpr> = std::iter::once(first).chain(operands).collect();
    num_function(inputs, move |cols, n| {
        let mut acc = f64s(&cols[0], n)?;
        for (op, c) in ops.iter().zip(&cols[1..]) {
            acc = arith_columns(*op, &acc, &f64s(c, n)?)?;
        }
        Ok(acc)
    })
}

/// `sum(...)` (or `mean(...)`, divided by the number of items): left to right, missing if any
/// item is missing.
fn sum(items: Vec<PExpr>, mean: bool) -> PExpr {
    num_function(items, move |cols, n| {
        let mut acc = f64s(&cols[0], n)?;
        for c in &cols[1..] {
            acc = &acc + &f64s(c, n)?;
        }
        if mean {
            let k = cols.len() as f64;
            acc = acc.iter().map(|a| arith(Arith::Div, a?, k)).collect();
        }
        Ok(acc)
    })
}

/// `min(a, b)` or `max(a, b)`, missing if either is.
fn min_max(a: PExpr, b: PExpr, max: bool) -> PExpr {
    num_function(vec![a, b], move |cols, n| {
        let (x, y) = (f64s(&cols[0], n)?, f64s(&cols[1], n)?);
        Ok(x.iter().zip(y.iter()).map(|(x, y)| Some(if max { x?.max(y?) } else { x?.min(y?) })).collect())
    })
}

/// Joins `items` pairwise into a balanced tree (only for operations where grouping does not
/// change results), so that it is log2(n) deep and Polars holds few intermediates at once.
fn balanced(mut items: Vec<PExpr>, join: impl Fn(PExpr, PExpr) -> PExpr) -> PExpr {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => join(a, b),
                None => a,
            });
        }
        items = next;
    }
    items.pop().unwrap_or_else(null)
}

/// `if(c, a, b)`: `a` where `c` is true, `b` where false, missing where `c` is missing.
fn if_then_else(c: PExpr, a: PExpr, b: PExpr) -> PExpr {
    map_multiple(
        |cols: &mut [Column]| {
            let n = height(cols);
            let cond = bools(&cols[0], n)?;
            let dtype = branch_type(cols[1].dtype(), cols[2].dtype());
            let (a, b) = (broadcast(&cols[1].cast(&dtype)?, n), broadcast(&cols[2].cast(&dtype)?, n));
            let name = cols[0].name().clone();
            let take_a = BooleanChunked::from_iter_values(name.clone(), cond.iter().map(|c| c == Some(true)));
            let known = cond.is_not_null();
            a.zip_with(&take_a, &b)?.zip_with(&known, &Column::full_null(name, n, &dtype))
        },
        [c, a, b],
        |_, fields: &[Field]| Ok(Field::new(fields[0].name().clone(), branch_type(fields[1].dtype(), fields[2].dtype()))),
    )
}

/// The type of an `if` whose branches Polars typed `a` and `b`: the checker made them one
/// expression type, but a number may be a column of any width or an untyped literal.
fn branch_type(a: &DataType, b: &DataType) -> DataType {
    let known = |d: &DataType| d.clone().materialize_unknown(false).unwrap_or(DataType::Null);
    let (a, b) = (known(a), known(b));
    match (&a, &b) {
        _ if a == b => a,
        (DataType::Null, _) => b,
        (_, DataType::Null) => a,
        _ if a.is_primitive_numeric() && b.is_primitive_numeric() => DataType::Float64,
        _ => a,
    }
}

/// `prorated_sum(k, items...)`: the sum of the answered items scaled to all items, missing when
/// none is answered or more than `k` are missing.
fn prorated_sum(k: PExpr, items: Vec<PExpr>) -> PExpr {
    let inputs: Vec<PExpr> = std::iter::once(k).chain(items).collect();
    num_function(inputs, |cols, n| {
        let items = cols.len() - 1;
        let mut sum = vec![0.0; n];
        let mut answered = vec![0usize; n];
        for c in &cols[1..] {
            for (i, y) in f64s(c, n)?.iter().enumerate() {
                if let Some(y) = y {
                    sum[i] += y;
                    answered[i] += 1;
                }
            }
        }
        let k = f64s(&cols[0], n)?;
        Ok(k.iter()
            .enumerate()
            .map(|(i, k)| {
                let missing = (items - answered[i]) as f64;
                (answered[i] > 0 && missing <= k?).then(|| sum[i] * items as f64 / answered[i] as f64)
            })
            .collect())
    })
}

/// Number of missing values among `items` (of any type); counts add exactly in any grouping.
fn count_missing(items: Vec<PExpr>) -> PExpr {
    let counts = items.into_iter().map(|e| e.is_null().cast(DataType::Float64)).collect();
    balanced(counts, |a, b| a + b)
}

/// `count_selected(q)` over its indicator columns (all missing when `q` has no answer).
fn count_true(indicators: Vec<PExpr>) -> PExpr {
    if indicators.is_empty() {
        return null().cast(DataType::Float64);
    }
    num_function(indicators, |cols, n| {
        let mut count: Vec<Option<f64>> = vec![Some(0.0); n];
        for c in cols {
            for (k, b) in count.iter_mut().zip(bools(c, n)?.iter()) {
                *k = match (*k, b) {
                    (Some(k), Some(b)) => Some(k + f64::from(u8::from(b))),
                    _ => None,
                };
            }
        }
        Ok(count.into_iter().collect())
    })
}

/// `lookup(table, x)`.
fn lookup(table: Arc<Table>, x: PExpr) -> PExpr {
    num_function(vec![x], move |cols, n| Ok(f64s(&cols[0], n)?.iter().map(|v| table.get(v?)).collect()))
}

/// Whether Polars computes `e` into a new column (rather than reading a column or a literal).
fn computed(e: &Expr) -> bool {
    !matches!(e, Expr::Const(_) | Expr::Var(_) | Expr::Dot | Expr::Selected(..))
}

/// Whether an order-sensitive node over `operands` is evaluated row by row (see [`WIDE`]).
fn wide<'a>(operands: impl IntoIterator<Item = &'a Expr>) -> bool {
    operands.into_iter().filter(|e| computed(e)).count() > WIDE
}

/// One variable's values, read row by row for [`by_row`].
enum Reader {
    Num(Float64Chunked),
    Bool(BooleanChunked),
    Text(StringChunked),
    /// The indicator columns of a select_multiple.
    Multi(Vec<BooleanChunked>),
}

impl Reader {
    fn value(&self, i: usize) -> Value {
        match self {
            Reader::Num(c) => c.get(i).map(Value::Num).unwrap_or_default(),
            Reader::Bool(c) => c.get(i).map(Value::Bool).unwrap_or_default(),
            Reader::Text(c) => c.get(i).map(|s| Value::Text(s.into())).unwrap_or_default(),
            Reader::Multi(ind) => match ind.first().and_then(|c| c.get(i)) {
                None => Value::Missing,
                Some(_) => Value::Multi(ind.iter().enumerate().filter(|(_, c)| c.get(i) == Some(true)).map(|(k, _)| k as u32).collect()),
            },
        }
    }
}

/// A numeric node evaluated row by row with [`eval`], from the columns of the variables it
/// reads: memory for one result column, whatever the number of operands.
fn by_row(e: &Expr, scope: &Scope, dot: Option<&str>) -> PExpr {
    let mut slots = Vec::new();
    e.slots(&mut slots);
    slots.sort_unstable();
    slots.dedup();
    // per slot: its type and how many input columns it takes
    let mut layout: Vec<(usize, ExprType, usize)> = Vec::new();
    let mut inputs: Vec<PExpr> = Vec::new();
    for &s in &slots {
        let v = scope.var(s);
        match (v.ty, &v.codes) {
            (ExprType::Multi, Some(codes)) => {
                inputs.extend(codes.iter().map(|c| col(indicator_column(&v.id, c).as_str())));
                layout.push((s, v.ty, codes.len()));
            }
            _ => {
                inputs.push(col(v.id.as_str()));
                layout.push((s, v.ty, 1));
            }
        }
    }
    let dot_input = dot.map(|c| {
        inputs.push(col(c));
        inputs.len() - 1
    });
    // a node that reads no column still needs an input for Polars to give it a name and rows
    inputs.push(lit(0.0));
    let (e, slot_count) = (e.clone(), scope.len());
    num_function(inputs, move |cols, n| {
        let mut readers: Vec<(usize, Reader)> = Vec::with_capacity(layout.len());
        let mut at = 0;
        for &(slot, ty, width) in &layout {
            let r = match ty {
                ExprType::Multi => Reader::Multi(cols[at..at + width].iter().map(|c| bools(c, n)).collect::<PolarsResult<_>>()?),
                ExprType::Bool => Reader::Bool(bools(&cols[at], n)?),
                ExprType::Text => Reader::Text(broadcast(&cols[at].cast(&DataType::String)?, n).str()?.rechunk().into_owned()),
                ExprType::Num | ExprType::Date => Reader::Num(f64s(&cols[at], n)?),
            };
            readers.push((slot, r));
            at += width;
        }
        let dot_reader = match dot_input {
            Some(k) => Some(match cols[k].dtype() {
                DataType::Boolean => Reader::Bool(bools(&cols[k], n)?),
                DataType::String => Reader::Text(broadcast(&cols[k], n).str()?.rechunk().into_owned()),
                _ => Reader::Num(f64s(&cols[k], n)?),
            }),
            None => None,
        };
        let mut rec = vec![Value::Missing; slot_count];
        let out: Float64Chunked = (0..n)
            .map(|i| {
                for (slot, r) in &readers {
                    rec[*slot] = r.value(i);
                }
                let d = dot_reader.as_ref().map(|r| r.value(i)).unwrap_or_default();
                eval(&e, &rec, &d).num()
            })
            .collect();
        Ok(out)
    })
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
                (ExprType::Multi, Some(code)) => col(indicator_column(&v.id, code).as_str()),
                _ => col(v.id.as_str()),
            }
        }
        Expr::Dot => match dot {
            Some(c) => col(c),
            None => null(),
        },
        Expr::Neg(a) => rec(a) * lit(-1.0),
        Expr::Not(a) => rec(a).not(),
        Expr::Arith(first, rest) => {
            if wide(std::iter::once(&**first).chain(rest.iter().map(|(_, x)| x))) {
                return by_row(e, scope, dot);
            }
            arith_chain(rec(first), rest.iter().map(|(op, x)| (*op, rec(x))).collect())
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
        // Polars' `and` and `or` are Kleene's, like `eval`
        Expr::And(items) => balanced(items.iter().map(rec).collect(), PExpr::and),
        Expr::Or(items) => balanced(items.iter().map(rec).collect(), PExpr::or),
        Expr::If(c, a, b) => if_then_else(rec(c), rec(a), rec(b)),
        // the first non-missing value: grouping does not change it
        Expr::Coalesce(v) => balanced(v.iter().map(rec).collect(), |a, b| polars::prelude::coalesce(&[a, b])),
        Expr::Selected(s, i) => {
            let v = scope.var(*s);
            let code = v.codes.as_ref().and_then(|c| c.get(*i as usize)).map(String::as_str).unwrap_or("");
            col(indicator_column(&v.id, code).as_str())
        }
        Expr::CountSelected(s, _) => {
            let v = scope.var(*s);
            count_true(v.codes.iter().flatten().map(|c| col(indicator_column(&v.id, c).as_str())).collect())
        }
        Expr::Agg(k, v) => match k {
            Agg::Sum | Agg::Mean if wide(v) => by_row(e, scope, dot),
            Agg::Sum | Agg::Mean => sum(v.iter().map(rec).collect(), *k == Agg::Mean),
            Agg::Min | Agg::Max => balanced(v.iter().map(rec).collect(), |a, b| min_max(a, b, *k == Agg::Max)),
        },
        Expr::ProratedSum(k, v) => {
            if wide(v) {
                return by_row(e, scope, dot);
            }
            prorated_sum(rec(k), v.iter().map(rec).collect())
        }
        Expr::CountMissing(v) => count_missing(v.iter().map(rec).collect()),
        Expr::IsMissing(a) => rec(a).is_null(),
        Expr::Lookup(t, a) => lookup(t.clone(), rec(a)),
    }
}
