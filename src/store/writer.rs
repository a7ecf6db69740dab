//! Writing records: one write transaction on the store.
//!
//! Owns the typed write API that capture (imports today; merge, edit and the interview later)
//! goes through: waves and imports registered, a record found by its key or UUID, records
//! inserted with statements prepared once per unit, one cell updated, savepoints, commit.
//! Nothing is visible to other connections until [`Writer::commit`]. It never decides whether
//! a record is valid or a conflict (capture's), and hands out no SQLite handle.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::audit::now_iso;
use super::cell::{ident_table, unit_table, Cell, Column};
use super::{Store, StoreError};
use crate::schema::Unit;

/// A write transaction on the store.
pub struct Writer<'a> {
    pub(super) tx: Transaction<'a>,
    pub(super) path: String,
    /// Statement texts by (kind, unit), built once per import rather than once per record.
    sql: RefCell<HashMap<(&'static str, String), Rc<str>>>,
}

impl Store {
    /// Starts a write transaction (an import, a merge, an edit). Nothing is visible to other
    /// connections, nor kept after a crash, until [`Writer::commit`].
    pub fn writer(&mut self) -> Result<Writer<'_>, StoreError> {
        let p = self.path.display().to_string();
        let sq = |source| StoreError::sqlite(&p, "starting a write transaction", source);
        // a large import should not spill pages to the WAL mid-transaction
        self.conn.pragma_update(None, "cache_size", -131_072).map_err(sq)?;
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sq)?;
        Ok(Writer {
            tx,
            path: p,
            sql: Default::default(),
        })
    }
}

/// Inserts one unit's records, with its statements prepared once (see [`Writer::inserter`]).
pub struct Inserter<'w> {
    unit: String,
    /// Whether the store lists the versions each unit's records were captured with, and the
    /// last version listed by this inserter.
    versions_kept: bool,
    last_version: Option<u32>,
    has_parent: bool,
    st: rusqlite::Statement<'w>,
    ident: Option<rusqlite::Statement<'w>>,
    /// Positions of the data cells and of the identifier cells among a record's cells.
    data: Vec<usize>,
    idents: Vec<usize>,
    conn: &'w Connection,
    path: &'w str,
}

impl Inserter<'_> {
    /// To be called after rolling back to a savepoint: what was recorded since may be undone.
    pub fn rolled_back(&mut self) {
        self.last_version = None;
    }

    /// Inserts one record; returns its row id. `hash` is the content hash (stored as 16 hex
    /// digits), `parent` the parent's row id for a roster unit.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        uuid: &str,
        wave: i64,
        version: u32,
        captured_at: &str,
        captured_by: &str,
        import: Option<i64>,
        hash: u64,
        parent: Option<i64>,
        cells: &[Cell],
    ) -> Result<i64, StoreError> {
        let mut hex = [0u8; 16];
        let hash = hash_text(hash, &mut hex);
        let st = &mut self.st;
        let mut bind = || -> rusqlite::Result<usize> {
            st.raw_bind_parameter(1, uuid)?;
            st.raw_bind_parameter(2, wave)?;
            st.raw_bind_parameter(3, version)?;
            st.raw_bind_parameter(4, captured_at)?;
            st.raw_bind_parameter(5, captured_by)?;
            st.raw_bind_parameter(6, import)?;
            st.raw_bind_parameter(7, hash)?;
            let mut i = 8;
            if self.has_parent {
                st.raw_bind_parameter(i, parent)?;
                i += 1;
            }
            for &c in &self.data {
                st.raw_bind_parameter(i, &cells[c])?;
                i += 1;
            }
            st.raw_execute()
        };
        let (path, unit) = (self.path, &self.unit);
        let err = |source| StoreError::sqlite(path, format!("inserting a {unit} record"), source);
        bind().map_err(err)?;
        let rowid = self.conn.last_insert_rowid();
        if self.versions_kept && self.last_version != Some(version) {
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO unit_versions (unit, version) VALUES (?1, ?2)",
                    params![self.unit, version],
                )
                .map_err(err)?;
            self.last_version = Some(version);
        }
        if let Some(ist) = self.ident.as_mut().filter(|_| self.idents.iter().any(|&i| cells[i] != Cell::Null)) {
            let mut bind = || -> rusqlite::Result<usize> {
                ist.raw_bind_parameter(1, rowid)?;
                for (k, &c) in self.idents.iter().enumerate() {
                    ist.raw_bind_parameter(k + 2, &cells[c])?;
                }
                ist.raw_execute()
            };
            bind().map_err(err)?;
        }
        Ok(rowid)
    }
}

