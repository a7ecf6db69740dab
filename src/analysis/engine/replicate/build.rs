//! Replicate weight factors built from a stored design, as R's `as.svrepdesign`
//! (survey 4.1: `jk1weights`, `jknweights`, `brrweights`, `bootweights`): one factor
//! per (first-stage PSU, replicate), the replicate weight of a row being its design
//! weight times the factor of its PSU. Also the Sylvester Hadamard matrices BRR uses and
//! the seeded generator of the bootstrap. Must not estimate anything: see the parent
//! module for variances.

use super::super::design::{Design, LonelyPsu};
use super::super::DesignError;
use super::ReplicateMethod;

/// Factors (PSU-major, `n_psus x n_reps`), the replicate count, scale and per-replicate
/// rscales of a replicate design, and whether an fpc was dropped on the way.
pub(super) struct Built {
    pub factors: Vec<f64>,
    pub n_reps: usize,
    pub scale: f64,
    pub rscales: Vec<f64>,
    pub fpc_dropped: bool,
}

/// The PSUs of each stratum (design PSU indices, in increasing order: the order of their
/// codes), and the finite population factor `1 - n_h/N_h` of each stratum (1 without fpc).
pub(super) fn strata_psus(design: &Design) -> (Vec<Vec<u32>>, Vec<f64>) {
    let st = &design.stages[0];
    let mut psus: Vec<Vec<u32>> = vec![Vec::new(); st.n_sampled.len()];
    for (u, &h) in st.parent_of_unit.iter().enumerate() {
        psus[h as usize].push(u as u32);
    }
    let f = st
        .n_sampled
        .iter()
        .zip(&st.population)
        .map(|(&n, &pop)| if pop.is_finite() { (pop - n as f64) / pop } else { 1.0 })
        .collect();
    (psus, f)
}

/// Most (PSU, replicate) factors a replicate design may hold (512 MB of factors).
pub const MAX_FACTORS: usize = 1 << 26;

/// Refuses a factor matrix too large to hold (a jackknife of a design whose every row is its
/// own PSU has as many replicates as rows).
fn check_size(psus: usize, replicates: usize) -> Result<(), DesignError> {
    if psus.saturating_mul(replicates) > MAX_FACTORS {
        return Err(DesignError::TooManyReplicates { psus, replicates });
    }
    Ok(())
}

/// Builds the factors of `method` for `design`.
pub(super) fn build(design: &Design, method: ReplicateMethod) -> Result<Built, DesignError> {
    let (psus, f) = strata_psus(design);
    let present: Vec<usize> = (0..psus.len()).filter(|&h| !psus[h].is_empty()).collect();
    let n_psus = design.n_psus();
    let has_fpc = f.iter().any(|&x| x < 1.0);
    match method {
        ReplicateMethod::Jk1 => {
            if present.len() > 1 {
                return Err(DesignError::Jk1Stratified { strata: present.len() });
            }
            jk1(n_psus, f[present[0]])
        }
        ReplicateMethod::Jkn => jkn(design, &psus, &f),
        ReplicateMethod::Brr => brr(design, &psus, &present, 0.0, has_fpc),
        ReplicateMethod::Fay { rho } => {
            if !(rho > 0.0 && rho < 1.0) {
                return Err(DesignError::InvalidArgument(format!("Fay's rho {rho} is not between 0 and 1")));
            }
            brr(design, &psus, &present, rho, has_fpc)
        }
        ReplicateMethod::Bootstrap { replicates, seed } => bootstrap(design, &psus, &present, replicates, seed),
    }
}

/// JK1 (`jk1weights`): replicate r drops PSU r and multiplies the others by n/(n-1);
/// scale `f (n-1)/n` keeps the fpc. A census (f = 0) has no replicates.
fn jk1(n: usize, f: f64) -> Result<Built, DesignError> {
    if n < 2 {
        return Err(DesignError::TooFewPsus { method: "JK1", psus: n });
    }
    if f == 0.0 {
        return Ok(Built {
            factors: Vec::new(),
            n_reps: 0,
            scale: 0.0,
            rscales: Vec::new(),
            fpc_dropped: false,
        });
    }
    check_size(n, n)?;
    let up = n as f64 / (n as f64 - 1.0);
    let mut factors = vec![up; n * n];
    for p in 0..n {
        factors[p * n + p] = 0.0;
    }
    Ok(Built {
        factors,
        n_reps: n,
        scale: f * (n as f64 - 1.0) / n as f64,
        rscales: vec![1.0; n],
        fpc_dropped: false,
    })
}

