//! Inequality: how an outcome differs across an ordered grouping (deprivation deciles by
//! default) or between unordered groups, with design-based standard errors.
//!
//! Owns the inequality request ([`InequalityRequest`]), its result model ([`Inequality`]: per
//! outcome the group estimates in the grouping's order and one row per summary measure, the
//! JSON shape of SPEC.md), and the measures computed from the group estimates and the
//! microdata of one prepared analysis ([`crate::analysis::Prepared`]): one frame load and one
//! design build for every outcome, as `analyze` does. Parts: [`groups`] (the ordered grouping
//! and its estimates), [`extremes`] (gap and ratio between the most and least deprived groups,
//! with the covariance between groups), [`indices`] and [`regression`] (SII, RII linear and log
//! on the ridit), [`concentration`] (relative, Erreygers and Wagstaff indices), [`attributable`]
//! (PAR and PAF), [`unordered`] (between-group variance, index of disparity, highest/lowest
//! ratio), [`words`] (each measure in a sentence), [`standard`] (standard populations: the
//! shipped ESP 2013, a user's population, age bands mapped onto the standard's),
//! [`standardise`] (directly standardised group estimates on the full design, as
//! `svystandardize`), [`change`] and [`combined`] (change between two waves over the combined
//! design), [`between`] (t test of two groups, Rao-Scott chi-square) and [`phe`]
//! (PHEindicatormethods' aggregate SII), wired in by [`extras`]. Must not read files, run SQL
//! or format output (the
//! `report` module formats; the binary reads flags), and must not compute variances of its
//! own: every standard error comes from the engine's influence values.

pub mod attributable;
pub mod between;
pub mod change;
mod columns;
pub mod combined;
pub mod concentration;
pub mod error;
pub mod extras;
pub mod extremes;
#[cfg(test)]
pub(crate) mod fixture;
pub mod groups;
pub mod indices;
pub mod phe;
pub mod regression;
pub mod standard;
pub mod standardise;
pub mod unordered;
pub mod words;

use rayon::prelude::*;
use serde::Serialize;

pub use error::InequalityError;
pub use standard::Standard;

use super::{AnalysisError, DesignInfo, Level, Prepared, Request, Row, Stat, Warning};
use crate::schema::HigherIs;
use crate::store::Store;

/// The grouping used when the request names none.
pub const DEFAULT_OVER: &str = "imd_decile";

/// How the summary measures are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// From the microdata over the full design (svyglm, svyby covariance), the default.
    #[default]
    Design,
    /// PHEindicatormethods' aggregate method on the group estimates and their CIs.
    Phe,
}

/// An inequality request: outcomes over one grouping, for some waves.
#[derive(Debug, Clone)]
pub struct InequalityRequest {
    /// Outcome variables (questions or derived variables).
    pub outcomes: Vec<String>,
    /// The grouping: ordered (deciles, quintiles, an ordered select_one, an integer) or not.
    pub over: String,
    /// Waves (all when empty).
    pub waves: Vec<i64>,
    /// Confidence level, in [0.5, 1).
    pub level: f64,
    /// Subpopulation (a domain of the full design).
    pub where_: Option<String>,
    /// First-stage variance only.
    pub ultimate_cluster: bool,
    /// Apply disclosure control.
    pub suppress: bool,
    /// Variables to standardise by (empty: none), e.g. `age_band`, `sex`.
    pub standardise: Vec<String>,
    /// The standard population (with `standardise`).
    pub standard: Option<Standard>,
    /// How the measures are computed.
    pub method: Method,
    /// Treat the grouping as unordered (ethnicity, tenure): between-group measures instead of
    /// the gradient. Text groupings without a choice list (wards) are unordered anyway.
    pub unordered: bool,
    /// Add the tests between groups (t test of the extreme groups, Rao-Scott chi-square).
    pub tests: bool,
    /// A stored weight set to use in place of the design's weights (its variance accounts
    /// for the calibration, through the engine's one variance path).
    pub weights: Option<String>,
}

impl Default for InequalityRequest {
    fn default() -> Self {
        InequalityRequest {
            outcomes: Vec::new(),
            over: DEFAULT_OVER.to_string(),
            waves: Vec::new(),
            level: 0.95,
            where_: None,
            ultimate_cluster: false,
            suppress: true,
            standardise: Vec::new(),
            standard: None,
            method: Method::Design,
            unordered: false,
            tests: false,
            weights: None,
        }
    }
}

