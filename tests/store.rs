//! Store reliability: an import killed with SIGKILL leaves the file consistent with none or
//! all of its rows, two imports at once are serialised, definition versions migrate the
//! tables and refuse type changes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};

use crate::common::*;

fn open_ro(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open store")
}

fn count(db: &Path, sql: &str) -> i64 {
    open_ro(db).query_row(sql, [], |r| r.get(0)).unwrap()
}

fn integrity(db: &Path) -> String {
    // read-write: SQLite recovers the WAL of a killed writer on the first open
    let c = Connection::open(db).expect("open store");
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

fn spawn_import(dir: &Path, db: &str, wave: &str, file: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["import", db, "--wave", wave, file])
        .current_dir(dir)
        .env("HEARTH_USER", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hearth")
}

#[test]
fn sigkill_during_import_leaves_none_or_all_of_it() {
    let d = tempdir();
    let p = d.path();
    let def = survey_definition();
    let def = def.to_str().unwrap();
    ok(p, &["simulate", def, "--households", "6000", "--seed", "3", "--out", "big.csv"]);
    ok(p, &["init", "empty.db", "--definition", def]);
    // a full import first: its duration sets the kill points, its counts are "all"
    std::fs::copy(p.join("empty.db"), p.join("full.db")).unwrap();
    let start = Instant::now();
    let out = ok(p, &["import", "full.db", "--wave", "1", "big.csv"]);
    let full_time = start.elapsed();
    assert!(out.contains("added 6000 household"), "{out}");
    let full = p.join("full.db");
    let (all_hh, all_persons) = (count(&full, "SELECT count(*) FROM u_household"), count(&full, "SELECT count(*) FROM u_person"));
    let mut outcomes = Vec::new();
    for (i, frac) in [0.02, 0.2, 0.45, 0.7, 0.9].into_iter().enumerate() {
        let name = format!("k{i}.db");
        let db = p.join(&name);
        std::fs::copy(p.join("empty.db"), &db).unwrap();
        let mut child = spawn_import(p, &name, "1", "big.csv");
        std::thread::sleep(full_time.mul_f64(frac));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert_eq!(integrity(&db), "ok", "killed at {frac} of the import time");
        let hh = count(&db, "SELECT count(*) FROM u_household");
        let persons = count(&db, "SELECT count(*) FROM u_person");
        let imports = count(&db, "SELECT count(*) FROM imports");
        let audit = count(&db, "SELECT count(*) FROM audit WHERE action = 'import'");
        assert!(
            (hh, persons, imports, audit) == (0, 0, 0, 0) || (hh, persons, imports, audit) == (all_hh, all_persons, 1, 1),
            "killed at {frac}: {hh} households, {persons} persons, {imports} imports, {audit} audit entries: a half import"
        );
        outcomes.push((frac, finished, status.success(), persons));
        // the store is usable: the same file imports whole afterwards (or is a no-op)
        let out = ok(p, &["import", &name, "--wave", "1", "big.csv"]);
        assert!(
            out.contains("added 0 household, 0 person") || out.contains(&format!("added {all_hh} household, {all_persons} person")),
            "{out}"
        );
        assert_eq!(count(&db, "SELECT count(*) FROM u_person"), all_persons);
        assert_eq!(integrity(&db), "ok");
    }
    // at least one kill landed inside the import (otherwise this test tested nothing)
    assert!(outcomes.iter().any(|o| o.3 == 0), "{outcomes:?}");
}

#[test]
fn two_imports_at_once_are_serialised() {
    let d = tempdir();
    let p = d.path();
    let def = survey_definition();
    let def = def.to_str().unwrap();
    ok(p, &["simulate", def, "--households", "1500", "--seed", "5", "--out", "a.csv"]);
    ok(p, &["simulate", def, "--households", "1200", "--seed", "6", "--out", "b.csv"]);
    ok(p, &["init", "s.db", "--definition", def]);
    let db = p.join("s.db");
    let persons_in = |f: &str| std::fs::read_to_string(p.join(f)).unwrap().lines().count() as i64 - 1;
    let (pa, pb) = (persons_in("a.csv"), persons_in("b.csv"));
    // different waves at once, then the same file twice at once
    for round in 0..2 {
        let (wa, fa, wb, fb) = if round == 0 {
            ("1", "a.csv", "2", "b.csv")
        } else {
            ("3", "a.csv", "3", "a.csv")
        };
        let a = spawn_import(p, "s.db", wa, fa);
        let b = spawn_import(p, "s.db", wb, fb);
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        for o in [&a, &b] {
            if !o.status.success() {
                // failing is allowed only clearly: exit 2 with the store named and the reason
                let err = String::from_utf8_lossy(&o.stderr);
                assert_eq!(o.status.code(), Some(2), "{err}");
                assert!(err.contains("s.db") && (err.contains("locked") || err.contains("busy")), "{err}");
            }
        }
        assert_eq!(integrity(&db), "ok");
        let landed = |w: &str| count(&db, &format!("SELECT count(*) FROM u_person WHERE _wave = {w}"));
        if round == 0 {
            let (la, lb) = (landed("1"), landed("2"));
            assert!(la == pa || (la == 0 && !a.status.success()), "wave 1: {la} of {pa}");
            assert!(lb == pb || (lb == 0 && !b.status.success()), "wave 2: {lb} of {pb}");
            assert!(a.status.success() || b.status.success(), "neither landed");
        } else {
            // the second import found the first's records: a no-op, not duplicates nor conflicts
            assert_eq!(landed("3"), pa);
            let outs = format!("{}{}", String::from_utf8_lossy(&a.stdout), String::from_utf8_lossy(&b.stdout));
            if a.status.success() && b.status.success() {
                assert!(outs.contains("added 0 household, 0 person"), "{outs}");
            }
        }
    }
}

/// The tiny definition with its version changed and `edit` applied to the text.
fn tiny_version(version: u32, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(fixture("import/tiny.yaml")).unwrap();
    let text = text.replace("version: 1\n", &format!("version: {version}\n"));
    edit(text)
}

#[test]
fn a_new_definition_version_migrates_and_keeps_earlier_versions() {
    let d = tempdir();
    let p = d.path();
    let tiny = fixture("import/tiny.yaml");
    ok(p, &["init", "s.db", "--definition", tiny.to_str().unwrap()]);
    std::fs::copy(fixture("import/good.csv"), p.join("good.csv")).unwrap();
    ok(p, &["import", "s.db", "--wave", "1", "good.csv"]);
    let db = p.join("s.db");
    // version 2 adds a person question and a household identifier
    let v2 = tiny_version(2, |t| {
        t.replace(
            "      - id: comment\n        type: text\n        label: Comment\n",
            "      - id: comment\n        type: text\n        label: Comment\n      - id: sleep_hours\n        type: decimal\n        min: 0\n        max: 24\n        label: Hours of sleep\n",
        )
        .replace(
            "      - id: contact_name\n",
            "      - id: phone\n        type: text\n        identifier: true\n        label: Phone\n      - id: contact_name\n",
        )
    });
    std::fs::write(p.join("v2.yaml"), v2).unwrap();
    ok(p, &["validate", "v2.yaml"]);
    let out = ok(p, &["definition", "add", "s.db", "v2.yaml"]);
    assert!(out.contains("definition version 2 added"), "{out}");
    let c = open_ro(&db);
    let cols: Vec<String> = c
        .prepare("PRAGMA table_info(u_person)")
        .unwrap()
        .query_map([], |r| r.get(1))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(cols.contains(&"sleep_hours".to_string()), "{cols:?}");
    let ident: Vec<String> = c
        .prepare("PRAGMA table_info(ident_household)")
        .unwrap()
        .query_map([], |r| r.get(1))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(ident.contains(&"phone".to_string()), "{ident:?}");
    drop(c);
    // earlier rows keep their version and have no answer to the new question
    assert_eq!(count(&db, "SELECT count(*) FROM u_person WHERE _version = 1 AND sleep_hours IS NULL"), 6);
    // new imports use version 2
    let header = "household_id,area,rooms,notes,contact_name,phone,person_id,age,sex,smoker,cigarettes,visit_date,height,activities,comment,sleep_hours";
    std::fs::write(p.join("w2.csv"), format!("{header}\nN1,1,2,,Al,0123,1,40,1,no,,2020-01-01,,,,7.5\n")).unwrap();
    let out = ok(p, &["import", "s.db", "--wave", "2", "w2.csv"]);
    assert!(out.contains("added 1 household, 1 person") && out.contains("definition version 2"), "{out}");
    assert_eq!(count(&db, "SELECT count(*) FROM u_person WHERE _version = 2 AND sleep_hours = 7.5"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM u_person WHERE _version = 1"), 6);
    assert_eq!(count(&db, "SELECT count(*) FROM definitions"), 2);
    // the new question's range is checked
    std::fs::write(p.join("w2bad.csv"), format!("{header}\nN2,1,2,,Al,0123,1,40,1,no,,2020-01-01,,,,30\n")).unwrap();
    let err = fails(p, &["import", "s.db", "--wave", "2", "w2bad.csv"], 1);
    assert!(
        err.contains("w2bad.csv:2:16: record household_id=N2/person_id=1: question 'sleep_hours': value '30'"),
        "{err}"
    );
    // a file written before version 2 lacks its columns: refused with a hint, then taken with
    // --allow-missing-columns (the new questions unanswered)
    let old_header = "household_id,area,rooms,notes,contact_name,person_id,age,sex,smoker,cigarettes,visit_date,height,activities,comment";
    std::fs::write(p.join("old.csv"), format!("{old_header}\nN3,1,2,,Al,1,40,1,no,,2020-01-01,,,\n")).unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = fails(p, &["import", "s.db", "--wave", "2", "old.csv"], 1);
    assert!(err.contains("sleep_hours") && err.contains("--allow-missing-columns"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "a refused file changes nothing");
    let out = ok(p, &["import", "s.db", "--wave", "2", "--allow-missing-columns", "old.csv"]);
    assert!(out.contains("added 1 household, 1 person"), "{out}");
    assert_eq!(count(&db, "SELECT count(*) FROM u_person WHERE _version = 2 AND sleep_hours IS NULL"), 1);
    // a Parquet file is named as such, not read as a broken CSV
    ok(p, &["export", "s.db", "--format", "parquet", "--out", "all.parquet"]);
    std::fs::copy(p.join("all.parquet"), p.join("all.csv")).unwrap();
    for f in ["all.parquet", "all.csv"] {
        let err = fails(p, &["import", "s.db", "--wave", "3", f], 1);
        assert!(err.contains("a Parquet file: import reads CSV or JSON Lines"), "{err}");
    }
    // the same version again, or an older one, is refused
    let err = fails(p, &["definition", "add", "s.db", "v2.yaml"], 1);
    assert!(err.contains("version 2 is not newer than the store's latest version 2"), "{err}");
    // a change to text is allowed
    let v3 = tiny_version(3, |t| {
        t.replace(
            "      - id: rooms\n        type: integer\n        min: 1\n        max: 20\n",
            "      - id: rooms\n        type: text\n",
        )
    });
    std::fs::write(p.join("v3.yaml"), v3).unwrap();
    ok(p, &["definition", "add", "s.db", "v3.yaml"]);
    assert_eq!(count(&db, "SELECT count(*) FROM u_person"), 8, "no data lost");
    assert_eq!(integrity(&db), "ok");
}

#[test]
fn a_type_change_is_refused_clearly_and_changes_nothing() {
    let d = tempdir();
    let p = d.path();
    let tiny = fixture("import/tiny.yaml");
    ok(p, &["init", "s.db", "--definition", tiny.to_str().unwrap()]);
    std::fs::copy(fixture("import/good.csv"), p.join("good.csv")).unwrap();
    ok(p, &["import", "s.db", "--wave", "1", "good.csv"]);
    let db = p.join("s.db");
    let cases: &[(&str, &str, &str)] = &[
        // integer -> decimal
        (
            "      - id: age\n        type: integer\n",
            "      - id: age\n        type: decimal\n",
            "question 'age' changes type (stored as INTEGER, now REAL)",
        ),
        // text -> integer
        (
            "      - id: comment\n        type: text\n",
            "      - id: comment\n        type: integer\n",
            "question 'comment' changes type (stored as TEXT, now INTEGER)",
        ),
        // an identifier that stops being one
        ("        identifier: true\n", "", "question 'contact_name' changes whether it is an identifier"),
    ];
    for (i, (from, to, expected)) in cases.iter().enumerate() {
        let text = tiny_version(2, |t| {
            assert!(t.contains(from), "{from}");
            t.replace(from, to)
        });
        let f = format!("bad{i}.yaml");
        std::fs::write(p.join(&f), text).unwrap();
        let before = std::fs::read(&db).unwrap();
        let err = fails(p, &["definition", "add", "s.db", &f], 1);
        assert!(err.contains("definition version 2 cannot be added") && err.contains(expected), "{err}");
        assert!(std::fs::read(&db).unwrap() == before, "{f}: the store changed");
        assert_eq!(count(&db, "SELECT count(*) FROM definitions"), 1);
    }
    // another survey's definition is refused too
    let other = tiny_version(2, |t| t.replace("survey: tiny", "survey: other"));
    std::fs::write(p.join("other.yaml"), other).unwrap();
    let err = fails(p, &["definition", "add", "s.db", "other.yaml"], 1);
    assert!(err.contains("survey id 'other' differs from the store's 'tiny'"), "{err}");
    assert_eq!(integrity(&db), "ok");
    // init never overwrites a store
    let err = fails(p, &["init", "s.db", "--definition", tiny.to_str().unwrap()], 2);
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(count(&db, "SELECT count(*) FROM u_person"), 6);
}

/// A store holding one simulated wave of the shipped survey, opened, with its definition.
fn simulated_store(p: &Path, households: u32, seed: u32) -> (hearth::store::Store, hearth::schema::Definition) {
    let def = survey_definition();
    let (h, s) = (households.to_string(), seed.to_string());
    ok(p, &["simulate", def.to_str().unwrap(), "--households", &h, "--seed", &s, "--out", "sim.csv"]);
    ok(p, &["init", "s.db", "--definition", def.to_str().unwrap()]);
    ok(p, &["import", "s.db", "--wave", "1", "sim.csv"]);
    let store = hearth::store::Store::open(&p.join("s.db")).unwrap();
    let defn = store.definition(None).unwrap();
    (store, defn)
}

/// A record's UUID, its first asked column as text and its second as a whole number (each may
/// be missing; any other type is a failure).
fn uuid_text_int(r: &hearth::store::Record<'_>) -> Result<(String, Option<String>, Option<i64>), hearth::store::ReadError> {
    use hearth::store::CellRef;
    let text = match r.get(0)? {
        CellRef::Text(s) => Some(s.to_string()),
        CellRef::Null => None,
        other => panic!("{other:?} is not text"),
    };
    let int = match r.get(1)? {
        CellRef::Int(v) => Some(v),
        CellRef::Null => None,
        other => panic!("{other:?} is not a whole number"),
    };
    Ok((r.uuid()?.to_string(), text, int))
}

#[test]
fn a_scan_in_parts_reads_every_record_once_in_order() {
    let d = tempdir();
    let (store, defn) = simulated_store(d.path(), 600, 7);
    let cols = vec![("household".to_string(), "lsoa_code".to_string()), ("person".to_string(), "age".to_string())];
    let mut whole: Vec<(String, Option<String>, Option<i64>)> = Vec::new();
    store
        .scan(&defn, "person", &cols, None, |r| {
            whole.push(uuid_text_int(r)?);
            Ok(())
        })
        .unwrap();
    assert!(whole.len() > 900, "{} persons", whole.len());
    // parts from the first row on: several parts, put end to end, give the one-pass rows
    let parts = store
        .scan_parts_from(
            &defn,
            "person",
            &cols,
            None,
            0,
            Vec::with_capacity,
            |v: &mut Vec<(String, Option<String>, Option<i64>)>, r| {
                v.push(uuid_text_int(r)?);
                Ok(())
            },
        )
        .unwrap();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4);
    // four parts per reading thread, taken in turn
    assert_eq!(parts.len(), if threads < 2 { 1 } else { 4 * threads });
    let joined: Vec<_> = parts.into_iter().flatten().collect();
    assert_eq!(joined, whole);
    // and with a wave filter
    let waved = store
        .scan_parts_from(
            &defn,
            "person",
            &cols,
            Some(1),
            0,
            |_| 0usize,
            |n: &mut usize, _| {
                *n += 1;
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(waved.iter().sum::<usize>(), whole.len());
}

#[test]
fn record_uuids_are_version_7_and_strictly_increasing() {
    let mut g = hearth::store::UuidV7::new();
    let mut last = String::new();
    for _ in 0..20_000 {
        let mut buf = [0u8; 36];
        let u = g.next(&mut buf).to_string();
        let parsed = uuid::Uuid::parse_str(&u).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 7, "{u}");
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{u}");
        assert!(u > last, "{u} after {last}");
        last = u;
    }
}

#[test]
fn content_hashes_see_order_type_and_value() {
    use hearth::capture::import::content_hash;
    use hearth::store::Cell;
    let a = [Cell::Int(1), Cell::Int(2), Cell::Text("x".into())];
    let base = content_hash(&a);
    assert_eq!(base, content_hash(&a.clone()));
    for other in [
        vec![Cell::Int(2), Cell::Int(1), Cell::Text("x".into())],
        vec![Cell::Int(1), Cell::Real(2.0), Cell::Text("x".into())],
        vec![Cell::Int(1), Cell::Int(2), Cell::Text("y".into())],
        vec![Cell::Int(1), Cell::Int(2), Cell::Null],
        vec![Cell::Int(1), Cell::Int(2), Cell::Text("x".into()), Cell::Null],
        vec![Cell::Int(1), Cell::Int(2), Cell::Text("x\0".into())],
    ] {
        assert_ne!(content_hash(&other), base, "{other:?}");
    }
}

#[test]
fn a_scan_in_chunks_hands_over_every_record_once_in_order() {
    let d = tempdir();
    let (store, defn) = simulated_store(d.path(), 300, 3);
    let cols = vec![
        ("household".to_string(), "household_id".to_string()),
        ("person".to_string(), "person_id".to_string()),
    ];
    let mut whole: Vec<(String, Option<String>, Option<i64>)> = Vec::new();
    store
        .scan(&defn, "person", &cols, Some(1), |r| {
            whole.push(uuid_text_int(r)?);
            Ok(())
        })
        .unwrap();
    for chunk in [7, 100, 100_000] {
        let mut got: Vec<(String, Option<String>, Option<i64>)> = Vec::new();
        let mut chunks = 0;
        let consistent = store
            .scan_chunks(
                &defn,
                "person",
                &cols,
                Some(1),
                chunk,
                Vec::new,
                |v: &mut Vec<(String, Option<String>, Option<i64>)>, r| {
                    v.push(uuid_text_int(r)?);
                    Ok(())
                },
                |v| {
                    chunks += 1;
                    got.extend(v);
                    true
                },
            )
            .unwrap();
        assert!(consistent);
        assert_eq!(got, whole, "chunks of {chunk}");
        assert!(chunks >= whole.len() as i64 / chunk, "{chunks} chunks of {chunk}");
    }
    // a sink that stops early stops the readers
    let mut taken = 0;
    store
        .scan_chunks(
            &defn,
            "person",
            &cols,
            None,
            10,
            || 0usize,
            |n: &mut usize, _| {
                *n += 1;
                Ok(())
            },
            |_| {
                taken += 1;
                taken < 3
            },
        )
        .unwrap();
    assert_eq!(taken, 3);
}

/// The content hashes of a set of records, as this code computes them and stores them. The
/// stored format is frozen: a changed hash would turn every re-import of existing data into a
/// conflict, so any change here must be a deliberate format change.
#[test]
fn content_hashes_are_pinned() {
    use hearth::capture::import::content_hash;
    use hearth::store::Cell;
    let cases: Vec<(Vec<Cell>, u64)> = vec![
        (vec![], 0xdc7e_f3b1_567c_a2af),
        (vec![Cell::Null], 0x0199_bc50_d91e_ba7c),
        (vec![Cell::Int(0)], 0x84b3_d46d_062d_eab3),
        (vec![Cell::Int(-1), Cell::Int(i64::MAX)], 0x4f8e_5345_316d_5b64),
        (vec![Cell::Real(2.5), Cell::Real(-0.0), Cell::Real(f64::NAN)], 0x044f_dfed_d521_982b),
        (vec![Cell::Text(String::new())], 0xd982_9104_5d24_8406),
        (vec![Cell::Text("smoker".into())], 0x4ff3_2d2d_2187_750e),
        (vec![Cell::Text("exactly8".into()), Cell::Text("nine char".into())], 0x0445_f325_8988_e780),
        (
            vec![Cell::Text("Zoë, 2020-01-01".into()), Cell::Null, Cell::Int(3), Cell::Real(1.75)],
            0xf02d_02cc_eafa_2684,
        ),
    ];
    let got: Vec<u64> = cases.iter().map(|(c, _)| content_hash(c)).collect();
    let want: Vec<u64> = cases.iter().map(|(_, h)| *h).collect();
    assert_eq!(
        got.iter().map(|h| format!("{h:#018x}")).collect::<Vec<_>>(),
        want.iter().map(|h| format!("{h:#018x}")).collect::<Vec<_>>()
    );
}

/// The `_hash` the store keeps for each imported record of the tiny fixture.
#[test]
fn stored_record_hashes_are_pinned() {
    let d = tempdir();
    let p = d.path();
    let tiny = fixture("import/tiny.yaml");
    ok(p, &["init", "s.db", "--definition", tiny.to_str().unwrap()]);
    std::fs::copy(fixture("import/good.csv"), p.join("good.csv")).unwrap();
    ok(p, &["import", "s.db", "--wave", "1", "good.csv"]);
    let c = open_ro(&p.join("s.db"));
    let hashes = |sql: &str| -> Vec<String> { c.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect() };
    let households = hashes("SELECT household_id || ' ' || _hash FROM u_household ORDER BY _rowid");
    let persons = hashes("SELECT person_id || ' ' || _hash FROM u_person ORDER BY _rowid");
    assert_eq!(households, ["H1 de2a1d65482e6b3a", "H2 b4424f066d9c7f5b", "H3 3e9f74f05fd2bc0e"]);
    assert_eq!(
        persons,
        [
            "1 38cdf369cb8b3e57",
            "2 dc542ff70d66763a",
            "1 b10a43eefbe7de25",
            "1 d8ee3fef64e1addf",
            "2 87d7990e1cecedbc",
            "3 6e5f004bd6ee781b"
        ]
    );
}
