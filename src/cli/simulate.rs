//! `hearth simulate DEF.yaml --households N --seed S --out FILE.csv`.

use std::path::PathBuf;

use anyhow::Context;

/// Write seeded, realistic synthetic responses valid under a definition (combined CSV).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The survey definition.
    pub definition: PathBuf,
    /// Number of households (respondents for a flat survey).
    #[arg(long, default_value_t = 500)]
    pub households: usize,
    /// Random seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Wave (shifts interview dates).
    #[arg(long, default_value_t = 1)]
    pub wave: i64,
    /// Number of clusters (PSUs) to draw from the Lancashire and Cumbria LSOAs.
    #[arg(long)]
    pub psus: Option<usize>,
    /// Output CSV.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `simulate`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let def = super::load_definition(&a.definition)?;
    let opts = hearth::simulate::SimOptions {
        households: a.households,
        seed: a.seed,
        wave: a.wave,
        areas: Vec::new(),
        psus: a.psus,
    };
    let f = std::fs::File::create(&a.out).with_context(|| format!("{}: cannot create", a.out.display()))?;
    let rows = hearth::simulate::simulate_csv(&def, &opts, std::io::BufWriter::new(f)).with_context(|| format!("{}: cannot write", a.out.display()))?;
    outln!("{}: {} households, {} rows (seed {})", a.out.display(), a.households, rows, a.seed);
    Ok(())
}
