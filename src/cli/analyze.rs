//! `hearth analyze STORE.db --outcome VAR... [--by VAR]... [--stat ...] ...`.

use std::path::PathBuf;

use hearth::analysis::engine::{DesignError, PropCiMethod, QuantileRule, ReplicateMethod};
use hearth::analysis::error::shown_expression;
use hearth::analysis::{Analysis, AnalysisError, Replicates, Request, RequestError, Stat, Variance, Warning};
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
    /// The statistic.
    #[arg(long, value_enum, default_value_t = StatArg::Mean)]
    pub stat: StatArg,
    /// Denominator of --stat ratio.
    #[arg(long)]
    pub denominator: Option<String>,
    /// Quantile probabilities for --stat quantile.
    #[arg(long, value_delimiter = ',', default_value = "0.5")]
    pub quantiles: Vec<f64>,
    /// Quantile rule.
    #[arg(long, value_enum, default_value_t = QruleArg::Math)]
    pub qrule: QruleArg,
    /// Only these waves (repeatable; default all).
    #[arg(long)]
    pub wave: Vec<i64>,
    /// CI method for proportions (t with the domain's design df), as R's svyciprop.
    #[arg(long, value_enum, default_value_t = CiMethodArg::Logit)]
    pub ci_method: CiMethodArg,
    /// Confidence level.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// A subpopulation (a domain of the full design, not a filter), e.g. "age >= 65".
    #[arg(long = "where")]
    pub where_: Option<String>,
    /// Variance from the first stage only.
    #[arg(long)]
    pub ultimate_cluster: bool,
    /// Use this stored weight set (`hearth weight`) in place of the design's weights; the
    /// variances account for its calibration. Analyses the waves it weights.
    #[arg(long, value_name = "NAME")]
    pub weights: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Turn disclosure control off (small cells shown): never for publication.
    #[arg(long)]
    pub no_suppress: bool,
    #[command(flatten)]
    pub variance: VarianceArgs,
}

/// `--variance` and the replicate design it may ask for: shared by the analysis commands
/// (flatten it into their Args and call [`VarianceArgs::variance`]).
#[derive(Debug, Clone, clap::Args)]
pub struct VarianceArgs {
    /// How standard errors are estimated.
    #[arg(long, value_enum, default_value_t = VarianceArg::Taylor)]
    pub variance: VarianceArg,
    /// Replicate weights built from the stored design (default: jk1 for an unstratified
    /// design, jkn for a stratified one, as R's as.svrepdesign).
    #[arg(long, value_enum)]
    pub replicate_type: Option<ReplicateTypeArg>,
    /// Number of bootstrap replicates (--replicate-type bootstrap; default 50, as R).
    #[arg(long)]
    pub replicates: Option<usize>,
    /// Seed of the bootstrap (default 1): the same seed gives the same replicates.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Centre replicate variances on the full-sample estimate (R's mse=TRUE) instead of the
    /// mean of the replicates.
    #[arg(long)]
    pub mse: bool,
    /// Fay's coefficient for --replicate-type fay (default 0.5).
    #[arg(long)]
    pub fay_rho: Option<f64>,
}

/// Bootstrap replicates when --replicates is not given (R's default).
pub const DEFAULT_BOOTSTRAP_REPLICATES: usize = 50;
/// Bootstrap seed when --seed is not given.
pub const DEFAULT_SEED: u64 = 1;
/// Fay's rho when --fay-rho is not given (R has none; 0.5 as SAS and WesVar).
pub const DEFAULT_FAY_RHO: f64 = 0.5;

/// `--variance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VarianceArg {
    /// Taylor linearisation on the stored design.
    Taylor,
    /// Replicate weights built from the stored design (--replicate-type).
    Replicate,
}

/// `--replicate-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplicateTypeArg {
    /// Delete-one-PSU jackknife (unstratified designs).
    Jk1,
    /// Stratified jackknife.
    Jkn,
    /// Balanced repeated replication (exactly 2 PSUs per stratum).
    Brr,
    /// Fay's BRR (--fay-rho, default 0.5).
    Fay,
    /// Canty-Davison bootstrap of PSUs (--replicates, --seed).
    Bootstrap,
}

impl VarianceArgs {
    /// The variance asked for by `--variance` and the replicate flags; a flag that needs
    /// another is a usage error naming both.
    pub fn variance(&self) -> anyhow::Result<Variance> {
        let ty = self.replicate_type;
        if self.variance == VarianceArg::Taylor {
            let given = [
                (ty.is_some(), "--replicate-type"),
                (self.replicates.is_some(), "--replicates"),
                (self.seed.is_some(), "--seed"),
                (self.mse, "--mse"),
                (self.fay_rho.is_some(), "--fay-rho"),
            ];
            if let Some((_, flag)) = given.iter().find(|(on, _)| *on) {
                anyhow::bail!("{flag} needs --variance replicate");
            }
            return Ok(Variance::Taylor);
        }
        let boot = ty == Some(ReplicateTypeArg::Bootstrap);
        if !boot && (self.replicates.is_some() || self.seed.is_some()) {
            let flag = if self.replicates.is_some() { "--replicates" } else { "--seed" };
            anyhow::bail!("{flag} is for --replicate-type bootstrap");
        }
        if self.fay_rho.is_some() && ty != Some(ReplicateTypeArg::Fay) {
            anyhow::bail!("--fay-rho is for --replicate-type fay");
        }
        let method = ty.map(|t| match t {
            ReplicateTypeArg::Jk1 => ReplicateMethod::Jk1,
            ReplicateTypeArg::Jkn => ReplicateMethod::Jkn,
            ReplicateTypeArg::Brr => ReplicateMethod::Brr,
            ReplicateTypeArg::Fay => ReplicateMethod::Fay {
                rho: self.fay_rho.unwrap_or(DEFAULT_FAY_RHO),
            },
            ReplicateTypeArg::Bootstrap => ReplicateMethod::Bootstrap {
                replicates: self.replicates.unwrap_or(DEFAULT_BOOTSTRAP_REPLICATES),
                seed: self.seed.unwrap_or(DEFAULT_SEED),
            },
        });
        Ok(Variance::Replicate(Replicates { method, mse: self.mse }))
    }
}

