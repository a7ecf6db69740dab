//! Replicate-weight variance: a [`ReplicateDesign`] built once from a stored [`Design`]
//! as R's `as.svrepdesign` builds it (JK1, JKn, BRR, Fay's BRR, bootstrap), holding one
//! factor per (first-stage PSU, replicate), the scale, the rscales and the `mse` choice,
//! and the variance of any statistic from its replicate estimates (`survey::svrVar`).
//!
//! Two ways in. The general one, [`ReplicateDesign::estimate_with`], calls an estimator
//! closure on the full-sample weights and on each replicate's weights and returns the
//! estimates, variances and covariances: any statistic (an inequality index, a model
//! coefficient) gets its replicate variance that way. The fast one (`estimate`: means,
//! totals, ratios, proportions and quantiles by group) makes a single pass over the rows,
//! summing per (PSU, group), then spreads those sums over the replicates, so the cost is
//! O(rows + PSU-group pairs x replicates), not a pass per replicate.
//!
//! Domains are domains of the full replicate design: rows outside a group add nothing to
//! its replicate sums, as `svyby` / `subset` on a replicate design give. The degrees of
//! freedom are R's `degf` of a replicate design: the rank of its analysis weights, less
//! one, over the rows of the domain (closed forms for the jackknives and BRR, a rank
//! computation otherwise). Must not read data or know about requests: the analysis layer builds this
//! from its prepared design.

mod build;
mod estimate;

pub use build::hadamard_order;

use super::design::Design;
use super::{DesignError, Grouping};

/// Tolerance of R's `degf` for replicate designs (`qr(..., tol = 1e-5)$rank`).
const RANK_TOL: f64 = 1e-5;

/// How replicate weights are made from the design (`as.svrepdesign(type=)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplicateMethod {
    /// Delete-one-PSU jackknife of an unstratified design; the fpc stays in the scale.
    Jk1,
    /// Stratified delete-one-PSU jackknife, rscales `f_h (n_h - 1)/n_h`.
    Jkn,
    /// Balanced repeated replication: exactly two PSUs per stratum, half-samples from a
    /// Sylvester Hadamard matrix; an fpc is dropped.
    Brr,
    /// Fay's BRR: the half not chosen keeps weight factor `rho`, the other `2 - rho`.
    Fay {
        /// Fay's coefficient, in (0, 1).
        rho: f64,
    },
    /// Canty-Davison bootstrap of PSUs within strata, seeded.
    Bootstrap {
        /// Number of replicates (R's default is 50).
        replicates: usize,
        /// Seed of the generator: the same seed gives the same replicates.
        seed: u64,
    },
}

impl ReplicateMethod {
    /// R's name of the method (`svyrep.design$type`).
    pub fn name(&self) -> &'static str {
        match self {
            ReplicateMethod::Jk1 => "JK1",
            ReplicateMethod::Jkn => "JKn",
            ReplicateMethod::Brr => "BRR",
            ReplicateMethod::Fay { .. } => "Fay",
            ReplicateMethod::Bootstrap { .. } => "bootstrap",
        }
    }
}

/// The replicate columns a stratum has in a JKn design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StratumColumns {
    /// None: removed (a lonely PSU) or sampled in full; its PSUs' factors are all 1.
    None,
    /// One per PSU (the delete-one jackknife within the stratum).
    Jackknife,
    /// A lonely PSU under `adjust`: one column where it has factor 0.
    Adjust,
}

/// How the degrees of freedom of a domain are found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RankRule {
    /// JK1: PSUs of the domain less one.
    Jk1,
    /// JKn with some stratum jackknifed: a closed form (see [`ReplicateDesign::domain_degf`]).
    Jkn,
    /// BRR and Fay: a closed form (see [`ReplicateDesign::domain_degf`]).
    Brr,
    /// The numerical rank of the PSU-level analysis weights.
    Numeric,
}

