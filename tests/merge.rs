//! `hearth merge`: interviewers' stores brought together. Records matched by UUID (identical
//! skipped, different ones reported as conflicts and left alone), the same key entered on two
//! stores reported, audit logs merged once, identifiers carried but never printed, versions and
//! survey checked first, and the whole merge landing whole or not at all, even when killed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};

use crate::common::*;

/// A household survey with an identifier (contact) and derived values per person.
const DEF: &str = r#"
survey: merges
title: Merge test survey
version: 1
units:
  - id: household
    key: household_id
    questions:
      - {id: household_id, type: text, required: true, label: Household}
      - {id: rooms, type: integer, min: 1, max: 20, label: Rooms}
      - {id: contact, type: text, identifier: true, label: Contact}
  - id: person
    parent: household
    key: person_id
    questions:
      - {id: person_id, type: integer, required: true, label: Person}
      - {id: age, type: integer, min: 0, max: 110, required: true, label: Age}
      - {id: q1, type: integer, min: 0, max: 3, label: Item 1}
derived:
  - {id: older, unit: person, type: boolean, expr: "age >= 65", label: Aged 65 or over}
"#;

/// Records every store holds from the start, with fixed UUIDs (as a shared sample file would).
const BASE: &str = "household_uuid,person_uuid,household_id,rooms,contact,person_id,age,q1\n\
0190aaaa-0000-7000-8000-000000000001,0190aaaa-0000-7000-8000-000000000101,H1,3,Ann Smith,1,70,1\n\
0190aaaa-0000-7000-8000-000000000001,0190aaaa-0000-7000-8000-000000000102,H1,3,Ann Smith,2,30,0\n\
0190aaaa-0000-7000-8000-000000000002,0190aaaa-0000-7000-8000-000000000201,H2,5,Bob Jones,1,40,3\n";

/// New households captured on two laptops (B and C) alike: the same UUIDs.
const SHARED: &str = "household_uuid,person_uuid,household_id,rooms,contact,person_id,age,q1\n\
0190bbbb-0000-7000-8000-000000000003,0190bbbb-0000-7000-8000-000000000301,H3,2,Cat Lee,1,25,1\n\
0190bbbb-0000-7000-8000-000000000004,0190bbbb-0000-7000-8000-000000000401,H4,4,Dan Roe,1,50,2\n\
0190bbbb-0000-7000-8000-000000000004,0190bbbb-0000-7000-8000-000000000402,H4,4,Dan Roe,2,52,2\n";

/// Household H5 as the target entered it.
const A_ONLY: &str = "household_id,rooms,contact,person_id,age,q1\nH5,2,Eve Park,1,33,0\n";

/// Household H5 as laptop C entered it (new UUIDs: the same id entered on two stores), and H6.
const C_ONLY: &str = "household_id,rooms,contact,person_id,age,q1\n\
H5,2,Eve Parks,1,33,0\n\
H5,2,Eve Parks,2,35,1\n\
H6,1,Fay Moss,1,80,2\n";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// A store of the test survey holding `files`, imported in order into wave 1.
fn store(dir: &Path, name: &str, files: &[&str]) {
    ok(dir, &["init", name, "--definition", "d.yaml"]);
    for f in files {
        ok(dir, &["import", name, "--wave", "1", f]);
    }
}

