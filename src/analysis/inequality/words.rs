//! What each measure says, in words a public health report can quote: which end of the
//! grouping is worse off, by how much, in the outcome's units.
//!
//! Owns the sentences of the measures ("11.2 points lower in the most deprived tenth than in
//! the least deprived tenth", "1.8 times as common in the most deprived tenth as in the least
//! deprived tenth") and the naming of the ends of a grouping (tenths for IMD deciles, fifths
//! for quintiles, the level otherwise). Polarity (`higher_is` of the outcome) decides which
//! end is called worse off; without it the sentences say only higher or lower. Must not
//! compute or change numbers: it reads the measure rows as they are.

use super::{Measure, MeasureKind};
use crate::analysis::Level;
use crate::schema::HigherIs;

/// How an outcome and its grouping are named in sentences.
#[derive(Debug, Clone)]
pub struct Naming {
    /// "points" for a mean, "percentage points" for a proportion.
    pub proportion: bool,
    /// Whether higher values are better or worse (None: not stated).
    pub higher_is: Option<HigherIs>,
    /// The most deprived group, e.g. "the most deprived tenth".
    pub first: String,
    /// The least deprived group.
    pub last: String,
    /// The most deprived end of the fitted gradient.
    pub first_end: String,
    /// The least deprived end.
    pub last_end: String,
    /// Who is worse off when the first end is worse, and when the last end is.
    pub worse: (String, String),
}

impl Naming {
    /// Names the ends of `over` (levels in order, first the most deprived).
    pub fn new(over: &str, levels: &[Level], proportion: bool, higher_is: Option<HigherIs>) -> Naming {
        let known = |first: &str, last: &str| {
            (
                first.to_string(),
                last.to_string(),
                "the most deprived end".to_string(),
                "the least deprived end".to_string(),
                ("the more deprived are worse off".to_string(), "the less deprived are worse off".to_string()),
            )
        };
        let (first, last, first_end, last_end, worse) = match over {
            "imd_decile" => known("the most deprived tenth", "the least deprived tenth"),
            "imd_quintile" => known("the most deprived fifth", "the least deprived fifth"),
            _ => {
                // the direction is assumed: the ends are named by their levels, not by deprivation
                let a = format!("{over} {}", levels.first().map(Level::to_string).unwrap_or_default());
                let b = format!("{over} {}", levels.last().map(Level::to_string).unwrap_or_default());
                (
                    a.clone(),
                    b.clone(),
                    format!("the {a} end"),
                    format!("the {b} end"),
                    (format!("the {a} end is worse off"), format!("the {b} end is worse off")),
                )
            }
        };
        Naming {
            proportion,
            higher_is,
            first,
            last,
            first_end,
            last_end,
            worse,
        }
    }

    /// A difference in the outcome's units: "4.2 points", "12.5 percentage points".
    fn amount(&self, d: f64) -> String {
        if self.proportion {
            format!("{} percentage points", number(d.abs() * 100.0))
        } else {
            format!("{} points", number(d.abs()))
        }
    }

    /// Which end is worse off when the most deprived end is higher (`deprived_higher`).
    fn worse_off(&self, deprived_higher: bool) -> Option<&str> {
        match (self.higher_is?, deprived_higher) {
            (HigherIs::Worse, true) | (HigherIs::Better, false) => Some(&self.worse.0),
            _ => Some(&self.worse.1),
        }
    }
}