impl InequalityRequest {
    /// The analysis request that prepares the frame, the design and the grouping: the
    /// outcomes' means over `over`, checked as `analyze` checks its requests.
    pub fn analysis_request(&self) -> Request {
        Request {
            outcomes: self.outcomes.clone(),
            by: if self.standardise.is_empty() {
                vec![vec![self.over.clone()]]
            } else {
                // the standardising cells, crossed, as a second breakdown
                vec![vec![self.over.clone()], self.standardise.clone()]
            },
            stat: Stat::Mean,
            level: self.level,
            waves: self.waves.clone(),
            where_: self.where_.clone(),
            ultimate_cluster: self.ultimate_cluster,
            suppress: self.suppress,
            weights: self.weights.clone(),
            ..Request::default()
        }
    }

    /// Checks what can be checked without data; what is not built yet is refused here.
    pub fn check(&self) -> Result<(), AnalysisError> {
        self.analysis_request().check()?;
        if self.standardise.is_empty() && self.standard.is_some() {
            return Err(InequalityError::StandardWithoutVariables.into());
        }
        if self.weights.is_some() {
            // these build designs of their own (standardised, or both waves combined), which
            // do not carry a weight set's calibration yet
            if !self.standardise.is_empty() {
                return Err(InequalityError::WeightsWith { with: "age standardisation" }.into());
            }
            if combined::two_waves(self).is_some() {
                return Err(InequalityError::WeightsWith {
                    with: "the change between two waves",
                }
                .into());
            }
        }
        Ok(())
    }
}

/// Which summary measure a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MeasureKind {
    /// Slope index of inequality.
    Sii,
    /// Relative index of inequality, (b0 + b1) / b0 of the linear model.
    RiiLinear,
    /// Relative index of inequality, exp(b1) of the log-link model.
    RiiLog,
    /// Most deprived group minus least deprived group.
    Gap,
    /// Most deprived group over least deprived group.
    Ratio,
    /// Concentration index (relative).
    ConcentrationIndex,
    /// Erreygers' corrected concentration index (bounded outcomes).
    Erreygers,
    /// Wagstaff's normalised concentration index (bounded outcomes).
    Wagstaff,
    /// Population attributable risk: overall minus the reference group.
    Par,
    /// Population attributable fraction: PAR over the overall.
    Paf,
    /// Between-group variance (unordered groupings).
    BetweenGroupVariance,
    /// Index of disparity, percent (unordered groupings).
    IndexOfDisparity,
    /// Highest group over lowest group (unordered groupings).
    HighestLowestRatio,
}

impl MeasureKind {
    /// Whether the measure is computed from every group's rows (the regressions, the
    /// concentration indices, the overall of PAR), not from one or two groups alone.
    pub fn uses_every_group(self) -> bool {
        !matches!(self, MeasureKind::Gap | MeasureKind::Ratio | MeasureKind::HighestLowestRatio)
    }

    /// The name a measure row carries.
    pub fn name(self) -> &'static str {
        match self {
            MeasureKind::Sii => "sii",
            MeasureKind::RiiLinear => "rii_linear",
            MeasureKind::RiiLog => "rii_log",
            MeasureKind::Gap => "gap",
            MeasureKind::Ratio => "ratio",
            MeasureKind::ConcentrationIndex => "concentration_index",
            MeasureKind::Erreygers => "erreygers",
            MeasureKind::Wagstaff => "wagstaff",
            MeasureKind::Par => "par",
            MeasureKind::Paf => "paf",
            MeasureKind::BetweenGroupVariance => "between_group_variance",
            MeasureKind::IndexOfDisparity => "index_of_disparity",
            MeasureKind::HighestLowestRatio => "highest_lowest_ratio",
        }
    }
}

/// One summary measure of an outcome with its interval.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    /// Which measure.
    pub measure: MeasureKind,
    /// Point estimate (`None`: withheld or not computable).
    pub estimate: Option<f64>,
    /// Standard error.
    pub se: Option<f64>,
    /// Lower confidence limit.
    pub ci_low: Option<f64>,
    /// Upper confidence limit.
    pub ci_high: Option<f64>,
    /// Confidence level.
    pub level: f64,
    /// Degrees of freedom of a t interval; `None` for a normal interval.
    pub df: Option<f64>,
    /// The estimate on the log scale (log RII: b1 of the log-link model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_estimate: Option<f64>,
    /// The standard error on the log scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub se_log: Option<f64>,
    /// What the measure says, in words ("4.1 points lower in the most deprived tenth").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<String>,
    /// Notes a reader must see (how it was computed, what was assumed or withheld).
    pub notes: Vec<String>,
}

