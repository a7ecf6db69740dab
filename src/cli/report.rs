//! `hearth report STORE.db --out report.html [--wave N]... [--outcome VAR]... [--weights NAME] [--title T]`.

use std::path::PathBuf;

use hearth::analysis::bundle::{bundle, BundleRequest};
use hearth::analysis::{AnalysisError, RequestError};
use hearth::report::html::PageOptions;

/// A self-contained HTML report (inline CSS and SVG charts, no script, nothing fetched):
/// the survey and its design; per outcome the deprivation gradient with the SII line, the
/// inequality summary, breakdowns by age band, sex, ethnic group and tenure, the wards and
/// the change between waves; the methods. Readable on screen, on a phone and printed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// The HTML file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Waves (repeatable; default all): the sections describe the latest, and with two or
    /// more the first and the latest are compared.
    #[arg(long)]
    pub wave: Vec<i64>,
    /// Outcomes (repeat or separate with commas; default: those the definition marks
    /// `headline: true`).
    #[arg(long, value_delimiter = ',')]
    pub outcome: Vec<String>,
    /// A named weight set (from `hearth weight`) in place of the design weight: it weights
    /// one wave, which the report then describes (the waves are not compared).
    #[arg(long)]
    pub weights: Option<String>,
    /// The report's title (default: the survey's title).
    #[arg(long)]
    pub title: Option<String>,
    /// Confidence level.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Turn disclosure control off (small cells shown): never for publication.
    #[arg(long)]
    pub no_suppress: bool,
}

/// The library's error told in this command's flags, or as it is when it names none.
fn in_flags(e: AnalysisError) -> anyhow::Error {
    let message = match &e {
        AnalysisError::Request(RequestError::NoOutcome) => "no outcomes to report: name them with --outcome VAR (repeatable), \
             or mark the survey's main outcomes `headline: true` on their derived variables in the definition"
            .to_string(),
        AnalysisError::Request(RequestError::Level { level }) => format!("--level {level} must be between 0.5 and 1"),
        AnalysisError::TextOutcome { outcome } => format!("--outcome {outcome} is text: a report needs a number or a yes/no outcome"),
        AnalysisError::NoData { waves } if !waves.is_empty() => format!("--wave {waves:?}: no records in these waves"),
        _ => return hearth::Error::from(e).into(),
    };
    super::Reworded::new(message, e).into()
}

/// Runs `report`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let req = BundleRequest {
        outcomes: a.outcome.clone(),
        waves: a.wave.clone(),
        level: a.level,
        suppress: !a.no_suppress,
        weights: a.weights.clone(),
    };
    let b = bundle(&store, &req).map_err(in_flags)?;
    if !req.suppress {
        super::note("warning: disclosure control is OFF (--no-suppress): small cells are shown; do not publish this report as it is");
    }
    let opts = PageOptions {
        title: a.title.clone(),
        weights: a.weights.clone(),
        generator: format!("hearth {}", env!("CARGO_PKG_VERSION")),
    };
    let page = hearth::report::html::page(&b, &opts);
    std::fs::write(&a.out, page).map_err(|e| anyhow::Error::new(e).context(format!("{}: cannot write the report", a.out.display())))?;
    super::note(&format!(
        "wrote {} ({} outcome(s), wave {}{})",
        a.out.display(),
        b.outcomes.len(),
        b.latest,
        b.compared_with.map(|w| format!(" compared with wave {w}")).unwrap_or_default()
    ));
    Ok(())
}
