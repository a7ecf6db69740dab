//! `hearth validate DEF.yaml`.

use std::path::PathBuf;

use hearth::schema::{Checked, SchemaError};

/// Check a survey definition or an instrument file (exit 0 clean, 1 problems, 2 cannot read).
///
/// A file whose top level has `instrument:` (and no `survey:`) is checked as an instrument:
/// its keys, then its items and scoring as a survey listing it would use them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The definition or instrument file (YAML).
    pub definition: PathBuf,
}

/// Runs `validate`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let checked = match hearth::schema::check_file(&a.definition) {
        Ok(c) => c,
        Err(SchemaError::Invalid(d)) => {
            let n = d.0.len();
            let e = hearth::Error::from(SchemaError::Invalid(d));
            return Err(anyhow::Error::new(e).context(format!("{}: {n} problem(s)", a.definition.display())));
        }
        Err(e) => return Err(hearth::Error::from(e).into()),
    };
    match checked {
        Checked::Definition(def) => {
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
        }
        Checked::Instrument(i) => {
            outln!(
                "{}: ok: instrument '{}' ({}), {} questions, {} scores, {} params",
                a.definition.display(),
                i.id,
                i.title,
                i.questions,
                i.scores,
                i.params
            );
        }
    }
    Ok(())
}
