//! File import: CSV and JSON Lines into the store, all or nothing.
//!
//! Owns the import as a whole: reading response files (combined person files with household
//! columns repeated, separate household and person files, JSON Lines), checking every row
//! against the definition, matching rows to records already in the store (identical = no-op,
//! different = conflict; a record met twice in one import = duplicate, whatever the store
//! holds), and writing them in one transaction. Problems are collected over the whole input
//! and reported together with file, line (the physical line a record starts on, whatever the
//! line ends), column (CSV: the field number; JSON Lines: where the key starts), record key,
//! question and value; with any problem nothing is written unless `skip_invalid` is set, in
//! which case bad rows go to a rejects file. Reading is streaming: memory holds one row, a key
//! index per household, and where each record was met (8 bytes a record).
//!
//! The parts: `source` reads files into rows, `plan` places their columns, `check` checks a
//! row through [`super::record`] (stage one, on its own thread), `load` matches and writes
//! it through [`super::write`] (stage two). This file runs them, writes the rejects and
//! reports progress through [`ImportOptions::progress`]; it prints nothing.

use crate::store::AuditLine;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::check::{Checked, Checker};
use super::error::MAX_REPORTED;
use super::load::{Loaded, Loader, Reject};
use super::plan::{plan_file, Plan};
use super::source::{is_json, open, RowNumbers, Rows};
use super::write::{RecordWriter, Stamp};
use crate::schema::{Definition, Unit};
use crate::store::{Store, Writer};

pub use super::error::{CaptureError, RowProblem};
pub use super::plan::is_export_column;
pub use super::record::{cells_to_values, content_hash};

/// Options of an import.
pub struct ImportOptions {
    /// The wave the responses belong to.
    pub wave: i64,
    /// Import valid rows and write the others to `rejects`.
    pub skip_invalid: bool,
    /// Where rejected rows go (with `skip_invalid`); default `<first file>.rejects.csv`.
    pub rejects: Option<PathBuf>,
    /// Recorded as `captured_by`.
    pub by: String,
    /// Called with the import's progress as it goes, and once at the end (None: not told).
    pub progress: Option<ProgressFn>,
    /// Checks an LSOA code against loaded geography (None: format check only).
    pub lsoa_check: Option<super::areas::LsoaCheck>,
    /// Take questions that have no column as unanswered (a file written before a definition
    /// version added them) instead of refusing the file.
    pub allow_missing_columns: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            wave: 1,
            skip_invalid: false,
            rejects: None,
            by: crate::store::default_user(),
            progress: None,
            lsoa_check: None,
            allow_missing_columns: false,
        }
    }
}

/// How far an import has got, as told to [`ImportOptions::progress`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImportProgress {
    /// Data rows taken so far.
    pub rows: u64,
    /// Bytes of the files read so far.
    pub bytes: u64,
    /// Bytes of all the files.
    pub total_bytes: u64,
    /// Whether every row has been taken (the last call).
    pub done: bool,
}

/// A receiver of [`ImportProgress`]: called on the importing thread every few thousand rows
/// (it should return quickly) and once with `done` at the end.
pub type ProgressFn = Box<dyn Fn(&ImportProgress) + Send + Sync>;

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    /// New records per unit.
    pub added: Vec<(String, u64)>,
    /// Records already in the store with identical content, per unit.
    pub unchanged: Vec<(String, u64)>,
    /// Rows rejected (with `skip_invalid`).
    pub rejected: u64,
    /// Where the rejects went.
    pub rejects_file: Option<String>,
    /// Problems found (with `skip_invalid`; otherwise the import fails).
    pub problems: Vec<String>,
    /// The definition version used.
    pub version: u32,
    /// The wave.
    pub wave: i64,
}

/// Rows per batch passed from the checking thread to the writing one.
const BATCH: usize = 256;
/// Rows between progress reports.
const PROGRESS_EVERY: u64 = 4096;

