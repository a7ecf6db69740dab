//! Domain estimators and result rows: means, totals, ratios and proportions (with
//! the `svyciprop` interval methods and a design-based Wilson interval), their
//! design effects, and [`Linearization`], which keeps the per-row influence values
//! of a statistic so that variances, the covariance between group estimates and
//! per-PSU totals come from the same numbers.
//!
//! Influence values follow `survey` (multistage.R): `w (y - ybar_g) / W_g` for a
//! mean (`svymean`), `w y` for a total (`svytotal`), `w (y - R_g x) / X_g` for a
//! ratio (`svyratio`); rows outside the group, or with a missing (NaN) value, have
//! none (the domain keeps the full design, as `svyby` / `subset`).
//! Means, totals and ratios get normal intervals (`confint.svystat`); proportions
//! use t with the domain's design df: `svyciprop` takes `degf(design)` of the design
//! it is given, so every row of the group counts, answered or not (PSUs whose rows all
//! lack an answer still count; PSUs without rows of the group do not).

use super::design::Design;
use super::dist::{qbeta, qnorm, qt};
use super::variance::{group_covariance, group_variances, grouping_domains, unit_totals, DomainSize, UnitTotals, UnitTotalsBuilder};
use super::{DesignError, Grouping};

/// Largest number of groups accepted by [`Linearization::covariance`].
pub const MAX_COVARIANCE_GROUPS: usize = 4096;

/// Options shared by the estimators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimateOptions {
    /// Confidence level of the intervals, in (0, 1).
    pub level: f64,
}

impl Default for EstimateOptions {
    fn default() -> Self {
        Self { level: 0.95 }
    }
}

impl EstimateOptions {
    pub(super) fn check(&self) -> Result<(), DesignError> {
        if self.level > 0.0 && self.level < 1.0 {
            Ok(())
        } else {
            Err(DesignError::InvalidArgument(format!("confidence level {} is not in (0, 1)", self.level)))
        }
    }
}

/// Confidence-interval method for a proportion (R's `svyciprop(method=)`, plus
/// Wilson). All use t quantiles with the domain's design df ([`Estimate::design_df`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PropCiMethod {
    /// Wald interval on the logit scale (`svyglm(quasibinomial)` Wald CI), the default.
    #[default]
    Logit,
    /// Korn-Graubard: beta quantiles with the effective sample size
    /// `p(1-p)/V * (qt(a/2, n-1) / qt(a/2, df))^2`, n the rows of the group whether
    /// answered or not (R's `nrow(design)`).
    Beta,
    /// Logit transform of the mean with the delta method (`svycontrast`).
    XLogit,
    /// Arcsine-square-root transform with the delta method.
    Asin,
    /// Wald interval on the proportion scale.
    Mean,
    /// Rao-Scott scaled profile likelihood of the intercept-only quasibinomial
    /// model. R interpolates a spline through a coarse profile (error up to about
    /// 1e-4); this is the exact root of
    /// `KL(p || mu) = t^2 * V * phi * c / (2 p (1-p))`, with `phi` the design-weighted
    /// variance of the Pearson residuals (`summary.svyglm` dispersion) and `c` the mean
    /// weight of the answered rows over the mean weight of all the group's rows (1
    /// without missing answers): `svyglm` normalises the weights before it drops the
    /// unanswered rows, which scales its design effect lambda by `c`.
    Likelihood,
    /// Wilson score interval with the effective sample size `n_eff = p(1-p)/V`
    /// (Kish; 1/deff without fpc) and t(df) in place of z; when V = 0 (p is 0 or 1)
    /// `n_eff` is the number of rows, giving `[0, t^2/(n+t^2)]` or its mirror.
    Wilson,
}

impl PropCiMethod {
    /// The method names, as R's `svyciprop(method=)` spells them (plus `wilson`).
    pub const NAMES: &'static [&'static str] = &["logit", "beta", "xlogit", "asin", "mean", "likelihood", "wilson"];

    /// Parses a method name.
    pub fn parse(s: &str) -> Option<PropCiMethod> {
        Some(match s {
            "logit" => PropCiMethod::Logit,
            "beta" => PropCiMethod::Beta,
            "xlogit" => PropCiMethod::XLogit,
            "asin" => PropCiMethod::Asin,
            "mean" => PropCiMethod::Mean,
            "likelihood" => PropCiMethod::Likelihood,
            "wilson" => PropCiMethod::Wilson,
            _ => return None,
        })
    }
}

