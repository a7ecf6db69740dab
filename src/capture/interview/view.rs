//! What a front end shows of an interview: the next step, a question as a [`Prompt`], the
//! roster, the review before finishing, progress and alerts. Everything here reads the
//! interview's state; nothing saves (that is the engine's, in `mod.rs`).

use super::{askable, Interview};
use crate::schema::expr::{eval, Value};
use crate::schema::{QType, Required};

/// What to show now.
// one is made per screen shown: boxing the prompt would save nothing worth an indirection
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Ask this question.
    Question(Prompt),
    /// Add a member to the roster, or say it is complete.
    Roster(RosterPrompt),
    /// Every question is answered: review, then finish (or go back).
    Review(Review),
    /// The interview is finished.
    Finished,
}

/// A choice as shown: its value code and label.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceView {
    /// The value code a front end sends back.
    pub value: String,
    /// The label in the interview's language.
    pub label: String,
}

/// One question as a front end shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The record (its UUID).
    pub record: String,
    /// The record's unit.
    pub unit: String,
    /// The member's number on the roster (None for the household).
    pub member: Option<u32>,
    /// The record as named to the interviewer ("Person 2 (34, Female)").
    pub record_name: String,
    /// The question id.
    pub question: String,
    /// Its label.
    pub label: String,
    /// Its hint.
    pub hint: Option<String>,
    /// The notes just before it (an instrument's stem: "Over the last 2 weeks, how often..."),
    /// shown with it, when relevant.
    pub notes: Vec<String>,
    /// Its type.
    pub qtype: QType,
    /// The choices of a select.
    pub choices: Vec<ChoiceView>,
    /// The missing codes (refused, don't know) with their labels.
    pub missing: Vec<ChoiceView>,
    /// The answer given so far, as typed (None: never answered; "" no answer).
    pub current: Option<String>,
    /// The answer as shown (a choice's label).
    pub current_label: Option<String>,
    /// What is wrong with the answer given (a failed check after an earlier answer changed).
    pub problem: Option<String>,
    /// Whether an answer is required.
    pub required: bool,
    /// Whether the question is asked as things stand (false: skipped; an answer given earlier
    /// is kept and flagged until the interview is finished).
    pub relevant: bool,
    /// An automatic key (the member's number): shown, not asked.
    pub read_only: bool,
    /// The question's place among the record's questions (1-based) and how many it has.
    pub position: (usize, usize),
}

/// A record as named on the roster.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView {
    /// The record (its UUID).
    pub record: String,
    /// Its unit.
    pub unit: String,
    /// The member's number on the roster (None for the household).
    pub member: Option<u32>,
    /// Named by its answers: "Person 2 (34, Female)".
    pub name: String,
}

/// The roster step.
#[derive(Debug, Clone, PartialEq)]
pub struct RosterPrompt {
    /// The roster unit.
    pub unit: String,
    /// Its label ("Person").
    pub label: String,
    /// The members so far.
    pub members: Vec<RecordView>,
}

/// A question whose relevance changed with an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RelevanceChange {
    /// The record.
    pub record: String,
    /// The question.
    pub question: String,
    /// Whether it is asked now.
    pub relevant: bool,
}

/// An alert the definition declares, raised by an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The record.
    pub record: String,
    /// The record as named.
    pub record_name: String,
    /// The question whose answer raised it.
    pub question: String,
    /// The text for the interviewer.
    pub message: String,
}

/// Questions answered of those asked so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Answered (an answer, a refusal, or no answer to an optional question).
    pub answered: usize,
    /// Asked as things stand (relevant questions of the household and the members so far).
    pub total: usize,
}

/// An unfinished interview, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The interview id.
    pub id: String,
    /// The wave.
    pub wave: i64,
    /// Who conducts it.
    pub interviewer: String,
    /// When it started.
    pub started_at: String,
    /// When an answer was last saved.
    pub updated_at: String,
    /// The household's key answer, when given.
    pub household: Option<String>,
    /// Members on the roster.
    pub members: usize,
    /// Progress.
    pub progress: Progress,
}

/// Every answer before finishing.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// One section per record.
    pub sections: Vec<ReviewSection>,
    /// What stops finishing, one line each.
    pub problems: Vec<String>,
    /// Whether the interview can be finished.
    pub can_finish: bool,
}

/// One record's answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewSection {
    /// The record.
    pub record: String,
    /// Its name.
    pub title: String,
    /// Its answers.
    pub lines: Vec<ReviewLine>,
}

