//! The five-breakdown suite over a simulated household survey (stratified, clustered, weighted):
//! overall mean; mean by IMD decile; by decile x sex; by ward; a proportion with a logit CI.
//! `cargo bench --bench analysis` (HEARTH_BENCH_SIZES=1000000 by default).
//!
//! Reports: the estimation time with the design built once (R's survey takes about 11.5-13 s for
//! the same suite, design building excluded), the whole `analyze` call including reading the
//! store, ten outcomes in one call, and, as a peer in the same process, hand-written Polars
//! weighted means (no standard errors) over the same frame.

#[path = "common.rs"]
mod common;

use hearth::analysis::{analyze, Request, Stat};
use polars::prelude::*;
use rayon::prelude::*;

fn suite() -> Vec<Request> {
    let mean = |by: Vec<Vec<String>>| Request {
        outcomes: vec!["swemwbs_metric_score".into()],
        by,
        stat: Stat::Mean,
        suppress: false,
        ..Default::default()
    };
    vec![
        mean(vec![]),
        mean(vec![vec!["imd_decile".into()]]),
        mean(vec![vec!["imd_decile".into(), "sex".into()]]),
        mean(vec![vec!["ward".into()]]),
        Request {
            outcomes: vec!["phq9_caseness".into()],
            stat: Stat::Proportion,
            suppress: false,
            ..Default::default()
        },
    ]
}

/// The suite's estimation time with the design and groupings prepared once (as R's figure is
/// timed with `svydesign` excluded).
fn suite_timing(def: &hearth::schema::Definition, df: &DataFrame, waves: &[i64], runs: usize) -> std::time::Duration {
    use hearth::analysis::engine::{EstimateOptions, PropCiMethod};
    // as `analyze` does: rows in the design's order
    let (df, _, design) = hearth::analysis::design_in_order(def, df.clone(), waves.to_vec(), false).expect("design");
    let df = &df;
    let y = hearth::analysis::column_f64(df, "swemwbs_metric_score").expect("y");
    let p = hearth::analysis::column_f64(df, "phq9_caseness").expect("p");
    let o = EstimateOptions::default();
    // as `analyze` does: the (grouping, estimate) tasks spread over the cores
    let tasks: Vec<Vec<String>> = vec![
        vec![],
        vec!["imd_decile".to_string()],
        vec!["imd_decile".to_string(), "sex".to_string()],
        vec!["ward".to_string()],
        vec!["*proportion".to_string()],
    ];
    let (t, _) = common::median(runs, || {
        tasks
            .par_iter()
            .map(|by| {
                if by.first().map(String::as_str) == Some("*proportion") {
                    let (g, _) = hearth::analysis::grouping(df, def, &[]).expect("grouping");
                    return design.proportion(&p, &g, PropCiMethod::Logit, &o).expect("prop").len();
                }
                let (g, _) = hearth::analysis::grouping(df, def, by).expect("grouping");
                design.mean(&y, &g, &o).expect("mean").len()
            })
            .sum::<usize>()
    });
    t
}

