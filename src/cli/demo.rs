//! `hearth demo`: build a demo store from shipped fixtures and show a breakdown.

/// Build a demo store (two waves of the shipped household survey, IMD 2019 geography) in a
/// temporary directory and show estimates by deprivation decile. No arguments needed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the demo files in this directory instead of a temporary one.
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
}

/// Runs `demo`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = match &a.keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let started = std::time::Instant::now();
    let demo = hearth::demo::run(&dir)?;
    outln!("hearth demo: the North West household health survey (simulated responses)\n");
    for r in &demo.imports {
        let added: Vec<String> = r.added.iter().map(|(u, n)| format!("{n} {u}s")).collect();
        outln!(
            "  wave {}: imported {} ({} rows checked against the definition)",
            r.wave,
            added.join(", "),
            r.rows
        );
    }
    outln!("  geography: IMD 2019 for {} LSOAs in England (built in)", demo.areas);
    outln!("  store: {}{}\n", demo.store.display(), if a.keep.is_none() { " (temporary)" } else { "" });
    outln!("Mental wellbeing (SWEMWBS metric score, mean) and probable depression (PHQ-9 >= 10, share)");
    outln!("by IMD 2019 decile (1 = most deprived), wave 2, design-based 95% CIs:\n");
    super::analyze::show(&demo.by_decile, hearth::report::Format::Table)?;
    outln!("\nThe same outcomes by wave:\n");
    super::analyze::show(&demo.by_wave, hearth::report::Format::Table)?;
    let w = &demo.weighting;
    outln!("\nWeighting: wave 2 post-stratified by age group x sex to population counts (fixtures/demo/age_sex_population.csv,");
    outln!(
        "illustrative: ONS mid-2019 England age-sex shares scaled to the sample's weighted total), weight set '{}':",
        w.summary.name
    );
    outln!(
        "  {} records in {} cells; weights {:.1} to {:.1}, sum {:.0}; design effect of weighting {:.3}\n",
        w.summary.records,
        w.summary.cells,
        w.summary.min,
        w.summary.max,
        w.summary.sum,
        w.summary.deff
    );
    outln!("Probable depression (PHQ-9 >= 10), wave 2, %:");
    outln!(
        "  {:<8} {:>5}  {:>10}  {:>22}  {:>22}",
        "group",
        "n",
        "unweighted",
        "design weights (95% CI)",
        "post-stratified (95% CI)"
    );
    for r in &w.rows {
        let pct = |t: (f64, f64, f64)| format!("{:.1} ({:.1}-{:.1})", 100.0 * t.0, 100.0 * t.1, 100.0 * t.2);
        outln!(
            "  {:<8} {:>5}  {:>10.1}  {:>22}  {:>22}",
            r.group,
            r.n,
            100.0 * r.unweighted,
            pct(r.design),
            pct(r.weighted)
        );
    }
    outln!("  (the post-stratified CIs account for the calibration, as R's postStratify designs do)");
    outln!("\n(done in {:.2} s)", started.elapsed().as_secs_f64());
    outln!("{}", hearth::geo::OGL_ATTRIBUTION.lines().next().unwrap_or(""));
    Ok(())
}