fn edit(dir: &Path, db: &str, record: &str, question: &str, value: &str, reason: &str) {
    ok(
        dir,
        &[
            "edit",
            db,
            "--record",
            record,
            "--wave",
            "1",
            "--question",
            question,
            "--value",
            value,
            "--reason",
            reason,
        ],
    );
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open store");
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn integrity(db: &Path) -> String {
    // read-write: SQLite recovers the WAL of a killed writer on the first open
    let c = Connection::open(db).expect("open store");
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// Runs hearth expecting exit code `code`; returns (stdout, stderr).
fn run(dir: &Path, args: &[&str], code: i32) -> (String, String) {
    let out = hearth(dir, args);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(code), "hearth {args:?}\nstdout:\n{so}\nstderr:\n{se}");
    (so, se)
}

/// A (the target), B and C: B and C both hold the same new households; B corrects an answer
/// and an identifier of records A holds; C corrects a person of the shared new households,
/// enters H5, which A entered too, and a household of its own.
fn three_stores(p: &Path) {
    write(p, "d.yaml", DEF);
    write(p, "base.csv", BASE);
    write(p, "shared.csv", SHARED);
    write(p, "a.csv", A_ONLY);
    write(p, "c.csv", C_ONLY);
    store(p, "a.db", &["base.csv", "a.csv"]);
    store(p, "b.db", &["base.csv", "shared.csv"]);
    store(p, "c.db", &["base.csv", "shared.csv", "c.csv"]);
    edit(p, "b.db", "H1/1", "q1", "3", "misheard");
    edit(p, "b.db", "H2", "contact", "Robert Jones", "full name");
    edit(p, "c.db", "H4/2", "age", "53", "birthday");
    // a person B adds to H2 after correcting it: merged under A's H2, in conflict as it is
    write(p, "b2.csv", "household_id,rooms,contact,person_id,age,q1\nH2,5,Robert Jones,2,41,1\n");
    ok(p, &["import", "b.db", "--wave", "1", "b2.csv"]);
}

#[test]
fn three_stores_merge_new_identical_and_conflicting_records() {
    let d = tempdir();
    let p = d.path();
    three_stores(p);
    let others = |p: &Path| ["b.db", "c.db"].map(|f| std::fs::read(p.join(f)).unwrap());
    let before = others(p);
    let (out, err) = run(p, &["merge", "a.db", "b.db", "c.db"], 1);
    assert!(before == others(p), "a merge changed a store it read");
    let lines: Vec<&str> = out.lines().collect();
    // the audit entries copied depend on the second the stores were made in (an entry both
    // hold, same time, same words, is copied once)
    assert!(
        lines[0].starts_with("merged b.db: household 2 added, 1 identical, 1 conflict; person 4 added, 2 identical, 1 conflict; "),
        "{out}"
    );
    assert_eq!(
        lines[1],
        "  conflict: household H2 (0190aaaa-0000-7000-8000-000000000002): contact (identifier) differs; neither changed"
    );
    assert_eq!(
        lines[2],
        "  conflict: household H1 / person 1 (0190aaaa-0000-7000-8000-000000000101): q1 '1' in a.db, '3' in b.db; neither changed"
    );
    // C's copy of the new households B brought is identical, but for the person C corrected
    assert!(
        lines[3]
            .starts_with("merged c.db: household 1 added, 4 identical, 1 conflict; person 1 added, 5 identical, 1 conflict, 2 not added (under a conflict); "),
        "{out}"
    );
    let dup = lines.iter().find(|l| l.contains("household H5")).expect("the duplicate H5 reported");
    assert!(
        dup.starts_with("  conflict: household H5 (wave 1): the same household id entered on two stores (")
            && dup.ends_with(" in a.db); not added, nor the 2 record(s) under it"),
        "{dup}"
    );
    assert!(
        out.contains("  conflict: household H4 / person 2 (0190bbbb-0000-7000-8000-000000000402): age '52' in a.db, '53' in c.db; neither changed\n"),
        "{out}"
    );
    assert_eq!(err, "error: 4 conflict(s): the records concerned were left as they are in both stores\n");
    // identifiers are carried with the records added, never printed
    for secret in ["Ann Smith", "Bob Jones", "Robert Jones", "Fay Moss", "Eve Park"] {
        assert!(!out.contains(secret) && !err.contains(secret), "{secret} printed:\n{out}{err}");
    }
    let audit = ok(p, &["audit", "a.db"]);
    assert!(!audit.contains("Robert Jones") && !audit.contains("Fay Moss"), "{audit}");
    ok(p, &["export", "a.db", "--format", "csv", "--out", "e.csv", "--include-identifiers"]);
    let export = std::fs::read_to_string(p.join("e.csv")).unwrap();
    assert!(export.contains("Fay Moss") && export.contains("Dan Roe"), "{export}");
    assert!(!export.contains("Robert Jones") && !export.contains("Eve Parks"), "{export}");
    // neither side of a conflict changed; the added records keep UUID, wave, capture stamp
    let a = p.join("a.db");
    assert_eq!(count(&a, "SELECT q1 FROM u_person WHERE _uuid = '0190aaaa-0000-7000-8000-000000000101'"), 1);
    assert_eq!(count(&a, "SELECT age FROM u_person WHERE _uuid = '0190bbbb-0000-7000-8000-000000000402'"), 52);
    assert_eq!(
        (count(&a, "SELECT count(*) FROM u_household"), count(&a, "SELECT count(*) FROM u_person")),
        (6, 9)
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM u_person p JOIN u_household h ON h._rowid = p._parent WHERE h.household_id = 'H2'"
        ),
        2
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM u_person p JOIN u_household h ON h._rowid = p._parent WHERE h.household_id = 'H4'"
        ),
        2
    );
    assert_eq!(
        count(&p.join("b.db"), "SELECT q1 FROM u_person WHERE _uuid = '0190aaaa-0000-7000-8000-000000000101'"),
        3
    );
    let b = p.join("b.db");
    let stamp = "SELECT _captured_at || _captured_by || _wave || _version FROM u_household WHERE household_id = 'H3'";
    let (sa, sb): (String, String) = (
        Connection::open(&a).unwrap().query_row(stamp, [], |r| r.get(0)).unwrap(),
        Connection::open(&b).unwrap().query_row(stamp, [], |r| r.get(0)).unwrap(),
    );
    assert_eq!(sa, sb);
    // derived values copied as stored; added records point at the merge's imports row
    assert_eq!(count(&a, "SELECT older FROM u_person WHERE age = 80"), 1);
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM u_household h JOIN imports i ON i.id = h._import WHERE i.files = 'b.db'"
        ),
        2
    );
    assert_eq!(count(&a, "SELECT records FROM imports WHERE files = 'c.db'"), 2);
    // each edit entry once, then one merge entry per store
    assert_eq!(audit.matches("  edit  ").count(), 3, "{audit}");
    assert_eq!(audit.matches("  merge  ").count(), 2, "{audit}");
    assert!(audit.contains("  test  merge  b.db: household 2 added, 1 identical, 1 conflict; "), "{audit}");
    // the same merge again: every conflict again, nothing added, nothing logged
    let before = (audit.lines().count(), count(&a, "SELECT count(*) FROM u_person"));
    let (again, _) = run(p, &["merge", "a.db", "b.db", "c.db"], 1);
    assert!(
        again.starts_with("merged b.db: household 0 added, 3 identical, 1 conflict; person 0 added, 6 identical, 1 conflict\n"),
        "{again}"
    );
    let after = (ok(p, &["audit", "a.db"]).lines().count(), count(&a, "SELECT count(*) FROM u_person"));
    assert_eq!(before, after);
    assert_eq!(integrity(&a), "ok");
}

