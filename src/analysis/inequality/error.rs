//! The errors of inequality analysis that the rest of analysis does not have.
//!
//! Owns what an inequality request can get wrong beyond an analysis request: a part not built
//! yet, a grouping with too few groups for a measure. Messages are in the library's words (no
//! flag names: the binary rewords them). Must not format results.

/// Errors of inequality analysis.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InequalityError {
    /// A part of inequality analysis that is not available yet.
    #[error("{what} is not yet available")]
    NotYetAvailable {
        /// What was asked for.
        what: &'static str,
    },
    /// The standard population or its fit to the survey's bands.
    #[error(transparent)]
    Standard(#[from] super::standard::StandardError),
    /// A weight set with a part that does not carry its calibration yet.
    #[error("a weight set with {with} is not available yet (its variance would not account for the calibration)")]
    WeightsWith {
        /// The part asked for with the weight set.
        with: &'static str,
    },
    /// A standard population without standardising variables.
    #[error("a standard population is given but no variables to standardise by")]
    StandardWithoutVariables,
    /// A change between two waves where one has no rows.
    #[error("the change between waves {} and {} needs rows in both: none in wave {}", waves[0], waves[1], missing.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))]
    WaveWithoutRows {
        /// The two waves asked for.
        waves: [i64; 2],
        /// Those without rows.
        missing: Vec<i64>,
    },
}
