//! The covariance of several statistics linearised over one design, from their per-row
//! influence values: the general form of [`super::Linearization::covariance`], for
//! statistics that are not group means (regression coefficients, functions of several
//! means), so that every variance in hearth goes through one path (`variance`'s unit totals
//! and `survey::svyrecvar`'s rules: strata, multistage, fpc, lonely PSUs, domains).
//!
//! Owns [`Design::influence_covariance`] and its result. Must not compute influence values:
//! callers (inequality's regressions, contrasts) build them and hand them here.

use super::design::Design;
use super::estimators::check_values;
use super::variance::{group_covariance, group_variances, unit_totals_multi, unit_totals_rows};
use super::DesignError;

/// Largest number of statistics whose covariance is computed at once.
pub const MAX_STATISTICS: usize = 1024;

/// The covariance matrix of p statistics with the design df of the rows each one uses.
#[derive(Debug, Clone, PartialEq)]
pub struct InfluenceCovariance {
    /// Row-major p x p covariance.
    pub cov: Vec<f64>,
    /// Number of statistics.
    pub p: usize,
    /// Per statistic: PSUs holding rows it uses minus their strata (R's `degf` of the design
    /// restricted to those rows, as `svyglm` takes it after dropping missing values).
    pub df: Vec<f64>,
}

impl InfluenceCovariance {
    /// Covariance of statistics `a` and `b`.
    pub fn get(&self, a: usize, b: usize) -> f64 {
        self.cov[a * self.p + b]
    }

    /// Variance of the linear combination `c` of the statistics (`c' V c`).
    pub fn contrast_variance(&self, c: &[f64]) -> f64 {
        let mut v = 0.0;
        for a in 0..self.p {
            for b in 0..self.p {
                v += c[a] * c[b] * self.get(a, b);
            }
        }
        v
    }
}

impl Design {
    /// The design-based covariance of p statistics from their influence values `z` (one
    /// vector per statistic, in the design's row order), as `svyrecvar(cbind(z...))` gives
    /// it. `domains` says which rows each statistic uses: one mask shared by all, or one per
    /// statistic; rows outside a statistic's domain take no part in it (the full design's
    /// n_h is kept, as for domain estimates), which decides which strata and PSUs count, for
    /// lonely PSUs and for the df.
    pub fn influence_covariance(&self, z: &[&[f64]], domains: &[&[bool]]) -> Result<InfluenceCovariance, DesignError> {
        let p = z.len();
        if p == 0 || p > MAX_STATISTICS {
            return Err(DesignError::InvalidArgument(format!(
                "{p} statistics: give between 1 and {MAX_STATISTICS} influence vectors"
            )));
        }
        if domains.len() != 1 && domains.len() != p {
            return Err(DesignError::InvalidArgument(format!(
                "{} domains for {p} statistics: give one shared domain or one per statistic",
                domains.len()
            )));
        }
        // the values' lengths first; that none is infinite is checked in the pass over them
        let check_all = || -> Result<(), DesignError> {
            for zj in z {
                check_values(self, zj, "influence values")?;
            }
            Ok(())
        };
        if z.iter().any(|zj| zj.len() != self.n) {
            check_all()?;
        }
        for d in domains {
            if d.len() != self.n {
                check_all()?;
                return Err(DesignError::LengthMismatch {
                    what: "domain",
                    expected: self.n,
                    got: d.len(),
                });
            }
        }
        let Some(totals) = unit_totals_multi(self, z, domains) else {
            // an infinite value: the error names the first, vector by vector
            check_all()?;
            return Err(DesignError::InvalidArgument("an infinite influence value".into()));
        };
        let df = group_variances(self, &totals, p)?.df;
        let cov = group_covariance(self, &totals, p)?;
        Ok(InfluenceCovariance { cov, p, df })
    }
}

impl Design {
    /// [`Design::influence_covariance`] of `p` statistics over every row, their influence
    /// values given row by row: `values(row, out)` pushes the row's (statistic, value) pairs
    /// in increasing statistic order, a statistic not pushed (or NaN) taking no part in the
    /// row, as a NaN in its vector would. The same covariance without a vector of every row
    /// per statistic: for many statistics each using a few rows (a contrast per group).
    pub fn influence_covariance_rows(&self, p: usize, values: impl Fn(usize, &mut Vec<(u32, f64)>)) -> Result<InfluenceCovariance, DesignError> {
        if p == 0 || p > MAX_STATISTICS {
            return Err(DesignError::InvalidArgument(format!(
                "{p} statistics: give between 1 and {MAX_STATISTICS} influence vectors"
            )));
        }
        if self.calibration.is_some() {
            // the calibration's residuals need every statistic's vector
            let mut z = vec![vec![f64::NAN; self.n]; p];
            let mut row = Vec::with_capacity(p);
            for r in 0..self.n {
                row.clear();
                values(r, &mut row);
                for &(j, v) in &row {
                    if let Some(zj) = z.get_mut(j as usize) {
                        zj[r] = v;
                    }
                }
            }
            let all = vec![true; self.n];
            let refs: Vec<&[f64]> = z.iter().map(Vec::as_slice).collect();
            return self.influence_covariance(&refs, &[&all]);
        }
        let totals = unit_totals_rows(self, p, values)?;
        let df = group_variances(self, &totals, p)?.df;
        let cov = group_covariance(self, &totals, p)?;
        Ok(InfluenceCovariance { cov, p, df })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DesignSpec, Grouping, LonelyPsu, Stage};
    use super::*;

