//! Errors of the geography module.
//!
//! This file owns the three error types: [`DataError`] (one problem in one cell or row of a
//! geography file, always naming the file, the 1-based line as an editor shows it with the
//! header on line 1, the 1-based column and the value), [`GeoError`] (why a load failed as a
//! whole: unreadable file, unrecognised headers, a list of data errors, incompatible
//! vintages) and [`ResolveError`] (why a code or postcode could not be resolved). Messages
//! are lower case and start with the path, e.g.
//! `imd.csv:12:1: duplicate LSOA E01000001 (first seen on line 3)`.

use super::codes::{IndexKind, LsoaVintage, Nation};
use super::read::FileFormat;

/// At most this many [`DataError`]s are kept per file; the rest are counted.
pub const MAX_ERRORS: usize = 50;

/// One problem in a geography file. Every variant names the file (`path`), the line
/// (1-based, header = line 1), the column (1-based) and the offending value.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// A code that does not have the expected form.
    #[error("{path}:{line}:{column}: malformed {what} {value:?} (expected {expected})")]
    MalformedCode {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// The kind of code, e.g. `LSOA code`.
        what: &'static str,
        /// The cell.
        value: String,
        /// What a valid code looks like.
        expected: &'static str,
    },
    /// A key (LSOA, ward, postcode) that appeared on an earlier line.
    #[error("{path}:{line}:{column}: duplicate {what} {value} (first seen on line {first_line})")]
    Duplicate {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// `LSOA`, `ward`, `postcode`...
        what: &'static str,
        /// The duplicated key.
        value: String,
        /// Where it was first seen.
        first_line: u64,
    },
    /// A number that is not a whole number (thousands separators are accepted).
    #[error("{path}:{line}:{column}: {what} {value:?} is not a whole number")]
    BadNumber {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// `rank`, `decile`, `population`...
        what: &'static str,
        /// The cell.
        value: String,
    },
    /// A rank outside 1..=N for the index.
    #[error("{path}:{line}:{column}: {index} rank {value} is out of range 1..={n}")]
    RankOutOfRange {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// The rank.
        value: String,
        /// The index.
        index: IndexKind,
        /// N, the number of areas in the index.
        n: u32,
    },
    /// A published decile that disagrees with the rank under the index's rule.
    #[error("{path}:{line}:{column}: {index} decile {value} does not match rank {rank}: expected {expected} ({rule}, N = {n})")]
    DecileMismatch {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// The published decile.
        value: String,
        /// The rank on the same row.
        rank: u32,
        /// The decile the rule gives.
        expected: u8,
        /// The index.
        index: IndexKind,
        /// The rule, e.g. `ceil(rank x 10 / N)`.
        rule: &'static str,
        /// N.
        n: u32,
    },
    /// A code of another nation than the index covers, e.g. a Welsh `W01` code in the
    /// English index.
    #[error("{path}:{line}:{column}: {value} is a code from {found}, but the {index} index covers {expected} only")]
    WrongNation {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// The code.
        value: String,
        /// The code's nation.
        found: Nation,
        /// The index's nation.
        expected: Nation,
        /// The index.
        index: IndexKind,
    },
    /// A code of the wrong LSOA vintage, e.g. an LSOA 2021-only code in an LSOA 2011 file.
    #[error("{path}:{line}:{column}: {value} is an {found} code, but this file is on {expected} boundaries")]
    WrongVintage {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// The code.
        value: String,
        /// The code's vintage.
        found: LsoaVintage,
        /// The file's vintage.
        expected: LsoaVintage,
    },
    /// A row with fewer (truncated) or more fields than the header.
    #[error("{path}:{line}:{column}: row has {found} fields but the header has {expected} (truncated or misaligned row)")]
    WrongFieldCount {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// The first column missing or extra.
        column: usize,
        /// The row's fields, joined with commas (cut to 80 characters).
        value: String,
        /// Fields found.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A required cell that is empty.
    #[error("{path}:{line}:{column}: missing {what}")]
    Missing {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// What should be there.
        what: &'static str,
        /// Always empty; kept so every variant has a value.
        value: String,
    },
    /// A row that contradicts an earlier row, e.g. a ward given two different LADs.
    #[error("{path}:{line}:{column}: {value}: {message}")]
    Inconsistent {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column.
        column: usize,
        /// The cell.
        value: String,
        /// What disagrees with what.
        message: String,
    },
    /// More rows than the index has areas.
    #[error("{path}:{line}:{column}: {value} rows, but the {index} index has only {n} areas")]
    TooManyAreas {
        /// File.
        path: String,
        /// Line of the first row beyond N.
        line: u64,
        /// Always 1.
        column: usize,
        /// The row count.
        value: String,
        /// The index.
        index: IndexKind,
        /// N.
        n: u32,
    },
    /// The ranks of a complete index do not form a ranking (1..N with ties sharing a rank
    /// and the next rank skipped).
    #[error("{path}:{line}:{column}: {index} rank {value} breaks the ranking: after {before} of {n} areas the next rank should be {expected} or a tie")]
    NotARanking {
        /// File.
        path: String,
        /// Line of the offending row.
        line: u64,
        /// Column of the rank.
        column: usize,
        /// The rank.
        value: String,
        /// The index.
        index: IndexKind,
        /// Areas with a smaller rank.
        before: u32,
        /// The rank expected.
        expected: u32,
        /// N.
        n: u32,
    },
    /// A CSV syntax or encoding problem.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Column (1 when unknown).
        column: usize,
        /// The text near the problem, if any.
        value: String,
        /// What the CSV reader said.
        message: String,
    },
}

