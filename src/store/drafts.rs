//! Unfinished interviews: drafts kept apart from the records.
//!
//! Owns the tables `interviews` (one row per interview: wave, definition version, who, when,
//! open or finished, whether its roster is complete, the last sequence number a front end
//! sent), `draft_records` (the household and each roster member, by the UUID the finished record
//! will keep; a removed member stays, marked with the reason) and `draft_answers` (each answer as
//! given, by record and question). Analysis and export read only the `u_<unit>` tables, so a
//! draft never reaches them. The tables are created with a store's first interview, so older
//! stores take interviews without any other change. Every write goes through a [`Writer`]: an
//! answer lands with its audit entry, and a finished interview's records with the end of its
//! draft. It must not check answers or decide what is asked next (capture's interview engine).

use rusqlite::{params, OptionalExtension};

use super::audit::now_iso;
use super::{Store, StoreError, Writer};

/// One interview's own row.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftInterview {
    /// The interview's id (a UUID).
    pub id: String,
    /// The wave it belongs to.
    pub wave: i64,
    /// The definition version it is asked under.
    pub version: u32,
    /// Who conducts it.
    pub interviewer: String,
    /// When it started (ISO 8601, UTC).
    pub started_at: String,
    /// When an answer was last saved.
    pub updated_at: String,
    /// `open` or `finished`.
    pub status: String,
    /// Whether the interviewer said the roster is complete.
    pub roster_done: bool,
    /// The last sequence number a front end sent with an answer (0: none).
    pub seq: u64,
}

/// One record of an interview's draft: the household or a roster member.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftRecord {
    /// The UUID the finished record will keep.
    pub record: String,
    /// Its unit.
    pub unit: String,
    /// 0 for the household, then 1, 2, ... for members in the order they were added.
    pub ordinal: u32,
    /// The reason a member was removed, if it was.
    pub removed: Option<String>,
    /// Each answer given, as text by question id ("" for no answer to an optional question).
    pub answers: Vec<(String, String)>,
}

const DRAFT_TABLES: &str = "CREATE TABLE IF NOT EXISTS interviews (id TEXT PRIMARY KEY, wave INTEGER NOT NULL,
         version INTEGER NOT NULL REFERENCES definitions(version), interviewer TEXT NOT NULL,
         started_at TEXT NOT NULL, updated_at TEXT NOT NULL, status TEXT NOT NULL,
         roster_done INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0);
     CREATE TABLE IF NOT EXISTS draft_records (record TEXT PRIMARY KEY, interview TEXT NOT NULL REFERENCES interviews(id),
         unit TEXT NOT NULL, ordinal INTEGER NOT NULL, removed TEXT);
     CREATE INDEX IF NOT EXISTS draft_records_interview ON draft_records (interview);
     CREATE TABLE IF NOT EXISTS draft_answers (record TEXT NOT NULL REFERENCES draft_records(record),
         question TEXT NOT NULL, value TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (record, question)) WITHOUT ROWID;";

