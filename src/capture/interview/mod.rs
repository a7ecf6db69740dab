//! The interview engine: one household interview as a state machine driven by the definition,
//! for any front end (the terminal's `hearth interview`, the browser's `hearth serve`).
//!
//! Owns what is asked next (the household's questions, then the roster, members added one by
//! one, then each member's questions), skip logic, checking an answer with the definition's
//! messages, refusals and "don't know" mapped to the question's missing codes, going back to
//! change an answer (later answers re-checked; answers that become irrelevant kept and flagged
//! until the interview is finished, then dropped), progress, the definition's alerts (a
//! question's `alert:`), and finishing: every record checked by [`super::record::RecordChecker`]
//! and written by [`super::write::RecordWriter`], the one path every record takes. Every answer
//! is saved in the store's drafts (see [`crate::store::DraftInterview`]) with its audit entry,
//! in one transaction, as it is given: a crash loses nothing and an unfinished interview
//! resumes where it stopped. It does no terminal or network I/O and keeps no clock of its own.
//!
//! | part | owns |
//! |---|---|
//! | this file | [`Interview`]: starting, resuming, answering, the roster, going back |
//! | `view` | what a front end shows: [`Step`], [`Prompt`], [`Review`], alerts, progress |
//! | `finish` | checking the whole household and writing it as finished records |

mod finish;
mod view;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use super::answer::parse_answer;
use super::areas::{lsoa_checker, LsoaCheck};
use super::CaptureError;
use crate::schema::expr::{eval, Value};
use crate::schema::{Definition, QType, Question, Required, Unit};
use crate::store::{now_iso, AuditLine, DraftInterview, Store, StoreError};

pub use finish::Finished;
pub use view::{Alert, ChoiceView, Progress, Prompt, RecordView, RelevanceChange, Review, ReviewLine, ReviewSection, RosterPrompt, Step, Summary};

/// How an interview starts.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The wave.
    pub wave: i64,
    /// Who conducts it (recorded as `captured_by` and in the audit log).
    pub interviewer: String,
    /// The language of the labels (the definition's first when None).
    pub lang: Option<String>,
}

/// An answer as a front end gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    /// Text as typed (a choice's value code for a select).
    Value(String),
    /// The respondent refused: the question's `refused` missing code.
    Refused,
    /// The respondent does not know: the question's `dont_know` missing code.
    DontKnow,
    /// No answer to an optional question.
    NoAnswer,
}

/// What saving an answer did.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// Whether the answer was kept (false: it failed a check and `problem` says why).
    pub accepted: bool,
    /// The definition's message for a rejected answer.
    pub problem: Option<String>,
    /// A retried request (its sequence number was seen already): nothing was written again.
    pub duplicate: bool,
    /// The alerts raised by the answers so far.
    pub alerts: Vec<Alert>,
    /// Questions whose relevance changed with this answer.
    pub relevance: Vec<RelevanceChange>,
    /// Progress after the answer.
    pub progress: Progress,
}

/// Why an interview refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InterviewError {
    /// No interview has this id.
    #[error("no interview '{id}' in this store")]
    NoInterview {
        /// The id asked for.
        id: String,
    },
    /// The interview is finished; it can be corrected with an edit.
    #[error("interview '{id}' is finished: correct its records with `edit`")]
    Finished {
        /// The interview.
        id: String,
    },
    /// The definition's shape is not one the interview asks.
    #[error("this definition cannot be interviewed: {why}")]
    Shape {
        /// What is wrong.
        why: String,
    },
    /// A language the definition does not have.
    #[error("language '{lang}' is not in the definition's languages [{langs}]")]
    NoLanguage {
        /// Asked for.
        lang: String,
        /// The definition's.
        langs: String,
    },
    /// No record of the interview has this id.
    #[error("interview '{interview}' has no record '{record}'")]
    NoRecord {
        /// The interview.
        interview: String,
        /// The record asked for.
        record: String,
    },
    /// The record's unit has no such question (or it is not asked: a note, an automatic key).
    #[error("unit '{unit}' has no question '{question}' to answer")]
    NoQuestion {
        /// The unit.
        unit: String,
        /// The question asked for.
        question: String,
    },
    /// The definition has no roster under the household.
    #[error("this survey has no roster: one record per interview")]
    NoRoster,
    /// The roster is as long as its key allows.
    #[error("the roster is full: {unit} key '{key}' goes up to {max}")]
    RosterFull {
        /// The roster unit.
        unit: String,
        /// Its key question.
        key: String,
        /// The key's maximum.
        max: i64,
    },
    /// A removal needs a reason.
    #[error("removing a member needs a reason")]
    NoReason,
    /// The interview is not ready to finish.
    #[error("the interview cannot be finished yet:\n{}", .problems.join("\n"))]
    NotReady {
        /// What is missing or wrong, one line each.
        problems: Vec<String>,
    },
}

