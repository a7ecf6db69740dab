//! Property test: the record-at-a-time evaluator ([`super::eval`]) and the Polars compiler
//! ([`super::polars::to_polars`]) give identical results, missing values included, on random
//! well-typed expressions over random records.
//!
//! The generators are proptest strategies, so a failure is shrunk to a small expression over
//! few records before it is reported. The cases are seeded (the same on every run, in CI
//! too); `PROPTEST_RNG_SEED=N` explores others and `PROPTEST_CASES=N` changes how many.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use polars::prelude::{col, Column, DataFrame, DataType, IntoColumn, IntoLazy, NamedFrom, Series};

use super::polars::{indicator_column, to_polars, WIDE};
use super::{compile, eval, Context, ExprType, Scope, Table, Value, VarInfo};
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

const NUMS: &[&str] = &["n1", "n2", "n3", "k"];
const TEXTS: &[&str] = &["t1", "t2", "tx"];
const BOOLS: &[&str] = &["b1", "b2"];
const MULTI_CODES: &[&str] = &["a", "b", "c"];
const TEXT_CODES: &[&str] = &["x", "y"];
const TEXT_VALUES: &[&str] = &["x", "y", "abc", "Abc", "abd", "z", "a b"];

fn scope() -> Scope {
    let mut s = Scope::new();
    let codes = |c: &[&str]| Some(c.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    for id in ["n1", "n2", "n3"] {
        s.push(VarInfo {
            id: id.into(),
            ty: ExprType::Num,
            codes: None,
        });
    }
    s.push(VarInfo {
        id: "k".into(),
        ty: ExprType::Num,
        codes: codes(&["1", "2", "3"]),
    });
    s.push(VarInfo {
        id: "t1".into(),
        ty: ExprType::Text,
        codes: None,
    });
    s.push(VarInfo {
        id: "t2".into(),
        ty: ExprType::Text,
        codes: None,
    });
    s.push(VarInfo {
        id: "tx".into(),
        ty: ExprType::Text,
        codes: codes(TEXT_CODES),
    });
    s.push(VarInfo {
        id: "b1".into(),
        ty: ExprType::Bool,
        codes: None,
    });
    s.push(VarInfo {
        id: "b2".into(),
        ty: ExprType::Bool,
        codes: None,
    });
    s.push(VarInfo {
        id: "m".into(),
        ty: ExprType::Multi,
        codes: codes(MULTI_CODES),
    });
    s
}

fn context() -> Context {
    let mut tables = HashMap::new();
    tables.insert(
        "tab".to_string(),
        Arc::new(Table {
            name: "tab".into(),
            entries: vec![(0.0, -1.0), (1.0, 10.0), (2.0, 20.0), (3.0, 30.5)],
        }),
    );
    let mut params = HashMap::new();
    params.insert("p_two".to_string(), 2.0);
    params.insert("p_half".to_string(), 0.5);
    Context {
        params,
        tables,
        elsewhere: HashMap::new(),
    }
}

/// A strategy for the text of an expression.
type Text = BoxedStrategy<String>;

/// One of `xs`; shrinks towards the first.
fn pick(xs: &'static [&'static str]) -> Text {
    prop::sample::select(xs).prop_map(str::to_string).boxed()
}

/// `lo..=hi` expressions of `s`, joined with commas (an argument list).
fn list(lo: usize, hi: usize, s: &Text) -> Text {
    prop::collection::vec(s.clone(), lo..=hi).prop_map(|v| v.join(", ")).boxed()
}

/// Random well-typed expressions, by type and by depth (index 0: leaves only). Each level is
/// built once from the one below, so the strategies stay small however deep they go; every
/// choice lists its simplest alternative first, which is where shrinking goes.
struct Grammar {
    num: Vec<Text>,
    boolean: Vec<Text>,
    text: Vec<Text>,
    /// Any type but multiple choice, or the multiple choice itself (for `count_missing` and
    /// `is_missing`).
    any: Vec<Text>,
}

