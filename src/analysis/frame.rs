//! The one path from stored responses to a Polars DataFrame.
//!
//! Owns choosing the columns an analysis needs (outcomes, breakdowns, design, `--where`),
//! reading only those from the store, turning missing codes into nulls, expanding
//! `select_multiple` answers into indicator columns, computing derived variables with the
//! expression language compiled to Polars, and joining the area lookup (deprivation, ward,
//! local authority). Rows are the analysis unit (persons in a household survey), with their
//! household's columns alongside.

use std::collections::{BTreeSet, HashSet};

use polars::prelude::*;

use super::AnalysisError;
use crate::schema::date::Date;
use crate::schema::expr::{self, ExprType};
use crate::schema::{Code, Definition, Derived, QType, Question, Unit};
use crate::store::geo::{AreaField, AreaRow};
use crate::store::{cell_ref, CachedColumn, Cell, CellRef, Codes, RawCells, ReadError, Record, Store};

/// Variables that come from the area lookup rather than from answers.
pub const GEO_VARS: &[&str] = crate::store::geo::AREA_COLUMNS;

/// A loaded analysis frame.
pub struct Frame {
    /// One row per record of the analysis unit.
    pub df: DataFrame,
    /// The wave of each row.
    pub waves: Vec<i64>,
    /// The record id (UUID) of each row, when asked for ([`load_keyed`]); empty otherwise.
    pub ids: Vec<u128>,
}

/// A column read from the store: an answer, or a stored score.
enum Source<'a> {
    Answer(&'a Question),
    Score(&'a Derived),
}

impl Source<'_> {
    fn id(&self) -> &str {
        match self {
            Source::Answer(q) => &q.id,
            Source::Score(d) => &d.id,
        }
    }
}

/// One column being filled from the store's records.
enum Buf {
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Text(StringChunkedBuilder),
    /// One indicator column per choice of a `select_multiple` answer.
    Multi(Vec<Vec<Option<bool>>>),
}

impl Buf {
    /// An empty column for `src`, with room for `rows` values.
    fn new(src: &Source<'_>, rows: usize) -> Buf {
        let (ty, n_choices) = match src {
            Source::Answer(q) => (q.expr_type(), q.choices.as_ref().map(|c| c.choices.len()).unwrap_or(0)),
            Source::Score(d) => (d.expr.ty, 0),
        };
        match ty {
            ExprType::Num | ExprType::Date => Buf::Num(Vec::with_capacity(rows)),
            ExprType::Bool => Buf::Bool(Vec::with_capacity(rows)),
            ExprType::Multi => Buf::Multi(vec![Vec::new(); n_choices]),
            ExprType::Text => Buf::Text(StringChunkedBuilder::new("".into(), 1024)),
        }
    }

    /// Appends one record's stored value of `src`: an answer with its missing codes read as
    /// missing, dates as days, multiple choices as indicators; a score as stored.
    #[inline]
    fn push(&mut self, src: &Source<'_>, v: CellRef<'_>) {
        match (src, self) {
            (_, Buf::Num(b)) => b.push(num_value(src, v)),
            (Source::Score(_), Buf::Multi(_)) => {}
            (_, Buf::Bool(b)) => b.push(bool_value(v)),
            (_, Buf::Text(b)) => b.append_option(text_value(src, v)),
            (Source::Answer(q), Buf::Multi(ind)) => {
                let t = text_of(q, v);
                let chosen: Vec<usize> = t
                    .as_deref()
                    .map(|s| s.split_whitespace().filter_map(|p| q.choices.as_ref().and_then(|l| l.index_of(p))).collect())
                    .unwrap_or_default();
                for (k, col) in ind.iter_mut().enumerate() {
                    col.push(t.as_ref().map(|_| chosen.contains(&k)));
                }
            }
        }
    }

    /// The filled column(s) of `src` as series: one, or one indicator per choice.
    fn finish(self, src: &Source<'_>, out: &mut Vec<Series>) {
        let name = src.id();
        match self {
            Buf::Num(v) => out.push(Series::new(name.into(), v)),
            Buf::Bool(v) => out.push(Series::new(name.into(), v)),
            Buf::Text(b) => out.push(b.finish().into_series().with_name(name.into())),
            Buf::Multi(ind) => {
                let Source::Answer(q) = src else { return };
                let codes = q.choices.as_ref().map(|c| c.codes()).unwrap_or_default();
                for (code, v) in codes.iter().zip(ind) {
                    out.push(Series::new(expr::polars::indicator_column(&q.id, code).into(), v));
                }
            }
        }
    }
}

