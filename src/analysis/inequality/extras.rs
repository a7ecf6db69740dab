//! The inequality extras of one outcome, over a prepared analysis: age-standardised group
//! estimates (and the SII and RII on them), the Fingertips aggregate method, the change between
//! two waves, and the tests between groups.
//!
//! Owns wiring [`super::standardise`], [`super::phe`], [`super::change`] and [`super::between`]
//! into an [`super::OutcomeInequality`]: which rows and groupings they take from the
//! [`Prepared`] analysis, how their results become group rows, measure rows and the `change` and
//! `tests` objects, and disclosure control of those (a suppressed group's numbers are not shown
//! and a measure that needs them is withheld, saying why). Must not compute variances (the
//! modules it wires do, through the engine) or format.

use std::collections::BTreeMap;

use serde::Serialize;

use super::between::{rao_scott, t_test, two_group_t_test};
use super::change::{wave_change_with, Change, ChangeInput, WaveGroupings};
use super::combined::{CombinedDesign, Linking};
use super::concentration::Bounds;
use super::groups::{GroupEstimates, OrderedGrouping};
use super::phe::{phe_sii, PheGroup, PheOptions, ValueType};
use super::standard::Standard;
use super::standardise::{standardise, Interval, StandardiseInput, Standardised};
use super::{InequalityError, InequalityRequest, Measure, MeasureKind};
use crate::analysis::engine::{qnorm, qt, Grouping};
use crate::analysis::{AnalysisError, Level, Prepared};

/// Seed of the PHE method's simulated limits (fixed: the same data give the same limits).
pub const PHE_SEED: u64 = 20_130_101;

/// Draws of the PHE method's simulation (the package's default).
pub const PHE_REPETITIONS: usize = 100_000;

/// How the group estimates were standardised.
#[derive(Debug, Clone, Serialize)]
pub struct Standardisation {
    /// The standardising variables.
    pub by: Vec<String>,
    /// The standard population (`esp2013` or the file's name).
    pub standard: String,
    /// The overall standardised estimate (every group together).
    pub overall: Overall,
    /// How the standard was fitted to the survey's bands, cells left out.
    pub notes: Vec<String>,
}

/// An estimate with its standard error and interval.
#[derive(Debug, Clone, Serialize)]
pub struct Overall {
    /// The estimate.
    pub estimate: Option<f64>,
    /// Its standard error.
    pub se: Option<f64>,
    /// Lower confidence limit.
    pub ci_low: Option<f64>,
    /// Upper confidence limit.
    pub ci_high: Option<f64>,
}

