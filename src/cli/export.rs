//! `hearth export STORE.db --format csv|jsonl|parquet --out PATH [--wave N] [--long]`.

use std::path::PathBuf;

use hearth::export::ExportFormat;

/// Export responses with derived scores and geography (identifiers only when asked).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// The file format.
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    pub format: FormatArg,
    /// Output file; with --long, a directory (one file per unit).
    #[arg(long)]
    pub out: PathBuf,
    /// Only this wave.
    #[arg(long)]
    pub wave: Option<i64>,
    /// One file per unit (household, person) instead of one wide file.
    #[arg(long)]
    pub long: bool,
    /// Include personal data (questions marked identifier).
    #[arg(long)]
    pub include_identifiers: bool,
    /// Also write a Frictionless Table Schema (OUT.schema.json) with value labels.
    #[arg(long)]
    pub codebook: bool,
}

/// The export formats, as `--format` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Comma-separated values with a header row
    Csv,
    /// JSON Lines: one JSON object per record
    #[value(alias = "ndjson")]
    Jsonl,
    /// Apache Parquet, with column types
    Parquet,
}

impl From<FormatArg> for ExportFormat {
    fn from(f: FormatArg) -> ExportFormat {
        match f {
            FormatArg::Csv => ExportFormat::Csv,
            FormatArg::Jsonl => ExportFormat::Jsonl,
            FormatArg::Parquet => ExportFormat::Parquet,
        }
    }
}

/// Runs `export`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let opts = hearth::export::ExportOptions {
        format: a.format.into(),
        out: a.out,
        wave: a.wave,
        long: a.long,
        include_identifiers: a.include_identifiers,
        codebook: a.codebook,
    };
    let r = hearth::export::export(&store, &opts).map_err(hearth::Error::from)?;
    for (p, n) in r.files {
        outln!("{}: {n} rows", p.display());
    }
    if a.include_identifiers {
        super::note("warning: the export contains personal data (identifiers): keep it secure");
    }
    Ok(())
}
