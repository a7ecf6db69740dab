//! `hearth inequality STORE.db --outcome VAR... [--over imd_decile] [--wave N]... [--format ...]`.

use std::path::PathBuf;

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
    /// Only these waves (repeatable; default all).
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
    /// The standard population for --standardise: esp2013 or a CSV file.
    #[arg(long)]
    pub standard: Option<String>,
    /// How the summary measures are computed.
    #[arg(long, value_enum, default_value_t = MethodArg::Design)]
    pub method: MethodArg,
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
    let standard = a.standard.as_deref().map(|s| match s {
        "esp2013" => Standard::Esp2013,
        // a population file is read by the binary once standardisation is built
        _ => Standard::Population(Vec::new()),
    });
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
