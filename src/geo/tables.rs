//! The in-memory lookup tables that geography files are parsed into.
//!
//! This file owns the parsed, validated tables: [`IndexTable`] (a deprivation index:
//! rank and national decile per small area), [`WardLookup`] (LSOA to ward to LAD, best
//! fit), [`RegionLookup`] (ward to LAD, county, region and country), [`Population`]
//! (population denominators per small area) and [`PostcodeMap`] (postcode to LSOA), each
//! with a [`SourceInfo`] saying where it came from. The tables are built only by the
//! readers in `read.rs` and the builtins, so every value in them has been checked.

use std::collections::HashMap;

use super::codes::{AreaCode, ImdDecile, IndexKind, LadCode, LsoaCode, LsoaVintage, Postcode, WardCode};
use super::read::FileFormat;

/// Where a table came from, for provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The file name as given, or e.g. `builtin imd2019`.
    pub source: String,
    /// The format recognised from the headers.
    pub format: FileFormat,
    /// Data rows read (header excluded).
    pub rows: usize,
}

/// One area of a deprivation index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// LSOA or data zone.
    pub code: AreaCode,
    /// Its name, when the file has one (`Preston 013A`).
    pub name: Option<String>,
    /// Local authority district given by the index file, if any.
    pub lad: Option<LadCode>,
    /// Rank, 1 = most deprived. Not necessarily 1..N: IMD2019 has tied ranks.
    pub rank: u32,
    /// National decile, computed from the rank with the index's rule (and checked against
    /// the published decile when the file has one).
    pub decile: ImdDecile,
    /// Line in the source file.
    pub line: u64,
}

/// A deprivation index: rank and decile for each small area.
#[derive(Debug, Clone)]
pub struct IndexTable {
    pub(super) kind: IndexKind,
    pub(super) source: SourceInfo,
    pub(super) rows: Vec<IndexRow>,
    pub(super) pos: HashMap<AreaCode, usize>,
    pub(super) lad_names: HashMap<LadCode, String>,
    pub(super) tied: usize,
}

impl IndexTable {
    /// Which index.
    pub fn kind(&self) -> IndexKind {
        self.kind
    }
    /// Where it came from.
    pub fn source(&self) -> &SourceInfo {
        &self.source
    }
    /// The rows in file order.
    pub fn rows(&self) -> &[IndexRow] {
        &self.rows
    }
    /// The row for an area.
    pub fn get(&self, code: &AreaCode) -> Option<&IndexRow> {
        self.pos.get(code).map(|&i| &self.rows[i])
    }
    /// Number of areas loaded.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// True when no area is loaded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// True when the file covered every area of the index (N rows); otherwise it is an
    /// extract (e.g. the Lancashire/Cumbria file) and deciles still use the national N.
    pub fn is_complete(&self) -> bool {
        self.rows.len() == self.kind.area_count() as usize
    }
    /// Number of rows whose rank equals the previous row's rank in rank order (26 in
    /// IMD2019, 0 in the others).
    pub fn tied_ranks(&self) -> usize {
        self.tied
    }
    /// The name of a LAD as given in the index file.
    pub fn lad_name(&self, lad: &LadCode) -> Option<&str> {
        self.lad_names.get(lad).map(String::as_str)
    }
}

/// A ward with its local authority district.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ward {
    /// Ward code.
    pub code: WardCode,
    /// Ward name, as in the file (mojibake left as is).
    pub name: String,
    /// The LAD the ward is in.
    pub lad: LadCode,
    /// The LAD's name.
    pub lad_name: String,
}

/// A best-fit LSOA to ward to LAD lookup (e.g. ONS LSOA11 to WD19 to LAD19).
#[derive(Debug, Clone)]
pub struct WardLookup {
    pub(super) source: SourceInfo,
    pub(super) lsoa_vintage: LsoaVintage,
    pub(super) ward_year: u16,
    pub(super) lad_year: u16,
    pub(super) by_lsoa: HashMap<LsoaCode, WardCode>,
    pub(super) wards: HashMap<WardCode, Ward>,
    pub(super) lsoa_names: HashMap<LsoaCode, String>,
}

impl WardLookup {
    /// Where it came from.
    pub fn source(&self) -> &SourceInfo {
        &self.source
    }
    /// The LSOA boundaries it maps from.
    pub fn lsoa_vintage(&self) -> LsoaVintage {
        self.lsoa_vintage
    }
    /// The ward vintage, e.g. 2019 for `WD19CD`.
    pub fn ward_year(&self) -> u16 {
        self.ward_year
    }
    /// The LAD vintage, e.g. 2019 for `LAD19CD`.
    pub fn lad_year(&self) -> u16 {
        self.lad_year
    }
    /// A label such as `LSOA2011 -> WD19 -> LAD19 (best fit)`.
    pub fn vintage_label(&self) -> String {
        format!(
            "{} -> WD{:02} -> LAD{:02} (best fit)",
            self.lsoa_vintage,
            self.ward_year % 100,
            self.lad_year % 100
        )
    }
    /// The ward an LSOA is assigned to.
    pub fn ward_of(&self, lsoa: &LsoaCode) -> Option<&Ward> {
        self.by_lsoa.get(lsoa).and_then(|w| self.wards.get(w))
    }
    /// A ward by code (only wards with at least one LSOA are known here).
    pub fn ward(&self, code: &WardCode) -> Option<&Ward> {
        self.wards.get(code)
    }
    /// The LSOA's name as given in the lookup.
    pub fn lsoa_name(&self, lsoa: &LsoaCode) -> Option<&str> {
        self.lsoa_names.get(lsoa).map(String::as_str)
    }
    /// Number of LSOAs.
    pub fn lsoa_count(&self) -> usize {
        self.by_lsoa.len()
    }
    /// Number of wards that have at least one LSOA.
    pub fn ward_count(&self) -> usize {
        self.wards.len()
    }
}

