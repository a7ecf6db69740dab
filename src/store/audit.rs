//! The audit log: who changed what, when and why.
//!
//! Owns writing entries (on their own, or inside a write transaction so they land with the
//! change they describe), reading them back, and the "who" and "when" every entry and record
//! carries ([`default_user`], [`now_iso`]). The log is append-only: triggers created with the
//! store refuse updates and deletes, and nothing here offers either.

use rusqlite::params;

use super::{Store, StoreError, Writer};

/// Current UTC time as ISO 8601, to the second (`2024-05-31T09:30:00Z`).
pub fn now_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The user name recorded as `captured_by` when none is given.
pub fn default_user() -> String {
    std::env::var("HEARTH_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct AuditEntry {
    /// When, as [`now_iso`] writes it.
    pub at: String,
    /// The user who made the change.
    pub by: String,
    /// What kind of change: `init`, `definition`, `import`, `geography`, ...
    pub action: String,
    /// The unit of the record changed, if one was.
    pub unit: Option<String>,
    /// The UUID of the record changed, if one was.
    pub record: Option<String>,
    /// The question whose answer changed, if one did.
    pub question: Option<String>,
    /// The answer before the change.
    pub old_value: Option<String>,
    /// The answer after the change.
    pub new_value: Option<String>,
    /// Why, in the user's or the command's words.
    pub reason: Option<String>,
}

impl Store {
    /// Appends an entry to the audit log (outside any import).
    pub fn audit(&mut self, action: &str, reason: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO audit (at, by, action, reason) VALUES (?1, ?2, ?3, ?4)",
                params![now_iso(), default_user(), action, reason],
            )
            .map_err(self.err("writing to the audit log"))?;
        Ok(())
    }

    /// The audit log, oldest first, of one record (by UUID) or of the whole store.
    pub fn audit_log(&self, record: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
        const OP: &str = "reading the audit log";
        let mut st = self
            .conn
            .prepare("SELECT at, by, action, unit, record, question, old_value, new_value, reason FROM audit WHERE ?1 IS NULL OR record = ?1 ORDER BY id")
            .map_err(self.err(OP))?;
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
            .map_err(self.err(OP))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err(OP))?;
        Ok(v)
    }
}

/// One entry to append inside a write transaction ([`Writer::audit`]): who, what kind of change,
/// why, and the record and answer changed when there is one.
#[derive(Debug, Clone, Copy)]
pub struct AuditLine<'a> {
    /// The user (or interviewer) making the change.
    pub by: &'a str,
    /// What kind of change (`import`, `edit`, `answer`, ...).
    pub action: &'a str,
    /// Why, in the user's or the command's words.
    pub reason: &'a str,
    /// The unit of the record changed.
    pub unit: Option<&'a str>,
    /// The UUID of the record changed.
    pub record: Option<&'a str>,
    /// The question whose answer changed.
    pub question: Option<&'a str>,
    /// The answer before.
    pub old: Option<&'a str>,
    /// The answer after.
    pub new: Option<&'a str>,
}

impl<'a> AuditLine<'a> {
    /// An entry about the store as a whole (an import, a definition version).
    pub fn new(by: &'a str, action: &'a str, reason: &'a str) -> Self {
        AuditLine {
            by,
            action,
            reason,
            unit: None,
            record: None,
            question: None,
            old: None,
            new: None,
        }
    }

    /// The entry is about one record.
    pub fn record(self, unit: &'a str, record: &'a str) -> Self {
        AuditLine {
            unit: Some(unit),
            record: Some(record),
            ..self
        }
    }

    /// The entry changes one answer of its record, from `old` to `new` (None: no answer).
    pub fn answer(self, question: &'a str, old: Option<&'a str>, new: Option<&'a str>) -> Self {
        AuditLine {
            question: Some(question),
            old,
            new,
            ..self
        }
    }
}

impl Writer<'_> {
    /// Appends to the audit log inside this transaction: it lands, or not, with the change.
    pub fn audit(&self, e: &AuditLine<'_>) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO audit (at, by, action, unit, record, question, old_value, new_value, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![now_iso(), e.by, e.action, e.unit, e.record, e.question, e.old, e.new, e.reason],
            )
            .map_err(self.err("writing to the audit log"))?;
        Ok(())
    }
}
