//! Variance of estimates from a calibrated design: influence values replaced by their
//! residuals from the calibration model, as `survey::svyrecvar` does with a design's
//! `postStrata` before the stratified multistage variance.
//!
//! Owns the engine's side of a weight set: the calibration model (one categorical margin per
//! calibration variable or crossed set of variables, a dense level code per row), the weights
//! before calibration (`start`) and those the calibration produced (`calibrated`), and the
//! residualisation every variance passes through (called from `variance::unit_totals`, so means,
//! totals, ratios, proportions, quantiles and regressions all get it). It must not compute
//! weights (that is `analysis::weighting`), read the store or name variables.
//!
//! With `v = x / calibrated` (x the influence value of a row):
//! - [`CalibrationKind::Projection`] (R's `postStratify` and `calibrate`, `greg_calibration`):
//!   `x <- calibrated * (v - M b)` with `b` the weighted least-squares coefficients of `v` on the
//!   margin indicators `M` with the start weights (`qr.resid(qr(M sqrt(w0)), x / w) * w` in
//!   `svyrecvar`; the post-stratum means of `v` weighted by the old weights for `postStratify`);
//! - [`CalibrationKind::Backfit`] (R's `rake`, class `raking`): ten sweeps over the margins of
//!   `x <- x - calibrated * ave(v, margin)` with unweighted means, exactly as `svyrecvar`.
//!
//! Both subtract `calibrated * M a` for a coefficient vector `a` found from the margin sums of
//! `v`, so a unit's residual total is its plain total minus `(sum over its rows of calibrated *
//! M) . a`: the per-unit sums are computed once per design, and each group costs O(rows of the
//! group + units x nonzero margin cells), with no pass over every row per group. A group's
//! influence, zero outside the group, becomes dense after residualisation (R regresses each
//! domain's zero-padded influence): every unit then holds a total for every group. Degrees of
//! freedom are not changed (R keeps `degf`).

use super::design::Design;
use super::{DesignError, Grouping};

/// Sweeps of the backfitting of a raked design (fixed at 10 in `svyrecvar`).
pub const RAKING_SWEEPS: usize = 10;

/// How a calibrated design's influence values are residualised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationKind {
    /// Weighted least-squares residuals on the margin indicators, weights = start weights
    /// (post-stratification and `calibrate`).
    Projection,
    /// Ten sweeps of unweighted backfitting over the margins (`rake`).
    Backfit,
}

/// A calibration to attach to a design ([`Design::calibrated`]); vectors are per row of the
/// design, in its row numbering.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationSpec {
    /// How influence values are residualised.
    pub kind: CalibrationKind,
    /// Per margin, the level code of each row (`0..levels[m]`).
    pub margins: Vec<Vec<u32>>,
    /// Number of levels of each margin.
    pub levels: Vec<usize>,
    /// The weights before calibration (the design's weights).
    pub start: Vec<f64>,
    /// The weights the calibration produced (before any trimming).
    pub calibrated: Vec<f64>,
}

/// A calibration prepared over a design (see the module docs).
#[derive(Debug, Clone)]
pub(super) struct Calibration {
    kind: CalibrationKind,
    /// Column offset of each margin's levels among the `p` indicator columns.
    offsets: Vec<usize>,
    /// Per margin, level code per row.
    margins: Vec<Vec<u32>>,
    start: Vec<f64>,
    calibrated: Vec<f64>,
    /// Projection: the factor of the Gram matrix; Backfit: co-occurrence counts.
    solver: Solver,
    /// Per unit of the deepest stage used, `sum calibrated * M` as (column, value) pairs (CSR).
    unit_start: Vec<usize>,
    unit_cols: Vec<u32>,
    unit_vals: Vec<f64>,
}

#[derive(Debug, Clone)]
enum Solver {
    /// Pivoted Cholesky of `M' W0 M`: permutation, rank and the factor (row-major p x p).
    Cholesky { perm: Vec<usize>, rank: usize, l: Vec<f64>, p: usize },
    /// `counts[a * p + c]`: rows having level a and level c (a row's own margin: diagonal).
    Counts { counts: Vec<f64>, p: usize },
}

