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
use crate::schema::expr::{self, ExprType};
use crate::schema::{Code, Definition, QType, Question};
use crate::store::Store;
use rusqlite::types::ValueRef;

/// Variables that come from the area lookup rather than from answers.
pub const GEO_VARS: &[&str] = crate::store::geo::AREA_COLUMNS;

/// A loaded analysis frame.
pub struct Frame {
    /// One row per record of the analysis unit.
    pub df: DataFrame,
    /// The wave of each row.
    pub waves: Vec<i64>,
}

enum Buf {
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Text(StringChunkedBuilder),
    Multi(Vec<Vec<Option<bool>>>),
}

/// A stored value as a number: whole numbers, reals, dates written as text, numbers written
/// as text; missing codes read as missing.
fn num_of_ref(q: &Question, v: ValueRef<'_>) -> Option<f64> {
    let x = match v {
        ValueRef::Integer(i) => i as f64,
        ValueRef::Real(r) => r,
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let t = std::str::from_utf8(t).ok()?;
            if q.qtype == QType::Date {
                return crate::capture::answer::parse_date(t).map(|d| d as f64);
            }
            t.parse().ok()?
        }
        ValueRef::Null => return None,
    };
    if q.missing.iter().any(|m| matches!(m.code, Code::Int(c) if c as f64 == x)) {
        return None;
    }
    Some(x)
}

/// A stored value as text (missing codes read as missing).
fn text_of_ref<'v>(q: &Question, v: ValueRef<'v>) -> Option<std::borrow::Cow<'v, str>> {
    use std::borrow::Cow;
    let s: Cow<'v, str> = match v {
        ValueRef::Null => return None,
        ValueRef::Integer(i) => Cow::Owned(i.to_string()),
        ValueRef::Real(r) => Cow::Owned(r.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t),
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

