//! Disclosure control and quality flags: which cells are suppressed, and what a reader is told.
//!
//! Owns the rules of the definition's `disclosure:` section as applied to one estimate: a base
//! below `min_base` suppresses the cell, below `flag_base` flags it; a proportion whose
//! numerator or complement is 1 to `min_count - 1` is suppressed; a CV above `max_cv` is
//! flagged; a domain whose rows lie in one PSU has no standard error (`n/e`), never a zero one.
//! With suppression off, the flags stay but nothing is blanked. Must not estimate, read the
//! frame or format output: the flags are typed ([`Flag`]) and shown as text by their
//! `Display`, the one wording of every output format.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::engine::{Estimate, Grouping};
use super::{Level, Row};
use crate::schema::Disclosure;

/// The flag text of a row whose standard error cannot be estimated (its rows lie in one PSU):
/// its SE, CI, CV and deff are null, never a zero SE with a zero-width interval.
pub const SE_NOT_ESTIMABLE: &str = "one PSU: standard error not estimable";

/// A disclosure or quality flag of a result row. JSON and CSV show it as its text.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Flag {
    /// The unweighted base is below `min_base`: the cell is suppressed.
    BaseBelowMinimum {
        /// The definition's `min_base`.
        min_base: u32,
    },
    /// The unweighted base is below `flag_base` (not below `min_base`): shown, but flagged.
    SmallBase {
        /// The definition's `flag_base`.
        flag_base: u32,
    },
    /// A proportion whose numerator or complement is 1 to `min_count - 1`: suppressed.
    SmallCount {
        /// The definition's `min_count`.
        min_count: u32,
    },
    /// The rows lie in one PSU of one stratum: no standard error (shown as `n/e`).
    SeNotEstimable,
    /// The rows used lie in one PSU per stratum, but a standard error exists: no degrees of
    /// freedom for its interval.
    NoDegreesOfFreedom,
    /// The coefficient of variation is above `max_cv`.
    HighCv {
        /// The definition's `max_cv` (a fraction).
        max_cv: f64,
    },
}

impl Flag {
    /// Whether the flag suppresses the cell (when disclosure control is on).
    pub fn suppresses(&self) -> bool {
        matches!(self, Flag::BaseBelowMinimum { .. } | Flag::SmallCount { .. })
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flag::BaseBelowMinimum { min_base: n } | Flag::SmallBase { flag_base: n } => write!(f, "base below {n}"),
            Flag::SmallCount { min_count } => write!(f, "numerator or complement below {min_count}"),
            Flag::SeNotEstimable => f.write_str(SE_NOT_ESTIMABLE),
            Flag::NoDegreesOfFreedom => f.write_str("one PSU: no degrees of freedom"),
            Flag::HighCv { max_cv } => write!(f, "cv above {:.0}%", max_cv * 100.0),
        }
    }
}

impl Serialize for Flag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An estimate after disclosure control: the numbers a row shows (`None`: blank, or not a
/// finite number) and its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Controlled {
    /// Point estimate.
    pub estimate: Option<f64>,
    /// Standard error (`None` when not estimable).
    pub se: Option<f64>,
    /// Lower confidence limit.
    pub ci_low: Option<f64>,
    /// Upper confidence limit.
    pub ci_high: Option<f64>,
    /// Degrees of freedom (shown even when the cell is suppressed).
    pub df: Option<f64>,
    /// Design effect.
    pub deff: Option<f64>,
    /// Coefficient of variation.
    pub cv: Option<f64>,
    /// Weighted base.
    pub weighted_n: Option<f64>,
    /// Whether the numbers were blanked by disclosure control.
    pub suppressed: bool,
    /// Every flag that applies, in a fixed order (base, count, SE, CV).
    pub flags: Vec<Flag>,
}

