//! A report's analyses: every estimate a survey report shows, gathered from one store.
//!
//! Owns choosing and running the analyses behind `hearth report` (the library's
//! [`bundle`]): the outcomes (those asked for, else the definition's headline outcomes), the
//! breakdowns the definition has (age band, sex, ethnic group, tenure; wards and deprivation
//! deciles when geography is loaded), the inequality summary of each outcome over IMD deciles,
//! and the estimates of each wave when two or more are analysed. The sections describe the
//! latest wave analysed; the waves section compares the first and the latest. Every number
//! comes from [`super::estimate`] and [`super::inequality`] through disclosure control: this
//! module adds no estimator and blanks nothing itself. Must not format (the `report` module
//! renders a [`Bundle`]), read files or name flags.

use polars::prelude::{BooleanChunked, DataFrame, NewChunkedArray};
use rayon::prelude::*;
use serde::Serialize;

use super::design::ordered_design;
use super::inequality::combined::{add_person_keys, combined_design};
use super::inequality::extras::{change_between_waves, ChangeOutput};
use super::inequality::groups::{self, OrderedGrouping};
use super::inequality::{self, InequalityRequest, OutcomeInequality};
use super::prepared::{breakdowns, frame_variables, load_frame};
use super::{estimate, AnalysisError, DesignInfo, Level, Prepared, Request, RequestError, Row, Stat, Warning};
use crate::schema::expr::ExprType;
use crate::schema::{Definition, Disclosure, HigherIs};
use crate::store::geo::GeoSource;
use crate::store::Store;

/// The demographic breakdowns a report looks for, each a list of the variable names it is
/// known by (the first the definition has is used): age band, sex, ethnic group, tenure.
pub const BREAKDOWN_CANDIDATES: &[(&str, &[&str])] = &[
    ("Age band", &["age_band", "age_group", "ageband", "age_grp"]),
    ("Sex", &["sex", "gender"]),
    ("Ethnic group", &["ethnic_group", "ethnicity", "ethnic"]),
    ("Tenure", &["tenure", "housing_tenure"]),
];

/// What a report is asked to show.
#[derive(Debug, Clone)]
pub struct BundleRequest {
    /// Outcomes (empty: the definition's headline outcomes).
    pub outcomes: Vec<String>,
    /// Waves (empty: every wave of the store).
    pub waves: Vec<i64>,
    /// Confidence level.
    pub level: f64,
    /// Apply disclosure control.
    pub suppress: bool,
    /// A stored weight set in place of the design's weights.
    pub weights: Option<String>,
}

impl Default for BundleRequest {
    fn default() -> Self {
        BundleRequest {
            outcomes: Vec::new(),
            waves: Vec::new(),
            level: 0.95,
            suppress: true,
            weights: None,
        }
    }
}

/// A breakdown variable with its label.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    /// Variable id.
    pub id: String,
    /// What a reader calls it ("Age band").
    pub label: String,
}

/// One group of a breakdown: its label and its row.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The level as a reader sees it (the choice label, a ward name with its code).
    pub label: String,
    /// The estimate row (through disclosure control).
    pub row: Row,
}

/// A breakdown of one outcome.
#[derive(Debug, Clone, Serialize)]
pub struct BreakdownGroups {
    /// The variable.
    pub variable: Variable,
    /// Its groups in the variable's order.
    pub groups: Vec<Group>,
}

/// Everything a report shows about one outcome.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeBundle {
    /// Outcome id.
    pub id: String,
    /// Its label from the definition (the id when it has none).
    pub label: String,
    /// `mean`, or `proportion` for a yes/no outcome.
    pub statistic: &'static str,
    /// Whether higher values are better or worse, when the definition says.
    pub higher_is: Option<HigherIs>,
    /// The estimate over everyone in the latest wave.
    pub overall: Option<Row>,
    /// Inequality over IMD deciles (latest wave), when geography is loaded.
    pub inequality: Option<OutcomeInequality>,
    /// Demographic breakdowns (latest wave).
    pub breakdowns: Vec<BreakdownGroups>,
    /// Wards (latest wave), sorted by estimate, suppressed wards last.
    pub wards: Vec<Group>,
    /// The overall estimate of each wave compared, when there are two or more.
    pub waves: Vec<Group>,
    /// The estimates by IMD decile of each wave compared: (wave, its deciles).
    pub wave_deciles: Vec<(i64, Vec<Group>)>,
    /// The change from the first to the latest wave over the combined design (overall, by
    /// decile, the SII), when two waves are compared and geography is loaded.
    pub change: Option<ChangeOutput>,
}