/// One result row (one group).
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Group code.
    pub group: u32,
    /// Point estimate.
    pub estimate: f64,
    /// Standard error.
    pub se: f64,
    /// Lower confidence limit.
    pub ci_low: f64,
    /// Upper confidence limit.
    pub ci_high: f64,
    /// Confidence level.
    pub level: f64,
    /// Degrees of freedom of the interval (infinite for a normal interval).
    pub df: f64,
    /// The domain's design df: PSUs holding rows of the group minus their strata,
    /// counting every row of the group whether or not its outcome is missing (R's
    /// `degf(subset(design, group))`; the t df of a proportion).
    pub design_df: f64,
    /// PSUs holding the rows used (outcome not missing) minus their strata: the t df of
    /// a quantile (`svyquantile(na.rm = TRUE)` drops missing values before `degf`).
    /// Below 1 the rows used sit in one PSU per stratum.
    pub used_df: f64,
    /// Design effect (`svymean(..., deff=TRUE)`); `None` where R gives NA.
    pub deff: Option<f64>,
    /// Coefficient of variation, se / estimate.
    pub cv: f64,
    /// Rows used (in the group, outcome not missing).
    pub n: usize,
    /// Sum of the weights of the rows used.
    pub weighted_n: f64,
}

impl Estimate {
    /// The df a result row reports: the df of its t interval (proportions, quantiles),
    /// or for a normal interval (means, totals, ratios) the domain's design df.
    pub fn reported_df(&self) -> f64 {
        if self.df.is_finite() {
            self.df
        } else {
            self.design_df
        }
    }
}

/// Influence total of one group in one PSU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PsuTotal {
    /// Stratum code.
    pub stratum: u32,
    /// Index of the PSU in the design (0..n_psus).
    pub psu: u32,
    /// The caller's first-stage cluster code of the PSU.
    pub psu_code: u32,
    /// Group code.
    pub group: u32,
    /// Sum of the group's influence values in the PSU.
    pub total: f64,
}

/// Group estimates and their full variance-covariance matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCovariance {
    /// Estimate per group.
    pub estimates: Vec<f64>,
    /// Row-major `n_groups x n_groups` covariance; the diagonal equals the
    /// per-group variances.
    pub cov: Vec<f64>,
    /// Number of groups.
    pub n_groups: usize,
}

impl GroupCovariance {
    /// Covariance of groups `a` and `b`.
    pub fn get(&self, a: usize, b: usize) -> f64 {
        self.cov[a * self.n_groups + b]
    }
}

/// A statistic linearised over a grouping: group estimates plus per-row influence
/// values. Variances, covariances and PSU totals are all computed from it.
#[derive(Debug, Clone)]
pub struct Linearization<'d> {
    design: &'d Design,
    n_groups: usize,
    row_group: Vec<u32>,
    influence: Vec<f64>,
    estimates: Vec<f64>,
    n: Vec<usize>,
    weighted_n: Vec<f64>,
    /// Sum of w * e^2 per group, e the residual whose weighted variance is the
    /// SRS variance of the deff denominator.
    srs_ss: Vec<f64>,
    /// Rows and design df of every group, counting rows whatever their values.
    domain: DomainSize,
    kind: Kind,
    /// The unit totals of the influence values, computed once for the variances, the
    /// covariance and the PSU totals alike.
    totals: std::sync::OnceLock<UnitTotals>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Mean,
    Total,
    Ratio,
}

impl<'d> Linearization<'d> {
    /// Estimate per group (NaN for a group without rows).
    pub fn estimates(&self) -> &[f64] {
        &self.estimates
    }
    /// Rows used per group.
    pub fn n(&self) -> &[usize] {
        &self.n
    }
    /// Weight sum per group.
    pub fn weighted_n(&self) -> &[f64] {
        &self.weighted_n
    }
    /// Design df per group, counting every row of the group whatever its values
    /// ([`Estimate::design_df`]).
    pub fn design_df(&self) -> &[f64] {
        &self.domain.df
    }
    /// Influence value per row (0 for rows not used).
    pub fn influence(&self) -> &[f64] {
        &self.influence
    }
    /// Effective group per row ([`Grouping::NONE`] when not used).
    pub fn row_groups(&self) -> &[u32] {
        &self.row_group
    }
    /// Number of groups.
    pub fn n_groups(&self) -> usize {
        self.n_groups
    }

    fn totals(&self) -> &UnitTotals {
        self.totals
            .get_or_init(|| unit_totals(self.design, &self.row_group, &self.influence, self.n_groups))
    }

    /// Variance per group and the df of the rows used ([`Estimate::used_df`]).
    pub fn variances(&self) -> Result<(Vec<f64>, Vec<f64>), DesignError> {
        let gv = group_variances(self.design, self.totals(), self.n_groups)?;
        Ok((gv.var, gv.df))
    }

    /// Group estimates with their full covariance matrix, from the same PSU totals.
    pub fn covariance(&self) -> Result<GroupCovariance, DesignError> {
        if self.n_groups > MAX_COVARIANCE_GROUPS {
            return Err(DesignError::TooManyGroups {
                groups: self.n_groups,
                limit: MAX_COVARIANCE_GROUPS,
            });
        }
        let cov = group_covariance(self.design, self.totals(), self.n_groups)?;
        Ok(GroupCovariance {
            estimates: self.estimates.clone(),
            cov,
            n_groups: self.n_groups,
        })
    }

