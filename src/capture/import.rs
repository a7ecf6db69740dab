//! File import: CSV and JSON Lines into the store, all or nothing.
//!
//! Owns reading response files (combined person files with household columns repeated,
//! separate household and person files, JSON Lines), checking every row against the
//! definition, matching rows to records already in the store (identical = no-op, different =
//! conflict), and writing them in one transaction. Problems are collected over the whole input
//! and reported together with file, line, column, record key, question and value; with any
//! problem nothing is written unless `skip_invalid` is set, in which case bad rows go to a
//! rejects file. Reading is streaming: memory holds one row plus a key index per household.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::answer::{check_and_derive, derived_cell, parse_answer};
use crate::schema::expr::Value;
use crate::schema::yaml::did_you_mean;
use crate::schema::{Definition, QType, Unit};
use crate::store::{unit_columns, Cell, Column, Store, StoreError, Writer};

/// Options of an import.
pub struct ImportOptions {
    /// The wave the responses belong to.
    pub wave: i64,
    /// Import valid rows and write the others to `rejects`.
    pub skip_invalid: bool,
    /// Where rejected rows go (with `skip_invalid`); default `<first file>.rejects.csv`.
    pub rejects: Option<PathBuf>,
    /// Recorded as `captured_by`.
    pub by: String,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Checks an LSOA code against loaded geography (None: format check only).
    pub lsoa_check: Option<super::areas::LsoaCheck>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            wave: 1,
            skip_invalid: false,
            rejects: None,
            by: crate::store::default_user(),
            progress: false,
            lsoa_check: None,
        }
    }
}

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
    fn line(file: &str, line: u64, message: String) -> RowProblem {
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

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        f.write_str(": ")?;
        if let Some(r) = &self.record {
            write!(f, "record {r}: ")?;
        }
        if let Some(q) = &self.question {
            write!(f, "question '{q}': ")?;
        }
        if let Some(v) = &self.value {
            write!(f, "value '{v}': ")?;
        }
        f.write_str(&self.message)
    }
}

/// Errors of an import.
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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    /// New records per unit.
    pub added: Vec<(String, u64)>,
    /// Records already in the store with identical content, per unit.
    pub unchanged: Vec<(String, u64)>,
    /// Rows rejected (with `skip_invalid`).
    pub rejected: u64,
    /// Where the rejects went.
    pub rejects_file: Option<String>,
    /// Problems found (with `skip_invalid`; otherwise the import fails).
    pub problems: Vec<String>,
    /// The definition version used.
    pub version: u32,
    /// The wave.
    pub wave: i64,
}

const MAX_REPORTED: usize = 200;
/// Problems shown in the error message (all are kept in the error value, up to 200).
const SHOWN: usize = 25;

/// Columns an import accepts and ignores: what `hearth export` adds besides answers.
pub fn is_export_column(def: &Definition, name: &str) -> bool {
    const SYSTEM: &[&str] = &["wave", "version", "captured_at", "captured_by"];
    SYSTEM.contains(&name)
        || crate::store::geo::AREA_COLUMNS.contains(&name)
        || def
            .units
            .iter()
            .any(|u| u.derived.iter().any(|d| d.id == name) || name == format!("{}_uuid", u.id))
        || def.units.iter().any(|u| {
            u.questions
                .iter()
                .any(|q| q.qtype == QType::SelectMultiple && name.starts_with(&format!("{}:", q.id)))
        })
}

/// A source of rows: header then data rows with their line numbers.
trait Rows {
    fn header(&self) -> &[String];
    /// Reads the next data row into `out` (reusing its strings); returns its line.
    fn next_row(&mut self, out: &mut Vec<String>) -> Option<Result<u64, RowProblem>>;
}

struct CsvRows {
    file: String,
    rdr: csv::Reader<Box<dyn Read>>,
    header: Vec<String>,
    rec: csv::ByteRecord,
    quotes: std::rc::Rc<std::cell::Cell<QuoteState>>,
}

