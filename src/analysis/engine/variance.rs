//! Variance of domain estimates from per-row influence values: unit totals at
//! every stage (sparse per (unit, group)), the stratified between-unit variance of
//! `survey::svyrecvar` / `survey:::onestrat` summed over stages, lonely-PSU rules,
//! design degrees of freedom per domain, and the covariance between groups.
//!
//! The rules reproduce `survey` (multistage.R, and the C++ `arma_multistage` of
//! 4.3+), for a domain analysed as `svyby` / `subset` does (rows outside the domain
//! dropped, the full design's n_h kept):
//! - per stratum h: `(1 - n_h/N_h) * n_h/(n_h-1) * sum_i (z_hi - zbar_h)^2`, where
//!   PSUs without domain rows have z = 0 and `zbar_h = sum z / n_h`;
//! - a stratum with sampling fraction 1 contributes 0 (self-representing);
//! - stage k+1 adds, for every unit holding domain rows, its within-unit variance
//!   times the product of n/N of the enclosing stages (0 without fpc);
//! - only strata / units that hold rows of the domain take part (so under `fail`
//!   a lonely stratum without domain rows is no error, and `average` counts only
//!   strata holding domain rows, as R's `onestage` does on the subset).
//!
//! Cost is O(n) per call plus O(entries) where an entry is a (unit, group) pair
//! with rows; no hashing.

use super::design::{Design, LonelyPsu};
use super::{DesignError, Grouping};

/// Sampling fraction below which a stratum is self-representing (`onestrat`).
const SELF_REPRESENTING: f64 = 1e-7;

/// Influence total of one group within one unit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub unit: u32,
    pub group: u32,
    pub total: f64,
}

/// Sparse unit totals per stage: `stages[k]` lists (unit, group, total) for every
/// stage-k unit holding rows of a group, sorted by unit.
#[derive(Debug, Clone)]
pub(super) struct UnitTotals {
    pub stages: Vec<Vec<Entry>>,
    /// On a calibrated design, the df of the rows used, counted before residualisation
    /// (the residuals reach every unit; R keeps `degf`).
    pub used_df: Option<Vec<f64>>,
}

/// Per-group variance and design df.
#[derive(Debug, Clone)]
pub(super) struct GroupVariance {
    pub var: Vec<f64>,
    /// #PSUs holding rows used - #strata holding rows used (R's `degf` of the subset
    /// without the missing values, as `svymean(na.rm = TRUE)` and `svyquantile` see it).
    pub df: Vec<f64>,
}

/// Dense accumulator over groups with a list of touched slots.
struct Scratch {
    sum: Vec<f64>,
    ss: Vec<f64>,
    cnt: Vec<u32>,
    touched: Vec<u32>,
}

impl Scratch {
    fn new(k: usize) -> Self {
        Self {
            sum: vec![0.0; k],
            ss: vec![0.0; k],
            cnt: vec![0; k],
            touched: Vec::new(),
        }
    }
    fn add(&mut self, g: u32, v: f64) {
        let gi = g as usize;
        if self.cnt[gi] == 0 {
            self.touched.push(g);
        }
        self.cnt[gi] += 1;
        self.sum[gi] += v;
    }
    fn reset(&mut self) {
        for &g in &self.touched {
            self.sum[g as usize] = 0.0;
            self.ss[g as usize] = 0.0;
            self.cnt[g as usize] = 0;
        }
        self.touched.clear();
    }
}

/// Unit totals of influence values given row by row in the design's order (rows of a unit
/// are contiguous there), as [`unit_totals`] sums them, for an estimator that computes its
/// influence values in that order: the totals come out of the same pass.
pub(super) struct UnitTotalsBuilder<'d> {
    design: &'d Design,
    n_stages: usize,
    sc: Scratch,
    entries: Vec<Entry>,
    current: Option<u32>,
}

impl<'d> UnitTotalsBuilder<'d> {
    /// A builder for `k` groups.
    pub(super) fn new(design: &'d Design, k: usize) -> Self {
        UnitTotalsBuilder {
            design,
            n_stages: if design.ultimate_cluster { 1 } else { design.stages.len() },
            sc: Scratch::new(k),
            entries: Vec::new(),
            current: None,
        }
    }

