//! The concentration index of one outcome over the ordered groups, with the Erreygers and
//! Wagstaff corrections for bounded outcomes.
//!
//! Owns the three indices, each a function of three weighted means over the rows used (group
//! known, outcome answered): m0 = mean(y), m1 = mean(y R) and mR = mean(R), R the row's ridit
//! (its group's fractional rank, most deprived near 0; ties share their group's midpoint), so
//! that cov_w(y, R) = m1 - m0 mR:
//! - relative C = 2 cov_w(y, R) / mean(y) = 2 (m1 - m0 mR) / m0; negative when the outcome is
//!   concentrated among the more deprived. Its point estimate equals the slope of the
//!   "convenient regression" of 2 var(R) y / mean(y) on R (R's `svyglm`);
//! - Erreygers E = 4 mean(y) C / (b - a) = 8 (m1 - m0 mR) / (b - a), for y in [a, b];
//! - Wagstaff W = (b - a) mean(y) C / ((b - mean(y)) (mean(y) - a)), C / (1 - mean(y)) for a
//!   0/1 outcome.
//!
//! The ridits are taken as fixed scores, as for the SII; mR is estimated with the others (it is
//! 1/2 in the sample, but its sampling variation is part of the covariance's, which keeps the
//! index's SE invariant to a shift of the scores, as the regression's is). SEs by the delta
//! method from the covariance of (m0, m1, mR) given by the engine's one variance path
//! (the outcome's sums per group, [`Ridits::covariance`], over the rows used): R's
//! `svycontrast` of `svymean(~y + I(y*R) + R)`; normal intervals. Must not decide disclosure
//! or format.

use super::regression::Ridits;
use super::{Measure, MeasureKind};
use crate::analysis::engine::{qnorm, Design};
use crate::analysis::AnalysisError;

/// The bounds of an outcome, for the corrected indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Smallest possible value.
    pub min: f64,
    /// Largest possible value.
    pub max: f64,
}

/// The relative concentration index, and the Erreygers and Wagstaff indices when `bounds`
/// are known (withheld rows saying why otherwise), from the outcome's sums per group.
pub fn concentration(design: &Design, ridits: &Ridits, bounds: Option<Bounds>, level: f64) -> Result<Vec<Measure>, AnalysisError> {
    let x = &ridits.ridit;
    let sw: f64 = ridits.present().map(|g| ridits.weight(g)).sum();
    if sw <= 0.0 {
        let why = "not computable: no rows".to_string();
        return Ok(vec![Measure::withheld(MeasureKind::ConcentrationIndex, level, why)]);
    }
    let m0 = ridits.present().map(|g| ridits.wy(g)).sum::<f64>() / sw;
    let m1 = ridits.present().map(|g| ridits.wy(g) * x[g]).sum::<f64>() / sw;
    let mr = ridits.present().map(|g| ridits.weight(g) * x[g]).sum::<f64>() / sw;
    // influence within group g on (w, w (y - c_g)): w (y - m0) / sw, w (y x_g - m1) / sw and
    // w (x_g - mr) / sw
    let c = &ridits.sums.centre;
    let z0 = |g: usize| [(c[g] - m0) / sw, 1.0 / sw, 0.0];
    let z1 = |g: usize| [(c[g] * x[g] - m1) / sw, x[g] / sw, 0.0];
    let zr = |g: usize| [(x[g] - mr) / sw, 0.0, 0.0];
    let v = ridits.covariance(design, &[&z0, &z1, &zr])?;
    let z = qnorm(1.0 - (1.0 - level) / 2.0);
    let measure = |kind: MeasureKind, est: f64, grad: [f64; 3]| {
        let se = v.contrast_variance(&grad).max(0.0).sqrt();
        Measure::new(kind, est, se, (est - z * se, est + z * se), level, None)
    };
    let cov = m1 - m0 * mr;
    let mut out = Vec::with_capacity(3);
    let mut c = measure(MeasureKind::ConcentrationIndex, 2.0 * cov / m0, [-2.0 * m1 / (m0 * m0), 2.0 / m0, -2.0]);
    if m0 == 0.0 {
        c.notes.push("not computable: the mean is 0".to_string());
    }
    out.push(c);
    match bounds {
        Some(Bounds { min: a, max: b }) if b > a => {
            let r = b - a;
            out.push(measure(MeasureKind::Erreygers, 8.0 * cov / r, [-8.0 * mr / r, 8.0 / r, -8.0 * m0 / r]));
            let f = 2.0 * r * cov;
            let g = (b - m0) * (m0 - a);
            let dg = b + a - 2.0 * m0;
            let grad = [(-2.0 * r * mr * g - f * dg) / (g * g), 2.0 * r / g, -2.0 * r * m0 / g];
            out.push(if g > 0.0 {
                measure(MeasureKind::Wagstaff, f / g, grad)
            } else {
                Measure::withheld(MeasureKind::Wagstaff, level, "not computable: the mean is at a bound".to_string())
            });
        }
        _ => {
            let why = "not given: the outcome's bounds are not known (a yes/no outcome, or min and max in the definition)".to_string();
            out.push(Measure::withheld(MeasureKind::Erreygers, level, why.clone()));
            out.push(Measure::withheld(MeasureKind::Wagstaff, level, why));
        }
    }
    Ok(out)
}
