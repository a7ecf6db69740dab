//! The integration tests: one binary, a module per area. CLI tests run the real `hearth`
//! binary in a temporary directory.

mod common;

mod analysis;
mod cli;
mod column_cache;
mod conformance;
mod definitions;
mod edit;
mod fuzz;
mod import;
mod inequality;
mod inequality_extra;
mod interview;
mod limits;
mod merge;
mod newuser;
mod replicate;
mod report;
mod serve;
mod store;
mod weight;
