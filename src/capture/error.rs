//! What goes wrong getting answers in: [`RowProblem`], one problem of the input placed by file,
//! line, column, record, question and value, and [`CaptureError`], the module's error.
//!
//! Owns how a problem reads (one line, whatever the values hold) and how many an error shows.
//! It only describes: it must not read files or touch the store.

use std::fmt;

use crate::store::StoreError;

/// One problem in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct RowProblem {
    /// File.
    pub file: String,
    /// Line (1 = header).
    pub line: u64,
    /// Column number (1-based), when one column is at fault.
    pub column: Option<usize>,
    /// Record key, e.g. `household_id=H12/person_id=2`.
    pub record: Option<String>,
    /// Question id.
    pub question: Option<String>,
    /// The offending value.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl RowProblem {
    /// A problem of a whole line (no column, record, question or value to name).
    pub(crate) fn line(file: &str, line: u64, message: String) -> RowProblem {
        RowProblem {
            file: file.to_string(),
            line,
            column: None,
            record: None,
            question: None,
            value: None,
            message,
        }
    }
}

/// One line whatever the values hold: control characters (newlines in a quoted field, NUL)
/// are escaped (see [`crate::text`]).
impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::escape;
        write!(f, "{}:{}", escape(&self.file), self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        f.write_str(": ")?;
        if let Some(r) = &self.record {
            write!(f, "record {}: ", escape(r))?;
        }
        if let Some(q) = &self.question {
            write!(f, "question '{}': ", escape(q))?;
        }
        if let Some(v) = &self.value {
            write!(f, "value '{}': ", escape(v))?;
        }
        f.write_str(&escape(&self.message))
    }
}

/// Errors of getting answers in: an import, an edit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The input has problems; nothing was written.
    #[error("{} problem(s) in the input; nothing was imported, the store is unchanged:\n{}{}", total, problems.iter().take(SHOWN).map(|p| p.to_string()).collect::<Vec<_>>().join("\n"), if *total > SHOWN.min(problems.len()) { format!("\n... and {} more", total - SHOWN.min(problems.len())) } else { String::new() })]
    Invalid {
        /// The first problems (at most 200).
        problems: Vec<RowProblem>,
        /// How many in all.
        total: usize,
    },
    /// A file could not be read or written.
    #[error("{path}: {what}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An edit was refused; nothing was changed.
    #[error(transparent)]
    Edit(#[from] super::edit::EditError),
    /// An interview refused a request.
    #[error(transparent)]
    Interview(Box<super::interview::InterviewError>),
    /// A merge was refused; nothing was merged.
    #[error(transparent)]
    Merge(#[from] super::merge::MergeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Problems kept in an error or a report (the count goes on).
pub(crate) const MAX_REPORTED: usize = 200;
/// Problems shown in the error message (all are kept in the error value, up to 200).
const SHOWN: usize = 25;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r15_row_problem_is_one_line() {
        let p = RowProblem {
            file: "a.csv".into(),
            line: 3,
            column: Some(2),
            record: Some("household_id=H\u{0}".into()),
            question: Some("age".into()),
            value: Some("4\n\u{1b}[31m".into()),
            message: "'4\n' is not a whole number".into(),
        };
        let s = p.to_string();
        assert!(!s.chars().any(crate::text::is_unsafe), "{s:?}");
        assert_eq!(
            s,
            "a.csv:3:2: record household_id=H\\u{0}: question 'age': value '4\\n\\u{1b}[31m': '4\\n' is not a whole number"
        );
    }

    #[test]
    fn invalid_shows_the_first_problems_and_counts_the_rest() {
        let problems: Vec<RowProblem> = (1..=30).map(|i| RowProblem::line("a.csv", i, format!("bad {i}"))).collect();
        let e = CaptureError::Invalid { problems, total: 40 };
        let s = e.to_string();
        assert!(s.starts_with("40 problem(s) in the input; nothing was imported"), "{s}");
        assert!(s.contains("a.csv:25: bad 25") && !s.contains("a.csv:26:"), "{s}");
        assert!(s.ends_with("\n... and 15 more"), "{s}");
    }
}
