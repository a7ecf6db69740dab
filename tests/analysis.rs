//! Analysis through the library: stored scores are reused only when they equal a recomputation.

use crate::common::*;
use hearth::analysis::frame::load_with;
use polars::prelude::*;

fn store_with_data(dir: &std::path::Path, households: usize) -> hearth::store::Store {
    let def = hearth::schema::load_file(&survey_definition()).unwrap();
    let csv = dir.join("w1.csv");
    let opts = hearth::simulate::SimOptions {
        households,
        seed: 3,
        wave: 1,
        areas: Vec::new(),
        psus: None,
    };
    hearth::simulate::simulate_csv(&def, &opts, std::fs::File::create(&csv).unwrap()).unwrap();
    let mut store = hearth::store::Store::create(&dir.join("s.db"), &def).unwrap();
    hearth::capture::import_files(&mut store, &[csv], &hearth::capture::ImportOptions::default()).unwrap();
    store
}

fn column(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let s = df.column(name).unwrap().cast(&DataType::String).unwrap();
    s.str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
}

#[test]
fn stored_scores_equal_recomputed_scores() {
    let d = tempdir();
    let store = store_with_data(d.path(), 200);
    let def = store.definition(None).unwrap();
    let vars: Vec<String> = [
        "phq9_total",
        "phq9_caseness",
        "swemwbs_metric_score",
        "wemwbs_band",
        "auditc_total",
        "age_group",
        "social_renter",
        "ons4_anxiety_band",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let a = load_with(&store, &def, &vars, &[], true).unwrap().df;
    let b = load_with(&store, &def, &vars, &[], false).unwrap().df;
    assert_eq!(a.height(), b.height());
    for v in &vars {
        assert_eq!(column(&a, v), column(&b, v), "{v}: stored and recomputed values differ");
    }
    // the stored path reads the scores, not their items
    assert!(
        a.width() < b.width(),
        "stored: {:?}\nrecomputed: {:?}",
        a.get_column_names(),
        b.get_column_names()
    );
}

#[test]
fn a_changed_scoring_rule_is_recomputed_not_read_as_stored() {
    let d = tempdir();
    let mut store = store_with_data(d.path(), 150);
    // version 2 prorates PHQ-9 with up to 2 missing items: stored totals (complete case) are stale
    let text = std::fs::read_to_string(survey_definition()).unwrap();
    let v2 = text
        .replacen("version: 1", "version: 2", 1)
        .replacen(" phq9,", " {id: phq9, params: {phq9_max_missing: 2}},", 1);
    assert_ne!(text, v2);
    let def2 = hearth::schema::load_str(&v2, "v2.yaml").unwrap();
    store.add_definition(&def2).unwrap();
    let def = store.definition(None).unwrap();
    assert_eq!(def.version, 2);
    let vars = vec!["phq9_total".to_string()];
    let a = load_with(&store, &def, &vars, &[], true).unwrap().df;
    let b = load_with(&store, &def, &vars, &[], false).unwrap().df;
    assert_eq!(column(&a, "phq9_total"), column(&b, "phq9_total"));
    // the test means something only if proration changed some totals (non-whole values)
    let totals = b.column("phq9_total").unwrap().f64().unwrap().clone();
    assert!(totals.iter().flatten().any(|x| x.fract() != 0.0), "no prorated total in the simulated data");
}
