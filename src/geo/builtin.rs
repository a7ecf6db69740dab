//! The England-wide lookups shipped inside hearth, so users need no download.
//!
//! This file owns the compressed builtin tables under `builtin/` and how they are made and
//! read. They are ordinary CSVs in formats the readers already recognise, gzipped and
//! embedded with `include_bytes!`, and they go through the same validation as any file:
//!
//! - `imd2019.csv.gz`: one row per English LSOA 2011 (32,844) in the LSOA-ward-IMD format
//!   `LSOA11CD,LSOA11NM,WD19CD,WD19NM,LAD19CD,LAD19NM,IMD19_RANK,IMD19_DECILE,POP_MID2015`,
//!   from IoD2019 File 2 (rank, decile), the ONS LSOA11 -> WD19 -> LAD19 best-fit lookup and
//!   IoD2019 File 6 (total population mid 2015, thousands separators removed).
//! - `wards2019.csv.gz`: the 7,219 English wards of the ONS WD19 -> LAD19 -> CTY19 -> RGN19
//!   -> CTRY19 lookup (`FID` dropped), so regions and the 39 wards without an LSOA are known.
//! - `imd2025.csv.gz`: one row per English LSOA 2021 (33,755), `lsoa21_code,IMD_decile,
//!   IMD_rank` (humaniverse column names). The shared data has no LSOA 2021 -> ward lookup
//!   and no LSOA 2021 names or LAD 2024 codes, so the 2025 builtin has no wards, names or
//!   LADs (and so no local deciles): load an ONS `LSOA21CD,...,WD24CD,...,LAD24CD` lookup
//!   with `--wards` to get them.
//!
//! [`generate`] rebuilds the files from the raw files in `shared/data/geography` (run the
//! ignored test `geo::tests::regenerate_builtin`). The data are under the Open Government
//! Licence v3.0: see [`super::OGL_ATTRIBUTION`].

use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use flate2::read::GzDecoder;

use super::error::GeoError;
use super::read::{read_file, read_from, ReadOptions};
use super::tables::{IndexTable, Population, RegionLookup, WardLookup};

/// The gzipped builtin IMD 2019 table (see the module documentation).
pub const BUILTIN_IMD2019_GZ: &[u8] = include_bytes!("builtin/imd2019.csv.gz");
/// The gzipped builtin English WD19 ward list with regions.
pub const BUILTIN_WARDS2019_GZ: &[u8] = include_bytes!("builtin/wards2019.csv.gz");
/// The gzipped builtin IMD 2025 table.
pub const BUILTIN_IMD2025_GZ: &[u8] = include_bytes!("builtin/imd2025.csv.gz");

/// A builtin geography.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// IoD2019 on LSOA 2011, with WD19 wards, LAD19, regions and mid-2015 population.
    Imd2019,
    /// IoD2025 on LSOA 2021: ranks and deciles only.
    Imd2025,
}

impl Builtin {
    /// `imd2019` or `imd2025`, as given to `--builtin`.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Imd2019 => "imd2019",
            Builtin::Imd2025 => "imd2025",
        }
    }

    /// The source label stored for provenance, e.g. `builtin imd2019`.
    pub fn source_label(self) -> String {
        format!("builtin {}", self.name())
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Builtin {
    type Err = String;
    fn from_str(s: &str) -> Result<Builtin, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "imd2019" => Ok(Builtin::Imd2019),
            "imd2025" => Ok(Builtin::Imd2025),
            other => Err(format!("unknown builtin geography {other:?} (expected imd2019 or imd2025)")),
        }
    }
}

/// The parts of a builtin.
pub(super) struct BuiltinParts {
    pub(super) index: IndexTable,
    pub(super) wards: Option<WardLookup>,
    pub(super) regions: Option<RegionLookup>,
    pub(super) population: Option<Population>,
}

fn read_gz(label: &str, bytes: &'static [u8]) -> Result<super::read::GeoFile, GeoError> {
    read_from(label, GzDecoder::new(bytes), &ReadOptions::default())
}

/// Decompresses and validates a builtin.
pub(super) fn load(which: Builtin) -> Result<BuiltinParts, GeoError> {
    let label = which.source_label();
    let missing = || GeoError::Incompatible {
        path: label.clone(),
        message: "builtin table has no index (hearth was built with a broken builtin file)".to_string(),
    };
    match which {
        Builtin::Imd2019 => {
            let f = read_gz(&label, BUILTIN_IMD2019_GZ)?;
            let regions = read_gz(&label, BUILTIN_WARDS2019_GZ)?.regions;
            Ok(BuiltinParts {
                index: f.index.ok_or_else(missing)?,
                wards: f.wards,
                regions,
                population: f.population,
            })
        }
        Builtin::Imd2025 => {
            let f = read_gz(&label, BUILTIN_IMD2025_GZ)?;
            Ok(BuiltinParts {
                index: f.index.ok_or_else(missing)?,
                wards: None,
                regions: None,
                population: None,
            })
        }
    }
}

