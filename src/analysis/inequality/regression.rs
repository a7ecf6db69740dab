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

/// The ridits of the groups over the rows used, with the weighted sums the fits need (the
/// ridit is constant within a group, so both models are fitted on group sums).
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
    /// Sum of w y per group (of the outcome the ridits were computed for: the fits take the
    /// same `y`).
    wy: Vec<f64>,
    /// Sums for the log-link fit's start (mu = y + 0.1) per group: w (y + 0.1) log(y + 0.1)
    /// and w y log(y + 0.1); and the sum of w y log y over all rows used (NaN when a y < 0).
    start: (Vec<f64>, Vec<f64>, f64),
}

impl Ridits {
    /// The ridits of the groups of `codes` over the rows whose outcome `y` is answered.
    pub fn new(design: &Design, codes: &[u32], y: &[f64], k: usize) -> Ridits {
        let w = design.weights();
        let mut n = vec![0usize; k];
        let mut weight = vec![0.0; k];
        let mut wy = vec![0.0; k];
        let (mut t, mut u, mut c) = (vec![0.0; k], vec![0.0; k], 0.0);
        // (ln(v + 0.1), ln v) of the small whole numbers most outcomes take (scores, 0/1),
        // looked up rather than computed for every row: the same numbers
        const TABLED: usize = 256;
        let logs: Vec<(f64, f64)> = (0..TABLED).map(|i| ((i as f64 + 0.1).ln(), (i as f64).ln())).collect();
        for ((&g, &v), &wi) in codes.iter().zip(y).zip(w) {
            if g != Grouping::NONE && !v.is_nan() {
                let g = g as usize;
                n[g] += 1;
                weight[g] += wi;
                wy[g] += wi * v;
                let (l, lv) = if v >= 0.0 && v < TABLED as f64 && v.fract() == 0.0 {
                    logs[v as usize]
                } else {
                    ((v + 0.1).ln(), v.ln())
                };
                t[g] += wi * (v + 0.1) * l;
                u[g] += wi * v * l;
                c += if v > 0.0 {
                    wi * v * lv
                } else if v == 0.0 {
                    0.0
                } else {
                    f64::NAN
                };
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
        Ridits {
            n,
            weight,
            share,
            ridit,
            wy,
            start: (t, u, c),
        }
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

    /// Groups with rows.
    fn present(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.n.len()).filter(|&g| self.n[g] > 0)
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
    if det.abs() <= 1e-300 || !det.is_finite() {
        return None;
    }
    let inv = [a[2] / det, -a[1] / det, a[0] / det];
    Some(([inv[0] * b[0] + inv[1] * b[1], inv[1] * b[0] + inv[2] * b[1]], inv))
}

/// Weighted least squares on group sums: per group, the sum of the working weights `h(g)`
/// and of the working weights times the working response `hz(g)`, at x = the group's ridit.
fn wls(r: &Ridits, h: impl Fn(usize) -> f64, hz: impl Fn(usize) -> f64) -> Option<([f64; 2], [f64; 3])> {
    let mut a = [0.0; 3];
    let mut b = [0.0; 2];
    for g in r.present() {
        let x = r.ridit[g];
        let (hg, hzg) = (h(g), hz(g));
        a[0] += hg;
        a[1] += hg * x;
        a[2] += hg * x * x;
        b[0] += hzg;
        b[1] += hzg * x;
    }
    solve2(a, b)
}

/// The design-based covariance of the coefficients from `A^-1` and each row's score
/// `x_i s_i`, `s_i` the working weight times the working residual (`w_i (y_i - mu_i)` for the
/// linear model).
fn sandwich(
    design: &Design,
    codes: &[u32],
    y: &[f64],
    r: &Ridits,
    inv: [f64; 3],
    score: impl Fn(usize, usize) -> f64,
) -> Result<(InfluenceCovariance, f64), NoFit> {
    let n = y.len();
    let mut z0 = vec![f64::NAN; n];
    let mut z1 = vec![f64::NAN; n];
    let used: Vec<bool> = (0..n).map(|i| codes[i] != Grouping::NONE && !y[i].is_nan()).collect();
    for i in (0..n).filter(|&i| used[i]) {
        let g = codes[i] as usize;
        let s = score(i, g);
        let (s0, s1) = (s, s * r.ridit[g]);
        z0[i] = inv[0] * s0 + inv[1] * s1;
        z1[i] = inv[1] * s0 + inv[2] * s1;
    }
    let vcov = design.influence_covariance(&[&z0, &z1], &[&used]).map_err(NoFit::Design)?;
    let df = vcov.df[0] - 1.0;
    Ok((vcov, df))
}

/// `svyglm(y ~ ridit)` over the groups of `codes` (rows with the outcome `y` answered).
pub fn linear(design: &Design, codes: &[u32], y: &[f64], r: &Ridits) -> Result<Fit, NoFit> {
    let w = design.weights();
    let (coef, inv) = wls(r, |g| r.weight[g], |g| r.wy[g]).ok_or(NoFit::OneGroup)?;
    let (vcov, df) = sandwich(design, codes, y, r, inv, |i, g| w[i] * (y[i] - coef[0] - coef[1] * r.ridit[g]))?;
    Ok(Fit { coef, vcov, df })
}

/// Most IRLS iterations of the log-link fit (R's `glm.control(maxit = 25)`, with room).
const MAX_ITERATIONS: usize = 100;

/// R's `glm.control(epsilon)`: the relative change of the deviance that ends the iterations.
const EPSILON: f64 = 1e-8;

/// `svyglm(y ~ ridit, family = quasipoisson())`: the log-link model fitted as R's `glm.fit`
/// does, so that its numbers are R's to 1e-6 and not only near them: start mu = y + 0.1,
/// IRLS steps until the deviance (with weights scaled to mean 1, as `svyglm` scales them)
/// changes by less than 1e-8 relative (`|dev - devold| / (|dev| + 0.1)`); the working weights
/// and `A^-1` are those of the last step (computed at the mu before it), the residuals are at
/// the final mu, as `svy.varcoef` takes them from the fitted `glm` object. After the start,
/// mu is constant within a group, so each step works on group sums.
pub fn log_link(design: &Design, codes: &[u32], y: &[f64], r: &Ridits) -> Result<Fit, NoFit> {
    let (t, u, c) = (&r.start.0, &r.start.1, r.start.2);
    if c.is_nan() {
        return Err(NoFit::Negative);
    }
    let w = design.weights();
    let scale = 2.0 * y.len() as f64 / w.iter().sum::<f64>();
    // the start: mu_i = y_i + 0.1, so sum w mu = S + 0.1 W and sum w mu z = T - 0.1 W
    let start = wls(r, |g| r.wy[g] + 0.1 * r.weight[g], |g| t[g] - 0.1 * r.weight[g]).ok_or(NoFit::OneGroup)?;
    let mut dev_old = scale * (c - r.present().map(|g| u[g] - 0.1 * r.weight[g]).sum::<f64>());
    let (mut coef, mut inv) = start;
    // mu before the last step: None at the start (row-level y + 0.1)
    let mut previous: Option<Vec<f64>> = None;
    for _ in 0..MAX_ITERATIONS {
        if !coef[0].is_finite() || !coef[1].is_finite() {
            return Err(NoFit::NotConverged);
        }
        let mu: Vec<f64> = r.ridit.iter().map(|x| (coef[0] + coef[1] * x).exp()).collect();
        let dev = scale * (c - r.present().map(|g| r.wy[g] * mu[g].ln() + r.wy[g] - mu[g] * r.weight[g]).sum::<f64>());
        if (dev - dev_old).abs() / (dev.abs() + 0.1) < EPSILON {
            // working weight w mu_prev times working residual (y - mu)/mu
            let (vcov, df) = sandwich(design, codes, y, r, inv, |i, g| {
                let prev = previous.as_ref().map_or(y[i] + 0.1, |p| p[g]);
                w[i] * prev * (y[i] - mu[g]) / mu[g]
            })?;
            return Ok(Fit { coef, vcov, df });
        }
        dev_old = dev;
        // sum w mu z = mu W log mu + S - mu W at x_g
        let step = wls(r, |g| mu[g] * r.weight[g], |g| mu[g] * r.weight[g] * mu[g].ln() + r.wy[g] - mu[g] * r.weight[g]).ok_or(NoFit::OneGroup)?;
        (coef, inv) = step;
        previous = Some(mu);
    }
    Err(NoFit::NotConverged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::{DesignSpec, Stage};

    /// Three groups of four rows, each row its own PSU in one stratum, weights 1 and 2.
    fn design() -> (Design, Vec<u32>) {
        let weights = vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0];
        let spec = DesignSpec {
            n_rows: 12,
            weights: Some(weights),
            stages: vec![Stage {
                clusters: (0..12).collect(),
                fpc: None,
            }],
            ..Default::default()
        };
        (Design::new(spec).unwrap(), vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    }

    #[test]
    fn ridits_are_midpoints_of_the_weighted_shares_of_the_rows_used() {
        let (d, codes) = design();
        let y = vec![1.0; 12];
        let r = Ridits::new(&d, &codes, &y, 3);
        // weights 6, 4, 8 of 18
        assert_eq!(r.n, vec![4, 4, 4]);
        let want = [3.0 / 18.0, 8.0 / 18.0, 14.0 / 18.0];
        for (got, want) in r.ridit.iter().zip(want) {
            assert!((got - want).abs() < 1e-15);
        }
        // an unanswered row leaves the shares
        let mut y2 = y.clone();
        y2[2] = f64::NAN;
        let r2 = Ridits::new(&d, &codes, &y2, 3);
        assert_eq!(r2.n, vec![3, 4, 4]);
        assert!((r2.share[0] - 4.0 / 16.0).abs() < 1e-15);
        assert!(r2.per_row(&codes, &y2)[2].is_nan());
    }

    #[test]
    fn exact_lines_and_exponentials_are_recovered() {
        let (d, codes) = design();
        let r0 = Ridits::new(&d, &codes, &[1.0; 12], 3);
        let y: Vec<f64> = codes.iter().map(|&g| 2.0 + 3.0 * r0.ridit[g as usize]).collect();
        let r = Ridits::new(&d, &codes, &y, 3);
        let fit = linear(&d, &codes, &y, &r).unwrap();
        assert!((fit.coef[0] - 2.0).abs() < 1e-12 && (fit.coef[1] - 3.0).abs() < 1e-12, "{:?}", fit.coef);
        assert!(fit.se_slope() < 1e-12);
        assert_eq!(fit.df, 10.0);
        let y: Vec<f64> = codes.iter().map(|&g| (0.5 - 1.5 * r0.ridit[g as usize]).exp()).collect();
        let r = Ridits::new(&d, &codes, &y, 3);
        let fit = log_link(&d, &codes, &y, &r).unwrap();
        assert!((fit.coef[0] - 0.5).abs() < 1e-8 && (fit.coef[1] + 1.5).abs() < 1e-8, "{:?}", fit.coef);
    }

    #[test]
    fn what_cannot_be_fitted_says_why() {
        let (d, codes) = design();
        let mut y = vec![1.0; 12];
        y[5] = -1.0;
        let r = Ridits::new(&d, &codes, &y, 3);
        assert_eq!(log_link(&d, &codes, &y, &r).unwrap_err(), NoFit::Negative);
        let one: Vec<u32> = vec![0; 12];
        let r1 = Ridits::new(&d, &one, &[1.0; 12], 3);
        assert_eq!(linear(&d, &one, &[1.0; 12], &r1).unwrap_err(), NoFit::OneGroup);
    }
}
