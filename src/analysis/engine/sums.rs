//! Weighted sums of an outcome per group and their design-based covariance, from one pass
//! over the rows: what every gradient measure of inequality is a function of.
//!
//! For the rows used (group known, outcome answered), each group g has three sums: W_g = sum
//! w, D_g = sum w (y - c_g) and Q_g = sum w (y - c_g)^2, c_g a value of the group's (the
//! centre keeps the sums well conditioned: a residual's influence is then a difference of
//! numbers of the order of the spread of y, not of its level). A statistic whose per-row influence value is, within
//! group g, `a_g w + b_g w (y - c_g) + e_g w (y - c_g)^2` (a regression on a group-level
//! score, a concentration index, a group mean, an attributable risk) is the linear
//! combination of the 3k sums with coefficients (a, b, e), so its variance is c' V c with V
//! the covariance of the sums: the k x 3 unit totals of one pass replace a vector of every
//! row per statistic. V goes through the engine's one variance path (`variance`: strata,
//! multistage, fpc, lonely PSUs), every sum over the same domain (the rows used), as R's
//! `svymean(~a + b + c, subset(design, used))` takes several columns over one subset. That
//! equals [`Design::influence_covariance`] of the statistics' influence vectors over the
//! rows used to rounding; a calibrated design (whose residuals need every row) and a design
//! whose deepest units are too many for a dense table take exactly that path instead.
//!
//! Owns [`GroupSums`] and [`Design::sums_per_group`]. Must not know what the statistics are:
//! callers give the coefficients.

use super::design::Design;
use super::influence::InfluenceCovariance;
use super::variance::{aggregate_entries, group_covariance, group_variances, Entry, UnitTotals};
use super::{DesignError, Grouping};

/// Sums per group: weight, centred value, centred square.
pub const SLOTS: usize = 3;

/// The weighted sums of an outcome per group over the rows used, with their covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSums {
    /// Rows used per group.
    pub n: Vec<usize>,
    /// The centre of each group (its first value in the design's order; 0 without rows).
    pub centre: Vec<f64>,
    /// Sum of the weights per group.
    pub weight: Vec<f64>,
    /// Sum of w (y - centre) per group.
    pub wd: Vec<f64>,
    /// Sum of w (y - centre)^2 per group.
    pub wdd: Vec<f64>,
    /// The covariance of the 3k sums, slot `3 g + s` (s: 0 weight, 1 centred, 2 square).
    cov: Vec<f64>,
    /// Design df of the rows used: PSUs holding them minus their strata.
    pub df: f64,
}

impl GroupSums {
    /// Number of groups.
    pub fn k(&self) -> usize {
        self.n.len()
    }

    /// Sum of w y of group `g`.
    pub fn wy(&self, g: usize) -> f64 {
        self.wd[g] + self.centre[g] * self.weight[g]
    }

    /// The covariance of statistics given by their coefficients on the sums (each `3 k`
    /// long, slot `3 g + s`), every one with the df of the rows used.
    pub fn covariance_of(&self, stats: &[&[f64]]) -> InfluenceCovariance {
        let m = SLOTS * self.k();
        let p = stats.len();
        // V c for each statistic, then c' V c
        let vc: Vec<Vec<f64>> = stats
            .iter()
            .map(|c| (0..m).map(|a| (0..m).map(|b| self.cov[a * m + b] * c[b]).sum()).collect())
            .collect();
        let mut cov = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..p {
                cov[i * p + j] = (0..m).map(|a| stats[i][a] * vc[j][a]).sum();
            }
        }
        InfluenceCovariance { cov, p, df: vec![self.df; p] }
    }
}

/// Most dense entries (deepest units holding rows times slots) per row before the sums take
/// the vector path instead.
const DENSE_PER_ROW: usize = 2;

/// The sums of one run of rows of the same unit and group, kept in registers.
struct Run<const E: usize> {
    unit: u32,
    group: usize,
    n: usize,
    sums: [f64; SLOTS],
    extra: [f64; E],
}

