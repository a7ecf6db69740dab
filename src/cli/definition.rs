//! `hearth definition infer` and `hearth definition add`.

use std::path::PathBuf;

use anyhow::Context;

/// Definition subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a starting flat definition for existing data (types and choice lists inferred).
    Infer(InferArgs),
    /// Register a new definition version in a store (new questions become new columns).
    Add(AddArgs),
}

/// Arguments of `definition infer`.
#[derive(Debug, clap::Args)]
pub struct InferArgs {
    /// The data file (CSV with a header row).
    pub data: PathBuf,
    /// Where to write the definition (YAML).
    #[arg(long)]
    pub out: PathBuf,
    /// The survey id to use.
    #[arg(long, default_value = "inferred")]
    pub survey: String,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `definition add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The store.
    pub store: PathBuf,
    /// The new definition version (YAML).
    pub definition: PathBuf,
}

/// Runs a definition subcommand.
pub fn run(c: Command) -> anyhow::Result<()> {
    match c {
        Command::Infer(a) => infer(a),
        Command::Add(a) => add(a),
    }
}

fn infer(a: InferArgs) -> anyhow::Result<()> {
    if a.out.exists() && !a.force {
        anyhow::bail!("{}: exists already (use --force to overwrite)", a.out.display());
    }
    let f = std::fs::File::open(&a.data).with_context(|| format!("{}: cannot open", a.data.display()))?;
    let inferred = hearth::schema::infer::infer_csv(std::io::BufReader::new(f), &a.data.display().to_string(), &a.survey).map_err(hearth::Error::from)?;
    std::fs::write(&a.out, &inferred.yaml).with_context(|| format!("{}: cannot write", a.out.display()))?;
    for n in &inferred.notes {
        super::note(&format!("note: {n}"));
    }
    super::note(&format!(
        "wrote {}: review it (and the suggested design), then `hearth validate {}`",
        a.out.display(),
        a.out.display()
    ));
    Ok(())
}

fn add(a: AddArgs) -> anyhow::Result<()> {
    let def = super::load_definition(&a.definition)?;
    let mut store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    store.add_definition(&def).map_err(hearth::Error::from)?;
    outln!(
        "{}: definition version {} added; new responses are captured with it",
        a.store.display(),
        def.version
    );
    Ok(())
}
