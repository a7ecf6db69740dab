//! Conformance tests: every reference case computed with R's `survey` package
//! (fixtures/conformance: the shared cases; fixtures/r-extra: cases made by
//! fixtures/r-extra/make_extra.R) is rebuilt from its CSV and `design` block and
//! compared field by field (estimate, se, ci_low, ci_high, deff, n, df) at the
//! case's rtol (default 1e-6). Cases needing calibration, replicate weights or
//! SII/RII are listed as not yet covered (later work), never silently skipped.

use super::*;
use serde_json::Value;
use std::collections::BTreeMap;

const DEFAULT_RTOL: f64 = 1e-6;
const ATOL: f64 = 1e-9;

/// Cases not run here: the calibration cases need a weight set (`analysis::weighting`; they
/// pass through the CLI in tests/conformance.rs and tests/weight.rs), SII/RII need `inequality`
/// (tests/inequality.rs and the CLI), and the JK1 cases run through the CLI (replicate designs
/// have their own R cases: fixtures/replicate, tests/replicate.rs, engine/replicate/tests.rs).
const NOT_YET_COVERED: &[&str] = &[
    "apistrat_meals_decile_api00_sii",
    "apistrat_meals_decile_api00_rii_linear",
    "apistrat_meals_decile_api00_rii_log",
    "apiclus1_poststrat_stype_mean_api00",
    "apiclus1_rake_stype_schwide_mean_api00",
    "apiclus1_calibrate_raking_mean_api00",
    "apiclus1_jk1_mean_api00",
    "apiclus1_jk1mse_mean_api00",
];

/// A CSV table in R's `write.csv` format: quoted strings, NA as an empty cell.
struct Table {
    names: Vec<String>,
    cols: Vec<Vec<Option<String>>>,
}

fn parse_csv_line(line: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' {
            in_quotes = true;
            quoted = true;
        } else if c == ',' {
            out.push(if cur.is_empty() && !quoted { None } else { Some(cur.clone()) });
            cur.clear();
            quoted = false;
        } else {
            cur.push(c);
        }
    }
    out.push(if cur.is_empty() && !quoted { None } else { Some(cur) });
    out
}

impl Table {
    fn read(path: &str) -> Table {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let names: Vec<String> = parse_csv_line(lines.next().expect("header"))
            .into_iter()
            .map(|s| s.unwrap_or_default())
            .collect();
        let mut cols = vec![Vec::new(); names.len()];
        for line in lines {
            let cells = parse_csv_line(line);
            assert_eq!(cells.len(), names.len(), "{path}: ragged row");
            for (j, c) in cells.into_iter().enumerate() {
                cols[j].push(c);
            }
        }
        Table { names, cols }
    }
    fn n(&self) -> usize {
        self.cols.first().map_or(0, |c| c.len())
    }
    fn col(&self, name: &str) -> &[Option<String>] {
        let j = self.names.iter().position(|n| n == name).unwrap_or_else(|| panic!("no column {name}"));
        &self.cols[j]
    }
    fn num(&self, name: &str) -> Vec<f64> {
        self.col(name)
            .iter()
            .map(|c| match c {
                None => f64::NAN,
                Some(s) if s == "NA" => f64::NAN,
                Some(s) => s.parse().unwrap_or_else(|_| panic!("{name}: {s} not numeric")),
            })
            .collect()
    }
    /// Dense codes by sorted distinct label, plus the labels.
    fn codes(&self, name: &str) -> (Vec<u32>, Vec<String>) {
        let raw: Vec<String> = self.col(name).iter().map(|c| c.clone().unwrap_or_else(|| "NA".into())).collect();
        let labels: Vec<String> = {
            let mut l = raw.clone();
            l.sort();
            l.dedup();
            l
        };
        let codes = raw.iter().map(|r| labels.binary_search(r).unwrap_or(0) as u32).collect();
        (codes, labels)
    }
}

fn str_list(v: &Value) -> Vec<String> {
    match v {
        Value::Null => vec![],
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        _ => panic!("not a string or list: {v}"),
    }
}

fn json_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => {
            if *b {
                "TRUE".into()
            } else {
                "FALSE".into()
            }
        }
        _ => panic!("unexpected group value {v}"),
    }
}