impl Calibration {
    /// Checks `spec` against `design` and prepares it.
    pub(super) fn new(design: &Design, spec: CalibrationSpec) -> Result<Calibration, DesignError> {
        let n = design.n;
        for (what, v) in [("start weights", &spec.start), ("calibrated weights", &spec.calibrated)] {
            if v.len() != n {
                return Err(DesignError::LengthMismatch {
                    what,
                    expected: n,
                    got: v.len(),
                });
            }
            if let Some((row, &value)) = v.iter().enumerate().find(|(_, &w)| !(w.is_finite() && w > 0.0)) {
                return Err(DesignError::InvalidWeight { row, value });
            }
        }
        if spec.margins.is_empty() || spec.margins.len() != spec.levels.len() {
            return Err(DesignError::InvalidArgument(
                "a calibration needs at least one margin, each with its number of levels".into(),
            ));
        }
        let mut offsets = Vec::with_capacity(spec.levels.len());
        let mut p = 0usize;
        for (codes, &k) in spec.margins.iter().zip(&spec.levels) {
            if codes.len() != n {
                return Err(DesignError::LengthMismatch {
                    what: "calibration margin",
                    expected: n,
                    got: codes.len(),
                });
            }
            if let Some((row, &code)) = codes.iter().enumerate().find(|(_, &c)| c as usize >= k) {
                return Err(DesignError::InvalidGroup { row, code, n_groups: k });
            }
            offsets.push(p);
            p += k;
        }
        let col = |m: usize, i: usize| offsets[m] + spec.margins[m][i] as usize;
        let solver = match spec.kind {
            CalibrationKind::Projection => {
                let mut gram = vec![0.0; p * p];
                for i in 0..n {
                    for a in 0..spec.margins.len() {
                        for b in 0..spec.margins.len() {
                            gram[col(a, i) * p + col(b, i)] += spec.start[i];
                        }
                    }
                }
                let (perm, rank, l) = pivoted_cholesky(gram, p);
                Solver::Cholesky { perm, rank, l, p }
            }
            CalibrationKind::Backfit => {
                let mut counts = vec![0.0; p * p];
                for i in 0..n {
                    for a in 0..spec.margins.len() {
                        for b in 0..spec.margins.len() {
                            counts[col(a, i) * p + col(b, i)] += 1.0;
                        }
                    }
                }
                Solver::Counts { counts, p }
            }
        };
        // per unit of the deepest stage used: sum of calibrated * indicators
        let n_stages = if design.ultimate_cluster { 1 } else { design.stages.len() };
        let deep = &design.stages[n_stages - 1];
        let n_units = deep.parent_of_unit.len();
        let mut acc = vec![0.0; p];
        let mut touched: Vec<u32> = Vec::new();
        let mut unit_start = vec![0usize; n_units + 1];
        let mut unit_cols = Vec::new();
        let mut unit_vals = Vec::new();
        let mut current: Option<u32> = None;
        let flush = |u: u32, acc: &mut Vec<f64>, touched: &mut Vec<u32>, cols: &mut Vec<u32>, vals: &mut Vec<f64>, start: &mut Vec<usize>| {
            touched.sort_unstable();
            for &c in touched.iter() {
                cols.push(c);
                vals.push(acc[c as usize]);
                acc[c as usize] = 0.0;
            }
            touched.clear();
            start[u as usize + 1] = cols.len();
        };
        for &r in &design.order {
            let i = r as usize;
            let u = deep.unit_of_row[i];
            if current != Some(u) {
                if let Some(cu) = current {
                    flush(cu, &mut acc, &mut touched, &mut unit_cols, &mut unit_vals, &mut unit_start);
                }
                current = Some(u);
            }
            for m in 0..spec.margins.len() {
                let c = col(m, i);
                if acc[c] == 0.0 {
                    touched.push(c as u32);
                }
                acc[c] += spec.calibrated[i];
            }
        }
        if let Some(cu) = current {
            flush(cu, &mut acc, &mut touched, &mut unit_cols, &mut unit_vals, &mut unit_start);
        }
        // units are numbered in row order, so a unit without rows cannot occur; keep the CSR
        // monotone whatever happens
        for u in 0..n_units {
            if unit_start[u + 1] < unit_start[u] {
                unit_start[u + 1] = unit_start[u];
            }
        }
        Ok(Calibration {
            kind: spec.kind,
            offsets,
            margins: spec.margins,
            start: spec.start,
            calibrated: spec.calibrated,
            solver,
            unit_start,
            unit_cols,
            unit_vals,
        })
    }

