//! The demo: a store built from the shipped survey and fixtures, with geography, analysed.
//!
//! Owns only the assembly of the tour that `hearth demo` runs with no arguments: the shipped
//! household survey definition and two simulated waves (fixtures/demo, made by
//! `hearth simulate` with fixed seeds) are embedded in the binary, so it needs no files.
//! The tour ends with weighting: wave 2 post-stratified by age group and sex to the counts of
//! fixtures/demo/age_sex_population.csv (see fixtures/demo/README.md for where they come from),
//! and the prevalence of probable depression shown unweighted, with the design weights and
//! with the post-stratified weights side by side.

use std::path::{Path, PathBuf};

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
/// Population counts by age group and sex for the demo's post-stratification.
pub const AGE_SEX_POPULATION: &str = include_str!("../fixtures/demo/age_sex_population.csv");

/// One row of the weighting comparison: a prevalence three ways.
#[derive(Debug, Clone)]
pub struct Prevalence {
    /// The group ("all", or a sex).
    pub group: String,
    /// Persons with an answer.
    pub n: usize,
    /// The plain share of the sample.
    pub unweighted: f64,
    /// With the design weights: estimate, lower and upper 95% limits.
    pub design: (f64, f64, f64),
    /// With the post-stratified weight set.
    pub weighted: (f64, f64, f64),
}

/// The demo's weighting step.
#[derive(Debug, Clone)]
pub struct WeightingDemo {
    /// The weight set made.
    pub summary: crate::analysis::weighting::WeightSummary,
    /// Probable depression (PHQ-9 >= 10), wave 2, overall and by sex.
    pub rows: Vec<Prevalence>,
}

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
    /// Post-stratification and its effect on a prevalence.
    pub weighting: WeightingDemo,
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
            outcomes,
            by: vec![vec!["wave".into()]],
            stat: Stat::Mean,
            ..Default::default()
        },
    )?;
    let weighting = weighting_demo(&mut store)?;
    Ok(Demo {
        store: store_path,
        imports,
        areas,
        by_decile,
        by_wave,
        weighting,
    })
}

/// Post-stratifies wave 2 by age group and sex, then estimates probable depression three ways.
fn weighting_demo(store: &mut Store) -> crate::Result<WeightingDemo> {
    use crate::analysis::weighting::{self, Method, Population, WeightRequest};
    let pop = Population::parse("age_sex_population.csv", AGE_SEX_POPULATION.as_bytes())?;
    let summary = weighting::make(
        store,
        &WeightRequest {
            name: "age_sex".into(),
            method: Method::PostStratify,
            margins: vec![pop],
            bounds: None,
            trim: None,
            max_iter: None,
            epsilon: None,
            waves: vec![2],
            replace: true,
        },
    )?;
    let outcome = "phq9_caseness".to_string();
    let request = |weights: Option<&str>| Request {
        outcomes: vec![outcome.clone()],
        by: vec![vec!["sex".into()]],
        stat: Stat::Mean,
        waves: vec![2],
        weights: weights.map(String::from),
        ..Default::default()
    };
    let design = analysis::analyze(store, &request(None))?;
    let weighted = analysis::analyze(store, &request(Some("age_sex")))?;
    // the plain shares, from the same prepared rows
    let prepared = analysis::Prepared::new(store, &request(None))?;
    let y = prepared.values(&outcome)?;
    let mut rows = Vec::new();
    for (d, w) in design.rows.iter().zip(&weighted.rows) {
        let (group, codes) = if d.by.is_empty() {
            ("all".to_string(), &prepared.breakdowns[0])
        } else {
            let level = d.by.values().next().map(|l| l.to_string()).unwrap_or_default();
            let label = if level == "1" { "female" } else { "male" };
            (label.to_string(), &prepared.breakdowns[1])
        };
        let want = codes
            .levels
            .iter()
            .position(|l| l.iter().map(|x| x.to_string()).collect::<Vec<_>>() == d.by.values().map(|x| x.to_string()).collect::<Vec<_>>());
        let (mut sum, mut n) = (0.0, 0usize);
        for (i, &g) in codes.grouping.codes().iter().enumerate() {
            if want.is_some_and(|k| g as usize == k) && !y[i].is_nan() {
                sum += y[i];
                n += 1;
            }
        }
        let three = |r: &analysis::Row| (r.estimate.unwrap_or(f64::NAN), r.ci_low.unwrap_or(f64::NAN), r.ci_high.unwrap_or(f64::NAN));
        rows.push(Prevalence {
            group,
            n,
            unweighted: sum / n as f64,
            design: three(d),
            weighted: three(w),
        });
    }
    Ok(WeightingDemo { summary, rows })
}
