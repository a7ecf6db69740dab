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

/// The prepared analysis that every analysis command shares: breakdowns are domains of the
/// subpopulation over the one design, and `analyze` estimates exactly over them.
#[test]
fn prepared_breakdowns_are_domains_of_the_subpopulation() {
    use hearth::analysis::engine::{EstimateOptions, Grouping};
    use hearth::analysis::{analyze, AnalysisError, Prepared, Request, RequestError};
    let d = tempdir();
    let store = store_with_data(d.path(), 200);
    let req = Request {
        outcomes: vec!["phq9_total".into()],
        by: vec![vec!["sex".into()]],
        where_: Some("age >= 65".into()),
        suppress: false,
        ..Default::default()
    };
    let p = Prepared::new(&store, &req).unwrap();
    let n = p.df.height();
    let mask = p.mask.as_ref().unwrap();
    let ages = p.values("age").unwrap();
    // the mask is per frame row; values and groupings are in the design's row order
    assert_eq!(mask.iter().filter(|m| **m).count(), ages.iter().filter(|a| **a >= 65.0).count());
    assert!(mask.iter().any(|m| !m) && mask.iter().any(|m| *m), "the test needs rows on both sides");
    assert_eq!(p.breakdowns.len(), 2);
    assert!(p.breakdowns[0].vars.is_empty() && p.breakdowns[1].vars == ["sex"]);
    for b in &p.breakdowns {
        assert_eq!(b.grouping.codes().len(), n);
    }
    for ((overall, by_sex), age) in p.breakdowns[0].grouping.codes().iter().zip(p.breakdowns[1].grouping.codes()).zip(&ages) {
        assert_eq!(*overall != Grouping::NONE, *age >= 65.0, "overall, age {age}");
        assert!(*by_sex == Grouping::NONE || *age >= 65.0, "by sex, age {age}");
    }
    assert_eq!(p.breakdowns[1].levels.len(), p.breakdowns[1].grouping.n_groups());
    // analyze's overall row is the engine's estimate over the prepared overall domain
    let y = p.values("phq9_total").unwrap();
    let e = p.ordered.design.mean(&y, &p.breakdowns[0].grouping, &EstimateOptions::default()).unwrap();
    let a = analyze(&store, &req).unwrap();
    assert_eq!(a.rows[0].by.len(), 0);
    assert_eq!(a.rows[0].estimate, Some(e[0].estimate));
    assert_eq!(a.rows[0].n, e[0].n);
    // the request is checked at the boundary
    let bad = Request { level: 1.5, ..req };
    assert!(matches!(Prepared::new(&store, &bad), Err(AnalysisError::Request(RequestError::Level { .. }))));
}

/// A flat survey of ten persons with a stratified, clustered design under `lonely` (a rule).
fn design_store(dir: &std::path::Path, lonely: &str, rows: &str) {
    let def = format!(
        "survey: d\ntitle: D\nversion: 1\ndesign: {{weight: wt, strata: area, psu: cluster, lonely_psu: {lonely}}}\nunits:\n  - id: person\n    key: id\n    questions:\n      - {{id: id, type: integer, label: Id}}\n      - {{id: area, type: integer, label: Area}}\n      - {{id: cluster, type: integer, label: Cluster}}\n      - {{id: wt, type: decimal, label: Weight}}\n      - {{id: score, type: integer, label: Score}}\n      - {{id: name, type: text, label: Name}}\n"
    );
    std::fs::write(dir.join("d.yaml"), def).unwrap();
    ok(dir, &["init", "d.db", "--definition", "d.yaml"]);
    std::fs::write(dir.join("d.csv"), format!("id,area,cluster,wt,score,name\n{rows}")).unwrap();
    ok(dir, &["import", "d.db", "--wave", "1", "d.csv"]);
}

