//! The survey design: built once from dense row-level codes (weights, strata,
//! cluster codes per stage, fpc per stage, lonely-PSU rule) and validated, with
//! the nesting of units resolved (a PSU is (stratum, code), an SSU is (PSU, code))
//! so that variance computations are plain passes over sorted rows.
//!
//! Rules follow `survey::svydesign` (R, multistage.R): clusters are nested in
//! strata and sub-clusters in clusters; the fpc is a population size when any
//! value exceeds 1, otherwise a sampling fraction (mixing is an error, as in
//! `as.fpc`); it must be constant within a stratum (stage 1) or within the
//! enclosing unit (later stages); without weights the weight is the product over
//! stages of N/n (`weights.survey_fpc`), or 1 without fpc.

use super::DesignError;

/// What to do with a stratum that has a single PSU (R's `options(survey.lonely.psu)`).
///
/// Lonely PSUs that arise only inside a domain (the stratum has several PSUs in the
/// full design) are never adjusted, as R's default `survey.adjust.domain.lonely =
/// FALSE`. A stratum whose single PSU is a certainty unit by its fpc (N = n) is
/// not lonely: it contributes no variance at that stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LonelyPsu {
    /// Error naming the stratum (R's default).
    #[default]
    Fail,
    /// The stratum contributes nothing at that stage.
    Remove,
    /// Centre the lonely PSU at the grand mean of PSU totals (survey >= 4.3 rule;
    /// 4.1 centred at zero, which differs for totals). At later stages the unit
    /// is its own grand mean, so it contributes nothing.
    Adjust,
    /// Replace the stratum's contribution by the average over the other strata,
    /// i.e. multiply the stage-1 sum by (#strata / #non-lonely strata), counting
    /// strata holding rows of the domain. As in R, a lonely unit at stage >= 2
    /// makes the variance NaN.
    Average,
    /// Treat the PSU as sampled with certainty: no stage-1 contribution. R's
    /// `svyrecvar` computes this exactly like `Remove`, at every stage (later-stage
    /// contributions of the PSU are kept in both), so the two give equal numbers.
    Certainty,
}

/// One sampling stage: a cluster code per row and an optional fpc per row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stage {
    /// Cluster code per row; codes may repeat across strata / parent units (the
    /// design nests them).
    pub clusters: Vec<u32>,
    /// Population size (> 1) or sampling fraction (<= 1) per row; constant within
    /// a stratum (stage 1) or within the enclosing unit (later stages).
    pub fpc: Option<Vec<f64>>,
}

/// Everything needed to build a [`Design`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesignSpec {
    /// Number of rows.
    pub n_rows: usize,
    /// Sampling weights (finite, > 0). `None`: implied by the fpcs, or 1.
    pub weights: Option<Vec<f64>>,
    /// Stratum code per row, dense `0..H`. `None`: a single stratum.
    pub strata: Option<Vec<u32>>,
    /// Sampling stages, first stage (PSUs) first. Empty: each row is its own PSU.
    pub stages: Vec<Stage>,
    /// Lonely-PSU rule.
    pub lonely_psu: LonelyPsu,
    /// Use only the first stage for variances (R's `survey.ultimate.cluster`).
    pub ultimate_cluster: bool,
    /// Original stratum labels, indexed by stratum code (for error messages).
    pub strata_labels: Option<Vec<String>>,
    /// Original PSU labels, indexed by first-stage cluster code (for messages).
    pub psu_labels: Option<Vec<String>>,
}

/// Per-stage unit structure. Units of a stage are numbered so that the units of
/// one parent (stratum at stage 1, unit of the previous stage later) are
/// contiguous and parents appear in increasing order.
#[derive(Debug, Clone)]
pub(super) struct StageUnits {
    /// Unit id per row.
    pub unit_of_row: Vec<u32>,
    /// Parent id per unit (stratum code at stage 1).
    pub parent_of_unit: Vec<u32>,
    /// Original cluster code per unit (for labels).
    pub code_of_unit: Vec<u32>,
    /// Units sampled per parent (indexed by parent id).
    pub n_sampled: Vec<u32>,
    /// Population size per parent (infinite without fpc).
    pub population: Vec<f64>,
    /// Factor applied to the next stage's variance for children of each unit:
    /// product over this and earlier stages of n/N (0 without fpc), as the
    /// recursion in `survey:::multistage` scales sub-stage variances.
    pub child_factor: Vec<f64>,
}

