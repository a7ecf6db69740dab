//! The store: one SQLite file per survey.
//!
//! Owns everything that names rusqlite: the layout (DDL generated from the definition),
//! migrations between definition versions, transactions, the append-only audit log, and the
//! tables for identifiers and geography. Capture, analysis and export talk to it through typed
//! calls: [`Writer`] to write records, [`Store::scan`] and its parallel forms to read them as
//! [`Record`]s of typed [`CellRef`] values. Values are always bound as parameters, never
//! spliced into SQL. Identifiers in SQL are question and unit ids, which the definition loader
//! has already restricted to `[a-z][a-z0-9_]*`, and are quoted besides. It must not check
//! answers (capture's) nor build data frames (analysis').
//!
//! Layout: `meta`, `definitions` (every version's YAML), `waves`, `imports`, one table
//! `u_<unit>` per unit (system columns `_rowid`, `_uuid`, `_wave`, `_version`, `_captured_at`,
//! `_captured_by`, `_import`, `_hash`, `_parent` for rosters, then one typed column per question
//! and per derived variable), `ident_<unit>` for identifier questions, `audit`, `geo_*`.
//!
//! | part | owns |
//! |---|---|
//! | `error` | [`StoreError`]: the file, what was being done, SQLite's cause |
//! | `cell` | [`Cell`], [`Column`], [`unit_columns`], table names |
//! | `layout` | the DDL: base tables, a unit's tables |
//! | `migrate` | [`Store::add_definition`]: new columns for a new definition version |
//! | `read` | [`Record`], [`CellRef`], [`Store::scan`], the parallel ranged reads |
//! | `writer` | [`Writer`], [`Inserter`]: one write transaction |
//! | `uuid` | [`UuidV7`]: time-ordered record ids |
//! | `audit` | the audit log, [`now_iso`], [`default_user`] |
//! | `column_cache` | analysis columns kept as compact blobs ([`Store::cached_columns`], [`Store::cache_columns_behind`]), emptied by triggers on any write to records |
//! | `drafts` | unfinished interviews ([`DraftInterview`], [`DraftRecord`]), apart from the records |
//! | `merge` | what a merge needs: another store read at one snapshot ([`Store::read_records`]), a record located with its hash, audit entries copied as written |
//! | `weights` | named weight sets ([`Store::save_weight_set`], [`Store::weight_set`]) |
//! | [`geo`] | the area lookup tables |

mod audit;
mod cell;
mod column_cache;
mod drafts;
mod error;
pub mod geo;
mod layout;
mod merge;
mod migrate;
mod read;
mod uuid;
mod weights;
mod writer;

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

pub use self::audit::{default_user, now_iso, AuditEntry, AuditLine};
pub use self::cell::{ident_table, unit_columns, unit_table, Cell, Column};
pub use self::column_cache::{cell_ref, decode_column, encode_column, CacheMark, CachedColumn, Codes, NullMask, RawCells, WAVE_COLUMN};
pub use self::drafts::{DraftInterview, DraftRecord};
pub use self::error::StoreError;
pub use self::merge::{Snapshot, StoredRecord};
pub use self::read::{CellRef, ReadError, Record};
pub use self::uuid::UuidV7;
pub use self::weights::{record_id, record_uuid, NewWeightSet, WeightSetInfo, WeightValues};
pub use self::writer::{Existing, Inserter, Located, Writer};
use crate::schema::{self, Definition};

/// The store format this code writes.
pub const FORMAT_VERSION: i64 = 1;

