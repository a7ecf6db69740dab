//! The joint covariance of several statistics linearised over one design, for estimators
//! built outside the engine from influence values of their own (age-standardised means, a
//! slope per wave, cell proportions of a table), plus the interval quantiles they need.
//!
//! Owns only the step from per-row influence columns to their covariance matrix, through the
//! same unit totals and stratified, multistage, lonely-PSU rules as every group covariance
//! (`survey::svyrecvar` on a matrix of influence functions). Must not estimate anything or
//! know what the columns are.

use super::design::Design;
use super::dist::{qnorm, qt};
use super::variance::{group_covariance, group_variances, unit_totals, UnitTotals};
use super::{DesignError, Grouping};

/// Covariance matrix of K statistics over one design.
#[derive(Debug, Clone, PartialEq)]
pub struct JointCovariance {
    /// Row-major `k x k` covariance.
    pub cov: Vec<f64>,
    /// Number of statistics.
    pub k: usize,
    /// Per statistic: PSUs holding rows of its domain minus their strata (R's `degf` of the
    /// domain).
    pub df: Vec<f64>,
}

impl JointCovariance {
    /// Covariance of statistics `a` and `b`.
    pub fn get(&self, a: usize, b: usize) -> f64 {
        self.cov[a * self.k + b]
    }

    /// Variance of `sum_j c_j stat_j`, a linear combination of the statistics.
    pub fn combination_variance(&self, c: &[f64]) -> f64 {
        let mut v = 0.0;
        for a in 0..self.k {
            for b in 0..self.k {
                v += c[a] * c[b] * self.get(a, b);
            }
        }
        v
    }
}

impl Design {
    /// The covariance of K linearised statistics: `influence[k][row]` is the influence value
    /// of statistic k at a row (R's `svyrecvar` input: for a domain mean `w (y - ybar) / W`),
    /// NaN where the row is outside the statistic's domain (it then counts as 0, and the
    /// PSUs and strata without domain rows take no part in the lonely-PSU rules, as for
    /// group covariances).
    pub fn joint_covariance(&self, influence: &[Vec<f64>]) -> Result<JointCovariance, DesignError> {
        let k = influence.len();
        if let Some(bad) = influence.iter().find(|c| c.len() != self.n) {
            return Err(DesignError::LengthMismatch {
                what: "influence column",
                expected: self.n,
                got: bad.len(),
            });
        }
        if k > super::estimators::MAX_COVARIANCE_GROUPS {
            return Err(DesignError::TooManyGroups {
                groups: k,
                limit: super::estimators::MAX_COVARIANCE_GROUPS,
            });
        }
        let mut merged: Option<UnitTotals> = None;
        for (j, col) in influence.iter().enumerate() {
            let groups: Vec<u32> = col.iter().map(|v| if v.is_nan() { Grouping::NONE } else { 0 }).collect();
            let z: Vec<f64> = col.iter().map(|v| if v.is_nan() { 0.0 } else { *v }).collect();
            let mut t = unit_totals(self, &groups, &z, 1);
            for stage in &mut t.stages {
                for e in stage.iter_mut() {
                    e.group = j as u32;
                }
            }
            match &mut merged {
                None => merged = Some(t),
                Some(m) => {
                    for (dst, src) in m.stages.iter_mut().zip(t.stages) {
                        dst.extend(src);
                    }
                }
            }
        }
        let Some(mut totals) = merged else {
            return Ok(JointCovariance {
                cov: Vec::new(),
                k: 0,
                df: Vec::new(),
            });
        };
        // units are numbered in their parents' order: sorting by unit keeps every parent's
        // units together, as the variance passes expect
        for stage in &mut totals.stages {
            stage.sort_by_key(|e| (e.unit, e.group));
        }
        let cov = group_covariance(self, &totals, k)?;
        let df = group_variances(self, &totals, k)?.df;
        Ok(JointCovariance { cov, k, df })
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (the normal when `df` is
/// infinite), as R's `qt`.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if df.is_infinite() {
        qnorm(p)
    } else {
        qt(p, df)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DesignSpec, Stage};
    use super::*;

    fn design() -> Design {
        // two strata, three PSUs each, rows interleaved
        let strata = vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1];
        let psu = vec![0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5];
        Design::new(DesignSpec {
            n_rows: 12,
            weights: Some(vec![1.0, 2.0, 1.5, 1.0, 2.0, 3.0, 1.0, 1.0, 2.5, 1.0, 1.0, 2.0]),
            strata: Some(strata),
            stages: vec![Stage { clusters: psu, fpc: None }],
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn the_joint_covariance_of_group_means_is_the_group_covariance() {
        let d = design();
        let y = [3.0, 5.0, 2.0, 8.0, 4.0, 1.0, 6.0, 2.0, 7.0, 3.0, 5.0, 4.0];
        let g = Grouping::new(vec![0, 1, 1, 0, 0, 1, 1, 0, 2, 2, 0, 1], 3).unwrap();
        let lin = d.linearize_mean(&y, &g).unwrap();
        let want = lin.covariance().unwrap();
        let cols: Vec<Vec<f64>> = (0..3)
            .map(|k| (0..12).map(|i| if g.codes()[i] == k { lin.influence()[i] } else { f64::NAN }).collect())
            .collect();
        let got = d.joint_covariance(&cols).unwrap();
        for a in 0..3 {
            for b in 0..3 {
                assert!((got.get(a, b) - want.get(a, b)).abs() < 1e-12, "{a},{b}: {} vs {}", got.get(a, b), want.get(a, b));
            }
        }
        // a statistic over every row (the overall mean) with the groups
        let all = d.linearize_mean(&y, &Grouping::overall(12)).unwrap();
        let mut cols2 = cols.clone();
        cols2.push(all.influence().to_vec());
        let j = d.joint_covariance(&cols2).unwrap();
        let (v, _) = all.variances().unwrap();
        assert!((j.get(3, 3) - v[0]).abs() < 1e-12);
        // the covariance of a group with the overall mean, by polarisation: Var(a + o)
        for a in 0..3 {
            let sum: Vec<f64> = (0..12).map(|i| if cols[a][i].is_nan() { 0.0 } else { cols[a][i] } + all.influence()[i]).collect();
            let vs = d.joint_covariance(&[sum]).unwrap().get(0, 0);
            let c = (vs - j.get(a, a) - j.get(3, 3)) / 2.0;
            assert!((j.get(a, 3) - c).abs() < 1e-12, "{a}: {} vs {c}", j.get(a, 3));
        }
        assert_eq!(j.df, vec![2.0, 2.0, 0.0, 4.0]);
    }

    #[test]
    fn a_column_of_the_wrong_length_is_refused() {
        let d = design();
        assert!(matches!(d.joint_covariance(&[vec![0.0; 3]]), Err(DesignError::LengthMismatch { .. })));
        assert_eq!(d.joint_covariance(&[]).unwrap().k, 0);
    }

    #[test]
    fn t_quantiles_as_r() {
        assert!((t_quantile(0.975, 17.0) - 2.109815577833317).abs() < 1e-10);
        assert!((t_quantile(0.975, f64::INFINITY) - 1.959963984540054).abs() < 1e-12);
    }
}
