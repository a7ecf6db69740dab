//! Getting data out: stored responses to CSV, JSON Lines or Parquet, with a codebook.
//!
//! Owns the export layouts: wide (one row per person with the household's columns and
//! scores) and long (one file per unit, each child file carrying its parent's key, so the
//! files import back as separate household and person files). Values are written as stored:
//! missing codes stay, derived scores are those computed at capture, geography columns come
//! from the loaded lookup. Identifiers are left out unless asked for. Reading is streaming;
//! Parquet is written in row groups so memory stays bounded.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::schema::{Definition, QType, Unit};
use crate::store::geo::{AreaField, AreaRow, AREA_COLUMNS as GEO_COLS};
use crate::store::{unit_columns, Cell, CellRef, ReadError, Record, Store, StoreError};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV.
    Csv,
    /// JSON Lines.
    Jsonl,
    /// Parquet.
    Parquet,
}

impl ExportFormat {
    /// Parses a name.
    pub fn parse(s: &str) -> Option<ExportFormat> {
        Some(match s {
            "csv" => ExportFormat::Csv,
            "jsonl" | "ndjson" => ExportFormat::Jsonl,
            "parquet" => ExportFormat::Parquet,
            _ => return None,
        })
    }
    fn ext(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Parquet => "parquet",
        }
    }
}

/// Options of an export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Format.
    pub format: ExportFormat,
    /// Output file (wide) or directory (long).
    pub out: PathBuf,
    /// Only this wave.
    pub wave: Option<i64>,
    /// One file per unit.
    pub long: bool,
    /// Include identifier questions (personal data).
    pub include_identifiers: bool,
    /// Also write a Frictionless Table Schema for each file.
    pub codebook: bool,
}

/// Errors of export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed.
    #[error("{path}: cannot write")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Polars failed to build or write a Parquet row group.
    #[error("{path}: cannot write Parquet")]
    Parquet {
        /// The file being written.
        path: String,
        /// Polars' error.
        #[source]
        source: PolarsError,
    },
    /// The thread encoding Parquet row groups stopped without an error of its own.
    #[error("{path}: cannot write Parquet: {why}")]
    ParquetEncoder {
        /// The file being written.
        path: String,
        /// What became of the encoder.
        why: &'static str,
    },
}

/// Kinds of exported columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Real,
    Text,
    Bool,
}

/// One exported column.
#[derive(Debug, Clone)]
struct OutCol {
    name: String,
    kind: Kind,
    /// Where the value comes from.
    src: Src,
}

#[derive(Debug, Clone)]
enum Src {
    Wave,
    Version,
    Uuid,
    /// index into the scan's (unit, column) list
    Data(usize),
    Geo(AreaField),
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// Files written with their row counts.
    pub files: Vec<(PathBuf, u64)>,
}

fn kind_of(unit: &Unit, name: &str, sql: &str) -> Kind {
    if let Some(q) = unit.question(name) {
        if q.qtype == QType::Boolean {
            return Kind::Bool;
        }
    }
    if let Some(d) = unit.derived.iter().find(|d| d.id == name) {
        if d.expr.ty == crate::schema::expr::ExprType::Bool {
            return Kind::Bool;
        }
    }
    match sql {
        "INTEGER" => Kind::Int,
        "REAL" => Kind::Real,
        _ => Kind::Text,
    }
}

/// Exports the store's responses.
pub fn export(store: &Store, opts: &ExportOptions) -> Result<ExportReport, ExportError> {
    let def = store.definition(None)?;
    let mut files = Vec::new();
    if opts.long {
        std::fs::create_dir_all(&opts.out).map_err(|source| ExportError::Io {
            path: opts.out.display().to_string(),
            source,
        })?;
        for unit in &def.units {
            let path = opts.out.join(format!("{}.{}", unit.id, opts.format.ext()));
            let n = export_unit(store, &def, unit, false, &path, opts)?;
            files.push((path, n));
        }
    } else {
        let leaf = def.leaf_unit();
        let n = export_unit(store, &def, leaf, true, &opts.out, opts)?;
        files.push((opts.out.clone(), n));
    }
    Ok(ExportReport { files })
}

