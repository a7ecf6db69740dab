//! `hearth weight STORE.db --name NAME (--poststratify VARS --population FILE | --rake VAR=FILE... |
//! --calibrate linear|raking|logit ...) [--bounds LO,HI] [--trim LO,HI | --trim-iqr K]` and
//! `hearth weight STORE.db --list`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hearth::analysis::weighting::{self, CalFun, Method, Population, Trim, WeightError, WeightRequest, WeightSummary};

/// Make a named weight set (post-stratified, raked or calibrated to population totals, and/or
/// trimmed), or list the stored ones. Population files are CSV with one column per margin
/// variable (question id, or an area column such as imd_decile) and a `count` column.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store.
    pub store: PathBuf,
    /// Name of the weight set to make (used by `analyze --weights NAME`).
    #[arg(long, required_unless_present = "list")]
    pub name: Option<String>,
    /// List the stored weight sets.
    #[arg(long, conflicts_with_all = ["name", "poststratify", "rake", "calibrate"])]
    pub list: bool,
    /// Post-stratify on these variables crossed (VAR or VAR,VAR) to the cells of --population.
    #[arg(long, value_name = "VAR[,VAR]", conflicts_with_all = ["rake", "calibrate"], requires = "population")]
    pub poststratify: Option<String>,
    /// Population counts: the cells of --poststratify, or one (crossed) margin of --calibrate.
    #[arg(long, value_name = "FILE")]
    pub population: Option<PathBuf>,
    /// A margin VAR=FILE (VAR may be a,b crossed); repeat for each margin. Alone: raking
    /// (iterative proportional fitting); with --calibrate: the margins calibrated to.
    #[arg(long, value_name = "VAR=FILE", visible_alias = "margin")]
    pub rake: Vec<String>,
    /// Calibrate to the margins (--rake VAR=FILE..., and/or --population FILE) with this distance.
    #[arg(long, value_enum)]
    pub calibrate: Option<CalFunArg>,
    /// Bounds LO,HI on the ratio of new to design weight (calibration; logit needs them).
    #[arg(long, value_name = "LO,HI", requires = "calibrate")]
    pub bounds: Option<String>,
    /// Trim the weights made to LO,HI (absolute weights), sharing the excess among the others.
    #[arg(long, value_name = "LO,HI", conflicts_with = "trim_iqr")]
    pub trim: Option<String>,
    /// Trim the weights above median + K x IQR, sharing the excess among the others.
    #[arg(long, value_name = "K")]
    pub trim_iqr: Option<f64>,
    /// Most iterations: raking sweeps (default 1000) or calibration Newton steps (default 50).
    #[arg(long, value_name = "N")]
    pub max_iter: Option<usize>,
    /// Tolerance: raking stops when no cell total changes by this share of the weights' sum
    /// (default 1e-12; 1 or more is absolute, as R's rake); calibration when every total's
    /// misfit / (1 + total) is below it (default 1e-10).
    #[arg(long, value_name = "E")]
    pub epsilon: Option<f64>,
    /// Only these waves (repeatable; default all). Analyses with the set use the same waves.
    #[arg(long)]
    pub wave: Vec<i64>,
    /// Replace a stored weight set of the same name.
    #[arg(long)]
    pub replace: bool,
}

/// `--calibrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CalFunArg {
    /// Linear (GREG); truncated by --bounds.
    Linear,
    /// Raking ratio (exponential distance).
    Raking,
    /// Logit distance: ratios strictly inside --bounds.
    Logit,
}

/// `LO,HI` as two numbers (`inf`, `-inf` allowed).
fn pair(flag: &str, text: &str) -> anyhow::Result<(f64, f64)> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let nums: Vec<f64> = parts.iter().filter_map(|p| p.parse::<f64>().ok()).filter(|x| !x.is_nan()).collect();
    if parts.len() != 2 || nums.len() != 2 {
        anyhow::bail!("{flag} {text}: give two numbers LO,HI");
    }
    Ok((nums[0], nums[1]))
}

