//! Estimates of a prepared request: every outcome over every breakdown, as result rows.
//!
//! Owns what is estimated for an outcome (its values, or one 0/1 indicator per category for a
//! proportion of a categorical variable), spreading the (target, breakdown) tasks over the
//! cores with rayon, and turning each engine estimate into a [`Row`] through disclosure
//! control. Rows come in a fixed order: outcome, then category, then breakdown, then group.
//! Must not load data, build the design or format output.

use std::collections::BTreeMap;

use polars::prelude::DataType;
use rayon::prelude::*;

use super::disclosure::{control, numerators, RowId};
use super::engine::{DesignError, Estimate, EstimateOptions};
use super::factor::factorize;
use super::prepared::Prepared;
use super::{AnalysisError, Level, Request, Row, Stat};

/// One thing to estimate for an outcome: its category (proportions) and its values in the
/// design's row order.
pub type Target = (Option<Level>, Vec<f64>);

/// What to estimate for `outcome` under `stat`: its values; or, for a proportion of a
/// categorical variable, one 0/1 indicator per category (in choice-list order, else sorted),
/// each labelled with its category; a proportion of a boolean is the share of `true`.
pub fn targets(p: &Prepared, outcome: &str, stat: Stat) -> Result<Vec<Target>, AnalysisError> {
    let col = p.df.column(outcome).map_err(AnalysisError::polars)?;
    let is_bool = matches!(col.dtype(), DataType::Boolean);
    let is_text = matches!(col.dtype(), DataType::String);
    if stat != Stat::Proportion || is_bool {
        if is_text {
            return Err(AnalysisError::TextOutcome { outcome: outcome.to_string() });
        }
        let category = if stat == Stat::Proportion { Some(Level::Bool(true)) } else { None };
        return Ok(vec![(category, p.values(outcome)?)]);
    }
    let def = &p.def;
    let choices = def
        .find_question(outcome)
        .and_then(|(_, q)| q.choices.clone())
        .or_else(|| def.find_derived(outcome).and_then(|(_, d)| d.choices.clone()));
    let f = factorize(&p.df, outcome, def)?;
    let mut levels = f.levels;
    let mut idx: Vec<usize> = (0..levels.len()).collect();
    if let Some(list) = &choices {
        idx.sort_by_key(|&i| list.index_of(&levels[i].to_string()).unwrap_or(usize::MAX));
    }
    let mut targets = Vec::with_capacity(idx.len());
    for i in idx {
        let y: Vec<f64> = f
            .codes
            .iter()
            .map(|c| match c {
                Some(c) => f64::from(u8::from(*c as usize == i)),
                None => f64::NAN,
            })
            .collect();
        targets.push((Some(std::mem::replace(&mut levels[i], Level::Int(0))), p.ordered.rows(y)));
    }
    Ok(targets)
}

/// The estimates of one target over one grouping: (quantile probability, estimate) per group,
/// with the replicate variance when the prepared analysis has a replicate design.
fn estimate(p: &Prepared, req: &Request, y: &[f64], den: Option<&[f64]>, grouping: usize) -> Result<Vec<(Option<f64>, Estimate)>, DesignError> {
    let design = &p.ordered.design;
    let g = &p.breakdowns[grouping].grouping;
    let opts = EstimateOptions { level: req.level };
    let plain = |v: Vec<Estimate>| v.into_iter().map(|e| (None, e)).collect();
    if let Some(rep) = &p.replicate {
        return Ok(match req.stat {
            Stat::Mean => plain(rep.mean(y, g, &opts)?),
            Stat::Total => plain(rep.total(y, g, &opts)?),
            Stat::Ratio => plain(rep.ratio(y, den.unwrap_or(&[]), g, &opts)?),
            Stat::Proportion => plain(rep.proportion(y, g, req.ci_method, &opts)?),
            Stat::Quantile => rep
                .quantiles(y, g, &req.quantiles, req.qrule, &opts)?
                .into_iter()
                .map(|q| (Some(q.p), q.estimate))
                .collect(),
        });
    }
    Ok(match req.stat {
        Stat::Mean => plain(design.mean(y, g, &opts)?),
        Stat::Total => plain(design.total(y, g, &opts)?),
        Stat::Ratio => plain(design.ratio(y, den.unwrap_or(&[]), g, &opts)?),
        Stat::Proportion => plain(design.proportion(y, g, req.ci_method, &opts)?),
        Stat::Quantile => design
            .quantiles(y, g, &req.quantiles, req.qrule, &opts)?
            .into_iter()
            .map(|q| (Some(q.p), q.estimate))
            .collect(),
    })
}