/// Where a CSV byte stream stands with respect to quoting (as the `csv` crate parses it), so
/// that a file ending inside a quoted field (a truncated last line) is caught: the `csv`
/// crate silently closes the field at the end of the input.
#[derive(Debug, Clone, Copy, PartialEq)]
enum QuoteState {
    /// The input has ended inside a quoted field.
    EndInQuoted,
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

struct QuoteTracker<R> {
    inner: R,
    state: std::rc::Rc<std::cell::Cell<QuoteState>>,
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        let mut s = self.state.get();
        if k == 0 && !buf.is_empty() && s == QuoteState::Quoted {
            self.state.set(QuoteState::EndInQuoted);
            return Ok(0);
        }
        for &b in &buf[..k] {
            s = match (s, b) {
                (QuoteState::FieldStart, b'"') => QuoteState::Quoted,
                (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                (QuoteState::Quoted, _) => QuoteState::Quoted,
                (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                (_, b',' | b'\n' | b'\r') => QuoteState::FieldStart,
                _ => QuoteState::Unquoted,
            };
        }
        self.state.set(s);
        Ok(k)
    }
}

impl Rows for CsvRows {
    fn header(&self) -> &[String] {
        &self.header
    }
    fn next_row(&mut self, out: &mut Vec<String>) -> Option<Result<u64, RowProblem>> {
        match self.rdr.read_byte_record(&mut self.rec) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.rec.position().map(|p| p.line()).unwrap_or(0);
                if self.quotes.get() == QuoteState::EndInQuoted {
                    let message = "the file ends inside a quoted field (a truncated last line, or a quote that is never closed)".to_string();
                    return Some(Err(RowProblem {
                        file: self.file.clone(),
                        line,
                        column: Some(self.rec.len()),
                        record: None,
                        question: None,
                        value: None,
                        message,
                    }));
                }
                out.resize(self.rec.len(), String::new());
                out.truncate(self.rec.len());
                for (i, f) in self.rec.iter().enumerate() {
                    match std::str::from_utf8(f) {
                        Ok(s) => {
                            out[i].clear();
                            out[i].push_str(s);
                        }
                        Err(e) => {
                            return Some(Err(RowProblem {
                                file: self.file.clone(),
                                line,
                                column: Some(i + 1),
                                record: None,
                                question: self.header.get(i).cloned(),
                                value: Some(String::from_utf8_lossy(f).into_owned()),
                                message: format!("not UTF-8 (byte {} of the field; is the file Latin-1? save it as UTF-8)", e.valid_up_to() + 1),
                            }))
                        }
                    }
                }
                Some(Ok(line))
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("row has {len} field(s) but the header has {expected_len} (a truncated line, or an unquoted comma?)")
                    }
                    _ => e.to_string(),
                };
                // keep reading after a bad record
                Some(Err(RowProblem::line(&self.file, line, message)))
            }
        }
    }
}

struct JsonRows {
    file: String,
    lines: std::io::Lines<BufReader<Box<dyn Read>>>,
    header: Vec<String>,
    index: HashMap<String, usize>,
    /// Keys `hearth export` adds besides answers (wave, version, scores, geography): ignored.
    ignore: Box<dyn Fn(&str) -> bool>,
    line: u64,
}

impl Rows for JsonRows {
    fn header(&self) -> &[String] {
        &self.header
    }
    fn next_row(&mut self, out: &mut Vec<String>) -> Option<Result<u64, RowProblem>> {
        loop {
            let l = self.lines.next()?;
            self.line += 1;
            let problem = |m: String, line: u64| RowProblem::line(&self.file, line, m);
            let text = match l {
                Ok(t) => t,
                Err(e) => return Some(Err(problem(format!("cannot read: {e} (is the file UTF-8?)"), self.line))),
            };
            let text = text.trim_start_matches('\u{feff}');
            if text.trim().is_empty() {
                continue;
            }
            let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
                Ok(serde_json::Value::Object(m)) => m,
                Ok(_) => return Some(Err(problem("a line must be one JSON object".into(), self.line))),
                Err(e) => return Some(Err(problem(format!("not valid JSON: {e}"), self.line))),
            };
            let mut row = vec![String::new(); self.header.len()];
            for (k, v) in obj {
                let Some(&i) = self.index.get(&k) else {
                    if (self.ignore)(&k) {
                        continue;
                    }
                    let m = format!("unknown key '{k}'{}", did_you_mean(&k, self.header.iter().map(|s| s.as_str())));
                    return Some(Err(problem(m, self.line)));
                };
                row[i] = match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Array(a) => a
                        .iter()
                        .map(|x| match x {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    serde_json::Value::Object(_) => return Some(Err(problem(format!("key '{k}': nested objects are not answers"), self.line))),
                };
            }
            *out = row;
            return Some(Ok(self.line));
        }
    }
}

struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

