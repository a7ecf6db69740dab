//! `hearth inequality STORE.db --outcome VAR... [--over imd_decile] [--wave N]... [--format ...]`.

use std::path::PathBuf;

use anyhow::Context;
use hearth::analysis::inequality::standard::{UserPopulation, ESP2013};
use hearth::analysis::inequality::{InequalityError, InequalityRequest, Method, Standard};
use hearth::analysis::{AnalysisError, RequestError, Warning};

use super::analyze::FormatArg;

/// Inequality across deprivation (or any ordered grouping): group estimates, gap and ratio
/// between the extremes, slope and relative indices of inequality, each with a CI.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// Outcome variables (questions or derived variables); repeat or separate with commas.
    #[arg(long, required = true, value_delimiter = ',')]
    pub outcome: Vec<String>,
    /// The grouping, first level most deprived: imd_decile (default), imd_quintile, an ordered
    /// select_one (order of its choice list) or an integer question.
    #[arg(long, default_value = "imd_decile")]
    pub over: String,
    /// Only these waves (repeatable; default all). Two waves add the change between them.
    #[arg(long)]
    pub wave: Vec<i64>,
    /// Confidence level.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// A subpopulation (a domain of the full design, not a filter), e.g. "age >= 65".
    #[arg(long = "where")]
    pub where_: Option<String>,
    /// Variance from the first stage only.
    #[arg(long)]
    pub ultimate_cluster: bool,
    /// The grouping has no order (ethnicity, tenure): between-group variance, index of
    /// disparity and highest/lowest ratio instead of the gradient. Text groupings without a
    /// choice list (ward, lsoa, lad) are unordered anyway.
    #[arg(long)]
    pub unordered: bool,
    /// Age-standardise the group estimates by these variables, e.g. age_band or age_band,sex.
    #[arg(long, value_delimiter = ',')]
    pub standardise: Vec<String>,
    /// The standard population for --standardise: esp2013 (the default) or a CSV file with a
    /// column per standardising variable and `count`.
    #[arg(long)]
    pub standard: Option<String>,
    /// How the summary measures are computed.
    #[arg(long, value_enum, default_value_t = MethodArg::Design)]
    pub method: MethodArg,
    /// Add tests between groups: the t test of the least minus the most deprived group and,
    /// for a yes/no outcome, the Rao-Scott chi-square of association with the grouping.
    #[arg(long)]
    pub test: bool,
    /// Use this stored weight set (`hearth weight`) in place of the design's weights; the
    /// variances account for its calibration. Analyses the waves it weights.
    #[arg(long)]
    pub weights: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Turn disclosure control off (small cells shown): never for publication.
    #[arg(long)]
    pub no_suppress: bool,
}

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// From the microdata over the full design (svyglm, svyby covariance).
    Design,
    /// PHEindicatormethods' aggregate method on the group estimates (Fingertips).
    Phe,
}

/// Parses the options into a request.
pub fn request(a: &Args) -> anyhow::Result<InequalityRequest> {
    if a.standard.is_some() && a.standardise.is_empty() {
        anyhow::bail!("--standard needs --standardise VAR[,VAR]");
    }
    let standard = match a.standard.as_deref() {
        None => None,
        Some(name) if name.eq_ignore_ascii_case(ESP2013) => Some(Standard::named(name).map_err(|e| anyhow::anyhow!("--standard: {e}"))?),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("--standard {path}: cannot read the population file"))?;
            let pop = UserPopulation::parse(&text, path, &a.standardise)
                .map_err(|e| super::Reworded::new(format!("--standard: {e}"), AnalysisError::from(InequalityError::from(e))))?;
            Some(Standard::Population(pop))
        }
    };
    Ok(InequalityRequest {
        outcomes: a.outcome.clone(),
        over: a.over.clone(),
        waves: a.wave.clone(),
        level: a.level,
        where_: a.where_.clone(),
        ultimate_cluster: a.ultimate_cluster,
        suppress: !a.no_suppress,
        standardise: a.standardise.clone(),
        standard,
        method: match a.method {
            MethodArg::Design => Method::Design,
            MethodArg::Phe => Method::Phe,
        },
        unordered: a.unordered,
        tests: a.test,
        weights: a.weights.clone(),
    })
}

/// The library's error told in this command's flags, or as it is when it names none.
fn in_flags(e: AnalysisError, a: &Args) -> anyhow::Error {
    let message = match &e {
        AnalysisError::Request(RequestError::Level { level }) => format!("--level {level} must be between 0.5 and 1"),
        AnalysisError::Request(RequestError::NoOutcome) => "give at least one --outcome".to_string(),
        AnalysisError::Inequality(InequalityError::NotYetAvailable { what }) => {
            let flag = if a.method == MethodArg::Phe && a.standardise.is_empty() {
                "--method phe"
            } else {
                "--standardise"
            };
            format!("{flag}: {what} is not yet available")
        }
        AnalysisError::Inequality(InequalityError::StandardWithoutVariables) => "--standard needs --standardise VAR[,VAR]".to_string(),
        AnalysisError::Inequality(InequalityError::Standard(s)) => {
            format!(
                "--standardise {} --standard {}: {s}",
                a.standardise.join(","),
                a.standard.as_deref().unwrap_or(ESP2013)
            )
        }
        AnalysisError::Inequality(e @ InequalityError::WaveWithoutRows { .. }) => format!("--wave: {e}"),
        AnalysisError::Inequality(e @ InequalityError::WeightsWith { .. }) => {
            format!("--weights {}: {e}", a.weights.as_deref().unwrap_or_default())
        }
        AnalysisError::NoGeography { variable } => {
            format!("--over {variable} needs geography: run `hearth geo load STORE --builtin imd2019` (and a `geography:` section in the definition)")
        }
        AnalysisError::TextOutcome { outcome } => format!("--outcome {outcome} is text: inequality needs a number or a yes/no outcome"),
        AnalysisError::TooManyLevels { variable, limit } => {
            format!("--over {variable}: more than {limit} distinct values; a grouping is needed")
        }
        AnalysisError::Where { text, problem } => {
            format!("--where {}: {problem}", hearth::analysis::error::shown_expression(text))
        }
        _ => return hearth::Error::from(e).into(),
    };
    super::Reworded::new(message, e).into()
}

/// Runs `inequality`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let format = a.format.format();
    let req = request(&a)?;
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let result = hearth::analysis::inequality::inequality(&store, &req).map_err(|e| in_flags(e, &a))?;
    for w in &result.warnings {
        let text = match w {
            Warning::SuppressionOff => "disclosure control is OFF (--no-suppress): small cells are shown; do not publish these tables as they are".to_string(),
            _ => w.to_string(),
        };
        super::note(&format!("warning: {text}"));
    }
    let mut out = Vec::new();
    hearth::report::inequality::render(&result, format, &mut out).map_err(hearth::Error::from)?;
    super::emit(&String::from_utf8(out)?)
}
