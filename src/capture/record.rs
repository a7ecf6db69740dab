//! Checking one record: a unit's answers, given as text question by question, parsed and
//! checked against the definition (types, choices, ranges, missing codes, LSOA codes, skip
//! logic, required questions, constraints), its derived variables and scores computed, and
//! its content hash taken.
//!
//! Owns [`RecordChecker`], [`Record`] and [`content_hash`]: the one path by which answers
//! become the cells the store keeps, for a file import and for whatever else captures a record
//! (a merge, an edit, an interview). It reads no files and must not touch the store: matching
//! and writing a record are [`super::write`]'s, rows and lines the import's.

use std::sync::Arc;

use super::answer::{check_and_derive, derived_cell, parse_answer};
use super::areas::LsoaCheck;
use crate::schema::expr::{ExprType, Value};
use crate::schema::{QType, Unit};
use crate::store::{Cell, Column};

/// One unit's record, checked and scored: what the store keeps of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The unit's columns in [`crate::store::unit_columns`] order: answers (identifiers
    /// included, notes left out), then derived values.
    pub cells: Vec<Cell>,
    /// [`content_hash`] of the answers (derived values aside).
    pub hash: u64,
    /// The key's cell.
    pub key: Cell,
    /// The key as messages and lookups write it ([`cell_text`] of `key`).
    pub key_text: String,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            cells: Vec::new(),
            hash: 0,
            key: Cell::Null,
            key_text: String::new(),
        }
    }
}

/// A problem with one record's answers.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordProblem {
    /// The question (or the key question) at fault.
    pub question: String,
    /// Its index among the unit's questions, when it is one of them.
    pub index: Option<usize>,
    /// The answer as given, when it is at fault.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Checks the records of one unit, reusing its buffers record after record.
pub struct RecordChecker<'a> {
    unit: &'a Unit,
    /// Position of the key among the unit's questions.
    key_index: Option<usize>,
    lsoa_check: Option<&'a LsoaCheck>,
    /// The answers' cells in question order (notes included, always Null).
    q_cells: Vec<Cell>,
}

impl<'a> RecordChecker<'a> {
    /// A checker of `unit`'s records; `lsoa_check` checks LSOA codes against loaded geography
    /// (None: their format only).
    pub fn new(unit: &'a Unit, lsoa_check: Option<&'a LsoaCheck>) -> Self {
        RecordChecker {
            unit,
            key_index: unit.questions.iter().position(|q| q.id == unit.key),
            lsoa_check,
            q_cells: Vec::new(),
        }
    }

