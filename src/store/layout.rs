//! The store's tables: the DDL, generated from the definition.
//!
//! Owns what a new store holds (`meta`, `definitions`, `waves`, `imports`, `audit` with its
//! append-only triggers, `unit_versions`) and the tables of a unit: `u_<unit>` with its system
//! columns and one typed column per question and derived variable, `ident_<unit>` for
//! identifiers, the key index. Adding columns to existing tables is `migrate`'s; the geography
//! tables are `geo`'s.

use rusqlite::{params, Transaction};

use super::audit::now_iso;
use super::cell::{ident_table, unit_columns, unit_table};
use crate::schema::{Definition, QType, Unit};

/// The tables every store has, whatever its definition.
pub(super) const BASE_TABLES: &str = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE definitions (version INTEGER PRIMARY KEY, survey TEXT NOT NULL, yaml TEXT NOT NULL,
                 source_name TEXT NOT NULL, added_at TEXT NOT NULL);
             CREATE TABLE waves (wave INTEGER PRIMARY KEY, created_at TEXT NOT NULL);
             CREATE TABLE imports (id INTEGER PRIMARY KEY, wave INTEGER NOT NULL, files TEXT NOT NULL,
                 started_at TEXT NOT NULL, by TEXT NOT NULL, records INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL, by TEXT NOT NULL, action TEXT NOT NULL,
                 unit TEXT, record TEXT, question TEXT, old_value TEXT, new_value TEXT, reason TEXT);
             CREATE TABLE unit_versions (unit TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (unit, version)) WITHOUT ROWID;
             CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
             CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

/// The `CHECK` that keeps a column's values of its question type (booleans 0 or 1, dates that
/// SQLite reads back as the same date).
pub(super) fn check_for(name: &str, qtype: Option<QType>) -> String {
    let q = format!("\"{name}\"");
    match qtype {
        Some(QType::Boolean) => format!(" CHECK ({q} IS NULL OR {q} IN (0, 1))"),
        Some(QType::Date) => format!(" CHECK ({q} IS NULL OR date({q}) IS {q})"),
        _ => String::new(),
    }
}

/// Keeps a definition version's text.
pub(super) fn insert_definition(tx: &Transaction<'_>, def: &Definition) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO definitions (version, survey, yaml, source_name, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![def.version, def.survey, def.text, def.source_name, now_iso()],
    )?;
    Ok(())
}

/// Creates a unit's record table, its identifier table and its key index.
pub(super) fn create_unit_tables(tx: &Transaction<'_>, unit: &Unit) -> rusqlite::Result<()> {
    let t = unit_table(&unit.id);
    let mut cols = vec![
        "_rowid INTEGER PRIMARY KEY".to_string(),
        "_uuid TEXT NOT NULL UNIQUE".to_string(),
        "_wave INTEGER NOT NULL".to_string(),
        "_version INTEGER NOT NULL REFERENCES definitions(version)".to_string(),
        "_captured_at TEXT NOT NULL".to_string(),
        "_captured_by TEXT NOT NULL".to_string(),
        "_import INTEGER REFERENCES imports(id)".to_string(),
        "_hash TEXT NOT NULL".to_string(),
    ];
    if let Some(p) = &unit.parent {
        cols.push(format!("_parent INTEGER NOT NULL REFERENCES \"{}\"(_rowid)", unit_table(p)));
    }
    let mut ident_cols = vec![format!("_rowid INTEGER PRIMARY KEY REFERENCES \"{t}\"(_rowid)")];
    for c in unit_columns(unit) {
        let qtype = unit.question(&c.name).map(|q| q.qtype);
        let line = format!("\"{}\" {}{}", c.name, c.sql_type, check_for(&c.name, qtype));
        if c.identifier {
            ident_cols.push(line);
        } else {
            cols.push(line);
        }
    }
    tx.execute_batch(&format!("CREATE TABLE \"{t}\" ({});", cols.join(",\n  ")))?;
    let key = &unit.key;
    if unit.parent.is_some() {
        tx.execute_batch(&format!("CREATE UNIQUE INDEX \"{t}_key\" ON \"{t}\" (_parent, \"{key}\");"))?;
    } else {
        tx.execute_batch(&format!("CREATE UNIQUE INDEX \"{t}_key\" ON \"{t}\" (_wave, \"{key}\");"))?;
    }
    tx.execute_batch(&format!("CREATE TABLE \"{}\" ({});", ident_table(&unit.id), ident_cols.join(",\n  ")))?;
    Ok(())
}
