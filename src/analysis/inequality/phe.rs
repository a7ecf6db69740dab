//! The Fingertips aggregate method: PHEindicatormethods' `phe_sii` (v2.1.0, Low & Low 2004)
//! on group estimates, their populations and their standard errors or 95% limits, with the
//! confidence interval by seeded Monte Carlo simulation.
//!
//! Owns the method as the package documents and codes it, re-expressed here (not copied):
//! the quantiles ordered from most to least deprived, population shares `a_i`, ridits `b_i`
//! (midpoints of the cumulative shares), the least squares fit without intercept of
//! `y_i sqrt(a_i)` on `sqrt(a_i)` and `b_i sqrt(a_i)`, so SII = `multiplier * b1` and RII =
//! `(b0 + b1) / b0` (inverted for a negative multiplier); rates and proportions are simulated
//! on the log or logit scale and back-transformed before each fit (`transform = FALSE`, the
//! default); the limits are the simulated values at positions `round(reps * alpha / 2)` and
//! `round(reps * (1 - alpha / 2))` of the sorted draws. The draws come from a seeded
//! generator of hearth's own, so they are reproducible run to run but cannot equal R's. Must
//! not estimate from microdata (that is the design-based method) or format.

/// Errors of the aggregate method, in the words of the package's checks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PheError {
    /// Fewer than 5 or more than 100 quantiles.
    #[error("the PHE method needs between 5 and 100 quantiles ({0} given)")]
    Quantiles(usize),
    /// A population is not positive.
    #[error("quantile {quantile}: population {population} is not greater than 0")]
    Population {
        /// 1-based quantile.
        quantile: usize,
        /// The value.
        population: f64,
    },
    /// A value, standard error or limit is missing or invalid.
    #[error("quantile {quantile}: {problem}")]
    Value {
        /// 1-based quantile.
        quantile: usize,
        /// What is wrong.
        problem: String,
    },
    /// Repetitions below 1,000 or a confidence level outside [0.9, 1).
    #[error("{0}")]
    Option(String),
}

/// How the values are distributed (PHEindicatormethods' `value_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// 0: normal (means, life expectancy): simulated as they are.
    Normal,
    /// 1: rates, simulated on the log scale.
    Rate,
    /// 2: proportions, simulated on the logit scale.
    Proportion,
}

/// One quantile's input, on the natural scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PheGroup {
    /// The quantile's population (`N_i`, > 0).
    pub population: f64,
    /// Its value.
    pub value: f64,
    /// Its standard error (on the log / logit scale for rates / proportions), if known.
    pub se: Option<f64>,
    /// Its 95% limits (natural scale), used when `se` is None.
    pub ci: Option<(f64, f64)>,
}

/// Options of the method.
#[derive(Debug, Clone, PartialEq)]
pub struct PheOptions {
    /// The value type.
    pub value_type: ValueType,
    /// Scales the SII (and inverts the RII when negative), e.g. -1 to flip the polarity.
    pub multiplier: f64,
    /// Simulated draws (at least 1,000; the package's default is 100,000).
    pub repetitions: usize,
    /// Confidence level of the limits, in [0.9, 1).
    pub confidence: f64,
    /// Seed of the draws.
    pub seed: u64,
}

impl Default for PheOptions {
    fn default() -> Self {
        PheOptions {
            value_type: ValueType::Normal,
            multiplier: 1.0,
            repetitions: 100_000,
            confidence: 0.95,
            seed: 1,
        }
    }
}

/// The result.
#[derive(Debug, Clone, PartialEq)]
pub struct PheSii {
    /// Slope index of inequality (times the multiplier).
    pub sii: f64,
    /// Relative index of inequality.
    pub rii: f64,
    /// The fitted value at the most deprived end (b0).
    pub intercept: f64,
    /// Simulated limits of the SII.
    pub sii_ci: (f64, f64),
    /// Simulated limits of the RII.
    pub rii_ci: (f64, f64),
    /// Ridit of each quantile.
    pub ridits: Vec<f64>,
}

/// PHEindicatormethods' fixed z for turning 95% limits into a standard error.
const Z95: f64 = 1.959963984540054;