/// Standardises the group estimates of `ge` in place when the request asks for it: the rows,
/// the estimates and their covariance become the standardised ones.
pub fn standardise_groups(
    p: &Prepared,
    og: &OrderedGrouping,
    req: &InequalityRequest,
    ge: &mut GroupEstimates,
) -> Result<Option<(Standardised, Standardisation)>, AnalysisError> {
    if req.standardise.is_empty() {
        return Ok(None);
    }
    let standard = match &req.standard {
        Some(s) => s.clone(),
        None => Standard::named(super::standard::ESP2013).map_err(InequalityError::from)?,
    };
    let b = p
        .breakdowns
        .iter()
        .find(|b| b.vars == req.standardise)
        .ok_or_else(|| AnalysisError::UnknownVariable {
            name: req.standardise.join(","),
            suggestion: String::new(),
        })?;
    let cells: Vec<Vec<(String, Option<String>)>> = b
        .levels
        .iter()
        .map(|levels| {
            levels
                .iter()
                .zip(&req.standardise)
                .map(|(l, v)| (l.to_string(), choice_label(p, v, l)))
                .collect()
        })
        .collect();
    let mut notes = Vec::new();
    let counts = standard.counts(&req.standardise, &cells, &mut notes).map_err(InequalityError::from)?;
    let interval = if ge.statistic == "proportion" { Interval::Proportion } else { Interval::Mean };
    let input = StandardiseInput {
        y: &ge.y,
        groups: &og.grouping,
        cells: &b.grouping,
        standard: &counts,
    };
    let s = standardise(&p.ordered.design, input, interval, req.level)?;
    let describe = |a: usize| {
        cells[a]
            .iter()
            .zip(&req.standardise)
            .map(|((c, l), v)| format!("{v}={}", l.as_deref().unwrap_or(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for &(g, a) in &s.empty_cells {
        notes.push(format!(
            "{} {} has no rows in {}: standardised over the cells it has (as R's svystandardize)",
            og.variable,
            og.levels[g],
            describe(a)
        ));
    }
    for &a in &s.zero_cells {
        notes.push(format!("{} has no count in the standard: its rows are left out", describe(a)));
    }
    for (g, e) in ge.estimates.iter_mut().enumerate() {
        let st = &s.groups[g];
        e.estimate = st.estimate;
        e.se = st.se;
        e.ci_low = st.ci_low;
        e.ci_high = st.ci_high;
        e.cv = st.se / st.estimate;
        e.deff = None;
    }
    ge.cov = s.group_covariance();
    for row in &mut ge.rows {
        let Some(g) = row.by.get(&og.variable).and_then(|l| og.levels.iter().position(|x| x == l)) else {
            continue;
        };
        if row.suppressed {
            continue;
        }
        let st = &s.groups[g];
        let fin = |x: f64| x.is_finite().then_some(x);
        (row.estimate, row.se, row.ci_low, row.ci_high) = (fin(st.estimate), fin(st.se), fin(st.ci_low), fin(st.ci_high));
        row.cv = fin(st.se / st.estimate);
        row.deff = None;
    }
    let o = &s.overall;
    let fin = |x: f64| x.is_finite().then_some(x);
    let info = Standardisation {
        by: req.standardise.clone(),
        standard: standard.name(),
        overall: Overall {
            estimate: fin(o.estimate),
            se: fin(o.se),
            ci_low: fin(o.ci_low),
            ci_high: fin(o.ci_high),
        },
        notes,
    };
    Ok(Some((s, info)))
}

/// The label of a level of a variable with a choice list (question or derived variable).
fn choice_label(p: &Prepared, var: &str, level: &Level) -> Option<String> {
    let list = p
        .def
        .find_question(var)
        .and_then(|(_, q)| q.choices.clone())
        .or_else(|| p.def.find_derived(var).and_then(|(_, d)| d.choices.clone()))?;
    let i = list.index_of(&level.to_string())?;
    Some(list.choices[i].label.text().to_string())
}

/// The SII and the linear and log RII on standardised estimates (`svyglm(y ~ ridit)` and its
/// quasipoisson log-link fit on the standardised design).
pub fn standardised_indices(s: &Standardised, ge: &GroupEstimates, level: f64) -> Vec<Measure> {
    let why_suppressed = suppressed_groups(ge);
    let kinds = [MeasureKind::Sii, MeasureKind::RiiLinear, MeasureKind::RiiLog];
    if let Some(which) = why_suppressed {
        return kinds
            .iter()
            .map(|&k| Measure::withheld(k, level, format!("withheld: computed from suppressed groups ({which})")))
            .collect();
    }
    let Some(fit) = s.sii_fit() else {
        return kinds
            .iter()
            .map(|&k| Measure::withheld(k, level, "not computable: fewer than two groups have rows".into()))
            .collect();
    };
    let t = if fit.df >= 1.0 { qt(1.0 - (1.0 - level) / 2.0, fit.df) } else { f64::NAN };
    let (b0, b1) = (fit.coef[0], fit.coef[1]);
    let se = fit.vcov[3].sqrt();
    let mut sii = Measure::new(MeasureKind::Sii, b1, se, (b1 - t * se, b1 + t * se), level, Some(fit.df));
    sii.notes.push("on the age-standardised group estimates".into());
    let rii = (b0 + b1) / b0;
    let g = [-b1 / (b0 * b0), 1.0 / b0];
    let v = g[0] * g[0] * fit.vcov[0] + 2.0 * g[0] * g[1] * fit.vcov[1] + g[1] * g[1] * fit.vcov[3];
    let se_rii = v.max(0.0).sqrt();
    let mut r = Measure::new(MeasureKind::RiiLinear, rii, se_rii, (rii - t * se_rii, rii + t * se_rii), level, Some(fit.df));
    r.notes.push("on the age-standardised group estimates".into());
    let log = match s.log_fit() {
        Some(f) => {
            let (b1, se1) = (f.coef[1], f.vcov[3].sqrt());
            let mut m = Measure::new(
                MeasureKind::RiiLog,
                b1.exp(),
                b1.exp() * se1,
                ((b1 - t * se1).exp(), (b1 + t * se1).exp()),
                level,
                Some(f.df),
            );
            m.log_estimate = Some(b1);
            m.se_log = Some(se1);
            m.notes.push("on the age-standardised group estimates".into());
            m
        }
        None => Measure::withheld(
            MeasureKind::RiiLog,
            level,
            "not computable: the log-link model needs estimates of at least 0 and did not converge otherwise".into(),
        ),
    };
    vec![sii, r, log]
}

/// With standardisation: the concentration indices of the standardised design, and the PAR and
/// PAF from the standardised overall estimate and the least deprived group's (their covariance
/// from the standardisation), normal intervals, as the unstandardised ones.
pub fn standardised_concentration_and_par(s: &Standardised, ge: &GroupEstimates, bounds: Option<Bounds>, level: f64) -> Vec<Measure> {
    let mut out = standardised_concentration(s, bounds, level);
    let present = ge.present();
    let Some(&r) = present.last() else {
        return out;
    };
    if ge.suppressed[r] {
        let why = format!("withheld: the reference group {} is suppressed by disclosure control", ge.levels[r]);
        out.push(Measure::withheld(MeasureKind::Par, level, why.clone()));
        out.push(Measure::withheld(MeasureKind::Paf, level, why));
        return out;
    }
    let o = s.groups.len();
    let (mu, mr) = (s.overall.estimate, s.groups[r].estimate);
    let (voo, vrr, vor) = (s.cov.get(o, o), s.cov.get(r, r), s.cov.get(o, r));
    let z = qnorm(1.0 - (1.0 - level) / 2.0);
    let par = mu - mr;
    let se_par = (voo + vrr - 2.0 * vor).max(0.0).sqrt();
    let paf = par / mu;
    let (ga, gb) = (mr / (mu * mu), -1.0 / mu);
    let se_paf = (ga * ga * voo + gb * gb * vrr + 2.0 * ga * gb * vor).max(0.0).sqrt();
    let reference = format!(
        "reference: the least deprived group ({}); age-standardised overall and group estimates",
        ge.levels[r]
    );
    let mut m_par = Measure::new(MeasureKind::Par, par, se_par, (par - z * se_par, par + z * se_par), level, None);
    let mut m_paf = Measure::new(MeasureKind::Paf, paf, se_paf, (paf - z * se_paf, paf + z * se_paf), level, None);
    m_par.notes.push(reference.clone());
    m_paf.notes.push(reference);
    out.push(m_par);
    out.push(m_paf);
    out
}

/// The concentration index (and, with bounds, the Erreygers and Wagstaff indices) on the
/// standardised design: the formulas of [`super::concentration`] on its means, by the delta
/// method from their covariance (R's `svycontrast` of `svymean(~y + I(y*R) + R)` on the
/// standardised design).
fn standardised_concentration(s: &Standardised, bounds: Option<Bounds>, level: f64) -> Vec<Measure> {
    let Some(p) = s.concentration_parts() else {
        return vec![Measure::withheld(
            MeasureKind::ConcentrationIndex,
            level,
            "not computable: fewer than two groups have rows".into(),
        )];
    };
    let (m0, m1, mr) = (p.m0, p.m1, p.mr);
    let z = qnorm(1.0 - (1.0 - level) / 2.0);
    let note = "on the age-standardised group estimates";
    let measure = |kind: MeasureKind, est: f64, g: [f64; 2]| {
        let v = g[0] * g[0] * p.cov[0] + 2.0 * g[0] * g[1] * p.cov[1] + g[1] * g[1] * p.cov[3];
        let se = v.max(0.0).sqrt();
        let mut m = Measure::new(kind, est, se, (est - z * se, est + z * se), level, None);
        m.notes.push(note.into());
        m
    };
    let cov = m1 - m0 * mr;
    let mut out = vec![measure(MeasureKind::ConcentrationIndex, 2.0 * cov / m0, [-2.0 * m1 / (m0 * m0), 2.0 / m0])];
    match bounds {
        Some(Bounds { min: a, max: b }) if b > a => {
            let r = b - a;
            out.push(measure(MeasureKind::Erreygers, 8.0 * cov / r, [-8.0 * mr / r, 8.0 / r]));
            let (f, g) = (2.0 * r * cov, (b - m0) * (m0 - a));
            let dg = b + a - 2.0 * m0;
            out.push(if g > 0.0 {
                measure(MeasureKind::Wagstaff, f / g, [(-2.0 * r * mr * g - f * dg) / (g * g), 2.0 * r / g])
            } else {
                Measure::withheld(MeasureKind::Wagstaff, level, "not computable: the mean is at a bound".into())
            });
        }
        _ => {
            let why = "not given: the outcome's bounds are not known (a yes/no outcome, or min and max in the definition)";
            out.push(Measure::withheld(MeasureKind::Erreygers, level, why.into()));
            out.push(Measure::withheld(MeasureKind::Wagstaff, level, why.into()));
        }
    }
    out
}

/// The measures of an unordered grouping; with standardisation, only the highest/lowest ratio
/// (from the standardised estimates) is kept, the others being of the microdata.
pub fn unordered_on(st: Option<&Standardised>, measures: Vec<Measure>, level: f64) -> Vec<Measure> {
    if st.is_none() {
        return measures;
    }
    measures
        .into_iter()
        .map(|m| {
            if m.measure == MeasureKind::HighestLowestRatio {
                m
            } else {
                Measure::withheld(
                    m.measure,
                    level,
                    "not given with standardisation: it is computed from the unstandardised microdata".into(),
                )
            }
        })
        .collect()
}

/// The suppressed groups with rows, as text, or None.
fn suppressed_groups(ge: &GroupEstimates) -> Option<String> {
    let s: Vec<String> = ge
        .present()
        .into_iter()
        .filter(|&g| ge.suppressed[g])
        .map(|g| ge.levels[g].to_string())
        .collect();
    (!s.is_empty()).then(|| s.join(", "))
}

/// The SII and RII by PHEindicatormethods' `phe_sii` on the group estimates (populations: the
/// groups' weighted counts; means as `value_type` 0 with their standard errors, proportions as
/// 2 with the standard error on the logit scale), limits simulated with a fixed seed.
pub fn phe_measures(ge: &GroupEstimates, level: f64) -> Vec<Measure> {
    let kinds = [MeasureKind::Sii, MeasureKind::RiiLinear];
    let withheld = |why: String| kinds.iter().map(|&k| Measure::withheld(k, level, why.clone())).collect::<Vec<_>>();
    if let Some(which) = suppressed_groups(ge) {
        return withheld(format!("withheld: the PHE method needs every group, and some are suppressed ({which})"));
    }
    let prop = ge.statistic == "proportion";
    let groups: Vec<PheGroup> = ge
        .present()
        .into_iter()
        .map(|g| {
            let e = &ge.estimates[g];
            let se = if prop { e.se / (e.estimate * (1.0 - e.estimate)) } else { e.se };
            PheGroup {
                population: e.weighted_n,
                value: e.estimate,
                se: Some(se),
                ci: None,
            }
        })
        .collect();
    let opts = PheOptions {
        value_type: if prop { ValueType::Proportion } else { ValueType::Normal },
        multiplier: 1.0,
        repetitions: PHE_REPETITIONS,
        confidence: level,
        seed: PHE_SEED,
    };
    match phe_sii(&groups, &opts) {
        Ok(r) => {
            let note = format!(
                "PHEindicatormethods phe_sii (Fingertips aggregate method) on the group estimates; limits from {PHE_REPETITIONS} simulated draws (seed {PHE_SEED}), reproducible but not R's draws"
            );
            let mut sii = Measure::new(MeasureKind::Sii, r.sii, f64::NAN, r.sii_ci, level, None);
            sii.notes.push(note.clone());
            let mut rii = Measure::new(MeasureKind::RiiLinear, r.rii, f64::NAN, r.rii_ci, level, None);
            rii.notes.push(note);
            vec![sii, rii]
        }
        Err(e) => withheld(format!("not computable by the PHE method: {e}")),
    }
}

/// One row of a change between waves.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRow {
    /// The group (empty: overall or the SII).
    pub by: BTreeMap<String, Level>,
    /// `sii` for the SII's change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measure: Option<&'static str>,
    /// The estimate in each wave.
    pub estimates: [Option<f64>; 2],
    /// Its standard error in each wave.
    pub ses: [Option<f64>; 2],
    /// Second wave minus first.
    pub change: Option<f64>,
    /// Standard error over the combined design.
    pub se: Option<f64>,
    /// Standard error were the waves independent samples.
    pub se_independent: Option<f64>,
    /// Interval from `se`.
    pub ci_low: Option<f64>,
    /// Interval from `se`.
    pub ci_high: Option<f64>,
    /// t df of the interval (`None`: normal).
    pub df: Option<f64>,
    /// Rows used in each wave.
    pub n: [usize; 2],
    /// Whether the numbers are suppressed (a wave's base below the minimum).
    pub suppressed: bool,
}

/// The change between two waves of one outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeOutput {
    /// The two waves, earlier first.
    pub waves: [i64; 2],
    /// One row per group with rows, in order.
    pub groups: Vec<ChangeRow>,
    /// All groups together.
    pub overall: ChangeRow,
    /// The SII's change (ordered groupings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sii: Option<ChangeRow>,
    /// How it was computed.
    pub notes: Vec<String>,
}

/// The change between the two waves of the request, when it names exactly two.
pub fn change_between_waves(
    p: &Prepared,
    og: &OrderedGrouping,
    req: &InequalityRequest,
    ge: &GroupEstimates,
    combined: Option<&CombinedDesign>,
) -> Result<Option<ChangeOutput>, AnalysisError> {
    let Some(cd) = combined else {
        return Ok(None);
    };
    let asked = cd.waves;
    let missing: Vec<i64> = asked.iter().copied().filter(|w| !p.waves.contains(w)).collect();
    if !missing.is_empty() {
        return Err(InequalityError::WaveWithoutRows { waves: asked, missing }.into());
    }
    let make = || -> Result<(Vec<u32>, Vec<u32>, WaveGroupings), AnalysisError> {
        let wave: Vec<u32> = p.ordered.rows(p.row_waves.clone()).iter().map(|w| if *w == asked[0] { 0 } else { 1 }).collect();
        let groupings = WaveGroupings::new(&wave, &og.grouping)?;
        Ok((wave, og.grouping.codes().to_vec(), groupings))
    };
    let fresh;
    let (wave, _, groupings) = match cd.groupings.get() {
        Some(kept) if kept.1 == og.grouping.codes() => kept,
        Some(_) => {
            fresh = make()?;
            &fresh
        }
        None => {
            let made = make()?;
            cd.groupings.get_or_init(|| made)
        }
    };
    let input = ChangeInput {
        y: &ge.y,
        wave,
        groups: &og.grouping,
    };
    let c = wave_change_with(&cd.design, &p.ordered.design, input, groupings, req.level)?;
    let min_base = p.def.disclosure.min_base as usize;
    let row = |ch: &Change, by: BTreeMap<String, Level>, measure: Option<&'static str>, hide: bool| {
        let suppressed = hide || ch.n.iter().any(|&k| k < min_base);
        let f = |x: f64| (!suppressed && x.is_finite()).then_some(x);
        ChangeRow {
            by,
            measure,
            estimates: ch.estimates.map(f),
            ses: ch.ses.map(f),
            change: f(ch.change),
            se: f(ch.se),
            se_independent: f(ch.se_independent),
            ci_low: f(ch.ci.0),
            ci_high: f(ch.ci.1),
            df: ch.df.is_finite().then_some(ch.df),
            n: ch.n,
            suppressed,
        }
    };
    let groups = (0..og.len())
        .filter(|&g| c.groups[g].n.iter().any(|&k| k > 0))
        .map(|g| {
            row(
                &c.groups[g],
                [(og.variable.clone(), og.levels[g].clone())].into_iter().collect(),
                None,
                ge.suppressed[g],
            )
        })
        .collect();
    let any_suppressed = suppressed_groups(ge).is_some();
    let mut notes = vec![format!(
        "standard errors over the combined design (strata and PSUs shared between waves {} and {}), the independent-samples one beside it",
        asked[0], asked[1]
    )];
    match cd.linking {
        Linking::Clusters => {}
        Linking::Persons => notes.push("the design names no clusters: each person is one, so a person's rows in the two waves are linked".into()),
        Linking::None => notes.push("the design names no clusters and the records have no keys to link: each row is its own unit".into()),
    }
    if !req.standardise.is_empty() {
        notes.push("the change is of the unstandardised estimates".into());
    }
    if any_suppressed && og.ordered {
        notes.push("the SII change is withheld: some groups are suppressed".into());
    }
    Ok(Some(ChangeOutput {
        waves: [asked[0], asked[1]],
        groups,
        overall: row(&c.overall, BTreeMap::new(), None, false),
        sii: og.ordered.then(|| row(&c.sii, BTreeMap::new(), Some("sii"), any_suppressed)),
        notes,
    }))
}

/// The t test of the difference between the two extreme groups.
#[derive(Debug, Clone, Serialize)]
pub struct DifferenceTest {
    /// The groups compared: least deprived minus most deprived.
    pub groups: [Level; 2],
    /// The difference.
    pub difference: f64,
    /// Its standard error.
    pub se: f64,
    /// t statistic.
    pub statistic: f64,
    /// Its df.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Interval of the difference.
    pub ci_low: f64,
    /// Interval of the difference.
    pub ci_high: f64,
}

/// The Rao-Scott test of association between a yes/no outcome and the grouping.
#[derive(Debug, Clone, Serialize)]
pub struct AssociationTest {
    /// Pearson's X^2 of the weighted table.
    pub pearson: f64,
    /// Rao-Scott second-order F (`svychisq(statistic = "F")`).
    pub f: f64,
    /// Its numerator df.
    pub ndf: f64,
    /// Its denominator df.
    pub ddf: f64,
    /// Its p-value.
    pub p_value: f64,
    /// First-order p-value (`statistic = "Chisq"`).
    pub chisq_p_value: f64,
    /// Its df.
    pub chisq_df: f64,
}

/// Tests between groups of one outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Tests {
    /// Most vs least deprived group.
    pub difference: Option<DifferenceTest>,
    /// Association of a yes/no outcome with the grouping.
    pub association: Option<AssociationTest>,
    /// Why a test is not given, how it was computed.
    pub notes: Vec<String>,
}

