//! The ridit of the ordered groups and the design-based regressions on it: the linear model
//! (its slope is the slope index of inequality) and the log-link model (its exp(slope) is a
//! relative index of inequality), as R's `svyglm`.
//!
//! Owns the ridit: for the rows used (group known, outcome answered), a group's ridit is the
//! weighted share of the rows in the groups before it plus half its own share, so the most
//! deprived end is near 0 and the least deprived near 1. Owns the fits: weighted least squares
//! for `svyglm(y ~ ridit)` and iteratively reweighted least squares for
//! `svyglm(y ~ ridit, family = quasipoisson())`, with the sandwich variance of `svy.varcoef`:
//! each row's influence on the coefficients is `A^-1 x_i w_i (y_i - mu_i)`, A = sum w h x x'
//! (h = 1, or mu for the log link), and their covariance goes through the engine's one variance
//! path ([`Design::influence_covariance`]), so lonely-PSU rules, multistage designs and
//! domains apply as for any estimate. The t df is the design df of the rows used minus 1
//! (`degf + 1 - p`, p = 2). Must not decide what is shown or suppressed.

use crate::analysis::engine::{Design, DesignError, Grouping, InfluenceCovariance};

/// The ridits of the groups over the rows used.
#[derive(Debug, Clone, PartialEq)]
pub struct Ridits {
    /// Rows used per group.
    pub n: Vec<usize>,
    /// Sum of the weights of the rows used, per group.
    pub weight: Vec<f64>,
    /// Weighted share of each group.
    pub share: Vec<f64>,
    /// Share of the groups before plus half the group's own share.
    pub ridit: Vec<f64>,
}

impl Ridits {
    /// The ridits of the groups of `codes` over the rows whose outcome `y` is answered.
    pub fn new(design: &Design, codes: &[u32], y: &[f64], k: usize) -> Ridits {
        let w = design.weights();
        let mut n = vec![0usize; k];
        let mut weight = vec![0.0; k];
        for ((&g, &v), &wi) in codes.iter().zip(y).zip(w) {
            if g != Grouping::NONE && !v.is_nan() {
                n[g as usize] += 1;
                weight[g as usize] += wi;
            }
        }
        let total: f64 = weight.iter().sum();
        let share: Vec<f64> = weight.iter().map(|x| x / total).collect();
        let mut before = 0.0;
        let ridit = share
            .iter()
            .map(|s| {
                let r = before + s / 2.0;
                before += s;
                r
            })
            .collect();
        Ridits { n, weight, share, ridit }
    }

    /// The ridit of each row (NaN for rows not used).
    pub fn per_row(&self, codes: &[u32], y: &[f64]) -> Vec<f64> {
        codes
            .iter()
            .zip(y)
            .map(|(&g, &v)| {
                if g == Grouping::NONE || v.is_nan() {
                    f64::NAN
                } else {
                    self.ridit[g as usize]
                }
            })
            .collect()
    }
}

/// A fitted two-coefficient model (intercept, slope) with its design-based covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Intercept b0 and slope b1.
    pub coef: [f64; 2],
    /// Their covariance (b0 b0, b0 b1, b1 b1 as [[0, 1], [1, 2]] of `vcov`).
    pub vcov: InfluenceCovariance,
    /// The t df of intervals: design df of the rows used minus 1.
    pub df: f64,
}

impl Fit {
    /// Standard error of the slope.
    pub fn se_slope(&self) -> f64 {
        self.vcov.get(1, 1).max(0.0).sqrt()
    }
}

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq)]
pub enum NoFit {
    /// Fewer than two groups with rows: the slope is not identified.
    OneGroup,
    /// The log link needs outcomes of at least 0.
    Negative,
    /// The log-link fit did not converge.
    NotConverged,
    /// The design refused the variance (a lonely PSU under `fail`).
    Design(DesignError),
}

/// Solves the 2x2 weighted normal equations: (A, b) with A = sum h x x', b = sum h x z.
fn solve2(a: [f64; 3], b: [f64; 2]) -> Option<([f64; 2], [f64; 3])> {
    let det = a[0] * a[2] - a[1] * a[1];
    if det.is_nan() || det.abs() <= 1e-300 || !det.is_finite() {
        return None;
    }
    let inv = [a[2] / det, -a[1] / det, a[0] / det];
    Some(([inv[0] * b[0] + inv[1] * b[1], inv[1] * b[0] + inv[2] * b[1]], inv))
}