    /// Influence totals per (PSU, group), for PSUs holding rows of the group.
    pub fn psu_totals(&self) -> Vec<PsuTotal> {
        let t = self.totals();
        let st = &self.design.stages[0];
        t.stages[0]
            .iter()
            .map(|e| PsuTotal {
                stratum: st.parent_of_unit[e.unit as usize],
                psu: e.unit,
                psu_code: st.code_of_unit[e.unit as usize],
                group: e.group,
                total: e.total,
            })
            .collect()
    }

    /// Design effect of group g given its variance (R: `svymean`/`svytotal` deff).
    fn deff(&self, g: usize, var: f64) -> Option<f64> {
        srs_deff(self.kind == Kind::Mean, self.n[g], self.weighted_n[g], self.srs_ss[g], var)
    }

    /// This linearisation over another design of the same rows with the same weights (the
    /// waves of a survey as separate samples and as one combined design, say): estimates and
    /// influence values carry over unchanged, the domains of `grouping` (the grouping it was
    /// made with) are counted on `design`. `None` when the rows or the weights differ.
    pub fn over<'e>(&self, design: &'e Design, grouping: &Grouping) -> Option<Linearization<'e>> {
        if design.n != self.design.n || grouping.codes().len() != design.n || design.weights != self.design.weights {
            return None;
        }
        Some(Linearization {
            design,
            n_groups: self.n_groups,
            row_group: self.row_group.clone(),
            influence: self.influence.clone(),
            estimates: self.estimates.clone(),
            n: self.n.clone(),
            weighted_n: self.weighted_n.clone(),
            srs_ss: self.srs_ss.clone(),
            domain: grouping_domains(design, grouping),
            kind: self.kind,
            totals: std::sync::OnceLock::new(),
        })
    }

    /// The rows of [`Design::proportion`] from this linearisation of the mean of `y` (the
    /// same `y` and grouping): for a caller that also wants the group covariance, so that
    /// the outcome is linearised once.
    pub fn proportion_rows(&self, y: &[f64], method: PropCiMethod, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        opts.check()?;
        check_proportion(y)?;
        let lin = self;
        let (var, used_df) = lin.variances()?;
        let domain = &lin.domain;
        let alpha = 1.0 - opts.level;
        let k = lin.n_groups;
        let phi = if method == PropCiMethod::Likelihood {
            let mut phi = lin.design.pearson_dispersion(lin, y);
            // svyglm scales the weights to mean 1 over every row of the design it is
            // given, then drops the unanswered rows: its Rao-Scott lambda is that of the
            // answered rows times (mean weight answered) / (mean weight of the group).
            for (g, phi) in phi.iter_mut().enumerate() {
                *phi *= (lin.weighted_n[g] / lin.n[g] as f64) / (domain.weight[g] / domain.rows[g] as f64);
            }
            phi
        } else {
            vec![f64::NAN; k]
        };
        Ok((0..k)
            .map(|g| {
                let p = lin.estimates[g];
                let v = var[g];
                let se = v.sqrt();
                let df = domain.df[g];
                let ci = prop_ci(method, p, v, df, domain.rows[g], lin.n[g], alpha, phi[g]);
                let dfs = Dfs {
                    ci: df,
                    design: df,
                    used: used_df[g],
                };
                lin.row(g, p, se, ci, dfs, v, opts)
            })
            .collect())
    }

    /// Result rows with normal confidence intervals (`confint.svystat`).
    pub fn normal_rows(&self, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        opts.check()?;
        let (var, used_df) = self.variances()?;
        let z = qnorm(1.0 - (1.0 - opts.level) / 2.0);
        Ok((0..self.n_groups)
            .map(|g| {
                let se = var[g].sqrt();
                let est = self.estimates[g];
                let dfs = Dfs {
                    ci: f64::INFINITY,
                    design: self.domain.df[g],
                    used: used_df[g],
                };
                self.row(g, est, se, (est - z * se, est + z * se), dfs, var[g], opts)
            })
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn row(&self, g: usize, est: f64, se: f64, ci: (f64, f64), dfs: Dfs, var: f64, opts: &EstimateOptions) -> Estimate {
        Estimate {
            group: g as u32,
            estimate: est,
            se,
            ci_low: ci.0,
            ci_high: ci.1,
            level: opts.level,
            df: dfs.ci,
            design_df: dfs.design,
            used_df: dfs.used,
            deff: self.deff(g, var),
            cv: se / est,
            n: self.n[g],
            weighted_n: self.weighted_n[g],
        }
    }
}

/// Design effect `var / vsrs` (R's `deff = TRUE`): `vsrs` from the weighted variance
/// `n/(n-1) * srs_ss / w` of the rows used (`srs_ss` = sum of w e^2 about the weighted
/// mean), with the finite-population factor of the estimated population size `w`; for a
/// mean `s2 (w - n)/(w n)` (None when w < n, as `svymean`'s "sample size greater than
/// population size"), for a total (and a ratio, through the total of its residuals)
/// `s2 w^2 (w - n)/(w n)`. None below 2 rows.
pub(super) fn srs_deff(mean: bool, rows: usize, w: f64, srs_ss: f64, var: f64) -> Option<f64> {
    let n = rows as f64;
    if rows < 2 {
        return None;
    }
    let s2 = n / (n - 1.0) * srs_ss / w;
    let vsrs = if mean {
        if w < n {
            return None;
        }
        s2 * (w - n) / (w * n)
    } else {
        s2 * w * w * (w - n) / (w * n)
    };
    Some(var / vsrs)
}

/// The three df of a result row (see [`Estimate`]).
#[derive(Debug, Clone, Copy)]
struct Dfs {
    ci: f64,
    design: f64,
    used: f64,
}

/// Checks an outcome vector: length, no infinities (NaN = missing).
pub(super) fn check_values(design: &Design, y: &[f64], what: &'static str) -> Result<(), DesignError> {
    check_values_len(design.n, y, what)
}

/// Checks an outcome vector against a number of rows: length, no infinities (NaN = missing).
pub(super) fn check_values_len(n: usize, y: &[f64], what: &'static str) -> Result<(), DesignError> {
    if y.len() != n {
        return Err(DesignError::LengthMismatch {
            what,
            expected: n,
            got: y.len(),
        });
    }
    if let Some((row, &value)) = y.iter().enumerate().find(|(_, v)| v.is_infinite()) {
        return Err(DesignError::NonFiniteValue { row, value });
    }
    Ok(())
}

pub(super) fn check_grouping(design: &Design, grouping: &Grouping) -> Result<(), DesignError> {
    if grouping.codes().len() != design.n {
        return Err(DesignError::LengthMismatch {
            what: "grouping",
            expected: design.n,
            got: grouping.codes().len(),
        });
    }
    Ok(())
}

/// A proportion's outcome holds 0/1 values (NaN = missing) only.
fn check_proportion(y: &[f64]) -> Result<(), DesignError> {
    match y.iter().enumerate().find(|(_, &v)| !v.is_nan() && !(0.0..=1.0).contains(&v)) {
        Some((row, &value)) => Err(DesignError::NotAProportion { row, value }),
        None => Ok(()),
    }
}

/// Effective group per row: the row's group unless any value is missing.
pub(super) fn effective_groups(grouping: &Grouping, values: &[&[f64]]) -> Vec<u32> {
    grouping
        .codes()
        .iter()
        .enumerate()
        .map(|(i, &g)| {
            if g != Grouping::NONE && values.iter().all(|v| !v[i].is_nan()) {
                g
            } else {
                Grouping::NONE
            }
        })
        .collect()
}

impl Design {
    /// Linearises the mean of `y` (NaN = missing) in every group (`svymean`).
    pub fn linearize_mean(&self, y: &[f64], grouping: &Grouping) -> Result<Linearization<'_>, DesignError> {
        check_values(self, y, "outcome")?;
        check_grouping(self, grouping)?;
        let k = grouping.n_groups();
        let (row_group, n, wsum, sy) = self.groups_and_sums(grouping, y, k);
        let est: Vec<f64> = (0..k).map(|g| sy[g] / wsum[g]).collect();
        let mut influence = vec![0.0; self.n];
        let mut srs_ss = vec![0.0; k];
        // in the design's order, so that the unit totals come out of the same pass (on a
        // calibrated design they are computed when first needed, from every row's value)
        let mut totals = self.calibration.is_none().then(|| UnitTotalsBuilder::new(self, k));
        for &r in &self.order {
            let i = r as usize;
            let g = row_group[i];
            if g == Grouping::NONE {
                continue;
            }
            let gi = g as usize;
            let d = y[i] - est[gi];
            let z = self.weights[i] * d / wsum[gi];
            influence[i] = z;
            srs_ss[gi] += self.weights[i] * d * d;
            if let Some(t) = totals.as_mut() {
                t.add(i, g, z);
            }
        }
        let lin_totals = std::sync::OnceLock::new();
        if let Some(t) = totals {
            let _ = lin_totals.set(t.finish());
        }
        Ok(Linearization {
            design: self,
            n_groups: k,
            row_group,
            influence,
            estimates: est,
            n,
            weighted_n: wsum,
            srs_ss,
            domain: grouping_domains(self, grouping),
            kind: Kind::Mean,
            totals: lin_totals,
        })
    }

    /// Linearises the total of `y` in every group (`svytotal`).
    pub fn linearize_total(&self, y: &[f64], grouping: &Grouping) -> Result<Linearization<'_>, DesignError> {
        check_values(self, y, "outcome")?;
        check_grouping(self, grouping)?;
        let k = grouping.n_groups();
        let (row_group, n, wsum, sy) = self.groups_and_sums(grouping, y, k);
        let mean: Vec<f64> = (0..k).map(|g| sy[g] / wsum[g]).collect();
        let mut influence = vec![0.0; self.n];
        let mut srs_ss = vec![0.0; k];
        for i in 0..self.n {
            let g = row_group[i];
            if g == Grouping::NONE {
                continue;
            }
            let gi = g as usize;
            influence[i] = self.weights[i] * y[i];
            let d = y[i] - mean[gi];
            srs_ss[gi] += self.weights[i] * d * d;
        }
        let est = (0..k).map(|g| if n[g] > 0 { sy[g] } else { f64::NAN }).collect();
        Ok(Linearization {
            design: self,
            n_groups: k,
            row_group,
            influence,
            estimates: est,
            n,
            weighted_n: wsum,
            srs_ss,
            domain: grouping_domains(self, grouping),
            kind: Kind::Total,
            totals: std::sync::OnceLock::new(),
        })
    }

    /// Linearises the ratio sum(w y)/sum(w x) in every group (`svyratio`); rows
    /// where either value is missing are not used.
    pub fn linearize_ratio(&self, numerator: &[f64], denominator: &[f64], grouping: &Grouping) -> Result<Linearization<'_>, DesignError> {
        check_values(self, numerator, "numerator")?;
        check_values(self, denominator, "denominator")?;
        check_grouping(self, grouping)?;
        let k = grouping.n_groups();
        let row_group = effective_groups(grouping, &[numerator, denominator]);
        let (n, wsum, sy) = self.group_sums(&row_group, numerator, k);
        let (_, _, sx) = self.group_sums(&row_group, denominator, k);
        let est: Vec<f64> = (0..k).map(|g| sy[g] / sx[g]).collect();
        let mut influence = vec![0.0; self.n];
        for i in 0..self.n {
            let g = row_group[i];
            if g == Grouping::NONE {
                continue;
            }
            let gi = g as usize;
            let r = (numerator[i] - est[gi] * denominator[i]) / sx[gi];
            influence[i] = self.weights[i] * r;
        }
        // deff: svytotal(r) with svyvar(r) about its weighted mean.
        let mut rbar = vec![0.0; k];
        for i in 0..self.n {
            let g = row_group[i];
            if g != Grouping::NONE {
                rbar[g as usize] += influence[i] / wsum[g as usize];
            }
        }
        let mut srs_ss = vec![0.0; k];
        for i in 0..self.n {
            let g = row_group[i];
            if g == Grouping::NONE {
                continue;
            }
            let gi = g as usize;
            let r = (numerator[i] - est[gi] * denominator[i]) / sx[gi];
            let d = r - rbar[gi];
            srs_ss[gi] += self.weights[i] * d * d;
        }
        Ok(Linearization {
            design: self,
            n_groups: k,
            row_group,
            influence,
            estimates: est,
            n,
            weighted_n: wsum,
            srs_ss,
            domain: grouping_domains(self, grouping),
            kind: Kind::Ratio,
            totals: std::sync::OnceLock::new(),
        })
    }

    /// The effective group of every row (its group when `y` is answered) with the rows, the
    /// weight sum and the weighted sum of `y` per group: [`effective_groups`] and
    /// [`Design::group_sums`] in one pass, summing in the same order.
    fn groups_and_sums(&self, grouping: &Grouping, y: &[f64], k: usize) -> (Vec<u32>, Vec<usize>, Vec<f64>, Vec<f64>) {
        let codes = grouping.codes();
        let mut row_group = Vec::with_capacity(self.n);
        let mut n = vec![0usize; k];
        let mut w = vec![0.0; k];
        let mut s = vec![0.0; k];
        for ((&g, &yi), &wi) in codes.iter().zip(y).zip(&self.weights) {
            let g = if g != Grouping::NONE && !yi.is_nan() { g } else { Grouping::NONE };
            row_group.push(g);
            if g != Grouping::NONE {
                let gi = g as usize;
                n[gi] += 1;
                w[gi] += wi;
                s[gi] += wi * yi;
            }
        }
        (row_group, n, w, s)
    }

    /// (rows, weight sum, weighted sum of y) per group.
    fn group_sums(&self, row_group: &[u32], y: &[f64], k: usize) -> (Vec<usize>, Vec<f64>, Vec<f64>) {
        let mut n = vec![0usize; k];
        let mut w = vec![0.0; k];
        let mut s = vec![0.0; k];
        for i in 0..self.n {
            let g = row_group[i];
            if g == Grouping::NONE {
                continue;
            }
            let gi = g as usize;
            n[gi] += 1;
            w[gi] += self.weights[i];
            s[gi] += self.weights[i] * y[i];
        }
        (n, w, s)
    }

    /// Mean of `y` per group with normal CIs (`svymean` + `confint`).
    pub fn mean(&self, y: &[f64], grouping: &Grouping, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        self.linearize_mean(y, grouping)?.normal_rows(opts)
    }

    /// Total of `y` per group with normal CIs (`svytotal` + `confint`).
    pub fn total(&self, y: &[f64], grouping: &Grouping, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        self.linearize_total(y, grouping)?.normal_rows(opts)
    }

    /// Ratio of `numerator` to `denominator` per group with normal CIs (`svyratio`).
    pub fn ratio(&self, numerator: &[f64], denominator: &[f64], grouping: &Grouping, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        self.linearize_ratio(numerator, denominator, grouping)?.normal_rows(opts)
    }

    /// Proportion (mean of a 0/1 indicator, NaN = missing) per group, with a
    /// `svyciprop` interval using t with the domain's design df, in which a PSU
    /// holding rows of the group counts even when none of them has an answer (R's
    /// `svyciprop(..., na.rm = TRUE)` on the group's design). `estimate`, `se` and
    /// `deff` are those of `svymean`.
    pub fn proportion(&self, y: &[f64], grouping: &Grouping, method: PropCiMethod, opts: &EstimateOptions) -> Result<Vec<Estimate>, DesignError> {
        opts.check()?;
        check_proportion(y)?;
        self.linearize_mean(y, grouping)?.proportion_rows(y, method, opts)
    }

    /// `summary.svyglm` dispersion of the intercept-only quasibinomial fit:
    /// `svyvar` of the Pearson residuals, which `residuals.svyglm` computes
    /// without the sampling weight: `(y - p) / sqrt(p (1 - p))` (so it is
    /// n/(n-1) for a 0/1 outcome).
    fn pearson_dispersion(&self, lin: &Linearization<'_>, y: &[f64]) -> Vec<f64> {
        let k = lin.n_groups;
        let resid = |i: usize, gi: usize| {
            let p = lin.estimates[gi];
            (y[i] - p) / (p * (1.0 - p)).sqrt()
        };
        let mut rbar = vec![0.0; k];
        for i in 0..self.n {
            let g = lin.row_group[i];
            if g != Grouping::NONE {
                let gi = g as usize;
                rbar[gi] += self.weights[i] * resid(i, gi) / lin.weighted_n[gi];
            }
        }
        let mut ss = vec![0.0; k];
        for i in 0..self.n {
            let g = lin.row_group[i];
            if g != Grouping::NONE {
                let gi = g as usize;
                let d = resid(i, gi) - rbar[gi];
                ss[gi] += self.weights[i] * d * d;
            }
        }
        (0..k)
            .map(|g| {
                let n = lin.n[g] as f64;
                n / (n - 1.0) * ss[g] / lin.weighted_n[g]
            })
            .collect()
    }
}