/// A stored value of `src` as a number: an answer's with its missing codes read as missing,
/// a score's as stored.
#[inline]
fn num_value(src: &Source<'_>, v: CellRef<'_>) -> Option<f64> {
    match src {
        Source::Score(_) => v.as_f64(),
        Source::Answer(q) => num_of(q, v),
    }
}

/// A stored value as a boolean (0 or 1).
#[inline]
fn bool_value(v: CellRef<'_>) -> Option<bool> {
    v.as_int().map(|x| x != 0)
}

/// A stored value of `src` as text: an answer's with its missing codes read as missing, a
/// score's as stored (text only).
#[inline]
fn text_value<'v>(src: &Source<'_>, v: CellRef<'v>) -> Option<std::borrow::Cow<'v, str>> {
    match src {
        Source::Score(_) => v.as_text().map(std::borrow::Cow::Borrowed),
        Source::Answer(q) => text_of(q, v),
    }
}

/// A stored value as a number: whole numbers, reals, dates written as text, numbers written
/// as text; missing codes read as missing.
fn num_of(q: &Question, v: CellRef<'_>) -> Option<f64> {
    let x = match v {
        CellRef::Int(i) => i as f64,
        CellRef::Real(r) => r,
        CellRef::Text(t) => {
            if q.qtype == QType::Date {
                return Date::parse(t).map(|d| d.days() as f64);
            }
            t.parse().ok()?
        }
        CellRef::Null => return None,
    };
    if q.missing.iter().any(|m| matches!(m.code, Code::Int(c) if c as f64 == x)) {
        return None;
    }
    Some(x)
}

/// A stored value as text (missing codes read as missing).
fn text_of<'v>(q: &Question, v: CellRef<'v>) -> Option<std::borrow::Cow<'v, str>> {
    use std::borrow::Cow;
    let s: Cow<'v, str> = match v {
        CellRef::Null => return None,
        CellRef::Int(i) => Cow::Owned(i.to_string()),
        CellRef::Real(r) => Cow::Owned(r.to_string()),
        CellRef::Text(t) => Cow::Borrowed(t),
    };
    if !q.missing.is_empty() && q.missing_code(&s).is_some() {
        return None;
    }
    Some(s)
}

/// Loads the frame with `vars` (question, derived, geography ids or `wave`) for the waves given
/// (all when empty). Unknown names are errors with suggestions.
pub fn load(store: &Store, def: &Definition, vars: &[String], waves: &[i64]) -> Result<Frame, AnalysisError> {
    load_with(store, def, vars, waves, true)
}

/// Derived variables whose stored values (computed at capture) equal what the current
/// definition computes: every definition version the unit's records were captured with has the
/// same resolved expression (params and tables included) at the same slot. Those are read as
/// stored instead of recomputed from their items, which saves reading most item columns.
fn reusable_scores(store: &Store, def: &Definition, unit_ids: &[String]) -> Result<HashSet<String>, AnalysisError> {
    let mut ok = HashSet::new();
    for uid in unit_ids {
        let Some(unit) = def.unit(uid) else { continue };
        let versions = store.versions_used(uid)?;
        let others: Vec<Definition> = versions
            .iter()
            .filter(|v| **v != def.version)
            .map(|v| store.definition(Some(*v)))
            .collect::<Result<_, _>>()?;
        for d in &unit.derived {
            let same = others.iter().all(|o| {
                o.unit(uid)
                    .and_then(|u| u.derived.iter().find(|x| x.id == d.id))
                    .is_some_and(|x| x.slot == d.slot && x.expr.expr == d.expr.expr && x.expr.ty == d.expr.ty)
            });
            if same {
                ok.insert(d.id.clone());
            }
        }
    }
    Ok(ok)
}

/// The derived variable at `slot` among the units of `lineage`.
fn derived_at<'d>(lineage: &[&'d Unit], slot: usize) -> Option<&'d Derived> {
    lineage.iter().flat_map(|u| u.derived.iter()).find(|d| d.slot == slot)
}

