//! `hearth inequality` through the real binary: the R reference cases of
//! fixtures/inequality (made by make_inequality.R: gap and ratio with the covariance between
//! groups, SII and RII on a proportion and with missing answers, the concentration indices,
//! PAR and PAF, the between-group measures of an unordered grouping, on a one-stage stratified
//! and a two-stage design, and with a lonely PSU under `adjust` and `average`), the output formats, and the
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
    assert_eq!(cases.len(), 7);
    let mut checked = 0;
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let data = case["data"].as_str().unwrap();
        let definition = case["definition"].as_str().unwrap_or_else(|| data.trim_end_matches(".csv"));
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
        // measures whose SE hearth takes differently from R, on purpose (the fixture says why)
        let differs: Vec<&str> = case["differs"]
            .as_array()
            .map(|d| d.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        for want in case["measures"].as_array().unwrap() {
            let name = want["measure"].as_str().unwrap();
            if differs.contains(&name) {
                continue;
            }
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

/// The demo store (two waves of the shipped survey with IMD 2019 deciles) in `dir`.
fn demo_store(dir: &Path) -> String {
    let keep = dir.join("demo");
    ok(dir, &["demo", "--keep", &keep.to_string_lossy()]);
    keep.join("demo.db").to_string_lossy().into_owned()
}

#[test]
fn deciles_of_the_demo_in_every_format() {
    let dir = tempdir();
    let db = demo_store(dir.path());
    let outcomes = "swemwbs_metric_score,phq9_caseness";
    let table = ok(dir.path(), &["inequality", &db, "--outcome", outcomes, "--wave", "2"]);
    assert!(
        table.contains("swemwbs_metric_score (mean) by imd_decile, most deprived first; higher is better"),
        "{table}"
    );
    assert!(
        table.contains("phq9_caseness (proportion) by imd_decile, most deprived first; higher is worse"),
        "{table}"
    );
    assert!(table.contains("In words:\n  sii: "), "{table}");
    assert!(
        table.contains("points lower in the most deprived tenth than in the least deprived tenth: the more deprived are worse off"),
        "{table}"
    );
    assert!(
        table.contains("times as common in the most deprived tenth as in the least deprived tenth"),
        "{table}"
    );

    // several outcomes: an array of the SPEC's objects, in the request's order
    let json = ok(dir.path(), &["inequality", &db, "--outcome", outcomes, "--wave", "2", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let list = v.as_array().expect("an array for two outcomes");
    assert_eq!(list.len(), 2);
    let o = &list[1];
    assert_eq!(o["outcome"], "phq9_caseness");
    assert_eq!(o["over"], "imd_decile");
    assert_eq!(o["waves"], serde_json::json!([2]));
    assert_eq!(o["higher_is"], "worse");
    assert_eq!(o["direction_assumed"], false);
    assert_eq!(o["order"], serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    assert_eq!(o["groups"].as_array().unwrap().len(), 10);
    assert_eq!(o["groups"][0]["by"], serde_json::json!({"imd_decile": 1}));
    let names: Vec<&str> = o["measures"].as_array().unwrap().iter().map(|m| m["measure"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "sii",
            "rii_linear",
            "rii_log",
            "gap",
            "ratio",
            "concentration_index",
            "erreygers",
            "wagstaff",
            "par",
            "paf"
        ]
    );
    for m in o["measures"].as_array().unwrap() {
        assert!(m["estimate"].is_f64() && m["se"].is_f64() && m["ci_low"].is_f64(), "{m}");
    }
    assert_eq!(o["measures"][0]["df"], 40.0);
    // one outcome: the object itself (as run_cli.py reads it)
    let one = ok(
        dir.path(),
        &["inequality", &db, "--outcome", "phq9_caseness", "--wave", "2", "--format", "json"],
    );
    let v1: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(v1["measures"], o["measures"]);

    let csv = ok(dir.path(), &["inequality", &db, "--outcome", outcomes, "--wave", "2", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "outcome,row,over,group,measure,estimate,se,ci_low,ci_high,level,df,n,suppressed,words,notes"
    );
    assert!(lines[1].starts_with("swemwbs_metric_score,group,imd_decile,1,,"), "{}", lines[1]);
    assert!(lines.iter().any(|l| l.starts_with("phq9_caseness,measure,imd_decile,,sii,")), "{csv}");
    assert_eq!(lines.len(), 1 + 2 * (10 + 10));

    let md = ok(
        dir.path(),
        &["inequality", &db, "--outcome", "phq9_caseness", "--wave", "2", "--format", "markdown"],
    );
    assert!(md.starts_with("**phq9_caseness (proportion) by imd_decile"), "{md}");
    assert!(md.contains("| measure | estimate | se | 95% CI | df |\n|---|---|---|---|---|\n| sii |"), "{md}");
}

/// Disclosure control: a group suppressed in the gradient is shown as suppressed; the gap,
/// ratio and PAR that would give it away are withheld; measures from every group's
/// microdata are given and say so.
#[test]
fn suppressed_groups_withhold_what_would_give_them_away() {
    let dir = tempdir();
    let db = demo_store(dir.path());
    let json = ok(
        dir.path(),
        &[
            "inequality",
            &db,
            "--outcome",
            "phq9_caseness",
            "--wave",
            "2",
            "--where",
            "age >= 75",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let groups = v["groups"].as_array().unwrap();
    let last = groups.last().unwrap();
    assert_eq!(last["suppressed"], true);
    assert!(last["estimate"].is_null());
    let measure = |name: &str| v["measures"].as_array().unwrap().iter().find(|m| m["measure"] == name).unwrap().clone();
    for name in ["gap", "ratio", "par", "paf"] {
        let m = measure(name);
        assert!(m["estimate"].is_null(), "{m}");
        assert!(m["notes"][0].as_str().unwrap().contains("suppressed by disclosure control"), "{m}");
    }
    let sii = measure("sii");
    assert!(sii["estimate"].is_f64());
    assert!(
        sii["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("computed from the microdata of every group, suppressed group(s) "),
        "{sii}"
    );
    // with --no-suppress nothing is withheld, and a warning says so
    let out = hearth(
        dir.path(),
        &[
            "inequality",
            &db,
            "--outcome",
            "phq9_caseness",
            "--wave",
            "2",
            "--where",
            "age >= 75",
            "--no-suppress",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("disclosure control is OFF (--no-suppress)"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("withheld"));
}

#[test]
fn unordered_groupings_get_between_group_measures() {
    let dir = tempdir();
    let db = demo_store(dir.path());
    let tenure = ok(
        dir.path(),
        &[
            "inequality",
            &db,
            "--outcome",
            "phq9_total",
            "--over",
            "tenure",
            "--unordered",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&tenure).unwrap();
    assert_eq!(v["ordered"], false);
    let names: Vec<&str> = v["measures"].as_array().unwrap().iter().map(|m| m["measure"].as_str().unwrap()).collect();
    assert_eq!(names, ["between_group_variance", "index_of_disparity", "highest_lowest_ratio"]);
    // a select_one without --unordered is taken as ordered, and the output says the direction is assumed
    let ordered = ok(dir.path(), &["inequality", &db, "--outcome", "phq9_total", "--over", "tenure"]);
    assert!(ordered.contains("by tenure, first group taken as the most deprived"), "{ordered}");
    assert!(ordered.contains("the first level of 'tenure' (1) is taken as the most deprived"), "{ordered}");
    // wards are text: unordered without being told
    let ward = ok(dir.path(), &["inequality", &db, "--outcome", "phq9_total", "--over", "ward"]);
    assert!(ward.contains("by ward, groups without an order"), "{ward}");
}

#[test]
fn messages_name_the_flags() {
    let dir = tempdir();
    let db = demo_store(dir.path());
    let e = fails(dir.path(), &["inequality", &db, "--outcome", "phq9_total", "--level", "2"], 2);
    assert!(e.contains("--level 2 must be between 0.5 and 1"), "{e}");
    let e = fails(dir.path(), &["inequality", &db, "--outcome", "phq9_totl"], 1);
    assert!(e.contains("phq9_totl") && e.contains("did you mean 'phq9_total'"), "{e}");
    // no geography: imd_decile cannot be had
    let plain = store(dir.path(), "apistrat", "apistrat.csv");
    let e = fails(dir.path(), &["inequality", &plain, "--outcome", "api00"], 1);
    assert!(e.contains("--over imd_decile needs geography"), "{e}");
}

#[test]
fn higher_is_is_for_derived_scores() {
    let dir = tempdir();
    let def = dir.path().join("polarity.yaml");
    std::fs::write(
        &def,
        "survey: t\ntitle: T\nversion: 1\nunits:\n  - id: p\n    key: id\n    questions:\n      - {id: id, type: integer, label: Id}\n      - {id: s, type: integer, label: S, higher_is: better}\n      - {id: name, type: text, label: N}\nderived:\n  - {id: d1, unit: p, expr: \"s * 2\", higher_is: higher}\n  - {id: d2, unit: p, expr: \"name\", higher_is: worse}\n  - {id: d3, unit: p, expr: \"s\", higher_is: worse, min: 0, max: 9}\n",
    )
    .unwrap();
    let e = fails(dir.path(), &["validate", &def.to_string_lossy()], 1);
    assert!(
        e.contains(":9:42: question 's': higher_is is for derived variables and instrument scores, not questions"),
        "{e}"
    );
    assert!(
        e.contains(":12:49: derived variable 'd1': higher_is must be better or worse, found 'higher'"),
        "{e}"
    );
    assert!(
        e.contains(":13:48: derived variable 'd2': higher_is applies to a number or a yes/no variable, not a text"),
        "{e}"
    );
    assert!(e.contains("3 problem(s)"), "{e}");
}

/// The gradient on a calibrated weight set: post-stratified on the deciles themselves (the
/// ridits move with the weights) and raked on stype and the deciles, checked against R
/// (fixtures/inequality/make_weighted.R: svyglm on postStratify and rake designs).
#[test]
fn r_reference_gradient_on_calibrated_weight_sets() {
    let dir = tempdir();
    let p = dir.path();
    let text = std::fs::read_to_string(fixture("inequality").join("weighted.json")).expect("weighted.json");
    let want: serde_json::Value = serde_json::from_str(&text).expect("weighted.json parses");
    let db = store(p, "apistrat", "apistrat.csv");
    let pop = |f: &str| fixture("inequality").join(f).to_string_lossy().into_owned();
    let dec = pop("pop_meals_decile.csv");
    ok(p, &["weight", &db, "--name", "ps", "--poststratify", "meals_decile", "--population", &dec]);
    let rake = [format!("stype={}", pop("pop_stype.csv")), format!("meals_decile={dec}")];
    ok(p, &["weight", &db, "--name", "rk", "--rake", &rake[0], "--rake", &rake[1]]);
    for (set, key) in [("ps", "poststratify"), ("rk", "rake")] {
        let out = ok(
            p,
            &[
                "inequality",
                &db,
                "--outcome",
                "api00",
                "--over",
                "meals_decile",
                "--weights",
                set,
                "--format",
                "json",
                "--no-suppress",
            ],
        );
        let got: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
        let w = &want[key];
        for m in ["sii", "rii_linear"] {
            let row = got["measures"].as_array().unwrap().iter().find(|r| r["measure"] == m).expect("measure row");
            for f in ["estimate", "se"] {
                let (g, r) = (row[f].as_f64().unwrap(), w[m][f].as_f64().unwrap());
                assert!(close(g, r), "{set} {m} {f}: hearth {g}, R {r}");
            }
            assert_eq!(row["df"].as_f64(), w["df"].as_f64(), "{set} {m} df");
        }
        for (g, r) in got["groups"].as_array().unwrap().iter().zip(w["groups"].as_array().unwrap()) {
            for f in ["estimate", "se"] {
                let (a, b) = (g[f].as_f64().unwrap(), r[f].as_f64().unwrap());
                assert!(close(a, b), "{set} group {} {f}: hearth {a}, R {b}", r["group"]);
            }
        }
    }
}
