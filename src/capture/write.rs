//! Writing one checked record: matching it by key to the store (new, the same record again,
//! or different answers: a conflict) and inserting it, stamped with its wave, definition
//! version, time, who captured it and the import.
//!
//! Owns [`RecordWriter`], the one path by which a [`Record`] lands in the store, inside one
//! write transaction ([`Writer`]), with each unit's insert statements prepared once. It must
//! not parse or check answers (that is [`super::record`]'s), nor know files, rows, lines or
//! what was met earlier in an import (that is the import's).

use super::record::Record;
use crate::schema::Unit;
use crate::store::{unit_columns, Cell, Column, Existing, Inserter, StoreError, UuidV7, Writer};

/// What every record written is stamped with.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// The wave.
    pub wave: i64,
    /// The definition version the answers were checked against.
    pub version: u32,
    /// When (ISO 8601, UTC), one time for a whole import.
    pub captured_at: String,
    /// Who captured the answers.
    pub captured_by: String,
    /// The import that wrote them, if any.
    pub import: Option<i64>,
}

/// How a record stands against the store.
#[derive(Debug, Clone)]
pub enum Match {
    /// No record has its key (in its wave, or under its parent).
    New,
    /// The stored record with its key has the same answers.
    Same(Existing),
    /// The stored record with its key has different answers: a conflict.
    Different(Existing),
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Inserted {
    /// The record was inserted as this row.
    Row(i64),
    /// The UUID asked for is another record's already: nothing was written.
    UuidTaken,
}

/// The first answer where a record differs from a stored one.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Its index among the unit's columns.
    pub column: usize,
    /// The column's name (a question id).
    pub name: String,
    /// The stored value.
    pub stored: Cell,
}

/// One unit of a [`RecordWriter`]: its columns, and its insert statements once needed.
struct UnitOut<'w, 'd> {
    unit: &'d Unit,
    columns: Vec<Column>,
    inserter: Option<Inserter<'w>>,
}

/// Matches and inserts checked records of the units of one lineage (top unit first), named by
/// their depth in it.
pub struct RecordWriter<'w, 's, 'd> {
    writer: &'w Writer<'s>,
    units: Vec<UnitOut<'w, 'd>>,
    stamp: Stamp,
    /// Time-ordered UUIDs keep the unique index append-mostly.
    uuids: UuidV7,
}

impl<'w, 's, 'd> RecordWriter<'w, 's, 'd> {
    /// A writer of `lineage`'s records (top unit first) into `writer`'s transaction.
    pub fn new(writer: &'w Writer<'s>, lineage: &[&'d Unit], stamp: Stamp) -> Self {
        RecordWriter {
            writer,
            units: lineage
                .iter()
                .map(|u| UnitOut {
                    unit: u,
                    columns: unit_columns(u),
                    inserter: None,
                })
                .collect(),
            stamp,
            uuids: UuidV7::new(),
        }
    }

    /// The transaction written to.
    pub fn writer(&self) -> &'w Writer<'s> {
        self.writer
    }

    /// The stamp of the records written.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }

    /// The unit at depth `d`.
    pub fn unit(&self, d: usize) -> &'d Unit {
        self.units[d].unit
    }

    /// The columns of the unit at depth `d`, in the order of a [`Record`]'s cells.
    pub fn columns(&self, d: usize) -> &[Column] {
        &self.units[d].columns
    }

    /// The record of unit `d` with key `key` in the stamp's wave (`parent`: the parent's row,
    /// for a unit below the top).
    pub fn find(&self, d: usize, parent: Option<i64>, key: &Cell) -> Result<Option<Existing>, StoreError> {
        let unit = self.units[d].unit;
        self.writer.find(unit, self.stamp.wave, parent.filter(|_| unit.parent.is_some()), key)
    }

    /// How `record` (of unit `d`, under `parent`) stands against the store.
    pub fn matches(&self, d: usize, parent: Option<i64>, record: &Record) -> Result<Match, StoreError> {
        Ok(match self.find(d, parent, &record.key)? {
            None => Match::New,
            Some(ex) if u64::from_str_radix(&ex.hash, 16).ok() == Some(record.hash) => Match::Same(ex),
            Some(ex) => Match::Different(ex),
        })
    }

    /// Inserts `record` as a new record of unit `d` under `parent`, with `uuid` when given
    /// (a record exported from another store keeps its UUID), else a new one.
    pub fn insert(&mut self, d: usize, parent: Option<i64>, record: &Record, uuid: Option<&str>) -> Result<Inserted, StoreError> {
        let out = &mut self.units[d];
        if let Some(u) = uuid {
            if self.writer.uuid_exists(out.unit, u)? {
                return Ok(Inserted::UuidTaken);
            }
        }
        let mut buf = [0u8; 36];
        let uuid = match uuid {
            Some(u) => u,
            None => self.uuids.next(&mut buf),
        };
        let ins = match &mut out.inserter {
            Some(ins) => ins,
            slot => slot.insert(self.writer.inserter(out.unit, &out.columns)?),
        };
        let s = &self.stamp;
        let rowid = ins.insert(
            uuid,
            s.wave,
            s.version,
            &s.captured_at,
            &s.captured_by,
            s.import,
            record.hash,
            parent.filter(|_| out.unit.parent.is_some()),
            &record.cells,
        )?;
        Ok(Inserted::Row(rowid))
    }