    fn p(&self) -> usize {
        match &self.solver {
            Solver::Cholesky { p, .. } | Solver::Counts { p, .. } => *p,
        }
    }

    /// The coefficients `a` (p per group, row-major) of the part removed from each group's
    /// influence `z` (rows of `row_group`, zero elsewhere).
    pub(super) fn coefficients(&self, row_group: &[u32], z: &[f64], k: usize) -> Vec<f64> {
        let p = self.p();
        let mut sums = vec![0.0; k * p];
        for (i, &g) in row_group.iter().enumerate() {
            if g != Grouping::NONE {
                self.add_row(&mut sums[g as usize * p..(g as usize + 1) * p], i, z[i]);
            }
        }
        self.solve_each(&sums, k)
    }

    /// As [`Self::coefficients`] for several influence vectors: slot j holds `z[j]` on the
    /// rows where `member(row, j)` (see `variance::unit_totals_multi`).
    pub(super) fn coefficients_multi(&self, z: &[&[f64]], member: impl Fn(usize, usize) -> bool) -> Vec<f64> {
        let (k, p) = (z.len(), self.p());
        let mut sums = vec![0.0; k * p];
        for i in 0..self.calibrated.len() {
            for (j, zj) in z.iter().enumerate() {
                if member(i, j) {
                    self.add_row(&mut sums[j * p..(j + 1) * p], i, zj[i]);
                }
            }
        }
        self.solve_each(&sums, k)
    }

    /// Adds row `i`'s influence value `z` to the margin sums of one slot.
    fn add_row(&self, sums: &mut [f64], i: usize, z: f64) {
        let v = z / self.calibrated[i];
        let v = match self.kind {
            CalibrationKind::Projection => v * self.start[i],
            CalibrationKind::Backfit => v,
        };
        for (m, codes) in self.margins.iter().enumerate() {
            sums[self.offsets[m] + codes[i] as usize] += v;
        }
    }

    /// The coefficients of each of `k` slots from its margin sums (p per slot).
    fn solve_each(&self, sums: &[f64], k: usize) -> Vec<f64> {
        let p = self.p();
        let mut out = vec![0.0; k * p];
        for g in 0..k {
            let s = &sums[g * p..(g + 1) * p];
            if s.iter().all(|&x| x == 0.0) {
                continue;
            }
            let a = match &self.solver {
                Solver::Cholesky { perm, rank, l, p } => cholesky_solve(perm, *rank, l, *p, s),
                Solver::Counts { counts, p } => self.backfit(counts, *p, s),
            };
            out[g * p..(g + 1) * p].copy_from_slice(&a);
        }
        out
    }

    /// Ten sweeps of `v <- v - ave(v, margin)` in coefficient space: `v = v0 - M a`, so the
    /// mean of level l is `(S_l - sum_c counts[l, c] a_c) / counts[l, l]`.
    fn backfit(&self, counts: &[f64], p: usize, s: &[f64]) -> Vec<f64> {
        let mut a = vec![0.0; p];
        for _ in 0..RAKING_SWEEPS {
            for (m, &off) in self.offsets.iter().enumerate() {
                let end = self.offsets.get(m + 1).copied().unwrap_or(p);
                for l in off..end {
                    let nl = counts[l * p + l];
                    if nl == 0.0 {
                        continue;
                    }
                    let row = &counts[l * p..(l + 1) * p];
                    let dot: f64 = row.iter().zip(&a).map(|(c, x)| c * x).sum();
                    a[l] += (s[l] - dot) / nl;
                }
            }
        }
        a
    }

