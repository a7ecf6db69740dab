//! Design-based estimation engine: this module owns the survey design (strata,
//! multistage clusters, finite population corrections, weights, lonely-PSU rule),
//! domain ("by" group) estimation of means, totals, ratios, proportions and
//! quantiles with Taylor-linearisation standard errors, and the covariance of group
//! estimates. It reproduces R's `survey` package (4.x; reference values from 4.1.1)
//! to a relative 1e-6.
//!
//! Layout:
//! - [`design`]: [`Design`] construction and validation from dense row codes.
//! - `variance`: PSU totals of influence values and the multistage variance of
//!   `survey::svyrecvar` (lonely-PSU rules, domains), plus group covariances.
//! - [`estimators`]: means, totals, ratios, proportions ([`PropCiMethod`]) and the
//!   result rows ([`Estimate`]); [`Linearization`] keeps influence values for
//!   covariances and contrasts.
//! - [`influence`]: the covariance of several statistics from their influence values
//!   ([`Design::influence_covariance`]): regression coefficients, functions of means.
//! - [`sums`]: weighted sums of an outcome per group with their covariance from one pass
//!   ([`Design::sums_per_group`]): the gradient measures of inequality as linear combinations.
//! - `calibration`: variances of a calibrated design (post-stratified, raked,
//!   calibrated weights): influence values replaced by their residuals from the
//!   calibration model, in `variance::unit_totals`, which every variance passes through.
//! - `quantile`: `svyquantile` 4.x (`qrule` "math"/"hf7", Woodruff interval).
//! - [`replicate`]: replicate-weight designs built from a [`Design`] (JK1, JKn, BRR,
//!   Fay, bootstrap, as R's `as.svrepdesign`) and replicate variances, for the
//!   estimators above and for any statistic through an estimator closure.
//! - `dist`: accurate quantile functions (t, normal, beta).
//!
//! Everything is dense and O(n) per (outcome, grouping): a [`Design`] is built once
//! and reused for many outcomes and groupings. The module depends only on `std`,
//! `statrs` and `thiserror`.

mod calibration;
pub mod design;
mod dist;
pub mod estimators;
pub mod influence;
mod quantile;
pub mod replicate;
pub mod sums;
mod variance;

#[cfg(test)]
mod conformance_tests;

pub use calibration::{solve_psd, CalibrationKind, CalibrationSpec, RAKING_SWEEPS};
pub use design::{Design, DesignSpec, LonelyPsu, Stage};
pub(crate) use dist::{qnorm, qt};
pub use estimators::{Estimate, EstimateOptions, GroupCovariance, Linearization, PropCiMethod, PsuTotal};
pub use influence::InfluenceCovariance;
pub use quantile::{QuantileEstimate, QuantileRule};
pub use replicate::{ReplicateDesign, ReplicateEstimates, ReplicateMethod};
pub use sums::GroupSums;