fn open(path: &Path, def: &Definition, counter: Arc<AtomicU64>) -> Result<Box<dyn Rows>, CaptureError> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|source| CaptureError::Io {
        path: name.clone(),
        what: "cannot open".into(),
        source,
    })?;
    let reader: Box<dyn Read> = Box::new(Counting {
        inner: BufReader::with_capacity(1 << 20, f),
        n: counter,
    });
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext == "jsonl" || ext == "ndjson" || ext == "json" {
        let mut header: Vec<String> = Vec::new();
        for u in &def.units {
            header.extend(u.questions.iter().filter(|q| q.qtype != QType::Note).map(|q| q.id.clone()));
            header.push(format!("{}_uuid", u.id));
        }
        let index = header.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect();
        let d = def.clone();
        let ignore = Box::new(move |k: &str| is_export_column(&d, k));
        return Ok(Box::new(JsonRows {
            file: name,
            lines: BufReader::new(reader).lines(),
            header,
            index,
            ignore,
            line: 0,
        }));
    }
    let quotes = std::rc::Rc::new(std::cell::Cell::new(QuoteState::FieldStart));
    let reader: Box<dyn Read> = Box::new(QuoteTracker {
        inner: reader,
        state: quotes.clone(),
    });
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(reader);
    let header: Vec<String> = match rdr.byte_headers() {
        Ok(h) => h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let s = String::from_utf8_lossy(b).into_owned();
                let s = if i == 0 { s.trim_start_matches('\u{feff}').to_string() } else { s };
                s.trim().to_string()
            })
            .collect(),
        Err(e) => {
            return Err(CaptureError::Invalid {
                problems: vec![RowProblem {
                    file: name,
                    line: 1,
                    column: None,
                    record: None,
                    question: None,
                    value: None,
                    message: format!("cannot read the header: {e}"),
                }],
                total: 1,
            })
        }
    };
    Ok(Box::new(CsvRows {
        file: name,
        rdr,
        header,
        rec: csv::ByteRecord::new(),
        quotes,
    }))
}

/// How a file's columns map onto the units.
struct Plan {
    /// Depth (index in the lineage) of the deepest unit whose key is present.
    depth: usize,
    /// For each unit of the lineage up to depth: whether its questions are in this file.
    has_questions: Vec<bool>,
    /// For each unit of the lineage: header index of each own question (None if absent).
    cols: Vec<Vec<Option<usize>>>,
    /// Header index of each unit's `<unit>_uuid` column.
    uuid_col: Vec<Option<usize>>,
}

fn plan(file: &str, header: &[String], def: &Definition, lineage: &[&Unit], json: bool) -> Result<Plan, Vec<RowProblem>> {
    let mut problems = Vec::new();
    let p = |column: Option<usize>, message: String| RowProblem {
        file: file.to_string(),
        line: 1,
        column,
        record: None,
        question: None,
        value: None,
        message,
    };
    let mut pos: HashMap<&str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if let Some(first) = pos.insert(h.as_str(), i) {
            problems.push(p(Some(i + 1), format!("column '{h}' appears twice (first as column {})", first + 1)));
        }
    }
    if header.iter().all(|h| h.is_empty()) || header.is_empty() {
        problems.push(p(None, "the file is empty: expected a header line of question ids".into()));
        return Err(problems);
    }
    let depth = lineage.iter().rposition(|u| pos.contains_key(u.key.as_str()));
    let Some(depth) = depth else {
        let keys: Vec<&str> = lineage.iter().map(|u| u.key.as_str()).collect();
        problems.push(p(None, format!("no key column: the header must have {}", keys.join(" or "))));
        return Err(problems);
    };
    let mut known: Vec<&str> = Vec::new();
    let mut cols = Vec::new();
    let mut has_questions = Vec::new();
    let mut uuid_col = Vec::new();
    for (d, u) in lineage.iter().enumerate() {
        let own: Vec<Option<usize>> = u
            .questions
            .iter()
            .map(|q| if q.qtype == QType::Note { None } else { pos.get(q.id.as_str()).copied() })
            .collect();
        known.extend(u.questions.iter().filter(|q| q.qtype != QType::Note).map(|q| q.id.as_str()));
        let non_key_present = u.questions.iter().zip(&own).any(|(q, c)| c.is_some() && q.id != u.key);
        let full = d == depth || non_key_present;
        if d <= depth && u.key.is_empty() {
            problems.push(p(None, format!("unit '{}' has no key", u.id)));
        }
        if d <= depth && !pos.contains_key(u.key.as_str()) {
            problems.push(p(
                None,
                format!("missing column '{}': the key of unit '{}', needed to place each row", u.key, u.id),
            ));
        }
        if full && d <= depth && !json {
            let missing: Vec<&str> = u
                .questions
                .iter()
                .zip(&own)
                .filter(|(q, c)| c.is_none() && q.qtype != QType::Note && !q.identifier)
                .map(|(q, _)| q.id.as_str())
                .collect();
            if !missing.is_empty() {
                problems.push(p(
                    None,
                    format!(
                        "missing column(s) for unit '{}': {} (an unanswered question still needs its column, left empty)",
                        u.id,
                        missing.join(", ")
                    ),
                ));
            }
        }
        has_questions.push(full && d <= depth);
        cols.push(own);
        uuid_col.push(pos.get(format!("{}_uuid", u.id).as_str()).copied());
    }
    if !json {
        let unknown: Vec<(usize, &String)> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| !known.contains(&h.as_str()) && !is_export_column(def, h))
            .collect();
        if !unknown.is_empty() {
            let list: Vec<String> = unknown
                .iter()
                .map(|(i, h)| format!("'{h}' (column {}){}", i + 1, did_you_mean(h, known.iter().copied())))
                .collect();
            problems.push(p(None, format!("unknown column(s): {}", list.join(", "))));
        }
    }
    if problems.is_empty() {
        Ok(Plan {
            depth,
            has_questions,
            cols,
            uuid_col,
        })
    } else {
        Err(problems)
    }
}

