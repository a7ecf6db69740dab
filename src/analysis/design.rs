//! The design of an analysis, built from the frame once and put in its row order.
//!
//! Owns turning the definition's `design:` section and a loaded frame into an engine
//! [`Design`]: weights, strata and PSUs (factorised to dense codes; waves are separate samples,
//! so a stratum or PSU is a (wave, value) pair), FPCs and the lonely-PSU rule, then the
//! frame's rows put in the design's order ([`Ordered`]) so that every variance pass reads its
//! vectors sequentially. Must not read the store, group rows for breakdowns or estimate.

use polars::prelude::{DataFrame, IdxCa, IdxSize};

use super::engine::{self, Design, DesignSpec, Stage};
use super::factor::{column_f64, factorize_up_to};
use super::AnalysisError;
use crate::schema::{Definition, Fpc};

/// The frame variables the definition's design names: weight, strata, PSUs and FPC columns
/// (possibly repeated; none without a design).
pub fn design_variables(def: &Definition) -> Vec<String> {
    let mut vars = Vec::new();
    if let Some(d) = &def.design {
        vars.extend(d.weight.clone());
        vars.extend(d.strata.clone());
        vars.extend(d.psu.iter().cloned());
        vars.extend(d.fpc.iter().filter_map(|f| if let Fpc::Column(c) = f { Some(c.clone()) } else { None }));
    }
    vars
}

