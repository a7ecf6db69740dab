//! Unit tests of replicate designs: the factors of each method, svrVar, degf, the fast
//! estimators against the general closure path.

use super::super::{DesignSpec, EstimateOptions, LonelyPsu, Stage};
use super::*;

/// Two strata of two PSUs each (rows 0-7), weights varying.
fn paired(lonely: LonelyPsu) -> Design {
    Design::new(DesignSpec {
        n_rows: 8,
        weights: Some(vec![1.0, 2.0, 1.5, 2.5, 3.0, 1.0, 2.0, 1.0]),
        strata: Some(vec![0, 0, 0, 0, 1, 1, 1, 1]),
        stages: vec![Stage {
            clusters: vec![0, 0, 1, 1, 0, 0, 1, 1],
            fpc: None,
        }],
        lonely_psu: lonely,
        ..Default::default()
    })
    .expect("valid design")
}

const Y: [f64; 8] = [1.0, 4.0, 2.0, 6.0, 3.0, 5.0, 7.0, 2.0];

#[test]
fn fast_means_equal_the_closure_path() {
    let d = paired(LonelyPsu::Fail);
    for method in [
        ReplicateMethod::Jkn,
        ReplicateMethod::Brr,
        ReplicateMethod::Fay { rho: 0.3 },
        ReplicateMethod::Bootstrap { replicates: 20, seed: 3 },
    ] {
        for mse in [false, true] {
            let rep = ReplicateDesign::new(&d, method, mse).unwrap();
            let g = Grouping::new(vec![0, 1, 0, 1, 0, 1, 1, 0], 2).unwrap();
            let fast = rep.mean(&Y, &g, &EstimateOptions::default()).unwrap();
            let general = rep
                .estimate_with(|w| {
                    (0..2u32)
                        .map(|k| {
                            let (mut sw, mut sy) = (0.0, 0.0);
                            for i in 0..8 {
                                if g.codes()[i] == k {
                                    sw += w[i];
                                    sy += w[i] * Y[i];
                                }
                            }
                            sy / sw
                        })
                        .collect()
                })
                .unwrap();
            for (k, e) in fast.iter().enumerate() {
                assert!((e.estimate - general.estimates[k]).abs() < 1e-12);
                assert!((e.se.powi(2) - general.variances[k]).abs() < 1e-12, "{method:?} {mse}");
            }
            assert_eq!(general.covariance[1], general.covariance[2]);
        }
    }
}

#[test]
fn brr_half_samples_follow_the_hadamard_rows() {
    let d = paired(LonelyPsu::Fail);
    let rep = ReplicateDesign::new(&d, ReplicateMethod::Fay { rho: 0.5 }, false).unwrap();
    assert_eq!(rep.n_replicates(), 4);
    assert!((rep.scale() - 1.0 / (4.0 * 0.25)).abs() < 1e-15);
    // stratum 0 uses row 1 of the matrix (1 0 1 0): first PSU gets 2 - rho where it is 1
    let f = |p: usize, r: usize| rep.factors[p * 4 + r];
    assert_eq!([f(0, 0), f(0, 1), f(1, 0), f(1, 1)], [1.5, 0.5, 0.5, 1.5]);
    // stratum 1 uses row 2 (1 1 0 0)
    assert_eq!([f(2, 0), f(2, 1), f(2, 2), f(3, 2)], [1.5, 1.5, 0.5, 1.5]);
    // BRR degf = number of strata
    assert_eq!(rep.degf(), 2.0);
}

#[test]
fn brr_needs_pairs_and_jk1_no_strata() {
    let d = Design::new(DesignSpec {
        n_rows: 3,
        strata: Some(vec![0, 0, 0]),
        stages: vec![Stage {
            clusters: vec![0, 1, 2],
            fpc: None,
        }],
        strata_labels: Some(vec!["north".into()]),
        ..Default::default()
    })
    .unwrap();
    let e = ReplicateDesign::new(&d, ReplicateMethod::Brr, false).unwrap_err();
    assert_eq!(e.to_string(), "BRR needs exactly 2 PSUs in every stratum: stratum north has 3");
    let e = ReplicateDesign::new(&paired(LonelyPsu::Fail), ReplicateMethod::Jk1, false).unwrap_err();
    assert!(matches!(e, DesignError::Jk1Stratified { strata: 2 }), "{e}");
    let rep = ReplicateDesign::new(&d, ReplicateMethod::Jk1, false).unwrap();
    assert_eq!((rep.n_replicates(), rep.degf()), (3, 2.0));
}