    /// Adds row `r`'s value `z` to group `g` (rows in the design's order).
    #[inline]
    pub(super) fn add(&mut self, r: usize, g: u32, z: f64) {
        let u = self.design.stages[self.n_stages - 1].unit_of_row[r];
        if self.current != Some(u) {
            if let Some(cu) = self.current {
                flush(&mut self.sc, &mut self.entries, cu);
            }
            self.current = Some(u);
        }
        self.sc.add(g, z);
    }

    /// The totals of every stage (before any calibration residuals) and the scratch.
    fn stages(mut self) -> (Vec<Vec<Entry>>, Scratch) {
        if let Some(cu) = self.current {
            flush(&mut self.sc, &mut self.entries, cu);
        }
        let stages = aggregate(self.design, self.entries, self.n_stages, &mut self.sc);
        (stages, self.sc)
    }

    /// The unit totals, on a design without calibration (a calibrated one's residuals need
    /// every row's value: [`unit_totals`]).
    pub(super) fn finish(self) -> UnitTotals {
        debug_assert!(self.design.calibration.is_none());
        UnitTotals {
            stages: self.stages().0,
            used_df: None,
        }
    }
}

/// Builds unit totals of `z` (zero for rows with group `NONE`) at every stage used
/// for the variance (only the first with `ultimate_cluster`). On a calibrated design the
/// influence values are first replaced by their residuals from the calibration model
/// (see `calibration`): every unit then holds a total for every group with rows, and the
/// df of the rows used are counted before, from the rows themselves.
pub(super) fn unit_totals(design: &Design, row_group: &[u32], z: &[f64], k: usize) -> UnitTotals {
    let mut b = UnitTotalsBuilder::new(design, k);
    for &r in &design.order {
        let r = r as usize;
        let g = row_group[r];
        if g != Grouping::NONE {
            b.add(r, g, z[r]);
        }
    }
    let (stages, mut sc) = b.stages();
    let Some(cal) = &design.calibration else {
        return UnitTotals { stages, used_df: None };
    };
    let a = cal.coefficients(row_group, z, k);
    let mut has_rows = vec![false; k];
    for &g in row_group {
        if g != Grouping::NONE {
            has_rows[g as usize] = true;
        }
    }
    calibrated(design, cal, stages, &a, &has_rows, &mut sc)
}

/// Unit totals of several influence vectors over one design: slot j sums `z[j]` over the rows
/// of its domain (`domains[j]`, or `domains[0]` shared by all) where it is not NaN (a row may
/// count in every slot, or only in some), so that
/// [`group_covariance`] gives their full covariance with the rules of the group estimates
/// (lonely PSUs, strata holding rows, multistage), and residualised as [`unit_totals`] does
/// on a calibrated design. Every value of every row is read once, in or out of the domains:
/// `None` when one is infinite (the caller names it).
pub(super) fn unit_totals_multi(design: &Design, z: &[&[f64]], domains: &[&[bool]]) -> Option<UnitTotals> {
    let k = z.len();
    let member = |r: usize, j: usize| (if domains.len() == 1 { domains[0] } else { domains[j] })[r] && !z[j][r].is_nan();
    let n_stages = if design.ultimate_cluster { 1 } else { design.stages.len() };
    let deep = &design.stages[n_stages - 1];
    let mut sc = Scratch::new(k);
    let mut entries: Vec<Entry> = Vec::new();
    let mut has_rows = vec![false; k];
    // one unit's rows (contiguous in the design's order) at a time, one slot at a time over
    // them: each slot's total is summed in row order, and the unit's entries are listed in the
    // order their slots first have a row (row by row, slot by slot), as a row-major pass would
    let order = &design.order;
    let mut first = vec![0usize; k];
    let mut sums = vec![0.0; k];
    let mut hit: Vec<u32> = Vec::with_capacity(k);
    let mut a = 0;
    while a < order.len() {
        let u = deep.unit_of_row[order[a] as usize];
        let mut b = a + 1;
        while b < order.len() && deep.unit_of_row[order[b] as usize] == u {
            b += 1;
        }
        let rows = &order[a..b];
        hit.clear();
        if domains.len() == 1 {
            // one domain: its rows once, every slot's value of each
            let d = domains[0];
            first.fill(usize::MAX);
            sums.fill(0.0);
            for (t, &r) in rows.iter().enumerate() {
                let r = r as usize;
                if !d[r] {
                    if z.iter().any(|zj| zj[r].is_infinite()) {
                        return None;
                    }
                    continue;
                }
                for (j, zj) in z.iter().enumerate() {
                    let v = zj[r];
                    if v.is_infinite() {
                        return None;
                    }
                    if !v.is_nan() {
                        first[j] = first[j].min(t);
                        sums[j] += v;
                    }
                }
            }
            for j in 0..k {
                if first[j] != usize::MAX {
                    has_rows[j] = true;
                    hit.push(j as u32);
                }
            }
        } else {
            for (j, zj) in z.iter().enumerate() {
                let d = domains[j];
                let mut s = 0.0;
                let mut f = usize::MAX;
                for (t, &r) in rows.iter().enumerate() {
                    let r = r as usize;
                    let v = zj[r];
                    if v.is_infinite() {
                        return None;
                    }
                    if d[r] && !v.is_nan() {
                        f = f.min(t);
                        s += v;
                    }
                }
                if f != usize::MAX {
                    first[j] = f;
                    sums[j] = s;
                    has_rows[j] = true;
                    hit.push(j as u32);
                }
            }
        }
        hit.sort_unstable_by_key(|&j| (first[j as usize], j));
        entries.extend(hit.iter().map(|&j| Entry {
            unit: u,
            group: j,
            total: sums[j as usize],
        }));
        a = b;
    }
    let stages = aggregate(design, entries, n_stages, &mut sc);
    let Some(cal) = &design.calibration else {
        return Some(UnitTotals { stages, used_df: None });
    };
    let a = cal.coefficients_multi(z, member);
    Some(calibrated(design, cal, stages, &a, &has_rows, &mut sc))
}

