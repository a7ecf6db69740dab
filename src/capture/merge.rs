//! Merging other stores of the same survey into one: interviewers' laptops brought together.
//!
//! Owns [`merge_stores`]: each other store opened read-only and checked first (the same survey,
//! every definition version its records use known to the target with the same text), then its
//! records taken unit by unit, parents first, and matched by UUID. The same UUID with the same
//! content (stored hash, wave, definition version, parent) is identical and skipped; the same
//! UUID with other content is a conflict, reported question by question, neither side changed;
//! a new UUID whose key the target already holds (the same household id entered on two stores)
//! is a conflict too, not added, nor anything under it; a new record is copied as stored (UUID,
//! wave, version, capture stamp, identifiers, derived values) under the target's row of its
//! parent, pointing at an `imports` row of the merge. The other store's audit entries the
//! target lacks are copied in their order, with one `merge` entry per store. Every store of one
//! call lands in one transaction, or none does; a dry run takes the same path and rolls back.
//!
//! Records are not checked again: they were checked when captured, under a definition version
//! the target holds with the same text. It must not touch weight sets, geography or
//! unfinished interviews (each store keeps its own), and does no terminal I/O.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::record::cell_text;
use super::CaptureError;
use crate::schema::{Definition, Unit};
use crate::store::{unit_columns, AuditEntry, AuditLine, Cell, Column, Inserter, Store, StoredRecord, Writer};

/// How to merge.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Who merges (the `imports` row and the audit entry).
    pub by: String,
    /// Check and count everything, then write nothing.
    pub dry_run: bool,
}

/// What one call merged, store by store.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MergeReport {
    /// The target store.
    pub target: String,
    /// Whether nothing was written (a dry run).
    pub dry_run: bool,
    /// One entry per other store, in the order merged.
    pub stores: Vec<StoreMerge>,
}

impl MergeReport {
    /// Conflicts in all stores.
    pub fn conflicts(&self) -> usize {
        self.stores.iter().map(|s| s.conflicts.len()).sum()
    }
}

/// What one other store brought.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoreMerge {
    /// The other store's path.
    pub store: String,
    /// Counts by unit, parents first.
    pub units: Vec<UnitCounts>,
    /// Audit entries copied.
    pub audit_entries: u64,
    /// Each conflict, in the order met.
    pub conflicts: Vec<Conflict>,
}

/// One unit's counts in one store's merge.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnitCounts {
    /// The unit.
    pub unit: String,
    /// Records added.
    pub added: u64,
    /// Records the target holds already, identical.
    pub identical: u64,
    /// Records in conflict.
    pub conflicts: u64,
    /// Records not added because a record above them was not (a duplicate key).
    pub held_back: u64,
}

/// What kind of conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// The same UUID with different content: neither side changed.
    Different,
    /// A new UUID whose key the target holds already (the same household or person id entered
    /// on two stores): not added, nor the records under it.
    DuplicateKey,
}

/// One conflict.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Conflict {
    /// Its kind.
    pub kind: ConflictKind,
    /// The unit.
    pub unit: String,
    /// The record's UUID in the other store.
    pub uuid: String,
    /// The UUID of the target's record with the same key (a duplicate key).
    pub target_uuid: Option<String>,
    /// The record's keys from the top (`household H12 / person 2`; an identifier key shows as
    /// `(identifier)`).
    pub key: String,
    /// Its wave in the other store.
    pub wave: i64,
    /// What differs (a different record).
    pub differences: Vec<Difference>,
    /// Records under it not added (a duplicate key).
    pub held_back: u64,
}

/// One value that differs between the target's record and the other store's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Difference {
    /// The question, or `wave`, `version`, or the parent unit.
    pub field: String,
    /// Whether it is an identifier (its values are not given).
    pub identifier: bool,
    /// The target's value (`None`: no answer, or an identifier).
    pub target: Option<String>,
    /// The other store's value.
    pub other: Option<String>,
}

/// Why a merge was refused; nothing was merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// Other stores that cannot be merged into the target, every reason named.
    #[error("{} problem(s); nothing was merged into {target}:\n{}", .problems.len(), .problems.join("\n"))]
    Refused {
        /// The target store.
        target: String,
        /// One line each: the other store, what is wrong, what to do.
        problems: Vec<String>,
    },
    /// The merge found conflicts (the report lists them); what else it found was merged.
    #[error("{conflicts} conflict(s): the records concerned were left as they are in both stores")]
    Conflicts {
        /// How many.
        conflicts: usize,
    },
}

