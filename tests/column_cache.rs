//! The store's column cache seen from the CLI: an analysis read from the cache gives
//! byte-identical output to one read from the records, and every kind of write to records
//! (an import, a merge, a finished interview, an edit by another program, a new definition
//! version) empties or invalidates it, so that the next analysis sees the new records.

use std::path::Path;

use rusqlite::Connection;

use crate::common::{fixture, hearth, ok, piped, survey_definition, tempdir};

const OUTCOMES: &str = "phq9_total,gad7_caseness,wemwbs_total,general_health_bad";

/// Simulates `households` households of the shipped survey into `name`.
fn simulate(p: &Path, name: &str, households: u32, seed: u32) {
    let def = survey_definition();
    let (h, s) = (households.to_string(), seed.to_string());
    ok(
        p,
        &[
            "simulate",
            def.to_str().unwrap(),
            "--households",
            &h,
            "--seed",
            &s,
            "--psus",
            "12",
            "--out",
            name,
        ],
    );
}

/// A store `s.db` of the shipped survey with one simulated wave and the area lookup.
fn survey(p: &Path) {
    let def = survey_definition();
    simulate(p, "w1.csv", 120, 1);
    ok(p, &["init", "s.db", "--definition", def.to_str().unwrap()]);
    ok(p, &["import", "s.db", "--wave", "1", "w1.csv"]);
    ok(p, &["geo", "load", "s.db", "--builtin", "imd2019"]);
}

/// The JSON of `hearth analyze` (by deprivation decile) and `hearth inequality` on `db`.
fn results(p: &Path, db: &str) -> (String, String) {
    let a = ok(
        p,
        &["analyze", db, "--outcome", OUTCOMES, "--by", "imd_decile", "--format", "json", "--no-suppress"],
    );
    let i = ok(p, &["inequality", db, "--outcome", OUTCOMES, "--format", "json", "--no-suppress"]);
    (a, i)
}

/// The results on a copy of `db` that has never had a cache: what the records say.
fn uncached(p: &Path, db: &str) -> (String, String) {
    let _ = std::fs::remove_file(p.join("ref.db"));
    let c = Connection::open(p.join(db)).unwrap();
    c.execute("VACUUM INTO ?1", [p.join("ref.db").to_str().unwrap()]).unwrap();
    drop(c);
    let c = Connection::open(p.join("ref.db")).unwrap();
    let triggers: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_cache_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in triggers {
        c.execute_batch(&format!("DROP TRIGGER \"{t}\"")).unwrap();
    }
    c.execute_batch("DROP TABLE IF EXISTS column_cache").unwrap();
    drop(c);
    let r = results(p, "ref.db");
    std::fs::remove_file(p.join("ref.db")).unwrap();
    r
}

/// The number of cache entries (none without a cache table).
fn entries(p: &Path, db: &str) -> i64 {
    let c = Connection::open(p.join(db)).unwrap();
    c.query_row("SELECT count(*) FROM column_cache", [], |r| r.get(0)).unwrap_or(0)
}

/// Entries written at the store's current schema version.
fn current_entries(p: &Path, db: &str) -> i64 {
    let c = Connection::open(p.join(db)).unwrap();
    let schema: i64 = c.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    c.query_row("SELECT count(*) FROM column_cache WHERE schema_version = ?1", [schema], |r| r.get(0))
        .unwrap_or(0)
}

/// Results read cold (filling the cache) and warm are identical and equal those of a store
/// without a cache; returns them.
fn cold_warm_agree(p: &Path) -> (String, String) {
    let cold = results(p, "s.db");
    assert!(current_entries(p, "s.db") > 0, "an analysis keeps its columns");
    let warm = results(p, "s.db");
    assert_eq!(cold, warm, "a warm read differs from a cold one");
    assert_eq!(warm, uncached(p, "s.db"), "the cache differs from the records");
    warm
}

#[test]
fn a_warm_cache_gives_the_cold_results_and_every_write_empties_it() {
    let d = tempdir();
    let p = d.path();
    survey(p);
    let first = cold_warm_agree(p);
    // one wave of several, read from the cache and filtered there
    let wave1 = ["analyze", "s.db", "--outcome", OUTCOMES, "--wave", "1", "--format", "json", "--no-suppress"];
    let one = ok(p, &wave1);

    // an import of a second wave
    simulate(p, "w2.csv", 90, 2);
    ok(p, &["import", "s.db", "--wave", "2", "w2.csv"]);
    assert_eq!(entries(p, "s.db"), 0, "an import empties the cache");
    let second = cold_warm_agree(p);
    assert_ne!(second, first, "the second wave counts");
    assert_eq!(ok(p, &wave1), one, "wave 1 alone reads as before, from the cache");

    // a merge of another store's records
    let def = survey_definition();
    simulate(p, "w3.csv", 60, 3);
    ok(p, &["init", "b.db", "--definition", def.to_str().unwrap()]);
    ok(p, &["import", "b.db", "--wave", "3", "w3.csv"]);
    ok(p, &["merge", "s.db", "b.db"]);
    assert_eq!(entries(p, "s.db"), 0, "a merge empties the cache");
    let third = cold_warm_agree(p);
    assert_ne!(third, second, "the merged records count");

    // another program edits records
    let c = Connection::open(p.join("s.db")).unwrap();
    c.execute_batch("UPDATE u_person SET phq9_total = 27 WHERE _rowid % 3 = 0").unwrap();
    drop(c);
    assert_eq!(entries(p, "s.db"), 0, "an edit by another program empties the cache");
    let fourth = cold_warm_agree(p);
    assert_ne!(fourth, third, "the edited scores count");

    // an entry of another schema version is not read (and is replaced)
    let c = Connection::open(p.join("s.db")).unwrap();
    c.execute_batch("UPDATE column_cache SET schema_version = schema_version - 1").unwrap();
    drop(c);
    assert_eq!(current_entries(p, "s.db"), 0);
    assert_eq!(results(p, "s.db"), fourth);
    assert!(current_entries(p, "s.db") > 0, "the stale entries are written again");
    // nor is one whose blob is damaged
    let c = Connection::open(p.join("s.db")).unwrap();
    c.execute_batch("UPDATE column_cache SET data = x'01' || substr(data, 2, 9)").unwrap();
    drop(c);
    assert_eq!(results(p, "s.db"), fourth);
}