#[test]
fn jackknife_degf_closed_forms_equal_the_numerical_rank() {
    for lonely in [LonelyPsu::Remove, LonelyPsu::Adjust] {
        jackknife_degf_under(lonely);
    }
}

fn jackknife_degf_under(lonely: LonelyPsu) {
    // three strata of 3, 2 and 1 PSUs
    let d = Design::new(DesignSpec {
        n_rows: 12,
        weights: Some((0..12).map(|i| 1.0 + i as f64 / 3.0).collect()),
        strata: Some(vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2]),
        stages: vec![Stage {
            clusters: vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 0, 0],
            fpc: None,
        }],
        lonely_psu: lonely,
        ..Default::default()
    })
    .unwrap();
    let rep = ReplicateDesign::new(&d, ReplicateMethod::Jkn, false).unwrap();
    assert_eq!(rep.rule, RankRule::Jkn);
    assert_eq!(rep.n_replicates(), if lonely == LonelyPsu::Adjust { 6 } else { 5 });
    let mut numeric = rep.clone();
    numeric.rule = RankRule::Numeric;
    numeric.full_rank = None;
    // every subset of rows given by a bit mask over the 6 PSUs (rows in pairs)
    for mask in 1u32..64 {
        let codes: Vec<u32> = (0..12).map(|i| if mask >> (i / 2) & 1 == 1 { 0 } else { Grouping::NONE }).collect();
        assert_eq!(rep.domain_degf(&codes, 1), numeric.domain_degf(&codes, 1), "{lonely:?} mask {mask:06b}");
    }
    assert_eq!(rep.degf(), if lonely == LonelyPsu::Adjust { 6.0 - 2.0 } else { 6.0 - 3.0 });
}

#[test]
fn brr_degf_closed_form_equals_the_numerical_rank() {
    // five strata of two PSUs (rows in pairs)
    let d = Design::new(DesignSpec {
        n_rows: 20,
        weights: Some((0..20).map(|i| 1.0 + i as f64 / 7.0).collect()),
        strata: Some((0..20).map(|i| i / 4).collect()),
        stages: vec![Stage {
            clusters: (0..20).map(|i| (i / 2) % 2).collect(),
            fpc: None,
        }],
        ..Default::default()
    })
    .unwrap();
    for method in [ReplicateMethod::Brr, ReplicateMethod::Fay { rho: 0.3 }] {
        let rep = ReplicateDesign::new(&d, method, false).unwrap();
        assert_eq!((rep.rule, rep.n_replicates(), rep.degf()), (RankRule::Brr, 8, 5.0));
        let mut numeric = rep.clone();
        numeric.rule = RankRule::Numeric;
        numeric.full_rank = None;
        for mask in 1u32..1024 {
            let codes: Vec<u32> = (0..20).map(|i| if mask >> (i / 2) & 1 == 1 { 0 } else { Grouping::NONE }).collect();
            assert_eq!(rep.domain_degf(&codes, 1), numeric.domain_degf(&codes, 1), "{method:?} mask {mask:010b}");
        }
    }
}

#[test]
fn svrvar_centres_and_drops_nan_replicates() {
    let d = paired(LonelyPsu::Fail);
    let mut rep = ReplicateDesign::new(&d, ReplicateMethod::Brr, false).unwrap();
    rep.scale = 0.5;
    rep.rscales = vec![1.0, 1.0, 1.0, 1.0];
    // mean of 1, 2, 3 is 2 (the NaN replicate is left out): (1 + 0 + 1) * 0.5
    assert!((rep.variance(10.0, &[1.0, 2.0, 3.0, f64::NAN]) - 1.0).abs() < 1e-15);
    rep.mse = true;
    // about the full-sample 2.5: (2.25 + 0.25 + 0.25) * 0.5
    assert!((rep.variance(2.5, &[1.0, 2.0, 3.0, f64::NAN]) - 1.375).abs() < 1e-15);
}

