//! Analysis: design-based estimates over stored responses.
//!
//! Owns turning an analysis request (outcomes, breakdowns, statistic, subpopulation, waves)
//! into rows of estimates, in named steps that every analysis command shares: the request is
//! checked ([`request`]), the frame is loaded once with only the columns needed ([`frame`]),
//! the design is built once from it in its row order ([`design`]; strata and PSUs factorised
//! to dense codes by [`factor`]), the subpopulation ([`domain`]) and breakdowns become
//! groupings over that one design ([`prepared`]), and every outcome and breakdown is estimated
//! by the engine ([`engine`], [`estimate`]) as domains of the full design, never filtered
//! copies. Disclosure control ([`disclosure`]) marks and blanks small cells. Inequality
//! ([`inequality`]) measures an outcome across an ordered grouping over the same prepared
//! analysis. A report's analyses are gathered over one frame by [`bundle`]. No SQL, files or
//! formatting here: the store reads, `report` formats.

pub mod bundle;
pub mod design;
pub mod disclosure;
pub mod domain;
pub mod engine;
pub mod error;
pub mod estimate;
pub mod factor;
pub mod frame;
pub mod inequality;
pub mod prepared;
pub mod request;
pub mod weighting;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::schema::{Definition, Fpc};
use crate::store::Store;

pub use design::{build_design, design_in_order, ordered_design, Ordered};
pub use disclosure::{Flag, SE_NOT_ESTIMABLE};
pub use engine::Grouping;
pub use error::{AnalysisError, RequestError, Warning, WhereProblem};
pub use factor::{column_f64, grouping};
pub use prepared::{Breakdown, Prepared};
pub use request::{Replicates, Request, Stat, Variance};

/// A breakdown value in a row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Level {
    /// A number (codes, deciles).
    Int(i64),
    /// A decimal value.
    Num(f64),
    /// Text (codes, area codes, names).
    Text(String),
    /// True / false.
    Bool(bool),
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Level::Int(v) => write!(f, "{v}"),
            Level::Num(v) => write!(f, "{v}"),
            Level::Text(s) => f.write_str(s),
            Level::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One row of results.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Outcome variable.
    pub outcome: String,
    /// Statistic.
    pub statistic: &'static str,
    /// Breakdown values (empty = overall).
    pub by: BTreeMap<String, Level>,
    /// Category of a select_one proportion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Level>,
    /// Quantile probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// Denominator of a ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denominator: Option<String>,
    /// Point estimate.
    pub estimate: Option<f64>,
    /// Standard error.
    pub se: Option<f64>,
    /// Lower confidence limit.
    pub ci_low: Option<f64>,
    /// Upper confidence limit.
    pub ci_high: Option<f64>,
    /// Confidence level.
    pub level: f64,
    /// Degrees of freedom: those of the t interval (proportions, quantiles), otherwise
    /// the domain's design df (PSUs minus strata); see [`engine::Estimate::reported_df`].
    pub df: Option<f64>,
    /// Design effect.
    pub deff: Option<f64>,
    /// Coefficient of variation.
    pub cv: Option<f64>,
    /// Unweighted base.
    pub n: usize,
    /// Weighted base.
    pub weighted_n: Option<f64>,
    /// Whether the numbers were suppressed.
    pub suppressed: bool,
    /// Disclosure and quality flags (text in JSON and CSV).
    pub flags: Vec<Flag>,
}

/// The design as used.
#[derive(Debug, Clone, Serialize)]
pub struct DesignInfo {
    /// Weight variable.
    pub weight: Option<String>,
    /// Strata variable.
    pub strata: Option<String>,
    /// Cluster variables per stage.
    pub psu: Vec<String>,
    /// FPC per stage.
    pub fpc: Option<Vec<Fpc>>,
    /// Lonely-PSU rule.
    pub lonely_psu: &'static str,
    /// Design degrees of freedom.
    pub df: f64,
    /// The weight set used in place of the design's weights (`None`: the design's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_set: Option<String>,
    /// Whether the variance uses the first stage only.
    pub ultimate_cluster: bool,
    /// How standard errors were estimated: `taylor` or `replicate`.
    pub variance: &'static str,
    /// The replicate design, under replicate variance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicates: Option<ReplicateInfo>,
}