/// FNV-1a over the cells: the content hash that tells a re-import from a conflict.
pub fn content_hash(cells: &[Cell]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut feed = |b: &[u8]| {
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    };
    for c in cells {
        match c {
            Cell::Null => feed(b"\x00"),
            Cell::Int(v) => {
                feed(b"\x01");
                feed(&v.to_le_bytes());
            }
            Cell::Real(v) => {
                feed(b"\x02");
                feed(&v.to_bits().to_le_bytes());
            }
            Cell::Text(s) => {
                feed(b"\x03");
                feed(s.as_bytes());
                feed(b"\x00");
            }
        }
    }
    format!("{h:016x}")
}

/// Per-unit state of an import.
struct UnitState<'d> {
    unit: &'d Unit,
    columns: Vec<Column>,
    added: u64,
    unchanged: u64,
    /// Position of the key among the unit's questions.
    key_index: Option<usize>,
    /// Parent records met in this import: (parent rowid, key text) -> (rowid, hash, first line).
    /// Leaf records are not kept: duplicates are found through the store (`_import`).
    seen: HashMap<(i64, String), (i64, String, u64)>,
    /// Rows inserted by this import (parents only).
    new_rowids: std::collections::HashSet<i64>,
    /// The last parent record read back from the store, with its scope values.
    last: Option<(i64, Vec<Value>)>,
}

fn key_text(c: &Cell) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Int(v) => v.to_string(),
        Cell::Real(v) => v.to_string(),
        Cell::Text(s) => s.clone(),
    }
}

/// Turns stored cells back into expression values (for a record read from the store).
pub fn cells_to_values(unit: &Unit, cells: &[Cell], columns: &[Column], values: &mut [Value]) {
    for (c, cell) in columns.iter().zip(cells) {
        if c.derived {
            if let Some(d) = unit.derived.iter().find(|d| d.id == c.name) {
                values[d.slot] = match cell {
                    Cell::Null => Value::Missing,
                    Cell::Int(v) if d.expr.ty == crate::schema::expr::ExprType::Bool => Value::Bool(*v != 0),
                    Cell::Int(v) => Value::Num(*v as f64),
                    Cell::Real(v) => Value::Num(*v),
                    Cell::Text(s) => Value::Text(Arc::from(s.as_str())),
                };
            }
            continue;
        }
        let Some(q) = unit.question(&c.name) else {
            continue;
        };
        let text = key_text(cell);
        values[q.slot] = parse_answer(q, &text).map(|(_, v)| v).unwrap_or(Value::Missing);
    }
}