/// One answer in the review.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewLine {
    /// The question.
    pub question: String,
    /// Its label.
    pub label: String,
    /// The answer as shown ("(no answer)", "(not yet asked)").
    pub answer: String,
    /// An answer kept although the question is now skipped: dropped when finished.
    pub irrelevant: bool,
}

impl Interview {
    /// What to show now: a question gone back to, else the first question still needing an
    /// answer (never answered, or failing a check since an earlier answer changed), the roster
    /// once the household is done, each member's questions, then the review.
    pub fn step(&self) -> Step {
        if self.is_finished() {
            return Step::Finished;
        }
        if let Some((r, qi)) = self.focus {
            return Step::Question(self.prompt(r, qi));
        }
        if let Some(p) = self.first_open(0) {
            return Step::Question(p);
        }
        if self.roster.is_some() && !self.head.roster_done {
            return Step::Roster(self.roster_prompt());
        }
        for r in 1..self.records.len() {
            if self.records[r].removed.is_none() {
                if let Some(p) = self.first_open(r) {
                    return Step::Question(p);
                }
            }
        }
        Step::Review(self.review())
    }

    /// The first question of record `r` needing an answer.
    fn first_open(&self, r: usize) -> Option<Prompt> {
        let d = &self.records[r];
        let unit = &self.def.units[d.unit];
        let (values, relevant) = self.evaluate(r);
        let roster = Some(d.unit) == self.roster;
        (0..unit.questions.len())
            .find(|&qi| {
                askable(unit, &unit.questions[qi], roster) && relevant[qi] && (d.answers[qi].is_none() || self.problem_in(r, qi, &values, &relevant).is_some())
            })
            .map(|qi| self.prompt(r, qi))
    }

    /// The roster step's view.
    fn roster_prompt(&self) -> RosterPrompt {
        let unit = &self.def.units[self.roster.unwrap_or(self.top)];
        RosterPrompt {
            unit: unit.id.clone(),
            label: unit
                .label
                .as_ref()
                .map(|l| l.get(&self.lang).to_string())
                .unwrap_or_else(|| title_case(&unit.id)),
            members: self.records().into_iter().skip(1).collect(),
        }
    }

    /// Question `qi` of record `r` as a prompt.
    fn prompt(&self, r: usize, qi: usize) -> Prompt {
        let d = &self.records[r];
        let unit = &self.def.units[d.unit];
        let q = &unit.questions[qi];
        let (values, relevant) = self.evaluate(r);
        let lang = &self.lang;
        let choices: Vec<_> = q
            .choices
            .iter()
            .flat_map(|l| l.choices.iter())
            .map(|c| ChoiceView {
                value: c.value.to_string(),
                label: c.label.get(lang).to_string(),
            })
            .collect();
        let missing: Vec<_> = q
            .missing
            .iter()
            .map(|m| ChoiceView {
                value: m.code.to_string(),
                label: missing_label(&m.label),
            })
            .collect();
        let current = d.answers[qi].clone();
        let current_label = current.as_deref().map(|t| shown_answer(t, &choices, &missing, q.qtype));
        let required = match &q.required {
            Required::No => false,
            Required::Yes => true,
            Required::When(c) => eval(&c.expr, &values, &Value::Missing).bool() == Some(true),
        };
        let roster = Some(d.unit) == self.roster;
        let askables: Vec<usize> = (0..unit.questions.len()).filter(|&i| askable(unit, &unit.questions[i], roster)).collect();
        let pos = askables.iter().position(|&i| i == qi).map_or(0, |p| p + 1);
        Prompt {
            record: d.uuid.clone(),
            unit: unit.id.clone(),
            member: (r != 0).then_some(d.ordinal),
            record_name: self.record_name(r),
            question: q.id.clone(),
            label: q.label.get(lang).to_string(),
            hint: q.hint.as_ref().map(|h| h.get(lang).to_string()),
            notes: unit.questions[..qi]
                .iter()
                .enumerate()
                .rev()
                .take_while(|(_, n)| n.qtype == QType::Note)
                .filter(|&(ni, _)| relevant[ni])
                .map(|(_, n)| n.label.get(lang).to_string())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect(),
            qtype: q.qtype,
            choices,
            missing,
            current,
            current_label,
            problem: self.problem_in(r, qi, &values, &relevant),
            required,
            relevant: relevant[qi],
            read_only: !askable(unit, q, roster),
            position: (pos, askables.len()),
        }
    }