    /// The unit checked.
    pub fn unit(&self) -> &'a Unit {
        self.unit
    }

    /// The index of the unit's key among its questions.
    pub fn key_index(&self) -> Option<usize> {
        self.key_index
    }

    /// Checks the key's text as given: present, and free of control characters.
    pub fn check_key(&self, raw: &str) -> Result<(), RecordProblem> {
        let unit = self.unit;
        if raw.trim().is_empty() {
            return Err(RecordProblem {
                question: unit.key.clone(),
                index: self.key_index,
                value: None,
                message: format!("no value for the key of unit '{}'", unit.id),
            });
        }
        if let Some(message) = control_in_key(raw) {
            return Err(RecordProblem {
                question: unit.key.clone(),
                index: self.key_index,
                value: Some(raw.to_string()),
                message,
            });
        }
        Ok(())
    }

    /// Checks one record: its key ([`Self::check_key`]), then its answers
    /// ([`Self::check_answers`]). See there for `answer`, `values` and `out`.
    pub fn check<'r>(&mut self, answer: impl Fn(usize) -> &'r str, values: &mut [Value], out: &mut Record, problems: &mut Vec<RecordProblem>) -> bool {
        let key = self.key_index.map_or("", &answer);
        if let Err(p) = self.check_key(key) {
            problems.push(p);
            return false;
        }
        self.check_answers(answer, values, out, problems)
    }

    /// Checks one record's answers, the key's check aside. `answer(i)` is the text given for
    /// the unit's question `i` ("" for none). `values` is the record's scope: the ancestors'
    /// values in place, the unit's own filled here. Returns whether the record is clean: then
    /// `out` holds it, scored; otherwise the problems are pushed to `problems` (every answer
    /// that cannot be read, or else every failed check) and `out` is left as it was.
    pub fn check_answers<'r>(&mut self, answer: impl Fn(usize) -> &'r str, values: &mut [Value], out: &mut Record, problems: &mut Vec<RecordProblem>) -> bool {
        let unit = self.unit;
        let before = problems.len();
        self.q_cells.clear();
        for (qi, q) in unit.questions.iter().enumerate() {
            if q.qtype == QType::Note {
                self.q_cells.push(Cell::Null);
                continue;
            }
            let raw = answer(qi);
            let problem = |message: String| RecordProblem {
                question: q.id.clone(),
                index: Some(qi),
                value: Some(raw.to_string()),
                message,
            };
            match parse_answer(q, raw) {
                Ok((cell, v)) => {
                    if q.qtype == QType::Lsoa {
                        if let (Cell::Text(code), Some(check)) = (&cell, self.lsoa_check) {
                            if let Err(m) = check(code) {
                                problems.push(problem(m));
                            }
                        }
                    }
                    values[q.slot] = v;
                    self.q_cells.push(cell);
                }
                Err(m) => {
                    problems.push(problem(m));
                    self.q_cells.push(Cell::Null);
                }
            }
        }
        if problems.len() > before {
            return false;
        }
        for ap in check_and_derive(unit, values, &self.q_cells) {
            let index = unit.questions.iter().position(|q| q.id == ap.question);
            let value = index.map(&answer).filter(|s| !s.is_empty()).map(str::to_string);
            problems.push(RecordProblem {
                question: ap.question,
                index,
                value,
                message: ap.message,
            });
        }
        if problems.len() > before {
            return false;
        }
        out.key = self.q_cells[self.key_index.unwrap_or(0)].clone();
        out.key_text = cell_text(&out.key);
        out.cells.clear();
        out.cells.extend(
            unit.questions
                .iter()
                .zip(self.q_cells.drain(..))
                .filter(|(q, _)| q.qtype != QType::Note)
                .map(|(_, c)| c),
        );
        out.hash = content_hash(&out.cells);
        out.cells.extend(unit.derived.iter().map(|dv| derived_cell(&values[dv.slot])));
        true
    }
}

/// Reads a key as given into its cell: the key only, for a record that must exist already.
pub fn parse_key(unit: &Unit, raw: &str) -> Result<Cell, RecordProblem> {
    let checker = RecordChecker::new(unit, None);
    checker.check_key(raw)?;
    let problem = |message: String| RecordProblem {
        question: unit.key.clone(),
        index: checker.key_index,
        value: Some(raw.to_string()),
        message,
    };
    let Some(q) = checker.key_index.map(|i| &unit.questions[i]) else {
        return Err(problem(format!("unit '{}' has no key question", unit.id)));
    };
    parse_answer(q, raw).map(|(c, _)| c).map_err(problem)
}

/// Why a key's text is refused, if it holds a control character (NUL, a newline or tab inside
/// it, an escape): a key names its record in files and messages, and must show as typed.
/// Surrounding white space is trimmed as for any answer.
fn control_in_key(raw: &str) -> Option<String> {
    let c = raw.trim().chars().find(|&c| crate::text::is_unsafe(c))?;
    Some(format!(
        "a key cannot hold control characters (this one holds {}): correct the key in the file",
        crate::text::escape(&c.to_string())
    ))
}

