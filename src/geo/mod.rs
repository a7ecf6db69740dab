//! Geography: deprivation indices, ward and local authority lookups, postcodes.
//!
//! This module owns turning published geography files (MHCLG/ONS/Welsh and Scottish
//! Government CSVs exactly as published, or the England-wide lookups built into hearth)
//! into an in-memory [`Geography`], and resolving an LSOA code or a postcode to its
//! lsoa, ward, ward_name, lad, lad_name, imd_rank, imd_decile and imd_quintile, plus a
//! local (within-LAD) decile, the region and the population denominator when known. It is
//! pure: it reads files and the compressed builtin data and nothing else (no database, no
//! data frames, no command line); the store persists what [`Geography::iter`] and
//! [`Geography::provenance`] return.
//!
//! Conventions: rank 1 and decile 1 are the most deprived. The national decile is
//! computed from the rank with N = the number of areas in the index (32,844 for IMD2019,
//! 33,755 for IMD2025), `ceil(rank × 10 / N)` for the English indices and
//! `floor((rank − 1) × 10 / N) + 1` for WIMD 2019 and SIMD 2020 (the rules their published
//! deciles follow with no exception); tied ranks (26 in IMD2019) are fine. Local deciles:
//! see [`LOCAL_DECILE_RULE`].
//!
//! Loading is all-or-nothing: a file with any problem fails with every problem listed
//! (up to 50) and a [`GeographyBuilder`] keeps what it had before the failed call.

mod builtin;
mod codes;
mod error;
mod read;
mod tables;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::Path;

pub use self::builtin::{builtin_csv, generate as generate_builtin, Builtin, BUILTIN_IMD2019_GZ, BUILTIN_IMD2025_GZ, BUILTIN_WARDS2019_GZ};
pub use self::codes::{
    AreaCode, CodeError, DataZoneCode, ImdDecile, ImdQuintile, IndexKind, LadCode, LsoaCode, LsoaVintage, Nation, Postcode, WardCode, LAST_ENGLISH_LSOA11,
    LAST_WELSH_LSOA11,
};
pub use self::error::{DataError, GeoError, ResolveError, MAX_ERRORS};
pub use self::read::{read_file, read_from, FileFormat, GeoFile, ReadOptions, KNOWN_FORMATS};
pub use self::tables::{IndexRow, IndexTable, Population, PostcodeEntry, PostcodeMap, RegionLookup, SourceInfo, Ward, WardLookup, WardRegion};

/// The attribution required by the Open Government Licence v3.0 for the data hearth ships
/// and reads. Show it in the README and in every report that uses geography.
pub const OGL_ATTRIBUTION: &str = "Contains public sector information licensed under the Open Government Licence v3.0. \
English Indices of Deprivation 2019 and 2025 \u{a9} Crown copyright (MHCLG). ONS lookups: \
Source: Office for National Statistics, licensed under the OGL v3.0. Contains OS data \u{a9} \
Crown copyright and database right. Welsh IMD \u{a9} Welsh Government; SIMD \u{a9} Scottish Government.";

/// How local deciles are computed (for documentation and reports).
///
/// Within each local authority district, the LSOAs of the loaded index are ranked by
/// national rank (1 = most deprived); tied national ranks share a local rank and the next
/// is skipped, so ties always land in the same local decile. With m LSOAs in the LAD and
/// local rank r, the local decile is `ceil(r × 10 / m)`, the same rule as the national
/// deciles, which gives 10 groups as equal in size as possible. LADs with fewer than 10
/// LSOAs (City of London has 6, the Isles of Scilly 1) get no local decile, since they
/// cannot fill 10 groups. The LAD is the ward lookup's when one is loaded (so wards nest
/// in it), otherwise the index file's.
pub const LOCAL_DECILE_RULE: &str = "local decile = ceil(r x 10 / m), where r is the LSOA's rank by national rank among \
the m LSOAs of its local authority (ties share a rank); none when m < 10";

