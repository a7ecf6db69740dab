//! `hearth audit STORE.db [--record UUID]`: show the append-only audit trail.

use std::path::PathBuf;

/// Show the audit trail (imports, definition versions, geography loads, edits), oldest first.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// Only entries about this record (UUID).
    #[arg(long)]
    pub record: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `audit`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let log = store.audit_log(a.record.as_deref()).map_err(hearth::Error::from)?;
    if a.json {
        return super::emit(&(serde_json::to_string_pretty(&log)? + "\n"));
    }
    let mut out = String::new();
    for e in &log {
        let mut line = format!("{}  {}  {}", e.at, e.by, e.action);
        for (k, v) in [
            ("unit", &e.unit),
            ("record", &e.record),
            ("question", &e.question),
            ("old", &e.old_value),
            ("new", &e.new_value),
        ] {
            if let Some(v) = v {
                line.push_str(&format!("  {k}={v}"));
            }
        }
        if let Some(r) = &e.reason {
            line.push_str(&format!("  {r}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    super::emit(&out)
}