/// Unit totals of statistics given row by row, on a design without calibration: `values(row,
/// out)` pushes the row's (slot, value) pairs in increasing slot order (NaN, or no pair: the
/// row takes no part in the slot). Summed and listed as [`unit_totals_multi`] does the same
/// values given as one vector per slot, without a vector per slot: for many statistics each
/// using a few rows.
pub(super) fn unit_totals_rows(design: &Design, k: usize, values: impl Fn(usize, &mut Vec<(u32, f64)>)) -> Result<UnitTotals, DesignError> {
    let n_stages = if design.ultimate_cluster { 1 } else { design.stages.len() };
    let deep = &design.stages[n_stages - 1];
    let mut sc = Scratch::new(k);
    let mut entries: Vec<Entry> = Vec::new();
    let mut current: Option<u32> = None;
    let mut row_values: Vec<(u32, f64)> = Vec::with_capacity(k);
    for &r in &design.order {
        let r = r as usize;
        row_values.clear();
        values(r, &mut row_values);
        let u = deep.unit_of_row[r];
        for &(j, v) in &row_values {
            if v.is_nan() {
                continue;
            }
            if v.is_infinite() {
                return Err(DesignError::NonFiniteValue { row: r, value: v });
            }
            if j as usize >= k {
                return Err(DesignError::InvalidArgument(format!("statistic {j} of {k}")));
            }
            if current != Some(u) {
                if let Some(cu) = current {
                    flush(&mut sc, &mut entries, cu);
                }
                current = Some(u);
            }
            sc.add(j, v);
        }
    }
    if let Some(cu) = current {
        flush(&mut sc, &mut entries, cu);
    }
    Ok(UnitTotals {
        stages: aggregate(design, entries, n_stages, &mut sc),
        used_df: None,
    })
}