impl Grammar {
    fn new(max_depth: usize) -> Grammar {
        let mut g = Grammar {
            num: vec![num_leaf()],
            boolean: vec![bool_leaf()],
            text: vec![text_leaf()],
            any: Vec::new(),
        };
        g.any.push(any_of(&g.num[0], &g.boolean[0], &g.text[0]));
        for d in 1..=max_depth {
            let (num, boolean, text) = (g.num_node(d - 1), g.bool_node(d - 1), g.text_node(d - 1));
            let num = prop_oneof![1 => num_leaf(), 3 => num].boxed();
            let boolean = prop_oneof![1 => bool_leaf(), 4 => boolean].boxed();
            let text = prop_oneof![3 => text_leaf(), 7 => text].boxed();
            g.any.push(any_of(&num, &boolean, &text));
            g.num.push(num);
            g.boolean.push(boolean);
            g.text.push(text);
        }
        g
    }

    /// A number computed from expressions of depth `d`.
    fn num_node(&self, d: usize) -> Text {
        let (n, b) = (&self.num[d], &self.boolean[d]);
        let prorated_k = prop_oneof![7 => pick(&["0", "1", "2", "3"]), 3 => n.clone()];
        prop_oneof![
            1 => n.clone().prop_map(|a| format!("(-{a})")),
            3 => (n.clone(), pick(&["+", "-", "*", "/"]), n.clone()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            1 => (b.clone(), n.clone(), n.clone()).prop_map(|(c, a, b)| format!("if({c}, {a}, {b})")),
            1 => list(1, 3, n).prop_map(|l| format!("coalesce({l})")),
            1 => Just("count_selected(m)".to_string()),
            2 => (pick(&["sum", "mean", "min", "max"]), list(1, 4, n)).prop_map(|(f, l)| format!("{f}({l})")),
            1 => (prorated_k, list(1, 5, n)).prop_map(|(k, l)| format!("prorated_sum({k}, {l})")),
            1 => list(1, 4, &self.any[d]).prop_map(|l| format!("count_missing({l})")),
            1 => n.clone().prop_map(|a| format!("lookup(tab, {a})")),
            1 => n.clone().prop_map(|a| format!("({a} / 0)")),
            1 => (n.clone(), pick(NUMS)).prop_map(|(a, v)| format!("({a} / {v})")),
        ]
        .boxed()
    }

    /// A condition computed from expressions of depth `d`.
    fn bool_node(&self, d: usize) -> Text {
        let (n, b, t) = (&self.num[d], &self.boolean[d], &self.text[d]);
        let compare_nums = (n.clone(), pick(&["==", "!=", "<", "<=", ">", ">=", "="]), n.clone(), pick(&["1", "2", "3"])).prop_map(|(a, op, b, code)| {
            let (a, b) = coded_pair(a, b, "k", &code);
            format!("({a} {op} {b})")
        });
        let compare_texts = (t.clone(), pick(&["==", "!=", "<", "<=", ">", ">="]), t.clone(), pick(&["'x'", "'y'"])).prop_map(|(a, op, b, code)| {
            let (a, b) = coded_pair(a, b, "tx", &code);
            format!("({a} {op} {b})")
        });
        // a select_one with one of its codes
        let coded = prop_oneof![
            (pick(&["==", "!=", "<", ">="]), pick(&["1", "2", "3"])).prop_map(|(op, c)| format!("(k {op} {c})")),
            (pick(TEXT_CODES), pick(&["==", "!="])).prop_map(|(c, op)| format!("('{c}' {op} tx)")),
        ];
        let choice = prop_oneof![
            (b.clone(), b.clone(), b.clone()).prop_map(|(c, x, y)| format!("if({c}, {x}, {y})")),
            list(1, 3, b).prop_map(|l| format!("coalesce({l})")),
        ];
        prop_oneof![
            1 => b.clone().prop_map(|a| format!("(not {a})")),
            2 => (b.clone(), b.clone()).prop_map(|(a, c)| format!("({a} and {c})")),
            2 => (b.clone(), b.clone()).prop_map(|(a, c)| format!("({a} or {c})")),
            2 => compare_nums,
            1 => compare_texts,
            1 => (b.clone(), pick(&["==", "!="]), b.clone()).prop_map(|(a, op, c)| format!("({a} {op} {c})")),
            1 => coded,
            1 => pick(MULTI_CODES).prop_map(|c| format!("selected(m, '{c}')")),
            1 => self.any[d].clone().prop_map(|a| format!("is_missing({a})")),
            1 => choice,
        ]
        .boxed()
    }

    /// Text computed from expressions of depth `d`.
    fn text_node(&self, d: usize) -> Text {
        let (b, t) = (&self.boolean[d], &self.text[d]);
        prop_oneof![
            (b.clone(), t.clone(), t.clone()).prop_map(|(c, x, y)| format!("if({c}, {x}, {y})")),
            list(1, 3, t).prop_map(|l| format!("coalesce({l})")),
        ]
        .boxed()
    }

    /// An expression of each type at each depth from 1 to the grammar's, with its type.
    fn typed(&self) -> BoxedStrategy<(ExprType, String)> {
        let mut all = Vec::new();
        for d in 1..self.num.len() {
            all.push(self.num[d].clone().prop_map(|t| (ExprType::Num, t)).boxed());
            all.push(self.boolean[d].clone().prop_map(|t| (ExprType::Bool, t)).boxed());
            all.push(self.text[d].clone().prop_map(|t| (ExprType::Text, t)).boxed());
        }
        Union::new(all).boxed()
    }
}

fn num_leaf() -> Text {
    prop_oneof![
        1 => pick(&["0", "1", "2", "3", "0.5", "2.25", "7", "1e1", ".5"]),
        1 => Just("p_two".to_string()),
        1 => Just("p_half".to_string()),
        3 => pick(NUMS),
    ]
    .boxed()
}

fn bool_leaf() -> Text {
    prop_oneof![1 => pick(&["true", "false"]), 3 => pick(BOOLS)].boxed()
}

fn text_leaf() -> Text {
    prop_oneof![pick(TEXT_VALUES).prop_map(|v| format!("'{v}'")), Just("\"\"".to_string()), pick(TEXTS),].boxed()
}

fn any_of(num: &Text, boolean: &Text, text: &Text) -> Text {
    prop_oneof![num.clone(), boolean.clone(), text.clone(), Just("m".to_string())].boxed()
}

/// Two operands of a comparison: a literal compared with a coded variable must be one of its
/// codes (the checker rejects others), so such a literal is replaced by `code`.
fn coded_pair(a: String, b: String, var: &str, code: &str) -> (String, String) {
    let literal = |s: &str| s.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '\'' || c == '"');
    let fix = |other: &str, s: String| if other == var && literal(&s) { code.to_string() } else { s };
    let b = fix(&a, b);
    let a = fix(&b, a);
    (a, b)
}