impl Writer<'_> {
    /// Registers a new interview (its tables created on the store's first).
    pub fn draft_create(&self, d: &DraftInterview) -> Result<(), StoreError> {
        const OP: &str = "starting an interview";
        self.tx.execute_batch(DRAFT_TABLES).map_err(self.err(OP))?;
        self.tx
            .execute(
                "INSERT INTO interviews (id, wave, version, interviewer, started_at, updated_at, status, roster_done, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    d.id,
                    d.wave,
                    d.version,
                    d.interviewer,
                    d.started_at,
                    d.updated_at,
                    d.status,
                    d.roster_done,
                    d.seq as i64
                ],
            )
            .map_err(self.err(OP))?;
        Ok(())
    }

    /// Adds a record (the household, or a roster member) to an interview's draft.
    pub fn draft_add_record(&self, interview: &str, record: &str, unit: &str, ordinal: u32) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO draft_records (record, interview, unit, ordinal) VALUES (?1, ?2, ?3, ?4)",
                params![record, interview, unit, ordinal],
            )
            .map_err(self.err("adding a record to an interview"))?;
        Ok(())
    }

    /// Saves one answer of a draft record (replacing an earlier one to the same question).
    pub fn draft_answer(&self, record: &str, question: &str, value: &str) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO draft_answers (record, question, value, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (record, question) DO UPDATE SET value = excluded.value, at = excluded.at",
                params![record, question, value, now_iso()],
            )
            .map_err(self.err("saving an answer"))?;
        Ok(())
    }

    /// Marks a roster member removed, with the reason.
    pub fn draft_remove_record(&self, record: &str, reason: &str) -> Result<(), StoreError> {
        self.tx
            .execute("UPDATE draft_records SET removed = ?2 WHERE record = ?1", params![record, reason])
            .map_err(self.err("removing a roster member"))?;
        Ok(())
    }

    /// Records the interview's progress: when it was touched, the last sequence number, whether
    /// the roster is complete.
    pub fn draft_touch(&self, interview: &str, seq: u64, roster_done: bool) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE interviews SET updated_at = ?2, seq = ?3, roster_done = ?4 WHERE id = ?1",
                params![interview, now_iso(), seq as i64, roster_done],
            )
            .map_err(self.err("saving an interview's progress"))?;
        Ok(())
    }

    /// Ends a draft: the interview is marked `status` (`finished`) and its draft answers and
    /// records are deleted (a finished interview's answers live in its records).
    pub fn draft_close(&self, interview: &str, status: &str) -> Result<(), StoreError> {
        const OP: &str = "closing an interview";
        self.tx
            .execute(
                "DELETE FROM draft_answers WHERE record IN (SELECT record FROM draft_records WHERE interview = ?1)",
                [interview],
            )
            .map_err(self.err(OP))?;
        self.tx
            .execute("DELETE FROM draft_records WHERE interview = ?1", [interview])
            .map_err(self.err(OP))?;
        self.tx
            .execute(
                "UPDATE interviews SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![interview, status, now_iso()],
            )
            .map_err(self.err(OP))?;
        Ok(())
    }
}

