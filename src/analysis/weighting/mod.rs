//! Weighting: named weight sets made by post-stratification, raking or calibration to
//! population totals, with trimming, and their use by every analysis.
//!
//! Owns the steps of `make` in order: the request checked, the frame loaded with the margin
//! and design variables and every record's id, the start weights (the stored design's
//! weights), each margin matched to its population table ([`margins`]), the totals of the
//! margins compared, the joint cells fitted ([`fit`]), the weights trimmed ([`trim`]), and the
//! set handed to the store with how it was made. And the way back ([`WeightSet`]): a stored
//! set loaded and put on an analysis' design, with the calibration model its variances need
//! (`engine::CalibrationSpec`). Population tables come as text ([`Population::parse`]): this
//! module reads no files, and names request fields, never flags.

pub mod error;
pub mod fit;
pub mod margins;
pub mod population;
mod set;
pub mod trim;

use serde_json::json;

use self::fit::Fit;
use self::margins::{sample_margin, Cells, SampleMargin};
use super::design::{build_design, design_variables};
use super::frame;
use crate::store::{record_uuid, NewWeightSet, Store};

pub use error::WeightError;
pub use fit::CalFun;
pub use population::{Population, PopulationRow};
pub use set::WeightSet;
pub use trim::Trim;

/// How the weights are made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Post-stratification to the cells of one table (its variables crossed).
    PostStratify,
    /// Raking (iterative proportional fitting) to each margin in turn.
    Rake,
    /// Calibration to the margins' totals with a distance.
    Calibrate(CalFun),
    /// No fitting: the design weights, trimmed.
    TrimOnly,
}

impl Method {
    /// One word for the method.
    pub fn name(self) -> &'static str {
        match self {
            Method::PostStratify => "poststratify",
            Method::Rake => "rake",
            Method::Calibrate(_) => "calibrate",
            Method::TrimOnly => "trim",
        }
    }
}

/// Default iterations and tolerance of raking: R's `rake()` rule, tight (a tolerance below 1
/// is a share of the start weights' sum).
pub const RAKE_DEFAULTS: (usize, f64) = (1000, 1e-12);
/// Default Newton steps and tolerance of calibration (R's `calibrate()` rule: misfit over 1 +
/// the total, for every total).
pub const CALIBRATE_DEFAULTS: (usize, f64) = (50, 1e-10);

/// A weight set to make.
#[derive(Debug, Clone)]
pub struct WeightRequest {
    /// The set's name.
    pub name: String,
    /// The method.
    pub method: Method,
    /// The population tables: one for post-stratification (its variables crossed), one per
    /// margin for raking and calibration (a table of several variables is a crossed margin).
    pub margins: Vec<Population>,
    /// Bounds on the ratio of new to start weight (calibration only).
    pub bounds: Option<(f64, f64)>,
    /// Trimming of the weights made.
    pub trim: Option<Trim>,
    /// Most iterations (raking sweeps, Newton steps); default per method.
    pub max_iter: Option<usize>,
    /// Convergence tolerance; default per method.
    pub epsilon: Option<f64>,
    /// Waves to weight (all when empty).
    pub waves: Vec<i64>,
    /// Replace a set of the same name.
    pub replace: bool,
}

/// What a weight set came out as.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WeightSummary {
    /// The set's name.
    pub name: String,
    /// The method.
    pub method: &'static str,
    /// The distance of a calibration.
    pub calfun: Option<&'static str>,
    /// Records weighted.
    pub records: usize,
    /// Waves weighted.
    pub waves: Vec<i64>,
    /// Joint cells of the margins.
    pub cells: usize,
    /// Iterations of the fit.
    pub iterations: usize,
    /// The last change (raking) or relative misfit (calibration) when it stopped.
    pub last_change: f64,
    /// The tolerance it met.
    pub epsilon: Option<f64>,
    /// Weights changed by trimming.
    pub trimmed: usize,
    /// Smallest weight.
    pub min: f64,
    /// Largest weight.
    pub max: f64,
    /// Sum of the weights.
    pub sum: f64,
    /// Sum of the start weights.
    pub start_sum: f64,
    /// Design effect of weighting, 1 + CV^2 of the weights (Kish).
    pub deff: f64,
}