/// A file opened and planned.
struct Source {
    rows: Box<dyn Rows + Send>,
    plan: Plan,
    name: String,
}

/// Tells [`ImportOptions::progress`], if any.
struct Progress<'a> {
    to: Option<&'a (dyn Fn(&ImportProgress) + Send + Sync)>,
    total_bytes: u64,
    bytes: Arc<AtomicU64>,
}

impl Progress<'_> {
    fn report(&self, rows: u64, done: bool) {
        if let Some(to) = self.to {
            to(&ImportProgress {
                rows,
                bytes: self.bytes.load(Ordering::Relaxed),
                total_bytes: self.total_bytes,
                done,
            });
        }
    }
}

/// Imports files into the store (see the module docs).
pub fn import_files(store: &mut Store, files: &[PathBuf], opts: &ImportOptions) -> Result<ImportReport, CaptureError> {
    crate::schema::suggest::reset_budget();
    let def = store.definition(None)?;
    let leaf = def.leaf_unit().id.clone();
    let lineage: Vec<&Unit> = def.lineage(&leaf);
    let counter = Arc::new(AtomicU64::new(0));
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let sources = open_sources(&def, &lineage, files, opts, &counter)?;

    let writer = store.writer()?;
    // a bulk write: without the column cache's triggers, run once per record otherwise
    writer.drop_column_cache()?;
    let fresh = writer.wave_is_empty(lineage[0], opts.wave)?;
    writer.ensure_wave(opts.wave)?;
    let files_text = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" ");
    let import_id = writer.begin_import(opts.wave, &files_text, &opts.by)?;
    let stamp = Stamp {
        wave: opts.wave,
        version: def.version,
        captured_at: crate::store::now_iso(),
        captured_by: opts.by.clone(),
        import: Some(import_id),
    };
    let mut loader = Loader::new(RecordWriter::new(&writer, &lineage, stamp), &lineage, opts.skip_invalid, fresh);
    let progress = Progress {
        to: opts.progress.as_deref(),
        total_bytes,
        bytes: counter,
    };
    let leaf_scope = def.leaf_unit().scope.len();
    for source in sources {
        read_source(&mut loader, source, &lineage, leaf_scope, opts, &progress)?;
        if loader.too_many_problems() {
            break;
        }
    }
    progress.report(loader.rows_read(), true);
    let loaded = loader.finish();
    if loaded.total_problems > 0 && !opts.skip_invalid {
        drop(writer); // rolls back
        return Err(CaptureError::Invalid {
            problems: loaded.problems,
            total: loaded.total_problems,
        });
    }
    finish(writer, import_id, &files_text, files, opts, def.version, loaded)
}

/// Opens every file and plans its columns, household files first: header problems fail
/// before any row is read.
fn open_sources(def: &Definition, lineage: &[&Unit], files: &[PathBuf], opts: &ImportOptions, counter: &Arc<AtomicU64>) -> Result<Vec<Source>, CaptureError> {
    let mut sources = Vec::new();
    let mut problems: Vec<RowProblem> = Vec::new();
    let mut given: HashMap<PathBuf, &Path> = HashMap::new();
    for f in files {
        let name = f.display().to_string();
        // a file given twice would have each of its records twice
        if let Some(first) = f.canonicalize().ok().and_then(|c| given.insert(c, f)) {
            let m = format!("this file is given twice (also as {}): each file is read once", first.display());
            problems.push(RowProblem::line(&name, 1, m));
            continue;
        }
        let rows = match open(f, def, counter.clone()) {
            Ok(r) if lineage.len() == 1 && lineage[0].key_auto => RowNumbers::wrap(r, &lineage[0].key),
            Ok(r) => r,
            Err(CaptureError::Invalid { problems: p, .. }) => {
                problems.extend(p);
                continue;
            }
            Err(e) => return Err(e),
        };
        let header_line = rows.header_line();
        match plan_file(&name, rows.header(), def, lineage, is_json(f), opts.allow_missing_columns) {
            Ok(plan) => sources.push(Source { rows, plan, name }),
            Err(p) => problems.extend(p.into_iter().map(|p| RowProblem { line: header_line, ..p })),
        }
    }
    if !problems.is_empty() {
        let total = problems.len();
        problems.truncate(MAX_REPORTED);
        return Err(CaptureError::Invalid { problems, total });
    }
    // Parents before children: household files first.
    sources.sort_by_key(|s| s.plan.depth);
    Ok(sources)
}

