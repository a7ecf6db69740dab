//! `hearth init STORE.db --definition DEF.yaml`.

use std::path::PathBuf;

/// Create a store for a survey (fails if the file exists).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store to create (one SQLite file per survey).
    pub store: PathBuf,
    /// The survey definition (YAML).
    #[arg(long)]
    pub definition: PathBuf,
}

/// Runs `init`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let def = super::load_definition(&a.definition)?;
    hearth::store::Store::create(&a.store, &def).map_err(hearth::Error::from)?;
    outln!(
        "{}: created for survey '{}' (definition version {})",
        a.store.display(),
        def.survey,
        def.version
    );
    Ok(())
}
