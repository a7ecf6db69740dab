//! Inequality: how an outcome differs across an ordered grouping (deprivation deciles by
//! default) or between groups, with design-based standard errors.
//!
//! Parts: [`standard`] (standard populations: the shipped ESP 2013, a user's population, age
//! bands mapped onto the standard's), [`standardise`] (directly standardised group estimates
//! on the full design, as `svystandardize`), [`change`] (change between two waves over the
//! combined design), [`between`] (t test of two groups, Rao-Scott chi-square) and [`phe`]
//! (PHEindicatormethods' aggregate SII). Must not read files, run SQL or format
//! output; every standard error comes from the engine's influence values.

pub mod between;
pub mod change;
pub mod phe;
pub mod standard;
pub mod standardise;

#[cfg(test)]
pub(crate) mod fixture;