/// A value of variable `v`: about a quarter missing (where shrinking goes).
fn value(v: &VarInfo) -> BoxedStrategy<Value> {
    let typed: BoxedStrategy<Value> = match (v.ty, v.codes.is_some()) {
        (ExprType::Num, true) => (1..=3i32).prop_map(|x| Value::Num(f64::from(x))).boxed(),
        (ExprType::Num, false) => prop::sample::select(&[0.0, 1.0, 2.0, 3.0, -1.0, 0.5, 2.5, -7.25, 10.0, 1e6, 0.1][..])
            .prop_map(Value::Num)
            .boxed(),
        (ExprType::Text, true) => prop::sample::select(TEXT_CODES).prop_map(|s| Value::Text(Arc::from(s))).boxed(),
        (ExprType::Text, false) => prop::sample::select(TEXT_VALUES).prop_map(|s| Value::Text(Arc::from(s))).boxed(),
        (ExprType::Bool, _) => any::<bool>().prop_map(Value::Bool).boxed(),
        (ExprType::Multi, _) => prop::collection::vec(any::<bool>(), MULTI_CODES.len())
            .prop_map(|chosen| {
                let set: Vec<u32> = (0..chosen.len() as u32).filter(|&i| chosen[i as usize]).collect();
                Value::Multi(Arc::from(set))
            })
            .boxed(),
        (ExprType::Date, _) => (-1000..=20000i32).prop_map(|d| Value::Num(f64::from(d))).boxed(),
    };
    prop_oneof![1 => Just(Value::Missing), 3 => typed].boxed()
}