/// `--stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatArg {
    /// Weighted mean.
    Mean,
    /// Weighted total.
    Total,
    /// Share of `true` (boolean) or of each category (select_one).
    Proportion,
    /// Quantiles (--quantiles), Woodruff intervals.
    Quantile,
    /// Ratio of two totals (--denominator).
    Ratio,
}

/// `--qrule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QruleArg {
    /// Inverse of the weighted ECDF (survey 4.x default).
    Math,
    /// Hyndman and Fan type 7 (interpolated).
    Hf7,
}

/// `--ci-method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CiMethodArg {
    /// Wald interval on the logit scale (default).
    Logit,
    /// Korn-Graubard (beta).
    Beta,
    /// Logit transform of the mean, delta method.
    Xlogit,
    /// Arcsine square-root transform.
    Asin,
    /// Wald interval on the proportion.
    Mean,
    /// Rao-Scott scaled profile likelihood.
    Likelihood,
    /// Wilson score interval with the effective sample size.
    Wilson,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Aligned text for a terminal.
    Table,
    /// Comma-separated values, one column per breakdown variable.
    Csv,
    /// The JSON object of the specification.
    Json,
    /// A Markdown table.
    #[value(alias = "md")]
    Markdown,
}

impl FormatArg {
    /// The report format.
    pub fn format(self) -> Format {
        match self {
            FormatArg::Table => Format::Table,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
            FormatArg::Markdown => Format::Markdown,
        }
    }
}

/// Parses the options into a request, checked as the library checks it; its problems are
/// told in the flags' words.
pub fn request(a: &Args) -> anyhow::Result<Request> {
    let stat = match a.stat {
        StatArg::Mean => Stat::Mean,
        StatArg::Total => Stat::Total,
        StatArg::Proportion => Stat::Proportion,
        StatArg::Quantile => Stat::Quantile,
        StatArg::Ratio => Stat::Ratio,
    };
    let ci_method = match a.ci_method {
        CiMethodArg::Logit => PropCiMethod::Logit,
        CiMethodArg::Beta => PropCiMethod::Beta,
        CiMethodArg::Xlogit => PropCiMethod::XLogit,
        CiMethodArg::Asin => PropCiMethod::Asin,
        CiMethodArg::Mean => PropCiMethod::Mean,
        CiMethodArg::Likelihood => PropCiMethod::Likelihood,
        CiMethodArg::Wilson => PropCiMethod::Wilson,
    };
    let qrule = match a.qrule {
        QruleArg::Math => QuantileRule::Math,
        QruleArg::Hf7 => QuantileRule::Hf7,
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
        weights: a.weights.clone(),
        variance: a.variance.variance()?,
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
            RequestError::ReplicateLikelihood => {
                "--ci-method likelihood is not available with --variance replicate: use logit, beta, xlogit, asin, mean or wilson".to_string()
            }
            RequestError::FayRho { rho } => format!("--fay-rho {rho} must be between 0 and 1 (exclusive)"),
            RequestError::BootstrapReplicates { replicates } => format!("--replicates {replicates}: the bootstrap needs at least 2"),
            RequestError::ReplicateWithWeights { name } => format!(
                "--weights {name} with --variance replicate is not available yet (each replicate would need the calibration redone): use --variance taylor with --weights"
            ),
            _ => return hearth::Error::from(e).into(),
        },
        AnalysisError::Design(DesignError::Jk1Stratified { strata }) => {
            format!("--replicate-type jk1 is for an unstratified design, and this one has {strata} strata: use --replicate-type jkn")
        }
        AnalysisError::NoGeography { variable } => {
            format!("'{variable}' needs geography: run `hearth geo load STORE --builtin imd2019` (and a `geography:` section in the definition)")
        }
        AnalysisError::TextOutcome { outcome } => format!("--outcome {outcome} is text: use --stat proportion for its categories"),
        AnalysisError::TextDenominator { denominator } => format!("--denominator {denominator} is text: a ratio needs a numeric denominator"),
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
    let format = a.format.format();
    let req = request(&a)?;
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let result = hearth::analysis::analyze(&store, &req).map_err(in_flags)?;
    for w in &result.warnings {
        super::note(&format!("warning: {}", warning_text(w)));
    }
    show(&result, format)
}