/// A replicate design over the rows of a [`Design`] (in that design's row order).
#[derive(Debug, Clone)]
pub struct ReplicateDesign {
    method: Option<ReplicateMethod>,
    weights: Vec<f64>,
    psu_of_row: Vec<u32>,
    order: Vec<u32>,
    stratum_of_psu: Vec<u32>,
    psus_in_stratum: Vec<u32>,
    /// The replicate columns of each stratum (JKn only).
    columns: Vec<StratumColumns>,
    n_psus: usize,
    n_reps: usize,
    /// PSU-major factors: `factors[p * n_reps + r]`.
    factors: Vec<f64>,
    scale: f64,
    rscales: Vec<f64>,
    mse: bool,
    fpc_dropped: bool,
    rule: RankRule,
    degf: f64,
    /// Rank of the factors over every PSU, once known: a domain holding rows in every PSU
    /// has it too (scaling rows by positive numbers keeps the rank).
    full_rank: Option<usize>,
}

/// Estimates of a statistic with K values (one per group or parameter) and their
/// replicate variances, from [`ReplicateDesign::estimate_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicateEstimates {
    /// Full-sample estimates (K).
    pub estimates: Vec<f64>,
    /// Replicate estimates, one vector of K per replicate.
    pub replicates: Vec<Vec<f64>>,
    /// Variance of each value (the diagonal of `covariance`).
    pub variances: Vec<f64>,
    /// Row-major K x K covariance.
    pub covariance: Vec<f64>,
}

impl ReplicateDesign {
    /// Builds the replicate design of `method` from `design` (first-stage PSUs and strata,
    /// first-stage fpc), with `mse` choosing the centre of the variance: the full-sample
    /// estimate (R's `mse = TRUE`) or the mean of the replicates.
    pub fn new(design: &Design, method: ReplicateMethod, mse: bool) -> Result<ReplicateDesign, DesignError> {
        let built = build::build(design, method)?;
        let columns = if method == ReplicateMethod::Jkn { jkn_columns(design) } else { Vec::new() };
        let rule = match method {
            ReplicateMethod::Jk1 => RankRule::Jk1,
            ReplicateMethod::Jkn if columns.contains(&StratumColumns::Jackknife) => RankRule::Jkn,
            ReplicateMethod::Brr | ReplicateMethod::Fay { .. } => RankRule::Brr,
            _ => RankRule::Numeric,
        };
        let mut rep = Self::assemble(design, built.factors, built.n_reps, built.scale, built.rscales, mse, rule)?;
        rep.method = Some(method);
        rep.fpc_dropped = built.fpc_dropped;
        rep.columns = columns;
        rep.degf = rep.full_degf();
        Ok(rep)
    }

    /// A replicate design from given factors (PSU-major, `n_psus x n_reps`, PSUs in the
    /// design's order: by stratum, then code), e.g. replicate weights exported from R
    /// divided by the design weights.
    pub fn from_factors(design: &Design, factors: Vec<f64>, scale: f64, rscales: Vec<f64>, mse: bool) -> Result<ReplicateDesign, DesignError> {
        let n_reps = rscales.len();
        let mut rep = Self::assemble(design, factors, n_reps, scale, rscales, mse, RankRule::Numeric)?;
        rep.degf = rep.full_degf();
        Ok(rep)
    }

