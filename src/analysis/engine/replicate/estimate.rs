//! Means, totals, ratios, proportions and quantiles by group under replicate variance, in
//! one pass over the rows: weighted sums per (PSU, group) are taken once (rows come in PSU
//! order), then spread over the replicates with each PSU's factor. Result rows are those of
//! the Taylor estimators ([`Estimate`]), with R's replicate rules: normal intervals for
//! means, totals and ratios; `svyciprop` on a replicate design for proportions (the logit
//! interval from the replicate variance of the logit, t with the domain's replicate
//! `degf`); Woodruff intervals for quantiles; deff as `svymean`/`svytotal(deff = TRUE)` on
//! a replicate design (none for ratios or quantiles, as R). Must not build replicate factors (see `build`).

use super::super::dist::{qnorm, qt};
use super::super::estimators::{check_values_len, effective_groups, expit, prop_ci, srs_deff, Estimate, EstimateOptions, PropCiMethod};
use super::super::quantile::{woodruff, BelowStats, QuantileEstimate, QuantileRule};
use super::super::{DesignError, Grouping};
use super::ReplicateDesign;

/// Full-sample and replicate weighted sums per group (replicate sums group-major:
/// `[g * n_reps + r]`).
struct Sums {
    n: Vec<usize>,
    w0: Vec<f64>,
    y0: Vec<f64>,
    x0: Vec<f64>,
    w: Vec<f64>,
    y: Vec<f64>,
    x: Vec<f64>,
}

/// Per-PSU accumulator over groups with the list of groups touched.
struct Scratch {
    cnt: Vec<usize>,
    w: Vec<f64>,
    y: Vec<f64>,
    x: Vec<f64>,
    touched: Vec<u32>,
}

/// The df of a result row: design (every row of the group) and used (rows with values).
struct Dfs {
    design: Vec<f64>,
    used: Vec<f64>,
}

