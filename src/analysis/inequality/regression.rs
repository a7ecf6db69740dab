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
//! (h = 1, or mu for the log link). The ridit is constant within a group, so that influence is
//! within each group a linear function of w, w y and w y^2: its covariance is a linear
//! combination of that of the outcome's sums per group ([`GroupSums`], the engine's one
//! variance path over the rows used), so lonely-PSU rules, multistage designs and domains apply
//! as for any estimate, without a vector of every row per coefficient. The t df is the design df
//! of the rows used minus 1 (`degf + 1 - p`, p = 2). Must not decide what is shown or
//! suppressed.

use crate::analysis::engine::{Design, DesignError, GroupSums, InfluenceCovariance};

/// The ridits of the groups over the rows used, with the outcome's sums per group and their
/// covariance (the ridit is constant within a group, so both models are fitted on group sums
/// and every measure's variance is a combination of the sums').
#[derive(Debug, Clone, PartialEq)]
pub struct Ridits {
    /// Weighted share of each group.
    pub share: Vec<f64>,
    /// Share of the groups before plus half the group's own share.
    pub ridit: Vec<f64>,
    /// The outcome's sums per group over the rows used, with their covariance (of the
    /// outcome the ridits were computed for: the fits take the same `y`).
    pub sums: GroupSums,
    /// Sums for the log-link fit's start (mu = y + 0.1) per group: w (y + 0.1) log(y + 0.1)
    /// and w y log(y + 0.1); and the sum of w y log y over all rows used (NaN when a y < 0).
    start: (Vec<f64>, Vec<f64>, f64),
}

impl Ridits {
    /// The ridits of the groups of `codes` over the rows whose outcome `y` is answered.
    pub fn new(design: &Design, codes: &[u32], y: &[f64], k: usize) -> Result<Ridits, DesignError> {
        // in the same pass, the sums of the log-link fit's start (mu = y + 0.1) per group: w (y
        // + 0.1) log(y + 0.1) and w y log(y + 0.1); and w y log y over all rows used (NaN when
        // a y < 0). (ln(v + 0.1), ln v) of the small whole numbers most outcomes take (scores,
        // 0/1) are looked up rather than computed for every row: the same numbers
        const TABLED: usize = 256;
        let logs: Vec<(f64, f64)> = (0..TABLED).map(|i| ((i as f64 + 0.1).ln(), (i as f64).ln())).collect();
        // other values (a score on a conversion table) mostly repeat: each computed once, in
        // a small table keyed by its bits
        let mut memo: Vec<(u64, [f64; 3])> = vec![(f64::NAN.to_bits(), [0.0; 3]); 256];
        let (sums, start) = design.sums_per_group(codes, k, y, |v| {
            let (l, lv) = if v >= 0.0 && v < TABLED as f64 && (v as usize) as f64 == v {
                logs[v as usize]
            } else {
                let slot = (v.to_bits().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize;
                if memo[slot].0 == v.to_bits() {
                    return memo[slot].1;
                }
                let l = ((v + 0.1).ln(), v.ln());
                let ylogy = if v > 0.0 { v * l.1 } else { f64::NAN };
                let out = [(v + 0.1) * l.0, v * l.0, ylogy];
                memo[slot] = (v.to_bits(), out);
                return out;
            };
            let ylogy = if v > 0.0 { v * lv } else { 0.0 };
            [(v + 0.1) * l, v * l, ylogy]
        })?;
        let total: f64 = sums.weight.iter().sum();
        let share: Vec<f64> = sums.weight.iter().map(|x| x / total).collect();
        let mut before = 0.0;
        let ridit = share
            .iter()
            .map(|s| {
                let r = before + s / 2.0;
                before += s;
                r
            })
            .collect();
        Ok(Ridits {
            share,
            ridit,
            sums,
            start: (
                start.iter().map(|x| x[0]).collect(),
                start.iter().map(|x| x[1]).collect(),
                start.iter().map(|x| x[2]).sum(),
            ),
        })
    }

    /// Sum of w y of group `g`.
    pub fn wy(&self, g: usize) -> f64 {
        self.sums.wy(g)
    }

    /// Sum of the weights of the rows used in group `g`.
    pub fn weight(&self, g: usize) -> f64 {
        self.sums.weight[g]
    }

    /// Groups with rows.
    pub fn present(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.sums.n.len()).filter(|&g| self.sums.n[g] > 0)
    }

