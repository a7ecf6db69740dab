//! The population attributable risk and fraction of one outcome over the ordered groups.
//!
//! Owns the two measures of how much of the outcome goes with deprivation, against a named
//! reference: the least deprived group (the last in order, with rows), the level the whole
//! population would have if everyone fared as the least deprived do. PAR = overall mean minus
//! the reference group's mean (in the outcome's units; for a yes/no outcome, a difference of
//! proportions); PAF = PAR / overall mean = 1 - reference / overall. The least deprived group,
//! not the best-off group, is the reference: picking the best of several noisy group
//! estimates would bias both upwards. SEs by the delta method from the covariance of the
//! overall mean and the reference group's mean over the full design (the group is a domain,
//! its rows are also in the overall), both over the rows used as R's `svymean(~y + I + yI,
//! subset(design, used))` takes them, from the outcome's sums per group
//! ([`Ridits::covariance`]); normal intervals. Withheld when the reference group is
//! suppressed (with the overall published, the PAR would give it away). Must not format.

use super::groups::GroupEstimates;
use super::regression::Ridits;
use super::{Measure, MeasureKind};
use crate::analysis::engine::{qnorm, Design};
use crate::analysis::AnalysisError;

/// The PAR and PAF with the least deprived group present as reference, from the outcome's
/// sums per group.
pub fn par_paf(design: &Design, ridits: &Ridits, ge: &GroupEstimates, level: f64) -> Result<Vec<Measure>, AnalysisError> {
    let present = ge.present();
    let Some(&r) = present.last() else {
        let why = "not computable: no group has rows".to_string();
        return Ok(vec![
            Measure::withheld(MeasureKind::Par, level, why.clone()),
            Measure::withheld(MeasureKind::Paf, level, why),
        ]);
    };
    if ge.suppressed[r] {
        let why = format!("withheld: the reference group {} is suppressed by disclosure control", ge.levels[r]);
        return Ok(vec![
            Measure::withheld(MeasureKind::Par, level, why.clone()),
            Measure::withheld(MeasureKind::Paf, level, why),
        ]);
    }
    let sw: f64 = ridits.present().map(|g| ridits.weight(g)).sum();
    let rw = ridits.weight(r);
    let (mu, mr) = (ridits.present().map(|g| ridits.wy(g)).sum::<f64>() / sw, ridits.wy(r) / rw);
    // influence within group g on (w, w (y - c_g)): w (y - mu) / sw, and w (y - mr) / rw in
    // the reference group only
    let c = &ridits.sums.centre;
    let z_all = |g: usize| [(c[g] - mu) / sw, 1.0 / sw, 0.0];
    let z_ref = |g: usize| if g == r { [(c[g] - mr) / rw, 1.0 / rw, 0.0] } else { [0.0; 3] };
    let v = ridits.covariance(design, &[&z_all, &z_ref])?;
    let z = qnorm(1.0 - (1.0 - level) / 2.0);
    let par = mu - mr;
    let se_par = v.contrast_variance(&[1.0, -1.0]).max(0.0).sqrt();
    let paf = par / mu;
    let se_paf = v.contrast_variance(&[mr / (mu * mu), -1.0 / mu]).max(0.0).sqrt();
    let reference = format!("reference: the least deprived group ({})", ge.levels[r]);
    let mut m_par = Measure::new(MeasureKind::Par, par, se_par, (par - z * se_par, par + z * se_par), level, None);
    let mut m_paf = Measure::new(MeasureKind::Paf, paf, se_paf, (paf - z * se_paf, paf + z * se_paf), level, None);
    m_par.notes.push(reference.clone());
    m_paf.notes.push(reference);
    Ok(vec![m_par, m_paf])
}
