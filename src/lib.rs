//! hearth: an embedded, local survey engine for household health surveys.
//!
//! A survey definition (YAML) drives capture into one SQLite file per survey, and a Polars
//! analysis layer turns the captured waves into design-based estimates (strata, clusters,
//! weights, as R's `survey` package computes them) broken down by deprivation decile, ward and
//! demographic group, with disclosure control.
//!
//! # Layout
//!
//! Dependencies point one way: `schema` and `geo` at the bottom, `store` on `schema`,
//! `capture` on `store`, `analysis` on `schema` and `store`, `report` on `analysis`; the
//! binary's `cli` on everything, nothing on `cli`.
//!
//! | module | owns |
//! |---|---|
//! | [`schema`] | the definition format, its checked model, the expression language (record evaluator and Polars compiler), the instrument library, `definition infer` |
//! | [`geo`] | area codes, deprivation indices and lookups as published (IMD 2019/2025, WIMD, SIMD, ONS lookups, postcode directories), the built-in England lookups |
//! | [`store`] | the SQLite layout, migrations between definition versions, transactions, the audit log, geography tables; the only module that names rusqlite |
//! | [`capture`] | checking one record ([`capture::record`]) and writing it ([`capture::write`]), importing files all-or-nothing through them (progress by callback), correcting one answer with an audit entry ([`capture::edit`]), the interview engine the terminal and the browser share ([`capture::interview`]), merging other stores of the survey by record UUID, all or nothing ([`capture::merge`]), attaching areas |
//! | [`analysis`] | one prepared analysis shared by every analysis command ([`analysis::Prepared`]: the request checked, the frame, the design in its row order, subpopulation and breakdowns), estimators with Taylor-linearised SEs (`analysis::engine`), disclosure control with typed flags, inequality across deprivation ([`analysis::inequality`]: gap, ratio, SII, RII, concentration indices, PAR, between-group measures) |
//! | [`report`] | tables, CSV, JSON, Markdown and the HTML report with SVG charts; computes nothing |
//! | [`export`] | stored responses to CSV, JSON Lines and Parquet, with a codebook |
//! | [`simulate`] | seeded synthetic responses for any definition |
//! | [`timing`] | `HEARTH_TIMING` phase timings on stderr, for benchmarks |
//! | [`text`] | user text echoed in messages: control characters escaped |
//! | [`demo`] | the tour `hearth demo` runs |
//! | [`web`] | the browser interview (`hearth serve`): pairing, request guards, pages over `capture`'s interview engine |
//!
//! # Example: from definition text to a weighted estimate
//!
//! ```
//! use hearth::analysis::{analyze, Request, Stat};
//! use hearth::capture::{import_files, ImportOptions};
//!
//! let definition = r#"
//! survey: example
//! title: Example
//! version: 1
//! design: {weight: wt, strata: area, psu: cluster}
//! units:
//!   - id: person
//!     key: id
//!     questions:
//!       - {id: id, type: integer, label: Id}
//!       - {id: area, type: select_one, label: Area, choices: [{value: 1, label: North}, {value: 2, label: South}]}
//!       - {id: cluster, type: integer, label: Cluster}
//!       - {id: wt, type: decimal, label: Weight}
//!       - {id: score, type: integer, label: Score, min: 0, max: 10}
//! derived:
//!   - {id: high, unit: person, expr: "score >= 7"}
//! "#;
//! let dir = tempfile::tempdir()?;
//! let def = hearth::schema::load_str(definition, "example.yaml")?;
//! let mut store = hearth::store::Store::create(&dir.path().join("example.db"), &def)?;
//! let data = dir.path().join("wave1.csv");
//! std::fs::write(&data, "id,area,cluster,wt,score\n1,1,1,10,7\n2,1,1,10,5\n3,1,2,20,8\n4,1,2,20,6\n5,2,3,15,3\n6,2,3,15,9\n7,2,4,5,4\n8,2,4,5,2\n")?;
//! import_files(&mut store, &[data], &ImportOptions::default())?;
//! let request = Request { outcomes: vec!["score".into()], stat: Stat::Mean, suppress: false, ..Default::default() };
//! let result = analyze(&store, &request)?;
//! let overall = &result.rows[0];
//! // weighted mean: (70 + 50 + 160 + 120 + 45 + 135 + 20 + 10) / 100
//! assert!((overall.estimate.unwrap() - 6.1).abs() < 1e-12);
//! assert!(overall.se.unwrap() > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

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
pub mod text;
pub mod timing;
pub mod web;

pub use error::{Error, Result};
