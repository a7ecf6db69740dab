//! One prepared analysis: what every analysis command builds once before it estimates.
//!
//! Owns the steps shared by estimates, inequality and weighting, in order: the request checked,
//! the subpopulation compiled, the frame loaded with only the variables the request, the design
//! and the subpopulation name, the design built in its row order, the subpopulation mask, and
//! the breakdowns (overall, then each `by`) as groupings masked to the subpopulation, in the
//! design's row order. Must not estimate, apply disclosure control or format: those run over a
//! [`Prepared`] (see `estimate` and `disclosure`).

use polars::prelude::DataFrame;

use super::design::{design_variables, ordered_design, Ordered};
use super::domain::Subpopulation;
use super::engine::Grouping;
use super::factor::{column_f64, cross, factorize, Factor};
use super::weighting::{WeightError, WeightSet};
use super::{frame, AnalysisError, Level, Request};
use crate::schema::Definition;
use crate::store::Store;

/// A breakdown of the prepared rows: its variables, their grouping (in the design's row
/// order, rows outside the subpopulation in no group) and the levels of each group.
pub struct Breakdown {
    /// The variables crossed (empty: overall).
    pub vars: Vec<String>,
    /// The group of each row, in the design's row order.
    pub grouping: Grouping,
    /// The levels of each group, one per variable.
    pub levels: Vec<Vec<Level>>,
}

/// A request prepared for estimation over one design.
pub struct Prepared {
    /// The store's current definition.
    pub def: Definition,
    /// One row per record of the analysis unit (store order), with only the columns needed.
    pub df: DataFrame,
    /// The wave of each frame row.
    pub row_waves: Vec<i64>,
    /// The waves present, sorted.
    pub waves: Vec<i64>,
    /// The design over the frame's rows, in its own row order.
    pub ordered: Ordered,
    /// Whether each frame row is in the subpopulation (`None`: no subpopulation asked for).
    pub mask: Option<Vec<bool>>,
    /// Overall (masked to the subpopulation), then one per `by` of the request, in its order.
    pub breakdowns: Vec<Breakdown>,
    /// The weight set on the design, when the request named one.
    pub weight_set: Option<String>,
}

impl Prepared {
    /// Checks the request and prepares it over the store's responses: frame, design,
    /// subpopulation and breakdowns.
    pub fn new(store: &Store, req: &Request) -> Result<Prepared, AnalysisError> {
        req.check()?;
        let def = store.definition(None)?;
        let subpopulation = req.where_.as_deref().map(|w| Subpopulation::compile(&def, w)).transpose()?;
        let mut vars = frame_variables(&def, req, subpopulation.as_ref());
        let in_set = |name: &str| {
            let name = name.to_string();
            move |e: WeightError| AnalysisError::WeightSet { name, source: Box::new(e) }
        };
        let set = match &req.weights {
            Some(name) => Some(WeightSet::load(store, name).map_err(in_set(name))?),
            None => None,
        };
        let waves = match &set {
            Some(s) => s.waves_for(&req.waves).map_err(in_set(&s.name))?,
            None => req.waves.clone(),
        };
        if let Some(s) = &set {
            vars.extend(s.variables.iter().cloned());
            vars.sort();
            vars.dedup();
        }
        let (df, row_waves, ids) = load_frame_with(store, &def, &vars, &waves, set.is_some())?;
        let t_design = crate::timing::phase("analysis: build the design");
        let mut ordered = ordered_design(&def, &df, &row_waves, req.ultimate_cluster)?;
        if let Some(s) = &set {
            ordered = s.apply(&def, &df, &ids, ordered).map_err(in_set(&s.name))?;
        }
        drop(t_design);
        let _t_groups = crate::timing::phase("analysis: groupings");
        let mut waves = row_waves.clone();
        waves.sort_unstable();
        waves.dedup();
        let mask = subpopulation.map(|s| s.mask(&df)).transpose()?;
        let breakdowns = breakdowns(&df, &def, &ordered, mask.as_deref(), &req.by)?;
        Ok(Prepared {
            def,
            df,
            row_waves,
            waves,
            ordered,
            mask,
            breakdowns,
            weight_set: set.map(|s| s.name),
        })
    }

    /// A column of the frame as numbers (NaN for missing), in the design's row order.
    pub fn values(&self, name: &str) -> Result<Vec<f64>, AnalysisError> {
        Ok(self.ordered.rows(column_f64(&self.df, name)?))
    }
}

/// Every variable the frame needs for `req`: outcomes, denominator, breakdowns, the design's
/// variables and those of the subpopulation; sorted, each once.
pub fn frame_variables(def: &Definition, req: &Request, subpopulation: Option<&Subpopulation>) -> Vec<String> {
    let mut vars: Vec<String> = req.outcomes.clone();
    vars.extend(req.denominator.clone());
    for b in &req.by {
        vars.extend(b.iter().cloned());
    }
    vars.extend(design_variables(def));
    if let Some(s) = subpopulation {
        vars.extend(s.variables());
    }
    vars.sort();
    vars.dedup();
    vars
}

/// Loads the frame of `vars` for the waves asked for (all when empty), keeping only the columns
/// `vars` name (and `wave`): the items behind recomputed scores are no longer needed. Returns
/// the frame and the wave of each row; no rows is an error.
pub fn load_frame(store: &Store, def: &Definition, vars: &[String], waves: &[i64]) -> Result<(DataFrame, Vec<i64>), AnalysisError> {
    load_frame_with(store, def, vars, waves, false).map(|(df, w, _)| (df, w))
}

/// As [`load_frame`], with the record id of every row when `keyed` (empty otherwise).
pub fn load_frame_with(
    store: &Store,
    def: &Definition,
    vars: &[String],
    waves: &[i64],
    keyed: bool,
) -> Result<(DataFrame, Vec<i64>, Vec<u128>), AnalysisError> {
    let t_load = crate::timing::phase("analysis: load the frame");
    let fr = if keyed {
        frame::load_keyed(store, def, vars, waves)?
    } else {
        frame::load(store, def, vars, waves)?
    };
    drop(t_load);
    let mut df = fr.df;
    if df.height() == 0 {
        return Err(AnalysisError::NoData { waves: waves.to_vec() });
    }
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
    Ok((df, fr.waves, fr.ids))
}

/// The breakdowns of a request over the frame: overall first, then each list of `by` variables
/// crossed; rows outside `mask` (frame order) are in no group. Groupings are in the design's
/// row order.
pub fn breakdowns(df: &DataFrame, def: &Definition, ordered: &Ordered, mask: Option<&[bool]>, by: &[Vec<String>]) -> Result<Vec<Breakdown>, AnalysisError> {
    let n = df.height();
    let in_mask = |i: usize| mask.is_none_or(|m| m[i]);
    let overall: Vec<Option<u32>> = (0..n).map(|i| in_mask(i).then_some(0)).collect();
    let mut out = vec![Breakdown {
        vars: Vec::new(),
        grouping: Grouping::from_options(&ordered.rows(overall), 1)?,
        levels: vec![Vec::new()],
    }];
    for vars in by {
        let factors: Vec<Factor> = vars.iter().map(|v| factorize(df, v, def)).collect::<Result<_, _>>()?;
        let (mut codes, levels) = cross(&factors, n);
        if let Some(m) = mask {
            for (c, keep) in codes.iter_mut().zip(m) {
                if !keep {
                    *c = None;
                }
            }
        }
        out.push(Breakdown {
            vars: vars.clone(),
            grouping: Grouping::from_options(&ordered.rows(codes), levels.len().max(1))?,
            levels,
        });
    }
    Ok(out)
}
