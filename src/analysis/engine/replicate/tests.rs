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
            for k in 0..2 {
                assert!((fast[k].estimate - general.estimates[k]).abs() < 1e-12);
                assert!((fast[k].se.powi(2) - general.variances[k]).abs() < 1e-12, "{method:?} {mse}");
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
    // three strata of 3, 2 and 1 PSUs; lonely PSU removed
    let d = Design::new(DesignSpec {
        n_rows: 12,
        weights: Some((0..12).map(|i| 1.0 + i as f64 / 3.0).collect()),
        strata: Some(vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2]),
        stages: vec![Stage {
            clusters: vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 0, 0],
            fpc: None,
        }],
        lonely_psu: LonelyPsu::Remove,
        ..Default::default()
    })
    .unwrap();
    let rep = ReplicateDesign::new(&d, ReplicateMethod::Jkn, false).unwrap();
    assert_eq!(rep.n_replicates(), 5);
    let mut numeric = rep.clone();
    numeric.rule = RankRule::Numeric;
    // every subset of rows given by a bit mask over the 6 PSUs (rows in pairs)
    for mask in 1u32..64 {
        let codes: Vec<u32> = (0..12).map(|i| if mask >> (i / 2) & 1 == 1 { 0 } else { Grouping::NONE }).collect();
        assert_eq!(rep.domain_degf(&codes, 1), numeric.domain_degf(&codes, 1), "mask {mask:06b}");
    }
    assert_eq!(rep.degf(), 6.0 - 3.0);
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
