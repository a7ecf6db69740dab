//! Weighted sums of an outcome per group, from one pass over the rows, and the design-based
//! covariance of any linear combinations of them: what every gradient measure of inequality
//! is a function of.
//!
//! For the rows used (group known, outcome answered), each group g has three sums: W_g = sum
//! w, D_g = sum w (y - c_g) and Q_g = sum w (y - c_g)^2, c_g a value of the group's (the
//! centre keeps the sums well conditioned: a residual's influence is then a difference of
//! numbers of the order of the spread of y, not of its level). A statistic whose per-row
//! influence value is, within group g, `a_g w + b_g w (y - c_g) + e_g w (y - c_g)^2` (a
//! regression on a group-level score, a concentration index, a group mean, an attributable
//! risk) is the linear combination of the 3k sums with coefficients (a, b, e), and so are its
//! totals in every PSU. The pass keeps every deepest-stage unit's 3k sums; the covariance of a
//! few statistics is then taken from their unit totals (the table times the coefficients)
//! through the engine's one variance path (`variance`: strata, multistage, fpc, lonely PSUs),
//! every statistic over the same domain (the rows used), as R's `svymean(~a + b + c,
//! subset(design, used))` takes several columns over one subset. That equals
//! [`Design::influence_covariance`] of the statistics' influence vectors over the rows used to
//! rounding; a calibrated design (whose residuals need every row) and a design whose deepest
//! units are too many for the table keep the rows used instead and take exactly that path.
//!
//! Owns [`GroupSums`] and [`Design::sums_per_group`]. Must not know what the statistics are:
//! callers give the coefficients.

use super::design::Design;
use super::influence::InfluenceCovariance;
use super::variance::{aggregate_entries, group_covariance, group_variances, Entry, UnitTotals};
use super::{DesignError, Grouping};

/// Sums per group: weight, centred value, centred square.
pub const SLOTS: usize = 3;

/// Where the covariance of the sums' combinations is taken from.
#[derive(Debug, Clone, PartialEq)]
enum Spread {
    /// Every deepest-stage unit holding rows used (in the design's order) with its 3k sums
    /// (`sums[i * 3k + slot]`, 0 for groups without rows there).
    Units { units: Vec<u32>, sums: Vec<f64> },
    /// Every row used: its row, group and centred value (the vector path).
    Rows { rows: Vec<(u32, u32, f64)> },
}

/// The weighted sums of an outcome per group over the rows used, and what their covariance
/// is taken from.
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
    spread: Spread,
    /// The design the sums were taken over ([`Design`]'s uid).
    design: u64,
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
    /// long, slot `3 g + s`, s: 0 weight, 1 centred value, 2 centred square), every one over
    /// the rows used (its df: PSUs holding them minus their strata), over `design`, the
    /// design the sums were taken over.
    pub fn covariance_of(&self, design: &Design, stats: &[&[f64]]) -> Result<InfluenceCovariance, DesignError> {
        let m = SLOTS * self.k();
        if design.uid != self.design {
            return Err(DesignError::InvalidArgument("the sums were taken over another design".into()));
        }
        if let Some(c) = stats.iter().find(|c| c.len() != m) {
            return Err(DesignError::LengthMismatch {
                what: "coefficients",
                expected: m,
                got: c.len(),
            });
        }
        let p = stats.len();
        match &self.spread {
            Spread::Units { units, sums } => {
                // each unit's total of each statistic, for every unit holding rows used
                let mut entries = Vec::with_capacity(units.len() * p);
                for (i, &unit) in units.iter().enumerate() {
                    let row = &sums[i * m..(i + 1) * m];
                    for (j, c) in stats.iter().enumerate() {
                        let total = row.iter().zip(c.iter()).map(|(s, c)| s * c).sum();
                        entries.push(Entry { unit, group: j as u32, total });
                    }
                }
                let n_stages = if design.ultimate_cluster { 1 } else { design.stages.len() };
                let totals = UnitTotals {
                    stages: aggregate_entries(design, entries, n_stages, p),
                    used_df: None,
                };
                let df = group_variances(design, &totals, p)?.df;
                let cov = group_covariance(design, &totals, p)?;
                Ok(InfluenceCovariance { cov, p, df })
            }
            Spread::Rows { rows } => {
                let w = design.weights();
                let mut used = vec![false; design.n];
                let mut z = vec![vec![f64::NAN; design.n]; p];
                for &(r, g, d) in rows {
                    let (r, g) = (r as usize, SLOTS * g as usize);
                    used[r] = true;
                    for (zj, c) in z.iter_mut().zip(stats) {
                        zj[r] = w[r] * (c[g] + d * (c[g + 1] + d * c[g + 2]));
                    }
                }
                let refs: Vec<&[f64]> = z.iter().map(Vec::as_slice).collect();
                design.influence_covariance(&refs, &[&used])
            }
        }
    }
}