pub(super) fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Interval for a proportion `p` with design variance `v`, design df `df`, level
/// 1 - alpha (R's `svyciprop`; see [`PropCiMethod`]). `rows` counts the rows of the
/// group (R's `nrow(design)`, for Korn-Graubard), `used` those with an answer.
#[allow(clippy::too_many_arguments)]
pub(super) fn prop_ci(method: PropCiMethod, p: f64, v: f64, df: f64, rows: usize, used: usize, alpha: f64, phi: f64) -> (f64, f64) {
    let t = qt(1.0 - alpha / 2.0, df);
    let se = v.sqrt();
    match method {
        PropCiMethod::Mean => (p - t * se, p + t * se),
        PropCiMethod::Logit | PropCiMethod::XLogit => {
            let eta = (p / (1.0 - p)).ln();
            let s = se / (p * (1.0 - p));
            (expit(eta - t * s), expit(eta + t * s))
        }
        PropCiMethod::Asin => {
            let a = p.sqrt().asin();
            let s = se / (2.0 * (p * (1.0 - p)).sqrt());
            ((a - t * s).sin().powi(2), (a + t * s).sin().powi(2))
        }
        PropCiMethod::Beta => {
            let ratio = qt(alpha / 2.0, rows as f64 - 1.0) / qt(alpha / 2.0, df);
            let n_eff = p * (1.0 - p) / v * ratio * ratio;
            (
                qbeta(alpha / 2.0, n_eff * p, n_eff * (1.0 - p) + 1.0),
                qbeta(1.0 - alpha / 2.0, n_eff * p + 1.0, n_eff * (1.0 - p)),
            )
        }
        PropCiMethod::Wilson => {
            let n_eff = if v > 0.0 { p * (1.0 - p) / v } else { used as f64 };
            let t2 = t * t;
            let centre = p + t2 / (2.0 * n_eff);
            let half = t * (p * (1.0 - p) / n_eff + t2 / (4.0 * n_eff * n_eff)).sqrt();
            let denom = 1.0 + t2 / n_eff;
            ((centre - half) / denom, (centre + half) / denom)
        }
        PropCiMethod::Likelihood => likelihood_ci(p, v, t, phi),
    }
}

