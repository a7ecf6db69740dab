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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::{Estimate, GroupCovariance};
    use crate::analysis::Level;

    fn estimate(g: u32, e: f64, n: usize) -> Estimate {
        Estimate {
            group: g,
            estimate: e,
            se: 0.1,
            ci_low: e - 0.2,
            ci_high: e + 0.2,
            level: 0.95,
            df: f64::INFINITY,
            design_df: 10.0,
            used_df: 10.0,
            deff: None,
            cv: 0.1,
            n,
            weighted_n: 100.0,
        }
    }

    /// Three groups: 0.4, 0.3, 0.2 with covariance [[.01, .004, .002], [.004, .02, .003], [.002, .003, .04]].
    fn groups(suppressed: Vec<bool>, n_last: usize) -> GroupEstimates {
        GroupEstimates {
            statistic: "mean",
            y: Vec::new(),
            estimates: vec![estimate(0, 0.4, 50), estimate(1, 0.3, 50), estimate(2, 0.2, n_last)],
            cov: GroupCovariance {
                estimates: vec![0.4, 0.3, 0.2],
                cov: vec![0.01, 0.004, 0.002, 0.004, 0.02, 0.003, 0.002, 0.003, 0.04],
                n_groups: 3,
            },
            suppressed,
            rows: Vec::new(),
            levels: (1..=3).map(Level::Int).collect(),
        }
    }

    #[test]
    fn the_gap_se_uses_the_covariance_between_the_extremes() {
        let m = gap_and_ratio(&groups(vec![false; 3], 50), 0.95).unwrap();
        assert!((m[0].estimate.unwrap() - 0.2).abs() < 1e-15);
        // 0.01 + 0.04 - 2 * 0.002, not 0.01 + 0.04
        assert!((m[0].se.unwrap() - 0.046f64.sqrt()).abs() < 1e-15);
        assert!((m[1].estimate.unwrap() - 2.0).abs() < 1e-15);
        // delta method: (1/b)^2 Vaa + (a/b^2)^2 Vbb - 2 a/b^3 Vab
        let v: f64 = 25.0 * 0.01 + 100.0 * 0.04 - 2.0 * 50.0 * 0.002;
        assert!((m[1].se.unwrap() - v.sqrt()).abs() < 1e-12);
        let (l, h) = (m[1].ci_low.unwrap(), m[1].ci_high.unwrap());
        assert!((l * h - 4.0).abs() < 1e-12, "the ratio's interval is symmetric on the log scale");
    }

    #[test]
    fn a_suppressed_extreme_withholds_both_and_an_empty_one_moves_the_end() {
        let m = gap_and_ratio(&groups(vec![false, false, true], 50), 0.95).unwrap();
        assert!(m.iter().all(|m| m.estimate.is_none() && m.notes[0].contains("group 3 is suppressed")));
        let m = gap_and_ratio(&groups(vec![false; 3], 0), 0.95).unwrap();
        assert!((m[0].estimate.unwrap() - 0.1).abs() < 1e-15);
        assert_eq!(m[0].notes, vec!["between 1 and 2, the extreme groups with rows".to_string()]);
    }
}
