//! `hearth edit STORE.db --record UUID --question Q --value V --reason TEXT`.

use std::path::PathBuf;

/// Correct one answer of a stored record: re-checked, scores recomputed, logged in the audit
/// trail (who, when, old, new, why).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// The record: its UUID (the person_uuid column of an export, `hearth audit`), or its keys
    /// from the top unit down with --wave: `H12` for household H12, `H12/2` for its person 2.
    #[arg(long)]
    pub record: String,
    /// The wave of a record named by its keys.
    #[arg(long)]
    pub wave: Option<i64>,
    /// The question whose answer changes.
    #[arg(long)]
    pub question: String,
    /// The new answer, written as in an import file ("" for no answer).
    #[arg(long, allow_hyphen_values = true)]
    pub value: String,
    /// Why the answer changes (kept in the audit trail).
    #[arg(long)]
    pub reason: String,
    /// Who makes the correction (default $HEARTH_USER or $USER).
    #[arg(long)]
    pub by: Option<String>,
}

/// Runs `edit`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let mut store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let lsoa_check = hearth::capture::areas::lsoa_checker(&store).map_err(hearth::Error::from)?;
    let edit = hearth::capture::edit::Edit {
        record: a.record,
        wave: a.wave,
        question: a.question,
        value: a.value,
        reason: a.reason,
        by: a.by.unwrap_or_else(hearth::store::default_user),
    };
    let r = hearth::capture::edit::edit_answer(&mut store, &edit, lsoa_check.as_ref()).map_err(hearth::Error::from)?;
    let shown = |v: &Option<String>| match v {
        _ if r.identifier => "(identifier)".to_string(),
        Some(v) => format!("'{}'", hearth::text::escape(v)),
        None => "no answer".to_string(),
    };
    let uuid = &r.answer.record;
    if !r.changed() {
        outln!(
            "{} record {} (wave {}): {} is already {}; nothing changed",
            r.unit,
            uuid,
            r.wave,
            edit.question,
            shown(&r.answer.old)
        );
        return Ok(());
    }
    outln!(
        "{} record {} (wave {}): {} {} -> {}; logged in the audit trail",
        r.unit,
        uuid,
        r.wave,
        edit.question,
        shown(&r.answer.old),
        shown(&r.answer.new)
    );
    for d in &r.derived {
        let v = |v: &Option<String>| v.clone().unwrap_or_else(|| "missing".into());
        let whose = if d.record == *uuid {
            String::new()
        } else {
            format!(" ({} {})", d.unit, d.record)
        };
        outln!("  recomputed {}{whose}: {} -> {}", d.variable, v(&d.old), v(&d.new));
    }
    if r.rechecked > 0 {
        outln!("  {} record(s) below it checked again", r.rechecked);
    }
    Ok(())
}