fn build_design(spec: &Value, t: &Table) -> Result<Design, DesignError> {
    let n = t.n();
    let weights = spec["weights"].as_str().map(|w| t.num(w));
    let (strata, strata_labels) = match spec["strata"].as_str() {
        Some(s) => {
            let (c, l) = t.codes(s);
            (Some(c), Some(l))
        }
        None => (None, None),
    };
    let psus = str_list(&spec["psu"]);
    let fpcs = str_list(&spec["fpc"]);
    let mut stages = Vec::new();
    let mut psu_labels = None;
    if !(psus.len() == 1 && psus[0] == "1") {
        for (k, p) in psus.iter().enumerate() {
            let (codes, labels) = t.codes(p);
            if k == 0 {
                psu_labels = Some(labels);
            }
            stages.push(Stage {
                clusters: codes,
                fpc: fpcs.get(k).map(|f| t.num(f)),
            });
        }
    }
    if stages.is_empty() && !fpcs.is_empty() {
        stages.push(Stage {
            clusters: (0..n as u32).collect(),
            fpc: Some(t.num(&fpcs[0])),
        });
    }
    let lonely = match spec["lonely_psu"].as_str().unwrap_or("fail") {
        "fail" => LonelyPsu::Fail,
        "remove" => LonelyPsu::Remove,
        "adjust" => LonelyPsu::Adjust,
        "average" => LonelyPsu::Average,
        "certainty" => LonelyPsu::Certainty,
        other => panic!("lonely rule {other}"),
    };
    Design::new(DesignSpec {
        n_rows: n,
        weights,
        strata,
        stages,
        lonely_psu: lonely,
        ultimate_cluster: spec["ultimate_cluster"].as_bool().unwrap_or(false),
        strata_labels,
        psu_labels,
    })
}

/// Group keys per row for the case's `by` (or `domain`), as label tuples.
fn grouping_for(case: &Value, t: &Table) -> (Grouping, Vec<BTreeMap<String, String>>) {
    let n = t.n();
    if let Some(dom) = case.get("domain").and_then(|d| d.as_object()) {
        let in_dom: Vec<bool> = (0..n)
            .map(|i| dom.iter().all(|(var, val)| t.col(var)[i].as_deref() == Some(json_label(val).as_str())))
            .collect();
        return (Grouping::domain(&in_dom), vec![BTreeMap::new()]);
    }
    let by = str_list(&case["by"]);
    if by.is_empty() {
        return (Grouping::overall(n), vec![BTreeMap::new()]);
    }
    let keys: Vec<Option<Vec<String>>> = (0..n).map(|i| by.iter().map(|v| t.col(v)[i].clone()).collect::<Option<Vec<_>>>()).collect();
    let mut distinct: Vec<Vec<String>> = keys.iter().flatten().cloned().collect();
    distinct.sort();
    distinct.dedup();
    let codes = keys
        .iter()
        .map(|k| match k {
            Some(k) => distinct.binary_search(k).map_or(Grouping::NONE, |p| p as u32),
            None => Grouping::NONE,
        })
        .collect();
    let labels = distinct.iter().map(|k| by.iter().cloned().zip(k.iter().cloned()).collect()).collect();
    (Grouping::new(codes, distinct.len()).expect("grouping"), labels)
}

/// A result row with its group labels.
type LabelledRow = (BTreeMap<String, String>, Estimate);

struct Outcome {
    checked: usize,
    max_rel: f64,
    failures: Vec<String>,
}

fn compare(o: &mut Outcome, case: &str, group: &str, field: &str, got: f64, want: f64, rtol: f64) {
    o.checked += 1;
    let diff = (got - want).abs();
    let rel = if want == 0.0 { diff } else { diff / want.abs() };
    if rel.is_finite() {
        o.max_rel = o.max_rel.max(rel);
    }
    let ok = diff <= rtol * want.abs() + ATOL || (got.is_nan() && want.is_nan());
    if !ok {
        o.failures.push(format!("{case} [{group}] {field}: got {got}, want {want} (rel {rel:.2e})"));
    }
}