/// Reads a population file (the library reads no files).
fn population(path: &Path) -> anyhow::Result<Population> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the population file", path.display()))?;
    Population::parse(&path.display().to_string(), &bytes).map_err(|e| hearth::Error::from(e).into())
}

/// The file's variables must be those the flag names (in any order).
fn same_variables(flag: &str, named: &str, pop: &Population) -> anyhow::Result<()> {
    let mut want: Vec<&str> = named.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut have: Vec<&str> = pop.variables.iter().map(String::as_str).collect();
    want.sort_unstable();
    have.sort_unstable();
    if want != have {
        anyhow::bail!(
            "{flag} {named}: {} has columns {} (besides count); they must be the variables named",
            pop.file,
            pop.variables.join(",")
        );
    }
    Ok(())
}

/// The request the flags describe.
fn request(a: &Args, name: &str) -> anyhow::Result<WeightRequest> {
    let mut margins = Vec::new();
    for r in &a.rake {
        let Some((vars, file)) = r.split_once('=') else {
            anyhow::bail!("--rake {r}: give VAR=FILE (VAR may be a,b)");
        };
        let pop = population(Path::new(file))?;
        same_variables("--rake", vars, &pop)?;
        margins.push(pop);
    }
    let method = match (&a.poststratify, a.calibrate, a.rake.is_empty()) {
        (Some(vars), _, _) => {
            let file = a.population.as_ref().context("--poststratify needs --population FILE")?;
            let pop = population(file)?;
            same_variables("--poststratify", vars, &pop)?;
            margins.push(pop);
            Method::PostStratify
        }
        (None, Some(c), _) => {
            if let Some(file) = &a.population {
                margins.push(population(file)?);
            }
            if margins.is_empty() {
                anyhow::bail!("--calibrate needs margins: --rake VAR=FILE (repeatable) and/or --population FILE");
            }
            Method::Calibrate(match c {
                CalFunArg::Linear => CalFun::Linear,
                CalFunArg::Raking => CalFun::Raking,
                CalFunArg::Logit => CalFun::Logit,
            })
        }
        (None, None, false) => {
            if a.population.is_some() {
                anyhow::bail!("--population is for --poststratify or --calibrate; raking takes --rake VAR=FILE for each margin");
            }
            Method::Rake
        }
        (None, None, true) => {
            if a.trim.is_none() && a.trim_iqr.is_none() {
                anyhow::bail!(
                    "say how to weight: --poststratify VARS --population FILE, --rake VAR=FILE..., --calibrate linear|raking|logit, or --trim/--trim-iqr alone"
                );
            }
            if a.population.is_some() {
                anyhow::bail!("--population needs --poststratify VARS or --calibrate");
            }
            Method::TrimOnly
        }
    };
    let trim = match (&a.trim, a.trim_iqr) {
        (Some(t), _) => {
            let (lower, upper) = pair("--trim", t)?;
            Some(Trim::Bounds { lower, upper })
        }
        (None, Some(k)) => Some(Trim::Iqr { k }),
        (None, None) => None,
    };
    let req = WeightRequest {
        name: name.to_string(),
        method,
        margins,
        bounds: a.bounds.as_deref().map(|b| pair("--bounds", b)).transpose()?,
        trim,
        max_iter: a.max_iter,
        epsilon: a.epsilon,
        waves: a.wave.clone(),
        replace: a.replace,
    };
    req.check().map_err(in_flags)?;
    Ok(req)
}

/// The library's error in this command's flags, where it names a request field.
fn in_flags(e: WeightError) -> anyhow::Error {
    let message = match &e {
        WeightError::Request(m) if m.starts_with("bounds") || m.starts_with("logit") => format!("--bounds: {m}"),
        WeightError::Request(m) if m.starts_with("trimming") => format!("--trim: {m}"),
        WeightError::Request(m) if m.starts_with("the tolerance") => format!("--epsilon: {m}"),
        WeightError::Request(m) if m.starts_with("at least one iteration") => format!("--max-iter: {m}"),
        WeightError::Store(hearth::store::StoreError::WeightSetExists { .. }) => format!("{e} (--replace)"),
        _ => return hearth::Error::from(e).into(),
    };
    super::Reworded::new(message, e).into()
}

