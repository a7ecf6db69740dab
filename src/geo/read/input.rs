//! Reading the rows of a geography file: line endings made LF while streaming, records checked
//! for their field count and UTF-8, every problem collected with its file, line, column and
//! value ([`Errs`], up to [`MAX_ERRORS`]), and the cell parsers every format shares (codes,
//! whole numbers with thousands separators).
//!
//! Owns what a well-formed row and cell are. It must not know which columns a format has
//! (`detect`) nor what a table needs (the parsers).

use std::io::Read;

use super::super::codes::{AreaCode, CodeError, IndexKind, LsoaCode, LsoaVintage, Nation};
use super::super::error::{DataError, GeoError, MAX_ERRORS};

/// A CSV reader error as a [`GeoError`]: an I/O error as such, any other wrapped with its line.
pub(super) fn csv_error(path: &str, e: csv::Error) -> GeoError {
    let path = path.to_string();
    if !e.is_io_error() {
        let line = e.position().map_or(1, |p| p.line());
        return GeoError::Csv { path, line, source: e };
    }
    match e.into_kind() {
        csv::ErrorKind::Io(source) => GeoError::Io { path, source },
        _ => unreachable!("csv::Error::is_io_error said the kind is Io"),
    }
}

/// Turns CRLF and lone CR line endings into LF while streaming, so that the CSV reader's
/// line numbers match what an editor shows (with CRLF it reports a record as starting on
/// the previous line, before the LF).
pub(super) struct Eol<R> {
    inner: R,
    raw: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
    pending_cr: bool,
}

impl<R: Read> Eol<R> {
    pub(super) fn new(inner: R) -> Eol<R> {
        Eol {
            inner,
            raw: vec![0; 1 << 16],
            buf: Vec::with_capacity(1 << 16),
            pos: 0,
            pending_cr: false,
        }
    }
}

impl<R: Read> Read for Eol<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            let n = self.inner.read(&mut self.raw)?;
            self.buf.clear();
            self.pos = 0;
            if n == 0 {
                if self.pending_cr {
                    self.pending_cr = false;
                    out[0] = b'\n';
                    return Ok(1);
                }
                return Ok(0);
            }
            for &b in &self.raw[..n] {
                if self.pending_cr {
                    self.pending_cr = false;
                    self.buf.push(b'\n');
                    if b == b'\n' {
                        continue;
                    }
                }
                if b == b'\r' {
                    self.pending_cr = true;
                } else {
                    self.buf.push(b);
                }
            }
        }
    }
}

/// The problems found in a file: the first [`MAX_ERRORS`] kept, the rest counted.
pub(super) struct Errs {
    /// The file, as messages name it.
    pub(super) path: String,
    list: Vec<DataError>,
    more: usize,
}

impl Errs {
    pub(super) fn new(path: &str) -> Errs {
        Errs {
            path: path.to_string(),
            list: Vec::new(),
            more: 0,
        }
    }
    pub(super) fn push(&mut self, e: DataError) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(e);
        } else {
            self.more += 1;
        }
    }
    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// How many problems were found so far, kept or counted.
    pub(super) fn found(&self) -> usize {
        self.list.len() + self.more
    }
    pub(super) fn finish(self) -> Result<(), GeoError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(GeoError::Invalid {
                path: self.path,
                errors: self.list,
                more: self.more,
            })
        }
    }
    pub(super) fn malformed(&mut self, line: u64, col: usize, e: CodeError) {
        self.push(DataError::MalformedCode {
            path: self.path.clone(),
            line,
            column: col + 1,
            what: e.what,
            value: e.value,
            expected: e.expected,
        });
    }
    pub(super) fn bad_number(&mut self, line: u64, col: usize, what: &'static str, value: &str) {
        self.push(DataError::BadNumber {
            path: self.path.clone(),
            line,
            column: col + 1,
            what,
            value: value.to_string(),
        });
    }
    pub(super) fn missing(&mut self, line: u64, col: usize, what: &'static str) {
        self.push(DataError::Missing {
            path: self.path.clone(),
            line,
            column: col + 1,
            what,
            value: String::new(),
        });
    }
    pub(super) fn duplicate(&mut self, line: u64, col: usize, what: &'static str, value: &str, first_line: u64) {
        self.push(DataError::Duplicate {
            path: self.path.clone(),
            line,
            column: col + 1,
            what,
            value: value.to_string(),
            first_line,
        });
    }
}