/// Errors from building a design or estimating from it. Row, stratum and PSU
/// indices are 0-based positions/codes; labels are the caller's original labels
/// when supplied (see [`DesignSpec::strata_labels`]), otherwise the code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DesignError {
    /// The design has no rows.
    #[error("the design has no rows")]
    Empty,
    /// A per-row input has the wrong length.
    #[error("{what} has {got} values but the design has {expected} rows")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Number of rows of the design.
        expected: usize,
        /// Length supplied.
        got: usize,
    },
    /// A weight is missing (NaN), infinite, zero or negative.
    #[error("row {row}: weight {value} is not a finite positive number")]
    InvalidWeight {
        /// Row index.
        row: usize,
        /// The offending value.
        value: f64,
    },
    /// An fpc value is missing, infinite or negative.
    #[error("row {row}, stage {stage}: fpc {value} is not a finite non-negative number")]
    InvalidFpc {
        /// Row index.
        row: usize,
        /// Stage (1-based).
        stage: usize,
        /// The offending value.
        value: f64,
    },
    /// Some fpc values are population sizes (> 1) and others sampling fractions (< 1).
    #[error("fpc mixes population sizes (row {big_row}: {big}) and sampling fractions (row {small_row}: {small}); use one or the other")]
    MixedFpc {
        /// A row with a value > 1.
        big_row: usize,
        /// Its value.
        big: f64,
        /// A row with a value < 1.
        small_row: usize,
        /// Its value.
        small: f64,
    },
    /// The fpc differs between rows of one stratum (stage 1) or one parent unit.
    #[error("stage {stage}: fpc is not constant within stratum {stratum} ({first} and {second})")]
    FpcNotConstant {
        /// Stage (1-based).
        stage: usize,
        /// Label of the stratum (stage 1) or of the enclosing unit (later stages).
        stratum: String,
        /// One value.
        first: f64,
        /// A different value in the same stratum.
        second: f64,
    },
    /// The population size is smaller than the number of units sampled.
    #[error("stage {stage}: stratum {stratum} has population size {population} but {sampled} units were sampled")]
    FpcTooSmall {
        /// Stage (1-based).
        stage: usize,
        /// Label of the stratum (stage 1) or of the enclosing unit.
        stratum: String,
        /// Population size implied by the fpc.
        population: f64,
        /// Number of distinct units sampled.
        sampled: usize,
    },
    /// No weights were given and the fpcs cannot imply them (fpc missing at a stage).
    #[error("no weights given and fpc missing at stage {stage}: weights cannot be implied")]
    WeightsNotImplied {
        /// Stage (1-based) without fpc.
        stage: usize,
    },
    /// A stratum code is outside the declared range of labels.
    #[error("row {row}: code {code} has no label ({labels} labels supplied for {what})")]
    MissingLabel {
        /// Row index.
        row: usize,
        /// The code.
        code: u32,
        /// Number of labels.
        labels: usize,
        /// Which labels.
        what: &'static str,
    },
    /// A stratum has a single PSU (not a certainty PSU) under `LonelyPsu::Fail`.
    #[error("stratum {stratum} has only one PSU ({psu}) at stage {stage}; choose a lonely_psu rule other than fail")]
    LonelyPsu {
        /// Stage (1-based).
        stage: usize,
        /// Stratum label (stage 1) or enclosing unit label (later stages).
        stratum: String,
        /// Label of the single unit.
        psu: String,
    },
    /// A group code is neither `< n_groups` nor [`Grouping::NONE`].
    #[error("row {row}: group code {code} is not below the number of groups {n_groups}")]
    InvalidGroup {
        /// Row index.
        row: usize,
        /// The code.
        code: u32,
        /// Declared number of groups.
        n_groups: usize,
    },
    /// A proportion's outcome is not in [0, 1].
    #[error("row {row}: value {value} is not a 0/1 indicator")]
    NotAProportion {
        /// Row index.
        row: usize,
        /// The value.
        value: f64,
    },
    /// An outcome value is infinite.
    #[error("row {row}: value {value} is not finite")]
    NonFiniteValue {
        /// Row index.
        row: usize,
        /// The value.
        value: f64,
    },
    /// An invalid argument (confidence level, quantile probability, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// JK1 asked of a stratified design.
    #[error("the JK1 jackknife is for an unstratified design, and this one has {strata} strata: use the stratified jackknife (JKn)")]
    Jk1Stratified {
        /// Number of strata.
        strata: usize,
    },
    /// Too few PSUs to make replicates.
    #[error("{method} needs at least 2 PSUs (in a stratum, for the bootstrap); the design has {psus}")]
    TooFewPsus {
        /// The replicate method.
        method: &'static str,
        /// PSUs of the design.
        psus: usize,
    },
    /// A replicate design too large to hold.
    #[error("{replicates} replicates of {psus} PSUs are too many to hold (a jackknife has one replicate per PSU: cluster the design, or use the bootstrap)")]
    TooManyReplicates {
        /// PSUs of the design.
        psus: usize,
        /// Replicates asked for or implied.
        replicates: usize,
    },
    /// BRR or Fay on a stratum without exactly two PSUs.
    #[error("BRR needs exactly 2 PSUs in every stratum: stratum {stratum} has {psus}")]
    BrrPairs {
        /// Label of the stratum.
        stratum: String,
        /// Its number of PSUs.
        psus: usize,
    },
    /// Something replicate weights cannot give.
    #[error("{what} is not available with replicate weights")]
    ReplicateUnsupported {
        /// What was asked.
        what: &'static str,
    },
    /// Too many groups for a dense covariance matrix.
    #[error("{groups} groups are too many for a covariance matrix (limit {limit})")]
    TooManyGroups {
        /// Number of groups.
        groups: usize,
        /// The limit.
        limit: usize,
    },
}

/// A grouping of rows into domains: a dense code per row (`0..n_groups`), or
/// [`Grouping::NONE`] for a row in no group. Crossed groupings are built by the
/// caller as a combined code. Domain estimation always uses the full design.
#[derive(Debug)]
pub struct Grouping {
    codes: Vec<u32>,
    n_groups: usize,
    /// The rows and design df of each group on the few designs it was used with (by the
    /// design's [`Design::uid`]): the same for every outcome estimated over the grouping.
    domains: std::sync::Mutex<Vec<(u64, variance::DomainSize)>>,
}

impl Clone for Grouping {
    fn clone(&self) -> Self {
        Self {
            codes: self.codes.clone(),
            n_groups: self.n_groups,
            domains: Default::default(),
        }
    }
}

impl PartialEq for Grouping {
    fn eq(&self, other: &Self) -> bool {
        self.codes == other.codes && self.n_groups == other.n_groups
    }
}

impl Grouping {
    /// Sentinel code of a row that belongs to no group.
    pub const NONE: u32 = u32::MAX;

    /// Builds a grouping; every code must be `< n_groups` or [`Grouping::NONE`].
    pub fn new(codes: Vec<u32>, n_groups: usize) -> Result<Self, DesignError> {
        if n_groups >= u32::MAX as usize {
            return Err(DesignError::InvalidArgument(format!("{n_groups} groups is too many")));
        }
        if let Some((row, &code)) = codes.iter().enumerate().find(|(_, &c)| c != Self::NONE && c as usize >= n_groups) {
            return Err(DesignError::InvalidGroup { row, code, n_groups });
        }
        Ok(Self {
            codes,
            n_groups,
            domains: Default::default(),
        })
    }

    /// Builds a grouping from optional codes (`None` = in no group).
    pub fn from_options(codes: &[Option<u32>], n_groups: usize) -> Result<Self, DesignError> {
        Self::new(codes.iter().map(|c| c.unwrap_or(Self::NONE)).collect(), n_groups)
    }

    /// The single group holding every one of `n_rows` rows ("overall").
    pub fn overall(n_rows: usize) -> Self {
        Self {
            codes: vec![0; n_rows],
            n_groups: 1,
            domains: Default::default(),
        }
    }

    /// A single group holding the rows where `in_domain` is true (a subpopulation).
    pub fn domain(in_domain: &[bool]) -> Self {
        Self {
            codes: in_domain.iter().map(|&b| if b { 0 } else { Self::NONE }).collect(),
            n_groups: 1,
            domains: Default::default(),
        }
    }

    /// Number of groups.
    pub fn n_groups(&self) -> usize {
        self.n_groups
    }

    /// Group code per row.
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }
}