/// Records of one wave.
#[derive(Debug, Clone, Serialize)]
pub struct WaveCount {
    /// The wave.
    pub wave: i64,
    /// Records per unit, top unit first: (unit id, count).
    pub records: Vec<(String, i64)>,
}

/// The analyses of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Bundle {
    /// Survey id.
    pub survey: String,
    /// Survey title.
    pub title: String,
    /// Survey description.
    pub description: Option<String>,
    /// Definition version.
    pub version: u32,
    /// The analysis unit (the innermost unit).
    pub unit: String,
    /// Waves analysed with their records.
    pub waves: Vec<WaveCount>,
    /// The wave the sections describe (the latest analysed).
    pub latest: i64,
    /// The wave compared with the latest (the first analysed), when they were compared.
    pub compared_with: Option<i64>,
    /// The design as used for the latest wave.
    pub design: DesignInfo,
    /// Disclosure-control thresholds.
    pub disclosure: Disclosure,
    /// Whether disclosure control was applied.
    pub suppressed: bool,
    /// Confidence level.
    pub level: f64,
    /// Geography loaded into the store.
    pub geography: Vec<GeoSource>,
    /// The demographic breakdowns found in the definition.
    pub breakdowns: Vec<Variable>,
    /// One per outcome, in order.
    pub outcomes: Vec<OutcomeBundle>,
    /// Notes on the whole report (what was left out and why).
    pub notes: Vec<String>,
    /// Warnings for the user.
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// The headline outcomes of a definition (derived variables and instrument scores marked
/// `headline: true`), in definition order.
pub fn headline_outcomes(def: &Definition) -> Vec<String> {
    def.units
        .iter()
        .flat_map(|u| u.derived.iter().filter(|d| d.headline).map(|d| d.id.clone()))
        .collect()
}

/// The type of a variable's values, when the definition has it.
fn variable_type(def: &Definition, id: &str) -> Option<ExprType> {
    def.find_derived(id)
        .map(|(_, d)| d.expr.ty)
        .or_else(|| def.find_question(id).map(|(_, q)| q.expr_type()))
}

/// A variable's label (its id when it has none).
pub fn variable_label(def: &Definition, id: &str) -> String {
    let label = def
        .find_derived(id)
        .and_then(|(_, d)| d.label.as_ref())
        .or_else(|| def.find_question(id).map(|(_, q)| &q.label));
    label.map(|l| l.text().to_string()).unwrap_or_else(|| id.to_string())
}

/// A level as a reader sees it: the label of its choice when the variable has a choice list.
pub fn level_label(def: &Definition, id: &str, level: &Level) -> String {
    let choices = def
        .find_question(id)
        .and_then(|(_, q)| q.choices.clone())
        .or_else(|| def.find_derived(id).and_then(|(_, d)| d.choices.clone()));
    let text = level.to_string();
    match choices.and_then(|c| c.index_of(&text).map(|i| c.choices[i].label.text().to_string())) {
        Some(l) => l,
        None => match level {
            Level::Bool(true) => "Yes".into(),
            Level::Bool(false) => "No".into(),
            _ => text,
        },
    }
}

/// The demographic breakdowns `def` has, in [`BREAKDOWN_CANDIDATES`] order.
pub fn demographic_breakdowns(def: &Definition) -> Vec<Variable> {
    BREAKDOWN_CANDIDATES
        .iter()
        .filter_map(|(label, names)| {
            names.iter().find(|n| variable_type(def, n).is_some()).map(|n| Variable {
                id: n.to_string(),
                label: label.to_string(),
            })
        })
        .collect()
}