/// Imports files into the store (see the module docs).
pub fn import_files(store: &mut Store, files: &[PathBuf], opts: &ImportOptions) -> Result<ImportReport, CaptureError> {
    let def = store.definition(None)?;
    let leaf = def.leaf_unit().id.clone();
    let lineage: Vec<&Unit> = def.lineage(&leaf);
    let counter = Arc::new(AtomicU64::new(0));
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();

    // Open every file and plan its columns first: header problems fail before any row is read.
    let mut sources: Vec<(Box<dyn Rows>, Plan, String)> = Vec::new();
    let mut problems: Vec<RowProblem> = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let json = matches!(
            f.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
            Some("jsonl" | "ndjson" | "json")
        );
        let rows = match open(f, &def, counter.clone()) {
            Ok(r) => r,
            Err(CaptureError::Invalid { problems: p, .. }) => {
                problems.extend(p);
                continue;
            }
            Err(e) => return Err(e),
        };
        let header = rows.header().to_vec();
        let plan = if json {
            // JSON Lines: the deepest unit whose key any line has decides; assume the leaf.
            let mut pl = plan(&name, &header, &def, &lineage, true);
            if let Ok(p) = &mut pl {
                p.depth = lineage.len() - 1;
                p.has_questions = vec![true; lineage.len()];
            }
            pl
        } else {
            plan(&name, &header, &def, &lineage, false)
        };
        match plan {
            Ok(p) => sources.push((rows, p, name)),
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        let total = problems.len();
        problems.truncate(MAX_REPORTED);
        return Err(CaptureError::Invalid { problems, total });
    }
    // Parents before children: household files first.
    sources.sort_by_key(|(_, p, _)| p.depth);

    let mut states: Vec<UnitState> = lineage
        .iter()
        .map(|u| UnitState {
            unit: u,
            columns: unit_columns(u),
            added: 0,
            unchanged: 0,
            key_index: u.questions.iter().position(|q| q.id == u.key),
            seen: HashMap::new(),
            new_rowids: std::collections::HashSet::new(),
            last: None,
        })
        .collect();
    // one buffer of values for the leaf's scope (ancestors' slots first), reused row by row
    let mut row_values: Vec<Value> = vec![Value::Missing; def.leaf_unit().scope.len()];
    let mut q_cells: Vec<Cell> = Vec::new();
    // leaf keys seen under the current parent, when that parent was inserted by this import and
    // its rows are contiguous: then no store lookup is needed to know a leaf record is new
    let mut leaf_parent: Option<i64> = None;
    let mut leaf_keys: HashMap<String, u64> = HashMap::new();
    let version = def.version;
    let now = crate::store::now_iso();
    let mut rejects: Vec<(String, u64, String, Vec<String>)> = Vec::new();
    let mut total_problems = 0usize;
    let mut rows_read = 0u64;
    let writer = store.writer()?;
    writer.ensure_wave(opts.wave)?;
    let files_text = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" ");
    let import_id = writer.begin_import(opts.wave, &files_text, &opts.by)?;
    let progress = Progress::new(opts.progress, total_bytes, counter.clone());

    for (mut rows, plan, name) in sources {
        let mut file_rows = 0u64;
        let mut fields: Vec<String> = Vec::new();
        while let Some(next) = rows.next_row(&mut fields) {
            file_rows += 1;
            let line = match next {
                Ok(x) => x,
                Err(p) => {
                    total_problems += 1;
                    if opts.skip_invalid {
                        rejects.push((name.clone(), p.line, p.message.clone(), Vec::new()));
                    }
                    if problems.len() < MAX_REPORTED {
                        problems.push(p);
                    }
                    continue;
                }
            };
            rows_read += 1;
            if rows_read % 4096 == 0 {
                progress.tick(rows_read);
            }
            let mut row_problems: Vec<RowProblem> = Vec::new();
            let mut parent_rowid: Option<i64> = None;
            // whether the parent record was inserted by this row (then its children are new too)
            let mut parent_new = false;
            let mut record_label = String::new();
            // With --skip-invalid a rejected row must land nothing, not even its household part
            // written before its person part failed: each row is a savepoint, and the keys it
            // recorded, (unit depth, key, whether added), are forgotten when it is rolled back.
            let mut touched: Vec<(usize, (i64, String), bool)> = Vec::new();
            if opts.skip_invalid {
                writer.savepoint()?;
            }
            #[allow(clippy::needless_range_loop)] // d indexes states, plan.cols and plan.has_questions together
            for d in 0..=plan.depth {
                let st = &mut states[d];
                let unit = st.unit;
                let key_col = st.key_index.and_then(|i| plan.cols[d][i]);
                let key_raw = key_col.map(|c| fields.get(c).map(String::as_str).unwrap_or("")).unwrap_or("");
                if !record_label.is_empty() {
                    record_label.push('/');
                }
                record_label.push_str(&unit.key);
                record_label.push('=');
                record_label.push_str(key_raw);
                let mk = |column: Option<usize>, question: Option<&str>, value: Option<&str>, message: String, rec: &str| RowProblem {
                    file: name.clone(),
                    line,
                    column: column.map(|c| c + 1),
                    record: Some(rec.to_string()),
                    question: question.map(str::to_string),
                    value: value.map(str::to_string),
                    message,
                };
                if key_raw.trim().is_empty() {
                    row_problems.push(mk(
                        key_col,
                        Some(&unit.key),
                        None,
                        format!("no value for the key of unit '{}'", unit.id),
                        &record_label,
                    ));
                    break;
                }
                // this unit's scope is a prefix of the row's values (ancestors' slots first)
                let values = &mut row_values[..unit.scope.len()];
                if !plan.has_questions[d] {
                    // only the key: the record must exist (earlier in this import or in the store)
                    let kq = unit.question(&unit.key).expect("key question checked by the loader");
                    let key_cell = match parse_answer(kq, key_raw) {
                        Ok((c, _)) => c,
                        Err(m) => {
                            row_problems.push(mk(key_col, Some(&unit.key), Some(key_raw), m, &record_label));
                            break;
                        }
                    };
                    let pr = parent_rowid.unwrap_or(0);
                    let found = match st.seen.get(&(pr, key_text(&key_cell))) {
                        Some((rowid, _, _)) => Some(*rowid),
                        None => writer.find(unit, opts.wave, parent_rowid, &key_cell)?.map(|e| e.rowid),
                    };
                    let Some(rowid) = found else {
                        row_problems.push(mk(
                            key_col,
                            Some(&unit.key),
                            Some(key_raw),
                            format!("no {} with this key in wave {} (import its file first, or together)", unit.id, opts.wave),
                            &record_label,
                        ));
                        break;
                    };
                    match st.last.as_ref().filter(|(r, _)| *r == rowid) {
                        Some((_, v)) => values[..v.len()].clone_from_slice(v),
                        None => {
                            let uuid = writer.uuid_of(unit, rowid)?;
                            if let Some((_, cells)) = writer.read_record(unit, &st.columns, &uuid)? {
                                cells_to_values(unit, &cells, &st.columns, values);
                            }
                            st.last = Some((rowid, values.to_vec()));
                        }
                    }
                    parent_rowid = Some(rowid);
                    parent_new = false;
                    continue;
                }
                // parse this unit's answers
                q_cells.clear();
                let mut bad = false;
                for (qi, q) in unit.questions.iter().enumerate() {
                    if q.qtype == QType::Note {
                        q_cells.push(Cell::Null);
                        continue;
                    }
                    let col = plan.cols[d][qi];
                    let raw = col.and_then(|c| fields.get(c)).map(String::as_str).unwrap_or("");
                    match parse_answer(q, raw) {
                        Ok((cell, v)) => {
                            if q.qtype == QType::Lsoa {
                                if let (Cell::Text(code), Some(check)) = (&cell, &opts.lsoa_check) {
                                    if let Err(m) = check(code) {
                                        row_problems.push(mk(col, Some(&q.id), Some(raw), m, &record_label));
                                        bad = true;
                                    }
                                }
                            }
                            values[q.slot] = v;
                            q_cells.push(cell);
                        }
                        Err(m) => {
                            row_problems.push(mk(col, Some(&q.id), Some(raw), m, &record_label));
                            bad = true;
                            q_cells.push(Cell::Null);
                        }
                    }
                }
                if bad {
                    break;
                }
                for ap in check_and_derive(unit, values, &q_cells) {
                    let qi = unit.questions.iter().position(|q| q.id == ap.question);
                    let col = qi.and_then(|i| plan.cols[d][i]);
                    let raw = col.and_then(|c| fields.get(c)).map(String::as_str).filter(|s| !s.is_empty());
                    row_problems.push(mk(col, Some(&ap.question), raw, ap.message, &record_label));
                }
                if !row_problems.is_empty() {
                    break;
                }
                let key = q_cells[st.key_index.unwrap_or(0)].clone();
                let mut cells: Vec<Cell> = unit
                    .questions
                    .iter()
                    .zip(q_cells.drain(..))
                    .filter(|(q, _)| q.qtype != QType::Note)
                    .map(|(_, c)| c)
                    .collect();
                let hash = content_hash(&cells);
                cells.extend(unit.derived.iter().map(|dv| derived_cell(&values[dv.slot])));
                let pr = parent_rowid.unwrap_or(0);
                let kt = key_text(&key);
                let is_leaf = d == plan.depth;
                // repeated household columns must agree on every row of the household
                if !is_leaf {
                    if let Some((rowid, h, first_line)) = st.seen.get(&(pr, kt.clone())) {
                        if *h != hash {
                            let (rowid, first_line) = (*rowid, *first_line);
                            let (col, q, raw, was) = describe_difference(&writer, unit, &st.columns, rowid, &cells, &plan.cols[d], &fields)?;
                            let m = format!(
                                "{} columns differ from line {first_line} for the same {}{was} (they must agree on every row)",
                                unit.id, unit.key
                            );
                            row_problems.push(mk(col, q.as_deref(), raw.as_deref(), m, &record_label));
                            break;
                        }
                        parent_new = st.new_rowids.contains(rowid);
                        parent_rowid = Some(*rowid);
                        continue;
                    }
                }
                // children of a record inserted by this import, met in contiguous rows, can only
                // clash with each other: a set of keys answers that without the store
                let fast = is_leaf && parent_new && unit.parent.is_some() && leaf_parent == parent_rowid;
                if is_leaf && leaf_parent != parent_rowid {
                    leaf_parent = parent_rowid;
                    leaf_keys.clear();
                }
                let existing = if fast && !leaf_keys.contains_key(&kt) {
                    None
                } else {
                    writer.find(unit, opts.wave, parent_rowid.filter(|_| unit.parent.is_some()), &key)?
                };
                match existing {
                    Some(ex) if ex.import == Some(import_id) => {
                        let first = if is_leaf {
                            leaf_keys.get(&kt).copied().filter(|_| leaf_parent == parent_rowid)
                        } else {
                            st.seen.get(&(pr, kt.clone())).map(|x| x.2)
                        };
                        let m = match first {
                            Some(l) => format!("duplicate key: {} {} already on line {l}", unit.key, kt),
                            None => format!("duplicate key: {} {} appears twice in this import", unit.key, kt),
                        };
                        row_problems.push(mk(key_col, Some(&unit.key), Some(key_raw), m, &record_label));
                        break;
                    }
                    Some(ex) if ex.hash == hash => {
                        st.unchanged += 1;
                        if !is_leaf {
                            touched.push((d, (pr, kt.clone()), false));
                            st.seen.insert((pr, kt), (ex.rowid, hash, line));
                        }
                        parent_rowid = Some(ex.rowid);
                        parent_new = false;
                    }
                    Some(ex) => {
                        let (col, q, raw, was) = describe_difference(&writer, unit, &st.columns, ex.rowid, &cells, &plan.cols[d], &fields)?;
                        let m = format!(
                            "conflict: {} {} is already in wave {} (record {}) with different answers{was}; nothing was overwritten (correct it with `hearth edit`)",
                            unit.key, kt, opts.wave, ex.uuid
                        );
                        match q {
                            Some(q) => row_problems.push(mk(col, Some(&q), raw.as_deref(), m, &record_label)),
                            None => row_problems.push(mk(key_col, Some(&unit.key), Some(key_raw), m, &record_label)),
                        }
                        break;
                    }
                    None => {
                        let uuid_hint = plan.uuid_col[d]
                            .and_then(|c| fields.get(c))
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty());
                        if let Some(u) = &uuid_hint {
                            if writer.uuid_exists(unit, u)? {
                                let m = format!(
                                    "record UUID {u} is already in the store (for another wave or key): to import a copy, drop the {}_uuid column",
                                    unit.id
                                );
                                row_problems.push(mk(plan.uuid_col[d], Some(&format!("{}_uuid", unit.id)), Some(u), m, &record_label));
                                break;
                            }
                        }
                        // time-ordered UUIDs keep the unique index append-mostly
                        let uuid = uuid_hint.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
                        let rowid = writer.insert(
                            unit,
                            &st.columns,
                            &uuid,
                            opts.wave,
                            version,
                            &now,
                            &opts.by,
                            Some(import_id),
                            &hash,
                            parent_rowid.filter(|_| unit.parent.is_some()),
                            &cells,
                        )?;
                        st.added += 1;
                        if !is_leaf {
                            touched.push((d, (pr, kt.clone()), true));
                            st.seen.insert((pr, kt), (rowid, hash, line));
                            st.new_rowids.insert(rowid);
                        } else {
                            leaf_keys.insert(kt.clone(), line);
                            touched.push((d, (pr, kt), true));
                        }
                        parent_rowid = Some(rowid);
                        parent_new = true;
                    }
                }
            }
            if opts.skip_invalid {
                writer.release_savepoint(!row_problems.is_empty())?;
                if !row_problems.is_empty() {
                    for (d, key, added) in touched {
                        let st = &mut states[d];
                        st.seen.remove(&key);
                        if added {
                            st.added -= 1;
                        } else {
                            st.unchanged -= 1;
                        }
                    }
                    for st in &mut states {
                        st.last = None;
                        st.new_rowids.clear();
                    }
                    leaf_parent = None;
                    leaf_keys.clear();
                }
            }
            if !row_problems.is_empty() {
                total_problems += row_problems.len();
                if opts.skip_invalid {
                    let reason = row_problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
                    rejects.push((name.clone(), line, reason, fields.clone()));
                }
                for p in row_problems {
                    if problems.len() < MAX_REPORTED {
                        problems.push(p);
                    }
                }
                if !opts.skip_invalid && total_problems > 10_000 {
                    break;
                }
            }
        }
        if file_rows == 0 {
            total_problems += 1;
            let message = "no data rows (the file is empty, or has a header line only)".to_string();
            problems.push(RowProblem {
                file: name.clone(),
                line: 1,
                column: None,
                record: None,
                question: None,
                value: None,
                message,
            });
        }
    }
    progress.done(rows_read);
    if total_problems > 0 && !opts.skip_invalid {
        drop(writer); // rolls back
        return Err(CaptureError::Invalid {
            problems,
            total: total_problems,
        });
    }
    let added: u64 = states.iter().map(|s| s.added).sum();
    writer.finish_import(import_id, added as i64)?;
    writer.audit(
        &opts.by,
        "import",
        None,
        None,
        None,
        None,
        None,
        &format!("wave {}: {} ({} new records)", opts.wave, files_text, added),
    )?;
    let mut report = ImportReport {
        rows: rows_read,
        added: states.iter().map(|s| (s.unit.id.clone(), s.added)).collect(),
        unchanged: states.iter().map(|s| (s.unit.id.clone(), s.unchanged)).collect(),
        rejected: rejects.len() as u64,
        rejects_file: None,
        problems: problems.iter().map(|p| p.to_string()).collect(),
        version,
        wave: opts.wave,
    };
    if !rejects.is_empty() {
        let path = opts.rejects.clone().unwrap_or_else(|| {
            let mut p = files[0].clone().into_os_string();
            p.push(".rejects.csv");
            PathBuf::from(p)
        });
        write_rejects(&path, &rejects)?;
        report.rejects_file = Some(path.display().to_string());
    }
    writer.commit()?;
    Ok(report)
}

