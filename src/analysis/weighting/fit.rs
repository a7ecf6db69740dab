//! Fitting weights to population totals on the joint cells: post-stratification, raking
//! (iterative proportional fitting) and calibration (linear, raking or logit distance, with
//! bounds), each giving a factor per cell by which the start weights are multiplied.
//!
//! The rules are R `survey`'s: `postStratify` (weight times population count over weighted
//! sample count), `rake` (post-stratify on each margin in turn; stop when no joint cell's
//! weight total changed by `epsilon` or more in a sweep, `epsilon` below 1 being taken as a
//! share of the start weights' sum), and `calibrate` through `grake` (Newton steps on the
//! Lagrange multipliers with step halving; converged when every total's misfit over 1 + the
//! total is below `epsilon`; start weights rescaled first when every population total is more
//! than 20 times the sample's). Must not read records or the store: cells come from
//! `margins`.

use super::margins::Cells;
use super::WeightError;

/// The distance of a calibration (R's `calfun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalFun {
    /// Linear (GREG); with bounds, truncated.
    Linear,
    /// Raking ratio (exponential).
    Raking,
    /// Logit: weight ratios kept strictly inside the bounds (which it needs).
    Logit,
}

impl CalFun {
    /// The name R's `calibrate(calfun=)` uses.
    pub fn name(self) -> &'static str {
        match self {
            CalFun::Linear => "linear",
            CalFun::Raking => "raking",
            CalFun::Logit => "logit",
        }
    }

    /// F(u) - 1 and dF(u) of `grake` for bounds (lower, upper) on the weight ratio.
    fn eval(self, u: f64, (lo, hi): (f64, f64)) -> (f64, f64) {
        match self {
            CalFun::Linear => ((u + 1.0).clamp(lo, hi) - 1.0, if u < hi - 1.0 && u > lo - 1.0 { 1.0 } else { 0.0 }),
            CalFun::Raking => {
                let e = u.exp();
                (e.max(lo).min(hi) - 1.0, if u < hi - 1.0 && u > lo - 1.0 { e } else { 0.0 })
            }
            CalFun::Logit => {
                let a = (hi - lo) / ((hi - 1.0) * (1.0 - lo));
                let e = (a * u).exp();
                let den = hi - 1.0 + (1.0 - lo) * e;
                let f = (lo * (hi - 1.0) + hi * (1.0 - lo) * e) / den - 1.0;
                let d = hi * (1.0 - lo) * e * a / den - (lo * (hi - 1.0) + hi * (1.0 - lo) * e) * ((1.0 - lo) * e * a) / (den * den);
                (f, d)
            }
        }
    }
}

/// Factors per cell and how the fit went.
#[derive(Debug, Clone)]
pub struct Fit {
    /// Factor of each cell (new weight = start weight x factor).
    pub g: Vec<f64>,
    /// Iterations (sweeps of raking, Newton steps of calibration; 1 for post-stratification).
    pub iterations: usize,
    /// The largest change (raking) or relative misfit (calibration) of the last iteration.
    pub last_change: f64,
}

/// The sum of `values` of the cells at each level of one margin.
fn level_sums(levels: &[u32], values: &[f64], k: usize) -> Vec<f64> {
    let mut s = vec![0.0; k];
    for (&l, &v) in levels.iter().zip(values) {
        s[l as usize] += v;
    }
    s
}

/// Post-stratification on one margin: each cell's factor is its level's population count
/// over its weighted sample count.
pub fn poststratify(cells: &Cells, totals: &[f64]) -> Fit {
    let sums = level_sums(&cells.levels[0], &cells.weight, totals.len());
    let g = cells.levels[0].iter().map(|&l| totals[l as usize] / sums[l as usize]).collect();
    Fit {
        g,
        iterations: 1,
        last_change: 0.0,
    }
}

