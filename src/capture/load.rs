//! Stage two of a file import: checked rows matched to the records of the store and of the
//! import so far, and written, in the order read, through a [`RecordWriter`].
//!
//! Owns what an import knows across rows: the records it has met and where (a record appears
//! once in an import: a second time is a duplicate naming both places), a household's
//! repeated columns agreeing row after row, a person file referring to its households by key,
//! conflicts with the store described by their first differing answer, one savepoint per row
//! with `skip_invalid`, and the counts, problems and rejects of the import. It must not parse
//! or check answers (stage one, in `check`) nor open files.

use super::check::{Checked, Checker, RowAt};
use super::error::{CaptureError, RowProblem, MAX_REPORTED};
use super::plan::Plan;
use super::record::{cell_text, cells_to_values, parse_key, Record};
use super::write::{Inserted, Match, RecordWriter};
use crate::schema::expr::Value;
use crate::schema::Unit;
use crate::store::Cell;

/// Why a record met twice in an import is a duplicate.
const ONCE: &str = "a record appears once in an import";

/// Problems past this many stop an import without `skip_invalid` (the count is reported).
pub(crate) const STOP_AFTER: usize = 10_000;

/// Per-unit state of an import.
#[derive(Default)]
struct UnitState {
    /// New records.
    added: u64,
    /// Records found in the store with the same answers.
    unchanged: u64,
    /// Records of a unit above the leaf met in this import (written by a row, or found in the
    /// store identical): (parent rowid, key text) -> (rowid, content hash). Leaf records are
    /// not kept by key: their duplicates are found through the store and `met`.
    seen: foldhash::HashMap<i64, foldhash::HashMap<String, (i64, u64)>>,
    /// Where each record this import has given answers for was first met, by rowid.
    met: Places,
    /// Rows inserted by this import (parents only).
    new_rowids: foldhash::HashSet<i64>,
    /// The last parent record read back from the store, with its scope values.
    last: Option<(i64, Vec<Value>)>,
}

impl UnitState {
    fn seen(&self, parent: i64, key: &str) -> Option<&(i64, u64)> {
        self.seen.get(&parent)?.get(key)
    }
}

/// Where a record was first met in an import: the file (its index among the files read) and
/// the line, packed in one nonzero word (file in the top 16 bits).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place(u64);

impl Place {
    fn new(file: usize, line: u64) -> Place {
        Place(((file as u64) << 48) | (line & ((1 << 48) - 1)))
    }
    fn file(self) -> usize {
        (self.0 >> 48) as usize
    }
    fn line(self) -> u64 {
        self.0 & ((1 << 48) - 1)
    }
}

/// Places of the records of one unit met in an import, by rowid. The records an import
/// inserts get consecutive rowids (SQLite appends at the largest rowid plus one), and so do
/// records matched in order by a re-import: those are kept in a vector (8 bytes a record),
/// the others in a map.
#[derive(Debug, Default)]
struct Places {
    base: i64,
    /// Place of rowid `base + i`, or 0 for none.
    dense: Vec<u64>,
    sparse: foldhash::HashMap<i64, u64>,
}

impl Places {
    /// A gap in the rowids up to this wide is filled rather than sent to the map.
    const GAP: usize = 64;

    fn index(&self, rowid: i64) -> Option<usize> {
        rowid.checked_sub(self.base).and_then(|i| usize::try_from(i).ok())
    }

    fn get(&self, rowid: i64) -> Option<Place> {
        let dense = self.index(rowid).and_then(|i| self.dense.get(i)).copied().filter(|&p| p != 0);
        dense.or_else(|| self.sparse.get(&rowid).copied()).map(Place)
    }

    fn insert(&mut self, rowid: i64, place: Place) {
        if self.dense.is_empty() {
            self.base = rowid;
        }
        match self.index(rowid) {
            Some(i) if i < self.dense.len() => self.dense[i] = place.0,
            Some(i) if i <= self.dense.len() + Self::GAP => {
                self.dense.resize(i, 0);
                self.dense.push(place.0);
            }
            _ => {
                self.sparse.insert(rowid, place.0);
            }
        }
    }

