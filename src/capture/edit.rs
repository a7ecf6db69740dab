//! Correcting one answer of a stored record, through the audit log.
//!
//! Owns [`edit_answer`]: the record found by its UUID, its answers read back as text, the one
//! answer replaced, the record checked again by [`RecordChecker`] against the definition
//! version it was captured with (so skip logic, ranges, constraints and required questions hold
//! as at capture), its derived variables and scores recomputed, and every record below it (a
//! household's roster) checked again with the new answer in its scope, since their skip logic
//! and scores may read it. The changed cells, the new content hash and one audit entry (who,
//! when, old, new, why) land in one transaction, or nothing does. An answer that would make
//! any of these records invalid is refused with every problem named. It reads no files and
//! does no terminal I/O; the store's SQL is the store's.

use crate::store::AuditLine;
use std::collections::HashMap;

use super::areas::LsoaCheck;
use super::record::{cell_text, cells_to_values, Record, RecordChecker};
use super::CaptureError;
use crate::schema::expr::Value;
use crate::schema::{Definition, QType, Unit};
use crate::store::{unit_columns, Cell, Column, Located, Store, Writer};

/// One correction, as asked for.
#[derive(Debug, Clone)]
pub struct Edit {
    /// The record: its UUID (as exports and the audit log show it), or its keys from the top
    /// unit down, separated by `/` (`H12` for a household, `H12/2` for its person 2), which
    /// need `wave`.
    pub record: String,
    /// The wave of a record named by its keys.
    pub wave: Option<i64>,
    /// The question whose answer changes.
    pub question: String,
    /// The new answer, as an import reads it ("" for no answer).
    pub value: String,
    /// Why: required, kept in the audit log.
    pub reason: String,
    /// Who makes the correction.
    pub by: String,
}

/// A stored value that changed: an answer or a derived variable, of the edited record or of
/// one below it.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    /// The record's unit.
    pub unit: String,
    /// The record's UUID.
    pub record: String,
    /// The question or derived variable.
    pub variable: String,
    /// The value before, as text (`None`: no value).
    pub old: Option<String>,
    /// The value after.
    pub new: Option<String>,
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq)]
pub struct EditReport {
    /// The edited record's unit.
    pub unit: String,
    /// Its wave.
    pub wave: i64,
    /// The answer itself (`old == new` when the value given is the one stored: nothing was
    /// written and nothing logged).
    pub answer: Changed,
    /// Whether the question is an identifier (its values are kept out of the audit log).
    pub identifier: bool,
    /// Derived variables and scores recomputed to new values, in the record and below it.
    pub derived: Vec<Changed>,
    /// Records below the edited one checked again.
    pub rechecked: usize,
}

impl EditReport {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.answer.old != self.answer.new
    }
}

/// Why an edit was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// No reason given.
    #[error("an edit needs a reason (it is kept in the audit log)")]
    NoReason,
    /// No record of any unit has the UUID.
    #[error("no record has the UUID '{}'", crate::text::escape(.record))]
    NoRecord {
        /// The UUID given.
        record: String,
    },
    /// No record has these keys in the wave.
    #[error("wave {wave}: no {unit} with {key} '{}' (under {})", crate::text::escape(.value), if .under.is_empty() { "the wave" } else { .under.as_str() })]
    NoKeys {
        /// The wave.
        wave: i64,
        /// The unit not found.
        unit: String,
        /// Its key question.
        key: String,
        /// The key given.
        value: String,
        /// The records above it, as keys (`H12`), or "".
        under: String,
    },
    /// A record named by keys without a wave, or by more keys than the survey has units.
    #[error("'{}' is not a record UUID; to name a record by its keys (H12, or H12/2 for a person of H12), give its wave too, and one key per unit from the top ({units})", crate::text::escape(.record))]
    BadRecordName {
        /// The name given.
        record: String,
        /// The units from the top, as `household/person`.
        units: String,
    },
    /// The unit has no such question (or it is a note, which has no answer).
    #[error("{unit} record {record}: no question '{}' to answer{suggestion}", crate::text::escape(.question))]
    NoQuestion {
        /// The record's unit.
        unit: String,
        /// The record's UUID.
        record: String,
        /// The question given.
        question: String,
        /// ", did you mean ..." or "".
        suggestion: String,
    },
    /// The question is the unit's key: it names the record, and other records refer to it.
    #[error("{unit} record {record}: '{question}' is the key of the {unit}; a key is not edited (it names the record)")]
    Key {
        /// The record's unit.
        unit: String,
        /// The record's UUID.
        record: String,
        /// The key question.
        question: String,
    },
    /// The new answer makes the record, or one below it, invalid.
    #[error("{} problem(s); nothing was changed:\n{}", .problems.len(), .problems.join("\n"))]
    Invalid {
        /// Each problem, one line each: record, question, value, what is wrong.
        problems: Vec<String>,
    },
}