/// Exact Rao-Scott profile-likelihood interval: the two roots mu of
/// `KL(p || mu) = t^2 v phi / (2 p (1-p))`, `phi` here the dispersion times the weight
/// factor `c` (see [`PropCiMethod::Likelihood`]).
fn likelihood_ci(p: f64, v: f64, t: f64, phi: f64) -> (f64, f64) {
    if !(p > 0.0 && p < 1.0 && v > 0.0 && t.is_finite() && phi > 0.0) {
        return (f64::NAN, f64::NAN);
    }
    let target = t * t * v * phi / (2.0 * p * (1.0 - p));
    let kl = |eta: f64| {
        // log(1 - mu) computed stably on the logit scale.
        let ln_mu = -(-eta).exp().ln_1p();
        let ln_1mu = -eta.exp().ln_1p();
        p * (p.ln() - ln_mu) + (1.0 - p) * ((1.0 - p).ln() - ln_1mu)
    };
    let eta0 = (p / (1.0 - p)).ln();
    let root = |dir: f64| {
        let mut inner = eta0;
        let mut step = 1.0;
        let mut outer = eta0 + dir * step;
        while kl(outer) < target && step < 1e3 {
            inner = outer;
            step *= 2.0;
            outer = eta0 + dir * step;
        }
        for _ in 0..200 {
            let mid = 0.5 * (inner + outer);
            if mid == inner || mid == outer {
                break;
            }
            if kl(mid) < target {
                inner = mid;
            } else {
                outer = mid;
            }
        }
        expit(0.5 * (inner + outer))
    };
    (root(-1.0), root(1.0))
}

