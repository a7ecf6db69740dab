//! Analysis: design-based estimates over stored responses.
//!
//! Owns turning an analysis request (outcomes, breakdowns, statistic, `--where`, waves) into
//! rows of estimates: the frame is loaded once (`frame`), the design is built once from it
//! (strata and PSUs factorised to dense codes), and every outcome and breakdown is estimated
//! over that one design by the engine (`engine`), as domains of the full design, never
//! filtered copies. Disclosure control marks and blanks small cells. No SQL, files or
//! formatting here: the store reads, `report` formats.

pub mod engine;
pub mod frame;

use std::collections::BTreeMap;

use polars::prelude::{DataFrame, DataType, IdxCa, IdxSize, IntoLazy};
use serde::Serialize;

use crate::schema::expr::{self, ExprType};
use crate::schema::{Definition, Fpc};
use crate::store::{Store, StoreError};
pub use engine::Grouping;
use engine::{Design, DesignError, DesignSpec, EstimateOptions, PropCiMethod, QuantileRule, Stage};

/// Errors of analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A variable is not in the definition.
    #[error("unknown variable '{name}'{suggestion}")]
    UnknownVariable {
        /// The name.
        name: String,
        /// A "did you mean" suggestion or "".
        suggestion: String,
    },
    /// A geography variable with no geography loaded.
    #[error("'{variable}' needs geography: run `hearth geo load STORE --builtin imd2019` (and a `geography:` section in the definition)")]
    NoGeography {
        /// The variable asked for.
        variable: String,
    },
    /// The design cannot be used.
    #[error("the sample design cannot be used: {0}")]
    Design(#[from] DesignError),
    /// A design variable is missing for a record.
    #[error("design variable '{variable}' has no value for {count} record(s) (first: row {row}); every record needs it")]
    MissingDesignValue {
        /// The variable.
        variable: String,
        /// How many.
        count: usize,
        /// First row (1-based, in store order).
        row: usize,
    },
    /// A request that cannot be answered.
    #[error("{0}")]
    Request(String),
    /// The --where expression is invalid.
    #[error("--where {}: {message}", elide(.text))]
    Where {
        /// The expression.
        text: String,
        /// What is wrong.
        message: String,
    },
    /// No data.
    #[error("no responses to analyse{0}")]
    NoData(String),
    /// Polars failed (a bug, or a resource limit).
    #[error("dataframe error: {0}")]
    Polars(String),
}

impl AnalysisError {
    pub(crate) fn polars(e: polars::error::PolarsError) -> AnalysisError {
        AnalysisError::Polars(e.to_string())
    }
}

/// Which statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    /// Mean.
    Mean,
    /// Total.
    Total,
    /// Proportion (of a boolean, or each category).
    Proportion,
    /// Quantiles.
    Quantile,
    /// Ratio of two totals.
    Ratio,
}

impl Stat {
    /// Parses a name.
    pub fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "mean" => Stat::Mean,
            "total" => Stat::Total,
            "proportion" | "prop" => Stat::Proportion,
            "quantile" | "quantiles" | "median" => Stat::Quantile,
            "ratio" => Stat::Ratio,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Stat::Mean => "mean",
            Stat::Total => "total",
            Stat::Proportion => "proportion",
            Stat::Quantile => "quantile",
            Stat::Ratio => "ratio",
        }
    }
}

/// A checked analysis request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Outcome variables.
    pub outcomes: Vec<String>,
    /// Breakdowns: each a list of variables crossed (empty list = overall only).
    pub by: Vec<Vec<String>>,
    /// Statistic.
    pub stat: Stat,
    /// Denominator of a ratio.
    pub denominator: Option<String>,
    /// Quantile probabilities.
    pub quantiles: Vec<f64>,
    /// Quantile rule.
    pub qrule: QuantileRule,
    /// CI method for proportions.
    pub ci_method: PropCiMethod,
    /// Confidence level.
    pub level: f64,
    /// Waves (all when empty).
    pub waves: Vec<i64>,
    /// Subpopulation (a domain of the full design).
    pub where_: Option<String>,
    /// First-stage variance only.
    pub ultimate_cluster: bool,
    /// Apply disclosure control.
    pub suppress: bool,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            outcomes: Vec::new(),
            by: Vec::new(),
            stat: Stat::Mean,
            denominator: None,
            quantiles: vec![0.5],
            qrule: QuantileRule::Math,
            ci_method: PropCiMethod::Logit,
            level: 0.95,
            waves: Vec::new(),
            where_: None,
            ultimate_cluster: false,
            suppress: true,
        }
    }
}

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
/// The flag of a row whose standard error cannot be estimated (its rows lie in one PSU): its
/// SE, CI, CV and deff are null, never a zero SE with a zero-width interval.
pub const SE_NOT_ESTIMABLE: &str = "one PSU: standard error not estimable";

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
    /// Disclosure and quality flags.
    pub flags: Vec<String>,
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
    /// Whether the variance uses the first stage only.
    pub ultimate_cluster: bool,
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
    pub warnings: Vec<String>,
}