impl From<InterviewError> for CaptureError {
    fn from(e: InterviewError) -> Self {
        CaptureError::Interview(Box::new(e))
    }
}

/// One record of the interview: the household, or a roster member.
#[derive(Debug, Clone)]
struct Draft {
    uuid: String,
    /// Index of its unit in the definition.
    unit: usize,
    ordinal: u32,
    removed: Option<String>,
    /// By question index: None never answered, Some("") no answer given.
    answers: Vec<Option<String>>,
}

/// One household interview in progress (see the module docs).
pub struct Interview {
    head: DraftInterview,
    def: Arc<Definition>,
    lang: String,
    /// Index of the household (top) unit in the definition.
    top: usize,
    /// Index of the roster unit, if the survey has one.
    roster: Option<usize>,
    records: Vec<Draft>,
    /// A question the interviewer went back to.
    focus: Option<(usize, usize)>,
    lsoa_check: Option<LsoaCheck>,
    /// Each record's evaluated values and relevance, until something changes.
    evaluated: RefCell<Vec<Option<Evaluated>>>,
}

/// A record's scope values and its own questions' relevance.
type Evaluated = (Vec<Value>, Vec<bool>);

impl std::fmt::Debug for Interview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interview")
            .field("id", &self.head.id)
            .field("records", &self.records.len())
            .finish()
    }
}

/// The household and roster units of a definition: (top, roster).
fn shape(def: &Definition) -> Result<(usize, Option<usize>), InterviewError> {
    let tops: Vec<usize> = (0..def.units.len()).filter(|&i| def.units[i].parent.is_none()).collect();
    let [top] = tops[..] else {
        return Err(InterviewError::Shape {
            why: format!("{} top-level units; an interview asks one household", tops.len()),
        });
    };
    let below: Vec<usize> = (0..def.units.len()).filter(|&i| def.units[i].parent.is_some()).collect();
    match below[..] {
        [] => Ok((top, None)),
        [r] if def.units[r].parent.as_deref() == Some(def.units[top].id.as_str()) => Ok((top, Some(r))),
        _ => Err(InterviewError::Shape {
            why: "the interview asks a household and one roster under it; this definition has more levels".into(),
        }),
    }
}

/// Whether a question is answered by the interviewer (not a note, not an automatic key).
fn askable(unit: &Unit, q: &Question, roster: bool) -> bool {
    q.qtype != QType::Note && !(q.id == unit.key && (unit.key_auto || (roster && auto_numbered(unit))))
}

/// A roster whose key is a whole number is numbered by the interview: 1, 2, 3 as added.
fn auto_numbered(unit: &Unit) -> bool {
    unit.question(&unit.key).is_some_and(|q| q.qtype == QType::Integer)
}

