//! The encoding of one cached column: raw stored values as read ([`RawCells`]) into a
//! compact blob ([`encode_column`]) and back ([`decode_column`], a [`CachedColumn`]). A blob is
//! a dictionary of the distinct raw values and a code per row (1, 2 or 4 bytes), or, for many
//! distinct numbers, a plain array with a null mask. It knows nothing of the store.

use super::super::cell::Cell;
use super::super::read::CellRef;

/// The encoding written into each blob's first byte.
const ENCODING: u8 = 1;

/// Columns with at most this many distinct values are kept as a dictionary and codes, others
/// (numbers only) as plain arrays.
const MAX_DICT: usize = 65_536;

/// Whole numbers 0 to this (exclusive) are put in a dictionary by table lookup.
const SMALL: usize = 4096;

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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A raw column of `values`.
    pub(in crate::store) fn raw(values: &[CellRef<'_>]) -> RawCells {
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
}
