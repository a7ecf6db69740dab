//! Reading records: a unit's records, joined up its lineage, with the columns asked for.
//!
//! Owns the typed reader. A caller names the columns it wants as (unit, column) pairs and gets
//! each record as a [`Record`]: its UUID, wave and definition version, and the asked columns
//! in the order asked, as [`CellRef`] values borrowed from SQLite's row (no allocation per
//! value). Large tables are read in row-id ranges on several read-only connections at once
//! ([`Store::scan_parts`], [`Store::scan_chunks`]); a commit by another process during such a
//! read is detected and the caller reads again in one pass. It must not interpret values
//! (missing codes, choices, dates are the caller's) and writes nothing.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OpenFlags};

use super::cell::{ident_table, unit_table, Cell};
use super::{Store, StoreError};
use crate::schema::Definition;

/// One stored value, borrowed from the record being read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'r> {
    /// No value: SQL NULL.
    Null,
    /// A whole number.
    Int(i64),
    /// A real number.
    Real(f64),
    /// Text.
    Text(&'r str),
}

impl<'r> CellRef<'r> {
    /// The value as an owned [`Cell`].
    pub fn to_cell(self) -> Cell {
        match self {
            CellRef::Null => Cell::Null,
            CellRef::Int(v) => Cell::Int(v),
            CellRef::Real(v) => Cell::Real(v),
            CellRef::Text(s) => Cell::Text(s.to_string()),
        }
    }

    /// The text, when the value is text.
    #[inline]
    pub fn as_text(self) -> Option<&'r str> {
        match self {
            CellRef::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The whole number, when the value is one.
    #[inline]
    pub fn as_int(self) -> Option<i64> {
        match self {
            CellRef::Int(v) => Some(v),
            _ => None,
        }
    }

    /// The number, when the value is a whole or a real number.
    #[inline]
    pub fn as_f64(self) -> Option<f64> {
        match self {
            CellRef::Int(v) => Some(v as f64),
            CellRef::Real(v) => Some(v),
            _ => None,
        }
    }
}

/// A value that could not be read from a record: the store file holds something hearth did not
/// write there (text that is not UTF-8, a UUID that is not text).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ReadError(rusqlite::Error);

impl ReadError {
    /// A stored value that does not convert to what it must be (a record id that is no UUID).
    pub(crate) fn conversion(cause: Box<dyn std::error::Error + Send + Sync + 'static>) -> ReadError {
        ReadError(rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, cause))
    }
}

/// Parts per reading thread of [`Store::scan_parts`].
const PARTS_PER_THREAD: usize = 4;

/// What one reading thread of [`Store::scan_parts`] read: (part, state) of each part it took,
/// and whether no other process committed meanwhile.
type PartsRead<S> = (Vec<(usize, S)>, bool);

/// The system columns every read selects before the asked ones.
const SYSTEM_COLUMNS: usize = 3;

/// One record being read: its system columns and the columns asked for, in the order asked.
pub struct Record<'r> {
    row: &'r rusqlite::Row<'r>,
}

impl<'r> Record<'r> {
    /// The record's UUID.
    #[inline]
    pub fn uuid(&self) -> Result<&'r str, ReadError> {
        match self.row.get_ref(0).map_err(ReadError)? {
            ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| ReadError(rusqlite::Error::Utf8Error(0, e))),
            other => Err(ReadError(rusqlite::Error::InvalidColumnType(0, "_uuid".into(), other.data_type()))),
        }
    }

    /// The wave the record belongs to.
    #[inline]
    pub fn wave(&self) -> Result<i64, ReadError> {
        self.row.get(1).map_err(ReadError)
    }

    /// The definition version the record was captured with.
    #[inline]
    pub fn version(&self) -> Result<u32, ReadError> {
        self.row.get(2).map_err(ReadError)
    }

    /// The value of the `i`th column asked for (from 0).
    #[inline]
    pub fn get(&self, i: usize) -> Result<CellRef<'r>, ReadError> {
        let col = i + SYSTEM_COLUMNS;
        Ok(match self.row.get_ref(col).map_err(ReadError)? {
            ValueRef::Null => CellRef::Null,
            ValueRef::Integer(v) => CellRef::Int(v),
            ValueRef::Real(v) => CellRef::Real(v),
            // hearth writes no blobs; one written by another program reads as its text
            ValueRef::Text(t) | ValueRef::Blob(t) => CellRef::Text(std::str::from_utf8(t).map_err(|e| ReadError(rusqlite::Error::Utf8Error(col, e)))?),
        })
    }
}

