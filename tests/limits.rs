//! Hostile input (issue 15, crashes and memory): expressions with long chains or deep nesting,
//! deep YAML, YAML anchors and aliases. Each is evaluated, or refused with exit 1 and its place;
//! none may abort the process.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::common::*;

/// A store of simulated responses to the shipped survey, built once for these tests.
fn store() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("limits");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let def = survey_definition();
        let def = def.to_str().unwrap();
        ok(&dir, &["simulate", def, "--households", "80", "--seed", "15", "--out", "w1.csv"]);
        ok(&dir, &["init", "s.db", "--definition", def]);
        ok(&dir, &["import", "s.db", "--wave", "1", "w1.csv"]);
        dir
    })
}

fn analyze_where(w: &str) -> Output {
    hearth(store(), &["analyze", "s.db", "--outcome", "phq9_total", "--where", w, "--format", "json"])
}

/// The overall row (n, estimate) of an analysis restricted by `w`, which must succeed.
fn overall(w: &str) -> (u64, f64) {
    let out = analyze_where(w);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "--where of {} bytes failed ({:?}): {stderr}", w.len(), out.status.code());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row = &v["rows"][0];
    (row["n"].as_u64().expect("n"), row["estimate"].as_f64().expect("estimate"))
}

/// `--where` must fail with exit 1; returns stderr.
fn refused(w: &str) -> String {
    let out = analyze_where(w);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "--where of {} bytes: {stderr}", w.len());
    stderr
}

/// 3,250 `+` terms (20 KB) aborted with a stack overflow; 2,500 took 1 GB. 16,000 (96 KB) now
/// select what one term selects.
#[test]
fn r15_where_long_plus_chain() {
    let w = vec!["age"; 16_000].join(" + ") + " > 1000000";
    assert_eq!(overall(&w), overall("age * 16000 > 1000000"));
    // - and + alternate in one chain
    let w = vec!["age - age"; 8_000].join(" + ") + " == 0";
    assert_eq!(overall(&w), overall("age == age"));
    // computed terms: evaluated row by row, without holding a column per term
    let w = vec!["age * 2"; 11_000].join(" + ") + " > 1000000";
    assert_eq!(overall(&w), overall("age * 22000 > 1000000"));
}

/// 3,500 `and` terms aborted with a stack overflow.
#[test]
fn r15_where_long_and_chain() {
    let w = vec!["age > 30"; 8_000].join(" and ");
    assert_eq!(overall(&w), overall("age > 30"));
    let w = vec!["age > 200"; 8_000].join(" or ") + " or age < 40";
    assert_eq!(overall(&w), overall("age < 40"));
}

/// sum() with 5,000 arguments took 3.9 GB and 14 s.
#[test]
fn r15_where_sum_with_many_arguments() {
    let w = format!("sum({}) > 1000000", vec!["age"; 20_000].join(", "));
    assert_eq!(overall(&w), overall("age * 20000 > 1000000"));
    let w = format!("mean({}) > 40", vec!["age * 1"; 12_000].join(", "));
    assert_eq!(overall(&w), overall("age > 40"));
}

/// Nested `if`, division and `prorated_sum` wrote an operand twice or more per level into the
/// Polars expression: 92 bytes of nested divisions took 1.1 GB, 272 bytes of nested
/// prorated_sum more than a minute. The nesting limit (64) is now what bounds them.
#[test]
fn r15_where_nested_operands() {
    let nest = |open: &str, inner: &str, close: &str| open.repeat(64) + inner + &close.repeat(64);
    assert_eq!(overall(&(nest("age / (", "age", ")") + " > 0")).0, overall("age > 0").0);
    assert_eq!(overall(&nest("if(", "age > 30", ", true, false)")), overall("age > 30"));
    assert_eq!(overall(&(nest("prorated_sum(1, ", "age", ", 0)") + " > 30")), overall("age > 30"));
    assert_eq!(overall(&(nest("min(", "age", ", 1000)") + " > 30")), overall("age > 30"));
}

/// Deep nesting is refused with the column where the 65th level opens.
#[test]
fn r15_where_nesting_limit_names_the_column() {
    let w = "(".repeat(65) + "age > 1" + &")".repeat(65);
    let e = refused(&w);
    assert!(e.contains("column 65: syntax error: expression is nested more than 64 levels deep"), "{e}");
    let e = refused(&("not ".repeat(100) + "age > 1"));
    assert!(e.contains("column 257: syntax error: expression is nested more than 64 levels deep"), "{e}");
    // 64 levels are fine
    overall(&("(".repeat(64) + "age > 1" + &")".repeat(64)));
}

