//! Regressions from trying hearth as a new user would (issue 14) and from hostile definitions
//! (issue 15): instrument files, area-named questions, not-estimable SEs, existing data
//! brought in with `definition infer`, and definition checks that must stay fast and precise.

use crate::common::*;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

/// Issue 14.5: `hearth validate schemas/instruments/phq9.yaml` said "unknown key 'instrument'".
#[test]
fn r14_instrument_files_validate() {
    let d = tempdir();
    for e in std::fs::read_dir(root().join("schemas/instruments")).unwrap() {
        let p = e.unwrap().path();
        let out = ok(d.path(), &["validate", p.to_str().unwrap()]);
        let id = p.file_stem().unwrap().to_str().unwrap();
        assert!(out.starts_with(&format!("{}: ok: instrument '{id}' (", p.display())), "{out}");
    }
    let out = ok(d.path(), &["validate", root().join("schemas/instruments/phq9.yaml").to_str().unwrap()]);
    assert!(out.contains("12 questions, 9 scores, 6 params"), "{out}");
}

/// An instrument of one's own gets the same FILE:LINE:COL problems as a definition: its own
/// keys, and its items and scoring checked as a survey listing it would use them.
#[test]
fn r14_own_instrument_problems_name_the_line() {
    let d = tempdir();
    let text = "instrument: mine\ntitle: My scale\nsource: me\nlicence: none\nquestions:\n  - {id: mine_1, type: integr, label: One}\n  - {id: mine_2, type: integer, label: Two, min: 0, max: 3}\nderived:\n  - {id: mine_total, expr: \"mine_1 + mine_3\", label: Total}\n";
    let f = write(d.path(), "mine.yaml", text);
    let err = fails(d.path(), &["validate", &f], 1);
    assert!(err.contains("mine.yaml:6:"), "{err}");
    assert!(err.contains("did you mean 'integer'"), "{err}");
    assert!(err.contains("mine.yaml:9:") && err.contains("unknown question 'mine_3'"), "{err}");
    let good = text.replace("integr", "integer").replace("mine_3", "mine_2");
    let f = write(d.path(), "mine.yaml", &good);
    let out = ok(d.path(), &["validate", &f]);
    assert!(out.contains("ok: instrument 'mine' (My scale), 2 questions, 1 scores"), "{out}");
}

const FLAT_OWN_DECILE: &str = "survey: own\ntitle: Own deciles\nversion: 1\nunits:\n  - id: respondent\n    key: id\n    questions:\n      - {id: id, label: id, type: integer}\n      - {id: imd_decile, label: imd_decile, type: integer, min: 1, max: 10}\n      - {id: ward, label: ward, type: text}\n      - {id: score, label: score, type: decimal}\n";

/// Issue 14.3: a flat definition with its own `imd_decile` imported, but `--by imd_decile`
/// failed with "'imd_decile' needs geography".
#[test]
fn r14_question_named_like_an_area_column_is_analysed() {
    let d = tempdir();
    let p = d.path();
    let def = write(p, "own.yaml", FLAT_OWN_DECILE);
    let mut csv = String::from("id,imd_decile,ward,score\n");
    for i in 0..60 {
        csv.push_str(&format!("{i},{},W{},{}\n", i % 3 + 1, i % 2, 10 + (i * 7) % 13));
    }
    let data = write(p, "own.csv", &csv);
    ok(p, &["init", "own.db", "--definition", &def]);
    ok(p, &["import", "own.db", "--wave", "1", &data]);
    let out = ok(p, &["analyze", "own.db", "--outcome", "score", "--by", "imd_decile", "--format", "csv"]);
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("score,mean,")).collect();
    assert_eq!(rows.len(), 4, "overall and three deciles:\n{out}");
    let out = ok(
        p,
        &[
            "analyze",
            "own.db",
            "--outcome",
            "score",
            "--by",
            "ward",
            "--where",
            "imd_decile <= 2",
            "--format",
            "csv",
        ],
    );
    assert!(out.lines().filter(|l| l.starts_with("score,mean,")).count() == 3, "{out}");
    // loading geography into such a store says plainly what happens
    let out = ok(p, &["geo", "load", "own.db", "--builtin", "imd2019"]);
    assert!(out.contains("responses: not linked to areas: the definition has no geography section"), "{out}");
    assert!(out.contains("the definition's own ward, imd_decile are used as they are"), "{out}");
    let again = ok(p, &["analyze", "own.db", "--outcome", "score", "--by", "imd_decile", "--format", "csv"]);
    assert_eq!(again.lines().filter(|l| l.starts_with("score,mean,")).count(), 4, "{again}");
}