/// Names the first question where `cells` (a unit's answers on this row, in `columns` order)
/// differ from the stored record `rowid`: (header index, question, this row's value, a phrase
/// giving the other value).
#[allow(clippy::type_complexity)]
fn describe_difference(
    writer: &Writer<'_>,
    unit: &Unit,
    columns: &[Column],
    rowid: i64,
    cells: &[Cell],
    cols: &[Option<usize>],
    fields: &[String],
) -> Result<(Option<usize>, Option<String>, Option<String>, String), CaptureError> {
    let uuid = writer.uuid_of(unit, rowid)?;
    let Some((_, stored)) = writer.read_record(unit, columns, &uuid)? else {
        return Ok((None, None, None, String::new()));
    };
    let Some(i) = cells.iter().zip(&stored).position(|(a, b)| a != b) else {
        return Ok((None, None, None, String::new()));
    };
    let name = &columns[i].name;
    let col = unit.questions.iter().position(|q| &q.id == name).and_then(|qi| cols.get(qi).copied().flatten());
    let raw = col.and_then(|c| fields.get(c)).cloned();
    let was = match &stored[i] {
        Cell::Null => format!(": '{name}' has no answer there"),
        c => format!(": '{name}' is '{}' there", key_text(c)),
    };
    Ok((col, Some(name.clone()), raw, was))
}

