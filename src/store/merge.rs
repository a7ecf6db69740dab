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
    pub fn read_records<E: From<StoreError>>(&self, unit: &Unit, columns: &[Column], mut each: impl FnMut(&StoredRecord) -> Result<(), E>) -> Result<(), E> {
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

#[cfg(test)]
mod tests {
    use super::super::testing::tiny_store;
    use super::super::unit_columns;
    use super::*;

    /// A record is read whole: system columns, its parent's UUID, its identifiers; a column
    /// the table lacks reads as no value; the store opened read-only refuses to write.
    #[test]
    fn records_are_read_whole_and_a_read_only_store_writes_nothing() {
        let (_dir, mut store, def) = tiny_store();
        let (hh, person) = (def.unit("household").expect("household"), def.unit("person").expect("person"));
        let (hcols, pcols) = (unit_columns(hh), unit_columns(person));
        let w = store.writer().expect("a writer");
        let mut hcells = vec![Cell::Null; hcols.len()];
        hcells[0] = Cell::Text("H1".into());
        let ci = hcols.iter().position(|c| c.name == "contact_name").expect("identifier");
        hcells[ci] = Cell::Text("Ann".into());
        let h = w
            .inserter(hh, &hcols)
            .expect("inserter")
            .insert("u-h1", 2, 1, "then", "me", None, 0xab, None, &hcells)
            .expect("household");
        let mut pcells = vec![Cell::Null; pcols.len()];
        pcells[0] = Cell::Int(1);
        pcells[1] = Cell::Int(40);
        w.inserter(person, &pcols)
            .expect("inserter")
            .insert("u-p1", 2, 1, "then", "you", None, 0xcd, Some(h), &pcells)
            .expect("person");
        assert_eq!(
            w.locate_with_hash(person, "u-p1").expect("located").map(|(at, hash)| (at.parent, hash)),
            Some((Some(h), "00000000000000cd".to_string()))
        );
        w.commit().expect("committed");
        let path = store.path().to_path_buf();
        drop(store);
        let ro = Store::open_read_only(&path).expect("opened");
        assert_eq!(ro.survey_id().expect("read"), "tiny");
        let snap = ro.snapshot().expect("a snapshot");
        let mut asked = hcols.clone();
        asked.push(Column {
            name: "not_there".into(),
            sql_type: "TEXT",
            identifier: false,
            derived: false,
        });
        let mut seen = Vec::new();
        ro.read_records(hh, &asked, |r| {
            seen.push(r.clone());
            Ok::<_, StoreError>(())
        })
        .expect("households");
        assert_eq!(seen.len(), 1);
        let r = &seen[0];
        assert_eq!(
            (r.uuid.as_str(), r.wave, r.version, r.captured_at.as_str(), r.hash.as_str(), r.parent.as_deref()),
            ("u-h1", 2, 1, "then", "00000000000000ab", None)
        );
        assert_eq!(
            (&r.cells[0], &r.cells[ci], r.cells.last()),
            (&Cell::Text("H1".into()), &Cell::Text("Ann".into()), Some(&Cell::Null))
        );
        let mut persons = Vec::new();
        ro.read_records(person, &pcols, |r| {
            persons.push((r.uuid.clone(), r.parent.clone(), r.captured_by.clone(), r.cells[1].clone()));
            Ok::<_, StoreError>(())
        })
        .expect("persons");
        assert_eq!(persons, vec![("u-p1".to_string(), Some("u-h1".to_string()), "you".to_string(), Cell::Int(40))]);
        snap.end();
        let err = ro.conn.execute_batch("DELETE FROM u_person").unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    }
}