/// The exported columns of one file and the store columns they are read from.
struct Plan {
    /// (unit, column) pairs the store read asks for; `Src::Data(i)` is the `i`th.
    scan_cols: Vec<(String, String)>,
    /// The file's columns, in order.
    cols: Vec<OutCol>,
    /// Which asked column holds the LSOA, when area columns are joined.
    lsoa_idx: Option<usize>,
}

/// The columns of `unit`'s file: system columns, a child file's parent keys, the units'
/// question and derived columns (identifiers only when asked), and the area columns when a
/// lookup is loaded (`areas_loaded`) and the file carries the LSOA question.
fn plan(def: &Definition, unit: &Unit, units: &[&Unit], wide: bool, opts: &ExportOptions, areas_loaded: bool) -> Plan {
    let lineage = def.lineage(&unit.id);
    let mut scan_cols: Vec<(String, String)> = Vec::new();
    let mut cols: Vec<OutCol> = vec![
        OutCol {
            name: "wave".into(),
            kind: Kind::Int,
            src: Src::Wave,
        },
        OutCol {
            name: "version".into(),
            kind: Kind::Int,
            src: Src::Version,
        },
    ];
    cols.push(OutCol {
        name: format!("{}_uuid", unit.id),
        kind: Kind::Text,
        src: Src::Uuid,
    });
    if !wide {
        // a child file carries its parent's key so it imports as a separate file
        for anc in lineage.iter().take(lineage.len() - 1) {
            scan_cols.push((anc.id.clone(), anc.key.clone()));
            let kq = anc
                .question(&anc.key)
                .map(|q| if q.qtype == QType::Integer { Kind::Int } else { Kind::Text })
                .unwrap_or(Kind::Text);
            cols.push(OutCol {
                name: anc.key.clone(),
                kind: kq,
                src: Src::Data(scan_cols.len() - 1),
            });
        }
    }
    for u in units {
        for c in unit_columns(u) {
            if c.identifier && !opts.include_identifiers {
                continue;
            }
            scan_cols.push((u.id.clone(), c.name.clone()));
            cols.push(OutCol {
                name: c.name.clone(),
                kind: kind_of(u, &c.name, c.sql_type),
                src: Src::Data(scan_cols.len() - 1),
            });
        }
    }
    // geography, when loaded and the unit carries (or descends from) the LSOA question
    let lsoa_q = def.geography.as_ref().and_then(|g| g.lsoa.clone());
    let lsoa_idx = lsoa_q.as_ref().and_then(|q| scan_cols.iter().position(|(_, c)| c == q));
    if areas_loaded && lsoa_idx.is_some() {
        for g in GEO_COLS {
            if *g == "lsoa" && lsoa_q.as_deref() == Some("lsoa") {
                continue;
            }
            let Some(field) = AreaRow::field(g) else { continue };
            let kind = match *g {
                "imd_rank" => Kind::Real,
                g if g.starts_with("imd") => Kind::Int,
                _ => Kind::Text,
            };
            cols.push(OutCol {
                name: g.to_string(),
                kind,
                src: Src::Geo(field),
            });
        }
    }
    Plan { scan_cols, cols, lsoa_idx }
}

fn export_unit(store: &Store, def: &Definition, unit: &Unit, wide: bool, path: &Path, opts: &ExportOptions) -> Result<u64, ExportError> {
    let units: Vec<&Unit> = if wide { def.lineage(&unit.id) } else { vec![unit] };
    let areas: HashMap<String, AreaRow> = store.areas()?.into_iter().map(|a| (a.lsoa.clone(), a)).collect();
    let Plan { scan_cols, cols, lsoa_idx } = plan(def, unit, &units, wide, opts, !areas.is_empty());
    let area_of = |r: &Record<'_>| -> Result<Option<&AreaRow>, ReadError> {
        Ok(match lsoa_idx {
            Some(i) => r.get(i)?.as_text().and_then(|l| areas.get(l)),
            None => None,
        })
    };
    let io = |source: std::io::Error| ExportError::Io {
        path: path.display().to_string(),
        source,
    };
    let new_sink = || -> Result<Sink<BufWriter<File>>, ExportError> {
        Sink::new(opts.format, BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?), &cols, path)
    };
    let mut sink = new_sink()?;
    if let Sink::Parquet(ps, _) = &mut sink {
        // chunks of rows read on several connections at once, written in order
        let mut count = 0u64;
        let mut err: Option<ExportError> = None;
        let kinds = ps.cols.clone();
        let consistent = store.scan_chunks(
            def,
            &unit.id,
            &scan_cols,
            opts.wave,
            BATCH as i64,
            || Batch::new(&kinds),
            |b, r| b.push_row(r, &cols, area_of(r)?),
            |b| {
                count += b.rows as u64;
                match ps.send(b) {
                    Ok(()) => true,
                    Err(e) => {
                        err = Some(e);
                        false
                    }
                }
            },
        )?;
        if let Some(e) = err {
            return Err(e);
        }
        if consistent {
            sink.finish()?;
            write_codebook(def, &units, &cols, path, opts)?;
            return Ok(count);
        }
        // another process wrote meanwhile: start again in one pass
        let _ = sink.finish();
        sink = new_sink()?;
    }
    let count = write_rows(store, def, unit, &scan_cols, &cols, opts.wave, &mut sink, area_of)?;
    sink.finish()?;
    write_codebook(def, &units, &cols, path, opts)?;
    Ok(count)
}