/// Merges `others` into `target`, in order, each checked against the target as the previous
/// ones left it (see the module docs). Conflicts do not stop the merge: they are in the report.
pub fn merge_stores(target: &mut Store, others: &[PathBuf], opts: &MergeOptions) -> Result<MergeReport, CaptureError> {
    let tpath = target.path().display().to_string();
    let mut defs: HashMap<u32, Definition> = HashMap::new();
    for v in target.versions()? {
        defs.insert(v, target.definition(Some(v))?);
    }
    let latest = target.definition(None)?;
    let mut stores = Vec::new();
    let mut problems = Vec::new();
    for path in others {
        let other = Store::open_read_only(path)?;
        problems.extend(refusals(target, &tpath, &defs, &other)?);
        stores.push(other);
    }
    if !problems.is_empty() {
        return Err(MergeError::Refused { target: tpath, problems }.into());
    }
    let mut have: HashMap<AuditEntry, usize> = HashMap::new();
    for e in target.audit_log(None)? {
        *have.entry(e).or_default() += 1;
    }
    let writer = target.writer()?;
    // a bulk write: without the column cache's triggers, run once per record otherwise
    writer.drop_column_cache()?;
    let mut merged = Vec::new();
    let mut wrote = false;
    {
        let mut ctx = Ctx {
            writer: &writer,
            defs: &defs,
            latest: &latest,
            by: &opts.by,
            target: &tpath,
            inserters: HashMap::new(),
            waves: HashSet::new(),
        };
        for (path, other) in others.iter().zip(&stores) {
            let snapshot = other.snapshot()?;
            let (report, any) = ctx.merge_one(path, other, &mut have)?;
            snapshot.end();
            wrote |= any;
            merged.push(report);
        }
    }
    if wrote && !opts.dry_run {
        writer.commit()?;
    }
    Ok(MergeReport {
        target: tpath,
        dry_run: opts.dry_run,
        stores: merged,
    })
}

/// Every reason `other` cannot be merged into the target: itself, another survey, definition
/// versions the target lacks or holds with other text.
fn refusals(target: &Store, tpath: &str, defs: &HashMap<u32, Definition>, other: &Store) -> Result<Vec<String>, CaptureError> {
    let opath = other.path().display().to_string();
    let same_file = match (std::fs::canonicalize(target.path()), std::fs::canonicalize(other.path())) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same_file {
        return Ok(vec![format!("{opath}: is the target store itself")]);
    }
    let (ts, os) = (target.survey_id()?, other.survey_id()?);
    if ts != os {
        return Ok(vec![format!(
            "{opath}: holds survey '{}', {tpath} survey '{}': only stores of one survey merge",
            crate::text::escape(&os),
            crate::text::escape(&ts)
        )]);
    }
    let mut used = BTreeSet::new();
    for unit in &other.definition(None)?.units {
        used.extend(other.versions_used(&unit.id)?);
    }
    let mut problems = Vec::new();
    for v in used {
        match defs.get(&v) {
            None => problems.push(format!(
                "{opath}: records captured with definition version {v}, which {tpath} does not have: add it first (`hearth definition add {tpath} DEF.yaml` with the version {v} definition), then merge again"
            )),
            Some(d) if d.text != other.definition(Some(v))?.text => problems.push(format!(
                "{opath}: definition version {v} is not the text {tpath} holds as version {v}: the stores disagree on what version {v} asks; give one of them a new version number"
            )),
            Some(_) => {}
        }
    }
    Ok(problems)
}

/// One unit of the other store as read: the unit (the target's latest), and for each
/// definition version its records use, that version's unit and its columns' positions among
/// the columns read.
struct UnitRead<'d> {
    unit: &'d Unit,
    /// Whether some unit is below this one (its records' labels are kept for their children).
    has_children: bool,
    /// Whether the key question is an identifier (its value is never shown).
    key_identifier: bool,
    /// The columns read: every column of the versions used, by name.
    columns: Vec<Column>,
    versions: HashMap<u32, Version<'d>>,
}

/// One definition version's unit, as a record of it is read and written.
struct Version<'d> {
    unit: &'d Unit,
    columns: Vec<Column>,
    /// Each column's position among the columns read.
    positions: Vec<usize>,
    /// The key's position among `columns`.
    key: Option<usize>,
}

