//! `hearth edit`: one answer corrected through the audit trail, the record and the records
//! below it checked again and their derived values recomputed, all or nothing.

use crate::common::{fails, ok, tempdir};
use std::path::Path;

/// A household with rooms and a roster whose skip logic and derived values read the household's
/// answer, so that a household edit reaches its persons.
const DEF: &str = r#"
survey: edits
title: Edit test survey
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
      - {id: q2, type: integer, min: 0, max: 3, label: Item 2}
      - {id: shares_room, type: boolean, relevant: "rooms < 3", label: Shares a room}
derived:
  - {id: score, unit: person, type: number, expr: "q1 + q2", label: Score}
  - {id: crowded, unit: person, type: boolean, expr: "rooms < 2", label: Crowded home}
  - {id: older, unit: person, type: boolean, expr: "age >= 65", label: Aged 65 or over}
"#;

const DATA: &str = "household_id,rooms,contact,person_id,age,q1,q2,shares_room\n\
H1,1,Ann Smith,1,70,1,2,true\n\
H1,1,Ann Smith,2,30,0,0,false\n\
H2,5,Bob Jones,1,40,3,3,\n";

fn store(dir: &Path) {
    std::fs::write(dir.join("d.yaml"), DEF).unwrap();
    std::fs::write(dir.join("d.csv"), DATA).unwrap();
    ok(dir, &["init", "s.db", "--definition", "d.yaml"]);
    ok(dir, &["import", "s.db", "--wave", "1", "d.csv"]);
}

/// The exported rows (person level) as header -> value maps, by `household_id/person_id`.
fn rows(dir: &Path) -> std::collections::BTreeMap<String, std::collections::HashMap<String, String>> {
    ok(dir, &["export", "s.db", "--format", "csv", "--out", "e.csv"]);
    let text = std::fs::read_to_string(dir.join("e.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let m: std::collections::HashMap<String, String> = header.iter().zip(l.split(',')).map(|(h, v)| (h.to_string(), v.to_string())).collect();
            (format!("{}/{}", m["household_id"], m["person_id"]), m)
        })
        .collect()
}

#[test]
fn an_edit_rechecks_rescores_and_is_audited() {
    let d = tempdir();
    let p = d.path();
    store(p);
    let uuid = rows(p)["H1/1"]["person_uuid"].clone();
    let out = ok(
        p,
        &[
            "edit",
            "s.db",
            "--record",
            &uuid,
            "--question",
            "q1",
            "--value",
            "3",
            "--reason",
            "misheard",
            "--by",
            "ed",
        ],
    );
    assert!(
        out.starts_with(&format!("person record {uuid} (wave 1): q1 '1' -> '3'; logged in the audit trail\n")),
        "{out}"
    );
    assert!(out.contains("  recomputed score: 3 -> 5\n"), "{out}");
    let r = rows(p);
    assert_eq!((r["H1/1"]["q1"].as_str(), r["H1/1"]["score"].as_str()), ("3", "5.0"));
    // the same value again changes nothing and logs nothing
    let again = ok(
        p,
        &["edit", "s.db", "--record", &uuid, "--question", "q1", "--value", "03", "--reason", "again"],
    );
    assert!(again.contains("q1 is already '3'; nothing changed"), "{again}");
    let log = ok(p, &["audit", "s.db", "--record", &uuid]);
    let edits: Vec<&str> = log.lines().filter(|l| l.contains("  edit  ")).collect();
    assert_eq!(edits.len(), 1, "{log}");
    assert!(
        edits[0].contains("  ed  edit  unit=person  record=") && edits[0].ends_with("question=q1  old=1  new=3  misheard"),
        "{log}"
    );
    // a record named by its keys and wave; an answer cleared
    let out = ok(
        p,
        &[
            "edit",
            "s.db",
            "--record",
            "H1/1",
            "--wave",
            "1",
            "--question",
            "q2",
            "--value",
            "",
            "--reason",
            "not asked",
        ],
    );
    assert!(out.contains("q2 '2' -> no answer") && out.contains("recomputed score: 5 -> missing"), "{out}");
    let out = ok(
        p,
        &[
            "edit",
            "s.db",
            "--record",
            "H1/1",
            "--wave",
            "1",
            "--question",
            "age",
            "--value",
            "64",
            "--reason",
            "date of birth checked",
        ],
    );
    assert!(out.contains("recomputed older: 1 -> 0"), "{out}");
}

