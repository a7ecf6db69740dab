//! The slope and relative indices of inequality of one outcome, from the regressions on the
//! ridit ([`super::regression`]).
//!
//! Owns turning the fits into measure rows: SII = b1 of the linear model (the fitted
//! difference between the least deprived end, ridit 1, and the most deprived end, ridit 0);
//! RII linear = (b0 + b1) / b0, its SE by the delta method (`svycontrast`), gradient
//! (-b1/b0^2, 1/b0); RII log = exp(b1) of the log-link model, SE exp(b1) SE(b1), interval
//! exp(b1 +/- t SE(b1)). All intervals use t with the fit's df (design df of the rows used
//! minus 1), as `confint(svyglm)`. A model that cannot be fitted gives a withheld row saying
//! why. Must not format or decide disclosure.

use super::regression::{linear, log_link, Fit, NoFit, Ridits};
use super::{Measure, MeasureKind};
use crate::analysis::engine::{qt, Design};

/// The SII, the linear RII and the log RII of one outcome over its ridits.
pub fn sii_rii(design: &Design, ridits: &Ridits, level: f64) -> Vec<Measure> {
    let q = 1.0 - (1.0 - level) / 2.0;
    let mut out = Vec::with_capacity(3);
    match linear(design, ridits) {
        Ok(fit) => {
            let t = qt(q, fit.df);
            let (b0, b1) = (fit.coef[0], fit.coef[1]);
            let se = fit.se_slope();
            out.push(Measure::new(MeasureKind::Sii, b1, se, (b1 - t * se, b1 + t * se), level, Some(fit.df)));
            let rii = (b0 + b1) / b0;
            let g = [-b1 / (b0 * b0), 1.0 / b0];
            let se_rii = fit.vcov.contrast_variance(&g).max(0.0).sqrt();
            let mut m = Measure::new(MeasureKind::RiiLinear, rii, se_rii, (rii - t * se_rii, rii + t * se_rii), level, Some(fit.df));
            if b0.abs() < 2.0 * fit.vcov.get(0, 0).sqrt() {
                m.notes.push("unstable: the fitted value at the most deprived end is close to 0".to_string());
            }
            out.push(m);
        }
        Err(e) => {
            let why = reason(&e);
            out.push(Measure::withheld(MeasureKind::Sii, level, why.clone()));
            out.push(Measure::withheld(MeasureKind::RiiLinear, level, why));
        }
    }
    out.push(match log_link(design, ridits) {
        Ok(fit) => rii_log(&fit, level, q),
        Err(e) => Measure::withheld(MeasureKind::RiiLog, level, reason(&e)),
    });
    out
}

fn rii_log(fit: &Fit, level: f64, q: f64) -> Measure {
    let t = qt(q, fit.df);
    let b1 = fit.coef[1];
    let se1 = fit.se_slope();
    let rii = b1.exp();
    let mut m = Measure::new(
        MeasureKind::RiiLog,
        rii,
        rii * se1,
        ((b1 - t * se1).exp(), (b1 + t * se1).exp()),
        level,
        Some(fit.df),
    );
    m.log_estimate = Some(b1);
    m.se_log = Some(se1);
    m
}

/// Why a model was not fitted, for a reader.
fn reason(e: &NoFit) -> String {
    match e {
        NoFit::OneGroup => "not computable: fewer than two groups have rows".to_string(),
        NoFit::Negative => "not computable: the log-link model needs values of at least 0".to_string(),
        NoFit::NotConverged => "not computable: the log-link model did not converge".to_string(),
        NoFit::Design(d) => format!("not computable: {d}"),
    }
}
