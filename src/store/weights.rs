//! Named weight sets: one weight per record, with how the weights were made.
//!
//! Owns the tables `weight_sets` (name, unit, when and by whom, the method and its inputs as
//! JSON: margins, population files' names and content hashes, bounds, trimming, iterations,
//! convergence), `weight_chunks` (a set's values packed: per chunk of up to [`CHUNK_RECORDS`]
//! records, sorted by record id, the ids as 16-byte big-endian UUIDs, the weights and the
//! calibrated weights before trimming as 8-byte little-endian reals, the latter absent when
//! trimming changed nothing) and `weight_values` (one row per record: set, record UUID, weight,
//! calibrated weight; how stores written before `weight_chunks` keep their sets, still read),
//! created by `migrate` on the first weight set of a store made before they existed. A set is
//! written in one transaction: all of it or nothing; a name in use is an error unless the caller
//! asks to replace it. Must not compute weights (that is `analysis::weighting`) nor interpret
//! the JSON it keeps.

use rusqlite::{params, OptionalExtension};

use super::audit::{default_user, now_iso};
use super::{Store, StoreError};

/// A record's UUID as a number (the form weight sets and frames carry record ids in).
pub fn record_id(uuid: &str) -> Result<u128, super::ReadError> {
    ::uuid::Uuid::try_parse(uuid)
        .map(|u| u.as_u128())
        .map_err(|e| super::ReadError::conversion(Box::new(e)))
}

/// A record id as the UUID text records carry.
pub fn record_uuid(id: u128) -> String {
    ::uuid::Uuid::from_u128(id).hyphenated().to_string()
}

/// Records per row of `weight_chunks` (so that no value nears SQLite's limit on a blob).
pub const CHUNK_RECORDS: usize = 1 << 20;

/// A weight set to store.
#[derive(Debug, Clone, Copy)]
pub struct NewWeightSet<'a> {
    /// Its name (unique in the store).
    pub name: &'a str,
    /// The unit whose records are weighted.
    pub unit: &'a str,
    /// The method, one word (`poststratify`, `rake`, `calibrate`, `trim`).
    pub method: &'a str,
    /// How the weights were made, as JSON text.
    pub inputs: &'a str,
    /// The records weighted.
    pub ids: &'a [u128],
    /// Their weights.
    pub weights: &'a [f64],
    /// Their calibrated weights before trimming, when trimming changed them.
    pub calibrated: Option<&'a [f64]>,
    /// Replace a set of the same name instead of failing.
    pub replace: bool,
}

/// A stored weight set's description.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightSetInfo {
    /// Its name.
    pub name: String,
    /// The unit weighted.
    pub unit: String,
    /// When it was made (ISO 8601).
    pub created_at: String,
    /// Who made it.
    pub created_by: String,
    /// The method.
    pub method: String,
    /// How it was made (JSON text).
    pub inputs: String,
    /// Records weighted.
    pub records: i64,
}

/// A stored weight set's values, sorted by record id.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightValues {
    /// Record ids, ascending.
    pub ids: Vec<u128>,
    /// Weight of each.
    pub weights: Vec<f64>,
    /// Calibrated weight before trimming (equal to the weight when not trimmed).
    pub calibrated: Vec<f64>,
}

