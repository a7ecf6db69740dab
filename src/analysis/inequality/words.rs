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
}

impl Naming {
    /// Names the ends of `over` (levels in order, first the most deprived).
    pub fn new(over: &str, levels: &[Level], proportion: bool, higher_is: Option<HigherIs>) -> Naming {
        let (first, last) = match over {
            "imd_decile" => ("the most deprived tenth".to_string(), "the least deprived tenth".to_string()),
            "imd_quintile" => ("the most deprived fifth".to_string(), "the least deprived fifth".to_string()),
            _ => (
                format!("{over} {}", levels.first().map(Level::to_string).unwrap_or_default()),
                format!("{over} {}", levels.last().map(Level::to_string).unwrap_or_default()),
            ),
        };
        Naming {
            proportion,
            higher_is,
            first,
            last,
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
            (HigherIs::Worse, true) | (HigherIs::Better, false) => Some("the more deprived are worse off"),
            _ => Some("the less deprived are worse off"),
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

/// The sentence of one measure, or None (withheld, or not a measure told in words).
pub fn sentence(m: &Measure, n: &Naming) -> Option<String> {
    let e = m.estimate?;
    let (first, last) = (n.first.as_str(), n.last.as_str());
    let (dep_end, aff_end) = ("the most deprived end", "the least deprived end");
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
            let among = if e < 0.0 { "more" } else { "less" };
            with_polarity(format!("concentrated among the {among} deprived"), n, e < 0.0)
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
        Measure::new(kind, e, 0.1, (e - 0.2, e + 0.2), 0.95, None)
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
    fn without_polarity_only_the_direction_is_said() {
        let levels = vec![Level::Text("a".into()), Level::Text("z".into())];
        let n = Naming::new("band", &levels, false, None);
        assert_eq!(sentence(&m(MeasureKind::Gap, 3.0), &n).unwrap(), "3.00 points higher in band a than in band z");
        assert!(sentence(&Measure::withheld(MeasureKind::Gap, 0.95, "x".into()), &n).is_none());
    }
}