/// Raking by iterative proportional fitting over `totals` (one per margin), as `rake()`.
pub fn rake(cells: &Cells, totals: &[Vec<f64>], max_iter: usize, epsilon: f64) -> Result<Fit, WeightError> {
    let start_sum: f64 = cells.weight.iter().sum();
    let tolerance = if epsilon < 1.0 { epsilon * start_sum } else { epsilon };
    let mut cw = cells.weight.clone();
    let mut old = cw.clone();
    let mut delta = f64::INFINITY;
    for iter in 0..max_iter {
        for (m, t) in totals.iter().enumerate() {
            let sums = level_sums(&cells.levels[m], &cw, t.len());
            let ratio: Vec<f64> = t.iter().zip(&sums).map(|(p, s)| p / s).collect();
            for (w, &l) in cw.iter_mut().zip(&cells.levels[m]) {
                *w *= ratio[l as usize];
            }
        }
        delta = cw.iter().zip(&old).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        if delta < tolerance {
            let g = cw.iter().zip(&cells.weight).map(|(a, b)| a / b).collect();
            return Ok(Fit {
                g,
                iterations: iter + 1,
                last_change: delta,
            });
        }
        old.copy_from_slice(&cw);
    }
    Err(WeightError::NoConvergence {
        method: "raking",
        iterations: max_iter,
        measure: "change in a cell's weighted count",
        largest: delta,
        tolerance,
    })
}