/// One weighted least-squares step: rows where `x` is a number, weights `w h`, response `z`.
fn wls(w: &[f64], x: &[f64], h: impl Fn(usize) -> f64, z: impl Fn(usize) -> f64) -> Option<([f64; 2], [f64; 3])> {
    let mut a = [0.0; 3];
    let mut b = [0.0; 2];
    for i in 0..x.len() {
        let xi = x[i];
        if xi.is_nan() {
            continue;
        }
        let wh = w[i] * h(i);
        let zi = z(i);
        a[0] += wh;
        a[1] += wh * xi;
        a[2] += wh * xi * xi;
        b[0] += wh * zi;
        b[1] += wh * xi * zi;
    }
    solve2(a, b)
}

/// The design-based covariance of the coefficients from `A^-1` and each row's score
/// `x_i w_i r_i` (r the raw residual y - mu).
fn sandwich(design: &Design, x: &[f64], inv: [f64; 3], resid: impl Fn(usize) -> f64) -> Result<(InfluenceCovariance, f64), NoFit> {
    let w = design.weights();
    let n = x.len();
    let mut z0 = vec![f64::NAN; n];
    let mut z1 = vec![f64::NAN; n];
    let used: Vec<bool> = x.iter().map(|v| !v.is_nan()).collect();
    for i in 0..n {
        if !used[i] {
            continue;
        }
        let s = w[i] * resid(i);
        let (s0, s1) = (s, s * x[i]);
        z0[i] = inv[0] * s0 + inv[1] * s1;
        z1[i] = inv[1] * s0 + inv[2] * s1;
    }
    let vcov = design.influence_covariance(&[&z0, &z1], &[&used]).map_err(NoFit::Design)?;
    let df = vcov.df[0] - 1.0;
    Ok((vcov, df))
}

/// `svyglm(y ~ ridit)`: x the ridit per row (NaN: row not used), y the outcome.
pub fn linear(design: &Design, x: &[f64], y: &[f64]) -> Result<Fit, NoFit> {
    let w = design.weights();
    let (coef, inv) = wls(w, x, |_| 1.0, |i| y[i]).ok_or(NoFit::OneGroup)?;
    let (vcov, df) = sandwich(design, x, inv, |i| y[i] - coef[0] - coef[1] * x[i])?;
    Ok(Fit { coef, vcov, df })
}

/// Most IRLS iterations of the log-link fit.
const MAX_ITERATIONS: usize = 100;

/// `svyglm(y ~ ridit, family = quasipoisson())`: the log-link model fitted by IRLS from R's
/// start (mu = y + 0.1), iterated until the coefficients stop changing (relative 1e-13), then
/// the sandwich variance.
pub fn log_link(design: &Design, x: &[f64], y: &[f64]) -> Result<Fit, NoFit> {
    if x.iter().zip(y).any(|(xi, yi)| !xi.is_nan() && *yi < 0.0) {
        return Err(NoFit::Negative);
    }
    let w = design.weights();
    let n = x.len();
    // working response and weights from the start mu = y + 0.1
    let mut mu: Vec<f64> = (0..n).map(|i| if x[i].is_nan() { f64::NAN } else { y[i] + 0.1 }).collect();
    let mut coef = [f64::NAN; 2];
    let mut converged = false;
    for _ in 0..MAX_ITERATIONS {
        let (c, _) = wls(w, x, |i| mu[i], |i| mu[i].ln() + (y[i] - mu[i]) / mu[i]).ok_or(NoFit::OneGroup)?;
        let change = (c[0] - coef[0]).abs().max((c[1] - coef[1]).abs());
        let scale = c[0].abs().max(c[1].abs()).max(1.0);
        coef = c;
        for i in 0..n {
            if !x[i].is_nan() {
                mu[i] = (coef[0] + coef[1] * x[i]).exp();
            }
        }
        if !coef[0].is_finite() || !coef[1].is_finite() {
            return Err(NoFit::NotConverged);
        }
        if change <= 1e-13 * scale {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(NoFit::NotConverged);
    }
    // A^-1 at the solution
    let (_, inv) = wls(w, x, |i| mu[i], |_| 0.0).ok_or(NoFit::OneGroup)?;
    let (vcov, df) = sandwich(design, x, inv, |i| y[i] - mu[i])?;
    Ok(Fit { coef, vcov, df })
}