/// Values of a breakdown variable, factorised.
struct Factor {
    codes: Vec<Option<u32>>,
    levels: Vec<Level>,
}

fn factorize(df: &polars::prelude::DataFrame, name: &str, def: &Definition) -> Result<Factor, AnalysisError> {
    let col = df.column(name).map_err(AnalysisError::polars)?;
    let n = df.height();
    match col.dtype() {
        DataType::Boolean => {
            let ca = col.bool().map_err(AnalysisError::polars)?;
            let codes = ca.iter().map(|v| v.map(u32::from)).collect();
            Ok(Factor {
                codes,
                levels: vec![Level::Bool(false), Level::Bool(true)],
            })
        }
        DataType::String => {
            let ca = col.str().map_err(AnalysisError::polars)?;
            // first-seen codes in one pass, then renumbered in sorted (or choice-list) order
            let mut first: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
            let mut raw: Vec<Option<u32>> = Vec::with_capacity(n);
            for v in ca.iter() {
                raw.push(v.map(|s| {
                    let len = first.len() as u32;
                    *first.entry(s).or_insert(len)
                }));
            }
            let mut distinct: Vec<&str> = first.keys().copied().collect();
            distinct.sort_unstable();
            if let Some(list) = def.find_question(name).and_then(|(_, q)| q.choices.clone()) {
                distinct.sort_by_key(|v| list.index_of(v).unwrap_or(usize::MAX));
            }
            let mut remap = vec![0u32; distinct.len()];
            for (i, s) in distinct.iter().enumerate() {
                remap[first[s] as usize] = i as u32;
            }
            let codes = raw.into_iter().map(|c| c.map(|c| remap[c as usize])).collect();
            Ok(Factor {
                codes,
                levels: distinct.iter().map(|s| Level::Text(s.to_string())).collect(),
            })
        }
        _ => {
            let s = col.cast(&DataType::Float64).map_err(AnalysisError::polars)?;
            let ca = s.f64().map_err(AnalysisError::polars)?;
            let mut first: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
            let mut raw: Vec<Option<u32>> = Vec::with_capacity(n);
            // small whole numbers (codes, deciles) index a table instead of hashing
            let mut small: Vec<u32> = vec![u32::MAX; 1024];
            for v in ca.iter() {
                raw.push(v.map(|x| {
                    if (0.0..1024.0).contains(&x) && x.fract() == 0.0 {
                        let slot = &mut small[x as usize];
                        if *slot == u32::MAX {
                            *slot = first.len() as u32;
                            first.insert((x + 0.0).to_bits(), *slot);
                        }
                        return *slot;
                    }
                    let len = first.len() as u32;
                    *first.entry((x + 0.0).to_bits()).or_insert(len)
                }));
                if first.len() > 5000 {
                    return Err(AnalysisError::Request(format!(
                        "--by {name}: more than 5000 distinct values; a breakdown needs a grouping variable"
                    )));
                }
            }
            let mut distinct: Vec<f64> = first.keys().map(|b| f64::from_bits(*b)).collect();
            distinct.sort_by(|a, b| a.total_cmp(b));
            let mut remap = vec![0u32; distinct.len()];
            for (i, x) in distinct.iter().enumerate() {
                remap[first[&x.to_bits()] as usize] = i as u32;
            }
            let codes: Vec<Option<u32>> = raw.into_iter().map(|c| c.map(|c| remap[c as usize])).collect();
            let levels = distinct
                .iter()
                .map(|&v| {
                    if v.fract() == 0.0 && v.abs() < 1e15 {
                        Level::Int(v as i64)
                    } else {
                        Level::Num(v)
                    }
                })
                .collect();
            Ok(Factor { codes, levels })
        }
    }
}