/// The replicate design of an analysis, as the output tells it.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicateInfo {
    /// R's name of the method: JK1, JKn, BRR, Fay or bootstrap.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Number of replicates.
    pub replicates: usize,
    /// Overall scale of the variance.
    pub scale: f64,
    /// Whether variances are centred on the full-sample estimate.
    pub mse: bool,
    /// Fay's coefficient (Fay only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fay_rho: Option<f64>,
    /// Seed of the bootstrap (bootstrap only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// Results of an analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// Survey id.
    pub survey: String,
    /// Waves analysed.
    pub waves: Vec<i64>,
    /// The design.
    pub design: DesignInfo,
    /// Rows.
    pub rows: Vec<Row>,
    /// Warnings for the user (not part of the JSON contract).
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// Runs an analysis on a store: the request prepared once ([`Prepared::new`]), then every
/// outcome estimated over every breakdown, with disclosure control.
pub fn analyze(store: &Store, req: &Request) -> Result<Analysis, AnalysisError> {
    let prepared = Prepared::new(store, req)?;
    let _t_est = crate::timing::phase("analysis: estimate");
    let rows = estimate::rows(&prepared, req)?;
    let mut warnings = Vec::new();
    if let Some(rep) = &prepared.replicate {
        if rep.fpc_dropped() {
            let method = rep.method().map_or("these", |m| m.name());
            warnings.push(Warning::ReplicateFpcDropped { method });
        }
        if prepared.ordered.design.has_later_fpc() {
            warnings.push(Warning::ReplicateLaterFpcDropped);
        }
    }
    if !req.suppress {
        warnings.push(Warning::SuppressionOff);
    }
    if req.by.iter().any(|b| b.iter().any(|v| v == "ward" || v == "ward_name")) {
        let orphans = store.orphan_wards()?;
        if !orphans.is_empty() {
            warnings.push(Warning::OrphanWards { count: orphans.len() });
        }
    }
    let mut design = DesignInfo::new(&prepared.def, prepared.ordered.design.degf(), req.ultimate_cluster);
    design.weight_set = prepared.weight_set.clone();
    if let Some(rep) = &prepared.replicate {
        design = design.with_replicates(rep);
    }
    Ok(Analysis {
        survey: prepared.def.survey.clone(),
        design,
        waves: prepared.waves,
        rows,
        warnings,
    })
}

impl DesignInfo {
    /// The design of `def` as used: `df` its degrees of freedom over the rows analysed.
    pub fn new(def: &Definition, df: f64, ultimate_cluster: bool) -> DesignInfo {
        let d = def.design.as_ref();
        DesignInfo {
            weight: d.and_then(|d| d.weight.clone()),
            strata: d.and_then(|d| d.strata.clone()),
            psu: d.map(|d| d.psu.clone()).unwrap_or_default(),
            fpc: d.map(|d| d.fpc.clone()).filter(|f: &Vec<Fpc>| !f.is_empty()),
            lonely_psu: d.map(|d| d.lonely_psu.name()).unwrap_or("fail"),
            df,
            weight_set: None,
            ultimate_cluster,
            variance: "taylor",
            replicates: None,
        }
    }

    /// The design under replicate variance: the replicate design's description, and its df
    /// (R's `degf` of a replicate design).
    pub fn with_replicates(self, rep: &engine::ReplicateDesign) -> DesignInfo {
        use engine::ReplicateMethod;
        let method = rep.method();
        DesignInfo {
            variance: "replicate",
            df: rep.degf(),
            replicates: Some(ReplicateInfo {
                kind: method.map_or("other", |m| m.name()),
                replicates: rep.n_replicates(),
                scale: rep.scale(),
                mse: rep.mse(),
                fay_rho: match method {
                    Some(ReplicateMethod::Fay { rho }) => Some(rho),
                    _ => None,
                },
                seed: match method {
                    Some(ReplicateMethod::Bootstrap { seed, .. }) => Some(seed),
                    _ => None,
                },
            }),
            ..self
        }
    }

    /// How the variance was estimated, for table footers: empty under Taylor linearisation.
    pub fn variance_note(&self) -> String {
        match &self.replicates {
            None => String::new(),
            Some(r) => format!(
                "; replicate variance ({}, {} replicates{})",
                r.kind,
                r.replicates,
                if r.mse { ", mse" } else { "" }
            ),
        }
    }
}
