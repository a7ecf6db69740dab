//! Replicate variance through the CLI (`--variance replicate`): the R cases of
//! fixtures/replicate (made by make_replicate.R: JKn, JK1, BRR and Fay, means, totals,
//! domains, proportions, ratios and quantiles, mse FALSE and TRUE; JKn under each lonely-PSU
//! rule on a two-stage design) run as a user would with
//! fixtures/conformance/run_cli.py, and the command line's rules for the replicate flags.

use std::process::Command;

use crate::common::*;

#[test]
fn r_replicate_cases_pass_through_the_cli() {
    let dir = tempdir();
    let rep = fixture("replicate");
    let text = std::fs::read_to_string(rep.join("replicate.json")).expect("replicate.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("replicate.json parses");
    let ids: Vec<&str> = doc["cases"].as_array().expect("cases").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids.len(), 48);
    let out = Command::new("python3")
        .arg(fixture("conformance").join("run_cli.py"))
        .arg(env!("CARGO_BIN_EXE_hearth"))
        .arg(&rep)
        .arg(&rep)
        .arg(fixture("conformance").join("check.py"))
        .arg("--work")
        .arg(dir.path())
        .output()
        .expect("python3 runs run_cli.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("conformance: {n}/{n} cases pass", n = ids.len())),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Medians by group under JK1 (fixtures/replicate/by/quantile_by_stype.json, from
/// make_replicate.R), on the store run_cli.py makes for the overall median: the Woodruff
/// interval from the replicate variance in each domain, with the domain's replicate df, and
/// no interval where R has none (the lower limit falls below 0).
#[test]
fn r_quantiles_by_group_under_jk1() {
    let dir = tempdir();
    let rep = fixture("replicate");
    let out = Command::new("python3")
        .arg(fixture("conformance").join("run_cli.py"))
        .arg(env!("CARGO_BIN_EXE_hearth"))
        .arg(&rep)
        .arg(&rep)
        .arg(fixture("conformance").join("check.py"))
        .args(["--only", "rep_apiclus1_jk1_median_api00", "--work"])
        .arg(dir.path())
        .output()
        .expect("python3 runs run_cli.py");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1/1 cases pass"));
    let store = dir.path().join("rep_apiclus1_jk1_median_api00").join("store.db");
    let store = store.to_string_lossy();
    let args = [
        "analyze",
        &store,
        "--outcome",
        "api00",
        "--stat",
        "quantile",
        "--by",
        "stype",
        "--format",
        "json",
        "--no-suppress",
        "--variance",
        "replicate",
        "--replicate-type",
        "jk1",
    ];
    let got = json(&ok(dir.path(), &args));
    let want = json(&std::fs::read_to_string(rep.join("by").join("quantile_by_stype.json")).unwrap());
    for w in want["results"].as_array().unwrap() {
        let row = got["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["by"]["stype"] == w["group"]["stype"])
            .expect("group row");
        for f in ["estimate", "se", "ci_low", "ci_high", "df"] {
            match (w[f].as_f64(), row[f].as_f64()) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-6 * a.abs(), "{} {f}: R {a}, hearth {b}", w["group"]),
                (None, None) => {}
                (a, b) => panic!("{} {f}: R {a:?}, hearth {b:?}", w["group"]),
            }
        }
        assert_eq!(row["n"], w["n"]);
    }
}

/// A store of apibrr.csv (six strata of two PSUs) under a stratified design, with an fpc
/// column when `fpc` (constant per stratum).
fn brr_store(dir: &std::path::Path, fpc: bool) -> String {
    let csv = std::fs::read_to_string(fixture("replicate").join("apibrr.csv")).unwrap();
    let mut lines = csv.lines();
    let head = lines
        .next()
        .unwrap()
        .replace('"', "")
        .replace("api.stu", "api_stu")
        .replace("sch.wide", "sch_wide");
    let mut out = format!("row_id,{head},popsize\n");
    for (i, l) in lines.enumerate() {
        out.push_str(&format!("{},{},1000\n", i + 1, l.replace('"', "")));
    }
    std::fs::write(dir.join("data.csv"), out).unwrap();
    let fpc_line = if fpc { "\n  fpc: popsize" } else { "" };
    let def = format!(
        r#"survey: brr
title: BRR test
version: 1
design:
  weight: pw
  strata: stratum
  psu: psu{fpc_line}
units:
  - id: school
    key: row_id
    questions:
      - {{id: row_id, type: integer, label: Row}}
      - {{id: cds, type: text, label: cds}}
      - {{id: stype, type: select_one, label: Type, choices: [{{value: E, label: E}}, {{value: H, label: H}}, {{value: M, label: M}}]}}
      - {{id: dnum, type: integer, label: dnum}}
      - {{id: snum, type: integer, label: snum}}
      - {{id: api00, type: integer, label: api00}}
      - {{id: api99, type: integer, label: api99}}
      - {{id: enroll, type: integer, label: enroll}}
      - {{id: api_stu, type: integer, label: api_stu}}
      - {{id: sch_wide, type: text, label: sch_wide}}
      - {{id: awards, type: text, label: awards}}
      - {{id: pw, type: decimal, label: pw}}
      - {{id: stratum, type: text, label: stratum}}
      - {{id: psu, type: integer, label: psu}}
      - {{id: popsize, type: integer, label: popsize}}
"#
    );
    std::fs::write(dir.join("def.yaml"), def).unwrap();
    let store = dir.join("s.db").to_string_lossy().into_owned();
    ok(dir, &["init", &store, "--definition", "def.yaml"]);
    ok(dir, &["import", &store, "--wave", "1", "data.csv"]);
    store
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_design_block_names_the_replicates_and_the_bootstrap_is_seeded() {
    let d = tempdir();
    let store = brr_store(d.path(), false);
    let base = [
        "analyze",
        &store,
        "--outcome",
        "api00",
        "--format",
        "json",
        "--no-suppress",
        "--variance",
        "replicate",
    ];
    let run = |extra: &[&str]| json(&ok(d.path(), &[&base[..], extra].concat()));
    let brr = run(&["--replicate-type", "brr"]);
    let design = &brr["design"];
    assert_eq!(design["variance"], "replicate");
    assert_eq!(design["replicates"]["type"], "BRR");
    assert_eq!(design["replicates"]["replicates"], 8);
    assert_eq!(design["df"], 6.0);
    // the default for a stratified design is JKn, as R's as.svrepdesign(type = "auto")
    let auto = run(&[]);
    assert_eq!(auto["design"]["replicates"]["type"], "JKn");
    assert_eq!(auto["design"]["replicates"]["replicates"], 12);
    let fay = run(&["--replicate-type", "fay"]);
    assert_eq!(fay["design"]["replicates"]["fay_rho"], 0.5);
    // the bootstrap: the same seed gives the same numbers, another seed others
    let boot = |seed: &str| run(&["--replicate-type", "bootstrap", "--replicates", "40", "--seed", seed]);
    let (a, b, c) = (boot("7"), boot("7"), boot("8"));
    assert_eq!(a["rows"], b["rows"]);
    assert_ne!(a["rows"][0]["se"], c["rows"][0]["se"]);
    assert_eq!(a["design"]["replicates"]["seed"], 7);
    assert_eq!(a["design"]["replicates"]["replicates"], 40);
    // Taylor output says so and has no replicate block
    let taylor = json(&ok(d.path(), &["analyze", &store, "--outcome", "api00", "--format", "json", "--no-suppress"]));
    assert_eq!(taylor["design"]["variance"], "taylor");
    assert!(taylor["design"].get("replicates").is_none());
    // the table footer names the replicate design
    let table = ok(
        d.path(),
        &[
            "analyze",
            &store,
            "--outcome",
            "api00",
            "--variance",
            "replicate",
            "--replicate-type",
            "brr",
            "--mse",
        ],
    );
    assert!(table.contains("replicate variance (BRR, 8 replicates, mse)"), "{table}");
}

#[test]
fn replicate_flags_and_designs_that_do_not_fit_are_clear_errors() {
    // a flag without the flag it needs, or a request no data could answer, is a usage error
    // (2); a design the replicate method cannot serve is a problem with the input (1)
    let d = tempdir();
    let store = brr_store(d.path(), true);
    let analyze = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["analyze", store.as_str(), "--outcome", "api00", "--no-suppress"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let fails = |dir: &std::path::Path, args: &[String], code: i32| fails(dir, &args.iter().map(String::as_str).collect::<Vec<_>>(), code);
    let hearth = |dir: &std::path::Path, args: &[String]| hearth(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let e = fails(d.path(), &analyze(&["--mse"]), 2);
    assert!(e.contains("--mse needs --variance replicate"), "{e}");
    let e = fails(d.path(), &analyze(&["--variance", "replicate", "--replicate-type", "jkn", "--seed", "3"]), 2);
    assert!(e.contains("--seed is for --replicate-type bootstrap"), "{e}");
    let e = fails(
        d.path(),
        &analyze(&["--variance", "replicate", "--replicate-type", "fay", "--fay-rho", "1.5"]),
        2,
    );
    assert!(e.contains("--fay-rho 1.5 must be between 0 and 1"), "{e}");
    let e = fails(d.path(), &analyze(&["--variance", "replicate", "--replicate-type", "jk1"]), 1);
    assert!(
        e.contains("--replicate-type jk1 is for an unstratified design, and this one has 6 strata: use --replicate-type jkn"),
        "{e}"
    );
    let e = fails(
        d.path(),
        &analyze(&[
            "--variance",
            "replicate",
            "--stat",
            "proportion",
            "--outcome",
            "sch_wide",
            "--ci-method",
            "likelihood",
        ]),
        2,
    );
    assert!(e.contains("--ci-method likelihood is not available with --variance replicate"), "{e}");
    // BRR drops the fpc, with a warning, as R; a subpopulation is a domain of the full design
    let out = hearth(
        d.path(),
        &analyze(&["--variance", "replicate", "--replicate-type", "brr", "--where", "psu != 1"]),
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("finite population correction is not used by BRR replicate weights"), "{err}");
}

#[test]
fn brr_refuses_a_stratum_without_two_psus() {
    let d = tempdir();
    let rep = fixture("replicate");
    // apistrat: each school its own PSU, so strata have many PSUs
    let csv = std::fs::read_to_string(rep.join("apistrat.csv")).unwrap();
    let mut lines = csv.lines();
    let _ = lines.next();
    let mut out = String::from("row_id,stype,pw,api00\n");
    for (i, l) in lines.enumerate() {
        let c: Vec<&str> = l.split(',').collect();
        out.push_str(&format!("{},{},{},{}\n", i + 1, c[1].trim_matches('"'), c[10], c[4]));
    }
    std::fs::write(d.path().join("data.csv"), out).unwrap();
    std::fs::write(
        d.path().join("def.yaml"),
        "survey: s\ntitle: S\nversion: 1\ndesign: {weight: pw, strata: stype}\nunits:\n  - id: school\n    key: row_id\n    questions:\n      - {id: row_id, type: integer, label: Row}\n      - {id: stype, type: text, label: Type}\n      - {id: pw, type: decimal, label: pw}\n      - {id: api00, type: integer, label: api00}\n",
    )
    .unwrap();
    ok(d.path(), &["init", "s.db", "--definition", "def.yaml"]);
    ok(d.path(), &["import", "s.db", "--wave", "1", "data.csv"]);
    let e = fails(
        d.path(),
        &["analyze", "s.db", "--outcome", "api00", "--variance", "replicate", "--replicate-type", "brr"],
        1,
    );
    assert!(e.contains("BRR needs exactly 2 PSUs in every stratum: stratum E has 100"), "{e}");
}
