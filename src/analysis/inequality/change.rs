//! Change between two waves: the change in each group's estimate, overall and in the slope
//! index of inequality, with the standard error of the combined design (both waves' rows in
//! one design, strata and PSUs shared, so the rows of a PSU, or of a person, in both waves are
//! correlated: R's `svyby(~y, ~group + wave, covmat = TRUE)` with `svycontrast`, and
//! `svyglm(y ~ ridit * wave)` for the SII) and, beside it, the independent-samples standard
//! error `sqrt(se1^2 + se2^2)` from the waves as separate samples.
//!
//! Owns the per-wave slope fit on the ridit (weighted least squares, the point estimates of
//! `svyglm`, with its influence values), the contrasts and their intervals. Must not build
//! designs (the caller gives the combined design and the separate-samples one over the same
//! rows), read or format.

use super::columns::{covariance, t_quantile};
use crate::analysis::engine::{Design, DesignError, Grouping};

/// The rows of a change: outcome, wave and group per row.
#[derive(Debug, Clone, Copy)]
pub struct ChangeInput<'a> {
    /// The outcome per row (NaN = no answer); 0/1 for a proportion.
    pub y: &'a [f64],
    /// 0 for the first wave, 1 for the second, `Grouping::NONE` for neither.
    pub wave: &'a [u32],
    /// The ordered grouping (first = most deprived).
    pub groups: &'a Grouping,
}

/// One estimate's change between the waves.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The estimate in each wave.
    pub estimates: [f64; 2],
    /// Their standard errors (each wave as its own sample).
    pub ses: [f64; 2],
    /// Second wave minus first.
    pub change: f64,
    /// Its standard error over the combined design.
    pub se: f64,
    /// Its standard error were the waves independent samples.
    pub se_independent: f64,
    /// Interval from the combined-design standard error.
    pub ci: (f64, f64),
    /// Degrees of freedom of the interval (infinite: normal).
    pub df: f64,
    /// Rows used in each wave.
    pub n: [usize; 2],
}

/// Changes in every group, overall and in the SII.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveChange {
    /// Per group, in the grouping's order.
    pub groups: Vec<Change>,
    /// Over all groups.
    pub overall: Change,
    /// The SII (slope on the ridit) in each wave and its change; t interval on the combined
    /// design's df minus 3 (`svyglm`'s residual df for the four coefficients).
    pub sii: Change,
    /// The ridit of each group in each wave (NaN for a group without rows in the wave).
    pub ridits: [Vec<f64>; 2],
}

/// The (wave, group) cells and the waves of a change's rows as groupings (rows in neither
/// wave or no group in none): they do not depend on the outcome, so a caller computing the
/// change of several outcomes over one grouping makes them once (and the engine counts their
/// domains once per design).
#[derive(Debug, Clone)]
pub struct WaveGroupings {
    /// Code `wave * k + group`.
    by_cell: Grouping,
    /// The wave of the rows with a cell.
    by_wave: Grouping,
}

impl WaveGroupings {
    /// The groupings of `wave` (0, 1 or `Grouping::NONE` per row) and `groups`.
    pub fn new(wave: &[u32], groups: &Grouping) -> Result<WaveGroupings, DesignError> {
        let n = wave.len();
        let k = groups.n_groups();
        if groups.codes().len() != n {
            return Err(DesignError::LengthMismatch {
                what: "wave change groups",
                expected: n,
                got: groups.codes().len(),
            });
        }
        if let Some((row, &code)) = wave.iter().enumerate().find(|(_, &w)| w != Grouping::NONE && w > 1) {
            return Err(DesignError::InvalidGroup { row, code, n_groups: 2 });
        }
        // (wave, group) cells: code = wave * k + group; and the waves alone
        let cells: Vec<u32> = (0..n)
            .map(|i| match (wave[i], groups.codes()[i]) {
                (w, g) if w != Grouping::NONE && g != Grouping::NONE => w * k as u32 + g,
                _ => Grouping::NONE,
            })
            .collect();
        let by_wave = Grouping::new((0..n).map(|i| if cells[i] == Grouping::NONE { Grouping::NONE } else { wave[i] }).collect(), 2)?;
        Ok(WaveGroupings {
            by_cell: Grouping::new(cells, 2 * k)?,
            by_wave,
        })
    }
}

