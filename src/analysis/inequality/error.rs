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
}