/// The grouping of a breakdown (`vars` crossed) over a loaded frame, with each group's levels.
pub fn grouping(df: &polars::prelude::DataFrame, def: &Definition, vars: &[String]) -> Result<(Grouping, Vec<Vec<Level>>), AnalysisError> {
    if vars.is_empty() {
        return Ok((Grouping::overall(df.height()), vec![Vec::new()]));
    }
    let factors: Vec<Factor> = vars.iter().map(|v| factorize(df, v, def)).collect::<Result<_, _>>()?;
    let (codes, levels) = cross(&factors, df.height());
    Ok((Grouping::from_options(&codes, levels.len().max(1))?, levels))
}

/// A column of the frame as f64, NaN for missing.
pub fn column_f64(df: &polars::prelude::DataFrame, name: &str) -> Result<Vec<f64>, AnalysisError> {
    f64_column(df, name)
}

/// Crosses factors into one grouping: (group code per row, level tuples per group).
fn cross(factors: &[Factor], n: usize) -> (Vec<Option<u32>>, Vec<Vec<Level>>) {
    if factors.len() == 1 {
        let f = &factors[0];
        return (f.codes.clone(), f.levels.iter().map(|l| vec![l.clone()]).collect());
    }
    // mixed-radix combined code per row; the combinations present, in sorted order, become groups
    let sizes: Vec<u64> = factors.iter().map(|f| f.levels.len().max(1) as u64).collect();
    let combined: Vec<Option<u64>> = (0..n)
        .map(|i| {
            let mut k = 0u64;
            for (f, &m) in factors.iter().zip(&sizes) {
                k = k * m + f.codes[i]? as u64;
            }
            Some(k)
        })
        .collect();
    let space: u64 = sizes.iter().product();
    let (present, codes): (Vec<u64>, Vec<Option<u32>>) = if space <= 1 << 20 {
        // a dense table over every combination
        let mut seen = vec![false; space as usize];
        for k in combined.iter().flatten() {
            seen[*k as usize] = true;
        }
        let mut index = vec![u32::MAX; space as usize];
        let mut present = Vec::new();
        for (k, s) in seen.iter().enumerate() {
            if *s {
                index[k] = present.len() as u32;
                present.push(k as u64);
            }
        }
        let codes = combined.iter().map(|k| k.map(|k| index[k as usize])).collect();
        (present, codes)
    } else {
        let mut present: Vec<u64> = combined
            .iter()
            .flatten()
            .copied()
            .collect::<std::collections::HashSet<u64>>()
            .into_iter()
            .collect();
        present.sort_unstable();
        let index: std::collections::HashMap<u64, u32> = present.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
        let codes = combined.iter().map(|k| k.map(|k| index[&k])).collect();
        (present, codes)
    };
    let levels = present
        .iter()
        .map(|&k| {
            let mut parts = Vec::with_capacity(factors.len());
            let mut rest = k;
            for (f, &m) in factors.iter().zip(&sizes).rev() {
                parts.push(f.levels[(rest % m) as usize].clone());
                rest /= m;
            }
            parts.reverse();
            parts
        })
        .collect();
    (codes, levels)
}