    /// The part removed from a unit's total for a group with coefficients `a`:
    /// `(sum over the unit's rows of calibrated * M) . a`.
    pub(super) fn unit_offset(&self, unit: u32, a: &[f64]) -> f64 {
        let u = unit as usize;
        let (s, e) = (self.unit_start[u], self.unit_start[u + 1]);
        self.unit_cols[s..e].iter().zip(&self.unit_vals[s..e]).map(|(&c, &v)| v * a[c as usize]).sum()
    }

    /// Number of units of the deepest stage used.
    pub(super) fn n_units(&self) -> usize {
        self.unit_start.len() - 1
    }
}

/// Pivoted Cholesky of a symmetric positive semi-definite `p x p` matrix: columns whose
/// remaining pivot is below a relative tolerance are left out (the margins' indicators are
/// collinear: every margin's sum is the intercept). Returns (permutation, rank, factor).
fn pivoted_cholesky(mut a: Vec<f64>, p: usize) -> (Vec<usize>, usize, Vec<f64>) {
    let mut perm: Vec<usize> = (0..p).collect();
    let max_diag = (0..p).map(|i| a[i * p + i]).fold(0.0f64, f64::max);
    let tol = max_diag * 1e-12 * p.max(1) as f64;
    let mut l = vec![0.0; p * p];
    let mut rank = 0;
    for k in 0..p {
        // the largest remaining diagonal
        let (j, d) = (k..p)
            .map(|j| (j, a[j * p + j]))
            .fold((k, f64::NEG_INFINITY), |b, x| if x.1 > b.1 { x } else { b });
        if d.is_nan() || d <= tol {
            break;
        }
        if j != k {
            perm.swap(j, k);
            for c in 0..p {
                a.swap(k * p + c, j * p + c);
            }
            for r in 0..p {
                a.swap(r * p + k, r * p + j);
            }
            for c in 0..k {
                l.swap(k * p + c, j * p + c);
            }
        }
        let lkk = d.sqrt();
        l[k * p + k] = lkk;
        for i in k + 1..p {
            l[i * p + k] = a[i * p + k] / lkk;
        }
        for i in k + 1..p {
            let lik = l[i * p + k];
            if lik == 0.0 {
                continue;
            }
            for jj in k + 1..=i {
                let v = a[i * p + jj] - lik * l[jj * p + k];
                a[i * p + jj] = v;
                a[jj * p + i] = v;
            }
        }
        rank = k + 1;
    }
    (perm, rank, l)
}

/// A solution of `G a = s` from its pivoted Cholesky factor (the left-out columns get 0):
/// exact when `s` is in the range of `G`, as margin sums are.
fn cholesky_solve(perm: &[usize], rank: usize, l: &[f64], p: usize, s: &[f64]) -> Vec<f64> {
    let b: Vec<f64> = perm.iter().map(|&i| s[i]).collect();
    let mut y = vec![0.0; rank];
    for i in 0..rank {
        let mut v = b[i];
        for j in 0..i {
            v -= l[i * p + j] * y[j];
        }
        y[i] = v / l[i * p + i];
    }
    let mut x = vec![0.0; rank];
    for i in (0..rank).rev() {
        let mut v = y[i];
        for j in i + 1..rank {
            v -= l[j * p + i] * x[j];
        }
        x[i] = v / l[i * p + i];
    }
    let mut out = vec![0.0; p];
    for i in 0..rank {
        out[perm[i]] = x[i];
    }
    out
}

/// A solution of `G x = b` for a symmetric positive semi-definite `p x p` matrix `G`
/// (row-major), exact when `b` is in its range; the columns of `G` that depend on others
/// get 0 (a pivoted Cholesky factor, as the calibration's collinear margin indicators need).
pub fn solve_psd(g: &[f64], p: usize, b: &[f64]) -> Vec<f64> {
    let (perm, rank, l) = pivoted_cholesky(g.to_vec(), p);
    cholesky_solve(&perm, rank, &l, p, b)
}

