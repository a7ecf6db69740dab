//! Domain quantiles as `survey::svyquantile` 4.x (newsvyquantile.R, qrule.R):
//! quantile rules "math" (default; inverse of the weighted ECDF) and "hf7", and
//! the Woodruff interval (`interval.type = "mean"`): the design-based interval of
//! the proportion below the estimate, mapped back through the same rule, with t
//! quantiles on the df of the rows used (`svyquantile(na.rm = TRUE)` drops the rows
//! without an answer before taking `degf`, so a PSU whose rows all lack an answer
//! leaves the count, unlike for proportions); `se = (upper - lower) / (2 qt)`.
//!
//! R accumulates `sum` and `cumsum` in long double; the "math" rule compares
//! `cumw <= p * W` exactly, so the sums here use double-double (compensated)
//! accumulation rounded to f64, which reproduces R's rounded values.

use super::design::Design;
use super::dist::{qnorm, qt};
use super::estimators::{check_grouping, check_values, effective_groups, Estimate, EstimateOptions};
use super::{DesignError, Grouping};

/// Rule turning the weighted sample into a quantile (`svyquantile(qrule=)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuantileRule {
    /// "math" (= hf1): the smallest x with weighted ECDF >= p, with R's exact
    /// comparison `cumw == p W`.
    #[default]
    Math,
    /// "hf7": linear interpolation of x at p over `pk = C_{k-1} / C_{n-1}`.
    Hf7,
}

/// One quantile of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileEstimate {
    /// Probability of the quantile.
    pub p: f64,
    /// The result row (t interval on the df of the rows used; `deff` is `None`).
    pub estimate: Estimate,
}

/// Running sum with double-double accuracy (stands in for R's long double).
#[derive(Default, Clone, Copy)]
struct Acc {
    hi: f64,
    lo: f64,
}

impl Acc {
    fn add(&mut self, x: f64) {
        let s = self.hi + x;
        let bp = s - self.hi;
        let err = (self.hi - (s - bp)) + (x - bp);
        self.hi = s;
        self.lo += err;
    }
    fn value(&self) -> f64 {
        self.hi + self.lo
    }
}

/// A group's sorted values with R's cumulative weights.
struct Sorted {
    x: Vec<f64>,
    cumw: Vec<f64>,
    total: f64,
}

impl Sorted {
    /// `rows` in original order; sorted stably by value (R's `order`).
    fn new(rows: &[u32], y: &[f64], w: &[f64]) -> Self {
        let mut total = Acc::default();
        for &r in rows {
            total.add(w[r as usize]);
        }
        let mut idx: Vec<u32> = rows.to_vec();
        idx.sort_by(|&a, &b| y[a as usize].total_cmp(&y[b as usize]));
        let mut acc = Acc::default();
        let mut cumw = Vec::with_capacity(idx.len());
        let mut x = Vec::with_capacity(idx.len());
        for &r in &idx {
            acc.add(w[r as usize]);
            cumw.push(acc.value());
            x.push(y[r as usize]);
        }
        Self { x, cumw, total: total.value() }
    }

    fn quantile(&self, rule: QuantileRule, p: f64) -> f64 {
        let n = self.x.len();
        if n == 0 || p.is_nan() {
            return f64::NAN;
        }
        match rule {
            QuantileRule::Math => {
                // qs(): pos = last k with cumw <= p W (1 if none).
                let lim = p * self.total;
                let pos = self.cumw.iter().rposition(|&c| c <= lim).unwrap_or(0);
                let next = if pos + 1 == n { pos } else { pos + 1 };
                let wlow = p - self.cumw[pos] / self.total;
                if wlow == 0.0 {
                    self.x[pos]
                } else {
                    self.x[next]
                }
            }
            QuantileRule::Hf7 => {
                if n == 1 {
                    return self.x[0];
                }
                // pk = c(0, cumw[-n]) / cumw[n-1]; approx(pk, x, p, rule = 2).
                let denom = self.cumw[n - 2];
                let pk = |i: usize| {
                    if i == 0 {
                        0.0
                    } else {
                        self.cumw[i - 1] / denom
                    }
                };
                if p < pk(0) {
                    return self.x[0];
                }
                if p > pk(n - 1) {
                    return self.x[n - 1];
                }
                let (mut i, mut j) = (0usize, n - 1);
                while i + 1 < j {
                    let ij = (i + j) / 2;
                    if p < pk(ij) {
                        j = ij;
                    } else {
                        i = ij;
                    }
                }
                if p == pk(j) {
                    return self.x[j];
                }
                if p == pk(i) {
                    return self.x[i];
                }
                self.x[i] + (self.x[j] - self.x[i]) * ((p - pk(i)) / (pk(j) - pk(i)))
            }
        }
    }
}

/// What the Woodruff interval needs of the share of a group's rows at or below its
/// quantile: estimate, variance, df of the rows used, design df, rows, weight sum.
pub(super) struct BelowStats {
    pub est: Vec<f64>,
    pub var: Vec<f64>,
    pub used_df: Vec<f64>,
    pub design_df: Vec<f64>,
    pub n: Vec<usize>,
    pub weighted_n: Vec<f64>,
}

