//! The engine driven as a front end would: a household with a roster, skips, a failed check,
//! a refusal, going back, a resume, finishing; and what lands in the store.

use super::*;

const DEF: &str = include_str!("../../../fixtures/interview/household.yaml");

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let def = crate::schema::load_str(DEF, "household.yaml").unwrap();
    let store = Store::create(&dir.path().join("s.db"), &def).unwrap();
    (dir, store)
}

fn start(store: &mut Store) -> Interview {
    Interview::start(
        store,
        &StartOptions {
            wave: 1,
            interviewer: "amy".into(),
            lang: None,
        },
    )
    .unwrap()
}

/// Answers the current question; panics unless it is `q`.
fn say(iv: &mut Interview, store: &mut Store, q: &str, given: Given) -> Saved {
    let Step::Question(p) = iv.step() else {
        panic!("expected question {q}, got {:?}", iv.step())
    };
    assert_eq!(p.question, q, "{p:?}");
    iv.answer(store, &p.record, q, given, None).unwrap()
}

fn v(s: &str) -> Given {
    Given::Value(s.into())
}

#[test]
fn a_household_from_start_to_finish() {
    let (_d, mut store) = store();
    let mut iv = start(&mut store);
    say(&mut iv, &mut store, "household_id", v("H1"));
    say(&mut iv, &mut store, "household_size", v("3"));
    // a failed check: the definition's message, nothing saved, asked again
    let s = say(&mut iv, &mut store, "children", v("3"));
    assert!(!s.accepted && s.problem.as_deref().unwrap().starts_with("At least one person"), "{s:?}");
    say(&mut iv, &mut store, "children", v("1"));
    let s = say(&mut iv, &mut store, "tenure", Given::Refused);
    assert!(s.accepted);
    let s = say(&mut iv, &mut store, "garden", v("yes"));
    assert_eq!(s.relevance.len(), 1, "garden_size becomes relevant: {s:?}");
    say(&mut iv, &mut store, "garden_size", v("2"));
    // roster
    let Step::Roster(r) = iv.step() else { panic!("{:?}", iv.step()) };
    assert!(r.members.is_empty());
    let p1 = iv.add_member(&mut store).unwrap();
    let p2 = iv.add_member(&mut store).unwrap();
    iv.roster_done(&mut store, true).unwrap();
    // member 1: the key is numbered, not asked
    say(&mut iv, &mut store, "first_name", v("Ann"));
    say(&mut iv, &mut store, "age", v("70"));
    say(&mut iv, &mut store, "sex", v("1"));
    say(&mut iv, &mut store, "smoker", v("no"));
    let s = say(&mut iv, &mut store, "low_mood", v("2"));
    assert_eq!(s.alerts.len(), 1, "{s:?}");
    assert!(s.alerts[0].message.starts_with("Distress protocol"));
    assert_eq!(s.alerts[0].record, p1);
    // member 2
    say(&mut iv, &mut store, "first_name", Given::NoAnswer);
    say(&mut iv, &mut store, "age", v("40"));
    // sex is required: no answer refused, a refusal taken
    let s = say(&mut iv, &mut store, "sex", Given::NoAnswer);
    assert!(!s.accepted);
    say(&mut iv, &mut store, "sex", Given::Refused);
    say(&mut iv, &mut store, "smoker", v("yes"));
    say(&mut iv, &mut store, "cigarettes", v("10"));
    // don't know where the question has no such code
    let s = say(&mut iv, &mut store, "low_mood", Given::DontKnow);
    assert!(!s.accepted && s.problem.unwrap().contains("no code"));
    say(&mut iv, &mut store, "low_mood", v("0"));
    // go back: the household had no garden after all; garden_size kept, flagged
    let hh = iv.records()[0].record.clone();
    iv.goto(&hh, "garden").unwrap();
    let s = say(&mut iv, &mut store, "garden", v("no"));
    assert!(s.relevance.iter().any(|c| c.question == "garden_size" && !c.relevant));
    let Step::Review(rev) = iv.step() else { panic!("{:?}", iv.step()) };
    assert!(rev.can_finish, "{:?}", rev.problems);
    let flagged: Vec<_> = rev.sections[0].lines.iter().filter(|l| l.irrelevant).map(|l| l.question.as_str()).collect();
    assert_eq!(flagged, ["garden_size"]);
    assert_eq!(rev.sections[1].title, "Person 1 (Ann, 70)");
    // change household size so children fails: the review shows it, and the step asks again
    iv.goto(&hh, "household_size").unwrap();
    say(&mut iv, &mut store, "household_size", v("1"));
    let Step::Question(p) = iv.step() else { panic!() };
    assert_eq!(p.question, "children");
    assert!(p.problem.is_some());
    say(&mut iv, &mut store, "children", v("0"));
    assert!(store.count("person", None).unwrap() == 0, "nothing reaches the records before the end");
    let done = iv.finish(&mut store).unwrap();
    assert_eq!((done.key.as_str(), done.members), ("H1", 2));
    assert_eq!(store.count("household", Some(1)).unwrap(), 1);
    assert_eq!(store.count("person", Some(1)).unwrap(), 2);
    assert!(matches!(iv.step(), Step::Finished));
    assert!(store.open_drafts(None).unwrap().is_empty());
    let log = store.audit_log(Some(&p1)).unwrap();
    let name = log.iter().find(|e| e.question.as_deref() == Some("first_name")).unwrap();
    assert_eq!(name.new_value.as_deref(), Some("(identifier)"));
    let _ = p2;
    let garden = store.audit_log(Some(&hh)).unwrap();
    let g: Vec<_> = garden
        .iter()
        .filter(|e| e.question.as_deref() == Some("garden"))
        .map(|e| (e.old_value.clone(), e.new_value.clone()))
        .collect();
    assert_eq!(g, [(None, Some("yes".to_string())), (Some("yes".to_string()), Some("no".to_string()))]);
}

