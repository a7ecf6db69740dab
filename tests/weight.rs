//! `hearth weight` and `analyze --weights` through the CLI: the R reference cases of
//! fixtures/weighting/weighting.json (made by make_weighting.R: linear and logit calibration
//! with bounds, post-stratification on two variables, trimming, raking with domain estimates,
//! calibration then trimming), and the bad inputs, each refused with the numbers and nothing
//! stored.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

const RTOL: f64 = 1e-6;

/// A store of `dataset` in `dir`, wave 1 imported.
fn store(dir: &Path, dataset: &str) -> String {
    let def = fixture("weighting").join(format!("{dataset}.yaml"));
    ok(dir, &["init", "api.db", "--definition", def.to_str().unwrap()]);
    let data = fixture("weighting").join(format!("{dataset}.csv"));
    ok(dir, &["import", "api.db", "--wave", "1", data.to_str().unwrap()]);
    "api.db".into()
}

/// Writes a population table of the fixture (a list of {var: value, count: n} objects).
fn write_population(dir: &Path, name: &str, rows: &Value) {
    let rows = rows.as_array().expect("rows");
    let cols: Vec<String> = rows[0].as_object().unwrap().keys().filter(|k| *k != "count").cloned().collect();
    let mut text = format!("{},count\n", cols.join(","));
    for r in rows {
        let vals: Vec<String> = cols
            .iter()
            .map(|c| r[c].as_str().map(String::from).unwrap_or_else(|| r[c].to_string()))
            .collect();
        text += &format!("{},{}\n", vals.join(","), r["count"]);
    }
    std::fs::write(dir.join(name), text).unwrap();
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= RTOL * want.abs().max(1e-9)
}

/// The analysis rows of `out` (JSON) against R's, matched by their breakdown.
fn compare(case: &str, args: &[String], out: &str, want: &Value) -> Vec<String> {
    let doc: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{case}: not JSON ({e}): {out}"));
    assert_eq!(doc["design"]["weight_set"], "w", "{case}: the design block names the weight set");
    let rows = doc["rows"].as_array().unwrap();
    let mut problems = Vec::new();
    for w in want.as_array().unwrap() {
        let by = if w["by"].is_array() { serde_json::json!({}) } else { w["by"].clone() };
        let Some(r) = rows.iter().find(|r| r["by"] == by) else {
            problems.push(format!("{case} {args:?}: no row for {by}"));
            continue;
        };
        for f in ["estimate", "se", "ci_low", "ci_high"] {
            let (g, e) = (r[f].as_f64().unwrap_or(f64::NAN), w[f].as_f64().unwrap());
            if !close(g, e) {
                problems.push(format!("{case} {args:?} {by} {f}: hearth {g}, R {e}"));
            }
        }
    }
    problems
}