impl Interview {
    /// A new household interview (a fresh draft, saved at once).
    pub fn start(store: &mut Store, opts: &StartOptions) -> Result<Interview, CaptureError> {
        let def = store.definition(None)?;
        let (top, roster) = shape(&def)?;
        let lang = pick_lang(&def, opts.lang.as_deref())?;
        store.sync_every_commit()?;
        let now = now_iso();
        let head = DraftInterview {
            id: uuid::Uuid::new_v4().to_string(),
            wave: opts.wave,
            version: def.version,
            interviewer: opts.interviewer.clone(),
            started_at: now.clone(),
            updated_at: now,
            status: "open".into(),
            roster_done: roster.is_none(),
            seq: 0,
        };
        let unit = &def.units[top];
        let mut household = Draft {
            uuid: uuid::Uuid::now_v7().to_string(),
            unit: top,
            ordinal: 0,
            removed: None,
            answers: vec![None; unit.questions.len()],
        };
        let auto_key = if unit.key_auto { Some(next_auto_key(store, unit, opts.wave)?) } else { None };
        let w = store.writer()?;
        w.ensure_wave(opts.wave)?;
        w.draft_create(&head)?;
        w.draft_add_record(&head.id, &household.uuid, &unit.id, 0)?;
        if let (Some(k), Some(qi)) = (auto_key, unit.questions.iter().position(|q| q.id == unit.key)) {
            w.draft_answer(&household.uuid, &unit.key, &k.to_string())?;
            household.answers[qi] = Some(k.to_string());
        }
        w.audit(&AuditLine::new(&head.interviewer, "interview", &format!("started interview {}", head.id)).record(&unit.id, &household.uuid))?;
        w.commit()?;
        let lsoa_check = lsoa_checker(store)?;
        Ok(Interview {
            head,
            def: Arc::new(def),
            lang,
            top,
            roster,
            records: vec![household],
            focus: None,
            lsoa_check,
            evaluated: RefCell::default(),
        })
    }

    /// An unfinished interview, by id, at the first question still needing an answer.
    pub fn resume(store: &Store, id: &str, lang: Option<&str>) -> Result<Interview, CaptureError> {
        let mut iv = Interview::load(store, id, lang, &mut HashMap::new())?;
        store.sync_every_commit()?;
        iv.lsoa_check = lsoa_checker(store)?;
        Ok(iv)
    }

