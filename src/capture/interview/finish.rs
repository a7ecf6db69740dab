//! Finishing an interview: the household and each member not removed checked by
//! [`RecordChecker`] as any record is, answers to questions that became irrelevant dropped,
//! and written by [`RecordWriter`] under the UUIDs the draft gave them, with the draft closed
//! and an audit entry, in one transaction: the records appear whole or not at all.

use super::{Interview, InterviewError};
use crate::capture::record::{Record, RecordChecker};
use crate::capture::write::{Inserted, Match, RecordWriter, Stamp};
use crate::capture::CaptureError;
use crate::schema::expr::Value;
use crate::store::AuditLine;
use crate::store::{now_iso, Store};

/// What finishing wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The household record's UUID.
    pub household: String,
    /// The household's key.
    pub key: String,
    /// Members written.
    pub members: usize,
}

impl Interview {
    /// Checks every record with the definition and writes them as finished records.
    pub fn finish(&mut self, store: &mut Store) -> Result<Finished, CaptureError> {
        self.check_open()?;
        let review = self.review();
        if !review.can_finish {
            return Err(InterviewError::NotReady { problems: review.problems }.into());
        }
        let def = self.def.clone();
        let top = &def.units[self.top];
        let mut lineage = vec![top];
        if let Some(r) = self.roster {
            lineage.push(&def.units[r]);
        }
        let w = store.writer()?;
        w.ensure_wave(self.head.wave)?;
        let stamp = Stamp {
            wave: self.head.wave,
            version: self.head.version,
            captured_at: now_iso(),
            captured_by: self.head.interviewer.clone(),
            import: None,
        };
        let mut rw = RecordWriter::new(&w, &lineage, stamp);
        let mut problems = Vec::new();
        let mut values = vec![Value::Missing; top.scope.len()];
        let Some(household) = self.checked(0, &mut values, &mut problems) else {
            return Err(InterviewError::NotReady { problems }.into());
        };
        if !matches!(rw.matches(0, None, &household)?, Match::New) {
            return Err(InterviewError::NotReady {
                problems: vec![format!(
                    "{} '{}' is already in wave {}: check the {} and change it",
                    top.id, household.key_text, self.head.wave, top.key
                )],
            }
            .into());
        }
        let hrow = match rw.insert(0, None, &household, Some(&self.records[0].uuid))? {
            Inserted::Row(r) => r,
            Inserted::UuidTaken => return Err(InterviewError::Finished { id: self.head.id.clone() }.into()),
        };
        let mut members = 0;
        for r in 1..self.records.len() {
            if self.records[r].removed.is_some() {
                continue;
            }
            let unit = &def.units[self.records[r].unit];
            let mut mv = vec![Value::Missing; unit.scope.len()];
            mv[..values.len()].clone_from_slice(&values);
            let Some(rec) = self.checked(r, &mut mv, &mut problems) else { continue };
            if let Inserted::Row(_) = rw.insert(1, Some(hrow), &rec, Some(&self.records[r].uuid))? {
                members += 1;
            }
        }
        if !problems.is_empty() {
            return Err(InterviewError::NotReady { problems }.into());
        }
        let reason = format!("finished interview {} ({members} member(s))", self.head.id);
        w.audit(&AuditLine::new(&self.head.interviewer, "interview", &reason).record(&top.id, &self.records[0].uuid))?;
        w.draft_close(&self.head.id, "finished")?;
        drop(rw);
        w.commit()?;
        self.head.status = "finished".into();
        self.focus = None;
        Ok(Finished {
            household: self.records[0].uuid.clone(),
            key: household.key_text,
            members,
        })
    }

    /// Record `r` checked as an import checks a record (answers to skipped questions
    /// dropped); its problems, each naming the record and question, pushed to `problems`.
    fn checked(&self, r: usize, values: &mut [Value], problems: &mut Vec<String>) -> Option<Record> {
        let d = &self.records[r];
        let unit = &self.def.units[d.unit];
        let (_, relevant) = self.evaluate(r);
        let answers: Vec<&str> = (0..unit.questions.len())
            .map(|qi| if relevant[qi] { d.answers[qi].as_deref().unwrap_or("") } else { "" })
            .collect();
        let mut checker = RecordChecker::new(unit, self.lsoa_check.as_ref());
        let mut out = Record::default();
        let mut found = Vec::new();
        if checker.check(|i| answers[i], values, &mut out, &mut found) {
            return Some(out);
        }
        let name = self.record_name(r);
        problems.extend(found.into_iter().map(|p| format!("{name}: '{}': {}", p.question, p.message)));
        None
    }
}