impl Design {
    /// The design with the weights of a calibration (`spec.calibrated`, or those after
    /// trimming them: `weights`) and its model, so that every variance residualises the
    /// influence values as R's calibrated designs do (see the module docs).
    pub fn calibrated(mut self, weights: Vec<f64>, spec: CalibrationSpec) -> Result<Design, DesignError> {
        if weights.len() != self.n {
            return Err(DesignError::LengthMismatch {
                what: "weights",
                expected: self.n,
                got: weights.len(),
            });
        }
        if let Some((row, &value)) = weights.iter().enumerate().find(|(_, &w)| !(w.is_finite() && w > 0.0)) {
            return Err(DesignError::InvalidWeight { row, value });
        }
        let cal = Calibration::new(&self, spec)?;
        self.weights = weights;
        self.calibration = Some(std::sync::Arc::new(cal));
        self.uid = super::design::next_uid();
        Ok(self)
    }

    /// The design with other weights and no calibration (trimmed design weights: R's
    /// `trimWeights` on an uncalibrated design changes only the weights).
    pub fn reweighted(mut self, weights: Vec<f64>) -> Result<Design, DesignError> {
        if weights.len() != self.n {
            return Err(DesignError::LengthMismatch {
                what: "weights",
                expected: self.n,
                got: weights.len(),
            });
        }
        if let Some((row, &value)) = weights.iter().enumerate().find(|(_, &w)| !(w.is_finite() && w > 0.0)) {
            return Err(DesignError::InvalidWeight { row, value });
        }
        self.weights = weights;
        self.calibration = None;
        self.uid = super::design::next_uid();
        Ok(self)
    }

    /// Whether variances are those of a calibrated design.
    pub fn is_calibrated(&self) -> bool {
        self.calibration.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DesignSpec, EstimateOptions, Stage};
    use super::*;

    /// 24 rows, 2 strata x 3 PSUs x 2 SSUs (fpc at both stages), weights varying, two margins
    /// (3 and 2 levels).
    fn design(kind: CalibrationKind) -> (Design, Design, CalibrationSpec) {
        let n = 24;
        let strata: Vec<u32> = (0..n).map(|i| (i / 12) as u32).collect();
        let psu: Vec<u32> = (0..n).map(|i| ((i / 4) % 3) as u32).collect();
        let ssu: Vec<u32> = (0..n).map(|i| ((i / 2) % 2) as u32).collect();
        let w0: Vec<f64> = (0..n).map(|i| 5.0 + (i * 7 % 5) as f64).collect();
        let spec = DesignSpec {
            n_rows: n,
            weights: Some(w0.clone()),
            strata: Some(strata),
            stages: vec![
                Stage {
                    clusters: psu,
                    fpc: Some(vec![10.0; n]),
                },
                Stage {
                    clusters: ssu,
                    fpc: Some(vec![5.0; n]),
                },
            ],
            ..Default::default()
        };
        let plain = Design::new(spec.clone()).unwrap();
        let m1: Vec<u32> = (0..n).map(|i| (i * 5 % 3) as u32).collect();
        let m2: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
        let calibrated: Vec<f64> = (0..n).map(|i| w0[i] * (1.0 + 0.1 * m1[i] as f64 - 0.05 * m2[i] as f64)).collect();
        let cal = CalibrationSpec {
            kind,
            margins: vec![m1, m2],
            levels: vec![3, 2],
            start: w0,
            calibrated: calibrated.clone(),
        };
        let d = Design::new(spec).unwrap().calibrated(calibrated, cal.clone()).unwrap();
        (plain, d, cal)
    }

    /// The residuals of `x` row by row, the slow way: dense vectors, the projection solved
    /// from the normal equations, or R's ten backfitting sweeps (written as the formulas read,
    /// index by index).
    #[allow(clippy::needless_range_loop)]
    fn residuals(cal: &CalibrationSpec, x: &[f64]) -> Vec<f64> {
        let n = x.len();
        let cols = |i: usize| [cal.margins[0][i] as usize, 3 + cal.margins[1][i] as usize];
        let mut v: Vec<f64> = (0..n).map(|i| x[i] / cal.calibrated[i]).collect();
        match cal.kind {
            CalibrationKind::Projection => {
                let mut g = vec![0.0; 25];
                let mut s = vec![0.0; 5];
                for i in 0..n {
                    for a in cols(i) {
                        for b in cols(i) {
                            g[a * 5 + b] += cal.start[i];
                        }
                        s[a] += cal.start[i] * v[i];
                    }
                }
                let beta = solve_psd(&g, 5, &s);
                for i in 0..n {
                    v[i] -= cols(i).iter().map(|&c| beta[c]).sum::<f64>();
                }
            }
            CalibrationKind::Backfit => {
                for _ in 0..RAKING_SWEEPS {
                    for m in 0..2 {
                        let k = cal.levels[m];
                        let mut sum = vec![0.0; k];
                        let mut cnt = vec![0.0; k];
                        for i in 0..n {
                            sum[cal.margins[m][i] as usize] += v[i];
                            cnt[cal.margins[m][i] as usize] += 1.0;
                        }
                        for i in 0..n {
                            let l = cal.margins[m][i] as usize;
                            v[i] -= sum[l] / cnt[l];
                        }
                    }
                }
            }
        }
        (0..n).map(|i| cal.calibrated[i] * v[i]).collect()
    }