/// `rows` records: one value per slot of `scope`.
fn records(scope: &Scope, rows: std::ops::RangeInclusive<usize>) -> BoxedStrategy<Vec<Vec<Value>>> {
    let record: Vec<BoxedStrategy<Value>> = scope.vars().iter().map(value).collect();
    prop::collection::vec(record, rows).boxed()
}

/// A runner for `cases` cases, the same cases on every run (from `seed`) unless
/// PROPTEST_RNG_SEED is set; PROPTEST_CASES overrides the count. Writes no regression files.
fn runner(cases: u32, seed: u64) -> TestRunner {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(seed);
    }
    config.failure_persistence = None;
    // each shrinking step runs Polars; a bound keeps a failure from taking minutes
    config.max_shrink_iters = 2048;
    TestRunner::new(config)
}

/// One value of `s`, the same for a given seed.
fn sample<S: Strategy>(s: S, seed: u64) -> S::Value {
    let mut r = runner(1, seed);
    s.new_tree(&mut r).expect("the strategy gives a value").current()
}

/// The analysis frame of `records`: a column per variable, indicator columns for the
/// select_multiple, nulls for missing values.
fn frame(scope: &Scope, records: &[Vec<Value>]) -> DataFrame {
    let mut columns: Vec<Column> = Vec::new();
    for (slot, v) in scope.vars().iter().enumerate() {
        let name = v.id.as_str();
        match v.ty {
            ExprType::Num | ExprType::Date => {
                let xs: Vec<Option<f64>> = records.iter().map(|r| r[slot].num()).collect();
                columns.push(Series::new(name.into(), xs).into_column());
            }
            ExprType::Bool => {
                let xs: Vec<Option<bool>> = records.iter().map(|r| r[slot].bool()).collect();
                columns.push(Series::new(name.into(), xs).into_column());
            }
            ExprType::Text => {
                let xs: Vec<Option<String>> = records
                    .iter()
                    .map(|r| match &r[slot] {
                        Value::Text(s) => Some(s.to_string()),
                        _ => None,
                    })
                    .collect();
                columns.push(Series::new(name.into(), xs).into_column());
            }
            ExprType::Multi => {
                for (i, code) in v.codes.iter().flatten().enumerate() {
                    let xs: Vec<Option<bool>> = records
                        .iter()
                        .map(|r| match &r[slot] {
                            Value::Multi(set) => Some(set.contains(&(i as u32))),
                            _ => None,
                        })
                        .collect();
                    columns.push(Series::new(indicator_column(name, code).into(), xs).into_column());
                }
            }
        }
    }
    DataFrame::new(records.len(), columns).expect("frame")
}

/// The Polars result as values, one per row.
fn polars_values(df: &DataFrame, e: &super::Expr, ty: ExprType, scope: &Scope) -> Result<Vec<Value>, String> {
    let dtype = match ty {
        ExprType::Bool => DataType::Boolean,
        ExprType::Text => DataType::String,
        _ => DataType::Float64,
    };
    let out = df
        .clone()
        .lazy()
        .with_column(to_polars(e, scope, None).cast(dtype).alias("__out"))
        .select([col("__out")])
        .collect()
        .map_err(|e| e.to_string())?;
    let c = out.column("__out").map_err(|e| e.to_string())?;
    let vals: Vec<Value> = match ty {
        ExprType::Bool => c
            .bool()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|x| x.map(Value::Bool).unwrap_or_default())
            .collect(),
        ExprType::Text => c
            .str()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|x| x.map(|s| Value::Text(Arc::from(s))).unwrap_or_default())
            .collect(),
        _ => c
            .f64()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|x| x.map(Value::Num).unwrap_or_default())
            .collect(),
    };
    Ok(vals)
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // exact, with -0 equal to 0; NaN never appears (both back ends must avoid it)
        (Value::Num(x), Value::Num(y)) => x == y && !x.is_nan(),
        _ => a == b,
    }
}