/// A validated survey design, reusable for any number of outcomes and groupings.
#[derive(Debug, Clone)]
pub struct Design {
    pub(super) n: usize,
    pub(super) weights: Vec<f64>,
    pub(super) strata: Vec<u32>,
    pub(super) n_strata: usize,
    pub(super) stages: Vec<StageUnits>,
    /// Rows sorted by the deepest stage's unit (hence by every stage's unit).
    pub(super) order: Vec<u32>,
    pub(super) lonely: LonelyPsu,
    pub(super) ultimate_cluster: bool,
    /// The calibration model of a calibrated design (see `calibration`).
    pub(super) calibration: Option<std::sync::Arc<super::calibration::Calibration>>,
    strata_labels: Option<Vec<String>>,
    psu_labels: Option<Vec<String>>,
    /// Distinct for every design built or reweighted in this process (a clone keeps it: same
    /// rows, weights and units), so that what depends only on the design and a grouping (the
    /// groups' domains) is computed once per grouping.
    pub(super) uid: u64,
}

/// A fresh [`Design::uid`].
pub(super) fn next_uid() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Checks a specification before anything is built: rows, lengths, weights, labels and FPCs.
/// Returns whether the FPCs are population sizes (any value above 1) rather than fractions.
fn check_spec(spec: &DesignSpec) -> Result<bool, DesignError> {
    let n = spec.n_rows;
    if n == 0 {
        return Err(DesignError::Empty);
    }
    if n >= u32::MAX as usize {
        return Err(DesignError::InvalidArgument(format!("{n} rows is too many")));
    }
    let check_len = |what: &'static str, got: usize| {
        if got != n {
            Err(DesignError::LengthMismatch { what, expected: n, got })
        } else {
            Ok(())
        }
    };
    if let Some(w) = &spec.weights {
        check_len("weights", w.len())?;
        if let Some((row, &value)) = w.iter().enumerate().find(|(_, &v)| !(v.is_finite() && v > 0.0)) {
            return Err(DesignError::InvalidWeight { row, value });
        }
    }
    if let Some(s) = &spec.strata {
        check_len("strata", s.len())?;
    }
    if let Some(labels) = &spec.strata_labels {
        // without strata, every row is in stratum 0
        let first_unlabelled = match &spec.strata {
            Some(strata) => strata
                .iter()
                .enumerate()
                .find(|(_, &c)| c as usize >= labels.len())
                .map(|(row, &code)| (row, code)),
            None => labels.is_empty().then_some((0, 0)),
        };
        if let Some((row, code)) = first_unlabelled {
            return Err(DesignError::MissingLabel {
                row,
                code,
                labels: labels.len(),
                what: "strata",
            });
        }
    }
    for (k, st) in spec.stages.iter().enumerate() {
        check_len(if k == 0 { "psu codes" } else { "cluster codes" }, st.clusters.len())?;
        if let Some(f) = &st.fpc {
            check_len("fpc", f.len())?;
        }
    }
    if let (Some(labels), Some(first)) = (&spec.psu_labels, spec.stages.first()) {
        if let Some((row, &code)) = first.clusters.iter().enumerate().find(|(_, &c)| c as usize >= labels.len()) {
            return Err(DesignError::MissingLabel {
                row,
                code,
                labels: labels.len(),
                what: "psu",
            });
        }
    }

    // fpc: finite, >= 0; population sizes when any value > 1 (as.fpc).
    let mut big: Option<(usize, f64)> = None;
    let mut small: Option<(usize, f64)> = None;
    for (k, st) in spec.stages.iter().enumerate() {
        if let Some(f) = &st.fpc {
            for (row, &v) in f.iter().enumerate() {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(DesignError::InvalidFpc { row, stage: k + 1, value: v });
                }
                if v > 1.0 && big.is_none() {
                    big = Some((row, v));
                }
                if v < 1.0 && small.is_none() {
                    small = Some((row, v));
                }
            }
        }
    }
    if let (Some((big_row, b)), Some((small_row, s))) = (big, small) {
        return Err(DesignError::MixedFpc {
            big_row,
            big: b,
            small_row,
            small: s,
        });
    }
    Ok(big.is_some())
}