/// The records of a file after its header, with the record being looked at.
pub(super) struct Rows<R: Read> {
    /// The file, as messages name it.
    pub(super) path: String,
    pub(super) rdr: csv::Reader<R>,
    pub(super) rec: csv::ByteRecord,
    /// Fields in the header.
    pub(super) ncols: usize,
    /// Records read so far, well-formed or not.
    pub(super) count: usize,
}

impl<R: Read> Rows<R> {
    /// Reads the next well-formed record, reporting records with the wrong number of
    /// fields or invalid UTF-8 and skipping them. Returns its line.
    pub(super) fn next(&mut self, errs: &mut Errs) -> Result<Option<u64>, GeoError> {
        loop {
            match self.rdr.read_byte_record(&mut self.rec) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    if let csv::ErrorKind::Io(_) = e.kind() {
                        return Err(csv_error(&self.path, e));
                    }
                    let line = e.position().map_or(0, |p| p.line());
                    errs.push(DataError::Syntax {
                        path: self.path.clone(),
                        line,
                        column: 1,
                        value: String::new(),
                        message: e.to_string().to_lowercase(),
                    });
                    continue;
                }
            }
            self.count += 1;
            let line = self.rec.position().map_or(0, |p| p.line());
            if self.rec.len() != self.ncols {
                let joined: Vec<String> = self.rec.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
                let mut value = joined.join(",");
                if value.chars().count() > 80 {
                    value = value.chars().take(77).collect::<String>() + "...";
                }
                errs.push(DataError::WrongFieldCount {
                    path: self.path.clone(),
                    line,
                    column: self.rec.len().min(self.ncols) + 1,
                    value,
                    found: self.rec.len(),
                    expected: self.ncols,
                });
                continue;
            }
            if let Err(e) = std::str::from_utf8(self.rec.as_slice()) {
                // Find the column holding the bad byte.
                let mut at = e.valid_up_to();
                let mut col = 0;
                for (i, f) in self.rec.iter().enumerate() {
                    if at < f.len() {
                        col = i;
                        break;
                    }
                    at -= f.len();
                }
                errs.push(DataError::Syntax {
                    path: self.path.clone(),
                    line,
                    column: col + 1,
                    value: String::from_utf8_lossy(&self.rec[col]).into_owned(),
                    message: "invalid UTF-8: the file must be saved as UTF-8".to_string(),
                });
                continue;
            }
            return Ok(Some(line));
        }
    }

    /// A cell, trimmed (valid UTF-8 was checked by `next`).
    pub(super) fn cell(&self, i: usize) -> &str {
        self.rec.get(i).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("").trim()
    }

    /// The header of column `col`, trimmed.
    pub(super) fn header_name(&mut self, col: usize) -> String {
        self.rdr
            .byte_headers()
            .ok()
            .and_then(|h| h.get(col))
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .unwrap_or_default()
    }
}

/// A whole number, allowing thousands separators (`1,296`) and a `.0` ending (xlsx
/// exports). `None` for anything else.
pub(super) fn parse_whole(s: &str) -> Option<u32> {
    let s = s.trim();
    let s = s.strip_suffix(".0").unwrap_or(s);
    let mut v: u64 = 0;
    let mut digits = 0;
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'0'..=b'9' => {
                v = v * 10 + u64::from(c - b'0');
                if v > u64::from(u32::MAX) {
                    return None;
                }
                digits += 1;
            }
            b',' if i > 0 => {}
            _ => return None,
        }
    }
    (digits > 0).then_some(v as u32)
}

/// Parses a small-area code for an index of `kind`, reporting malformed codes and codes of
/// the wrong nation or vintage.
pub(super) fn index_area(errs: &mut Errs, line: u64, col: usize, s: &str, kind: IndexKind) -> Option<AreaCode> {
    let code = match AreaCode::new(s) {
        Ok(c) => c,
        Err(e) => {
            let expected = match kind.nation() {
                Nation::England => "E01 followed by 6 digits",
                Nation::Wales => "W01 followed by 6 digits",
                _ => "S01 followed by 6 digits",
            };
            if s.is_empty() {
                errs.missing(line, col, "area code");
            } else {
                errs.malformed(line, col, CodeError { expected, ..e });
            }
            return None;
        }
    };
    if code.nation() != kind.nation() {
        errs.push(DataError::WrongNation {
            path: errs.path.clone(),
            line,
            column: col + 1,
            value: code.to_string(),
            found: code.nation(),
            expected: kind.nation(),
            index: kind,
        });
        return None;
    }
    if kind.lsoa_vintage() == LsoaVintage::Lsoa2011 && code.is_2021_only() {
        errs.push(DataError::WrongVintage {
            path: errs.path.clone(),
            line,
            column: col + 1,
            value: code.to_string(),
            found: LsoaVintage::Lsoa2021,
            expected: LsoaVintage::Lsoa2011,
        });
        return None;
    }
    Some(code)
}