#[test]
fn a_new_definition_version_invalidates_the_cache() {
    let d = tempdir();
    let p = d.path();
    survey(p);
    let before = cold_warm_agree(p);
    let v2 = std::fs::read_to_string(survey_definition())
        .unwrap()
        .replacen("version: 1\n", "version: 2\n", 1)
        .replacen(
            "      - id: age\n",
            "      - id: sleep_hours\n        type: decimal\n        min: 0\n        max: 24\n        label: \"Hours of sleep\"\n      - id: age\n",
            1,
        );
    std::fs::write(p.join("v2.yaml"), v2).unwrap();
    ok(p, &["definition", "add", "s.db", "v2.yaml"]);
    assert_eq!(current_entries(p, "s.db"), 0, "a new column makes every entry stale");
    assert_eq!(cold_warm_agree(p), before, "the records are the same");
    // the new column has no answers yet; it reads through the cache as well
    let c = Connection::open(p.join("s.db")).unwrap();
    c.execute_batch("UPDATE u_person SET sleep_hours = 7.5 WHERE _rowid % 2 = 0").unwrap();
    drop(c);
    let sleep = ["analyze", "s.db", "--outcome", "sleep_hours", "--format", "json", "--no-suppress"];
    let cold = ok(p, &sleep);
    let json: serde_json::Value = serde_json::from_str(&cold).unwrap();
    let mean = json["rows"][0]["estimate"].as_f64().unwrap();
    assert!((mean - 7.5).abs() < 1e-9, "{cold}");
    assert_eq!(ok(p, &sleep), cold);
}

#[test]
fn a_finished_interview_empties_the_cache() {
    let d = tempdir();
    let p = d.path();
    let def = fixture("interview/household.yaml");
    ok(p, &["init", "s.db", "--definition", def.to_str().unwrap()]);
    let interview = |input: &str| piped(p, "test", &["interview", "s.db", "--wave", "1"], input).0;
    let household = |id: &str, age: u32| format!("{id}\n1\n0\n1\nno\na\nd\n\n{age}\n1\nno\n0\nf\n");
    assert!(interview(&household("H1", 30)).contains("Finished: household H1"));
    assert!(interview(&household("H2", 40)).contains("Finished: household H2"));
    let age = ["analyze", "s.db", "--outcome", "age", "--format", "json", "--no-suppress"];
    let mean = |out: &str| -> f64 {
        let json: serde_json::Value = serde_json::from_str(out).unwrap();
        json["rows"][0]["estimate"].as_f64().unwrap()
    };
    let cold = ok(p, &age);
    assert_eq!(mean(&cold), 35.0);
    assert!(entries(p, "s.db") > 0);
    assert_eq!(ok(p, &age), cold);
    // an interview left unfinished writes drafts only: the cache stays
    interview("H3\n2\n");
    assert!(entries(p, "s.db") > 0, "drafts do not touch the cache");
    assert!(interview(&household("H4", 80)).contains("Finished: household H4"));
    assert_eq!(entries(p, "s.db"), 0, "a finished interview empties the cache");
    let after = ok(p, &age);
    assert_eq!(mean(&after), 50.0, "the new person counts:\n{after}");
    assert_eq!(ok(p, &age), after);
}

#[test]
fn a_store_that_cannot_be_written_still_analyses() {
    let d = tempdir();
    let p = d.path();
    survey(p);
    // another writer holds the lock: the analysis does not wait for it nor fail
    let c = Connection::open(p.join("s.db")).unwrap();
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = hearth(p, &["analyze", "s.db", "--outcome", OUTCOMES, "--format", "json", "--no-suppress"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let locked = String::from_utf8_lossy(&out.stdout).into_owned();
    c.execute_batch("ROLLBACK").unwrap();
    drop(c);
    assert_eq!(entries(p, "s.db"), 0, "nothing kept while another writer held the lock");
    // a file without write permission (which root may write all the same)
    let db = p.join("s.db");
    let mut perm = std::fs::metadata(&db).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&db, perm.clone()).unwrap();
    let writable = std::fs::OpenOptions::new().write(true).open(&db).is_ok();
    let out = hearth(p, &["analyze", "s.db", "--outcome", OUTCOMES, "--format", "json", "--no-suppress"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), locked);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("cache"), "{stderr}");
    if !writable {
        assert_eq!(entries(p, "s.db"), 0, "nothing kept in a read-only file");
    }
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&db, perm).unwrap();
}