    /// An unfinished interview read back, its definition taken from `defs` (by version) or
    /// read into it; without the LSOA check (see [`Interview::resume`]).
    fn load(store: &Store, id: &str, lang: Option<&str>, defs: &mut HashMap<u32, Arc<Definition>>) -> Result<Interview, CaptureError> {
        let Some((head, stored)) = store.draft(id)? else {
            return Err(InterviewError::NoInterview { id: id.to_string() }.into());
        };
        if head.status != "open" {
            return Err(InterviewError::Finished { id: id.to_string() }.into());
        }
        let def = match defs.get(&head.version) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(store.definition(Some(head.version))?);
                defs.insert(head.version, d.clone());
                d
            }
        };
        let (top, roster) = shape(&def)?;
        let lang = pick_lang(&def, lang)?;
        let mut records = Vec::new();
        for s in stored {
            let Some(ui) = def.units.iter().position(|u| u.id == s.unit) else { continue };
            let unit = &def.units[ui];
            let mut answers = vec![None; unit.questions.len()];
            for (q, v) in s.answers {
                if let Some(qi) = unit.questions.iter().position(|x| x.id == q) {
                    answers[qi] = Some(v);
                }
            }
            records.push(Draft {
                uuid: s.record,
                unit: ui,
                ordinal: s.ordinal,
                removed: s.removed,
                answers,
            });
        }
        if records.first().map(|r| r.unit) != Some(top) {
            return Err(InterviewError::NoInterview { id: id.to_string() }.into());
        }
        Ok(Interview {
            head,
            def,
            lang,
            top,
            roster,
            records,
            focus: None,
            lsoa_check: None,
            evaluated: RefCell::default(),
        })
    }

    /// The unfinished interviews (of one wave, or all), most recently touched first.
    pub fn unfinished(store: &Store, wave: Option<i64>) -> Result<Vec<Summary>, CaptureError> {
        let mut defs = HashMap::new();
        let mut out = Vec::new();
        for id in store.open_drafts(wave)? {
            out.push(Interview::load(store, &id, None, &mut defs)?.summary());
        }
        Ok(out)
    }

    /// The interview's id (a UUID).
    pub fn id(&self) -> &str {
        &self.head.id
    }

    /// The last sequence number saved (see [`Interview::answer`]); 0 before any.
    pub fn seq(&self) -> u64 {
        self.head.seq
    }

    /// The wave.
    pub fn wave(&self) -> i64 {
        self.head.wave
    }

    /// The language of the labels.
    pub fn lang(&self) -> &str {
        &self.lang
    }

    /// The text direction of the language: `rtl` for Arabic, Hebrew, Persian, Urdu and the like.
    pub fn direction(&self) -> &'static str {
        let primary = self.lang.split(['-', '_']).next().unwrap_or("");
        if ["ar", "he", "fa", "ur", "ps", "sd", "yi", "dv", "ku", "ckb"].contains(&primary) {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// The definition the interview is asked under.
    pub fn definition(&self) -> &Definition {
        &self.def
    }

    /// Whether the interview is finished.
    pub fn is_finished(&self) -> bool {
        self.head.status != "open"
    }

    /// Saves one answer (see [`Given`]). `seq`: the front end's sequence number for this
    /// interview, increasing with each answer it sends. One at or below the last saved is a
    /// retry: when the answer stored is the same, nothing is written again (`duplicate`);
    /// otherwise it was overtaken by a newer request and is refused, not saved.
    pub fn answer(&mut self, store: &mut Store, record: &str, question: &str, given: Given, seq: Option<u64>) -> Result<Saved, CaptureError> {
        self.check_open()?;
        let r = self.record_index(record)?;
        let qi = self.question_index(r, question)?;
        let unit = &self.def.units[self.records[r].unit];
        let q = &unit.questions[qi];
        let text = match &given {
            Given::Value(s) => s.trim().to_string(),
            Given::NoAnswer => String::new(),
            Given::Refused | Given::DontKnow => match missing_code(q, &given) {
                Some(code) => code,
                None => {
                    let what = if given == Given::Refused { "a refusal" } else { "\"don't know\"" };
                    return Ok(self.saved(false, Some(format!("this question has no code for {what}")), false, Vec::new()));
                }
            },
        };
        if seq.is_some_and(|s| s <= self.head.seq) {
            // a retry of a request already saved; an older request overtaken by a newer one
            // must not overwrite what the newer one saved
            if self.records[r].answers[qi].as_deref() == Some(text.as_str()) {
                return Ok(self.saved(true, None, true, Vec::new()));
            }
            return Ok(self.saved(
                false,
                Some(format!("not saved: request {} arrived after a newer one", seq.unwrap_or(0))),
                false,
                Vec::new(),
            ));
        }
        if !text.is_empty() {
            match parse_answer(q, &text) {
                Err(m) => return Ok(self.saved(false, Some(m), false, Vec::new())),
                Ok((crate::store::Cell::Text(code), _)) if q.qtype == QType::Lsoa => {
                    if let Some(Err(m)) = self.lsoa_check.as_ref().map(|c| c(&code)) {
                        return Ok(self.saved(false, Some(m), false, Vec::new()));
                    }
                }
                Ok(_) => {}
            }
        }
        // a member's answer changes only that member; the household's, every record
        let affected = (r != 0).then_some(r);
        let before = self.relevance_map(affected);
        let old = self.records[r].answers[qi].replace(text.clone());
        self.changed_record(r);
        if let Some(problem) = self.problem(r, qi) {
            self.records[r].answers[qi] = old;
            self.changed_record(r);
            return Ok(self.saved(false, Some(problem), false, Vec::new()));
        }
        let identifier = q.identifier;
        let shown = |v: &str| {
            if identifier && !v.is_empty() {
                "(identifier)".to_string()
            } else {
                v.to_string()
            }
        };
        let (unit_id, qid, uuid) = (unit.id.clone(), q.id.clone(), self.records[r].uuid.clone());
        let new_seq = seq.unwrap_or(self.head.seq).max(self.head.seq);
        let w = store.writer()?;
        w.draft_answer(&uuid, &qid, &text)?;
        if old.as_deref() != Some(text.as_str()) {
            let old_shown = old.as_deref().map(shown).filter(|s| !s.is_empty());
            let new_shown = Some(shown(&text)).filter(|s| !s.is_empty());
            w.audit(
                &AuditLine::new(&self.head.interviewer, "answer", &format!("interview {}", self.head.id))
                    .record(&unit_id, &uuid)
                    .answer(&qid, old_shown.as_deref(), new_shown.as_deref()),
            )?;
        }
        w.draft_touch(&self.head.id, new_seq, self.head.roster_done)?;
        w.commit()?;
        self.head.seq = new_seq;
        if self.focus == Some((r, qi)) {
            self.focus = None;
        }
        let after = self.relevance_map(affected);
        let changes = self.relevance_changes(&before, &after);
        Ok(self.saved(true, None, false, changes))
    }

    /// Adds a member to the roster; returns its record id.
    pub fn add_member(&mut self, store: &mut Store) -> Result<String, CaptureError> {
        self.check_open()?;
        let ui = self.roster.ok_or(InterviewError::NoRoster)?;
        let unit = &self.def.units[ui];
        let ordinal = self.records.iter().map(|r| r.ordinal).max().unwrap_or(0) + 1;
        let key_qi = unit.questions.iter().position(|q| q.id == unit.key);
        let auto = auto_numbered(unit);
        if let (true, Some(qi)) = (auto, key_qi) {
            if let Some(max) = unit.questions[qi].max {
                if f64::from(ordinal) > max {
                    return Err(InterviewError::RosterFull {
                        unit: unit.id.clone(),
                        key: unit.key.clone(),
                        max: max as i64,
                    }
                    .into());
                }
            }
        }
        let mut draft = Draft {
            uuid: uuid::Uuid::now_v7().to_string(),
            unit: ui,
            ordinal,
            removed: None,
            answers: vec![None; unit.questions.len()],
        };
        let w = store.writer()?;
        w.draft_add_record(&self.head.id, &draft.uuid, &unit.id, ordinal)?;
        if let (true, Some(qi)) = (auto, key_qi) {
            w.draft_answer(&draft.uuid, &unit.key, &ordinal.to_string())?;
            draft.answers[qi] = Some(ordinal.to_string());
        }
        w.audit(&AuditLine::new(&self.head.interviewer, "add member", &format!("interview {}", self.head.id)).record(&unit.id, &draft.uuid))?;
        w.draft_touch(&self.head.id, self.head.seq, self.head.roster_done)?;
        w.commit()?;
        let uuid = draft.uuid.clone();
        self.records.push(draft);
        self.changed();
        Ok(uuid)
    }

    /// Removes a member: kept in the draft, marked removed, audited with the reason; not
    /// written when the interview is finished.
    pub fn remove_member(&mut self, store: &mut Store, record: &str, reason: &str) -> Result<(), CaptureError> {
        self.check_open()?;
        if reason.trim().is_empty() {
            return Err(InterviewError::NoReason.into());
        }
        let r = self.record_index(record)?;
        if r == 0 {
            return Err(InterviewError::NoRecord {
                interview: self.head.id.clone(),
                record: record.to_string(),
            }
            .into());
        }
        let unit = self.def.units[self.records[r].unit].id.clone();
        let w = store.writer()?;
        w.draft_remove_record(record, reason.trim())?;
        w.audit(&AuditLine::new(&self.head.interviewer, "remove member", reason.trim()).record(&unit, record))?;
        w.draft_touch(&self.head.id, self.head.seq, self.head.roster_done)?;
        w.commit()?;
        self.records[r].removed = Some(reason.trim().to_string());
        self.changed();
        if self.focus.is_some_and(|(fr, _)| fr == r) {
            self.focus = None;
        }
        Ok(())
    }

    /// The roster is complete (or, with `done` false, open again to add members): each
    /// member's questions come next.
    pub fn roster_done(&mut self, store: &mut Store, done: bool) -> Result<(), CaptureError> {
        self.check_open()?;
        if self.roster.is_none() {
            return Err(InterviewError::NoRoster.into());
        }
        let w = store.writer()?;
        w.draft_touch(&self.head.id, self.head.seq, done)?;
        w.commit()?;
        self.head.roster_done = done;
        Ok(())
    }

    /// Goes back to a question to change its answer: the next [`Interview::step`] shows it.
    pub fn goto(&mut self, record: &str, question: &str) -> Result<(), CaptureError> {
        self.check_open()?;
        let r = self.record_index(record)?;
        let qi = self.question_index(r, question)?;
        self.focus = Some((r, qi));
        Ok(())
    }

    /// Drops an interview nothing was answered in (started, then left at once): marked
    /// `discarded`, audited, no longer listed as unfinished. Returns whether it was; an
    /// interview with any answer or member is kept.
    pub fn discard_if_empty(&mut self, store: &mut Store) -> Result<bool, CaptureError> {
        self.check_open()?;
        let top = &self.def.units[self.top];
        let answered = self.records.len() > 1
            || self.records[0]
                .answers
                .iter()
                .zip(&top.questions)
                .any(|(a, q)| a.is_some() && askable(top, q, false));
        if answered {
            return Ok(false);
        }
        let w = store.writer()?;
        w.audit(&AuditLine::new(&self.head.interviewer, "interview", "discarded: nothing was answered").record(&top.id, &self.records[0].uuid))?;
        w.draft_close(&self.head.id, "discarded")?;
        w.commit()?;
        self.head.status = "discarded".into();
        Ok(true)
    }

    /// Goes back to the answered question before the one [`Interview::step`] shows (in the
    /// order asked: the household, then each member). False when there is none.
    pub fn back(&mut self) -> bool {
        let order = self.asked_order();
        let current = match self.step() {
            Step::Question(p) => order
                .iter()
                .position(|&(r, qi)| self.records[r].uuid == p.record && self.def.units[self.records[r].unit].questions[qi].id == p.question),
            _ => None,
        };
        let before = &order[..current.unwrap_or(order.len())];
        match before.iter().rev().find(|&&(r, qi)| self.records[r].answers[qi].is_some()) {
            Some(&at) => {
                self.focus = Some(at);
                true
            }
            None => false,
        }
    }

    /// Every question asked as things stand, in order: (record, question index). Progress
    /// counts these.
    fn asked_order(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for r in 0..self.records.len() {
            let d = &self.records[r];
            if d.removed.is_some() {
                continue;
            }
            let unit = &self.def.units[d.unit];
            let roster = Some(d.unit) == self.roster;
            self.with_eval(r, |_, relevant| {
                out.extend(
                    (0..unit.questions.len())
                        .filter(|&qi| relevant[qi] && askable(unit, &unit.questions[qi], roster))
                        .map(|qi| (r, qi)),
                )
            });
        }
        out
    }

    /// Leaves a question gone back to without changing it.
    pub fn clear_focus(&mut self) {
        self.focus = None;
    }

    fn check_open(&self) -> Result<(), InterviewError> {
        if self.is_finished() {
            return Err(InterviewError::Finished { id: self.head.id.clone() });
        }
        Ok(())
    }

    fn record_index(&self, record: &str) -> Result<usize, InterviewError> {
        self.records
            .iter()
            .position(|r| r.uuid == record && r.removed.is_none())
            .ok_or_else(|| InterviewError::NoRecord {
                interview: self.head.id.clone(),
                record: record.to_string(),
            })
    }

    fn question_index(&self, r: usize, question: &str) -> Result<usize, InterviewError> {
        let unit = &self.def.units[self.records[r].unit];
        unit.questions
            .iter()
            .position(|q| q.id == question && askable(unit, q, Some(self.records[r].unit) == self.roster))
            .ok_or_else(|| InterviewError::NoQuestion {
                unit: unit.id.clone(),
                question: question.to_string(),
            })
    }

    /// The values of record `r`'s scope as the interview stands: the household's answers (for
    /// a member) and the record's own, each only where its question is relevant, derived
    /// values computed. Returns the values and each own question's relevance.
    /// Kept until an answer or the roster changes: a step, a page and a save each read every
    /// record's values several times, and a long roster must not make each save slower.
    fn evaluate(&self, r: usize) -> (Vec<Value>, Vec<bool>) {
        self.with_eval(r, |values, relevant| (values.to_vec(), relevant.to_vec()))
    }

    /// Calls `f` with record `r`'s values and relevance as [`Interview::evaluate`] keeps them,
    /// without copying them. `f` must not evaluate records itself.
    fn with_eval<T>(&self, r: usize, f: impl FnOnce(&[Value], &[bool]) -> T) -> T {
        self.ensure_evaluated(r);
        let cache = self.evaluated.borrow();
        let (values, relevant) = cache[r].as_ref().expect("evaluated just above");
        f(values, relevant)
    }

    /// Evaluates record `r` into the cache unless it is there.
    fn ensure_evaluated(&self, r: usize) {
        if matches!(self.evaluated.borrow().get(r), Some(Some(_))) {
            return;
        }
        let unit = &self.def.units[self.records[r].unit];
        let mut values = vec![Value::Missing; unit.scope.len()];
        if r != 0 {
            // the household's scope is the start of a member's
            self.ensure_evaluated(0);
            if let Some(Some((household, _))) = self.evaluated.borrow().first() {
                values[..household.len()].clone_from_slice(household);
            }
        }
        let relevant = self.fill(r, &mut values);
        let mut cache = self.evaluated.borrow_mut();
        if cache.len() < self.records.len() {
            cache.resize(self.records.len(), None);
        }
        cache[r] = Some((values, relevant));
    }

    /// Forgets the values kept by [`Interview::evaluate`] (an answer or the roster changed).
    fn changed(&self) {
        self.evaluated.borrow_mut().clear();
    }

    /// Forgets what [`Interview::evaluate`] kept of record `r` (and of every member, whose
    /// scope holds the household's answers, when `r` is the household).
    fn changed_record(&self, r: usize) {
        let mut cache = self.evaluated.borrow_mut();
        if r == 0 {
            cache.clear();
        } else if let Some(slot) = cache.get_mut(r) {
            *slot = None;
        }
    }

    /// Fills record `r`'s own values into `values` (see [`Interview::evaluate`]).
    fn fill(&self, r: usize, values: &mut [Value]) -> Vec<bool> {
        let d = &self.records[r];
        let unit = &self.def.units[d.unit];
        let mut relevant = Vec::with_capacity(unit.questions.len());
        for (qi, q) in unit.questions.iter().enumerate() {
            let rel = q.relevant.as_ref().is_none_or(|c| eval(&c.expr, values, &Value::Missing).bool() == Some(true));
            relevant.push(rel);
            values[q.slot] = match (&d.answers[qi], rel) {
                (Some(text), true) => parse_answer(q, text).map(|(_, v)| v).unwrap_or(Value::Missing),
                _ => Value::Missing,
            };
        }
        for dv in &unit.derived {
            values[dv.slot] = eval(&dv.expr.expr, values, &Value::Missing);
        }
        relevant
    }

    /// What is wrong with the answer (or its absence) to question `qi` of record `r`, when it
    /// was given and the question is relevant: no answer to a required question, a failed
    /// constraint (the definition's message), an answer that cannot be read.
    fn problem(&self, r: usize, qi: usize) -> Option<String> {
        let (values, relevant) = self.evaluate(r);
        self.problem_in(r, qi, &values, &relevant)
    }

    fn problem_in(&self, r: usize, qi: usize, values: &[Value], relevant: &[bool]) -> Option<String> {
        let d = &self.records[r];
        let q = &self.def.units[d.unit].questions[qi];
        let text = d.answers[qi].as_deref()?;
        if !relevant[qi] {
            return None;
        }
        if text.is_empty() {
            let required = match &q.required {
                Required::No => false,
                Required::Yes => true,
                Required::When(c) => eval(&c.expr, values, &Value::Missing).bool() == Some(true),
            };
            return required.then(|| "An answer is needed: this question is required.".to_string());
        }
        if let Err(m) = parse_answer(q, text) {
            return Some(m);
        }
        let c = q.constraint.as_ref()?;
        let v = &values[q.slot];
        if v.is_missing() || eval(&c.expr, values, v).bool() != Some(false) {
            return None;
        }
        Some(match &q.constraint_message {
            Some(m) => m.get(&self.lang).to_string(),
            None => format!("The answer fails the check {}", c.text),
        })
    }

    /// The question relevance of each live record (or of record `only`).
    fn relevance_map(&self, only: Option<usize>) -> Vec<(usize, Vec<bool>)> {
        (0..self.records.len())
            .filter(|&r| self.records[r].removed.is_none() && only.is_none_or(|o| o == r))
            .map(|r| (r, self.with_eval(r, |_, relevant| relevant.to_vec())))
            .collect()
    }

    fn relevance_changes(&self, before: &[(usize, Vec<bool>)], after: &[(usize, Vec<bool>)]) -> Vec<RelevanceChange> {
        let mut out = Vec::new();
        for (r, rel) in after {
            let Some((_, old)) = before.iter().find(|(b, _)| b == r) else { continue };
            let unit = &self.def.units[self.records[*r].unit];
            for (qi, (a, b)) in old.iter().zip(rel).enumerate() {
                if a != b {
                    out.push(RelevanceChange {
                        record: self.records[*r].uuid.clone(),
                        question: unit.questions[qi].id.clone(),
                        relevant: *b,
                    });
                }
            }
        }
        out
    }

    fn saved(&self, accepted: bool, problem: Option<String>, duplicate: bool, relevance: Vec<RelevanceChange>) -> Saved {
        Saved {
            accepted,
            problem,
            duplicate,
            alerts: self.alerts(),
            relevance,
            progress: self.progress(),
        }
    }
}