/// Every variable a set's margins name, each once.
fn margin_variables(margins: &[Population]) -> Vec<String> {
    let mut v: Vec<String> = margins.iter().flat_map(|m| m.variables.iter().cloned()).collect();
    v.sort();
    v.dedup();
    v
}

impl WeightRequest {
    /// Checks what can be checked before reading the store.
    pub fn check(&self) -> Result<(), WeightError> {
        let bad = |s: String| Err(WeightError::Request(s));
        if self.name.trim().is_empty() || self.name.chars().any(|c| c.is_control()) {
            return bad("a weight set needs a name (no control characters)".into());
        }
        match self.method {
            Method::PostStratify if self.margins.len() != 1 => {
                return bad(format!("post-stratification takes one population table, not {}", self.margins.len()))
            }
            Method::Rake | Method::Calibrate(_) if self.margins.is_empty() => return bad("raking and calibration need at least one margin".into()),
            Method::TrimOnly if self.trim.is_none() => return bad("give a method, or a trimming of the design weights".into()),
            Method::TrimOnly if !self.margins.is_empty() => return bad("population tables need a method (post-stratify, rake or calibrate)".into()),
            _ => {}
        }
        if let Some((lo, hi)) = self.bounds {
            if !matches!(self.method, Method::Calibrate(_)) {
                return bad("bounds on the weight ratios are for calibration".into());
            }
            if !(lo <= 1.0 && 1.0 <= hi && lo < hi) || lo.is_nan() || hi.is_nan() {
                return bad(format!("bounds {lo},{hi} must hold 1 (lower <= 1 <= upper, lower < upper)"));
            }
        }
        if self.method == Method::Calibrate(CalFun::Logit) && !self.bounds.is_some_and(|(l, h)| l.is_finite() && h.is_finite() && l < 1.0 && h > 1.0) {
            return bad("logit calibration needs finite bounds around 1, e.g. 0.5,2".into());
        }
        if self.max_iter == Some(0) {
            return bad("at least one iteration".into());
        }
        if self.epsilon.is_some_and(|e| !(e > 0.0 && e.is_finite())) {
            return bad("the tolerance must be a positive number".into());
        }
        match self.trim {
            Some(Trim::Bounds { lower, upper }) if lower >= upper || upper <= 0.0 || lower.is_nan() || upper.is_nan() => {
                return bad(format!("trimming bounds {lower},{upper}: lower must be below upper, upper above 0"))
            }
            Some(Trim::Iqr { k }) if !(k >= 0.0 && k.is_finite()) => return bad(format!("trimming at median + k x IQR needs k >= 0, not {k}")),
            _ => {}
        }
        Ok(())
    }
}

/// A hash of what a set's variance depends on besides its weights: each record's id, start
/// weight and levels, combined so that the order of the records does not matter.
pub(crate) fn inputs_check(ids: &[u128], start: &[f64], codes: &[Vec<u32>]) -> String {
    let mix = |mut h: u64, w: u64| {
        h ^= w.wrapping_mul(0x87c37b91114253d5).rotate_left(31).wrapping_mul(0x4cf5ad432745937f);
        h.rotate_left(27).wrapping_mul(5).wrapping_add(0x52dce729)
    };
    let mut total = 0u64;
    for i in 0..ids.len() {
        let mut h = mix(0x9368e53c2f6af274, ids[i] as u64);
        h = mix(h, (ids[i] >> 64) as u64);
        h = mix(h, start[i].to_bits());
        for c in codes {
            h = mix(h, c[i] as u64);
        }
        total = total.wrapping_add(h);
    }
    format!("{total:016x}")
}

