//! The one path from stored responses to a Polars DataFrame.
//!
//! Owns choosing the columns an analysis needs (outcomes, breakdowns, design, `--where`),
//! reading only those from the store, turning missing codes into nulls, expanding
//! `select_multiple` answers into indicator columns, computing derived variables with the
//! expression language compiled to Polars, and joining the area lookup (deprivation, ward,
//! local authority). Rows are the analysis unit (persons in a household survey), with their
//! household's columns alongside.

use std::collections::{BTreeSet, HashMap, HashSet};

use polars::prelude::*;

use super::AnalysisError;
use crate::schema::date::Date;
use crate::schema::expr::{self, ExprType};
use crate::schema::{Code, Definition, Derived, QType, Question, Unit};
use crate::store::geo::{AreaField, AreaRow};
use crate::store::{CellRef, ReadError, Record, Store};

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
    /// An empty column for `src`.
    fn new(src: &Source<'_>) -> Buf {
        let (ty, n_choices) = match src {
            Source::Answer(q) => (q.expr_type(), q.choices.as_ref().map(|c| c.choices.len()).unwrap_or(0)),
            Source::Score(d) => (d.expr.ty, 0),
        };
        match ty {
            ExprType::Num | ExprType::Date => Buf::Num(Vec::new()),
            ExprType::Bool => Buf::Bool(Vec::new()),
            ExprType::Multi => Buf::Multi(vec![Vec::new(); n_choices]),
            ExprType::Text => Buf::Text(StringChunkedBuilder::new("".into(), 1024)),
        }
    }

    /// Appends one record's stored value of `src`: an answer with its missing codes read as
    /// missing, dates as days, multiple choices as indicators; a score as stored.
    #[inline]
    fn push(&mut self, src: &Source<'_>, v: CellRef<'_>) {
        match (src, self) {
            (Source::Score(_), Buf::Num(b)) => b.push(v.as_f64()),
            (Source::Score(_), Buf::Text(b)) => b.append_option(v.as_text()),
            (Source::Score(_), Buf::Multi(_)) => {}
            (Source::Answer(q), Buf::Num(b)) => b.push(num_of(q, v)),
            (_, Buf::Bool(b)) => b.push(v.as_int().map(|x| x != 0)),
            (Source::Answer(q), Buf::Text(b)) => b.append_option(text_of(q, v)),
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
/// row, and the columns as series (large stores read in parts, one per core, put end to end).
fn read_columns(
    store: &Store,
    def: &Definition,
    cols: &[(String, String)],
    sources: &[Source<'_>],
    waves: &[i64],
    with_ids: bool,
) -> Result<ReadColumns, AnalysisError> {
    let new_bufs = || -> Vec<Buf> { sources.iter().map(Buf::new).collect() };
    let one_wave = if waves.len() == 1 { Some(waves[0]) } else { None };
    let t_scan = crate::timing::phase("frame: read the store");
    let parts = store.scan_parts(
        def,
        &def.leaf_unit().id,
        cols,
        one_wave,
        || (Vec::<i64>::new(), Vec::<u128>::new(), new_bufs()),
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
        series = to_series(new_bufs());
    }
    Ok((wave_col, id_col, series))
}

/// The area columns `geo` for `n` rows, from the lookup through each row's LSOA (or postcode)
/// answer among `columns`; none already among `columns` is repeated.
fn area_columns(store: &Store, def: &Definition, geo: &[String], columns: &[Column], n: usize) -> Result<Vec<Column>, AnalysisError> {
    let Some(g) = def.geography.as_ref().filter(|_| !geo.is_empty()) else {
        return Ok(Vec::new());
    };
    let areas: HashMap<String, AreaRow> = store.areas()?.into_iter().map(|a| (a.lsoa.clone(), a)).collect();
    if areas.is_empty() {
        return Err(AnalysisError::NoGeography { variable: geo[0].clone() });
    }
    let postcodes: HashMap<String, String> = if g.lsoa.is_none() {
        store.postcodes()?.into_iter().collect()
    } else {
        HashMap::new()
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
    let _t_geo = crate::timing::phase("frame: areas and derived");
    let areas = area_columns(store, def, &needs.geo, &columns, n)?;
    columns.extend(areas);
    let df = DataFrame::new(n, columns).map_err(AnalysisError::polars)?;
    let df = add_derived(def, df, &needs.derived)?;
    Ok(Frame { df, waves: wave_col, ids })
}
