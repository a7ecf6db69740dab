//! The store's errors.
//!
//! Owns what can go wrong with a store file and what each message says: the file first, then
//! what was being done (a database error names its operation, "inserting a person record"),
//! with SQLite's own error kept as the cause. Builds no SQL and reads nothing.

use crate::schema;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed while the store was doing `op`.
    #[error("{path}: database error while {op}")]
    Sqlite {
        /// The store file.
        path: String,
        /// What the store was doing, as a phrase after "while" ("inserting a person record").
        op: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// `init` on an existing file.
    #[error("{path}: exists already (a store is created once; use `hearth definition add` for a new version)")]
    Exists {
        /// The file that exists.
        path: String,
    },
    /// The file is not a store this hearth reads.
    #[error("{path}: not a hearth store ({why})")]
    NotAStore {
        /// The file.
        path: String,
        /// What is wrong: no such file, no format marker, another store format.
        why: String,
        /// SQLite's error, when the file could not be read as a store at all.
        #[source]
        source: Option<rusqlite::Error>,
    },
    /// A stored definition no longer loads.
    #[error("{path}: stored definition version {version} does not load")]
    BadStoredDefinition {
        /// The store file.
        path: String,
        /// The stored version that fails to load.
        version: u32,
        /// The loader's error.
        #[source]
        source: schema::SchemaError,
    },
    /// A new definition version is not a compatible change.
    #[error("{path}: definition version {version} cannot be added:\n{}", problems.join("\n"))]
    Incompatible {
        /// The store file.
        path: String,
        /// The version refused.
        version: u32,
        /// Every incompatible change, one sentence each.
        problems: Vec<String>,
    },
    /// A weight set of that name is stored already.
    #[error("{path}: a weight set named '{name}' exists already (made {created_at}); choose another name or replace it")]
    WeightSetExists {
        /// The store file.
        path: String,
        /// The name.
        name: String,
        /// When the stored one was made.
        created_at: String,
    },
    /// A record id that is not a UUID.
    #[error("{path}: record id '{id}' is not a UUID")]
    BadRecordId {
        /// The store file.
        path: String,
        /// The id as stored.
        id: String,
    },
}

impl StoreError {
    /// The error of SQLite failing on `path` while doing `op`.
    pub(crate) fn sqlite(path: &str, op: impl Into<String>, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: path.to_string(),
            op: op.into(),
            source,
        }
    }
}
