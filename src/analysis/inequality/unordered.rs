//! Measures for groupings without an order (ethnicity, tenure, ward): how far the groups are
//! apart, whatever their order.
//!
//! Owns three measures over the groups with rows, each with a delta-method SE over the full
//! design (the groups share strata and PSUs), computed from the rows used (group known,
//! outcome answered), with weighted shares p_g, group means y_g and the overall mean mu:
//! - between-group variance BGV = sum p_g (y_g - mu)^2 (Harper and Lynch 2005, "Methods for
//!   measuring cancer disparities", NCI): absolute, in squared units, population-weighted.
//!   Each row's influence is (w/N) [2 (y_g - mu) y - y_g^2 + mu^2 - BGV];
//! - index of disparity ID = 100/J sum |y_g - mu| / mu (Pearcy and Keppel 2002, Public Health
//!   Rep 117:273), J the groups with rows, the overall mean as reference (not the best group,
//!   which would be chosen after seeing the data): relative, in percent, unweighted;
//! - highest/lowest ratio: the highest group mean over the lowest, SE from their covariance
//!   (the two groups are taken as given, though chosen after seeing the data), interval on the
//!   log scale as the extremes' ratio.
//!
//! BGV and ID combine every group, so they are computed from the microdata of all of them, a
//! suppressed one included (said in a note); the highest/lowest ratio is withheld when either
//! group is suppressed. Normal intervals. Must not format.

use super::groups::GroupEstimates;
use super::{Measure, MeasureKind};
use crate::analysis::engine::{qnorm, Design, Grouping};
use crate::analysis::AnalysisError;

/// The between-group variance, the index of disparity and the highest/lowest ratio.
pub fn unordered(design: &Design, codes: &[u32], ge: &GroupEstimates, level: f64) -> Result<Vec<Measure>, AnalysisError> {
    let present = ge.present();
    if present.len() < 2 {
        let why = "not computable: fewer than two groups have rows".to_string();
        return Ok([
            MeasureKind::BetweenGroupVariance,
            MeasureKind::IndexOfDisparity,
            MeasureKind::HighestLowestRatio,
        ]
        .into_iter()
        .map(|k| Measure::withheld(k, level, why.clone()))
        .collect());
    }
    let y = &ge.y;
    let w = design.weights();
    let n = y.len();
    let k = ge.estimates.len();
    let used: Vec<bool> = (0..n).map(|i| codes[i] != Grouping::NONE && !y[i].is_nan()).collect();
    let mut wg = vec![0.0; k];
    let mut tg = vec![0.0; k];
    for i in (0..n).filter(|&i| used[i]) {
        wg[codes[i] as usize] += w[i];
        tg[codes[i] as usize] += w[i] * y[i];
    }
    let big_n: f64 = wg.iter().sum();
    let mu = tg.iter().sum::<f64>() / big_n;
    let yg: Vec<f64> = (0..k).map(|g| tg[g] / wg[g]).collect();
    let z = qnorm(1.0 - (1.0 - level) / 2.0);
    let normal = |kind: MeasureKind, est: f64, var: f64| {
        let se = var.max(0.0).sqrt();
        Measure::new(kind, est, se, (est - z * se, est + z * se), level, None)
    };
    let one_vector = |infl: Vec<f64>| -> Result<f64, AnalysisError> { Ok(design.influence_covariance(&[&infl], &[&used])?.get(0, 0)) };
    // between-group variance
    let bgv: f64 = present.iter().map(|&g| wg[g] / big_n * (yg[g] - mu).powi(2)).sum();
    let infl: Vec<f64> = (0..n)
        .map(|i| {
            if !used[i] {
                return f64::NAN;
            }
            let g = codes[i] as usize;
            w[i] / big_n * (2.0 * (yg[g] - mu) * y[i] - yg[g] * yg[g] + mu * mu - bgv)
        })
        .collect();
    let mut out = vec![normal(MeasureKind::BetweenGroupVariance, bgv, one_vector(infl)?)];
    // index of disparity: d/dy_g = 100/(J mu) sign(y_g - mu); d/dmu = -100/(J mu^2) sum sign(y_g - mu) y_g
    let j = present.len() as f64;
    let id = 100.0 / j * present.iter().map(|&g| (yg[g] - mu).abs()).sum::<f64>() / mu;
    let sign = |g: usize| (yg[g] - mu).signum();
    let d_mu = -100.0 / (j * mu * mu) * present.iter().map(|&g| sign(g) * yg[g]).sum::<f64>();
    let infl: Vec<f64> = (0..n)
        .map(|i| {
            if !used[i] {
                return f64::NAN;
            }
            let g = codes[i] as usize;
            let d_g = 100.0 / (j * mu) * sign(g);
            d_g * w[i] * (y[i] - yg[g]) / wg[g] + d_mu * w[i] * (y[i] - mu) / big_n
        })
        .collect();
    let mut m_id = normal(MeasureKind::IndexOfDisparity, id, one_vector(infl)?);
    m_id.notes.push("reference: the overall mean".to_string());
    out.push(m_id);
    let suppressed: Vec<String> = present.iter().filter(|&&g| ge.suppressed[g]).map(|&g| ge.levels[g].to_string()).collect();
    if !suppressed.is_empty() {
        let note = format!(
            "computed from the microdata of every group, suppressed group(s) {} included",
            suppressed.join(", ")
        );
        for m in &mut out {
            m.notes.push(note.clone());
        }
    }
    out.push(highest_lowest(ge, &present, &yg, level, z));
    Ok(out)
}

/// The ratio of the highest group mean to the lowest, with the groups named.
fn highest_lowest(ge: &GroupEstimates, present: &[usize], yg: &[f64], level: f64, z: f64) -> Measure {
    let hi = *present.iter().max_by(|&&a, &&b| yg[a].total_cmp(&yg[b])).unwrap_or(&present[0]);
    let lo = *present.iter().min_by(|&&a, &&b| yg[a].total_cmp(&yg[b])).unwrap_or(&present[0]);
    if ge.suppressed[hi] || ge.suppressed[lo] {
        return Measure::withheld(
            MeasureKind::HighestLowestRatio,
            level,
            "withheld: the highest or lowest group is suppressed by disclosure control".to_string(),
        );
    }
    let (a, b) = (yg[hi], yg[lo]);
    let r = a / b;
    let (da, db) = (1.0 / b, -a / (b * b));
    let var = da * da * ge.cov.get(hi, hi) + db * db * ge.cov.get(lo, lo) + 2.0 * da * db * ge.cov.get(hi, lo);
    let se = var.max(0.0).sqrt();
    let ci = if r > 0.0 {
        ((r.ln() - z * se / r).exp(), (r.ln() + z * se / r).exp())
    } else {
        (f64::NAN, f64::NAN)
    };
    let mut m = Measure::new(MeasureKind::HighestLowestRatio, r, se, ci, level, None);
    m.notes.push(format!("highest: {}, lowest: {}", ge.levels[hi], ge.levels[lo]));
    let what = if ge.statistic == "proportion" { "as common" } else { "as high" };
    m.words = Some(format!("{r:.2} times {what} in {} as in {}", ge.levels[hi], ge.levels[lo]));
    m
}