impl Store {
    /// Stores a weight set in one transaction (replacing one of the same name only when
    /// `set.replace`); nothing is stored on any error.
    pub fn save_weight_set(&mut self, set: &NewWeightSet<'_>) -> Result<(), StoreError> {
        let p = self.path.display().to_string();
        let sq = |source| StoreError::sqlite(&p, format!("writing weight set '{}'", set.name), source);
        if set.ids.len() != set.weights.len() || set.calibrated.is_some_and(|c| c.len() != set.ids.len()) {
            panic!("a weight set has one weight per record (a caller's broken invariant)");
        }
        let tx = self.conn.transaction().map_err(sq)?;
        super::migrate::ensure_weight_tables(&tx).map_err(sq)?;
        let existing: Option<(i64, String)> = tx
            .query_row("SELECT id, created_at FROM weight_sets WHERE name = ?1", [set.name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(sq)?;
        if let Some((id, created_at)) = existing.clone() {
            if !set.replace {
                return Err(StoreError::WeightSetExists {
                    path: p.clone(),
                    name: set.name.to_string(),
                    created_at,
                });
            }
            tx.execute("DELETE FROM weight_values WHERE set_id = ?1", [id]).map_err(sq)?;
            tx.execute("DELETE FROM weight_chunks WHERE set_id = ?1", [id]).map_err(sq)?;
            tx.execute("DELETE FROM weight_sets WHERE id = ?1", [id]).map_err(sq)?;
        }
        let by = default_user();
        tx.execute(
            "INSERT INTO weight_sets (name, unit, created_at, created_by, method, inputs, records) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![set.name, set.unit, now_iso(), by, set.method, set.inputs, set.ids.len() as i64],
        )
        .map_err(sq)?;
        let id = tx.last_insert_rowid();
        // chunks an older hearth left behind under this id when it replaced a packed set
        tx.execute("DELETE FROM weight_chunks WHERE set_id = ?1", [id]).map_err(sq)?;
        // in record-id order, so that a set reads back sorted
        let mut order: Vec<usize> = (0..set.ids.len()).collect();
        if !set.ids.is_sorted() {
            order.sort_unstable_by_key(|&i| set.ids[i]);
        }
        let trimmed = set.calibrated.is_some_and(|c| c.iter().zip(set.weights).any(|(c, w)| c != w));
        {
            let mut st = tx
                .prepare("INSERT INTO weight_chunks (set_id, chunk, ids, weights, calibrated) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sq)?;
            for (chunk, part) in order.chunks(CHUNK_RECORDS).enumerate() {
                let mut ids: Vec<u8> = Vec::with_capacity(16 * part.len());
                let mut weights: Vec<u8> = Vec::with_capacity(8 * part.len());
                for &i in part {
                    ids.extend_from_slice(&set.ids[i].to_be_bytes());
                    weights.extend_from_slice(&set.weights[i].to_le_bytes());
                }
                let calibrated: Option<Vec<u8>> = set.calibrated.filter(|_| trimmed).map(|c| {
                    let mut b = Vec::with_capacity(8 * part.len());
                    for &i in part {
                        b.extend_from_slice(&c[i].to_le_bytes());
                    }
                    b
                });
                st.execute(params![id, chunk as i64, ids, weights, calibrated]).map_err(sq)?;
            }
        }
        tx.execute(
            "INSERT INTO audit (at, by, action, reason) VALUES (?1, ?2, 'weight', ?3)",
            params![
                now_iso(),
                by,
                format!(
                    "weight set '{}' {} ({}, {} records)",
                    set.name,
                    if existing.is_some() { "replaced" } else { "made" },
                    set.method,
                    set.ids.len()
                )
            ],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(())
    }

    fn has_weight_tables(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'weight_sets')", [], |r| r.get(0))
            .map_err(self.err("reading the weight sets"))
    }

    /// The stored weight sets, by name.
    pub fn weight_sets(&self) -> Result<Vec<WeightSetInfo>, StoreError> {
        if !self.has_weight_tables()? {
            return Ok(Vec::new());
        }
        let err = self.err("reading the weight sets");
        let mut st = self
            .conn
            .prepare("SELECT name, unit, created_at, created_by, method, inputs, records FROM weight_sets ORDER BY name")
            .map_err(&err)?;
        let rows = st
            .query_map([], |r| {
                Ok(WeightSetInfo {
                    name: r.get(0)?,
                    unit: r.get(1)?,
                    created_at: r.get(2)?,
                    created_by: r.get(3)?,
                    method: r.get(4)?,
                    inputs: r.get(5)?,
                    records: r.get(6)?,
                })
            })
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        Ok(rows)
    }

    /// A stored weight set with its values, or `None` when there is none of that name.
    pub fn weight_set(&self, name: &str) -> Result<Option<(WeightSetInfo, WeightValues)>, StoreError> {
        let Some(info) = self.weight_sets()?.into_iter().find(|s| s.name == name) else {
            return Ok(None);
        };
        let err = self.err_with(|| format!("reading weight set '{name}'"));
        let set_id: i64 = self
            .conn
            .query_row("SELECT id FROM weight_sets WHERE name = ?1", [name], |r| r.get(0))
            .map_err(&err)?;
        let n = info.records.max(0) as usize;
        let mut values = WeightValues {
            ids: Vec::with_capacity(n),
            weights: Vec::with_capacity(n),
            calibrated: Vec::with_capacity(n),
        };
        // rows first: a set written one row per record by an older hearth (which, replacing a
        // packed set, leaves that set's chunks behind under an id it may reuse) is the rows
        let rows: bool = self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM weight_values WHERE set_id = ?1)", [set_id], |r| r.get(0))
            .map_err(&err)?;
        if rows {
            self.row_values(set_id, &mut values)?;
        } else if self.has_table("weight_chunks")? {
            self.packed_values(set_id, &mut values).map_err(&err)?;
        }
        if !values.ids.is_sorted() {
            // written sorted; sort a set another program wrote otherwise
            let mut order: Vec<usize> = (0..values.ids.len()).collect();
            order.sort_unstable_by_key(|&i| values.ids[i]);
            values = WeightValues {
                ids: order.iter().map(|&i| values.ids[i]).collect(),
                weights: order.iter().map(|&i| values.weights[i]).collect(),
                calibrated: order.iter().map(|&i| values.calibrated[i]).collect(),
            };
        }
        Ok(Some((info, values)))
    }

    fn has_table(&self, table: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)", [table], |r| {
                r.get(0)
            })
            .map_err(self.err("reading the weight sets"))
    }

    /// Appends the values of set `set_id` from its packed chunks.
    fn packed_values(&self, set_id: i64, values: &mut WeightValues) -> rusqlite::Result<()> {
        let mut st = self
            .conn
            .prepare("SELECT chunk, ids, weights, calibrated FROM weight_chunks WHERE set_id = ?1 ORDER BY chunk")?;
        let mut rows = st.query([set_id])?;
        while let Some(r) = rows.next()? {
            let chunk: i64 = r.get(0)?;
            let bad = |what: String| {
                let cause = std::io::Error::other(format!("chunk {chunk} of the weight set: {what}"));
                rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, Box::new(cause))
            };
            let ids = r.get_ref(1)?.as_blob()?;
            let weights = r.get_ref(2)?.as_blob()?;
            let calibrated = r.get_ref(3)?.as_blob_or_null()?;
            let m = ids.len() / 16;
            if ids.len() % 16 != 0 || weights.len() != 8 * m || calibrated.is_some_and(|c| c.len() != 8 * m) {
                return Err(bad(format!(
                    "{} bytes of record ids, {} of weights, {} of calibrated weights do not make whole records",
                    ids.len(),
                    weights.len(),
                    calibrated.map_or(0, <[u8]>::len)
                )));
            }
            let real = |b: &[u8]| f64::from_le_bytes(b.try_into().expect("8-byte chunks"));
            values
                .ids
                .extend(ids.chunks_exact(16).map(|b| u128::from_be_bytes(b.try_into().expect("16-byte chunks"))));
            let start = values.weights.len();
            values.weights.extend(weights.chunks_exact(8).map(real));
            match calibrated {
                Some(c) => values.calibrated.extend(c.chunks_exact(8).map(real)),
                None => values.calibrated.extend_from_slice(&values.weights[start..]),
            }
        }
        Ok(())
    }

    /// Appends the values of set `set_id` from `weight_values`, one row per record (how stores
    /// written before `weight_chunks` keep their sets).
    fn row_values(&self, set_id: i64, values: &mut WeightValues) -> Result<(), StoreError> {
        let p = self.path.display().to_string();
        let err = self.err("reading a weight set");
        let mut st = self
            .conn
            .prepare("SELECT record, weight, calibrated FROM weight_values WHERE set_id = ?1 ORDER BY rowid")
            .map_err(&err)?;
        let mut rows = st.query([set_id]).map_err(&err)?;
        while let Some(r) = rows.next().map_err(&err)? {
            let raw = r.get_ref(0).map_err(&err)?;
            let text = match raw {
                rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t).unwrap_or(""),
                _ => "",
            };
            let id = ::uuid::Uuid::try_parse(text).map_err(|_| StoreError::BadRecordId {
                path: p.clone(),
                id: String::from_utf8_lossy(match raw {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t,
                    _ => b"",
                })
                .into_owned(),
            })?;
            let w: f64 = r.get(1).map_err(&err)?;
            let c: Option<f64> = r.get(2).map_err(&err)?;
            values.ids.push(id.as_u128());
            values.weights.push(w);
            values.calibrated.push(c.unwrap_or(w));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::tiny_store;
    use super::*;

    #[test]
    fn a_weight_set_is_stored_whole_and_a_name_in_use_is_refused_unless_replaced() {
        let (_dir, mut store, _) = tiny_store();
        assert!(store.weight_sets().unwrap().is_empty());
        assert!(store.weight_set("cal").unwrap().is_none());
        let ids = [3u128, 1, 2];
        let set = NewWeightSet {
            name: "cal",
            unit: "person",
            method: "rake",
            inputs: "{}",
            ids: &ids,
            weights: &[3.0, 1.0, 2.0],
            calibrated: Some(&[3.5, 1.0, 2.0]),
            replace: false,
        };
        store.save_weight_set(&set).unwrap();
        let (info, v) = store.weight_set("cal").unwrap().unwrap();
        assert_eq!((info.records, info.method.as_str()), (3, "rake"));
        assert_eq!(v.ids, [1, 2, 3]);
        assert_eq!(v.weights, [1.0, 2.0, 3.0]);
        assert_eq!(v.calibrated, [1.0, 2.0, 3.5]);
        let e = store.save_weight_set(&set).unwrap_err();
        assert!(matches!(e, StoreError::WeightSetExists { .. }), "{e}");
        assert!(e.to_string().contains("'cal' exists already"), "{e}");
        store
            .save_weight_set(&NewWeightSet {
                replace: true,
                weights: &[30.0, 10.0, 20.0],
                calibrated: None,
                ..set
            })
            .unwrap();
        let (_, v) = store.weight_set("cal").unwrap().unwrap();
        assert_eq!(v.weights, [10.0, 20.0, 30.0]);
        assert_eq!(store.weight_sets().unwrap().len(), 1);
        assert_eq!(record_id(&record_uuid(12345)).unwrap(), 12345);
    }

    /// A store whose sets were written one row per record (before `weight_chunks` existed)
    /// still reads them, takes new packed sets beside them, and replaces an old set.
    #[test]
    fn sets_written_one_row_per_record_still_read() {
        let (_dir, mut store, _) = tiny_store();
        store
            .conn
            .execute_batch(&format!(
                "CREATE TABLE weight_sets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, unit TEXT NOT NULL,
                     created_at TEXT NOT NULL, created_by TEXT NOT NULL, method TEXT NOT NULL, inputs TEXT NOT NULL,
                     records INTEGER NOT NULL);
                 CREATE TABLE weight_values (set_id INTEGER NOT NULL REFERENCES weight_sets(id),
                     record TEXT NOT NULL, weight REAL NOT NULL, calibrated REAL);
                 CREATE INDEX weight_values_set ON weight_values (set_id);
                 INSERT INTO weight_sets VALUES (1, 'old', 'person', 'then', 'me', 'rake', '{{}}', 2);
                 INSERT INTO weight_values VALUES (1, '{}', 2.5, NULL), (1, '{}', 1.5, 1.75);",
                record_uuid(7),
                record_uuid(4)
            ))
            .unwrap();
        let old = |store: &Store| store.weight_set("old").unwrap().unwrap().1;
        assert_eq!(old(&store).ids, [4, 7]);
        assert_eq!(old(&store).weights, [1.5, 2.5]);
        assert_eq!(old(&store).calibrated, [1.75, 2.5]);
        let set = NewWeightSet {
            name: "new",
            unit: "person",
            method: "poststratify",
            inputs: "{}",
            ids: &[9, 3],
            weights: &[1.0, 2.0],
            calibrated: None,
            replace: false,
        };
        store.save_weight_set(&set).unwrap();
        assert_eq!(old(&store).weights, [1.5, 2.5]);
        let (_, v) = store.weight_set("new").unwrap().unwrap();
        assert_eq!((v.ids, v.weights, v.calibrated), (vec![3, 9], vec![2.0, 1.0], vec![2.0, 1.0]));
        store
            .save_weight_set(&NewWeightSet {
                name: "old",
                replace: true,
                ..set
            })
            .unwrap();
        assert_eq!(old(&store).ids, [3, 9]);
        let rows: i64 = store.conn.query_row("SELECT count(*) FROM weight_values", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0, "the old set's rows went with it");
        let names: Vec<String> = store.weight_sets().unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["new", "old"]);
    }

    /// An older hearth replacing a packed set deletes its rows and its `weight_sets` line only,
    /// and may write the new set one row per record under the same id: the rows are the set.
    #[test]
    fn rows_written_over_a_packed_sets_id_are_the_set() {
        let (_dir, mut store, _) = tiny_store();
        let set = NewWeightSet {
            name: "a",
            unit: "person",
            method: "rake",
            inputs: "{}",
            ids: &[1, 2],
            weights: &[1.0, 2.0],
            calibrated: None,
            replace: false,
        };
        store.save_weight_set(&set).unwrap();
        store
            .conn
            .execute_batch(&format!(
                "DELETE FROM weight_values WHERE set_id = 1; DELETE FROM weight_sets WHERE id = 1;
                 INSERT INTO weight_sets VALUES (1, 'a', 'person', 'then', 'me', 'rake', '{{}}', 1);
                 INSERT INTO weight_values VALUES (1, '{}', 5.0, NULL);",
                record_uuid(9)
            ))
            .unwrap();
        let (_, v) = store.weight_set("a").unwrap().unwrap();
        assert_eq!((v.ids, v.weights), (vec![9], vec![5.0]));
        // a set made now under that id does not take the chunks left behind
        store
            .save_weight_set(&NewWeightSet {
                replace: true,
                ids: &[4],
                weights: &[3.0],
                ..set
            })
            .unwrap();
        let (_, v) = store.weight_set("a").unwrap().unwrap();
        assert_eq!((v.ids, v.weights), (vec![4], vec![3.0]));
    }

    /// A packed chunk whose blobs do not make whole records is an error naming the set, not a
    /// panic or a short set.
    #[test]
    fn a_broken_chunk_is_an_error() {
        let (_dir, mut store, _) = tiny_store();
        let set = NewWeightSet {
            name: "w",
            unit: "person",
            method: "rake",
            inputs: "{}",
            ids: &[1, 2],
            weights: &[1.0, 2.0],
            calibrated: None,
            replace: false,
        };
        store.save_weight_set(&set).unwrap();
        store.conn.execute_batch("UPDATE weight_chunks SET weights = x'0102'").unwrap();
        let e = store.weight_set("w").unwrap_err();
        assert!(e.to_string().contains("reading weight set 'w'"), "{e}");
    }
}