#[test]
fn a_household_edit_reaches_its_roster() {
    let d = tempdir();
    let p = d.path();
    store(p);
    // 1 room -> 2: both persons are no longer crowded; shares_room stays relevant (rooms < 3)
    let out = ok(
        p,
        &[
            "edit",
            "s.db",
            "--record",
            "H1",
            "--wave",
            "1",
            "--question",
            "rooms",
            "--value",
            "2",
            "--reason",
            "recounted",
        ],
    );
    assert!(out.contains("household record ") && out.contains("rooms '1' -> '2'"), "{out}");
    assert_eq!(out.matches("recomputed crowded").count(), 2, "{out}");
    assert!(out.contains("2 record(s) below it checked again"), "{out}");
    let r = rows(p);
    assert_eq!(
        (r["H1/1"]["crowded"].as_str(), r["H1/2"]["crowded"].as_str(), r["H1/1"]["rooms"].as_str()),
        ("0", "0", "2")
    );
    // 2 -> 4 makes the persons' answers to shares_room irrelevant: refused, nothing changed
    let before = std::fs::read(p.join("s.db")).unwrap();
    let err = fails(
        p,
        &[
            "edit",
            "s.db",
            "--record",
            "H1",
            "--wave",
            "1",
            "--question",
            "rooms",
            "--value",
            "4",
            "--reason",
            "x",
        ],
        1,
    );
    assert!(err.starts_with("error: 2 problem(s); nothing was changed:\nperson record "), "{err}");
    assert!(
        err.contains("question 'shares_room': value '1': answer to a question that was skipped (relevant: rooms < 3)"),
        "{err}"
    );
    assert_eq!(std::fs::read(p.join("s.db")).unwrap(), before, "a refused edit changed the store");
    assert_eq!(rows(p)["H1/1"]["rooms"], "2");
}

#[test]
fn refused_edits_name_what_is_wrong_and_change_nothing() {
    let d = tempdir();
    let p = d.path();
    store(p);
    let uuid = rows(p)["H2/1"]["person_uuid"].clone();
    let cases: &[(&[&str], String)] = &[
        (
            &["--question", "q1", "--value", "7", "--reason", "r"],
            format!("error: 1 problem(s); nothing was changed:\nperson record {uuid}: question 'q1': value '7': 7 is above the maximum 3\n"),
        ),
        (
            &["--question", "age", "--value", "", "--reason", "r"],
            format!("error: 1 problem(s); nothing was changed:\nperson record {uuid}: question 'age': no answer to a required question\n"),
        ),
        (
            &["--question", "qq1", "--value", "1", "--reason", "r"],
            format!("error: person record {uuid}: no question 'qq1' to answer (did you mean 'q1'?)\n"),
        ),
        (
            &["--question", "person_id", "--value", "3", "--reason", "r"],
            format!("error: person record {uuid}: 'person_id' is the key of the person; a key is not edited (it names the record)\n"),
        ),
        (
            &["--question", "q1", "--value", "1", "--reason", " "],
            "error: an edit needs a reason (it is kept in the audit log)\n".to_string(),
        ),
    ];
    let before = std::fs::read(p.join("s.db")).unwrap();
    for (extra, expected) in cases {
        let mut args = vec!["edit", "s.db", "--record", uuid.as_str()];
        args.extend_from_slice(extra);
        assert_eq!(&fails(p, &args, 1), expected, "{extra:?}");
    }
    let named: &[(&[&str], &str)] = &[
        (&["--record", "0190aaaa-0000-7000-8000-000000000000"], "error: no record has the UUID '0190aaaa-0000-7000-8000-000000000000'\n"),
        (&["--record", "H9", "--wave", "1"], "error: wave 1: no household with household_id 'H9' (under the wave)\n"),
        (&["--record", "H2/4", "--wave", "1"], "error: wave 1: no person with person_id '4' (under H2)\n"),
        (&["--record", "H2/1"], "error: 'H2/1' is not a record UUID; to name a record by its keys (H12, or H12/2 for a person of H12), give its wave too, and one key per unit from the top (household/person)\n"),
    ];
    for (extra, expected) in named {
        let mut args = vec!["edit", "s.db", "--question", "q1", "--value", "1", "--reason", "r"];
        args.extend_from_slice(extra);
        assert_eq!(&fails(p, &args, 1), expected, "{extra:?}");
    }
    assert_eq!(std::fs::read(p.join("s.db")).unwrap(), before, "a refused edit changed the store");
}

/// An identifier's values stay out of the audit trail (it is not kept apart from the data).
#[test]
fn identifier_edits_keep_values_out_of_the_audit_trail() {
    let d = tempdir();
    let p = d.path();
    store(p);
    let out = ok(
        p,
        &[
            "edit",
            "s.db",
            "--record",
            "H2",
            "--wave",
            "1",
            "--question",
            "contact",
            "--value",
            "Robert Jones",
            "--reason",
            "full name",
        ],
    );
    assert!(out.contains("contact (identifier) -> (identifier)"), "{out}");
    let log = ok(p, &["audit", "s.db"]);
    assert!(log.contains("question=contact  old=(identifier)  new=(identifier)  full name"), "{log}");
    assert!(!log.contains("Jones"), "{log}");
    ok(p, &["export", "s.db", "--format", "csv", "--out", "i.csv", "--include-identifiers"]);
    assert!(std::fs::read_to_string(p.join("i.csv")).unwrap().contains("Robert Jones"));
}
