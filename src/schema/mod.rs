//! The survey definition: the YAML format, its checked model, the expression language and the
//! instrument library.
//!
//! Owns everything a definition file means. It depends on nothing else in hearth (the store,
//! capture and analysis all depend on it), names no database and does no terminal I/O.
//! Entry points: [`load_file`] / [`load_str`] for a survey, [`Library::builtin`] for instruments,
//! [`infer`] for a starting definition from existing data.

pub mod expr;
pub mod infer;
pub mod instruments;
#[cfg(test)]
mod instruments_tests;
pub mod load;
pub mod model;
pub mod yaml;

use std::path::Path;

pub use instruments::Library;
pub use load::{Diagnostic, Diagnostics};
pub use model::*;

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
    #[error("{path}: not UTF-8 text (byte offset {offset})")]
    NotUtf8 {
        /// The file.
        path: String,
        /// First bad byte.
        offset: usize,
    },
    /// The definition has problems (one line each).
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Loads and checks a definition from text with the shipped instruments.
pub fn load_str(text: &str, file: &str) -> Result<Definition, SchemaError> {
    let lib = Library::builtin().map_err(SchemaError::Invalid)?;
    load::load_str(text, file, lib).map_err(SchemaError::Invalid)
}

/// Loads and checks a definition file with the shipped instruments.
pub fn load_file(path: &Path) -> Result<Definition, SchemaError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SchemaError::Read { path: name.clone(), source })?;
    let text = String::from_utf8(bytes).map_err(|e| SchemaError::NotUtf8 {
        path: name.clone(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    load_str(&text, &name)
}