/// ... and with a geography section, the clash is refused at `validate` with what to do.
#[test]
fn r14_area_named_question_with_geography_is_refused_plainly() {
    let d = tempdir();
    let text = FLAT_OWN_DECILE.replace("units:\n", "geography:\n  lsoa: lsoa_code\nunits:\n").replace(
        "      - {id: score, label: score, type: decimal}\n",
        "      - {id: score, label: score, type: decimal}\n      - {id: lsoa_code, label: lsoa_code, type: lsoa}\n",
    );
    let f = write(d.path(), "clash.yaml", &text);
    let err = fails(d.path(), &["validate", &f], 1);
    assert!(
        err.contains("clash.yaml:11:14: question 'imd_decile' has the name of an area column that the geography section (line 4)"),
        "{err}"
    );
    assert!(err.contains("`id: own_imd_decile` with `column: imd_decile`"), "{err}");
    assert!(err.contains("clash.yaml:12:14: question 'ward'"), "{err}");
    // the suggested fix works
    let fixed = text
        .replace("{id: imd_decile,", "{id: own_imd_decile, column: imd_decile,")
        .replace("{id: ward,", "{id: own_ward, column: ward,");
    let f = write(d.path(), "fixed.yaml", &fixed);
    ok(d.path(), &["validate", &f]);
}

/// hearth's own columns (wave, version, capture details, record UUIDs) cannot be question ids.
#[test]
fn r14_system_column_names_are_refused() {
    let d = tempdir();
    let text = FLAT_OWN_DECILE.replace("{id: score, label: score, type: decimal}", "{id: wave, label: wave, type: integer}");
    let f = write(d.path(), "w.yaml", &text);
    let err = fails(d.path(), &["validate", &f], 1);
    assert!(
        err.contains("w.yaml:11:14: question 'wave': 'wave' is a column hearth adds to every record"),
        "{err}"
    );
}

/// Issue 14.7: deciles 5 and 10 of the demo sat in one PSU, so the table printed SE 0.00 and
/// "23.56 to 23.56"; the attribution followed "(done in 0.23 s)" on one line.
#[test]
fn r14_demo_has_no_zero_width_intervals() {
    let d = tempdir();
    let out = ok(d.path(), &["demo"]);
    assert!(!out.contains(" 0.00 "), "an SE of 0.00:\n{out}");
    for line in out.lines() {
        if let Some((_, ci)) = line.split_once(" to ") {
            let lo = line
                .split_whitespace()
                .rev()
                .find(|w| w.parse::<f64>().is_ok() && line.contains(&format!("{w} to ")));
            let hi = ci.split_whitespace().next().unwrap_or("");
            assert_ne!(lo, Some(hi), "zero-width interval: {line}");
        }
    }
    let done = out.lines().find(|l| l.starts_with("(done in")).expect("a timing line");
    assert!(done.ends_with("s)"), "the attribution starts on its own line: {done}");
    assert!(
        out.lines().any(|l| l.starts_with("Contains ") || l.contains("Open Government Licence")),
        "{out}"
    );
}