/// What a row is about: everything of a [`Row`] but its numbers.
#[derive(Debug, Clone)]
pub struct RowId {
    /// The outcome variable.
    pub outcome: String,
    /// The statistic's name.
    pub statistic: &'static str,
    /// The group, by breakdown variable (empty overall).
    pub by: BTreeMap<String, Level>,
    /// The category of a proportion.
    pub category: Option<Level>,
    /// The probability of a quantile.
    pub quantile: Option<f64>,
    /// The denominator of a ratio.
    pub denominator: Option<String>,
}

impl Controlled {
    /// The output row of this cell: `id` says what it is about, `level` and `n` (the rows
    /// used) complete its numbers.
    pub fn row(self, id: RowId, level: f64, n: usize) -> Row {
        Row {
            outcome: id.outcome,
            statistic: id.statistic,
            by: id.by,
            category: id.category,
            quantile: id.quantile,
            denominator: id.denominator,
            estimate: self.estimate,
            se: self.se,
            ci_low: self.ci_low,
            ci_high: self.ci_high,
            level,
            df: self.df,
            deff: self.deff,
            cv: self.cv,
            n,
            weighted_n: self.weighted_n,
            suppressed: self.suppressed,
            flags: self.flags,
        }
    }
}

/// Applies the rules to one estimate. `numerator` is the count of rows with the outcome (a
/// proportion's numerator), `None` for other statistics; `suppress` false shows small cells
/// (flagged, not blanked).
pub fn control(e: &Estimate, numerator: Option<usize>, rules: &Disclosure, suppress: bool) -> Controlled {
    let mut flags = Vec::new();
    if e.n < rules.min_base as usize {
        flags.push(Flag::BaseBelowMinimum { min_base: rules.min_base });
    } else if e.n < rules.flag_base as usize {
        flags.push(Flag::SmallBase { flag_base: rules.flag_base });
    }
    if let Some(k) = numerator {
        let m = rules.min_count as usize;
        let complement = e.n.saturating_sub(k);
        if (k > 0 && k < m) || (complement > 0 && complement < m) {
            flags.push(Flag::SmallCount { min_count: rules.min_count });
        }
    }
    // A domain whose answered rows all lie in one PSU of one stratum has no between-PSU
    // variation: a zero SE there is not a precise estimate but none.
    let one_psu = e.n > 0 && e.used_df < 1.0;
    let no_variation = e.se.is_nan() || e.se <= 0.0;
    let se_estimable = !(one_psu && no_variation);
    if !se_estimable {
        flags.push(Flag::SeNotEstimable);
    } else if one_psu {
        flags.push(Flag::NoDegreesOfFreedom);
    }
    if e.cv.is_finite() && e.cv > rules.max_cv {
        flags.push(Flag::HighCv { max_cv: rules.max_cv });
    }
    let blank = suppress && flags.iter().any(Flag::suppresses);
    let fin = |x: f64| if x.is_finite() { Some(x) } else { None };
    let shown = |x: f64| if blank { None } else { fin(x) };
    let with_se = |x: f64| shown(x).filter(|_| se_estimable);
    Controlled {
        estimate: shown(e.estimate),
        se: with_se(e.se),
        ci_low: with_se(e.ci_low),
        ci_high: with_se(e.ci_high),
        df: fin(e.reported_df()),
        deff: if blank || !se_estimable { None } else { e.deff.and_then(fin) },
        cv: with_se(e.cv),
        weighted_n: shown(e.weighted_n),
        suppressed: blank,
        flags,
    }
}

