//! Migrations between definition versions, and of the store's own tables.
//!
//! Owns deciding whether a new definition version is a compatible change of the stored one
//! (same survey, a higher version, no unit removed or re-parented, no key changed, no column
//! changing type except to text, nor becoming or ceasing to be an identifier) and, when it is,
//! adding its new tables and columns in one transaction. Existing rows are never rewritten:
//! retired questions keep their columns and earlier records their values.

use std::collections::BTreeMap;

use rusqlite::params;

use super::audit::{default_user, now_iso};
use super::cell::{ident_table, unit_columns, unit_table};
use super::layout::{check_for, create_unit_tables, insert_definition};
use super::{Store, StoreError};
use crate::schema::Definition;

/// The weight-set tables (see `weights`): created in a store on its first weight set, so
/// stores made before weighting existed take weight sets without any other change, and
/// `weight_chunks` added beside `weight_values` in a store whose sets were written one row per
/// record (those stay as they are and still read; new sets are written packed). A set's values
/// are a few rows of blobs: writing and reading a million weights is then a copy of 32 MB,
/// not a million rows of 36-character UUIDs. `weight_chunks.set_id` has no foreign key, so that
/// an older hearth (which knows only `weight_values`) can still replace a packed set: it leaves
/// the chunks behind, and `weights` reads a set's rows before any chunks under its id.
pub(super) fn ensure_weight_tables(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS weight_sets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, unit TEXT NOT NULL,
             created_at TEXT NOT NULL, created_by TEXT NOT NULL, method TEXT NOT NULL, inputs TEXT NOT NULL,
             records INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS weight_values (set_id INTEGER NOT NULL REFERENCES weight_sets(id),
             record TEXT NOT NULL, weight REAL NOT NULL, calibrated REAL);
         CREATE INDEX IF NOT EXISTS weight_values_set ON weight_values (set_id);
         CREATE TABLE IF NOT EXISTS weight_chunks (set_id INTEGER NOT NULL,
             chunk INTEGER NOT NULL, ids BLOB NOT NULL, weights BLOB NOT NULL, calibrated BLOB,
             PRIMARY KEY (set_id, chunk));",
    )
}

/// Column name -> (SQL type, identifier) of one unit's stored tables.
type ColumnTypes = BTreeMap<String, (&'static str, bool)>;

impl Store {
    /// Adds a new definition version, migrating the tables: new questions become new columns,
    /// retired ones stay (earlier rows keep their values). A question may not change type,
    /// except to text; the survey id may not change; the version must be new and higher.
    pub fn add_definition(&mut self, def: &Definition) -> Result<(), StoreError> {
        let latest = self.definition(None)?;
        let existing = self.existing_columns()?;
        let problems = incompatibilities(&latest, def, &existing);
        if !problems.is_empty() {
            return Err(StoreError::Incompatible {
                path: self.path.display().to_string(),
                version: def.version,
                problems,
            });
        }
        let p = self.path.display().to_string();
        let sq = |source| StoreError::sqlite(&p, format!("adding definition version {}", def.version), source);
        let tx = self.conn.transaction().map_err(sq)?;
        for unit in &def.units {
            match existing.get(&unit.id) {
                None => create_unit_tables(&tx, unit).map_err(sq)?,
                Some(cols) => {
                    for c in unit_columns(unit) {
                        if cols.contains_key(&c.name) {
                            continue;
                        }
                        let table = if c.identifier { ident_table(&unit.id) } else { unit_table(&unit.id) };
                        let qtype = unit.question(&c.name).map(|q| q.qtype);
                        tx.execute_batch(&format!(
                            "ALTER TABLE \"{table}\" ADD COLUMN \"{}\" {}{}",
                            c.name,
                            c.sql_type,
                            check_for(&c.name, qtype)
                        ))
                        .map_err(sq)?;
                    }
                }
            }
        }
        insert_definition(&tx, def).map_err(sq)?;
        tx.execute(
            "INSERT INTO audit (at, by, action, reason) VALUES (?1, ?2, 'definition', ?3)",
            params![now_iso(), default_user(), format!("definition version {} added", def.version)],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(())
    }

    /// unit -> column -> (sql type, identifier).
    fn existing_columns(&self) -> Result<BTreeMap<String, ColumnTypes>, StoreError> {
        let err = self.err("reading the stored columns");
        let mut out: BTreeMap<String, ColumnTypes> = BTreeMap::new();
        let tables: Vec<String> = {
            let mut st = self
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE 'u\\_%' ESCAPE '\\' OR name LIKE 'ident\\_%' ESCAPE '\\')")
                .map_err(&err)?;
            let v = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(&err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            v
        };
        for t in tables {
            let (unit, ident) = match t.strip_prefix("u_") {
                Some(u) => (u.to_string(), false),
                None => (t.trim_start_matches("ident_").to_string(), true),
            };
            let mut st = self.conn.prepare(&format!("PRAGMA table_info(\"{t}\")")).map_err(&err)?;
            let cols = st.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?))).map_err(&err)?;
            let entry = out.entry(unit).or_default();
            for c in cols {
                let (name, ty) = c.map_err(&err)?;
                if name.starts_with('_') {
                    continue;
                }
                let ty: &'static str = match ty.as_str() {
                    "INTEGER" => "INTEGER",
                    "REAL" => "REAL",
                    _ => "TEXT",
                };
                entry.insert(name, (ty, ident));
            }
        }
        Ok(out)
    }
}

/// Every reason `def` cannot follow `latest` in a store whose tables hold `existing`.
fn incompatibilities(latest: &Definition, def: &Definition, existing: &BTreeMap<String, ColumnTypes>) -> Vec<String> {
    let mut problems = Vec::new();
    if def.survey != latest.survey {
        problems.push(format!("survey id '{}' differs from the store's '{}'", def.survey, latest.survey));
    }
    if def.version <= latest.version {
        problems.push(format!(
            "version {} is not newer than the store's latest version {}",
            def.version, latest.version
        ));
    }
    for unit in &def.units {
        let old = latest.unit(&unit.id);
        if let (Some(old), Some(p)) = (old, &unit.parent) {
            if old.parent.as_ref() != Some(p) {
                problems.push(format!("unit '{}' changes its parent", unit.id));
            }
        }
        if let Some(old) = old {
            if old.key != unit.key {
                problems.push(format!("unit '{}' changes its key from '{}' to '{}'", unit.id, old.key, unit.key));
            }
        }
        let cols = existing.get(&unit.id);
        for c in unit_columns(unit) {
            if let Some((t, ident)) = cols.and_then(|m| m.get(&c.name)) {
                if *t != c.sql_type && c.sql_type != "TEXT" {
                    problems.push(format!(
                        "question '{}' changes type (stored as {t}, now {}): only a change to text is allowed; give the new question a new id",
                        c.name, c.sql_type
                    ));
                }
                if *ident != c.identifier {
                    problems.push(format!("question '{}' changes whether it is an identifier: give it a new id", c.name));
                }
            }
        }
    }
    for old in &latest.units {
        if def.unit(&old.id).is_none() {
            problems.push(format!("unit '{}' is removed: units cannot be removed, only questions retired", old.id));
        }
    }
    problems
}
