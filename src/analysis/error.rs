//! The errors of analysis, and the warnings it hands back with its results.
//!
//! Owns what can go wrong between a request and its rows: a request that cannot be answered
//! ([`RequestError`], found before any data is read), a variable or geography the store cannot
//! give, a subpopulation that does not compile, a design that cannot be used, no data. Each
//! variant carries the names and values a message needs as fields and keeps its cause as its
//! `source()`. Messages are in the library's words: they name request fields and variables,
//! never the flags or commands of the `hearth` binary, which rewords them (`cli::analyze`).
//! Must not format results or know about the command line.

use crate::schema::expr::{self, ExprType};
use crate::store::StoreError;

use super::engine::DesignError;

/// Errors of analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request cannot be answered as it stands (see [`super::Request::check`]).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A variable is not in the definition.
    #[error("unknown variable '{name}'{suggestion}")]
    UnknownVariable {
        /// The name asked for.
        name: String,
        /// A " (did you mean 'x'?)" suggestion, or "".
        suggestion: String,
    },
    /// A geography variable with no geography loaded.
    #[error("'{variable}' needs geography: load an area lookup into the store (and a `geography:` section in the definition)")]
    NoGeography {
        /// The variable asked for.
        variable: String,
    },
    /// An outcome is text where the statistic needs numbers.
    #[error("outcome '{outcome}' is text: only the proportions of its categories can be estimated")]
    TextOutcome {
        /// The outcome variable.
        outcome: String,
    },
    /// A ratio's denominator is text.
    #[error("denominator '{denominator}' is text: a ratio needs a numeric denominator")]
    TextDenominator {
        /// The denominator variable.
        denominator: String,
    },
    /// A variable to factorise (a breakdown, a design variable, a proportion's categories) has
    /// too many distinct numeric values to be a grouping.
    #[error("'{variable}' has more than {limit} distinct values; a breakdown needs a grouping variable")]
    TooManyLevels {
        /// The variable.
        variable: String,
        /// The most distinct values a grouping may have.
        limit: usize,
    },
    /// The subpopulation expression is invalid.
    #[error("subpopulation {}: {problem}", shown_expression(.text))]
    Where {
        /// The expression as given.
        text: String,
        /// What is wrong with it.
        problem: WhereProblem,
    },
    /// A weight set cannot be used.
    #[error("weight set '{name}' cannot be used")]
    WeightSet {
        /// The set asked for.
        name: String,
        /// Why.
        #[source]
        source: Box<super::weighting::WeightError>,
    },
    /// The design cannot be used.
    #[error("the sample design cannot be used")]
    Design(#[from] DesignError),
    /// A design variable is missing for a record.
    #[error("design variable '{variable}' has no value for {count} record(s) (first: row {row}); every record needs it")]
    MissingDesignValue {
        /// The variable.
        variable: String,
        /// How many records lack it.
        count: usize,
        /// First row without it (1-based, in store order).
        row: usize,
    },
    /// No responses in the waves asked for.
    #[error("no responses to analyse{}", in_waves(.waves))]
    NoData {
        /// The waves asked for (empty: all).
        waves: Vec<i64>,
    },
    /// An inequality request that cannot be answered.
    #[error(transparent)]
    Inequality(#[from] super::inequality::InequalityError),
    /// Polars failed (a bug, or a resource limit).
    #[error("dataframe error")]
    Polars(#[source] polars::error::PolarsError),
}

impl AnalysisError {
    /// Wraps a Polars error.
    pub(crate) fn polars(e: polars::error::PolarsError) -> AnalysisError {
        AnalysisError::Polars(e)
    }
}

/// A request that cannot be answered, whatever the data: found by [`super::Request::check`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No outcome variable.
    #[error("the request names no outcome")]
    NoOutcome,
    /// A ratio without a denominator.
    #[error("a ratio needs a denominator")]
    NoDenominator,
    /// A denominator for a statistic other than a ratio.
    #[error("a denominator ('{denominator}') is only for a ratio, not a {stat}")]
    DenominatorWithoutRatio {
        /// The denominator given.
        denominator: String,
        /// The statistic asked for.
        stat: &'static str,
    },
    /// A confidence level outside [0.5, 1).
    #[error("confidence level {level} must be between 0.5 and 1")]
    Level {
        /// The level given.
        level: f64,
    },
    /// Quantiles asked for with no probability.
    #[error("quantiles need at least one probability")]
    NoQuantiles,
    /// A quantile probability outside [0, 1].
    #[error("quantile probability {p} is not between 0 and 1")]
    Quantile {
        /// The probability given.
        p: f64,
    },
    /// The likelihood interval of a proportion asked for under replicate variance.
    #[error("the likelihood interval of a proportion is not available with replicate weights: use the logit, beta, xlogit, asin, mean or wilson interval")]
    ReplicateLikelihood,
    /// Fay's coefficient outside (0, 1).
    #[error("Fay's rho {rho} must be between 0 and 1 (exclusive)")]
    FayRho {
        /// The value given.
        rho: f64,
    },
    /// Replicate variance asked for with a stored weight set: each replicate would need the
    /// set's calibration redone on its weights (as R's calibrated replicate designs), which is
    /// not built yet. (To be raised by [`super::Request::check`] once requests name weight
    /// sets.)
    #[error("replicate variance with the weight set '{name}' is not available yet: each replicate would need the calibration redone; use Taylor variance with a weight set")]
    ReplicateWithWeights {
        /// The weight set named.
        name: String,
    },
    /// Fewer than two bootstrap replicates.
    #[error("{replicates} bootstrap replicate(s): at least 2 are needed")]
    BootstrapReplicates {
        /// The number given.
        replicates: usize,
    },
}

/// What is wrong with a subpopulation expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WhereProblem {
    /// It does not compile: the problems at their columns.
    #[error("{}", problem_list(.problems))]
    Invalid {
        /// Each problem, at its 0-based character offset.
        problems: Vec<expr::ExprError>,
    },
    /// It is not a condition.
    #[error("must be a condition (boolean), found a {}", .found.name())]
    NotACondition {
        /// The type it has.
        found: ExprType,
    },
}

