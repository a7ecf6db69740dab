//! `hearth export STORE.db --format csv|jsonl|parquet --out PATH [--wave N] [--long]`.

use std::path::PathBuf;

/// Export responses with derived scores and geography (identifiers only when asked).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// csv, jsonl or parquet.
    #[arg(long, default_value = "csv")]
    pub format: String,
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

/// Runs `export`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let format = hearth::export::ExportFormat::parse(&a.format).ok_or_else(|| anyhow::anyhow!("--format {}: expected csv, jsonl or parquet", a.format))?;
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let opts = hearth::export::ExportOptions {
        format,
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
