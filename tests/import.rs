//! Import reliability: good inputs land exactly, bad inputs exit 1 with the problem located
//! (file, line, column, record, question, value) and leave the store byte-for-byte unchanged,
//! `--skip-invalid`, re-imports, conflicts, values never spliced into SQL, and round trips
//! through `hearth export`. Inputs are in `fixtures/import/` (a tiny household + person survey).

use std::path::{Path, PathBuf};

use polars::prelude::{AnyValue, ParquetReader, SerReader};
use rusqlite::{Connection, OpenFlags};

use crate::common::*;

/// The tiny two-unit definition.
fn tiny() -> PathBuf {
    fixture("import/tiny.yaml")
}

/// Copies `fixtures/import/NAME` into `dir` (so messages name it by its bare name).
fn copy_in(dir: &Path, name: &str) {
    std::fs::copy(fixture(&format!("import/{name}")), dir.join(name)).expect("copy fixture");
}

/// Creates `db` in `dir` with the tiny definition and imports `good.csv` into wave 1.
fn store_with_good(dir: &Path, db: &str) {
    let def = tiny();
    ok(dir, &["init", db, "--definition", def.to_str().unwrap()]);
    copy_in(dir, "good.csv");
    let out = ok(dir, &["import", db, "--wave", "1", "good.csv"]);
    assert!(out.contains("added 3 household, 6 person"), "{out}");
}

fn open_ro(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open store")
}

fn count(db: &Path, table: &str) -> i64 {
    open_ro(db).query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| r.get(0)).unwrap()
}