impl Store {
    /// Makes every commit of this connection durable on disk before it returns (SQLite's
    /// `synchronous = FULL`), not only safe from a crash of the process: an interview's answer
    /// must survive the laptop's battery running out just after it was saved.
    pub fn sync_every_commit(&self) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(self.err("making every commit durable"))
    }

    fn has_draft_tables(&self) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'interviews'", [], |r| {
                r.get(0)
            })
            .map_err(self.err("reading the interviews"))?;
        Ok(n > 0)
    }

    /// An interview and its draft records (household first, then members by ordinal).
    pub fn draft(&self, id: &str) -> Result<Option<(DraftInterview, Vec<DraftRecord>)>, StoreError> {
        const OP: &str = "reading an interview";
        if !self.has_draft_tables()? {
            return Ok(None);
        }
        let head = self
            .conn
            .query_row(
                "SELECT id, wave, version, interviewer, started_at, updated_at, status, roster_done, seq FROM interviews WHERE id = ?1",
                [id],
                |r| {
                    Ok(DraftInterview {
                        id: r.get(0)?,
                        wave: r.get(1)?,
                        version: r.get(2)?,
                        interviewer: r.get(3)?,
                        started_at: r.get(4)?,
                        updated_at: r.get(5)?,
                        status: r.get(6)?,
                        roster_done: r.get(7)?,
                        seq: r.get::<_, i64>(8)? as u64,
                    })
                },
            )
            .optional()
            .map_err(self.err(OP))?;
        let Some(head) = head else { return Ok(None) };
        let mut st = self
            .conn
            .prepare("SELECT record, unit, ordinal, removed FROM draft_records WHERE interview = ?1 ORDER BY ordinal")
            .map_err(self.err(OP))?;
        let mut records = st
            .query_map([id], |r| {
                Ok(DraftRecord {
                    record: r.get(0)?,
                    unit: r.get(1)?,
                    ordinal: r.get(2)?,
                    removed: r.get(3)?,
                    answers: Vec::new(),
                })
            })
            .map_err(self.err(OP))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err(OP))?;
        let mut st = self
            .conn
            .prepare("SELECT question, value FROM draft_answers WHERE record = ?1")
            .map_err(self.err(OP))?;
        for rec in &mut records {
            rec.answers = st
                .query_map([&rec.record], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.err(OP))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(self.err(OP))?;
        }
        Ok(Some((head, records)))
    }

    /// The record ids (UUIDs) of the drafts of open interviews.
    pub fn open_draft_records(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        const OP: &str = "reading the unfinished interviews' records";
        if !self.has_draft_tables()? {
            return Ok(Default::default());
        }
        let mut st = self
            .conn
            .prepare("SELECT d.record FROM draft_records d JOIN interviews i ON i.id = d.interview WHERE i.status = 'open'")
            .map_err(self.err(OP))?;
        let v = st
            .query_map([], |r| r.get(0))
            .map_err(self.err(OP))?
            .collect::<Result<_, _>>()
            .map_err(self.err(OP))?;
        Ok(v)
    }

    /// The ids of the open (unfinished) interviews, of one wave or all, most recently touched
    /// first.
    pub fn open_drafts(&self, wave: Option<i64>) -> Result<Vec<String>, StoreError> {
        const OP: &str = "listing the unfinished interviews";
        if !self.has_draft_tables()? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare("SELECT id FROM interviews WHERE status = 'open' AND (?1 IS NULL OR wave = ?1) ORDER BY updated_at DESC, id")
            .map_err(self.err(OP))?;
        let v = st
            .query_map([wave], |r| r.get(0))
            .map_err(self.err(OP))?
            .collect::<Result<Vec<String>, _>>()
            .map_err(self.err(OP))?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_lands_with_its_transaction_and_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let def = crate::schema::load_str(
            "survey: s\ntitle: S\nversion: 1\nunits:\n  - id: household\n    key: hid\n    questions:\n      - {id: hid, type: text, label: H}\n",
            "s.yaml",
        )
        .unwrap();
        let mut store = Store::create(&dir.path().join("s.db"), &def).unwrap();
        assert!(store.open_drafts(None).unwrap().is_empty());
        let head = DraftInterview {
            id: "i1".into(),
            wave: 1,
            version: 1,
            interviewer: "amy".into(),
            started_at: now_iso(),
            updated_at: now_iso(),
            status: "open".into(),
            roster_done: false,
            seq: 0,
        };
        let w = store.writer().unwrap();
        w.draft_create(&head).unwrap();
        w.draft_add_record("i1", "r0", "household", 0).unwrap();
        w.draft_answer("r0", "hid", "H1").unwrap();
        w.draft_answer("r0", "hid", "H2").unwrap();
        w.draft_touch("i1", 7, true).unwrap();
        w.commit().unwrap();
        // a write that is not committed leaves nothing
        {
            let w = store.writer().unwrap();
            w.draft_answer("r0", "hid", "H3").unwrap();
        }
        let (got, records) = store.draft("i1").unwrap().unwrap();
        assert_eq!((got.seq, got.roster_done), (7, true));
        assert_eq!(records[0].answers, vec![("hid".to_string(), "H2".to_string())]);
        assert_eq!(store.open_drafts(Some(1)).unwrap(), vec!["i1".to_string()]);
        let w = store.writer().unwrap();
        w.draft_close("i1", "finished").unwrap();
        w.commit().unwrap();
        assert!(store.open_drafts(None).unwrap().is_empty());
        assert!(store.draft("i1").unwrap().unwrap().1.is_empty());
    }
}