impl Design {
    /// Validates the specification and builds the design.
    pub fn new(spec: DesignSpec) -> Result<Self, DesignError> {
        let fpc_is_popsize = check_spec(&spec)?;
        let n = spec.n_rows;
        let strata = spec.strata.unwrap_or_else(|| vec![0; n]);
        let n_strata = strata.iter().map(|&s| s as usize + 1).max().unwrap_or(1);
        let mut design = Design {
            n,
            weights: Vec::new(),
            strata,
            n_strata,
            stages: Vec::new(),
            order: Vec::new(),
            lonely: spec.lonely_psu,
            ultimate_cluster: spec.ultimate_cluster,
            calibration: None,
            strata_labels: spec.strata_labels,
            psu_labels: spec.psu_labels,
            uid: next_uid(),
        };

        // Build stage units. Without stages, each row is its own PSU (id = ~1).
        let row_codes: Vec<u32> = (0..n as u32).collect();
        let stage_inputs: Vec<(&[u32], Option<&[f64]>)> = if spec.stages.is_empty() {
            vec![(&row_codes[..], None)]
        } else {
            spec.stages.iter().map(|s| (&s.clusters[..], s.fpc.as_deref())).collect()
        };
        for (k, (codes, fpc)) in stage_inputs.iter().enumerate() {
            let parent_of_row: &[u32] = if k == 0 { &design.strata } else { &design.stages[k - 1].unit_of_row };
            let n_parents = if k == 0 { design.n_strata } else { design.stages[k - 1].parent_of_unit.len() };
            let stage = design.build_stage(k, parent_of_row, n_parents, codes, *fpc, fpc_is_popsize)?;
            design.stages.push(stage);
        }

        design.weights = design.weights_of(spec.weights, &spec.stages)?;
        design.order = design.rows_in_unit_order()?;
        Ok(design)
    }

    /// The weights: given (as R does, through 1/(1/w)), implied by the fpcs (the product of
    /// N/n over the stages), or 1; each finite and positive.
    fn weights_of(&self, given: Option<Vec<f64>>, stages: &[Stage]) -> Result<Vec<f64>, DesignError> {
        let n = self.n;
        let weights = match given {
            // R stores prob = 1/w and uses 1/prob.
            Some(w) => w.into_iter().map(|v| 1.0 / (1.0 / v)).collect(),
            None => {
                let with_fpc = self.stages.iter().map(|s| s.population.iter().all(|p| p.is_finite())).collect::<Vec<_>>();
                let any_fpc = stages.iter().any(|s| s.fpc.is_some());
                if !any_fpc {
                    vec![1.0; n]
                } else if let Some(k) = stages.iter().position(|s| s.fpc.is_none()) {
                    return Err(DesignError::WeightsNotImplied { stage: k + 1 });
                } else if let Some(k) = with_fpc.iter().position(|ok| !ok) {
                    return Err(DesignError::WeightsNotImplied { stage: k + 1 });
                } else {
                    (0..n)
                        .map(|i| {
                            // prob = prod_k 1/(N_k/n_k); weight = 1/prob (svydesign).
                            let mut prob = 1.0;
                            for st in &self.stages {
                                let u = st.unit_of_row[i] as usize;
                                let p = st.parent_of_unit[u] as usize;
                                prob *= 1.0 / (st.population[p] / st.n_sampled[p] as f64);
                            }
                            1.0 / prob
                        })
                        .collect()
                }
            }
        };
        if let Some((row, &value)) = weights.iter().enumerate().find(|(_, &v)| !(v.is_finite() && v > 0.0)) {
            return Err(DesignError::InvalidWeight { row, value });
        }
        Ok(weights)
    }

