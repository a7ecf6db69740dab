//! `hearth inequality` through the real binary: the R reference cases of
//! fixtures/inequality (made by make_inequality.R: gap and ratio with the covariance between
//! groups, SII and RII on a proportion and with missing answers, the concentration indices,
//! PAR and PAF, the between-group measures of an unordered grouping, on a one-stage stratified
//! and a two-stage design), the output formats, and the
//! messages.

use std::path::Path;

use crate::common::*;

/// A store of `data` under `definition` (both in fixtures/inequality), in `dir`.
fn store(dir: &Path, definition: &str, data: &str) -> String {
    let db = dir.join(format!("{definition}.db"));
    let db_s = db.to_string_lossy().into_owned();
    let def = fixture("inequality").join(format!("{definition}.yaml"));
    ok(dir, &["init", &db_s, "--definition", &def.to_string_lossy()]);
    let csv = fixture("inequality").join(data);
    ok(dir, &["import", &db_s, "--wave", "1", &csv.to_string_lossy()]);
    db_s
}

/// Whether `got` is within 1e-6 relative of `want` (absolute below 1e-9).
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-6 * want.abs().max(1e-3)
}

#[test]
fn r_reference_measures_through_the_cli() {
    let dir = tempdir();
    let text = std::fs::read_to_string(fixture("inequality").join("inequality.json")).expect("inequality.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("inequality.json parses");
    let cases = doc["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    let mut checked = 0;
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let data = case["data"].as_str().unwrap();
        let definition = data.trim_end_matches(".csv");
        let db = dir.path().join(format!("{definition}.db"));
        let db = if db.exists() {
            db.to_string_lossy().into_owned()
        } else {
            store(dir.path(), definition, data)
        };
        let outcome = case["outcome"].as_str().unwrap();
        let over = case["over"].as_str().unwrap();
        let mut args = vec!["inequality", &db, "--outcome", outcome, "--over", over, "--format", "json", "--no-suppress"];
        if case["unordered"] == true {
            args.push("--unordered");
        }
        let out = ok(dir.path(), &args);
        let got: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
        for (g, want) in got["groups"].as_array().unwrap().iter().zip(case["groups"].as_array().unwrap()) {
            for f in ["estimate", "se"] {
                let Some(b) = want[f].as_f64() else { continue };
                let a = g[f].as_f64().unwrap();
                assert!(close(a, b), "{id} group {}: {f} {a} against R's {b}", want["level"]);
            }
        }
        for want in case["measures"].as_array().unwrap() {
            let name = want["measure"].as_str().unwrap();
            let m = got["measures"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["measure"] == name)
                .unwrap_or_else(|| panic!("{id}: no measure {name} in {out}"));
            for f in ["estimate", "se", "ci_low", "ci_high", "df", "log_estimate", "se_log"] {
                if want[f].is_null() {
                    continue;
                }
                let (a, b) = (m[f].as_f64().unwrap_or(f64::NAN), want[f].as_f64().unwrap());
                assert!(close(a, b), "{id} {name}: {f} {a} against R's {b}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} numbers checked");
}