/// The language to show: the one asked for, which the definition must have, or its first.
fn pick_lang(def: &Definition, lang: Option<&str>) -> Result<String, InterviewError> {
    match lang {
        None => Ok(def.languages.first().cloned().unwrap_or_else(|| "en".into())),
        Some(l) if def.languages.is_empty() || def.languages.iter().any(|x| x == l) => Ok(l.to_string()),
        Some(l) => Err(InterviewError::NoLanguage {
            lang: l.to_string(),
            langs: def.languages.join(", "),
        }),
    }
}

/// The question's missing code for a refusal or "don't know", as the answer's text.
fn missing_code(q: &Question, given: &Given) -> Option<String> {
    let wanted: &[&str] = if *given == Given::Refused {
        &["refused", "refusal", "refuse"]
    } else {
        &["dont_know", "don't know", "dont know", "dk", "don't_know"]
    };
    q.missing
        .iter()
        .find(|m| wanted.contains(&m.label.to_ascii_lowercase().as_str()))
        .map(|m| m.code.to_string())
}

/// The next automatic key of a flat survey's record in a wave: one more than the records and
/// open interviews it has.
fn next_auto_key(store: &Store, unit: &Unit, wave: i64) -> Result<i64, StoreError> {
    Ok(store.count(&unit.id, Some(wave))? + store.open_drafts(Some(wave))?.len() as i64 + 1)
}

#[cfg(test)]
mod tests;