    /// One question of one record as a prompt (None: no such record or question).
    pub fn question_prompt(&self, record: &str, question: &str) -> Option<Prompt> {
        let r = self.record_index(record).ok()?;
        let unit = &self.def.units[self.records[r].unit];
        let qi = unit.questions.iter().position(|q| q.id == question && q.qtype != QType::Note)?;
        Some(self.prompt(r, qi))
    }

    /// Every question of one record (notes aside), relevant or not, in order: for a page that
    /// shows a record's questions together.
    pub fn record_prompts(&self, record: &str) -> Vec<Prompt> {
        let Ok(r) = self.record_index(record) else { return Vec::new() };
        let unit = &self.def.units[self.records[r].unit];
        (0..unit.questions.len())
            .filter(|&qi| unit.questions[qi].qtype != QType::Note)
            .map(|qi| self.prompt(r, qi))
            .collect()
    }

    /// The household, then the members not removed, in the order they were added.
    pub fn records(&self) -> Vec<RecordView> {
        (0..self.records.len())
            .filter(|&r| self.records[r].removed.is_none())
            .map(|r| RecordView {
                record: self.records[r].uuid.clone(),
                unit: self.def.units[self.records[r].unit].id.clone(),
                member: (r != 0).then_some(self.records[r].ordinal),
                name: self.record_name(r),
            })
            .collect()
    }

    /// A record named by its answers: "Household H12", "Person 2 (Spouse, 34)": the key, then
    /// its first identifier text (a first name) when it has one, and the answers to its first
    /// whole-number and single-choice questions (a relationship, an age), two in all.
    pub(super) fn record_name(&self, r: usize) -> String {
        let d = &self.records[r];
        let unit = &self.def.units[d.unit];
        let label = unit
            .label
            .as_ref()
            .map(|l| l.get(&self.lang).to_string())
            .unwrap_or_else(|| title_case(&unit.id));
        let key = unit.questions.iter().position(|q| q.id == unit.key).and_then(|qi| d.answers[qi].clone());
        let mut name = match key.filter(|k| !k.is_empty()) {
            Some(k) => format!("{label} {k}"),
            None if r == 0 => label,
            None => format!("{label} {}", d.ordinal),
        };
        if r == 0 {
            return name;
        }
        let mut parts = Vec::new();
        let first_name = unit
            .questions
            .iter()
            .enumerate()
            .find(|(_, q)| q.identifier && q.qtype == QType::Text)
            .and_then(|(qi, _)| d.answers[qi].clone())
            .filter(|s| !s.is_empty());
        if let Some(n) = first_name {
            parts.push(n);
        }
        // the first few questions only: the ones that say who a member is (a relationship, an age)
        for (qi, q) in unit.questions.iter().enumerate().take(5) {
            if parts.len() >= 2 || q.id == unit.key || q.identifier || !matches!(q.qtype, QType::Integer | QType::SelectOne) {
                continue;
            }
            let Some(text) = d.answers[qi].as_deref().filter(|s| !s.is_empty()) else {
                continue;
            };
            let choices: Vec<ChoiceView> = q
                .choices
                .iter()
                .flat_map(|l| l.choices.iter())
                .map(|c| ChoiceView {
                    value: c.value.to_string(),
                    label: c.label.get(&self.lang).to_string(),
                })
                .collect();
            if q.missing_code(text).is_none() && !q.missing.iter().any(|m| m.code.to_string() == text) {
                parts.push(shown_answer(text, &choices, &[], q.qtype));
            }
        }
        if !parts.is_empty() {
            name = format!("{name} ({})", parts.join(", "));
        }
        name
    }

    /// Questions answered of those asked as things stand.
    pub fn progress(&self) -> Progress {
        let asked = self.asked_order();
        Progress {
            answered: asked.iter().filter(|&&(r, qi)| self.records[r].answers[qi].is_some()).count(),
            total: asked.len(),
        }
    }