/// Reads one file's rows through both stages.
fn read_source(
    loader: &mut Loader<'_, '_, '_>,
    source: Source,
    lineage: &[&Unit],
    leaf_scope: usize,
    opts: &ImportOptions,
    progress: &Progress<'_>,
) -> Result<(), CaptureError> {
    let Source { mut rows, plan, name } = source;
    let header_line = rows.header_line();
    loader.next_file(&name);
    let mut checker = Checker::new(&name, &plan, lineage, leaf_scope, opts.lsoa_check.as_ref());
    let tick = |loader: &Loader<'_, '_, '_>| {
        if loader.rows_read() % PROGRESS_EVERY == 0 {
            progress.report(loader.rows_read(), false);
        }
    };
    let mut file_rows = 0u64;
    if plan.has_questions.iter().all(|&h| h) {
        // Stage one on its own thread, in batches; stage two here, in file order.
        std::thread::scope(|s| -> Result<(), CaptureError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Checked>, usize)>(8);
            let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<Checked>>();
            s.spawn(move || loop {
                let mut batch = back_rx.try_recv().unwrap_or_default();
                let n = check_batch(rows.as_mut(), &mut checker, &mut batch);
                // the receiver is gone when the writer stopped early
                if n == 0 || tx.send((batch, n)).is_err() {
                    return;
                }
            });
            for (mut batch, n) in rx {
                for row in &mut batch[..n] {
                    file_rows += 1;
                    if loader.take(&plan, &name, row, None)? {
                        return Ok(());
                    }
                    tick(loader);
                }
                let _ = back_tx.send(batch);
            }
            Ok(())
        })?;
    } else {
        // some unit only by its key: its values come from the store, so check in line
        let mut row = Checked::default();
        while let Some(next) = rows.next_row(&mut row.fields, &mut row.cols) {
            file_rows += 1;
            set_read(&mut row, next);
            if loader.take(&plan, &name, &mut row, Some(&mut checker))? {
                break;
            }
            tick(loader);
        }
    }
    if file_rows == 0 {
        let message = "no data rows (the file is empty, or has a header line only)".to_string();
        loader.file_problem(RowProblem::line(&name, header_line, message));
    }
    Ok(())
}

/// Reads and checks up to [`BATCH`] rows into `batch` (reusing its rows); returns how many.
fn check_batch(rows: &mut (dyn Rows + Send), checker: &mut Checker<'_>, batch: &mut Vec<Checked>) -> usize {
    let mut n = 0;
    while n < BATCH {
        if batch.len() == n {
            batch.push(Checked::default());
        }
        let row = &mut batch[n];
        let Some(next) = rows.next_row(&mut row.fields, &mut row.cols) else {
            break;
        };
        if set_read(row, next) {
            checker.check(0, row);
        }
        n += 1;
    }
    n
}

/// Records how reading `row` went; returns whether it was read.
fn set_read(row: &mut Checked, next: Result<u64, RowProblem>) -> bool {
    match next {
        Ok(line) => {
            row.line = line;
            row.read_error = None;
            true
        }
        Err(p) => {
            row.line = p.line;
            row.read_error = Some(p);
            false
        }
    }
}