/// A warning handed back with results: the results stand, but a reader must know this.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// Disclosure control was turned off: small cells are shown.
    SuppressionOff,
    /// Wards of the loaded lookup that no LSOA maps to, so no ward breakdown can show them.
    OrphanWards {
        /// How many.
        count: usize,
    },
    /// The design's fpc is not used by the replicate method (BRR and Fay, as R).
    ReplicateFpcDropped {
        /// The method.
        method: &'static str,
    },
    /// FPCs after the first stage are not used by replicate weights (as R).
    ReplicateLaterFpcDropped,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::SuppressionOff => f.write_str("disclosure control is off: small cells are shown; do not publish these tables as they are"),
            Warning::OrphanWards { count } => write!(
                f,
                "{count} ward(s) of the loaded lookup have no LSOA (best-fit lookup) and can never appear in a ward breakdown"
            ),
            Warning::ReplicateFpcDropped { method } => {
                write!(
                    f,
                    "the design's finite population correction is not used by {method} replicate weights (as in R)"
                )
            }
            Warning::ReplicateLaterFpcDropped => f.write_str("finite population corrections after the first stage are not used by replicate weights (as in R)"),
        }
    }
}

/// An expression as messages show it: whole, or its start and length when too long to repeat.
pub fn shown_expression(text: &str) -> String {
    const LONG: usize = 100;
    if text.chars().count() <= LONG {
        return text.to_string();
    }
    let start: String = text.chars().take(60).collect();
    format!("{start}... ({} characters)", text.chars().count())
}

