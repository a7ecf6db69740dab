//! Influence columns of the inequality extras (standardisation, change, tests) to the
//! engine's covariance, and the interval quantiles they use.
//!
//! Owns only the convention of those modules: one influence vector per statistic, NaN on the
//! rows outside the statistic's domain, handed to [`Design::influence_covariance`] (the one
//! variance path). Must not compute influence values.

use crate::analysis::engine::{qnorm, qt, Design, DesignError, InfluenceCovariance};

/// The covariance of statistics given as influence columns (NaN = outside the domain).
pub(crate) fn covariance(design: &Design, cols: &[Vec<f64>]) -> Result<InfluenceCovariance, DesignError> {
    let all = vec![true; design.n_rows()];
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    design.influence_covariance(&refs, &[&all])
}

/// The `p` quantile of Student's t with `df` degrees of freedom (the normal when `df` is
/// infinite), as R's `qt`.
pub(crate) fn t_quantile(p: f64, df: f64) -> f64 {
    if df.is_infinite() {
        qnorm(p)
    } else {
        qt(p, df)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::{DesignSpec, Grouping, Stage};

    #[test]
    fn nan_marks_the_rows_outside_a_statistics_domain() {
        let d = Design::new(DesignSpec {
            n_rows: 12,
            weights: Some(vec![1.0, 2.0, 1.5, 1.0, 2.0, 3.0, 1.0, 1.0, 2.5, 1.0, 1.0, 2.0]),
            strata: Some(vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]),
            stages: vec![Stage {
                clusters: vec![0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5],
                fpc: None,
            }],
            ..Default::default()
        })
        .unwrap();
        let y = [3.0, 5.0, 2.0, 8.0, 4.0, 1.0, 6.0, 2.0, 7.0, 3.0, 5.0, 4.0];
        let g = Grouping::new(vec![0, 1, 1, 0, 0, 1, 1, 0, 2, 2, 0, 1], 3).unwrap();
        let lin = d.linearize_mean(&y, &g).unwrap();
        let want = lin.covariance().unwrap();
        let cols: Vec<Vec<f64>> = (0..3)
            .map(|k| (0..12).map(|i| if g.codes()[i] == k { lin.influence()[i] } else { f64::NAN }).collect())
            .collect();
        let got = covariance(&d, &cols).unwrap();
        for a in 0..3 {
            for b in 0..3 {
                assert!((got.get(a, b) - want.get(a, b)).abs() < 1e-12, "{a},{b}");
            }
        }
        assert_eq!(got.df, vec![2.0, 2.0, 0.0]);
        assert!((t_quantile(0.975, 17.0) - 2.109815577833317).abs() < 1e-10);
        assert!((t_quantile(0.975, f64::INFINITY) - 1.959963984540054).abs() < 1e-12);
    }
}
