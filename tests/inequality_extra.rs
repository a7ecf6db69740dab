//! `hearth inequality` extras through the real binary (issue 17): age standardisation, the PHE
//! aggregate method, the change between two waves and the tests between groups, on the two-wave
//! synthetic survey of fixtures/r-inequality, compared with the R values computed there
//! (make_inequality_extra.R), and the refusals of bad inputs.

use std::path::Path;

use crate::common::*;
use serde_json::Value;

/// A store of fixtures/r-inequality/waves.csv, its two waves imported separately.
fn store(dir: &Path) {
    store_with(dir, None);
}

/// The same store, its design replaced by `design` when given.
fn store_with(dir: &Path, design: Option<&str>) {
    let text = std::fs::read_to_string(fixture("r-inequality/waves.csv")).unwrap();
    let mut lines = text.lines();
    let head = lines.next().unwrap();
    let cut = |l: &str| l.split_once(',').map(|(w, rest)| (w.to_string(), rest.to_string())).unwrap();
    let (_, head_rest) = cut(head);
    for wave in ["1", "2"] {
        let body: Vec<String> = text.lines().skip(1).map(cut).filter(|(w, _)| w == wave).map(|(_, r)| r).collect();
        std::fs::write(dir.join(format!("w{wave}.csv")), format!("{head_rest}\n{}\n", body.join("\n"))).unwrap();
    }
    let mut def = std::fs::read_to_string(fixture("r-inequality/waves.yaml")).unwrap();
    if let Some(d) = design {
        def = def.replace("design: {weight: w, strata: stratum, psu: psu}", d);
    }
    std::fs::write(dir.join("waves.yaml"), def).unwrap();
    ok(dir, &["init", "s.db", "--definition", "waves.yaml"]);
    ok(dir, &["import", "s.db", "--wave", "1", "w1.csv"]);
    ok(dir, &["import", "s.db", "--wave", "2", "w2.csv"]);
}

