//! A stored weight set on its way into an analysis: loaded by name, its records matched to the
//! frame's, checked to still fit them (same records, same start weights and categories as when
//! it was made), and put on the design with the calibration model its variances need.
//!
//! Owns only that matching and checking. Must not fit weights or estimate.

use polars::prelude::DataFrame;

use super::margins::sample_margin;
use super::{inputs_check, Population, PopulationRow, WeightError};
use crate::analysis::design::Ordered;
use crate::analysis::engine::{CalibrationKind, CalibrationSpec};
use crate::analysis::AnalysisError;
use crate::schema::Definition;
use crate::store::{record_uuid, Store, WeightValues};

/// A stored weight set, ready to put on an analysis' design.
#[derive(Debug, Clone)]
pub struct WeightSet {
    /// Its name.
    pub name: String,
    /// The waves it weights.
    pub waves: Vec<i64>,
    /// The margin variables (the frame must have them).
    pub variables: Vec<String>,
    kind: Option<CalibrationKind>,
    margins: Vec<Population>,
    check: String,
    records: i64,
    values: WeightValues,
}

fn stale(name: &str, problem: String) -> WeightError {
    WeightError::StaleWeightSet {
        name: name.to_string(),
        problem,
    }
}

impl WeightSet {
    /// Loads the set `name` from the store.
    pub fn load(store: &Store, name: &str) -> Result<WeightSet, WeightError> {
        let Some((info, values)) = store.weight_set(name)? else {
            return Err(WeightError::NoWeightSet {
                name: name.to_string(),
                available: store.weight_sets()?.into_iter().map(|s| s.name).collect(),
            });
        };
        let bad = |what: &str| stale(name, format!("has unreadable inputs ({what})"));
        let inputs: serde_json::Value = serde_json::from_str(&info.inputs).map_err(|_| bad("not JSON"))?;
        let waves = inputs["waves"]
            .as_array()
            .ok_or_else(|| bad("waves"))?
            .iter()
            .filter_map(|w| w.as_i64())
            .collect();
        let kind = match inputs["variance"].as_str() {
            Some("projection") => Some(CalibrationKind::Projection),
            Some("backfit") => Some(CalibrationKind::Backfit),
            Some("none") => None,
            _ => return Err(bad("variance")),
        };
        let mut margins = Vec::new();
        for m in inputs["margins"].as_array().ok_or_else(|| bad("margins"))? {
            let strings = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                    .unwrap_or_default()
            };
            let rows = m["lines"]
                .as_array()
                .ok_or_else(|| bad("margin lines"))?
                .iter()
                .map(|r| PopulationRow {
                    values: strings(&r["values"]),
                    count: r["count"].as_f64().unwrap_or(f64::NAN),
                    line: r["line"].as_u64().unwrap_or(0),
                })
                .collect();
            margins.push(Population {
                file: m["file"].as_str().unwrap_or("").to_string(),
                sha256: m["sha256"].as_str().unwrap_or("").to_string(),
                variables: strings(&m["variables"]),
                rows,
            });
        }
        Ok(WeightSet {
            name: info.name,
            waves,
            variables: super::margin_variables(&margins),
            kind,
            margins,
            check: inputs["check"].as_str().unwrap_or("").to_string(),
            records: info.records,
            values,
        })
    }

    /// The waves to analyse with this set: its own; waves asked for must be the same.
    pub fn waves_for(&self, asked: &[i64]) -> Result<Vec<i64>, WeightError> {
        let mut a = asked.to_vec();
        a.sort_unstable();
        a.dedup();
        if a.is_empty() || a == self.waves {
            return Ok(self.waves.clone());
        }
        let list = |w: &[i64]| w.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
        Err(stale(
            &self.name,
            format!(
                "weights wave(s) {} but wave(s) {} were asked for: analyse the waves it weights (a subpopulation of them with a condition on wave)",
                list(&self.waves),
                list(&a)
            ),
        ))
    }

    /// Puts the set's weights on `ordered`'s design: `df` and `ids` are the frame (its rows
    /// in frame order), which must hold exactly the set's records with the categories and start
    /// weights they had when it was made.
    pub fn apply(&self, def: &Definition, df: &DataFrame, ids: &[u128], ordered: Ordered) -> Result<Ordered, WeightError> {
        let n = ids.len();
        let mut weight = Vec::with_capacity(n);
        let mut calibrated = Vec::with_capacity(n);
        let mut missing: Vec<u128> = Vec::new();
        for &id in ids {
            match self.values.ids.binary_search(&id) {
                Ok(k) => {
                    weight.push(self.values.weights[k]);
                    calibrated.push(self.values.calibrated[k]);
                }
                Err(_) => {
                    missing.push(id);
                    weight.push(f64::NAN);
                    calibrated.push(f64::NAN);
                }
            }
        }
        if let Some(first) = missing.first() {
            return Err(stale(
                &self.name,
                format!(
                    "has no weight for {} record(s) of its waves (first: record {}), imported since it was made",
                    missing.len(),
                    record_uuid(*first)
                ),
            ));
        }
        if n as i64 != self.records {
            return Err(stale(&self.name, format!("weights {} records but its waves now hold {n}", self.records)));
        }
        let weight = ordered.rows(weight);
        let calibrated = ordered.rows(calibrated);
        let ids_d = ordered.rows(ids.to_vec());
        let start = ordered.design.weights().to_vec();
        let codes: Vec<Vec<u32>> = self
            .margins
            .iter()
            .map(|p| {
                // the margins are matched in frame order; their start weights only name counts
                // in messages, so the design's order serves
                sample_margin(df, def, p, ids, &vec![0.0; n]).map(|m| ordered.rows(m.codes))
            })
            .collect::<Result<_, _>>()?;
        if inputs_check(&ids_d, &start, &codes) != self.check {
            return Err(stale(
                &self.name,
                "no longer fits its records: their design weights or their answers to its margin variables changed since it was made".into(),
            ));
        }
        let levels = self
            .margins
            .iter()
            .zip(&codes)
            .map(|(_, c)| c.iter().map(|&x| x as usize + 1).max().unwrap_or(0))
            .collect();
        ordered
            .try_map(|design| match self.kind {
                None => design.reweighted(weight),
                Some(kind) => design.calibrated(
                    weight,
                    CalibrationSpec {
                        kind,
                        margins: codes,
                        levels,
                        start,
                        calibrated,
                    },
                ),
            })
            .map_err(|e| WeightError::from(AnalysisError::from(e)))
    }
}
