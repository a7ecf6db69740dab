//! `hearth analyze STORE.db --outcome VAR... [--by VAR]... [--stat ...] ...`.

use std::path::PathBuf;

use hearth::analysis::{engine::PropCiMethod, engine::QuantileRule, Request, Stat};

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

/// Parses the options into a checked request.
pub fn request(a: &Args) -> anyhow::Result<Request> {
    let stat = Stat::parse(&a.stat).ok_or_else(|| anyhow::anyhow!("--stat {}: expected mean, total, proportion, quantile or ratio", a.stat))?;
    let ci_method =
        PropCiMethod::parse(&a.ci_method).ok_or_else(|| anyhow::anyhow!("--ci-method {}: expected one of {}", a.ci_method, PropCiMethod::NAMES.join(", ")))?;

    let qrule = match a.qrule.as_str() {
        "math" => QuantileRule::Math,
        "hf7" => QuantileRule::Hf7,
        r => anyhow::bail!("--qrule {r}: expected math or hf7"),
    };
    if let Some(q) = a.quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        anyhow::bail!("--quantiles {q}: probabilities are between 0 and 1");
    }
    Ok(Request {
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
    })
}

/// Runs `analyze`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let format = hearth::report::Format::parse(&a.format).ok_or_else(|| anyhow::anyhow!("--format {}: expected table, csv, json or markdown", a.format))?;
    let req = request(&a)?;
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let result = hearth::analysis::analyze(&store, &req).map_err(hearth::Error::from)?;
    for w in &result.warnings {
        super::note(&format!("warning: {w}"));
    }
    super::emit(&hearth::report::render(&result, format))
}
