//! The measures of inequality for one outcome with the frame loaded and the design built (issue
//! #17's "under 20 ms" target): ten outcomes over IMD deciles (group estimates with their
//! covariance, gap and ratio, SII, RII linear and log, concentration indices, PAR and PAF),
//! timed over one prepared analysis, on every core and on one thread, median of several runs.
//! `cargo bench --bench inequality`; HEARTH_BENCH_STORE=PATH times an existing store of the
//! shipped survey with IMD 2019 loaded (benches/inequality_vs_r.sh makes one), else a store of
//! HEARTH_BENCH_SIZES persons (default 1000000) is made in the bench scratch directory.

#[path = "common.rs"]
mod common;

use hearth::analysis::inequality::{inequality_prepared, InequalityRequest};
use hearth::analysis::Prepared;

const OUTCOMES: &[&str] = &[
    "swemwbs_metric_score",
    "wemwbs_total",
    "phq9_total",
    "phq9_caseness",
    "gad7_total",
    "gad7_caseness",
    "ucla3_total",
    "auditc_total",
    "general_health_bad",
    "llti_condition",
];

fn store_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("HEARTH_BENCH_STORE") {
        return p.into();
    }
    let persons = common::sizes(&[1_000_000])[0];
    let dir = common::scratch();
    let path = dir.join(format!("inequality_{persons}.db"));
    if !path.exists() {
        let def = common::survey();
        let (csv_path, _) = common::simulated_csv(&dir, persons, 1);
        let mut store = hearth::store::Store::create(&path, &def).expect("create");
        let opts = hearth::capture::ImportOptions { wave: 1, ..Default::default() };
        hearth::capture::import_files(&mut store, &[csv_path], &opts).expect("import");
        let g = hearth::geo::Geography::builtin(hearth::geo::Builtin::Imd2019).expect("builtin");
        hearth::capture::areas::store_geography(&mut store, &g).expect("geo");
    }
    path
}

fn main() {
    let path = store_path();
    let store = hearth::store::Store::open(&path).expect("open");
    let req = InequalityRequest {
        outcomes: OUTCOMES.iter().map(|s| s.to_string()).collect(),
        suppress: false,
        ..Default::default()
    };
    let (t_prepare, prepared) = common::median(1, || Prepared::new(&store, &req.analysis_request()).expect("prepare"));
    let rows = prepared.df.height();
    let runs = 9;
    let (t_all, out) = common::median(runs, || inequality_prepared(&prepared, &req).expect("inequality"));
    assert_eq!(out.outcomes.len(), OUTCOMES.len());
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let (t_one, _) = one.install(|| common::median(runs, || inequality_prepared(&prepared, &req).expect("inequality")));
    let n = OUTCOMES.len() as f64;
    println!(
        "inequality measures, {rows} persons, {} outcomes over IMD deciles, frame loaded and design built",
        OUTCOMES.len()
    );
    println!("  prepare (frame and design, once): {:.0} ms", t_prepare.as_secs_f64() * 1e3);
    println!(
        "  every core: {:.1} ms for ten outcomes, {:.1} ms per outcome (median of {runs})",
        t_all.as_secs_f64() * 1e3,
        t_all.as_secs_f64() * 1e3 / n
    );
    println!(
        "  one thread: {:.1} ms for ten outcomes, {:.1} ms per outcome (median of {runs})",
        t_one.as_secs_f64() * 1e3,
        t_one.as_secs_f64() * 1e3 / n
    );
    for o in OUTCOMES {
        let single = InequalityRequest {
            outcomes: vec![o.to_string()],
            ..req.clone()
        };
        let (t, _) = one.install(|| common::median(runs, || inequality_prepared(&prepared, &single).expect("inequality")));
        println!("    {o}: {:.1} ms (one thread)", t.as_secs_f64() * 1e3);
    }
}