#[test]
fn resume_keeps_every_answer_and_retries_do_not_save_twice() {
    let (_d, mut store) = store();
    let mut iv = start(&mut store);
    let id = iv.id().to_string();
    let hh = iv.records()[0].record.clone();
    iv.answer(&mut store, &hh, "household_id", v("H2"), Some(1)).unwrap();
    let again = iv.answer(&mut store, &hh, "household_id", v("H2"), Some(1)).unwrap();
    assert!(again.duplicate);
    iv.answer(&mut store, &hh, "household_size", v("2"), Some(2)).unwrap();
    let answers = store.audit_log(Some(&hh)).unwrap().iter().filter(|e| e.action == "answer").count();
    assert_eq!(answers, 2);
    let m = iv.add_member(&mut store).unwrap();
    drop(iv);
    let list = Interview::unfinished(&store, Some(1)).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].household.as_deref(), Some("H2"));
    let mut iv = Interview::resume(&store, &id, None).unwrap();
    let Step::Question(p) = iv.step() else { panic!() };
    assert_eq!(p.question, "children");
    assert_eq!(iv.records()[1].record, m);
    // the sequence carries over a resume; an old request overtaken by a newer one is refused
    assert_eq!(iv.seq(), 2);
    assert!(iv.answer(&mut store, &hh, "household_size", v("2"), Some(2)).unwrap().duplicate);
    let stale = iv.answer(&mut store, &hh, "household_size", v("5"), Some(1)).unwrap();
    assert!(!stale.accepted && !stale.duplicate, "{stale:?}");
    iv.answer(&mut store, &hh, "children", v("0"), Some(3)).unwrap();
    iv.remove_member(&mut store, &m, "entered by mistake").unwrap();
    assert!(iv.records().len() == 1);
    let log = store.audit_log(Some(&m)).unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "remove member" && e.reason.as_deref() == Some("entered by mistake")));
    assert!(matches!(iv.remove_member(&mut store, &hh, "x"), Err(CaptureError::Interview(_))));
}