    #[test]
    fn unit_totals_of_residuals_equal_the_dense_residuals_in_every_domain() {
        for kind in [CalibrationKind::Projection, CalibrationKind::Backfit] {
            let (plain, d, cal) = design(kind);
            let y: Vec<f64> = (0..24).map(|i| ((i * 13) % 7) as f64 + 0.5 * i as f64).collect();
            let groups = Grouping::new((0..24).map(|i| (i % 3) as u32).collect(), 3).unwrap();
            let lin = d.linearize_mean(&y, &groups).unwrap();
            let (var, df) = lin.variances().unwrap();
            for g in 0..3u32 {
                // the group's zero-padded influence, residualised densely, as a total of the
                // uncalibrated design with unit weights carries it
                let x: Vec<f64> = (0..24).map(|i| if groups.codes()[i] == g { lin.influence()[i] } else { 0.0 }).collect();
                let r = residuals(&cal, &x);
                let unit = Design::new(DesignSpec {
                    weights: Some(vec![1.0; 24]),
                    ..plain_spec(&plain)
                })
                .unwrap();
                let dense = unit.total(&r, &Grouping::overall(24), &EstimateOptions::default()).unwrap();
                let want = dense[0].se * dense[0].se;
                assert!(
                    (var[g as usize] - want).abs() <= 1e-12 * want,
                    "{kind:?} group {g}: {} vs {want}",
                    var[g as usize]
                );
                // df stay those of the group's own rows: every group (i % 3) has rows in all
                // 3 PSUs of both strata, 6 - 2
                assert_eq!(df[g as usize], 4.0);
            }
        }
    }

    /// The specification of `plain` (the test design), rebuilt.
    fn plain_spec(plain: &Design) -> DesignSpec {
        let n = plain.n_rows();
        DesignSpec {
            n_rows: n,
            weights: None,
            strata: Some((0..n).map(|i| (i / 12) as u32).collect()),
            stages: vec![
                Stage {
                    clusters: (0..n).map(|i| ((i / 4) % 3) as u32).collect(),
                    fpc: Some(vec![10.0; n]),
                },
                Stage {
                    clusters: (0..n).map(|i| ((i / 2) % 2) as u32).collect(),
                    fpc: Some(vec![5.0; n]),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn pivoted_cholesky_solves_a_singular_consistent_system() {
        // two margins of two levels each over four rows: the indicators are collinear
        let rows = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 1)];
        let w = [1.0, 2.0, 3.0, 4.0, 5.0];
        let p = 4;
        let mut g = vec![0.0; p * p];
        let mut s = vec![0.0; p];
        let v = [0.5, -1.0, 2.0, 0.25, 1.0];
        for (i, &(a, b)) in rows.iter().enumerate() {
            let cols = [a, 2 + b];
            for &x in &cols {
                for &y in &cols {
                    g[x * p + y] += w[i];
                }
                s[x] += w[i] * v[i];
            }
        }
        let (perm, rank, l) = pivoted_cholesky(g.clone(), p);
        assert_eq!(rank, 3);
        let a = cholesky_solve(&perm, rank, &l, p, &s);
        for r in 0..p {
            let gx: f64 = (0..p).map(|c| g[r * p + c] * a[c]).sum();
            assert!((gx - s[r]).abs() < 1e-10, "row {r}: {gx} vs {}", s[r]);
        }
    }
}
