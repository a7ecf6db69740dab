//! Stage one of a file import: a row read from a source, checked unit by unit (ancestors
//! first) through [`RecordChecker`], each unit's part becoming a scored [`Record`].
//!
//! Owns the row side of checking: which field holds each answer (by the plan), the problems
//! placed by file, line, column and record, and the reuse of a household's part from the
//! previous row when a combined file repeats its columns. It needs no store and runs on its
//! own thread beside the writer when every unit of a file has its questions in the file; it
//! must not touch the store (stage two, in `load`, does).

use super::error::RowProblem;
use super::plan::{record_label, Plan};
use super::record::{Record, RecordChecker, RecordProblem};
use super::source::shown_column;
use crate::schema::expr::Value;
use crate::schema::Unit;

/// A row read and checked by stage one, waiting for stage two (the store).
#[derive(Default)]
pub(crate) struct Checked {
    /// Its line, or the problem reading it.
    pub(crate) line: u64,
    pub(crate) read_error: Option<RowProblem>,
    pub(crate) fields: Vec<String>,
    /// The column shown for each field (see [`super::source::Rows::next_row`]).
    pub(crate) cols: Vec<usize>,
    /// Parts by depth; those below `ok` are checked clean.
    pub(crate) parts: Vec<Option<Record>>,
    pub(crate) ok: usize,
    /// What stage one found wrong (at depth `ok`).
    pub(crate) problems: Vec<RowProblem>,
}

/// Where a row's problems are placed: its file, line and record down to one unit.
pub(crate) struct RowAt<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
    /// The column shown for each field.
    pub(crate) cols: &'a [usize],
    pub(crate) fields: &'a [String],
    pub(crate) lineage: &'a [&'a Unit],
    pub(crate) plan: &'a Plan,
    /// The unit's depth in the lineage.
    pub(crate) depth: usize,
}

impl RowAt<'_> {
    /// A problem of this row's record at `column` (a header index), for `question`.
    pub(crate) fn problem(&self, column: Option<usize>, question: &str, value: Option<&str>, message: String) -> RowProblem {
        RowProblem {
            file: self.file.to_string(),
            line: self.line,
            column: column.and_then(|c| shown_column(self.cols, c)),
            record: Some(record_label(self.lineage, self.plan, self.depth, self.fields)),
            question: Some(question.to_string()),
            value: value.map(str::to_string),
            message,
        }
    }

    /// A record's problem placed on this row: its question's column by the plan.
    pub(crate) fn record_problem(&self, p: RecordProblem) -> RowProblem {
        let column = p.index.and_then(|i| self.plan.cols[self.depth][i]);
        self.problem(column, &p.question, p.value.as_deref(), p.message)
    }

    /// The text of field `column` ("" when absent).
    pub(crate) fn field(&self, column: Option<usize>) -> &str {
        column.and_then(|c| self.fields.get(c)).map(String::as_str).unwrap_or("")
    }
}

/// Stage one of an import, which needs no store: parses a row's answers, checks them and
/// computes derived values and scores, unit by unit, ancestors first.
pub(crate) struct Checker<'a> {
    file: &'a str,
    plan: &'a Plan,
    lineage: &'a [&'a Unit],
    /// One checker per depth.
    records: Vec<RecordChecker<'a>>,
    /// The leaf's scope (ancestors' slots first), reused row by row.
    pub(crate) values: Vec<Value>,
    /// A record's problems, before they are placed on the row.
    found: Vec<RecordProblem>,
    /// Per depth above the leaf: the previous row's part when it was checked clean, and that
    /// row's raw answers (a person file repeats its household's columns on every row).
    last: Vec<Option<(Record, Vec<String>)>>,
}

impl<'a> Checker<'a> {
    /// A checker of `file`'s rows, planned by `plan`; `leaf_scope` is the size of the leaf
    /// unit's scope.
    pub(crate) fn new(file: &'a str, plan: &'a Plan, lineage: &'a [&'a Unit], leaf_scope: usize, lsoa_check: Option<&'a super::areas::LsoaCheck>) -> Self {
        Checker {
            file,
            plan,
            lineage,
            records: lineage.iter().map(|u| RecordChecker::new(u, lsoa_check)).collect(),
            values: vec![Value::Missing; leaf_scope],
            found: Vec::new(),
            last: vec![None; lineage.len()],
        }
    }

    /// Checks depths `from..` of `row` (the ones above come from the store, already in
    /// `values`).
    pub(crate) fn check(&mut self, from: usize, row: &mut Checked) {
        let plan = self.plan;
        row.problems.clear();
        row.ok = from;
        row.parts.resize(plan.depth + 1, None);
        // a part may be taken from the previous row only when everything above it was too
        let mut same_above = from == 0;
        for d in from..=plan.depth {
            let at = RowAt {
                file: self.file,
                line: row.line,
                cols: &row.cols,
                fields: &row.fields,
                lineage: self.lineage,
                plan,
                depth: d,
            };
            let cols = &plan.cols[d];
            let rc = &mut self.records[d];
            let key_raw = at.field(rc.key_index().and_then(|i| cols[i]));
            if let Err(p) = rc.check_key(key_raw) {
                row.problems.push(at.record_problem(p));
                return;
            }
            if d < plan.depth {
                if let Some((part, raw)) = &self.last[d] {
                    let same = cols.iter().flatten().zip(raw).all(|(&c, r)| row.fields.get(c).is_some_and(|f| f == r));
                    if same_above && same {
                        match &mut row.parts[d] {
                            Some(p) => p.clone_from(part),
                            slot => *slot = Some(part.clone()),
                        }
                        row.ok = d + 1;
                        continue;
                    }
                }
                self.last[d] = None;
            }
            same_above = false;
            let values = &mut self.values[..rc.unit().scope.len()];
            let part = row.parts[d].get_or_insert_with(Record::default);
            let answer = |qi: usize| at.field(cols[qi]);
            if !rc.check_answers(answer, values, part, &mut self.found) {
                row.problems.extend(self.found.drain(..).map(|p| at.record_problem(p)));
                return;
            }
            row.ok = d + 1;
            if d < plan.depth {
                let raw = cols.iter().flatten().map(|&c| row.fields.get(c).cloned().unwrap_or_default()).collect();
                self.last[d] = Some((part.clone(), raw));
            }
        }
    }
}
