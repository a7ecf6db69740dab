//! The command line: one file per subcommand, each an Args struct (its doc comments are the
//! help) and a `run`. Nothing in the library depends on this module.

pub mod analyze;
pub mod audit;
pub mod definition;
pub mod demo;
pub mod edit;
pub mod export;
pub mod geo;
pub mod import;
pub mod inequality;
pub mod init;
pub mod interview;
pub mod merge;
pub mod report;
pub mod serve;
pub mod simulate;
pub mod validate;
pub mod weight;

use clap::{Parser, Subcommand};

/// hearth: capture and analyse household health surveys, locally, in one SQLite file per survey.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a survey definition: every problem in one pass, as FILE:LINE:COL: message.
    Validate(validate::Args),
    /// Create a store for a survey (one SQLite file).
    Init(init::Args),
    /// Work with definitions: infer a starting one from data, add a version to a store.
    #[command(subcommand)]
    Definition(definition::Command),
    /// Import responses (CSV or JSON Lines), all or nothing.
    Import(import::Args),
    /// Show the audit trail of a store.
    Audit(audit::Args),
    /// Correct one answer of a stored record, logged in the audit trail.
    Edit(edit::Args),
    /// Interview a household in the terminal, every answer saved as given; resume later.
    Interview(interview::Args),
    /// Bring in the records of other stores of the survey (interviewers' laptops), all or nothing.
    Merge(merge::Args),
    /// Build a demo store from shipped fixtures and show a breakdown by deprivation decile.
    Demo(demo::Args),
    /// Export responses (CSV, JSON Lines, Parquet), identifiers only when asked.
    Export(export::Args),
    /// Geography: load deprivation indices and area lookups.
    #[command(subcommand)]
    Geo(geo::Command),
    /// Design-based estimates, overall and by group (domains of the full design).
    Analyze(analyze::Args),
    /// Inequality across deprivation deciles (or any ordered grouping): gap, ratio, SII, RII.
    Inequality(inequality::Args),
    /// A self-contained HTML report with charts: gradients, inequality, breakdowns, wards, methods.
    Report(report::Args),
    /// Write seeded synthetic responses valid under a definition.
    Simulate(simulate::Args),
    /// Interview in a browser, on this laptop or on tablets paired over its Wi-Fi.
    Serve(serve::Args),
    /// Make a named weight set (post-stratify, rake, calibrate, trim) or list them.
    Weight(weight::Args),
}

/// Loads a definition file; problems become one error listing them all.
pub fn load_definition(path: &std::path::Path) -> anyhow::Result<hearth::schema::Definition> {
    match hearth::schema::load_file(path) {
        Ok(d) => Ok(d),
        Err(e @ hearth::schema::SchemaError::Invalid(_)) => {
            let n = match &e {
                hearth::schema::SchemaError::Invalid(d) => d.0.len(),
                _ => 0,
            };
            Err(anyhow::Error::new(hearth::Error::from(e)).context(format!("{}: {n} problem(s)", path.display())))
        }
        Err(e) => Err(hearth::Error::from(e).into()),
    }
}

/// Writes command output to stdout; a closed pipe (`hearth analyze ... | head`) ends quietly.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => Ok(r?),
    }
}

/// Writes a note or warning to stderr, on one line (control characters escaped). A stderr
/// that cannot be written (`2>/dev/full`) does not stop the command: its output is on stdout.
pub fn note(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{}", hearth::text::escape(text));
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Init(a) => init::run(a),
        Command::Definition(c) => definition::run(c),
        Command::Import(a) => import::run(a),
        Command::Geo(c) => geo::run(c),
        Command::Simulate(a) => simulate::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Inequality(a) => inequality::run(a),
        Command::Report(a) => report::run(a),
        Command::Export(a) => export::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Edit(a) => edit::run(a),
        Command::Interview(a) => interview::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Weight(a) => weight::run(a),
        Command::Serve(a) => serve::run(a),
    }
}

/// A library error told in the command line's words: the message names the flags the user
/// typed and says all the library error says, on one line, so the error chain is printed only
/// down to here. The library error stays its source, for the exit code and for callers that
/// walk the chain.
#[derive(Debug)]
pub struct Reworded {
    message: String,
    source: hearth::Error,
}

impl Reworded {
    /// `source` told as `message`.
    pub fn new(message: String, source: impl Into<hearth::Error>) -> Reworded {
        Reworded {
            message,
            source: source.into(),
        }
    }
}

impl std::fmt::Display for Reworded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Reworded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
