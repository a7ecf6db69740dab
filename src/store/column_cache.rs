//! The column cache: analysis columns kept as compact blobs inside the store.
//!
//! Owns the `column_cache` table, the encoding of one column of raw stored values ([`RawCells`]
//! in, [`CachedColumn`] out), and the triggers that keep the cache honest. An entry is one
//! column of a leaf unit's scan (a column of a unit in the leaf's lineage, one value per leaf
//! record, joined as [`Store::scan`] joins it) for every record of the leaf table in row order,
//! all waves; the leaf's `_wave` is an entry of its own. Values are cached raw, exactly as the
//! scan sees them (null, whole number, real, text): what they mean (missing codes, choices) is
//! the reader's, so no definition change short of a new column touches them.
//!
//! Validity: whenever an entry is written, every `u_<unit>` table gets (in the same
//! transaction) triggers after insert, update and delete that empty the cache, so any write to
//! records, by hearth or by another program, empties it in the writer's own transaction. Each
//! entry keeps SQLite's `schema_version` as of its writing and is read only while it is
//! unchanged (a new column, a rebuilt table, a dropped trigger invalidate it). A bulk writer (an
//! import, a merge) empties the cache and drops the triggers instead ([`Writer::drop_column_cache`]),
//! since they would cost it about 80% more CPU time. Writing is best
//! effort: it never waits for another writer and never fails the caller. It must not decide
//! which columns an analysis needs (the frame's) and never caches identifiers.

use rusqlite::{params, OptionalExtension};

use super::cell::Cell;
use super::read::CellRef;
use super::{Store, StoreError, Writer};

/// The `signature` of entries holding raw stored values (the only kind written today; the
/// column leaves room for entries of values decoded some other way).
const RAW: &str = "raw";

/// The encoding written into each blob's first byte.
const ENCODING: u8 = 1;

/// Columns with at most this many distinct values are kept as a dictionary and codes, others
/// (numbers only) as plain arrays.
const MAX_DICT: usize = 65_536;

/// Whole numbers 0 to this (exclusive) are put in a dictionary by table lookup.
const SMALL: usize = 4096;

/// The entry name of the leaf's wave column.
pub const WAVE_COLUMN: &str = "_wave";

const TAG_NULL: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_REAL: u8 = 2;
const TAG_TEXT: u8 = 3;

const KIND_DICT: u8 = 0;
const KIND_INTS: u8 = 1;
const KIND_REALS: u8 = 2;

/// Raw values of one column as read, in row order (no allocation per value).
#[derive(Debug, Default, Clone)]
pub struct RawCells {
    /// While every value is NULL or a whole number below [`SMALL_NULL`] (scores, codes, waves):
    /// one byte a value, [`SMALL_NULL`] for NULL, and `tags` and `vals` empty. A fresh page of
    /// memory costs more to fault in than to fill: a million rows take 1 MB rather than 9.
    small: Vec<u8>,
    /// A value did not fit `small`: every value is in `tags` and `vals`.
    wide: bool,
    tags: Vec<u8>,
    /// A number's bits, or a text's (start << 32 | length) in `text`.
    vals: Vec<u64>,
    text: String,
    /// More text than offsets can address: the column cannot be cached.
    overflow: bool,
}

/// NULL among [`RawCells`]' one-byte values.
const SMALL_NULL: u8 = u8::MAX;

/// The tag and bits of a one-byte value of [`RawCells`].
#[inline]
fn small_raw(b: u8) -> (u8, u64) {
    if b == SMALL_NULL {
        (TAG_NULL, 0)
    } else {
        (TAG_INT, u64::from(b))
    }
}

impl RawCells {
    /// An empty column with room for `rows` one-byte values (no text reserved).
    pub fn with_capacity(rows: usize) -> RawCells {
        RawCells {
            small: Vec::with_capacity(rows),
            ..RawCells::default()
        }
    }

    /// Appends one value.
    #[inline]
    pub fn push(&mut self, v: CellRef<'_>) {
        if !self.wide {
            match v {
                CellRef::Null => return self.small.push(SMALL_NULL),
                CellRef::Int(i) if (0..i64::from(SMALL_NULL)).contains(&i) => return self.small.push(i as u8),
                _ => self.widen(),
            }
        }
        let (tag, val) = match v {
            CellRef::Null => (TAG_NULL, 0),
            CellRef::Int(i) => (TAG_INT, i as u64),
            CellRef::Real(r) => (TAG_REAL, r.to_bits()),
            CellRef::Text(t) => {
                let start = self.text.len();
                if start + t.len() > u32::MAX as usize || t.len() > u32::MAX as usize {
                    self.overflow = true;
                    (TAG_NULL, 0)
                } else {
                    self.text.push_str(t);
                    (TAG_TEXT, (start as u64) << 32 | t.len() as u64)
                }
            }
        };
        self.tags.push(tag);
        self.vals.push(val);
    }