/// A number with the digits a sentence needs: one decimal from 10, two below, three below 0.1.
fn number(x: f64) -> String {
    let a = x.abs();
    if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// "N times as common/high in A as in B" for a ratio of A to B (`at` for the ends of a
/// gradient, `in` for groups).
fn times(n: &Naming, ratio: f64, a: &str, b: &str, prep: &str) -> String {
    let what = if n.proportion { "as common" } else { "as high" };
    if ratio >= 1.0 {
        format!("{} times {what} {prep} {a} as {prep} {b}", number(ratio))
    } else {
        format!("{} times {what} {prep} {b} as {prep} {a}", number(1.0 / ratio))
    }
}

fn with_polarity(sentence: String, n: &Naming, deprived_higher: bool) -> String {
    match n.worse_off(deprived_higher) {
        Some(w) => format!("{sentence}: {w}"),
        None => sentence,
    }
}

/// The value of a measure that means no inequality (0 for differences, 1 for ratios), or None
/// for measures without one in words.
fn null_value(kind: MeasureKind) -> Option<f64> {
    match kind {
        MeasureKind::Ratio | MeasureKind::RiiLinear | MeasureKind::RiiLog | MeasureKind::HighestLowestRatio => Some(1.0),
        MeasureKind::Gap
        | MeasureKind::Sii
        | MeasureKind::ConcentrationIndex
        | MeasureKind::Erreygers
        | MeasureKind::Wagstaff
        | MeasureKind::Par
        | MeasureKind::Paf => Some(0.0),
        _ => None,
    }
}

/// The sentence of one measure, with a caution when its interval includes no inequality.
pub fn sentence(m: &Measure, n: &Naming) -> Option<String> {
    let text = plain(m, n)?;
    let includes_null = match (null_value(m.measure), m.ci_low, m.ci_high) {
        (Some(v), Some(l), Some(h)) => l <= v && v <= h,
        _ => false,
    };
    Some(if includes_null {
        format!("{text} (the {:.0}% interval includes no difference)", m.level * 100.0)
    } else {
        text
    })
}

/// The sentence of one measure, or None (withheld, or not a measure told in words).
fn plain(m: &Measure, n: &Naming) -> Option<String> {
    let e = m.estimate?;
    let (first, last) = (n.first.as_str(), n.last.as_str());
    let (dep_end, aff_end) = (n.first_end.as_str(), n.last_end.as_str());
    Some(match m.measure {
        MeasureKind::Gap => {
            let dir = if e >= 0.0 { "higher" } else { "lower" };
            with_polarity(format!("{} {dir} in {first} than in {last}", n.amount(e)), n, e > 0.0)
        }
        MeasureKind::Ratio => with_polarity(times(n, e, first, last, "in"), n, e > 1.0),
        MeasureKind::Sii => {
            // the fitted value rises by SII from the most to the least deprived end
            let dir = if e >= 0.0 { "lower" } else { "higher" };
            with_polarity(
                format!("{} {dir} at {dep_end} than at {aff_end} of the fitted gradient", n.amount(e)),
                n,
                e < 0.0,
            )
        }
        MeasureKind::RiiLinear | MeasureKind::RiiLog => {
            // the ratio of the fitted value at the least to the most deprived end
            with_polarity(times(n, 1.0 / e, dep_end, aff_end, "at"), n, e < 1.0)
        }
        MeasureKind::ConcentrationIndex | MeasureKind::Erreygers | MeasureKind::Wagstaff => {
            let end = if e < 0.0 { dep_end } else { aff_end };
            with_polarity(format!("concentrated towards {end}"), n, e < 0.0)
        }
        MeasureKind::Par => {
            let dir = if e >= 0.0 { "lower" } else { "higher" };
            format!("the overall level would be {} {dir} if everyone fared as {last}", n.amount(e))
        }
        MeasureKind::Paf => {
            if e >= 0.0 {
                format!("{}% of the overall level is in excess of {last}'s", number(e * 100.0))
            } else {
                format!("the overall level is {}% below {last}'s", number(-e * 100.0))
            }
        }
        MeasureKind::IndexOfDisparity => format!("the group means differ from the overall mean by {}% on average", number(e)),
        MeasureKind::BetweenGroupVariance | MeasureKind::HighestLowestRatio => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: MeasureKind, e: f64) -> Measure {
        Measure::new(kind, e, 0.1, (e - 0.05 * e.abs(), e + 0.05 * e.abs()), 0.95, None)
    }

    fn deciles(proportion: bool, higher_is: Option<HigherIs>) -> Naming {
        let levels: Vec<Level> = (1..=10).map(Level::Int).collect();
        Naming::new("imd_decile", &levels, proportion, higher_is)
    }

    #[test]
    fn a_wellbeing_gap_says_the_most_deprived_are_worse_off() {
        let n = deciles(false, Some(HigherIs::Better));
        assert_eq!(
            sentence(&m(MeasureKind::Gap, -11.23), &n).unwrap(),
            "11.2 points lower in the most deprived tenth than in the least deprived tenth: the more deprived are worse off"
        );
        assert_eq!(
            sentence(&m(MeasureKind::Sii, 7.98), &n).unwrap(),
            "7.98 points lower at the most deprived end than at the least deprived end of the fitted gradient: the more deprived are worse off"
        );
    }

    #[test]
    fn a_prevalence_ratio_is_told_as_times_as_common() {
        let n = deciles(true, Some(HigherIs::Worse));
        assert_eq!(
            sentence(&m(MeasureKind::Ratio, 1.8), &n).unwrap(),
            "1.80 times as common in the most deprived tenth as in the least deprived tenth: the more deprived are worse off"
        );
        assert_eq!(
            sentence(&m(MeasureKind::RiiLog, 0.5), &n).unwrap(),
            "2.00 times as common at the most deprived end as at the least deprived end: the more deprived are worse off"
        );
        assert_eq!(
            sentence(&m(MeasureKind::Gap, 0.125), &n).unwrap(),
            "12.5 percentage points higher in the most deprived tenth than in the least deprived tenth: the more deprived are worse off"
        );
    }

    #[test]
    fn an_assumed_direction_names_the_ends_by_their_levels() {
        let levels = vec![Level::Int(16), Level::Int(86)];
        let n = Naming::new("age", &levels, false, Some(HigherIs::Worse));
        assert_eq!(
            sentence(&m(MeasureKind::Sii, -2.0), &n).unwrap(),
            "2.00 points higher at the age 16 end than at the age 86 end of the fitted gradient: the age 16 end is worse off"
        );
        // an interval that includes no difference says so
        assert_eq!(
            sentence(&Measure::new(MeasureKind::Gap, 0.1, 0.15, (-0.2, 0.4), 0.95, None), &n).unwrap(),
            "0.10 points higher in age 16 than in age 86: the age 16 end is worse off (the 95% interval includes no difference)"
        );
    }

    #[test]
    fn without_polarity_only_the_direction_is_said() {
        let levels = vec![Level::Text("a".into()), Level::Text("z".into())];
        let n = Naming::new("band", &levels, false, None);
        assert_eq!(sentence(&m(MeasureKind::Gap, 3.0), &n).unwrap(), "3.00 points higher in band a than in band z");
        assert!(sentence(&Measure::withheld(MeasureKind::Gap, 0.95, "x".into()), &n).is_none());
    }
}