/// Everything known about one small area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaInfo {
    /// The index the deprivation values come from.
    pub index: IndexKind,
    /// LSOA (or data zone) code.
    pub lsoa: AreaCode,
    /// LSOA name (`Preston 013A`), when a file gave one.
    pub lsoa_name: Option<String>,
    /// Ward, when a ward lookup is loaded and has the LSOA.
    pub ward: Option<WardCode>,
    /// Ward name.
    pub ward_name: Option<String>,
    /// Local authority district.
    pub lad: Option<LadCode>,
    /// LAD name.
    pub lad_name: Option<String>,
    /// Region code (`E12000002`), when a region lookup is loaded.
    pub region: Option<String>,
    /// Region name (`North West`).
    pub region_name: Option<String>,
    /// National rank, 1 = most deprived (ties possible).
    pub imd_rank: u32,
    /// National decile, 1 = most deprived 10%.
    pub imd_decile: ImdDecile,
    /// National quintile, `ceil(decile / 2)`.
    pub imd_quintile: ImdQuintile,
    /// Decile within the LAD (see [`LOCAL_DECILE_RULE`]).
    pub local_decile: Option<ImdDecile>,
    /// Quintile within the LAD, `ceil(local_decile / 2)`.
    pub local_quintile: Option<ImdQuintile>,
    /// Population denominator, when loaded.
    pub population: Option<u32>,
}

/// One line of provenance: what was loaded, its vintage, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceItem {
    /// `index`, `wards`, `regions`, `population` or `postcodes`.
    pub what: &'static str,
    /// E.g. `IMD2019 on LSOA2011`, `LSOA2011 -> WD19 -> LAD19 (best fit)`.
    pub vintage: String,
    /// The file as given, or `builtin imd2019`.
    pub source: String,
    /// The format recognised.
    pub format: FileFormat,
    /// Data rows read.
    pub rows: usize,
}

/// The combined lookups: one deprivation index, and optionally a ward lookup, a region
/// lookup, population denominators and a postcode directory.
#[derive(Debug, Clone)]
pub struct Geography {
    index: IndexTable,
    wards: Option<WardLookup>,
    regions: Option<RegionLookup>,
    population: Option<Population>,
    postcodes: Option<PostcodeMap>,
    local: Vec<Option<ImdDecile>>,
}

impl Geography {
    /// The England-wide lookups shipped inside hearth.
    pub fn builtin(which: Builtin) -> Result<Geography, GeoError> {
        let mut b = GeographyBuilder::new();
        b.builtin(which)?;
        b.build()
    }

    /// The index.
    pub fn index(&self) -> &IndexTable {
        &self.index
    }
    /// The LSOA to ward lookup, if loaded.
    pub fn wards(&self) -> Option<&WardLookup> {
        self.wards.as_ref()
    }
    /// The ward to region lookup, if loaded.
    pub fn regions(&self) -> Option<&RegionLookup> {
        self.regions.as_ref()
    }
    /// Population denominators, if loaded.
    pub fn population(&self) -> Option<&Population> {
        self.population.as_ref()
    }
    /// The postcode directory, if loaded.
    pub fn postcodes(&self) -> Option<&PostcodeMap> {
        self.postcodes.as_ref()
    }

    /// Resolves an LSOA (or data zone) code given as text, e.g. from a survey answer.
    pub fn resolve(&self, code: &str) -> Result<AreaInfo, ResolveError> {
        let code = AreaCode::new(code).map_err(|_| ResolveError::Malformed {
            value: code.chars().take(60).collect(),
        })?;
        self.resolve_code(code)
    }

    /// Resolves a parsed code, distinguishing codes of another nation or vintage from
    /// codes simply absent from the index.
    pub fn resolve_code(&self, code: AreaCode) -> Result<AreaInfo, ResolveError> {
        let kind = self.index.kind();
        if let Some(&i) = self.index.pos.get(&code) {
            return Ok(self.info(i));
        }
        if code.nation() != kind.nation() {
            return Err(ResolveError::WrongNation {
                value: code.to_string(),
                found: code.nation(),
                expected: kind.nation(),
                index: kind,
            });
        }
        if kind.lsoa_vintage() == LsoaVintage::Lsoa2011 && code.is_2021_only() {
            return Err(ResolveError::WrongVintage {
                value: code.to_string(),
                found: LsoaVintage::Lsoa2021,
                expected: LsoaVintage::Lsoa2011,
                index: kind,
            });
        }
        Err(ResolveError::Unknown {
            value: code.to_string(),
            index: kind,
        })
    }

    /// Resolves a postcode (any case and spacing) through the postcode directory.
    pub fn resolve_postcode(&self, postcode: &str) -> Result<AreaInfo, ResolveError> {
        let pc = Postcode::new(postcode).map_err(|_| ResolveError::MalformedPostcode {
            value: postcode.chars().take(60).collect(),
        })?;
        let area = self.postcode_area(&pc)?;
        self.resolve_code(area)
    }

