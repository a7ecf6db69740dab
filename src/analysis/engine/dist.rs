//! Quantile functions of the normal, Student t and beta distributions, accurate
//! enough to reproduce R's `qnorm`, `qt` and `qbeta` to about 1e-12.
//!
//! `statrs` supplies accurate distribution functions (`cdf`), but its inverses are
//! only approximate; each inverse here starts from the `statrs` value and is
//! polished with safeguarded Newton steps on the cdf. Invalid arguments give NaN,
//! never a panic.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::beta::{beta_reg, ln_beta};

/// Standard normal quantile, as R's `qnorm(p)`.
pub(crate) fn qnorm(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    match Normal::new(0.0, 1.0) {
        Ok(n) => n.inverse_cdf(p),
        Err(_) => f64::NAN,
    }
}

/// Student t quantile, as R's `qt(p, df)`; `df = inf` gives the normal quantile,
/// `df <= 0` gives NaN (R warns and returns NaN).
pub(crate) fn qt(p: f64, df: f64) -> f64 {
    if df.is_nan() || df <= 0.0 || p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if df.is_infinite() || df > 1e10 {
        return qnorm(p);
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let Ok(t) = StudentsT::new(0.0, 1.0, df) else {
        return f64::NAN;
    };
    let mut x = t.inverse_cdf(p);
    if !x.is_finite() {
        x = qnorm(p);
    }
    // Newton polishing on the accurate cdf.
    for _ in 0..8 {
        let f = t.cdf(x) - p;
        let d = statrs::distribution::Continuous::pdf(&t, x);
        if d <= 0.0 || !d.is_finite() {
            break;
        }
        let step = f / d;
        x -= step;
        if step.abs() <= 1e-15 * x.abs().max(1e-300) {
            break;
        }
    }
    x
}

/// Beta quantile, as R's `qbeta(p, a, b)`, including R's limits `a = 0` (point
/// mass at 0) and `b = 0` (point mass at 1).
pub(super) fn qbeta(p: f64, a: f64, b: f64) -> f64 {
    if p.is_nan() || a.is_nan() || b.is_nan() || a < 0.0 || b < 0.0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        // R: point masses at 0 and 1 with probability 1/2 each.
        return if p < 0.5 {
            0.0
        } else if p > 0.5 {
            1.0
        } else {
            0.5
        };
    }
    if a == 0.0 || p == 0.0 {
        return 0.0;
    }
    if b == 0.0 || p == 1.0 {
        return 1.0;
    }
    if a.is_infinite() || b.is_infinite() {
        return f64::NAN;
    }
    let mut x = statrs::function::beta::inv_beta_reg(a, b, p);
    if !x.is_finite() || !(0.0..=1.0).contains(&x) {
        x = 0.5;
    }
    let lnb = ln_beta(a, b);
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..200 {
        let f = beta_reg(a, b, x) - p;
        if f == 0.0 {
            return x;
        }
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let ln_pdf = (a - 1.0) * x.ln() + (b - 1.0) * (-x).ln_1p() - lnb;
        let d = ln_pdf.exp();
        let mut next = if d.is_finite() && d > 0.0 { x - f / d } else { f64::NAN };
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - x).abs() <= 4.0 * f64::EPSILON * x.abs().max(f64::MIN_POSITIVE) {
            return next;
        }
        x = next;
        if hi - lo <= 4.0 * f64::EPSILON * hi {
            break;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        ((a - b) / b).abs() < tol
    }

    #[test]
    fn quantiles_match_r() {
        // Values from R 4.2.2 (options(digits = 17)).
        assert!(close(qt(0.975, 14.0), 2.144786687917804, 1e-13));
        assert!(close(qt(0.975, 7.0), 2.364624251592784, 1e-13));
        assert!(close(qt(0.975, 1.0), 12.706204736174694, 1e-12));
        assert!(close(qt(0.025, 196.0), -1.972141221662041, 1e-13));
        assert!(close(qt(0.975, 2.5), 3.574654842003692, 1e-12));
        assert!(close(qnorm(0.975), 1.959963984540054, 1e-14));
        assert!(close(qbeta(0.025, 2.5, 7.0), 0.052422577666035, 1e-12));
        assert!(close(qbeta(0.975, 0.3, 40.0), 0.046792912372851325, 1e-12));
        assert!(qt(0.5, 0.0).is_nan());
        assert_eq!(qbeta(0.3, 0.0, 2.0), 0.0);
    }
}
