//! `hearth validate DEF.yaml`.

use std::path::PathBuf;

/// Check a survey definition (exit 0 clean, 1 problems, 2 cannot read).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The definition file (YAML).
    pub definition: PathBuf,
}

/// Runs `validate`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let def = super::load_definition(&a.definition)?;
    let questions: usize = def.units.iter().map(|u| u.questions.len()).sum();
    let derived: usize = def.units.iter().map(|u| u.derived.len()).sum();
    let instruments: Vec<&str> = def.units.iter().flat_map(|u| u.instruments.iter().map(|s| s.as_str())).collect();
    outln!(
        "{}: ok: survey '{}' version {}, {} unit(s), {} questions, {} derived variables{}",
        a.definition.display(),
        def.survey,
        def.version,
        def.units.len(),
        questions,
        derived,
        if instruments.is_empty() {
            String::new()
        } else {
            format!(", instruments: {}", instruments.join(", "))
        }
    );
    Ok(())
}
