//! Trimming weights: bounds on the weights, or an upper bound of the median plus k times the
//! interquartile range, with what is cut off shared equally among the weights not trimmed,
//! repeated until every weight is within the bounds (R `survey` 4.1's
//! `trimWeights(strict = TRUE)`; the total of the weights is kept).
//!
//! Owns only the arithmetic on a vector of weights. Must not know margins or the store.

use super::WeightError;

/// How to trim.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trim {
    /// Weights below `lower` are raised to it and those above `upper` cut to it.
    Bounds {
        /// Lower bound.
        lower: f64,
        /// Upper bound.
        upper: f64,
    },
    /// Weights above median + k x IQR (quantiles of type 7, as R's `quantile`) are cut to it.
    Iqr {
        /// The multiple of the interquartile range.
        k: f64,
    },
}

/// Most rounds of trimming before giving up.
const MAX_ROUNDS: usize = 1000;

/// The type-7 quantile of sorted values.
fn quantile7(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The bounds a trim rule sets for these weights.
pub fn bounds_of(rule: Trim, weights: &[f64]) -> (f64, f64) {
    match rule {
        Trim::Bounds { lower, upper } => (lower, upper),
        Trim::Iqr { k } => {
            let mut s = weights.to_vec();
            s.sort_unstable_by(f64::total_cmp);
            let med = quantile7(&s, 0.5);
            let iqr = quantile7(&s, 0.75) - quantile7(&s, 0.25);
            (f64::NEG_INFINITY, med + k * iqr)
        }
    }
}

/// Trims `weights` in place to `(lower, upper)`; returns how many weights were trimmed and
/// the rounds taken. Bounds that the weights' total cannot meet are an error.
pub fn trim(weights: &mut [f64], (lower, upper): (f64, f64)) -> Result<(usize, usize), WeightError> {
    let n = weights.len() as f64;
    let total: f64 = weights.iter().sum();
    if lower > upper || lower.is_nan() || upper.is_nan() {
        return Err(WeightError::BoundsUnmet {
            lower,
            upper,
            why: "the lower bound is above the upper".into(),
        });
    }
    if upper * n < total || lower * n > total {
        return Err(WeightError::BoundsUnmet {
            lower,
            upper,
            why: format!("{n} weights that add up to {total} average {}", total / n),
        });
    }
    let mut trimmed = vec![false; weights.len()];
    for round in 0..MAX_ROUNDS {
        let outside: Vec<bool> = weights.iter().map(|&w| w < lower || w > upper).collect();
        let n_in = outside.iter().filter(|&&o| !o).count();
        if n_in == weights.len() {
            return Ok((trimmed.iter().filter(|&&t| t).count(), round));
        }
        if n_in == 0 {
            break;
        }
        let mut cut = 0.0;
        for (i, w) in weights.iter_mut().enumerate() {
            if outside[i] {
                let c = w.clamp(lower, upper);
                cut += *w - c;
                *w = c;
                trimmed[i] = true;
            }
        }
        let share = cut / n_in as f64;
        for (w, &o) in weights.iter_mut().zip(&outside) {
            if !o {
                *w += share;
            }
        }
    }
    Err(WeightError::BoundsUnmet {
        lower,
        upper,
        why: format!("trimming did not settle in {MAX_ROUNDS} rounds"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_shares_the_excess_and_keeps_the_total() {
        let mut w = vec![1.0, 2.0, 3.0, 10.0];
        let (n, _) = trim(&mut w, (0.0, 5.0)).unwrap();
        assert_eq!(n, 1);
        assert!((w.iter().sum::<f64>() - 16.0).abs() < 1e-12);
        assert!(w.iter().all(|&x| x <= 5.0 + 1e-12), "{w:?}");
        assert_eq!(w[3], 5.0);
        assert!((w[0] - 1.0 - 5.0 / 3.0).abs() < 1e-12);
        let e = trim(&mut [1.0, 9.0], (0.0, 4.0)).unwrap_err();
        assert!(e.to_string().contains("2 weights that add up to 10 average 5"), "{e}");
    }

    #[test]
    fn the_iqr_rule_caps_at_median_plus_k_iqr() {
        let w = [1.0, 2.0, 3.0, 4.0, 100.0];
        // type 7: median 3, quartiles 2 and 4
        assert_eq!(bounds_of(Trim::Iqr { k: 1.5 }, &w), (f64::NEG_INFINITY, 6.0));
    }
}