#[cfg(test)]
mod tests {
    use super::super::{DesignSpec, LonelyPsu, Stage};
    use super::*;

    /// Stratum "B" has a single PSU; "A" has two.
    fn lonely_design(rule: LonelyPsu) -> Design {
        Design::new(DesignSpec {
            n_rows: 6,
            weights: Some(vec![1.0, 2.0, 1.0, 2.0, 1.5, 1.5]),
            strata: Some(vec![0, 0, 0, 0, 1, 1]),
            stages: vec![Stage {
                clusters: vec![0, 0, 1, 1, 0, 0],
                fpc: None,
            }],
            lonely_psu: rule,
            strata_labels: Some(vec!["A".into(), "B".into()]),
            psu_labels: Some(vec!["p0".into(), "p1".into()]),
            ..Default::default()
        })
        .expect("valid design")
    }

    const Y: [f64; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];

    #[test]
    fn lonely_psu_under_fail_names_the_stratum() {
        let d = lonely_design(LonelyPsu::Fail);
        let e = d.mean(&Y, &Grouping::overall(6), &EstimateOptions::default()).unwrap_err();
        assert!(
            matches!(e, DesignError::LonelyPsu { ref stratum, stage: 1, ref psu } if stratum == "B" && psu == "p0"),
            "{e:?}"
        );
        assert!(e.to_string().contains("stratum B"));
        // A domain without rows in the lonely stratum is no error (R drops it).
        let g = Grouping::domain(&[true, true, true, true, false, false]);
        assert!(d.mean(&Y, &g, &EstimateOptions::default()).is_ok());
    }

