//! The store: one SQLite file per survey.
//!
//! Owns everything that names rusqlite: the layout (DDL generated from the definition),
//! migrations between definition versions, transactions, the append-only audit log, and the
//! tables for identifiers and geography. Capture and analysis talk to it through typed calls;
//! values are always bound as parameters, never spliced into SQL. Identifiers in SQL are
//! question and unit ids, which the definition loader has already restricted to
//! `[a-z][a-z0-9_]*`, and are quoted besides.
//!
//! Layout: `meta`, `definitions` (every version's YAML), `waves`, `imports`, one table
//! `u_<unit>` per unit (system columns `_rowid`, `_uuid`, `_wave`, `_version`, `_captured_at`,
//! `_captured_by`, `_import`, `_hash`, `_parent` for rosters, then one typed column per question
//! and per derived variable), `ident_<unit>` for identifier questions, `audit`, `geo_*`.

pub mod geo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use crate::schema::expr::ExprType;
use crate::schema::{self, Definition, QType, Unit};

/// The store format this code writes.
pub const FORMAT_VERSION: i64 = 1;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("{path}: database error")]
    Sqlite {
        /// The store.
        path: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// `init` on an existing file.
    #[error("{path}: exists already (a store is created once; use `hearth definition add` for a new version)")]
    Exists {
        /// The file.
        path: String,
    },
    /// Not a hearth store.
    #[error("{path}: not a hearth store ({why})")]
    NotAStore {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// A stored definition no longer loads.
    #[error("{path}: stored definition version {version} does not load")]
    BadStoredDefinition {
        /// The store.
        path: String,
        /// Which version.
        version: u32,
        /// Why.
        #[source]
        source: schema::SchemaError,
    },
    /// A new definition version is not a compatible change.
    #[error("{path}: definition version {version} cannot be added:\n{}", problems.join("\n"))]
    Incompatible {
        /// The store.
        path: String,
        /// The new version.
        version: u32,
        /// Every incompatible change.
        problems: Vec<String>,
    },
}

/// A value as stored in a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// NULL.
    Null,
    /// INTEGER.
    Int(i64),
    /// REAL.
    Real(f64),
    /// TEXT.
    Text(String),
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Value::Null),
            Cell::Int(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Cell::Real(v) => ToSqlOutput::Owned(Value::Real(*v)),
            Cell::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl Cell {
    fn from_ref(v: rusqlite::types::ValueRef<'_>) -> Cell {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Int(i),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        }
    }
}

/// A column of a unit table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name = question or derived id.
    pub name: String,
    /// SQL type.
    pub sql_type: &'static str,
    /// Whether the column holds personal data (stored in `ident_<unit>`).
    pub identifier: bool,
    /// Whether it is a derived variable.
    pub derived: bool,
}

fn qcol_type(q: &schema::Question) -> &'static str {
    match q.qtype {
        QType::Integer | QType::Boolean => "INTEGER",
        QType::Decimal => "REAL",
        QType::SelectOne if q.choices.as_ref().is_none_or(|c| c.integer) => "INTEGER",
        _ => "TEXT",
    }
}

fn dcol_type(t: ExprType) -> &'static str {
    match t {
        ExprType::Num | ExprType::Date => "REAL",
        ExprType::Bool => "INTEGER",
        _ => "TEXT",
    }
}

/// The data columns of a unit, in order: questions (identifiers flagged), then derived.
pub fn unit_columns(unit: &Unit) -> Vec<Column> {
    let mut out: Vec<Column> = unit
        .questions
        .iter()
        .filter(|q| q.qtype != QType::Note)
        .map(|q| Column {
            name: q.id.clone(),
            sql_type: qcol_type(q),
            identifier: q.identifier,
            derived: false,
        })
        .collect();
    out.extend(unit.derived.iter().map(|d| Column {
        name: d.id.clone(),
        sql_type: dcol_type(d.expr.ty),
        identifier: false,
        derived: true,
    }));
    out
}

fn check_for(name: &str, qtype: Option<QType>) -> String {
    let q = format!("\"{name}\"");
    match qtype {
        Some(QType::Boolean) => format!(" CHECK ({q} IS NULL OR {q} IN (0, 1))"),
        Some(QType::Date) => format!(" CHECK ({q} IS NULL OR date({q}) IS {q})"),
        _ => String::new(),
    }
}