/// `phe_sii` on quantiles ordered from most (first) to least deprived.
pub fn phe_sii(groups: &[PheGroup], opts: &PheOptions) -> Result<PheSii, PheError> {
    check(groups, opts)?;
    let vt = opts.value_type;
    let fwd = |v: f64| match vt {
        ValueType::Normal => v,
        ValueType::Rate => v.ln(),
        ValueType::Proportion => (v / (1.0 - v)).ln(),
    };
    let back = |v: f64| match vt {
        ValueType::Normal => v,
        ValueType::Rate => v.exp(),
        ValueType::Proportion => v.exp() / (1.0 + v.exp()),
    };
    let total: f64 = groups.iter().map(|g| g.population).sum();
    let a: Vec<f64> = groups.iter().map(|g| g.population / total).collect();
    let mut cum = 0.0;
    let ridits: Vec<f64> = a
        .iter()
        .map(|ai| {
            let r = cum + ai / 2.0;
            cum += ai;
            r
        })
        .collect();
    let fit = Fit::new(&a, &ridits);
    let values: Vec<f64> = groups.iter().map(|g| back(fwd(g.value))).collect();
    let (b0, b1) = fit.solve(&values);
    let rii_of = |b0: f64, b1: f64| {
        let r = (b0 + b1) / b0;
        if opts.multiplier < 0.0 {
            1.0 / r
        } else {
            r
        }
    };
    let means: Vec<f64> = groups.iter().map(|g| fwd(g.value)).collect();
    let ses: Vec<f64> = groups
        .iter()
        .map(|g| match (g.se, g.ci) {
            (Some(se), _) => se,
            (None, Some((lo, hi))) => (fwd(hi) - fwd(lo)) / Z95 / 2.0,
            (None, None) => f64::NAN,
        })
        .collect();
    let mut rng = SplitMix(opts.seed);
    let mut sii_draws = Vec::with_capacity(opts.repetitions);
    let mut rii_draws = Vec::with_capacity(opts.repetitions);
    let mut y = vec![0.0; groups.len()];
    for _ in 0..opts.repetitions {
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = back(means[i] + ses[i] * rng.normal());
        }
        let (d0, d1) = fit.solve(&y);
        sii_draws.push(d1 * opts.multiplier);
        rii_draws.push(rii_of(d0, d1));
    }
    let limits = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let upper = opts.confidence + (1.0 - opts.confidence) / 2.0;
        // R: round(reps * (1 - upper)) and round(reps * upper), 1-based positions
        let pos = |p: f64| ((opts.repetitions as f64 * p).round() as usize).clamp(1, v.len()) - 1;
        (v[pos(1.0 - upper)], v[pos(upper)])
    };
    Ok(PheSii {
        sii: b1 * opts.multiplier,
        rii: rii_of(b0, b1),
        intercept: b0,
        sii_ci: limits(sii_draws),
        rii_ci: limits(rii_draws),
        ridits,
    })
}

fn check(groups: &[PheGroup], opts: &PheOptions) -> Result<(), PheError> {
    if !(5..=100).contains(&groups.len()) {
        return Err(PheError::Quantiles(groups.len()));
    }
    if opts.repetitions < 1000 {
        return Err(PheError::Option(format!(
            "the PHE method needs at least 1000 repetitions ({} given)",
            opts.repetitions
        )));
    }
    if !(opts.confidence >= 0.9 && opts.confidence < 1.0) {
        return Err(PheError::Option(format!(
            "the PHE method's confidence level must be in [0.9, 1) ({} given)",
            opts.confidence
        )));
    }
    for (i, g) in groups.iter().enumerate() {
        let q = i + 1;
        let bad = |problem: String| PheError::Value { quantile: q, problem };
        if !(g.population > 0.0 && g.population.is_finite()) {
            return Err(PheError::Population {
                quantile: q,
                population: g.population,
            });
        }
        if !g.value.is_finite() {
            return Err(bad("the value is missing".into()));
        }
        match (g.se, g.ci) {
            (Some(se), _) if !(se >= 0.0 && se.is_finite()) => return Err(bad(format!("standard error {se} is missing or negative"))),
            (None, None) => return Err(bad("neither a standard error nor confidence limits".into())),
            (None, Some((lo, hi))) if !(lo.is_finite() && hi.is_finite() && lo <= hi) => {
                return Err(bad(format!("confidence limits {lo}, {hi} are missing or reversed")))
            }
            _ => {}
        }
        let inside = |v: f64| match opts.value_type {
            ValueType::Normal => true,
            ValueType::Rate => v > 0.0,
            ValueType::Proportion => v > 0.0 && v < 1.0,
        };
        let limits_ok = g.se.is_some() || g.ci.is_none_or(|(lo, hi)| inside(lo) && inside(hi));
        if !inside(g.value) || !limits_ok {
            let what = if opts.value_type == ValueType::Rate {
                "a rate must be > 0"
            } else {
                "a proportion must be strictly between 0 and 1"
            };
            return Err(bad(format!("value {} or its limits out of range: {what}", g.value)));
        }
    }
    Ok(())
}