fn show_record(scope: &Scope, r: &[Value]) -> String {
    scope
        .vars()
        .iter()
        .zip(r)
        .map(|(v, x)| {
            let s = match x {
                Value::Missing => "missing".to_string(),
                Value::Num(n) => format!("{n}"),
                Value::Bool(b) => format!("{b}"),
                Value::Text(t) => format!("'{t}'"),
                Value::Multi(set) => format!("{{{}}}", set.iter().map(|i| MULTI_CODES[*i as usize]).collect::<Vec<_>>().join(" ")),
            };
            format!("{}={s}", v.id)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares the two back ends on one generated expression over `records`, counting results
/// (all, and missing) in `counts`.
fn check_case(records: &[Vec<Value>], want: ExprType, text: &str, scope: &Scope, ctx: &Context, counts: &[AtomicUsize; 2]) -> Result<(), TestCaseError> {
    let df = frame(scope, records);
    let (e, ty) = compile(text, scope, ctx, None).map_err(|errs| TestCaseError::fail(format!("generated expression does not check: {text}\n{errs:?}")))?;
    prop_assert_eq!(ty, want, "type of {}", text);
    let got = polars_values(&df, &e, ty, scope).map_err(|err| TestCaseError::fail(format!("Polars failed on {text}: {err}")))?;
    prop_assert_eq!(got.len(), records.len(), "Polars rows for {}", text);
    for (r, rec) in records.iter().enumerate() {
        let v = eval(&e, rec, &Value::Missing);
        counts[0].fetch_add(1, Ordering::Relaxed);
        if v.is_missing() {
            counts[1].fetch_add(1, Ordering::Relaxed);
        }
        prop_assert!(
            same(&v, &got[r]),
            "back ends differ\n  expression: {}\n  record {}: {}\n  eval:   {:?}\n  polars: {:?}",
            text,
            r,
            show_record(scope, rec),
            v,
            got[r]
        );
    }
    Ok(())
}

#[test]
fn eval_and_polars_agree_on_random_expressions() {
    const CASES: u32 = 2000;
    let scope = scope();
    let ctx = context();
    let cases = (records(&scope, 1..=50), Grammar::new(5).typed());
    let counts = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let mut runner = runner(CASES, 0x5eed_2024);
    let result = runner.run(&cases, |(records, (want, text))| check_case(&records, want, &text, &scope, &ctx, &counts));
    if let Err(e) = result {
        panic!("{e}");
    }
    let (results, missing) = (counts[0].load(Ordering::Relaxed), counts[1].load(Ordering::Relaxed));
    assert!(results >= runner.config().cases as usize, "{results} results");
    // the generator exercises missing values, not only complete records
    assert!(missing > results / 20, "only {missing} of {results} results missing");
}

/// Regressions the random test found: a column divided by a constant (Polars multiplied by the
/// reciprocal, one bit off) and a select_multiple observed whole (no column of its own).
#[test]
fn division_by_a_constant_and_whole_multiple_choice() {
    let scope = scope();
    let ctx = context();
    let mut rec = vec![Value::Missing; scope.len()];
    rec[2] = Value::Num(2.5);
    rec[3] = Value::Num(2.0);
    let mut other = rec.clone();
    other[scope.slot("m").unwrap()] = Value::Multi(Arc::from(vec![1u32]));
    let records = [rec.clone(), other, rec];
    let df = frame(&scope, &records);
    for t in [
        "mean(n3, p_half, k)",
        "(n3 + p_half + k) / 3",
        "prorated_sum(1, n3, p_half, k, n1) / 3",
        "is_missing(m)",
        "count_missing(m, n1, n3)",
        "is_missing(coalesce(m, m))",
    ] {
        let (e, ty) = compile(t, &scope, &ctx, None).unwrap();
        let got = polars_values(&df, &e, ty, &scope).unwrap_or_else(|err| panic!("{t}: {err}"));
        for (r, v) in records.iter().zip(&got) {
            let want = eval(&e, r, &Value::Missing);
            assert!(same(&want, v), "{t}: eval {want:?}, polars {v:?}");
        }
    }
}

/// Compares the two back ends on `text` over `records`; returns how many results were not
/// missing.
fn agree(text: &str, scope: &Scope, ctx: &Context, records: &[Vec<Value>], df: &DataFrame) -> Result<usize, TestCaseError> {
    let short = &text[..text.len().min(300)];
    let (e, ty) = compile(text, scope, ctx, None).map_err(|errs| TestCaseError::fail(format!("does not check: {short}\n{errs:?}")))?;
    let got = polars_values(df, &e, ty, scope).map_err(|err| TestCaseError::fail(format!("Polars failed on {short}: {err}")))?;
    let mut present = 0;
    for (r, rec) in records.iter().enumerate() {
        let v = eval(&e, rec, &Value::Missing);
        present += usize::from(!v.is_missing());
        prop_assert!(
            same(&v, &got[r]),
            "back ends differ\n  expression: {}\n  record {}: {}\n  eval:   {:?}\n  polars: {:?}",
            short,
            r,
            show_record(scope, rec),
            v,
            got[r]
        );
    }
    Ok(present)
}

/// The chains of `n` operands that `r15_long_chains_agree_between_back_ends` checks: sums,
/// products and quotients, every function of many arguments, `and` and `or`.
fn long_chains(n: usize) -> BoxedStrategy<Vec<String>> {
    const PLAIN: &[&str] = &["n1", "n2", "k", "1", "0.5", "2.25", "p_two", "p_half", "-3"];
    const COMPUTED: &[&str] = &[
        "(n1 * 2)",
        "coalesce(n2, 1)",
        "if(b1, n1, 0.5)",
        "(-k)",
        "lookup(tab, k)",
        "mean(n1, 2)",
        "(n2 / 4)",
        "prorated_sum(1, n1, n2)",
        "count_missing(n1, t1)",
        "min(n1, k)",
        // every kind of column the row-by-row path reads: text, boolean, multiple choice
        "if(t2 < 'b', 1, 2)",
        "if(tx == 'y', n2, 0)",
        "count_selected(m)",
        "if(selected(m, 'b'), 3, 0.5)",
        "count_missing(m, b2)",
    ];
    // factors and divisors of magnitude at most and at least 1, so that no product overflows
    const FACTORS: &[&str] = &["p_half", "1", "-1", "0.25", "(n1 / 1000000)", "if(b1, 0.5, -1)", "(k / 3)", "k"];
    const DIVISORS: &[&str] = &["2", "p_two", "-1", "k", "4", "(k + 1)"];
    const BOOLS: &[&str] = &[
        "b1",
        "b2",
        "(n1 > 1)",
        "selected(m, 'a')",
        "true",
        "is_missing(n2)",
        "(k == 2)",
        "(not b2)",
        "false",
    ];
    let term = prop_oneof![pick(PLAIN), pick(COMPUTED)].boxed();
    let terms = || prop::collection::vec(term.clone(), n).prop_map(|v| v.join(", "));
    let sum = (term.clone(), prop::collection::vec((pick(&[" + ", " - "]), term.clone()), n - 1))
        .prop_map(|(first, rest)| rest.into_iter().fold(first, |acc, (op, t)| acc + &op + &t));
    let step = prop_oneof![
        7 => pick(FACTORS).prop_map(|f| format!(" * {f}")),
        3 => pick(DIVISORS).prop_map(|d| format!(" / {d}")),
    ];
    let product = (pick(FACTORS), prop::collection::vec(step, n - 1)).prop_map(|(first, rest)| first + &rest.concat());
    let functions = (terms(), terms(), terms(), terms(), terms()).prop_map(|(a, b, c, d, e)| {
        vec![
            format!("sum({a})"),
            format!("mean({b})"),
            format!("min({c})"),
            format!("max({d})"),
            format!("coalesce({e})"),
        ]
    });
    let allowed = prop_oneof![Just(n.to_string()), Just("1".to_string())];
    let prorated = (allowed, terms()).prop_map(|(k, t)| format!("prorated_sum({k}, {t})"));
    let missing =
        prop::collection::vec(prop_oneof![4 => term.clone(), 1 => pick(&["t1", "b2", "m", "tx"])], n).prop_map(|v| format!("count_missing({})", v.join(", ")));
    let conditions = || prop::collection::vec(pick(BOOLS), n);
    let logic = (conditions(), conditions()).prop_map(|(a, o)| vec![a.join(" and "), o.join(" or ")]);
    (sum, product, functions, prorated, missing, logic)
        .prop_map(|(sum, product, functions, prorated, missing, logic)| {
            let mut texts = vec![sum, product];
            texts.extend(functions);
            texts.push(prorated);
            texts.push(missing);
            texts.extend(logic);
            texts
        })
        .boxed()
}

/// Regression (issue 15): long chains and argument lists were deep binary trees that overflowed
/// the stack and took memory quadratic in their length. They are flat nodes now, evaluated
/// column-wise up to [`WIDE`] computed operands and row by row beyond; both must equal `eval`.
#[test]
fn r15_long_chains_agree_between_back_ends() {
    let scope = scope();
    let ctx = context();
    let present_wide = AtomicUsize::new(0);
    // every length is checked: the ones around WIDE are where the two paths meet
    for n in [2usize, 30, WIDE, WIDE + 1, 500, 3000] {
        let cases = (records(&scope, 40..=40), long_chains(n));
        let result = runner(1, 0x15_c4a1 + n as u64).run(&cases, |(records, texts)| {
            let df = frame(&scope, &records);
            for t in &texts {
                let present = agree(t, &scope, &ctx, &records, &df)?;
                if n > WIDE {
                    present_wide.fetch_add(present, Ordering::Relaxed);
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("chains of {n}: {e}");
        }
    }
    // the row-by-row path computed values, not only missing ones
    let present_wide = present_wide.load(Ordering::Relaxed);
    assert!(present_wide > 100, "only {present_wide} values beyond WIDE");
}

/// The number of nodes of a Polars expression, each occurrence of a shared input counted.
fn polars_nodes(e: &polars::prelude::Expr) -> usize {
    e.into_iter().count()
}

/// Regression (issue 15): `if`, division, `min`/`max`, `prorated_sum` and `lookup` wrote an
/// operand twice or more into the Polars expression, so each level of nesting multiplied its
/// size: 92 bytes of nested divisions took 1.1 GB and 3 s, 272 bytes of nested prorated sums
/// more than a minute. Each operand is written once now.
#[test]
fn r15_nested_operands_are_compiled_once() {
    let scope = scope();
    let ctx = context();
    let records = sample(records(&scope, 30..=30), 0x15_0e57);
    let df = frame(&scope, &records);
    let nest = |open: &str, inner: &str, close: &str, depth: usize| open.repeat(depth) + inner + &close.repeat(depth);
    for depth in [12, 60] {
        for text in [
            nest("n1 / (", "n2", ")", depth),
            nest("(", "n1", " / k)", depth),
            nest("if(", "b1", ", b2, not b1)", depth),
            nest("if(b1, ", "n1", ", n2)", depth),
            nest("prorated_sum(1, ", "n1", ", n2)", depth),
            nest("min(", "n1", ", k)", depth),
            nest("max(n2, ", "n1", ")", depth),
            nest("lookup(tab, ", "k", ")", depth),
            nest("coalesce(", "n1", ", n2)", depth),
            nest("count_missing(", "n1", ", n2)", depth),
            nest("mean(", "n1", ", 2, k)", depth),
        ] {
            let (e, _) = compile(&text, &scope, &ctx, None).unwrap();
            let nodes = polars_nodes(&to_polars(&e, &scope, None));
            assert!(nodes <= 8 * text.len(), "{nodes} Polars nodes for {} bytes: {text}", text.len());
            if let Err(e) = agree(&text, &scope, &ctx, &records, &df) {
                panic!("{e}");
            }
        }
    }
}
