//! What an analysis is asked to do: the statistic and the request, checked at the library
//! boundary.
//!
//! Owns the [`Request`] every analysis command starts from and the rules a request must meet
//! whatever the data (an outcome, a confidence level in [0.5, 1), quantile probabilities in
//! [0, 1], a denominator exactly when the statistic is a ratio), so that a caller embedding the
//! library gets the same checks as the binary. Must not read the store or know about flags:
//! the command line builds a `Request` from its flags and rewords [`RequestError`] in them.

use serde::Serialize;

use super::engine::{PropCiMethod, QuantileRule, ReplicateMethod};
use super::error::RequestError;

/// Which statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    /// Mean.
    Mean,
    /// Total.
    Total,
    /// Proportion (of a boolean, or each category).
    Proportion,
    /// Quantiles.
    Quantile,
    /// Ratio of two totals.
    Ratio,
}

impl Stat {
    /// Parses a name (`prop`, `quantiles` and `median` are accepted as well).
    pub fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "mean" => Stat::Mean,
            "total" => Stat::Total,
            "proportion" | "prop" => Stat::Proportion,
            "quantile" | "quantiles" | "median" => Stat::Quantile,
            "ratio" => Stat::Ratio,
            _ => return None,
        })
    }

    /// The name result rows carry in their `statistic` field.
    pub fn name(self) -> &'static str {
        match self {
            Stat::Mean => "mean",
            Stat::Total => "total",
            Stat::Proportion => "proportion",
            Stat::Quantile => "quantile",
            Stat::Ratio => "ratio",
        }
    }
}

/// How standard errors are estimated.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Variance {
    /// Taylor linearisation on the stored design (R's `svydesign`).
    #[default]
    Taylor,
    /// Replicate weights built from the stored design (R's `as.svrepdesign`).
    Replicate(Replicates),
}

/// The replicate design asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replicates {
    /// The method; `None` chooses as R's `type = "auto"`: JK1 for an unstratified design,
    /// JKn for a stratified one.
    pub method: Option<ReplicateMethod>,
    /// Centre variances on the full-sample estimate (R's `mse = TRUE`).
    pub mse: bool,
}

/// An analysis request. [`Request::check`] says whether it can be answered whatever the data;
/// every analysis entry point ([`super::analyze`], [`super::Prepared::new`]) checks it first.
#[derive(Debug, Clone)]
pub struct Request {
    /// Outcome variables.
    pub outcomes: Vec<String>,
    /// Breakdowns: each a list of variables crossed (empty list = overall only).
    pub by: Vec<Vec<String>>,
    /// Statistic.
    pub stat: Stat,
    /// Denominator of a ratio (and of nothing else).
    pub denominator: Option<String>,
    /// Quantile probabilities, each in [0, 1].
    pub quantiles: Vec<f64>,
    /// Quantile rule.
    pub qrule: QuantileRule,
    /// CI method for proportions.
    pub ci_method: PropCiMethod,
    /// Confidence level, in [0.5, 1).
    pub level: f64,
    /// Waves (all when empty).
    pub waves: Vec<i64>,
    /// Subpopulation (a domain of the full design), as an expression over the analysis unit.
    pub where_: Option<String>,
    /// First-stage variance only.
    pub ultimate_cluster: bool,
    /// Apply disclosure control.
    pub suppress: bool,
    /// A stored weight set to use in place of the design's weights (its waves are analysed).
    pub weights: Option<String>,
    /// How standard errors are estimated.
    pub variance: Variance,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            outcomes: Vec::new(),
            by: Vec::new(),
            stat: Stat::Mean,
            denominator: None,
            quantiles: vec![0.5],
            qrule: QuantileRule::Math,
            ci_method: PropCiMethod::Logit,
            level: 0.95,
            waves: Vec::new(),
            where_: None,
            ultimate_cluster: false,
            suppress: true,
            weights: None,
            variance: Variance::Taylor,
        }
    }
}