/// Lands a clean (or `skip_invalid`) import: the audit entry, the rejects file, the commit.
fn finish(
    writer: Writer<'_>,
    import_id: i64,
    files_text: &str,
    files: &[PathBuf],
    opts: &ImportOptions,
    version: u32,
    loaded: Loaded,
) -> Result<ImportReport, CaptureError> {
    let Loaded {
        added,
        unchanged,
        problems,
        rejects,
        rows_read,
        ..
    } = loaded;
    let records: u64 = added.iter().map(|(_, n)| n).sum();
    writer.finish_import(import_id, records as i64)?;
    writer.audit(&AuditLine::new(
        &opts.by,
        "import",
        &format!("wave {}: {} ({} new records)", opts.wave, files_text, records),
    ))?;
    let mut report = ImportReport {
        rows: rows_read,
        added,
        unchanged,
        rejected: rejects.len() as u64,
        rejects_file: None,
        problems: problems.iter().map(|p| p.to_string()).collect(),
        version,
        wave: opts.wave,
    };
    if !rejects.is_empty() {
        let path = opts.rejects.clone().unwrap_or_else(|| {
            let mut p = files[0].clone().into_os_string();
            p.push(".rejects.csv");
            PathBuf::from(p)
        });
        write_rejects(&path, &rejects)?;
        report.rejects_file = Some(path.display().to_string());
    }
    writer.commit()?;
    Ok(report)
}

/// Writes the rejected rows, each with its file, line and reason, then its fields.
fn write_rejects(path: &Path, rejects: &[Reject]) -> Result<(), CaptureError> {
    let io = |source: std::io::Error| CaptureError::Io {
        path: path.display().to_string(),
        what: "cannot write the rejects file".into(),
        source,
    };
    let f = File::create(path).map_err(io)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
    let width = rejects.iter().map(|r| r.fields.len()).max().unwrap_or(0);
    let mut head = vec!["file".to_string(), "line".to_string(), "reason".to_string()];
    head.extend((1..=width).map(|i| format!("field_{i}")));
    w.write_record(&head).map_err(|e| io(e.into()))?;
    for r in rejects {
        let mut rec = vec![r.file.clone(), r.line.to_string(), r.reason.clone()];
        rec.extend(r.fields.iter().cloned());
        rec.resize(3 + width, String::new());
        w.write_record(&rec).map_err(|e| io(e.into()))?;
    }
    w.flush().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn tiny_store(dir: &Path) -> Store {
        let def = crate::schema::load_str(include_str!("../../fixtures/import/tiny.yaml"), "tiny.yaml").unwrap();
        Store::create(&dir.join("s.db"), &def).unwrap()
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/import").join(name)
    }

    #[test]
    fn progress_is_reported_through_the_callback() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = tiny_store(dir.path());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let to = seen.clone();
        let opts = ImportOptions {
            progress: Some(Box::new(move |p: &ImportProgress| to.lock().unwrap().push(*p))),
            ..Default::default()
        };
        let file = fixture("good.csv");
        let r = import_files(&mut store, std::slice::from_ref(&file), &opts).unwrap();
        let seen = seen.lock().unwrap();
        let size = std::fs::metadata(&file).unwrap().len();
        // a few rows: no report on the way, one at the end with everything read
        assert_eq!(
            *seen,
            [ImportProgress {
                rows: r.rows,
                bytes: size,
                total_bytes: size,
                done: true
            }]
        );
    }

    #[test]
    fn r16_conflict_names_no_command_that_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = tiny_store(dir.path());
        import_files(&mut store, &[fixture("good.csv")], &ImportOptions::default()).unwrap();
        let e = import_files(&mut store, &[fixture("bad_conflict.csv")], &ImportOptions::default()).unwrap_err();
        let CaptureError::Invalid { problems, .. } = e else { panic!("{e}") };
        let m = &problems[0].message;
        assert!(m.starts_with("conflict: person_id 1 is already in wave 1 (record "), "{m}");
        assert!(m.contains("'age' is '44' there; nothing was overwritten"), "{m}");
        assert!(
            !m.contains("hearth edit") && m.contains("make this row agree with it, or leave the row out"),
            "{m}"
        );
    }
}