/// Why a geography file or a combination of files could not be loaded. A failed load
/// returns no partial result.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// File.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CSV reader could not read the file (other than an I/O error).
    #[error("{path}:{line}:1: cannot read the file as CSV")]
    Csv {
        /// File.
        path: String,
        /// Line where the reader stopped.
        line: u64,
        /// What the CSV reader said.
        #[source]
        source: csv::Error,
    },
    /// The file has no header line.
    #[error("{path}:1:1: empty file, expected a header line")]
    Empty {
        /// File.
        path: String,
    },
    /// The headers match none of the known formats.
    #[error("{path}:1:1: unrecognised geography file\n  headers found: {}\n  expected one of:\n{}", crate::text::escape(&found.join(" | ")), expected.iter().map(|e| format!("    - {e}")).collect::<Vec<_>>().join("\n"))]
    UnrecognisedHeaders {
        /// File.
        path: String,
        /// The headers read from line 1 (BOM removed).
        found: Vec<String>,
        /// One line per known format: its name and the headers it needs.
        expected: Vec<String>,
    },
    /// The file is a known format but not the kind asked for (e.g. a ward lookup given as
    /// `--imd`).
    #[error("{path}:1:1: this is {found} ({provides}), but {expected} was expected here")]
    WrongRole {
        /// File.
        path: String,
        /// The format found.
        found: FileFormat,
        /// What the file provides.
        provides: String,
        /// What was asked for.
        expected: &'static str,
    },
    /// The file's rows have problems; all of them (up to [`MAX_ERRORS`]) are listed.
    #[error("{path}: {} problem(s), nothing loaded:\n{}{}", errors.len() + more, errors.iter().map(|e| format!("  {}", crate::text::escape(&e.to_string()))).collect::<Vec<_>>().join("\n"), if *more > 0 { format!("\n  ... and {more} more") } else { String::new() })]
    Invalid {
        /// File.
        path: String,
        /// The problems found, in file order.
        errors: Vec<DataError>,
        /// How many more problems were found beyond [`MAX_ERRORS`].
        more: usize,
    },
    /// Two lookups that cannot be combined (e.g. an LSOA 2011 ward lookup with IMD 2025).
    #[error("{path}: {message}")]
    Incompatible {
        /// The file that does not fit.
        path: String,
        /// Why.
        message: String,
    },
    /// [`super::GeographyBuilder::build`] was called without a deprivation index.
    #[error("no deprivation index loaded: give an index file (e.g. IMD 2019 File 2) or a builtin")]
    NoIndex,
}

/// Why a code or postcode could not be resolved against a [`super::Geography`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Not an LSOA or data zone code at all.
    #[error("malformed LSOA code {value:?} (expected E01, W01 or S01 followed by 6 digits)")]
    Malformed {
        /// The text given.
        value: String,
    },
    /// A well-formed code that is not in the index.
    #[error("unknown LSOA {value}: not in the {index} index")]
    Unknown {
        /// The code.
        value: String,
        /// The index.
        index: IndexKind,
    },
    /// A code of a nation the index does not cover.
    #[error("LSOA {value} is in {found}, but the {index} index covers {expected} only")]
    WrongNation {
        /// The code.
        value: String,
        /// The code's nation.
        found: Nation,
        /// The index's nation.
        expected: Nation,
        /// The index.
        index: IndexKind,
    },
    /// A code of the wrong vintage (an LSOA 2021-only code against an LSOA 2011 index).
    #[error("LSOA {value} is an {found} code, but the {index} index is on {expected} boundaries")]
    WrongVintage {
        /// The code.
        value: String,
        /// The code's vintage.
        found: LsoaVintage,
        /// The index's vintage.
        expected: LsoaVintage,
        /// The index.
        index: IndexKind,
    },
    /// Not a postcode.
    #[error("malformed postcode {value:?} (expected e.g. PR1 2HE)")]
    MalformedPostcode {
        /// The text given.
        value: String,
    },
    /// No postcode directory was loaded.
    #[error("postcode {value}: no postcode lookup loaded")]
    NoPostcodeLookup {
        /// The postcode.
        value: String,
    },
    /// The postcode is not in the loaded directory.
    #[error("unknown postcode {value}: not in the postcode lookup")]
    UnknownPostcode {
        /// The postcode.
        value: String,
    },
    /// The postcode has no small area of the index's vintage (e.g. Channel Islands, or
    /// only an LSOA 2021 in the directory against IMD 2019).
    #[error("postcode {value} has no {vintage} area in the postcode lookup")]
    PostcodeWithoutArea {
        /// The postcode.
        value: String,
        /// The vintage needed.
        vintage: LsoaVintage,
    },
}