/// Checks bounds on the weight ratio against each margin: a level whose population count
/// over its weighted sample count is outside the bounds cannot be met by any weights.
pub fn check_bounds(cells: &Cells, totals: &[Vec<f64>], files: &[String], bounds: (f64, f64), scale: f64) -> Result<(), WeightError> {
    let (lo, hi) = bounds;
    for (m, t) in totals.iter().enumerate() {
        let sums = level_sums(&cells.levels[m], &cells.weight, t.len());
        for (l, (&p, &s)) in t.iter().zip(&sums).enumerate() {
            let need = p / (s * scale);
            if need < lo || need > hi {
                return Err(WeightError::BoundsUnmet {
                    lower: lo,
                    upper: hi,
                    why: format!(
                        "level {} of {} needs an average weight ratio of {need} (population {p}, weighted sample {})",
                        l + 1,
                        files.get(m).map(String::as_str).unwrap_or("a margin"),
                        s * scale
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Calibration to the margins' totals with distance `calfun` and bounds on the weight ratio,
/// by Newton steps as R's `grake` (see the module docs).
pub fn calibrate(cells: &Cells, totals: &[Vec<f64>], calfun: CalFun, bounds: (f64, f64), max_iter: usize, epsilon: f64) -> Result<Fit, WeightError> {
    let offsets: Vec<usize> = totals
        .iter()
        .scan(0, |o, t| {
            let here = *o;
            *o += t.len();
            Some(here)
        })
        .collect();
    let p: usize = totals.iter().map(Vec::len).sum();
    let pop: Vec<f64> = totals.iter().flatten().copied().collect();
    let nc = cells.len();
    let col = |m: usize, c: usize| offsets[m] + cells.levels[m][c] as usize;
    let mut ww = cells.weight.clone();
    let mut sample_total = vec![0.0; p];
    for c in 0..nc {
        for m in 0..totals.len() {
            sample_total[col(m, c)] += ww[c];
        }
    }
    // grake's pre-scaling of weights far below the population's
    let min_scale = pop.iter().zip(&sample_total).map(|(a, b)| a / b).fold(f64::INFINITY, f64::min);
    let scale = if min_scale > 20.0 {
        let s = pop.iter().zip(&sample_total).map(|(a, b)| a / b).sum::<f64>() / p as f64;
        ww.iter_mut().for_each(|w| *w *= s);
        sample_total.iter_mut().for_each(|t| *t *= s);
        Some(s)
    } else {
        None
    };
    let mut eta = vec![0.0; p];
    let eval = |eta: &[f64]| -> (Vec<f64>, Vec<f64>) {
        (0..nc)
            .map(|c| {
                let u: f64 = (0..totals.len()).map(|m| eta[col(m, c)]).sum();
                calfun.eval(u, bounds)
            })
            .unzip()
    };
    let misfit_of = |f: &[f64]| -> Vec<f64> {
        let mut fit = vec![0.0; p];
        for c in 0..nc {
            for m in 0..totals.len() {
                fit[col(m, c)] += ww[c] * f[c];
            }
        }
        (0..p).map(|j| pop[j] - sample_total[j] - fit[j]).collect()
    };
    let (mut f, mut d) = eval(&eta);
    let mut iter = 1;
    loop {
        let mut t = vec![0.0; p * p];
        for c in 0..nc {
            for a in 0..totals.len() {
                for b in 0..totals.len() {
                    t[col(a, c) * p + col(b, c)] += ww[c] * d[c];
                }
            }
        }
        let misfit = misfit_of(&f);
        let deta = crate::analysis::engine::solve_psd(&t, p, &misfit);
        let mut step = deta;
        eta.iter_mut().zip(&step).for_each(|(e, s)| *e += s);
        (f, d) = eval(&eta);
        while iter < max_iter && f.iter().chain(&d).any(|v| !v.is_finite()) {
            iter += 1;
            step.iter_mut().for_each(|s| *s /= 2.0);
            eta.iter_mut().zip(&step).for_each(|(e, s)| *e -= s);
            (f, d) = eval(&eta);
        }
        let misfit = misfit_of(&f);
        let achieved = misfit.iter().zip(&pop).map(|(m, p)| m.abs() / (1.0 + p.abs())).fold(0.0, f64::max);
        if achieved < epsilon {
            let g = f.iter().map(|v| (1.0 + v) * scale.unwrap_or(1.0)).collect();
            return Ok(Fit {
                g,
                iterations: iter,
                last_change: achieved,
            });
        }
        iter += 1;
        if iter > max_iter || !achieved.is_finite() {
            return Err(WeightError::NoConvergence {
                method: match calfun {
                    CalFun::Linear => "linear calibration",
                    CalFun::Raking => "raking calibration",
                    CalFun::Logit => "logit calibration",
                },
                iterations: iter - 1,
                measure: "misfit of a total relative to 1 + the total",
                largest: achieved,
                tolerance: epsilon,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two margins of two levels over four cells.
    fn cells() -> Cells {
        Cells {
            of_row: vec![0, 1, 2, 3],
            levels: vec![vec![0, 0, 1, 1], vec![0, 1, 0, 1]],
            weight: vec![10.0, 20.0, 30.0, 40.0],
        }
    }

    #[test]
    fn raking_and_raking_calibration_meet_the_same_margins() {
        let totals = vec![vec![40.0, 80.0], vec![50.0, 70.0]];
        let r = rake(&cells(), &totals, 1000, 1e-12).unwrap();
        let c = calibrate(&cells(), &totals, CalFun::Raking, (f64::NEG_INFINITY, f64::INFINITY), 50, 1e-12).unwrap();
        let w: Vec<f64> = cells().weight.iter().zip(&r.g).map(|(a, b)| a * b).collect();
        assert!((w[0] + w[1] - 40.0).abs() < 1e-9 && (w[0] + w[2] - 50.0).abs() < 1e-9);
        for (a, b) in r.g.iter().zip(&c.g) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    #[test]
    fn disagreeing_or_unreachable_totals_fail_with_the_numbers() {
        // (totals that disagree between margins are refused before: raking would "converge"
        // to the last margin's total, as R's rake does)
        let e = rake(&cells(), &[vec![40.0, 80.0], vec![50.0, 70.0]], 1, 1e-12).unwrap_err();
        assert!(matches!(e, WeightError::NoConvergence { iterations: 1, .. }), "{e}");
        let e = check_bounds(&cells(), &[vec![40.0, 80.0]], &["a.csv".into()], (0.9, 1.1), 1.0).unwrap_err();
        assert!(e.to_string().contains("level 1 of a.csv needs an average weight ratio of 1.333"), "{e}");
    }

    #[test]
    fn logit_keeps_ratios_inside_the_bounds() {
        let totals = vec![vec![35.0, 85.0], vec![45.0, 75.0]];
        let f = calibrate(&cells(), &totals, CalFun::Logit, (0.5, 1.6), 50, 1e-12).unwrap();
        assert!(f.g.iter().all(|&g| g > 0.5 && g < 1.6), "{:?}", f.g);
    }
}
