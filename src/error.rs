//! The crate error: one variant per module error, nothing else.
//!
//! Owns only the mapping from module errors to the one type the library returns, which of
//! them are the user's input problems (exit 1) rather than usage or system errors (exit 2),
//! and which are lists of problems, one per line.

/// Any error hearth's library can return.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or checking a definition.
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    /// Inferring a definition.
    #[error(transparent)]
    Infer(#[from] crate::schema::infer::InferError),
    /// The store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Importing responses.
    #[error(transparent)]
    Capture(#[from] crate::capture::CaptureError),
    /// Export.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// Analysis.
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    /// Making a weight set.
    #[error(transparent)]
    Weighting(Box<crate::analysis::weighting::WeightError>),
    /// Reading geography files.
    #[error(transparent)]
    Geo(#[from] crate::geo::GeoError),
    /// Rendering results.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// The demo's own files.
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
    /// The browser interview's server.
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
}

/// A weighting error, boxed: it carries the numbers of a failed fit, and most results are
/// small.
impl From<crate::analysis::weighting::WeightError> for Error {
    fn from(e: crate::analysis::weighting::WeightError) -> Error {
        Error::Weighting(Box::new(e))
    }
}

impl Error {
    /// Whether the error is a problem in the user's input (exit code 1) rather than a usage or
    /// system error (exit code 2).
    pub fn is_input_problem(&self) -> bool {
        use crate::capture::CaptureError;
        use crate::schema::SchemaError;
        use crate::store::StoreError;
        match self {
            Error::Schema(e) => matches!(e, SchemaError::Invalid(_) | SchemaError::NotUtf8 { .. }),
            Error::Infer(_) => true,
            Error::Store(e) => matches!(e, StoreError::Incompatible { .. } | StoreError::BadStoredDefinition { .. }),
            Error::Capture(e) => match e {
                CaptureError::Interview(i) => matches!(**i, crate::capture::interview::InterviewError::NotReady { .. }),
                e => matches!(e, CaptureError::Invalid { .. } | CaptureError::Edit(_) | CaptureError::Merge(_)),
            },
            Error::Export(_) => false,
            Error::Analysis(crate::analysis::AnalysisError::WeightSet { source, .. }) => source.is_input_problem(),
            // a request that no data could answer (a level of 1.5, a ratio without a denominator) is
            // a usage error, as a value clap refuses is
            Error::Analysis(e) => !matches!(
                e,
                crate::analysis::AnalysisError::Store(_) | crate::analysis::AnalysisError::Polars(_) | crate::analysis::AnalysisError::Request(_)
            ),
            Error::Weighting(e) => e.is_input_problem(),
            Error::Geo(e) => !matches!(e, crate::geo::GeoError::Io { .. }),
            Error::Report(_) | Error::Demo(_) | Error::Web(_) => false,
        }
    }

    /// Whether the message is a list of problems, one per line (each line escapes the values
    /// it echoes, see [`crate::text`]), rather than one message that must show on one line.
    pub fn is_problem_list(&self) -> bool {
        use crate::capture::CaptureError;
        use crate::geo::GeoError;
        use crate::schema::SchemaError;
        use crate::store::StoreError;
        match self {
            Error::Schema(e) => matches!(e, SchemaError::Invalid(_)),
            Error::Store(e) => matches!(e, StoreError::Incompatible { .. }),
            Error::Capture(e) => matches!(
                e,
                CaptureError::Invalid { .. }
                    | CaptureError::Edit(crate::capture::edit::EditError::Invalid { .. })
                    | CaptureError::Merge(crate::capture::merge::MergeError::Refused { .. })
            ),
            Error::Geo(e) => matches!(e, GeoError::Invalid { .. } | GeoError::UnrecognisedHeaders { .. }),
            _ => false,
        }
    }
}

/// Result with the crate error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