/// The content hash that tells a re-import from a conflict: the cells' types and values fed as
/// 64-bit words through MurmurHash3's mixing steps. Stored with every record: a change here
/// would make every re-import of an unchanged record a conflict (a test pins its values).
pub fn content_hash(cells: &[Cell]) -> u64 {
    const C1: u64 = 0x87c37b91114253d5;
    const C2: u64 = 0x4cf5ad432745937f;
    let mut h: u64 = 0x9368e53c2f6af274;
    let mut feed = |w: u64| {
        h ^= w.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h = h.rotate_left(27).wrapping_mul(5).wrapping_add(0x52dce729);
    };
    for c in cells {
        match c {
            Cell::Null => feed(0xa1),
            Cell::Int(v) => {
                feed(0xa2);
                feed(*v as u64);
            }
            Cell::Real(v) => {
                feed(0xa3);
                feed(v.to_bits());
            }
            Cell::Text(s) => {
                feed(0xa4 ^ ((s.len() as u64) << 8));
                for chunk in s.as_bytes().chunks(8) {
                    let mut w = [0u8; 8];
                    w[..chunk.len()].copy_from_slice(chunk);
                    feed(u64::from_le_bytes(w));
                }
            }
        }
    }
    // fmix64
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ceb9fe1a85ec53);
    h ^ (h >> 33)
}

/// A cell as an answer is written in a file: "" for no answer.
pub fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Int(v) => v.to_string(),
        Cell::Real(v) => v.to_string(),
        Cell::Text(s) => s.clone(),
    }
}