fn write_rejects(path: &Path, rejects: &[(String, u64, String, Vec<String>)]) -> Result<(), CaptureError> {
    let io = |source: std::io::Error| CaptureError::Io {
        path: path.display().to_string(),
        what: "cannot write the rejects file".into(),
        source,
    };
    let f = File::create(path).map_err(io)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
    let width = rejects.iter().map(|r| r.3.len()).max().unwrap_or(0);
    let mut head = vec!["file".to_string(), "line".to_string(), "reason".to_string()];
    head.extend((1..=width).map(|i| format!("field_{i}")));
    w.write_record(&head).map_err(|e| io(e.into()))?;
    for (file, line, reason, fields) in rejects {
        let mut rec = vec![file.clone(), line.to_string(), reason.clone()];
        rec.extend(fields.iter().cloned());
        rec.resize(3 + width, String::new());
        w.write_record(&rec).map_err(|e| io(e.into()))?;
    }
    w.flush().map_err(io)?;
    Ok(())
}

/// A progress bar on stderr, drawn at most every 200 ms.
struct Progress {
    on: bool,
    total: u64,
    bytes: Arc<AtomicU64>,
    start: std::time::Instant,
    last: std::cell::Cell<std::time::Instant>,
}

impl Progress {
    fn new(on: bool, total: u64, bytes: Arc<AtomicU64>) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            on,
            total,
            bytes,
            start: now,
            last: std::cell::Cell::new(now),
        }
    }
    fn draw(&self, rows: u64, end: bool) {
        let done = self.bytes.load(Ordering::Relaxed).min(self.total.max(1));
        let frac = if end { 1.0 } else { done as f64 / self.total.max(1) as f64 };
        let width = 30;
        let filled = (frac * width as f64) as usize;
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let mut e = std::io::stderr();
        let _ = write!(
            e,
            "\r[{}{}] {:>3.0}% {rows} rows, {:.0} rows/s",
            "#".repeat(filled),
            " ".repeat(width - filled),
            frac * 100.0,
            rows as f64 / secs
        );
        if end {
            let _ = writeln!(e);
        }
    }
    fn tick(&self, rows: u64) {
        if self.on && self.last.get().elapsed().as_millis() >= 200 {
            self.last.set(std::time::Instant::now());
            self.draw(rows, false);
        }
    }
    fn done(&self, rows: u64) {
        if self.on {
            self.draw(rows, true);
        }
    }
}