    /// The stored cells of row `rowid` of unit `d`, in [`Self::columns`] order.
    pub fn read(&self, d: usize, rowid: i64) -> Result<Option<Vec<Cell>>, StoreError> {
        let out = &self.units[d];
        let uuid = self.writer.uuid_of(out.unit, rowid)?;
        Ok(self.writer.read_record(out.unit, &out.columns, &uuid)?.map(|(_, cells)| cells))
    }

    /// The first column where `cells` (a record of unit `d`) differ from stored row `rowid`.
    pub fn difference(&self, d: usize, rowid: i64, cells: &[Cell]) -> Result<Option<Difference>, StoreError> {
        let Some(stored) = self.read(d, rowid)? else {
            return Ok(None);
        };
        Ok(cells
            .iter()
            .zip(stored)
            .enumerate()
            .find(|(_, (a, b))| *a != b)
            .map(|(i, (_, stored))| Difference {
                column: i,
                name: self.units[d].columns[i].name.clone(),
                stored,
            }))
    }

    /// Starts a savepoint: what is written next can be undone alone.
    pub fn savepoint(&self) -> Result<(), StoreError> {
        self.writer.savepoint()
    }

    /// Ends the savepoint, undoing what was written since when `rollback`.
    pub fn release_savepoint(&mut self, rollback: bool) -> Result<(), StoreError> {
        self.writer.release_savepoint(rollback)?;
        if rollback {
            for ins in self.units.iter_mut().filter_map(|u| u.inserter.as_mut()) {
                ins.rolled_back();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::record::RecordChecker;
    use crate::schema::expr::Value;
    use crate::store::Store;

    /// The household record of `answers` (household_id, area, rooms), checked.
    fn household(unit: &Unit, answers: [&str; 3]) -> Record {
        let mut values = vec![Value::Missing; unit.scope.len()];
        let (mut out, mut problems) = (Record::default(), Vec::new());
        let answer = |i: usize| answers.get(i).copied().unwrap_or("");
        assert!(
            RecordChecker::new(unit, None).check(answer, &mut values, &mut out, &mut problems),
            "{problems:?}"
        );
        out
    }

    #[test]
    fn records_matched_by_key_and_inserted_once() {
        let dir = tempfile::tempdir().unwrap();
        let def = crate::schema::load_str(include_str!("../../fixtures/import/tiny.yaml"), "tiny.yaml").unwrap();
        let mut store = Store::create(&dir.path().join("s.db"), &def).unwrap();
        let lineage = def.lineage("person");
        let writer = store.writer().unwrap();
        writer.ensure_wave(1).unwrap();
        let stamp = Stamp {
            wave: 1,
            version: def.version,
            captured_at: crate::store::now_iso(),
            captured_by: "test".into(),
            import: None,
        };
        let mut out = RecordWriter::new(&writer, &lineage, stamp);
        let h1 = household(lineage[0], ["H1", "1", "4"]);
        assert!(matches!(out.matches(0, None, &h1).unwrap(), Match::New));
        let Inserted::Row(rowid) = out.insert(0, None, &h1, None).unwrap() else {
            panic!("not inserted")
        };
        match out.matches(0, None, &h1).unwrap() {
            Match::Same(ex) => assert_eq!(ex.rowid, rowid),
            other => panic!("{other:?}"),
        }
        // the same key with another answer: a conflict, and the first answer that differs
        let changed = household(lineage[0], ["H1", "1", "5"]);
        let Match::Different(ex) = out.matches(0, None, &changed).unwrap() else {
            panic!("not a conflict")
        };
        let diff = out.difference(0, ex.rowid, &changed.cells).unwrap().unwrap();
        assert_eq!((diff.column, diff.name.as_str(), &diff.stored), (2, "rooms", &Cell::Int(4)));
        // a UUID asked for that another record has: nothing written
        assert_eq!(
            out.insert(0, None, &household(lineage[0], ["H2", "2", "3"]), Some(&ex.uuid)).unwrap(),
            Inserted::UuidTaken
        );
        // undone by a savepoint rolled back
        out.savepoint().unwrap();
        let h3 = household(lineage[0], ["H3", "3", "2"]);
        assert!(matches!(out.insert(0, None, &h3, None).unwrap(), Inserted::Row(_)));
        out.release_savepoint(true).unwrap();
        assert!(matches!(out.matches(0, None, &h3).unwrap(), Match::New));
        assert!(matches!(out.matches(0, None, &household(lineage[0], ["H2", "2", "3"])).unwrap(), Match::New));
    }
}