    /// This design over its rows put in its own order ([`Design::row_order`]): row `i` of the
    /// result is row `order[i]` of this one, every unit, stratum and label kept. It is the
    /// design [`Design::new`] builds from the reordered rows whenever the cluster and stratum
    /// codes of a row do not depend on the rows' order (codes numbered by sorted value), without
    /// building it again. Not for a calibrated design (its model is per row): `None` then.
    pub fn in_unit_order(&self) -> Option<Design> {
        if self.calibration.is_some() {
            return None;
        }
        let take = |v: &[u32]| -> Vec<u32> { self.order.iter().map(|&r| v[r as usize]).collect() };
        let stages = self
            .stages
            .iter()
            .map(|s| StageUnits {
                unit_of_row: take(&s.unit_of_row),
                parent_of_unit: s.parent_of_unit.clone(),
                code_of_unit: s.code_of_unit.clone(),
                n_sampled: s.n_sampled.clone(),
                population: s.population.clone(),
                child_factor: s.child_factor.clone(),
            })
            .collect();
        Some(Design {
            n: self.n,
            weights: self.order.iter().map(|&r| self.weights[r as usize]).collect(),
            strata: take(&self.strata),
            n_strata: self.n_strata,
            stages,
            order: (0..self.n as u32).collect(),
            lonely: self.lonely,
            ultimate_cluster: self.ultimate_cluster,
            calibration: None,
            strata_labels: self.strata_labels.clone(),
            psu_labels: self.psu_labels.clone(),
            uid: next_uid(),
        })
    }

    /// The rows ordered by the deepest stage's unit (a stable counting sort).
    fn rows_in_unit_order(&self) -> Result<Vec<u32>, DesignError> {
        let n = self.n;
        let Some(deep) = self.stages.last() else {
            return Err(DesignError::Empty);
        };
        let n_units = deep.parent_of_unit.len();
        let mut start = vec![0u32; n_units + 1];
        for &u in &deep.unit_of_row {
            start[u as usize + 1] += 1;
        }
        for j in 0..n_units {
            start[j + 1] += start[j];
        }
        let mut order = vec![0u32; n];
        for (i, &u) in deep.unit_of_row.iter().enumerate() {
            let slot = &mut start[u as usize];
            order[*slot as usize] = i as u32;
            *slot += 1;
        }
        Ok(order)
    }

    /// The rows in the design's order (grouped by PSU and every later stage's unit), or None
    /// when they already are: data put in this order is then read sequentially by every pass.
    pub fn row_order(&self) -> Option<&[u32]> {
        if self.order.iter().enumerate().all(|(i, &r)| i as u32 == r) {
            None
        } else {
            Some(&self.order)
        }
    }

