//! Getting answers in: parsing and checking answers and records (`answer`), importing files
//! (`import`). Depends on the schema and the store; does no terminal I/O besides an optional
//! progress bar.

pub mod answer;
pub mod areas;
pub mod import;

pub use import::{import_files, CaptureError, ImportOptions, ImportReport, RowProblem};