    /// The small area of a postcode, of the index's vintage.
    pub fn postcode_area(&self, pc: &Postcode) -> Result<AreaCode, ResolveError> {
        let Some(map) = &self.postcodes else {
            return Err(ResolveError::NoPostcodeLookup { value: pc.to_string() });
        };
        let entry = map.get(pc).ok_or_else(|| ResolveError::UnknownPostcode { value: pc.to_string() })?;
        let vintage = self.index.kind().lsoa_vintage();
        entry.area(vintage).ok_or(ResolveError::PostcodeWithoutArea {
            value: pc.to_string(),
            vintage,
        })
    }

    /// Every area of the index, resolved, in the index file's order (for the store).
    pub fn iter(&self) -> impl Iterator<Item = AreaInfo> + '_ {
        (0..self.index.rows.len()).map(move |i| self.info(i))
    }

    /// Wards of the index's nation that the ward list (region lookup) has but the best-fit
    /// LSOA lookup assigns no LSOA to (39 English wards for WD19). A ward breakdown built
    /// from LSOAs never shows them, so callers should warn. Empty unless both a ward lookup
    /// and a region lookup are loaded.
    pub fn wards_without_lsoa(&self) -> Vec<&Ward> {
        let (Some(wards), Some(regions)) = (&self.wards, &self.regions) else {
            return Vec::new();
        };
        let nation = self.index.kind().nation();
        regions
            .wards()
            .iter()
            .filter(|w| w.ward.code.nation() == nation && wards.ward(&w.ward.code).is_none())
            .map(|w| &w.ward)
            .collect()
    }

    /// Index rows that have no ward in the loaded ward lookup (0 for the builtins).
    pub fn lsoas_without_ward(&self) -> usize {
        match &self.wards {
            None => 0,
            Some(w) => self.index.rows.iter().filter(|r| r.code.lsoa().and_then(|l| w.ward_of(&l)).is_none()).count(),
        }
    }

    /// What was loaded, its vintage and source, for the store and reports.
    pub fn provenance(&self) -> Vec<ProvenanceItem> {
        let item = |what, vintage: String, s: &SourceInfo| ProvenanceItem {
            what,
            vintage,
            source: s.source.clone(),
            format: s.format,
            rows: s.rows,
        };
        let kind = self.index.kind();
        let mut out = vec![item(
            "index",
            format!("{kind} on {}{}", kind.lsoa_vintage(), if self.index.is_complete() { "" } else { " (extract)" }),
            self.index.source(),
        )];
        if let Some(w) = &self.wards {
            out.push(item("wards", w.vintage_label(), w.source()));
        }
        if let Some(r) = &self.regions {
            out.push(item("regions", format!("WD{:02}", r.ward_year() % 100), r.source()));
        }
        if let Some(p) = &self.population {
            out.push(item("population", format!("{} {}", p.vintage(), p.label()), p.source()));
        }
        if let Some(p) = &self.postcodes {
            let mut v = Vec::new();
            if p.has_lsoa11 {
                v.push("lsoa11");
            }
            if p.has_lsoa21 {
                v.push("lsoa21");
            }
            out.push(item("postcodes", v.join(", "), p.source()));
        }
        out
    }

    /// The ward and LAD of index row `i`: the ward lookup's when it has the LSOA, else the
    /// index file's LAD.
    fn place(&self, i: usize) -> (Option<&Ward>, Option<LadCode>, Option<&str>) {
        let row = &self.index.rows[i];
        let ward = match (&self.wards, row.code.lsoa()) {
            (Some(w), Some(l)) => w.ward_of(&l),
            _ => None,
        };
        match ward {
            Some(w) => (Some(w), Some(w.lad), Some(w.lad_name.as_str())),
            None => (None, row.lad, row.lad.and_then(|l| self.index.lad_name(&l))),
        }
    }

    fn info(&self, i: usize) -> AreaInfo {
        let row = &self.index.rows[i];
        let (ward, lad, lad_name) = self.place(i);
        let region = ward.and_then(|w| self.regions.as_ref()?.get(&w.code));
        let lsoa_name = row.name.clone().or_else(|| {
            let l = row.code.lsoa()?;
            self.wards.as_ref()?.lsoa_name(&l).map(str::to_string)
        });
        let local = self.local.get(i).copied().flatten();
        AreaInfo {
            index: self.index.kind(),
            lsoa: row.code,
            lsoa_name,
            ward: ward.map(|w| w.code),
            ward_name: ward.map(|w| w.name.clone()),
            lad,
            lad_name: lad_name.map(str::to_string),
            region: region.and_then(|r| r.region.clone()),
            region_name: region.and_then(|r| r.region_name.clone()),
            imd_rank: row.rank,
            imd_decile: row.decile,
            imd_quintile: row.decile.quintile(),
            local_decile: local,
            local_quintile: local.map(ImdDecile::quintile),
            population: self.population.as_ref().and_then(|p| p.get(&row.code)),
        }
    }
}