/// What a frame reads and computes, resolved from the variable names asked for.
struct Needs {
    /// Questions read as answers (slots of the leaf unit's scope).
    base: BTreeSet<usize>,
    /// Derived variables computed from their items, in slot (= evaluation) order.
    derived: BTreeSet<usize>,
    /// Derived variables read as stored at capture.
    stored: BTreeSet<usize>,
    /// Area columns, joined from the lookup.
    geo: Vec<String>,
}

/// Resolves `vars` to the questions, derived variables (with everything they depend on) and
/// area columns to read. Unknown names are errors with suggestions.
fn resolve(store: &Store, def: &Definition, vars: &[String], use_stored: bool) -> Result<Needs, AnalysisError> {
    let leaf = def.leaf_unit();
    let scope = &leaf.scope;
    let lineage = def.lineage(&leaf.id);
    let mut geo: Vec<String> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for v in vars {
        if v == "wave" {
            continue;
        }
        // With a geography section, area columns come from the lookup (and the loader refuses
        // questions of those names); without one, a survey's own `imd_decile` is a question.
        if GEO_VARS.contains(&v.as_str()) && (def.geography.is_some() || scope.slot(v).is_none()) {
            if def.geography.is_none() {
                return Err(AnalysisError::NoGeography { variable: v.clone() });
            }
            geo.push(v.clone());
            continue;
        }
        match scope.slot(v) {
            Some(s) => stack.push(s),
            None => {
                let mut cands: Vec<&str> = scope.ids().collect();
                cands.extend(GEO_VARS.iter().copied());
                cands.push("wave");
                return Err(AnalysisError::UnknownVariable {
                    name: v.clone(),
                    suggestion: crate::schema::yaml::did_you_mean(v, cands),
                });
            }
        }
    }
    if let Some(g) = def.geography.as_ref().filter(|_| !geo.is_empty()) {
        let q = g.lsoa.clone().or_else(|| g.postcode.clone()).unwrap_or_default();
        if let Some(s) = scope.slot(&q) {
            stack.push(s);
        }
    }
    let reusable = if use_stored {
        reusable_scores(store, def, &lineage.iter().map(|u| u.id.clone()).collect::<Vec<_>>())?
    } else {
        HashSet::new()
    };
    let mut needs = Needs {
        base: BTreeSet::new(),
        derived: BTreeSet::new(),
        stored: BTreeSet::new(),
        geo,
    };
    while let Some(s) = stack.pop() {
        if let Some(d) = derived_at(&lineage, s) {
            if reusable.contains(&d.id) {
                needs.stored.insert(s);
            } else if needs.derived.insert(s) {
                let mut deps = Vec::new();
                d.expr.expr.slots(&mut deps);
                stack.extend(deps);
            }
        } else {
            needs.base.insert(s);
        }
    }
    Ok(needs)
}

/// The store columns to read, as (unit, column) pairs, and what each one is.
fn sources<'d>(def: &'d Definition, needs: &Needs) -> (Vec<(String, String)>, Vec<Source<'d>>) {
    let leaf = def.leaf_unit();
    let lineage = def.lineage(&leaf.id);
    let mut cols: Vec<(String, String)> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    for &s in &needs.base {
        let id = &leaf.scope.var(s).id;
        if let Some((u, q)) = def.find_question(id) {
            cols.push((u.id.clone(), id.clone()));
            sources.push(Source::Answer(q));
        }
    }
    for &s in &needs.stored {
        if let Some(d) = derived_at(&lineage, s) {
            if let Some(u) = lineage.iter().find(|u| u.derived.iter().any(|x| x.slot == s)) {
                cols.push((u.id.clone(), d.id.clone()));
                sources.push(Source::Score(d));
            }
        }
    }
    (cols, sources)
}

/// What [`read_columns`] reads: the wave and record id of each row, and the columns.
type ReadColumns = (Vec<i64>, Vec<u128>, Vec<Series>);