/// The least squares fit of `y sqrt(a)` on `sqrt(a)` and `b sqrt(a)` (no intercept): the
/// weighted regression of y on the ridit with weights a, solved once for its 2 x 2 inverse.
struct Fit {
    a: Vec<f64>,
    b: Vec<f64>,
    inv: [f64; 4],
}

impl Fit {
    fn new(a: &[f64], b: &[f64]) -> Fit {
        let s00: f64 = a.iter().sum();
        let s01: f64 = a.iter().zip(b).map(|(a, b)| a * b).sum();
        let s11: f64 = a.iter().zip(b).map(|(a, b)| a * b * b).sum();
        let det = s00 * s11 - s01 * s01;
        Fit {
            a: a.to_vec(),
            b: b.to_vec(),
            inv: [s11 / det, -s01 / det, -s01 / det, s00 / det],
        }
    }

    /// (b0, b1) for values y.
    fn solve(&self, y: &[f64]) -> (f64, f64) {
        let (mut t0, mut t1) = (0.0, 0.0);
        for ((a, b), y) in self.a.iter().zip(&self.b).zip(y) {
            t0 += a * y;
            t1 += a * b * y;
        }
        (self.inv[0] * t0 + self.inv[1] * t1, self.inv[2] * t0 + self.inv[3] * t1)
    }
}