/// The table name of a unit.
pub fn unit_table(unit: &str) -> String {
    format!("u_{unit}")
}

/// The identifier table name of a unit.
pub fn ident_table(unit: &str) -> String {
    format!("ident_{unit}")
}

/// Column name -> (SQL type, identifier) of one unit's stored tables.
type ColumnTypes = BTreeMap<String, (&'static str, bool)>;

/// One survey store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Current UTC time as ISO 8601.
pub fn now_iso() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, dd) = civil_from_days(days);
    format!("{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The user name recorded as `captured_by` when none is given.
pub fn default_user() -> String {
    std::env::var("HEARTH_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

impl Store {
    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
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
        let sq = |source| StoreError::Sqlite { path: p.clone(), source };
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
        tx.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE definitions (version INTEGER PRIMARY KEY, survey TEXT NOT NULL, yaml TEXT NOT NULL,
                 source_name TEXT NOT NULL, added_at TEXT NOT NULL);
             CREATE TABLE waves (wave INTEGER PRIMARY KEY, created_at TEXT NOT NULL);
             CREATE TABLE imports (id INTEGER PRIMARY KEY, wave INTEGER NOT NULL, files TEXT NOT NULL,
                 started_at TEXT NOT NULL, by TEXT NOT NULL, records INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL, by TEXT NOT NULL, action TEXT NOT NULL,
                 unit TEXT, record TEXT, question TEXT, old_value TEXT, new_value TEXT, reason TEXT);
             CREATE TABLE unit_versions (unit TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (unit, version)) WITHOUT ROWID;
             CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
             CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
        )
        .map_err(sq)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('format', ?1), ('survey', ?2), ('created_at', ?3)",
            params![FORMAT_VERSION.to_string(), def.survey, now_iso()],
        )
        .map_err(sq)?;
        geo::create_tables(&tx).map_err(sq)?;
        for unit in &def.units {
            create_unit_tables(&tx, unit).map_err(sq)?;
        }
        insert_definition(&tx, def).map_err(sq)?;
        tx.execute(
            "INSERT INTO audit (at, by, action, reason) VALUES (?1, ?2, 'init', ?3)",
            params![now_iso(), default_user(), format!("store created with definition version {}", def.version)],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let p = path.display().to_string();
        if !path.exists() {
            return Err(StoreError::NotAStore {
                path: p,
                why: "no such file".into(),
            });
        }
        let sq = |source| StoreError::Sqlite { path: p.clone(), source };
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(sq)?;
        let format: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0))
            .optional()
            .map_err(|e| StoreError::NotAStore {
                path: p.clone(),
                why: e.to_string(),
            })?;
        match format {
            Some(f) if f == FORMAT_VERSION.to_string() => {}
            Some(f) => {
                return Err(StoreError::NotAStore {
                    path: p,
                    why: format!("store format {f}, this hearth reads {FORMAT_VERSION}"),
                })
            }
            None => {
                return Err(StoreError::NotAStore {
                    path: p,
                    why: "no format marker".into(),
                })
            }
        }
        Self::configure(&conn).map_err(sq)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite connection, for the modules of this crate that extend the store.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Mutable connection (transactions).
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The first column of a query as whole numbers.
    fn u32_list(&self, sql: &str) -> Result<Vec<u32>, StoreError> {
        let mut st = self.conn.prepare(sql).map_err(self.err())?;
        let v = st
            .query_map([], |r| r.get::<_, u32>(0))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(v)
    }

    /// The versions stored, ascending.
    pub fn versions(&self) -> Result<Vec<u32>, StoreError> {
        self.u32_list("SELECT version FROM definitions ORDER BY version")
    }

    /// The definition versions a unit's records were captured with.
    pub fn versions_used(&self, unit: &str) -> Result<Vec<u32>, StoreError> {
        let kept: bool = self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'unit_versions')", [], |r| r.get(0))
            .map_err(self.err())?;
        if kept {
            // written with the records (see Inserter::insert): no pass over the records
            let mut st = self
                .conn
                .prepare("SELECT version FROM unit_versions WHERE unit = ?1 ORDER BY version")
                .map_err(self.err())?;
            let v = st
                .query_map([unit], |r| r.get(0))
                .map_err(self.err())?
                .collect::<Result<Vec<u32>, _>>()
                .map_err(self.err())?;
            return Ok(v);
        }
        self.u32_list(&format!("SELECT DISTINCT _version FROM \"{}\" ORDER BY 1", unit_table(unit)))
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
        .map_err(self.err())?;
        schema::load_str(&row.1, &row.2).map_err(|source| StoreError::BadStoredDefinition {
            path: self.path.display().to_string(),
            version: row.0,
            source,
        })
    }

    /// Adds a new definition version, migrating the tables: new questions become new columns,
    /// retired ones stay (earlier rows keep their values). A question may not change type,
    /// except to text; the survey id may not change; the version must be new and higher.
    pub fn add_definition(&mut self, def: &Definition) -> Result<(), StoreError> {
        let latest = self.definition(None)?;
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
        let existing = self.existing_columns()?;
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
        if !problems.is_empty() {
            return Err(StoreError::Incompatible {
                path: self.path.display().to_string(),
                version: def.version,
                problems,
            });
        }
        let p = self.path.display().to_string();
        let sq = |source| StoreError::Sqlite { path: p.clone(), source };
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
        let mut out: BTreeMap<String, ColumnTypes> = BTreeMap::new();
        let tables: Vec<String> = {
            let mut st = self
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE 'u\\_%' ESCAPE '\\' OR name LIKE 'ident\\_%' ESCAPE '\\')")
                .map_err(self.err())?;
            let v = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(self.err())?
                .collect::<Result<Vec<_>, _>>()
                .map_err(self.err())?;
            v
        };
        for t in tables {
            let (unit, ident) = match t.strip_prefix("u_") {
                Some(u) => (u.to_string(), false),
                None => (t.trim_start_matches("ident_").to_string(), true),
            };
            let mut st = self.conn.prepare(&format!("PRAGMA table_info(\"{t}\")")).map_err(self.err())?;
            let cols = st.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?))).map_err(self.err())?;
            let entry = out.entry(unit).or_default();
            for c in cols {
                let (name, ty) = c.map_err(self.err())?;
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

    /// Waves with their record counts per unit.
    pub fn waves(&self) -> Result<Vec<i64>, StoreError> {
        let mut st = self.conn.prepare("SELECT wave FROM waves ORDER BY wave").map_err(self.err())?;
        let v = st
            .query_map([], |r| r.get(0))
            .map_err(self.err())?
            .collect::<Result<Vec<i64>, _>>()
            .map_err(self.err())?;
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
        .map_err(self.err())
    }

    /// Starts a write transaction (an import, a merge, an edit). Nothing is visible to other
    /// connections, nor kept after a crash, until [`Writer::commit`].
    pub fn writer(&mut self) -> Result<Writer<'_>, StoreError> {
        let p = self.path.display().to_string();
        // a large import should not spill pages to the WAL mid-transaction
        self.conn
            .pragma_update(None, "cache_size", -131_072)
            .map_err(|source| StoreError::Sqlite { path: p.clone(), source })?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Sqlite { path: p.clone(), source })?;
        Ok(Writer {
            tx,
            path: p,
            sql: Default::default(),
        })
    }

    /// Reads columns of a unit's records, joined with its ancestors' columns (and identifiers
    /// when asked), calling `row` for each record. `columns` are (unit, column) pairs.
    pub fn scan(
        &self,
        def: &Definition,
        unit: &str,
        columns: &[(String, String)],
        wave: Option<i64>,
        mut row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        let sql = scan_sql(def, unit, columns, wave.is_some());
        // a scan reads the file by mapping it rather than copying each page through read(2)
        self.conn.pragma_update(None, "mmap_size", 1i64 << 31).map_err(self.err())?;
        let mut st = self.conn.prepare(&sql).map_err(self.err())?;
        let mut rows = match wave {
            Some(w) => st.query([w]),
            None => st.query([]),
        }
        .map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            row(r).map_err(self.err())?;
        }
        Ok(())
    }

    /// Like [`Store::scan`], over parts of the records in row order, read at once on several
    /// connections (one per core, for large tables): each part gets its own state from `make`,
    /// and the states come back in row order. When another process commits while the parts are
    /// being read (they would not then see one state of the store), it reads again in one pass.
    pub fn scan_parts<S: Send>(
        &self,
        def: &Definition,
        unit: &str,
        columns: &[(String, String)],
        wave: Option<i64>,
        make: impl Fn() -> S + Sync,
        row: impl Fn(&mut S, &rusqlite::Row<'_>) -> rusqlite::Result<()> + Sync,
    ) -> Result<Vec<S>, StoreError> {
        self.scan_parts_from(def, unit, columns, wave, 200_000, make, row)
    }

    /// [`Store::scan_parts`], reading in parts only from `min_rows` rows (by row id span) up.
    #[allow(clippy::too_many_arguments)]
    pub fn scan_parts_from<S: Send>(
        &self,
        def: &Definition,
        unit: &str,
        columns: &[(String, String)],
        wave: Option<i64>,
        min_rows: i64,
        make: impl Fn() -> S + Sync,
        row: impl Fn(&mut S, &rusqlite::Row<'_>) -> rusqlite::Result<()> + Sync,
    ) -> Result<Vec<S>, StoreError> {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4);
        let (lo, hi) = self.rowid_span(unit)?;
        let one_pass = || -> Result<Vec<S>, StoreError> {
            let mut s = make();
            self.scan(def, unit, columns, wave, |r| row(&mut s, r))?;
            Ok(vec![s])
        };
        let (Some(lo), Some(hi)) = (lo, hi) else { return one_pass() };
        if threads < 2 || hi - lo < min_rows {
            return one_pass();
        }
        let Some(sql) = ranged_scan_sql(def, unit, columns, wave.is_some()) else {
            return one_pass();
        };
        let step = (hi - lo + threads as i64) / threads as i64;
        let ranges: Vec<(i64, i64)> = (0..threads as i64).map(|k| (lo + k * step, (lo + (k + 1) * step - 1).min(hi))).collect();
        let path = self.path.clone();
        let read_part = |(a, b): (i64, i64)| -> rusqlite::Result<(S, bool)> {
            let conn = open_reader(&path)?;
            let before = data_version(&conn)?;
            let mut s = make();
            {
                let mut st = conn.prepare(&sql)?;
                let mut rows = st.query(params![wave.unwrap_or(0), a, b])?;
                while let Some(r) = rows.next()? {
                    row(&mut s, r)?;
                }
            }
            let unchanged = data_version(&conn)? == before;
            Ok((s, unchanged))
        };
        let parts: Vec<rusqlite::Result<(S, bool)>> = std::thread::scope(|sc| {
            let handles: Vec<_> = ranges.iter().map(|&r| sc.spawn(move || read_part(r))).collect();
            handles.into_iter().map(|h| h.join().expect("a scan thread panicked")).collect()
        });
        let mut out = Vec::with_capacity(parts.len());
        for p in parts {
            let (s, unchanged) = p.map_err(self.err())?;
            if !unchanged {
                return one_pass();
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Reads a unit's records (as [`Store::scan`]) in chunks of about `chunk_rows` row ids, on
    /// several connections at once, and hands each chunk's state to `sink` in row order on the
    /// calling thread (`sink` returns false to stop). Returns false, having handed over
    /// nothing usable, when another process committed while the chunks were read: the caller
    /// then reads again with [`Store::scan`].
    #[allow(clippy::too_many_arguments)]
    pub fn scan_chunks<S: Send>(
        &self,
        def: &Definition,
        unit: &str,
        columns: &[(String, String)],
        wave: Option<i64>,
        chunk_rows: i64,
        make: impl Fn() -> S + Sync,
        row: impl Fn(&mut S, &rusqlite::Row<'_>) -> rusqlite::Result<()> + Sync,
        mut sink: impl FnMut(S) -> bool,
    ) -> Result<bool, StoreError> {
        use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
        let (lo, hi) = self.rowid_span(unit)?;
        let (Some(lo), Some(hi)) = (lo, hi) else { return Ok(true) };
        let Some(sql) = ranged_scan_sql(def, unit, columns, wave.is_some()) else {
            return Ok(false);
        };
        let chunk_rows = chunk_rows.max(1);
        let n_chunks = (hi - lo) / chunk_rows + 1;
        let readers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4) as i64;
        // readers stay at most this many chunks ahead of the sink
        let window = readers + 1;
        let delivered = AtomicI64::new(0);
        let stop = AtomicBool::new(false);
        let path = self.path.clone();
        let (tx, rx) = std::sync::mpsc::channel::<(i64, rusqlite::Result<S>)>();
        let read = |r: i64, tx: &std::sync::mpsc::Sender<(i64, rusqlite::Result<S>)>| -> rusqlite::Result<bool> {
            let conn = open_reader(&path)?;
            let before = data_version(&conn)?;
            let mut st = conn.prepare(&sql)?;
            let mut k = r;
            while k < n_chunks && !stop.load(Ordering::Relaxed) {
                while k >= delivered.load(Ordering::Acquire) + window && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                let a = lo + k * chunk_rows;
                let mut s = make();
                let res = (|| -> rusqlite::Result<()> {
                    let mut rows = st.query(params![wave.unwrap_or(0), a, a + chunk_rows - 1])?;
                    while let Some(x) = rows.next()? {
                        row(&mut s, x)?;
                    }
                    Ok(())
                })();
                let failed = res.is_err();
                if tx.send((k, res.map(|_| s))).is_err() || failed {
                    break;
                }
                k += readers;
            }
            Ok(data_version(&conn)? == before)
        };
        let mut outcome: Result<bool, StoreError> = Ok(true);
        let consistent = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..readers)
                .map(|r| {
                    let tx = tx.clone();
                    let read = &read;
                    sc.spawn(move || match read(r, &tx) {
                        Ok(same) => same,
                        Err(e) => {
                            // the sink learns of it (and stops waiting for this reader's chunks)
                            let _ = tx.send((-1, Err(e)));
                            true
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut pending: std::collections::BTreeMap<i64, S> = std::collections::BTreeMap::new();
            let mut next = 0i64;
            for (k, s) in rx.iter() {
                match s {
                    Ok(s) => {
                        pending.insert(k, s);
                    }
                    Err(e) => {
                        outcome = Err(self.err()(e));
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                while let Some(s) = pending.remove(&next) {
                    next += 1;
                    delivered.store(next, Ordering::Release);
                    if !sink(s) {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            drop(rx);
            let mut all = true;
            for h in handles {
                all &= h.join().expect("a scan thread panicked");
            }
            all
        });
        outcome?;
        Ok(consistent)
    }

    /// The smallest and largest row ids of a unit's table (None when it is empty).
    fn rowid_span(&self, unit: &str) -> Result<(Option<i64>, Option<i64>), StoreError> {
        self.conn
            .query_row(&format!("SELECT min(_rowid), max(_rowid) FROM \"{}\"", unit_table(unit)), [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(self.err())
    }

    /// Appends an entry to the audit log (outside any import).
    pub fn audit(&mut self, action: &str, reason: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO audit (at, by, action, reason) VALUES (?1, ?2, ?3, ?4)",
                params![now_iso(), default_user(), action, reason],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The audit log, oldest first: (at, by, action, unit, record, question, old, new, reason).
    pub fn audit_log(&self, record: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT at, by, action, unit, record, question, old_value, new_value, reason FROM audit WHERE ?1 IS NULL OR record = ?1 ORDER BY id")
            .map_err(self.err())?;
        let v = st
            .query_map([record], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    by: r.get(1)?,
                    action: r.get(2)?,
                    unit: r.get(3)?,
                    record: r.get(4)?,
                    question: r.get(5)?,
                    old_value: r.get(6)?,
                    new_value: r.get(7)?,
                    reason: r.get(8)?,
                })
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(v)
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    /// When.
    pub at: String,
    /// Who.
    pub by: String,
    /// What kind of change.
    pub action: String,
    /// Unit.
    pub unit: Option<String>,
    /// Record UUID.
    pub record: Option<String>,
    /// Question.
    pub question: Option<String>,
    /// Value before.
    pub old_value: Option<String>,
    /// Value after.
    pub new_value: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

/// A read-only connection for a scan thread: the file mapped, waiting for writers as the
/// store's own connection does.
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "mmap_size", 1i64 << 31)?;
    Ok(conn)
}

/// SQLite's count of commits by other connections, seen from `conn`: unchanged over a read
/// means no other process wrote meanwhile.
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// [`scan_sql`] restricted to the row ids `?2..=?3` (the wave, if any, stays `?1`).
fn ranged_scan_sql(def: &Definition, unit: &str, columns: &[(String, String)], by_wave: bool) -> Option<String> {
    let base = scan_sql(def, unit, columns, by_wave);
    let (head, tail) = base.split_at(base.find(" ORDER BY")?);
    let glue = if by_wave { " AND" } else { " WHERE" };
    Some(format!("{head}{glue} t0._rowid BETWEEN ?2 AND ?3{tail}"))
}

/// SQL selecting `columns` for every record of `unit`, joined up its lineage.
fn scan_sql(def: &Definition, unit: &str, columns: &[(String, String)], by_wave: bool) -> String {
    let lineage = def.lineage(unit);
    let mut sel = vec!["t0._uuid".to_string(), "t0._wave".to_string(), "t0._version".to_string()];
    let alias = |u: &str| -> usize { lineage.len() - 1 - lineage.iter().position(|x| x.id == u).unwrap_or(0) };
    for (u, c) in columns {
        let a = alias(u);
        let ident = def.unit(u).and_then(|x| x.question(c)).is_some_and(|q| q.identifier);
        if ident {
            sel.push(format!("i{a}.\"{c}\""));
        } else {
            sel.push(format!("t{a}.\"{c}\""));
        }
    }
    let mut from = format!("\"{}\" t0", unit_table(unit));
    for (i, u) in lineage.iter().rev().enumerate().skip(1) {
        from.push_str(&format!(" JOIN \"{}\" t{i} ON t{i}._rowid = t{}._parent", unit_table(&u.id), i - 1));
    }
    let ident_units: std::collections::BTreeSet<usize> = columns
        .iter()
        .filter(|(u, c)| def.unit(u).and_then(|x| x.question(c)).is_some_and(|q| q.identifier))
        .map(|(u, _)| alias(u))
        .collect();
    for a in ident_units {
        let u = &lineage[lineage.len() - 1 - a].id;
        from.push_str(&format!(" LEFT JOIN \"{}\" i{a} ON i{a}._rowid = t{a}._rowid", ident_table(u)));
    }
    let mut sql = format!("SELECT {} FROM {from}", sel.join(", "));
    if by_wave {
        sql.push_str(" WHERE t0._wave = ?1");
    }
    sql.push_str(" ORDER BY t0._rowid");
    sql
}

fn insert_definition(tx: &Transaction<'_>, def: &Definition) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO definitions (version, survey, yaml, source_name, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![def.version, def.survey, def.text, def.source_name, now_iso()],
    )?;
    Ok(())
}

fn create_unit_tables(tx: &Transaction<'_>, unit: &Unit) -> rusqlite::Result<()> {
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

/// A write transaction on the store.
pub struct Writer<'a> {
    tx: Transaction<'a>,
    path: String,
    /// Statement texts by (kind, unit), built once per import rather than once per record.
    sql: std::cell::RefCell<std::collections::HashMap<(&'static str, String), std::rc::Rc<str>>>,
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
        for (i, b) in hex.iter_mut().enumerate() {
            *b = b"0123456789abcdef"[((hash >> (60 - 4 * i)) & 0xf) as usize];
        }
        let hash = std::str::from_utf8(&hex).expect("hex digits");
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
        let path = self.path;
        let err = |source| StoreError::Sqlite {
            path: path.to_string(),
            source,
        };
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

/// Generates version 7 (time-ordered) UUIDs: the millisecond clock, a 12-bit counter that keeps
/// them strictly increasing within a process (RFC 9562, method 1), and random bits from a
/// generator seeded once from the system (one system call per import, not per record).
#[derive(Debug)]
pub struct UuidV7 {
    last_ms: u64,
    counter: u16,
    state: u64,
}

impl Default for UuidV7 {
    fn default() -> Self {
        Self::new()
    }
}

impl UuidV7 {
    /// A generator seeded from the system's random source.
    pub fn new() -> UuidV7 {
        let seed = uuid::Uuid::new_v4().as_u64_pair();
        UuidV7 {
            last_ms: 0,
            counter: 0,
            state: seed.0 ^ seed.1.rotate_left(17),
        }
    }

    fn random(&mut self) -> u64 {
        // splitmix64
        self.state = self.state.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    /// The next UUID, written as text into `buf`.
    pub fn next<'b>(&mut self, buf: &'b mut [u8; 36]) -> &'b str {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        if now > self.last_ms {
            self.last_ms = now;
            self.counter = 0;
        } else if self.counter >= 0x0fff {
            // more than 4,096 in one millisecond: borrow from the next
            self.last_ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&self.last_ms.to_be_bytes()[2..]);
        b[6] = 0x70 | (self.counter >> 8) as u8;
        b[7] = self.counter as u8;
        b[8..].copy_from_slice(&self.random().to_be_bytes());
        b[8] = 0x80 | (b[8] & 0x3f);
        uuid::Uuid::from_bytes(b).hyphenated().encode_lower(buf)
    }
}

/// An existing record found by its key.
#[derive(Debug, Clone)]
pub struct Existing {
    /// Row id.
    pub rowid: i64,
    /// Content hash.
    pub hash: String,
    /// UUID.
    pub uuid: String,
    /// The import that wrote it.
    pub import: Option<i64>,
}

impl Writer<'_> {
    /// The statement text of `kind` for `unit`, built by `make` the first time.
    fn sql(&self, kind: &'static str, unit: &str, make: impl FnOnce() -> String) -> std::rc::Rc<str> {
        let mut cache = self.sql.borrow_mut();
        cache.entry((kind, unit.to_string())).or_insert_with(|| std::rc::Rc::from(make())).clone()
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Registers a wave (no-op when known).
    pub fn ensure_wave(&self, wave: i64) -> Result<(), StoreError> {
        self.tx
            .execute("INSERT OR IGNORE INTO waves (wave, created_at) VALUES (?1, ?2)", params![wave, now_iso()])
            .map_err(self.err())?;
        Ok(())
    }

    /// Records an import; returns its id.
    pub fn begin_import(&self, wave: i64, files: &str, by: &str) -> Result<i64, StoreError> {
        self.tx
            .execute(
                "INSERT INTO imports (wave, files, started_at, by) VALUES (?1, ?2, ?3, ?4)",
                params![wave, files, now_iso(), by],
            )
            .map_err(self.err())?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Finds a record by its key: (wave, key) for a top unit, (parent row, key) for a roster.
    pub fn find(&self, unit: &Unit, wave: i64, parent: Option<i64>, key: &Cell) -> Result<Option<Existing>, StoreError> {
        let t = unit_table(&unit.id);
        let k = &unit.key;
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
                    .map_err(self.err())?;
                st.query_row(params![p, key], map).optional()
            }
            None => {
                let mut st = self
                    .tx
                    .prepare_cached(&self.sql("find_top", &unit.id, || {
                        format!("SELECT _rowid, _hash, _uuid, _import FROM \"{t}\" WHERE _wave = ?1 AND \"{k}\" = ?2")
                    }))
                    .map_err(self.err())?;
                st.query_row(params![wave, key], map).optional()
            }
        };
        res.map_err(self.err())
    }

    /// Whether the store holds no record of `unit` (a top unit) in `wave`.
    pub fn wave_is_empty(&self, unit: &Unit, wave: i64) -> Result<bool, StoreError> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM \"{}\" WHERE _wave = ?1)", unit_table(&unit.id));
        let any: bool = self.tx.query_row(&sql, [wave], |r| r.get(0)).map_err(self.err())?;
        Ok(!any)
    }

    /// Prepares the insertion of `unit`'s records, whose cells follow `columns`
    /// ([`unit_columns`] order, identifiers included); the statements are held until it is
    /// dropped.
    pub fn inserter(&self, unit: &Unit, columns: &[Column]) -> Result<Inserter<'_>, StoreError> {
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
        let st = self.tx.prepare(&sql).map_err(self.err())?;
        let ident = if idents.is_empty() {
            None
        } else {
            let inames: Vec<String> = std::iter::once("_rowid".to_string())
                .chain(idents.iter().map(|&i| format!("\"{}\"", columns[i].name)))
                .collect();
            let ph: Vec<String> = (1..=inames.len()).map(|i| format!("?{i}")).collect();
            let sql = format!("INSERT INTO \"{}\" ({}) VALUES ({})", ident_table(&unit.id), inames.join(", "), ph.join(", "));
            Some(self.tx.prepare(&sql).map_err(self.err())?)
        };
        let kept: bool = self
            .tx
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'unit_versions')", [], |r| r.get(0))
            .map_err(self.err())?;
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
        self.tx.execute_batch("SAVEPOINT import_row").map_err(self.err())
    }

    /// Ends the savepoint, undoing what was written since when `rollback`.
    pub fn release_savepoint(&self, rollback: bool) -> Result<(), StoreError> {
        let sql = if rollback {
            "ROLLBACK TO import_row; RELEASE import_row"
        } else {
            "RELEASE import_row"
        };
        self.tx.execute_batch(sql).map_err(self.err())
    }

    /// The UUID of a record by row id.
    pub fn uuid_of(&self, unit: &Unit, rowid: i64) -> Result<String, StoreError> {
        let mut st = self
            .tx
            .prepare_cached(&format!("SELECT _uuid FROM \"{}\" WHERE _rowid = ?1", unit_table(&unit.id)))
            .map_err(self.err())?;
        st.query_row([rowid], |r| r.get(0)).map_err(self.err())
    }

    /// Whether a record with this UUID exists in the unit.
    pub fn uuid_exists(&self, unit: &Unit, uuid: &str) -> Result<bool, StoreError> {
        let mut st = self
            .tx
            .prepare_cached(&format!("SELECT 1 FROM \"{}\" WHERE _uuid = ?1", unit_table(&unit.id)))
            .map_err(self.err())?;
        st.exists([uuid]).map_err(self.err())
    }

    /// Sets the number of records an import landed.
    pub fn finish_import(&self, import: i64, records: i64) -> Result<(), StoreError> {
        self.tx
            .execute("UPDATE imports SET records = ?1 WHERE id = ?2", params![records, import])
            .map_err(self.err())?;
        Ok(())
    }

    /// Appends to the audit log inside this transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn audit(
        &self,
        by: &str,
        action: &str,
        unit: Option<&str>,
        record: Option<&str>,
        question: Option<&str>,
        old: Option<&str>,
        new: Option<&str>,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO audit (at, by, action, unit, record, question, old_value, new_value, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![now_iso(), by, action, unit, record, question, old, new, reason],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Reads one record's cells by UUID: (unit table row id, version, cells in `columns` order).
    pub fn read_record(&self, unit: &Unit, columns: &[Column], uuid: &str) -> Result<Option<(i64, Vec<Cell>)>, StoreError> {
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
        let mut st = self.tx.prepare(&sql).map_err(self.err())?;
        st.query_row([uuid], |r| {
            let id: i64 = r.get(0)?;
            let cells = (0..columns.len())
                .map(|i| r.get_ref(i + 1).map(Cell::from_ref))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((id, cells))
        })
        .optional()
        .map_err(self.err())
    }

    /// Updates one column of one record (and its hash).
    pub fn update_cell(&self, unit: &Unit, column: &Column, rowid: i64, value: &Cell, hash: &str) -> Result<(), StoreError> {
        if column.identifier {
            let it = ident_table(&unit.id);
            self.tx
                .execute(&format!("INSERT OR IGNORE INTO \"{it}\" (_rowid) VALUES (?1)"), [rowid])
                .map_err(self.err())?;
            self.tx
                .execute(
                    &format!("UPDATE \"{it}\" SET \"{}\" = ?1 WHERE _rowid = ?2", column.name),
                    params![value, rowid],
                )
                .map_err(self.err())?;
        } else {
            self.tx
                .execute(
                    &format!("UPDATE \"{}\" SET \"{}\" = ?1 WHERE _rowid = ?2", unit_table(&unit.id), column.name),
                    params![value, rowid],
                )
                .map_err(self.err())?;
        }
        self.tx
            .execute(
                &format!("UPDATE \"{}\" SET _hash = ?1 WHERE _rowid = ?2", unit_table(&unit.id)),
                params![hash, rowid],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The geography tables, for loading lookups in this transaction.
    pub fn transaction(&self) -> &Transaction<'_> {
        &self.tx
    }

    /// Makes everything written visible and durable.
    pub fn commit(self) -> Result<(), StoreError> {
        let p = self.path.clone();
        self.tx.commit().map_err(|source| StoreError::Sqlite { path: p, source })
    }
}

/// Reads a cell from a row column.
pub fn cell_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Cell> {
    r.get_ref(i).map(Cell::from_ref)
}