/// Corrects one answer (see the module docs). `lsoa_check` checks an LSOA code against the
/// loaded geography, as an import does.
pub fn edit_answer(store: &mut Store, edit: &Edit, lsoa_check: Option<&LsoaCheck>) -> Result<EditReport, CaptureError> {
    if edit.reason.trim().is_empty() {
        return Err(EditError::NoReason.into());
    }
    let mut defs: HashMap<u32, Definition> = HashMap::new();
    for v in store.versions()? {
        defs.insert(v, store.definition(Some(v))?);
    }
    let latest = store.definition(None)?;
    let writer = store.writer()?;
    let (uuid, unit_id, at) = locate(&writer, &latest, edit)?;
    let edit = &Edit { record: uuid, ..edit.clone() };
    let def = defs.get(&at.version).unwrap_or(&latest);
    let unit = def.unit(&unit_id).unwrap_or_else(|| latest.unit(&unit_id).expect("located in this unit"));
    let qi = question_index(unit, edit)?;
    let mut ctx = Ctx {
        writer: &writer,
        defs: &defs,
        latest: &latest,
        lsoa_check,
        edited: None,
        problems: Vec::new(),
        derived: Vec::new(),
    };
    let stored = ctx.read(unit, &edit.record)?;
    let answers: Vec<String> = answers_of(unit, &stored.cells, &stored.columns);
    let old = answers[qi].clone();
    let identifier = unit.questions[qi].identifier;
    let mut report = EditReport {
        unit: unit.id.clone(),
        wave: at.wave,
        answer: Changed {
            unit: unit.id.clone(),
            record: edit.record.clone(),
            variable: unit.questions[qi].id.clone(),
            old: Some(old.clone()).filter(|s| !s.is_empty()),
            new: Some(edit.value.clone()).filter(|s| !s.is_empty()),
        },
        identifier,
        derived: Vec::new(),
        rechecked: 0,
    };
    // the answer as the checker would store it: "01" for an integer 1 is no change
    let mut new_answers = answers.clone();
    new_answers[qi] = edit.value.clone();
    let record = ctx.check(unit, &edit.record, &at, &new_answers)?;
    let Some(record) = record else {
        return Err(EditError::Invalid { problems: ctx.problems }.into());
    };
    let new_text = stored
        .columns
        .iter()
        .position(|c| c.name == unit.questions[qi].id)
        .map(|ci| cell_text(&record.cells[ci]))
        .unwrap_or_default();
    report.answer.new = Some(new_text).filter(|s| !s.is_empty());
    if report.answer.old == report.answer.new {
        return Ok(report);
    }
    ctx.write(unit, &edit.record, at.rowid, &stored, &record)?;
    ctx.edited = Some((unit.id.clone(), at.rowid, record.cells.clone()));
    report.rechecked = ctx.recheck_below(def, unit, at.rowid)?;
    if !ctx.problems.is_empty() {
        return Err(EditError::Invalid { problems: ctx.problems }.into());
    }
    let shown = |v: &Option<String>| {
        if identifier {
            v.as_ref().map(|_| "(identifier)".to_string())
        } else {
            v.clone()
        }
    };
    writer.audit(&AuditLine::new(&edit.by, "edit", &edit.reason).record(&unit.id, &edit.record).answer(
        &unit.questions[qi].id,
        shown(&report.answer.old).as_deref(),
        shown(&report.answer.new).as_deref(),
    ))?;
    report.derived = ctx.derived;
    writer.commit()?;
    Ok(report)
}