/// A content hash as stored: 16 lower-case hex digits, written into `buf`.
fn hash_text(hash: u64, buf: &mut [u8; 16]) -> &str {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = b"0123456789abcdef"[((hash >> (60 - 4 * i)) & 0xf) as usize];
    }
    std::str::from_utf8(buf).expect("hex digits are ASCII")
}

/// An existing record found by its key.
#[derive(Debug, Clone)]
pub struct Existing {
    /// Its row id in the unit's table.
    pub rowid: i64,
    /// Its content hash, as stored (16 hex digits).
    pub hash: String,
    /// Its UUID.
    pub uuid: String,
    /// The import that wrote it (none for a record written otherwise).
    pub import: Option<i64>,
}

/// Where a record is, found by its UUID.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Located {
    /// Its row id in the unit's table.
    pub rowid: i64,
    /// Its wave.
    pub wave: i64,
    /// The definition version its answers were checked against.
    pub version: u32,
    /// Its parent's row id (a unit below the top).
    pub parent: Option<i64>,
}

impl Writer<'_> {
    /// The statement text of `kind` for `unit`, built by `make` the first time.
    fn sql(&self, kind: &'static str, unit: &str, make: impl FnOnce() -> String) -> Rc<str> {
        let mut cache = self.sql.borrow_mut();
        cache.entry((kind, unit.to_string())).or_insert_with(|| Rc::from(make())).clone()
    }

    /// The error of SQLite failing in this transaction while doing `op`.
    pub(super) fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::sqlite(&self.path, op, source)
    }

    /// As [`Writer::err`], for an operation on one unit's records: `{unit}` in `op` is
    /// replaced by the unit's id ("reading a {unit} record").
    fn err_unit<'s>(&'s self, op: &'static str, unit: &'s str) -> impl Fn(rusqlite::Error) -> StoreError + 's {
        move |source| StoreError::sqlite(&self.path, op.replace("{unit}", unit), source)
    }

    /// Registers a wave (no-op when known).
    pub fn ensure_wave(&self, wave: i64) -> Result<(), StoreError> {
        self.tx
            .execute("INSERT OR IGNORE INTO waves (wave, created_at) VALUES (?1, ?2)", params![wave, now_iso()])
            .map_err(self.err("registering the wave"))?;
        Ok(())
    }

    /// Records an import; returns its id.
    pub fn begin_import(&self, wave: i64, files: &str, by: &str) -> Result<i64, StoreError> {
        self.tx
            .execute(
                "INSERT INTO imports (wave, files, started_at, by) VALUES (?1, ?2, ?3, ?4)",
                params![wave, files, now_iso(), by],
            )
            .map_err(self.err("recording the import"))?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Finds a record by its key: (wave, key) for a top unit, (parent row, key) for a roster.
    pub fn find(&self, unit: &Unit, wave: i64, parent: Option<i64>, key: &Cell) -> Result<Option<Existing>, StoreError> {
        let t = unit_table(&unit.id);
        let k = &unit.key;
        let err = self.err_unit("looking up a {unit} record by its key", &unit.id);
        let map = |r: &rusqlite::Row<'_>| {
            Ok(Existing {
                rowid: r.get(0)?,
                hash: r.get(1)?,
                uuid: r.get(2)?,
                import: r.get(3)?,
            })
        };
        let res = match parent {
            Some(p) => {
                let mut st = self
                    .tx
                    .prepare_cached(&self.sql("find_child", &unit.id, || {
                        format!("SELECT _rowid, _hash, _uuid, _import FROM \"{t}\" WHERE _parent = ?1 AND \"{k}\" = ?2")
                    }))
                    .map_err(&err)?;
                st.query_row(params![p, key], map).optional()
            }
            None => {
                let mut st = self
                    .tx
                    .prepare_cached(&self.sql("find_top", &unit.id, || {
                        format!("SELECT _rowid, _hash, _uuid, _import FROM \"{t}\" WHERE _wave = ?1 AND \"{k}\" = ?2")
                    }))
                    .map_err(&err)?;
                st.query_row(params![wave, key], map).optional()
            }
        };
        res.map_err(err)
    }

    /// Whether the store holds no record of `unit` (a top unit) in `wave`.
    pub fn wave_is_empty(&self, unit: &Unit, wave: i64) -> Result<bool, StoreError> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM \"{}\" WHERE _wave = ?1)", unit_table(&unit.id));
        let any: bool = self
            .tx
            .query_row(&sql, [wave], |r| r.get(0))
            .map_err(self.err_unit("looking for {unit} records in the wave", &unit.id))?;
        Ok(!any)
    }

    /// Prepares the insertion of `unit`'s records, whose cells follow `columns`
    /// ([`super::unit_columns`] order, identifiers included); the statements are held until it
    /// is dropped.
    pub fn inserter(&self, unit: &Unit, columns: &[Column]) -> Result<Inserter<'_>, StoreError> {
        let err = self.err_unit("preparing to insert {unit} records", &unit.id);
        let data: Vec<usize> = (0..columns.len()).filter(|&i| !columns[i].identifier).collect();
        let idents: Vec<usize> = (0..columns.len()).filter(|&i| columns[i].identifier).collect();
        let mut names: Vec<String> = ["_uuid", "_wave", "_version", "_captured_at", "_captured_by", "_import", "_hash"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if unit.parent.is_some() {
            names.push("_parent".into());
        }
        names.extend(data.iter().map(|&i| format!("\"{}\"", columns[i].name)));
        let ph: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO \"{}\" ({}) VALUES ({})", unit_table(&unit.id), names.join(", "), ph.join(", "));
        let st = self.tx.prepare(&sql).map_err(&err)?;
        let ident = if idents.is_empty() {
            None
        } else {
            let inames: Vec<String> = std::iter::once("_rowid".to_string())
                .chain(idents.iter().map(|&i| format!("\"{}\"", columns[i].name)))
                .collect();
            let ph: Vec<String> = (1..=inames.len()).map(|i| format!("?{i}")).collect();
            let sql = format!("INSERT INTO \"{}\" ({}) VALUES ({})", ident_table(&unit.id), inames.join(", "), ph.join(", "));
            Some(self.tx.prepare(&sql).map_err(&err)?)
        };
        let kept: bool = self
            .tx
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'unit_versions')", [], |r| r.get(0))
            .map_err(&err)?;
        Ok(Inserter {
            unit: unit.id.clone(),
            versions_kept: kept,
            last_version: None,
            has_parent: unit.parent.is_some(),
            st,
            ident,
            data,
            idents,
            conn: &self.tx,
            path: &self.path,
        })
    }

    /// Starts a savepoint (one row of an import with `--skip-invalid`).
    pub fn savepoint(&self) -> Result<(), StoreError> {
        self.tx.execute_batch("SAVEPOINT import_row").map_err(self.err("starting a savepoint"))
    }

    /// Ends the savepoint, undoing what was written since when `rollback`.
    pub fn release_savepoint(&self, rollback: bool) -> Result<(), StoreError> {
        let sql = if rollback {
            "ROLLBACK TO import_row; RELEASE import_row"
        } else {
            "RELEASE import_row"
        };
        self.tx.execute_batch(sql).map_err(self.err("ending a savepoint"))
    }

    /// The UUID of a record by row id.
    pub fn uuid_of(&self, unit: &Unit, rowid: i64) -> Result<String, StoreError> {
        let err = self.err_unit("reading the UUID of a {unit} record", &unit.id);
        let mut st = self
            .tx
            .prepare_cached(&format!("SELECT _uuid FROM \"{}\" WHERE _rowid = ?1", unit_table(&unit.id)))
            .map_err(&err)?;
        st.query_row([rowid], |r| r.get(0)).map_err(err)
    }

    /// Whether a record with this UUID exists in the unit.
    pub fn uuid_exists(&self, unit: &Unit, uuid: &str) -> Result<bool, StoreError> {
        let err = self.err_unit("looking up a {unit} record by its UUID", &unit.id);
        let mut st = self
            .tx
            .prepare_cached(&format!("SELECT 1 FROM \"{}\" WHERE _uuid = ?1", unit_table(&unit.id)))
            .map_err(&err)?;
        st.exists([uuid]).map_err(err)
    }

    /// Finds a record of `unit` by its UUID: its row, wave, definition version and parent row.
    pub fn locate(&self, unit: &Unit, uuid: &str) -> Result<Option<Located>, StoreError> {
        let err = self.err_unit("looking up a {unit} record by its UUID", &unit.id);
        let parent = if unit.parent.is_some() { "_parent" } else { "NULL" };
        let sql = format!("SELECT _rowid, _wave, _version, {parent} FROM \"{}\" WHERE _uuid = ?1", unit_table(&unit.id));
        let mut st = self.tx.prepare_cached(&sql).map_err(&err)?;
        st.query_row([uuid], |r| {
            Ok(Located {
                rowid: r.get(0)?,
                wave: r.get(1)?,
                version: r.get(2)?,
                parent: r.get(3)?,
            })
        })
        .optional()
        .map_err(err)
    }

    /// The UUIDs of the records of `unit` (a roster) under parent row `parent`, in the order
    /// they were written.
    pub fn children(&self, unit: &Unit, parent: i64) -> Result<Vec<String>, StoreError> {
        let err = self.err_unit("reading the {unit} records of a parent", &unit.id);
        let sql = format!("SELECT _uuid FROM \"{}\" WHERE _parent = ?1 ORDER BY _rowid", unit_table(&unit.id));
        let mut st = self.tx.prepare_cached(&sql).map_err(&err)?;
        let rows = st.query_map([parent], |r| r.get(0)).map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<String>>>().map_err(err)
    }

    /// Sets the number of records an import landed.
    pub fn finish_import(&self, import: i64, records: i64) -> Result<(), StoreError> {
        self.tx
            .execute("UPDATE imports SET records = ?1 WHERE id = ?2", params![records, import])
            .map_err(self.err("recording the records the import added"))?;
        Ok(())
    }

    /// Reads one record's cells by UUID: (unit table row id, cells in `columns` order).
    pub fn read_record(&self, unit: &Unit, columns: &[Column], uuid: &str) -> Result<Option<(i64, Vec<Cell>)>, StoreError> {
        let err = self.err_unit("reading a {unit} record", &unit.id);
        let t = unit_table(&unit.id);
        let it = ident_table(&unit.id);
        let sel: Vec<String> = columns
            .iter()
            .map(|c| {
                if c.identifier {
                    format!("i.\"{}\"", c.name)
                } else {
                    format!("t.\"{}\"", c.name)
                }
            })
            .collect();
        let sql = format!(
            "SELECT t._rowid, {} FROM \"{t}\" t LEFT JOIN \"{it}\" i ON i._rowid = t._rowid WHERE t._uuid = ?1",
            sel.join(", ")
        );
        let mut st = self.tx.prepare(&sql).map_err(&err)?;
        st.query_row([uuid], |r| {
            let id: i64 = r.get(0)?;
            let cells = (0..columns.len())
                .map(|i| r.get_ref(i + 1).map(Cell::from_ref))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((id, cells))
        })
        .optional()
        .map_err(err)
    }

    /// Updates one column of one record, and its content hash (as [`Inserter::insert`] takes
    /// it) to that of its new cells.
    pub fn update_cell(&self, unit: &Unit, column: &Column, rowid: i64, value: &Cell, hash: u64) -> Result<(), StoreError> {
        let err = self.err_unit("updating a {unit} record", &unit.id);
        if column.identifier {
            let it = ident_table(&unit.id);
            self.tx
                .execute(&format!("INSERT OR IGNORE INTO \"{it}\" (_rowid) VALUES (?1)"), [rowid])
                .map_err(&err)?;
            self.tx
                .execute(
                    &format!("UPDATE \"{it}\" SET \"{}\" = ?1 WHERE _rowid = ?2", column.name),
                    params![value, rowid],
                )
                .map_err(&err)?;
        } else {
            self.tx
                .execute(
                    &format!("UPDATE \"{}\" SET \"{}\" = ?1 WHERE _rowid = ?2", unit_table(&unit.id), column.name),
                    params![value, rowid],
                )
                .map_err(&err)?;
        }
        self.tx
            .execute(
                &format!("UPDATE \"{}\" SET _hash = ?1 WHERE _rowid = ?2", unit_table(&unit.id)),
                params![hash_text(hash, &mut [0u8; 16]), rowid],
            )
            .map_err(&err)?;
        Ok(())
    }

    /// Makes everything written visible and durable.
    pub fn commit(self) -> Result<(), StoreError> {
        let p = self.path;
        self.tx.commit().map_err(|source| StoreError::sqlite(&p, "committing", source))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::tiny_store;
    use super::super::unit_columns;
    use super::*;

    #[test]
    fn a_failed_insert_names_the_unit() {
        let (_dir, mut store, def) = tiny_store();
        let unit = def.unit("household").expect("a household unit");
        let columns = unit_columns(unit);
        let cells = vec![Cell::Null; columns.len()];
        let w = store.writer().expect("a writer");
        let mut ins = w.inserter(unit, &columns).expect("an inserter");
        let insert = |ins: &mut Inserter<'_>| ins.insert("0190c1d2-0000-7000-8000-000000000001", 1, 1, "now", "me", None, 7, None, &cells);
        let rowid = insert(&mut ins).expect("the first insert");
        let err = insert(&mut ins).unwrap_err();
        assert!(err.to_string().ends_with("database error while inserting a household record"), "{err}");
        let cause = std::error::Error::source(&err).expect("SQLite's error is kept");
        assert!(cause.to_string().contains("UNIQUE"), "{cause}");
        drop(ins);
        assert_eq!(w.uuid_of(unit, rowid).expect("read back"), "0190c1d2-0000-7000-8000-000000000001");
        assert!(w.uuid_exists(unit, "0190c1d2-0000-7000-8000-000000000001").expect("looked up"));
        let found = w.find(unit, 1, None, &Cell::Null).expect("looked up");
        assert!(found.is_none(), "a NULL key matches nothing: {found:?}");
        // an identifier and an answer updated, with the hash, read back
        let name = columns.iter().find(|c| c.identifier).expect("an identifier column");
        w.update_cell(unit, name, rowid, &Cell::Text("Ann".into()), 0xfe).expect("updated");
        w.update_cell(unit, &columns[0], rowid, &Cell::Text("H9".into()), 0x0123_4567_89ab_cdef)
            .expect("updated");
        let (_, cells) = w
            .read_record(unit, &columns, "0190c1d2-0000-7000-8000-000000000001")
            .expect("read")
            .expect("found");
        assert_eq!(cells[0], Cell::Text("H9".into()));
        assert_eq!(cells[columns.iter().position(|c| c.identifier).expect("identifier")], Cell::Text("Ann".into()));
        let found = w
            .find(unit, 1, None, &Cell::Text("H9".into()))
            .expect("looked up")
            .expect("found by its new key");
        assert_eq!((found.rowid, found.hash.as_str()), (rowid, "0123456789abcdef"));
    }
}