#[test]
fn a_household_already_in_the_wave_is_not_written_twice() {
    let (_d, mut store) = store();
    for round in 0..2 {
        let mut iv = start(&mut store);
        for (q, a) in [
            ("household_id", "H9"),
            ("household_size", "1"),
            ("children", "0"),
            ("tenure", "1"),
            ("garden", "no"),
        ] {
            say(&mut iv, &mut store, q, v(a));
        }
        iv.add_member(&mut store).unwrap();
        iv.roster_done(&mut store, true).unwrap();
        for (q, a) in [("first_name", ""), ("age", "30"), ("sex", "2"), ("smoker", "no"), ("low_mood", "0")] {
            say(&mut iv, &mut store, q, if a.is_empty() { Given::NoAnswer } else { v(a) });
        }
        let r = iv.finish(&mut store);
        if round == 0 {
            r.unwrap();
        } else {
            let e = r.unwrap_err().to_string();
            assert!(e.contains("household 'H9' is already in wave 1"), "{e}");
            assert_eq!(store.open_drafts(None).unwrap().len(), 1, "the draft stays to be corrected");
        }
    }
    assert_eq!(store.count("person", None).unwrap(), 1);
}

/// A plausible answer to try for a prompt: the `n`th choice, or a value in range.
fn attempt(p: &Prompt, n: usize) -> Option<Given> {
    Some(match p.qtype {
        QType::SelectOne | QType::SelectMultiple => Given::Value(p.choices.get(n)?.value.clone()),
        QType::Integer | QType::Decimal => {
            let vals = ["1", "2", "0", "3", "5", "16", "40", "70"];
            Given::Value(vals.get(n)?.to_string())
        }
        QType::Boolean => Given::Value(["no", "yes"].get(n)?.to_string()),
        QType::Date => Given::Value("2024-05-01".into()),
        QType::Lsoa => Given::Value("E01000001".into()),
        QType::Postcode => Given::Value("PR1 2HE".into()),
        QType::Text => Given::Value(format!("t{n}")),
        QType::Note => return None,
    })
}

#[test]
fn the_shipped_survey_can_be_interviewed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/household-health-survey.yaml");
    let def = crate::schema::load_file(&path).unwrap();
    let mut store = Store::create(&dir.path().join("s.db"), &def).unwrap();
    let mut iv = start(&mut store);
    let mut asked = 0;
    let mut alerted = false;
    for _ in 0..2000 {
        match iv.step() {
            Step::Question(p) => {
                asked += 1;
                if p.question == "phq9_1" {
                    assert!(p.notes[0].starts_with("Over the last 2 weeks"), "{:?}", p.notes);
                }
                let mut n = 0;
                loop {
                    // item 9 above 0 raises the distress protocol
                    let given = if p.question == "phq9_9" { Some(v("1")) } else { attempt(&p, n) };
                    let given = given.unwrap_or(if p.missing.is_empty() { Given::NoAnswer } else { Given::Refused });
                    let s = iv.answer(&mut store, &p.record, &p.question, given, None).unwrap();
                    if p.question == "phq9_9" {
                        alerted = s.alerts.iter().any(|a| a.question == "phq9_9" && a.message.starts_with("Distress protocol"));
                    }
                    if s.accepted {
                        break;
                    }
                    n += 1;
                    assert!(n < 20, "no answer accepted for {}: {:?}", p.question, s.problem);
                }
            }
            Step::Roster(r) if r.members.len() < 2 => {
                iv.add_member(&mut store).unwrap();
            }
            Step::Roster(_) => iv.roster_done(&mut store, true).unwrap(),
            Step::Review(r) => {
                assert!(r.can_finish, "{:?}", r.problems);
                break;
            }
            Step::Finished => unreachable!(),
        }
    }
    assert!(alerted, "PHQ-9 item 9 above 0 raises the alert");
    assert!(asked > 100, "{asked} questions asked");
    let done = iv.finish(&mut store).unwrap();
    assert_eq!(done.members, 2);
    assert_eq!(store.count("person", Some(1)).unwrap(), 2);
}