/// The numerator of a proportion in each group: the rows whose `y` is 1 (`y` in the
/// grouping's row order).
pub fn numerators(grouping: &Grouping, y: &[f64]) -> Vec<usize> {
    let mut ones = vec![0usize; grouping.n_groups()];
    for (c, v) in grouping.codes().iter().zip(y) {
        if *c != Grouping::NONE && *v == 1.0 {
            ones[*c as usize] += 1;
        }
    }
    ones
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default rules: min_base 10, min_count 5, flag_base 50, max_cv 0.2.
    fn rules() -> Disclosure {
        Disclosure::default()
    }

    /// An estimate of 0.4 (se 0.05, cv 0.125) over `n` rows spread over many PSUs.
    fn estimate(n: usize) -> Estimate {
        Estimate {
            group: 0,
            estimate: 0.4,
            se: 0.05,
            ci_low: 0.3,
            ci_high: 0.5,
            level: 0.95,
            df: f64::INFINITY,
            design_df: 30.0,
            used_df: 30.0,
            deff: Some(1.5),
            cv: 0.125,
            n,
            weighted_n: 1234.5,
        }
    }

    fn texts(flags: &[Flag]) -> Vec<String> {
        flags.iter().map(Flag::to_string).collect()
    }

    #[test]
    fn a_large_base_passes_unflagged() {
        let c = control(&estimate(50), None, &rules(), true);
        assert!(c.flags.is_empty(), "{:?}", c.flags);
        assert!(!c.suppressed);
        assert_eq!(
            (c.estimate, c.se, c.ci_low, c.ci_high, c.deff, c.cv, c.weighted_n, c.df),
            (Some(0.4), Some(0.05), Some(0.3), Some(0.5), Some(1.5), Some(0.125), Some(1234.5), Some(30.0))
        );
    }

    #[test]
    fn a_base_below_min_base_is_suppressed_keeping_n_and_df() {
        let c = control(&estimate(9), None, &rules(), true);
        assert_eq!(c.flags, vec![Flag::BaseBelowMinimum { min_base: 10 }]);
        assert_eq!(texts(&c.flags), ["base below 10"]);
        assert!(c.suppressed);
        assert_eq!(
            (c.estimate, c.se, c.ci_low, c.ci_high, c.deff, c.cv, c.weighted_n),
            (None, None, None, None, None, None, None)
        );
        assert_eq!(c.df, Some(30.0), "df is not disclosive");
        // exactly min_base is shown (and flagged as below flag_base)
        let c = control(&estimate(10), None, &rules(), true);
        assert!(!c.suppressed);
        assert_eq!(c.flags, vec![Flag::SmallBase { flag_base: 50 }]);
    }

    #[test]
    fn a_base_below_flag_base_is_flagged_not_suppressed() {
        let c = control(&estimate(49), None, &rules(), true);
        assert_eq!(texts(&c.flags), ["base below 50"]);
        assert!(!c.suppressed);
        assert_eq!(c.estimate, Some(0.4));
    }

    #[test]
    fn a_small_numerator_is_suppressed() {
        for k in 1..5 {
            let c = control(&estimate(100), Some(k), &rules(), true);
            assert_eq!(c.flags, vec![Flag::SmallCount { min_count: 5 }], "numerator {k}");
            assert_eq!(texts(&c.flags), ["numerator or complement below 5"]);
            assert!(c.suppressed && c.estimate.is_none(), "numerator {k}");
        }
        // none at all, or min_count, is not disclosive
        for k in [0, 5, 50] {
            let c = control(&estimate(100), Some(k), &rules(), true);
            assert!(c.flags.is_empty() && !c.suppressed, "numerator {k}: {:?}", c.flags);
        }
    }

    #[test]
    fn a_small_complement_is_suppressed() {
        for k in 96..100 {
            let c = control(&estimate(100), Some(k), &rules(), true);
            assert_eq!(c.flags, vec![Flag::SmallCount { min_count: 5 }], "numerator {k} of 100");
            assert!(c.suppressed);
        }
        for k in [95, 100] {
            let c = control(&estimate(100), Some(k), &rules(), true);
            assert!(c.flags.is_empty(), "numerator {k} of 100: {:?}", c.flags);
        }
    }

    #[test]
    fn counts_are_not_checked_for_other_statistics() {
        let c = control(&estimate(100), None, &rules(), true);
        assert!(c.flags.is_empty());
    }

    #[test]
    fn a_high_cv_is_flagged_with_the_rule_in_percent() {
        let mut e = estimate(100);
        e.cv = 0.25;
        let c = control(&e, None, &rules(), true);
        assert_eq!(texts(&c.flags), ["cv above 20%"]);
        assert!(!c.suppressed);
        assert_eq!(c.cv, Some(0.25));
        e.cv = 0.2;
        assert!(control(&e, None, &rules(), true).flags.is_empty(), "a cv at max_cv is not above it");
        e.cv = f64::INFINITY;
        let c = control(&e, None, &rules(), true);
        assert!(c.flags.is_empty(), "an infinite cv (zero estimate) is not flagged: {:?}", c.flags);
        assert_eq!(c.cv, None);
    }

    #[test]
    fn one_psu_without_variation_is_not_estimable() {
        let mut e = estimate(100);
        e.used_df = 0.0;
        e.se = 0.0;
        e.cv = 0.0;
        let c = control(&e, None, &rules(), true);
        assert_eq!(c.flags, vec![Flag::SeNotEstimable]);
        assert_eq!(texts(&c.flags), [SE_NOT_ESTIMABLE]);
        assert!(!c.suppressed);
        assert_eq!(c.estimate, Some(0.4));
        assert_eq!((c.se, c.ci_low, c.ci_high, c.cv, c.deff), (None, None, None, None, None));
        assert_eq!(c.weighted_n, Some(1234.5));
        // a NaN se is as absent as a zero one
        e.se = f64::NAN;
        assert_eq!(control(&e, None, &rules(), true).flags, vec![Flag::SeNotEstimable]);
    }

    #[test]
    fn one_psu_with_variation_has_no_degrees_of_freedom() {
        let mut e = estimate(100);
        e.used_df = 0.0;
        let c = control(&e, None, &rules(), true);
        assert_eq!(texts(&c.flags), ["one PSU: no degrees of freedom"]);
        assert_eq!(c.se, Some(0.05));
    }

    #[test]
    fn an_empty_domain_is_not_flagged_as_one_psu() {
        let mut e = estimate(0);
        e.used_df = 0.0;
        e.se = f64::NAN;
        let c = control(&e, None, &rules(), true);
        assert_eq!(c.flags, vec![Flag::BaseBelowMinimum { min_base: 10 }]);
    }

    #[test]
    fn flags_come_in_a_fixed_order() {
        let mut e = estimate(8);
        e.used_df = 0.0;
        e.cv = 0.5;
        let c = control(&e, Some(2), &rules(), true);
        assert_eq!(
            texts(&c.flags),
            [
                "base below 10",
                "numerator or complement below 5",
                "one PSU: no degrees of freedom",
                "cv above 20%"
            ]
        );
    }

    #[test]
    fn suppression_off_flags_but_blanks_nothing() {
        let c = control(&estimate(3), Some(1), &rules(), false);
        assert_eq!(c.flags, vec![Flag::BaseBelowMinimum { min_base: 10 }, Flag::SmallCount { min_count: 5 }]);
        assert!(!c.suppressed);
        assert_eq!((c.estimate, c.se, c.deff, c.weighted_n), (Some(0.4), Some(0.05), Some(1.5), Some(1234.5)));
    }

    #[test]
    fn the_rules_come_from_the_definition() {
        let strict = Disclosure {
            min_base: 100,
            min_count: 20,
            flag_base: 200,
            max_cv: 0.1,
        };
        let c = control(&estimate(150), Some(140), &strict, true);
        assert_eq!(texts(&c.flags), ["base below 200", "numerator or complement below 20", "cv above 10%"]);
        assert!(c.suppressed);
    }

    #[test]
    fn numerators_count_ones_in_each_group() {
        let g = Grouping::new(vec![0, 1, 0, Grouping::NONE, 1, 1], 2).unwrap();
        let y = [1.0, 1.0, 0.0, 1.0, f64::NAN, 1.0];
        assert_eq!(numerators(&g, &y), vec![1, 2]);
    }

    #[test]
    fn flags_serialise_as_their_text() {
        let json = serde_json::to_string(&[Flag::HighCv { max_cv: 0.3 }, Flag::SeNotEstimable]).unwrap();
        assert_eq!(json, r#"["cv above 30%","one PSU: standard error not estimable"]"#);
    }
}