/// Calls `row` with a [`Record`] of SQLite's current row.
#[inline]
fn visit<T>(r: &rusqlite::Row<'_>, row: impl FnOnce(&Record<'_>) -> Result<T, ReadError>) -> rusqlite::Result<T> {
    row(&Record { row: r }).map_err(|e| e.0)
}

impl Store {
    /// The error of a read of `unit`'s records failing.
    fn read_err<'s>(&'s self, unit: &'s str) -> impl Fn(rusqlite::Error) -> StoreError + 's {
        self.err_with(move || format!("reading the {unit} records"))
    }

    /// Reads columns of a unit's records, joined with its ancestors' columns (and identifiers
    /// when asked), calling `row` for each record in row order. `columns` are (unit, column)
    /// pairs; [`Record::get`]`(i)` is the `i`th of them.
    pub fn scan(
        &self,
        def: &Definition,
        unit: &str,
        columns: &[(String, String)],
        wave: Option<i64>,
        mut row: impl FnMut(&Record<'_>) -> Result<(), ReadError>,
    ) -> Result<(), StoreError> {
        let err = self.read_err(unit);
        let sql = scan_sql(def, unit, columns, wave.is_some());
        // a scan reads the file by mapping it rather than copying each page through read(2)
        self.conn.pragma_update(None, "mmap_size", 1i64 << 31).map_err(&err)?;
        let mut st = self.conn.prepare(&sql).map_err(&err)?;
        let mut rows = match wave {
            Some(w) => st.query([w]),
            None => st.query([]),
        }
        .map_err(&err)?;
        while let Some(r) = rows.next().map_err(&err)? {
            visit(r, &mut row).map_err(&err)?;
        }
        Ok(())
    }

    /// Like [`Store::scan`], over parts of the records in row order, read at once on several
    /// connections (one per core, for large tables, each taking the next part in turn): each
    /// part gets its own state from `make` (given the part's span of row ids, an upper bound on
    /// its rows, to reserve room), and the states come back in row order. When another process
    /// commits while the parts are being read (they would not then see one state of the store),
    /// it reads again in one pass.
    pub fn scan_parts<S: Send>(
        &self,
        def: &Definition,
        unit: &str,
        columns: &[(String, String)],
        wave: Option<i64>,
        make: impl Fn(usize) -> S + Sync,
        row: impl Fn(&mut S, &Record<'_>) -> Result<(), ReadError> + Sync,
    ) -> Result<Vec<S>, StoreError> {
        self.scan_parts_from(def, unit, columns, wave, 200_000, make, row)
    }

    /// [`Store::scan_parts`], reading in parts only from `min_rows` rows (by row id span) up.
    #[allow(clippy::too_many_arguments)]
    pub fn scan_parts_from<S: Send>(
        &self,
        def: &Definition,
        unit: &str,
        columns: &[(String, String)],
        wave: Option<i64>,
        min_rows: i64,
        make: impl Fn(usize) -> S + Sync,
        row: impl Fn(&mut S, &Record<'_>) -> Result<(), ReadError> + Sync,
    ) -> Result<Vec<S>, StoreError> {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4);
        let (lo, hi) = self.rowid_span(unit)?;
        let span = |a: Option<i64>, b: Option<i64>| a.zip(b).map_or(0, |(a, b)| usize::try_from(b - a + 1).unwrap_or(0));
        let one_pass = || -> Result<Vec<S>, StoreError> {
            let mut s = make(span(lo, hi));
            self.scan(def, unit, columns, wave, |r| row(&mut s, r))?;
            Ok(vec![s])
        };
        let (Some(lo), Some(hi)) = (lo, hi) else { return one_pass() };
        if threads < 2 || hi - lo < min_rows {
            return one_pass();
        }
        let Some(sql) = ranged_scan_sql(def, unit, columns, wave.is_some()) else {
            return one_pass();
        };
        match self
            .read_ranges(&sql, &part_ranges(lo, hi, threads), wave, threads, &make, &row)
            .map_err(self.read_err(unit))?
        {
            Some(parts) => Ok(parts),
            None => one_pass(),
        }
    }

    /// Reads the row-id `ranges` of `sql` (`?1` the wave, `?2..=?3` a range of row ids, its
    /// columns those of a [`Record`]) on `threads` read-only connections at once, each taking
    /// the next range in turn: each range's state, from `make` (given the range's span of row
    /// ids), in range order; `None` when another process committed meanwhile.
    fn read_ranges<S: Send>(
        &self,
        sql: &str,
        ranges: &[(i64, i64)],
        wave: Option<i64>,
        threads: usize,
        make: impl Fn(usize) -> S + Sync,
        row: impl Fn(&mut S, &Record<'_>) -> Result<(), ReadError> + Sync,
    ) -> rusqlite::Result<Option<Vec<S>>> {
        let path = self.path.clone();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let worker = || -> rusqlite::Result<PartsRead<S>> {
            let conn = open_reader(&path)?;
            let before = data_version(&conn)?;
            let mut done = Vec::new();
            {
                let mut st = conn.prepare(sql)?;
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(a, b)) = ranges.get(k) else { break };
                    let mut s = make(usize::try_from(b - a + 1).unwrap_or(0));
                    let mut rows = st.query(params![wave.unwrap_or(0), a, b])?;
                    while let Some(r) = rows.next()? {
                        visit(r, |rec| row(&mut s, rec))?;
                    }
                    done.push((k, s));
                }
            }
            let unchanged = data_version(&conn)? == before;
            Ok((done, unchanged))
        };
        let results: Vec<rusqlite::Result<PartsRead<S>>> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..threads.clamp(1, ranges.len().max(1))).map(|_| sc.spawn(worker)).collect();
            handles.into_iter().map(|h| h.join().expect("a scan thread panicked")).collect()
        });
        let mut parts: Vec<Option<S>> = (0..ranges.len()).map(|_| None).collect();
        for res in results {
            let (done, unchanged) = res?;
            if !unchanged {
                return Ok(None);
            }
            for (k, s) in done {
                parts[k] = Some(s);
            }
        }
        Ok(Some(parts.into_iter().flatten().collect()))
    }

    /// Reads a unit's records (as [`Store::scan`]) in chunks of about `chunk_rows` row ids, on
    /// several connections at once, and hands each chunk's state to `sink` in row order on the
    /// calling thread (`sink` returns false to stop). Returns false, having handed over
    /// nothing usable, when another process committed while the chunks were read: the caller
    /// then reads again with [`Store::scan`].
    #[allow(clippy::too_many_arguments)]
    pub fn scan_chunks<S: Send>(
        &self,
        def: &Definition,
        unit: &str,
        columns: &[(String, String)],
        wave: Option<i64>,
        chunk_rows: i64,
        make: impl Fn() -> S + Sync,
        row: impl Fn(&mut S, &Record<'_>) -> Result<(), ReadError> + Sync,
        mut sink: impl FnMut(S) -> bool,
    ) -> Result<bool, StoreError> {
        use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
        let (lo, hi) = self.rowid_span(unit)?;
        let (Some(lo), Some(hi)) = (lo, hi) else { return Ok(true) };
        let Some(sql) = ranged_scan_sql(def, unit, columns, wave.is_some()) else {
            return Ok(false);
        };
        let chunk_rows = chunk_rows.max(1);
        let n_chunks = (hi - lo) / chunk_rows + 1;
        let readers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4) as i64;
        // readers stay at most this many chunks ahead of the sink
        let window = readers + 1;
        let delivered = AtomicI64::new(0);
        let stop = AtomicBool::new(false);
        let path = self.path.clone();
        let (tx, rx) = std::sync::mpsc::channel::<(i64, rusqlite::Result<S>)>();
        let read = |r: i64, tx: &std::sync::mpsc::Sender<(i64, rusqlite::Result<S>)>| -> rusqlite::Result<bool> {
            let conn = open_reader(&path)?;
            let before = data_version(&conn)?;
            let mut st = conn.prepare(&sql)?;
            let mut k = r;
            while k < n_chunks && !stop.load(Ordering::Relaxed) {
                while k >= delivered.load(Ordering::Acquire) + window && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                let a = lo + k * chunk_rows;
                let mut s = make();
                let res = (|| -> rusqlite::Result<()> {
                    let mut rows = st.query(params![wave.unwrap_or(0), a, a + chunk_rows - 1])?;
                    while let Some(x) = rows.next()? {
                        visit(x, |rec| row(&mut s, rec))?;
                    }
                    Ok(())
                })();
                let failed = res.is_err();
                if tx.send((k, res.map(|_| s))).is_err() || failed {
                    break;
                }
                k += readers;
            }
            Ok(data_version(&conn)? == before)
        };
        let mut outcome: Result<bool, StoreError> = Ok(true);
        let consistent = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..readers)
                .map(|r| {
                    let tx = tx.clone();
                    let read = &read;
                    sc.spawn(move || match read(r, &tx) {
                        Ok(same) => same,
                        Err(e) => {
                            // the sink learns of it (and stops waiting for this reader's chunks)
                            let _ = tx.send((-1, Err(e)));
                            true
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut pending: std::collections::BTreeMap<i64, S> = std::collections::BTreeMap::new();
            let mut next = 0i64;
            for (k, s) in rx.iter() {
                match s {
                    Ok(s) => {
                        pending.insert(k, s);
                    }
                    Err(e) => {
                        outcome = Err(self.read_err(unit)(e));
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                while let Some(s) = pending.remove(&next) {
                    next += 1;
                    delivered.store(next, Ordering::Release);
                    if !sink(s) {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            drop(rx);
            let mut all = true;
            for h in handles {
                all &= h.join().expect("a scan thread panicked");
            }
            all
        });
        outcome?;
        Ok(consistent)
    }

    /// The smallest and largest row ids of a unit's table (None when it is empty).
    fn rowid_span(&self, unit: &str) -> Result<(Option<i64>, Option<i64>), StoreError> {
        self.conn
            .query_row(&format!("SELECT min(_rowid), max(_rowid) FROM \"{}\"", unit_table(unit)), [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(self.read_err(unit))
    }
}

/// The row ids `lo..=hi` in ranges for `threads` reading threads: more ranges than threads,
/// taken in turn, so that a thread slowed by the machine's other work leaves fewer rows waiting
/// at the end.
fn part_ranges(lo: i64, hi: i64, threads: usize) -> Vec<(i64, i64)> {
    let n_parts = (threads.max(1) * PARTS_PER_THREAD) as i64;
    let step = (hi - lo + n_parts) / n_parts;
    (0..n_parts)
        .map(|k| (lo + k * step, (lo + (k + 1) * step - 1).min(hi)))
        .filter(|(a, b)| a <= b)
        .collect()
}

/// A read-only connection for a scan thread: the file mapped, waiting for writers as the
/// store's own connection does.
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "mmap_size", 1i64 << 31)?;
    Ok(conn)
}

/// SQLite's count of commits by other connections, seen from `conn`: unchanged over a read
/// means no other process wrote meanwhile.
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// [`scan_sql`] restricted to the row ids `?2..=?3` (the wave, if any, stays `?1`).
fn ranged_scan_sql(def: &Definition, unit: &str, columns: &[(String, String)], by_wave: bool) -> Option<String> {
    let base = scan_sql(def, unit, columns, by_wave);
    let (head, tail) = base.split_at(base.find(" ORDER BY")?);
    let glue = if by_wave { " AND" } else { " WHERE" };
    Some(format!("{head}{glue} t0._rowid BETWEEN ?2 AND ?3{tail}"))
}

/// SQL selecting the system columns (`_uuid`, `_wave`, `_version`: [`SYSTEM_COLUMNS`]) then
/// `columns` for every record of `unit`, joined up its lineage.
fn scan_sql(def: &Definition, unit: &str, columns: &[(String, String)], by_wave: bool) -> String {
    let lineage = def.lineage(unit);
    let mut sel = vec!["t0._uuid".to_string(), "t0._wave".to_string(), "t0._version".to_string()];
    let alias = |u: &str| -> usize { lineage.len() - 1 - lineage.iter().position(|x| x.id == u).unwrap_or(0) };
    for (u, c) in columns {
        let a = alias(u);
        let ident = def.unit(u).and_then(|x| x.question(c)).is_some_and(|q| q.identifier);
        if ident {
            sel.push(format!("i{a}.\"{c}\""));
        } else {
            sel.push(format!("t{a}.\"{c}\""));
        }
    }
    let mut from = format!("\"{}\" t0", unit_table(unit));
    for (i, u) in lineage.iter().rev().enumerate().skip(1) {
        from.push_str(&format!(" JOIN \"{}\" t{i} ON t{i}._rowid = t{}._parent", unit_table(&u.id), i - 1));
    }
    let ident_units: std::collections::BTreeSet<usize> = columns
        .iter()
        .filter(|(u, c)| def.unit(u).and_then(|x| x.question(c)).is_some_and(|q| q.identifier))
        .map(|(u, _)| alias(u))
        .collect();
    for a in ident_units {
        let u = &lineage[lineage.len() - 1 - a].id;
        from.push_str(&format!(" LEFT JOIN \"{}\" i{a} ON i{a}._rowid = t{a}._rowid", ident_table(u)));
    }
    let mut sql = format!("SELECT {} FROM {from}", sel.join(", "));
    if by_wave {
        sql.push_str(" WHERE t0._wave = ?1");
    }
    sql.push_str(" ORDER BY t0._rowid");
    sql
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::testing::tiny_store;
    use super::super::{unit_columns, Cell, Store};
    use super::*;

    /// A store of the tiny survey with one household (`H1`, contact `Ann`) and `persons`
    /// persons aged 30, 31, ... in wave 1.
    pub(in crate::store) fn filled(persons: i64) -> (tempfile::TempDir, Store, Definition) {
        let (dir, mut store, def) = tiny_store();
        let (hh, person) = (def.unit("household").expect("household"), def.unit("person").expect("person"));
        let w = store.writer().expect("a writer");
        let hcols = unit_columns(hh);
        let mut hcells = vec![Cell::Null; hcols.len()];
        hcells[0] = Cell::Text("H1".into());
        hcells[hcols.iter().position(|c| c.name == "contact_name").expect("identifier")] = Cell::Text("Ann".into());
        let h = w
            .inserter(hh, &hcols)
            .expect("inserter")
            .insert("u-h1", 1, 1, "now", "me", None, 1, None, &hcells)
            .expect("household");
        let pcols = unit_columns(person);
        let mut ins = w.inserter(person, &pcols).expect("inserter");
        for k in 0..persons {
            let mut cells = vec![Cell::Null; pcols.len()];
            cells[0] = Cell::Int(k + 1);
            cells[1] = Cell::Int(30 + k);
            cells[pcols.iter().position(|c| c.name == "height").expect("height")] = Cell::Real(1.5);
            cells[pcols.iter().position(|c| c.name == "visit_date").expect("date")] = Cell::Text("2020-02-29".into());
            ins.insert(&format!("u-p{k:04}"), 1, 1, "now", "me", None, 2, Some(h), &cells).expect("person");
        }
        drop(ins);
        w.commit().expect("committed");
        (dir, store, def)
    }

    fn asked() -> Vec<(String, String)> {
        [
            ("household", "household_id"),
            ("household", "contact_name"),
            ("person", "age"),
            ("person", "height"),
            ("person", "visit_date"),
            ("person", "comment"),
        ]
        .iter()
        .map(|(u, c)| (u.to_string(), c.to_string()))
        .collect()
    }

    #[test]
    fn a_record_holds_the_columns_asked_for_in_order_typed() {
        let (_dir, store, def) = filled(2);
        let mut seen = Vec::new();
        store
            .scan(&def, "person", &asked(), Some(1), |r| {
                seen.push((
                    r.uuid()?.to_string(),
                    r.wave()?,
                    r.version()?,
                    (0..6).map(|i| r.get(i).map(CellRef::to_cell)).collect::<Result<Vec<_>, _>>()?,
                ));
                Ok(())
            })
            .expect("read");
        let row = |uuid: &str, age: i64| {
            let cells = vec![
                Cell::Text("H1".into()),
                Cell::Text("Ann".into()),
                Cell::Int(age),
                Cell::Real(1.5),
                Cell::Text("2020-02-29".into()),
                Cell::Null,
            ];
            (uuid.to_string(), 1, 1, cells)
        };
        assert_eq!(seen, vec![row("u-p0000", 30), row("u-p0001", 31)]);
        // another wave holds nothing
        let mut n = 0;
        store
            .scan(&def, "person", &asked(), Some(2), |_| {
                n += 1;
                Ok(())
            })
            .expect("read");
        assert_eq!(n, 0);
    }

    #[test]
    fn parts_and_chunks_read_what_one_pass_reads() {
        let (_dir, store, def) = filled(50);
        let age = |r: &Record<'_>| -> Result<i64, ReadError> { Ok(r.get(2)?.as_int().unwrap_or(-1)) };
        let mut whole = Vec::new();
        store
            .scan(&def, "person", &asked(), None, |r| {
                whole.push(age(r)?);
                Ok(())
            })
            .expect("one pass");
        assert_eq!(whole, (30..80).collect::<Vec<_>>());
        let parts = store
            .scan_parts_from(&def, "person", &asked(), None, 0, Vec::with_capacity, |v: &mut Vec<i64>, r: &Record<'_>| {
                v.push(age(r)?);
                Ok(())
            })
            .expect("parts");
        assert_eq!(parts.concat(), whole);
        let mut chunks = Vec::new();
        let consistent = store
            .scan_chunks(
                &def,
                "person",
                &asked(),
                Some(1),
                7,
                Vec::new,
                |v: &mut Vec<i64>, r: &Record<'_>| {
                    v.push(age(r)?);
                    Ok(())
                },
                |v| {
                    chunks.push(v);
                    true
                },
            )
            .expect("chunks");
        assert!(consistent);
        assert_eq!(chunks.concat(), whole);
    }

    /// Text another program wrote that is not UTF-8 fails the read, naming what was read,
    /// rather than reading as something else.
    #[test]
    fn text_that_is_not_utf8_is_a_read_error() {
        let (_dir, store, def) = filled(1);
        store
            .conn
            .execute_batch("UPDATE u_person SET comment = CAST(x'ff41' AS TEXT)")
            .expect("written");
        let err = store.scan(&def, "person", &asked(), None, |r| r.get(5).map(|_| ())).unwrap_err();
        assert!(err.to_string().ends_with("database error while reading the person records"), "{err}");
        let cause = std::error::Error::source(&err).expect("the cause is kept");
        assert!(cause.to_string().contains("utf-8") || cause.to_string().contains("UTF-8"), "{cause}");
        // the other columns of the record still read
        store
            .scan(&def, "person", &asked(), None, |r| r.get(4).map(|_| ()))
            .expect("a valid column reads");
    }
}
