//! The combined design of a change between two waves: both waves' rows in one design, strata
//! and PSUs shared (not the (wave, value) pairs of separate samples), so that a PSU present in
//! both waves, and the people in it, contribute to both. Without clusters in the definition,
//! each person (the keys of the row's unit and its parents, as captured) is the cluster, so a
//! person's rows in the two waves are linked all the same.
//!
//! Owns choosing the linking, asking the frame for the key columns it needs, and building the
//! design once for every outcome. Must not estimate or format.

use polars::prelude::{Column, IdxCa, IdxSize};

use super::change::WaveGroupings;
use super::InequalityRequest;
use crate::analysis::engine::Design;
use crate::analysis::factor::{cross, factorize_up_to, Factor};
use crate::analysis::{build_design, AnalysisError, Prepared, Request};
use crate::schema::{Definition, DesignSpec, LonelyPsu};

/// The column of person codes added to the frame when persons are the clusters.
const PERSON: &str = "__person";

/// How the rows of the two waves are linked in the combined design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// By the design's PSUs, shared between the waves.
    Clusters,
    /// By person (the definition names no clusters).
    Persons,
    /// Not linked: no clusters and no keys to find a person by.
    None,
}

/// The combined design with how it links the waves.
pub struct CombinedDesign {
    /// The two waves, earlier first.
    pub waves: [i64; 2],
    /// Over the prepared rows, in the design's row order.
    pub design: Design,
    /// How the waves' rows are linked.
    pub linking: Linking,
    /// The waves of the prepared rows (0 the first, 1 the second) and their groupings over
    /// the grouping the change is over (its codes kept to tell): made for the first outcome,
    /// the same for the others.
    pub(crate) groupings: std::sync::OnceLock<(Vec<u32>, Vec<u32>, WaveGroupings)>,
}

/// The two distinct waves a request names, earlier first, if it names exactly two.
pub fn two_waves(req: &InequalityRequest) -> Option<[i64; 2]> {
    let mut w = req.waves.clone();
    w.sort_unstable();
    w.dedup();
    (w.len() == 2).then(|| [w[0], w[1]])
}

/// The key questions identifying a row across waves (its unit's key and its parents'), when
/// the definition names no clusters and every key is a question.
fn person_keys(def: &Definition) -> Option<Vec<String>> {
    if def.design.as_ref().is_some_and(|d| !d.psu.is_empty()) {
        return None;
    }
    let lineage = def.lineage(&def.leaf_unit().id);
    let keys: Vec<String> = lineage.iter().filter(|u| def.find_question(&u.key).is_some()).map(|u| u.key.clone()).collect();
    (!keys.is_empty() && keys.len() == lineage.len()).then_some(keys)
}

/// Asks the frame for the person keys when a change is asked for and persons are the clusters.
pub fn add_person_keys(def: &Definition, req: &InequalityRequest, areq: &mut Request) {
    if two_waves(req).is_none() {
        return;
    }
    for k in person_keys(def).unwrap_or_default() {
        if !areq.outcomes.contains(&k) {
            areq.outcomes.push(k);
        }
    }
}

/// Builds the combined design when the request names two waves (None otherwise).
pub fn combined_design(p: &Prepared, req: &InequalityRequest) -> Result<Option<CombinedDesign>, AnalysisError> {
    let Some(waves) = two_waves(req) else {
        return Ok(None);
    };
    let n = p.df.height();
    let order: Vec<u32> = p.ordered.rows((0..n as u32).collect());
    let idx = IdxCa::from_vec("".into(), order.iter().map(|&i| i as IdxSize).collect());
    let mut df = p.df.take(&idx).map_err(AnalysisError::polars)?;
    let one_wave = vec![waves[0]; n];
    let keys = person_keys(&p.def).filter(|k| k.iter().all(|c| df.column(c).is_ok()));
    let (def, linking) = match keys {
        Some(keys) => {
            let factors: Vec<Factor> = keys.iter().map(|k| factorize_up_to(&df, k, &p.def, usize::MAX)).collect::<Result<_, _>>()?;
            let (codes, _) = cross(&factors, n);
            let person: Vec<Option<i64>> = codes.iter().map(|c| c.map(i64::from)).collect();
            df.with_column(Column::new(PERSON.into(), person)).map_err(AnalysisError::polars)?;
            let mut def = p.def.clone();
            let mut d = def.design.clone().unwrap_or(DesignSpec {
                weight: None,
                strata: None,
                psu: Vec::new(),
                fpc: Vec::new(),
                lonely_psu: LonelyPsu::Fail,
            });
            d.psu = vec![PERSON.to_string()];
            def.design = Some(d);
            (def, Linking::Persons)
        }
        None if p.def.design.as_ref().is_some_and(|d| !d.psu.is_empty()) => (p.def.clone(), Linking::Clusters),
        None => (p.def.clone(), Linking::None),
    };
    let design = build_design(&def, &df, &one_wave, req.ultimate_cluster)?;
    Ok(Some(CombinedDesign {
        waves,
        design,
        linking,
        groupings: std::sync::OnceLock::new(),
    }))
}
