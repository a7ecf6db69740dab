//! The shipped instruments scored on hand-computed vectors (`fixtures/instruments/vectors.json`):
//! each instrument is listed in a one-unit definition, a record is filled from the answers as
//! capture would, and every expected derived value is compared.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::capture::answer::{check_and_derive, parse_answer};
use crate::schema::expr::Value;
use crate::schema::{load_str, Definition};
use crate::store::Cell;

/// A definition with one unit listing `instrument` (with `params`).
fn definition(instrument: &str, params: &serde_json::Map<String, Json>) -> Definition {
    let listed = if params.is_empty() {
        instrument.to_string()
    } else {
        format!("{{id: {instrument}, params: {}}}", Json::Object(params.clone()))
    };
    let text = format!(
        "survey: vectors\ntitle: Instrument vectors\nversion: 1\nunits:\n  - id: person\n    key: person_id\n    questions:\n      - {{id: person_id, type: integer, label: Person}}\n    instruments: [{listed}]\n"
    );
    load_str(&text, "vectors.yaml").unwrap_or_else(|e| panic!("{instrument} with {params:?} does not load:\n{e}\n{text}"))
}

/// Fills a record from answers (id -> text, `None` = unanswered), checks it and derives;
/// returns the derived values by id, and the problems capture reported.
fn score(def: &Definition, answers: &BTreeMap<String, Option<String>>) -> (BTreeMap<String, Value>, Vec<String>) {
    let unit = &def.units[0];
    let mut values = vec![Value::Missing; unit.scope.len()];
    let mut cells = vec![Cell::Null; unit.questions.len()];
    let mut all = answers.clone();
    all.insert("person_id".into(), Some("1".into()));
    for (id, raw) in &all {
        let Some(raw) = raw else { continue };
        let i = unit
            .questions
            .iter()
            .position(|q| &q.id == id)
            .unwrap_or_else(|| panic!("no question '{id}' in the unit"));
        let q = &unit.questions[i];
        let (cell, value) = parse_answer(q, raw).unwrap_or_else(|e| panic!("answer {raw} to {id}: {e}"));
        values[q.slot] = value;
        cells[i] = cell;
    }
    let problems = check_and_derive(unit, &mut values, &cells)
        .into_iter()
        .map(|p| format!("{}: {}", p.question, p.message))
        .collect();
    let derived = unit.derived.iter().map(|d| (d.id.clone(), values[d.slot].clone())).collect();
    (derived, problems)
}

fn matches(got: &Value, want: &Json) -> bool {
    match (want, got) {
        (Json::Null, Value::Missing) => true,
        (Json::Bool(b), Value::Bool(g)) => b == g,
        (Json::Number(n), Value::Num(g)) => n.as_f64().is_some_and(|w| (w - g).abs() <= 1e-9),
        _ => false,
    }
}

fn answers_of(j: &Json) -> BTreeMap<String, Option<String>> {
    j.as_object()
        .expect("answers is an object")
        .iter()
        .map(|(k, v)| {
            let raw = match v {
                Json::Null => None,
                Json::Number(n) => Some(n.to_string()),
                Json::String(s) => Some(s.clone()),
                other => panic!("answer {k}: unexpected {other}"),
            };
            (k.clone(), raw)
        })
        .collect()
}

