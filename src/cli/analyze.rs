//! `hearth analyze STORE.db --outcome VAR... [--by VAR]... [--stat ...] ...`.

use std::path::PathBuf;

use hearth::analysis::engine::{PropCiMethod, QuantileRule};
use hearth::analysis::error::shown_expression;
use hearth::analysis::{Analysis, AnalysisError, Request, RequestError, Stat, Warning};
use hearth::report::Format;

/// Design-based estimates with confidence intervals, overall and by group.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// Outcome variables (questions or derived variables); repeat or separate with commas.
    #[arg(long, required = true, value_delimiter = ',')]
    pub outcome: Vec<String>,
    /// A breakdown; repeat for several; `a,b` crosses two variables (e.g. imd_decile,sex).
    #[arg(long)]
    pub by: Vec<String>,
    /// mean, total, proportion, quantile or ratio.
    #[arg(long, default_value = "mean")]
    pub stat: String,
    /// Denominator of --stat ratio.
    #[arg(long)]
    pub denominator: Option<String>,
    /// Quantile probabilities for --stat quantile.
    #[arg(long, value_delimiter = ',', default_value = "0.5")]
    pub quantiles: Vec<f64>,
    /// Quantile rule: math (survey 4.x default) or hf7.
    #[arg(long, default_value = "math")]
    pub qrule: String,
    /// Only these waves (repeatable; default all).
    #[arg(long)]
    pub wave: Vec<i64>,
    /// CI method for proportions: logit, beta, xlogit, asin, mean, likelihood, wilson.
    #[arg(long, default_value = "logit")]
    pub ci_method: String,
    /// Confidence level.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// A subpopulation (a domain of the full design, not a filter), e.g. "age >= 65".
    #[arg(long = "where")]
    pub where_: Option<String>,
    /// Variance from the first stage only.
    #[arg(long)]
    pub ultimate_cluster: bool,
    /// Output: table, csv, json, markdown.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Turn disclosure control off (small cells shown): never for publication.
    #[arg(long)]
    pub no_suppress: bool,
}

/// Parses the options into a request, checked as the library checks it; its problems are
/// told in the flags' words.
pub fn request(a: &Args) -> anyhow::Result<Request> {
    let stat = Stat::parse(&a.stat).ok_or_else(|| anyhow::anyhow!("--stat {}: expected mean, total, proportion, quantile or ratio", a.stat))?;
    let ci_method =
        PropCiMethod::parse(&a.ci_method).ok_or_else(|| anyhow::anyhow!("--ci-method {}: expected one of {}", a.ci_method, PropCiMethod::NAMES.join(", ")))?;

    let qrule = match a.qrule.as_str() {
        "math" => QuantileRule::Math,
        "hf7" => QuantileRule::Hf7,
        r => anyhow::bail!("--qrule {r}: expected math or hf7"),
    };
    let req = Request {
        outcomes: a.outcome.clone(),
        by: a
            .by
            .iter()
            .map(|b| b.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .collect(),
        stat,
        denominator: a.denominator.clone(),
        quantiles: a.quantiles.clone(),
        qrule,
        ci_method,
        level: a.level,
        waves: a.wave.clone(),
        where_: a.where_.clone(),
        ultimate_cluster: a.ultimate_cluster,
        suppress: !a.no_suppress,
    };
    // a probability out of range is a usage error whatever the statistic, as a flag's value
    // out of its set is
    if let Err(RequestError::Quantile { p }) = req.check_quantiles() {
        anyhow::bail!("--quantiles {p}: probabilities are between 0 and 1");
    }
    req.check().map_err(|e| in_flags(e.into()))?;
    Ok(req)
}

/// The library's error told in this command's flags (see [`super::Reworded`]), or as it is
/// when it names none.
fn in_flags(e: AnalysisError) -> anyhow::Error {
    let message = match &e {
        AnalysisError::Request(r) => match r {
            RequestError::NoOutcome => "give at least one --outcome".to_string(),
            RequestError::NoDenominator => "--stat ratio needs --denominator VAR".to_string(),
            RequestError::DenominatorWithoutRatio { denominator, stat } => {
                format!("--denominator {denominator}: a denominator is only for --stat ratio, not --stat {stat}")
            }
            RequestError::Level { level } => format!("--level {level} must be between 0.5 and 1"),
            RequestError::NoQuantiles => "--quantiles: give at least one probability".to_string(),
            RequestError::Quantile { p } => format!("--quantiles {p}: probabilities are between 0 and 1"),
            _ => return hearth::Error::from(e).into(),
        },
        AnalysisError::NoGeography { variable } => {
            format!("'{variable}' needs geography: run `hearth geo load STORE --builtin imd2019` (and a `geography:` section in the definition)")
        }
        AnalysisError::TextOutcome { outcome } => format!("--outcome {outcome} is text: use --stat proportion for its categories"),
        AnalysisError::TooManyLevels { variable, limit } => {
            format!("--by {variable}: more than {limit} distinct values; a breakdown needs a grouping variable")
        }
        AnalysisError::Where { text, problem } => format!("--where {}: {problem}", shown_expression(text)),
        _ => return hearth::Error::from(e).into(),
    };
    super::Reworded::new(message, e).into()
}

/// A warning told in this command's flags.
fn warning_text(w: &Warning) -> String {
    match w {
        Warning::SuppressionOff => "disclosure control is OFF (--no-suppress): small cells are shown; do not publish these tables as they are".to_string(),
        _ => w.to_string(),
    }
}

/// Writes an analysis to stdout in `format` (a closed pipe ends the command quietly).
pub fn show(result: &Analysis, format: Format) -> anyhow::Result<()> {
    let mut out = Vec::new();
    hearth::report::render(result, format, &mut out).map_err(hearth::Error::from)?;
    super::emit(&String::from_utf8(out)?)
}

/// Runs `analyze`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let format = Format::parse(&a.format).ok_or_else(|| anyhow::anyhow!("--format {}: expected table, csv, json or markdown", a.format))?;
    let req = request(&a)?;
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let result = hearth::analysis::analyze(&store, &req).map_err(in_flags)?;
    for w in &result.warnings {
        super::note(&format!("warning: {}", warning_text(w)));
    }
    show(&result, format)
}