    fn remove(&mut self, rowid: i64) {
        if let Some(slot) = self.index(rowid).and_then(|i| self.dense.get_mut(i)) {
            *slot = 0;
        }
        self.sparse.remove(&rowid);
    }
}

/// A row rejected with `skip_invalid`, for the rejects file.
pub(crate) struct Reject {
    pub(crate) file: String,
    pub(crate) line: u64,
    /// Its problems, joined.
    pub(crate) reason: String,
    /// The row as read (empty when it could not be read).
    pub(crate) fields: Vec<String>,
}

/// What stage two ends with.
pub(crate) struct Loaded {
    /// New records per unit.
    pub(crate) added: Vec<(String, u64)>,
    /// Records found unchanged per unit.
    pub(crate) unchanged: Vec<(String, u64)>,
    /// The first problems (at most [`MAX_REPORTED`]).
    pub(crate) problems: Vec<RowProblem>,
    /// How many problems in all.
    pub(crate) total_problems: usize,
    pub(crate) rejects: Vec<Reject>,
    /// Data rows read.
    pub(crate) rows_read: u64,
}

/// The record a row has placed at the depth above the one being placed.
#[derive(Default, Clone, Copy)]
struct Parent {
    rowid: Option<i64>,
    /// Inserted by this import (then its children are new too).
    new: bool,
    /// Inserted by this row (then it has no children yet).
    inserted_here: bool,
}

impl Parent {
    fn at(rowid: i64, new: bool, inserted_here: bool) -> Parent {
        Parent {
            rowid: Some(rowid),
            new,
            inserted_here,
        }
    }
}

/// Stage two of an import: matches checked rows to records in the store and writes them, in
/// the order read.
pub(crate) struct Loader<'w, 's, 'd> {
    out: RecordWriter<'w, 's, 'd>,
    lineage: &'d [&'d Unit],
    /// Position of each unit's key among its questions.
    key_index: Vec<Option<usize>>,
    skip_invalid: bool,
    /// (unit depth, (parent rowid, key), rowid, whether added) of the records the row being
    /// taken wrote or matched, with `skip_invalid`.
    touched: Vec<(usize, (i64, String), i64, bool)>,
    states: Vec<UnitState>,
    /// Whether the store held no record of this wave when the import began: then a top record
    /// not met earlier in this import is new without asking the store.
    fresh: bool,
    /// The parent whose leaf records are all in `leaf_keys` (key, rowid): one this import
    /// inserted, while its rows are contiguous. Then no store lookup is needed to know a leaf
    /// record is new.
    leaf_parent: Option<i64>,
    leaf_keys: Vec<(String, i64)>,
    /// The files read so far ([`Place`]s name them by index); the last is being read.
    files: Vec<String>,
    problems: Vec<RowProblem>,
    total_problems: usize,
    rejects: Vec<Reject>,
    rows_read: u64,
}