/// Writes every record in one pass over the store; returns how many.
#[allow(clippy::too_many_arguments)]
fn write_rows<'a, W: Write + Send + 'static>(
    store: &Store,
    def: &Definition,
    unit: &Unit,
    scan_cols: &[(String, String)],
    cols: &[OutCol],
    wave: Option<i64>,
    sink: &mut Sink<W>,
    area_of: impl Fn(&Record<'_>) -> Result<Option<&'a AreaRow>, ReadError>,
) -> Result<u64, ExportError> {
    let mut count = 0u64;
    let mut err: Option<ExportError> = None;
    let mut row: Vec<Cell> = vec![Cell::Null; cols.len()];
    store.scan(def, &unit.id, scan_cols, wave, |r| {
        if err.is_some() {
            return Ok(());
        }
        let area = area_of(r)?;
        count += 1;
        if let Sink::Parquet(ps, _) = sink {
            // typed values straight from the row: no cell or string per value
            ps.batch.push_row(r, cols, area)?;
            if ps.batch.rows >= BATCH {
                if let Err(e) = ps.flush() {
                    err = Some(e);
                }
            }
            return Ok(());
        }
        for (k, c) in cols.iter().enumerate() {
            row[k] = match &c.src {
                Src::Wave => Cell::Int(r.wave()?),
                Src::Version => Cell::Int(r.version()?.into()),
                Src::Uuid => Cell::Text(r.uuid()?.to_string()),
                Src::Data(i) => r.get(*i)?.to_cell(),
                Src::Geo(g) => match (area, g) {
                    (None, _) => Cell::Null,
                    (Some(a), AreaField::Text(f)) => f(a).map(|s| Cell::Text(s.to_string())).unwrap_or(Cell::Null),
                    (Some(a), AreaField::Num(f)) => match f(a) {
                        Some(x) if c.kind == Kind::Int => Cell::Int(x as i64),
                        Some(x) => Cell::Real(x),
                        None => Cell::Null,
                    },
                },
            };
        }
        if let Err(e) = sink.push(&row) {
            err = Some(e);
        }
        Ok(())
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(count),
    }
}

/// Writes `<path>.schema.json` when asked.
fn write_codebook(def: &Definition, units: &[&Unit], cols: &[OutCol], path: &Path, opts: &ExportOptions) -> Result<(), ExportError> {
    if opts.codebook {
        let cb = codebook(def, units, cols);
        let mut p = path.as_os_str().to_owned();
        p.push(".schema.json");
        std::fs::write(&p, serde_json::to_string_pretty(&cb).unwrap_or_default()).map_err(|source| ExportError::Io {
            path: PathBuf::from(&p).display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// A Frictionless Table Schema for the exported columns, with value labels.
fn codebook(def: &Definition, units: &[&Unit], cols: &[OutCol]) -> serde_json::Value {
    use serde_json::json;
    let mut fields = Vec::new();
    for c in cols {
        let ty = match c.kind {
            Kind::Int => "integer",
            Kind::Real => "number",
            Kind::Bool => "boolean",
            Kind::Text => "string",
        };
        let mut f = json!({"name": c.name, "type": ty});
        let q = units.iter().find_map(|u| u.question(&c.name));
        let d = units.iter().find_map(|u| u.derived.iter().find(|d| d.id == c.name));
        if let Some(q) = q {
            f["title"] = json!(q.label.text());
            if q.qtype == QType::Date {
                f["type"] = json!("date");
            }
            if let Some(list) = &q.choices {
                f["categories"] = json!(list
                    .choices
                    .iter()
                    .map(|ch| json!({"value": ch.value, "label": ch.label.text()}))
                    .collect::<Vec<_>>());
                if q.qtype == QType::SelectOne {
                    f["constraints"] =
                        json!({"enum": list.choices.iter().map(|ch| json!(ch.value)).chain(q.missing.iter().map(|m| json!(m.code))).collect::<Vec<_>>()});
                } else {
                    f["description"] = json!("chosen values separated by single spaces");
                }
            }
            if !q.missing.is_empty() {
                f["missingValues"] = json!(std::iter::once(String::new())
                    .chain(q.missing.iter().map(|m| m.code.to_string()))
                    .collect::<Vec<_>>());
                f["x-missing-codes"] = json!(q.missing.iter().map(|m| json!({"value": m.code, "label": m.label})).collect::<Vec<_>>());
            }
            if let Some(i) = &q.instrument {
                f["x-instrument"] = json!(i);
            }
            if q.identifier {
                f["x-identifier"] = json!(true);
            }
        } else if let Some(d) = d {
            f["title"] = json!(d.label.as_ref().map(|l| l.text()).unwrap_or(""));
            f["description"] = json!(format!("derived: {}", d.expr.text));
            if let Some(list) = &d.choices {
                f["categories"] = json!(list
                    .choices
                    .iter()
                    .map(|ch| json!({"value": ch.value, "label": ch.label.text()}))
                    .collect::<Vec<_>>());
            }
        } else {
            let title = match c.name.as_str() {
                "wave" => "Wave".to_string(),
                "version" => "Definition version the record was captured with".to_string(),
                n if n.ends_with("_uuid") => "Record UUID".to_string(),
                n => format!("Area lookup: {n} (loaded geography)"),
            };
            f["title"] = json!(title);
        }
        fields.push(f);
    }
    let key: Vec<String> = units.iter().map(|u| u.key.clone()).collect();
    json!({
        "$schema": "https://specs.frictionlessdata.io/schemas/table-schema.json",
        "title": def.title.text(),
        "x-survey": def.survey,
        "x-definition-version": def.version,
        "fields": fields,
        "primaryKey": std::iter::once("wave".to_string()).chain(key).collect::<Vec<_>>(),
        "missingValues": [""],
    })
}

enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>, String),
    Jsonl(W, Vec<(String, Kind)>, String),
    Parquet(Box<ParquetSink>, std::marker::PhantomData<W>),
}

/// Parquet output: typed column builders filled row by row; each full batch goes to a second
/// thread that encodes, compresses and writes it while the next one is read.
struct ParquetSink {
    cols: Vec<(String, Kind)>,
    /// Rows read one by one (the sequential path), sent when full.
    batch: Batch,
    path: String,
    batches: Option<std::sync::mpsc::SyncSender<DataFrame>>,
    encoder: Option<std::thread::JoinHandle<PolarsResult<()>>>,
}

/// Rows gathered for one Parquet row group, column by column.
struct Batch {
    bufs: Vec<Buf>,
    rows: usize,
}

impl Batch {
    fn new(cols: &[(String, Kind)]) -> Batch {
        Batch {
            bufs: cols.iter().map(|(name, kind)| Buf::new(*kind, name)).collect(),
            rows: 0,
        }
    }

    /// Appends one scanned row (`cols` say where each value comes from).
    fn push_row(&mut self, r: &Record<'_>, cols: &[OutCol], area: Option<&AreaRow>) -> Result<(), ReadError> {
        for (b, c) in self.bufs.iter_mut().zip(cols) {
            match &c.src {
                Src::Wave => b.push(CellRef::Int(r.wave()?)),
                Src::Version => b.push(CellRef::Int(r.version()?.into())),
                Src::Uuid => b.push(CellRef::Text(r.uuid()?)),
                Src::Data(i) => b.push(r.get(*i)?),
                Src::Geo(g) => match area {
                    None => b.push_text(None),
                    Some(a) => match g {
                        AreaField::Text(f) => b.push_text(f(a)),
                        AreaField::Num(f) => b.push_num(f(a)),
                    },
                },
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn into_frame(self, cols: &[(String, Kind)]) -> PolarsResult<DataFrame> {
        let columns: Vec<Column> = cols
            .iter()
            .zip(self.bufs)
            .map(|(_, b)| {
                let s = match b {
                    Buf::Int(b) => b.finish().into_series(),
                    Buf::Real(b) => b.finish().into_series(),
                    Buf::Text(b) => b.finish().into_series(),
                    Buf::Bool(b) => b.finish().into_series(),
                };
                s.into_column()
            })
            .collect();
        DataFrame::new(self.rows, columns)
    }
}

enum Buf {
    Int(PrimitiveChunkedBuilder<Int64Type>),
    Real(PrimitiveChunkedBuilder<Float64Type>),
    Text(StringChunkedBuilder),
    Bool(BooleanChunkedBuilder),
}

impl Buf {
    fn new(kind: Kind, name: &str) -> Buf {
        match kind {
            Kind::Int => Buf::Int(PrimitiveChunkedBuilder::new(name.into(), BATCH)),
            Kind::Real => Buf::Real(PrimitiveChunkedBuilder::new(name.into(), BATCH)),
            Kind::Text => Buf::Text(StringChunkedBuilder::new(name.into(), BATCH)),
            Kind::Bool => Buf::Bool(BooleanChunkedBuilder::new(name.into(), BATCH)),
        }
    }

    /// Appends a stored value, converted to the column's type.
    fn push(&mut self, v: CellRef<'_>) {
        match self {
            Buf::Int(b) => b.append_option(match v {
                CellRef::Int(x) => Some(x),
                CellRef::Real(x) => Some(x as i64),
                _ => None,
            }),
            Buf::Real(b) => b.append_option(v.as_f64()),
            Buf::Bool(b) => b.append_option(v.as_int().map(|x| x != 0)),
            Buf::Text(b) => match v {
                CellRef::Null => b.append_null(),
                CellRef::Text(s) => b.append_value(s),
                CellRef::Int(x) => b.append_value(x.to_string()),
                CellRef::Real(x) => b.append_value(cell_text(&Cell::Real(x), Kind::Text)),
            },
        }
    }

    fn push_text(&mut self, v: Option<&str>) {
        match self {
            Buf::Text(b) => b.append_option(v),
            Buf::Int(b) => b.append_option(v.and_then(|s| s.parse().ok())),
            Buf::Real(b) => b.append_option(v.and_then(|s| s.parse().ok())),
            Buf::Bool(b) => b.append_null(),
        }
    }

    fn push_num(&mut self, v: Option<f64>) {
        match self {
            Buf::Int(b) => b.append_option(v.map(|x| x as i64)),
            Buf::Real(b) => b.append_option(v),
            Buf::Text(b) => b.append_option(v.map(|x| cell_text(&Cell::Real(x), Kind::Text))),
            Buf::Bool(b) => b.append_null(),
        }
    }
}

const BATCH: usize = 65_536;

fn cell_text(c: &Cell, kind: Kind) -> String {
    match (c, kind) {
        (Cell::Null, _) => String::new(),
        (Cell::Int(v), Kind::Bool) => {
            if *v != 0 {
                "true".into()
            } else {
                "false".into()
            }
        }
        (Cell::Int(v), _) => v.to_string(),
        (Cell::Real(v), _) => {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{v:.1}")
            } else {
                format!("{v}")
            }
        }
        (Cell::Text(s), _) => s.clone(),
    }
}

impl<W: Write + Send + 'static> Sink<W> {
    fn new(format: ExportFormat, w: W, cols: &[OutCol], path: &Path) -> Result<Sink<W>, ExportError> {
        let p = path.display().to_string();
        Ok(match format {
            ExportFormat::Csv => {
                let mut wr = csv::Writer::from_writer(w);
                wr.write_record(cols.iter().map(|c| c.name.as_str())).map_err(|e| ExportError::Io {
                    path: p.clone(),
                    source: e.into(),
                })?;
                Sink::Csv(Box::new(wr), p)
            }
            ExportFormat::Jsonl => Sink::Jsonl(w, cols.iter().map(|c| (c.name.clone(), c.kind)).collect(), p),
            ExportFormat::Parquet => {
                let fields: Vec<Field> = cols
                    .iter()
                    .map(|c| {
                        let dt = match c.kind {
                            Kind::Int => DataType::Int64,
                            Kind::Real => DataType::Float64,
                            Kind::Text => DataType::String,
                            Kind::Bool => DataType::Boolean,
                        };
                        Field::new(c.name.as_str().into(), dt)
                    })
                    .collect();
                let schema = Schema::from_iter(fields);
                let mut writer = ParquetWriter::new(w)
                    .batched(&schema)
                    .map_err(|source| ExportError::Parquet { path: p.clone(), source })?;
                let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(1);
                let encoder = std::thread::spawn(move || -> PolarsResult<()> {
                    for df in rx {
                        writer.write_batch(&df)?;
                    }
                    writer.finish()?;
                    Ok(())
                });
                Sink::Parquet(
                    Box::new(ParquetSink {
                        cols: cols.iter().map(|c| (c.name.clone(), c.kind)).collect(),
                        batch: Batch::new(&cols.iter().map(|c| (c.name.clone(), c.kind)).collect::<Vec<_>>()),
                        path: p,
                        batches: Some(tx),
                        encoder: Some(encoder),
                    }),
                    std::marker::PhantomData,
                )
            }
        })
    }

    fn push(&mut self, row: &[Cell]) -> Result<(), ExportError> {
        match self {
            Sink::Csv(w, p) => w.write_record(row.iter().map(|c| cell_text(c, Kind::Text))).map_err(|e| ExportError::Io {
                path: p.clone(),
                source: e.into(),
            }),
            Sink::Jsonl(w, cols, p) => {
                let mut m = serde_json::Map::with_capacity(cols.len());
                for ((name, kind), c) in cols.iter().zip(row) {
                    let v = match (c, kind) {
                        (Cell::Null, _) => serde_json::Value::Null,
                        (Cell::Int(v), Kind::Bool) => serde_json::Value::Bool(*v != 0),
                        (Cell::Int(v), _) => serde_json::Value::from(*v),
                        (Cell::Real(v), _) => serde_json::Value::from(*v),
                        (Cell::Text(s), _) => serde_json::Value::String(s.clone()),
                    };
                    m.insert(name.clone(), v);
                }
                let line = serde_json::Value::Object(m).to_string();
                writeln!(w, "{line}").map_err(|source| ExportError::Io { path: p.clone(), source })
            }
            // Parquet rows are taken typed from the store (`Batch::push_row`), never as cells
            Sink::Parquet(..) => unreachable!("Parquet rows are pushed typed"),
        }
    }

    fn finish(self) -> Result<(), ExportError> {
        match self {
            Sink::Csv(mut w, p) => w.flush().map_err(|source| ExportError::Io { path: p, source }),
            Sink::Jsonl(mut w, _, p) => w.flush().map_err(|source| ExportError::Io { path: p, source }),
            Sink::Parquet(mut ps, _) => ps.finish(),
        }
    }
}

impl ParquetSink {
    fn err(&self, source: PolarsError) -> ExportError {
        ExportError::Parquet {
            path: self.path.clone(),
            source,
        }
    }

    fn encoder_err(&self, why: &'static str) -> ExportError {
        ExportError::ParquetEncoder { path: self.path.clone(), why }
    }

    /// Hands a batch to the encoding thread.
    fn send(&mut self, batch: Batch) -> Result<(), ExportError> {
        if batch.rows == 0 {
            return Ok(());
        }
        let df = batch.into_frame(&self.cols).map_err(|e| self.err(e))?;
        let sent = self.batches.as_ref().map(|tx| tx.send(df).is_ok()).unwrap_or(false);
        if !sent {
            // the encoder stopped: its error says why
            return self.finish();
        }
        Ok(())
    }

    /// Hands the rows gathered one by one to the encoding thread.
    fn flush(&mut self) -> Result<(), ExportError> {
        let full = std::mem::replace(&mut self.batch, Batch::new(&self.cols));
        self.send(full)
    }

    /// Writes the last rows and waits for the file to be complete.
    fn finish(&mut self) -> Result<(), ExportError> {
        if self.batch.rows > 0 && self.batches.is_some() {
            self.flush()?;
        }
        self.batches = None;
        match self.encoder.take().map(|h| h.join()) {
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(self.err(e)),
            Some(Err(_)) => Err(self.encoder_err("the Parquet encoder failed")),
            None => Err(self.encoder_err("the Parquet encoder has stopped")),
        }
    }
}
