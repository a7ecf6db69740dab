//! What a merge needs from the store: another store read whole at one snapshot, and on the
//! target's write transaction a record located with its content hash and audit entries copied
//! as they were written.
//!
//! Owns [`Store::survey_id`], [`Store::snapshot`] (one read transaction, so a store written
//! while it is read is seen in one state), [`Store::read_records`] (a unit's records with their
//! system columns, their parent's UUID and their identifiers) and, on [`Writer`],
//! [`Writer::locate_with_hash`] and [`Writer::append_audit`]. It decides nothing: which
//! records are identical, new or in conflict is capture's.

use rusqlite::{params, OptionalExtension};

use super::audit::AuditEntry;
use super::cell::{ident_table, unit_table, Cell, Column};
use super::{Located, Store, StoreError, Writer};
use crate::schema::Unit;

/// One stored record as another store holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredRecord {
    /// Its UUID.
    pub uuid: String,
    /// Its wave.
    pub wave: i64,
    /// The definition version its answers were checked against.
    pub version: u32,
    /// When it was captured.
    pub captured_at: String,
    /// Who captured it.
    pub captured_by: String,
    /// Its content hash as stored (16 hex digits).
    pub hash: String,
    /// Its parent's UUID (a unit below the top).
    pub parent: Option<String>,
    /// Its cells, in the order of the columns asked for (identifiers included).
    pub cells: Vec<Cell>,
}

/// A read transaction held on a store: every read through the store while it lives sees the
/// store in one state, whatever another process commits meanwhile.
pub struct Snapshot<'s> {
    tx: rusqlite::Transaction<'s>,
}

impl std::fmt::Debug for Snapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot<'_> {
    /// Ends the read transaction.
    pub fn end(self) {
        // a read transaction has nothing to keep: its end cannot lose anything
        let _ = self.tx.rollback();
    }
}

impl Store {
    /// The survey id the store was created for (`meta`'s `survey`).
    pub fn survey_id(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'survey'", [], |r| r.get(0))
            .map_err(self.err("reading the survey id"))
    }

    /// Holds one read transaction: the reads made through this store until the snapshot ends
    /// see one state of the file.
    pub fn snapshot(&self) -> Result<Snapshot<'_>, StoreError> {
        let err = self.err("starting a read transaction");
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        // the snapshot is taken at the first read
        tx.query_row("SELECT count(*) FROM meta", [], |r| r.get::<_, i64>(0)).map_err(&err)?;
        Ok(Snapshot { tx })
    }

    /// Reads every record of `unit` in row order, with `columns` (union of the columns of the
    /// definition versions its records use; a column the table lacks reads as no value), their
    /// system columns and their parent's UUID, calling `each` with each.
    pub fn read_records<E: From<StoreError>>(
        &self,
        unit: &Unit,
        columns: &[Column],
        mut each: impl FnMut(&StoredRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let err = self.err_with(|| format!("reading the {} records", unit.id));
        let t = unit_table(&unit.id);
        let it = ident_table(&unit.id);
        let present = |table: &str| -> Result<Vec<String>, StoreError> {
            let mut st = self.conn.prepare(&format!("PRAGMA table_info(\"{table}\")")).map_err(&err)?;
            let names = st.query_map([], |r| r.get::<_, String>(1)).map_err(&err)?;
            names.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
        };
        let (in_t, in_i) = (present(&t)?, present(&it)?);
        let sel: Vec<String> = columns
            .iter()
            .map(|c| match (c.identifier, in_t.contains(&c.name), in_i.contains(&c.name)) {
                (true, _, true) => format!("i.\"{}\"", c.name),
                (false, true, _) => format!("t.\"{}\"", c.name),
                _ => "NULL".to_string(),
            })
            .collect();
        let parent = match &unit.parent {
            Some(p) => format!("(SELECT p._uuid FROM \"{}\" p WHERE p._rowid = t._parent)", unit_table(p)),
            None => "NULL".to_string(),
        };
        let sql = format!(
            "SELECT t._uuid, t._wave, t._version, t._captured_at, t._captured_by, t._hash, {parent}{}{} FROM \"{t}\" t LEFT JOIN \"{it}\" i ON i._rowid = t._rowid ORDER BY t._rowid",
            if sel.is_empty() { "" } else { ", " },
            sel.join(", ")
        );
        let mut st = self.conn.prepare(&sql).map_err(&err)?;
        let mut rows = st.query([]).map_err(&err)?;
        let mut rec = StoredRecord::default();
        while let Some(r) = rows.next().map_err(&err)? {
            let read = |rec: &mut StoredRecord| -> rusqlite::Result<()> {
                rec.uuid = r.get(0)?;
                rec.wave = r.get(1)?;
                rec.version = r.get(2)?;
                rec.captured_at = r.get(3)?;
                rec.captured_by = r.get(4)?;
                rec.hash = r.get(5)?;
                rec.parent = r.get(6)?;
                rec.cells.clear();
                for i in 0..columns.len() {
                    rec.cells.push(Cell::from_ref(r.get_ref(i + 7)?));
                }
                Ok(())
            };
            read(&mut rec).map_err(&err)?;
            each(&rec)?;
        }
        Ok(())
    }
}

impl Writer<'_> {
    /// Finds a record of `unit` by its UUID, with its content hash as stored.
    pub fn locate_with_hash(&self, unit: &Unit, uuid: &str) -> Result<Option<(Located, String)>, StoreError> {
        let parent = if unit.parent.is_some() { "_parent" } else { "NULL" };
        let sql = format!(
            "SELECT _rowid, _wave, _version, {parent}, _hash FROM \"{}\" WHERE _uuid = ?1",
            unit_table(&unit.id)
        );
        let op = || format!("looking up a {} record by its UUID", unit.id);
        let mut st = self.tx.prepare_cached(&sql).map_err(|e| StoreError::sqlite(&self.path, op(), e))?;
        st.query_row([uuid], |r| {
            Ok((
                Located {
                    rowid: r.get(0)?,
                    wave: r.get(1)?,
                    version: r.get(2)?,
                    parent: r.get(3)?,
                },
                r.get(4)?,
            ))
        })
        .optional()
        .map_err(|e| StoreError::sqlite(&self.path, op(), e))
    }

    /// Appends an entry to the audit log as it was written elsewhere (its time and author
    /// kept), inside this transaction.
    pub fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO audit (at, by, action, unit, record, question, old_value, new_value, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![e.at, e.by, e.action, e.unit, e.record, e.question, e.old_value, e.new_value, e.reason],
            )
            .map_err(self.err("copying an entry to the audit log"))?;
        Ok(())
    }
}