#[test]
fn r_weighting_cases_through_the_cli() {
    let text = std::fs::read_to_string(fixture("weighting").join("weighting.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut problems = Vec::new();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let dir = tempdir();
        let db = store(dir.path(), case["dataset"].as_str().unwrap());
        for (name, rows) in case["populations"].as_object().into_iter().flatten() {
            write_population(dir.path(), name, rows);
        }
        let mut args: Vec<String> = vec!["weight".into(), db.clone(), "--name".into(), "w".into()];
        args.extend(case["weight_args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let summary = ok(dir.path(), &a);
        assert!(summary.contains("weight set 'w' made"), "{summary}");
        for an in case["analyses"].as_array().unwrap() {
            let mut args: Vec<String> = vec!["analyze".into(), db.clone()];
            args.extend(an["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()));
            args.extend(["--weights", "w", "--format", "json", "--no-suppress"].map(String::from));
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = ok(dir.path(), &a);
            problems.extend(compare(id, &args[2..], &out, &an["results"]));
        }
        // the sum of the weights: the weighted base of the overall mean (no missing api00)
        let out = ok(
            dir.path(),
            &["analyze", &db, "--outcome", "api00", "--weights", "w", "--format", "json", "--no-suppress"],
        );
        let doc: Value = serde_json::from_str(&out).unwrap();
        let (g, e) = (doc["rows"][0]["weighted_n"].as_f64().unwrap(), case["weights_sum"].as_f64().unwrap());
        if !close(g, e) {
            problems.push(format!("{id}: sum of weights {g}, R {e}"));
        }
    }
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
}

/// A clustered store with population files for the bad-input tests.
fn bad_input_store() -> (tempfile::TempDir, String) {
    let dir = tempdir();
    let db = store(dir.path(), "apiclus1");
    std::fs::write(dir.path().join("stype.csv"), "stype,count\nE,4421\nH,755\nM,1018\n").unwrap();
    std::fs::write(dir.path().join("schwide.csv"), "sch_wide,count\nNo,1072\nYes,5122\n").unwrap();
    (dir, db)
}

#[test]
fn bad_populations_are_refused_with_file_line_and_numbers_and_nothing_is_stored() {
    let (dir, db) = bad_input_store();
    let d = dir.path();
    let w = |extra: &[&str]| {
        let mut a = vec!["weight", db.as_str(), "--name", "bad"];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = |extra: &[&str]| {
        let a = w(extra);
        fails(d, &a.iter().map(String::as_str).collect::<Vec<_>>(), 1)
    };
    // a sample category the population file lacks
    std::fs::write(d.join("no_m.csv"), "stype,count\nE,4421\nH,755\n").unwrap();
    let e = run(&["--poststratify", "stype", "--population", "no_m.csv"]);
    assert!(
        e.contains("no_m.csv: no line for stype = M, which 25 record(s) of the sample have (weighted 846.2)"),
        "{e}"
    );
    // a population category the sample lacks (an empty cell)
    std::fs::write(d.join("extra.csv"), "stype,count\nE,4421\nH,755\nM,1018\nX,12\n").unwrap();
    let e = run(&["--poststratify", "stype", "--population", "extra.csv"]);
    assert!(e.contains("extra.csv:5: stype = X has count 12 but no record of the sample has it"), "{e}");
    // totals that disagree between margins
    std::fs::write(d.join("schwide_off.csv"), "sch_wide,count\nNo,1072\nYes,5100\n").unwrap();
    let e = run(&["--rake", "stype=stype.csv", "--rake", "sch_wide=schwide_off.csv"]);
    assert!(e.contains("stype.csv adds up to 6194 but schwide_off.csv to 6172 (a difference of -22)"), "{e}");
    // no convergence within the iterations allowed
    let e = run(&["--rake", "stype=stype.csv", "--rake", "sch_wide=schwide.csv", "--max-iter", "2"]);
    assert!(
        e.contains("raking did not converge in 2 iterations: the largest change in a cell's weighted count"),
        "{e}"
    );
    // bounds that cannot be met
    let e = run(&["--calibrate", "linear", "--rake", "stype=stype.csv", "--bounds", "0.99,1.01"]);
    assert!(
        e.contains("bounds [0.99, 1.01] cannot be met: level 1 of stype.csv needs an average weight ratio of"),
        "{e}"
    );
    // a count that is not a number, with its line
    std::fs::write(d.join("badcount.csv"), "stype,count\nE,4421\nH,many\nM,1018\n").unwrap();
    let e = run(&["--poststratify", "stype", "--population", "badcount.csv"]);
    assert!(e.contains("badcount.csv:3: count 'many' is not a number of zero or more"), "{e}");
    // a file whose columns are not the variables named
    let e = fails(
        d,
        &w(&["--poststratify", "sch_wide", "--population", "stype.csv"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        2,
    );
    assert!(e.contains("--poststratify sch_wide: stype.csv has columns stype"), "{e}");
    // logit without bounds
    let e = fails(
        d,
        &w(&["--calibrate", "logit", "--rake", "stype=stype.csv"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        2,
    );
    assert!(e.contains("logit calibration needs finite bounds"), "{e}");
    let list = ok(d, &["weight", &db, "--list"]);
    assert!(list.contains("no weight sets"), "nothing stored after the errors: {list}");
}

#[test]
fn names_replace_list_and_stale_sets() {
    let (dir, db) = bad_input_store();
    let d = dir.path();
    let made = ok(d, &["weight", &db, "--name", "ps", "--poststratify", "stype", "--population", "stype.csv"]);
    assert!(made.contains("weight set 'ps' made: poststratify of 183 records (wave 1)"), "{made}");
    assert!(made.contains("design effect of weighting (1 + CV^2): "), "{made}");
    let e = fails(d, &["weight", &db, "--name", "ps", "--poststratify", "stype", "--population", "stype.csv"], 1);
    assert!(e.contains("a weight set named 'ps' exists already"), "{e}");
    ok(
        d,
        &[
            "weight",
            &db,
            "--name",
            "ps",
            "--poststratify",
            "stype",
            "--population",
            "stype.csv",
            "--replace",
        ],
    );
    ok(
        d,
        &["weight", &db, "--name", "rk", "--rake", "stype=stype.csv", "--margin", "sch_wide=schwide.csv"],
    );
    let list = ok(d, &["weight", &db, "--list"]);
    assert!(list.contains("ps    poststratify") && list.contains("rk    rake"), "{list}");
    let e = fails(d, &["analyze", &db, "--outcome", "api00", "--weights", "nope"], 1);
    assert!(e.contains("no weight set named 'nope' in the store (it has: ps, rk)"), "{e}");
    let e = fails(d, &["analyze", &db, "--outcome", "api00", "--weights", "ps", "--wave", "2"], 1);
    assert!(e.contains("weights wave(s) 1 but wave(s) 2 were asked for"), "{e}");
    // a record imported after the set was made has no weight
    std::fs::write(
        d.join("more.csv"),
        "row_id,stype,sch_wide,awards,both,api00,enroll,dnum,pw,fpc\n999,E,Yes,Yes,Yes,700,300,637,33.847,757\n",
    )
    .unwrap();
    ok(d, &["import", &db, "--wave", "1", "more.csv"]);
    let e = fails(d, &["analyze", &db, "--outcome", "api00", "--weights", "ps"], 1);
    assert!(e.contains("weight set 'ps' has no weight for 1 record(s) of its waves"), "{e}");
}