    /// Moves the one-byte values to `tags` and `vals`, room kept for as many as were reserved.
    #[cold]
    fn widen(&mut self) {
        let room = self.small.capacity();
        let (mut tags, mut vals) = (Vec::with_capacity(room), Vec::with_capacity(room));
        for &b in &self.small {
            let (t, v) = small_raw(b);
            tags.push(t);
            vals.push(v);
        }
        (self.tags, self.vals, self.small, self.wide) = (tags, vals, Vec::new(), true);
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        if self.wide {
            self.tags.len()
        } else {
            self.small.len()
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tag and bits of the `i`th value.
    #[inline]
    fn raw(&self, i: usize) -> (u8, u64) {
        if self.wide {
            (self.tags[i], self.vals[i])
        } else {
            small_raw(self.small[i])
        }
    }

    /// The `i`th value.
    #[inline]
    pub fn get(&self, i: usize) -> CellRef<'_> {
        let (tag, v) = self.raw(i);
        match tag {
            TAG_INT => CellRef::Int(v as i64),
            TAG_REAL => CellRef::Real(f64::from_bits(v)),
            TAG_TEXT => {
                let (s, l) = ((v >> 32) as usize, (v & 0xffff_ffff) as usize);
                CellRef::Text(&self.text[s..s + l])
            }
            _ => CellRef::Null,
        }
    }
}

/// One cached column, decoded: one value per row of the leaf table.
#[derive(Debug, Clone, PartialEq)]
pub enum CachedColumn {
    /// Few distinct values: the values, and each row's index among them.
    Dict {
        /// The distinct values.
        values: Vec<Cell>,
        /// Each row's value, as an index into `values`.
        codes: Codes,
    },
    /// Many distinct whole numbers (with nulls where `nulls` says).
    Ints {
        /// The values (0 where null).
        values: Vec<i64>,
        /// Which rows hold a value.
        nulls: NullMask,
    },
    /// Many distinct reals (with nulls where `nulls` says).
    Reals {
        /// The values (0 where null).
        values: Vec<f64>,
        /// Which rows hold a value.
        nulls: NullMask,
    },
}

/// Which rows of a plain column hold a value: one bit a row, set for a value; empty when
/// every row does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NullMask(Vec<u8>);

impl NullMask {
    /// Whether row `i` holds a value.
    #[inline]
    pub fn has_value(&self, i: usize) -> bool {
        self.0.is_empty() || self.0[i / 8] & (1 << (i % 8)) != 0
    }
}

/// The codes of a dictionary column, as narrow as its dictionary allows.
#[derive(Debug, Clone, PartialEq)]
pub enum Codes {
    /// At most 256 distinct values.
    U8(Vec<u8>),
    /// At most 65,536.
    U16(Vec<u16>),
    /// More.
    U32(Vec<u32>),
}

impl Codes {
    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            Codes::U8(v) => v.len(),
            Codes::U16(v) => v.len(),
            Codes::U32(v) => v.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`'s code.
    #[inline]
    pub fn get(&self, i: usize) -> usize {
        match self {
            Codes::U8(v) => v[i] as usize,
            Codes::U16(v) => v[i] as usize,
            Codes::U32(v) => v[i] as usize,
        }
    }

    /// The codes of rows `rows` only, in that order.
    pub fn select(&self, rows: &[u32]) -> Codes {
        match self {
            Codes::U8(v) => Codes::U8(rows.iter().map(|&i| v[i as usize]).collect()),
            Codes::U16(v) => Codes::U16(rows.iter().map(|&i| v[i as usize]).collect()),
            Codes::U32(v) => Codes::U32(rows.iter().map(|&i| v[i as usize]).collect()),
        }
    }

    fn max(&self) -> Option<usize> {
        match self {
            Codes::U8(v) => v.iter().max().map(|&c| c as usize),
            Codes::U16(v) => v.iter().max().map(|&c| c as usize),
            Codes::U32(v) => v.iter().max().map(|&c| c as usize),
        }
    }
}

impl CachedColumn {
    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            CachedColumn::Dict { codes, .. } => codes.len(),
            CachedColumn::Ints { values, .. } => values.len(),
            CachedColumn::Reals { values, .. } => values.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th row's value.
    #[inline]
    pub fn get(&self, i: usize) -> CellRef<'_> {
        match self {
            CachedColumn::Dict { values, codes } => cell_ref(&values[codes.get(i)]),
            CachedColumn::Ints { values, nulls } => {
                if nulls.has_value(i) {
                    CellRef::Int(values[i])
                } else {
                    CellRef::Null
                }
            }
            CachedColumn::Reals { values, nulls } => {
                if nulls.has_value(i) {
                    CellRef::Real(values[i])
                } else {
                    CellRef::Null
                }
            }
        }
    }
}

/// A cell as the value a scan would have given.
pub fn cell_ref(c: &Cell) -> CellRef<'_> {
    match c {
        Cell::Null => CellRef::Null,
        Cell::Int(v) => CellRef::Int(*v),
        Cell::Real(v) => CellRef::Real(*v),
        Cell::Text(s) => CellRef::Text(s),
    }
}

type Fast = foldhash::fast::FixedState;

/// Encodes a column given as consecutive parts into a blob; `None` when it cannot be kept.
pub fn encode_column(parts: &[&RawCells]) -> Option<Vec<u8>> {
    if parts.iter().any(|p| p.overflow) {
        return None;
    }
    let n: usize = parts.iter().map(|p| p.len()).sum();
    let n32 = u32::try_from(n).ok()?;
    if parts.iter().all(|p| !p.wide) {
        return Some(encode_small(parts, n32));
    }
    let (mut has_int, mut has_real, mut has_text) = (false, false, false);
    let mut nums: std::collections::HashMap<(u8, u64), u32, Fast> = Default::default();
    let mut texts: std::collections::HashMap<&str, u32, Fast> = Default::default();
    let mut values: Vec<CellRef<'_>> = Vec::new();
    let mut codes: Vec<u32> = Vec::with_capacity(n);
    let mut small = vec![u32::MAX; SMALL];
    let mut plain = false;
    'scan: for p in parts {
        let mut last: Option<(u8, u64, u32)> = None;
        for i in 0..p.len() {
            let (tag, val) = p.raw(i);
            // the persons of a household share its values: runs are common
            if let Some((lt, lv, lc)) = last {
                if lt == tag && lv == val {
                    codes.push(lc);
                    continue;
                }
            }
            let next = values.len() as u32;
            let code = if tag == TAG_TEXT {
                has_text = true;
                let CellRef::Text(t) = p.get(i) else { unreachable!("a text tag holds text") };
                *texts.entry(t).or_insert_with(|| {
                    values.push(CellRef::Text(t));
                    next
                })
            } else if tag == TAG_INT && val < SMALL as u64 {
                // small whole numbers (scores, codes) by table rather than hashed
                has_int = true;
                let slot = &mut small[val as usize];
                if *slot == u32::MAX {
                    *slot = next;
                    values.push(CellRef::Int(val as i64));
                }
                *slot
            } else {
                has_int |= tag == TAG_INT;
                has_real |= tag == TAG_REAL;
                let v = p.get(i);
                *nums.entry((tag, val)).or_insert_with(|| {
                    values.push(v);
                    next
                })
            };
            if values.len() > MAX_DICT && !has_text && !(has_int && has_real) {
                plain = true;
                break 'scan;
            }
            last = Some((tag, val, code));
            codes.push(code);
        }
    }
    let mut out = vec![ENCODING];
    if plain {
        out.push(if has_real { KIND_REALS } else { KIND_INTS });
        out.extend_from_slice(&n32.to_le_bytes());
        let mut bitmap = vec![0u8; n.div_ceil(8)];
        let mut data = Vec::with_capacity(n * 8);
        let mut k = 0;
        for p in parts {
            for i in 0..p.len() {
                let (tag, val) = p.raw(i);
                if tag != TAG_NULL {
                    bitmap[k / 8] |= 1 << (k % 8);
                }
                data.extend_from_slice(&val.to_le_bytes());
                k += 1;
            }
        }
        out.extend_from_slice(&bitmap);
        out.extend_from_slice(&data);
        return Some(out);
    }
    out.push(KIND_DICT);
    out.extend_from_slice(&n32.to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in &values {
        match *v {
            CellRef::Null => out.push(TAG_NULL),
            CellRef::Int(i) => {
                out.push(TAG_INT);
                out.extend_from_slice(&i.to_le_bytes());
            }
            CellRef::Real(r) => {
                out.push(TAG_REAL);
                out.extend_from_slice(&r.to_bits().to_le_bytes());
            }
            CellRef::Text(t) => {
                out.push(TAG_TEXT);
                out.extend_from_slice(&(t.len() as u32).to_le_bytes());
                out.extend_from_slice(t.as_bytes());
            }
        }
    }
    let width: u8 = match values.len() {
        0..=256 => 1,
        257..=65_536 => 2,
        _ => 4,
    };
    out.push(width);
    out.reserve(n * width as usize);
    match width {
        1 => out.extend(codes.iter().map(|&c| c as u8)),
        2 => codes.iter().for_each(|&c| out.extend_from_slice(&(c as u16).to_le_bytes())),
        _ => codes.iter().for_each(|&c| out.extend_from_slice(&c.to_le_bytes())),
    }
    Some(out)
}

/// [`encode_column`] of `n` values that all take one byte (whole numbers 0-254 and NULLs):
/// the same blob, a dictionary of at most 255 values in the order they first appear and a byte
/// a row, made without hashing or a wider code per row.
fn encode_small(parts: &[&RawCells], n: u32) -> Vec<u8> {
    let mut code = [u16::MAX; 256];
    let mut values: Vec<u8> = Vec::new();
    for p in parts {
        for &b in &p.small {
            if code[usize::from(b)] == u16::MAX {
                code[usize::from(b)] = values.len() as u16;
                values.push(b);
            }
        }
    }
    let mut out = Vec::with_capacity(2 + 8 + 9 * values.len() + 1 + n as usize);
    out.extend_from_slice(&[ENCODING, KIND_DICT]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &b in &values {
        if b == SMALL_NULL {
            out.push(TAG_NULL);
        } else {
            out.push(TAG_INT);
            out.extend_from_slice(&i64::from(b).to_le_bytes());
        }
    }
    out.push(1);
    for p in parts {
        out.extend(p.small.iter().map(|&b| code[usize::from(b)] as u8));
    }
    out
}

/// Reads a blob back; `None` when it is not one [`encode_column`] wrote (any other encoding version,
/// cut short, a code out of range).
pub fn decode_column(blob: &[u8]) -> Option<CachedColumn> {
    let mut r = Bytes(blob);
    if r.u8()? != ENCODING {
        return None;
    }
    let kind = r.u8()?;
    let n = r.u32()? as usize;
    match kind {
        KIND_INTS | KIND_REALS => {
            let bitmap = r.take(n.div_ceil(8))?;
            let data = r.take(n.checked_mul(8)?)?;
            if !r.0.is_empty() {
                return None;
            }
            // the bits past the last row are clear as written
            if n % 8 != 0 && bitmap[n / 8] >> (n % 8) != 0 {
                return None;
            }
            let with_value: usize = bitmap.iter().map(|b| b.count_ones() as usize).sum();
            let nulls = if with_value == n { NullMask::default() } else { NullMask(bitmap.to_vec()) };
            let words = data.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
            Some(if kind == KIND_INTS {
                CachedColumn::Ints {
                    values: words.map(|w| w as i64).collect(),
                    nulls,
                }
            } else {
                CachedColumn::Reals {
                    values: words.map(f64::from_bits).collect(),
                    nulls,
                }
            })
        }
        KIND_DICT => {
            let n_values = r.u32()? as usize;
            let mut values = Vec::with_capacity(n_values.min(blob.len()));
            for _ in 0..n_values {
                values.push(match r.u8()? {
                    TAG_NULL => Cell::Null,
                    TAG_INT => Cell::Int(r.u64()? as i64),
                    TAG_REAL => Cell::Real(f64::from_bits(r.u64()?)),
                    TAG_TEXT => {
                        let l = r.u32()? as usize;
                        Cell::Text(std::str::from_utf8(r.take(l)?).ok()?.to_string())
                    }
                    _ => return None,
                });
            }
            let width = r.u8()? as usize;
            let data = r.take(n.checked_mul(width)?)?;
            if !r.0.is_empty() {
                return None;
            }
            let codes = match width {
                1 => Codes::U8(data.to_vec()),
                2 => Codes::U16(data.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect()),
                4 => Codes::U32(data.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
                _ => return None,
            };
            if codes.max().is_some_and(|c| c >= values.len()) {
                return None;
            }
            Some(CachedColumn::Dict { values, codes })
        }
        _ => None,
    }
}

/// A reader over a blob's bytes.
struct Bytes<'b>(&'b [u8]);

impl<'b> Bytes<'b> {
    fn take(&mut self, k: usize) -> Option<&'b [u8]> {
        if self.0.len() < k {
            return None;
        }
        let (a, b) = self.0.split_at(k);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The cache's table.
const TABLE: &str = "CREATE TABLE IF NOT EXISTS column_cache (leaf TEXT NOT NULL, unit TEXT NOT NULL,
    col TEXT NOT NULL, signature TEXT NOT NULL, schema_version INTEGER NOT NULL, n_rows INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (leaf, unit, col, signature))";

/// A point to compare with when writing the cache: whether the store can be written, and
/// SQLite's count of other connections' commits before the columns were read.
#[derive(Debug, Clone, Copy)]
pub struct CacheMark(i64);

impl Store {
    /// The cached columns `cols` ((unit, column) pairs) of the leaf unit `leaf`, with the
    /// leaf's waves first: all of them, read at one snapshot, or `None` when any is missing,
    /// stale or unreadable (the caller then reads the records).
    pub fn cached_columns(&self, leaf: &str, cols: &[(String, String)]) -> Option<(CachedColumn, Vec<CachedColumn>)> {
        // a write of the cache this store started is read once it is done (a report's next
        // analysis reads what its first one kept)
        self.finish_background();
        // the blobs are read by mapping the file, as a scan reads records
        self.conn.pragma_update(None, "mmap_size", 1i64 << 31).ok()?;
        let tx = self.conn.unchecked_transaction().ok()?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'column_cache')",
                [],
                |r| r.get(0),
            )
            .ok()?;
        if !exists {
            return None;
        }
        let schema: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0)).ok()?;
        let mut st = tx
            .prepare("SELECT schema_version, n_rows, data FROM column_cache WHERE leaf = ?1 AND unit = ?2 AND col = ?3 AND signature = ?4")
            .ok()?;
        let mut n_rows: Option<usize> = None;
        let mut one = |unit: &str, col: &str| -> Option<CachedColumn> {
            let (version, n, c): (i64, i64, Option<CachedColumn>) = st
                .query_row(params![leaf, unit, col, RAW], |r| {
                    // decoded from SQLite's copy of the blob, not copied first
                    Ok((r.get(0)?, r.get(1)?, r.get_ref(2)?.as_blob().ok().and_then(decode_column)))
                })
                .optional()
                .ok()??;
            let n = usize::try_from(n).ok()?;
            if version != schema || n_rows.is_some_and(|m| m != n) {
                return None;
            }
            n_rows = Some(n);
            c.filter(|c| c.len() == n)
        };
        let wave = one(leaf, WAVE_COLUMN)?;
        let mut out = Vec::with_capacity(cols.len());
        for (u, c) in cols {
            out.push(one(u, c)?);
        }
        Some((wave, out))
    }

    /// A mark to take before reading the columns to cache: `None` when the store cannot be
    /// written (opened read-only, a read-only file), so that nothing need be kept for it.
    pub fn cache_mark(&self) -> Option<CacheMark> {
        if self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            return None;
        }
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok().map(CacheMark)
    }

    /// Keeps encoded columns (`blobs`: (unit, column, blob) with the leaf's waves among them as
    /// (`leaf`, [`WAVE_COLUMN`])) of `n_rows` rows read since `mark`. Best effort: returns
    /// whether they were kept; nothing is kept when another process wrote since `mark` or
    /// holds the write lock (it does not wait), or the file cannot be written.
    pub fn cache_columns(&self, mark: CacheMark, leaf: &str, n_rows: usize, blobs: &[(&str, &str, Vec<u8>)]) -> bool {
        let wait = std::time::Duration::from_secs(30);
        // inside a transaction of the caller's: not ours to commit or roll back
        if !self.conn.is_autocommit() || self.conn.busy_timeout(std::time::Duration::ZERO).is_err() {
            return false;
        }
        let kept = self.conn.execute_batch("BEGIN IMMEDIATE").is_ok() && {
            let done = self.write_cache(mark, leaf, n_rows, blobs).unwrap_or(false);
            let end = if done { "COMMIT" } else { "ROLLBACK" };
            self.conn.execute_batch(end).is_ok() && done
        };
        if !kept && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let _ = self.conn.busy_timeout(wait);
        kept
    }

    /// [`Store::cache_columns`] inside its write transaction: false when the records changed
    /// since `mark`.
    fn write_cache(&self, mark: CacheMark, leaf: &str, n_rows: usize, blobs: &[(&str, &str, Vec<u8>)]) -> rusqlite::Result<bool> {
        let now: i64 = self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if now != mark.0 {
            return Ok(false);
        }
        insert_columns(&self.conn, leaf, n_rows, blobs.iter().map(|(u, c, b)| (*u, *c, b.as_slice())))?;
        Ok(true)
    }

    /// [`Store::cache_columns`] on a connection of its own, in a thread that goes on after the
    /// call: the call returns once that connection holds the write lock and the records are
    /// known unchanged since `mark`, and the blobs are written, and the write-ahead log copied
    /// into the file, while the caller goes on with its analysis. The store waits for the
    /// thread before it closes ([`Store::finish_background`]). Best effort as
    /// [`Store::cache_columns`]: returns whether the write went ahead.
    pub fn cache_columns_behind(&self, mark: CacheMark, leaf: String, n_rows: usize, blobs: Vec<(String, String, Vec<u8>)>) -> bool {
        // inside a transaction of the caller's, whose reads the cache must not outrun
        if !self.conn.is_autocommit() {
            return false;
        }
        let (locked_tx, locked_rx) = std::sync::mpsc::channel::<bool>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<bool>();
        let path = self.path.clone();
        let writer = std::thread::spawn(move || {
            let Ok(conn) = open_cache_writer(&path) else {
                let _ = locked_tx.send(false);
                return;
            };
            let locked = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
            let _ = locked_tx.send(locked);
            if !locked {
                return;
            }
            let go = go_rx.recv().unwrap_or(false);
            let rows = blobs.iter().map(|(u, c, b)| (u.as_str(), c.as_str(), b.as_slice()));
            let written = go && insert_columns(&conn, &leaf, n_rows, rows).is_ok();
            if !(written && conn.execute_batch("COMMIT").is_ok()) {
                let _ = conn.execute_batch("ROLLBACK");
                return;
            }
            // the log copied into the file now, beside the analysis, rather than when the
            // store closes
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
        });
        // with the write lock held elsewhere, no commit can come between this check and the
        // write: unchanged since `mark` means unchanged since the records were read
        let locked = locked_rx.recv().unwrap_or(false);
        let go = locked
            && self
                .conn
                .query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
                .is_ok_and(|v| v == mark.0);
        let _ = go_tx.send(go);
        let mut writers = self.background.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        writers.retain(|w| !w.is_finished());
        writers.push(writer);
        go
    }

    /// Waits for the writes [`Store::cache_columns_behind`] started.
    pub fn finish_background(&self) {
        let writers = std::mem::take(&mut *self.background.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for w in writers {
            let _ = w.join();
        }
    }
}

/// A connection of its own for a background write of the cache: it never waits for the write
/// lock, and commits as the store's connection does.
fn open_cache_writer(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::ZERO)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Writes the cache's table and triggers where missing and the columns `blobs` ((unit, column,
/// blob)) of `n_rows` rows, dropping entries of an older schema, inside the write transaction
/// `conn` holds.
fn insert_columns<'b>(
    conn: &rusqlite::Connection,
    leaf: &str,
    n_rows: usize,
    blobs: impl Iterator<Item = (&'b str, &'b str, &'b [u8])>,
) -> rusqlite::Result<()> {
    conn.execute_batch(TABLE)?;
    add_triggers(conn)?;
    let schema: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    conn.execute("DELETE FROM column_cache WHERE schema_version <> ?1", [schema])?;
    let mut st = conn.prepare(
        "INSERT OR REPLACE INTO column_cache (leaf, unit, col, signature, schema_version, n_rows, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (unit, col, blob) in blobs {
        st.execute(params![leaf, unit, col, RAW, schema, n_rows as i64, blob])?;
    }
    Ok(())
}

/// The record tables of the store (`u_<unit>`).
fn record_tables(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'u\\_%' ESCAPE '\\' ORDER BY name")?;
    let v = st.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(v)
}

/// Creates (when missing) the triggers that empty the cache on any write to a record table.
fn add_triggers(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    for t in record_tables(conn)? {
        for (event, name) in [("INSERT", "ins"), ("UPDATE", "upd"), ("DELETE", "del")] {
            conn.execute_batch(&format!(
                "CREATE TRIGGER IF NOT EXISTS \"{t}_cache_{name}\" AFTER {event} ON \"{t}\"
                 WHEN EXISTS (SELECT 1 FROM column_cache) BEGIN DELETE FROM column_cache; END"
            ))?;
        }
    }
    Ok(())
}

impl Writer<'_> {
    /// Empties the column cache and drops its triggers, for a bulk write (an import, a merge)
    /// that would otherwise run them once per record written (about 80% more CPU time for
    /// an import); the next analysis that fills the cache creates them again. Undone
    /// with the rest of the transaction when it is not committed.
    pub fn drop_column_cache(&self) -> Result<(), StoreError> {
        let err = |source| StoreError::sqlite(&self.path, "setting the column cache aside", source);
        let names: Vec<String> = {
            let mut st = self
                .tx
                .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name GLOB 'u_*_cache_*'")
                .map_err(err)?;
            let v = st.query_map([], |r| r.get(0)).map_err(err)?.collect::<Result<_, _>>().map_err(err)?;
            v
        };
        for t in names {
            self.tx.execute_batch(&format!("DROP TRIGGER \"{t}\"")).map_err(err)?;
        }
        let exists: bool = self
            .tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'column_cache')",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if exists {
            self.tx.execute_batch("DELETE FROM column_cache").map_err(err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::read::tests::filled;
    use super::*;

    fn raw(values: &[CellRef<'_>]) -> RawCells {
        let mut r = RawCells::default();
        values.iter().for_each(|v| r.push(*v));
        r
    }

    #[test]
    fn small_whole_numbers_take_a_byte_until_a_value_does_not_fit() {
        let first = [CellRef::Int(3), CellRef::Null, CellRef::Int(254), CellRef::Int(0)];
        let mut c = raw(&first);
        assert!(!c.wide && c.small.len() == 4 && c.tags.is_empty(), "one byte a value: {c:?}");
        let later = [
            CellRef::Int(255),
            CellRef::Real(2.5),
            CellRef::Int(-1),
            CellRef::Null,
            CellRef::Text("E01"),
            CellRef::Int(7),
        ];
        for v in later {
            c.push(v);
        }
        assert!(c.wide && c.small.is_empty());
        let all: Vec<CellRef<'_>> = first.iter().chain(&later).copied().collect();
        assert_eq!((0..c.len()).map(|i| c.get(i)).collect::<Vec<_>>(), all);
        round_trip(&[&c]);
        // the same values one byte each or widened encode to the same blob, whole or in parts
        let small = raw(&first);
        let mut widened = raw(&first);
        widened.widen();
        assert!(widened.wide);
        assert_eq!(encode_column(&[&small]), encode_column(&[&widened]));
        assert_eq!(encode_column(&[&small, &c]), encode_column(&[&widened, &c]));
        let longer = raw(&(0..300)
            .map(|i| if i % 7 == 0 { CellRef::Null } else { CellRef::Int(i % 250) })
            .collect::<Vec<_>>());
        let mut longer_wide = longer.clone();
        longer_wide.widen();
        assert_eq!(encode_column(&[&longer]), encode_column(&[&longer_wide]));
        round_trip(&[&longer, &small]);
    }

    fn round_trip(parts: &[&RawCells]) -> CachedColumn {
        let blob = encode_column(parts).expect("encodes");
        let c = decode_column(&blob).expect("decodes");
        let all: Vec<CellRef<'_>> = parts.iter().flat_map(|p| (0..p.len()).map(|i| p.get(i))).collect();
        assert_eq!(c.len(), all.len());
        for (i, v) in all.iter().enumerate() {
            match (c.get(i), *v) {
                // reals compare by their bits (a NaN, -0.0 come back as stored)
                (CellRef::Real(a), CellRef::Real(b)) => assert_eq!(a.to_bits(), b.to_bits(), "row {i}"),
                (a, b) => assert_eq!(a, b, "row {i}"),
            }
        }
        c
    }

    #[test]
    fn few_distinct_values_are_a_dictionary_of_raw_values_in_parts() {
        let a = raw(&[
            CellRef::Int(3),
            CellRef::Int(3),
            CellRef::Null,
            CellRef::Real(2.5),
            CellRef::Text("E01"),
            CellRef::Text(""),
        ]);
        let b = raw(&[
            CellRef::Text("E01"),
            CellRef::Int(3),
            CellRef::Real(-0.0),
            CellRef::Real(f64::NAN),
            CellRef::Real(0.0),
        ]);
        let c = round_trip(&[&a, &b]);
        let CachedColumn::Dict { values, codes } = c else {
            panic!("a dictionary: {c:?}")
        };
        assert_eq!(values.len(), 8, "{values:?}");
        assert_eq!(codes, Codes::U8(vec![0, 0, 1, 2, 3, 4, 3, 0, 5, 6, 7]));
        assert_eq!(codes.get(6), 3, "equal texts share a code across parts");
        // one byte a row for at most 256 values
        assert_eq!(
            encode_column(&[&a, &b]).expect("encodes").len(),
            (1 + 1 + 4 + 4) + (9 + 1 + 9 + 8 + 5 + 9 + 9 + 9) + 1 + 11
        );
        // an empty column
        assert!(round_trip(&[&RawCells::default()]).is_empty());
    }

    #[test]
    fn many_distinct_numbers_are_plain_arrays_and_many_texts_wide_codes() {
        let n = 2 * MAX_DICT as i64;
        let ints: Vec<CellRef<'_>> = (0..n).map(|i| if i % 7 == 0 { CellRef::Null } else { CellRef::Int(i * 1_000_003) }).collect();
        assert!(matches!(round_trip(&[&raw(&ints)]), CachedColumn::Ints { .. }));
        let reals: Vec<CellRef<'_>> = (0..n).map(|i| if i % 5 == 0 { CellRef::Null } else { CellRef::Real(i as f64 / 7.0) }).collect();
        assert!(matches!(round_trip(&[&raw(&reals[..10]), &raw(&reals[10..])]), CachedColumn::Reals { .. }));
        let texts: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
        let texts: Vec<CellRef<'_>> = texts.iter().map(|t| CellRef::Text(t)).collect();
        assert!(matches!(round_trip(&[&raw(&texts)]), CachedColumn::Dict { .. }));
        // whole numbers and reals together stay exact: a dictionary with four-byte codes
        let mixed: Vec<CellRef<'_>> = (0..n)
            .map(|i| if i % 2 == 0 { CellRef::Int(i) } else { CellRef::Real(i as f64 + 0.5) })
            .collect();
        assert!(matches!(round_trip(&[&raw(&mixed)]), CachedColumn::Dict { .. }));
    }

    #[test]
    fn a_blob_not_written_by_this_encoding_is_refused() {
        let blob = encode_column(&[&raw(&[CellRef::Int(1), CellRef::Text("a"), CellRef::Int(1)])]).expect("encodes");
        assert!(decode_column(&blob).is_some());
        assert!(decode_column(&[]).is_none());
        let mut other = blob.clone();
        other[0] = 2;
        assert!(decode_column(&other).is_none(), "another encoding version");
        for cut in 0..blob.len() {
            assert!(decode_column(&blob[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert!(decode_column(&longer).is_none());
        let mut bad_code = blob.clone();
        *bad_code.last_mut().expect("a code") = 9;
        assert!(decode_column(&bad_code).is_none(), "a code past the dictionary");
    }

    fn cols() -> Vec<(String, String)> {
        vec![("person".into(), "age".into()), ("household".into(), "household_id".into())]
    }

    /// Reads the tiny store's person ages and household ids into the cache.
    fn fill_cache(store: &Store, def: &crate::schema::Definition) -> bool {
        let mark = store.cache_mark().expect("writable");
        let (mut wave, mut age, mut hh) = (RawCells::default(), RawCells::default(), RawCells::default());
        store
            .scan(def, "person", &cols(), None, |r| {
                wave.push(CellRef::Int(r.wave()?));
                age.push(r.get(0)?);
                hh.push(r.get(1)?);
                Ok(())
            })
            .expect("read");
        let blobs: Vec<(&str, &str, Vec<u8>)> = vec![
            ("person", WAVE_COLUMN, encode_column(&[&wave]).expect("encodes")),
            ("person", "age", encode_column(&[&age]).expect("encodes")),
            ("household", "household_id", encode_column(&[&hh]).expect("encodes")),
        ];
        store.cache_columns(mark, "person", wave.len(), &blobs)
    }

    fn entries(store: &Store) -> i64 {
        store.conn.query_row("SELECT count(*) FROM column_cache", [], |r| r.get(0)).expect("counted")
    }

    #[test]
    fn cached_columns_read_back_at_the_schema_version_they_were_written_at() {
        let (_dir, store, def) = filled(4);
        assert!(store.cached_columns("person", &cols()).is_none(), "no cache yet");
        let before: i64 = store.conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).expect("read");
        assert!(fill_cache(&store, &def));
        // each statement of DDL steps the version up (the table, six triggers); the version
        // read inside the transaction, after them, is the one the commit leaves
        let after: i64 = store.conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).expect("read");
        let kept: i64 = store
            .conn
            .query_row("SELECT DISTINCT schema_version FROM column_cache", [], |r| r.get(0))
            .expect("read");
        assert_eq!((kept, after), (before + 7, before + 7));
        let triggers: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name GLOB 'u_*_cache_*'",
                [],
                |r| r.get(0),
            )
            .expect("counted");
        assert_eq!(triggers, 6, "insert, update, delete on u_household and u_person");
        let (wave, got) = store.cached_columns("person", &cols()).expect("cached");
        assert_eq!(wave.len(), 4);
        assert_eq!(
            (0..4).map(|i| got[0].get(i)).collect::<Vec<_>>(),
            (30..34).map(CellRef::Int).collect::<Vec<_>>()
        );
        assert_eq!(got[1].get(3), CellRef::Text("H1"));
        // caching again (no new triggers) leaves the schema version, and the entries valid
        assert!(fill_cache(&store, &def));
        let again: i64 = store.conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).expect("read");
        assert_eq!(again, after);
        // a column not cached, another schema version, a row count that disagrees: not read
        assert!(store.cached_columns("person", &[("person".into(), "height".into())]).is_none());
        store
            .conn
            .execute_batch("UPDATE column_cache SET n_rows = 5 WHERE col = 'age'")
            .expect("written");
        assert!(store.cached_columns("person", &cols()).is_none());
        assert!(fill_cache(&store, &def));
        store
            .conn
            .execute_batch("UPDATE column_cache SET schema_version = schema_version + 1")
            .expect("written");
        assert!(store.cached_columns("person", &cols()).is_none());
        // a new column (a definition upgrade) changes the schema version
        assert!(fill_cache(&store, &def));
        assert!(store.cached_columns("person", &cols()).is_some());
        store.conn.execute_batch("ALTER TABLE u_person ADD COLUMN extra INTEGER").expect("altered");
        assert!(store.cached_columns("person", &cols()).is_none());
    }

    #[test]
    fn any_write_to_records_empties_the_cache_in_its_transaction() {
        let (_dir, store, def) = filled(3);
        for sql in [
            "UPDATE u_person SET age = 50 WHERE _rowid = 1",
            "DELETE FROM u_person WHERE _rowid = 2",
            "INSERT INTO u_person SELECT _rowid + 10, _uuid || 'x', _wave, _version, _captured_at, _captured_by, _import,
                _hash, _parent, person_id + 10, age, sex, smoker, cigarettes, visit_date, height, activities, comment
             FROM u_person WHERE _rowid = 1",
            "UPDATE u_household SET area = 2",
        ] {
            assert!(fill_cache(&store, &def));
            assert!(entries(&store) > 0);
            store.conn.execute_batch("BEGIN").expect("begun");
            store.conn.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(entries(&store), 0, "emptied within the writer's transaction: {sql}");
            store.conn.execute_batch("ROLLBACK").expect("rolled back");
            assert!(entries(&store) > 0, "and back with its rollback");
            store.conn.execute_batch(sql).expect("written");
            assert_eq!(entries(&store), 0, "{sql}");
        }
        // other tables (drafts, the audit log) leave it
        assert!(fill_cache(&store, &def));
        store
            .conn
            .execute_batch("INSERT INTO audit (at, by, action) VALUES ('now', 'me', 'note')")
            .expect("written");
        assert!(entries(&store) > 0);
    }

    #[test]
    fn a_bulk_writer_sets_the_cache_and_its_triggers_aside() {
        let (_dir, mut store, def) = filled(2);
        assert!(fill_cache(&store, &def));
        let w = store.writer().expect("a writer");
        w.drop_column_cache().expect("set aside");
        w.commit().expect("committed");
        assert_eq!(entries(&store), 0);
        let triggers: i64 = store
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'", [], |r| r.get(0))
            .expect("counted");
        assert_eq!(triggers, 2, "the audit log's own triggers stay");
        assert!(fill_cache(&store, &def), "the next read puts them back");
        assert!(store.cached_columns("person", &cols()).is_some());
    }

    #[test]
    fn nothing_is_kept_after_another_commit_under_another_writer_or_read_only() {
        let (dir, store, def) = filled(2);
        let path = dir.path().join("tiny.db");
        let other = rusqlite::Connection::open(&path).expect("another connection");
        // another connection commits between the read and the write: what was read may be stale
        let mark = store.cache_mark().expect("writable");
        other.execute_batch("UPDATE u_person SET age = 99").expect("written");
        let wave = encode_column(&[&raw(&[CellRef::Int(1), CellRef::Int(1)])]).expect("encodes");
        assert!(!store.cache_columns(mark, "person", 2, &[("person", WAVE_COLUMN, wave.clone())]));
        // another writer holds the lock: no waiting, nothing kept
        let mark = store.cache_mark().expect("writable");
        other.execute_batch("BEGIN IMMEDIATE").expect("locked");
        assert!(!store.cache_columns(mark, "person", 2, &[("person", WAVE_COLUMN, wave.clone())]));
        other.execute_batch("ROLLBACK").expect("unlocked");
        assert!(store.cache_columns(mark, "person", 2, &[("person", WAVE_COLUMN, wave)]));
        drop(store);
        let ro = Store::open_read_only(&path).expect("opened");
        assert!(ro.cache_mark().is_none(), "a read-only store keeps nothing");
        assert!(ro.cached_columns("person", &[]).is_some(), "but reads what is kept");
        let _ = def;
    }

    #[test]
    fn a_write_behind_keeps_the_columns_by_the_time_the_store_closes() {
        let (dir, store, def) = filled(3);
        let path = dir.path().join("tiny.db");
        let mark = store.cache_mark().expect("writable");
        let blobs = |wave: Vec<u8>| vec![("person".to_string(), WAVE_COLUMN.to_string(), wave)];
        let wave = encode_column(&[&raw(&[CellRef::Int(1), CellRef::Int(1), CellRef::Int(1)])]).expect("encodes");
        assert!(store.cache_columns_behind(mark, "person".into(), 3, blobs(wave.clone())));
        assert!(store.cached_columns("person", &[]).is_some(), "a read of the cache waits for the write");
        // another connection commits between the read and the write: nothing kept
        let other = rusqlite::Connection::open(&path).expect("another connection");
        let mark = store.cache_mark().expect("writable");
        other.execute_batch("UPDATE u_person SET age = 99").expect("written");
        assert_eq!(entries(&store), 0, "emptied by the update");
        assert!(!store.cache_columns_behind(mark, "person".into(), 3, blobs(wave.clone())));
        store.finish_background();
        assert_eq!(entries(&store), 0);
        // another writer holds the lock: no waiting, nothing kept
        let mark = store.cache_mark().expect("writable");
        other.execute_batch("BEGIN IMMEDIATE").expect("locked");
        assert!(!store.cache_columns_behind(mark, "person".into(), 3, blobs(wave.clone())));
        store.finish_background();
        other.execute_batch("ROLLBACK").expect("unlocked");
        assert_eq!(entries(&store), 0);
        // inside a transaction of the caller's: not started
        store.conn.execute_batch("BEGIN").expect("begun");
        assert!(!store.cache_columns_behind(mark, "person".into(), 3, blobs(wave.clone())));
        store.conn.execute_batch("ROLLBACK").expect("rolled back");
        // dropping the store waits for the write: a new connection sees it whole
        assert!(store.cache_columns_behind(mark, "person".into(), 3, blobs(wave)));
        drop(store);
        let n: i64 = other.query_row("SELECT count(*) FROM column_cache", [], |r| r.get(0)).expect("counted");
        assert_eq!(n, 1);
        let _ = def;
    }
}
