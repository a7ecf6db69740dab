//! Data sources of an import: CSV and JSON Lines files read as a header and data rows, each
//! row with the physical line it starts on and the column to show for each of its fields.
//!
//! Owns the file formats: CSV through the `csv` crate, with the line numbering and the
//! truncated-quote check it lacks ([`LineIndex`], [`QuoteState`]); JSON Lines objects with
//! their keys in the order written and where each starts; row numbers as the key of a survey
//! without one ([`RowNumbers`]); the byte count behind the progress report. It must not know
//! units, questions or the store: placing columns is the plan's, checking the record's.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::error::{CaptureError, RowProblem};
use super::plan::is_export_column;
use crate::schema::yaml::did_you_mean;
use crate::schema::{Definition, QType};

/// A source of rows: header then data rows, each with the physical line it starts on.
pub(crate) trait Rows {
    /// The column names (JSON Lines: every question id and `<unit>_uuid`).
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
pub(crate) fn shown_column(cols: &[usize], c: usize) -> Option<usize> {
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
pub(crate) struct RowNumbers {
    inner: Box<dyn Rows + Send>,
    header: Vec<String>,
    slot: usize,
    append: bool,
    n: u64,
}

impl RowNumbers {
    /// `inner` with `key` filled by row number (a column added when the file has none).
    pub(crate) fn wrap(inner: Box<dyn Rows + Send>, key: &str) -> Box<dyn Rows + Send> {
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

/// Counts the bytes read through it (for the progress report).
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

/// Whether `path` is read as JSON Lines (by its extension), rather than CSV.
pub(crate) fn is_json(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("jsonl" | "ndjson" | "json")
    )
}

/// Opens a response file as a source of rows, counting the bytes read into `counter`. A
/// Parquet file or an unreadable CSV header is an [`CaptureError::Invalid`] naming the file.
pub(crate) fn open(path: &Path, def: &Definition, counter: Arc<AtomicU64>) -> Result<Box<dyn Rows + Send>, CaptureError> {
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
    if is_json(path) {
        return Ok(open_json(name, reader, def));
    }
    open_csv(name, reader)
}

/// A JSON Lines source: its header is every question id and `<unit>_uuid`.
fn open_json(name: String, reader: Box<dyn Read + Send>, def: &Definition) -> Box<dyn Rows + Send> {
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
    Box::new(JsonRows {
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
    })
}

/// A CSV source, its header read.
fn open_csv(name: String, reader: Box<dyn Read + Send>) -> Result<Box<dyn Rows + Send>, CaptureError> {
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
}
