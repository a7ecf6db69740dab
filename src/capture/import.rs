//! File import: CSV and JSON Lines into the store, all or nothing.
//!
//! Owns reading response files (combined person files with household columns repeated,
//! separate household and person files, JSON Lines), checking every row against the
//! definition, matching rows to records already in the store (identical = no-op, different =
//! conflict; a record met twice in one import = duplicate, whatever the store holds), and
//! writing them in one transaction. Problems are collected over the whole input and reported
//! together with file, line (the physical line a record starts on, whatever the line ends),
//! column (CSV: the field number; JSON Lines: where the key starts), record key, question and
//! value; with any problem nothing is written unless `skip_invalid` is set, in which case bad
//! rows go to a rejects file. Reading is streaming: memory holds one row, a key index per
//! household, and where each record was met (8 bytes a record).

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
    /// Take questions that have no column as unanswered (a file written before a definition
    /// version added them) instead of refusing the file.
    pub allow_missing_columns: bool,
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
            allow_missing_columns: false,
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

/// A source of rows: header then data rows, each with the physical line it starts on.
trait Rows {
    fn header(&self) -> &[String];
    /// The line the header is on (1, unless blank lines come first).
    fn header_line(&self) -> u64;
    /// Reads the next data row into `out` (reusing its strings) and the column to show for
    /// each of its fields into `cols` (left empty when that is the field number, as in CSV);
    /// returns the line the row starts on.
    fn next_row(&mut self, out: &mut Vec<String>, cols: &mut Vec<usize>) -> Option<Result<u64, RowProblem>>;
}

/// The column a problem names for field `c` of a row whose shown columns are `cols` (see
/// [`Rows::next_row`]): the field number in CSV, where the key starts in JSON Lines.
fn shown_column(cols: &[usize], c: usize) -> Option<usize> {
    if cols.is_empty() {
        Some(c + 1)
    } else {
        cols.get(c).copied().filter(|&n| n > 0)
    }
}

struct CsvRows {
    file: String,
    rdr: csv::Reader<Box<dyn Read + Send>>,
    header: Vec<String>,
    header_line: u64,
    rec: csv::ByteRecord,
    track: Arc<std::sync::Mutex<Track>>,
}

/// Where a CSV byte stream stands with respect to quoting (as the `csv` crate parses it), so
/// that a file ending inside a quoted field (a truncated last line) is caught: the `csv`
/// crate silently closes the field at the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum QuoteState {
    /// The input has ended inside a quoted field.
    EndInQuoted,
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

impl QuoteState {
    /// The state after `got`, read in this state.
    fn after(self, got: &[u8]) -> QuoteState {
        let mut s = self;
        if !matches!(s, QuoteState::Quoted | QuoteState::QuoteInQuoted) && !got.contains(&b'"') {
            // no quote anywhere: only the last byte matters
            return match got.last() {
                Some(b',' | b'\n' | b'\r') => QuoteState::FieldStart,
                Some(_) => QuoteState::Unquoted,
                None => s,
            };
        }
        for &b in got {
            s = match (s, b) {
                (QuoteState::FieldStart, b'"') => QuoteState::Quoted,
                (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                (QuoteState::Quoted, _) => QuoteState::Quoted,
                (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                (_, b',' | b'\n' | b'\r') => QuoteState::FieldStart,
                _ => QuoteState::Unquoted,
            };
        }
        s
    }
}

/// Physical line numbers by byte offset. The `csv` crate counts lines by line feeds only and
/// places a record right after the first byte of the terminator before it: with CRLF ends
/// every record was named a line early, with CR-only ends every one on line 1. Here CR, LF
/// and CRLF each end a line, and where each non-empty line begins is kept until a record
/// start passes it: a record begins on the first non-empty line at or after the byte offset
/// the `csv` crate gives (it skips blank lines before a record).
#[derive(Debug)]
struct LineIndex {
    /// Bytes seen.
    offset: u64,
    /// The line the next byte is on.
    line: u64,
    at_line_start: bool,
    after_cr: bool,
    /// (byte offset, line) of the first byte of each non-empty line not yet passed: as many
    /// as the `csv` reader has read ahead of the record it returns.
    starts: std::collections::VecDeque<(u64, u64)>,
}

impl Default for LineIndex {
    fn default() -> Self {
        LineIndex {
            offset: 0,
            line: 1,
            at_line_start: true,
            after_cr: false,
            starts: Default::default(),
        }
    }
}

impl LineIndex {
    fn feed(&mut self, chunk: &[u8]) {
        let mut i = 0;
        while i < chunk.len() {
            if self.at_line_start {
                let b = chunk[i];
                if b == b'\n' && self.after_cr {
                    // the LF of a CRLF: that line end is counted already
                    self.after_cr = false;
                    i += 1;
                    continue;
                }
                if b == b'\n' || b == b'\r' {
                    // an empty line
                    self.line += 1;
                    self.after_cr = b == b'\r';
                    i += 1;
                    continue;
                }
                self.starts.push_back((self.offset + i as u64, self.line));
                self.at_line_start = false;
                self.after_cr = false;
            }
            match memchr::memchr2(b'\n', b'\r', &chunk[i..]) {
                None => i = chunk.len(),
                Some(j) => {
                    self.line += 1;
                    self.after_cr = chunk[i + j] == b'\r';
                    self.at_line_start = true;
                    i += j + 1;
                }
            }
        }
        self.offset += chunk.len() as u64;
    }

    /// The line of the first non-empty line at or after byte `at`, forgetting those before.
    fn line_at(&mut self, at: u64) -> u64 {
        while self.starts.front().is_some_and(|&(o, _)| o < at) {
            self.starts.pop_front();
        }
        self.starts.front().map_or(self.line, |&(_, l)| l)
    }
}

/// What the bytes of a CSV file read so far say: shared between the [`Tracker`] that sees
/// them and the [`CsvRows`] that reads records parsed from them.
#[derive(Debug, Default)]
struct Track {
    quote: QuoteState,
    lines: LineIndex,
}

/// Watches the bytes on their way to the `csv` reader.
struct Tracker<R> {
    inner: R,
    state: Arc<std::sync::Mutex<Track>>,
}

impl<R: Read> Read for Tracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        let mut t = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if k == 0 && !buf.is_empty() && t.quote == QuoteState::Quoted {
            t.quote = QuoteState::EndInQuoted;
            return Ok(0);
        }
        let got = &buf[..k];
        t.lines.feed(got);
        t.quote = t.quote.after(got);
        Ok(k)
    }
}

impl CsvRows {
    /// The line of a record (or error) the `csv` crate places at `pos`.
    fn line_of(&self, pos: Option<&csv::Position>) -> u64 {
        let mut t = self.track.lock().unwrap_or_else(|e| e.into_inner());
        match pos {
            Some(p) => t.lines.line_at(p.byte()),
            None => t.lines.line,
        }
    }
}