/// Computes the changes. `combined` shares strata and PSUs between the waves; `separate`
/// treats them as separate samples; both are over the rows of `input`, in the same order.
pub fn wave_change(combined: &Design, separate: &Design, input: ChangeInput<'_>, level: f64) -> Result<WaveChange, DesignError> {
    check_lengths(combined, separate, input)?;
    let groupings = WaveGroupings::new(input.wave, input.groups)?;
    wave_change_with(combined, separate, input, &groupings, level)
}

/// The rows of `input` are those of both designs.
fn check_lengths(combined: &Design, separate: &Design, input: ChangeInput<'_>) -> Result<(), DesignError> {
    let n = combined.n_rows();
    if input.y.len() != n || input.wave.len() != n || input.groups.codes().len() != n || separate.n_rows() != n {
        return Err(DesignError::LengthMismatch {
            what: "wave change input",
            expected: n,
            got: input.y.len().min(input.wave.len()).min(separate.n_rows()),
        });
    }
    Ok(())
}

/// [`wave_change`] with the groupings of `input`'s waves and groups made already
/// ([`WaveGroupings::new`] of `input.wave` and `input.groups`).
pub fn wave_change_with(
    combined: &Design,
    separate: &Design,
    input: ChangeInput<'_>,
    groupings: &WaveGroupings,
    level: f64,
) -> Result<WaveChange, DesignError> {
    check_lengths(combined, separate, input)?;
    let k = input.groups.n_groups();
    let (by_cell, by_wave) = (&groupings.by_cell, &groupings.by_wave);
    if by_cell.codes().len() != combined.n_rows() || by_cell.n_groups() != 2 * k {
        return Err(DesignError::LengthMismatch {
            what: "wave change groupings",
            expected: combined.n_rows(),
            got: by_cell.codes().len(),
        });
    }
    let cell_lin = combined.linearize_mean(input.y, by_cell)?;
    let wave_lin = combined.linearize_mean(input.y, by_wave)?;
    let sii = [0, 1].map(|w| slope_on_ridit(combined, input, w));

    // influence of each contrast: + second wave's rows, - first wave's rows (no part for the
    // other rows): one per group, the overall, the SII; given row by row, as each group's
    // contrast uses only its own rows
    let (cell_of, cell_z) = (cell_lin.row_groups(), cell_lin.influence());
    let (wave_of, wave_z) = (wave_lin.row_groups(), wave_lin.influence());
    let (k32, sii0, sii1) = (k as u32, &sii[0].influence, &sii[1].influence);
    let joint = combined.influence_covariance_rows(k + 2, |i, out| {
        match cell_of[i] {
            Grouping::NONE => {}
            c if c >= k32 => out.push((c - k32, cell_z[i])),
            c => out.push((c, -cell_z[i])),
        }
        match wave_of[i] {
            1 => out.push((k32, wave_z[i])),
            0 => out.push((k32, -wave_z[i])),
            _ => {}
        }
        out.push((k32 + 1, if sii1[i].is_nan() { -sii0[i] } else { sii1[i] }));
    })?;

    // each wave as its own sample: over the same rows with the same weights (as the caller's
    // designs are), the linearisations and slope fits are those of the combined design
    let v_cell = match cell_lin.over(separate, by_cell) {
        Some(lin) => lin.variances()?.0,
        None => separate.linearize_mean(input.y, by_cell)?.variances()?.0,
    };
    let v_wave = match wave_lin.over(separate, by_wave) {
        Some(lin) => lin.variances()?.0,
        None => separate.linearize_mean(input.y, by_wave)?.variances()?.0,
    };
    let sii_sep = if combined.weights() == separate.weights() {
        None
    } else {
        Some([0, 1].map(|w| slope_on_ridit(separate, input, w)))
    };
    let sii_var_sep: Vec<f64> = sii_sep
        .as_ref()
        .unwrap_or(&sii)
        .iter()
        .map(|s| covariance(separate, std::slice::from_ref(&s.influence)).map(|j| j.get(0, 0)))
        .collect::<Result<_, _>>()?;

    let z = t_quantile(1.0 - (1.0 - level) / 2.0, f64::INFINITY);
    let make = |est: [f64; 2], var: [f64; 2], j: usize, q: f64, df: f64, n: [usize; 2]| {
        let change = est[1] - est[0];
        let se = joint.get(j, j).sqrt();
        Change {
            estimates: est,
            ses: var.map(f64::sqrt),
            change,
            se,
            se_independent: (var[0] + var[1]).sqrt(),
            ci: (change - q * se, change + q * se),
            df,
            n,
        }
    };
    let (ce, cn) = (cell_lin.estimates(), cell_lin.n());
    let groups = (0..k)
        .map(|g| make([ce[g], ce[k + g]], [v_cell[g], v_cell[k + g]], g, z, f64::INFINITY, [cn[g], cn[k + g]]))
        .collect();
    let (we, wn) = (wave_lin.estimates(), wave_lin.n());
    let overall = make([we[0], we[1]], [v_wave[0], v_wave[1]], k, z, f64::INFINITY, [wn[0], wn[1]]);
    let sii_df = joint.df[k + 1] - 3.0;
    let q = if sii_df >= 1.0 {
        t_quantile(1.0 - (1.0 - level) / 2.0, sii_df)
    } else {
        f64::NAN
    };
    let sii_change = make(
        [sii[0].slope, sii[1].slope],
        [sii_var_sep[0], sii_var_sep[1]],
        k + 1,
        q,
        sii_df,
        [sii[0].n, sii[1].n],
    );
    let [s0, s1] = sii;
    Ok(WaveChange {
        groups,
        overall,
        sii: sii_change,
        ridits: [s0.ridits, s1.ridits],
    })
}