/// Makes a weight set from the store's records and saves it (nothing is saved on any error).
pub fn make(store: &mut Store, req: &WeightRequest) -> Result<WeightSummary, WeightError> {
    req.check()?;
    let def = store.definition(None)?;
    let unit = def.leaf_unit().id.clone();
    let mut vars = margin_variables(&req.margins);
    vars.extend(design_variables(&def));
    vars.sort();
    vars.dedup();
    let t_load = crate::timing::phase("weight: read the records");
    let fr = frame::load_keyed(store, &def, &vars, &req.waves)?;
    if fr.df.height() == 0 {
        return Err(super::AnalysisError::NoData { waves: req.waves.clone() }.into());
    }
    let design = build_design(&def, &fr.df, &fr.waves, false)?;
    let w0 = design.weights().to_vec();
    drop(t_load);
    let t_cells = crate::timing::phase("weight: margins and cells");
    let margins: Vec<SampleMargin> = req
        .margins
        .iter()
        .map(|p| sample_margin(&fr.df, &def, p, &fr.ids, &w0))
        .collect::<Result<_, _>>()?;
    check_totals(&req.margins, &margins)?;
    let cells = Cells::new(&margins, &w0);
    let totals: Vec<Vec<f64>> = margins.iter().map(|m| m.totals.clone()).collect();
    drop(t_cells);
    let t_fit = crate::timing::phase("weight: fit, weights per record, trimming");
    let (max_iter, epsilon) = match req.method {
        Method::Rake => (req.max_iter.unwrap_or(RAKE_DEFAULTS.0), req.epsilon.unwrap_or(RAKE_DEFAULTS.1)),
        _ => (req.max_iter.unwrap_or(CALIBRATE_DEFAULTS.0), req.epsilon.unwrap_or(CALIBRATE_DEFAULTS.1)),
    };
    let fit = match req.method {
        Method::PostStratify => fit::poststratify(&cells, &totals[0]),
        Method::Rake => fit::rake(&cells, &totals, max_iter, epsilon)?,
        Method::Calibrate(calfun) => {
            let bounds = req.bounds.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
            let files: Vec<String> = req.margins.iter().map(|p| p.file.clone()).collect();
            fit::check_bounds(&cells, &totals, &files, bounds, 1.0)?;
            fit::calibrate(&cells, &totals, calfun, bounds, max_iter, epsilon)?
        }
        Method::TrimOnly => Fit {
            g: Vec::new(),
            iterations: 0,
            last_change: 0.0,
        },
    };
    let calibrated: Vec<f64> = if req.method == Method::TrimOnly {
        w0.clone()
    } else {
        w0.iter().zip(&cells.of_row).map(|(w, &c)| w * fit.g[c as usize]).collect()
    };
    if let Some(i) = calibrated.iter().position(|w| !(w.is_finite() && *w > 0.0)) {
        let bad: Vec<&f64> = calibrated.iter().filter(|w| !(w.is_finite() && **w > 0.0)).collect();
        return Err(WeightError::NonPositiveWeights {
            method: req.method.name(),
            count: bad.len(),
            smallest: bad.iter().copied().fold(f64::INFINITY, |a, &b| a.min(b)),
            record: record_uuid(fr.ids[i]),
        });
    }
    let mut weights = calibrated.clone();
    let mut trim_bounds = None;
    let mut trimmed = 0;
    if let Some(rule) = req.trim {
        let b = trim::bounds_of(rule, &weights);
        trimmed = trim::trim(&mut weights, b)?.0;
        trim_bounds = Some(b);
    }
    let mut waves = fr.waves.clone();
    waves.sort_unstable();
    waves.dedup();
    let summary = summarise(req, &fit, &cells, &weights, &w0, waves, trimmed, (max_iter, epsilon));
    let codes: Vec<Vec<u32>> = margins.iter().map(|m| m.codes.clone()).collect();
    drop(t_fit);
    let _t_save = crate::timing::phase("weight: save the set");
    let inputs = inputs_json(req, &summary, &margins, trim_bounds, (max_iter, epsilon), inputs_check(&fr.ids, &w0, &codes));
    store.save_weight_set(&NewWeightSet {
        name: &req.name,
        unit: &unit,
        method: req.method.name(),
        inputs: &inputs.to_string(),
        ids: &fr.ids,
        weights: &weights,
        calibrated: (trimmed > 0 && req.method != Method::TrimOnly).then_some(&calibrated[..]),
        replace: req.replace,
    })?;
    Ok(summary)
}