/// The unit totals of the residuals from the calibration model: for every unit and every slot
/// with rows, the plain total minus the unit's calibrated margin sums times the slot's
/// coefficients `a` (p per slot); the df of the rows used are counted from the plain totals.
fn calibrated(design: &Design, cal: &super::calibration::Calibration, stages: Vec<Vec<Entry>>, a: &[f64], has_rows: &[bool], sc: &mut Scratch) -> UnitTotals {
    let k = has_rows.len();
    let n_stages = stages.len();
    let used_df = Some(used_df_of(design, &stages[0], k));
    let p = a.len() / k.max(1);
    let plain = &stages[n_stages - 1];
    let mut dense = Vec::with_capacity(cal.n_units() * has_rows.iter().filter(|&&h| h).count());
    let mut j = 0;
    let mut totals = vec![0.0; k];
    for u in 0..cal.n_units() as u32 {
        while j < plain.len() && plain[j].unit == u {
            totals[plain[j].group as usize] = plain[j].total;
            j += 1;
        }
        for g in 0..k {
            if !has_rows[g] {
                continue;
            }
            let total = totals[g] - cal.unit_offset(u, &a[g * p..(g + 1) * p]);
            totals[g] = 0.0;
            dense.push(Entry {
                unit: u,
                group: g as u32,
                total,
            });
        }
    }
    UnitTotals {
        stages: aggregate(design, dense, n_stages, sc),
        used_df,
    }
}

/// Appends the touched groups of `sc` as entries of `unit` and resets it.
fn flush(sc: &mut Scratch, entries: &mut Vec<Entry>, unit: u32) {
    for &g in &sc.touched {
        entries.push(Entry {
            unit,
            group: g,
            total: sc.sum[g as usize],
        });
    }
    sc.reset();
}

/// [`aggregate`] of `deepest` entries of `k` slots, with a scratch of its own.
pub(super) fn aggregate_entries(design: &Design, deepest: Vec<Entry>, n_stages: usize, k: usize) -> Vec<Vec<Entry>> {
    aggregate(design, deepest, n_stages, &mut Scratch::new(k))
}

/// The unit totals of every stage from those of the deepest one, aggregated to the
/// enclosing units.
fn aggregate(design: &Design, deepest: Vec<Entry>, n_stages: usize, sc: &mut Scratch) -> Vec<Vec<Entry>> {
    let mut stages = vec![Vec::new(); n_stages];
    stages[n_stages - 1] = deepest;
    for s in (1..n_stages).rev() {
        let units = &design.stages[s];
        let mut out = Vec::new();
        let mut current: Option<u32> = None;
        for e in &stages[s] {
            let p = units.parent_of_unit[e.unit as usize];
            if current != Some(p) {
                if let Some(cp) = current {
                    flush(sc, &mut out, cp);
                }
                current = Some(p);
            }
            sc.add(e.group, e.total);
        }
        if let Some(cp) = current {
            flush(sc, &mut out, cp);
        }
        stages[s - 1] = out;
    }
    stages
}

/// #PSUs - #strata holding entries of each group, from stage-1 entries of the rows used.
fn used_df_of(design: &Design, first: &[Entry], k: usize) -> Vec<f64> {
    let psus = &design.stages[0];
    let mut n_psu = vec![0u32; k];
    let mut n_strata = vec![0u32; k];
    let mut last_stratum = vec![u32::MAX; k];
    for e in first {
        let g = e.group as usize;
        n_psu[g] += 1;
        let h = psus.parent_of_unit[e.unit as usize];
        if last_stratum[g] != h {
            last_stratum[g] = h;
            n_strata[g] += 1;
        }
    }
    n_psu.iter().zip(&n_strata).map(|(&p, &h)| p as f64 - h as f64).collect()
}

/// Iterates the entries of `stage` in blocks sharing a parent.
fn parent_blocks<'a>(design: &'a Design, stage: usize, entries: &'a [Entry]) -> impl Iterator<Item = (u32, &'a [Entry])> + 'a {
    let units = &design.stages[stage];
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= entries.len() {
            return None;
        }
        let p = units.parent_of_unit[entries[i].unit as usize];
        let start = i;
        while i < entries.len() && units.parent_of_unit[entries[i].unit as usize] == p {
            i += 1;
        }
        Some((p, &entries[start..i]))
    })
}

/// (f, scale) of `onestrat`: f = 1 - n/N (1 without fpc), scale = f n/(n-1).
fn fpc_scale(n: u32, pop: f64) -> (f64, f64) {
    let f = if pop.is_infinite() { 1.0 } else { (pop - n as f64) / pop };
    let scale = if n > 1 { f * n as f64 / (n as f64 - 1.0) } else { f };
    (f, scale)
}

