//! `hearth import STORE.db --wave N FILE...`.

use std::io::IsTerminal;
use std::path::PathBuf;

/// Import responses (CSV or JSON Lines): every row is checked; all or nothing by default.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// The wave the responses belong to.
    #[arg(long)]
    pub wave: i64,
    /// Files: one combined CSV (a row per person, household columns repeated), or a household
    /// file and a person file, or JSON Lines (.jsonl).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Import the valid rows and write the others, with the reason, to a rejects file.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Where rejected rows go (default FILE.rejects.csv).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Who captured the data (default $HEARTH_USER or $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Take questions that have no column in the file as unanswered (a file written before a
    /// definition version added them); required questions still need their answers.
    #[arg(long)]
    pub allow_missing_columns: bool,
}

/// Runs `import`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let mut store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let mut opts = hearth::capture::ImportOptions {
        wave: a.wave,
        skip_invalid: a.skip_invalid,
        rejects: a.rejects,
        progress: if std::io::stderr().is_terminal() { Some(progress_bar()?) } else { None },
        allow_missing_columns: a.allow_missing_columns,
        ..Default::default()
    };
    if let Some(by) = a.by {
        opts.by = by;
    }
    opts.lsoa_check = hearth::capture::areas::lsoa_checker(&store).map_err(hearth::Error::from)?;
    let r = hearth::capture::import_files(&mut store, &a.files, &opts).map_err(hearth::Error::from)?;
    let added: Vec<String> = r.added.iter().map(|(u, n)| format!("{n} {u}")).collect();
    let unchanged: u64 = r.unchanged.iter().map(|(_, n)| n).sum();
    outln!(
        "{}: wave {}: {} rows read; added {}; {} already present and unchanged (definition version {})",
        a.store.display(),
        r.wave,
        r.rows,
        added.join(", "),
        unchanged,
        r.version
    );
    if r.rejected > 0 {
        super::note(&format!(
            "{} row(s) rejected, written with reasons to {}",
            r.rejected,
            r.rejects_file.as_deref().unwrap_or("?")
        ));
        for p in r.problems.iter().take(20) {
            super::note(&format!("  {p}"));
        }
    }
    Ok(())
}

/// A progress bar on stderr fed by the import's reports: how much of the files is read, the
/// rows taken and their rate.
fn progress_bar() -> anyhow::Result<hearth::capture::ProgressFn> {
    let style = indicatif::ProgressStyle::with_template("[{bar:30}] {percent:>3}% {msg}")?.progress_chars("# ");
    let bar = indicatif::ProgressBar::new(0).with_style(style);
    Ok(Box::new(move |p: &hearth::capture::ImportProgress| {
        let total = p.total_bytes.max(1);
        bar.set_length(total);
        bar.set_position(if p.done { total } else { p.bytes.min(total) });
        let secs = bar.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{} rows, {:.0} rows/s", p.rows, p.rows as f64 / secs));
        if p.done {
            bar.finish();
        }
    }))
}