/// Finds the record an edit names: (UUID, unit, where it is).
fn locate(writer: &Writer<'_>, def: &Definition, edit: &Edit) -> Result<(String, String, Located), CaptureError> {
    let looks_like_uuid = edit.record.len() == 36 && edit.record.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if looks_like_uuid || edit.wave.is_none() {
        for unit in &def.units {
            if let Some(at) = writer.locate(unit, &edit.record)? {
                return Ok((edit.record.clone(), unit.id.clone(), at));
            }
        }
        if looks_like_uuid {
            return Err(EditError::NoRecord { record: edit.record.clone() }.into());
        }
    }
    // keys from the top unit down
    let top = def.units.iter().find(|u| u.parent.is_none()).unwrap_or(&def.units[0]);
    let mut chain = vec![top];
    while let Some(child) = def.units.iter().find(|u| u.parent.as_deref() == Some(chain[chain.len() - 1].id.as_str())) {
        chain.push(child);
    }
    let keys: Vec<&str> = edit.record.split('/').collect();
    let bad = || EditError::BadRecordName {
        record: edit.record.clone(),
        units: chain.iter().map(|u| u.id.as_str()).collect::<Vec<_>>().join("/"),
    };
    let Some(wave) = edit.wave else { return Err(bad().into()) };
    if keys.len() > chain.len() {
        return Err(bad().into());
    }
    let mut parent: Option<i64> = None;
    let mut found = None;
    for (d, raw) in keys.iter().enumerate() {
        let unit = chain[d];
        let not_found = || EditError::NoKeys {
            wave,
            unit: unit.id.clone(),
            key: unit.key.clone(),
            value: raw.to_string(),
            under: keys[..d].join("/"),
        };
        let Ok(cell) = super::record::parse_key(unit, raw) else {
            return Err(not_found().into());
        };
        let Some(ex) = writer.find(unit, wave, parent, &cell)? else {
            return Err(not_found().into());
        };
        parent = Some(ex.rowid);
        found = Some((ex.uuid, unit));
    }
    let (uuid, unit) = found.ok_or_else(bad)?;
    let at = writer.locate(unit, &uuid)?.ok_or_else(|| EditError::NoRecord { record: uuid.clone() })?;
    Ok((uuid, unit.id.clone(), at))
}

/// The index of the edited question among the unit's, refusing notes, unknown questions and
/// the key.
fn question_index(unit: &Unit, edit: &Edit) -> Result<usize, EditError> {
    let qi = unit.questions.iter().position(|q| q.id == edit.question && q.qtype != QType::Note);
    let Some(qi) = qi else {
        let names = unit.questions.iter().filter(|q| q.qtype != QType::Note).map(|q| q.id.as_str());
        return Err(EditError::NoQuestion {
            unit: unit.id.clone(),
            record: edit.record.clone(),
            question: edit.question.clone(),
            suggestion: crate::schema::yaml::did_you_mean(&edit.question, names),
        });
    };
    if unit.questions[qi].id == unit.key {
        return Err(EditError::Key {
            unit: unit.id.clone(),
            record: edit.record.clone(),
            question: unit.key.clone(),
        });
    }
    Ok(qi)
}

/// A record as stored: its columns and cells.
struct Stored {
    columns: Vec<Column>,
    cells: Vec<Cell>,
}

/// Each question's answer as text, from stored cells ("" for none and for notes).
fn answers_of(unit: &Unit, cells: &[Cell], columns: &[Column]) -> Vec<String> {
    unit.questions
        .iter()
        .map(|q| {
            columns
                .iter()
                .position(|c| c.name == q.id && !c.derived)
                .map(|i| cell_text(&cells[i]))
                .unwrap_or_default()
        })
        .collect()
}

/// What one edit carries while it checks and writes.
struct Ctx<'w, 's> {
    writer: &'w Writer<'s>,
    defs: &'w HashMap<u32, Definition>,
    latest: &'w Definition,
    lsoa_check: Option<&'w LsoaCheck>,
    /// The edited record (unit, row, new cells): read in its new state by the records below.
    edited: Option<(String, i64, Vec<Cell>)>,
    problems: Vec<String>,
    derived: Vec<Changed>,
}

impl Ctx<'_, '_> {
    /// Reads a record's stored cells by UUID.
    fn read(&self, unit: &Unit, uuid: &str) -> Result<Stored, CaptureError> {
        let columns = unit_columns(unit);
        let (_, cells) = self
            .writer
            .read_record(unit, &columns, uuid)?
            .ok_or_else(|| EditError::NoRecord { record: uuid.to_string() })?;
        Ok(Stored { columns, cells })
    }

    /// The scope of a record of `unit` located at `at`: its ancestors' values (the edited
    /// record in its new state), read from the store under `def`.
    fn scope(&self, def: &Definition, unit: &Unit, at: &Located) -> Result<Vec<Value>, CaptureError> {
        let mut values = vec![Value::Missing; unit.scope.len()];
        let lineage = def.lineage(&unit.id);
        let mut parent = at.parent;
        for anc in lineage.iter().rev().skip(1) {
            let Some(rowid) = parent else { break };
            let columns = unit_columns(anc);
            let cells = match &self.edited {
                Some((u, r, cells)) if *u == anc.id && *r == rowid => cells.clone(),
                _ => {
                    let uuid = self.writer.uuid_of(anc, rowid)?;
                    self.writer.read_record(anc, &columns, &uuid)?.map(|(_, c)| c).unwrap_or_default()
                }
            };
            cells_to_values(anc, &cells, &columns, &mut values);
            let uuid = self.writer.uuid_of(anc, rowid)?;
            parent = self.writer.locate(anc, &uuid)?.and_then(|l| l.parent);
        }
        Ok(values)
    }