impl Design {
    /// The sums of `y` per group of `codes` (k groups, `Grouping::NONE`: no group) over the
    /// rows used (a group, y not NaN), with their design-based covariance, in one pass over
    /// the rows in the design's order; with, per group, the weighted sums of `extra(y)` (E
    /// functions of y of the caller's own, summed as w extra(y)[j]). An infinite `y` in a row
    /// used is an error naming the row.
    pub fn sums_per_group<const E: usize>(
        &self,
        codes: &[u32],
        k: usize,
        y: &[f64],
        extra: impl FnMut(f64) -> [f64; E],
    ) -> Result<(GroupSums, Vec<[f64; E]>), DesignError> {
        self.sums_per_group_with(codes, k, y, extra, false)
    }

    /// [`Design::sums_per_group`], through the influence vectors of the sums when `vectors`
    /// (as a calibrated design always does).
    pub(super) fn sums_per_group_with<const E: usize>(
        &self,
        codes: &[u32],
        k: usize,
        y: &[f64],
        mut extra: impl FnMut(f64) -> [f64; E],
        vectors: bool,
    ) -> Result<(GroupSums, Vec<[f64; E]>), DesignError> {
        for (what, len) in [("group codes", codes.len()), ("values", y.len())] {
            if len != self.n {
                return Err(DesignError::LengthMismatch {
                    what,
                    expected: self.n,
                    got: len,
                });
            }
        }
        let m = SLOTS * k;
        let n_stages = if self.ultimate_cluster { 1 } else { self.stages.len() };
        let deep = &self.stages[n_stages - 1];
        let dense_too_large = deep.parent_of_unit.len().saturating_mul(m) > DENSE_PER_ROW * self.n + 100_000;
        let by_vectors = vectors || self.calibration.is_some() || dense_too_large;
        let w = &self.weights;
        let mut sums = GroupSums {
            n: vec![0; k],
            centre: vec![0.0; k],
            weight: vec![0.0; k],
            wd: vec![0.0; k],
            wdd: vec![0.0; k],
            cov: Vec::new(),
            df: f64::NAN,
        };
        let mut extras = vec![[0.0; E]; k];
        let mut seen = vec![false; k];
        // the rows of a household share its unit and mostly its group: a run of them is
        // summed in registers and added to the group's and the unit's sums when it ends.
        // Every deepest unit holding rows used gets a total for every slot (0 for groups
        // without rows there), so that every sum has the rows used as its domain.
        let mut acc = vec![0.0; m];
        let mut entries: Vec<Entry> = Vec::new();
        let mut run: Option<Run<E>> = None;
        let end_run = |run: &Run<E>, sums: &mut GroupSums, extras: &mut [[f64; E]], acc: &mut [f64]| {
            let g = run.group;
            sums.n[g] += run.n;
            sums.weight[g] += run.sums[0];
            sums.wd[g] += run.sums[1];
            sums.wdd[g] += run.sums[2];
            for (t, x) in extras[g].iter_mut().zip(run.extra) {
                *t += x;
            }
            for (t, x) in acc[SLOTS * g..SLOTS * g + SLOTS].iter_mut().zip(run.sums) {
                *t += x;
            }
        };
        let end_unit = |acc: &mut [f64], entries: &mut Vec<Entry>, unit: u32| {
            for (j, t) in acc.iter_mut().enumerate() {
                entries.push(Entry {
                    unit,
                    group: j as u32,
                    total: *t,
                });
                *t = 0.0;
            }
        };
        for &r in &self.order {
            let r = r as usize;
            let (g, v) = (codes[r], y[r]);
            if g == Grouping::NONE || v.is_nan() {
                continue;
            }
            if v.is_infinite() {
                return Err(DesignError::NonFiniteValue { row: r, value: v });
            }
            let g = g as usize;
            if g >= k {
                return Err(DesignError::InvalidArgument(format!("group {g} of {k}")));
            }
            let u = if by_vectors { 0 } else { deep.unit_of_row[r] };
            let current = match &mut run {
                Some(x) if x.unit == u && x.group == g => x,
                _ => {
                    if let Some(x) = run.take() {
                        end_run(&x, &mut sums, &mut extras, &mut acc);
                        if x.unit != u && !by_vectors {
                            end_unit(&mut acc, &mut entries, x.unit);
                        }
                    }
                    // the centre: the group's first value (any value among the group's keeps
                    // the centred sums of the order of the spread, not of the level)
                    if !seen[g] {
                        seen[g] = true;
                        sums.centre[g] = v;
                    }
                    run.insert(Run {
                        unit: u,
                        group: g,
                        n: 0,
                        sums: [0.0; SLOTS],
                        extra: [0.0; E],
                    })
                }
            };
            let d = v - sums.centre[g];
            let wr = w[r];
            current.n += 1;
            current.sums[0] += wr;
            current.sums[1] += wr * d;
            current.sums[2] += wr * d * d;
            for (t, x) in current.extra.iter_mut().zip(extra(v)) {
                *t += wr * x;
            }
        }
        if let Some(x) = run.take() {
            end_run(&x, &mut sums, &mut extras, &mut acc);
            if !by_vectors {
                end_unit(&mut acc, &mut entries, x.unit);
            }
        }
        if by_vectors {
            (sums.cov, sums.df) = self.sums_by_vectors(codes, k, y, &sums.centre)?;
            return Ok((sums, extras));
        }
        let totals = UnitTotals {
            stages: aggregate_entries(self, entries, n_stages, m),
            used_df: None,
        };
        sums.df = group_variances(self, &totals, m)?.df.first().copied().unwrap_or(f64::NAN);
        sums.cov = group_covariance(self, &totals, m)?;
        Ok((sums, extras))
    }