/// Collects lookups from files and builtins, then checks that they fit together.
/// A failed call leaves the builder as it was.
#[derive(Debug, Clone, Default)]
pub struct GeographyBuilder {
    index: Option<IndexTable>,
    wards: Option<WardLookup>,
    regions: Option<RegionLookup>,
    population: Option<Population>,
    postcodes: Option<PostcodeMap>,
    opts: ReadOptions,
}

impl GeographyBuilder {
    /// An empty builder.
    pub fn new() -> GeographyBuilder {
        GeographyBuilder::default()
    }

    /// Keep only these postcodes when reading a postcode directory (call before
    /// [`GeographyBuilder::postcodes_file`]).
    pub fn postcode_filter(&mut self, postcodes: HashSet<Postcode>) -> &mut Self {
        self.opts.postcode_filter = Some(postcodes);
        self
    }

    /// Uses a builtin: its index, ward lookup, population and ward list replace whatever
    /// was loaded before.
    pub fn builtin(&mut self, which: Builtin) -> Result<&mut Self, GeoError> {
        let parts = builtin::load(which)?;
        self.index = Some(parts.index);
        self.wards = parts.wards;
        self.regions = parts.regions;
        self.population = parts.population;
        Ok(self)
    }

    /// `--imd FILE`: a deprivation index file. If the file also carries a ward lookup or
    /// population (the LSOA-ward-IMD format, File 7), those are used unless already loaded.
    pub fn index_file(&mut self, path: &Path) -> Result<&mut Self, GeoError> {
        let f = read_file(path, &self.opts)?;
        if f.index.is_none() {
            return Err(wrong_role(
                path,
                &f,
                "a deprivation index file (IMD 2019 File 2, IMD 2025 File 7, WIMD, SIMD...)",
            ));
        }
        let Some(index) = f.index else {
            return Err(GeoError::NoIndex);
        };
        self.index = Some(index);
        if self.wards.is_none() {
            self.wards = f.wards;
        }
        if self.population.is_none() {
            self.population = f.population;
        }
        Ok(self)
    }

    /// `--wards FILE`: an LSOA to ward to LAD lookup (replaces any loaded one).
    pub fn wards_file(&mut self, path: &Path) -> Result<&mut Self, GeoError> {
        let f = read_file(path, &self.opts)?;
        match f.wards {
            Some(w) => self.wards = Some(w),
            None => return Err(wrong_role(path, &f, "an LSOA to ward lookup (LSOA11CD, WD19CD, LAD19CD...)")),
        }
        Ok(self)
    }

    /// `--regions FILE`: a ward to LAD/region lookup (the full ward list).
    pub fn regions_file(&mut self, path: &Path) -> Result<&mut Self, GeoError> {
        let f = read_file(path, &self.opts)?;
        match f.regions {
            Some(r) => self.regions = Some(r),
            None => return Err(wrong_role(path, &f, "a ward to region lookup (WD19CD, LAD19CD, RGN19CD...)")),
        }
        Ok(self)
    }

    /// `--population FILE`: population denominators (File 6, or an index file carrying
    /// them).
    pub fn population_file(&mut self, path: &Path) -> Result<&mut Self, GeoError> {
        let f = read_file(path, &self.opts)?;
        match f.population {
            Some(p) => self.population = Some(p),
            None => return Err(wrong_role(path, &f, "population denominators (IMD 2019 File 6)")),
        }
        Ok(self)
    }

    /// `--postcodes FILE`: an NSPL or ONSPD postcode directory, streamed; only the
    /// postcode, LSOA and termination columns are kept (and only filtered postcodes).
    pub fn postcodes_file(&mut self, path: &Path) -> Result<&mut Self, GeoError> {
        let f = read_file(path, &self.opts)?;
        match f.postcodes {
            Some(p) => self.postcodes = Some(p),
            None => return Err(wrong_role(path, &f, "an ONS postcode directory (NSPL/ONSPD: pcds, lsoa11/lsoa21)")),
        }
        Ok(self)
    }