/// Parses an LSOA code of a lookup on `vintage` boundaries.
pub(super) fn lookup_lsoa(errs: &mut Errs, line: u64, col: usize, s: &str, vintage: LsoaVintage) -> Option<LsoaCode> {
    match LsoaCode::new(s) {
        Ok(c) if vintage == LsoaVintage::Lsoa2011 && c.is_2021_only() => {
            errs.push(DataError::WrongVintage {
                path: errs.path.clone(),
                line,
                column: col + 1,
                value: c.to_string(),
                found: LsoaVintage::Lsoa2021,
                expected: LsoaVintage::Lsoa2011,
            });
            None
        }
        Ok(c) => Some(c),
        Err(_) if s.is_empty() => {
            errs.missing(line, col, "LSOA code");
            None
        }
        Err(e) => {
            errs.malformed(line, col, e);
            None
        }
    }
}

/// A code cell parsed by `f`, reported as missing when empty and malformed otherwise.
pub(super) fn code_cell<T>(errs: &mut Errs, line: u64, col: usize, s: &str, f: fn(&str) -> Result<T, CodeError>) -> Option<T> {
    match f(s) {
        Ok(c) => Some(c),
        Err(e) => {
            if s.is_empty() {
                errs.missing(line, col, e.what);
            } else {
                errs.malformed(line, col, e);
            }
            None
        }
    }
}

/// A whole-number cell, reported as missing when empty and as a bad number otherwise.
pub(super) fn number_cell(errs: &mut Errs, line: u64, col: usize, s: &str, what: &'static str) -> Option<u32> {
    match parse_whole(s) {
        Some(v) => Some(v),
        None if s.is_empty() => {
            errs.missing(line, col, what);
            None
        }
        None => {
            errs.bad_number(line, col, what, s);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r16_a_csv_reader_error_keeps_its_cause() {
        // a strict reader gives a non-I/O error on a short row
        let mut strict = csv::ReaderBuilder::new().flexible(false).from_reader("a,b\n1\n".as_bytes());
        let e = strict.byte_records().next().expect("a record").expect_err("a short row");
        let g = csv_error("f.csv", e);
        assert!(matches!(g, GeoError::Csv { line: 2, .. }), "{g:?}");
        assert_eq!(g.to_string(), "f.csv:2:1: cannot read the file as CSV");
        let cause = std::error::Error::source(&g).expect("the CSV error is the cause");
        assert!(cause.to_string().contains("found record with 1 field"), "{cause}");
    }

    /// Gives `ok` bytes, then fails.
    struct Failing {
        ok: &'static [u8],
    }

    impl Read for Failing {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.ok.is_empty() {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = out.len().min(self.ok.len());
            out[..n].copy_from_slice(&self.ok[..n]);
            self.ok = &self.ok[n..];
            Ok(n)
        }
    }

    #[test]
    fn an_io_error_while_reading_headers_stays_an_io_error() {
        let r = super::super::read_from("f.csv", Failing { ok: b"LSOA11CD,WD19" }, &Default::default());
        match r {
            Err(GeoError::Io { path, source }) => {
                assert_eq!(path, "f.csv");
                assert_eq!(source.to_string(), "the disk went away");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }

    #[test]
    fn whole_numbers_take_thousands_separators_and_a_dot_zero() {
        assert_eq!(parse_whole("1,296"), Some(1296));
        assert_eq!(parse_whole(" 32844.0 "), Some(32844));
        assert_eq!(parse_whole(",12"), None);
        assert_eq!(parse_whole("1.5"), None);
        assert_eq!(parse_whole(""), None);
        assert_eq!(parse_whole("4294967296"), None, "beyond u32");
    }

    #[test]
    fn line_endings_become_lf() {
        let mut out = String::new();
        Eol::new("a\r\nb\rc\n\r".as_bytes()).read_to_string(&mut out).expect("reads");
        assert_eq!(out, "a\nb\nc\n\n");
    }
}