    /// The covariance of the sums from their influence vectors (0 on rows used of other
    /// groups, NaN on rows not used) through [`Design::influence_covariance`] over the rows
    /// used, with the df of those rows.
    fn sums_by_vectors(&self, codes: &[u32], k: usize, y: &[f64], centre: &[f64]) -> Result<(Vec<f64>, f64), DesignError> {
        let m = SLOTS * k;
        let w = &self.weights;
        let used: Vec<bool> = codes.iter().zip(y).map(|(&g, v)| g != Grouping::NONE && !v.is_nan()).collect();
        let mut z = vec![vec![f64::NAN; self.n]; m];
        for r in (0..self.n).filter(|&r| used[r]) {
            let g = codes[r] as usize;
            for zj in z.iter_mut() {
                zj[r] = 0.0;
            }
            let d = y[r] - centre[g];
            z[SLOTS * g][r] = w[r];
            z[SLOTS * g + 1][r] = w[r] * d;
            z[SLOTS * g + 2][r] = w[r] * d * d;
        }
        let refs: Vec<&[f64]> = z.iter().map(Vec::as_slice).collect();
        let v = self.influence_covariance(&refs, &[&used])?;
        Ok((v.cov, v.df.first().copied().unwrap_or(f64::NAN)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DesignSpec, LonelyPsu, Stage};
    use super::*;

    /// Three strata (the last with one PSU), PSUs of several rows, unequal weights; with
    /// `second` a second stage (two SSUs per PSU) and fpcs.
    fn design(lonely: LonelyPsu, second: bool) -> Design {
        let n = 40;
        let strata: Vec<u32> = (0..n)
            .map(|i| {
                if i < 16 {
                    0
                } else if i < 32 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let psu: Vec<u32> = (0..n).map(|i| if i < 32 { (i / 4) as u32 } else { 8 }).collect();
        let weights: Vec<f64> = (0..n).map(|i| 1.0 + ((i * 7) % 5) as f64 * 0.5).collect();
        let mut stages = vec![Stage { clusters: psu, fpc: None }];
        if second {
            stages[0].fpc = Some(
                (0..n)
                    .map(|i| {
                        if i < 16 {
                            10.0
                        } else if i < 32 {
                            12.0
                        } else {
                            3.0
                        }
                    })
                    .collect(),
            );
            stages.push(Stage {
                clusters: (0..n).map(|i| ((i / 2) % 2) as u32).collect(),
                fpc: Some(vec![6.0; n]),
            });
        }
        Design::new(DesignSpec {
            n_rows: n,
            weights: Some(weights),
            strata: Some(strata),
            stages,
            lonely_psu: lonely,
            ..Default::default()
        })
        .unwrap()
    }

    fn data() -> (Vec<u32>, Vec<f64>) {
        let codes: Vec<u32> = (0..40).map(|i| if i % 11 == 3 { Grouping::NONE } else { ((i * 5) % 3) as u32 }).collect();
        let y: Vec<f64> = (0..40).map(|i| if i % 9 == 4 { f64::NAN } else { 50.0 + ((i * 13) % 7) as f64 }).collect();
        (codes, y)
    }

    #[test]
    fn one_pass_of_unit_totals_equals_the_influence_vectors_under_every_rule() {
        let (codes, y) = data();
        for second in [false, true] {
            for lonely in [LonelyPsu::Adjust, LonelyPsu::Average, LonelyPsu::Remove, LonelyPsu::Certainty] {
                let d = design(lonely, second);
                let fast = d.sums_per_group_with(&codes, 3, &y, |_| [], false).map(|s| s.0).unwrap();
                let slow = d.sums_per_group_with(&codes, 3, &y, |_| [], true).map(|s| s.0).unwrap();
                assert_eq!(fast.n, slow.n);
                assert_eq!(fast.df, slow.df, "{lonely:?} {second}");
                let scale = slow.cov.iter().fold(0.0f64, |a, b| a.max(b.abs()));
                for (a, b) in fast.cov.iter().zip(&slow.cov) {
                    assert!((a - b).abs() <= 1e-12 * scale || (a.is_nan() && b.is_nan()), "{lonely:?} {second}: {a} {b}");
                }
            }
        }
    }

    #[test]
    fn a_statistic_from_the_sums_has_the_variance_of_its_influence_vector() {
        // the overall mean: influence w (y - mu) / W on the rows used
        let (codes, y) = data();
        let d = design(LonelyPsu::Adjust, false);
        let s = d.sums_per_group(&codes, 3, &y, |_| []).map(|s| s.0).unwrap();
        let total_w: f64 = s.weight.iter().sum();
        let mu = (0..3).map(|g| s.wy(g)).sum::<f64>() / total_w;
        let mut c = vec![0.0; 9];
        for g in 0..3 {
            c[3 * g] = (s.centre[g] - mu) / total_w;
            c[3 * g + 1] = 1.0 / total_w;
        }
        let v = s.covariance_of(&[&c]);
        let used: Vec<bool> = codes.iter().zip(&y).map(|(&g, v)| g != Grouping::NONE && !v.is_nan()).collect();
        let z: Vec<f64> = (0..40)
            .map(|i| if used[i] { d.weights()[i] * (y[i] - mu) / total_w } else { f64::NAN })
            .collect();
        let want = d.influence_covariance(&[&z], &[&used]).unwrap();
        assert!(
            (v.get(0, 0) - want.get(0, 0)).abs() < 1e-12 * want.get(0, 0),
            "{} {}",
            v.get(0, 0),
            want.get(0, 0)
        );
        assert_eq!(v.df, want.df);
    }

    #[test]
    fn an_infinite_value_names_its_row() {
        let (codes, mut y) = data();
        y[5] = f64::INFINITY;
        let d = design(LonelyPsu::Adjust, false);
        assert_eq!(
            d.sums_per_group(&codes, 3, &y, |_| []).map(|s| s.0).unwrap_err(),
            DesignError::NonFiniteValue { row: 5, value: f64::INFINITY }
        );
    }
}