#[test]
fn bootstrap_factors_are_counts_summing_to_the_psus_of_each_stratum() {
    let d = paired(LonelyPsu::Fail);
    let rep = ReplicateDesign::new(&d, ReplicateMethod::Bootstrap { replicates: 200, seed: 11 }, false).unwrap();
    let again = ReplicateDesign::new(&d, ReplicateMethod::Bootstrap { replicates: 200, seed: 11 }, false).unwrap();
    assert_eq!(rep.factors, again.factors);
    for c in 0..200 {
        assert_eq!(rep.factors[c] + rep.factors[200 + c], 2.0);
        assert_eq!(rep.factors[400 + c] + rep.factors[600 + c], 2.0);
    }
    // each PSU is drawn once on average
    let mean: f64 = (0..200).map(|c| rep.factors[c]).sum::<f64>() / 200.0;
    assert!((mean - 1.0).abs() < 0.15, "{mean}");
    // m = 2 PSUs per stratum: scale 2 / (1 * 199)
    assert!((rep.scale() - 2.0 / 199.0).abs() < 1e-15);
}

#[test]
fn a_bootstrap_with_fpc_draws_without_replacement_from_a_large_population() {
    // 3 PSUs from a stratum of a billion: never built, each PSU drawn at most N/n + 1 times
    let d = Design::new(DesignSpec {
        n_rows: 3,
        stages: vec![Stage {
            clusters: vec![0, 1, 2],
            fpc: Some(vec![1e9; 3]),
        }],
        ..Default::default()
    })
    .unwrap();
    let rep = ReplicateDesign::new(&d, ReplicateMethod::Bootstrap { replicates: 50, seed: 5 }, false).unwrap();
    for c in 0..50 {
        assert_eq!((0..3).map(|p| rep.factor(p, c)).sum::<f64>(), 3.0);
    }
    // N = n: every PSU exactly once in every replicate (no variance)
    let d = Design::new(DesignSpec {
        n_rows: 3,
        stages: vec![Stage {
            clusters: vec![0, 1, 2],
            fpc: Some(vec![3.0; 3]),
        }],
        ..Default::default()
    })
    .unwrap();
    let rep = ReplicateDesign::new(&d, ReplicateMethod::Bootstrap { replicates: 10, seed: 5 }, false).unwrap();
    assert!((0..10).all(|c| (0..3).all(|p| rep.factor(p, c) == 1.0)));
}

#[test]
fn a_jackknife_of_a_million_psus_is_refused_not_allocated() {
    let n = 20_000;
    let d = Design::new(DesignSpec {
        n_rows: n,
        ..Default::default()
    })
    .unwrap();
    let e = ReplicateDesign::new(&d, ReplicateMethod::Jk1, false).unwrap_err();
    assert!(
        matches!(
            e,
            DesignError::TooManyReplicates {
                psus: 20_000,
                replicates: 20_000
            }
        ),
        "{e}"
    );
}