impl Request {
    /// Checks what can be checked without data: at least one outcome; a denominator exactly
    /// for a ratio; a confidence level in [0.5, 1); for quantiles, at least one probability,
    /// each in [0, 1]; under replicate variance, no likelihood interval, Fay's rho in (0, 1)
    /// and at least 2 bootstrap replicates. The first problem found is returned.
    pub fn check(&self) -> Result<(), RequestError> {
        crate::schema::suggest::reset_budget();
        if self.outcomes.is_empty() {
            return Err(RequestError::NoOutcome);
        }
        match (&self.denominator, self.stat) {
            (None, Stat::Ratio) => return Err(RequestError::NoDenominator),
            (Some(d), stat) if stat != Stat::Ratio => {
                return Err(RequestError::DenominatorWithoutRatio {
                    denominator: d.clone(),
                    stat: stat.name(),
                })
            }
            _ => {}
        }
        if !(0.5..1.0).contains(&self.level) {
            return Err(RequestError::Level { level: self.level });
        }
        if self.stat == Stat::Quantile {
            self.check_quantiles()?;
        }
        if let (Some(name), Variance::Replicate(_)) = (&self.weights, self.variance) {
            // R recalibrates every replicate to the population totals: not built yet
            return Err(RequestError::ReplicateWithWeights { name: name.clone() });
        }
        if let Variance::Replicate(r) = self.variance {
            if self.stat == Stat::Proportion && self.ci_method == PropCiMethod::Likelihood {
                return Err(RequestError::ReplicateLikelihood);
            }
            match r.method {
                Some(ReplicateMethod::Fay { rho }) if !(rho > 0.0 && rho < 1.0) => return Err(RequestError::FayRho { rho }),
                Some(ReplicateMethod::Bootstrap { replicates, .. }) if replicates < 2 => return Err(RequestError::BootstrapReplicates { replicates }),
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks the quantile probabilities alone: each in [0, 1] (NaN is not), and at least one.
    pub fn check_quantiles(&self) -> Result<(), RequestError> {
        if let Some(&p) = self.quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(RequestError::Quantile { p });
        }
        if self.quantiles.is_empty() {
            return Err(RequestError::NoQuantiles);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of(outcome: &str) -> Request {
        Request {
            outcomes: vec![outcome.into()],
            ..Default::default()
        }
    }

    #[test]
    fn the_default_request_with_an_outcome_is_valid() {
        assert_eq!(mean_of("x").check(), Ok(()));
        assert_eq!(Request::default().check(), Err(RequestError::NoOutcome));
    }

    #[test]
    fn a_denominator_goes_with_a_ratio_and_only_with_it() {
        let ratio = Request {
            stat: Stat::Ratio,
            ..mean_of("x")
        };
        assert_eq!(ratio.check(), Err(RequestError::NoDenominator));
        let with = Request {
            denominator: Some("y".into()),
            ..ratio
        };
        assert_eq!(with.check(), Ok(()));
        let mean = Request { stat: Stat::Mean, ..with };
        assert_eq!(
            mean.check(),
            Err(RequestError::DenominatorWithoutRatio {
                denominator: "y".into(),
                stat: "mean"
            })
        );
    }

    #[test]
    fn the_level_is_in_half_open_range() {
        for ok in [0.5, 0.9, 0.999] {
            assert_eq!(Request { level: ok, ..mean_of("x") }.check(), Ok(()), "{ok}");
        }
        for bad in [0.2, 1.0, 1.5, f64::NAN] {
            assert!(
                matches!(Request { level: bad, ..mean_of("x") }.check(), Err(RequestError::Level { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn replicate_requests_are_checked() {
        let rep = |method| Variance::Replicate(Replicates { method, mse: false });
        assert_eq!(
            Request {
                variance: rep(None),
                ..mean_of("x")
            }
            .check(),
            Ok(())
        );
        let fay = Request {
            variance: rep(Some(ReplicateMethod::Fay { rho: 1.0 })),
            ..mean_of("x")
        };
        assert_eq!(fay.check(), Err(RequestError::FayRho { rho: 1.0 }));
        let boot = Request {
            variance: rep(Some(ReplicateMethod::Bootstrap { replicates: 1, seed: 1 })),
            ..mean_of("x")
        };
        assert_eq!(boot.check(), Err(RequestError::BootstrapReplicates { replicates: 1 }));
        let lik = Request {
            stat: Stat::Proportion,
            ci_method: PropCiMethod::Likelihood,
            variance: rep(Some(ReplicateMethod::Jk1)),
            ..mean_of("x")
        };
        assert_eq!(lik.check(), Err(RequestError::ReplicateLikelihood));
    }

    #[test]
    fn quantile_probabilities_are_checked_for_quantiles() {
        let q = |quantiles: Vec<f64>| Request {
            stat: Stat::Quantile,
            quantiles,
            ..mean_of("x")
        };
        assert_eq!(q(vec![0.0, 0.5, 1.0]).check(), Ok(()));
        assert_eq!(q(vec![0.5, 1.5]).check(), Err(RequestError::Quantile { p: 1.5 }));
        assert_eq!(q(vec![-1.0]).check(), Err(RequestError::Quantile { p: -1.0 }));
        assert!(matches!(q(vec![f64::NAN]).check(), Err(RequestError::Quantile { p }) if p.is_nan()));
        assert_eq!(q(vec![]).check(), Err(RequestError::NoQuantiles));
    }
}