/// Every margin must count the same population: totals agreeing to a relative 1e-9.
fn check_totals(pops: &[Population], margins: &[SampleMargin]) -> Result<(), WeightError> {
    let totals: Vec<f64> = margins.iter().map(|m| m.totals.iter().sum()).collect();
    for (i, t) in totals.iter().enumerate().skip(1) {
        if (t - totals[0]).abs() > 1e-9 * t.abs().max(totals[0].abs()) {
            return Err(WeightError::TotalsDisagree {
                first: pops[0].file.clone(),
                first_total: totals[0],
                other: pops[i].file.clone(),
                other_total: *t,
                difference: t - totals[0],
            });
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    req: &WeightRequest,
    fit: &Fit,
    cells: &Cells,
    weights: &[f64],
    w0: &[f64],
    waves: Vec<i64>,
    trimmed: usize,
    (_, epsilon): (usize, f64),
) -> WeightSummary {
    let n = weights.len() as f64;
    let sum: f64 = weights.iter().sum();
    let mean = sum / n;
    let var = if n > 1.0 {
        weights.iter().map(|w| (w - mean) * (w - mean)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    WeightSummary {
        name: req.name.clone(),
        method: req.method.name(),
        calfun: match req.method {
            Method::Calibrate(c) => Some(c.name()),
            _ => None,
        },
        records: weights.len(),
        waves,
        cells: if req.method == Method::TrimOnly { 0 } else { cells.len() },
        iterations: fit.iterations,
        last_change: fit.last_change,
        epsilon: matches!(req.method, Method::Rake | Method::Calibrate(_)).then_some(epsilon),
        trimmed,
        min: weights.iter().copied().fold(f64::INFINITY, f64::min),
        max: weights.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sum,
        start_sum: w0.iter().sum(),
        deff: 1.0 + var / (mean * mean),
    }
}

fn inputs_json(
    req: &WeightRequest,
    s: &WeightSummary,
    margins: &[SampleMargin],
    trim: Option<(f64, f64)>,
    (max_iter, epsilon): (usize, f64),
    check: String,
) -> serde_json::Value {
    let num = |x: f64| if x.is_finite() { json!(x) } else { json!(null) };
    let tables: Vec<serde_json::Value> = req
        .margins
        .iter()
        .zip(margins)
        .map(|(p, m)| {
            json!({
                "variables": p.variables,
                "file": p.file,
                "sha256": p.sha256,
                "total": p.total(),
                "lines": p.rows.iter().map(|r| json!({"values": r.values, "count": r.count, "line": r.line})).collect::<Vec<_>>(),
                "levels_in_sample": m.lines.len(),
            })
        })
        .collect();
    json!({
        "method": s.method,
        "calfun": s.calfun,
        "variance": match req.method {
            Method::PostStratify | Method::Calibrate(_) => "projection",
            Method::Rake => "backfit",
            Method::TrimOnly => "none",
        },
        "waves": s.waves,
        "margins": tables,
        "bounds": req.bounds.map(|(l, h)| json!([num(l), num(h)])),
        "trim": req.trim.map(|t| match t {
            Trim::Bounds { lower, upper } => json!({"rule": "bounds", "lower": lower, "upper": upper}),
            Trim::Iqr { k } => json!({"rule": "median_iqr", "k": k, "upper": trim.map(|b| b.1)}),
        }),
        "trimmed": s.trimmed,
        "max_iter": (s.method != "trim" && s.method != "poststratify").then_some(max_iter),
        "epsilon": s.epsilon.map(|_| epsilon),
        "iterations": s.iterations,
        "converged": true,
        "last_change": s.last_change,
        "cells": s.cells,
        "records": s.records,
        "weights": {"min": s.min, "max": s.max, "sum": s.sum, "start_sum": s.start_sum, "deff": s.deff},
        "check": check,
    })
}