impl ReplicateDesign {
    fn check_inputs(&self, values: &[(&[f64], &'static str)], grouping: &Grouping, opts: &EstimateOptions) -> Result<(), DesignError> {
        opts.check()?;
        for (v, what) in values {
            check_values_len(self.n_rows(), v, what)?;
        }
        if grouping.codes().len() != self.n_rows() {
            return Err(DesignError::LengthMismatch {
                what: "grouping",
                expected: self.n_rows(),
                got: grouping.codes().len(),
            });
        }
        Ok(())
    }

    /// Weighted sums of `y` (and `x`) per group, full sample and every replicate.
    fn sums(&self, row_group: &[u32], y: &[f64], x: Option<&[f64]>, k: usize) -> Sums {
        let r = self.n_reps;
        let mut s = Sums {
            n: vec![0; k],
            w0: vec![0.0; k],
            y0: vec![0.0; k],
            x0: vec![0.0; k],
            w: vec![0.0; k * r],
            y: vec![0.0; k * r],
            x: vec![0.0; k * r],
        };
        let mut sc = Scratch {
            cnt: vec![0; k],
            w: vec![0.0; k],
            y: vec![0.0; k],
            x: vec![0.0; k],
            touched: Vec::new(),
        };
        let mut current: Option<u32> = None;
        for &i in &self.order {
            let i = i as usize;
            let g = row_group[i];
            if g == Grouping::NONE {
                continue;
            }
            let p = self.psu_of_row[i];
            if current != Some(p) {
                if let Some(cp) = current {
                    self.flush(cp, &mut sc, &mut s);
                }
                current = Some(p);
            }
            let gi = g as usize;
            if sc.cnt[gi] == 0 {
                sc.touched.push(g);
            }
            let w = self.weights[i];
            sc.cnt[gi] += 1;
            sc.w[gi] += w;
            sc.y[gi] += w * y[i];
            if let Some(x) = x {
                sc.x[gi] += w * x[i];
            }
        }
        if let Some(cp) = current {
            self.flush(cp, &mut sc, &mut s);
        }
        s
    }

    /// Adds one PSU's group sums to the totals, times the PSU's factor in each replicate.
    fn flush(&self, p: u32, sc: &mut Scratch, s: &mut Sums) {
        let r = self.n_reps;
        let f = &self.factors[p as usize * r..(p as usize + 1) * r];
        for &g in &sc.touched {
            let gi = g as usize;
            let (w, y, x) = (sc.w[gi], sc.y[gi], sc.x[gi]);
            s.n[gi] += sc.cnt[gi];
            s.w0[gi] += w;
            s.y0[gi] += y;
            s.x0[gi] += x;
            let base = gi * r;
            for (c, &fc) in f.iter().enumerate() {
                s.w[base + c] += fc * w;
                s.y[base + c] += fc * y;
            }
            if x != 0.0 {
                for (c, &fc) in f.iter().enumerate() {
                    s.x[base + c] += fc * x;
                }
            }
            sc.cnt[gi] = 0;
            sc.w[gi] = 0.0;
            sc.y[gi] = 0.0;
            sc.x[gi] = 0.0;
        }
        sc.touched.clear();
    }

    /// Variance per group of a statistic given per group (full) and per (group, replicate).
    fn group_variances(&self, full: &[f64], rep: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        (0..full.len())
            .map(|g| {
                let reps: Vec<f64> = (0..self.n_reps).map(|c| rep(g, c)).collect();
                self.variance(full[g], &reps)
            })
            .collect()
    }

    /// Sum of w (v - centre_g)^2 per group over the rows used.
    fn srs_ss(&self, row_group: &[u32], v: impl Fn(usize) -> f64, centre: &[f64]) -> Vec<f64> {
        let mut ss = vec![0.0; centre.len()];
        for (i, &g) in row_group.iter().enumerate() {
            if g != Grouping::NONE {
                let d = v(i) - centre[g as usize];
                ss[g as usize] += self.weights[i] * d * d;
            }
        }
        ss
    }

    /// The df of every group: over all its rows, and over the rows used (computed once when
    /// every row of every group is used).
    fn dfs(&self, grouping: &Grouping, row_group: &[u32]) -> Dfs {
        let k = grouping.n_groups();
        let design = self.domain_degf(grouping.codes(), k);
        let used = if row_group == grouping.codes() {
            design.clone()
        } else {
            self.domain_degf(row_group, k)
        };
        Dfs { design, used }
    }

    #[allow(clippy::too_many_arguments)]
    fn normal_rows(&self, est: &[f64], var: &[f64], deff: &[Option<f64>], s: &Sums, dfs: &Dfs, opts: &EstimateOptions) -> Vec<Estimate> {
        let z = qnorm(1.0 - (1.0 - opts.level) / 2.0);
        (0..est.len())
            .map(|g| {
                let se = var[g].sqrt();
                Estimate {
                    group: g as u32,
                    estimate: est[g],
                    se,
                    ci_low: est[g] - z * se,
                    ci_high: est[g] + z * se,
                    level: opts.level,
                    df: f64::INFINITY,
                    design_df: dfs.design[g],
                    used_df: dfs.used[g],
                    deff: deff[g],
                    cv: se / est[g],
                    n: s.n[g],
                    weighted_n: s.w0[g],
                }
            })
            .collect()
    }

    /// Mean of `y` (NaN = missing) per group, replicate variance, normal intervals.
    pub fn mean(&self, y: &[f64], grouping: &Grouping, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        self.check_inputs(&[(y, "outcome")], grouping, opts)?;
        let k = grouping.n_groups();
        let row_group = effective_groups(grouping, &[y]);
        let s = self.sums(&row_group, y, None, k);
        let r = self.n_reps;
        let est: Vec<f64> = (0..k).map(|g| s.y0[g] / s.w0[g]).collect();
        let var = self.group_variances(&est, |g, c| s.y[g * r + c] / s.w[g * r + c]);
        let ss = self.srs_ss(&row_group, |i| y[i], &est);
        let deff: Vec<Option<f64>> = (0..k).map(|g| srs_deff(true, s.n[g], s.w0[g], ss[g], var[g])).collect();
        Ok(self.normal_rows(&est, &var, &deff, &s, &self.dfs(grouping, &row_group), opts))
    }

    /// Total of `y` per group, replicate variance, normal intervals.
    pub fn total(&self, y: &[f64], grouping: &Grouping, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        self.check_inputs(&[(y, "outcome")], grouping, opts)?;
        let k = grouping.n_groups();
        let row_group = effective_groups(grouping, &[y]);
        let s = self.sums(&row_group, y, None, k);
        let r = self.n_reps;
        let est: Vec<f64> = (0..k).map(|g| if s.n[g] > 0 { s.y0[g] } else { f64::NAN }).collect();
        let var = self.group_variances(&est, |g, c| s.y[g * r + c]);
        let mean: Vec<f64> = (0..k).map(|g| s.y0[g] / s.w0[g]).collect();
        let ss = self.srs_ss(&row_group, |i| y[i], &mean);
        let deff: Vec<Option<f64>> = (0..k).map(|g| srs_deff(false, s.n[g], s.w0[g], ss[g], var[g])).collect();
        Ok(self.normal_rows(&est, &var, &deff, &s, &self.dfs(grouping, &row_group), opts))
    }

    /// Ratio of the totals of `numerator` and `denominator` per group (rows where either is
    /// missing are not used), replicate variance of the replicate ratios, normal intervals.
    /// No deff: R's `svyratio(deff = TRUE)` stops with an error on a replicate design.
    pub fn ratio(&self, numerator: &[f64], denominator: &[f64], grouping: &Grouping, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        self.check_inputs(&[(numerator, "numerator"), (denominator, "denominator")], grouping, opts)?;
        let k = grouping.n_groups();
        let row_group = effective_groups(grouping, &[numerator, denominator]);
        let s = self.sums(&row_group, numerator, Some(denominator), k);
        let r = self.n_reps;
        let est: Vec<f64> = (0..k).map(|g| s.y0[g] / s.x0[g]).collect();
        let var = self.group_variances(&est, |g, c| s.y[g * r + c] / s.x[g * r + c]);
        // survey 4.1's svyratio(deff = TRUE) fails on a replicate design: no deff
        let deff = vec![None; k];
        Ok(self.normal_rows(&est, &var, &deff, &s, &self.dfs(grouping, &row_group), opts))
    }

    /// Proportion (mean of a 0/1 indicator, NaN = missing) per group with a `svyciprop`
    /// interval on the replicate design: t with the domain's replicate df (every row of
    /// the group counting); `logit` takes the replicate variance of the replicates' logits
    /// (R's `svyglm` on replicate weights), the other methods the replicate variance of
    /// the proportion. The likelihood interval is not available under replicate weights.
    pub fn proportion(&self, y: &[f64], grouping: &Grouping, method: PropCiMethod, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        if method == PropCiMethod::Likelihood {
            return Err(DesignError::ReplicateUnsupported {
                what: "the likelihood interval of a proportion",
            });
        }
        if let Some((row, &value)) = y.iter().enumerate().find(|(_, &v)| !v.is_nan() && !(0.0..=1.0).contains(&v)) {
            return Err(DesignError::NotAProportion { row, value });
        }
        let mut rows = self.mean(y, grouping, opts)?;
        let k = grouping.n_groups();
        let row_group = effective_groups(grouping, &[y]);
        let s = self.sums(&row_group, y, None, k);
        let r = self.n_reps;
        let mut group_rows = vec![0usize; k];
        for &g in grouping.codes() {
            if g != Grouping::NONE {
                group_rows[g as usize] += 1;
            }
        }
        let alpha = 1.0 - opts.level;
        let logit = |p: f64| (p / (1.0 - p)).ln();
        for (g, e) in rows.iter_mut().enumerate() {
            let (p, v, df) = (e.estimate, e.se * e.se, e.design_df);
            e.df = df;
            let ci = if method == PropCiMethod::Logit {
                let reps: Vec<f64> = (0..r).map(|c| logit(s.y[g * r + c] / s.w[g * r + c])).collect();
                let vl = self.variance(logit(p), &reps);
                if df > 0.0 {
                    let t = qt(1.0 - alpha / 2.0, df);
                    (expit(logit(p) - t * vl.sqrt()), expit(logit(p) + t * vl.sqrt()))
                } else {
                    (f64::NAN, f64::NAN)
                }
            } else {
                prop_ci(method, p, v, df, group_rows[g], e.n, alpha, f64::NAN)
            };
            e.ci_low = ci.0;
            e.ci_high = ci.1;
        }
        Ok(rows)
    }

    /// Quantiles per group with Woodruff intervals from the replicate variance of the share
    /// at or below each quantile (`svyquantile` on a replicate design, `interval.type =
    /// "mean"`), t with the replicate df of the rows used.
    pub fn quantiles(
        &self,
        y: &[f64],
        grouping: &Grouping,
        probs: &[f64],
        rule: QuantileRule,
        opts: &EstimateOptions,
    ) -> Result<Vec<QuantileEstimate>, DesignError> {
        self.check_inputs(&[(y, "outcome")], grouping, opts)?;
        let k = grouping.n_groups();
        let dfs = self.dfs(grouping, &effective_groups(grouping, &[y]));
        let r = self.n_reps;
        woodruff(&self.weights, y, grouping, probs, rule, opts, |below| {
            let row_group = effective_groups(grouping, &[below]);
            let s = self.sums(&row_group, below, None, k);
            let est: Vec<f64> = (0..k).map(|g| s.y0[g] / s.w0[g]).collect();
            let var = self.group_variances(&est, |g, c| s.y[g * r + c] / s.w[g * r + c]);
            Ok(BelowStats {
                est,
                var,
                used_df: dfs.used.clone(),
                design_df: dfs.design.clone(),
                n: s.n,
                weighted_n: s.w0,
            })
        })
    }
}