/// Gathers the analyses of a report from `store`.
pub fn bundle(store: &Store, req: &BundleRequest) -> Result<Bundle, AnalysisError> {
    let def = store.definition(None)?;
    let outcomes = if req.outcomes.is_empty() {
        headline_outcomes(&def)
    } else {
        req.outcomes.clone()
    };
    if outcomes.is_empty() {
        return Err(RequestError::NoOutcome.into());
    }
    let mut waves = if req.waves.is_empty() { store.waves()? } else { req.waves.clone() };
    waves.sort_unstable();
    waves.dedup();
    let latest = *waves.last().ok_or(AnalysisError::NoData { waves: Vec::new() })?;
    let geography = if def.geography.is_some() { store.geo_sources()? } else { Vec::new() };
    let has_geo = geography.iter().any(|g| g.kind == "index");
    let breakdowns = demographic_breakdowns(&def);
    let mut notes = Vec::new();
    if !has_geo {
        notes.push("no geography is loaded: the deprivation gradients and the ward tables are left out".to_string());
    }

    // one frame for every analysis: the waves compared (or the latest alone)
    let compared: Vec<i64> = if waves.len() >= 2 { vec![waves[0], latest] } else { vec![latest] };
    let mut by: Vec<Vec<String>> = breakdowns.iter().map(|v| vec![v.id.clone()]).collect();
    if has_geo {
        by.push(vec![inequality::DEFAULT_OVER.into()]);
        by.push(vec!["ward".into(), "ward_name".into()]);
    }
    let base = Request {
        outcomes: outcomes.clone(),
        by: by.clone(),
        level: req.level,
        waves: compared.clone(),
        suppress: req.suppress,
        ..Request::default()
    };
    base.check()?;
    // the change between waves links a person's rows in the two waves by their keys
    let change_req = inequality_request(&outcomes, &compared, req);
    let mut with_keys = base.clone();
    add_person_keys(&def, &change_req, &mut with_keys);
    // without a weight set, one frame for every analysis (the latest wave's rows taken from
    // it); a weight set is applied to the rows it was made for, so each analysis is prepared
    // from the store with it
    let shared = match &req.weights {
        None => Some(load_frame(store, &def, &frame_variables(&def, &with_keys, None), &compared)?),
        Some(_) => None,
    };
    let prep = |waves: &[i64], by: &[Vec<String>]| -> Result<Prepared, AnalysisError> {
        match &shared {
            Some((df, row_waves)) if compared.len() > 1 && waves.len() == 1 => {
                let (d, w) = one_wave(df, row_waves, waves[0])?;
                prepare(def.clone(), d, w, by)
            }
            Some((df, row_waves)) => prepare(def.clone(), df.clone(), row_waves.clone(), by),
            None => Prepared::new(
                store,
                &Request {
                    by: by.to_vec(),
                    waves: waves.to_vec(),
                    weights: req.weights.clone(),
                    ..with_keys.clone()
                },
            ),
        }
    };

    // the latest wave: every outcome over every breakdown and the deciles, over its own design
    let p = prep(&[latest], &by)?;
    let mut design = DesignInfo::new(&p.def, p.ordered.design.degf(), false);
    design.weight_set = p.weight_set.clone();
    let rows = outcome_rows(&p, &base, &def)?;
    let ineq = if has_geo {
        let r = inequality_request(&outcomes, &[latest], req);
        r.check()?;
        Some(inequality::inequality_prepared(&p, &r)?.outcomes)
    } else {
        None
    };
    drop(p);

    // the waves compared, over the design of both: every outcome by wave (and by wave and
    // decile), and the change from the first to the latest
    let mut wave_rows = Vec::new();
    let mut changes = Vec::new();
    if compared.len() > 1 {
        let mut by = vec![vec!["wave".to_string()]];
        if has_geo {
            by.push(vec!["wave".into(), inequality::DEFAULT_OVER.into()]);
            by.push(vec![inequality::DEFAULT_OVER.into()]);
        }
        match prep(&compared, &by) {
            Ok(p) => {
                wave_rows = outcome_rows(&p, &Request { by, ..base.clone() }, &def)?;
                if has_geo && req.weights.is_none() {
                    change_req.check()?;
                    changes = compute_changes(&p, &change_req)?;
                } else if has_geo {
                    notes.push("the change between waves over their combined design does not carry a weight set's calibration yet, so it is not given".into());
                }
            }
            Err(AnalysisError::WeightSet { name, .. }) => notes.push(format!(
                "the weight set '{name}' does not weight waves {} and {} together, so they are not compared",
                compared[0], latest
            )),
            Err(e) => return Err(e),
        }
    }

    let out = outcomes
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let ineq = ineq.as_ref().and_then(|v| v.get(i).cloned());
            let mut ob = outcome_bundle(&def, id, &rows, &wave_rows, ineq, &breakdowns);
            ob.change = changes.get(i).cloned().flatten();
            ob
        })
        .collect();
    let counts = wave_counts(store, &def, &waves)?;
    let mut warnings = Vec::new();
    if !req.suppress {
        warnings.push(Warning::SuppressionOff);
    }
    Ok(Bundle {
        survey: def.survey.clone(),
        title: def.title.text().to_string(),
        description: def.description.clone(),
        version: def.version,
        unit: def.leaf_unit().id.clone(),
        waves: counts,
        latest,
        compared_with: (compared.len() > 1 && !wave_rows.is_empty()).then_some(compared[0]),
        design,
        disclosure: def.disclosure.clone(),
        suppressed: req.suppress,
        level: req.level,
        geography,
        breakdowns,
        outcomes: out,
        notes,
        warnings,
    })
}