/// A column read from the store: an answer, or a stored score.
enum Source<'a> {
    Answer(&'a Question),
    Score(&'a crate::schema::Derived),
}

/// As [`load`]; `use_stored` = false recomputes every derived variable from its items.
pub fn load_with(store: &Store, def: &Definition, vars: &[String], waves: &[i64], use_stored: bool) -> Result<Frame, AnalysisError> {
    let leaf = def.leaf_unit();
    let scope = &leaf.scope;
    // Resolve names to base questions and derived variables (with their dependencies).
    let mut base: BTreeSet<usize> = BTreeSet::new();
    let mut derived: BTreeSet<usize> = BTreeSet::new();
    let mut geo: Vec<String> = Vec::new();
    let lineage = def.lineage(&leaf.id);
    let derived_expr = |slot: usize| -> Option<&crate::schema::Derived> { lineage.iter().flat_map(|u| u.derived.iter()).find(|d| d.slot == slot) };
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
    if !geo.is_empty() {
        let g = def.geography.as_ref().expect("checked above");
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
    let mut stored: BTreeSet<usize> = BTreeSet::new();
    while let Some(s) = stack.pop() {
        if let Some(d) = derived_expr(s) {
            if reusable.contains(&d.id) {
                stored.insert(s);
            } else if derived.insert(s) {
                let mut deps = Vec::new();
                d.expr.expr.slots(&mut deps);
                stack.extend(deps);
            }
        } else {
            base.insert(s);
        }
    }
    // Read the base columns.
    let mut cols: Vec<(String, String)> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    for &s in &base {
        let id = &scope.var(s).id;
        if let Some((u, q)) = def.find_question(id) {
            cols.push((u.id.clone(), id.clone()));
            sources.push(Source::Answer(q));
        }
    }
    for &s in &stored {
        if let Some(d) = derived_expr(s) {
            if let Some(u) = lineage.iter().find(|u| u.derived.iter().any(|x| x.slot == s)) {
                cols.push((u.id.clone(), d.id.clone()));
                sources.push(Source::Score(d));
            }
        }
    }
    let new_bufs = || -> Vec<Buf> {
        sources
            .iter()
            .map(|src| {
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
            })
            .collect()
    };
    let one_wave = if waves.len() == 1 { Some(waves[0]) } else { None };
    // large stores are read in parts, one per core, then put end to end
    let t_scan = crate::timing::phase("frame: read the store");
    let parts = store.scan_parts(
        def,
        &leaf.id,
        &cols,
        one_wave,
        || (Vec::<i64>::new(), new_bufs()),
        |(wave_col, bufs): &mut (Vec<i64>, Vec<Buf>), r| {
            let w: i64 = r.get(1)?;
            if !waves.is_empty() && !waves.contains(&w) {
                return Ok(());
            }
            wave_col.push(w);
            for (i, src) in sources.iter().enumerate() {
                let v = r.get_ref(3 + i)?;
                let q = match src {
                    Source::Answer(q) => *q,
                    Source::Score(_) => {
                        match &mut bufs[i] {
                            Buf::Num(b) => b.push(match v {
                                ValueRef::Real(x) => Some(x),
                                ValueRef::Integer(x) => Some(x as f64),
                                _ => None,
                            }),
                            Buf::Bool(b) => b.push(match v {
                                ValueRef::Integer(x) => Some(x != 0),
                                _ => None,
                            }),
                            Buf::Text(b) => match v {
                                ValueRef::Text(t) => b.append_value(String::from_utf8_lossy(t)),
                                _ => b.append_null(),
                            },
                            Buf::Multi(_) => {}
                        }
                        continue;
                    }
                };
                match &mut bufs[i] {
                    Buf::Num(b) => b.push(num_of_ref(q, v)),
                    Buf::Bool(b) => b.push(match v {
                        ValueRef::Integer(x) => Some(x != 0),
                        _ => None,
                    }),
                    Buf::Text(b) => b.append_option(text_of_ref(q, v)),
                    Buf::Multi(ind) => {
                        let t = text_of_ref(q, v);
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
            Ok(())
        },
    )?;
    drop(t_scan);
    // each part's columns, then put end to end
    let to_columns = |bufs: Vec<Buf>| -> Vec<Series> {
        let mut out = Vec::new();
        for (src, b) in sources.iter().zip(bufs) {
            let name = match src {
                Source::Answer(q) => q.id.as_str(),
                Source::Score(d) => d.id.as_str(),
            };
            match b {
                Buf::Num(v) => out.push(Series::new(name.into(), v)),
                Buf::Bool(v) => out.push(Series::new(name.into(), v)),
                Buf::Text(b) => out.push(b.finish().into_series().with_name(name.into())),
                Buf::Multi(ind) => {
                    let Source::Answer(q) = src else { continue };
                    let codes = q.choices.as_ref().map(|c| c.codes()).unwrap_or_default();
                    for (code, v) in codes.iter().zip(ind) {
                        out.push(Series::new(expr::polars::indicator_column(&q.id, code).into(), v));
                    }
                }
            }
        }
        out
    };
    let mut wave_col: Vec<i64> = Vec::new();
    let mut series: Vec<Series> = Vec::new();
    for (w, bufs) in parts {
        wave_col.extend(w);
        let cols = to_columns(bufs);
        if series.is_empty() {
            series = cols;
        } else {
            for (into, from) in series.iter_mut().zip(&cols) {
                into.append(from).map_err(AnalysisError::polars)?;
            }
        }
    }
    if series.is_empty() {
        series = to_columns(new_bufs());
    }
    let n = wave_col.len();
    let mut columns: Vec<Column> = vec![Series::new("wave".into(), wave_col.clone()).into_column()];
    columns.extend(series.into_iter().map(|s| s.into_column()));
    // Area lookup.
    let _t_geo = crate::timing::phase("frame: areas and derived");
    if !geo.is_empty() {
        let g = def.geography.as_ref().expect("checked above");
        let areas: HashMap<String, crate::store::geo::AreaRow> = store.areas()?.into_iter().map(|a| (a.lsoa.clone(), a)).collect();
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
        let rows: Vec<Option<&crate::store::geo::AreaRow>> = match columns.iter().find(|c| c.name().as_str() == key_col) {
            Some(c) => {
                let mut last: Option<(&str, Option<&crate::store::geo::AreaRow>)> = None;
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
        let text = |f: fn(&crate::store::geo::AreaRow) -> Option<&str>| -> Vec<Option<&str>> { rows.iter().map(|r| r.and_then(f)).collect() };
        let num = |f: fn(&crate::store::geo::AreaRow) -> Option<f64>| -> Vec<Option<f64>> { rows.iter().map(|r| r.and_then(f)).collect() };
        for v in &geo {
            let s = match v.as_str() {
                "lsoa" => Series::new("lsoa".into(), text(|a| Some(a.lsoa.as_str()))),
                "lsoa_name" => Series::new(v.into(), text(|a| a.lsoa_name.as_deref())),
                "ward" => Series::new(v.into(), text(|a| a.ward.as_deref())),
                "ward_name" => Series::new(v.into(), text(|a| a.ward_name.as_deref())),
                "lad" => Series::new(v.into(), text(|a| a.lad.as_deref())),
                "lad_name" => Series::new(v.into(), text(|a| a.lad_name.as_deref())),
                "region" => Series::new(v.into(), text(|a| a.region.as_deref())),
                "region_name" => Series::new(v.into(), text(|a| a.region_name.as_deref())),
                "imd_rank" => Series::new(v.into(), num(|a| a.imd_rank)),
                "imd_decile" => Series::new(v.into(), num(|a| a.imd_decile.map(|x| x as f64))),
                "imd_quintile" => Series::new(v.into(), num(|a| a.imd_quintile.map(|x| x as f64))),
                "imd_local_decile" => Series::new(v.into(), num(|a| a.imd_local_decile.map(|x| x as f64))),
                _ => Series::new(v.into(), num(|a| a.imd_local_decile.map(|x| ((x + 1) / 2) as f64))),
            };
            if !columns.iter().any(|c| c.name().as_str() == v) {
                columns.push(s.into_column());
            }
        }
    }
    let df = DataFrame::new(n, columns).map_err(AnalysisError::polars)?;
    // Derived variables, in dependency order (slot order is evaluation order).
    let mut lf = df.lazy();
    for &s in &derived {
        let d = derived_expr(s).expect("derived slot");
        let e = expr::polars::to_polars(&d.expr.expr, scope, None);
        let dtype = match d.expr.ty {
            ExprType::Bool => DataType::Boolean,
            ExprType::Text => DataType::String,
            _ => DataType::Float64,
        };
        lf = lf.with_column(e.cast(dtype).alias(d.id.as_str()));
    }
    let df = lf.collect().map_err(AnalysisError::polars)?;
    Ok(Frame { df, waves: wave_col })
}
