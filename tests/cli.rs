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
