//! Named weight sets: one weight per record, with how the weights were made.
//!
//! Owns the tables `weight_sets` (name, unit, when and by whom, the method and its inputs as
//! JSON: margins, population files' names and content hashes, bounds, trimming, iterations,
//! convergence) and `weight_values` (set, record UUID, weight, and the calibrated weight before
//! trimming when trimming changed it), created by `migrate` on the first weight set of a store
//! made before they existed. A set is written in one transaction: all of it or nothing; a name
//! in use is an error unless the caller asks to replace it. Must not compute weights (that is
//! `analysis::weighting`) nor interpret the JSON it keeps.

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
            tx.execute("DELETE FROM weight_sets WHERE id = ?1", [id]).map_err(sq)?;
        }
        let by = default_user();
        tx.execute(
            "INSERT INTO weight_sets (name, unit, created_at, created_by, method, inputs, records) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![set.name, set.unit, now_iso(), by, set.method, set.inputs, set.ids.len() as i64],
        )
        .map_err(sq)?;
        let id = tx.last_insert_rowid();
        {
            // in record-id order, so that a set reads back sorted
            let mut order: Vec<usize> = (0..set.ids.len()).collect();
            order.sort_unstable_by_key(|&i| set.ids[i]);
            let mut st = tx
                .prepare("INSERT INTO weight_values (set_id, record, weight, calibrated) VALUES (?1, ?2, ?3, ?4)")
                .map_err(sq)?;
            let mut buf = [0u8; 36];
            for i in order {
                let uuid = ::uuid::Uuid::from_u128(set.ids[i]).hyphenated().encode_lower(&mut buf);
                let cal = set.calibrated.map(|c| c[i]).filter(|c| *c != set.weights[i]);
                st.execute(params![id, &*uuid, set.weights[i], cal]).map_err(sq)?;
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
        let p = self.path.display().to_string();
        let err = self.err_with(|| format!("reading weight set '{name}'"));
        let mut st = self
            .conn
            .prepare("SELECT v.record, v.weight, v.calibrated FROM weight_values v JOIN weight_sets s ON s.id = v.set_id WHERE s.name = ?1 ORDER BY v.rowid")
            .map_err(&err)?;
        let n = info.records.max(0) as usize;
        let mut values = WeightValues {
            ids: Vec::with_capacity(n),
            weights: Vec::with_capacity(n),
            calibrated: Vec::with_capacity(n),
        };
        let mut rows = st.query([name]).map_err(&err)?;
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
}
