//! The grouping of an inequality analysis and each group's estimate.
//!
//! Owns putting the groups of the `over` variable in order (the first the most deprived):
//! IMD deciles and quintiles in their own order (1 = most deprived, known), a select_one in the
//! order of its choice list and numbers in numeric order (first = most deprived, assumed and
//! said so); and estimating an outcome in every group over the full design (means, or
//! proportions of a yes/no outcome with analyze's default interval), with the covariance
//! between the group estimates from the same influence values, and the group rows after
//! disclosure control. Must not compute summary measures or format output.

use std::collections::BTreeMap;

use polars::prelude::DataType;

use super::concentration::Bounds;
use super::InequalityRequest;
use crate::analysis::disclosure::{control, numerators, RowId};
use crate::analysis::engine::{Estimate, EstimateOptions, GroupCovariance, Grouping, PropCiMethod};
use crate::analysis::{AnalysisError, Level, Prepared, Row};
use crate::schema::HigherIs;

/// Groupings whose order and direction are known: level 1 is the most deprived.
const KNOWN_DIRECTION: &[&str] = &["imd_decile", "imd_quintile"];

/// The `over` grouping with its groups in order: code 0 is the first (most deprived) level.
#[derive(Debug, Clone)]
pub struct OrderedGrouping {
    /// The variable.
    pub variable: String,
    /// The group of each row in the design's row order, codes in the order of `levels`.
    pub grouping: Grouping,
    /// The levels, first the most deprived.
    pub levels: Vec<Level>,
    /// Whether the groups have an order (deprivation, or a scale); false for ethnicity,
    /// tenure, wards.
    pub ordered: bool,
    /// Whether the direction (first = most deprived) is assumed rather than known.
    pub direction_assumed: bool,
}

impl OrderedGrouping {
    /// The grouping of `over` in a prepared analysis whose only breakdown is `over`, in order.
    /// It is unordered when `unordered` says so, or when `over` is text without a choice list
    /// (wards, areas, free text).
    pub fn new(p: &Prepared, over: &str, unordered: bool) -> Result<OrderedGrouping, AnalysisError> {
        let b = p
            .breakdowns
            .iter()
            .find(|b| b.vars.len() == 1 && b.vars[0] == over)
            .ok_or_else(|| AnalysisError::UnknownVariable {
                name: over.to_string(),
                suggestion: String::new(),
            })?;
        let levels: Vec<Level> = b.levels.iter().map(|l| l.first().cloned().unwrap_or(Level::Int(0))).collect();
        let choices = p
            .def
            .find_question(over)
            .and_then(|(_, q)| q.choices.clone())
            .or_else(|| p.def.find_derived(over).and_then(|(_, d)| d.choices.clone()));
        let mut idx: Vec<usize> = (0..levels.len()).collect();
        if let Some(list) = &choices {
            idx.sort_by_key(|&i| (list.index_of(&levels[i].to_string()).unwrap_or(usize::MAX), i));
        }
        let mut remap = vec![0u32; levels.len()];
        for (new, &old) in idx.iter().enumerate() {
            remap[old] = new as u32;
        }
        let codes = b
            .grouping
            .codes()
            .iter()
            .map(|&c| if c == Grouping::NONE { c } else { remap[c as usize] })
            .collect();
        let text = p.df.column(over).is_ok_and(|c| matches!(c.dtype(), DataType::String));
        let ordered = !unordered && (choices.is_some() || !text);
        Ok(OrderedGrouping {
            variable: over.to_string(),
            grouping: Grouping::new(codes, levels.len().max(1))?,
            levels: idx.iter().map(|&i| levels[i].clone()).collect(),
            ordered,
            direction_assumed: ordered && !KNOWN_DIRECTION.contains(&over),
        })
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
}

/// An outcome estimated in every group of the ordered grouping.
#[derive(Debug, Clone)]
pub struct GroupEstimates {
    /// `mean`, or `proportion` for a yes/no outcome.
    pub statistic: &'static str,
    /// The outcome's values in the design's row order (NaN: missing).
    pub y: Vec<f64>,
    /// One estimate per group, in order (a group without rows has n = 0).
    pub estimates: Vec<Estimate>,
    /// The group means with their covariance (groups share strata and PSUs).
    pub cov: GroupCovariance,
    /// Whether each group is suppressed by disclosure control.
    pub suppressed: Vec<bool>,
    /// The group rows shown (groups without rows left out), in order.
    pub rows: Vec<Row>,
    /// The levels of the groups, in order.
    pub levels: Vec<Level>,
}

impl GroupEstimates {
    /// Groups holding rows of the outcome, in order.
    pub fn present(&self) -> Vec<usize> {
        (0..self.estimates.len()).filter(|&g| self.estimates[g].n > 0).collect()
    }
}

/// Estimates `outcome` in every group of `og` over the full design.
pub fn estimate(p: &Prepared, og: &OrderedGrouping, req: &InequalityRequest, outcome: &str) -> Result<GroupEstimates, AnalysisError> {
    let col = p.df.column(outcome).map_err(AnalysisError::polars)?;
    let is_bool = matches!(col.dtype(), DataType::Boolean);
    if matches!(col.dtype(), DataType::String) {
        return Err(AnalysisError::TextOutcome { outcome: outcome.to_string() });
    }
    let y = p.values(outcome)?;
    let design = &p.ordered.design;
    let opts = EstimateOptions { level: req.level };
    let g = &og.grouping;
    // one linearisation gives the group means, their SEs and their covariance
    let lin = design.linearize_mean(&y, g)?;
    let estimates = if is_bool {
        lin.proportion_rows(&y, PropCiMethod::Logit, &opts)?
    } else {
        lin.normal_rows(&opts)?
    };
    let cov = lin.covariance()?;
    let statistic = if is_bool { "proportion" } else { "mean" };
    let ones = is_bool.then(|| numerators(g, &y));
    let mut suppressed = vec![false; estimates.len()];
    let mut rows = Vec::new();
    for e in &estimates {
        let gi = e.group as usize;
        let c = control(e, ones.as_ref().map(|o| o[gi]), &p.def.disclosure, req.suppress);
        suppressed[gi] = c.suppressed;
        if e.n == 0 {
            continue;
        }
        let by: BTreeMap<String, Level> = [(og.variable.clone(), og.levels[gi].clone())].into_iter().collect();
        let id = RowId {
            outcome: outcome.to_string(),
            statistic,
            by,
            category: is_bool.then_some(Level::Bool(true)),
            quantile: None,
            denominator: None,
        };
        rows.push(c.row(id, req.level, e.n));
    }
    Ok(GroupEstimates {
        statistic,
        y,
        estimates,
        cov,
        suppressed,
        rows,
        levels: og.levels.clone(),
    })
}

/// The polarity of an outcome (`higher_is` of a derived variable or instrument score) and its
/// bounds for the corrected concentration indices: [0, 1] for a yes/no outcome, else the
/// `min` and `max` of its question or derived variable when it has both.
pub fn polarity_and_bounds(p: &Prepared, outcome: &str, statistic: &str) -> (Option<HigherIs>, Option<Bounds>) {
    let derived = p.def.find_derived(outcome).map(|(_, d)| d);
    let higher_is = derived.and_then(|d| d.higher_is);
    let range = match (derived, p.def.find_question(outcome)) {
        _ if statistic == "proportion" => Some((0.0, 1.0)),
        (Some(d), _) => d.min.zip(d.max),
        (None, Some((_, q))) => q.min.zip(q.max),
        _ => None,
    };
    (higher_is, range.map(|(min, max)| Bounds { min, max }))
}