fn main() {
    let dir = common::scratch();
    let def = common::survey();
    for persons in common::sizes(&[1_000_000]) {
        let store_path = dir.join(format!("analysis_{persons}.db"));
        if !store_path.exists() {
            let (csv_path, _) = common::simulated_csv(&dir, persons, 1);
            let mut store = hearth::store::Store::create(&store_path, &def).expect("create");
            let opts = hearth::capture::ImportOptions { wave: 1, ..Default::default() };
            hearth::capture::import_files(&mut store, &[csv_path], &opts).expect("import");
            let g = hearth::geo::Geography::builtin(hearth::geo::Builtin::Imd2019).expect("builtin");
            hearth::capture::areas::store_geography(&mut store, &g).expect("geo");
        }
        let store = hearth::store::Store::open(&store_path).expect("open");
        // whole calls, loading included
        let (t_calls, n_rows) = common::median(3, || suite().iter().map(|r| analyze(&store, r).expect("analyze").rows.len()).sum::<usize>());
        // one call with all five (one load, one design build)
        let all = Request {
            outcomes: vec!["swemwbs_metric_score".into()],
            by: vec![vec!["imd_decile".into()], vec!["imd_decile".into(), "sex".into()], vec!["ward".into()]],
            suppress: false,
            ..Default::default()
        };
        let prop = Request {
            outcomes: vec!["phq9_caseness".into()],
            stat: Stat::Proportion,
            suppress: false,
            ..Default::default()
        };
        let (t_one, _) = common::median(3, || {
            (analyze(&store, &all).expect("a").rows.len(), analyze(&store, &prop).expect("p").rows.len())
        });
        // the estimation only: frame and design prepared once
        let vars: Vec<String> = ["swemwbs_metric_score", "phq9_caseness", "imd_decile", "sex", "ward", "weight", "stratum", "psu"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (t_load, frame) = common::median(1, || hearth::analysis::frame::load(&store, &def, &vars, &[]).expect("frame"));
        let engine_t = suite_timing(&def, &frame.df, &frame.waves, 3);
        // ten outcomes, five breakdowns, one call
        let ten: Vec<String> = [
            "swemwbs_metric_score",
            "wemwbs_total",
            "phq9_total",
            "gad7_total",
            "ucla3_total",
            "ons4_satisfaction",
            "ons4_worthwhile",
            "ons4_happiness",
            "ons4_anxiety",
            "auditc_total",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ten_req = Request {
            outcomes: ten,
            by: vec![vec!["imd_decile".into()], vec!["imd_decile".into(), "sex".into()], vec!["ward".into()]],
            suppress: false,
            ..Default::default()
        };
        let (t_ten, ten_rows) = common::median(3, || analyze(&store, &ten_req).expect("ten").rows.len());
        // the same ten outcomes with the frame loaded once: design, groupings, 40 estimates
        let mut ten_vars = ten_req.outcomes.clone();
        ten_vars.extend(["imd_decile", "sex", "ward", "weight", "stratum", "psu"].iter().map(|s| s.to_string()));
        let ten_frame = hearth::analysis::frame::load(&store, &def, &ten_vars, &[]).expect("frame");
        let (t_ten_est, _) = common::median(3, || {
            let (df, _, design) = hearth::analysis::design_in_order(&def, ten_frame.df.clone(), ten_frame.waves.clone(), false).expect("design");
            let bys: Vec<Vec<String>> = vec![vec![], vec!["imd_decile".into()], vec!["imd_decile".into(), "sex".into()], vec!["ward".into()]];
            let groups: Vec<_> = bys.iter().map(|b| hearth::analysis::grouping(&df, &def, b).expect("grouping").0).collect();
            let ys: Vec<Vec<f64>> = ten_req.outcomes.iter().map(|o| hearth::analysis::column_f64(&df, o).expect("y")).collect();
            let tasks: Vec<(usize, usize)> = (0..ys.len()).flat_map(|i| (0..groups.len()).map(move |g| (i, g))).collect();
            let o = hearth::analysis::engine::EstimateOptions::default();
            tasks
                .par_iter()
                .map(|&(i, g)| design.mean(&ys[i], &groups[g], &o).expect("mean").len())
                .sum::<usize>()
        });
        // peer: hand-written Polars weighted means by group (point estimates only)
        let df = frame.df.clone();
        let (t_polars, _) = common::median(3, || {
            let y = col("swemwbs_metric_score");
            let w = col("weight");
            let wm = || ((y.clone() * w.clone()).sum() / w.clone().filter(y.clone().is_not_null()).sum()).alias("mean");
            let mut n = 0;
            n += df.clone().lazy().select([wm()]).collect().expect("p0").height();
            for by in [vec![col("imd_decile")], vec![col("imd_decile"), col("sex")], vec![col("ward")]] {
                n += df.clone().lazy().group_by(by).agg([wm()]).collect().expect("p").height();
            }
            let p = col("phq9_caseness").cast(DataType::Float64);
            n += df
                .clone()
                .lazy()
                .select([((p.clone() * w.clone()).sum() / w.filter(p.is_not_null()).sum()).alias("p")])
                .collect()
                .expect("pp")
                .height();
            n
        });
        println!("five-breakdown suite over {} persons ({} rows of results):", frame.df.height(), n_rows);
        println!(
            "  estimation only (design built once, as R's 11.5 s is timed): {:.1} ms  -> {:.0}x faster than R's 11.5 s",
            engine_t.as_secs_f64() * 1e3,
            11.5 / engine_t.as_secs_f64()
        );
        println!(
            "  frame load from the store (8 columns, derived scores computed): {:.0} ms",
            t_load.as_secs_f64() * 1e3
        );
        println!("  five separate analyze() calls, loading included: {:.2} s", t_calls.as_secs_f64());
        println!("  two analyze() calls covering the suite (one load each): {:.2} s", t_one.as_secs_f64());
        println!(
            "  ten outcomes x (overall + 3 breakdowns) in one call: {:.2} s ({ten_rows} rows)",
            t_ten.as_secs_f64()
        );
        println!(
            "  the same ten outcomes, frame loaded once (design in order, groupings, 40 estimates): {:.0} ms",
            t_ten_est.as_secs_f64() * 1e3
        );
        println!(
            "  peer, hand-written Polars weighted means (no SEs): {:.1} ms; hearth/peer = {:.2}",
            t_polars.as_secs_f64() * 1e3,
            engine_t.as_secs_f64() / t_polars.as_secs_f64()
        );
    }
}
