//! `hearth geo load STORE.db [--builtin imd2019|imd2025] [--imd FILE] [--wards FILE] ...`.

use std::path::PathBuf;

use anyhow::Context;
use hearth::geo::{Builtin, GeoError, GeographyBuilder};

/// Geography subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Load deprivation and area lookups (files as published, or the shipped England-wide ones).
    Load(LoadArgs),
}

/// Arguments of `geo load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The store.
    pub store: PathBuf,
    /// Use the lookups shipped with hearth.
    #[arg(long, value_enum, ignore_case = true)]
    pub builtin: Option<BuiltinArg>,
    /// A deprivation index file (IMD 2019 File 1/2/7, IMD 2025 File 7, WIMD 2019, SIMD 2020).
    #[arg(long)]
    pub imd: Option<PathBuf>,
    /// An LSOA to ward to local authority lookup (ONS).
    #[arg(long)]
    pub wards: Option<PathBuf>,
    /// A ward to region lookup (ONS).
    #[arg(long)]
    pub regions: Option<PathBuf>,
    /// Population denominators (IoD File 6).
    #[arg(long)]
    pub population: Option<PathBuf>,
    /// An ONS postcode directory (NSPL or ONSPD).
    #[arg(long)]
    pub postcodes: Option<PathBuf>,
}

/// The lookups shipped with hearth, as `--builtin` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BuiltinArg {
    /// IMD 2019 on LSOA 2011, with 2019 wards, local authorities, regions and mid-2015 population
    Imd2019,
    /// IMD 2025 on LSOA 2021: ranks and deciles only
    Imd2025,
}

impl From<BuiltinArg> for Builtin {
    fn from(b: BuiltinArg) -> Builtin {
        match b {
            BuiltinArg::Imd2019 => Builtin::Imd2019,
            BuiltinArg::Imd2025 => Builtin::Imd2025,
        }
    }
}

/// Runs a geo subcommand.
pub fn run(c: Command) -> anyhow::Result<()> {
    match c {
        Command::Load(a) => load(a),
    }
}

fn load(a: LoadArgs) -> anyhow::Result<()> {
    let mut store = hearth::store::Store::open(&a.store).map_err(hearth::Error::from)?;
    let mut b = GeographyBuilder::new();
    if let Some(which) = a.builtin {
        b.builtin(which.into()).map_err(hearth::Error::from)?;
    }
    if let Some(p) = &a.imd {
        b.index_file(p).map_err(hearth::Error::from)?;
    }
    if let Some(p) = &a.wards {
        b.wards_file(p).map_err(hearth::Error::from)?;
    }
    if let Some(p) = &a.regions {
        b.regions_file(p).map_err(hearth::Error::from)?;
    }
    if let Some(p) = &a.population {
        b.population_file(p).map_err(hearth::Error::from)?;
    }
    if let Some(p) = &a.postcodes {
        b.postcodes_file(p).map_err(hearth::Error::from)?;
    }
    let g = match b.build() {
        // the library's message names no flags; this one says which give an index
        Err(GeoError::NoIndex) => anyhow::bail!("geo load needs a deprivation index: --builtin imd2019, --builtin imd2025 or --imd FILE"),
        built => built.map_err(hearth::Error::from)?,
    };
    let n = hearth::capture::areas::store_geography(&mut store, &g)
        .map_err(hearth::Error::from)
        .context("storing the lookups")?;
    outln!("{}: {n} areas loaded", a.store.display());
    for p in g.provenance() {
        outln!("  {}: {} from {} ({} rows)", p.what, p.vintage, p.source, p.rows);
    }
    let orphans = g.wards_without_lsoa();
    if !orphans.is_empty() {
        outln!(
            "  note: {} ward(s) in the lookup have no LSOA (best-fit lookup), so a ward breakdown never shows them",
            orphans.len()
        );
    }
    let def = store.definition(None).map_err(hearth::Error::from)?;
    if def.geography.is_none() {
        let own: Vec<&str> = hearth::schema::AREA_COLUMNS
            .iter()
            .copied()
            .filter(|c| def.leaf_unit().scope.slot(c).is_some())
            .collect();
        outln!("  responses: not linked to areas: the definition has no geography section (geography: lsoa: QUESTION, added in a new definition version)");
        if !own.is_empty() {
            outln!(
                "  note: the definition's own {} {} used as they are by --by and --where; a geography section would need them renamed (see `hearth validate`)",
                own.join(", "),
                if own.len() == 1 { "is" } else { "are" }
            );
        }
        outln!("  {}", hearth::geo::OGL_ATTRIBUTION.lines().next().unwrap_or(""));
        return Ok(());
    }
    let report = hearth::capture::areas::coverage(&store).map_err(hearth::Error::from)?;
    outln!(
        "  responses: {} resolve to an area, {} do not{}",
        report.0,
        report.1,
        if report.2.is_empty() {
            String::new()
        } else {
            format!(" (e.g. {})", report.2.join(", "))
        }
    );
    outln!("  {}", hearth::geo::OGL_ATTRIBUTION.lines().next().unwrap_or(""));
    Ok(())
}