/// The inequality request of a report's outcomes over IMD deciles in `waves`.
fn inequality_request(outcomes: &[String], waves: &[i64], req: &BundleRequest) -> InequalityRequest {
    InequalityRequest {
        outcomes: outcomes.to_vec(),
        waves: waves.to_vec(),
        level: req.level,
        suppress: req.suppress,
        weights: req.weights.clone(),
        ..InequalityRequest::default()
    }
}

/// What the report shows of outcome `id`, from the rows of every outcome.
fn outcome_bundle(def: &Definition, id: &str, rows: &[Row], wave_rows: &[Row], ineq: Option<OutcomeInequality>, breakdowns: &[Variable]) -> OutcomeBundle {
    let mine: Vec<&Row> = rows.iter().filter(|r| r.outcome == id).collect();
    let groups_of = |var: &str| -> Vec<Group> {
        mine.iter()
            .filter(|r| r.by.len() == 1 && r.by.contains_key(var))
            .map(|r| Group {
                label: level_label(def, var, &r.by[var]),
                row: (*r).clone(),
            })
            .collect()
    };
    let mut wards: Vec<Group> = mine
        .iter()
        .filter(|r| r.by.contains_key("ward"))
        .map(|r| Group {
            label: format!("{} ({})", r.by.get("ward_name").map(Level::to_string).unwrap_or_default(), r.by["ward"]),
            row: (*r).clone(),
        })
        .collect();
    sort_by_estimate(&mut wards);
    OutcomeBundle {
        id: id.to_string(),
        label: variable_label(def, id),
        statistic: mine.first().map(|r| r.statistic).unwrap_or("mean"),
        higher_is: ineq.as_ref().and_then(|o| o.higher_is),
        overall: mine.iter().find(|r| r.by.is_empty()).map(|r| (*r).clone()),
        inequality: ineq,
        breakdowns: breakdowns
            .iter()
            .map(|v| BreakdownGroups {
                variable: v.clone(),
                groups: groups_of(&v.id),
            })
            .collect(),
        wards,
        waves: wave_rows
            .iter()
            .filter(|r| r.outcome == id && r.by.len() == 1 && r.by.contains_key("wave"))
            .map(|r| Group {
                label: format!("Wave {}", r.by["wave"]),
                row: r.clone(),
            })
            .collect(),
        wave_deciles: wave_deciles(id, wave_rows),
        change: None,
    }
}

/// The rows by wave and IMD decile of `id`, grouped by wave.
fn wave_deciles(id: &str, wave_rows: &[Row]) -> Vec<(i64, Vec<Group>)> {
    let mut out: Vec<(i64, Vec<Group>)> = Vec::new();
    for r in wave_rows.iter().filter(|r| r.outcome == id && r.by.len() == 2) {
        let (Some(Level::Int(w)), Some(d)) = (r.by.get("wave"), r.by.get(inequality::DEFAULT_OVER)) else {
            continue;
        };
        let g = Group {
            label: d.to_string(),
            row: r.clone(),
        };
        match out.iter_mut().find(|(x, _)| x == w) {
            Some((_, v)) => v.push(g),
            None => out.push((*w, vec![g])),
        }
    }
    out
}

/// The records of each unit (top unit first) in each of `waves`.
fn wave_counts(store: &Store, def: &Definition, waves: &[i64]) -> Result<Vec<WaveCount>, AnalysisError> {
    let lineage: Vec<String> = def.lineage(&def.leaf_unit().id).iter().map(|u| u.id.clone()).collect();
    let mut counts = Vec::with_capacity(waves.len());
    for &w in waves {
        let mut records = Vec::new();
        for u in &lineage {
            records.push((u.clone(), store.count(u, Some(w))?));
        }
        counts.push(WaveCount { wave: w, records });
    }
    Ok(counts)
}

