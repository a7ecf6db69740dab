//! Axis scales for the charts: a value range widened to round ticks, and values mapped to
//! positions. Owns only arithmetic on plain numbers; must not draw.

/// A linear scale from a value range onto a pixel range, with round ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// The lowest value shown.
    pub lo: f64,
    /// The highest value shown.
    pub hi: f64,
    /// The tick step.
    pub step: f64,
    /// The pixel of `lo`.
    pub from: f64,
    /// The pixel of `hi`.
    pub to: f64,
}

/// A round step (1, 2 or 5 times a power of ten) giving about `n` intervals over `span`.
pub fn nice_step(span: f64, n: usize) -> f64 {
    let raw = span / n.max(1) as f64;
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

impl Linear {
    /// A scale covering `values` (non-finite ones ignored) widened to whole ticks, about
    /// `ticks` of them, mapped onto `from..to`. No values: 0 to 1. `zero` keeps 0 in range.
    pub fn covering(values: impl IntoIterator<Item = f64>, ticks: usize, zero: bool, from: f64, to: f64) -> Linear {
        let (mut lo, mut hi) = values
            .into_iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        if zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if hi - lo < 1e-12 {
            let pad = if lo.abs() > 1e-12 { lo.abs() * 0.1 } else { 1.0 };
            lo -= pad;
            hi += pad;
        }
        let step = nice_step(hi - lo, ticks);
        Linear {
            lo: (lo / step).floor() * step,
            hi: (hi / step).ceil() * step,
            step,
            from,
            to,
        }
    }

    /// The pixel of a value.
    pub fn at(&self, v: f64) -> f64 {
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }

    /// The tick values, `lo` to `hi` inclusive.
    pub fn ticks(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round() as usize;
        (0..=n).map(|i| self.lo + i as f64 * self.step).collect()
    }

    /// Decimals that write every tick exactly.
    pub fn decimals(&self) -> usize {
        let d = -self.step.log10().floor();
        if d > 0.0 {
            d as usize
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(0.43, 5), 0.1);
        assert_eq!(nice_step(7.0, 5), 2.0);
        assert_eq!(nice_step(0.0, 5), 1.0);
    }

    #[test]
    fn a_scale_covers_its_values_with_whole_ticks() {
        let s = Linear::covering([19.09, 27.56], 5, false, 0.0, 100.0);
        assert_eq!((s.lo, s.hi, s.step), (18.0, 28.0, 2.0));
        assert_eq!(s.ticks(), vec![18.0, 20.0, 22.0, 24.0, 26.0, 28.0]);
        assert_eq!(s.at(23.0), 50.0);
        assert_eq!(s.decimals(), 0);
        let p = Linear::covering([0.012, 0.646], 5, true, 300.0, 0.0);
        assert_eq!((p.lo, p.hi, p.step), (0.0, 0.8, 0.2));
        assert_eq!(p.decimals(), 1);
        assert_eq!(p.at(0.0), 300.0);
        let one = Linear::covering([5.0], 5, false, 0.0, 1.0);
        assert!(one.lo < 5.0 && one.hi > 5.0);
        let none = Linear::covering([f64::NAN], 5, false, 0.0, 1.0);
        assert_eq!((none.lo, none.hi), (0.0, 1.0));
    }
}