/// Reads the columns of the leaf unit's records in `waves` (all when empty): the wave of each
/// row, and the columns as series. Without record ids and identifiers, from the store's column
/// cache when it holds them all; otherwise from the records, keeping what was read in the
/// cache (best effort) for the next analysis.
fn read_columns(
    store: &Store,
    def: &Definition,
    cols: &[(String, String)],
    sources: &[Source<'_>],
    waves: &[i64],
    with_ids: bool,
) -> Result<ReadColumns, AnalysisError> {
    let identifier = |u: &str, c: &str| def.unit(u).and_then(|x| x.question(c)).is_some_and(|q| q.identifier);
    if !with_ids && !cols.iter().any(|(u, c)| identifier(u, c)) {
        let leaf = &def.leaf_unit().id;
        let t = crate::timing::phase("frame: read the column cache");
        let hit = store.cached_columns(leaf, cols);
        drop(t);
        if let Some((wave, columns)) = hit {
            let _t = crate::timing::phase("frame: columns from the cache");
            if let Some((w, series)) = from_cached(sources, &wave, &columns, waves) {
                return Ok((w, Vec::new(), series));
            }
        }
        if let Some(read) = scan_to_cache(store, def, cols, sources, waves)? {
            return Ok(read);
        }
    }
    scan_columns(store, def, cols, sources, waves, with_ids)
}

/// The rows of the waves asked for (`None`: every row) and their waves, from the leaf's
/// cached wave column; `None` when a wave is not a whole number (the records then are read).
fn cached_waves(wave: &CachedColumn, waves: &[i64]) -> Option<(Option<Vec<u32>>, Vec<i64>)> {
    let all: Vec<i64> = (0..wave.len()).map(|i| wave.get(i).as_int()).collect::<Option<_>>()?;
    if waves.is_empty() || all.iter().all(|w| waves.contains(w)) {
        return Some((None, all));
    }
    let rows: Vec<u32> = (0..all.len() as u32).filter(|&i| waves.contains(&all[i as usize])).collect();
    let kept = rows.iter().map(|&i| all[i as usize]).collect();
    Some((Some(rows), kept))
}

/// The series of `sources` from their cached columns, for the rows of `waves`; `None` when
/// the cached waves are unusable.
fn from_cached(sources: &[Source<'_>], wave: &CachedColumn, columns: &[CachedColumn], waves: &[i64]) -> Option<(Vec<i64>, Vec<Series>)> {
    let (rows, wave_col) = cached_waves(wave, waves)?;
    // the columns are independent: built on several threads, each taking the next column
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
        .min(sources.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Vec<Series>)> = Vec::new();
        loop {
            let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (Some(src), Some(col)) = (sources.get(j), columns.get(j)) else {
                return done;
            };
            let mut out = Vec::new();
            cached_series(src, col, rows.as_deref(), &mut out);
            done.push((j, out));
        }
    };
    let mut built: Vec<Vec<Series>> = vec![Vec::new(); sources.len()];
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads).map(|_| sc.spawn(work)).collect();
        for h in handles {
            for (j, s) in h.join().expect("a column thread panicked") {
                built[j] = s;
            }
        }
    });
    Some((wave_col, built.into_iter().flatten().collect()))
}

/// The series of `src` from its cached column, for `rows` (all when `None`), valued as
/// [`Buf::push`] values them: a dictionary's distinct values decoded once, then copied to
/// their rows; a plain column row by row.
fn cached_series(src: &Source<'_>, col: &CachedColumn, rows: Option<&[u32]>, out: &mut Vec<Series>) {
    let kind = Buf::new(src, 0);
    if let CachedColumn::Dict { values, codes } = col {
        let selected;
        let codes = match rows {
            Some(r) => {
                selected = codes.select(r);
                &selected
            }
            None => codes,
        };
        let series = match codes {
            Codes::U8(c) => dict_series(src, &kind, values, c.iter().map(|&k| k as usize)),
            Codes::U16(c) => dict_series(src, &kind, values, c.iter().map(|&k| k as usize)),
            Codes::U32(c) => dict_series(src, &kind, values, c.iter().map(|&k| k as usize)),
        };
        if let Some(s) = series {
            out.push(s);
            return;
        }
    }
    let name: PlSmallStr = src.id().into();
    let n = rows.map_or(col.len(), <[u32]>::len);
    let at = |k: usize| col.get(rows.map_or(k, |r| r[k] as usize));
    let s = match kind {
        Buf::Num(_) => Float64Chunked::from_iter_options(name, (0..n).map(|k| num_value(src, at(k)))).into_series(),
        Buf::Bool(_) => BooleanChunked::from_iter_options(name, (0..n).map(|k| bool_value(at(k)))).into_series(),
        Buf::Text(_) => StringChunked::from_iter_options(name, (0..n).map(|k| text_value(src, at(k)))).into_series(),
        mut multi @ Buf::Multi(_) => {
            (0..n).for_each(|k| multi.push(src, at(k)));
            multi.finish(src, out);
            return;
        }
    };
    out.push(s);
}