fn json_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(f64::NAN),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Runs one case; returns its max relative error and failures, or None if the
/// case is not yet covered.
fn run_case(case: &Value, dir: &str) -> Option<Outcome> {
    let id = case["id"].as_str().expect("id");
    if NOT_YET_COVERED.contains(&id) || case["design"].get("calibration").is_some() || case["design"].get("replicates").is_some() {
        assert!(NOT_YET_COVERED.contains(&id), "{id} needs later work but is not listed in NOT_YET_COVERED");
        return None;
    }
    let dataset = case["dataset"].as_str().expect("dataset");
    let t = Table::read(&format!("{dir}/{dataset}.csv"));
    let rtol = case["rtol"].as_f64().unwrap_or(DEFAULT_RTOL);
    let level = case["level"].as_f64().unwrap_or(0.95);
    let opts = EstimateOptions { level };
    let mut o = Outcome {
        checked: 0,
        max_rel: 0.0,
        failures: Vec::new(),
    };
    let design = match build_design(&case["design"], &t) {
        Ok(d) => d,
        Err(e) => {
            if case.get("expect_error").is_some() {
                o.checked += 1;
                return Some(o);
            }
            o.failures.push(format!("{id}: design error {e}"));
            return Some(o);
        }
    };
    let (grouping, labels) = grouping_for(case, &t);
    let variable = case["variable"].as_str().expect("variable");
    let statistic = case["statistic"].as_str().expect("statistic");
    // Rows: (group label map, estimate).
    let result: Result<Vec<LabelledRow>, DesignError> = (|| {
        let attach = |rows: Vec<Estimate>| rows.into_iter().map(|e| (labels[e.group as usize].clone(), e)).collect::<Vec<_>>();
        Ok(match statistic {
            "mean" => attach(design.mean(&t.num(variable), &grouping, &opts)?),
            "total" => attach(design.total(&t.num(variable), &grouping, &opts)?),
            "ratio" => {
                let den = case["denominator"].as_str().expect("denominator");
                attach(design.ratio(&t.num(variable), &t.num(den), &grouping, &opts)?)
            }
            "proportion" => {
                let y: Vec<f64> = match case.get("category") {
                    Some(cat) => {
                        let cat = json_label(cat);
                        t.col(variable)
                            .iter()
                            .map(|c| match c {
                                None => f64::NAN,
                                Some(s) => f64::from(u8::from(*s == cat)),
                            })
                            .collect()
                    }
                    None => t.num(variable),
                };
                let name = case["method"].as_str().unwrap_or("logit");
                let method = PropCiMethod::parse(name).unwrap_or_else(|| panic!("method {name}"));
                attach(design.proportion(&y, &grouping, method, &opts)?)
            }
            "quantile" => {
                let rule = match case["method"]["qrule"].as_str().unwrap_or("math") {
                    "math" => QuantileRule::Math,
                    "hf7" => QuantileRule::Hf7,
                    r => panic!("qrule {r}"),
                };
                let mut probs: Vec<f64> = case["results"]
                    .as_array()
                    .expect("results")
                    .iter()
                    .filter_map(|r| r["group"]["p"].as_f64())
                    .collect();
                probs.sort_by(f64::total_cmp);
                probs.dedup();
                design
                    .quantiles(&t.num(variable), &grouping, &probs, rule, &opts)?
                    .into_iter()
                    .map(|q| {
                        let mut l = labels[q.estimate.group as usize].clone();
                        l.insert("p".into(), q.p.to_string());
                        (l, q.estimate)
                    })
                    .collect()
            }
            s => panic!("{id}: statistic {s} not handled"),
        })
    })();
    let rows = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(pat) = case.get("expect_error").and_then(|v| v.as_str()) {
                let msg = e.to_string();
                if !msg.contains(pat) {
                    o.failures.push(format!("{id}: error {msg:?} does not mention {pat:?}"));
                }
                o.checked += 1;
            } else {
                o.failures.push(format!("{id}: error {e}"));
            }
            return Some(o);
        }
    };
    if case.get("expect_error").is_some() {
        o.failures.push(format!("{id}: expected an error"));
        return Some(o);
    }
    if let Some(vc) = case.get("vcov").and_then(|v| v.as_array()) {
        check_vcov(&mut o, id, vc, &design, &t, variable, &grouping, &labels, rtol);
    }
    for want in case["results"].as_array().expect("results") {
        let key: BTreeMap<String, String> = want["group"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let s = if k == "p" {
                            v.as_f64().map(|x| x.to_string()).unwrap_or_default()
                        } else {
                            json_label(v)
                        };
                        (k.clone(), s)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let gname = format!("{key:?}");
        let Some((_, got)) = rows.iter().find(|(l, _)| *l == key) else {
            o.failures.push(format!("{id}: no result for group {gname}"));
            continue;
        };
        for (field, value) in [("estimate", got.estimate), ("se", got.se), ("ci_low", got.ci_low), ("ci_high", got.ci_high)] {
            if let Some(w) = want.get(field).and_then(json_f64) {
                compare(&mut o, id, &gname, field, value, w, rtol);
            }
        }
        // Likelihood intervals: R's spline interpolation is checked at the case's
        // rtol, the exact profile root (solved in R) at the default tolerance.
        for (field, value) in [("exact_ci_low", got.ci_low), ("exact_ci_high", got.ci_high)] {
            if let Some(w) = want.get(field).and_then(json_f64) {
                compare(&mut o, id, &gname, field, value, w, DEFAULT_RTOL);
            }
        }
        if let Some(w) = want.get("deff").and_then(json_f64) {
            compare(&mut o, id, &gname, "deff", got.deff.unwrap_or(f64::NAN), w, rtol);
        }
        if let Some(w) = want.get("df").and_then(json_f64) {
            compare(&mut o, id, &gname, "df", got.reported_df(), w, 0.0);
        }
        if let Some(w) = want.get("n").and_then(|v| v.as_u64()) {
            if got.n as u64 != w {
                o.failures.push(format!("{id} [{gname}] n: got {}, want {w}", got.n));
            }
            o.checked += 1;
        }
        // A domain must not reproduce the filter-then-estimate SE.
        if let Some(naive) = case.get("naive_filter_results").and_then(|v| v.as_array()) {
            for nv in naive {
                if let Some(nse) = nv.get("se").and_then(json_f64) {
                    if ((got.se - nse) / nse).abs() < 1e-6 {
                        o.failures.push(format!("{id}: SE equals the naive filtered-design SE {nse}"));
                    }
                }
            }
        }
    }
    Some(o)
}