/// The change of each outcome of `r` between its two waves over the prepared analysis of both
/// (only the change: the measures of the two waves pooled are not wanted here).
fn compute_changes(p: &Prepared, r: &InequalityRequest) -> Result<Vec<Option<ChangeOutput>>, AnalysisError> {
    let _t = crate::timing::phase("report: change between waves");
    let og = OrderedGrouping::new(p, &r.over, false)?;
    let combined = combined_design(p, r)?;
    r.outcomes
        .par_iter()
        .map(|o| {
            let ge = groups::estimate(p, &og, r, o)?;
            change_between_waves(p, &og, r, &ge, combined.as_ref())
        })
        .collect()
}

/// The rows of `wave` from a frame of several waves, with their waves.
fn one_wave(df: &DataFrame, row_waves: &[i64], wave: i64) -> Result<(DataFrame, Vec<i64>), AnalysisError> {
    let keep: Vec<bool> = row_waves.iter().map(|&w| w == wave).collect();
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    let df = df.filter(&mask).map_err(AnalysisError::polars)?;
    Ok((df, row_waves.iter().copied().filter(|&w| w == wave).collect()))
}

/// An analysis prepared over a frame loaded already: its design and breakdowns `by` (no
/// subpopulation), as [`Prepared::new`] prepares one over the store.
fn prepare(def: Definition, df: DataFrame, row_waves: Vec<i64>, by: &[Vec<String>]) -> Result<Prepared, AnalysisError> {
    let ordered = ordered_design(&def, &df, &row_waves, false)?;
    let mut waves = row_waves.clone();
    waves.sort_unstable();
    waves.dedup();
    let breakdowns = breakdowns(&df, &def, &ordered, None, by)?;
    Ok(Prepared {
        def,
        df,
        row_waves,
        waves,
        ordered,
        mask: None,
        breakdowns,
        weight_set: None,
        replicate: None,
    })
}

/// Every row of `req` over `p`: means of numeric outcomes, proportions of yes/no outcomes.
fn outcome_rows(p: &Prepared, req: &Request, def: &Definition) -> Result<Vec<Row>, AnalysisError> {
    let (yes_no, numeric): (Vec<String>, Vec<String>) = req.outcomes.iter().cloned().partition(|o| variable_type(def, o) == Some(ExprType::Bool));
    let mut rows = Vec::new();
    for (outcomes, stat) in [(numeric, Stat::Mean), (yes_no, Stat::Proportion)] {
        if outcomes.is_empty() {
            continue;
        }
        let r = Request { outcomes, stat, ..req.clone() };
        rows.extend(estimate::rows(p, &r)?);
    }
    Ok(rows)
}

/// Sorts groups by estimate, highest first; suppressed and blank groups last, in label order.
fn sort_by_estimate(groups: &mut [Group]) {
    groups.sort_by(|a, b| match (a.row.estimate, b.row.estimate) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.label.cmp(&b.label),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(estimate: Option<f64>) -> Row {
        Row {
            outcome: "y".into(),
            statistic: "mean",
            by: Default::default(),
            category: None,
            quantile: None,
            denominator: None,
            estimate,
            se: None,
            ci_low: None,
            ci_high: None,
            level: 0.95,
            df: None,
            deff: None,
            cv: None,
            n: 1,
            weighted_n: None,
            suppressed: estimate.is_none(),
            flags: vec![],
        }
    }

    #[test]
    fn wards_sort_highest_first_with_suppressed_last() {
        let mut g: Vec<Group> = [("b", None), ("c", Some(1.0)), ("a", None), ("d", Some(3.0))]
            .into_iter()
            .map(|(l, e)| Group { label: l.into(), row: row(e) })
            .collect();
        sort_by_estimate(&mut g);
        let order: Vec<&str> = g.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(order, ["d", "c", "a", "b"]);
    }

    #[test]
    fn the_demo_survey_has_all_four_breakdowns_and_its_headline_outcomes() {
        let def = crate::schema::load_str(crate::demo::SURVEY, "hhs.yaml").unwrap();
        let ids: Vec<String> = demographic_breakdowns(&def).into_iter().map(|v| v.id).collect();
        assert_eq!(ids, ["age_group", "sex", "ethnic_group", "tenure"]);
        assert_eq!(level_label(&def, "sex", &Level::Int(1)), "Female");
        assert_eq!(level_label(&def, "age_group", &Level::Int(7)), "75 and over");
        let h = headline_outcomes(&def);
        assert!(h.contains(&"swemwbs_metric_score".to_string()), "{h:?}");
        assert!(h.contains(&"phq9_caseness".to_string()), "{h:?}");
    }
}