/// The series of `src` whose rows hold the dictionary `values` at `codes`: the distinct
/// values decoded once into a short column, then gathered (a text row is a view into the
/// distinct texts, not a copy); `None` for indicator columns (read row by row).
fn dict_series(src: &Source<'_>, kind: &Buf, values: &[Cell], codes: impl Iterator<Item = usize>) -> Option<Series> {
    let name: PlSmallStr = src.id().into();
    let values = values.iter().map(cell_ref);
    let dict = match kind {
        Buf::Num(_) => Float64Chunked::from_iter_options(name, values.map(|v| num_value(src, v))).into_series(),
        Buf::Bool(_) => BooleanChunked::from_iter_options(name, values.map(bool_value)).into_series(),
        Buf::Text(_) => {
            let d: Vec<_> = values.map(|v| text_value(src, v)).collect();
            StringChunked::from_iter_options(name, d.iter().map(|t| t.as_deref())).into_series()
        }
        Buf::Multi(_) => return None,
    };
    let idx = IdxCa::from_vec("".into(), codes.map(|c| c as IdxSize).collect());
    dict.take(&idx).ok()
}

/// What one part of a read for the cache holds: the raw waves and columns.
type RawPart = (RawCells, Vec<RawCells>);

/// Reads the columns of every record (all waves) as stored, keeps them in the store's column
/// cache (best effort, silently; written on another connection while the analysis goes on)
/// and returns the rows of `waves`. `None` when the store cannot be written or a column cannot
/// be encoded: the caller reads as without a cache.
fn scan_to_cache(
    store: &Store,
    def: &Definition,
    cols: &[(String, String)],
    sources: &[Source<'_>],
    waves: &[i64],
) -> Result<Option<ReadColumns>, AnalysisError> {
    let Some(mark) = store.cache_mark() else { return Ok(None) };
    let leaf = &def.leaf_unit().id;
    let t_scan = crate::timing::phase("frame: read the store");
    let parts = store.scan_parts(
        def,
        leaf,
        cols,
        None,
        |rows| -> RawPart { (RawCells::with_capacity(rows), (0..cols.len()).map(|_| RawCells::with_capacity(rows)).collect()) },
        |(wave, raw): &mut RawPart, r: &Record<'_>| -> Result<(), ReadError> {
            wave.push(CellRef::Int(r.wave()?));
            for (i, c) in raw.iter_mut().enumerate() {
                c.push(r.get(i)?);
            }
            Ok(())
        },
    )?;
    drop(t_scan);
    let t_enc = crate::timing::phase("frame: encode the columns");
    let n_rows: usize = parts.iter().map(|p| p.0.len()).sum();
    let blobs = encode_all(&parts, cols.len() + 1);
    drop(parts);
    let Some(blobs) = blobs.into_iter().collect::<Option<Vec<Vec<u8>>>>() else {
        return Ok(None);
    };
    let decoded: Option<Vec<CachedColumn>> = blobs.iter().map(|b| crate::store::decode_column(b)).collect();
    drop(t_enc);
    let Some(mut decoded) = decoded else { return Ok(None) };
    let t_write = crate::timing::phase("frame: write the column cache (started)");
    let names = std::iter::once((leaf.as_str(), crate::store::WAVE_COLUMN)).chain(cols.iter().map(|(u, c)| (u.as_str(), c.as_str())));
    let entries: Vec<(String, String, Vec<u8>)> = names.zip(blobs).map(|((u, c), b)| (u.to_string(), c.to_string(), b)).collect();
    store.cache_columns_behind(mark, leaf.clone(), n_rows, entries);
    drop(t_write);
    let wave = decoded.remove(0);
    Ok(from_cached(sources, &wave, &decoded, waves).map(|(w, s)| (w, Vec::new(), s)))
}