/// The tests between groups, on the standardised estimates when there are.
pub fn group_tests(p: &Prepared, og: &OrderedGrouping, ge: &GroupEstimates, st: Option<&Standardised>, level: f64) -> Result<Tests, AnalysisError> {
    let mut notes = Vec::new();
    let present = ge.present();
    if !og.ordered {
        notes.push(format!(
            "the difference test compares the last and first groups of '{}' as listed (the grouping has no order)",
            og.variable
        ));
    }
    let difference = match (present.first(), present.last()) {
        (Some(&a), Some(&b)) if a != b && (ge.suppressed[a] || ge.suppressed[b]) => {
            notes.push("the difference test is withheld: an extreme group is suppressed".into());
            None
        }
        (Some(&a), Some(&b)) if a != b => {
            let t = match st {
                Some(s) => {
                    let v = s.cov.get(a, a) + s.cov.get(b, b) - 2.0 * s.cov.get(a, b);
                    notes.push("the difference test is of the age-standardised estimates".into());
                    t_test(s.groups[b].estimate - s.groups[a].estimate, v.sqrt(), s.cov.df[s.groups.len()] - 1.0, level)
                }
                None => two_group_t_test(&p.ordered.design, &ge.y, &og.grouping, a, b, level)?,
            };
            Some(DifferenceTest {
                groups: [og.levels[b].clone(), og.levels[a].clone()],
                difference: t.difference,
                se: t.se,
                statistic: t.statistic,
                df: t.df,
                p_value: t.p_value,
                ci_low: t.ci.0,
                ci_high: t.ci.1,
            })
        }
        _ => {
            notes.push("the difference test needs two groups with rows".into());
            None
        }
    };
    let association = if ge.statistic != "proportion" {
        notes.push("the Rao-Scott test is for a yes/no outcome".into());
        None
    } else if let Some(which) = suppressed_groups(ge) {
        notes.push(format!("the Rao-Scott test is withheld: some groups are suppressed ({which})"));
        None
    } else {
        let codes: Vec<u32> = ge.y.iter().map(|v| if v.is_nan() { Grouping::NONE } else { u32::from(*v == 1.0) }).collect();
        match rao_scott(&p.ordered.design, &Grouping::new(codes, 2)?, &og.grouping) {
            Ok(r) => Some(AssociationTest {
                pearson: r.pearson,
                f: r.f,
                ndf: r.ndf,
                ddf: r.ddf,
                p_value: r.p_value,
                chisq_p_value: r.chisq_p_value,
                chisq_df: r.chisq_df,
            }),
            Err(e) => {
                notes.push(format!("the Rao-Scott test is not computable: {e}"));
                None
            }
        }
    };
    if st.is_some() && association.is_some() {
        notes.push("the Rao-Scott test is of the unstandardised table".into());
    }
    Ok(Tests {
        difference,
        association,
        notes,
    })
}