    fn build_stage(
        &self,
        k: usize,
        parent_of_row: &[u32],
        n_parents: usize,
        codes: &[u32],
        fpc: Option<&[f64]>,
        fpc_is_popsize: bool,
    ) -> Result<StageUnits, DesignError> {
        let n = self.n;
        let key = |i: usize| ((parent_of_row[i] as u64) << 32) | codes[i] as u64;
        // the distinct (parent, code) keys, sorted: unit j is the j-th; rows of one unit tend
        // to be consecutive, so each run of equal keys is looked up once
        let mut index: foldhash::HashMap<u64, u32> = foldhash::HashMap::default();
        let mut last = None;
        for i in 0..n {
            let k = key(i);
            if last != Some(k) {
                index.entry(k).or_insert(0);
                last = Some(k);
            }
        }
        let mut uniq: Vec<u64> = index.keys().copied().collect();
        uniq.sort_unstable();
        for (j, k) in uniq.iter().enumerate() {
            index.insert(*k, j as u32);
        }
        let mut unit_of_row = Vec::with_capacity(n);
        let mut last = (u64::MAX, 0u32);
        for i in 0..n {
            let k = key(i);
            if k != last.0 || i == 0 {
                // present by construction; fall back to 0 rather than panic
                last = (k, index.get(&k).copied().unwrap_or(0));
            }
            unit_of_row.push(last.1);
        }
        let parent_of_unit: Vec<u32> = uniq.iter().map(|k| (k >> 32) as u32).collect();
        let code_of_unit: Vec<u32> = uniq.iter().map(|k| (k & 0xffff_ffff) as u32).collect();
        let mut n_sampled = vec![0u32; n_parents];
        for &p in &parent_of_unit {
            n_sampled[p as usize] += 1;
        }
        let mut population = vec![f64::INFINITY; n_parents];
        if let Some(f) = fpc {
            let mut seen: Vec<Option<f64>> = vec![None; n_parents];
            for i in 0..n {
                let p = parent_of_row[i] as usize;
                match seen[p] {
                    None => seen[p] = Some(f[i]),
                    Some(v) if v != f[i] => {
                        return Err(DesignError::FpcNotConstant {
                            stage: k + 1,
                            stratum: self.parent_label(k, p as u32),
                            first: v,
                            second: f[i],
                        })
                    }
                    Some(_) => {}
                }
            }
            for p in 0..n_parents {
                if let Some(v) = seen[p] {
                    let ns = n_sampled[p] as f64;
                    let pop = if fpc_is_popsize { v } else { ns / v };
                    if pop < ns {
                        return Err(DesignError::FpcTooSmall {
                            stage: k + 1,
                            stratum: self.parent_label(k, p as u32),
                            population: pop,
                            sampled: n_sampled[p] as usize,
                        });
                    }
                    population[p] = pop;
                }
            }
        }
        // n/N of each unit's parent, times the enclosing factor.
        let child_factor = parent_of_unit
            .iter()
            .map(|&p| {
                let p = p as usize;
                let own = if population[p].is_finite() {
                    n_sampled[p] as f64 / population[p]
                } else {
                    0.0
                };
                let outer = if k == 0 { 1.0 } else { self.stages[k - 1].child_factor[p] };
                own * outer
            })
            .collect();
        Ok(StageUnits {
            unit_of_row,
            parent_of_unit,
            code_of_unit,
            n_sampled,
            population,
            child_factor,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n
    }

    /// Final weights (given, or implied by the fpcs).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The lonely-PSU rule.
    pub fn lonely_psu(&self) -> LonelyPsu {
        self.lonely
    }

    /// Number of first-stage units (PSUs) of the full design.
    pub fn n_psus(&self) -> usize {
        self.stages.first().map_or(0, |s| s.parent_of_unit.len())
    }

    /// Number of strata holding rows (1 without strata).
    pub fn n_strata(&self) -> usize {
        let mut present = vec![false; self.n_strata];
        for &s in &self.strata {
            present[s as usize] = true;
        }
        present.iter().filter(|&&b| b).count()
    }

    /// Number of sampling stages (1 without clusters: each row its own PSU).
    pub fn n_stages(&self) -> usize {
        self.stages.len()
    }

    /// Whether a stage after the first has a finite population correction.
    pub fn has_later_fpc(&self) -> bool {
        self.stages.iter().skip(1).any(|s| s.population.iter().any(|p| p.is_finite()))
    }

    /// Design degrees of freedom of the full design: #PSUs - #strata (R's `degf`).
    pub fn degf(&self) -> f64 {
        let mut present = vec![false; self.n_strata];
        for &s in &self.strata {
            present[s as usize] = true;
        }
        let h = present.iter().filter(|&&b| b).count();
        self.n_psus() as f64 - h as f64
    }

    /// Label of a stratum code.
    pub(super) fn stratum_label(&self, h: u32) -> String {
        self.strata_labels
            .as_ref()
            .and_then(|l| l.get(h as usize).cloned())
            .unwrap_or_else(|| h.to_string())
    }

    /// Label of a unit at stage `k` (0-based): the caller's PSU label at stage 1,
    /// otherwise "parent/code".
    pub(super) fn unit_label(&self, k: usize, unit: u32) -> String {
        let Some(st) = self.stages.get(k) else {
            return unit.to_string();
        };
        let code = st.code_of_unit.get(unit as usize).copied().unwrap_or(unit);
        if k == 0 {
            self.psu_labels
                .as_ref()
                .and_then(|l| l.get(code as usize).cloned())
                .unwrap_or_else(|| code.to_string())
        } else {
            let parent = st.parent_of_unit.get(unit as usize).copied().unwrap_or(0);
            format!("{}/{}", self.unit_label(k - 1, parent), code)
        }
    }

    /// Label of the parent (stratum at stage 1, enclosing unit later) of stage `k`.
    pub(super) fn parent_label(&self, k: usize, parent: u32) -> String {
        if k == 0 {
            self.stratum_label(parent)
        } else {
            self.unit_label(k - 1, parent)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(n: usize) -> DesignSpec {
        DesignSpec {
            n_rows: n,
            ..Default::default()
        }
    }

    #[test]
    fn non_positive_weight_names_row() {
        let mut s = base(3);
        s.weights = Some(vec![1.0, 0.0, 2.0]);
        let e = Design::new(s).unwrap_err();
        assert_eq!(e, DesignError::InvalidWeight { row: 1, value: 0.0 });
        assert!(e.to_string().contains("row 1"));
        let mut s = base(2);
        s.weights = Some(vec![f64::NAN, 1.0]);
        assert!(matches!(Design::new(s), Err(DesignError::InvalidWeight { row: 0, .. })));
    }

    #[test]
    fn fpc_must_be_constant_within_stratum() {
        let mut s = base(4);
        s.strata = Some(vec![0, 0, 1, 1]);
        s.strata_labels = Some(vec!["north".into(), "south".into()]);
        s.stages = vec![Stage {
            clusters: vec![0, 1, 0, 1],
            fpc: Some(vec![10.0, 10.0, 20.0, 21.0]),
        }];
        let e = Design::new(s).unwrap_err();
        assert!(matches!(e, DesignError::FpcNotConstant { ref stratum, .. } if stratum == "south"));
    }

    #[test]
    fn fpc_smaller_than_sample_is_an_error() {
        let mut s = base(3);
        s.stages = vec![Stage {
            clusters: vec![0, 1, 2],
            fpc: Some(vec![2.0, 2.0, 2.0]),
        }];
        assert!(matches!(Design::new(s), Err(DesignError::FpcTooSmall { sampled: 3, .. })));
    }

    #[test]
    fn mixed_fpc_and_lengths() {
        let mut s = base(2);
        s.stages = vec![Stage {
            clusters: vec![0, 1],
            fpc: Some(vec![0.5, 10.0]),
        }];
        assert!(matches!(Design::new(s), Err(DesignError::MixedFpc { .. })));
        let mut s = base(2);
        s.weights = Some(vec![1.0]);
        assert!(matches!(Design::new(s), Err(DesignError::LengthMismatch { .. })));
        assert_eq!(Design::new(base(0)).unwrap_err(), DesignError::Empty);
    }

    #[test]
    fn weights_implied_by_fpc() {
        // Two-stage: 2 of 10 PSUs, 2 of 4 and 1 of 5 SSUs.
        let mut s = base(3);
        s.stages = vec![
            Stage {
                clusters: vec![7, 7, 9],
                fpc: Some(vec![10.0; 3]),
            },
            Stage {
                clusters: vec![1, 2, 1],
                fpc: Some(vec![4.0, 4.0, 5.0]),
            },
        ];
        let d = Design::new(s).unwrap();
        let w = d.weights();
        assert!((w[0] - 10.0).abs() < 1e-12 && (w[2] - 25.0).abs() < 1e-12);
        assert_eq!(d.n_psus(), 2);
        // Sampling fractions give the same weights.
        let mut s = base(2);
        s.stages = vec![Stage {
            clusters: vec![0, 1],
            fpc: Some(vec![0.25, 0.25]),
        }];
        let d = Design::new(s).unwrap();
        assert!((d.weights()[0] - 4.0).abs() < 1e-12);
        // Partial fpc cannot imply weights.
        let mut s = base(2);
        s.stages = vec![
            Stage {
                clusters: vec![0, 1],
                fpc: Some(vec![10.0, 10.0]),
            },
            Stage {
                clusters: vec![0, 0],
                fpc: None,
            },
        ];
        assert_eq!(Design::new(s).unwrap_err(), DesignError::WeightsNotImplied { stage: 2 });
    }
}