/// A long expression repeating one mistake is refused with a short message, not one line of
/// 100 KB naming 14,000 problems.
#[test]
fn r15_where_repeated_mistake_message_is_short() {
    let w = vec!["agee"; 14_000].join(" + ") + " > 1";
    let e = refused(&w);
    assert!(e.len() < 1_000, "{} bytes of message", e.len());
    assert!(e.contains("error: --where agee + agee + "), "{e}");
    assert!(
        e.contains("... (98001 characters): column 1: unknown question 'agee' (did you mean 'age'?); column 8: "),
        "{e}"
    );
    assert!(e.contains("and 13995 more problem(s)"), "{e}");
}

/// Writes `text` as `name` in a fresh directory and validates it.
fn validate(name: &str, text: &str) -> (tempfile::TempDir, Output) {
    let d = tempdir();
    std::fs::write(d.path().join(name), text).unwrap();
    let out = hearth(d.path(), &["validate", name]);
    (d, out)
}

/// The problem lines of a failed validation (exit 1).
fn problems(name: &str, text: &str) -> Vec<String> {
    let (_d, out) = validate(name, text);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    stderr.lines().skip(1).map(str::to_string).collect()
}

/// Deep block nesting aborted `validate` with a stack overflow (exit 134, no message).
#[test]
fn r15_validate_deep_yaml_nesting() {
    let limit = "lists and maps are nested more than 64 levels deep";
    assert_eq!(problems("keys.yaml", &("? ".repeat(9040) + "1")), [format!("keys.yaml:1:129: {limit}")]);
    let text = "x:\n".to_string() + &"- ".repeat(20140) + "1";
    assert_eq!(problems("lists.yaml", &text), [format!("lists.yaml:2:127: {limit}")]);
    let text = "x: ".to_string() + &"[".repeat(100_000) + &"]".repeat(100_000);
    let p = problems("flow.yaml", &text);
    assert!(p.len() == 1 && p[0].starts_with("flow.yaml:1:"), "{p:?}");
}

/// A 22-line "billion laughs" file took 2.4 GB, each added line doubling it.
#[test]
fn r15_validate_refuses_yaml_aliases() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..22 {
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", ")));
    }
    let p = problems("laughs.yaml", &text);
    assert_eq!(
        p,
        ["laughs.yaml:1:5: YAML anchors and aliases (&name, *name) are not allowed in a definition: \
          write the value out in full (aliases can make a small file expand to an enormous one)"]
    );
}

/// A minimal valid definition whose derived variables are `derived` (YAML list items).
fn definition(derived: &str) -> String {
    format!(
        "survey: t\ntitle: T\nversion: 1\nlanguages: [en]\nunits:\n  - id: household\n    key: household_id\n    questions:\n      \
         - {{id: household_id, type: text, label: Household}}\n      - {{id: size, type: integer, label: Size}}\nderived:\n{derived}"
    )
}

/// About 14,550 `+` or `and` terms in a derived variable aborted `validate`.
#[test]
fn r15_validate_long_expression_chains() {
    let plus = vec!["size"; 20_000].join(" + ");
    let and = vec!["size > 1"; 20_000].join(" and ");
    let sum = format!("sum({})", vec!["size * 2"; 20_000].join(", "));
    let text = definition(&format!(
        "  - {{id: p, unit: household, expr: \"{plus}\"}}\n  - {{id: q, unit: household, expr: \"{and}\"}}\n  - {{id: r, unit: household, expr: \"{sum}\"}}\n"
    ));
    let (_d, out) = validate("long.yaml", &text);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // and nesting beyond the limit is refused at FILE:LINE:COL of the 65th level
    let text = definition(&format!(
        "  - {{id: p, unit: household, expr: \"{}size{}\"}}\n",
        "-(".repeat(40),
        ")".repeat(40)
    ));
    let p = problems("deep.yaml", &text);
    assert_eq!(
        p,
        ["deep.yaml:12:101: derived variable 'p': syntax error: expression is nested more than 64 levels deep (parentheses, function calls, '-' and 'not')"]
    );
}
