//! The errors of weighting: every one names the population file, line and value, the
//! variable and the numbers involved, so the user can fix the file or the request.
//!
//! Owns the messages only, in the library's words (request fields, never flags). Must not
//! compute anything.

use crate::analysis::AnalysisError;
use crate::store::StoreError;

/// Errors of making or using a weight set. Nothing is stored when one occurs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Loading the frame or building the design failed.
    #[error(transparent)]
    Analysis(Box<AnalysisError>),
    /// The request cannot be answered as it stands.
    #[error("{0}")]
    Request(String),
    /// A population file is not a valid table of counts.
    #[error("{file}:{line}: {problem}")]
    PopulationFile {
        /// The file as named.
        file: String,
        /// Line (1-based; the header is line 1).
        line: u64,
        /// What is wrong, with the value.
        problem: String,
    },
    /// A calibration variable has no answer for some records.
    #[error("'{variable}' has no answer for {count} record(s) (first: record {record}); every record weighted needs one")]
    MissingValue {
        /// The variable.
        variable: String,
        /// Records without an answer.
        count: usize,
        /// The first such record's UUID.
        record: String,
    },
    /// The sample has a category the population file lacks.
    #[error("{file}: no line for {cell}, which {records} record(s) of the sample have (weighted {weighted:.1}); add its count to the file")]
    NotInPopulation {
        /// The population file.
        file: String,
        /// The category, as `var = value, ...`.
        cell: String,
        /// Records with it.
        records: usize,
        /// Their weight before weighting.
        weighted: f64,
    },
    /// The population file has a category with a count but no record of the sample has it.
    #[error("{file}:{line}: {cell} has count {count} but no record of the sample has it (an empty cell): merge it with a neighbouring category")]
    NotInSample {
        /// The population file.
        file: String,
        /// Its line.
        line: u64,
        /// The category.
        cell: String,
        /// Its count.
        count: f64,
    },
    /// The population count of a category the sample has is zero.
    #[error("{file}:{line}: {cell} has count 0 but {records} record(s) of the sample have it: their weights would be 0")]
    ZeroCount {
        /// The population file.
        file: String,
        /// Its line.
        line: u64,
        /// The category.
        cell: String,
        /// Records with it.
        records: usize,
    },
    /// Two margins add up to different population totals.
    #[error("population totals disagree: {first} adds up to {first_total} but {other} to {other_total} (a difference of {difference}); every margin must count the same population")]
    TotalsDisagree {
        /// The first margin's file.
        first: String,
        /// Its total.
        first_total: f64,
        /// The margin that disagrees.
        other: String,
        /// Its total.
        other_total: f64,
        /// other - first.
        difference: f64,
    },
    /// Raking or calibration did not converge.
    #[error("{method} did not converge in {iterations} iterations: the largest {measure} in the last one was {largest} (tolerance {tolerance})")]
    NoConvergence {
        /// The method.
        method: &'static str,
        /// Iterations done.
        iterations: usize,
        /// What `largest` measures.
        measure: &'static str,
        /// The largest change or misfit left.
        largest: f64,
        /// The tolerance it had to be under.
        tolerance: f64,
    },
    /// Bounds that no weights can meet.
    #[error("bounds [{lower}, {upper}] cannot be met: {why}")]
    BoundsUnmet {
        /// Lower bound.
        lower: f64,
        /// Upper bound.
        upper: f64,
        /// Why, with the numbers.
        why: String,
    },
    /// Weighting gave weights that are zero or negative (linear calibration without bounds).
    #[error("{method} gives {count} weight(s) of zero or less (smallest {smallest}, record {record}); set bounds on the weight ratios")]
    NonPositiveWeights {
        /// The method.
        method: &'static str,
        /// How many.
        count: usize,
        /// The smallest weight.
        smallest: f64,
        /// A record with it.
        record: String,
    },
    /// No weight set of that name.
    #[error("no weight set named '{name}' in the store{}", known(.available))]
    NoWeightSet {
        /// The name asked for.
        name: String,
        /// The names stored.
        available: Vec<String>,
    },
    /// A stored weight set no longer fits the store's records.
    #[error("weight set '{name}' {problem}; make it again (with replace) to use it")]
    StaleWeightSet {
        /// The set.
        name: String,
        /// What changed.
        problem: String,
    },
}

impl From<AnalysisError> for WeightError {
    fn from(e: AnalysisError) -> WeightError {
        WeightError::Analysis(Box::new(e))
    }
}

fn known(names: &[String]) -> String {
    if names.is_empty() {
        " (it has none: make one first)".to_string()
    } else {
        format!(" (it has: {})", names.join(", "))
    }
}

impl WeightError {
    /// Whether the error is a problem in the user's input (exit 1) rather than a system error.
    pub fn is_input_problem(&self) -> bool {
        match self {
            WeightError::Store(e) => matches!(e, StoreError::WeightSetExists { .. }),
            WeightError::Analysis(e) => !matches!(**e, AnalysisError::Store(_) | AnalysisError::Polars(_)),
            // a request that cannot be answered is a usage error, as a flag's wrong value
            WeightError::Request(_) => false,
            _ => true,
        }
    }
}