/// A small seeded generator (SplitMix64) with Box-Muller normals.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
    fn unif(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unif(), self.unif());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The PHEindicatormethods test data (tests/testthat/testdata_SII.xlsx of v2.1.0, the
    /// cases used here exported to fixtures/phe/phe_sii_testdata.csv).
    fn cases() -> BTreeMap<(String, String), Vec<BTreeMap<String, String>>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/phe/phe_sii_testdata.csv");
        let mut rdr = csv::Reader::from_path(path).unwrap();
        let h: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        let mut out: BTreeMap<(String, String), Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for r in rdr.records() {
            let r = r.unwrap();
            let m: BTreeMap<String, String> = h.iter().cloned().zip(r.iter().map(String::from)).collect();
            out.entry((m["case"].clone(), m["area"].clone())).or_default().push(m);
        }
        out
    }

    fn num(m: &BTreeMap<String, String>, k: &str) -> f64 {
        m[k].parse().unwrap()
    }

    fn run(rows: &[BTreeMap<String, String>], by_se: bool, seed: u64, repetitions: usize) -> PheSii {
        let vt = match rows[0]["value_type"].as_str() {
            "0" => ValueType::Normal,
            "1" => ValueType::Rate,
            _ => ValueType::Proportion,
        };
        let groups: Vec<PheGroup> = rows
            .iter()
            .map(|r| PheGroup {
                population: num(r, "population"),
                value: num(r, "value"),
                se: by_se.then(|| num(r, "standard_error")),
                ci: (!r["lower_cl"].is_empty()).then(|| (num(r, "lower_cl"), num(r, "upper_cl"))),
            })
            .collect();
        let opts = PheOptions {
            value_type: vt,
            multiplier: num(&rows[0], "multiplier"),
            confidence: num(&rows[0], "confidence") / 100.0,
            seed,
            repetitions,
        };
        phe_sii(&groups, &opts).unwrap()
    }

    #[test]
    fn the_worked_example_reproduces_to_1e_8() {
        let c = cases();
        let r = run(&c[&("default".into(), "area1".into())], true, 1, 1000);
        assert!((r.sii - 6.93461647).abs() < 1e-8, "{}", r.sii);
        assert!((r.rii - 1.08881808).abs() < 1e-8, "{}", r.rii);
        assert!((r.intercept - 78.0766308).abs() < 1e-7, "{}", r.intercept);
        let r2 = run(&c[&("default".into(), "area2".into())], true, 1, 1000);
        assert!((r2.sii - 12.54785).abs() < 1e-5 && (r2.rii - 1.18089).abs() < 1e-5);
    }

    #[test]
    fn every_value_type_matches_the_package_to_1e_10() {
        let c = cases();
        assert_eq!(c.len(), 14);
        for ((case, area), rows) in &c {
            for by_se in [true, false] {
                if !by_se && rows.iter().any(|r| r["lower_cl"].is_empty()) {
                    continue;
                }
                let r = run(rows, by_se, 7, 1000);
                let (sii, rii) = (num(&rows[0], "sii"), num(&rows[0], "rii"));
                assert!((r.sii - sii).abs() <= 1e-10 * sii.abs(), "{case} {area}: sii {} vs {sii}", r.sii);
                assert!((r.rii - rii).abs() <= 1e-10 * rii.abs(), "{case} {area}: rii {} vs {rii}", r.rii);
            }
        }
    }

    /// The limits are simulated, so they cannot equal the package's own draws: as the
    /// package's tests do, they must be within a relative 5% of its published limits.
    #[test]
    fn the_simulated_limits_are_close_to_the_packages_and_reproducible() {
        let c = cases();
        for ((case, area), rows) in &c {
            if rows[0]["sii_lower"].is_empty() {
                continue;
            }
            // 10,000 draws, as the package's own tests use
            let r = run(rows, true, 42, 10_000);
            let near = |got: f64, k: &str| {
                let want = num(&rows[0], k);
                assert!((got - want).abs() <= 0.05 * want.abs(), "{case} {area} {k}: {got} vs {want}");
            };
            near(r.sii_ci.0, "sii_lower");
            near(r.sii_ci.1, "sii_upper");
            near(r.rii_ci.0, "rii_lower");
            near(r.rii_ci.1, "rii_upper");
            assert!(r.sii_ci.0 < r.sii && r.sii < r.sii_ci.1, "{case} {area}");
            // the same seed gives the same limits; another seed other limits
            assert_eq!(run(rows, true, 42, 10_000), r);
            assert_ne!(run(rows, true, 43, 10_000).sii_ci, r.sii_ci);
        }
    }

    #[test]
    fn bad_inputs_are_refused_in_the_packages_terms() {
        let g = |population: f64, value: f64| PheGroup {
            population,
            value,
            se: Some(1.0),
            ci: None,
        };
        let five = vec![g(10.0, 1.0); 5];
        assert!(phe_sii(&five[..4], &PheOptions::default())
            .unwrap_err()
            .to_string()
            .contains("between 5 and 100"));
        let mut bad = five.clone();
        bad[2].population = 0.0;
        assert_eq!(
            phe_sii(&bad, &PheOptions::default()).unwrap_err().to_string(),
            "quantile 3: population 0 is not greater than 0"
        );
        let o = PheOptions {
            repetitions: 10,
            ..PheOptions::default()
        };
        assert!(phe_sii(&five, &o).is_err());
        let o = PheOptions {
            value_type: ValueType::Proportion,
            ..PheOptions::default()
        };
        assert!(phe_sii(&five, &o).unwrap_err().to_string().contains("strictly between 0 and 1"));
        let mut none = five.clone();
        none[0].se = None;
        assert!(phe_sii(&none, &PheOptions::default()).unwrap_err().to_string().contains("neither"));
    }
}