#[test]
fn instruments_score_the_hand_computed_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/instruments/vectors.json");
    let vectors: Vec<Json> = serde_json::from_str(&std::fs::read_to_string(path).expect("read vectors.json")).expect("vectors.json");
    assert!(vectors.len() >= 50, "{} vectors", vectors.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut by_instrument: BTreeMap<String, usize> = BTreeMap::new();
    for (n, v) in vectors.iter().enumerate() {
        let instrument = v["instrument"].as_str().expect("instrument");
        let params = v["params"].as_object().cloned().unwrap_or_default();
        let def = definition(instrument, &params);
        let (derived, problems) = score(&def, &answers_of(&v["answers"]));
        *by_instrument.entry(instrument.to_string()).or_default() += 1;
        let why = v["why"].as_str().unwrap_or("");
        if !problems.is_empty() {
            failures.push(format!("vector {n} ({instrument}, {why}): capture reported {problems:?}"));
        }
        for (id, want) in v["expect"].as_object().expect("expect") {
            compared += 1;
            match derived.get(id) {
                None => failures.push(format!("vector {n} ({instrument}): no derived variable '{id}'")),
                Some(got) if !matches(got, want) => failures.push(format!(
                    "vector {n} ({instrument}, params {params:?}): {id} = {got:?}, expected {want}\n    why: {why}\n    answers: {}",
                    v["answers"]
                )),
                _ => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} expected values differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // every shipped instrument has vectors
    for id in crate::schema::Library::builtin().unwrap().ids() {
        assert!(by_instrument.contains_key(id), "no vectors for instrument {id}");
    }
}

fn num(v: &Value) -> f64 {
    v.num().unwrap_or_else(|| panic!("not a number: {v:?}"))
}

#[test]
fn swemwbs_metric_end_points() {
    let def = definition("swemwbs", &Default::default());
    let items = |first: u32, rest: u32| -> BTreeMap<String, Option<String>> {
        (1..=7)
            .map(|i| (format!("swemwbs_{i}"), Some(if i == 1 { first } else { rest }.to_string())))
            .collect()
    };
    let (d, p) = score(&def, &items(2, 1));
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(num(&d["swemwbs_raw"]), 8.0);
    assert!((num(&d["swemwbs_metric_score"]) - 9.51).abs() < 1e-9, "{:?}", d["swemwbs_metric_score"]);
    let (d, _) = score(&def, &items(5, 5));
    assert_eq!(num(&d["swemwbs_raw"]), 35.0);
    assert!((num(&d["swemwbs_metric_score"]) - 35.0).abs() < 1e-9, "{:?}", d["swemwbs_metric_score"]);
    let (d, _) = score(&def, &items(1, 1));
    assert!((num(&d["swemwbs_metric_score"]) - 7.0).abs() < 1e-9, "{:?}", d["swemwbs_metric_score"]);
}

/// PHQ-9 answers adding up to `total`, the items filled in order (0-3 each).
fn phq9_answers(total: u32) -> BTreeMap<String, Option<String>> {
    let mut left = total;
    (1..=9)
        .map(|i| {
            let x = left.min(3);
            left -= x;
            (format!("phq9_{i}"), Some(x.to_string()))
        })
        .collect()
}

#[test]
fn phq9_bands_at_every_boundary() {
    let def = definition("phq9", &Default::default());
    // the CamCOPS severity bands: 0-4, 5-9, 10-14, 15-19, 20-27; caseness from 10
    let band = |t: u32| match t {
        0..=4 => 1.0,
        5..=9 => 2.0,
        10..=14 => 3.0,
        15..=19 => 4.0,
        _ => 5.0,
    };
    for total in [0, 4, 5, 9, 10, 14, 15, 19, 20, 27] {
        // spread the total over the nine items (0-3 each)
        let answers = phq9_answers(total);
        let (d, p) = score(&def, &answers);
        assert!(p.is_empty(), "total {total}: {p:?}");
        assert_eq!(num(&d["phq9_total"]), total as f64, "total {total}");
        assert_eq!(num(&d["phq9_severity"]), band(total), "severity at total {total}");
        assert_eq!(d["phq9_caseness"], Value::Bool(total >= 10), "caseness at total {total}");
    }
    // the cut points are params: moving one moves the boundary
    let mut params = serde_json::Map::new();
    params.insert("phq9_cut_moderate".into(), Json::from(12));
    params.insert("phq9_caseness_cutoff".into(), Json::from(12));
    let def = definition("phq9", &params);
    for (total, sev, case) in [(11u32, 2.0, false), (12, 3.0, true)] {
        let answers = phq9_answers(total);
        let (d, _) = score(&def, &answers);
        assert_eq!(num(&d["phq9_severity"]), sev, "severity at total {total} with cut 12");
        assert_eq!(d["phq9_caseness"], Value::Bool(case), "caseness at total {total} with cutoff 12");
    }
}

/// The shipped scores carry their polarity and range (reference/instruments.md: WEMWBS and
/// SWEMWBS higher = better wellbeing; PHQ, GAD, UCLA-3 and AUDIT-C higher = worse), so that
/// inequality summaries say in words which end is worse off.
#[test]
fn shipped_scores_say_whether_higher_is_better() {
    use crate::schema::HigherIs::{Better, Worse};
    let expected = [
        ("wemwbs", "wemwbs_total", Better, Some((14.0, 70.0))),
        ("swemwbs", "swemwbs_metric_score", Better, Some((7.0, 35.0))),
        ("phq9", "phq9_total", Worse, Some((0.0, 27.0))),
        ("phq9", "phq9_caseness", Worse, None),
        ("phq8", "phq8_total", Worse, Some((0.0, 24.0))),
        ("gad7", "gad7_total", Worse, Some((0.0, 21.0))),
        ("gad7", "gad7_caseness", Worse, None),
        ("ucla3", "ucla3_total", Worse, Some((3.0, 9.0))),
        ("auditc", "auditc_total", Worse, Some((0.0, 12.0))),
        ("general_health", "general_health_good", Better, None),
        ("ons_loneliness", "ons_loneliness_often", Worse, None),
    ];
    for (instrument, id, polarity, range) in expected {
        let def = definition(instrument, &serde_json::Map::new());
        let (_, d) = def.find_derived(id).unwrap_or_else(|| panic!("{instrument} has no {id}"));
        assert_eq!(d.higher_is, Some(polarity), "{id}");
        assert_eq!(d.min.zip(d.max), range, "{id}");
    }
}