    /// Two strata of three PSUs, two rows each, unequal weights.
    fn design(lonely: LonelyPsu) -> Design {
        let strata = vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
        let psu = vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
        let weights = vec![1.0, 2.0, 1.5, 1.0, 3.0, 2.0, 1.0, 1.0, 2.5, 1.0, 2.0, 1.5];
        Design::new(DesignSpec {
            n_rows: 12,
            weights: Some(weights),
            strata: Some(strata),
            stages: vec![Stage { clusters: psu, fpc: None }],
            lonely_psu: lonely,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn one_influence_vector_gives_the_variance_of_a_mean() {
        let d = design(LonelyPsu::Fail);
        let y = [3.0, 4.0, 1.0, 7.0, 2.0, 5.0, 6.0, 2.0, 8.0, 1.0, 4.0, 3.0];
        let lin = d.linearize_mean(&y, &Grouping::overall(12)).unwrap();
        let (var, df) = lin.variances().unwrap();
        let all = vec![true; 12];
        let c = d.influence_covariance(&[lin.influence()], &[&all]).unwrap();
        assert!((c.get(0, 0) - var[0]).abs() < 1e-15 * var[0].max(1.0));
        assert_eq!(c.df, df);
    }

    #[test]
    fn group_means_as_separate_vectors_give_the_group_covariance() {
        let d = design(LonelyPsu::Adjust);
        let y = [3.0, 4.0, 1.0, 7.0, 2.0, 5.0, 6.0, 2.0, 8.0, 1.0, 4.0, 3.0];
        let g = Grouping::new(vec![0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1], 2).unwrap();
        let lin = d.linearize_mean(&y, &g).unwrap();
        let gc = lin.covariance().unwrap();
        let z = lin.influence();
        let in0: Vec<bool> = g.codes().iter().map(|&c| c == 0).collect();
        let in1: Vec<bool> = g.codes().iter().map(|&c| c == 1).collect();
        let c = d.influence_covariance(&[z, z], &[&in0, &in1]).unwrap();
        for a in 0..2 {
            for b in 0..2 {
                assert!((c.get(a, b) - gc.get(a, b)).abs() < 1e-14, "{a} {b}");
            }
        }
        assert!((c.contrast_variance(&[1.0, -1.0]) - (gc.get(0, 0) + gc.get(1, 1) - 2.0 * gc.get(0, 1))).abs() < 1e-14);
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let d = design(LonelyPsu::Fail);
        let all = vec![true; 12];
        assert!(d.influence_covariance(&[], &[&all]).is_err());
        let short = vec![0.0; 3];
        assert!(d.influence_covariance(&[&short], &[&all]).is_err());
        let z = vec![0.0; 12];
        assert!(d.influence_covariance(&[&z, &z, &z], &[&all, &all]).is_err());
        // an infinite value, in or out of the domain, is named: the first of the first vector
        // holding one
        let mut bad = vec![0.0; 12];
        bad[7] = f64::INFINITY;
        bad[9] = f64::NEG_INFINITY;
        let none = vec![false; 12];
        for dom in [&all, &none] {
            match d.influence_covariance(&[&z, &bad], &[dom]) {
                Err(DesignError::NonFiniteValue { row, value }) => assert_eq!((row, value), (7, f64::INFINITY)),
                other => panic!("{other:?}"),
            }
            match d.influence_covariance(&[&z, &bad], &[dom, dom]) {
                Err(DesignError::NonFiniteValue { row, .. }) => assert_eq!(row, 7),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn values_given_row_by_row_give_the_covariance_of_the_vectors() {
        for lonely in [LonelyPsu::Adjust, LonelyPsu::Average, LonelyPsu::Remove] {
            let d = design(lonely);
            let y = [3.0, 4.0, 1.0, 7.0, 2.0, 5.0, 6.0, 2.0, 8.0, 1.0, 4.0, 3.0];
            let g = Grouping::new(vec![0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1], 2).unwrap();
            let lin = d.linearize_mean(&y, &g).unwrap();
            let z = lin.influence();
            let col = |k: u32| -> Vec<f64> { (0..12).map(|i| if g.codes()[i] == k { z[i] } else { f64::NAN }).collect() };
            let (c0, c1) = (col(0), col(1));
            let both: Vec<f64> = (0..12).map(|i| if i % 5 == 0 { f64::NAN } else { y[i] }).collect();
            let all = vec![true; 12];
            let want = d.influence_covariance(&[&c0, &c1, &both], &[&all]).unwrap();
            let got = d
                .influence_covariance_rows(3, |i, out| {
                    out.push((g.codes()[i], z[i]));
                    out.push((2, both[i]));
                })
                .unwrap();
            assert_eq!(got, want, "{lonely:?}");
            let inf = d.influence_covariance_rows(1, |i, out| out.push((0, if i == 3 { f64::INFINITY } else { 1.0 })));
            assert!(inf.is_err());
        }
    }
}
