//! The column cache: analysis columns kept as compact blobs inside the store.
//!
//! Owns the `column_cache` table, the encoding of one column of raw stored values
//! (`encoding.rs`: [`RawCells`] in, [`CachedColumn`] out), and the triggers that keep the cache
//! honest. An entry is one
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

mod encoding;

pub use self::encoding::{cell_ref, decode_column, encode_column, CachedColumn, Codes, NullMask, RawCells};
use super::{Store, StoreError, Writer};

/// The `signature` of entries holding raw stored values (the only kind written today; the
/// column leaves room for entries of values decoded some other way).
const RAW: &str = "raw";

/// The entry name of the leaf's wave column.
pub const WAVE_COLUMN: &str = "_wave";

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
    /// (`leaf`, [`WAVE_COLUMN`])) of `n_rows` rows read since `mark`, on a connection of its
    /// own, in a thread that goes on after the call: the call returns once that connection
    /// holds the write lock and the records are known unchanged since `mark`, and the blobs are
    /// written, and the write-ahead log copied into the file, while the caller goes on with its
    /// analysis. The store waits for the thread before it closes, and before it reads the cache
    /// ([`Store::finish_background`]). Best effort: returns whether the write went ahead;
    /// nothing is kept when another process wrote since `mark` or holds the write lock (it does
    /// not wait), inside a transaction of the caller's, or when the file cannot be written.
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
    use super::encoding::tests::raw;
    use super::*;
    use crate::store::CellRef;

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
        keep(store, mark, wave.len(), &blobs)
    }

    /// Keeps `blobs` as the analysis does, and waits for the write.
    fn keep(store: &Store, mark: CacheMark, n_rows: usize, blobs: &[(&str, &str, Vec<u8>)]) -> bool {
        let owned = blobs.iter().map(|(u, c, b)| (u.to_string(), c.to_string(), b.clone())).collect();
        let kept = store.cache_columns_behind(mark, "person".into(), n_rows, owned);
        store.finish_background();
        kept
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
        assert!(!keep(&store, mark, 2, &[("person", WAVE_COLUMN, wave.clone())]));
        // another writer holds the lock: no waiting, nothing kept
        let mark = store.cache_mark().expect("writable");
        other.execute_batch("BEGIN IMMEDIATE").expect("locked");
        assert!(!keep(&store, mark, 2, &[("person", WAVE_COLUMN, wave.clone())]));
        other.execute_batch("ROLLBACK").expect("unlocked");
        assert!(keep(&store, mark, 2, &[("person", WAVE_COLUMN, wave)]));
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