/// One survey store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Writes of the column cache still going on in the background
    /// ([`Store::cache_columns_behind`]): waited for before the store closes.
    background: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.finish_background();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// The error of SQLite failing on this store while doing `op`.
    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::sqlite(&self.path.display().to_string(), op, source)
    }

    /// As [`Store::err`], for an operation phrased at run time (built only on failure).
    fn err_with<'s>(&'s self, op: impl Fn() -> String + 's) -> impl Fn(rusqlite::Error) -> StoreError + 's {
        move |source| StoreError::sqlite(&self.path.display().to_string(), op(), source)
    }

    fn configure(conn: &Connection) -> rusqlite::Result<()> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        Ok(())
    }

    /// Creates a new store for a definition. Fails if the file exists.
    pub fn create(path: &Path, def: &Definition) -> Result<Store, StoreError> {
        let p = path.display().to_string();
        if path.exists() {
            return Err(StoreError::Exists { path: p });
        }
        let sq = |source| StoreError::sqlite(&p, "creating the store", source);
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sq)?;
        // 16 KiB pages: a person row of a wide survey is hundreds of bytes; larger pages write
        // and scan them faster (measured in benches/import_vs_sqlite.sh). Only settable before
        // the first table.
        conn.pragma_update(None, "page_size", 16_384).map_err(sq)?;
        Self::configure(&conn).map_err(sq)?;
        let tx = conn.transaction().map_err(sq)?;
        tx.execute_batch(layout::BASE_TABLES).map_err(sq)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('format', ?1), ('survey', ?2), ('created_at', ?3)",
            params![FORMAT_VERSION.to_string(), def.survey, now_iso()],
        )
        .map_err(sq)?;
        geo::create_tables(&tx).map_err(sq)?;
        for unit in &def.units {
            layout::create_unit_tables(&tx, unit).map_err(sq)?;
        }
        layout::insert_definition(&tx, def).map_err(sq)?;
        tx.execute(
            "INSERT INTO audit (at, by, action, reason) VALUES (?1, ?2, 'init', ?3)",
            params![now_iso(), default_user(), format!("store created with definition version {}", def.version)],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            background: Default::default(),
        })
    }

    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_as(path, false)
    }

    /// Opens an existing store read-only (another store a merge reads): nothing done through
    /// it can change the file.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        Self::open_as(path, true)
    }

    fn open_as(path: &Path, read_only: bool) -> Result<Store, StoreError> {
        let p = path.display().to_string();
        let not_a_store = |why: &str, source: Option<rusqlite::Error>| StoreError::NotAStore {
            path: p.clone(),
            why: why.to_string(),
            source,
        };
        if !path.exists() {
            return Err(not_a_store("no such file", None));
        }
        let sq = |source| StoreError::sqlite(&p, "opening the store", source);
        let mode = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let conn = Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(sq)?;
        let format: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0))
            .optional()
            .map_err(|e| not_a_store("its format marker cannot be read", Some(e)))?;
        match format {
            Some(f) if f == FORMAT_VERSION.to_string() => {}
            Some(f) => return Err(not_a_store(&format!("store format {f}, this hearth reads {FORMAT_VERSION}"), None)),
            None => return Err(not_a_store("no format marker", None)),
        }
        if read_only {
            conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(sq)?;
        } else {
            Self::configure(&conn).map_err(sq)?;
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            background: Default::default(),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first column of a query as whole numbers.
    fn u32_list(&self, sql: &str, params: impl rusqlite::Params, op: &'static str) -> Result<Vec<u32>, StoreError> {
        let mut st = self.conn.prepare(sql).map_err(self.err(op))?;
        let v = st
            .query_map(params, |r| r.get::<_, u32>(0))
            .map_err(self.err(op))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err(op))?;
        Ok(v)
    }

    /// The versions stored, ascending.
    pub fn versions(&self) -> Result<Vec<u32>, StoreError> {
        self.u32_list("SELECT version FROM definitions ORDER BY version", [], "reading the definition versions")
    }

    /// The definition versions a unit's records were captured with.
    pub fn versions_used(&self, unit: &str) -> Result<Vec<u32>, StoreError> {
        const OP: &str = "reading the definition versions of the records";
        let kept: bool = self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'unit_versions')", [], |r| r.get(0))
            .map_err(self.err(OP))?;
        if kept {
            // written with the records (see Inserter::insert): no pass over the records
            return self.u32_list("SELECT version FROM unit_versions WHERE unit = ?1 ORDER BY version", [unit], OP);
        }
        self.u32_list(&format!("SELECT DISTINCT _version FROM \"{}\" ORDER BY 1", unit_table(unit)), [], OP)
    }

    /// A stored definition version (the newest when `None`).
    pub fn definition(&self, version: Option<u32>) -> Result<Definition, StoreError> {
        let row: (u32, String, String) = match version {
            Some(v) => self
                .conn
                .query_row("SELECT version, yaml, source_name FROM definitions WHERE version = ?1", [v], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                }),
            None => self
                .conn
                .query_row("SELECT version, yaml, source_name FROM definitions ORDER BY version DESC LIMIT 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                }),
        }
        .map_err(self.err_with(|| match version {
            Some(v) => format!("reading definition version {v}"),
            None => "reading the latest definition".to_string(),
        }))?;
        schema::load_str(&row.1, &row.2).map_err(|source| StoreError::BadStoredDefinition {
            path: self.path.display().to_string(),
            version: row.0,
            source,
        })
    }

    /// The waves the store knows, ascending.
    pub fn waves(&self) -> Result<Vec<i64>, StoreError> {
        const OP: &str = "reading the waves";
        let mut st = self.conn.prepare("SELECT wave FROM waves ORDER BY wave").map_err(self.err(OP))?;
        let v = st
            .query_map([], |r| r.get(0))
            .map_err(self.err(OP))?
            .collect::<Result<Vec<i64>, _>>()
            .map_err(self.err(OP))?;
        Ok(v)
    }

    /// Number of records of a unit (optionally in one wave).
    pub fn count(&self, unit: &str, wave: Option<i64>) -> Result<i64, StoreError> {
        let t = unit_table(unit);
        match wave {
            Some(w) => self
                .conn
                .query_row(&format!("SELECT count(*) FROM \"{t}\" WHERE _wave = ?1"), [w], |r| r.get(0)),
            None => self.conn.query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0)),
        }
        .map_err(self.err_with(|| format!("counting the {unit} records")))
    }
}