fn lonely_error(design: &Design, stage: usize, parent: u32, block: &[Entry]) -> DesignError {
    DesignError::LonelyPsu {
        stage: stage + 1,
        stratum: design.parent_label(stage, parent),
        psu: block.first().map(|e| design.unit_label(stage, e.unit)).unwrap_or_default(),
    }
}

/// Per-group variances and design df from unit totals.
pub(super) fn group_variances(design: &Design, totals: &UnitTotals, k: usize) -> Result<GroupVariance, DesignError> {
    let mut sc = Scratch::new(k);
    // Stage 1 bookkeeping per group.
    let mut s0 = vec![0.0; k];
    let mut nstrat = vec![0u32; k];
    let mut nlonely = vec![0u32; k];
    let mut npsu = vec![0u32; k];
    let mut sum_n = vec![0.0; k];
    let mut grand = vec![0.0; k];
    let mut lonely_adjust: Vec<(u32, f64, f64)> = Vec::new();
    let mut var = vec![0.0; k];

    for (stage, entries) in totals.stages.iter().enumerate() {
        let units = &design.stages[stage];
        for (p, block) in parent_blocks(design, stage, entries) {
            let n = units.n_sampled[p as usize];
            let (f, scale) = fpc_scale(n, units.population[p as usize]);
            let factor = if stage == 0 { 1.0 } else { design.stages[stage - 1].child_factor[p as usize] };
            if factor == 0.0 {
                // No fpc at the enclosing stage: later stages contribute nothing
                // (svyrecvar recurses only with fpcs; arma_multistage skips).
                continue;
            }
            for e in block {
                sc.add(e.group, e.total);
            }
            if stage == 0 {
                for &g in &sc.touched {
                    let gi = g as usize;
                    nstrat[gi] += 1;
                    npsu[gi] += sc.cnt[gi];
                    sum_n[gi] += n as f64;
                    grand[gi] += sc.sum[gi];
                }
            }
            if f < SELF_REPRESENTING {
                sc.reset();
                continue;
            }
            if n <= 1 {
                match design.lonely {
                    LonelyPsu::Fail => return Err(lonely_error(design, stage, p, block)),
                    LonelyPsu::Remove | LonelyPsu::Certainty => {}
                    LonelyPsu::Adjust => {
                        if stage == 0 {
                            for e in block {
                                lonely_adjust.push((e.group, e.total, f));
                            }
                        }
                        // Later stages: the unit is its own grand mean -> 0.
                    }
                    LonelyPsu::Average => {
                        for &g in &sc.touched {
                            if stage == 0 {
                                nlonely[g as usize] += 1;
                            } else {
                                var[g as usize] = f64::NAN;
                            }
                        }
                    }
                }
                sc.reset();
                continue;
            }
            let nf = n as f64;
            for e in block {
                let gi = e.group as usize;
                let d = e.total - sc.sum[gi] / nf;
                sc.ss[gi] += d * d;
            }
            for &g in &sc.touched {
                let gi = g as usize;
                let m = sc.sum[gi] / nf;
                let ssg = sc.ss[gi] + (nf - sc.cnt[gi] as f64) * m * m;
                if stage == 0 {
                    s0[gi] += scale * ssg;
                } else {
                    var[gi] += factor * scale * ssg;
                }
            }
            sc.reset();
        }
    }
    for (g, t, f) in lonely_adjust {
        let gi = g as usize;
        let c = grand[gi] / sum_n[gi];
        s0[gi] += f * (t - c) * (t - c);
    }
    let mut df = vec![0.0; k];
    for g in 0..k {
        let v1 = if nlonely[g] > 0 {
            // onestage: sum(na.rm=TRUE) * nstrat / nokstrat.
            s0[g] * nstrat[g] as f64 / (nstrat[g] - nlonely[g]) as f64
        } else {
            s0[g]
        };
        var[g] += v1;
        df[g] = match &totals.used_df {
            Some(d) => d[g],
            None => npsu[g] as f64 - nstrat[g] as f64,
        };
    }
    Ok(GroupVariance { var, df })
}

