//! End-to-end runs of the CLI on the shipped survey, as the README tour shows them.

use crate::common::*;

#[test]
fn survey_capture_geography_and_analysis_end_to_end() {
    let d = tempdir();
    let p = d.path();
    let def = survey_definition();
    let def = def.to_str().unwrap();
    ok(p, &["validate", def]);
    ok(p, &["simulate", def, "--households", "300", "--seed", "7", "--out", "w1.csv"]);
    ok(p, &["init", "s.db", "--definition", def]);
    let out = ok(p, &["import", "s.db", "--wave", "1", "w1.csv"]);
    assert!(out.contains("added 300 household"), "{out}");
    // re-importing the same file is a no-op
    let out = ok(p, &["import", "s.db", "--wave", "1", "w1.csv"]);
    assert!(out.contains("added 0 household, 0 person"), "{out}");
    ok(p, &["geo", "load", "s.db", "--builtin", "imd2019"]);
    let json = ok(p, &["analyze", "s.db", "--outcome", "phq9_caseness", "--by", "imd_decile", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["by"]["imd_decile"] == 1), "{json}");
    assert_eq!(rows[0]["by"], serde_json::json!({}));
    let audit = ok(p, &["audit", "s.db"]);
    assert!(audit.contains("init") && audit.contains("import") && audit.contains("geography"), "{audit}");
}

/// Whether `text` holds a character that must not reach a terminal, line feeds aside.
fn has_control(text: &str) -> bool {
    text.chars().any(|c| c != '\n' && hearth::text::is_unsafe(c))
}

#[test]
fn r15_validate_and_analyze_messages_escape_control_characters() {
    let d = tempdir();
    let p = d.path();
    // a definition whose ids hold an escape sequence and a newline: one problem, one line
    let def =
        "survey: x\ntitle: T\nversion: 1\nunits:\n  - id: person\n    key: \"id\\e[31m\"\n    questions:\n      - {id: \"id\\nx\", type: integer, label: Id}\n";
    std::fs::write(p.join("bad.yaml"), def).unwrap();
    let err = fails(p, &["validate", "bad.yaml"], 1);
    assert!(!has_control(&err), "{err:?}");
    assert_eq!(err.lines().count(), 3, "{err}");
    assert!(err.contains("bad.yaml:6:10: unit 'person': key 'id\\u{1b}[31m' is not a question"), "{err}");
    assert!(err.contains("bad.yaml:8:14: question id 'id\\nx' is not a valid id"), "{err}");
    // analyze: a single message echoing a value with a newline and a bell stays on one line
    let flat = "survey: flat\ntitle: Flat\nversion: 1\nunits:\n  - id: person\n    key: id\n    questions:\n      - {id: id, type: integer, label: Id}\n      - {id: age, type: integer, label: Age}\n";
    std::fs::write(p.join("flat.yaml"), flat).unwrap();
    ok(p, &["init", "f.db", "--definition", "flat.yaml"]);
    std::fs::write(p.join("f.csv"), "id,age\n1,30\n2,40\n").unwrap();
    ok(p, &["import", "f.db", "--wave", "1", "f.csv"]);
    let err = fails(p, &["analyze", "f.db", "--outcome", "ag\ne\u{7}"], 1);
    assert_eq!(err, "error: unknown variable 'ag\\ne\\u{7}'\n");
}

#[test]
fn r16_flags_with_a_fixed_set_of_words_list_them_in_help() {
    let d = tempdir();
    let p = d.path();
    let help = ok(p, &["geo", "load", "--help"]);
    assert!(
        help.contains("- imd2019: IMD 2019 on LSOA 2011") && help.contains("- imd2025: IMD 2025 on LSOA 2021"),
        "{help}"
    );
    let help = ok(p, &["export", "-h"]);
    assert!(help.contains("[possible values: csv, jsonl, parquet]"), "{help}");
    // a word outside the set is a usage error naming the set, before the store is opened
    let err = fails(p, &["geo", "load", "none.db", "--builtin", "imd2020"], 2);
    assert!(
        err.contains("invalid value 'imd2020' for '--builtin <BUILTIN>'") && err.contains("[possible values: imd2019, imd2025]"),
        "{err}"
    );
    let err = fails(p, &["export", "none.db", "--format", "xlsx", "--out", "x"], 2);
    assert!(err.contains("[possible values: csv, jsonl, parquet]"), "{err}");
    // as before: any case for --builtin, ndjson for jsonl (these reach the store, which is missing)
    let err = fails(p, &["geo", "load", "none.db", "--builtin", "IMD2019"], 2);
    assert!(err.contains("none.db: not a hearth store"), "{err}");
    let err = fails(p, &["export", "none.db", "--format", "ndjson", "--out", "x"], 2);
    assert!(err.contains("none.db: not a hearth store"), "{err}");
    // analyze's --stat, --qrule, --ci-method and --format
    let help = ok(p, &["analyze", "-h"]).split_whitespace().collect::<Vec<_>>().join(" ");
    for words in [
        "[possible values: mean, total, proportion, quantile, ratio]",
        "[possible values: math, hf7]",
        "[possible values: logit, beta, xlogit, asin, mean, likelihood, wilson]",
        "[possible values: table, csv, json, markdown]",
    ] {
        assert!(help.contains(words), "{words}:\n{help}");
    }
    let err = fails(p, &["analyze", "none.db", "--outcome", "x", "--stat", "median"], 2);
    assert!(err.contains("invalid value 'median' for '--stat <STAT>'"), "{err}");
    let err = fails(p, &["analyze", "none.db", "--outcome", "x", "--format", "md"], 2);
    assert!(err.contains("none.db: not a hearth store"), "md is markdown: {err}");
}

#[test]
fn r16_geo_load_without_an_index_names_the_flags_that_give_one() {
    let d = tempdir();
    let p = d.path();
    let flat = "survey: flat\ntitle: Flat\nversion: 1\nunits:\n  - id: person\n    key: id\n    questions:\n      - {id: id, type: integer, label: Id}\n";
    std::fs::write(p.join("flat.yaml"), flat).unwrap();
    ok(p, &["init", "f.db", "--definition", "flat.yaml"]);
    let err = fails(p, &["geo", "load", "f.db"], 2);
    assert_eq!(
        err,
        "error: geo load needs a deprivation index: --builtin imd2019, --builtin imd2025 or --imd FILE\n"
    );
}