fn fmt(x: f64) -> String {
    if x == 0.0 || (1e-3..1e7).contains(&x.abs()) {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.3e}")
    }
}

/// The summary printed after a set is made.
fn summary_text(s: &WeightSummary, req: &WeightRequest) -> String {
    let waves = s.waves.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(", ");
    let what = match (req.method, s.calfun) {
        (Method::Calibrate(_), Some(c)) => format!("calibrate ({c})"),
        (m, _) => m.name().to_string(),
    };
    let mut out = format!("weight set '{}' made: {what} of {} records (wave {waves})\n", s.name, s.records);
    for p in &req.margins {
        out += &format!(
            "  margin {}: {} ({} lines, total {}, sha256 {})\n",
            p.variables.join(" x "),
            p.file,
            p.rows.len(),
            fmt(p.total()),
            &p.sha256[..16]
        );
    }
    if req.method != Method::TrimOnly {
        out += &format!("  cells: {}\n", s.cells);
        out += &match (req.method, s.epsilon) {
            (Method::PostStratify, _) => "  iterations: 1 (exact)\n".to_string(),
            (Method::Rake, Some(e)) => format!(
                "  iterations: {} (converged: largest change of a cell total in the last {}, tolerance {})\n",
                s.iterations,
                fmt(s.last_change),
                fmt(if e < 1.0 { e * s.start_sum } else { e })
            ),
            (_, e) => format!(
                "  iterations: {} (converged: largest misfit / (1 + total) {}, tolerance {})\n",
                s.iterations,
                fmt(s.last_change),
                e.map(fmt).unwrap_or_default()
            ),
        };
    }
    if req.trim.is_some() {
        out += &format!("  trimmed: {} weight(s)\n", s.trimmed);
    }
    out += &format!(
        "  weights: min {}, max {}, sum {} (design weights: sum {})\n",
        fmt(s.min),
        fmt(s.max),
        fmt(s.sum),
        fmt(s.start_sum)
    );
    out += &format!("  design effect of weighting (1 + CV^2): {}\n", fmt(s.deff));
    out
}

/// The stored weight sets as a table.
fn list(store: &hearth::store::Store) -> anyhow::Result<String> {
    let sets = store.weight_sets().map_err(hearth::Error::from)?;
    if sets.is_empty() {
        return Ok(format!(
            "{}: no weight sets (make one with `hearth weight STORE --name NAME ...`)\n",
            store.path().display()
        ));
    }
    let mut rows = vec![["name", "method", "records", "waves", "margins", "made", "by"].map(String::from).to_vec()];
    for s in &sets {
        let inputs: serde_json::Value = serde_json::from_str(&s.inputs).unwrap_or_default();
        let method = match inputs["calfun"].as_str() {
            Some(c) => format!("{} ({c})", s.method),
            None => s.method.clone(),
        };
        let waves = inputs["waves"]
            .as_array()
            .map(|w| w.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        let margins = inputs["margins"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|x| {
                        format!(
                            "{}={}",
                            x["variables"]
                                .as_array()
                                .map(|v| v.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(","))
                                .unwrap_or_default(),
                            x["file"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        rows.push(vec![
            s.name.clone(),
            method,
            s.records.to_string(),
            waves,
            margins,
            s.created_at.clone(),
            s.created_by.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    Ok(hearth::text::escape_keeping_lines(&out).into_owned())
}

/// Runs `weight`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let mut store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    if a.list {
        return super::emit(&list(&store)?);
    }
    let name = a.name.clone().context("give --name NAME")?;
    let req = request(&a, &name)?;
    let summary = weighting::make(&mut store, &req).map_err(in_flags)?;
    super::emit(&summary_text(&summary, &req))
}