/// A ward's place in the administrative hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WardRegion {
    /// The ward and its LAD.
    pub ward: Ward,
    /// County code and name (two-tier areas only).
    pub county: Option<(String, String)>,
    /// Region code (`E12000002`), England only.
    pub region: Option<String>,
    /// Region name (`North West`).
    pub region_name: Option<String>,
    /// Country code (`E92000001`).
    pub country: Option<String>,
    /// Country name.
    pub country_name: Option<String>,
}

/// A ward to LAD (to county, region, country) list, e.g. ONS WD19 to LAD19 to CTY19 to
/// RGN19 to CTRY19. It lists every ward, including wards that no LSOA is assigned to in a
/// best-fit LSOA lookup.
#[derive(Debug, Clone)]
pub struct RegionLookup {
    pub(super) source: SourceInfo,
    pub(super) ward_year: u16,
    pub(super) wards: Vec<WardRegion>,
    pub(super) by_ward: HashMap<WardCode, usize>,
}

impl RegionLookup {
    /// Where it came from.
    pub fn source(&self) -> &SourceInfo {
        &self.source
    }
    /// Ward vintage, e.g. 2019.
    pub fn ward_year(&self) -> u16 {
        self.ward_year
    }
    /// All wards in file order.
    pub fn wards(&self) -> &[WardRegion] {
        &self.wards
    }
    /// One ward.
    pub fn get(&self, ward: &WardCode) -> Option<&WardRegion> {
        self.by_ward.get(ward).map(|&i| &self.wards[i])
    }
}

/// Population denominators per small area (e.g. IoD2019 File 6, mid-2015 totals).
#[derive(Debug, Clone)]
pub struct Population {
    pub(super) source: SourceInfo,
    pub(super) vintage: LsoaVintage,
    pub(super) label: String,
    pub(super) by_area: HashMap<AreaCode, u32>,
}

impl Population {
    /// Where it came from.
    pub fn source(&self) -> &SourceInfo {
        &self.source
    }
    /// The LSOA boundaries.
    pub fn vintage(&self) -> LsoaVintage {
        self.vintage
    }
    /// The column it was read from, e.g. `Total population: mid 2015 (excluding prisoners)`.
    pub fn label(&self) -> &str {
        &self.label
    }
    /// Total population of an area.
    pub fn get(&self, code: &AreaCode) -> Option<u32> {
        self.by_area.get(code).copied()
    }
    /// Number of areas.
    pub fn len(&self) -> usize {
        self.by_area.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_area.is_empty()
    }
}

/// One postcode of a postcode directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostcodeEntry {
    /// LSOA 2011 (or data zone 2011), when the file has `lsoa11` and the postcode has one.
    pub lsoa11: Option<AreaCode>,
    /// LSOA 2021 (or data zone 2022), when the file has `lsoa21` and the postcode has one.
    pub lsoa21: Option<AreaCode>,
    /// True when `doterm` is set (the postcode has been terminated; kept, since older
    /// survey waves use old postcodes).
    pub terminated: bool,
    /// Line in the source file.
    pub line: u64,
}

impl PostcodeEntry {
    /// The area for a vintage.
    pub fn area(&self, vintage: LsoaVintage) -> Option<AreaCode> {
        match vintage {
            LsoaVintage::Lsoa2011 => self.lsoa11,
            LsoaVintage::Lsoa2021 => self.lsoa21,
        }
    }
}

/// Postcode to LSOA, from an ONS postcode directory (NSPL or ONSPD).
#[derive(Debug, Clone)]
pub struct PostcodeMap {
    pub(super) source: SourceInfo,
    pub(super) has_lsoa11: bool,
    pub(super) has_lsoa21: bool,
    pub(super) map: HashMap<Postcode, PostcodeEntry>,
}

impl PostcodeMap {
    /// Where it came from.
    pub fn source(&self) -> &SourceInfo {
        &self.source
    }
    /// Whether the file has the vintage's LSOA column (`lsoa11` or `lsoa21`).
    pub fn has_vintage(&self, vintage: LsoaVintage) -> bool {
        match vintage {
            LsoaVintage::Lsoa2011 => self.has_lsoa11,
            LsoaVintage::Lsoa2021 => self.has_lsoa21,
        }
    }
    /// A postcode's entry.
    pub fn get(&self, postcode: &Postcode) -> Option<&PostcodeEntry> {
        self.map.get(postcode)
    }
    /// Number of postcodes kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// All postcodes kept, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Postcode, &PostcodeEntry)> {
        self.map.iter()
    }
}