/// JKn (`jknweights`): one replicate per PSU, dropping it and multiplying the other PSUs
/// of its stratum by n_h/(n_h-1); rscale `f_h (n_h-1)/n_h`. A stratum sampled in full
/// (f = 0) has no replicates; a stratum with one PSU follows the lonely-PSU rule as R.
fn jkn(design: &Design, psus: &[Vec<u32>], f: &[f64]) -> Result<Built, DesignError> {
    let n_psus = design.n_psus();
    let n_present = psus.iter().filter(|p| !p.is_empty()).count();
    // columns: (stratum, dropped PSU or None for an `adjust` column)
    let mut cols: Vec<(usize, Option<u32>)> = Vec::new();
    let mut rscales = Vec::new();
    for (h, members) in psus.iter().enumerate() {
        let n = members.len();
        if n == 0 || f[h] == 0.0 {
            continue;
        }
        if n == 1 {
            match design.lonely {
                LonelyPsu::Fail => {
                    return Err(DesignError::LonelyPsu {
                        stage: 1,
                        stratum: design.stratum_label(h as u32),
                        psu: design.unit_label(0, members[0]),
                    })
                }
                LonelyPsu::Remove | LonelyPsu::Certainty | LonelyPsu::Average => continue,
                LonelyPsu::Adjust => {
                    if n_present < 2 {
                        return Err(DesignError::TooFewPsus { method: "JKn", psus: n_psus });
                    }
                    cols.push((h, None));
                    rscales.push((n_present as f64 - 1.0) / n_present as f64);
                    continue;
                }
            }
        }
        for &p in members {
            cols.push((h, Some(p)));
            rscales.push(f[h] * (n as f64 - 1.0) / n as f64);
        }
    }
    if cols.is_empty() {
        return Err(DesignError::InvalidArgument(
            "no stratum gives jackknife replicates: every stratum is sampled in full or has a single PSU".into(),
        ));
    }
    let r = cols.len();
    check_size(n_psus, r)?;
    let stratum_of = &design.stages[0].parent_of_unit;
    let mut factors = vec![1.0; n_psus * r];
    for (c, &(h, dropped)) in cols.iter().enumerate() {
        let n = psus[h].len() as f64;
        for p in 0..n_psus {
            let same = stratum_of[p] as usize == h;
            factors[p * r + c] = match dropped {
                Some(d) if same => {
                    if d as usize == p {
                        0.0
                    } else {
                        n / (n - 1.0)
                    }
                }
                Some(_) => 1.0,
                None if same => 0.0,
                None => n_present as f64 / (n_present as f64 - 1.0),
            };
        }
    }
    let mut scale = 1.0;
    if r < n_psus && design.lonely == LonelyPsu::Average {
        scale = n_psus as f64 / r as f64;
    }
    Ok(Built {
        factors,
        n_reps: r,
        scale,
        rscales,
        fpc_dropped: false,
    })
}

/// The Sylvester Hadamard matrix entry (i, j) in R's 0/1 coding (1 = +1): 1 when the
/// bits i and j share are even in number.
fn sylvester(i: usize, j: usize) -> bool {
    (i & j).count_ones() % 2 == 0
}

/// The order of the Sylvester Hadamard matrix for `strata` pairs: the smallest power of
/// two, at least 4, above the number of strata. R's `hadamard()` returns this very matrix
/// for 1-7, 12-15 and 28-31 strata; for other counts it picks a smaller order from its
/// library (Paley constructions), whose half-samples differ (the README says how to
/// compare).
pub fn hadamard_order(strata: usize) -> usize {
    (strata + 1).next_power_of_two().max(4)
}

/// BRR and Fay (`brrweights` with a Sylvester matrix): exactly two PSUs per stratum; in
/// replicate r, the first PSU of stratum s (the lower code) has factor 2 - rho when row
/// s + 1 of the matrix has +1 in column r and rho otherwise, the second PSU the other.
/// Scale `1 / (R (1 - rho)^2)`; an fpc is dropped (as R, with a warning).
fn brr(design: &Design, psus: &[Vec<u32>], present: &[usize], rho: f64, has_fpc: bool) -> Result<Built, DesignError> {
    if let Some(&h) = present.iter().find(|&&h| psus[h].len() != 2) {
        return Err(DesignError::BrrPairs {
            stratum: design.stratum_label(h as u32),
            psus: psus[h].len(),
        });
    }
    let r = hadamard_order(present.len());
    let n_psus = design.n_psus();
    check_size(n_psus, r)?;
    let mut factors = vec![1.0; n_psus * r];
    for (s, &h) in present.iter().enumerate() {
        let (first, second) = (psus[h][0] as usize, psus[h][1] as usize);
        for c in 0..r {
            let plus = sylvester(s + 1, c);
            let (a, b) = if plus { (2.0 - rho, rho) } else { (rho, 2.0 - rho) };
            factors[first * r + c] = a;
            factors[second * r + c] = b;
        }
    }
    Ok(Built {
        factors,
        n_reps: r,
        scale: 1.0 / (r as f64 * (1.0 - rho) * (1.0 - rho)),
        rscales: vec![1.0; r],
        fpc_dropped: has_fpc,
    })
}