/// The blobs of the `k` columns of `parts` (the waves first), encoded on several threads.
fn encode_all(parts: &[RawPart], k: usize) -> Vec<Option<Vec<u8>>> {
    let column = |j: usize| -> Vec<&RawCells> { parts.iter().map(|p| if j == 0 { &p.0 } else { &p.1[j - 1] }).collect() };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4).min(k);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if j >= k {
                return done;
            }
            done.push((j, crate::store::encode_column(&column(j))));
        }
    };
    let mut out: Vec<Option<Vec<u8>>> = vec![None; k];
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads).map(|_| sc.spawn(work)).collect();
        for h in handles {
            for (j, b) in h.join().expect("an encoding thread panicked") {
                out[j] = b;
            }
        }
    });
    out
}

/// Reads the columns of the leaf unit's records in `waves` from the records (large stores
/// read in parts, one per core, put end to end).
fn scan_columns(
    store: &Store,
    def: &Definition,
    cols: &[(String, String)],
    sources: &[Source<'_>],
    waves: &[i64],
    with_ids: bool,
) -> Result<ReadColumns, AnalysisError> {
    let new_bufs = |rows: usize| -> Vec<Buf> { sources.iter().map(|s| Buf::new(s, rows)).collect() };
    let one_wave = if waves.len() == 1 { Some(waves[0]) } else { None };
    let t_scan = crate::timing::phase("frame: read the store");
    let parts = store.scan_parts(
        def,
        &def.leaf_unit().id,
        cols,
        one_wave,
        |rows| {
            (
                Vec::<i64>::with_capacity(rows),
                Vec::<u128>::with_capacity(if with_ids { rows } else { 0 }),
                new_bufs(rows),
            )
        },
        |(wave_col, ids, bufs): &mut (Vec<i64>, Vec<u128>, Vec<Buf>), r: &Record<'_>| -> Result<(), ReadError> {
            let w = r.wave()?;
            if !waves.is_empty() && !waves.contains(&w) {
                return Ok(());
            }
            wave_col.push(w);
            if with_ids {
                ids.push(crate::store::record_id(r.uuid()?)?);
            }
            for (i, (src, buf)) in sources.iter().zip(bufs.iter_mut()).enumerate() {
                buf.push(src, r.get(i)?);
            }
            Ok(())
        },
    )?;
    drop(t_scan);
    let to_series = |bufs: Vec<Buf>| -> Vec<Series> {
        let mut out = Vec::new();
        for (src, b) in sources.iter().zip(bufs) {
            b.finish(src, &mut out);
        }
        out
    };
    let mut wave_col: Vec<i64> = Vec::new();
    let mut id_col: Vec<u128> = Vec::new();
    let mut series: Vec<Series> = Vec::new();
    for (w, ids, bufs) in parts {
        wave_col.extend(w);
        id_col.extend(ids);
        let cols = to_series(bufs);
        if series.is_empty() {
            series = cols;
        } else {
            for (into, from) in series.iter_mut().zip(&cols) {
                into.append(from).map_err(AnalysisError::polars)?;
            }
        }
    }
    if series.is_empty() {
        series = to_series(new_bufs(0));
    }
    Ok((wave_col, id_col, series))
}