/// Decompresses a builtin file to its CSV text (for inspection and tests).
pub fn builtin_csv(bytes: &[u8]) -> std::io::Result<String> {
    let mut s = String::new();
    GzDecoder::new(bytes).read_to_string(&mut s)?;
    Ok(s)
}

/// Rebuilds the three builtin files in `out_dir` from the raw files in `data_dir`
/// (`shared/data/geography`). Every input goes through the validating readers first.
pub fn generate(data_dir: &Path, out_dir: &Path) -> Result<Vec<(String, usize)>, Box<dyn std::error::Error>> {
    use super::codes::Nation;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    let opts = ReadOptions::default();
    let file2 = read_file(&data_dir.join("imd2019_file2_domains_lsoa11.csv"), &opts)?;
    let wards = read_file(&data_dir.join("ons_lsoa11_wd19_lad19_ew_lookup.csv"), &opts)?;
    let file6 = read_file(&data_dir.join("imd2019_file6_population_denominators_lsoa11.csv"), &opts)?;
    let regions = read_file(&data_dir.join("ons_wd19_lad19_cty19_rgn19_ctry19_uk_lookup.csv"), &opts)?;
    let imd2025 = read_file(&data_dir.join("imd2025_england_lsoa21.csv"), &opts)?;
    let (Some(index), Some(wards), Some(pop), Some(regions), Some(idx25)) = (file2.index, wards.wards, file6.population, regions.regions, imd2025.index) else {
        return Err("a raw file did not provide the expected table".into());
    };

    let gz = |name: &str, csv: Vec<u8>| -> Result<(String, usize), Box<dyn std::error::Error>> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&csv)?;
        let bytes = enc.finish()?;
        std::fs::write(out_dir.join(name), &bytes)?;
        Ok((name.to_string(), bytes.len()))
    };
    let mut sizes = Vec::new();

    // imd2019: LSOA-ward-IMD format, sorted by LSOA code.
    let mut rows: Vec<_> = index.rows().iter().collect();
    rows.sort_by_key(|r| r.code);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "LSOA11CD",
        "LSOA11NM",
        "WD19CD",
        "WD19NM",
        "LAD19CD",
        "LAD19NM",
        "IMD19_RANK",
        "IMD19_DECILE",
        "POP_MID2015",
    ])?;
    for r in rows {
        let lsoa = r.code.lsoa().ok_or("non-LSOA code in IMD 2019")?;
        let ward = wards.ward_of(&lsoa).ok_or_else(|| format!("{lsoa} has no ward"))?;
        let p = pop.get(&r.code).ok_or_else(|| format!("{lsoa} has no population"))?;
        w.write_record([
            lsoa.as_str(),
            r.name.as_deref().unwrap_or(""),
            ward.code.as_str(),
            &ward.name,
            ward.lad.as_str(),
            &ward.lad_name,
            &r.rank.to_string(),
            &r.decile.to_string(),
            &p.to_string(),
        ])?;
    }
    sizes.push(gz("imd2019.csv.gz", w.into_inner()?)?);

    // wards2019: English wards with region.
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "WD19CD", "WD19NM", "LAD19CD", "LAD19NM", "CTY19CD", "CTY19NM", "RGN19CD", "RGN19NM", "CTRY19CD", "CTRY19NM",
    ])?;
    for r in regions.wards().iter().filter(|r| r.ward.code.nation() == Nation::England) {
        let (cty, ctynm) = r.county.clone().unwrap_or_default();
        w.write_record([
            r.ward.code.as_str(),
            &r.ward.name,
            r.ward.lad.as_str(),
            &r.ward.lad_name,
            &cty,
            &ctynm,
            r.region.as_deref().unwrap_or(""),
            r.region_name.as_deref().unwrap_or(""),
            r.country.as_deref().unwrap_or(""),
            r.country_name.as_deref().unwrap_or(""),
        ])?;
    }
    sizes.push(gz("wards2019.csv.gz", w.into_inner()?)?);

    // imd2025: code, decile, rank (humaniverse names).
    let mut rows: Vec<_> = idx25.rows().iter().collect();
    rows.sort_by_key(|r| r.code);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["lsoa21_code", "IMD_decile", "IMD_rank"])?;
    for r in rows {
        w.write_record([r.code.as_str(), &r.decile.to_string(), &r.rank.to_string()])?;
    }
    sizes.push(gz("imd2025.csv.gz", w.into_inner()?)?);
    Ok(sizes)
}
