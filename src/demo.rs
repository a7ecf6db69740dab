//! The demo: a store built from the shipped survey and fixtures, with geography, analysed.
//!
//! Owns only the assembly of the tour that `hearth demo` runs with no arguments: the shipped
//! household survey definition and two simulated waves (fixtures/demo, made by
//! `hearth simulate` with fixed seeds) are embedded in the binary, so it needs no files. The
//! tour ends with the inequality of a mental-health outcome across deprivation deciles.

use std::path::{Path, PathBuf};

use crate::analysis::inequality::{Inequality, InequalityRequest};
use crate::analysis::{self, Analysis, Request, Stat};
use crate::capture::{self, ImportOptions, ImportReport};
use crate::geo::{Builtin, Geography};
use crate::store::Store;

/// The shipped household survey definition.
pub const SURVEY: &str = include_str!("../schemas/household-health-survey.yaml");
/// Wave 1 (2015) responses.
pub const WAVE1: &str = include_str!("../fixtures/demo/wave1.csv");
/// Wave 2 (2018) responses.
pub const WAVE2: &str = include_str!("../fixtures/demo/wave2.csv");

/// What the demo built.
pub struct Demo {
    /// The store file.
    pub store: PathBuf,
    /// The two imports.
    pub imports: Vec<ImportReport>,
    /// Areas loaded.
    pub areas: usize,
    /// Mental wellbeing and depression by deprivation decile, wave 2.
    pub by_decile: Analysis,
    /// The same outcomes by wave.
    pub by_wave: Analysis,
    /// Their inequality across deprivation deciles, wave 2: gradient, SII, RII.
    pub inequality: Inequality,
}

/// Errors of the demo's own files (its steps fail with their modules' errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Writing a shipped file into the demo directory failed.
    #[error("{}: cannot write", path.display())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Builds the demo store in `dir` and runs the analyses.
pub fn run(dir: &Path) -> crate::Result<Demo> {
    let def_path = dir.join("household-health-survey.yaml");
    let io = |p: &Path, source: std::io::Error| DemoError::Io { path: p.to_path_buf(), source };
    std::fs::write(&def_path, SURVEY).map_err(|e| io(&def_path, e))?;
    let def = crate::schema::load_str(SURVEY, "household-health-survey.yaml")?;
    let store_path = dir.join("demo.db");
    let mut store = Store::create(&store_path, &def)?;
    let mut imports = Vec::new();
    for (wave, text) in [(1, WAVE1), (2, WAVE2)] {
        let p = dir.join(format!("wave{wave}.csv"));
        std::fs::write(&p, text).map_err(|e| io(&p, e))?;
        let opts = ImportOptions {
            wave,
            by: "demo".into(),
            ..Default::default()
        };
        imports.push(capture::import_files(&mut store, &[p], &opts)?);
    }
    let g = Geography::builtin(Builtin::Imd2019)?;
    let areas = capture::areas::store_geography(&mut store, &g)?;
    let outcomes = vec!["swemwbs_metric_score".to_string(), "phq9_caseness".to_string()];
    let by_decile = analysis::analyze(
        &store,
        &Request {
            outcomes: outcomes.clone(),
            by: vec![vec!["imd_decile".into()]],
            stat: Stat::Mean,
            waves: vec![2],
            ..Default::default()
        },
    )?;
    let by_wave = analysis::analyze(
        &store,
        &Request {
            outcomes: outcomes.clone(),
            by: vec![vec!["wave".into()]],
            stat: Stat::Mean,
            ..Default::default()
        },
    )?;
    let inequality = analysis::inequality::inequality(
        &store,
        &InequalityRequest {
            outcomes,
            waves: vec![2],
            ..Default::default()
        },
    )?;
    Ok(Demo {
        store: store_path,
        imports,
        areas,
        by_decile,
        by_wave,
        inequality,
    })
}