impl Rows for CsvRows {
    fn header(&self) -> &[String] {
        &self.header
    }
    fn header_line(&self) -> u64 {
        self.header_line
    }
    fn next_row(&mut self, out: &mut Vec<String>, cols: &mut Vec<usize>) -> Option<Result<u64, RowProblem>> {
        cols.clear();
        match self.rdr.read_byte_record(&mut self.rec) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.line_of(self.rec.position());
                if self.track.lock().unwrap_or_else(|e| e.into_inner()).quote == QuoteState::EndInQuoted {
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
                let line = self.line_of(e.position());
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

/// Physical lines of a byte stream, ended by LF, CRLF or CR alike (a CR cannot occur inside
/// a JSON string unescaped, so splitting there is safe).
struct LineReader<R> {
    inner: R,
    after_cr: bool,
    /// An error ended the input.
    failed: bool,
}

impl<R: BufRead> LineReader<R> {
    /// Reads the next line into `buf`, without its end; false at the end of the input.
    fn next_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<bool> {
        buf.clear();
        if self.failed {
            return Ok(false);
        }
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            };
            if avail.is_empty() {
                return Ok(!buf.is_empty());
            }
            if std::mem::take(&mut self.after_cr) && avail[0] == b'\n' {
                self.inner.consume(1);
                continue;
            }
            match memchr::memchr2(b'\n', b'\r', avail) {
                Some(i) => {
                    buf.extend_from_slice(&avail[..i]);
                    self.after_cr = avail[i] == b'\r';
                    self.inner.consume(i + 1);
                    return Ok(true);
                }
                None => {
                    let n = avail.len();
                    buf.extend_from_slice(avail);
                    self.inner.consume(n);
                }
            }
        }
    }
}

/// A JSON object's entries in the order written, a repeated key included (a
/// `serde_json::Map` keeps only the last value of a repeated key).
#[derive(Debug)]
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Entries, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(16));
                while let Some(e) = m.next_entry::<String, serde_json::Value>()? {
                    v.push(e);
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// The character column (1-based) where each key of the top-level object on `line` starts
/// (its opening quote), in the order written. `line` is valid JSON.
fn key_columns(line: &str, out: &mut Vec<usize>) {
    out.clear();
    let b = line.as_bytes();
    let mut offsets = Vec::new();
    let (mut depth, mut expect_key, mut i) = (0usize, false, 0usize);
    while i < b.len() {
        match b[i] {
            b'"' => {
                if depth == 1 && expect_key {
                    offsets.push(i);
                    expect_key = false;
                }
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && b[i] == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => expect_key = depth == 1,
            _ => {}
        }
        i += 1;
    }
    let mut chars = 0;
    let mut next = offsets.iter().peekable();
    for (at, _) in line.char_indices() {
        chars += 1;
        if next.peek() == Some(&&at) {
            out.push(chars);
            next.next();
        }
    }
}

/// The character column (1-based) of byte offset `at` of `line`.
fn char_column(line: &str, at: usize) -> usize {
    line.char_indices().take_while(|(i, _)| *i < at).count() + 1
}

struct JsonRows {
    file: String,
    lines: LineReader<BufReader<Box<dyn Read + Send>>>,
    buf: Vec<u8>,
    header: Vec<String>,
    index: HashMap<String, usize>,
    /// Keys `hearth export` adds besides answers (wave, version, scores, geography): ignored.
    ignore: Box<dyn Fn(&str) -> bool + Send>,
    line: u64,
    key_cols: Vec<usize>,
    /// Ignored keys met on the current line, with their columns.
    ignored: Vec<(String, usize)>,
}

impl Rows for JsonRows {
    fn header(&self) -> &[String] {
        &self.header
    }
    fn header_line(&self) -> u64 {
        1
    }
    fn next_row(&mut self, out: &mut Vec<String>, cols: &mut Vec<usize>) -> Option<Result<u64, RowProblem>> {
        loop {
            let read = self.lines.next_line(&mut self.buf);
            self.line += 1;
            let line = self.line;
            let problem = |column: Option<usize>, m: String| RowProblem {
                column,
                ..RowProblem::line(&self.file, line, m)
            };
            match read {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(problem(None, format!("cannot read: {e}")))),
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t,
                Err(e) => {
                    let col = std::str::from_utf8(&self.buf[..e.valid_up_to()]).map_or(1, |t| t.chars().count() + 1);
                    return Some(Err(problem(Some(col), "not UTF-8 (is the file Latin-1? save it as UTF-8)".into())));
                }
            };
            // a byte order mark is one character before the text
            let (bom, text) = match text.strip_prefix('\u{feff}') {
                Some(t) => (1, t),
                None => (0, text),
            };
            if text.trim().is_empty() {
                continue;
            }
            let entries = match serde_json::from_str::<Entries>(text) {
                Ok(e) => e.0,
                Err(e) if e.is_data() => return Some(Err(problem(Some(bom + 1), "a line must be one JSON object".into()))),
                Err(e) => {
                    // serde_json counts bytes from 1 and appends "at line 1 column N": say it once
                    let col = bom + char_column(text, e.column().saturating_sub(1));
                    let what = e.to_string();
                    let what = what.rsplit_once(" at line ").map_or(what.as_str(), |(w, _)| w);
                    return Some(Err(problem(Some(col), format!("not valid JSON: {what}"))));
                }
            };
            key_columns(text, &mut self.key_cols);
            out.resize(self.header.len(), String::new());
            out.iter_mut().for_each(String::clear);
            cols.clear();
            cols.resize(self.header.len(), 0);
            self.ignored.clear();
            for (n, (k, v)) in entries.into_iter().enumerate() {
                let col = bom + self.key_cols.get(n).copied().unwrap_or(1);
                let twice = |first: usize| format!("key '{k}' appears twice in the object (first at column {first}): which answer is meant?");
                let Some(&i) = self.index.get(&k) else {
                    if (self.ignore)(&k) {
                        if let Some((_, first)) = self.ignored.iter().find(|(x, _)| *x == k) {
                            return Some(Err(problem(Some(col), twice(*first))));
                        }
                        self.ignored.push((k, col));
                        continue;
                    }
                    let m = format!("unknown key '{k}'{}", did_you_mean(&k, self.header.iter().map(|s| s.as_str())));
                    return Some(Err(problem(Some(col), m)));
                };
                if cols[i] > 0 {
                    return Some(Err(problem(Some(col), twice(cols[i]))));
                }
                cols[i] = col;
                out[i] = match v {
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
                    serde_json::Value::Object(_) => return Some(Err(problem(Some(col), format!("key '{k}': nested objects are not answers")))),
                };
            }
            return Some(Ok(line));
        }
    }
}

/// The key of a flat survey without one: each data row's number in its file (1 = the first
/// after the header), unless the row brings its own (an export has a `row_number` column).
/// A row that cannot be read still takes its number, so later rows keep theirs.
struct RowNumbers {
    inner: Box<dyn Rows + Send>,
    header: Vec<String>,
    slot: usize,
    append: bool,
    n: u64,
}

impl RowNumbers {
    fn wrap(inner: Box<dyn Rows + Send>, key: &str) -> Box<dyn Rows + Send> {
        let mut header = inner.header().to_vec();
        let (slot, append) = match header.iter().position(|h| h == key) {
            Some(i) => (i, false),
            None => {
                header.push(key.to_string());
                (header.len() - 1, true)
            }
        };
        Box::new(RowNumbers {
            inner,
            header,
            slot,
            append,
            n: 0,
        })
    }
}

impl Rows for RowNumbers {
    fn header(&self) -> &[String] {
        &self.header
    }
    fn header_line(&self) -> u64 {
        self.inner.header_line()
    }
    fn next_row(&mut self, out: &mut Vec<String>, cols: &mut Vec<usize>) -> Option<Result<u64, RowProblem>> {
        let r = self.inner.next_row(out, cols)?;
        self.n += 1;
        if r.is_ok() {
            if self.append {
                out.truncate(self.header.len() - 1);
                out.push(self.n.to_string());
                if !cols.is_empty() {
                    cols.truncate(self.header.len() - 1);
                    cols.push(0); // no column of the file to point at
                }
            } else if out.get(self.slot).is_some_and(|v| v.is_empty()) {
                out[self.slot] = self.n.to_string();
            }
        }
        Some(r)
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

fn open(path: &Path, def: &Definition, counter: Arc<AtomicU64>) -> Result<Box<dyn Rows + Send>, CaptureError> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|source| CaptureError::Io {
        path: name.clone(),
        what: "cannot open".into(),
        source,
    })?;
    let reader: Box<dyn Read + Send> = Box::new(Counting {
        inner: BufReader::with_capacity(1 << 20, f),
        n: counter,
    });
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mut magic = [0u8; 4];
    let is_parquet = ext == "parquet" || (File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"PAR1");
    if is_parquet {
        return Err(CaptureError::Invalid {
            problems: vec![RowProblem::line(
                &name,
                1,
                "a Parquet file: import reads CSV or JSON Lines (to move responses between stores, export with --format csv or jsonl)".into(),
            )],
            total: 1,
        });
    }
    if ext == "jsonl" || ext == "ndjson" || ext == "json" {
        let mut header: Vec<String> = Vec::new();
        for u in &def.units {
            header.extend(u.questions.iter().filter(|q| q.qtype != QType::Note).map(|q| q.id.clone()));
            header.push(format!("{}_uuid", u.id));
        }
        let mut index: HashMap<String, usize> = header.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect();
        // a key may also be a question's `column:` name
        for u in &def.units {
            for q in u.questions.iter().filter(|q| q.qtype != QType::Note) {
                if let (Some(c), Some(&i)) = (&q.column, index.get(&q.id)) {
                    index.insert(c.clone(), i);
                }
            }
        }
        let d = def.clone();
        let ignore = Box::new(move |k: &str| is_export_column(&d, k));
        return Ok(Box::new(JsonRows {
            file: name,
            lines: LineReader {
                inner: BufReader::new(reader),
                after_cr: false,
                failed: false,
            },
            buf: Vec::new(),
            header,
            index,
            ignore,
            line: 0,
            key_cols: Vec::new(),
            ignored: Vec::new(),
        }));
    }
    let track = Arc::new(std::sync::Mutex::new(Track::default()));
    let reader: Box<dyn Read + Send> = Box::new(Tracker {
        inner: reader,
        state: track.clone(),
    });
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(reader);
    let mut header_line = 1;
    let header: Vec<String> = match rdr.byte_headers() {
        Ok(h) => {
            if let Some(p) = h.position() {
                header_line = track.lock().unwrap_or_else(|e| e.into_inner()).lines.line_at(p.byte());
            }
            h.iter()
                .enumerate()
                .map(|(i, b)| {
                    let s = String::from_utf8_lossy(b).into_owned();
                    let s = if i == 0 { s.trim_start_matches('\u{feff}').to_string() } else { s };
                    s.trim().to_string()
                })
                .collect()
        }
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
        header_line,
        rec: csv::ByteRecord::new(),
        track,
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

fn plan(file: &str, header: &[String], def: &Definition, lineage: &[&Unit], json: bool, allow_missing: bool) -> Result<Plan, Vec<RowProblem>> {
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
    let key_column = |u: &Unit| -> Option<usize> {
        let q = u.question(&u.key)?;
        pos.get(q.column_name()).or_else(|| pos.get(q.id.as_str())).copied()
    };
    // with no key at all, go on as if the file were of the deepest unit, to name every column
    // that could not be placed
    let found = lineage.iter().rposition(|u| key_column(u).is_some());
    let depth = match found {
        Some(d) => d,
        None => {
            let keys: Vec<&str> = lineage.iter().map(|u| u.question(&u.key).map(|q| q.column_name()).unwrap_or(&u.key)).collect();
            problems.push(p(None, format!("no key column: the header must have {}", keys.join(" or "))));
            lineage.len() - 1
        }
    };
    let mut known: Vec<&str> = Vec::new();
    let mut cols = Vec::new();
    let mut has_questions = Vec::new();
    let mut uuid_col = Vec::new();
    for (d, u) in lineage.iter().enumerate() {
        // a question reads its `column:` (or, as an export writes it, its id)
        let own: Vec<Option<usize>> = u
            .questions
            .iter()
            .map(|q| {
                if q.qtype == QType::Note {
                    None
                } else {
                    pos.get(q.column_name()).or_else(|| pos.get(q.id.as_str())).copied()
                }
            })
            .collect();
        for q in u.questions.iter().filter(|q| q.qtype != QType::Note) {
            known.push(q.column_name());
            known.push(q.id.as_str());
        }
        let non_key_present = u.questions.iter().zip(&own).any(|(q, c)| c.is_some() && q.id != u.key);
        let full = d == depth || non_key_present;
        if d <= depth && u.key.is_empty() {
            problems.push(p(None, format!("unit '{}' has no key", u.id)));
        }
        if d <= depth && found.is_some() && key_column(u).is_none() {
            let col = u.question(&u.key).map(|q| q.column_name()).unwrap_or(&u.key);
            problems.push(p(None, format!("missing column '{col}': the key of unit '{}', needed to place each row", u.id)));
        }
        if full && d <= depth && !json && !allow_missing {
            let missing: Vec<String> = u
                .questions
                .iter()
                .zip(&own)
                .filter(|(q, c)| c.is_none() && q.qtype != QType::Note && !q.identifier)
                .map(|(q, _)| match &q.column {
                    Some(c) => format!("{} (column {c})", q.id),
                    None => q.id.clone(),
                })
                .collect();
            if !missing.is_empty() {
                problems.push(p(
                    None,
                    format!(
                        "missing column(s) for unit '{}': {} (an unanswered question still needs its column, left empty; for a file written before a definition version added questions, use --allow-missing-columns)",
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

/// The content hash that tells a re-import from a conflict: the cells' types and values fed as
/// 64-bit words through MurmurHash3's mixing steps.
pub fn content_hash(cells: &[Cell]) -> u64 {
    const C1: u64 = 0x87c37b91114253d5;
    const C2: u64 = 0x4cf5ad432745937f;
    let mut h: u64 = 0x9368e53c2f6af274;
    let mut feed = |w: u64| {
        h ^= w.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h = h.rotate_left(27).wrapping_mul(5).wrapping_add(0x52dce729);
    };
    for c in cells {
        match c {
            Cell::Null => feed(0xa1),
            Cell::Int(v) => {
                feed(0xa2);
                feed(*v as u64);
            }
            Cell::Real(v) => {
                feed(0xa3);
                feed(v.to_bits());
            }
            Cell::Text(s) => {
                feed(0xa4 ^ ((s.len() as u64) << 8));
                for chunk in s.as_bytes().chunks(8) {
                    let mut w = [0u8; 8];
                    w[..chunk.len()].copy_from_slice(chunk);
                    feed(u64::from_le_bytes(w));
                }
            }
        }
    }
    // fmix64
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ceb9fe1a85ec53);
    h ^ (h >> 33)
}

/// Per-unit state of an import.
struct UnitState<'d> {
    unit: &'d Unit,
    /// Position of the key among the unit's questions.
    key_index: Option<usize>,
    columns: Vec<Column>,
    added: u64,
    unchanged: u64,
    /// Records of a unit above the leaf met in this import (written by a row, or found in the
    /// store identical): (parent rowid, key text) -> (rowid, content hash). Leaf records are
    /// not kept by key: their duplicates are found through the store and `met`.
    seen: foldhash::HashMap<i64, foldhash::HashMap<String, (i64, u64)>>,
    /// Where each record this import has given answers for was first met, by rowid.
    met: Places,
    /// Rows inserted by this import (parents only).
    new_rowids: foldhash::HashSet<i64>,
    /// The last parent record read back from the store, with its scope values.
    last: Option<(i64, Vec<Value>)>,
}

impl UnitState<'_> {
    fn seen(&self, parent: i64, key: &str) -> Option<&(i64, u64)> {
        self.seen.get(&parent)?.get(key)
    }
}

/// Where a record was first met in an import: the file (its index among the files read) and
/// the line, packed in one nonzero word (file in the top 16 bits).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place(u64);

impl Place {
    fn new(file: usize, line: u64) -> Place {
        Place(((file as u64) << 48) | (line & ((1 << 48) - 1)))
    }
    fn file(self) -> usize {
        (self.0 >> 48) as usize
    }
    fn line(self) -> u64 {
        self.0 & ((1 << 48) - 1)
    }
}

/// Places of the records of one unit met in an import, by rowid. The records an import
/// inserts get consecutive rowids (SQLite appends at the largest rowid plus one), and so do
/// records matched in order by a re-import: those are kept in a vector (8 bytes a record),
/// the others in a map.
#[derive(Debug, Default)]
struct Places {
    base: i64,
    /// Place of rowid `base + i`, or 0 for none.
    dense: Vec<u64>,
    sparse: foldhash::HashMap<i64, u64>,
}

impl Places {
    /// A gap in the rowids up to this wide is filled rather than sent to the map.
    const GAP: usize = 64;

    fn index(&self, rowid: i64) -> Option<usize> {
        rowid.checked_sub(self.base).and_then(|i| usize::try_from(i).ok())
    }

    fn get(&self, rowid: i64) -> Option<Place> {
        let dense = self.index(rowid).and_then(|i| self.dense.get(i)).copied().filter(|&p| p != 0);
        dense.or_else(|| self.sparse.get(&rowid).copied()).map(Place)
    }

    fn insert(&mut self, rowid: i64, place: Place) {
        if self.dense.is_empty() {
            self.base = rowid;
        }
        match self.index(rowid) {
            Some(i) if i < self.dense.len() => self.dense[i] = place.0,
            Some(i) if i <= self.dense.len() + Self::GAP => {
                self.dense.resize(i, 0);
                self.dense.push(place.0);
            }
            _ => {
                self.sparse.insert(rowid, place.0);
            }
        }
    }

    fn remove(&mut self, rowid: i64) {
        if let Some(slot) = self.index(rowid).and_then(|i| self.dense.get_mut(i)) {
            *slot = 0;
        }
        self.sparse.remove(&rowid);
    }
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

/// Why a key's text is refused, if it holds a control character (NUL, a newline or tab inside
/// it, an escape): a key names its record in files, messages and `hearth edit`, and must show
/// as typed. Surrounding white space is trimmed as for any answer.
fn control_in_key(raw: &str) -> Option<String> {
    let c = raw.trim().chars().find(|&c| crate::text::is_unsafe(c))?;
    Some(format!(
        "a key cannot hold control characters (this one holds {}): correct the key in the file",
        crate::text::escape(&c.to_string())
    ))
}

/// The record's keys down to depth `upto` as written on the row, e.g. `household_id=H1/person_id=2`:
/// built only when a problem is reported.
fn record_label(lineage: &[&Unit], plan: &Plan, upto: usize, fields: &[String]) -> String {
    let mut s = String::new();
    for (u, cols) in lineage[..=upto].iter().zip(&plan.cols) {
        if !s.is_empty() {
            s.push('/');
        }
        let col = u.questions.iter().position(|q| q.id == u.key).and_then(|i| cols[i]);
        s.push_str(&u.key);
        s.push('=');
        s.push_str(col.and_then(|c| fields.get(c)).map(String::as_str).unwrap_or(""));
    }
    s
}

/// One unit's part of a row, checked and scored.
#[derive(Clone)]
struct Part {
    /// The unit's columns in [`unit_columns`] order: answers (identifiers included), then
    /// derived values.
    cells: Vec<Cell>,
    /// Content hash of the answers.
    hash: u64,
    /// The key's cell and its text.
    key: Cell,
    key_text: String,
}

/// A row read and checked by stage one, waiting for stage two (the store).
#[derive(Default)]
struct Checked {
    /// Its line, or the problem reading it.
    line: u64,
    read_error: Option<RowProblem>,
    fields: Vec<String>,
    /// The column shown for each field (see [`Rows::next_row`]).
    cols: Vec<usize>,
    /// Parts by depth; those below `ok` are checked clean.
    parts: Vec<Option<Part>>,
    ok: usize,
    /// What stage one found wrong (at depth `ok`).
    problems: Vec<RowProblem>,
}

/// Stage one of an import, which needs no store: parses a row's answers, checks them (types,
/// choices, ranges, skip logic, required, constraints, LSOA codes) and computes derived values
/// and scores, unit by unit, ancestors first. It runs on its own thread beside the writer
/// when every unit of the file has its questions in the file.
struct Checker<'a> {
    file: &'a str,
    plan: &'a Plan,
    lineage: &'a [&'a Unit],
    key_index: Vec<Option<usize>>,
    lsoa_check: Option<&'a super::areas::LsoaCheck>,
    /// The leaf's scope (ancestors' slots first), reused row by row.
    values: Vec<Value>,
    q_cells: Vec<Cell>,
    /// Per depth above the leaf: the previous row's part when it was checked clean, and that
    /// row's raw answers (a person file repeats its household's columns on every row).
    last: Vec<Option<(Part, Vec<String>)>>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a str, plan: &'a Plan, lineage: &'a [&'a Unit], leaf_scope: usize, lsoa_check: Option<&'a super::areas::LsoaCheck>) -> Self {
        Checker {
            file,
            plan,
            lineage,
            key_index: lineage.iter().map(|u| u.questions.iter().position(|q| q.id == u.key)).collect(),
            lsoa_check,
            values: vec![Value::Missing; leaf_scope],
            q_cells: Vec::new(),
            last: vec![None; lineage.len()],
        }
    }

    fn key_raw<'f>(&self, d: usize, fields: &'f [String]) -> (Option<usize>, &'f str) {
        let col = self.key_index[d].and_then(|i| self.plan.cols[d][i]);
        (col, col.and_then(|c| fields.get(c)).map(String::as_str).unwrap_or(""))
    }

    /// Checks depths `from..` of `row` (the ones above come from the store, already in
    /// `values`).
    fn check(&mut self, from: usize, row: &mut Checked) {
        let plan = self.plan;
        row.problems.clear();
        row.ok = from;
        row.parts.resize(plan.depth + 1, None);
        // a part may be taken from the previous row only when everything above it was too
        let mut same_above = from == 0;
        for d in from..=plan.depth {
            let unit = self.lineage[d];
            let (key_col, key_raw) = self.key_raw(d, &row.fields);
            let lineage = self.lineage;
            let problem = |column: Option<usize>, question: &str, value: Option<&str>, message: String, fields: &[String]| RowProblem {
                file: self.file.to_string(),
                line: row.line,
                column: column.and_then(|c| shown_column(&row.cols, c)),
                record: Some(record_label(lineage, plan, d, fields)),
                question: Some(question.to_string()),
                value: value.map(str::to_string),
                message,
            };
            if key_raw.trim().is_empty() {
                let m = format!("no value for the key of unit '{}'", unit.id);
                row.problems.push(problem(key_col, &unit.key, None, m, &row.fields));
                return;
            }
            if let Some(m) = control_in_key(key_raw) {
                row.problems.push(problem(key_col, &unit.key, Some(key_raw), m, &row.fields));
                return;
            }
            let cols = &plan.cols[d];
            if d < plan.depth {
                if let Some((part, raw)) = &self.last[d] {
                    let same = cols.iter().flatten().zip(raw).all(|(&c, r)| row.fields.get(c).is_some_and(|f| f == r));
                    if same_above && same {
                        match &mut row.parts[d] {
                            Some(p) => p.clone_from(part),
                            slot => *slot = Some(part.clone()),
                        }
                        row.ok = d + 1;
                        continue;
                    }
                }
                self.last[d] = None;
            }
            same_above = false;
            let values = &mut self.values[..unit.scope.len()];
            self.q_cells.clear();
            for (qi, q) in unit.questions.iter().enumerate() {
                if q.qtype == QType::Note {
                    self.q_cells.push(Cell::Null);
                    continue;
                }
                let col = cols[qi];
                let raw = col.and_then(|c| row.fields.get(c)).map(String::as_str).unwrap_or("");
                match parse_answer(q, raw) {
                    Ok((cell, v)) => {
                        if q.qtype == QType::Lsoa {
                            if let (Cell::Text(code), Some(check)) = (&cell, self.lsoa_check) {
                                if let Err(m) = check(code) {
                                    row.problems.push(problem(col, &q.id, Some(raw), m, &row.fields));
                                }
                            }
                        }
                        values[q.slot] = v;
                        self.q_cells.push(cell);
                    }
                    Err(m) => {
                        row.problems.push(problem(col, &q.id, Some(raw), m, &row.fields));
                        self.q_cells.push(Cell::Null);
                    }
                }
            }
            if !row.problems.is_empty() {
                return;
            }
            for ap in check_and_derive(unit, values, &self.q_cells) {
                let qi = unit.questions.iter().position(|q| q.id == ap.question);
                let col = qi.and_then(|i| cols[i]);
                let raw = col.and_then(|c| row.fields.get(c)).map(String::as_str).filter(|s| !s.is_empty());
                row.problems.push(problem(col, &ap.question, raw, ap.message, &row.fields));
            }
            if !row.problems.is_empty() {
                return;
            }
            let part = row.parts[d].get_or_insert_with(|| Part {
                cells: Vec::new(),
                hash: 0,
                key: Cell::Null,
                key_text: String::new(),
            });
            part.key = self.q_cells[self.key_index[d].unwrap_or(0)].clone();
            part.key_text = key_text(&part.key);
            part.cells.clear();
            part.cells.extend(
                unit.questions
                    .iter()
                    .zip(self.q_cells.drain(..))
                    .filter(|(q, _)| q.qtype != QType::Note)
                    .map(|(_, c)| c),
            );
            part.hash = content_hash(&part.cells);
            part.cells.extend(unit.derived.iter().map(|dv| derived_cell(&values[dv.slot])));
            row.ok = d + 1;
            if d < plan.depth {
                let raw = cols.iter().flatten().map(|&c| row.fields.get(c).cloned().unwrap_or_default()).collect();
                self.last[d] = Some((part.clone(), raw));
            }
        }
    }
}

/// Stage two of an import: matches checked rows to records in the store and writes them, in
/// the order read.
struct Loader<'w, 's, 'd> {
    writer: &'w Writer<'s>,
    lineage: &'d [&'d Unit],
    /// Insert statements by depth, prepared when first needed.
    inserters: Vec<Option<crate::store::Inserter<'w>>>,
    /// (unit depth, (parent rowid, key), rowid, whether added) of the records the row being
    /// taken wrote or matched, with `skip_invalid`.
    touched: Vec<(usize, (i64, String), i64, bool)>,
    states: Vec<UnitState<'d>>,
    opts: &'d ImportOptions,
    import_id: i64,
    version: u32,
    now: String,
    /// Whether the store held no record of this wave when the import began: then a top record
    /// not met earlier in this import is new without asking the store.
    fresh: bool,
    uuids: crate::store::UuidV7,
    /// The parent whose leaf records are all in `leaf_keys` (key, rowid): one this import
    /// inserted, while its rows are contiguous. Then no store lookup is needed to know a leaf
    /// record is new.
    leaf_parent: Option<i64>,
    leaf_keys: Vec<(String, i64)>,
    /// The files read so far ([`Place`]s name them by index); the last is being read.
    files: Vec<String>,
    file: usize,
    problems: Vec<RowProblem>,
    total_problems: usize,
    rejects: Vec<(String, u64, String, Vec<String>)>,
    rows_read: u64,
}

impl<'w, 'd> Loader<'w, '_, 'd> {
    /// Ends stage two, releasing the statements: (unit states, problems, how many, rejects, rows read).
    #[allow(clippy::type_complexity)]
    fn finish(self) -> (Vec<UnitState<'d>>, Vec<RowProblem>, usize, Vec<(String, u64, String, Vec<String>)>, u64) {
        (self.states, self.problems, self.total_problems, self.rejects, self.rows_read)
    }

    /// Takes one row: counts it, writes it or records its problems. Returns whether to stop
    /// (too many problems to go on).
    fn take(&mut self, plan: &Plan, name: &str, row: &mut Checked, checker: Option<&mut Checker<'_>>) -> Result<bool, CaptureError> {
        if let Some(p) = row.read_error.take() {
            self.total_problems += 1;
            if self.opts.skip_invalid {
                self.rejects.push((name.to_string(), p.line, p.message.clone(), Vec::new()));
            }
            if self.problems.len() < MAX_REPORTED {
                self.problems.push(p);
            }
            return Ok(false);
        }
        self.rows_read += 1;
        let skip = self.opts.skip_invalid;
        // With --skip-invalid a rejected row must land nothing, not even its household part
        // written before its person part failed: each row is a savepoint, and the keys it
        // recorded, (unit depth, key, whether added), are forgotten when it is rolled back.
        if skip {
            self.writer.savepoint()?;
        }
        let row_problems = self.store_row(plan, name, row, checker)?;
        if skip {
            self.writer.release_savepoint(!row_problems.is_empty())?;
            if !row_problems.is_empty() {
                for (d, key, rowid, added) in std::mem::take(&mut self.touched) {
                    let st = &mut self.states[d];
                    if let Some(m) = st.seen.get_mut(&key.0) {
                        m.remove(&key.1);
                    }
                    st.met.remove(rowid);
                    if added {
                        st.added -= 1;
                    } else {
                        st.unchanged -= 1;
                    }
                }
                for st in &mut self.states {
                    st.last = None;
                    st.new_rowids.clear();
                }
                self.leaf_parent = None;
                self.leaf_keys.clear();
                for ins in self.inserters.iter_mut().flatten() {
                    ins.rolled_back();
                }
            }
        }
        if row_problems.is_empty() {
            return Ok(false);
        }
        self.total_problems += row_problems.len();
        if skip {
            let reason = row_problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
            self.rejects.push((name.to_string(), row.line, reason, row.fields.clone()));
        }
        for p in row_problems {
            if self.problems.len() < MAX_REPORTED {
                self.problems.push(p);
            }
        }
        Ok(!skip && self.total_problems > 10_000)
    }

    /// Matches the row's records to the store and writes the new ones; returns the row's problems.
    fn store_row(&mut self, plan: &Plan, name: &str, row: &mut Checked, mut checker: Option<&mut Checker<'_>>) -> Result<Vec<RowProblem>, CaptureError> {
        let wave = self.opts.wave;
        let skip = self.opts.skip_invalid;
        self.touched.clear();
        let line = row.line;
        let mut parent_rowid: Option<i64> = None;
        // whether the parent record was inserted by this import (then its children are new too),
        // and whether by this row (then it has no children yet)
        let mut parent_new = false;
        let mut parent_inserted_here = false;
        let first_checked = plan.has_questions.iter().position(|&h| h).unwrap_or(plan.depth + 1);
        let lineage = self.lineage;
        for d in 0..=plan.depth {
            if d == first_checked {
                // checked in line: the units above came from the store (their values are in place)
                if let Some(c) = checker.as_deref_mut() {
                    c.check(d, row);
                }
            }
            let unit = self.states[d].unit;
            let key_col = self.states[d].key_index.and_then(|i| plan.cols[d][i]);
            let key_raw = key_col.and_then(|c| row.fields.get(c)).map(String::as_str).unwrap_or("");
            let mk = |column: Option<usize>, question: &str, value: Option<&str>, message: String| RowProblem {
                file: name.to_string(),
                line,
                column: column.and_then(|c| shown_column(&row.cols, c)),
                record: Some(record_label(lineage, plan, d, &row.fields)),
                question: Some(question.to_string()),
                value: value.map(str::to_string),
                message,
            };
            if !plan.has_questions[d] {
                // only the key: the record must exist (earlier in this import or in the store)
                if key_raw.trim().is_empty() {
                    return Ok(vec![mk(key_col, &unit.key, None, format!("no value for the key of unit '{}'", unit.id))]);
                }
                if let Some(m) = control_in_key(key_raw) {
                    return Ok(vec![mk(key_col, &unit.key, Some(key_raw), m)]);
                }
                let kq = unit.question(&unit.key).expect("key question checked by the loader");
                let key_cell = match parse_answer(kq, key_raw) {
                    Ok((c, _)) => c,
                    Err(m) => return Ok(vec![mk(key_col, &unit.key, Some(key_raw), m)]),
                };
                let pr = parent_rowid.unwrap_or(0);
                let st = &mut self.states[d];
                let found = match st.seen(pr, &key_text(&key_cell)) {
                    Some((rowid, _)) => Some(*rowid),
                    None => self.writer.find(unit, wave, parent_rowid, &key_cell)?.map(|e| e.rowid),
                };
                let Some(rowid) = found else {
                    let m = format!("no {} with this key in wave {wave} (import its file first, or together)", unit.id);
                    return Ok(vec![mk(key_col, &unit.key, Some(key_raw), m)]);
                };
                let checker = checker.as_deref_mut().expect("a file without some unit's questions is checked in line");
                let values = &mut checker.values[..unit.scope.len()];
                match st.last.as_ref().filter(|(r, _)| *r == rowid) {
                    Some((_, v)) => values[..v.len()].clone_from_slice(v),
                    None => {
                        let uuid = self.writer.uuid_of(unit, rowid)?;
                        if let Some((_, cells)) = self.writer.read_record(unit, &st.columns, &uuid)? {
                            cells_to_values(unit, &cells, &st.columns, values);
                        }
                        st.last = Some((rowid, values.to_vec()));
                    }
                }
                parent_rowid = Some(rowid);
                parent_new = false;
                parent_inserted_here = false;
                continue;
            }
            if d >= row.ok {
                return Ok(std::mem::take(&mut row.problems));
            }
            let part = row.parts[d].as_ref().expect("checked parts are present");
            let pr = parent_rowid.unwrap_or(0);
            let kt = &part.key_text;
            let is_leaf = d == plan.depth;
            // units above the leaf are kept by key (`seen`): a person file needs its households
            let keyed = d + 1 < lineage.len();
            let here = Place::new(self.file, line);
            let st = &mut self.states[d];
            if keyed {
                if let Some(&(rowid, h)) = st.seen(pr, kt) {
                    let first = st.met.get(rowid).unwrap_or(here);
                    // a record's answers come from one place: a household file gives each household
                    // once, a combined file repeats them on every person row of that file only
                    if is_leaf || first.file() != self.file {
                        let why = if is_leaf {
                            "a record appears once in an import".to_string()
                        } else {
                            format!("a {}'s rows belong in one file", unit.id)
                        };
                        let m = format!("duplicate key: {} {kt} is also on {} ({why})", unit.key, self.place_text(first));
                        return Ok(vec![mk(key_col, &unit.key, Some(key_raw), m)]);
                    }
                    // repeated household columns must agree on every row of the household
                    if h != part.hash {
                        let (col, q, raw, was) = describe_difference(self.writer, unit, &st.columns, rowid, &part.cells, &plan.cols[d], &row.fields)?;
                        let m = format!(
                            "{} columns differ from line {} for the same {}{was} (they must agree on every row)",
                            unit.id,
                            first.line(),
                            unit.key
                        );
                        return Ok(vec![mk(col, q.as_deref().unwrap_or(&unit.key), raw.as_deref(), m)]);
                    }
                    parent_new = st.new_rowids.contains(&rowid);
                    parent_inserted_here = false;
                    parent_rowid = Some(rowid);
                    continue;
                }
            }
            // The leaf records of a parent this import inserted, met in contiguous rows, can only
            // clash with each other: a list of their keys answers that without the store. Rows
            // of that parent met again after another parent's (A/P1, B/P1, A/P2) go to the store.
            let mut known_new = false;
            if !keyed && unit.parent.is_some() {
                if self.leaf_parent != parent_rowid {
                    self.leaf_parent = parent_rowid.filter(|_| parent_inserted_here);
                    self.leaf_keys.clear();
                }
                if parent_new && self.leaf_parent.is_some() && self.leaf_parent == parent_rowid {
                    if let Some(&(_, rowid)) = self.leaf_keys.iter().find(|(k, _)| k == kt) {
                        let first = st.met.get(rowid).unwrap_or(here);
                        let m = format!(
                            "duplicate key: {} {kt} is also on {} (a record appears once in an import)",
                            unit.key,
                            self.place_text(first)
                        );
                        return Ok(vec![mk(key_col, &unit.key, Some(key_raw), m)]);
                    }
                    known_new = true;
                }
            } else if keyed {
                // not met in this import, and the wave was empty when it began
                known_new = self.fresh && unit.parent.is_none();
            }
            let existing = if known_new {
                None
            } else {
                self.writer.find(unit, wave, parent_rowid.filter(|_| unit.parent.is_some()), &part.key)?
            };
            match existing {
                Some(ex) if st.met.get(ex.rowid).is_some() => {
                    let first = st.met.get(ex.rowid).unwrap_or(here);
                    let m = format!(
                        "duplicate key: {} {kt} is also on {} (a record appears once in an import)",
                        unit.key,
                        self.place_text(first)
                    );
                    return Ok(vec![mk(key_col, &unit.key, Some(key_raw), m)]);
                }
                Some(ex) if u64::from_str_radix(&ex.hash, 16).ok() == Some(part.hash) => {
                    st.unchanged += 1;
                    st.met.insert(ex.rowid, here);
                    if keyed {
                        st.seen.entry(pr).or_default().insert(kt.clone(), (ex.rowid, part.hash));
                    }
                    if skip {
                        self.touched.push((d, (pr, kt.clone()), ex.rowid, false));
                    }
                    parent_rowid = Some(ex.rowid);
                    parent_new = false;
                    parent_inserted_here = false;
                }
                Some(ex) => {
                    let (col, q, raw, was) = describe_difference(self.writer, unit, &st.columns, ex.rowid, &part.cells, &plan.cols[d], &row.fields)?;
                    let m = format!(
                        "conflict: {} {} is already in wave {wave} (record {}) with different answers{was}; nothing was overwritten (correct it with `hearth edit`)",
                        unit.key, kt, ex.uuid
                    );
                    return Ok(vec![match q {
                        Some(q) => mk(col, &q, raw.as_deref(), m),
                        None => mk(key_col, &unit.key, Some(key_raw), m),
                    }]);
                }
                None => {
                    let uuid_hint = plan.uuid_col[d]
                        .and_then(|c| row.fields.get(c))
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty());
                    if let Some(u) = &uuid_hint {
                        if self.writer.uuid_exists(unit, u)? {
                            let m = format!(
                                "record UUID {u} is already in the store (for another wave or key): to import a copy, drop the {}_uuid column",
                                unit.id
                            );
                            return Ok(vec![mk(plan.uuid_col[d], &format!("{}_uuid", unit.id), Some(u), m)]);
                        }
                    }
                    // time-ordered UUIDs keep the unique index append-mostly
                    let mut buf = [0u8; 36];
                    let uuid: &str = match &uuid_hint {
                        Some(u) => u,
                        None => self.uuids.next(&mut buf),
                    };
                    if self.inserters[d].is_none() {
                        self.inserters[d] = Some(self.writer.inserter(unit, &st.columns)?);
                    }
                    let rowid = self.inserters[d].as_mut().expect("prepared above").insert(
                        uuid,
                        wave,
                        self.version,
                        &self.now,
                        &self.opts.by,
                        Some(self.import_id),
                        part.hash,
                        parent_rowid.filter(|_| unit.parent.is_some()),
                        &part.cells,
                    )?;
                    st.added += 1;
                    st.met.insert(rowid, here);
                    if skip {
                        self.touched.push((d, (pr, kt.clone()), rowid, true));
                    }
                    if keyed {
                        st.seen.entry(pr).or_default().insert(kt.clone(), (rowid, part.hash));
                        st.new_rowids.insert(rowid);
                    } else if self.leaf_parent.is_some() && self.leaf_parent == parent_rowid {
                        self.leaf_keys.push((kt.clone(), rowid));
                    }
                    parent_rowid = Some(rowid);
                    parent_new = true;
                    parent_inserted_here = true;
                }
            }
        }
        Ok(Vec::new())
    }

    /// `FILE:LINE` of a place.
    fn place_text(&self, p: Place) -> String {
        format!("{}:{}", self.files.get(p.file()).map_or("?", String::as_str), p.line())
    }
}

/// Rows per batch passed from the checking thread to the writing one.
const BATCH: usize = 256;

/// Imports files into the store (see the module docs).
pub fn import_files(store: &mut Store, files: &[PathBuf], opts: &ImportOptions) -> Result<ImportReport, CaptureError> {
    let def = store.definition(None)?;
    let leaf = def.leaf_unit().id.clone();
    let lineage: Vec<&Unit> = def.lineage(&leaf);
    let counter = Arc::new(AtomicU64::new(0));
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();

    // Open every file and plan its columns first: header problems fail before any row is read.
    let mut sources: Vec<(Box<dyn Rows + Send>, Plan, String)> = Vec::new();
    let mut problems: Vec<RowProblem> = Vec::new();
    let mut given: HashMap<PathBuf, &Path> = HashMap::new();
    for f in files {
        let name = f.display().to_string();
        // a file given twice would have each of its records twice
        if let Some(first) = f.canonicalize().ok().and_then(|c| given.insert(c, f)) {
            let m = format!("this file is given twice (also as {}): each file is read once", first.display());
            problems.push(RowProblem::line(&name, 1, m));
            continue;
        }
        let json = matches!(
            f.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
            Some("jsonl" | "ndjson" | "json")
        );
        let rows = match open(f, &def, counter.clone()) {
            Ok(r) if lineage.len() == 1 && lineage[0].key_auto => RowNumbers::wrap(r, &lineage[0].key),
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
            let mut pl = plan(&name, &header, &def, &lineage, true, true);
            if let Ok(p) = &mut pl {
                p.depth = lineage.len() - 1;
                p.has_questions = vec![true; lineage.len()];
            }
            pl
        } else {
            plan(&name, &header, &def, &lineage, false, opts.allow_missing_columns)
        };
        let header_line = rows.header_line();
        match plan {
            Ok(p) => sources.push((rows, p, name)),
            Err(p) => problems.extend(p.into_iter().map(|p| RowProblem { line: header_line, ..p })),
        }
    }
    if !problems.is_empty() {
        let total = problems.len();
        problems.truncate(MAX_REPORTED);
        return Err(CaptureError::Invalid { problems, total });
    }
    // Parents before children: household files first.
    sources.sort_by_key(|(_, p, _)| p.depth);

    let writer = store.writer()?;
    let fresh = writer.wave_is_empty(lineage[0], opts.wave)?;
    writer.ensure_wave(opts.wave)?;
    let files_text = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" ");
    let import_id = writer.begin_import(opts.wave, &files_text, &opts.by)?;
    let mut loader = Loader {
        writer: &writer,
        lineage: &lineage,
        inserters: (0..lineage.len()).map(|_| None).collect(),
        touched: Vec::new(),
        states: lineage
            .iter()
            .map(|u| UnitState {
                unit: u,
                key_index: u.questions.iter().position(|q| q.id == u.key),
                columns: unit_columns(u),
                added: 0,
                unchanged: 0,
                seen: Default::default(),
                met: Default::default(),
                new_rowids: Default::default(),
                last: None,
            })
            .collect(),
        opts,
        import_id,
        version: def.version,
        now: crate::store::now_iso(),
        fresh,
        uuids: crate::store::UuidV7::new(),
        leaf_parent: None,
        leaf_keys: Vec::new(),
        files: Vec::new(),
        file: 0,
        problems: Vec::new(),
        total_problems: 0,
        rejects: Vec::new(),
        rows_read: 0,
    };
    let progress = Progress::new(opts.progress, total_bytes, counter.clone());
    let leaf_scope = def.leaf_unit().scope.len();

    for (mut rows, plan, name) in sources {
        let header_line = rows.header_line();
        loader.file = loader.files.len();
        loader.files.push(name.clone());
        let mut file_rows = 0u64;
        let mut checker = Checker::new(&name, &plan, &lineage, leaf_scope, opts.lsoa_check.as_ref());
        if plan.has_questions.iter().all(|&h| h) {
            // Stage one on its own thread, in batches; stage two here, in file order.
            std::thread::scope(|s| -> Result<(), CaptureError> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Checked>, usize)>(8);
                let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<Checked>>();
                s.spawn(move || loop {
                    let mut batch = back_rx.try_recv().unwrap_or_default();
                    let mut n = 0;
                    while n < BATCH {
                        if batch.len() == n {
                            batch.push(Checked::default());
                        }
                        let row = &mut batch[n];
                        match rows.next_row(&mut row.fields, &mut row.cols) {
                            None => break,
                            Some(Ok(line)) => {
                                row.line = line;
                                row.read_error = None;
                                checker.check(0, row);
                            }
                            Some(Err(p)) => {
                                row.line = p.line;
                                row.read_error = Some(p);
                            }
                        }
                        n += 1;
                    }
                    // the receiver is gone when the writer stopped early
                    if n == 0 || tx.send((batch, n)).is_err() {
                        return;
                    }
                });
                for (mut batch, n) in rx {
                    for row in &mut batch[..n] {
                        file_rows += 1;
                        if loader.take(&plan, &name, row, None)? {
                            return Ok(());
                        }
                        if loader.rows_read % 4096 == 0 {
                            progress.tick(loader.rows_read);
                        }
                    }
                    let _ = back_tx.send(batch);
                }
                Ok(())
            })?;
        } else {
            let mut row = Checked::default();
            while let Some(next) = rows.next_row(&mut row.fields, &mut row.cols) {
                file_rows += 1;
                match next {
                    Ok(line) => {
                        row.line = line;
                        row.read_error = None;
                    }
                    Err(p) => {
                        row.line = p.line;
                        row.read_error = Some(p);
                    }
                }
                if loader.take(&plan, &name, &mut row, Some(&mut checker))? {
                    break;
                }
                if loader.rows_read % 4096 == 0 {
                    progress.tick(loader.rows_read);
                }
            }
        }
        if file_rows == 0 {
            loader.total_problems += 1;
            let message = "no data rows (the file is empty, or has a header line only)".to_string();
            loader.problems.push(RowProblem::line(&name, header_line, message));
        }
        if !opts.skip_invalid && loader.total_problems > 10_000 {
            break;
        }
    }
    progress.done(loader.rows_read);
    let (states, problems, total_problems, rejects, rows_read) = loader.finish();
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
        version: def.version,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of the non-empty lines of `text` fed to a [`LineIndex`] in chunks of `size`,
    /// looked up at the offsets the `csv` crate gives (right after a terminator's first byte).
    fn lines_at(text: &[u8], size: usize, at: &[u64]) -> Vec<u64> {
        let mut ix = LineIndex::default();
        for c in text.chunks(size) {
            ix.feed(c);
        }
        at.iter().map(|&a| ix.line_at(a)).collect()
    }

    #[test]
    fn r14_line_index_counts_cr_lf_and_crlf_across_reads() {
        // "h" line 1, "a" 2, blank 3, "b" 4, "c" 5: offsets right after the previous line's first terminator byte
        for (text, at) in [
            (&b"h\na\n\nb\nc"[..], [2u64, 4, 7]),
            (b"h\r\na\r\n\r\nb\r\nc\r\n", [3, 6, 11]),
            (b"h\ra\r\rb\rc\r", [2, 4, 7]),
        ] {
            for size in 1..=text.len() {
                assert_eq!(lines_at(text, size, &at), [2, 4, 5], "{:?} in chunks of {size}", String::from_utf8_lossy(text));
            }
        }
        // a record spanning lines inside quotes, with CRLF inside them: the next record is on line 4
        assert_eq!(lines_at(b"h\r\n\"x\r\ny\",1\r\nz,2", 3, &[2, 12]), [2, 4]);
    }

    fn split_lines(text: &[u8], cap: usize) -> Vec<String> {
        let mut r = LineReader {
            inner: BufReader::with_capacity(cap, text),
            after_cr: false,
            failed: false,
        };
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while r.next_line(&mut buf).unwrap() {
            out.push(String::from_utf8(buf.clone()).unwrap());
        }
        out
    }

    #[test]
    fn r14_json_lines_end_in_lf_crlf_or_cr() {
        for cap in 1..8 {
            assert_eq!(split_lines(b"a\nb\r\n\r\nc\rd", cap), ["a", "b", "", "c", "d"], "capacity {cap}");
            assert_eq!(split_lines(b"a\r\n", cap), ["a"], "capacity {cap}");
            assert_eq!(split_lines(b"\r\r\n", cap), ["", ""], "capacity {cap}");
        }
        assert!(split_lines(b"", 4).is_empty());
    }

    #[test]
    fn json_key_columns_are_characters_of_top_level_keys() {
        let mut cols = Vec::new();
        let line = r#"{"a": {"x": 1, "y": [2, {"z": 3}]}, "é\"\\": "v,\"w", "b": [1, "c"]}"#;
        key_columns(line, &mut cols);
        let at = |k: &str| line[..line.find(k).unwrap()].chars().count() + 1;
        assert_eq!(cols, [at(r#""a""#), at(r#""é"#), at(r#""b""#)]);
        assert_eq!(char_column("éé{", 4), 3);
    }

    #[test]
    fn r15_json_object_with_a_key_twice_keeps_both_entries() {
        let e: Entries = serde_json::from_str(r#"{"age": 3, "sex": 1, "age": 4}"#).unwrap();
        let keys: Vec<&str> = e.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["age", "sex", "age"]);
        assert!(serde_json::from_str::<Entries>("[1]").unwrap_err().is_data());
    }

    #[test]
    fn places_dense_sparse_and_removed() {
        let mut p = Places::default();
        p.insert(100, Place::new(0, 2));
        p.insert(101, Place::new(0, 3));
        p.insert(150, Place::new(1, 9)); // a gap: filled
        p.insert(7, Place::new(2, 4)); // below the first: the map
        p.insert(1 << 40, Place::new(0, 5)); // far above: the map
        assert_eq!(p.get(100), Some(Place::new(0, 2)));
        assert_eq!(p.get(150).map(|x| (x.file(), x.line())), Some((1, 9)));
        assert_eq!(p.get(7), Some(Place::new(2, 4)));
        assert_eq!(p.get(1 << 40), Some(Place::new(0, 5)));
        assert_eq!(p.get(120), None);
        assert_eq!(p.get(99), None);
        assert_eq!(p.dense.len(), 51);
        p.remove(101);
        p.remove(7);
        assert_eq!((p.get(101), p.get(7)), (None, None));
        // a rowid reused after a rolled-back row
        p.insert(101, Place::new(0, 8));
        assert_eq!(p.get(101), Some(Place::new(0, 8)));
    }

    #[test]
    fn r15_control_characters_in_keys() {
        assert!(control_in_key("H1").is_none());
        assert!(control_in_key(" H1\t").is_none(), "surrounding white space is trimmed");
        assert!(control_in_key("H\u{0}1").unwrap().contains("\\u{0}"));
        assert!(control_in_key("H\n1").unwrap().contains("\\n"));
        assert!(control_in_key("H\u{1b}[2J").is_some());
    }

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
}