impl Measure {
    /// A measure with a point estimate and an interval.
    pub fn new(measure: MeasureKind, estimate: f64, se: f64, ci: (f64, f64), level: f64, df: Option<f64>) -> Measure {
        let fin = |x: f64| x.is_finite().then_some(x);
        Measure {
            measure,
            estimate: fin(estimate),
            se: fin(se),
            ci_low: fin(ci.0),
            ci_high: fin(ci.1),
            level,
            df: df.and_then(fin),
            log_estimate: None,
            se_log: None,
            words: None,
            notes: Vec::new(),
        }
    }

    /// A measure that is not given, with the reason.
    pub fn withheld(measure: MeasureKind, level: f64, reason: String) -> Measure {
        Measure {
            measure,
            estimate: None,
            se: None,
            ci_low: None,
            ci_high: None,
            level,
            df: None,
            log_estimate: None,
            se_log: None,
            words: None,
            notes: vec![reason],
        }
    }
}

/// The inequality of one outcome over the grouping.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutcomeInequality {
    /// Survey id.
    pub survey: String,
    /// Waves analysed.
    pub waves: Vec<i64>,
    /// The outcome.
    pub outcome: String,
    /// The statistic of the group rows (`mean`, or `proportion` for a yes/no outcome).
    pub statistic: &'static str,
    /// The grouping.
    pub over: String,
    /// The grouping's levels in order, the first the most deprived (for an ordered grouping).
    pub order: Vec<Level>,
    /// Whether the grouping is ordered (gradient measures) or not (between-group measures).
    pub ordered: bool,
    /// Whether the order's direction (first = most deprived) is assumed rather than known.
    pub direction_assumed: bool,
    /// Whether higher values of the outcome are better or worse (`None`: not stated).
    pub higher_is: Option<HigherIs>,
    /// One row per group present, in the grouping's order.
    pub groups: Vec<Row>,
    /// One row per summary measure.
    pub measures: Vec<Measure>,
    /// Notes on the whole result (direction assumed, groups suppressed).
    pub notes: Vec<String>,
    /// How the group estimates were age-standardised (absent: they were not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standardised: Option<extras::Standardisation>,
    /// The change between the two waves asked for (absent without two waves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<extras::ChangeOutput>,
    /// Tests between groups (when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<extras::Tests>,
}

/// The result of an inequality request: one [`OutcomeInequality`] per outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Inequality {
    /// Survey id.
    pub survey: String,
    /// Waves analysed.
    pub waves: Vec<i64>,
    /// The design.
    pub design: DesignInfo,
    /// One per outcome, in the request's order.
    pub outcomes: Vec<OutcomeInequality>,
    /// Warnings for the user (not part of the JSON contract).
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// Runs an inequality request on a store: the frame loaded and the design built once, then
/// every outcome's group estimates and measures.
pub fn inequality(store: &Store, req: &InequalityRequest) -> Result<Inequality, AnalysisError> {
    req.check()?;
    let mut areq = req.analysis_request();
    if combined::two_waves(req).is_some() {
        combined::add_person_keys(&store.definition(None)?, req, &mut areq);
    }
    let prepared = Prepared::new(store, &areq)?;
    inequality_prepared(&prepared, req)
}