/// A store of the tiny test survey (fixtures/import/tiny.yaml) in a temporary directory, for
/// the store's own tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Store;
    use crate::schema::Definition;

    /// The tiny survey's definition.
    pub(crate) fn tiny() -> Definition {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/import/tiny.yaml");
        crate::schema::load_file(std::path::Path::new(path)).expect("the tiny fixture loads")
    }

    /// A new, empty store of the tiny survey, with the directory that holds it.
    pub(crate) fn tiny_store() -> (tempfile::TempDir, Store, Definition) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let def = tiny();
        let store = Store::create(&dir.path().join("tiny.db"), &def).expect("a new store");
        (dir, store, def)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::tiny_store;
    use super::*;

    #[test]
    fn a_database_error_says_what_was_being_done() {
        let (_dir, store, _) = tiny_store();
        let err = store.count("visit", None).unwrap_err();
        let path = store.path().display();
        assert_eq!(err.to_string(), format!("{path}: database error while counting the visit records"));
        let cause = std::error::Error::source(&err).expect("SQLite's error is kept");
        assert!(cause.to_string().contains("no such table: u_visit"), "{cause}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_not_a_store_and_keeps_sqlites_reason() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("notes.db");
        std::fs::write(&path, "these are notes, not a database\n".repeat(200)).expect("written");
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { source: Some(_), .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{}: not a hearth store (its format marker cannot be read)", path.display())
        );
        let cause = std::error::Error::source(&err).expect("SQLite's error is kept");
        assert!(cause.to_string().contains("not a database"), "{cause}");
        // no file at all: nothing from SQLite to keep
        let err = Store::open(&dir.path().join("absent.db")).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { source: None, .. }), "{err:?}");
        assert!(err.to_string().ends_with("not a hearth store (no such file)"), "{err}");
    }
}