/// Compares the covariance of group means with R's `svyby(..., covmat = TRUE)`
/// (groups in R's order = sorted labels, as here), and its diagonal with the
/// per-group variances.
#[allow(clippy::too_many_arguments)]
fn check_vcov(
    o: &mut Outcome,
    id: &str,
    vc: &[Value],
    design: &Design,
    t: &Table,
    variable: &str,
    grouping: &Grouping,
    labels: &[BTreeMap<String, String>],
    rtol: f64,
) {
    let lin = design.linearize_mean(&t.num(variable), grouping).expect("linearize");
    let cov = lin.covariance().expect("covariance");
    let (var, _) = lin.variances().expect("variances");
    assert_eq!(vc.len(), cov.n_groups, "{id}: vcov size ({labels:?})");
    for (a, rowv) in vc.iter().enumerate() {
        assert_eq!(cov.get(a, a), var[a], "{id}: diagonal differs from variance");
        for (b, w) in rowv.as_array().expect("vcov row").iter().enumerate() {
            let w = w.as_f64().expect("vcov entry");
            let scale = (cov.get(a, a) * cov.get(b, b)).sqrt();
            o.checked += 1;
            let diff = (cov.get(a, b) - w).abs();
            o.max_rel = o.max_rel.max(diff / scale);
            if diff > rtol * scale + ATOL {
                o.failures.push(format!("{id}: vcov[{a},{b}] got {}, want {w}", cov.get(a, b)));
            }
        }
    }
}

fn run_dir(dir: &str) -> (Vec<String>, Vec<String>) {
    run_files(dir, |_| true)
}

/// Runs the cases of the reference files of `dir` whose file name `pick` accepts.
fn run_files(dir: &str, pick: impl Fn(&str) -> bool) -> (Vec<String>, Vec<String>) {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&pick))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no reference files in {dir}");
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read json");
        let doc: Value = serde_json::from_str(&text).expect("parse json");
        for case in doc["cases"].as_array().expect("cases") {
            let id = case["id"].as_str().unwrap_or("?").to_string();
            match run_case(case, dir) {
                None => report.push(format!("NOT YET COVERED {id}")),
                Some(o) => {
                    let status = if o.failures.is_empty() { "PASS" } else { "FAIL" };
                    report.push(format!("{status} {id}: {} values, max rel err {:.1e}", o.checked, o.max_rel));
                    assert!(o.checked > 0, "{id}: nothing compared");
                    failures.extend(o.failures);
                }
            }
        }
    }
    (report, failures)
}

fn fixtures(sub: &str) -> String {
    format!("{}/fixtures/{sub}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shared_conformance_cases() {
    let (report, failures) = run_dir(&fixtures("conformance"));
    println!("{}", report.join("\n"));
    let covered = report.iter().filter(|r| !r.starts_with("NOT YET")).count();
    assert!(covered >= 15, "only {covered} cases covered");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn r_extra_cases() {
    let (report, failures) = run_dir(&fixtures("r-extra"));
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

/// Issue 14 item 4: missing answers that empty whole PSUs (overall, in `by` groups and
/// in a `--where` domain) remove no PSU from a proportion's t df, as `svyciprop` on the
/// group's design, but do from a quantile's, as `svyquantile(na.rm = TRUE)`; references
/// from fixtures/r-extra/make_na_psu.R.
#[test]
fn r14_missing_answers_keep_their_psus_in_the_proportion_df() {
    let (report, failures) = run_files(&fixtures("r-extra"), |name| name == "na_psu.json");
    println!("{}", report.join("\n"));
    assert_eq!(
        report.iter().filter(|r| r.starts_with("PASS") || r.starts_with("FAIL")).count(),
        27,
        "{report:?}"
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn csv_reader_handles_quotes_and_na() {
    let cells = parse_csv_line(r#""a,b",,3,"x""y","""#);
    assert_eq!(
        cells,
        vec![Some("a,b".into()), None, Some("3".into()), Some("x\"y".into()), Some(String::new())]
    );
}