impl<'w, 's, 'd> Loader<'w, 's, 'd> {
    /// Stage two writing through `out` (over `lineage`); `fresh`: the wave held no top record.
    pub(crate) fn new(out: RecordWriter<'w, 's, 'd>, lineage: &'d [&'d Unit], skip_invalid: bool, fresh: bool) -> Self {
        Loader {
            out,
            lineage,
            key_index: lineage.iter().map(|u| u.questions.iter().position(|q| q.id == u.key)).collect(),
            skip_invalid,
            touched: Vec::new(),
            states: lineage.iter().map(|_| UnitState::default()).collect(),
            fresh,
            leaf_parent: None,
            leaf_keys: Vec::new(),
            files: Vec::new(),
            problems: Vec::new(),
            total_problems: 0,
            rejects: Vec::new(),
            rows_read: 0,
        }
    }

    /// Starts reading the next file.
    pub(crate) fn next_file(&mut self, name: &str) {
        self.files.push(name.to_string());
    }

    /// Data rows taken so far (unreadable ones aside).
    pub(crate) fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Whether so many problems were found that an import without `skip_invalid` stops.
    pub(crate) fn too_many_problems(&self) -> bool {
        !self.skip_invalid && self.total_problems > STOP_AFTER
    }

    /// Counts a problem of a whole file.
    pub(crate) fn file_problem(&mut self, p: RowProblem) {
        self.total_problems += 1;
        self.problems.push(p);
    }

    /// Ends stage two, releasing the statements.
    pub(crate) fn finish(self) -> Loaded {
        Loaded {
            added: self.lineage.iter().zip(&self.states).map(|(u, s)| (u.id.clone(), s.added)).collect(),
            unchanged: self.lineage.iter().zip(&self.states).map(|(u, s)| (u.id.clone(), s.unchanged)).collect(),
            problems: self.problems,
            total_problems: self.total_problems,
            rejects: self.rejects,
            rows_read: self.rows_read,
        }
    }

    /// Takes one row: counts it, writes it or records its problems. Returns whether to stop
    /// (too many problems to go on).
    pub(crate) fn take(&mut self, plan: &Plan, name: &str, row: &mut Checked, checker: Option<&mut Checker<'_>>) -> Result<bool, CaptureError> {
        if let Some(p) = row.read_error.take() {
            self.total_problems += 1;
            if self.skip_invalid {
                self.rejects.push(Reject {
                    file: name.to_string(),
                    line: p.line,
                    reason: p.message.clone(),
                    fields: Vec::new(),
                });
            }
            if self.problems.len() < MAX_REPORTED {
                self.problems.push(p);
            }
            return Ok(false);
        }
        self.rows_read += 1;
        let skip = self.skip_invalid;
        // With skip_invalid a rejected row must land nothing, not even its household part
        // written before its person part failed: each row is a savepoint, and the keys it
        // recorded, (unit depth, key, whether added), are forgotten when it is rolled back.
        if skip {
            self.out.savepoint()?;
        }
        let row_problems = self.store_row(plan, name, row, checker)?;
        if skip {
            self.out.release_savepoint(!row_problems.is_empty())?;
            if !row_problems.is_empty() {
                self.forget_row();
            }
        }
        if row_problems.is_empty() {
            return Ok(false);
        }
        self.total_problems += row_problems.len();
        if skip {
            let reason = row_problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
            self.rejects.push(Reject {
                file: name.to_string(),
                line: row.line,
                reason,
                fields: row.fields.clone(),
            });
        }
        for p in row_problems {
            if self.problems.len() < MAX_REPORTED {
                self.problems.push(p);
            }
        }
        Ok(!skip && self.total_problems > STOP_AFTER)
    }

    /// Forgets what a row rolled back had recorded.
    fn forget_row(&mut self) {
        for (d, key, rowid, added) in std::mem::take(&mut self.touched) {
            let st = &mut self.states[d];
            if let Some(m) = st.seen.get_mut(&key.0) {
                m.remove(&key.1);
            }
            st.met.remove(rowid);
            if added {
                st.added -= 1;
            } else {
                st.unchanged -= 1;
            }
        }
        for st in &mut self.states {
            st.last = None;
            st.new_rowids.clear();
        }
        self.leaf_parent = None;
        self.leaf_keys.clear();
    }

    /// Matches the row's records to the store and writes the new ones; returns the row's problems.
    fn store_row(&mut self, plan: &Plan, name: &str, row: &mut Checked, mut checker: Option<&mut Checker<'_>>) -> Result<Vec<RowProblem>, CaptureError> {
        self.touched.clear();
        let mut parent = Parent::default();
        let first_checked = plan.has_questions.iter().position(|&h| h).unwrap_or(plan.depth + 1);
        for d in 0..=plan.depth {
            if d == first_checked {
                // checked in line: the units above came from the store (their values are in place)
                if let Some(c) = checker.as_deref_mut() {
                    c.check(d, row);
                }
            }
            let step = if !plan.has_questions[d] {
                let checker = checker.as_deref_mut().expect("a file without some unit's questions is checked in line");
                self.refer(plan, name, row, d, parent, &mut checker.values)?
            } else if d >= row.ok {
                return Ok(std::mem::take(&mut row.problems));
            } else {
                self.place(plan, name, row, d, parent)?
            };
            match step {
                Ok(p) => parent = p,
                Err(p) => return Ok(vec![p]),
            }
        }
        Ok(Vec::new())
    }

    /// Unit `d` of a row that gives only its key: the record must exist (earlier in this
    /// import or in the store); its values are read into `values` for the units below.
    fn refer(
        &mut self,
        plan: &Plan,
        name: &str,
        row: &Checked,
        d: usize,
        parent: Parent,
        values: &mut [Value],
    ) -> Result<Result<Parent, RowProblem>, CaptureError> {
        let unit = self.lineage[d];
        let wave = self.out.stamp().wave;
        let at = row_at(self.lineage, plan, name, row, d);
        let key_col = self.key_index[d].and_then(|i| plan.cols[d][i]);
        let key_raw = at.field(key_col);
        let key_cell = match parse_key(unit, key_raw) {
            Ok(c) => c,
            Err(p) => return Ok(Err(at.record_problem(p))),
        };
        let pr = parent.rowid.unwrap_or(0);
        let found = match self.states[d].seen(pr, &cell_text(&key_cell)) {
            Some((rowid, _)) => Some(*rowid),
            None => self.out.find(d, parent.rowid, &key_cell)?.map(|e| e.rowid),
        };
        let Some(rowid) = found else {
            let m = format!("no {} with this key in wave {wave} (import its file first, or together)", unit.id);
            return Ok(Err(at.problem(key_col, &unit.key, Some(key_raw), m)));
        };
        let values = &mut values[..unit.scope.len()];
        let st = &mut self.states[d];
        match st.last.as_ref().filter(|(r, _)| *r == rowid) {
            Some((_, v)) => values[..v.len()].clone_from_slice(v),
            None => {
                if let Some(cells) = self.out.read(d, rowid)? {
                    cells_to_values(unit, &cells, self.out.columns(d), values);
                }
                st.last = Some((rowid, values.to_vec()));
            }
        }
        Ok(Ok(Parent::at(rowid, false, false)))
    }

    /// Unit `d` of a row that gives its answers: matched to the records met in this import
    /// and to the store, then counted as unchanged or inserted (or refused).
    fn place(&mut self, plan: &Plan, name: &str, row: &Checked, d: usize, parent: Parent) -> Result<Result<Parent, RowProblem>, CaptureError> {
        let unit = self.lineage[d];
        let at = row_at(self.lineage, plan, name, row, d);
        let key_col = self.key_index[d].and_then(|i| plan.cols[d][i]);
        let key_raw = at.field(key_col);
        let part = row.parts[d].as_ref().expect("checked parts are present");
        let pr = parent.rowid.unwrap_or(0);
        let kt = &part.key_text;
        // units above the leaf are kept by key (`seen`): a person file needs its households
        let keyed = d + 1 < self.lineage.len();
        let here = Place::new(self.files.len() - 1, row.line);
        let duplicate = |first: Place, files: &[String], why: &str| {
            let m = format!("duplicate key: {} {kt} is also on {} ({why})", unit.key, place_text(files, first));
            at.problem(key_col, &unit.key, Some(key_raw), m)
        };
        if keyed {
            if let Some(&(rowid, hash)) = self.states[d].seen(pr, kt) {
                return self.met_again(plan, row, d, rowid, hash, here);
            }
        }
        // The leaf records of a parent this import inserted, met in contiguous rows, can only
        // clash with each other: a list of their keys answers that without the store. Rows
        // of that parent met again after another parent's (A/P1, B/P1, A/P2) go to the store.
        let mut known_new = false;
        if !keyed && unit.parent.is_some() {
            if self.leaf_parent != parent.rowid {
                self.leaf_parent = parent.rowid.filter(|_| parent.inserted_here);
                self.leaf_keys.clear();
            }
            if parent.new && self.leaf_parent.is_some() && self.leaf_parent == parent.rowid {
                if let Some(&(_, rowid)) = self.leaf_keys.iter().find(|(k, _)| k == kt) {
                    let first = self.states[d].met.get(rowid).unwrap_or(here);
                    return Ok(Err(duplicate(first, &self.files, ONCE)));
                }
                known_new = true;
            }
        } else if keyed {
            // not met in this import, and the wave was empty when it began
            known_new = self.fresh && unit.parent.is_none();
        }
        let found = if known_new { Match::New } else { self.out.matches(d, parent.rowid, part)? };
        let rowid = match found {
            Match::Same(ex) | Match::Different(ex) if self.states[d].met.get(ex.rowid).is_some() => {
                let first = self.states[d].met.get(ex.rowid).unwrap_or(here);
                return Ok(Err(duplicate(first, &self.files, ONCE)));
            }
            Match::Same(ex) => {
                self.states[d].unchanged += 1;
                self.met(d, pr, part, ex.rowid, here, false);
                return Ok(Ok(Parent::at(ex.rowid, false, false)));
            }
            Match::Different(ex) => {
                let wave = self.out.stamp().wave;
                let (col, q, raw, was) = self.describe(plan, row, d, ex.rowid, &part.cells)?;
                let m = format!(
                    "conflict: {} {kt} is already in wave {wave} (record {}) with different answers{was}; nothing was overwritten (an import does not change a stored record: make this row agree with it, or leave the row out)",
                    unit.key, ex.uuid
                );
                return Ok(Err(match q {
                    Some(q) => at.problem(col, &q, raw.as_deref(), m),
                    None => at.problem(key_col, &unit.key, Some(key_raw), m),
                }));
            }
            Match::New => {
                let uuid_col = plan.uuid_col[d];
                let uuid_hint = Some(at.field(uuid_col).trim()).filter(|s| !s.is_empty());
                match self.out.insert(d, parent.rowid, part, uuid_hint)? {
                    Inserted::Row(rowid) => rowid,
                    Inserted::UuidTaken => {
                        let u = uuid_hint.unwrap_or_default();
                        let m = format!(
                            "record UUID {u} is already in the store (for another wave or key): to import a copy, drop the {}_uuid column",
                            unit.id
                        );
                        return Ok(Err(at.problem(uuid_col, &format!("{}_uuid", unit.id), Some(u), m)));
                    }
                }
            }
        };
        self.states[d].added += 1;
        self.met(d, pr, part, rowid, here, true);
        if keyed {
            self.states[d].new_rowids.insert(rowid);
        } else if self.leaf_parent.is_some() && self.leaf_parent == parent.rowid {
            self.leaf_keys.push((kt.clone(), rowid));
        }
        Ok(Ok(Parent::at(rowid, true, true)))
    }

    /// Unit `d` of a row whose record this import met already (as stored row `rowid` with
    /// content hash `hash`): the same household's columns repeated on a row of the same
    /// combined file agree, or the record is a duplicate.
    fn met_again(&self, plan: &Plan, row: &Checked, d: usize, rowid: i64, hash: u64, here: Place) -> Result<Result<Parent, RowProblem>, CaptureError> {
        let unit = self.lineage[d];
        let at = row_at(self.lineage, plan, &self.files[self.files.len() - 1], row, d);
        let key_col = self.key_index[d].and_then(|i| plan.cols[d][i]);
        let part = row.parts[d].as_ref().expect("checked parts are present");
        let first = self.states[d].met.get(rowid).unwrap_or(here);
        // a record's answers come from one place: a household file gives each household
        // once, a combined file repeats them on every person row of that file only
        let is_leaf = d == plan.depth;
        if is_leaf || first.file() != self.files.len() - 1 {
            let why = if is_leaf {
                ONCE.to_string()
            } else {
                format!("a {}'s rows belong in one file", unit.id)
            };
            let m = format!(
                "duplicate key: {} {} is also on {} ({why})",
                unit.key,
                part.key_text,
                place_text(&self.files, first)
            );
            return Ok(Err(at.problem(key_col, &unit.key, Some(at.field(key_col)), m)));
        }
        // repeated household columns must agree on every row of the household
        if hash != part.hash {
            let (col, q, raw, was) = self.describe(plan, row, d, rowid, &part.cells)?;
            let m = format!(
                "{} columns differ from line {} for the same {}{was} (they must agree on every row)",
                unit.id,
                first.line(),
                unit.key
            );
            return Ok(Err(at.problem(col, q.as_deref().unwrap_or(&unit.key), raw.as_deref(), m)));
        }
        Ok(Ok(Parent::at(rowid, self.states[d].new_rowids.contains(&rowid), false)))
    }

    /// Records that record `rowid` of unit `d` (under parent row `pr`) was met at `here`,
    /// inserted (`added`) or found unchanged.
    fn met(&mut self, d: usize, pr: i64, part: &Record, rowid: i64, here: Place, added: bool) {
        let keyed = d + 1 < self.lineage.len();
        let st = &mut self.states[d];
        st.met.insert(rowid, here);
        if self.skip_invalid {
            self.touched.push((d, (pr, part.key_text.clone()), rowid, added));
        }
        if keyed {
            st.seen.entry(pr).or_default().insert(part.key_text.clone(), (rowid, part.hash));
        }
    }

    /// Names the first question where `cells` (unit `d`'s answers on this row) differ from
    /// stored row `rowid`: (header index, question, this row's value, a phrase giving the
    /// stored value).
    #[allow(clippy::type_complexity)]
    fn describe(
        &self,
        plan: &Plan,
        row: &Checked,
        d: usize,
        rowid: i64,
        cells: &[Cell],
    ) -> Result<(Option<usize>, Option<String>, Option<String>, String), CaptureError> {
        let Some(diff) = self.out.difference(d, rowid, cells)? else {
            return Ok((None, None, None, String::new()));
        };
        let unit = self.lineage[d];
        let name = diff.name;
        let col = unit
            .questions
            .iter()
            .position(|q| q.id == name)
            .and_then(|qi| plan.cols[d].get(qi).copied().flatten());
        let raw = col.and_then(|c| row.fields.get(c)).cloned();
        let was = match &diff.stored {
            Cell::Null => format!(": '{name}' has no answer there"),
            c => format!(": '{name}' is '{}' there", cell_text(c)),
        };
        Ok((col, Some(name), raw, was))
    }
}

/// Where the problems of `row`'s unit `d` are placed.
fn row_at<'a>(lineage: &'a [&'a Unit], plan: &'a Plan, name: &'a str, row: &'a Checked, d: usize) -> RowAt<'a> {
    RowAt {
        file: name,
        line: row.line,
        cols: &row.cols,
        fields: &row.fields,
        lineage,
        plan,
        depth: d,
    }
}