const TEN: &str = "1,1,1,10,7,a\n2,1,1,10,5,b\n3,1,2,20,8,c\n4,1,2,20,6,d\n5,2,3,15,3,e\n6,2,3,15,9,f\n7,2,4,5,4,g\n8,2,4,5,2,h\n9,1,1,10,1,i\n10,2,4,5,3,j\n";

/// The library names no flags; `hearth analyze` tells its errors in its own flags, on one line,
/// with the exit code of a usage error (no data could answer it) or of an input problem.
#[test]
fn r16_analyze_errors_name_the_flags() {
    let d = tempdir();
    let p = d.path();
    design_store(p, "fail", TEN);
    // a request no data could answer is a usage error (exit 2), as a value clap refuses is
    let usage: &[(&[&str], &str)] = &[
        (&["--level", "1.5"], "error: --level 1.5 must be between 0.5 and 1\n"),
        (&["--stat", "ratio"], "error: --stat ratio needs --denominator VAR\n"),
        (
            &["--denominator", "wt"],
            "error: --denominator wt: a denominator is only for --stat ratio, not --stat mean\n",
        ),
    ];
    for (extra, expected) in usage {
        let mut args = vec!["analyze", "d.db", "--outcome", "score"];
        args.extend_from_slice(extra);
        assert_eq!(&fails(p, &args, 2), expected, "{extra:?}");
    }
    let cases: &[(&[&str], &str)] = &[
        (&["--where", "age > 3"], "error: --where age > 3: column 1: unknown question 'age'\n"),
        (
            &["--where", "score + 1"],
            "error: --where score + 1: must be a condition (boolean), found a number\n",
        ),
        (
            &["--by", "imd_decile"],
            "error: 'imd_decile' needs geography: run `hearth geo load STORE --builtin imd2019` (and a `geography:` section in the definition)\n",
        ),
        (&["--wave", "4"], "error: no responses to analyse in wave(s) [4]\n"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["analyze", "d.db", "--outcome", "score"];
        args.extend_from_slice(extra);
        let err = fails(p, &args, 1);
        assert_eq!(&err, expected, "{extra:?}");
    }
    let err = fails(p, &["analyze", "d.db", "--outcome", "name"], 1);
    assert_eq!(err, "error: --outcome name is text: use --stat proportion for its categories\n");
    // regression: a text denominator was read as all missing
    let err = fails(p, &["analyze", "d.db", "--outcome", "score", "--stat", "ratio", "--denominator", "name"], 1);
    assert_eq!(err, "error: --denominator name is text: a ratio needs a numeric denominator\n");
    // a probability out of range stays a usage error, whatever the statistic
    let err = fails(p, &["analyze", "d.db", "--outcome", "score", "--quantiles", "0.5,1.5"], 2);
    assert_eq!(err, "error: --quantiles 1.5: probabilities are between 0 and 1\n");
}

/// The design's error was printed twice: once in the analysis message, once as its cause.
#[test]
fn r16_design_error_printed_once() {
    let d = tempdir();
    let p = d.path();
    design_store(p, "fail", "1,1,1,10,7,a\n2,1,1,10,5,b\n3,1,2,20,8,c\n4,2,3,15,3,e\n5,2,3,15,9,f\n");
    let err = fails(p, &["analyze", "d.db", "--outcome", "score"], 1);
    assert_eq!(
        err,
        "error: the sample design cannot be used\nstratum 2 has only one PSU (3) at stage 1; choose a lonely_psu rule other than fail\n"
    );
}

/// Warnings name the flag that caused them.
#[test]
fn r16_no_suppress_warning_names_the_flag() {
    let d = tempdir();
    let p = d.path();
    design_store(p, "adjust", TEN);
    let out = hearth(p, &["analyze", "d.db", "--outcome", "score", "--no-suppress", "--format", "csv"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "warning: disclosure control is OFF (--no-suppress): small cells are shown; do not publish these tables as they are\n"
    );
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(csv.lines().nth(1).unwrap().ends_with(",10,115,false,base below 50"), "{csv}");
}
