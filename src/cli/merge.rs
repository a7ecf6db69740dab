//! `hearth merge STORE.db OTHER.db...`: bring in the records of other stores of the survey.

use std::path::PathBuf;

use hearth::capture::merge::{Conflict, ConflictKind, MergeOptions, MergeReport};

/// Bring in the records and audit entries of other stores of the same survey (interviewers'
/// laptops): identical records skipped, conflicts reported and left as they are, all stores
/// in one transaction. Exits 1 when there is any conflict.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store merged into.
    pub store: PathBuf,
    /// The stores to bring in, in order (each read-only).
    #[arg(required = true)]
    pub others: Vec<PathBuf>,
    /// Report what would be merged, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Who merges (default $HEARTH_USER or $USER).
    #[arg(long)]
    pub by: Option<String>,
}

/// Runs `merge`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let mut store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let opts = MergeOptions {
        by: a.by.unwrap_or_else(hearth::store::default_user),
        dry_run: a.dry_run,
    };
    let r = hearth::capture::merge::merge_stores(&mut store, &a.others, &opts).map_err(hearth::Error::from)?;
    if a.json {
        super::emit(&(serde_json::to_string_pretty(&r)? + "\n"))?;
    } else {
        super::emit(&text(&r))?;
    }
    match r.conflicts() {
        0 => Ok(()),
        n => {
            // exit 1 (a problem in the input), the summary printed already
            let e = hearth::capture::CaptureError::from(hearth::capture::merge::MergeError::Conflicts { conflicts: n });
            Err(hearth::Error::from(e).into())
        }
    }
}

/// The summary as text: one line per store, then each conflict on its own line.
fn text(r: &MergeReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "would merge" } else { "merged" };
    for s in &r.stores {
        out.push_str(&format!("{verb} {}: {}", s.store, s.counts_text()));
        if s.audit_entries > 0 {
            let entries = if s.audit_entries == 1 { "entry" } else { "entries" };
            out.push_str(&format!("; {} audit {entries} copied", s.audit_entries));
        }
        out.push('\n');
        for c in &s.conflicts {
            out.push_str(&format!("  {}\n", conflict_line(c, &r.target, &s.store)));
        }
    }
    out.push_str("weight sets, geography and unfinished interviews are not merged: each store keeps its own\n");
    if r.dry_run {
        out.push_str("dry run: nothing was written\n");
    }
    out
}

/// One conflict on one line: its record, then what differs, identifiers without values.
fn conflict_line(c: &Conflict, target: &str, other: &str) -> String {
    let esc = hearth::text::escape;
    match c.kind {
        ConflictKind::DuplicateKey => {
            let mut s = format!(
                "conflict: {} (wave {}): the same {} id entered on two stores ({} in {other}, {} in {target}); not added",
                c.key,
                c.wave,
                c.unit,
                c.uuid,
                c.target_uuid.as_deref().unwrap_or("?")
            );
            if c.held_back > 0 {
                s.push_str(&format!(", nor the {} record(s) under it", c.held_back));
            }
            s
        }
        ConflictKind::Different => {
            let v = |v: &Option<String>| v.as_ref().map(|v| format!("'{}'", esc(v))).unwrap_or_else(|| "no answer".into());
            let diffs: Vec<String> = c
                .differences
                .iter()
                .map(|d| {
                    if d.identifier {
                        format!("{} (identifier) differs", d.field)
                    } else {
                        format!("{} {} in {target}, {} in {other}", d.field, v(&d.target), v(&d.other))
                    }
                })
                .collect();
            format!("conflict: {} ({}): {}; neither changed", c.key, c.uuid, diffs.join("; "))
        }
    }
}