    #[test]
    fn remove_and_certainty_agree_and_average_scales() {
        let o = EstimateOptions::default();
        let all = Grouping::overall(6);
        let rm = lonely_design(LonelyPsu::Remove).mean(&Y, &all, &o).unwrap();
        let ce = lonely_design(LonelyPsu::Certainty).mean(&Y, &all, &o).unwrap();
        let av = lonely_design(LonelyPsu::Average).mean(&Y, &all, &o).unwrap();
        assert_eq!(rm[0].se, ce[0].se);
        // Two strata, one lonely: the stage-1 sum is doubled.
        assert!((av[0].se * av[0].se - 2.0 * rm[0].se * rm[0].se).abs() < 1e-12);
        assert_eq!(rm[0].design_df, 1.0);
    }

    #[test]
    fn invalid_inputs_are_errors_not_panics() {
        let d = lonely_design(LonelyPsu::Remove);
        let o = EstimateOptions::default();
        assert!(matches!(Grouping::new(vec![0, 3], 2), Err(DesignError::InvalidGroup { row: 1, code: 3, .. })));
        assert!(matches!(d.mean(&Y[..5], &Grouping::overall(6), &o), Err(DesignError::LengthMismatch { .. })));
        assert!(matches!(
            d.proportion(&Y, &Grouping::overall(6), PropCiMethod::Logit, &o),
            Err(DesignError::NotAProportion { row: 1, .. })
        ));
        let mut y = Y;
        y[2] = f64::INFINITY;
        assert!(matches!(
            d.total(&y, &Grouping::overall(6), &o),
            Err(DesignError::NonFiniteValue { row: 2, .. })
        ));
        assert!(d.mean(&Y, &Grouping::overall(6), &EstimateOptions { level: 1.0 }).is_err());
        assert!(d.quantiles(&Y, &Grouping::overall(6), &[1.5], QuantileRuleAlias::Math, &o).is_err());
    }

    use super::super::QuantileRule as QuantileRuleAlias;