/// Runs a checked inequality request over an analysis prepared already (one of whose
/// breakdowns is `req.over` alone; for two waves, prepared as [`inequality`] prepares it), so
/// that a caller running several analyses over the same rows (a report) loads the frame and
/// builds the design once.
pub fn inequality_prepared(prepared: &Prepared, req: &InequalityRequest) -> Result<Inequality, AnalysisError> {
    let combined = combined::combined_design(prepared, req)?;
    let _t = crate::timing::phase("inequality: estimate");
    let ordered = groups::OrderedGrouping::new(prepared, &req.over, req.unordered)?;
    // outcomes are independent over the one design: one task each, on all cores
    let outcomes = req
        .outcomes
        .par_iter()
        .map(|outcome| outcome_inequality(prepared, &ordered, req, outcome, combined.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut warnings = Vec::new();
    if !req.suppress {
        warnings.push(Warning::SuppressionOff);
    }
    Ok(Inequality {
        survey: prepared.def.survey.clone(),
        waves: prepared.waves.clone(),
        design: DesignInfo::new(&prepared.def, prepared.ordered.design.degf(), req.ultimate_cluster),
        outcomes,
        warnings,
    })
}

/// The group estimates and measures of one outcome.
fn outcome_inequality(
    p: &Prepared,
    og: &groups::OrderedGrouping,
    req: &InequalityRequest,
    outcome: &str,
    combined: Option<&combined::CombinedDesign>,
) -> Result<OutcomeInequality, AnalysisError> {
    let mut ge = groups::estimate(p, og, req, outcome)?;
    let standardised = extras::standardise_groups(p, og, req, &mut ge)?;
    let std = standardised.as_ref().map(|s| &s.0);
    let design = &p.ordered.design;
    let codes = og.grouping.codes();
    let (higher_is, bounds) = groups::polarity_and_bounds(p, outcome, ge.statistic);
    let mut measures = Vec::new();
    if og.ordered {
        match std {
            Some(s) => {
                measures.extend(match req.method {
                    Method::Phe => extras::phe_measures(&ge, req.level),
                    Method::Design => extras::standardised_indices(s, &ge, req.level),
                });
                measures.extend(extremes::gap_and_ratio(&ge, req.level)?);
                measures.extend(extras::standardised_concentration_and_par(s, &ge, bounds, req.level));
            }
            None => {
                // the measures from the microdata share the outcome's sums per group
                let ridits = regression::Ridits::new(design, codes, &ge.y, og.len())?;
                measures.extend(match req.method {
                    Method::Phe => extras::phe_measures(&ge, req.level),
                    Method::Design => indices::sii_rii(design, &ridits, req.level),
                });
                measures.extend(extremes::gap_and_ratio(&ge, req.level)?);
                measures.extend(concentration::concentration(design, &ridits, bounds, req.level)?);
                measures.extend(attributable::par_paf(design, &ridits, &ge, req.level)?);
            }
        }
        let suppressed: Vec<String> = ge
            .present()
            .into_iter()
            .filter(|&g| ge.suppressed[g])
            .map(|g| ge.levels[g].to_string())
            .collect();
        if !suppressed.is_empty() {
            let note = format!(
                "computed from the microdata of every group, suppressed group(s) {} included",
                suppressed.join(", ")
            );
            for m in measures.iter_mut().filter(|m| m.estimate.is_some() && m.measure.uses_every_group()) {
                m.notes.push(note.clone());
            }
        }
    } else {
        measures.extend(extras::unordered_on(std, unordered::unordered(design, codes, &ge, req.level)?, req.level));
    }
    if og.ordered && ge.present().len() < 2 {
        withhold_all(&mut measures, req.level, "not computable: fewer than two groups have rows");
    }
    let naming = words::Naming::new(&og.variable, &og.levels, ge.statistic == "proportion", higher_is);
    for m in &mut measures {
        if m.words.is_none() {
            m.words = words::sentence(m, &naming);
        }
    }
    let change = extras::change_between_waves(p, og, req, &ge, combined)?;
    let tests = if req.tests {
        Some(extras::group_tests(p, og, &ge, std, req.level)?)
    } else {
        None
    };
    let mut notes = Vec::new();
    if og.direction_assumed {
        notes.push(format!(
            "the first level of '{}' ({}) is taken as the most deprived",
            og.variable,
            og.levels.first().map(Level::to_string).unwrap_or_default()
        ));
    }
    Ok(OutcomeInequality {
        survey: p.def.survey.clone(),
        waves: p.waves.clone(),
        outcome: outcome.to_string(),
        statistic: ge.statistic,
        over: og.variable.clone(),
        order: og.levels.clone(),
        ordered: og.ordered,
        direction_assumed: og.direction_assumed,
        higher_is,
        groups: ge.rows,
        measures,
        notes,
        standardised: standardised.map(|s| s.1),
        change,
        tests,
    })
}

/// Withholds every measure, each keeping its kind, with the same reason: a gradient needs two
/// groups with rows, and with one every measure would be 0, 1 or undefined.
fn withhold_all(measures: &mut [Measure], level: f64, why: &str) {
    for m in measures.iter_mut() {
        *m = Measure::withheld(m.measure, level, why.to_string());
    }
}
