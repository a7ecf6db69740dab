//! Recognising a geography file by its header line: which [`FileFormat`] it is, and where the
//! columns each parser needs are ([`Layout`]).
//!
//! Owns the header names of every known format (case-insensitive, `WDyyCD`-style year
//! patterns). It must not read rows: the parsers do, with the layout found here.

use super::super::codes::{IndexKind, LsoaVintage};
use super::FileFormat;

/// The header line, for case-insensitive lookups.
pub(super) struct Headers {
    lower: Vec<String>,
}

impl Headers {
    pub(super) fn new(h: &[String]) -> Headers {
        Headers {
            lower: h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        }
    }
    /// Exact match, case-insensitive.
    fn find(&self, name: &str) -> Option<usize> {
        let name = name.to_ascii_lowercase();
        self.lower.iter().position(|h| *h == name)
    }
    /// First header starting with `prefix`, case-insensitive.
    fn find_prefix(&self, prefix: &str) -> Option<usize> {
        let prefix = prefix.to_ascii_lowercase();
        self.lower.iter().position(|h| h.starts_with(&prefix))
    }
    /// A header `<prefix><2 digits><suffix>`, e.g. `WD19CD`; returns column and 2000 + yy.
    fn find_yy(&self, prefix: &str, suffix: &str) -> Option<(usize, u16)> {
        let (prefix, suffix) = (prefix.to_ascii_lowercase(), suffix.to_ascii_lowercase());
        self.lower.iter().enumerate().find_map(|(i, h)| {
            let mid = h.strip_prefix(&prefix)?.strip_suffix(&suffix)?;
            let b = mid.as_bytes();
            (b.len() == 2 && b.iter().all(u8::is_ascii_digit)).then(|| (i, 2000 + u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0')))
        })
    }
}

/// Columns of a deprivation index (and of the ward lookup some index files carry).
pub(super) struct IndexLayout {
    pub kind: IndexKind,
    pub code: usize,
    pub name: Option<usize>,
    pub lad: Option<usize>,
    pub lad_name: Option<usize>,
    pub rank: usize,
    pub decile: Option<usize>,
    pub population: Option<usize>,
    pub wards: Option<WardLayout>,
}

/// Columns of an LSOA to ward to LAD lookup.
pub(super) struct WardLayout {
    pub lsoa_vintage: LsoaVintage,
    pub lsoa: usize,
    pub lsoa_name: Option<usize>,
    pub ward: usize,
    pub ward_name: usize,
    pub ward_year: u16,
    pub lad: usize,
    pub lad_name: usize,
    pub lad_year: u16,
}

/// Columns of a ward to LAD (to county, region, country) lookup: code and name pairs.
pub(super) struct RegionLayout {
    pub ward_year: u16,
    pub ward: usize,
    pub ward_name: usize,
    pub lad: usize,
    pub lad_name: usize,
    pub county: Option<(usize, usize)>,
    pub region: Option<(usize, usize)>,
    pub country: Option<(usize, usize)>,
}

/// Columns of population denominators.
pub(super) struct PopulationLayout {
    pub vintage: LsoaVintage,
    pub code: usize,
    pub total: usize,
}

/// Columns of a postcode directory.
pub(super) struct PostcodeLayout {
    pub postcode: usize,
    pub lsoa11: Option<usize>,
    pub lsoa21: Option<usize>,
    pub doterm: Option<usize>,
}

/// Where a recognised file's columns are, by what it provides.
pub(super) enum Layout {
    Index(IndexLayout),
    Wards(WardLayout),
    Regions(RegionLayout),
    Population(PopulationLayout),
    Postcodes(PostcodeLayout),
}

const IMD_RANK: &str = "Index of Multiple Deprivation (IMD) Rank";
const IMD_DECILE: &str = "Index of Multiple Deprivation (IMD) Decile";
const POP_2015: &str = "Total population: mid 2015 (excluding prisoners)";

/// The format of a file with these headers, and its layout; None when no format matches.
/// Formats are tried from the most specific headers to the most general.
pub(super) fn recognise(h: &Headers) -> Option<(FileFormat, Layout)> {
    mhclg(h)
        .or_else(|| ons_imd_lookup(h))
        .or_else(|| humaniverse(h))
        .or_else(|| lsoa_ward_imd(h))
        .or_else(|| ward_layout(h).map(|w| (FileFormat::LsoaWardLookup, Layout::Wards(w))))
        .or_else(|| ward_regions(h))
        .or_else(|| postcode_directory(h))
}

/// MHCLG official files: File 1, 2 and 7 share the ID columns and the IMD rank and decile;
/// File 6 has the ID columns and the population.
fn mhclg(h: &Headers) -> Option<(FileFormat, Layout)> {
    for (code_h, name_h, lad_h, ladnm_h, kind) in [
        (
            "LSOA code (2011)",
            "LSOA name (2011)",
            "Local Authority District code (2019)",
            "Local Authority District name (2019)",
            IndexKind::Imd2019,
        ),
        (
            "LSOA code (2021)",
            "LSOA name (2021)",
            "Local Authority District code (2024)",
            "Local Authority District name (2024)",
            IndexKind::Imd2025,
        ),
    ] {
        let Some(code) = h.find(code_h) else { continue };
        let population = h.find_prefix("Total population: mid");
        if let Some(rank) = h.find_prefix(IMD_RANK) {
            let format = match kind {
                IndexKind::Imd2025 => FileFormat::Imd2025File7,
                _ if h.find_prefix("Index of Multiple Deprivation (IMD) Score").is_some() => FileFormat::Imd2019File7,
                _ if h.find_prefix("Income Rank").is_some() => FileFormat::Imd2019File2,
                _ => FileFormat::Imd2019File1,
            };
            return Some((
                format,
                Layout::Index(IndexLayout {
                    kind,
                    code,
                    name: h.find(name_h),
                    lad: h.find_prefix(lad_h).or_else(|| h.find_prefix("Local Authority District code")),
                    lad_name: h.find_prefix(ladnm_h).or_else(|| h.find_prefix("Local Authority District name")),
                    rank,
                    decile: h.find_prefix(IMD_DECILE),
                    population,
                    wards: None,
                }),
            ));
        }
        if kind == IndexKind::Imd2019 {
            if let Some(total) = h.find(POP_2015).or(population) {
                return Some((
                    FileFormat::Imd2019File6,
                    Layout::Population(PopulationLayout {
                        vintage: LsoaVintage::Lsoa2011,
                        code,
                        total,
                    }),
                ));
            }
        }
    }
    None
}

/// ONS IMD 2019 lookup: IMD19 is the rank.
fn ons_imd_lookup(h: &Headers) -> Option<(FileFormat, Layout)> {
    let (code, rank) = (h.find("LSOA11CD")?, h.find("IMD19")?);
    Some((
        FileFormat::OnsImd2019Lookup,
        Layout::Index(IndexLayout {
            kind: IndexKind::Imd2019,
            code,
            name: h.find("LSOA11NM"),
            lad: h.find("LAD19CD"),
            lad_name: h.find("LAD19NM"),
            rank,
            decile: None,
            population: None,
            wards: None,
        }),
    ))
}

/// humaniverse/IMD column names: the code column says which index.
fn humaniverse(h: &Headers) -> Option<(FileFormat, Layout)> {
    let (rank, decile) = (h.find("IMD_rank")?, h.find("IMD_decile")?);
    let (code, kind, format) = if let Some(c) = h.find("lsoa21_code") {
        (c, IndexKind::Imd2025, FileFormat::Imd2025Humaniverse)
    } else if let Some(c) = h.find("dz11_code") {
        (c, IndexKind::Simd2020, FileFormat::Simd2020Humaniverse)
    } else if let Some(c) = h.find("lsoa11_code") {
        if h.find("Access_rank").is_some() {
            (c, IndexKind::Wimd2019, FileFormat::Wimd2019Humaniverse)
        } else {
            (c, IndexKind::Imd2019, FileFormat::Imd2019Humaniverse)
        }
    } else {
        return None;
    };
    Some((
        format,
        Layout::Index(IndexLayout {
            kind,
            code,
            name: None,
            lad: None,
            lad_name: None,
            rank,
            decile: Some(decile),
            population: None,
            wards: None,
        }),
    ))
}

/// LSOA-ward-IMD (the Lancashire/Cumbria extract, hearth builtins): an index with a ward
/// lookup on the same boundaries.
fn lsoa_ward_imd(h: &Headers) -> Option<(FileFormat, Layout)> {
    let (rank, year) = h.find_yy("IMD", "_RANK")?;
    let kind = match year {
        2019 => IndexKind::Imd2019,
        2025 => IndexKind::Imd2025,
        _ => return None,
    };
    let w = ward_layout(h)?;
    if w.lsoa_vintage != kind.lsoa_vintage() {
        return None;
    }
    Some((
        FileFormat::LsoaWardImd,
        Layout::Index(IndexLayout {
            kind,
            code: w.lsoa,
            name: w.lsoa_name,
            lad: Some(w.lad),
            lad_name: Some(w.lad_name),
            rank,
            decile: h.find_yy("IMD", "_DECILE").map(|(c, _)| c),
            population: h.find_prefix("POP_"),
            wards: Some(w),
        }),
    ))
}

/// The columns of an LSOA to ward to LAD lookup, if the headers have them.
fn ward_layout(h: &Headers) -> Option<WardLayout> {
    let (lsoa, lsoa_vintage) = match (h.find("LSOA11CD"), h.find("LSOA21CD")) {
        (Some(c), _) => (c, LsoaVintage::Lsoa2011),
        (None, Some(c)) => (c, LsoaVintage::Lsoa2021),
        _ => return None,
    };
    let lsoa_name = h.find(match lsoa_vintage {
        LsoaVintage::Lsoa2011 => "LSOA11NM",
        LsoaVintage::Lsoa2021 => "LSOA21NM",
    });
    let (ward, ward_year) = h.find_yy("WD", "CD")?;
    let (ward_name, _) = h.find_yy("WD", "NM")?;
    let (lad, lad_year) = h.find_yy("LAD", "CD")?;
    let (lad_name, _) = h.find_yy("LAD", "NM")?;
    Some(WardLayout {
        lsoa_vintage,
        lsoa,
        lsoa_name,
        ward,
        ward_name,
        ward_year,
        lad,
        lad_name,
        lad_year,
    })
}

/// An ONS ward to LAD lookup, with county, region and country when present.
fn ward_regions(h: &Headers) -> Option<(FileFormat, Layout)> {
    let ((ward, ward_year), (ward_name, _)) = (h.find_yy("WD", "CD")?, h.find_yy("WD", "NM")?);
    let ((lad, _), (lad_name, _)) = (h.find_yy("LAD", "CD")?, h.find_yy("LAD", "NM")?);
    let pair = |p: &str| Some((h.find_yy(p, "CD")?.0, h.find_yy(p, "NM")?.0));
    Some((
        FileFormat::WardRegionLookup,
        Layout::Regions(RegionLayout {
            ward_year,
            ward,
            ward_name,
            lad,
            lad_name,
            county: pair("CTY"),
            region: pair("RGN"),
            country: pair("CTRY"),
        }),
    ))
}

/// An ONS postcode directory: a postcode column and at least one LSOA column.
fn postcode_directory(h: &Headers) -> Option<(FileFormat, Layout)> {
    let postcode = h.find("pcds").or_else(|| h.find("pcd")).or_else(|| h.find("pcd2"))?;
    let (lsoa11, lsoa21) = (h.find("lsoa11"), h.find("lsoa21"));
    if lsoa11.is_none() && lsoa21.is_none() {
        return None;
    }
    Some((
        FileFormat::PostcodeDirectory,
        Layout::Postcodes(PostcodeLayout {
            postcode,
            lsoa11,
            lsoa21,
            doterm: h.find("doterm"),
        }),
    ))
}