fn r() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("r-inequality/inequality_extra.json")).unwrap()).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["inequality", "s.db", "--over", "quint", "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

fn close(got: &Value, want: &Value, what: &str) {
    let (g, w) = (got.as_f64().unwrap_or_else(|| panic!("{what}: {got}")), want.as_f64().unwrap());
    assert!((g - w).abs() <= 1e-6 * w.abs(), "{what}: hearth {g}, R {w}");
}

fn measure<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["measures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["measure"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn standardised_by_esp2013_as_r_svystandardize() {
    let d = tempdir();
    store(d.path());
    let want = r();
    for (case, outcome) in [(0, "y"), (2, "b")] {
        let c = &want["standardise"][case];
        let out = json(d.path(), &["--outcome", outcome, "--wave", "1", "--standardise", "ageband"]);
        for (g, w) in c["groups"].as_array().unwrap().iter().enumerate() {
            let row = &out["groups"][g];
            close(&row["estimate"], &w["estimate"], &format!("{outcome} group {g}"));
            close(&row["se"], &w["se"], &format!("{outcome} group {g} se"));
            if outcome == "b" {
                close(&row["ci_low"], &w["ci_low"], &format!("{outcome} group {g} ci_low"));
                close(&row["ci_high"], &w["ci_high"], &format!("{outcome} group {g} ci_high"));
            }
        }
        close(&out["standardised"]["overall"]["estimate"], &c["overall"]["estimate"], "overall");
        close(&out["standardised"]["overall"]["se"], &c["overall"]["se"], "overall se");
        assert_eq!(out["standardised"]["standard"], "esp2013");
        let sii = measure(&out, "sii");
        close(&sii["estimate"], &c["sii"]["b1"], "sii");
        close(&sii["se"], &c["sii"]["se_b1"], "sii se");
        assert_eq!(sii["df"].as_f64(), c["sii"]["df"].as_f64());
        let log = measure(&out, "rii_log");
        close(&log["log_estimate"], &c["sii"]["log_b1"], "log rii b1");
        let se = log["se_log"].as_f64().unwrap();
        let want = c["sii"]["log_se_b1"].as_f64().unwrap();
        // R stops its IRLS at epsilon 1e-8 (see standardise.rs): 1e-5 here
        assert!((se - want).abs() <= 1e-5 * want, "log se {se} vs {want}");
        let conc = &c["sii"]["concentration"];
        let ci = measure(&out, "concentration_index");
        close(&ci["estimate"], &conc["concentration_index"], "concentration index");
        close(&ci["se"], &conc["se"], "concentration index se");
        if outcome == "b" {
            for (name, key) in [("erreygers", "erreygers"), ("wagstaff", "wagstaff")] {
                close(&measure(&out, name)["estimate"], &conc[key], name);
                close(&measure(&out, name)["se"], &conc[format!("{key}_se").as_str()], name);
            }
        }
    }
}

#[test]
fn standardised_by_age_and_sex_on_a_population_file_as_r() {
    let d = tempdir();
    store(d.path());
    let want = &r()["standardise"][1];
    let pop: Vec<f64> = want["population"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    // R's order: age band fastest, then sex; the file gives sex by label
    let mut text = String::from("sex,ageband,count\n");
    for (i, c) in pop.iter().enumerate() {
        text.push_str(&format!("{},{},{c}\n", if i / 4 == 0 { "Male" } else { "female" }, i % 4 + 1));
    }
    std::fs::write(d.path().join("pop.csv"), text).unwrap();
    let out = json(
        d.path(),
        &["--outcome", "y", "--wave", "1", "--standardise", "ageband,sex", "--standard", "pop.csv"],
    );
    for (g, w) in want["groups"].as_array().unwrap().iter().enumerate() {
        close(&out["groups"][g]["estimate"], &w["estimate"], "estimate");
        close(&out["groups"][g]["se"], &w["se"], "se");
    }
    assert_eq!(out["standardised"]["standard"], "pop.csv");
    // the table says what was standardised, how
    let table = ok(
        d.path(),
        &[
            "inequality",
            "s.db",
            "--over",
            "quint",
            "--outcome",
            "y",
            "--wave",
            "1",
            "--standardise",
            "ageband",
        ],
    );
    assert!(table.contains("age-standardised to esp2013 by ageband"), "{table}");
    assert!(table.contains("'16-34' takes the 15-19 band"), "{table}");
}

#[test]
fn the_change_between_two_waves_as_r_over_the_combined_design() {
    let d = tempdir();
    store(d.path());
    let want = r();
    let out = json(d.path(), &["--outcome", "y", "--wave", "1", "--wave", "2"]);
    let c = &out["change"];
    assert_eq!(c["waves"], serde_json::json!([1, 2]));
    let w = &want["change"][0];
    for (g, wg) in w["groups"].as_array().unwrap().iter().enumerate() {
        let row = &c["groups"][g];
        close(&row["change"], &wg["change"], "change");
        close(&row["se"], &wg["se"], "se");
        close(&row["se_independent"], &wg["se_independent"], "se independent");
    }
    close(&c["overall"]["change"], &w["overall"]["change"], "overall change");
    close(&c["overall"]["se"], &w["overall"]["se"], "overall se");
    let s = &want["sii_change"];
    close(&c["sii"]["change"], &s["change"], "sii change");
    close(&c["sii"]["se"], &s["se"], "sii change se");
    close(&c["sii"]["se_independent"], &s["se_independent"], "sii change se independent");
    close(&c["sii"]["ci_low"], &s["ci_low"], "sii change ci");
    assert_eq!(c["sii"]["df"].as_f64(), s["df"].as_f64());
    // one wave: no change object
    let one = json(d.path(), &["--outcome", "y", "--wave", "1"]);
    assert!(one.get("change").is_none());
    let table = ok(
        d.path(),
        &[
            "inequality",
            "s.db",
            "--over",
            "quint",
            "--outcome",
            "y",
            "--wave",
            "1",
            "--wave",
            "2",
            "--format",
            "csv",
        ],
    );
    assert!(table.lines().any(|l| l.starts_with("y,change,quint,,sii_change,")), "{table}");
    // regression (merge of the words column and the change rows): every record as wide as the header
    let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(table.as_bytes());
    let width = r.headers().unwrap().len();
    assert!(r.records().all(|rec| rec.unwrap().len() == width), "{table}");
}

/// Without clusters in the definition, each person (its key) is the cluster of the combined
/// design: R's design with `id = ~pid`.
#[test]
fn without_clusters_a_persons_rows_in_both_waves_are_linked_as_r() {
    let d = tempdir();
    store_with(d.path(), Some("design: {weight: w, strata: stratum}"));
    let out = json(d.path(), &["--outcome", "y", "--wave", "1", "--wave", "2"]);
    let c = &out["change"];
    let w = &r()["change"][1];
    for (g, wg) in w["groups"].as_array().unwrap().iter().enumerate() {
        close(&c["groups"][g]["change"], &wg["change"], "change");
        close(&c["groups"][g]["se"], &wg["se"], "se");
    }
    close(&c["overall"]["se"], &w["overall"]["se"], "overall se");
    let notes = c["notes"].to_string();
    assert!(notes.contains("each person is one"), "{notes}");
}

#[test]
fn the_tests_between_groups_as_r() {
    let d = tempdir();
    store(d.path());
    let want = r();
    let out = json(d.path(), &["--outcome", "y", "--wave", "1", "--test"]);
    let t = &out["tests"]["difference"];
    let w = &want["ttest"];
    close(&t["difference"], &w["difference"], "difference");
    close(&t["statistic"], &w["statistic"], "t");
    assert_eq!(t["df"].as_f64(), w["df"].as_f64());
    close(&t["p_value"], &w["p_value"], "p");
    assert_eq!(t["groups"], serde_json::json!([5, 1]));
    assert!(out["tests"]["association"].is_null());
    let out = json(d.path(), &["--outcome", "b", "--wave", "1", "--test"]);
    let a = &out["tests"]["association"];
    let w = &want["chisq"][1];
    close(&a["f"], &w["F"]["statistic"], "F");
    close(&a["ndf"], &w["F"]["parameter"]["ndf"], "ndf");
    close(&a["ddf"], &w["F"]["parameter"]["ddf"], "ddf");
    close(&a["p_value"], &w["F"]["p_value"], "p");
    close(&a["chisq_p_value"], &w["Chisq"]["p_value"], "chisq p");
    // without --test, no tests
    assert!(json(d.path(), &["--outcome", "b", "--wave", "1"]).get("tests").is_none());
}

#[test]
fn the_phe_method_is_reproducible_and_agrees_with_the_design_sii() {
    let d = tempdir();
    store(d.path());
    let args = ["--outcome", "y", "--wave", "1", "--method", "phe"];
    let a = json(d.path(), &args);
    let b = json(d.path(), &args);
    assert_eq!(measure(&a, "sii"), measure(&b, "sii"), "seeded: the same limits twice");
    let design = json(d.path(), &["--outcome", "y", "--wave", "1"]);
    // the same ridits and weights: the PHE point estimate is the design-based SII
    close(&measure(&a, "sii")["estimate"], &measure(&design, "sii")["estimate"], "phe sii");
    let s = measure(&a, "sii");
    assert!(s["ci_low"].as_f64().unwrap() < s["estimate"].as_f64().unwrap() && s["estimate"].as_f64().unwrap() < s["ci_high"].as_f64().unwrap());
    assert!(s["notes"][0].as_str().unwrap().contains("seed"), "{s}");
}

#[test]
fn bad_extra_inputs_are_refused_naming_the_flag() {
    let d = tempdir();
    store(d.path());
    let base = ["inequality", "s.db", "--over", "quint", "--outcome", "y", "--wave", "1"];
    let run = |extra: &[&str], code: i32| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        fails(d.path(), &a, code)
    };
    std::fs::write(d.path().join("bad.csv"), "ageband,sexx,count\n1,1,5\n").unwrap();
    let e = run(&["--standardise", "ageband,sex", "--standard", "bad.csv"], 1);
    assert!(
        e.contains("--standard: bad.csv: column 'sexx' is not a standardising variable (ageband, sex) nor 'count'"),
        "{e}"
    );
    std::fs::write(d.path().join("short.csv"), "ageband,count\n1,5\n2,6\n3,7\n").unwrap();
    let e = run(&["--standardise", "ageband", "--standard", "short.csv"], 1);
    assert!(e.contains("short.csv: no count for ageband=4"), "{e}");
    let e = run(&["--standardise", "ageband_misaligned"], 1);
    assert!(e.contains("age band '16-32'") && e.contains("33 is not where a band"), "{e}");
    let e = run(&["--standardise", "sex"], 1);
    assert!(e.contains("is by age"), "{e}");
    let e = run(&["--standard", "esp2013"], 2);
    assert!(e.contains("--standard needs --standardise"), "{e}");
    let e = run(&["--standardise", "ageband", "--standard", "no-such.csv"], 2);
    assert!(e.contains("--standard no-such.csv: cannot read"), "{e}");
    // two waves, one of them without rows: no change can be computed
    let e = run(&["--wave", "3"], 1);
    assert!(e.contains("--wave: the change between waves 1 and 3 needs rows in both: none in wave 3"), "{e}");
}