/// The area columns `geo` for `n` rows, from the lookup through each row's LSOA (or postcode)
/// answer among `columns`; none already among `columns` is repeated.
fn area_columns(store: &Store, def: &Definition, geo: &[String], columns: &[Column], n: usize) -> Result<Vec<Column>, AnalysisError> {
    let Some(g) = def.geography.as_ref().filter(|_| !geo.is_empty()) else {
        return Ok(Vec::new());
    };
    let t_read = crate::timing::phase("frame: areas: read the lookup");
    let areas: foldhash::HashMap<String, AreaRow> = store.areas_for(geo)?.into_iter().map(|a| (a.lsoa.clone(), a)).collect();
    drop(t_read);
    if areas.is_empty() {
        return Err(AnalysisError::NoGeography { variable: geo[0].clone() });
    }
    let postcodes: foldhash::HashMap<String, String> = if g.lsoa.is_none() {
        store.postcodes()?.into_iter().collect()
    } else {
        foldhash::HashMap::default()
    };
    let key_col = g.lsoa.clone().or_else(|| g.postcode.clone()).unwrap_or_default();
    // one lookup per run of equal keys (the persons of a household share its area)
    let rows: Vec<Option<&AreaRow>> = match columns.iter().find(|c| c.name().as_str() == key_col) {
        Some(c) => {
            let mut last: Option<(&str, Option<&AreaRow>)> = None;
            c.str()
                .map_err(AnalysisError::polars)?
                .iter()
                .map(|k| {
                    let k = k?;
                    if let Some((lk, la)) = last {
                        if lk == k {
                            return la;
                        }
                    }
                    let a = match g.lsoa {
                        Some(_) => areas.get(k),
                        None => postcodes.get(k).and_then(|l| areas.get(l)),
                    };
                    last = Some((k, a));
                    a
                })
                .collect()
        }
        None => vec![None; n],
    };
    let mut out: Vec<Column> = Vec::new();
    for v in geo {
        let s = match AreaRow::field(v) {
            Some(AreaField::Text(f)) => Series::new(v.into(), rows.iter().map(|r| r.and_then(f)).collect::<Vec<Option<&str>>>()),
            Some(AreaField::Num(f)) => Series::new(v.into(), rows.iter().map(|r| r.and_then(f)).collect::<Vec<Option<f64>>>()),
            None => continue,
        };
        if !columns.iter().chain(&out).any(|c| c.name().as_str() == v) {
            out.push(s.into_column());
        }
    }
    Ok(out)
}

/// Adds the derived variables at `slots` to `df`, computed with the expression language
/// compiled to Polars, in slot (= dependency) order.
fn add_derived(def: &Definition, df: DataFrame, slots: &BTreeSet<usize>) -> Result<DataFrame, AnalysisError> {
    let leaf = def.leaf_unit();
    let lineage = def.lineage(&leaf.id);
    let mut lf = df.lazy();
    for &s in slots {
        let d = derived_at(&lineage, s).expect("a slot resolved as derived is a derived variable of the lineage");
        let e = expr::polars::to_polars(&d.expr.expr, &leaf.scope, None);
        let dtype = match d.expr.ty {
            ExprType::Bool => DataType::Boolean,
            ExprType::Text => DataType::String,
            _ => DataType::Float64,
        };
        lf = lf.with_column(e.cast(dtype).alias(d.id.as_str()));
    }
    lf.collect().map_err(AnalysisError::polars)
}

/// As [`load`]; `use_stored` = false recomputes every derived variable from its items.
pub fn load_with(store: &Store, def: &Definition, vars: &[String], waves: &[i64], use_stored: bool) -> Result<Frame, AnalysisError> {
    load_inner(store, def, vars, waves, use_stored, false)
}

/// As [`load`], with the record id of every row ([`Frame::ids`]): for weight sets, which give
/// one weight per record.
pub fn load_keyed(store: &Store, def: &Definition, vars: &[String], waves: &[i64]) -> Result<Frame, AnalysisError> {
    load_inner(store, def, vars, waves, true, true)
}

fn load_inner(store: &Store, def: &Definition, vars: &[String], waves: &[i64], use_stored: bool, with_ids: bool) -> Result<Frame, AnalysisError> {
    let needs = resolve(store, def, vars, use_stored)?;
    let (cols, sources) = sources(def, &needs);
    let (wave_col, ids, series) = read_columns(store, def, &cols, &sources, waves, with_ids)?;
    let n = wave_col.len();
    let mut columns: Vec<Column> = vec![Series::new("wave".into(), wave_col.clone()).into_column()];
    columns.extend(series.into_iter().map(|s| s.into_column()));
    let t_geo = crate::timing::phase("frame: areas");
    let areas = area_columns(store, def, &needs.geo, &columns, n)?;
    columns.extend(areas);
    drop(t_geo);
    let _t_derived = crate::timing::phase("frame: derived");
    let df = DataFrame::new(n, columns).map_err(AnalysisError::polars)?;
    let df = add_derived(def, df, &needs.derived)?;
    Ok(Frame { df, waves: wave_col, ids })
}
