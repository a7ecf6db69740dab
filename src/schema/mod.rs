//! The survey definition: the YAML format, its checked model, the expression language and the
//! instrument library.
//!
//! Owns everything a definition file means. It depends on nothing else in hearth (the store,
//! capture and analysis all depend on it), names no database and does no terminal I/O.
//! Entry points: [`load_file`] / [`load_str`] for a survey, [`Library::builtin`] for instruments,
//! [`infer`] for a starting definition from existing data.
//!
//! Parts: [`yaml`] (text to positioned nodes), [`load`] (nodes to a checked [`Definition`], in
//! one part per thing it reads), [`model`] (the checked definition), [`expr`] (the expression
//! language), [`instruments`], [`error`] (what can go wrong, and the problem list).

pub mod date;
pub mod error;
pub mod expr;
pub mod infer;
pub mod instruments;
#[cfg(test)]
mod instruments_tests;
pub mod load;
pub mod model;
pub mod suggest;
pub mod yaml;

use std::path::Path;

pub use error::{Diagnostic, Diagnostics, SchemaError};
pub use instruments::Library;
pub use model::*;

/// Columns hearth adds to every record it exports, besides `UNIT_uuid` for each unit: a question
/// or derived variable may not take these names, and an import ignores such columns.
pub const SYSTEM_COLUMNS: &[&str] = &["wave", "version", "captured_at", "captured_by"];

/// The columns every response gets from the area lookup when a definition has a `geography:`
/// section, usable in `--by`, `--where` and exports (one list for analysis, export and import,
/// which ignores them when re-imported). A definition with geography may not use these ids.
pub const AREA_COLUMNS: &[&str] = &[
    "lsoa",
    "lsoa_name",
    "ward",
    "ward_name",
    "lad",
    "lad_name",
    "region",
    "region_name",
    "imd_rank",
    "imd_decile",
    "imd_quintile",
    "imd_local_decile",
    "imd_local_quintile",
];

/// Loads and checks a definition from text with the shipped instruments.
pub fn load_str(text: &str, file: &str) -> Result<Definition, SchemaError> {
    let lib = Library::builtin().map_err(SchemaError::Invalid)?;
    load::load_str(text, file, lib).map_err(SchemaError::Invalid)
}

/// Loads and checks a definition file with the shipped instruments.
pub fn load_file(path: &Path) -> Result<Definition, SchemaError> {
    let (text, name) = read_text(path)?;
    load_str(&text, &name)
}

/// Reads a YAML file as UTF-8 text; a bad byte is reported at its line and column.
fn read_text(path: &Path) -> Result<(String, String), SchemaError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SchemaError::Read { path: name.clone(), source })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok((text, name)),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
            let line_start = valid.rfind('\n').map(|i| i + 1).unwrap_or(0);
            Err(SchemaError::NotUtf8 {
                line: valid.matches('\n').count() + 1,
                col: valid[line_start..].chars().count() + 1,
                byte: bytes[offset],
                offset,
                path: name,
            })
        }
    }
}

/// A file `hearth validate` checked: a survey definition or an instrument.
#[derive(Debug)]
pub enum Checked {
    /// A survey definition.
    Definition(Box<Definition>),
    /// An instrument file (`instrument:` at the top), with its items and scores checked.
    Instrument(InstrumentCheck),
}

/// What checking an instrument file found.
#[derive(Debug, Clone)]
pub struct InstrumentCheck {
    /// Instrument id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Questions (items and notes).
    pub questions: usize,
    /// Scoring variables.
    pub scores: usize,
    /// Params a survey may override.
    pub params: usize,
}

/// Whether YAML text is an instrument file: a top-level `instrument:` key and no `survey:`.
pub fn is_instrument_text(text: &str) -> bool {
    let top = |key: &str| text.lines().any(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')));
    top("instrument") && !top("survey")
}

/// Checks a definition or an instrument file, recognised by its top-level key.
pub fn check_file(path: &Path) -> Result<Checked, SchemaError> {
    let (text, name) = read_text(path)?;
    if is_instrument_text(&text) {
        check_instrument_str(&text, &name).map(Checked::Instrument)
    } else {
        load_str(&text, &name).map(|d| Checked::Definition(Box::new(d)))
    }
}

/// Checks an instrument file: its own keys, then its items and scoring exactly as a survey
/// that lists it would (types, choices, expressions, params), with problems at its own lines.
pub fn check_instrument_str(text: &str, file: &str) -> Result<InstrumentCheck, SchemaError> {
    let own = Library::from_sources([(file.to_string(), text.to_string())]).map_err(SchemaError::Invalid)?;
    let doc = own
        .docs()
        .next()
        .expect("a library read from one file without problems holds its instrument")
        .clone();
    let lib = Library::builtin().map_err(SchemaError::Invalid)?.with(doc.clone());
    // a minimal survey whose one unit lists the instrument
    let key = "hearth_instrument_check_key";
    let wrapper = format!(
        "survey: instrument-check\ntitle: instrument check\nversion: 1\nunits:\n  - id: respondent\n    key: {key}\n    questions:\n      - {{id: {key}, type: integer, label: key}}\n    instruments: [{}]\n",
        doc.id
    );
    let def = load::load_str(&wrapper, file, &lib).map_err(SchemaError::Invalid)?;
    let unit = &def.units[0];
    Ok(InstrumentCheck {
        questions: unit.questions.iter().filter(|q| q.instrument.as_deref() == Some(doc.id.as_str())).count(),
        scores: unit.derived.iter().filter(|d| d.instrument.as_deref() == Some(doc.id.as_str())).count(),
        params: doc.params.len(),
        id: doc.id,
        title: doc.title,
    })
}