#[test]
fn merging_a_store_twice_adds_nothing_and_json_says_so() {
    let d = tempdir();
    let p = d.path();
    three_stores(p);
    store(p, "t.db", &[]);
    let out = ok(p, &["merge", "t.db", "b.db"]);
    assert!(
        out.starts_with("merged b.db: household 4 added, 0 identical, 0 conflicts; person 7 added, 0 identical, 0 conflicts; "),
        "{out}"
    );
    assert!(out.contains("weight sets, geography and unfinished interviews are not merged"), "{out}");
    let log = ok(p, &["audit", "t.db"]);
    let bytes = std::fs::read(p.join("t.db")).unwrap();
    let json = ok(p, &["merge", "t.db", "b.db", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let s = &v["stores"][0];
    assert_eq!((s["store"].as_str(), s["audit_entries"].as_i64()), (Some("b.db"), Some(0)), "{json}");
    assert_eq!(s["units"][0]["identical"].as_i64(), Some(4), "{json}");
    assert_eq!(s["units"][1]["identical"].as_i64(), Some(7), "{json}");
    assert_eq!(s["conflicts"].as_array().map(Vec::len), Some(0), "{json}");
    assert_eq!(ok(p, &["audit", "t.db"]), log);
    assert_eq!(std::fs::read(p.join("t.db")).unwrap(), bytes, "a merge that brought nothing changed the store");
}

#[test]
fn a_dry_run_reports_and_writes_nothing() {
    let d = tempdir();
    let p = d.path();
    three_stores(p);
    let bytes = std::fs::read(p.join("a.db")).unwrap();
    let (out, _) = run(p, &["merge", "a.db", "b.db", "c.db", "--dry-run"], 1);
    assert!(out.starts_with("would merge b.db: household 2 added, 1 identical, 1 conflict; "), "{out}");
    // C is checked against A as B would have left it
    assert!(out.contains("would merge c.db: household 1 added, 4 identical, 1 conflict; "), "{out}");
    assert!(out.ends_with("dry run: nothing was written\n"), "{out}");
    let json = run(p, &["merge", "a.db", "b.db", "--dry-run", "--json"], 1).0;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["dry_run"], serde_json::Value::Bool(true));
    let c = &v["stores"][0]["conflicts"];
    assert_eq!(c[0]["kind"], "different", "{json}");
    assert_eq!(c[0]["differences"][0]["field"], "contact", "{json}");
    assert_eq!(c[0]["differences"][0]["identifier"], true, "{json}");
    assert_eq!(c[0]["differences"][0]["target"], serde_json::Value::Null, "{json}");
    assert_eq!(c[1]["key"], "household H1 / person 1", "{json}");
    assert!(!json.contains("Robert"), "{json}");
    assert_eq!(std::fs::read(p.join("a.db")).unwrap(), bytes, "a dry run changed the store");
}

#[test]
fn unknown_definition_versions_and_other_surveys_are_refused_before_anything_is_merged() {
    let d = tempdir();
    let p = d.path();
    three_stores(p);
    // laptop V took definition version 2 (a new question) and captured with it
    write(
        p,
        "d2.yaml",
        &DEF.replace("version: 1", "version: 2")
            .replace("label: Item 1}", "label: Item 1}\n      - {id: q2, type: integer, label: Item 2}"),
    );
    store(p, "v.db", &[]);
    ok(p, &["definition", "add", "v.db", "d2.yaml"]);
    write(p, "v.csv", "household_id,rooms,contact,person_id,age,q1,q2\nH9,2,Gus,1,20,1,1\n");
    ok(p, &["import", "v.db", "--wave", "1", "v.csv"]);
    // laptop W holds another text as version 1
    write(p, "w.yaml", &DEF.replace("label: Rooms", "label: Bedrooms"));
    ok(p, &["init", "w.db", "--definition", "w.yaml"]);
    ok(p, &["import", "w.db", "--wave", "1", "a.csv"]);
    write(p, "o.yaml", &DEF.replace("survey: merges", "survey: another"));
    ok(p, &["init", "o.db", "--definition", "o.yaml"]);
    let bytes = std::fs::read(p.join("a.db")).unwrap();
    let err = fails(p, &["merge", "a.db", "b.db", "v.db", "w.db", "o.db", "a.db"], 1);
    assert_eq!(
        err,
        "error: 4 problem(s); nothing was merged into a.db:\n\
         v.db: records captured with definition version 2, which a.db does not have: add it first (`hearth definition add a.db DEF.yaml` with the version 2 definition), then merge again\n\
         w.db: definition version 1 is not the text a.db holds as version 1: the stores disagree on what version 1 asks; give one of them a new version number\n\
         o.db: holds survey 'another', a.db survey 'merges': only stores of one survey merge\n\
         a.db: is the target store itself\n"
    );
    assert_eq!(std::fs::read(p.join("a.db")).unwrap(), bytes, "a refused merge changed the store");
    // with the version added, V merges
    ok(p, &["definition", "add", "a.db", "d2.yaml"]);
    let out = ok(p, &["merge", "a.db", "v.db"]);
    assert!(
        out.starts_with("merged v.db: household 1 added, 0 identical, 0 conflicts; person 1 added"),
        "{out}"
    );
    assert_eq!(count(&p.join("a.db"), "SELECT q2 FROM u_person WHERE age = 20"), 1);
}

fn spawn_merge(dir: &Path, target: &str, other: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["merge", target, other])
        .current_dir(dir)
        .env("HEARTH_USER", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hearth")
}

#[test]
fn sigkill_during_merge_leaves_none_or_all_of_it() {
    let d = tempdir();
    let p = d.path();
    let def = survey_definition();
    let def = def.to_str().unwrap();
    ok(p, &["simulate", def, "--households", "6000", "--seed", "8", "--out", "big.csv"]);
    ok(p, &["init", "other.db", "--definition", def]);
    ok(p, &["import", "other.db", "--wave", "1", "big.csv"]);
    ok(p, &["init", "empty.db", "--definition", def]);
    // the target holds records of its own: "none" is not an empty store
    ok(p, &["simulate", def, "--households", "50", "--seed", "9", "--out", "own.csv"]);
    let own: String = std::fs::read_to_string(p.join("own.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l}\n")
            } else {
                format!("{}\n", l.replacen(',', "X,", 1))
            }
        })
        .collect();
    write(p, "own.csv", &own);
    ok(p, &["import", "empty.db", "--wave", "1", "own.csv"]);
    let counts = |db: &Path| {
        [
            "SELECT count(*) FROM u_household",
            "SELECT count(*) FROM u_person",
            "SELECT count(*) FROM imports",
            "SELECT count(*) FROM audit",
        ]
        .map(|q| count(db, q))
    };
    let none = counts(&p.join("empty.db"));
    std::fs::copy(p.join("empty.db"), p.join("full.db")).unwrap();
    let start = Instant::now();
    ok(p, &["merge", "full.db", "other.db"]);
    let full_time = start.elapsed();
    let all = counts(&p.join("full.db"));
    assert_eq!(all[0], none[0] + 6000);
    let mut outcomes = Vec::new();
    // the records are written in memory, then committed at the end: kills crowd the end
    for (i, frac) in [0.1, 0.4, 0.7, 0.85, 0.92, 0.97, 1.02].into_iter().enumerate() {
        let name = format!("k{i}.db");
        let db = p.join(&name);
        std::fs::copy(p.join("empty.db"), &db).unwrap();
        let mut child = spawn_merge(p, &name, "other.db");
        std::thread::sleep(full_time.mul_f64(frac));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL on Unix
        child.wait().unwrap();
        assert_eq!(integrity(&db), "ok", "killed at {frac} of the merge time");
        let got = counts(&db);
        assert!(
            got == none || got == all,
            "killed at {frac}: {got:?}, neither {none:?} nor {all:?}: a half merge"
        );
        outcomes.push((frac, finished, got == none));
        // the store is usable: the merge completes afterwards, or finds everything there
        ok(p, &["merge", &name, "other.db"]);
        assert_eq!(counts(&db)[..2], all[..2]);
    }
    // at least one kill landed inside the merge (otherwise this test tested nothing)
    assert!(outcomes.iter().any(|o| o.2), "{outcomes:?}");
}