    #[test]
    fn missing_values_are_a_domain_and_empty_groups_are_nan() {
        let d = lonely_design(LonelyPsu::Remove);
        let o = EstimateOptions::default();
        let mut y = Y;
        y[0] = f64::NAN;
        let g = Grouping::new(vec![0, 0, 0, 0, 0, 0], 2).unwrap();
        let r = d.mean(&y, &g, &o).unwrap();
        assert_eq!(r[0].n, 5);
        assert!((r[0].weighted_n - 8.0).abs() < 1e-12);
        assert!(r[1].estimate.is_nan() && r[1].n == 0);
        // Same as the explicit domain.
        let dom = Grouping::domain(&[false, true, true, true, true, true]);
        let r2 = d.mean(&Y, &dom, &o).unwrap();
        assert_eq!(r[0].se, r2[0].se);
    }

    #[test]
    fn r14_missing_answers_keep_their_psu_in_the_proportion_df() {
        // Stratum A has PSUs 0 (rows 0, 1) and 1 (rows 2, 3); B has one PSU (rows 4, 5).
        let d = lonely_design(LonelyPsu::Remove);
        let o = EstimateOptions::default();
        let y = [1.0, 0.0, f64::NAN, f64::NAN, 1.0, 0.0];
        let all = Grouping::overall(6);
        // svyciprop: degf of the design given, PSU A/1 counts (3 PSUs - 2 strata).
        let p = d.proportion(&y, &all, PropCiMethod::Logit, &o).unwrap();
        assert_eq!((p[0].df, p[0].design_df, p[0].used_df, p[0].n), (1.0, 1.0, 0.0, 4));
        assert_eq!(p[0].reported_df(), 1.0);
        // A group without rows in PSU A/1 does not count it.
        let g = Grouping::new(vec![0, 0, 1, 1, 0, 0], 2).unwrap();
        let p = d.proportion(&y, &g, PropCiMethod::Beta, &o).unwrap();
        assert_eq!((p[0].design_df, p[1].design_df, p[1].n), (0.0, 0.0, 0));
        // Means report the domain's df with a normal interval.
        let m = d.mean(&y, &all, &o).unwrap();
        assert_eq!((m[0].df, m[0].design_df, m[0].reported_df()), (f64::INFINITY, 1.0, 1.0));
        // svyquantile drops the missing answers first: PSU A/1 leaves its df.
        let q = d
            .quantiles(
                &Y.map(|v| if (3.0..=4.0).contains(&v) { f64::NAN } else { v }),
                &all,
                &[0.5],
                QuantileRuleAlias::Math,
                &o,
            )
            .unwrap();
        assert_eq!((q[0].estimate.df, q[0].estimate.design_df, q[0].estimate.reported_df()), (0.0, 1.0, 0.0));
    }

    #[test]
    fn covariance_diagonal_equals_variances_and_psu_totals_add_up() {
        let d = lonely_design(LonelyPsu::Adjust);
        let g = Grouping::new(vec![0, 1, 0, 1, 0, 1], 2).unwrap();
        let lin = d.linearize_mean(&Y, &g).unwrap();
        let (var, _) = lin.variances().unwrap();
        let cov = lin.covariance().unwrap();
        for (a, v) in var.iter().enumerate() {
            assert_eq!(cov.get(a, a), *v);
        }
        assert_eq!(cov.get(0, 1), cov.get(1, 0));
        let totals = lin.psu_totals();
        let sum: f64 = totals.iter().map(|t| t.total).sum();
        let direct: f64 = lin.influence().iter().sum();
        assert!((sum - direct).abs() < 1e-12);
        assert!(totals.iter().any(|t| t.stratum == 1 && t.psu_code == 0));
    }
}

#[cfg(test)]
mod perf {
    use super::super::{DesignSpec, Stage};
    use super::*;

    /// Timing check: 1,000,000 rows x 5 breakdowns. Run with
    /// `cargo test --release -- --ignored --nocapture perf`.
    #[test]
    #[ignore]
    fn million_rows_five_breakdowns() {
        let n = 1_000_000usize;
        let mut state = 12345u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let strata: Vec<u32> = (0..n).map(|i| (i / 20_000) as u32).collect();
        let psu: Vec<u32> = (0..n).map(|i| ((i / 500) % 40) as u32).collect();
        let w: Vec<f64> = (0..n).map(|_| 1.0 + (next() % 1000) as f64 / 100.0).collect();
        let y: Vec<f64> = (0..n).map(|_| (next() % 10_000) as f64 / 100.0).collect();
        let t0 = std::time::Instant::now();
        let d = Design::new(DesignSpec {
            n_rows: n,
            weights: Some(w),
            strata: Some(strata),
            stages: vec![Stage { clusters: psu, fpc: None }],
            ..Default::default()
        })
        .unwrap();
        let build = t0.elapsed();
        let groupings: Vec<Grouping> = [2u64, 10, 5, 100, 3000]
            .iter()
            .map(|&k| Grouping::new((0..n).map(|_| (next() % k) as u32).collect(), k as usize).unwrap())
            .collect();
        let t1 = std::time::Instant::now();
        for g in &groupings {
            let r = d.mean(&y, g, &EstimateOptions::default()).unwrap();
            assert!(r.iter().all(|e| e.se > 0.0));
        }
        println!("design build {build:?}; 5 breakdowns of the mean {:?}", t1.elapsed());
    }
}