    /// Checks a record's answers (text by question) in its scope; `None` when it has
    /// problems, which are kept, each naming the record, question and value.
    fn check(&mut self, unit: &Unit, uuid: &str, at: &Located, answers: &[String]) -> Result<Option<Record>, CaptureError> {
        let def = self.defs.get(&at.version).unwrap_or(self.latest);
        let mut values = self.scope(def, unit, at)?;
        let mut checker = RecordChecker::new(unit, self.lsoa_check);
        let mut out = Record::default();
        let mut found = Vec::new();
        if checker.check(|i| answers[i].as_str(), &mut values, &mut out, &mut found) {
            return Ok(Some(out));
        }
        for p in found {
            let value = p.value.map(|v| format!("value '{}': ", crate::text::escape(&v))).unwrap_or_default();
            self.problems.push(format!(
                "{} record {uuid}: question '{}': {value}{}",
                unit.id,
                crate::text::escape(&p.question),
                crate::text::escape(&p.message)
            ));
        }
        Ok(None)
    }

    /// Writes the cells of `record` that differ from `stored`, with its new content hash;
    /// derived values that changed are kept for the report.
    fn write(&mut self, unit: &Unit, uuid: &str, rowid: i64, stored: &Stored, record: &Record) -> Result<(), CaptureError> {
        for (ci, column) in stored.columns.iter().enumerate() {
            let (old, new) = (&stored.cells[ci], &record.cells[ci]);
            if old == new {
                continue;
            }
            self.writer.update_cell(unit, column, rowid, new, record.hash)?;
            if column.derived {
                self.derived.push(Changed {
                    unit: unit.id.clone(),
                    record: uuid.to_string(),
                    variable: column.name.clone(),
                    old: Some(cell_text(old)).filter(|s| !s.is_empty()),
                    new: Some(cell_text(new)).filter(|s| !s.is_empty()),
                });
            }
        }
        Ok(())
    }

    /// Checks every record below row `rowid` of `unit` again (their answers unchanged, their
    /// scope holding the edit) and rewrites the derived values that change. Returns how many
    /// were checked.
    fn recheck_below(&mut self, def: &Definition, unit: &Unit, rowid: i64) -> Result<usize, CaptureError> {
        let mut n = 0;
        let latest = self.latest;
        for child in latest.units.iter().filter(|u| u.parent.as_deref() == Some(unit.id.as_str())) {
            for uuid in self.writer.children(child, rowid)? {
                let Some(at) = self.writer.locate(child, &uuid)? else { continue };
                let cdef = self.defs.get(&at.version).unwrap_or(def);
                let cunit = cdef.unit(&child.id).unwrap_or(child);
                let stored = self.read(cunit, &uuid)?;
                let answers = answers_of(cunit, &stored.cells, &stored.columns);
                n += 1;
                if let Some(record) = self.check(cunit, &uuid, &at, &answers)? {
                    self.write(cunit, &uuid, at.rowid, &stored, &record)?;
                    n += self.recheck_below(cdef, cunit, at.rowid)?;
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> Unit {
        let def = crate::schema::load_str(include_str!("../../fixtures/import/tiny.yaml"), "tiny.yaml").unwrap();
        def.unit("person").unwrap().clone()
    }

    fn edit(question: &str) -> Edit {
        Edit {
            record: "r".into(),
            wave: None,
            question: question.into(),
            value: "1".into(),
            reason: "typo".into(),
            by: "me".into(),
        }
    }

    #[test]
    fn the_key_and_unknown_questions_are_refused() {
        let u = unit();
        assert!(matches!(question_index(&u, &edit("person_id")), Err(EditError::Key { .. })));
        match question_index(&u, &edit("smoke")) {
            Err(e @ EditError::NoQuestion { .. }) => assert_eq!(e.to_string(), "person record r: no question 'smoke' to answer (did you mean 'smoker'?)"),
            other => panic!("{other:?}"),
        }
        assert_eq!(question_index(&u, &edit("age")).unwrap(), 1);
    }

    #[test]
    fn answers_are_read_back_as_an_import_gives_them() {
        let u = unit();
        let columns = unit_columns(&u);
        let cells: Vec<Cell> = columns
            .iter()
            .map(|c| match c.name.as_str() {
                "person_id" => Cell::Int(2),
                "height" => Cell::Real(1.75),
                "activities" => Cell::Text("walk swim".into()),
                "smoker" => Cell::Int(1),
                _ => Cell::Null,
            })
            .collect();
        let a = answers_of(&u, &cells, &columns);
        let q = |id: &str| a[u.questions.iter().position(|q| q.id == id).unwrap()].as_str();
        assert_eq!(
            (q("person_id"), q("height"), q("activities"), q("smoker"), q("age")),
            ("2", "1.75", "walk swim", "1", "")
        );
    }
}