/// What one merge carries across stores.
struct Ctx<'w, 's, 'd> {
    writer: &'w Writer<'s>,
    defs: &'d HashMap<u32, Definition>,
    latest: &'d Definition,
    by: &'d str,
    target: &'d str,
    /// Insert statements by (unit, version), prepared once.
    inserters: HashMap<(String, u32), Inserter<'w>>,
    /// Waves registered.
    waves: HashSet<i64>,
}

/// What one other store's merge carries across its units.
#[derive(Default)]
struct StoreState {
    report: Vec<UnitCounts>,
    conflicts: Vec<Conflict>,
    /// Labels (`household H12`) of the records read that have records below them, by UUID.
    labels: HashMap<String, String>,
    /// Records not added, with the conflict that held them back, by UUID.
    blocked: HashMap<String, Option<usize>>,
    /// The merge's `imports` row by wave, with the records it added.
    imports: Vec<(i64, i64, i64)>,
}

impl<'w, 'd> Ctx<'w, '_, 'd> {
    /// Merges one other store; returns its report and whether anything was written.
    fn merge_one(&mut self, path: &Path, other: &Store, have: &mut HashMap<AuditEntry, usize>) -> Result<(StoreMerge, bool), CaptureError> {
        let opath = path.display().to_string();
        let odef = other.definition(None)?;
        let mut units: Vec<&Unit> = odef.units.iter().collect();
        units.sort_by_key(|u| odef.lineage(&u.id).len());
        let mut st = StoreState::default();
        for ounit in units {
            let Some(read) = self.unit_read(other, ounit)? else { continue };
            let mut counts = UnitCounts {
                unit: read.unit.id.clone(),
                added: 0,
                identical: 0,
                conflicts: 0,
                held_back: 0,
            };
            other.read_records(read.unit, &read.columns, |rec| self.take(&opath, &read, rec, &mut st, &mut counts))?;
            st.report.push(counts);
        }
        for &(_, id, n) in &st.imports {
            self.writer.finish_import(id, n)?;
        }
        let mut copied = 0u64;
        let mut used: HashMap<AuditEntry, usize> = HashMap::new();
        // the answers of an interview still open on the other laptop stay with its draft: they
        // come with its records once it is finished there and merged again
        let drafts = other.open_draft_records()?;
        for e in other.audit_log(None)? {
            if e.record.as_ref().is_some_and(|r| drafts.contains(r)) {
                continue;
            }
            // an entry the other store holds twice is copied until the target holds it twice
            let u = used.entry(e.clone()).or_default();
            *u += 1;
            let h = have.entry(e.clone()).or_default();
            if *u > *h {
                self.writer.append_audit(&e)?;
                *h += 1;
                copied += 1;
            }
        }
        let added: u64 = st.report.iter().map(|c| c.added).sum();
        let report = StoreMerge {
            store: opath.clone(),
            units: st.report,
            audit_entries: copied,
            conflicts: st.conflicts,
        };
        let wrote = added > 0 || copied > 0;
        if wrote {
            self.writer.audit(&AuditLine::new(self.by, "merge", &summary_line(&report)))?;
        }
        Ok((report, wrote))
    }

    /// How the other store's records of `ounit` are read, or `None` when the target has no
    /// such unit (then the other store has no records of it: its versions were checked).
    fn unit_read(&self, other: &Store, ounit: &Unit) -> Result<Option<UnitRead<'d>>, CaptureError> {
        let (defs, latest) = (self.defs, self.latest);
        let Some(unit) = latest.unit(&ounit.id) else { return Ok(None) };
        let mut columns: Vec<Column> = Vec::new();
        let mut versions = HashMap::new();
        for v in other.versions_used(&unit.id)? {
            let Some(vunit) = defs.get(&v).and_then(|d| d.unit(&unit.id)) else { continue };
            let vcols = unit_columns(vunit);
            let mut positions = Vec::with_capacity(vcols.len());
            for c in &vcols {
                let i = match columns.iter().position(|k| k.name == c.name) {
                    Some(i) => i,
                    None => {
                        columns.push(c.clone());
                        columns.len() - 1
                    }
                };
                positions.push(i);
            }
            let key = vcols.iter().position(|c| c.name == unit.key);
            versions.insert(
                v,
                Version {
                    unit: vunit,
                    columns: vcols,
                    positions,
                    key,
                },
            );
        }
        Ok(Some(UnitRead {
            unit,
            has_children: latest.units.iter().any(|u| u.parent.as_deref() == Some(unit.id.as_str())),
            key_identifier: unit.question(&unit.key).is_some_and(|q| q.identifier),
            columns,
            versions,
        }))
    }

    /// Takes one record of the other store: identical, a conflict, held back or added.
    fn take(&mut self, opath: &str, read: &UnitRead<'d>, rec: &StoredRecord, st: &mut StoreState, counts: &mut UnitCounts) -> Result<(), CaptureError> {
        let unit = read.unit;
        let Some(version) = read.versions.get(&rec.version) else {
            // a version the check let through has this unit: cannot happen; never added blind
            counts.held_back += 1;
            return Ok(());
        };
        let cells: Vec<Cell> = version.positions.iter().map(|&i| rec.cells[i].clone()).collect();
        let mut parent = None;
        let mut label = String::new();
        if let Some(pid) = &unit.parent {
            let blocked = match &rec.parent {
                Some(p) => st.blocked.get(p).copied(),
                None => Some(None),
            };
            let located = match (blocked, &rec.parent, self.latest.unit(pid)) {
                (None, Some(p), Some(punit)) => self.writer.locate(punit, p)?,
                _ => None,
            };
            let Some(at) = located else {
                counts.held_back += 1;
                let cause = blocked.flatten();
                if let Some(i) = cause {
                    st.conflicts[i].held_back += 1;
                }
                if read.has_children {
                    st.blocked.insert(rec.uuid.clone(), cause);
                }
                return Ok(());
            };
            parent = Some(at.rowid);
            if let Some(l) = rec.parent.as_ref().and_then(|p| st.labels.get(p)) {
                label = format!("{l} / ");
            }
        }
        let key = version.key.map(|k| cells[k].clone()).unwrap_or(Cell::Null);
        let key_text = if read.key_identifier { "(identifier)".to_string() } else { cell_text(&key) };
        label.push_str(&format!("{} {}", unit.id, crate::text::escape(&key_text)));
        if read.has_children {
            st.labels.insert(rec.uuid.clone(), label.clone());
        }
        let mut conflict = Conflict {
            kind: ConflictKind::Different,
            unit: unit.id.clone(),
            uuid: rec.uuid.clone(),
            target_uuid: None,
            key: label,
            wave: rec.wave,
            differences: Vec::new(),
            held_back: 0,
        };
        if let Some((at, hash)) = self.writer.locate_with_hash(unit, &rec.uuid)? {
            if hash == rec.hash && at.wave == rec.wave && at.version == rec.version && at.parent == parent {
                counts.identical += 1;
            } else {
                conflict.differences = self.differences(unit, &at, &hash, rec, version, &cells, parent)?;
                counts.conflicts += 1;
                st.conflicts.push(conflict);
            }
            return Ok(());
        }
        if let Some(ex) = self.writer.find(unit, rec.wave, parent, &key)? {
            conflict.kind = ConflictKind::DuplicateKey;
            conflict.target_uuid = Some(ex.uuid);
            counts.conflicts += 1;
            if read.has_children {
                st.blocked.insert(rec.uuid.clone(), Some(st.conflicts.len()));
            }
            st.conflicts.push(conflict);
            return Ok(());
        }
        self.insert(opath, version, rec, parent, &cells, st)?;
        counts.added += 1;
        Ok(())
    }

    /// Adds a record as the other store holds it, under the target's row `parent`.
    fn insert(
        &mut self,
        opath: &str,
        version: &Version<'d>,
        rec: &StoredRecord,
        parent: Option<i64>,
        cells: &[Cell],
        st: &mut StoreState,
    ) -> Result<(), CaptureError> {
        let hash = u64::from_str_radix(&rec.hash, 16).map_err(|_| MergeError::Refused {
            target: self.target.to_string(),
            problems: vec![format!(
                "{opath}: {} record {}: stored content hash '{}' is not 16 hex digits (the file was changed outside hearth)",
                version.unit.id,
                rec.uuid,
                crate::text::escape(&rec.hash)
            )],
        })?;
        if self.waves.insert(rec.wave) {
            self.writer.ensure_wave(rec.wave)?;
        }
        let import = match st.imports.iter_mut().find(|i| i.0 == rec.wave) {
            Some(i) => {
                i.2 += 1;
                i.1
            }
            None => {
                let id = self.writer.begin_import(rec.wave, opath, self.by)?;
                st.imports.push((rec.wave, id, 1));
                id
            }
        };
        let ins = match self.inserters.entry((version.unit.id.clone(), rec.version)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(self.writer.inserter(version.unit, &version.columns)?),
        };
        ins.insert(
            &rec.uuid,
            rec.wave,
            rec.version,
            &rec.captured_at,
            &rec.captured_by,
            Some(import),
            hash,
            parent,
            cells,
        )?;
        Ok(())
    }

    /// What differs between the target's record at `at` and the other store's `rec`: wave,
    /// version, parent, then each answer (identifiers without their values).
    #[allow(clippy::too_many_arguments)]
    fn differences(
        &self,
        unit: &Unit,
        at: &crate::store::Located,
        hash: &str,
        rec: &StoredRecord,
        version: &Version<'d>,
        cells: &[Cell],
        parent: Option<i64>,
    ) -> Result<Vec<Difference>, CaptureError> {
        let shown = |field: &str, t: String, o: String| Difference {
            field: field.to_string(),
            identifier: false,
            target: Some(t).filter(|s| !s.is_empty()),
            other: Some(o).filter(|s| !s.is_empty()),
        };
        let mut out = Vec::new();
        if at.wave != rec.wave {
            out.push(shown("wave", at.wave.to_string(), rec.wave.to_string()));
        }
        if at.version != rec.version {
            out.push(shown("version", at.version.to_string(), rec.version.to_string()));
        }
        if let (Some(pid), true) = (&unit.parent, at.parent != parent) {
            let punit = self.latest.unit(pid).unwrap_or(unit);
            let t = match at.parent {
                Some(r) => self.writer.uuid_of(punit, r)?,
                None => String::new(),
            };
            out.push(shown(pid, t, rec.parent.clone().unwrap_or_default()));
        }
        let tunit = self.defs.get(&at.version).and_then(|d| d.unit(&unit.id)).unwrap_or(unit);
        let tcols = unit_columns(tunit);
        let tcells = self.writer.read_record(tunit, &tcols, &rec.uuid)?.map(|(_, c)| c).unwrap_or_default();
        let value = |cols: &[Column], cells: &[Cell], name: &str| {
            cols.iter()
                .position(|c| c.name == name)
                .and_then(|i| cells.get(i))
                .map(cell_text)
                .unwrap_or_default()
        };
        let mut seen = HashSet::new();
        for c in version.columns.iter().chain(&tcols).filter(|c| !c.derived) {
            if !seen.insert(c.name.as_str()) {
                continue;
            }
            let (t, o) = (value(&tcols, &tcells, &c.name), value(&version.columns, cells, &c.name));
            if t == o {
                continue;
            }
            let mut d = shown(&c.name, t, o);
            if c.identifier {
                d.identifier = true;
                (d.target, d.other) = (None, None);
            }
            out.push(d);
        }
        if out.is_empty() {
            out.push(shown("content hash", hash.to_string(), rec.hash.clone()));
        }
        Ok(out)
    }
}