    fn assemble(
        design: &Design,
        factors: Vec<f64>,
        n_reps: usize,
        scale: f64,
        rscales: Vec<f64>,
        mse: bool,
        rule: RankRule,
    ) -> Result<ReplicateDesign, DesignError> {
        let st = &design.stages[0];
        let n_psus = design.n_psus();
        if factors.len() != n_psus * n_reps || rscales.len() != n_reps {
            return Err(DesignError::LengthMismatch {
                what: "replicate factors",
                expected: n_psus * n_reps,
                got: factors.len(),
            });
        }
        if let Some(&v) = factors.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(DesignError::InvalidArgument(format!(
                "replicate factor {v} is not a finite non-negative number"
            )));
        }
        Ok(ReplicateDesign {
            method: None,
            weights: design.weights.clone(),
            psu_of_row: st.unit_of_row.clone(),
            order: design.order.clone(),
            stratum_of_psu: st.parent_of_unit.clone(),
            psus_in_stratum: st.n_sampled.clone(),
            columns: Vec::new(),
            n_psus,
            n_reps,
            factors,
            scale,
            rscales,
            mse,
            fpc_dropped: false,
            rule,
            degf: f64::NAN,
            full_rank: None,
        })
    }

    /// The method (None for a design made from given factors).
    pub fn method(&self) -> Option<ReplicateMethod> {
        self.method
    }
    /// Number of replicates.
    pub fn n_replicates(&self) -> usize {
        self.n_reps
    }
    /// The overall scale of the variance.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// The scale of each replicate's squared deviation.
    pub fn rscales(&self) -> &[f64] {
        &self.rscales
    }
    /// Whether variances are centred on the full-sample estimate (R's `mse = TRUE`).
    pub fn mse(&self) -> bool {
        self.mse
    }
    /// Whether the design's fpc was left out (BRR and Fay cannot use it, as in R).
    pub fn fpc_dropped(&self) -> bool {
        self.fpc_dropped
    }
    /// Degrees of freedom of the whole replicate design (R's `degf`).
    pub fn degf(&self) -> f64 {
        self.degf
    }
    /// Number of first-stage PSUs (rows of the factor matrix).
    pub fn n_psus(&self) -> usize {
        self.n_psus
    }
    /// The factor of PSU `psu` (design order) in replicate `r`.
    pub fn factor(&self, psu: usize, r: usize) -> f64 {
        self.factors[psu * self.n_reps + r]
    }
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.weights.len()
    }

    /// The weights of every row in replicate `r` (in the design's row order).
    pub fn replicate_weights(&self, r: usize) -> Vec<f64> {
        let k = self.n_reps;
        self.weights
            .iter()
            .zip(&self.psu_of_row)
            .map(|(&w, &p)| w * self.factors[p as usize * k + r])
            .collect()
    }

    /// Calls `estimator` on the full-sample weights, then on each replicate's weights (rows
    /// in the design's row order), and returns the estimates with their replicate variances
    /// and covariances. Every call must return the same number of values.
    ///
    /// ```
    /// use hearth::analysis::engine::{Design, DesignSpec, EstimateOptions, Grouping, ReplicateDesign, ReplicateMethod, Stage};
    ///
    /// // four PSUs of two rows, no strata: JK1 has four replicates
    /// let design = Design::new(DesignSpec {
    ///     n_rows: 8,
    ///     weights: Some(vec![1.0, 2.0, 1.0, 3.0, 2.0, 2.0, 1.0, 1.5]),
    ///     stages: vec![Stage { clusters: vec![0, 0, 1, 1, 2, 2, 3, 3], fpc: None }],
    ///     ..Default::default()
    /// })?;
    /// let rep = ReplicateDesign::new(&design, ReplicateMethod::Jk1, false)?;
    /// let y = [3.0, 5.0, 2.0, 8.0, 4.0, 4.0, 9.0, 1.0];
    /// // any statistic of the weights: here the weighted mean and the weighted total
    /// let out = rep.estimate_with(|w| {
    ///     let total: f64 = w.iter().zip(&y).map(|(w, y)| w * y).sum();
    ///     vec![total / w.iter().sum::<f64>(), total]
    /// })?;
    /// assert_eq!(out.replicates.len(), 4);
    /// // the one-pass estimator gives the same mean and variance
    /// let mean = rep.mean(&y, &Grouping::overall(8), &EstimateOptions::default())?;
    /// assert!((mean[0].estimate - out.estimates[0]).abs() < 1e-12);
    /// assert!((mean[0].se.powi(2) - out.variances[0]).abs() < 1e-12);
    /// // and the covariance of the two
    /// assert_eq!(out.covariance[1], out.covariance[2]);
    /// # Ok::<(), hearth::analysis::engine::DesignError>(())
    /// ```
    pub fn estimate_with<F>(&self, estimator: F) -> Result<ReplicateEstimates, DesignError>
    where
        F: Fn(&[f64]) -> Vec<f64>,
    {
        let estimates = estimator(&self.weights);
        let k = estimates.len();
        let mut replicates = Vec::with_capacity(self.n_reps);
        for r in 0..self.n_reps {
            let v = estimator(&self.replicate_weights(r));
            if v.len() != k {
                return Err(DesignError::LengthMismatch {
                    what: "replicate estimates",
                    expected: k,
                    got: v.len(),
                });
            }
            replicates.push(v);
        }
        let covariance = self.covariance(&estimates, &replicates);
        let variances = (0..k).map(|a| covariance[a * k + a]).collect();
        Ok(ReplicateEstimates {
            estimates,
            replicates,
            variances,
            covariance,
        })
    }

    /// Variance of one statistic from its full-sample value and replicate values, as
    /// `svrVar`: replicates giving NaN are left out; the centre is the full-sample value
    /// under `mse`, else the mean of the replicates with a positive rscale.
    pub fn variance(&self, full: f64, reps: &[f64]) -> f64 {
        let ok = |r: usize| !reps[r].is_nan();
        let centre = if self.mse {
            full
        } else {
            let (mut s, mut c) = (0.0, 0usize);
            for r in (0..reps.len()).filter(|&r| ok(r) && self.rscales[r] > 0.0) {
                s += reps[r];
                c += 1;
            }
            s / c as f64
        };
        if !(0..reps.len()).any(ok) {
            return if reps.is_empty() { 0.0 } else { f64::NAN };
        }
        let ss: f64 = (0..reps.len()).filter(|&r| ok(r)).map(|r| (reps[r] - centre).powi(2) * self.rscales[r]).sum();
        ss * self.scale
    }

    /// Row-major covariance of K statistics (`svrVar` on a matrix: a replicate with any
    /// NaN value is left out whole).
    pub fn covariance(&self, full: &[f64], reps: &[Vec<f64>]) -> Vec<f64> {
        let k = full.len();
        let kept: Vec<usize> = (0..reps.len()).filter(|&r| reps[r].iter().all(|v| !v.is_nan())).collect();
        let centre: Vec<f64> = if self.mse {
            full.to_vec()
        } else {
            let pos: Vec<usize> = kept.iter().copied().filter(|&r| self.rscales[r] > 0.0).collect();
            (0..k).map(|a| pos.iter().map(|&r| reps[r][a]).sum::<f64>() / pos.len() as f64).collect()
        };
        let mut cov = vec![0.0; k * k];
        for &r in &kept {
            for a in 0..k {
                let da = reps[r][a] - centre[a];
                for b in 0..k {
                    cov[a * k + b] += da * (reps[r][b] - centre[b]) * self.rscales[r];
                }
            }
        }
        if kept.is_empty() && !reps.is_empty() {
            cov.iter_mut().for_each(|c| *c = f64::NAN);
        }
        cov.iter_mut().for_each(|c| *c *= self.scale);
        cov
    }

    /// The df of the whole design, remembering the full rank for domains over every PSU.
    fn full_degf(&mut self) -> f64 {
        let all = Grouping::overall(self.n_rows());
        let degf = self.domain_degf(all.codes(), 1)[0];
        self.full_rank = Some((degf + 1.0) as usize);
        degf
    }

    /// Degrees of freedom of each group's domain (codes per row, [`Grouping::NONE`] for
    /// rows in no group): R's `degf` of the design restricted to the group's rows, the rank
    /// of their analysis weights less one. JK1: PSUs holding rows less one. JKn: with k_h
    /// PSUs of stratum h holding rows, F strata whose PSUs all hold rows and L PSUs in
    /// strata without replicates, the rank is `sum k_h - max(0, F + L - 1)`. BRR and Fay
    /// (rows `1 +- (1 - rho) h_s`, the Hadamard rows independent of each other and of 1): with
    /// B strata holding rows in both PSUs and O in one, the rank is `B + O + [B > 0]`. Otherwise the
    /// numerical rank (tolerance 1e-5, as `qr`) of the PSU-level factors, each PSU's row
    /// scaled by the root of its rows' sum of squared weights. (JKn: a lonely PSU under
    /// `adjust` has a column of its own, so it counts in neither F nor L.)
    pub fn domain_degf(&self, codes: &[u32], k: usize) -> Vec<f64> {
        // per group: (PSU, sum of w^2) of the PSUs holding its rows, in PSU order
        let mut members: Vec<Vec<(u32, f64)>> = vec![Vec::new(); k];
        for &r in &self.order {
            let r = r as usize;
            let g = codes[r];
            if g == Grouping::NONE {
                continue;
            }
            let p = self.psu_of_row[r];
            let list = &mut members[g as usize];
            let w2 = self.weights[r] * self.weights[r];
            match list.last_mut() {
                Some((last, s)) if *last == p => *s += w2,
                _ => list.push((p, w2)),
            }
        }
        members.iter().map(|m| self.rank_of(m) as f64 - 1.0).collect()
    }

    fn rank_of(&self, members: &[(u32, f64)]) -> usize {
        if self.n_reps == 0 || members.is_empty() {
            return 0;
        }
        match self.rule {
            RankRule::Jk1 => members.len(),
            RankRule::Jkn => {
                let mut count = vec![0u32; self.psus_in_stratum.len()];
                for &(p, _) in members {
                    count[self.stratum_of_psu[p as usize] as usize] += 1;
                }
                let mut free = 0usize;
                for (h, &c) in count.iter().enumerate() {
                    match self.columns[h] {
                        StratumColumns::None => free += c as usize,
                        StratumColumns::Jackknife if c == self.psus_in_stratum[h] => free += 1,
                        _ => {}
                    }
                }
                members.len() - free.saturating_sub(1)
            }
            RankRule::Brr => {
                let mut count = vec![0u32; self.psus_in_stratum.len()];
                for &(p, _) in members {
                    count[self.stratum_of_psu[p as usize] as usize] += 1;
                }
                let both = count.iter().filter(|&&c| c == 2).count();
                let one = count.iter().filter(|&&c| c == 1).count();
                both + one + usize::from(both > 0)
            }
            RankRule::Numeric => match self.full_rank {
                Some(rank) if members.len() == self.n_psus => rank,
                _ => self.numeric_rank(members),
            },
        }
    }

    /// Rank by Gram-Schmidt over the replicate columns in order (twice orthogonalised), a
    /// column counting when what is left of it exceeds the tolerance times its norm.
    fn numeric_rank(&self, members: &[(u32, f64)]) -> usize {
        let m = members.len();
        let mut basis: Vec<Vec<f64>> = Vec::new();
        for c in 0..self.n_reps {
            let mut v: Vec<f64> = members.iter().map(|&(p, w2)| w2.sqrt() * self.factors[p as usize * self.n_reps + c]).collect();
            let norm0 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm0 == 0.0 {
                continue;
            }
            for _ in 0..2 {
                for q in &basis {
                    let d: f64 = q.iter().zip(&v).map(|(a, b)| a * b).sum();
                    v.iter_mut().zip(q).for_each(|(x, qx)| *x -= d * qx);
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > RANK_TOL * norm0 {
                v.iter_mut().for_each(|x| *x /= norm);
                basis.push(v);
                if basis.len() == m {
                    break;
                }
            }
        }
        basis.len()
    }
}

/// The replicate columns of every stratum of a JKn design (as `build` makes them).
fn jkn_columns(design: &Design) -> Vec<StratumColumns> {
    let (psus, f) = build::strata_psus(design);
    let n_present = psus.iter().filter(|m| !m.is_empty()).count();
    psus.iter()
        .zip(&f)
        .map(|(m, &f)| match m.len() {
            0 => StratumColumns::None,
            _ if f == 0.0 => StratumColumns::None,
            1 if design.lonely == super::design::LonelyPsu::Adjust && n_present > 1 => StratumColumns::Adjust,
            1 => StratumColumns::None,
            _ => StratumColumns::Jackknife,
        })
        .collect()
}

#[cfg(test)]
mod tests;