/// A small seeded generator (xoshiro256++ seeded by SplitMix64): the same seed gives the
/// same replicates on every platform.
pub(super) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// A uniform integer in 0..n (n > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// The Canty-Davison bootstrap (`bootweights`): in each stratum and replicate, n_h PSUs
/// drawn with replacement (without fpc), or n_h drawn without replacement from N_h copies
/// of the stratum's PSUs cycled (with fpc); a PSU's factor is the number of times it was
/// drawn. Scale `m / ((m - 1)(R - 1))`, m the harmonic mean of PSUs per stratum.
fn bootstrap(design: &Design, psus: &[Vec<u32>], present: &[usize], replicates: usize, seed: u64) -> Result<Built, DesignError> {
    if replicates < 2 {
        return Err(DesignError::InvalidArgument(format!(
            "{replicates} bootstrap replicates: at least 2 are needed"
        )));
    }
    let st = &design.stages[0];
    let n_psus = design.n_psus();
    let m = present.len() as f64 / present.iter().map(|&h| 1.0 / psus[h].len() as f64).sum::<f64>();
    if m <= 1.0 {
        return Err(DesignError::TooFewPsus {
            method: "the bootstrap",
            psus: n_psus,
        });
    }
    let r = replicates;
    check_size(n_psus, r)?;
    let mut rng = Rng::new(seed);
    let mut factors = vec![0.0; n_psus * r];
    let mut drawn: Vec<u64> = Vec::new();
    for &h in present {
        // the stratum's PSUs in a random order, once (R's `sample(unique(psu))`)
        let mut members = psus[h].clone();
        for k in (1..members.len()).rev() {
            let j = rng.below(k as u64 + 1) as usize;
            members.swap(k, j);
        }
        let n = members.len();
        let pop = st.population[h];
        for c in 0..r {
            if pop.is_finite() {
                // those PSUs repeated to N_h, n_h of the N_h drawn without replacement (Floyd's
                // algorithm: the pseudo-population is never built)
                let big = pop.round() as u64;
                drawn.clear();
                for j in big - n as u64..big {
                    let t = rng.below(j + 1);
                    drawn.push(if drawn.contains(&t) { j } else { t });
                }
                for &i in &drawn {
                    factors[members[(i % n as u64) as usize] as usize * r + c] += 1.0;
                }
            } else {
                for _ in 0..n {
                    let p = members[rng.below(n as u64) as usize];
                    factors[p as usize * r + c] += 1.0;
                }
            }
        }
    }
    Ok(Built {
        factors,
        n_reps: r,
        scale: m / ((m - 1.0) * (r as f64 - 1.0)),
        rscales: vec![1.0; r],
        fpc_dropped: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sylvester_matches_r_hadamard_of_order_4() {
        // R: hadamard(3) = rbind(c(1,1,1,1), c(1,0,1,0), c(1,1,0,0), c(1,0,0,1))
        let r = [[1, 1, 1, 1], [1, 0, 1, 0], [1, 1, 0, 0], [1, 0, 0, 1]];
        for (i, row) in r.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                assert_eq!(sylvester(i, j), v == 1, "({i}, {j})");
            }
        }
        assert_eq!((hadamard_order(1), hadamard_order(3), hadamard_order(4), hadamard_order(15)), (4, 4, 8, 16));
        // columns are orthogonal in +-1 coding
        let n = 16;
        for a in 0..n {
            for b in 0..n {
                let dot: i32 = (0..n).map(|i| if sylvester(i, a) == sylvester(i, b) { 1 } else { -1 }).sum();
                assert_eq!(dot, if a == b { n as i32 } else { 0 });
            }
        }
    }

    #[test]
    fn the_generator_is_seeded_and_uniform() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        let mut c = Rng::new(8);
        assert_ne!(xs, (0..100).map(|_| c.below(10)).collect::<Vec<_>>());
        let mut counts = [0u32; 10];
        let mut d = Rng::new(1);
        for _ in 0..100_000 {
            counts[d.below(10) as usize] += 1;
        }
        assert!(counts.iter().all(|&k| (9_000..11_000).contains(&k)), "{counts:?}");
    }
}