/// One wave's weighted least squares fit of y on the ridit of its group.
struct SlopeFit {
    slope: f64,
    /// Influence of the slope per row (NaN outside the wave's rows used).
    influence: Vec<f64>,
    ridits: Vec<f64>,
    n: usize,
}

/// The SII of wave `w`: ridits from the weighted shares of the rows used (outcome answered,
/// group known), then the slope of `svyglm(y ~ ridit)` with its influence values
/// `[(X'WX)^-1 x_i]_slope w_i (y_i - x_i'b)`.
fn slope_on_ridit(design: &Design, input: ChangeInput<'_>, w: u32) -> SlopeFit {
    let n = design.n_rows();
    let k = input.groups.n_groups();
    let wt = design.weights();
    let g = input.groups.codes();
    let used: Vec<bool> = (0..n).map(|i| input.wave[i] == w && g[i] != Grouping::NONE && !input.y[i].is_nan()).collect();
    let mut share = vec![0.0; k];
    for i in (0..n).filter(|&i| used[i]) {
        share[g[i] as usize] += wt[i];
    }
    let total: f64 = share.iter().sum();
    let mut cum = 0.0;
    let ridits: Vec<f64> = share
        .iter()
        .map(|s| {
            let r = if *s > 0.0 { (cum + s / 2.0) / total } else { f64::NAN };
            cum += s;
            r
        })
        .collect();
    let (mut s0, mut s1, mut s2, mut t0, mut t1) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in (0..n).filter(|&i| used[i]) {
        let x = ridits[g[i] as usize];
        s0 += wt[i];
        s1 += wt[i] * x;
        s2 += wt[i] * x * x;
        t0 += wt[i] * input.y[i];
        t1 += wt[i] * x * input.y[i];
    }
    let det = s0 * s2 - s1 * s1;
    let (b0, b1) = ((s2 * t0 - s1 * t1) / det, (s0 * t1 - s1 * t0) / det);
    let influence = (0..n)
        .map(|i| {
            if !used[i] {
                return f64::NAN;
            }
            let x = ridits[g[i] as usize];
            let e = input.y[i] - b0 - b1 * x;
            // second row of (X'WX)^-1 times (1, x)
            (-s1 + s0 * x) / det * wt[i] * e
        })
        .collect();
    SlopeFit {
        slope: b1,
        influence,
        ridits,
        n: used.iter().filter(|u| **u).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::{DesignSpec, Stage};
    use crate::analysis::inequality::fixture::{Fixture, Json};

    fn close(got: f64, want: f64, what: &str) {
        assert!((got - want).abs() <= 1e-6 * want.abs(), "{what}: got {got}, R {want}");
    }

    /// The waves as separate samples: strata and PSUs are (wave, value) pairs.
    fn separate(f: &Fixture, rows: &[usize]) -> Design {
        let col = |n: &str| rows.iter().map(|&i| f.num(n)[i]).collect::<Vec<f64>>();
        let wave = col("wave");
        Design::new(DesignSpec {
            n_rows: rows.len(),
            weights: Some(col("w")),
            strata: Some(col("stratum").iter().zip(&wave).map(|(s, w)| (*w as u32 - 1) * 4 + *s as u32 - 1).collect()),
            stages: vec![Stage {
                clusters: col("psu").iter().zip(&wave).map(|(p, w)| (*w as u32) * 1000 + *p as u32).collect(),
                fpc: None,
            }],
            ..Default::default()
        })
        .unwrap()
    }

    fn run(f: &Fixture, outcome: &str, person_clusters: bool) -> WaveChange {
        let rows = f.all_rows();
        let combined = f.design(&rows, person_clusters);
        let y: Vec<f64> = rows.iter().map(|&i| f.num(outcome)[i]).collect();
        let wave: Vec<u32> = rows.iter().map(|&i| f.num("wave")[i] as u32 - 1).collect();
        let groups = Grouping::new(rows.iter().map(|&i| f.num("quint")[i] as u32 - 1).collect(), 5).unwrap();
        wave_change(
            &combined,
            &separate(f, &rows),
            ChangeInput {
                y: &y,
                wave: &wave,
                groups: &groups,
            },
            0.95,
        )
        .unwrap()
    }

    fn check(got: &WaveChange, case: &Json) {
        let id = case["id"].as_str().unwrap();
        let groups = case["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 5);
        for (g, want) in groups.iter().enumerate() {
            let c = &got.groups[g];
            close(c.estimates[0], want["estimate1"].as_f64().unwrap(), &format!("{id} {g} estimate1"));
            close(c.estimates[1], want["estimate2"].as_f64().unwrap(), &format!("{id} {g} estimate2"));
            close(c.change, want["change"].as_f64().unwrap(), &format!("{id} {g} change"));
            close(c.se, want["se"].as_f64().unwrap(), &format!("{id} {g} se"));
            close(c.se_independent, want["se_independent"].as_f64().unwrap(), &format!("{id} {g} se_independent"));
        }
        close(got.overall.change, case["overall"]["change"].as_f64().unwrap(), &format!("{id} overall change"));
        close(got.overall.se, case["overall"]["se"].as_f64().unwrap(), &format!("{id} overall se"));
    }

    #[test]
    fn group_changes_as_r_over_the_combined_design() {
        let f = Fixture::load();
        check(&run(&f, "y", false), &f.json["change"][0]);
        // persons as the clusters: the same person in both waves links them
        check(&run(&f, "y", true), &f.json["change"][1]);
        // a yes/no outcome
        check(&run(&f, "b", false), &f.json["change"][2]);
    }

    #[test]
    fn the_sii_change_as_r_svyglm_ridit_by_wave() {
        let f = Fixture::load();
        let got = run(&f, "y", false);
        let r = &f.json["sii_change"];
        for (w, key) in ["wave1", "wave2"].iter().enumerate() {
            let want: Vec<f64> = r["ridits"][key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            for (a, b) in got.ridits[w].iter().zip(&want) {
                close(*a, *b, &format!("ridit {key}"));
            }
        }
        let s = &got.sii;
        close(s.estimates[0], r["sii1"].as_f64().unwrap(), "sii1");
        close(s.estimates[1], r["sii2"].as_f64().unwrap(), "sii2");
        close(s.change, r["change"].as_f64().unwrap(), "change");
        close(s.se, r["se"].as_f64().unwrap(), "se");
        assert_eq!(s.df, r["df"].as_f64().unwrap());
        close(s.ci.0, r["ci_low"].as_f64().unwrap(), "ci_low");
        close(s.ci.1, r["ci_high"].as_f64().unwrap(), "ci_high");
        close(s.ses[0], r["se1_alone"].as_f64().unwrap(), "se1 alone");
        close(s.ses[1], r["se2_alone"].as_f64().unwrap(), "se2 alone");
        close(s.se_independent, r["se_independent"].as_f64().unwrap(), "se independent");
        // the waves share PSUs: the combined SE is below the independent one here
        assert!(s.se < s.se_independent);
    }

    #[test]
    fn a_wave_code_above_one_is_refused() {
        let f = Fixture::load();
        let rows = f.all_rows();
        let d = f.design(&rows, false);
        let y = vec![1.0; rows.len()];
        let wave = vec![2u32; rows.len()];
        let g = Grouping::overall(rows.len());
        assert!(wave_change(
            &d,
            &d,
            ChangeInput {
                y: &y,
                wave: &wave,
                groups: &g
            },
            0.95
        )
        .is_err());
    }
}
