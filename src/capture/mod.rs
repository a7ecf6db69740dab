//! Getting answers in: parsing and checking answers (`answer`), checking one record
//! (`record`) and writing it (`write`), importing files (`import`, with its parts), attaching
//! areas (`areas`). Depends on the schema, the store and geography; does no terminal I/O
//! (an import reports its progress through a callback). `edit` corrects one answer of a stored
//! record through the same checker, with an audit entry. `interview` is the interview engine
//! the terminal and the browser share: every answer saved as given, a finished household
//! written through the same checker and writer.
//! `merge` brings in the records and audit entries of other stores of the survey (interviewers'
//! laptops), all or nothing.
//!
//! A record takes one path whatever brings it: its answers, as text by question, are checked
//! and scored by [`record::RecordChecker`], then matched to the store and inserted by
//! [`write::RecordWriter`]. A file import reads rows (`source`), places their columns
//! (`plan`), checks them on one thread (`check`) and writes them on another (`load`).

pub mod answer;
pub mod areas;
mod check;
pub mod edit;
mod error;
pub mod import;
pub mod interview;
mod load;
pub mod merge;
mod plan;
pub mod record;
mod source;
pub mod write;

pub use error::{CaptureError, RowProblem};
pub use import::{import_files, ImportOptions, ImportProgress, ImportReport, ProgressFn};