/// Every row of the request: each outcome (and category) over each breakdown. Empty groups
/// of a breakdown are left out; the overall row always stays.
pub fn rows(p: &Prepared, req: &Request) -> Result<Vec<Row>, AnalysisError> {
    let den = match &req.denominator {
        Some(d) if matches!(p.df.column(d).map_err(AnalysisError::polars)?.dtype(), DataType::String) => {
            return Err(AnalysisError::TextDenominator { denominator: d.clone() });
        }
        Some(d) => Some(p.values(d)?),
        None => None,
    };
    let mut rows: Vec<Row> = Vec::new();
    // (outcome index, category, y) waiting to be estimated: outcomes are prepared a few at a
    // time on all cores, and estimated in batches so that the cores get many (target,
    // breakdown) tasks without every vector held at once
    let mut pending: Vec<(usize, Option<Level>, Vec<f64>)> = Vec::new();
    let chunk = rayon::current_num_threads().max(2);
    let indexed: Vec<(usize, &String)> = req.outcomes.iter().enumerate().collect();
    let n_chunks = indexed.len().div_ceil(chunk);
    for (ci, outcomes) in indexed.chunks(chunk).enumerate() {
        let prepared: Vec<Result<Vec<Target>, AnalysisError>> = outcomes.par_iter().map(|(_, o)| targets(p, o, req.stat)).collect();
        for (targets, (oi, _)) in prepared.into_iter().zip(outcomes) {
            pending.extend(targets?.into_iter().map(|(c, y)| (*oi, c, y)));
        }
        if pending.len() < 8 && ci + 1 < n_chunks {
            continue;
        }
        let batch = std::mem::take(&mut pending);
        // every (target, breakdown) pair is estimated on its own: spread them over the cores
        let tasks: Vec<(usize, usize)> = (0..batch.len()).flat_map(|t| (0..p.breakdowns.len()).map(move |g| (t, g))).collect();
        let results: Vec<_> = tasks.par_iter().map(|&(t, g)| estimate(p, req, &batch[t].2, den.as_deref(), g)).collect();
        for (&(t, g), ests) in tasks.iter().zip(results) {
            push_rows(&mut rows, p, req, &batch[t], g, ests?);
        }
    }
    Ok(rows)
}

/// The rows of one target (outcome index, category, values) over one breakdown, through
/// disclosure control.
fn push_rows(
    rows: &mut Vec<Row>,
    p: &Prepared,
    req: &Request,
    target: &(usize, Option<Level>, Vec<f64>),
    breakdown: usize,
    ests: Vec<(Option<f64>, Estimate)>,
) {
    let (oi, category, y) = target;
    let outcome = &req.outcomes[*oi];
    let b = &p.breakdowns[breakdown];
    // numerator counts for the disclosure control of proportions
    let ones = (req.stat == Stat::Proportion).then(|| numerators(&b.grouping, y));
    for (q, e) in ests {
        if e.n == 0 && !b.vars.is_empty() {
            continue;
        }
        let by: BTreeMap<String, Level> = b.vars.iter().cloned().zip(b.levels[e.group as usize].iter().cloned()).collect();
        let c = control(&e, ones.as_ref().map(|o| o[e.group as usize]), &p.def.disclosure, req.suppress);
        let id = RowId {
            outcome: outcome.clone(),
            statistic: req.stat.name(),
            by,
            category: category.clone(),
            quantile: q,
            denominator: req.denominator.clone(),
        };
        rows.push(c.row(id, req.level, e.n));
    }
}
