//! hearth: an embedded, local survey engine for household health surveys.
pub mod analysis;
pub mod capture;
pub mod demo;
pub mod error;
pub mod export;
pub mod geo;
pub mod report;
pub mod schema;
pub mod simulate;
pub mod store;

pub use error::{Error, Result};