/// Rows and design df of each group's domain, counting every row the grouping puts in
/// the group whether or not its outcome is missing.
#[derive(Debug, Clone)]
pub(super) struct DomainSize {
    /// Rows of the group (R's `nrow` of the group's design).
    pub rows: Vec<usize>,
    /// Sum of the weights of the group's rows.
    pub weight: Vec<f64>,
    /// #PSUs holding rows of the group - #strata holding rows of the group (R's `degf`
    /// of `subset(design, group)`, the df `svyciprop` uses).
    pub df: Vec<f64>,
}

/// [`domain_sizes`] of a grouping's groups on `design`, computed once per grouping and design
/// (kept in the grouping for the last few designs it was used with).
pub(super) fn grouping_domains(design: &Design, grouping: &Grouping) -> DomainSize {
    const KEPT: usize = 4;
    // a poisoned cache is only a cache: use it as it is
    let lock = || grouping.domains.lock().unwrap_or_else(|p| p.into_inner());
    let found = lock().iter().find(|(uid, _)| *uid == design.uid).map(|(_, d)| d.clone());
    if let Some(d) = found {
        return d;
    }
    let d = domain_sizes(design, grouping.codes(), grouping.n_groups());
    let mut kept = lock();
    if kept.len() >= KEPT {
        kept.remove(0);
    }
    kept.push((design.uid, d.clone()));
    d
}

/// Counts rows, PSUs and strata of every group of `codes` in one pass over the rows in
/// design order, where the rows of a PSU, and the PSUs of a stratum, are contiguous.
pub(super) fn domain_sizes(design: &Design, codes: &[u32], k: usize) -> DomainSize {
    let psus = &design.stages[0];
    let mut rows = vec![0usize; k];
    let mut weight = vec![0.0; k];
    let mut n_psu = vec![0u32; k];
    let mut n_strata = vec![0u32; k];
    let mut last_psu = vec![u32::MAX; k];
    let mut last_stratum = vec![u32::MAX; k];
    for &r in &design.order {
        let g = codes[r as usize];
        if g == Grouping::NONE {
            continue;
        }
        let gi = g as usize;
        rows[gi] += 1;
        weight[gi] += design.weights[r as usize];
        let u = psus.unit_of_row[r as usize];
        if last_psu[gi] != u {
            last_psu[gi] = u;
            n_psu[gi] += 1;
            let h = psus.parent_of_unit[u as usize];
            if last_stratum[gi] != h {
                last_stratum[gi] = h;
                n_strata[gi] += 1;
            }
        }
    }
    let df = n_psu.iter().zip(&n_strata).map(|(&p, &h)| p as f64 - h as f64).collect();
    DomainSize { rows, weight, df }
}

/// Influence totals per group of one lonely PSU, with its sampling factor f.
type LonelyBlock = (u32, Vec<(u32, f64)>, f64);