/// Turns stored cells back into expression values (for a record read from the store).
pub fn cells_to_values(unit: &Unit, cells: &[Cell], columns: &[Column], values: &mut [Value]) {
    for (c, cell) in columns.iter().zip(cells) {
        if c.derived {
            if let Some(d) = unit.derived.iter().find(|d| d.id == c.name) {
                values[d.slot] = match cell {
                    Cell::Null => Value::Missing,
                    Cell::Int(v) if d.expr.ty == ExprType::Bool => Value::Bool(*v != 0),
                    Cell::Int(v) => Value::Num(*v as f64),
                    Cell::Real(v) => Value::Num(*v),
                    Cell::Text(s) => Value::Text(Arc::from(s.as_str())),
                };
            }
            continue;
        }
        let Some(q) = unit.question(&c.name) else {
            continue;
        };
        let text = cell_text(cell);
        values[q.slot] = parse_answer(q, &text).map(|(_, v)| v).unwrap_or(Value::Missing);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::schema::Definition;

    fn tiny() -> Definition {
        crate::schema::load_str(include_str!("../../fixtures/import/tiny.yaml"), "tiny.yaml").unwrap()
    }

    /// Checks `answers` (by question id) as a record of `unit`, with `scope` values in place.
    fn check(def: &Definition, unit: &str, answers: &[(&str, &str)], values: &mut [Value]) -> Result<Record, Vec<RecordProblem>> {
        let unit = def.unit(unit).unwrap();
        let by_id: HashMap<&str, &str> = answers.iter().copied().collect();
        let mut checker = RecordChecker::new(unit, None);
        let (mut out, mut problems) = (Record::default(), Vec::new());
        let answer = |i: usize| by_id.get(unit.questions[i].id.as_str()).copied().unwrap_or("");
        if checker.check(answer, &mut values[..unit.scope.len()], &mut out, &mut problems) {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    #[test]
    fn a_record_checked_from_answers_by_question() {
        let def = tiny();
        let mut values = vec![Value::Missing; def.leaf_unit().scope.len()];
        let hh = check(&def, "household", &[("household_id", " H1 "), ("area", "2"), ("rooms", "4")], &mut values).unwrap();
        assert_eq!((hh.key.clone(), hh.key_text.as_str()), (Cell::Text("H1".into()), "H1"));
        // answers in question order (the identifier included), no derived values in this unit
        let answers = [Cell::Text("H1".into()), Cell::Int(2), Cell::Int(4), Cell::Null, Cell::Null];
        assert_eq!(hh.cells, answers);
        assert_eq!(hh.hash, content_hash(&answers));
        // a person below it: its scope holds the household's values
        let p = check(
            &def,
            "person",
            &[("person_id", "1"), ("age", "44"), ("sex", "1"), ("smoker", "yes"), ("cigarettes", "10")],
            &mut values,
        )
        .unwrap();
        assert_eq!(p.key, Cell::Int(1));
        assert_eq!(p.cells[4], Cell::Int(10));
    }

    #[test]
    fn problems_name_the_question_its_index_and_the_value() {
        let def = tiny();
        let mut values = vec![Value::Missing; def.leaf_unit().scope.len()];
        // unreadable answers are all reported, before any rule is checked
        let e = check(&def, "household", &[("household_id", "H1"), ("area", "9"), ("rooms", "x")], &mut values).unwrap_err();
        let got: Vec<(&str, Option<usize>, Option<&str>)> = e.iter().map(|p| (p.question.as_str(), p.index, p.value.as_deref())).collect();
        assert_eq!(got, [("area", Some(1), Some("9")), ("rooms", Some(2), Some("x"))]);
        // rules: a required question unanswered (no value to show), a skipped one answered
        let e = check(
            &def,
            "person",
            &[("person_id", "2"), ("sex", "1"), ("smoker", "no"), ("cigarettes", "5")],
            &mut values,
        )
        .unwrap_err();
        let got: Vec<(&str, Option<&str>)> = e.iter().map(|p| (p.question.as_str(), p.value.as_deref())).collect();
        assert_eq!(got, [("age", None), ("cigarettes", Some("5"))]);
        assert!(e[1].message.contains("skipped"), "{}", e[1].message);
        // the key first: absent, or holding a control character
        let e = check(&def, "household", &[("area", "1")], &mut values).unwrap_err();
        assert_eq!((e[0].question.as_str(), e[0].index, e[0].value.as_deref()), ("household_id", Some(0), None));
        let e = check(&def, "household", &[("household_id", "H\n1"), ("area", "1")], &mut values).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("control characters"), "{}", e[0].message);
    }

    #[test]
    fn parse_key_reads_or_refuses_a_key() {
        let def = tiny();
        let person = def.unit("person").unwrap();
        assert_eq!(parse_key(person, " 3 "), Ok(Cell::Int(3)));
        assert_eq!(parse_key(person, "three").unwrap_err().value.as_deref(), Some("three"));
        assert_eq!(parse_key(person, "").unwrap_err().value, None);
    }

    #[test]
    fn r15_control_characters_in_keys() {
        assert!(control_in_key("H1").is_none());
        assert!(control_in_key(" H1\t").is_none(), "surrounding white space is trimmed");
        assert!(control_in_key("H\u{0}1").unwrap().contains("\\u{0}"));
        assert!(control_in_key("H\n1").unwrap().contains("\\n"));
        assert!(control_in_key("H\u{1b}[2J").is_some());
    }

    /// Every stored record carries its hash: a re-import of an unchanged record is told from a
    /// conflict by it, so a changed hash would turn every re-import into conflicts.
    #[test]
    fn r16_content_hash_values_are_pinned() {
        let cases: Vec<(Vec<Cell>, u64)> = vec![
            (vec![], 0xdc7ef3b1567ca2af),
            (vec![Cell::Null], 0x0199bc50d91eba7c),
            (vec![Cell::Int(0)], 0x84b3d46d062deab3),
            (vec![Cell::Int(-1)], 0xb45571f36b094b29),
            (vec![Cell::Real(1.5)], 0x45d0819762d02b9c),
            (vec![Cell::Text(String::new())], 0xd98291045d248406),
            (vec![Cell::Text("H1".into())], 0x2d6222b004e3720b),
            (vec![Cell::Text("a text longer than eight bytes, é".into())], 0x1a79e367a8fc1420),
            (
                vec![Cell::Text("H1".into()), Cell::Int(2), Cell::Int(4), Cell::Null, Cell::Real(1.62)],
                0x79a8952c4f2e3e64,
            ),
        ];
        for (cells, want) in cases {
            assert_eq!(content_hash(&cells), want, "{cells:?}");
        }
    }
}