fn dense_codes(df: &DataFrame, name: &str, waves: &[i64], def: &Definition) -> Result<(Vec<u32>, Vec<String>), AnalysisError> {
    // a PSU or stratum may have any number of values (the limit is for breakdowns)
    let f = factorize_up_to(df, name, def, usize::MAX)?;
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
pub fn build_design(def: &Definition, df: &DataFrame, waves: &[i64], ultimate_cluster: bool) -> Result<Design, AnalysisError> {
    let n = df.height();
    let d = def.design.clone();
    let mut spec = DesignSpec {
        n_rows: n,
        ..Default::default()
    };
    if let Some(d) = &d {
        if let Some(w) = &d.weight {
            let v = column_f64(df, w)?;
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
                Some(Fpc::Column(c)) => Some(column_f64(df, c)?),
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
                    Fpc::Column(c) => column_f64(df, c)?,
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
    /// The same rows with the design changed by `f` (another weighting of the same rows).
    pub fn try_map<E>(self, f: impl FnOnce(Design) -> Result<Design, E>) -> Result<Ordered, E> {
        Ok(Ordered {
            design: f(self.design)?,
            order: self.order,
        })
    }

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
    // with clusters named and one wave, every stratum and cluster code is numbered by sorted
    // value, so the design of the reordered rows is this one reordered; otherwise (a (wave,
    // value) pair numbered as first met, or each row its own cluster) it is built again
    let one_wave = waves.iter().all(|w| *w == waves[0]);
    let clusters_named = def.design.as_ref().is_some_and(|d| !d.psu.is_empty());
    if one_wave && clusters_named {
        if let Some(design) = design.in_unit_order() {
            return Ok(Ordered { design, order: Some(order) });
        }
    }
    let mut cols = design_variables(def);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::{EstimateOptions, Grouping};
    use polars::prelude::Column;

    fn def() -> Definition {
        crate::schema::load_str(
            r#"
survey: t
title: T
version: 1
design: {weight: wt, strata: area, psu: cluster}
units:
  - id: person
    key: id
    questions:
      - {id: id, type: integer, label: Id}
      - {id: area, type: select_one, label: Area, choices: [{value: 1, label: North}, {value: 2, label: South}]}
      - {id: cluster, type: integer, label: Cluster}
      - {id: wt, type: decimal, label: Weight}
      - {id: score, type: integer, label: Score}
"#,
            "t.yaml",
        )
        .unwrap()
    }

    /// Eight persons in two areas of two clusters each, the clusters' rows interleaved.
    fn frame() -> DataFrame {
        let columns = vec![
            Column::new("area".into(), [1i64, 2, 1, 2, 1, 2, 1, 2]),
            Column::new("cluster".into(), [1i64, 3, 2, 4, 1, 3, 2, 4]),
            Column::new("wt".into(), [10.0, 15.0, 20.0, 5.0, 10.0, 15.0, 20.0, 5.0]),
            Column::new("score".into(), [7.0, 3.0, 8.0, 4.0, 5.0, 9.0, 6.0, 2.0]),
        ];
        DataFrame::new(8, columns).unwrap()
    }

    #[test]
    fn the_design_names_its_variables() {
        assert_eq!(design_variables(&def()), ["wt", "area", "cluster"]);
    }

    #[test]
    fn a_design_variable_missing_names_the_first_row() {
        let mut df = frame();
        df.replace(
            "cluster",
            Column::new("cluster".into(), [Some(1i64), Some(3), None, Some(4), Some(1), None, Some(2), Some(4)]),
        )
        .unwrap();
        match build_design(&def(), &df, &[1; 8], false) {
            Err(AnalysisError::MissingDesignValue { variable, count, row }) => assert_eq!((variable.as_str(), count, row), ("cluster", 2, 3)),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn waves_are_separate_samples() {
        let one = build_design(&def(), &frame(), &[1; 8], false).unwrap();
        assert_eq!((one.n_psus(), one.degf()), (4, 2.0));
        // the same clusters in two waves are different PSUs of different strata
        let two = build_design(&def(), &frame(), &[1, 1, 1, 1, 2, 2, 2, 2], false).unwrap();
        assert_eq!((two.n_psus(), two.degf()), (8, 4.0));
    }

    #[test]
    fn the_ordered_design_estimates_as_the_frame_order() {
        let df = frame();
        let plain = build_design(&def(), &df, &[1; 8], false).unwrap();
        let ordered = ordered_design(&def(), &df, &[1; 8], false).unwrap();
        assert!(ordered.order.is_some(), "interleaved clusters are put in order");
        let y = column_f64(&df, "score").unwrap();
        let o = EstimateOptions::default();
        let a = plain.mean(&y, &Grouping::overall(8), &o).unwrap();
        let b = ordered.design.mean(&ordered.rows(y), &Grouping::overall(8), &o).unwrap();
        assert!((a[0].estimate - 6.1).abs() < 1e-12, "{}", a[0].estimate);
        assert!((a[0].estimate - b[0].estimate).abs() < 1e-12 && (a[0].se - b[0].se).abs() < 1e-12);
        let (df2, waves2, design2) = design_in_order(&def(), df, vec![1; 8], false).unwrap();
        assert_eq!(column_f64(&df2, "cluster").unwrap(), [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
        assert_eq!((waves2.len(), design2.n_psus()), (8, 4));
    }

    /// The design reordered is the design of the reordered rows: the same estimates to the
    /// last bit, over rows in their own order.
    #[test]
    fn the_reordered_design_is_that_of_the_reordered_rows() {
        let df = frame();
        let plain = build_design(&def(), &df, &[1; 8], false).unwrap();
        let order: Vec<u32> = plain.row_order().expect("interleaved clusters").to_vec();
        let reordered = plain.in_unit_order().unwrap();
        assert!(reordered.row_order().is_none());
        let idx = IdxCa::from_vec("".into(), order.iter().map(|&i| i as IdxSize).collect());
        let part = df.take(&idx).unwrap();
        let rebuilt = build_design(&def(), &part, &[1; 8], false).unwrap();
        let y = column_f64(&part, "score").unwrap();
        let g = Grouping::new(column_f64(&part, "area").unwrap().iter().map(|a| *a as u32 - 1).collect(), 2).unwrap();
        let o = EstimateOptions::default();
        for grouping in [Grouping::overall(8), g] {
            let a = reordered.mean(&y, &grouping, &o).unwrap();
            let b = rebuilt.mean(&y, &grouping, &o).unwrap();
            for (a, b) in a.iter().zip(&b) {
                assert_eq!((a.estimate, a.se, a.df, a.design_df), (b.estimate, b.se, b.df, b.design_df));
            }
        }
        assert_eq!((reordered.n_psus(), reordered.degf()), (rebuilt.n_psus(), rebuilt.degf()));
    }

    /// A numeric PSU (a household number, say) may have any number of values: the limit on
    /// distinct values is for breakdowns only.
    #[test]
    fn r16_numeric_psus_beyond_the_breakdown_limit() {
        let n = crate::analysis::factor::MAX_LEVELS + 2;
        let columns = vec![
            Column::new("area".into(), (0..n as i64).map(|i| 1 + i % 2).collect::<Vec<_>>()),
            Column::new("cluster".into(), (0..n as i64).collect::<Vec<_>>()),
            Column::new("wt".into(), vec![1.0; n]),
        ];
        let df = DataFrame::new(n, columns).unwrap();
        let design = build_design(&def(), &df, &vec![1; n], false).unwrap();
        assert_eq!(design.n_psus(), n);
    }
}