impl StoreMerge {
    /// The counts on one line: `household 12 added, 40 identical, 1 conflict; person 30 added,
    /// 96 identical, 2 conflicts`, with records held back under a conflict when there are any.
    pub fn counts_text(&self) -> String {
        let units: Vec<String> = self
            .units
            .iter()
            .map(|c| {
                let mut s = format!(
                    "{} {} added, {} identical, {} conflict{}",
                    c.unit,
                    c.added,
                    c.identical,
                    c.conflicts,
                    if c.conflicts == 1 { "" } else { "s" }
                );
                if c.held_back > 0 {
                    s.push_str(&format!(", {} not added (under a conflict)", c.held_back));
                }
                s
            })
            .collect();
        units.join("; ")
    }
}

/// The reason of the `merge` audit entry.
fn summary_line(r: &StoreMerge) -> String {
    format!(
        "{}: {}; {} audit {} copied",
        r.store,
        r.counts_text(),
        r.audit_entries,
        if r.audit_entries == 1 { "entry" } else { "entries" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_one_line_with_records_held_back_when_any() {
        let counts = |unit: &str, added, identical, conflicts, held_back| UnitCounts {
            unit: unit.into(),
            added,
            identical,
            conflicts,
            held_back,
        };
        let r = StoreMerge {
            store: "b.db".into(),
            units: vec![counts("household", 12, 40, 1, 0), counts("person", 30, 96, 2, 3)],
            audit_entries: 1,
            conflicts: Vec::new(),
        };
        assert_eq!(
            r.counts_text(),
            "household 12 added, 40 identical, 1 conflict; person 30 added, 96 identical, 2 conflicts, 3 not added (under a conflict)"
        );
        assert_eq!(
            summary_line(&r),
            "b.db: household 12 added, 40 identical, 1 conflict; person 30 added, 96 identical, 2 conflicts, 3 not added (under a conflict); 1 audit entry copied"
        );
    }
}