fn f64_column(df: &polars::prelude::DataFrame, name: &str) -> Result<Vec<f64>, AnalysisError> {
    let col = df.column(name).map_err(AnalysisError::polars)?;
    let s = col.cast(&DataType::Float64).map_err(AnalysisError::polars)?;
    Ok(s.f64().map_err(AnalysisError::polars)?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn dense_codes(df: &polars::prelude::DataFrame, name: &str, waves: &[i64], def: &Definition) -> Result<(Vec<u32>, Vec<String>), AnalysisError> {
    let f = factorize(df, name, def)?;
    if let Some(first) = f.codes.iter().position(|c| c.is_none()) {
        let count = f.codes.iter().filter(|c| c.is_none()).count();
        return Err(AnalysisError::MissingDesignValue {
            variable: name.to_string(),
            count,
            row: first + 1,
        });
    }
    // waves are separate samples: a PSU or stratum is a (wave, value) pair
    let mut wave_levels: Vec<i64> = waves.to_vec();
    wave_levels.sort_unstable();
    wave_levels.dedup();
    if wave_levels.len() <= 1 {
        let codes = f.codes.iter().map(|c| c.unwrap_or(0)).collect();
        return Ok((codes, f.levels.iter().map(|l| l.to_string()).collect()));
    }
    let m = f.levels.len().max(1);
    let mut index = vec![u32::MAX; m * wave_levels.len()];
    let mut labels = Vec::new();
    let mut codes = Vec::with_capacity(f.codes.len());
    for (c, w) in f.codes.iter().zip(waves) {
        let wi = wave_levels.binary_search(w).unwrap_or(0);
        let k = wi * m + c.unwrap_or(0) as usize;
        if index[k] == u32::MAX {
            index[k] = labels.len() as u32;
            labels.push(format!("{} (wave {w})", f.levels[c.unwrap_or(0) as usize]));
        }
        codes.push(index[k]);
    }
    Ok((codes, labels))
}

/// Builds the design from a loaded frame (strata and PSUs factorised once; waves are separate
/// samples, so a stratum or PSU is a (wave, value) pair).
pub fn build_design(def: &Definition, df: &polars::prelude::DataFrame, waves: &[i64], ultimate_cluster: bool) -> Result<Design, AnalysisError> {
    let n = df.height();
    let d = def.design.clone();
    let mut spec = DesignSpec {
        n_rows: n,
        ..Default::default()
    };
    if let Some(d) = &d {
        if let Some(w) = &d.weight {
            let v = f64_column(df, w)?;
            if let Some(i) = v.iter().position(|x| x.is_nan()) {
                return Err(AnalysisError::MissingDesignValue {
                    variable: w.clone(),
                    count: v.iter().filter(|x| x.is_nan()).count(),
                    row: i + 1,
                });
            }
            spec.weights = Some(v);
        }
        let multi_wave = waves.iter().any(|w| *w != waves[0]);
        if let Some(s) = &d.strata {
            let (codes, labels) = dense_codes(df, s, waves, def)?;
            spec.strata = Some(codes);
            spec.strata_labels = Some(labels);
        } else if multi_wave {
            let mut distinct: Vec<i64> = waves.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            spec.strata = Some(waves.iter().map(|w| distinct.binary_search(w).unwrap_or(0) as u32).collect());
            spec.strata_labels = Some(distinct.iter().map(|w| format!("wave {w}")).collect());
        }
        for (i, p) in d.psu.iter().enumerate() {
            let (codes, labels) = dense_codes(df, p, waves, def)?;
            let fpc = match d.fpc.get(i) {
                Some(Fpc::Column(c)) => Some(f64_column(df, c)?),
                Some(Fpc::Value(v)) => Some(vec![*v; n]),
                None => None,
            };
            if i == 0 {
                spec.psu_labels = Some(labels);
            }
            spec.stages.push(Stage { clusters: codes, fpc });
        }
        if d.psu.is_empty() {
            if let Some(f) = d.fpc.first() {
                let fpc = match f {
                    Fpc::Column(c) => f64_column(df, c)?,
                    Fpc::Value(v) => vec![*v; n],
                };
                spec.stages.push(Stage {
                    clusters: (0..n as u32).collect(),
                    fpc: Some(fpc),
                });
            }
        }
        spec.lonely_psu = match d.lonely_psu {
            crate::schema::LonelyPsu::Fail => engine::LonelyPsu::Fail,
            crate::schema::LonelyPsu::Remove => engine::LonelyPsu::Remove,
            crate::schema::LonelyPsu::Adjust => engine::LonelyPsu::Adjust,
            crate::schema::LonelyPsu::Average => engine::LonelyPsu::Average,
            crate::schema::LonelyPsu::Certainty => engine::LonelyPsu::Certainty,
        };
    }
    spec.ultimate_cluster = ultimate_cluster;
    Ok(Design::new(spec)?)
}

/// `text`, or its start and length when too long to repeat in a message.
fn elide(text: &str) -> String {
    const LONG: usize = 100;
    if text.chars().count() <= LONG {
        return text.to_string();
    }
    let start: String = text.chars().take(60).collect();
    format!("{start}... ({} characters)", text.chars().count())
}

/// The problems of a `--where` expression on one line: the first few, then how many more (a
/// long expression may repeat one mistake thousands of times).
fn where_problems(errs: &[expr::ExprError]) -> String {
    const SHOWN: usize = 5;
    let mut m = errs
        .iter()
        .take(SHOWN)
        .map(|e| format!("column {}: {}", e.at + 1, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    if errs.len() > SHOWN {
        m.push_str(&format!("; and {} more problem(s)", errs.len() - SHOWN));
    }
    m
}

/// Maps `f` over `items` on as many threads as the machine has cores (at most one per item),
/// keeping the order of `items`.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("an estimation thread panicked")).collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// A design built over rows put in its order (grouped by PSU and every later stage's unit), so
/// that every variance pass (one per outcome and grouping) reads its vectors sequentially
/// instead of jumping about. The frame keeps its order: values taken from it for the design
/// (outcomes, grouping codes, masks) go through [`Ordered::rows`]. Estimates are those of the
/// frame as given (sums taken in another order).
pub struct Ordered {
    /// The design, over the rows in its order.
    pub design: Design,
    /// Frame row of each design row, when that is not the identity.
    order: Option<Vec<u32>>,
}

impl Ordered {
    /// Values given per frame row, in the design's row order.
    pub fn rows<T: Clone>(&self, v: Vec<T>) -> Vec<T> {
        match &self.order {
            None => v,
            Some(order) => order.iter().map(|&i| v[i as usize].clone()).collect(),
        }
    }
}

/// Builds the design over the frame's rows put in the design's order (see [`Ordered`]): only
/// the design's own columns are reordered to build it.
pub fn ordered_design(def: &Definition, df: &DataFrame, waves: &[i64], ultimate_cluster: bool) -> Result<Ordered, AnalysisError> {
    let design = build_design(def, df, waves, ultimate_cluster)?;
    let Some(order) = design.row_order().map(<[u32]>::to_vec) else {
        return Ok(Ordered { design, order: None });
    };
    let _t = crate::timing::phase("analysis: design rows in order");
    let mut cols: Vec<String> = Vec::new();
    if let Some(d) = &def.design {
        cols.extend(d.weight.clone());
        cols.extend(d.strata.clone());
        cols.extend(d.psu.iter().cloned());
        cols.extend(d.fpc.iter().filter_map(|f| if let Fpc::Column(c) = f { Some(c.clone()) } else { None }));
    }
    cols.sort();
    cols.dedup();
    let idx = IdxCa::from_vec("".into(), order.iter().map(|&i| i as IdxSize).collect());
    let part = df.select(cols).map_err(AnalysisError::polars)?.take(&idx).map_err(AnalysisError::polars)?;
    let w: Vec<i64> = order.iter().map(|&i| waves[i as usize]).collect();
    let design = build_design(def, &part, &w, ultimate_cluster)?;
    Ok(Ordered { design, order: Some(order) })
}

/// Builds the design and puts the whole frame's rows (and their waves) in its order: for
/// callers that take many vectors from the frame themselves (benchmarks).
pub fn design_in_order(def: &Definition, df: DataFrame, waves: Vec<i64>, ultimate_cluster: bool) -> Result<(DataFrame, Vec<i64>, Design), AnalysisError> {
    let ordered = ordered_design(def, &df, &waves, ultimate_cluster)?;
    let (df, waves) = match &ordered.order {
        None => (df, waves),
        Some(order) => {
            let idx = IdxCa::from_vec("".into(), order.iter().map(|&i| i as IdxSize).collect());
            (df.take(&idx).map_err(AnalysisError::polars)?, ordered.rows(waves))
        }
    };
    Ok((df, waves, ordered.design))
}

/// One thing to estimate for an outcome: its category (proportions) and its values.
type Target = (Option<Level>, Vec<f64>);

/// Runs an analysis on a store.
pub fn analyze(store: &Store, req: &Request) -> Result<Analysis, AnalysisError> {
    let def = store.definition(None)?;
    if req.outcomes.is_empty() {
        return Err(AnalysisError::Request("give at least one --outcome".into()));
    }
    if req.stat == Stat::Ratio && req.denominator.is_none() {
        return Err(AnalysisError::Request("--stat ratio needs --denominator VAR".into()));
    }
    if !(0.5..1.0).contains(&req.level) {
        return Err(AnalysisError::Request(format!("--level {} must be between 0.5 and 1", req.level)));
    }
    // Everything the frame needs.
    let mut vars: Vec<String> = req.outcomes.clone();
    vars.extend(req.denominator.clone());
    for b in &req.by {
        vars.extend(b.iter().cloned());
    }
    if let Some(d) = &def.design {
        vars.extend(d.weight.clone());
        vars.extend(d.strata.clone());
        vars.extend(d.psu.iter().cloned());
        vars.extend(d.fpc.iter().filter_map(|f| if let Fpc::Column(c) = f { Some(c.clone()) } else { None }));
    }
    let leaf = def.leaf_unit();
    let where_compiled = match &req.where_ {
        Some(w) => {
            let ctx = expr::Context {
                tables: def.tables.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ..Default::default()
            };
            let mut scope = leaf.scope.clone();
            for g in frame::GEO_VARS.iter().filter(|_| def.geography.is_some()) {
                if scope.slot(g).is_none() {
                    let ty = if g.starts_with("imd") { ExprType::Num } else { ExprType::Text };
                    scope.push(expr::VarInfo {
                        id: g.to_string(),
                        ty,
                        codes: None,
                    });
                }
            }
            if scope.slot("wave").is_none() {
                scope.push(expr::VarInfo {
                    id: "wave".into(),
                    ty: ExprType::Num,
                    codes: None,
                });
            }
            let (e, ty) = expr::compile(w, &scope, &ctx, None).map_err(|errs| AnalysisError::Where {
                text: w.clone(),
                message: where_problems(&errs),
            })?;
            if ty != ExprType::Bool {
                return Err(AnalysisError::Where {
                    text: w.clone(),
                    message: format!("must be a condition (boolean), found a {}", ty.name()),
                });
            }
            let mut slots = Vec::new();
            e.slots(&mut slots);
            vars.extend(slots.into_iter().map(|s| scope.var(s).id.clone()));
            Some((e, scope))
        }
        None => None,
    };
    vars.sort();
    vars.dedup();
    let t_load = crate::timing::phase("analysis: load the frame");
    let fr = frame::load(store, &def, &vars, &req.waves)?;
    drop(t_load);
    let mut df = fr.df;
    let row_waves = fr.waves;
    let n = df.height();
    if n == 0 {
        return Err(AnalysisError::NoData(if req.waves.is_empty() {
            String::new()
        } else {
            format!(" in wave(s) {:?}", req.waves)
        }));
    }
    // only what the request names (the items behind recomputed scores are no longer needed)
    let keep: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .filter(|c| {
            c == "wave"
                || vars
                    .iter()
                    .any(|v| v == c || c.strip_prefix(v.as_str()).is_some_and(|rest| rest.starts_with(':')))
        })
        .collect();
    if keep.len() < df.width() {
        df = df.select(keep).map_err(AnalysisError::polars)?;
    }
    let t_design = crate::timing::phase("analysis: build the design");
    let ordered = ordered_design(&def, &df, &row_waves, req.ultimate_cluster)?;
    let design = &ordered.design;
    drop(t_design);
    let t_groups = crate::timing::phase("analysis: groupings");
    let mut waves: Vec<i64> = row_waves.clone();
    waves.sort_unstable();
    waves.dedup();
    // The subpopulation mask.
    let mask: Option<Vec<bool>> = match &where_compiled {
        Some((e, scope)) => {
            let pe = expr::polars::to_polars(e, scope, None);
            let out = df
                .clone()
                .lazy()
                .select([pe.cast(DataType::Boolean).alias("__where")])
                .collect()
                .map_err(AnalysisError::polars)?;
            let col = out.column("__where").map_err(AnalysisError::polars)?;
            let ca = col.bool().map_err(AnalysisError::polars)?;
            let mut v: Vec<bool> = ca.iter().map(|b| b == Some(true)).collect();
            v.resize(n, v.first().copied().unwrap_or(false));
            Some(v)
        }
        None => None,
    };
    let opts = EstimateOptions { level: req.level };
    // Groupings: overall, then each --by.
    let mut groupings: Vec<(Vec<String>, Grouping, Vec<Vec<Level>>)> = Vec::new();
    {
        let codes: Vec<Option<u32>> = (0..n).map(|i| if mask.as_ref().is_none_or(|m| m[i]) { Some(0) } else { None }).collect();
        groupings.push((Vec::new(), Grouping::from_options(&ordered.rows(codes), 1)?, vec![Vec::new()]));
    }
    for b in &req.by {
        let factors: Vec<Factor> = b.iter().map(|v| factorize(&df, v, &def)).collect::<Result<_, _>>()?;
        let (mut codes, levels) = cross(&factors, n);
        if let Some(m) = &mask {
            for (c, keep) in codes.iter_mut().zip(m) {
                if !keep {
                    *c = None;
                }
            }
        }
        groupings.push((b.clone(), Grouping::from_options(&ordered.rows(codes), levels.len().max(1))?, levels));
    }
    drop(t_groups);
    let _t_est = crate::timing::phase("analysis: estimate");
    let mut rows: Vec<Row> = Vec::new();
    let mut warnings = Vec::new();
    let disc = &def.disclosure;
    // (outcome index, category, y) waiting to be estimated: outcomes are taken a few at a time
    // so that the cores get many (target, grouping) tasks without holding every vector at once
    let mut pending: Vec<(usize, Option<Level>, Vec<f64>)> = Vec::new();
    let den = match &req.denominator {
        Some(d) => Some(ordered.rows(f64_column(&df, d)?)),
        None => None,
    };
    // what to estimate for one outcome: (category, y in the design's row order)
    let prepare = |outcome: &String| -> Result<Vec<Target>, AnalysisError> {
        let col = df.column(outcome).map_err(AnalysisError::polars)?;
        let is_bool = matches!(col.dtype(), DataType::Boolean);
        let is_text = matches!(col.dtype(), DataType::String);
        // what to estimate: (category, y vector)
        let mut targets: Vec<Target> = Vec::new();
        let choices = def
            .find_question(outcome)
            .and_then(|(_, q)| q.choices.clone())
            .or_else(|| def.find_derived(outcome).and_then(|(_, d)| d.choices.clone()));
        if req.stat == Stat::Proportion && !is_bool {
            // one row per category
            let f = factorize(&df, outcome, &def)?;
            let mut levels = f.levels.clone();
            let mut idx: Vec<usize> = (0..levels.len()).collect();
            if let Some(list) = &choices {
                idx.sort_by_key(|&i| list.index_of(&levels[i].to_string()).unwrap_or(usize::MAX));
            }
            for i in idx {
                let y: Vec<f64> = f
                    .codes
                    .iter()
                    .map(|c| match c {
                        Some(c) => f64::from(u8::from(*c as usize == i)),
                        None => f64::NAN,
                    })
                    .collect();
                targets.push((Some(std::mem::replace(&mut levels[i], Level::Int(0))), ordered.rows(y)));
            }
        } else {
            if is_text {
                return Err(AnalysisError::Request(format!(
                    "--outcome {outcome} is text: use --stat proportion for its categories"
                )));
            }
            // a proportion of a boolean is the share of `true`, reported as that category
            let cat = if req.stat == Stat::Proportion { Some(Level::Bool(true)) } else { None };
            targets.push((cat, ordered.rows(f64_column(&df, outcome)?)));
        }
        Ok(targets)
    };
    // outcomes are prepared a few at a time on all cores, and estimated in batches so that the
    // cores get many (target, grouping) tasks without every vector held at once
    let chunk = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(2);
    let outcome_chunks: Vec<Vec<(usize, String)>> = req
        .outcomes
        .iter()
        .cloned()
        .enumerate()
        .collect::<Vec<_>>()
        .chunks(chunk)
        .map(<[_]>::to_vec)
        .collect();
    let n_chunks = outcome_chunks.len();
    for (ci, outcomes) in outcome_chunks.into_iter().enumerate() {
        for (prepared, (oi, _)) in par_map(&outcomes, |(_, o)| prepare(o)).into_iter().zip(&outcomes) {
            pending.extend(prepared?.into_iter().map(|(c, y)| (*oi, c, y)));
        }
        if pending.len() < 8 && ci + 1 < n_chunks {
            continue;
        }
        let targets = std::mem::take(&mut pending);
        // every (target, grouping) pair is estimated on its own: spread them over the cores
        let tasks: Vec<(usize, usize)> = (0..targets.len()).flat_map(|t| (0..groupings.len()).map(move |g| (t, g))).collect();
        let estimate = |&(t, g): &(usize, usize)| -> Result<Vec<(Option<f64>, engine::Estimate)>, DesignError> {
            let (y, grouping) = (&targets[t].2, &groupings[g].1);
            Ok(match req.stat {
                Stat::Mean => design.mean(y, grouping, &opts)?.into_iter().map(|e| (None, e)).collect(),
                Stat::Total => design.total(y, grouping, &opts)?.into_iter().map(|e| (None, e)).collect(),
                Stat::Ratio => design
                    .ratio(y, den.as_deref().unwrap_or(&[]), grouping, &opts)?
                    .into_iter()
                    .map(|e| (None, e))
                    .collect(),
                Stat::Proportion => design.proportion(y, grouping, req.ci_method, &opts)?.into_iter().map(|e| (None, e)).collect(),
                Stat::Quantile => design
                    .quantiles(y, grouping, &req.quantiles, req.qrule, &opts)?
                    .into_iter()
                    .map(|q| (Some(q.p), q.estimate))
                    .collect(),
            })
        };
        let results = par_map(&tasks, estimate);
        for (&(t, g), ests) in tasks.iter().zip(results) {
            let ests = ests?;
            let (oi, category, y) = &targets[t];
            let outcome = &req.outcomes[*oi];
            let (by_vars, grouping, levels) = &groupings[g];
            {
                // numerator counts for proportion disclosure
                let mut ones = vec![0usize; grouping.n_groups()];
                if req.stat == Stat::Proportion {
                    for (c, v) in grouping.codes().iter().zip(y) {
                        if *c != Grouping::NONE && *v == 1.0 {
                            ones[*c as usize] += 1;
                        }
                    }
                }
                for (q, e) in ests {
                    if e.n == 0 && !by_vars.is_empty() {
                        continue;
                    }
                    let by: BTreeMap<String, Level> = by_vars.iter().cloned().zip(levels[e.group as usize].iter().cloned()).collect();
                    let fin = |x: f64| if x.is_finite() { Some(x) } else { None };
                    let mut flags = Vec::new();
                    let mut suppressed = false;
                    if e.n < disc.min_base as usize {
                        flags.push(format!("base below {}", disc.min_base));
                        suppressed = true;
                    } else if e.n < disc.flag_base as usize {
                        flags.push(format!("base below {}", disc.flag_base));
                    }
                    if req.stat == Stat::Proportion {
                        let k = ones[e.group as usize];
                        let m = disc.min_count as usize;
                        if (k > 0 && k < m) || (e.n - k > 0 && e.n - k < m) {
                            flags.push(format!("numerator or complement below {m}"));
                            suppressed = true;
                        }
                    }
                    // A domain whose answered rows all lie in one PSU of one stratum has no
                    // between-PSU variation: a zero SE there is not a precise estimate but none.
                    let no_variation = e.se.is_nan() || e.se <= 0.0;
                    let se_estimable = !(e.n > 0 && e.used_df < 1.0 && no_variation);
                    if !se_estimable {
                        flags.push(SE_NOT_ESTIMABLE.into());
                    } else if e.n > 0 && e.used_df < 1.0 {
                        flags.push("one PSU: no degrees of freedom".into());
                    }
                    if e.cv.is_finite() && e.cv > disc.max_cv {
                        flags.push(format!("cv above {:.0}%", disc.max_cv * 100.0));
                    }
                    let blank = suppressed && req.suppress;
                    let num = |x: f64| if blank { None } else { fin(x) };
                    rows.push(Row {
                        outcome: outcome.clone(),
                        statistic: req.stat.name(),
                        by,
                        category: category.clone(),
                        quantile: q,
                        denominator: req.denominator.clone(),
                        estimate: num(e.estimate),
                        se: num(e.se).filter(|_| se_estimable),
                        ci_low: num(e.ci_low).filter(|_| se_estimable),
                        ci_high: num(e.ci_high).filter(|_| se_estimable),
                        level: req.level,
                        df: fin(e.reported_df()),
                        deff: if blank || !se_estimable { None } else { e.deff.and_then(fin) },
                        cv: num(e.cv).filter(|_| se_estimable),
                        n: e.n,
                        weighted_n: if blank { None } else { fin(e.weighted_n) },
                        suppressed: blank,
                        flags,
                    });
                }
            }
        }
    }
    if !req.suppress {
        warnings.push("disclosure control is OFF (--no-suppress): small cells are shown; do not publish these tables as they are".into());
    }
    if req.by.iter().any(|b| b.iter().any(|v| v == "ward" || v == "ward_name")) {
        let orphans = store.orphan_wards()?;
        if !orphans.is_empty() {
            warnings.push(format!(
                "{} ward(s) of the loaded lookup have no LSOA (best-fit lookup) and can never appear in a ward breakdown",
                orphans.len()
            ));
        }
    }
    let d = def.design.clone();
    Ok(Analysis {
        survey: def.survey.clone(),
        waves,
        design: DesignInfo {
            weight: d.as_ref().and_then(|d| d.weight.clone()),
            strata: d.as_ref().and_then(|d| d.strata.clone()),
            psu: d.as_ref().map(|d| d.psu.clone()).unwrap_or_default(),
            fpc: d.as_ref().map(|d| d.fpc.clone()).filter(|f| !f.is_empty()),
            lonely_psu: d.as_ref().map(|d| d.lonely_psu.name()).unwrap_or("fail"),
            df: design.degf(),
            ultimate_cluster: req.ultimate_cluster,
        },
        rows,
        warnings,
    })
}
