//! The gap and the ratio between the most and the least deprived groups.
//!
//! Owns the two simplest measures: gap = estimate of the first group minus that of the last
//! (first = most deprived), ratio = first over last, with standard errors from the
//! design-based covariance of the two group estimates (they share strata and PSUs, so
//! treating them as independent would be wrong): var(gap) = V11 + V22 - 2 V12, and for the
//! ratio the delta method (R's `svycontrast` of `svyby(covmat = TRUE)`). The gap has a normal
//! interval (as `confint` of a contrast); the ratio's interval is normal on the log scale,
//! exp(log r +/- z se/r), so that it stays positive. When the first or last group has no
//! rows, the extremes present are used and a note says so; when either is suppressed by
//! disclosure control, both measures are withheld (with the other extreme published, either
//! would give the suppressed value away). Must not estimate groups or format output.

use super::groups::GroupEstimates;
use super::{Measure, MeasureKind};
use crate::analysis::engine::qnorm;
use crate::analysis::AnalysisError;

/// The gap and the ratio between the first and the last groups present.
pub fn gap_and_ratio(ge: &GroupEstimates, level: f64) -> Result<Vec<Measure>, AnalysisError> {
    let present = ge.present();
    let (Some(&a), Some(&b)) = (present.first(), present.last()) else {
        let why = "no group has rows".to_string();
        return Ok(vec![
            Measure::withheld(MeasureKind::Gap, level, why.clone()),
            Measure::withheld(MeasureKind::Ratio, level, why),
        ]);
    };
    if a == b {
        let why = "only one group has rows".to_string();
        return Ok(vec![
            Measure::withheld(MeasureKind::Gap, level, why.clone()),
            Measure::withheld(MeasureKind::Ratio, level, why),
        ]);
    }
    if ge.suppressed[a] || ge.suppressed[b] {
        let which: Vec<String> = [a, b].iter().filter(|&&g| ge.suppressed[g]).map(|&g| ge.levels[g].to_string()).collect();
        let why = format!("withheld: group {} is suppressed by disclosure control", which.join(" and "));
        return Ok(vec![
            Measure::withheld(MeasureKind::Gap, level, why.clone()),
            Measure::withheld(MeasureKind::Ratio, level, why),
        ]);
    }
    let (ya, yb) = (ge.cov.estimates[a], ge.cov.estimates[b]);
    let (vaa, vbb, vab) = (ge.cov.get(a, a), ge.cov.get(b, b), ge.cov.get(a, b));
    let z = qnorm(1.0 - (1.0 - level) / 2.0);
    let gap = ya - yb;
    let se_gap = (vaa + vbb - 2.0 * vab).max(0.0).sqrt();
    let mut out_gap = Measure::new(MeasureKind::Gap, gap, se_gap, (gap - z * se_gap, gap + z * se_gap), level, None);
    let ratio = ya / yb;
    // delta method: d(a/b) = (1/b, -a/b^2)
    let (da, db) = (1.0 / yb, -ya / (yb * yb));
    let se_ratio = (da * da * vaa + db * db * vbb + 2.0 * da * db * vab).max(0.0).sqrt();
    let ci_ratio = if ratio > 0.0 {
        let sl = se_ratio / ratio;
        ((ratio.ln() - z * sl).exp(), (ratio.ln() + z * sl).exp())
    } else {
        (f64::NAN, f64::NAN)
    };
    let mut out_ratio = Measure::new(MeasureKind::Ratio, ratio, se_ratio, ci_ratio, level, None);
    let n = ge.levels.len();
    if a != 0 || b != n - 1 {
        let note = format!("between {} and {}, the extreme groups with rows", ge.levels[a], ge.levels[b]);
        out_gap.notes.push(note.clone());
        out_ratio.notes.push(note);
    }
    if ratio <= 0.0 {
        out_ratio.notes.push("no interval: the ratio is not positive".to_string());
    }
    Ok(vec![out_gap, out_ratio])
}