/// `FILE:LINE` of a place.
fn place_text(files: &[String], p: Place) -> String {
    format!("{}:{}", files.get(p.file()).map_or("?", String::as_str), p.line())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_dense_sparse_and_removed() {
        let mut p = Places::default();
        p.insert(100, Place::new(0, 2));
        p.insert(101, Place::new(0, 3));
        p.insert(150, Place::new(1, 9)); // a gap: filled
        p.insert(7, Place::new(2, 4)); // below the first: the map
        p.insert(1 << 40, Place::new(0, 5)); // far above: the map
        assert_eq!(p.get(100), Some(Place::new(0, 2)));
        assert_eq!(p.get(150).map(|x| (x.file(), x.line())), Some((1, 9)));
        assert_eq!(p.get(7), Some(Place::new(2, 4)));
        assert_eq!(p.get(1 << 40), Some(Place::new(0, 5)));
        assert_eq!(p.get(120), None);
        assert_eq!(p.get(99), None);
        assert_eq!(p.dense.len(), 51);
        p.remove(101);
        p.remove(7);
        assert_eq!((p.get(101), p.get(7)), (None, None));
        // a rowid reused after a rolled-back row
        p.insert(101, Place::new(0, 8));
        assert_eq!(p.get(101), Some(Place::new(0, 8)));
    }
}