/// The bootstrap of fixtures/replicate/boot/bootstrap.json: R's own replicate factors (R's
/// draws cannot be reproduced) on apiclus1, with R's `svymean` overall and by school type on
/// them, mse FALSE and TRUE: hearth's variance, deff and df from those factors agree.
#[test]
fn r_bootstrap_factors_give_r_results() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/fixtures/replicate/boot/bootstrap.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let csv = std::fs::read_to_string(format!("{root}/fixtures/replicate/apiclus1.csv")).unwrap();
    let mut lines = csv.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(|h| h.trim_matches('"').to_string()).collect();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(|c| c.trim_matches('"').to_string()).collect()).collect();
    let num = |name: &str| -> Vec<f64> { rows.iter().map(|r| r[col(name)].parse().unwrap()).collect() };
    let (dnum, pw, fpc, y) = (num("dnum"), num("pw"), num("fpc"), num("api00"));
    let mut ids: Vec<f64> = dnum.clone();
    ids.sort_by(f64::total_cmp);
    ids.dedup();
    let code = |v: f64| ids.iter().position(|&i| i == v).unwrap() as u32;
    let n = rows.len();
    let design = Design::new(DesignSpec {
        n_rows: n,
        weights: Some(pw),
        stages: vec![Stage {
            clusters: dnum.iter().map(|&v| code(v)).collect(),
            fpc: Some(fpc),
        }],
        ..Default::default()
    })
    .unwrap();
    let r = doc["replicates"].as_u64().unwrap() as usize;
    let mut factors = vec![0.0; ids.len() * r];
    for (j, id) in doc["psu_ids"].as_array().unwrap().iter().enumerate() {
        let p = code(id.as_f64().unwrap()) as usize;
        for (c, f) in doc["factors"][j].as_array().unwrap().iter().enumerate() {
            factors[p * r + c] = f.as_f64().unwrap();
        }
    }
    let rscales: Vec<f64> = doc["rscales"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let types: Vec<&str> = rows.iter().map(|r| r[col("stype")].as_str()).collect();
    let levels = ["E", "H", "M"];
    let by = Grouping::new(types.iter().map(|t| levels.iter().position(|l| l == t).unwrap() as u32).collect(), 3).unwrap();
    let close = |a: f64, b: &serde_json::Value, what: &str| {
        let b = b.as_f64().unwrap();
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-9), "{what}: hearth {a}, R {b}");
    };
    for case in doc["cases"].as_array().unwrap() {
        let mse = case["mse"].as_bool().unwrap();
        let rep = ReplicateDesign::from_factors(&design, factors.clone(), doc["scale"].as_f64().unwrap(), rscales.clone(), mse).unwrap();
        let overall = rep.mean(&y, &Grouping::overall(n), &EstimateOptions::default()).unwrap();
        let by_type = rep.mean(&y, &by, &EstimateOptions::default()).unwrap();
        let expected = std::iter::once(&case["overall"][0]).chain(case["by_stype"].as_array().unwrap());
        for (e, want) in overall.iter().chain(&by_type).zip(expected) {
            let id = format!("{} {}", case["id"], want["group"]);
            close(e.estimate, &want["estimate"], &format!("{id} estimate"));
            close(e.se, &want["se"], &format!("{id} se"));
            close(e.ci_low, &want["ci_low"], &format!("{id} ci_low"));
            close(e.ci_high, &want["ci_high"], &format!("{id} ci_high"));
            close(e.deff.unwrap(), &want["deff"], &format!("{id} deff"));
            close(e.design_df, &want["df"], &format!("{id} df"));
            assert_eq!(e.n as u64, want["n"].as_u64().unwrap(), "{id} n");
        }
    }
}

/// Timing check: 1,000,000 rows in 50 strata of 20 PSUs, 100 bootstrap replicates and the
/// 1,000 JKn replicates, mean overall and over 10 groups. Run with
/// `cargo test --release --lib -- --ignored --nocapture replicate_million`.
#[test]
#[ignore]
fn replicate_million_rows() {
    let n = 1_000_000usize;
    let mut state = 12345u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let d = Design::new(DesignSpec {
        n_rows: n,
        weights: Some((0..n).map(|_| 1.0 + (next() % 1000) as f64 / 100.0).collect()),
        strata: Some((0..n).map(|i| (i / 20_000) as u32).collect()),
        stages: vec![Stage {
            clusters: (0..n).map(|i| ((i / 1_000) % 20) as u32).collect(),
            fpc: None,
        }],
        ..Default::default()
    })
    .unwrap();
    let y: Vec<f64> = (0..n).map(|i| (i % 977) as f64).collect();
    let groups = Grouping::new((0..n).map(|i| (i % 10) as u32).collect(), 10).unwrap();
    for method in [ReplicateMethod::Bootstrap { replicates: 100, seed: 1 }, ReplicateMethod::Jkn] {
        let t0 = std::time::Instant::now();
        let rep = ReplicateDesign::new(&d, method, false).unwrap();
        let build = t0.elapsed();
        let t1 = std::time::Instant::now();
        let o = rep.mean(&y, &Grouping::overall(n), &EstimateOptions::default()).unwrap();
        let overall = t1.elapsed();
        let t2 = std::time::Instant::now();
        let g = rep.mean(&y, &groups, &EstimateOptions::default()).unwrap();
        println!(
            "{} ({} replicates): build {build:?}, overall mean {overall:?}, 10 groups {:?} (se {:.4}, {:.4})",
            method.name(),
            rep.n_replicates(),
            t2.elapsed(),
            o[0].se,
            g[0].se
        );
    }
}