impl Design {
    /// Quantiles of `y` (NaN = missing) per group, for each probability in
    /// `probs`, with Woodruff intervals (t on the df of the rows used). Results are
    /// ordered by group, then by probability.
    pub fn quantiles(
        &self,
        y: &[f64],
        grouping: &Grouping,
        probs: &[f64],
        rule: QuantileRule,
        opts: &EstimateOptions,
    ) -> Result<Vec<QuantileEstimate>, DesignError> {
        check_values(self, y, "outcome")?;
        check_grouping(self, grouping)?;
        woodruff(&self.weights, y, grouping, probs, rule, opts, |below| {
            let lin = self.linearize_mean(below, grouping)?;
            // t on the df of the rows used: svyquantile(na.rm = TRUE) drops the
            // missing values before degf(), unlike svyciprop.
            let (var, used_df) = lin.variances()?;
            Ok(BelowStats {
                est: lin.estimates().to_vec(),
                var,
                used_df,
                design_df: lin.design_df().to_vec(),
                n: lin.n().to_vec(),
                weighted_n: lin.weighted_n().to_vec(),
            })
        })
    }
}

/// Quantiles per group with Woodruff intervals, the design-based statistics of the share
/// at or below each quantile coming from `below_stats` (Taylor or replicate variance),
/// which receives a 0/1 vector (NaN outside the rows used).
pub(super) fn woodruff<F>(
    weights: &[f64],
    y: &[f64],
    grouping: &Grouping,
    probs: &[f64],
    rule: QuantileRule,
    opts: &EstimateOptions,
    below_stats: F,
) -> Result<Vec<QuantileEstimate>, DesignError>
where
    F: Fn(&[f64]) -> Result<BelowStats, DesignError>,
{
    if let Some(&p) = probs.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(DesignError::InvalidArgument(format!("quantile probability {p} is not in [0, 1]")));
    }
    if !(opts.level > 0.0 && opts.level < 1.0) {
        return Err(DesignError::InvalidArgument(format!("confidence level {} is not in (0, 1)", opts.level)));
    }
    let k = grouping.n_groups();
    let row_group = effective_groups(grouping, &[y]);
    // Rows per group in original order (counting sort by group).
    let mut start = vec![0usize; k + 1];
    for &g in &row_group {
        if g != Grouping::NONE {
            start[g as usize + 1] += 1;
        }
    }
    for g in 0..k {
        start[g + 1] += start[g];
    }
    let mut rows = vec![0u32; start[k]];
    let mut fill = start.clone();
    for (i, &g) in row_group.iter().enumerate() {
        if g != Grouping::NONE {
            rows[fill[g as usize]] = i as u32;
            fill[g as usize] += 1;
        }
    }
    let sorted: Vec<Sorted> = (0..k).map(|g| Sorted::new(&rows[start[g]..start[g + 1]], y, weights)).collect();
    let alpha = 1.0 - opts.level;
    let mut out: Vec<Vec<QuantileEstimate>> = vec![Vec::new(); k];
    for &p in probs {
        let qhat: Vec<f64> = sorted.iter().map(|s| s.quantile(rule, p)).collect();
        // Woodruff: svymean(x <= qhat) in the domain.
        let below: Vec<f64> = (0..y.len())
            .map(|i| {
                let g = row_group[i];
                if g == Grouping::NONE {
                    f64::NAN
                } else if y[i] <= qhat[g as usize] {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let st = below_stats(&below)?;
        for g in 0..k {
            let df = st.used_df[g];
            let crit = if df.is_infinite() {
                qnorm(1.0 - alpha / 2.0)
            } else {
                qt(1.0 - alpha / 2.0, df)
            };
            let pm = st.est[g];
            let se_p = st.var[g].sqrt();
            let (lo_p, hi_p) = (pm - crit * se_p, pm + crit * se_p);
            let lower = if lo_p.is_nan() || lo_p < 0.0 {
                f64::NAN
            } else {
                sorted[g].quantile(rule, lo_p)
            };
            let upper = if hi_p.is_nan() || hi_p > 1.0 {
                f64::NAN
            } else {
                sorted[g].quantile(rule, hi_p)
            };
            let se = (upper - lower) / (2.0 * crit);
            out[g].push(QuantileEstimate {
                p,
                estimate: Estimate {
                    group: g as u32,
                    estimate: qhat[g],
                    se,
                    ci_low: lower,
                    ci_high: upper,
                    level: opts.level,
                    df,
                    design_df: st.design_df[g],
                    used_df: df,
                    deff: None,
                    cv: se / qhat[g],
                    n: st.n[g],
                    weighted_n: st.weighted_n[g],
                },
            });
        }
    }
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn math_rule_matches_r_quirks() {
        let w = vec![1.0, 1.0, 1.0, 1.0];
        let y = vec![4.0, 1.0, 3.0, 2.0];
        let s = Sorted::new(&[0, 1, 2, 3], &y, &w);
        // Exactly p W = 2 -> x at pos (2); otherwise the next value.
        assert_eq!(s.quantile(QuantileRule::Math, 0.5), 2.0);
        assert_eq!(s.quantile(QuantileRule::Math, 0.6), 3.0);
        // Below the first weight R's qs() takes pos = 1 and returns x[2].
        assert_eq!(s.quantile(QuantileRule::Math, 0.1), 2.0);
        // hf7 with equal weights is R's quantile(type = 7).
        assert!((s.quantile(QuantileRule::Hf7, 0.5) - 2.5).abs() < 1e-12);
        assert!((s.quantile(QuantileRule::Hf7, 0.25) - 1.75).abs() < 1e-12);
    }
}
