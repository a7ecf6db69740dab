//! What can go wrong reading a definition: [`SchemaError`], and the [`Diagnostic`]s that list
//! every problem of a definition with its file, line and column.
//!
//! Owns the error types of the `schema` module and how they print. It finds no problems itself
//! (the loader and the instrument library do) and must not depend on anything outside
//! `schema`.

use std::fmt;

/// One problem in a definition, with the file it is in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// File name as given.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// One line whatever the message echoes (control characters escaped, see [`crate::text`]).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::escape;
        write!(f, "{}:{}:{}: {}", escape(&self.file), self.line, self.col, escape(&self.message))
    }
}

/// All the problems found in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Errors from reading a definition.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The file could not be read.
    #[error("{path}: cannot read")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid UTF-8.
    #[error("{path}:{line}:{col}: not UTF-8 text: byte 0x{byte:02x} (byte offset {offset}); save the file as UTF-8")]
    NotUtf8 {
        /// The file.
        path: String,
        /// Line of the first bad byte, from 1.
        line: usize,
        /// Column of the first bad byte, from 1, in characters of the line's valid text.
        col: usize,
        /// The first bad byte.
        byte: u8,
        /// Its offset in the file, from 0.
        offset: usize,
    },
    /// The definition has problems (one line each).
    #[error("{0}")]
    Invalid(Diagnostics),
}