    /// The alerts the answers so far raise (a question's `alert:` true of its answer).
    pub fn alerts(&self) -> Vec<Alert> {
        let mut out = Vec::new();
        for r in 0..self.records.len() {
            let d = &self.records[r];
            let unit = &self.def.units[d.unit];
            if d.removed.is_some() || !unit.questions.iter().any(|q| q.alert.is_some()) {
                continue;
            }
            let raised: Vec<usize> = self.with_eval(r, |values, relevant| {
                (0..unit.questions.len())
                    .filter(|&qi| {
                        let q = &unit.questions[qi];
                        let (Some(a), true) = (&q.alert, relevant[qi]) else { return false };
                        let v = &values[q.slot];
                        !v.is_missing() && eval(&a.expr, values, v).bool() == Some(true)
                    })
                    .collect()
            });
            for qi in raised {
                let q = &unit.questions[qi];
                out.push(Alert {
                    record: d.uuid.clone(),
                    record_name: self.record_name(r),
                    question: q.id.clone(),
                    message: q.alert_message.as_ref().map(|m| m.get(&self.lang).to_string()).unwrap_or_default(),
                });
            }
        }
        out
    }

    /// Every answer, what stops finishing, and whether it can be finished.
    pub fn review(&self) -> Review {
        let mut sections = Vec::new();
        let mut problems = Vec::new();
        for r in 0..self.records.len() {
            let d = &self.records[r];
            if d.removed.is_some() {
                continue;
            }
            let unit = &self.def.units[d.unit];
            let (values, relevant) = self.evaluate(r);
            let title = self.record_name(r);
            let mut lines = Vec::new();
            for (qi, q) in unit.questions.iter().enumerate() {
                if q.qtype == QType::Note || (!relevant[qi] && d.answers[qi].as_deref().unwrap_or("").is_empty()) {
                    continue;
                }
                let prompt_label = q.label.get(&self.lang).to_string();
                let answer = match d.answers[qi].as_deref() {
                    None => {
                        problems.push(format!("{title}: '{}' is not answered yet", q.id));
                        "(not yet asked)".to_string()
                    }
                    Some("") => "(no answer)".to_string(),
                    Some(t) => self.prompt(r, qi).current_label.unwrap_or_else(|| t.to_string()),
                };
                if let Some(p) = self.problem_in(r, qi, &values, &relevant) {
                    problems.push(format!("{title}: '{}': {p}", q.id));
                }
                lines.push(ReviewLine {
                    question: q.id.clone(),
                    label: prompt_label,
                    answer,
                    irrelevant: !relevant[qi],
                });
            }
            sections.push(ReviewSection {
                record: d.uuid.clone(),
                title,
                lines,
            });
        }
        if let Some(ui) = self.roster {
            if sections.len() < 2 {
                problems.push(format!("the roster has no {}: add at least one", self.def.units[ui].id));
            }
            if !self.head.roster_done {
                problems.push("the roster is not complete yet".to_string());
            }
        }
        Review {
            can_finish: problems.is_empty(),
            sections,
            problems,
        }
    }

    /// The interview as listed among the unfinished ones.
    pub fn summary(&self) -> Summary {
        let top = &self.def.units[self.top];
        let household = top
            .questions
            .iter()
            .position(|q| q.id == top.key)
            .and_then(|qi| self.records[0].answers[qi].clone())
            .filter(|s| !s.is_empty());
        Summary {
            id: self.head.id.clone(),
            wave: self.head.wave,
            interviewer: self.head.interviewer.clone(),
            started_at: self.head.started_at.clone(),
            updated_at: self.head.updated_at.clone(),
            household,
            members: self.records.iter().skip(1).filter(|d| d.removed.is_none()).count(),
            progress: self.progress(),
        }
    }
}

/// "refused" -> "Refused", "dont_know" -> "Don't know".
fn missing_label(label: &str) -> String {
    match label.to_ascii_lowercase().as_str() {
        "dont_know" | "dont know" | "don't know" | "dk" => "Don't know".into(),
        "refused" | "refusal" => "Refused".into(),
        other => title_case(&other.replace('_', " ")),
    }
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// An answer as shown: a choice's or missing code's label, "Yes"/"No" for a boolean.
fn shown_answer(text: &str, choices: &[ChoiceView], missing: &[ChoiceView], qtype: QType) -> String {
    if let Some(m) = missing.iter().find(|m| m.value == text) {
        return m.label.clone();
    }
    match qtype {
        QType::SelectOne => choices.iter().find(|c| c.value == text).map_or_else(|| text.to_string(), |c| c.label.clone()),
        QType::SelectMultiple => text
            .split_whitespace()
            .map(|p| choices.iter().find(|c| c.value == p).map_or(p, |c| c.label.as_str()))
            .collect::<Vec<_>>()
            .join("; "),
        QType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => "Yes".into(),
            "false" | "0" | "no" => "No".into(),
            _ => text.to_string(),
        },
        _ => text.to_string(),
    }
}