/// Most entries of the units' table (deepest units holding rows times slots) per row before
/// the sums keep the rows instead.
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
    /// rows used (a group, y not NaN), in one pass over the rows in the design's order, with
    /// what the covariance of their combinations is taken from ([`GroupSums::covariance_of`]);
    /// with, per group, the weighted sums of `extra(y)` (E functions of y of the caller's own,
    /// summed as `w extra(y)[j]`). An infinite `y` in a row used is an error naming the row.
    pub fn sums_per_group<const E: usize>(
        &self,
        codes: &[u32],
        k: usize,
        y: &[f64],
        extra: impl FnMut(f64) -> [f64; E],
    ) -> Result<(GroupSums, Vec<[f64; E]>), DesignError> {
        self.sums_per_group_with(codes, k, y, extra, false)
    }

    /// [`Design::sums_per_group`], keeping the rows used (the vector path) when `vectors` (as a
    /// calibrated design always does).
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
        let too_many_units = deep.parent_of_unit.len().saturating_mul(m) > DENSE_PER_ROW * self.n + 100_000;
        let by_rows = vectors || self.calibration.is_some() || too_many_units;
        let w = &self.weights;
        let mut sums = GroupSums {
            n: vec![0; k],
            centre: vec![0.0; k],
            weight: vec![0.0; k],
            wd: vec![0.0; k],
            wdd: vec![0.0; k],
            spread: Spread::Rows { rows: Vec::new() },
            design: self.uid,
        };
        let mut extras = vec![[0.0; E]; k];
        let mut seen = vec![false; k];
        // the rows of a household share its unit and mostly its group: a run of them is
        // summed in registers and added to the group's and the unit's sums when it ends
        let mut units: Vec<u32> = Vec::new();
        let mut table: Vec<f64> = Vec::new();
        let mut rows: Vec<(u32, u32, f64)> = Vec::new();
        let mut run: Option<Run<E>> = None;
        let end_run = |run: &Run<E>, sums: &mut GroupSums, extras: &mut [[f64; E]], units: &mut Vec<u32>, table: &mut Vec<f64>| {
            let g = run.group;
            sums.n[g] += run.n;
            sums.weight[g] += run.sums[0];
            sums.wd[g] += run.sums[1];
            sums.wdd[g] += run.sums[2];
            for (t, x) in extras[g].iter_mut().zip(run.extra) {
                *t += x;
            }
            if by_rows {
                return;
            }
            if units.last() != Some(&run.unit) {
                units.push(run.unit);
                table.resize(table.len() + m, 0.0);
            }
            let at = table.len() - m + SLOTS * g;
            for (t, x) in table[at..at + SLOTS].iter_mut().zip(run.sums) {
                *t += x;
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
            let u = if by_rows { 0 } else { deep.unit_of_row[r] };
            let current = match &mut run {
                Some(x) if x.unit == u && x.group == g => x,
                _ => {
                    if let Some(x) = run.take() {
                        end_run(&x, &mut sums, &mut extras, &mut units, &mut table);
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
            if by_rows {
                rows.push((r as u32, g as u32, d));
            }
        }
        if let Some(x) = run.take() {
            end_run(&x, &mut sums, &mut extras, &mut units, &mut table);
        }
        sums.spread = if by_rows {
            Spread::Rows { rows }
        } else {
            Spread::Units { units, sums: table }
        };
        Ok((sums, extras))
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

    /// Three statistics' coefficients on the 9 sums of three groups.
    fn stats() -> Vec<Vec<f64>> {
        (0..3).map(|j| (0..9).map(|i| ((i * 7 + j * 3) % 5) as f64 * 0.3 - 0.5).collect()).collect()
    }

    #[test]
    fn the_units_table_gives_the_covariance_of_the_influence_vectors_under_every_rule() {
        let (codes, y) = data();
        let stats = stats();
        let refs: Vec<&[f64]> = stats.iter().map(Vec::as_slice).collect();
        for second in [false, true] {
            for lonely in [LonelyPsu::Adjust, LonelyPsu::Average, LonelyPsu::Remove, LonelyPsu::Certainty] {
                let d = design(lonely, second);
                let (fast, _) = d.sums_per_group_with(&codes, 3, &y, |_| [], false).unwrap();
                let (slow, _) = d.sums_per_group_with(&codes, 3, &y, |_| [], true).unwrap();
                assert!(matches!(fast.spread, Spread::Units { .. }) && matches!(slow.spread, Spread::Rows { .. }));
                assert_eq!((&fast.n, &fast.centre), (&slow.n, &slow.centre));
                let (a, b) = (fast.covariance_of(&d, &refs).unwrap(), slow.covariance_of(&d, &refs).unwrap());
                assert_eq!(a.df, b.df, "{lonely:?} {second}");
                let scale = b.cov.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                for (x, y) in a.cov.iter().zip(&b.cov) {
                    assert!((x - y).abs() <= 1e-12 * scale, "{lonely:?} {second}: {x} {y}");
                }
            }
        }
    }

    #[test]
    fn a_statistic_from_the_sums_has_the_variance_of_its_influence_vector() {
        // the overall mean: influence w (y - mu) / W on the rows used
        let (codes, y) = data();
        let d = design(LonelyPsu::Adjust, false);
        let (s, _) = d.sums_per_group(&codes, 3, &y, |_| []).unwrap();
        let total_w: f64 = s.weight.iter().sum();
        let mu = (0..3).map(|g| s.wy(g)).sum::<f64>() / total_w;
        let mut c = vec![0.0; 9];
        for g in 0..3 {
            c[3 * g] = (s.centre[g] - mu) / total_w;
            c[3 * g + 1] = 1.0 / total_w;
        }
        let v = s.covariance_of(&d, &[&c]).unwrap();
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
        // the sums themselves, and the caller's own sums of the same pass
        let (s2, extra) = d.sums_per_group(&codes, 3, &y, |v| [1.0, v]).unwrap();
        for (g, e) in extra.iter().enumerate() {
            assert!((e[0] - s2.weight[g]).abs() < 1e-12 && (e[1] - s2.wy(g)).abs() < 1e-9);
        }
        // another design's table is refused
        let other = design(LonelyPsu::Adjust, false);
        assert!(s.covariance_of(&other, &[&c]).is_err());
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