/// The problems of an expression on one line: the first few, then how many more (a long
/// expression may repeat one mistake thousands of times).
fn problem_list(errs: &[expr::ExprError]) -> String {
    const SHOWN: usize = 5;
    let mut m = errs
        .iter()
        .take(SHOWN)
        .map(|e| format!("column {}: {}", e.at + 1, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    if errs.len() > SHOWN {
        m.push_str(&format!("; and {} more problem(s)", errs.len() - SHOWN));
    }
    m
}

fn in_waves(waves: &[i64]) -> String {
    if waves.is_empty() {
        String::new()
    } else {
        format!(" in wave(s) {waves:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_no_flags() {
        let errors: Vec<AnalysisError> = vec![
            RequestError::NoOutcome.into(),
            RequestError::NoDenominator.into(),
            RequestError::DenominatorWithoutRatio {
                denominator: "age".into(),
                stat: "mean",
            }
            .into(),
            RequestError::Level { level: 1.5 }.into(),
            RequestError::NoQuantiles.into(),
            RequestError::Quantile { p: 2.0 }.into(),
            RequestError::ReplicateLikelihood.into(),
            RequestError::FayRho { rho: 2.0 }.into(),
            RequestError::BootstrapReplicates { replicates: 1 }.into(),
            RequestError::ReplicateWithWeights { name: "ps".into() }.into(),
            AnalysisError::NoGeography { variable: "ward".into() },
            AnalysisError::TextOutcome { outcome: "name".into() },
            AnalysisError::TextDenominator { denominator: "name".into() },
            AnalysisError::TooManyLevels {
                variable: "id".into(),
                limit: 5000,
            },
            AnalysisError::Where {
                text: "age >".into(),
                problem: WhereProblem::NotACondition { found: ExprType::Num },
            },
            AnalysisError::NoData { waves: vec![3] },
        ];
        for e in errors {
            let m = e.to_string();
            assert!(!m.contains("--") && !m.contains("hearth "), "{m}");
        }
        for w in [
            Warning::SuppressionOff,
            Warning::OrphanWards { count: 2 },
            Warning::ReplicateFpcDropped { method: "BRR" },
            Warning::ReplicateLaterFpcDropped,
        ] {
            assert!(!w.to_string().contains("--"), "{w}");
        }
    }

    #[test]
    fn a_long_expression_is_shown_by_its_start_and_length() {
        assert_eq!(shown_expression("age > 3"), "age > 3");
        let long = "a".repeat(150);
        assert_eq!(shown_expression(&long), format!("{}... (150 characters)", "a".repeat(60)));
    }

    #[test]
    fn many_problems_are_counted_not_listed() {
        let problems: Vec<expr::ExprError> = (0..8)
            .map(|i| expr::ExprError {
                at: i * 7,
                message: "unknown question 'x'".into(),
            })
            .collect();
        let m = WhereProblem::Invalid { problems }.to_string();
        assert!(m.starts_with("column 1: unknown question 'x'; column 8: "), "{m}");
        assert!(m.ends_with("column 29: unknown question 'x'; and 3 more problem(s)"), "{m}");
    }

    #[test]
    fn no_data_names_the_waves_asked_for() {
        assert_eq!(AnalysisError::NoData { waves: vec![] }.to_string(), "no responses to analyse");
        assert_eq!(
            AnalysisError::NoData { waves: vec![9, 8] }.to_string(),
            "no responses to analyse in wave(s) [9, 8]"
        );
    }

    #[test]
    fn r16_causes_are_sources_not_text() {
        use std::error::Error as _;
        let e = AnalysisError::from(DesignError::Empty);
        assert_eq!(e.to_string(), "the sample design cannot be used");
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("the design has no rows"));
        let p = AnalysisError::polars(polars::error::PolarsError::NoData("empty".into()));
        assert!(p.source().is_some());
        assert!(!p.to_string().contains("empty"), "{p}");
    }
}