    /// The covariance over `design` (the one the ridits were computed over) of statistics
    /// whose influence within group g is `c(g)[0] w + c(g)[1] w (y - centre) + c(g)[2] w (y -
    /// centre)^2` (groups without rows take no part).
    pub fn covariance(&self, design: &Design, stats: &[&dyn Fn(usize) -> [f64; 3]]) -> Result<InfluenceCovariance, DesignError> {
        let k = self.sums.n.len();
        let coefs: Vec<Vec<f64>> = stats
            .iter()
            .map(|c| {
                let mut v = vec![0.0; 3 * k];
                for g in self.present() {
                    v[3 * g..3 * g + 3].copy_from_slice(&c(g));
                }
                v
            })
            .collect();
        let refs: Vec<&[f64]> = coefs.iter().map(Vec::as_slice).collect();
        self.sums.covariance_of(design, &refs)
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

/// The design-based covariance of the coefficients from `A^-1` and each row's score `x_i
/// s_i`, `s_i` the working weight times the working residual, given within group g by its
/// coefficients on (w, w (y - centre), w (y - centre)^2) (`w (y - mu)`: (centre - mu, 1, 0)).
fn sandwich(design: &Design, r: &Ridits, inv: [f64; 3], score: impl Fn(usize) -> [f64; 3]) -> Result<(InfluenceCovariance, f64), NoFit> {
    let coef = |j: usize| {
        let (a, b) = if j == 0 { (inv[0], inv[1]) } else { (inv[1], inv[2]) };
        let score = &score;
        move |g: usize| {
            let m = a + b * r.ridit[g];
            score(g).map(|s| m * s)
        }
    };
    let (z0, z1) = (coef(0), coef(1));
    let vcov = r.covariance(design, &[&z0, &z1]).map_err(NoFit::Design)?;
    let df = vcov.df[0] - 1.0;
    Ok((vcov, df))
}

/// `svyglm(y ~ ridit)` over the groups of the ridits (rows with the outcome answered), over
/// the design they were computed over.
pub fn linear(design: &Design, r: &Ridits) -> Result<Fit, NoFit> {
    let (coef, inv) = wls(r, |g| r.weight(g), |g| r.wy(g)).ok_or(NoFit::OneGroup)?;
    let c = &r.sums.centre;
    let (vcov, df) = sandwich(design, r, inv, |g| [c[g] - coef[0] - coef[1] * r.ridit[g], 1.0, 0.0])?;
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
/// mu is constant within a group, so each step works on group sums (`design` is the one the
/// ridits were computed over).
pub fn log_link(design: &Design, r: &Ridits) -> Result<Fit, NoFit> {
    let (t, u, c) = (&r.start.0, &r.start.1, r.start.2);
    if c.is_nan() {
        return Err(NoFit::Negative);
    }
    let w = design.weights();
    let scale = 2.0 * w.len() as f64 / w.iter().sum::<f64>();
    // the start: mu_i = y_i + 0.1, so sum w mu = S + 0.1 W and sum w mu z = T - 0.1 W
    let start = wls(r, |g| r.wy(g) + 0.1 * r.weight(g), |g| t[g] - 0.1 * r.weight(g)).ok_or(NoFit::OneGroup)?;
    let mut dev_old = scale * (c - r.present().map(|g| u[g] - 0.1 * r.weight(g)).sum::<f64>());
    let (mut coef, mut inv) = start;
    // mu before the last step: None at the start (row-level y + 0.1)
    let mut previous: Option<Vec<f64>> = None;
    let centre = &r.sums.centre;
    for _ in 0..MAX_ITERATIONS {
        if !coef[0].is_finite() || !coef[1].is_finite() {
            return Err(NoFit::NotConverged);
        }
        let mu: Vec<f64> = r.ridit.iter().map(|x| (coef[0] + coef[1] * x).exp()).collect();
        let dev = scale * (c - r.present().map(|g| r.wy(g) * mu[g].ln() + r.wy(g) - mu[g] * r.weight(g)).sum::<f64>());
        if (dev - dev_old).abs() / (dev.abs() + 0.1) < EPSILON {
            // working weight w mu_prev times working residual (y - mu)/mu; at the start
            // mu_prev = y + 0.1, so the score is quadratic in y within a group
            let (vcov, df) = sandwich(design, r, inv, |g| {
                let (cg, m) = (centre[g], mu[g]);
                match &previous {
                    Some(p) => [p[g] / m * (cg - m), p[g] / m, 0.0],
                    None => [(cg + 0.1) * (cg - m) / m, (2.0 * cg + 0.1 - m) / m, 1.0 / m],
                }
            })?;
            return Ok(Fit { coef, vcov, df });
        }
        dev_old = dev;
        // sum w mu z = mu W log mu + S - mu W at x_g
        let step = wls(r, |g| mu[g] * r.weight(g), |g| mu[g] * r.weight(g) * mu[g].ln() + r.wy(g) - mu[g] * r.weight(g)).ok_or(NoFit::OneGroup)?;
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
        let r = Ridits::new(&d, &codes, &y, 3).unwrap();
        // weights 6, 4, 8 of 18
        assert_eq!(r.sums.n, vec![4, 4, 4]);
        let want = [3.0 / 18.0, 8.0 / 18.0, 14.0 / 18.0];
        for (got, want) in r.ridit.iter().zip(want) {
            assert!((got - want).abs() < 1e-15);
        }
        // an unanswered row leaves the shares
        let mut y2 = y.clone();
        y2[2] = f64::NAN;
        let r2 = Ridits::new(&d, &codes, &y2, 3).unwrap();
        assert_eq!(r2.sums.n, vec![3, 4, 4]);
        assert!((r2.share[0] - 4.0 / 16.0).abs() < 1e-15);
    }

    #[test]
    fn exact_lines_and_exponentials_are_recovered() {
        let (d, codes) = design();
        let r0 = Ridits::new(&d, &codes, &[1.0; 12], 3).unwrap();
        let y: Vec<f64> = codes.iter().map(|&g| 2.0 + 3.0 * r0.ridit[g as usize]).collect();
        let r = Ridits::new(&d, &codes, &y, 3).unwrap();
        let fit = linear(&d, &r).unwrap();
        assert!((fit.coef[0] - 2.0).abs() < 1e-12 && (fit.coef[1] - 3.0).abs() < 1e-12, "{:?}", fit.coef);
        assert!(fit.se_slope() < 1e-12);
        assert_eq!(fit.df, 10.0);
        let y: Vec<f64> = codes.iter().map(|&g| (0.5 - 1.5 * r0.ridit[g as usize]).exp()).collect();
        let r = Ridits::new(&d, &codes, &y, 3).unwrap();
        let fit = log_link(&d, &r).unwrap();
        assert!((fit.coef[0] - 0.5).abs() < 1e-8 && (fit.coef[1] + 1.5).abs() < 1e-8, "{:?}", fit.coef);
    }

    #[test]
    fn what_cannot_be_fitted_says_why() {
        let (d, codes) = design();
        let mut y = vec![1.0; 12];
        y[5] = -1.0;
        let r = Ridits::new(&d, &codes, &y, 3).unwrap();
        assert_eq!(log_link(&d, &r).unwrap_err(), NoFit::Negative);
        let one: Vec<u32> = vec![0; 12];
        let r1 = Ridits::new(&d, &one, &[1.0; 12], 3).unwrap();
        assert_eq!(linear(&d, &r1).unwrap_err(), NoFit::OneGroup);
    }
}