/// A group whose rows all lie in one PSU of its stratum: the SE is not estimable, printed as
/// `n/e` in a table and null (with the flag) in JSON, never 0 with a zero-width interval.
#[test]
fn r14_one_psu_group_se_is_not_estimable() {
    let d = tempdir();
    let p = d.path();
    let text = "survey: onepsu\ntitle: One PSU\nversion: 1\ndesign:\n  strata: stratum\n  psu: psu\n  lonely_psu: certainty\nunits:\n  - id: respondent\n    key: id\n    questions:\n      - {id: id, label: id, type: integer}\n      - {id: stratum, label: stratum, type: integer}\n      - {id: psu, label: psu, type: integer}\n      - {id: grp, label: grp, type: integer}\n      - {id: y, label: y, type: decimal}\n";
    let def = write(p, "d.yaml", text);
    let mut csv = String::from("id,stratum,psu,grp,y\n");
    let mut id = 0;
    // stratum 1: PSUs 1 and 2, group 1; stratum 2: one PSU (lonely), all of group 2
    for (stratum, psu, grp) in [(1, 1, 1), (1, 2, 1), (2, 3, 2)] {
        for k in 0..15 {
            id += 1;
            csv.push_str(&format!("{id},{stratum},{psu},{grp},{}\n", 10 + (k * 3 + psu) % 7));
        }
    }
    let data = write(p, "d.csv", &csv);
    ok(p, &["init", "s.db", "--definition", &def]);
    ok(p, &["import", "s.db", "--wave", "1", &data]);
    let json = ok(p, &["analyze", "s.db", "--outcome", "y", "--by", "grp", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let g2 = v["rows"].as_array().unwrap().iter().find(|r| r["by"]["grp"] == 2).expect("group 2");
    assert!(g2["estimate"].is_number(), "{g2}");
    for k in ["se", "ci_low", "ci_high", "cv", "deff"] {
        assert!(g2[k].is_null(), "{k} of a one-PSU group: {g2}");
    }
    assert!(
        g2["flags"].as_array().unwrap().iter().any(|f| f == "one PSU: standard error not estimable"),
        "{g2}"
    );
    let g1 = v["rows"].as_array().unwrap().iter().find(|r| r["by"]["grp"] == 1).unwrap();
    assert!(g1["se"].as_f64().unwrap() > 0.0, "{g1}");
    let table = ok(p, &["analyze", "s.db", "--outcome", "y", "--by", "grp"]);
    let line = table
        .lines()
        .find(|l| l.starts_with("y ") && l.split_whitespace().nth(2) == Some("2"))
        .expect("group 2 line");
    assert!(line.contains("n/e"), "{table}");
    let csv_out = ok(p, &["analyze", "s.db", "--outcome", "y", "--by", "grp", "--format", "csv"]);
    let row = csv_out.lines().find(|l| l.starts_with("y,mean,2,")).unwrap();
    assert!(row.contains(",,,,"), "empty se and CI in CSV: {row}");
}

/// Issue 14.8: `definition infer` on a public file (capitalised headers, weights, strata and
/// PSUs, no id column, interval codes) gave a definition that could not import that file.
#[test]
fn r14_inferred_definition_imports_the_file_as_it_is() {
    let d = tempdir();
    let p = d.path();
    let mut csv = String::from("SDMVSTRA,SDMVPSU,WTMEC2YR,RIDAGEYR,agecat,BPXSY1\n");
    for i in 0..80 {
        let age = 20 + (i * 7) % 60;
        let cat = if age <= 39 {
            "(19,39]"
        } else if age <= 59 {
            "(39,59]"
        } else {
            "(59,Inf]"
        };
        let bp = if i % 9 == 0 { String::new() } else { format!("{}", 100 + (i * 13) % 50) };
        csv.push_str(&format!("{},{},{}.5,{age},\"{cat}\",{bp}\n", i % 4 + 1, (i / 4) % 2 + 1, 1000 + (i * 37) % 900));
    }
    let data = write(p, "nhanes.csv", &csv);
    let out = hearth(p, &["definition", "infer", &data, "--out", "nhanes.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let notes = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(notes.contains("design is suggested"), "{notes}");
    assert!(notes.contains("keyed by their row"), "{notes}");
    let yaml = std::fs::read_to_string(p.join("nhanes.yaml")).unwrap();
    // the analyst confirms the suggested design
    let confirmed = yaml.replace("# design:", "design:").replace("#   ", "  ");
    std::fs::write(p.join("nhanes.yaml"), &confirmed).unwrap();
    ok(p, &["validate", "nhanes.yaml"]);
    ok(p, &["init", "n.db", "--definition", "nhanes.yaml"]);
    let first = ok(p, &["import", "n.db", "--wave", "1", &data]);
    assert!(first.contains("80"), "{first}");
    // re-importing the same file is a no-op: records are told apart by their row
    let again = ok(p, &["import", "n.db", "--wave", "1", &data]);
    assert!(again.contains("80") && again.contains("unchanged"), "{again}");
    let out = ok(p, &["analyze", "n.db", "--outcome", "bpxsy1", "--by", "agecat", "--format", "csv"]);
    assert_eq!(out.lines().filter(|l| l.starts_with("bpxsy1,mean,")).count(), 4, "{out}");
    // a changed value in a row is a conflict, named by its row
    let changed = csv.replacen("\n1,1,1000.5,", "\n1,1,1999.5,", 1);
    assert_ne!(changed, csv);
    let f = write(p, "changed.csv", &changed);
    let err = fails(p, &["import", "n.db", "--wave", "1", &f], 1);
    assert!(err.contains("changed.csv:2:") && err.contains("row_number=1"), "{err}");
}

/// Header matching names every column it could not place, and every question it found no
/// column for.
#[test]
fn r14_header_matching_names_unplaced_columns() {
    let d = tempdir();
    let p = d.path();
    let text = "survey: cols\ntitle: Columns\nversion: 1\nunits:\n  - id: respondent\n    key: id\n    questions:\n      - {id: id, label: id, type: integer, column: SEQN}\n      - {id: weight, label: weight, type: decimal, column: WTMEC2YR}\n      - {id: age, label: age, type: integer}\n";
    let def = write(p, "c.yaml", text);
    ok(p, &["init", "c.db", "--definition", &def]);
    let data = write(p, "c.csv", "SEQN,WTINT2YR,Age\n1,2.5,30\n");
    let err = fails(p, &["import", "c.db", "--wave", "1", &data], 1);
    assert!(err.contains("'WTINT2YR' (column 2)") && err.contains("'Age' (column 3)"), "{err}");
    assert!(err.contains("weight (column WTMEC2YR)") && err.contains("age"), "{err}");
    // a column named by the question id is accepted too (as `hearth export` writes them)
    let data = write(p, "ids.csv", "id,weight,age\n1,2.5,30\n");
    ok(p, &["import", "c.db", "--wave", "1", &data]);
}

/// Two questions may not read the same data column.
#[test]
fn r14_two_questions_one_column_is_refused() {
    let d = tempdir();
    let text = "survey: cols\ntitle: Columns\nversion: 1\nunits:\n  - id: respondent\n    key: id\n    questions:\n      - {id: id, label: id, type: integer}\n      - {id: a, label: a, type: decimal, column: X}\n      - {id: b, label: b, type: decimal, column: X}\n      - {id: c, label: c, type: decimal, column: id}\n";
    let f = write(d.path(), "c.yaml", text);
    let err = fails(d.path(), &["validate", &f], 1);
    assert!(err.contains("c.yaml:10:14: question 'b': column 'X' is already read by question 'a'"), "{err}");
    assert!(
        err.contains("c.yaml:11:14: question 'c': column 'id' is already read by question 'id'"),
        "{err}"
    );
}

/// Issue 15.4: an invalid UTF-8 byte was reported with a byte offset only.
#[test]
fn r15_invalid_utf8_in_a_definition_names_line_and_column() {
    let d = tempdir();
    let mut bytes = b"survey: x\ntitle: \"caf".to_vec();
    bytes.push(0xe9);
    bytes.extend_from_slice(b"\"\nversion: 1\n");
    std::fs::write(d.path().join("latin1.yaml"), bytes).unwrap();
    let err = fails(d.path(), &["validate", "latin1.yaml"], 1);
    assert!(err.contains("latin1.yaml:2:12: not UTF-8 text: byte 0xe9"), "{err}");
}

fn many_questions(n: usize, near_miss_refs: bool) -> String {
    let mut t = String::from(
        "survey: big\ntitle: Big\nversion: 1\nunits:\n  - id: respondent\n    key: id\n    questions:\n      - {id: id, label: id, type: integer}\n",
    );
    for i in 0..n {
        if near_miss_refs {
            t.push_str(&format!("      - {{id: q{i:05}, type: integer, label: Q, relevant: \"qq{i:05} > 0\"}}\n"));
        } else {
            t.push_str(&format!("      - {{id: q{i:05}, type: integer, label: Q}}\n"));
        }
    }
    t
}

/// Issue 15.3: "did you mean" was quadratic (16,000 questions with near-miss references took
/// 37 s). The work is now bounded; every problem is still reported, the first with suggestions.
#[test]
fn r15_many_near_miss_references_are_all_reported() {
    let d = tempdir();
    let f = write(d.path(), "big.yaml", &many_questions(16_000, true));
    let err = fails(d.path(), &["validate", &f], 1);
    assert!(err.contains("big.yaml: 16001 problem(s)"), "{}", &err[..err.len().min(2000)]);
    assert!(err.contains("unknown question 'qq00000' (did you mean 'q00000'?)"), "{}", &err[..2000]);
}

/// Issue 15.3: a unit with more questions than a SQLite table may have passed `validate` and
/// failed at `init` with exit 2 "too many columns".
#[test]
fn r15_too_many_questions_are_refused_at_validate() {
    let d = tempdir();
    let f = write(d.path(), "wide.yaml", &many_questions(2_000, false));
    let err = fails(d.path(), &["validate", &f], 1);
    assert!(err.contains("unit 'respondent' stores 2001 variables") && err.contains("at most 1900"), "{err}");
    let err = fails(d.path(), &["init", "w.db", "--definition", &f], 1);
    assert!(err.contains("at most 1900"), "{err}");
    // the largest allowed unit makes a store
    let f = write(d.path(), "ok.yaml", &many_questions(1_899, false));
    ok(d.path(), &["init", "ok.db", "--definition", &f]);
}

/// Found by the fuzz test: an expression with thousands of problems (24,000 unknown names in
/// one `or` chain) took 12 s in a release build, because the place of every problem was found
/// by copying the expression up to it. Every problem is still reported at its own column.
#[test]
fn r15_an_expression_with_thousands_of_problems_is_reported_quickly() {
    let d = tempdir();
    let terms = (0..24_000).map(|i| format!("x{i}")).collect::<Vec<_>>().join(" or ");
    let text = format!(
        "survey: t\ntitle: T\nversion: 1\nunits:\n  - id: r\n    key: id\n    questions:\n      - {{id: id, type: integer, label: Id}}\n      - {{id: age, type: integer, label: Age}}\n      - {{id: q, type: integer, label: Q, relevant: \"{terms}\"}}\n"
    );
    let f = write(d.path(), "many.yaml", &text);
    let err = fails(d.path(), &["validate", &f], 1);
    let head = &err[..err.len().min(300)];
    assert!(err.starts_with("error: many.yaml: 24000 problem(s)"), "{head}");
    assert!(err.contains("many.yaml:10:53: question 'q': relevant: unknown question 'x0'\n"), "{head}");
    assert!(err.contains("many.yaml:10:228933: question 'q': relevant: unknown question 'x23999'"), "{head}");
}

/// Found by the fuzz test: thousands of units made `validate` slow (4,000 nested units: 36 s
/// and 1.5 GB in a release build). A definition may have at most 64 units.
#[test]
fn r15_thousands_of_units_are_refused() {
    let d = tempdir();
    let mut text =
        String::from("survey: t\ntitle: T\nversion: 1\nunits:\n  - id: u0\n    key: k0\n    questions:\n      - {id: k0, type: integer, label: K}\n");
    for i in 1..4000 {
        text.push_str(&format!(
            "  - id: u{i}\n    parent: u{}\n    key: k{i}\n    questions:\n      - {{id: k{i}, type: integer, label: K}}\n",
            i - 1
        ));
    }
    let f = write(d.path(), "units.yaml", &text);
    let err = fails(d.path(), &["validate", &f], 1);
    assert!(
        err.contains("units.yaml:324:7: a definition may have at most 64 units (this one has 4000)"),
        "{}",
        &err[..err.len().min(600)]
    );
}