fn integrity(db: &Path) -> String {
    open_ro(db).query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// One text value of a person, by household and person key.
fn person_text(db: &Path, hh: &str, person: i64, col: &str) -> Option<String> {
    open_ro(db)
        .query_row(
            &format!(
                "SELECT CAST(p.\"{col}\" AS TEXT) FROM u_person p JOIN u_household h ON h._rowid = p._parent WHERE h.household_id = ?1 AND p.person_id = ?2"
            ),
            rusqlite::params![hh, person],
            |r| r.get(0),
        )
        .unwrap()
}

/// Every data column of a unit table with the record's wave, version and UUID, as text,
/// ordered by wave and key.
fn table_dump(db: &Path, unit: &str) -> Vec<Vec<Option<String>>> {
    dump(db, unit, true)
}

/// As [`table_dump`], without the UUIDs (a wide export carries only the person's).
fn table_dump_no_uuid(db: &Path, unit: &str) -> Vec<Vec<Option<String>>> {
    dump(db, unit, false)
}

fn dump(db: &Path, unit: &str, uuid: bool) -> Vec<Vec<Option<String>>> {
    let c = open_ro(db);
    let cols: Vec<String> = {
        let mut st = c.prepare(&format!("PRAGMA table_info(\"u_{unit}\")")).unwrap();
        st.query_map([], |r| r.get::<_, String>(1))
            .unwrap()
            .map(Result::unwrap)
            .filter(|n| !n.starts_with('_') || (uuid && n == "_uuid") || n == "_wave" || n == "_version")
            .collect()
    };
    let sel: Vec<String> = cols.iter().map(|n| format!("CAST(t.\"{n}\" AS TEXT)")).collect();
    let (from, order) = if unit == "person" {
        ("u_person t JOIN u_household h ON h._rowid = t._parent", "h.household_id, t.person_id")
    } else {
        ("u_household t", "t.household_id")
    };
    let sql = format!(
        "SELECT {}{} FROM {from} ORDER BY t._wave, {order}",
        sel.join(", "),
        if unit == "person" { ", h.household_id" } else { "" }
    );
    let mut st = c.prepare(&sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| (0..n).map(|i| r.get::<_, Option<String>>(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The state a failed import must not touch.
struct Snapshot {
    bytes: Vec<u8>,
    households: i64,
    persons: i64,
    imports: i64,
    audit: i64,
}

fn snapshot(db: &Path) -> Snapshot {
    // the bytes first: opening the file with SQLite afterwards must not be what we compare
    let bytes = std::fs::read(db).unwrap();
    Snapshot {
        bytes,
        households: count(db, "u_household"),
        persons: count(db, "u_person"),
        imports: count(db, "imports"),
        audit: count(db, "audit"),
    }
}

fn assert_unchanged(db: &Path, before: &Snapshot, what: &str) {
    let after = std::fs::read(db).unwrap();
    assert!(
        after == before.bytes,
        "{what}: the store file changed ({} -> {} bytes)",
        before.bytes.len(),
        after.len()
    );
    assert_eq!(count(db, "u_household"), before.households, "{what}");
    assert_eq!(count(db, "u_person"), before.persons, "{what}");
    assert_eq!(count(db, "imports"), before.imports, "{what}: an import was recorded");
    assert_eq!(count(db, "audit"), before.audit, "{what}: the audit log grew");
    assert_eq!(integrity(db), "ok", "{what}");
}

#[test]
fn good_csv_lands_with_every_answer_type() {
    let d = tempdir();
    let p = d.path();
    store_with_good(p, "s.db");
    let db = p.join("s.db");
    assert_eq!(count(&db, "u_household"), 3);
    assert_eq!(count(&db, "u_person"), 6);
    let c = open_ro(&db);
    let row: (i64, i64, Option<i64>, String, f64, String, i64) = c
        .query_row(
            "SELECT p.age, p.smoker, p.cigarettes, p.visit_date, p.height, p.activities, p._version FROM u_person p JOIN u_household h ON h._rowid = p._parent WHERE h.household_id = 'H3' AND p.person_id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .unwrap();
    // TRUE is a boolean, select_multiple is stored in choice-list order, the version recorded
    assert_eq!(row, (30, 1, Some(0), "2018-06-02".into(), 1.75, "walk swim cycle".into(), 1));
    assert_eq!(person_text(&db, "H3", 1, "comment").as_deref(), Some("said \"hello\""));
    assert_eq!(person_text(&db, "H1", 1, "comment"), None, "an empty cell is no answer");
    assert_eq!(person_text(&db, "H1", 2, "cigarettes"), None);
    // identifiers are kept apart from the answers
    let name: String = c
        .query_row(
            "SELECT i.contact_name FROM ident_household i JOIN u_household h ON h._rowid = i._rowid WHERE h.household_id = 'H1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "Ann Smith");
    let cols: Vec<String> = c
        .prepare("PRAGMA table_info(u_household)")
        .unwrap()
        .query_map([], |r| r.get(1))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!cols.contains(&"contact_name".to_string()), "{cols:?}");
    // every record has its own UUID, wave and who captured it
    let (uuids, bys): (i64, String) = c
        .query_row("SELECT count(DISTINCT _uuid), max(_captured_by) FROM u_person WHERE _wave = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((uuids, bys.as_str()), (6, "test"));
    assert_eq!(integrity(&db), "ok");
}

#[test]
fn bom_crlf_and_quoted_newlines_are_good_input() {
    let d = tempdir();
    let p = d.path();
    store_with_good(p, "s.db");
    let db = p.join("s.db");
    copy_in(p, "good_bom_crlf.csv");
    let raw = std::fs::read(p.join("good_bom_crlf.csv")).unwrap();
    assert!(
        raw.starts_with(b"\xef\xbb\xbfhousehold_id,") && raw.windows(2).any(|w| w == b"\r\n"),
        "the fixture keeps its BOM and CRLF"
    );
    let out = ok(p, &["import", "s.db", "--wave", "1", "good_bom_crlf.csv"]);
    assert!(out.contains("added 1 household, 2 person"), "{out}");
    // the BOM did not end up in the first column's name, the quoted newlines are kept verbatim
    let c = open_ro(&db);
    let notes: String = c
        .query_row("SELECT notes FROM u_household WHERE household_id = 'H7'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(notes, "first line\r\nsecond line");
    assert_eq!(person_text(&db, "H7", 2, "comment").as_deref(), Some("multi\nline\ncomment"));
    assert_eq!(person_text(&db, "H7", 1, "comment").as_deref(), Some("a comment, with a comma"));
    // a text answer with a newline round-trips through export and import, CSV and JSON Lines
    for fmt in ["csv", "jsonl"] {
        let out = format!("e.{fmt}");
        ok(p, &["export", "s.db", "--format", fmt, "--out", &out, "--include-identifiers"]);
        let fresh = format!("r_{fmt}.db");
        ok(p, &["init", &fresh, "--definition", tiny().to_str().unwrap()]);
        ok(p, &["import", &fresh, "--wave", "1", &out]);
        assert_eq!(
            person_text(&p.join(&fresh), "H7", 2, "comment").as_deref(),
            Some("multi\nline\ncomment"),
            "{fmt}"
        );
        assert_eq!(table_dump(&p.join(&fresh), "person"), table_dump(&db, "person"), "{fmt}");
    }
}

#[test]
fn json_lines_import() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    copy_in(p, "good.jsonl");
    let out = ok(p, &["import", "s.db", "--wave", "2", "good.jsonl"]);
    assert!(out.contains("added 2 household, 3 person"), "{out}");
    let db = p.join("s.db");
    let c = open_ro(&db);
    let notes: String = c
        .query_row("SELECT notes FROM u_household WHERE household_id = 'J1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(notes, "line one\nline two");
    assert_eq!(
        person_text(&db, "J1", 1, "activities").as_deref(),
        Some("walk swim"),
        "a JSON array is a select_multiple answer"
    );
    assert_eq!(person_text(&db, "J1", 1, "comment").as_deref(), Some("tab\there"));
    assert_eq!(person_text(&db, "J2", 1, "activities").as_deref(), Some("cycle"));
    // keys absent from a line are no answer
    assert_eq!(person_text(&db, "J2", 1, "visit_date"), None);
    let out = ok(p, &["import", "s.db", "--wave", "2", "good.jsonl"]);
    assert!(out.contains("added 0 household, 0 person; 5 already present"), "{out}");
}

/// Each bad input, with what stderr must say. The store must stay byte-for-byte the same.
const BAD: &[(&str, &[&str])] = &[
    ("bad_type.csv", &["bad_type.csv:3:7: record household_id=H9/person_id=2: question 'age': value 'forty': 'forty' is not a whole number"]),
    ("bad_range.csv", &["bad_range.csv:3:7: record household_id=H9/person_id=2: question 'age': value '200': 200 is above the maximum 110"]),
    ("bad_choice.csv", &["bad_choice.csv:3:8: record household_id=H9/person_id=2: question 'sex': value '7': '7' is not a choice (choices: 1, 2)"]),
    ("bad_multi.csv", &["bad_multi.csv:2:13: record household_id=H9/person_id=1: question 'activities': value 'walk run': 'run' is not a choice"]),
    ("bad_date.csv", &["bad_date.csv:3:11: record household_id=H9/person_id=2: question 'visit_date': value '31/05/2018'", "not a date"]),
    ("bad_required.csv", &["bad_required.csv:3:7: record household_id=H9/person_id=2: question 'age': no answer to a required question"]),
    ("bad_skipped.csv", &["bad_skipped.csv:3:10: record household_id=H9/person_id=2: question 'cigarettes': value '12': answer to a question that was skipped (relevant: smoker)"]),
    ("bad_unknown_column.csv", &["bad_unknown_column.csv:1:", "unknown column(s): 'agee' (column 7) (did you mean 'age'?), 'colour' (column 15)", "missing column(s) for unit 'person': age"]),
    ("bad_missing_column.csv", &["bad_missing_column.csv:1: missing column(s) for unit 'person': sex, activities"]),
    ("bad_duplicate.csv", &["bad_duplicate.csv:3:6: record household_id=H9/person_id=1: question 'person_id': value '1': duplicate key: person_id 1 is also on bad_duplicate.csv:2 (a record appears once in an import)"]),
    ("bad_disagree.csv", &["bad_disagree.csv:3:2: record household_id=H9: question 'area': value '2': household columns differ from line 2", "'area' is '1' there"]),
    ("bad_conflict.csv", &["bad_conflict.csv:2:7: record household_id=H1/person_id=1: question 'age': value '45': conflict: person_id 1 is already in wave 1", "'age' is '44' there", "nothing was overwritten"]),
    ("empty.csv", &["empty.csv:1: the file is empty"]),
    ("header_only.csv", &["header_only.csv:1: no data rows"]),
    ("latin1.csv", &["latin1.csv:3:14: question 'comment': value 'caf", "not UTF-8", "Latin-1"]),
    ("truncated.csv", &["truncated.csv:3: row has 11 field(s) but the header has 14"]),
    ("truncated_quote.csv", &["truncated_quote.csv:3:14: the file ends inside a quoted field"]),
    ("bad_truncated.jsonl", &["bad_truncated.jsonl:2:58: not valid JSON: EOF while parsing an object"]),
    ("bad_type.jsonl", &["bad_type.jsonl:2:51: record household_id=J1/person_id=2: question 'age': value 'old'", "bad_type.jsonl:3:72: unknown key 'sexx' (did you mean 'sex'?)"]),
];

#[test]
fn bad_input_exits_1_names_the_problem_and_leaves_the_store_unchanged() {
    let d = tempdir();
    let p = d.path();
    store_with_good(p, "s.db");
    let db = p.join("s.db");
    let before = snapshot(&db);
    let mut failures = Vec::new();
    for (file, expected) in BAD {
        copy_in(p, file);
        let out = hearth(p, &["import", "s.db", "--wave", "1", file]);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            failures.push(format!("{file}: exit {:?}, expected 1\n{err}", out.status.code()));
        }
        if !err.contains("nothing was imported") {
            failures.push(format!("{file}: stderr does not say nothing was imported:\n{err}"));
        }
        for e in *expected {
            if !err.contains(e) {
                failures.push(format!("{file}: stderr lacks {e:?}:\n{err}"));
            }
        }
        assert_unchanged(&db, &before, file);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // the conflicting answer was not written over the stored one
    assert_eq!(person_text(&db, "H1", 1, "age").as_deref(), Some("44"));
}

#[test]
fn bad_rows_among_many_are_all_reported_and_nothing_lands() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    let db = p.join("s.db");
    copy_in(p, "skip_mixed.csv");
    let before = snapshot(&db);
    let err = fails(p, &["import", "s.db", "--wave", "1", "skip_mixed.csv"], 1);
    assert_unchanged(&db, &before, "skip_mixed.csv");
    // one pass reports every bad row, each located
    assert!(
        err.contains("skip_mixed.csv:3:7: record household_id=K1/person_id=2: question 'age': value 'abc'"),
        "{err}"
    );
    assert!(err.contains("skip_mixed.csv:5:2: record household_id=K3: question 'area': value '9'"), "{err}");
    assert!(
        err.contains("skip_mixed.csv:7:8: record household_id=K4/person_id=1: question 'sex': value '3'"),
        "{err}"
    );
    assert!(
        !err.contains("skip_mixed.csv:2:") && !err.contains("skip_mixed.csv:4:") && !err.contains("skip_mixed.csv:6:"),
        "{err}"
    );
}

#[test]
fn skip_invalid_imports_the_valid_rows_and_writes_rejects() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    let db = p.join("s.db");
    copy_in(p, "skip_mixed.csv");
    let out = hearth(p, &["import", "s.db", "--wave", "1", "--skip-invalid", "skip_mixed.csv"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // K1 person 1, K2 persons 1 and 2; K1 person 2, K3 and K4 are rejected
    assert!(stdout.contains("added 2 household, 3 person"), "{stdout}");
    assert!(
        stderr.contains("3 row(s) rejected") && stderr.contains("skip_mixed.csv.rejects.csv"),
        "{stderr}"
    );
    assert_eq!(count(&db, "u_household"), 2);
    assert_eq!(count(&db, "u_person"), 3);
    // a rejected row lands nothing: not the household of K4, whose only person row was bad
    let k4: i64 = open_ro(&db)
        .query_row("SELECT count(*) FROM u_household WHERE household_id IN ('K3', 'K4')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(k4, 0);
    let mut r = csv::Reader::from_path(p.join("skip_mixed.csv.rejects.csv")).unwrap();
    assert_eq!(r.headers().unwrap().iter().take(3).collect::<Vec<_>>(), ["file", "line", "reason"]);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let lines: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(lines, ["3", "5", "7"]);
    assert!(rows[0][2].contains("question 'age': value 'abc'"), "{:?}", rows[0]);
    assert!(rows[1][2].contains("question 'area': value '9'"), "{:?}", rows[1]);
    assert!(rows[2][2].contains("question 'sex': value '3'"), "{:?}", rows[2]);
    // the rejected row is kept whole, so it can be corrected and imported again
    assert_eq!(&rows[0][3], "K1");
    assert_eq!(&rows[0][rows[0].len() - 1], "bad age");
    // an explicit rejects path
    ok(p, &["import", "s.db", "--wave", "1", "--skip-invalid", "--rejects", "r.csv", "skip_mixed.csv"]);
    assert_eq!(csv::Reader::from_path(p.join("r.csv")).unwrap().records().count(), 3);
    assert_eq!(count(&db, "u_person"), 3, "a second run adds nothing");
    assert_eq!(integrity(&db), "ok");
}

#[test]
fn reimport_is_a_reported_no_op() {
    let d = tempdir();
    let p = d.path();
    store_with_good(p, "s.db");
    let db = p.join("s.db");
    let before = table_dump(&db, "person");
    let uuids: Vec<String> = open_ro(&db)
        .prepare("SELECT _uuid FROM u_person ORDER BY _rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let out = ok(p, &["import", "s.db", "--wave", "1", "good.csv"]);
    assert!(
        out.contains("6 rows read; added 0 household, 0 person; 9 already present and unchanged"),
        "{out}"
    );
    assert_eq!(table_dump(&db, "person"), before);
    let after: Vec<String> = open_ro(&db)
        .prepare("SELECT _uuid FROM u_person ORDER BY _rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(after, uuids, "records keep their UUIDs");
    // the same file into another wave is new data
    let out = ok(p, &["import", "s.db", "--wave", "2", "good.csv"]);
    assert!(out.contains("added 3 household, 6 person"), "{out}");
    assert_eq!(count(&db, "u_person"), 12);
}

#[test]
fn values_are_bound_never_spliced_into_sql() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    let db = p.join("s.db");
    copy_in(p, "injection.csv");
    let out = ok(p, &["import", "s.db", "--wave", "1", "injection.csv"]);
    assert!(out.contains("added 2 household, 3 person"), "{out}");
    let hh = "Q'); DROP TABLE u_household; --";
    assert_eq!(
        person_text(&db, hh, 1, "comment").as_deref(),
        Some("Robert'); DELETE FROM u_person WHERE ('1'='1")
    );
    assert_eq!(person_text(&db, hh, 2, "comment").as_deref(), Some("x' OR '1'='1"));
    assert_eq!(
        person_text(&db, "Q2\" OR 1=1 --", 1, "comment").as_deref(),
        Some("; PRAGMA writable_schema=1; --")
    );
    let c = open_ro(&db);
    let notes: Vec<String> = c
        .prepare("SELECT notes FROM u_household ORDER BY _rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(notes, ["'); DROP TABLE u_person; --", "?1 ?2 :name @p $v"]);
    let ident: String = c
        .query_row("SELECT contact_name FROM ident_household WHERE contact_name IS NOT NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ident, "\"; DROP TABLE u_household; --");
    let tables: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('u_person', 'u_household', 'ident_household')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 3);
    drop(c);
    // keys made of SQL are matched as values: the re-import is a no-op, and export carries them
    let out = ok(p, &["import", "s.db", "--wave", "1", "injection.csv"]);
    assert!(out.contains("added 0 household, 0 person; 5 already present"), "{out}");
    ok(p, &["export", "s.db", "--format", "csv", "--out", "e.csv", "--include-identifiers"]);
    ok(p, &["init", "r.db", "--definition", tiny().to_str().unwrap()]);
    ok(p, &["import", "r.db", "--wave", "1", "e.csv"]);
    assert_eq!(table_dump_no_uuid(&p.join("r.db"), "household"), table_dump_no_uuid(&db, "household"));
    assert_eq!(table_dump(&p.join("r.db"), "person"), table_dump(&db, "person"));
    assert_eq!(integrity(&db), "ok");
}

#[test]
fn export_then_import_gives_the_same_data() {
    let d = tempdir();
    let p = d.path();
    store_with_good(p, "s.db");
    copy_in(p, "good.jsonl");
    ok(p, &["import", "s.db", "--wave", "2", "good.jsonl"]);
    let db = p.join("s.db");
    let (hh, pp) = (table_dump(&db, "household"), table_dump(&db, "person"));
    assert_eq!((hh.len(), pp.len()), (5, 9));
    let def = tiny();
    let def = def.to_str().unwrap();
    for fmt in ["csv", "jsonl"] {
        // wide: one row per person, the household repeated; one import per wave
        let fresh = format!("wide_{fmt}.db");
        ok(p, &["init", &fresh, "--definition", def]);
        for wave in ["1", "2"] {
            let out = format!("w{wave}.{fmt}");
            ok(p, &["export", "s.db", "--format", fmt, "--out", &out, "--wave", wave, "--include-identifiers"]);
            ok(p, &["import", &fresh, "--wave", wave, &out]);
        }
        let f = p.join(&fresh);
        assert_eq!(table_dump_no_uuid(&f, "household"), table_dump_no_uuid(&db, "household"), "{fmt} households");
        assert_eq!(table_dump(&f, "person"), pp, "{fmt} persons (person UUIDs kept)");
        assert_eq!(integrity(&f), "ok");
    }
    // long: household.csv and person.csv in a directory
    let fresh = p.join("long.db");
    ok(p, &["init", "long.db", "--definition", def]);
    for wave in ["1", "2"] {
        let dir = format!("long{wave}");
        ok(
            p,
            &[
                "export",
                "s.db",
                "--format",
                "csv",
                "--long",
                "--out",
                &dir,
                "--wave",
                wave,
                "--include-identifiers",
            ],
        );
        let (h, q) = (format!("{dir}/household.csv"), format!("{dir}/person.csv"));
        // the person file first: the import orders the files itself
        ok(p, &["import", "long.db", "--wave", wave, &q, &h]);
    }
    assert_eq!(table_dump(&fresh, "household"), hh, "long households (UUIDs kept)");
    assert_eq!(table_dump(&fresh, "person"), pp, "long persons");
    // parquet is an export format only: it carries the same rows as the CSV export
    ok(p, &["export", "s.db", "--format", "parquet", "--out", "all.parquet"]);
    ok(p, &["export", "s.db", "--format", "csv", "--out", "all.csv"]);
    let df = ParquetReader::new(std::fs::File::open(p.join("all.parquet")).unwrap()).finish().unwrap();
    let mut r = csv::Reader::from_path(p.join("all.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(df.height(), rows.len());
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(names, header);
    let uuid_col = header.iter().position(|h| h == "person_uuid").unwrap();
    let uuids = df.column("person_uuid").unwrap().str().unwrap().clone();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(uuids.get(i), Some(&row[uuid_col]), "row {i}");
    }
    // and every value: numbers as numbers, booleans, text, missing as empty
    for (j, name) in header.iter().enumerate() {
        let col = df.column(name).unwrap().as_materialized_series().clone();
        for (i, row) in rows.iter().enumerate() {
            let csv = &row[j];
            let v = col.get(i).unwrap();
            let same = match v {
                AnyValue::Null => csv.is_empty(),
                AnyValue::Boolean(b) => csv == if b { "1" } else { "0" },
                AnyValue::Int64(x) => csv.parse::<f64>().ok() == Some(x as f64),
                AnyValue::Float64(x) => csv.parse::<f64>().ok() == Some(x),
                AnyValue::String(s) => csv == s,
                AnyValue::StringOwned(ref s) => csv == s.as_str(),
                ref other => panic!("column {name}: unexpected {other:?}"),
            };
            assert!(same, "column {name}, row {i}: parquet {v:?}, csv {csv:?}");
        }
    }
}

#[test]
fn simulated_survey_round_trips_through_export() {
    let d = tempdir();
    let p = d.path();
    let def = survey_definition();
    let def = def.to_str().unwrap();
    ok(p, &["simulate", def, "--households", "150", "--seed", "11", "--out", "w1.csv"]);
    ok(p, &["init", "s.db", "--definition", def]);
    ok(p, &["import", "s.db", "--wave", "1", "w1.csv"]);
    ok(p, &["export", "s.db", "--format", "csv", "--out", "e.csv", "--include-identifiers"]);
    ok(p, &["init", "r.db", "--definition", def]);
    // the export carries derived scores and export-only columns, which the import ignores
    let out = ok(p, &["import", "r.db", "--wave", "1", "e.csv"]);
    assert!(out.contains("added 150 household"), "{out}");
    let (a, b) = (p.join("s.db"), p.join("r.db"));
    assert_eq!(table_dump_no_uuid(&b, "household"), table_dump_no_uuid(&a, "household"));
    assert_eq!(table_dump(&b, "person"), table_dump(&a, "person"));
}

/// The tiny survey's header, and a person row of household `hh` (answers valid unless `age`
/// is not a number; `comment` may hold line ends, quoted).
const HEADER: &str = "household_id,area,rooms,notes,contact_name,person_id,age,sex,smoker,cigarettes,visit_date,height,activities,comment";

fn person_row(hh: &str, person: u32, age: &str, comment: &str) -> String {
    format!("{hh},1,4,,,{person},{age},1,no,,2018-05-31,,,\"{comment}\"")
}

/// Runs an import that must fail: exit 1, the store unchanged; returns stderr.
fn import_fails(p: &Path, db: &str, files: &[&str]) -> String {
    let dbp = p.join(db);
    let before = snapshot(&dbp);
    let mut args = vec!["import", db, "--wave", "1"];
    args.extend_from_slice(files);
    let err = fails(p, &args, 1);
    assert_unchanged(&dbp, &before, &files.join(" "));
    err
}

/// The `FILE:LINE` of every problem line in stderr.
fn problem_lines(err: &str, file: &str) -> Vec<u64> {
    err.lines()
        .filter_map(|l| l.strip_prefix(&format!("{file}:")))
        .map(|rest| rest.split(':').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn r14_crlf_cr_and_lf_files_name_the_line_a_record_starts_on() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    for (name, end) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
        for final_end in [true, false] {
            // 1 header, 2 a bad row, 3-4 a quoted LF, 5-7 a bad row whose comment holds CRLF
            // and LF, 8 blank, 9 good, 10 a bad last row
            let lines = [
                HEADER.to_string(),
                person_row("H1", 1, "x", ""),
                person_row("H1", 2, "40", "a\nb"),
                person_row("H1", 3, "y", "c\r\nd\ne"),
                String::new(),
                person_row("H2", 1, "30", ""),
                person_row("H2", 2, "z", ""),
            ];
            let mut text = lines.join(end);
            if final_end {
                text.push_str(end);
            }
            let file = format!("{name}_{final_end}.csv");
            std::fs::write(p.join(&file), &text).unwrap();
            let err = import_fails(p, "s.db", &[&file]);
            assert_eq!(problem_lines(&err, &file), [2, 5, 10], "{file}:\n{err}");
            assert!(
                err.contains(&format!("{file}:5:7: record household_id=H1/person_id=3: question 'age': value 'y'")),
                "{err}"
            );
        }
    }
    // a header after blank lines, and a row that is too short, on CR-only lines
    std::fs::write(p.join("late.csv"), format!("\r\r{HEADER}\r{}\rH1,1\r", person_row("H1", 1, "x", ""))).unwrap();
    let err = import_fails(p, "s.db", &["late.csv"]);
    assert_eq!(problem_lines(&err, "late.csv"), [4, 5], "{err}");
    assert!(err.contains("late.csv:5: row has 2 field(s)"), "{err}");
    // and a header problem is named on the header's own line
    std::fs::write(p.join("late_header.csv"), "\r\n\r\nhousehold_id,agee\r\nH1,3\r\n").unwrap();
    let err = import_fails(p, "s.db", &["late_header.csv"]);
    assert!(err.contains("late_header.csv:3: unknown column(s): 'agee'"), "{err}");
}

#[test]
fn r14_json_lines_name_the_line_and_the_column_of_the_key() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    let row = |person: u32, age: &str| format!(r#"{{"household_id": "J1", "area": 2, "person_id": {person}, "age": {age}, "sex": 1}}"#);
    // `"age"` starts at character 51 of each line
    for (name, end) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
        for final_end in [true, false] {
            let lines = [row(1, "\"x\""), row(2, "40"), String::new(), row(3, "\"y\""), row(4, "50"), row(5, "\"z\"")];
            let mut text = lines.join(end);
            if final_end {
                text.push_str(end);
            }
            let file = format!("{name}_{final_end}.jsonl");
            std::fs::write(p.join(&file), &text).unwrap();
            let err = import_fails(p, "s.db", &[&file]);
            assert_eq!(problem_lines(&err, &file), [1, 4, 6], "{file}:\n{err}");
            assert!(
                err.contains(&format!("{file}:4:51: record household_id=J1/person_id=3: question 'age': value 'y'")),
                "{err}"
            );
        }
    }
    // a BOM is a character before the first key; a syntax error names its column
    std::fs::write(p.join("bom.jsonl"), format!("\u{feff}{}\n{{\"household_id\": tru}}\n", row(1, "\"x\""))).unwrap();
    let err = import_fails(p, "s.db", &["bom.jsonl"]);
    assert!(err.contains("bom.jsonl:1:52: record household_id=J1/person_id=1: question 'age'"), "{err}");
    assert!(err.contains("bom.jsonl:2:21: not valid JSON: expected ident"), "{err}");
}

#[test]
fn r14_key_twice_in_one_import_is_an_error_whatever_the_store_holds() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    let twice = [
        HEADER.to_string(),
        person_row("A", 1, "40", ""),
        person_row("A", 2, "41", ""),
        person_row("A", 1, "40", ""),
    ]
    .join("\n");
    std::fs::write(p.join("twice.csv"), &twice).unwrap();
    let expected = "twice.csv:4:6: record household_id=A/person_id=1: question 'person_id': value '1': duplicate key: person_id 1 is also on twice.csv:2 (a record appears once in an import)";
    let on_empty = import_fails(p, "s.db", &["twice.csv"]);
    assert!(on_empty.contains(expected), "{on_empty}");
    // the same answer once the store holds those persons (it used to be "already present")
    std::fs::write(
        p.join("once.csv"),
        [HEADER.to_string(), person_row("A", 1, "40", ""), person_row("A", 2, "41", "")].join("\n"),
    )
    .unwrap();
    ok(p, &["import", "s.db", "--wave", "1", "once.csv"]);
    let on_full = import_fails(p, "s.db", &["twice.csv"]);
    assert_eq!(on_full, on_empty);
    // a flat survey: the same
    let flat = "survey: flat\ntitle: Flat\nversion: 1\nunits:\n  - id: person\n    key: id\n    questions:\n      - {id: id, type: text, label: Id}\n      - {id: age, type: integer, label: Age}\n";
    std::fs::write(p.join("flat.yaml"), flat).unwrap();
    ok(p, &["init", "f.db", "--definition", "flat.yaml"]);
    std::fs::write(p.join("f.csv"), "id,age\r\nP1,3\r\nP2,4\r\nP1,3\r\n").unwrap();
    let want = "f.csv:4:1: record id=P1: question 'id': value 'P1': duplicate key: id P1 is also on f.csv:2";
    let flat_fails = || {
        let before = std::fs::read(p.join("f.db")).unwrap();
        let err = fails(p, &["import", "f.db", "--wave", "1", "f.csv"], 1);
        assert!(std::fs::read(p.join("f.db")).unwrap() == before, "the store changed");
        err
    };
    let empty = flat_fails();
    assert!(empty.contains(want), "{empty}");
    std::fs::write(p.join("f1.csv"), "id,age\nP1,3\n").unwrap();
    ok(p, &["import", "f.db", "--wave", "1", "f1.csv"]);
    assert_eq!(flat_fails(), empty);
}

#[test]
fn r14_interrupted_household_then_repeated_person_is_a_duplicate_not_a_database_error() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    let rows = [
        HEADER.to_string(),
        person_row("A", 1, "40", ""),
        person_row("B", 1, "50", ""),
        person_row("A", 2, "41", ""),
        person_row("A", 1, "40", ""),
    ];
    std::fs::write(p.join("abaa.csv"), rows.join("\n")).unwrap();
    let want = "abaa.csv:5:6: record household_id=A/person_id=1: question 'person_id': value '1': duplicate key: person_id 1 is also on abaa.csv:2";
    let err = import_fails(p, "s.db", &["abaa.csv"]);
    assert!(err.contains(want) && !err.contains("database"), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
    // an interrupted household whose persons do not repeat is fine
    std::fs::write(p.join("aba.csv"), rows[..4].join("\n")).unwrap();
    let out = ok(p, &["import", "s.db", "--wave", "1", "aba.csv"]);
    assert!(out.contains("added 2 household, 3 person"), "{out}");
    // the same duplicate once the store holds these records
    assert!(import_fails(p, "s.db", &["abaa.csv"]).contains(want));
    // with --skip-invalid the repeated row is rejected and the others land
    ok(p, &["init", "k.db", "--definition", tiny().to_str().unwrap()]);
    let out = hearth(p, &["import", "k.db", "--wave", "1", "--skip-invalid", "abaa.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("added 2 household, 3 person"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 row(s) rejected"));
    assert_eq!(integrity(&p.join("k.db")), "ok");
}

#[test]
fn r14_household_keys_across_files_of_one_import() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    let hh = "household_id,area,rooms,notes,contact_name\n";
    let pp = "household_id,person_id,age,sex,smoker,cigarettes,visit_date,height,activities,comment\n";
    std::fs::write(p.join("hh.csv"), format!("{hh}A,1,4,,\nB,2,3,,\n")).unwrap();
    std::fs::write(p.join("hh_twice.csv"), format!("{hh}A,1,4,,\nB,2,3,,\nA,1,4,,\n")).unwrap();
    std::fs::write(p.join("pp.csv"), format!("{pp}A,1,40,1,no,,,,,\nB,1,50,2,no,,,,,\nA,2,41,1,no,,,,,\n")).unwrap();
    let combined = |hh: &str, person: u32| [HEADER.to_string(), person_row(hh, person, "40", "")].join("\n");
    std::fs::write(p.join("c1.csv"), combined("A", 3)).unwrap();
    std::fs::write(p.join("c2.csv"), combined("A", 4)).unwrap();
    // a household twice in a household file
    let err = import_fails(p, "s.db", &["hh_twice.csv", "pp.csv"]);
    assert!(
        err.contains("hh_twice.csv:4:1: record household_id=A: question 'household_id': value 'A': duplicate key: household_id A is also on hh_twice.csv:2"),
        "{err}"
    );
    // a household given in a household file and again, with its answers, in a combined file
    let err = import_fails(p, "s.db", &["c1.csv", "hh.csv"]);
    assert!(
        err.contains("c1.csv:2:1: record household_id=A: question 'household_id': value 'A': duplicate key: household_id A is also on hh.csv:2"),
        "{err}"
    );
    // one household's rows spread over two combined files
    let err = import_fails(p, "s.db", &["c1.csv", "c2.csv"]);
    assert!(err.contains("c2.csv:2:1: record household_id=A: question 'household_id': value 'A': duplicate key: household_id A is also on c1.csv:2 (a household's rows belong in one file)"), "{err}");
    // the same file given twice
    let err = import_fails(p, "s.db", &["hh.csv", "./hh.csv", "pp.csv"]);
    assert!(err.contains("./hh.csv:1: this file is given twice (also as hh.csv)"), "{err}");
    // a household file with a person file naming its households by key is the ordinary case,
    // whatever the store holds
    for _ in 0..2 {
        ok(p, &["import", "s.db", "--wave", "1", "pp.csv", "hh.csv"]);
    }
    assert_eq!((count(&p.join("s.db"), "u_household"), count(&p.join("s.db"), "u_person")), (2, 3));
}

#[test]
fn r15_control_characters_in_values_are_escaped_and_refused_in_keys() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    let text = [
        HEADER.to_string(),
        // a NUL inside a key, a tab inside a key, an escape sequence and a newline in a value
        person_row("K\u{0}1", 1, "40", ""),
        person_row("\"K\t2\"", 1, "40", ""),
        person_row("K3", 1, "\"4\n\u{1b}[2J\u{7}\"", ""),
        person_row("K4\t", 1, "40", "a trailing tab around a key is trimmed"),
    ]
    .join("\r\n");
    std::fs::write(p.join("ctl.csv"), &text).unwrap();
    let err = import_fails(p, "s.db", &["ctl.csv"]);
    assert!(
        !err.chars().any(|c| c != '\n' && hearth::text::is_unsafe(c)),
        "control characters reach stderr: {err:?}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "one line per problem:\n{err}");
    assert_eq!(
        lines[1],
        "ctl.csv:2:1: record household_id=K\\u{0}1: question 'household_id': value 'K\\u{0}1': a key cannot hold control characters (this one holds \\u{0}): correct the key in the file"
    );
    assert!(
        lines[2].starts_with(
            "ctl.csv:3:1: record household_id=K\\t2: question 'household_id': value 'K\\t2': a key cannot hold control characters (this one holds \\t)"
        ),
        "{err}"
    );
    assert!(
        lines[3].starts_with("ctl.csv:4:7: record household_id=K3/person_id=1: question 'age': value '4\\n\\u{1b}[2J\\u{7}'"),
        "{err}"
    );
    // JSON Lines: a key from an escape
    std::fs::write(
        p.join("ctl.jsonl"),
        "{\"household_id\": \"J\\u0000\", \"area\": 1, \"person_id\": 1, \"age\": 3, \"sex\": 1}\n",
    )
    .unwrap();
    let err = import_fails(p, "s.db", &["ctl.jsonl"]);
    assert!(
        err.contains("ctl.jsonl:1:2: record household_id=J\\u{0}: question 'household_id': value 'J\\u{0}': a key cannot hold control characters"),
        "{err}"
    );
}

#[test]
fn r15_json_object_naming_a_key_twice_is_an_error() {
    let d = tempdir();
    let p = d.path();
    ok(p, &["init", "s.db", "--definition", tiny().to_str().unwrap()]);
    std::fs::write(
        p.join("twice.jsonl"),
        concat!(
            "{\"household_id\": \"J1\", \"area\": 2, \"person_id\": 1, \"age\": 3, \"sex\": 1, \"age\": 30}\n",
            "{\"household_id\": \"J1\", \"area\": 2, \"person_id\": 2, \"age\": 3, \"sex\": 1, \"wave\": 1, \"wave\": 2}\n",
        ),
    )
    .unwrap();
    let err = import_fails(p, "s.db", &["twice.jsonl"]);
    assert!(
        err.contains("twice.jsonl:1:71: key 'age' appears twice in the object (first at column 51)"),
        "{err}"
    );
    assert!(
        err.contains("twice.jsonl:2:82: key 'wave' appears twice in the object (first at column 71)"),
        "{err}"
    );
}

/// Runs hearth with stderr going to `/dev/full`, where every write fails.
#[cfg(target_os = "linux")]
fn with_full_stderr(p: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .current_dir(p)
        .env("HEARTH_USER", "test")
        .stderr(std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full"))
        .output()
        .expect("run hearth")
}

#[cfg(target_os = "linux")]
#[test]
fn r15_unwritable_stderr_exits_2_without_a_panic() {
    let d = tempdir();
    let p = d.path();
    store_with_good(p, "s.db");
    copy_in(p, "bad_type.csv");
    let before = snapshot(&p.join("s.db"));
    let out = with_full_stderr(p, &["import", "s.db", "--wave", "1", "bad_type.csv"]);
    assert_eq!(out.status.code(), Some(2), "an error that cannot be shown");
    assert_unchanged(&p.join("s.db"), &before, "bad_type.csv");
    std::fs::write(p.join("bad.yaml"), "survey: x\n").unwrap();
    assert_eq!(with_full_stderr(p, &["validate", "bad.yaml"]).status.code(), Some(2));
    // a warning that cannot be shown does not fail a command whose output is on stdout
    let out = with_full_stderr(p, &["export", "s.db", "--format", "csv", "--out", "e.csv", "--include-identifiers"]);
    assert_eq!(out.status.code(), Some(0));
    // rejected rows reported on stderr with --skip-invalid: the import still lands
    let out = with_full_stderr(p, &["import", "s.db", "--wave", "2", "--skip-invalid", "bad_type.csv"]);
    assert_eq!(out.status.code(), Some(0));
}