    /// Any recognised file: every part it provides replaces the loaded one. Returns the
    /// format found.
    pub fn file(&mut self, path: &Path) -> Result<FileFormat, GeoError> {
        let f = read_file(path, &self.opts)?;
        Ok(self.add(f))
    }

    /// Adds an already-read file (see [`read_from`]); returns its format.
    pub fn add(&mut self, f: GeoFile) -> FileFormat {
        let format = f.format;
        if f.index.is_some() {
            self.index = f.index;
        }
        if f.wards.is_some() {
            self.wards = f.wards;
        }
        if f.regions.is_some() {
            self.regions = f.regions;
        }
        if f.population.is_some() {
            self.population = f.population;
        }
        if f.postcodes.is_some() {
            self.postcodes = f.postcodes;
        }
        format
    }

    /// Checks that the parts fit together (same LSOA vintage, same ward vintage) and
    /// computes local deciles.
    pub fn build(self) -> Result<Geography, GeoError> {
        let index = self.index.ok_or(GeoError::NoIndex)?;
        let kind = index.kind();
        let v = kind.lsoa_vintage();
        if let Some(w) = &self.wards {
            if w.lsoa_vintage() != v {
                return Err(GeoError::Incompatible {
                    path: w.source().source.clone(),
                    message: format!(
                        "the ward lookup maps {} codes, but the {kind} index is on {v} boundaries; load a lookup from {v} (e.g. LSOA21CD -> WD24CD -> LAD24CD for IMD2025)",
                        w.lsoa_vintage()
                    ),
                });
            }
            if let Some(r) = &self.regions {
                if r.ward_year() != w.ward_year() {
                    return Err(GeoError::Incompatible {
                        path: r.source().source.clone(),
                        message: format!(
                            "the region lookup is on WD{:02} wards but the ward lookup on WD{:02}",
                            r.ward_year() % 100,
                            w.ward_year() % 100
                        ),
                    });
                }
            }
        }
        if let Some(p) = &self.population {
            if p.vintage() != v {
                return Err(GeoError::Incompatible {
                    path: p.source().source.clone(),
                    message: format!("the population denominators are on {} boundaries, but the {kind} index is on {v}", p.vintage()),
                });
            }
        }
        if let Some(p) = &self.postcodes {
            if !p.has_vintage(v) {
                return Err(GeoError::Incompatible {
                    path: p.source().source.clone(),
                    message: format!(
                        "the postcode directory has no {} column, which the {kind} index needs",
                        if v == LsoaVintage::Lsoa2011 { "lsoa11" } else { "lsoa21" }
                    ),
                });
            }
        }
        let mut geo = Geography {
            index,
            wards: self.wards,
            regions: self.regions,
            population: self.population,
            postcodes: self.postcodes,
            local: Vec::new(),
        };
        geo.local = local_deciles(&geo);
        Ok(geo)
    }
}

fn wrong_role(path: &Path, f: &GeoFile, expected: &'static str) -> GeoError {
    GeoError::WrongRole {
        path: path.display().to_string(),
        found: f.format,
        provides: f.provides(),
        expected,
    }
}

/// Local deciles per index row, following [`LOCAL_DECILE_RULE`].
fn local_deciles(geo: &Geography) -> Vec<Option<ImdDecile>> {
    let n = geo.index.rows.len();
    let mut by_lad: HashMap<LadCode, Vec<usize>> = HashMap::new();
    for i in 0..n {
        if let (_, Some(lad), _) = geo.place(i) {
            by_lad.entry(lad).or_default().push(i);
        }
    }
    let mut out = vec![None; n];
    for rows in by_lad.values_mut() {
        let m = rows.len() as u32;
        if m < 10 {
            continue;
        }
        rows.sort_unstable_by_key(|&i| geo.index.rows[i].rank);
        let mut local_rank = 1u32;
        for (k, &i) in rows.iter().enumerate() {
            if k > 0 && geo.index.rows[rows[k - 1]].rank != geo.index.rows[i].rank {
                local_rank = k as u32 + 1;
            }
            out[i] = ImdDecile::from_rank_ceil(local_rank, m);
        }
    }
    out
}