/// Full K x K covariance (row-major) of the group estimates; its diagonal equals
/// [`group_variances`]. Lonely rules: `Fail` errors as for the variances; `Adjust`
/// centres each group at its own grand mean; `Average` scales entry (a, b) of the
/// stage-1 sum by sqrt(s_a s_b), s_g = #strata / #non-lonely strata of group g
/// (keeps the matrix positive semi-definite and the diagonal equal to R's).
pub(super) fn group_covariance(design: &Design, totals: &UnitTotals, k: usize) -> Result<Vec<f64>, DesignError> {
    let diag = group_variances(design, totals, k)?;
    let mut s0 = vec![0.0; k * k];
    let mut later = vec![0.0; k * k];
    let mut nstrat = vec![0u32; k];
    let mut nlonely = vec![0u32; k];
    let mut sum_n = vec![0.0; k];
    let mut grand = vec![0.0; k];
    // (group, total) pairs of each lonely stratum with its f.
    let mut lonely_adjust: Vec<LonelyBlock> = Vec::new();
    let mut nan_groups = vec![false; k];
    let mut sc = Scratch::new(k);
    let mut local_index = vec![u32::MAX; k];

    for (stage, entries) in totals.stages.iter().enumerate() {
        let units = &design.stages[stage];
        for (p, block) in parent_blocks(design, stage, entries) {
            let n = units.n_sampled[p as usize];
            let (f, scale) = fpc_scale(n, units.population[p as usize]);
            let factor = if stage == 0 { 1.0 } else { design.stages[stage - 1].child_factor[p as usize] };
            if factor == 0.0 {
                continue;
            }
            for e in block {
                sc.add(e.group, e.total);
            }
            if stage == 0 {
                for &g in &sc.touched {
                    let gi = g as usize;
                    nstrat[gi] += 1;
                    sum_n[gi] += n as f64;
                    grand[gi] += sc.sum[gi];
                }
            }
            if f < SELF_REPRESENTING {
                sc.reset();
                continue;
            }
            if n <= 1 {
                match design.lonely {
                    LonelyPsu::Fail => return Err(lonely_error(design, stage, p, block)),
                    LonelyPsu::Remove | LonelyPsu::Certainty => {}
                    LonelyPsu::Adjust => {
                        if stage == 0 {
                            lonely_adjust.push((0, block.iter().map(|e| (e.group, e.total)).collect(), f));
                        }
                    }
                    LonelyPsu::Average => {
                        for &g in &sc.touched {
                            if stage == 0 {
                                nlonely[g as usize] += 1;
                            } else {
                                nan_groups[g as usize] = true;
                            }
                        }
                    }
                }
                sc.reset();
                continue;
            }
            // Pairwise accumulation within the parent (see module docs):
            // C_ab = P_ab + m_b Q_ab + m_a Q_ba - m_a m_b (n - |A and B|).
            let m_groups = sc.touched.len();
            for (j, &g) in sc.touched.iter().enumerate() {
                local_index[g as usize] = j as u32;
            }
            let nf = n as f64;
            let mean: Vec<f64> = sc.touched.iter().map(|&g| sc.sum[g as usize] / nf).collect();
            let mut pm = vec![0.0; m_groups * m_groups];
            let mut qm = vec![0.0; m_groups * m_groups];
            let mut both = vec![0u32; m_groups * m_groups];
            let mut i = 0;
            while i < block.len() {
                let u = block[i].unit;
                let start = i;
                while i < block.len() && block[i].unit == u {
                    i += 1;
                }
                let child = &block[start..i];
                for ea in child {
                    let a = local_index[ea.group as usize] as usize;
                    let da = ea.total - mean[a];
                    for eb in child {
                        let b = local_index[eb.group as usize] as usize;
                        let db = eb.total - mean[b];
                        pm[a * m_groups + b] += da * db;
                        qm[a * m_groups + b] += da;
                        both[a * m_groups + b] += 1;
                    }
                }
            }
            let target = if stage == 0 { &mut s0 } else { &mut later };
            let mult = if stage == 0 { scale } else { factor * scale };
            for a in 0..m_groups {
                for b in 0..m_groups {
                    if a == b {
                        continue;
                    }
                    let ab = a * m_groups + b;
                    let ba = b * m_groups + a;
                    let c = pm[ab] + mean[b] * qm[ab] + mean[a] * qm[ba] - mean[a] * mean[b] * (nf - both[ab] as f64);
                    let ga = sc.touched[a] as usize;
                    let gb = sc.touched[b] as usize;
                    target[ga * k + gb] += mult * c;
                }
            }
            for &g in &sc.touched {
                local_index[g as usize] = u32::MAX;
            }
            sc.reset();
        }
    }
    for (_, block, f) in &lonely_adjust {
        for &(ga, ta) in block {
            for &(gb, tb) in block {
                if ga == gb {
                    continue;
                }
                let ca = grand[ga as usize] / sum_n[ga as usize];
                let cb = grand[gb as usize] / sum_n[gb as usize];
                s0[ga as usize * k + gb as usize] += f * (ta - ca) * (tb - cb);
            }
        }
    }
    let s: Vec<f64> = (0..k)
        .map(|g| {
            if nlonely[g] > 0 {
                nstrat[g] as f64 / (nstrat[g] - nlonely[g]) as f64
            } else {
                1.0
            }
        })
        .collect();
    let mut cov = vec![0.0; k * k];
    for a in 0..k {
        for b in 0..k {
            cov[a * k + b] = if a == b {
                diag.var[a]
            } else if nan_groups[a] || nan_groups[b] {
                f64::NAN
            } else {
                (s[a] * s[b]).sqrt() * s0[a * k + b] + later[a * k + b]
            };
        }
    }
    Ok(cov)
}
