//! Reading geography files exactly as published.
//!
//! This file owns recognising a file by its headers ([`FileFormat`]) and parsing it into
//! the tables of `tables.rs`, in one streaming pass: a UTF-8 byte order mark is removed,
//! CRLF and LF both work, quoted headers may contain commas, numbers may carry thousands
//! separators (`"1,296"`), and text such as mojibake in ward names is kept as it is. Every
//! problem in the rows is collected (up to [`MAX_ERRORS`], the rest counted) with its file,
//! line, column and value; if there is any, the whole file fails and nothing is returned.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use super::codes::{AreaCode, CodeError, IndexKind, LadCode, LsoaCode, LsoaVintage, Nation, Postcode, WardCode};
use super::error::{DataError, GeoError, MAX_ERRORS};
use super::tables::{IndexRow, IndexTable, Population, PostcodeEntry, PostcodeMap, RegionLookup, SourceInfo, Ward, WardLookup, WardRegion};

/// A geography file format, recognised from the header line.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// MHCLG IoD2019 File 1 (IMD rank and decile).
    Imd2019File1,
    /// MHCLG IoD2019 File 2 (IMD and domain ranks and deciles).
    Imd2019File2,
    /// MHCLG IoD2019 File 7 (all scores, ranks, deciles and population denominators).
    Imd2019File7,
    /// IoD2019 for England with humaniverse/IMD column names (`lsoa11_code`, `IMD_rank`).
    Imd2019Humaniverse,
    /// ONS "Index of Multiple Deprivation (December 2019) Lookup in England"
    /// (`LSOA11CD,...,IMD19`, where `IMD19` is the rank).
    OnsImd2019Lookup,
    /// MHCLG IoD2025 File 7.
    Imd2025File7,
    /// IoD2025 with humaniverse/IMD column names (`lsoa21_code`, `IMD_rank`).
    Imd2025Humaniverse,
    /// WIMD 2019 with humaniverse/IMD column names.
    Wimd2019Humaniverse,
    /// SIMD 2020 with humaniverse/IMD column names (`dz11_code`).
    Simd2020Humaniverse,
    /// MHCLG IoD2019 File 6 (population denominators, mid 2015).
    Imd2019File6,
    /// An ONS best-fit LSOA to ward to LAD lookup (`LSOA11CD,...,WD19CD,...,LAD19CD`).
    LsoaWardLookup,
    /// An ONS ward to LAD (to county, region, country) lookup.
    WardRegionLookup,
    /// LSOA, ward, LAD, IMD rank and decile, population in one file: the Lancashire/Cumbria
    /// extract in the shared data and hearth's builtin tables.
    LsoaWardImd,
    /// An ONS postcode directory (NSPL or ONSPD).
    PostcodeDirectory,
}

impl FileFormat {
    /// A human name for messages.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Imd2019File1 => "IMD 2019 File 1 (MHCLG)",
            FileFormat::Imd2019File2 => "IMD 2019 File 2 (MHCLG)",
            FileFormat::Imd2019File7 => "IMD 2019 File 7 (MHCLG)",
            FileFormat::Imd2019Humaniverse => "IMD 2019 (humaniverse column names)",
            FileFormat::OnsImd2019Lookup => "ONS IMD 2019 lookup",
            FileFormat::Imd2025File7 => "IMD 2025 File 7 (MHCLG)",
            FileFormat::Imd2025Humaniverse => "IMD 2025 (humaniverse column names)",
            FileFormat::Wimd2019Humaniverse => "WIMD 2019 (humaniverse column names)",
            FileFormat::Simd2020Humaniverse => "SIMD 2020 (humaniverse column names)",
            FileFormat::Imd2019File6 => "IMD 2019 File 6 population denominators (MHCLG)",
            FileFormat::LsoaWardLookup => "ONS LSOA to ward lookup",
            FileFormat::WardRegionLookup => "ONS ward to LAD/region lookup",
            FileFormat::LsoaWardImd => "LSOA-ward-IMD file",
            FileFormat::PostcodeDirectory => "ONS postcode directory (NSPL/ONSPD)",
        }
    }
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What each known format needs in its header line (shown when a file is not recognised).
pub const KNOWN_FORMATS: &[&str] = &[
    "IMD 2019 File 1/2/7 (MHCLG): \"LSOA code (2011)\", \"Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)\", \"Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)\"",
    "IMD 2025 File 7 (MHCLG): \"LSOA code (2021)\" and the same IMD Rank and Decile headers",
    "IMD 2019 File 6 population (MHCLG): \"LSOA code (2011)\", \"Total population: mid 2015 (excluding prisoners)\"",
    "ONS IMD 2019 lookup: LSOA11CD, LSOA11NM, LAD19CD, LAD19NM, IMD19",
    "humaniverse IMD 2025 / IMD 2019 / WIMD 2019 / SIMD 2020: lsoa21_code | lsoa11_code | lsoa11_code + Access_rank | dz11_code, with IMD_rank, IMD_decile",
    "ONS LSOA to ward lookup: LSOA11CD or LSOA21CD, WDyyCD, WDyyNM, LADyyCD, LADyyNM",
    "ONS ward to LAD/region lookup: WDyyCD, WDyyNM, LADyyCD, LADyyNM [, RGNyyCD, RGNyyNM, CTRYyyCD, CTRYyyNM]",
    "LSOA-ward-IMD file: LSOA11CD, LSOA11NM, WD19CD, WD19NM, LAD19CD, LAD19NM, IMD19_RANK, IMD19_DECILE [, POP_MID2015]",
    "ONS postcode directory (NSPL/ONSPD): pcds or pcd, lsoa11 and/or lsoa21 [, doterm]",
];

/// Everything one file provided. Which parts are present depends on the format: an
/// index file gives `index` (and `population` for File 7), the LSOA-ward-IMD file gives
/// `index`, `wards` and `population`, and so on.
#[derive(Debug, Clone)]
pub struct GeoFile {
    /// The format recognised.
    pub format: FileFormat,
    /// A deprivation index.
    pub index: Option<IndexTable>,
    /// An LSOA to ward lookup.
    pub wards: Option<WardLookup>,
    /// A ward to region lookup.
    pub regions: Option<RegionLookup>,
    /// Population denominators.
    pub population: Option<Population>,
    /// A postcode directory.
    pub postcodes: Option<PostcodeMap>,
}

impl GeoFile {
    fn new(format: FileFormat) -> GeoFile {
        GeoFile {
            format,
            index: None,
            wards: None,
            regions: None,
            population: None,
            postcodes: None,
        }
    }

    /// What the file provides, e.g. `index IMD2019, wards, population`.
    pub fn provides(&self) -> String {
        let mut parts = Vec::new();
        if let Some(i) = &self.index {
            parts.push(format!("index {}", i.kind()));
        }
        if self.wards.is_some() {
            parts.push("LSOA to ward lookup".to_string());
        }
        if self.regions.is_some() {
            parts.push("ward to region lookup".to_string());
        }
        if self.population.is_some() {
            parts.push("population".to_string());
        }
        if self.postcodes.is_some() {
            parts.push("postcodes".to_string());
        }
        parts.join(", ")
    }
}

/// Options for reading.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Keep only these postcodes from a postcode directory (a full NSPL has 2.7 million).
    pub postcode_filter: Option<HashSet<Postcode>>,
}

/// Reads and validates a geography file of any known format.
pub fn read_file(path: &Path, opts: &ReadOptions) -> Result<GeoFile, GeoError> {
    let label = path.display().to_string();
    let file = File::open(path).map_err(|source| GeoError::Io { path: label.clone(), source })?;
    read_from(&label, file, opts)
}

/// Reads and validates a geography file from any reader; `label` names it in messages.
pub fn read_from<R: Read>(label: &str, reader: R, opts: &ReadOptions) -> Result<GeoFile, GeoError> {
    let io = |source| GeoError::Io {
        path: label.to_string(),
        source,
    };
    // Remove a UTF-8 byte order mark without assuming a buffered reader.
    let mut reader = reader;
    let mut head = Vec::with_capacity(3);
    (&mut reader).take(3).read_to_end(&mut head).map_err(io)?;
    if head == [0xEF, 0xBB, 0xBF] {
        head.clear();
    }
    let chained = Eol::new(Cursor::new(head).chain(reader));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(chained);
    let headers: Vec<String> = match rdr.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().trim_start_matches('\u{feff}').to_string())
            .collect(),
        Err(e) => return Err(csv_error(label, e)),
    };
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err(GeoError::Empty { path: label.to_string() });
    }
    let h = Headers::new(&headers);
    let Some((format, layout)) = recognise(&h) else {
        return Err(GeoError::UnrecognisedHeaders {
            path: label.to_string(),
            found: headers,
            expected: KNOWN_FORMATS.iter().map(|s| s.to_string()).collect(),
        });
    };
    let mut rows = Rows {
        path: label.to_string(),
        rdr,
        rec: csv::ByteRecord::new(),
        ncols: headers.len(),
        count: 0,
    };
    let mut errs = Errs::new(label);
    let mut out = GeoFile::new(format);
    match layout {
        Layout::Index(l) => parse_index(&mut rows, &mut errs, &l, format, &mut out)?,
        Layout::Wards(l) => {
            let mut acc = WardAcc::new(l.lsoa_vintage, true);
            while let Some(line) = rows.next(&mut errs)? {
                acc.add_row(&rows, &mut errs, line, &l);
            }
            if errs.is_empty() {
                out.wards = Some(acc.finish(source(label, format, rows.count), &l));
            }
        }
        Layout::Regions(l) => out.regions = parse_regions(&mut rows, &mut errs, &l, format)?,
        Layout::Population(l) => out.population = parse_population(&mut rows, &mut errs, &l, format, &headers)?,
        Layout::Postcodes(l) => out.postcodes = parse_postcodes(&mut rows, &mut errs, &l, format, opts)?,
    }
    errs.finish()?;
    Ok(out)
}

fn source(label: &str, format: FileFormat, rows: usize) -> SourceInfo {
    SourceInfo {
        source: label.to_string(),
        format,
        rows,
    }
}

fn csv_error(path: &str, e: csv::Error) -> GeoError {
    let line = e.position().map_or(1, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(source) => GeoError::Io {
            path: path.to_string(),
            source,
        },
        other => GeoError::Invalid {
            path: path.to_string(),
            errors: vec![DataError::Syntax {
                path: path.to_string(),
                line,
                column: 1,
                value: String::new(),
                message: format!("{other:?}").to_lowercase(),
            }],
            more: 0,
        },
    }
}

/// Turns CRLF and lone CR line endings into LF while streaming, so that the CSV reader's
/// line numbers match what an editor shows (with CRLF it reports a record as starting on
/// the previous line, before the LF).
struct Eol<R> {
    inner: R,
    raw: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
    pending_cr: bool,
}

impl<R: Read> Eol<R> {
    fn new(inner: R) -> Eol<R> {
        Eol {
            inner,
            raw: vec![0; 1 << 16],
            buf: Vec::with_capacity(1 << 16),
            pos: 0,
            pending_cr: false,
        }
    }
}

impl<R: Read> Read for Eol<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            let n = self.inner.read(&mut self.raw)?;
            self.buf.clear();
            self.pos = 0;
            if n == 0 {
                if self.pending_cr {
                    self.pending_cr = false;
                    out[0] = b'\n';
                    return Ok(1);
                }
                return Ok(0);
            }
            for &b in &self.raw[..n] {
                if self.pending_cr {
                    self.pending_cr = false;
                    self.buf.push(b'\n');
                    if b == b'\n' {
                        continue;
                    }
                }
                if b == b'\r' {
                    self.pending_cr = true;
                } else {
                    self.buf.push(b);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- headers and layouts

struct Headers {
    lower: Vec<String>,
}

impl Headers {
    fn new(h: &[String]) -> Headers {
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

struct IndexLayout {
    kind: IndexKind,
    code: usize,
    name: Option<usize>,
    lad: Option<usize>,
    lad_name: Option<usize>,
    rank: usize,
    decile: Option<usize>,
    population: Option<usize>,
    wards: Option<WardLayout>,
}

struct WardLayout {
    lsoa_vintage: LsoaVintage,
    lsoa: usize,
    lsoa_name: Option<usize>,
    ward: usize,
    ward_name: usize,
    ward_year: u16,
    lad: usize,
    lad_name: usize,
    lad_year: u16,
}

struct RegionLayout {
    ward_year: u16,
    ward: usize,
    ward_name: usize,
    lad: usize,
    lad_name: usize,
    county: Option<(usize, usize)>,
    region: Option<(usize, usize)>,
    country: Option<(usize, usize)>,
}

struct PopulationLayout {
    vintage: LsoaVintage,
    code: usize,
    total: usize,
}

struct PostcodeLayout {
    postcode: usize,
    lsoa11: Option<usize>,
    lsoa21: Option<usize>,
    doterm: Option<usize>,
}

enum Layout {
    Index(IndexLayout),
    Wards(WardLayout),
    Regions(RegionLayout),
    Population(PopulationLayout),
    Postcodes(PostcodeLayout),
}

const IMD_RANK: &str = "Index of Multiple Deprivation (IMD) Rank";
const IMD_DECILE: &str = "Index of Multiple Deprivation (IMD) Decile";
const POP_2015: &str = "Total population: mid 2015 (excluding prisoners)";

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

fn recognise(h: &Headers) -> Option<(FileFormat, Layout)> {
    // MHCLG official files: File 1, 2 and 7 share the ID columns and the IMD rank/decile.
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
    // ONS IMD 2019 lookup: IMD19 is the rank.
    if let (Some(code), Some(rank)) = (h.find("LSOA11CD"), h.find("IMD19")) {
        return Some((
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
        ));
    }
    // humaniverse/IMD column names.
    if let (Some(rank), Some(decile)) = (h.find("IMD_rank"), h.find("IMD_decile")) {
        let found = if let Some(c) = h.find("lsoa21_code") {
            Some((c, IndexKind::Imd2025, FileFormat::Imd2025Humaniverse))
        } else if let Some(c) = h.find("dz11_code") {
            Some((c, IndexKind::Simd2020, FileFormat::Simd2020Humaniverse))
        } else if let Some(c) = h.find("lsoa11_code") {
            if h.find("Access_rank").is_some() {
                Some((c, IndexKind::Wimd2019, FileFormat::Wimd2019Humaniverse))
            } else {
                Some((c, IndexKind::Imd2019, FileFormat::Imd2019Humaniverse))
            }
        } else {
            None
        };
        if let Some((code, kind, format)) = found {
            return Some((
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
            ));
        }
    }
    // LSOA-ward-IMD (the Lancashire/Cumbria extract, hearth builtins).
    if let Some((rank, year)) = h.find_yy("IMD", "_RANK") {
        let kind = match year {
            2019 => Some(IndexKind::Imd2019),
            2025 => Some(IndexKind::Imd2025),
            _ => None,
        };
        if let (Some(kind), Some(w)) = (kind, ward_layout(h)) {
            if w.lsoa_vintage == kind.lsoa_vintage() {
                return Some((
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
                ));
            }
        }
    }
    if let Some(w) = ward_layout(h) {
        return Some((FileFormat::LsoaWardLookup, Layout::Wards(w)));
    }
    if let (Some((ward, ward_year)), Some((ward_name, _)), Some((lad, _)), Some((lad_name, _))) =
        (h.find_yy("WD", "CD"), h.find_yy("WD", "NM"), h.find_yy("LAD", "CD"), h.find_yy("LAD", "NM"))
    {
        let pair = |p: &str| Some((h.find_yy(p, "CD")?.0, h.find_yy(p, "NM")?.0));
        return Some((
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
        ));
    }
    let postcode = h.find("pcds").or_else(|| h.find("pcd")).or_else(|| h.find("pcd2"));
    let (lsoa11, lsoa21) = (h.find("lsoa11"), h.find("lsoa21"));
    if let Some(postcode) = postcode {
        if lsoa11.is_some() || lsoa21.is_some() {
            return Some((
                FileFormat::PostcodeDirectory,
                Layout::Postcodes(PostcodeLayout {
                    postcode,
                    lsoa11,
                    lsoa21,
                    doterm: h.find("doterm"),
                }),
            ));
        }
    }
    None
}

// ---------------------------------------------------------------- rows and errors

struct Errs {
    path: String,
    list: Vec<DataError>,
    more: usize,
}

impl Errs {
    fn new(path: &str) -> Errs {
        Errs {
            path: path.to_string(),
            list: Vec::new(),
            more: 0,
        }
    }
    fn push(&mut self, e: DataError) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(e);
        } else {
            self.more += 1;
        }
    }
    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    fn finish(self) -> Result<(), GeoError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(GeoError::Invalid {
                path: self.path,
                errors: self.list,
                more: self.more,
            })
        }
    }
    fn malformed(&mut self, line: u64, col: usize, e: CodeError) {
        self.push(DataError::MalformedCode {
            path: self.path.clone(),
            line,
            column: col + 1,
            what: e.what,
            value: e.value,
            expected: e.expected,
        });
    }
    fn bad_number(&mut self, line: u64, col: usize, what: &'static str, value: &str) {
        self.push(DataError::BadNumber {
            path: self.path.clone(),
            line,
            column: col + 1,
            what,
            value: value.to_string(),
        });
    }
    fn missing(&mut self, line: u64, col: usize, what: &'static str) {
        self.push(DataError::Missing {
            path: self.path.clone(),
            line,
            column: col + 1,
            what,
            value: String::new(),
        });
    }
    fn duplicate(&mut self, line: u64, col: usize, what: &'static str, value: &str, first_line: u64) {
        self.push(DataError::Duplicate {
            path: self.path.clone(),
            line,
            column: col + 1,
            what,
            value: value.to_string(),
            first_line,
        });
    }
}

struct Rows<R: Read> {
    path: String,
    rdr: csv::Reader<R>,
    rec: csv::ByteRecord,
    ncols: usize,
    count: usize,
}

impl<R: Read> Rows<R> {
    /// Reads the next well-formed record, reporting records with the wrong number of
    /// fields or invalid UTF-8 and skipping them. Returns its line.
    fn next(&mut self, errs: &mut Errs) -> Result<Option<u64>, GeoError> {
        loop {
            match self.rdr.read_byte_record(&mut self.rec) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    if let csv::ErrorKind::Io(_) = e.kind() {
                        return Err(csv_error(&self.path, e));
                    }
                    let line = e.position().map_or(0, |p| p.line());
                    errs.push(DataError::Syntax {
                        path: self.path.clone(),
                        line,
                        column: 1,
                        value: String::new(),
                        message: e.to_string().to_lowercase(),
                    });
                    continue;
                }
            }
            self.count += 1;
            let line = self.rec.position().map_or(0, |p| p.line());
            if self.rec.len() != self.ncols {
                let joined: Vec<String> = self.rec.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
                let mut value = joined.join(",");
                if value.chars().count() > 80 {
                    value = value.chars().take(77).collect::<String>() + "...";
                }
                errs.push(DataError::WrongFieldCount {
                    path: self.path.clone(),
                    line,
                    column: self.rec.len().min(self.ncols) + 1,
                    value,
                    found: self.rec.len(),
                    expected: self.ncols,
                });
                continue;
            }
            if let Err(e) = std::str::from_utf8(self.rec.as_slice()) {
                // Find the column holding the bad byte.
                let mut at = e.valid_up_to();
                let mut col = 0;
                for (i, f) in self.rec.iter().enumerate() {
                    if at < f.len() {
                        col = i;
                        break;
                    }
                    at -= f.len();
                }
                errs.push(DataError::Syntax {
                    path: self.path.clone(),
                    line,
                    column: col + 1,
                    value: String::from_utf8_lossy(&self.rec[col]).into_owned(),
                    message: "invalid UTF-8: the file must be saved as UTF-8".to_string(),
                });
                continue;
            }
            return Ok(Some(line));
        }
    }

    /// A cell, trimmed (valid UTF-8 was checked by `next`).
    fn cell(&self, i: usize) -> &str {
        self.rec.get(i).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("").trim()
    }
}

/// A whole number, allowing thousands separators (`1,296`) and a `.0` ending (xlsx
/// exports). `None` for anything else.
fn parse_whole(s: &str) -> Option<u32> {
    let s = s.trim();
    let s = s.strip_suffix(".0").unwrap_or(s);
    let mut v: u64 = 0;
    let mut digits = 0;
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'0'..=b'9' => {
                v = v * 10 + u64::from(c - b'0');
                if v > u64::from(u32::MAX) {
                    return None;
                }
                digits += 1;
            }
            b',' if i > 0 => {}
            _ => return None,
        }
    }
    (digits > 0).then_some(v as u32)
}

/// Parses a small-area code for an index of `kind`, reporting malformed codes and codes of
/// the wrong nation or vintage.
fn index_area(errs: &mut Errs, line: u64, col: usize, s: &str, kind: IndexKind) -> Option<AreaCode> {
    let code = match AreaCode::new(s) {
        Ok(c) => c,
        Err(e) => {
            let expected = match kind.nation() {
                Nation::England => "E01 followed by 6 digits",
                Nation::Wales => "W01 followed by 6 digits",
                _ => "S01 followed by 6 digits",
            };
            if s.is_empty() {
                errs.missing(line, col, "area code");
            } else {
                errs.malformed(line, col, CodeError { expected, ..e });
            }
            return None;
        }
    };
    if code.nation() != kind.nation() {
        errs.push(DataError::WrongNation {
            path: errs.path.clone(),
            line,
            column: col + 1,
            value: code.to_string(),
            found: code.nation(),
            expected: kind.nation(),
            index: kind,
        });
        return None;
    }
    if kind.lsoa_vintage() == LsoaVintage::Lsoa2011 && code.is_2021_only() {
        errs.push(DataError::WrongVintage {
            path: errs.path.clone(),
            line,
            column: col + 1,
            value: code.to_string(),
            found: LsoaVintage::Lsoa2021,
            expected: LsoaVintage::Lsoa2011,
        });
        return None;
    }
    Some(code)
}

/// Parses an LSOA code of a lookup on `vintage` boundaries.
fn lookup_lsoa(errs: &mut Errs, line: u64, col: usize, s: &str, vintage: LsoaVintage) -> Option<LsoaCode> {
    match LsoaCode::new(s) {
        Ok(c) if vintage == LsoaVintage::Lsoa2011 && c.is_2021_only() => {
            errs.push(DataError::WrongVintage {
                path: errs.path.clone(),
                line,
                column: col + 1,
                value: c.to_string(),
                found: LsoaVintage::Lsoa2021,
                expected: LsoaVintage::Lsoa2011,
            });
            None
        }
        Ok(c) => Some(c),
        Err(_) if s.is_empty() => {
            errs.missing(line, col, "LSOA code");
            None
        }
        Err(e) => {
            errs.malformed(line, col, e);
            None
        }
    }
}

fn code_cell<T>(errs: &mut Errs, line: u64, col: usize, s: &str, f: fn(&str) -> Result<T, CodeError>) -> Option<T> {
    match f(s) {
        Ok(c) => Some(c),
        Err(e) => {
            if s.is_empty() {
                errs.missing(line, col, e.what);
            } else {
                errs.malformed(line, col, e);
            }
            None
        }
    }
}

fn number_cell(errs: &mut Errs, line: u64, col: usize, s: &str, what: &'static str) -> Option<u32> {
    match parse_whole(s) {
        Some(v) => Some(v),
        None if s.is_empty() => {
            errs.missing(line, col, what);
            None
        }
        None => {
            errs.bad_number(line, col, what, s);
            None
        }
    }
}

// ---------------------------------------------------------------- ward accumulation

struct WardAcc {
    lsoa_vintage: LsoaVintage,
    check_lsoa: bool,
    by_lsoa: HashMap<LsoaCode, (WardCode, u64)>,
    wards: HashMap<WardCode, (Ward, u64)>,
    lsoa_names: HashMap<LsoaCode, String>,
}

impl WardAcc {
    fn new(lsoa_vintage: LsoaVintage, check_lsoa: bool) -> WardAcc {
        WardAcc {
            lsoa_vintage,
            check_lsoa,
            by_lsoa: HashMap::new(),
            wards: HashMap::new(),
            lsoa_names: HashMap::new(),
        }
    }

    /// Adds the ward columns of the current row. When `check_lsoa` is false the LSOA
    /// column was already checked by the index parser.
    fn add_row<R: Read>(&mut self, rows: &Rows<R>, errs: &mut Errs, line: u64, l: &WardLayout) {
        let lsoa_s = rows.cell(l.lsoa);
        let lsoa = if self.check_lsoa {
            lookup_lsoa(errs, line, l.lsoa, lsoa_s, self.lsoa_vintage)
        } else {
            LsoaCode::new(lsoa_s).ok()
        };
        let ward = code_cell(errs, line, l.ward, rows.cell(l.ward), WardCode::new);
        let lad = code_cell(errs, line, l.lad, rows.cell(l.lad), LadCode::new);
        let (Some(lsoa), Some(ward), Some(lad)) = (lsoa, ward, lad) else {
            return;
        };
        if self.check_lsoa {
            if let Some(&(_, first)) = self.by_lsoa.get(&lsoa) {
                errs.duplicate(line, l.lsoa, "LSOA", lsoa.as_str(), first);
                return;
            }
        }
        let ward_name = rows.cell(l.ward_name);
        let lad_name = rows.cell(l.lad_name);
        match self.wards.get(&ward) {
            Some((w, first)) => {
                if w.lad != lad {
                    errs.push(DataError::Inconsistent {
                        path: errs.path.clone(),
                        line,
                        column: l.lad + 1,
                        value: lad.to_string(),
                        message: format!("ward {ward} is in LAD {} on line {first}", w.lad),
                    });
                    return;
                }
                if w.name != ward_name {
                    errs.push(DataError::Inconsistent {
                        path: errs.path.clone(),
                        line,
                        column: l.ward_name + 1,
                        value: ward_name.to_string(),
                        message: format!("ward {ward} is named {:?} on line {first}", w.name),
                    });
                    return;
                }
            }
            None => {
                self.wards.insert(
                    ward,
                    (
                        Ward {
                            code: ward,
                            name: ward_name.to_string(),
                            lad,
                            lad_name: lad_name.to_string(),
                        },
                        line,
                    ),
                );
            }
        }
        if let Some(c) = l.lsoa_name {
            self.lsoa_names.insert(lsoa, rows.cell(c).to_string());
        }
        self.by_lsoa.insert(lsoa, (ward, line));
    }

    fn finish(self, source: SourceInfo, l: &WardLayout) -> WardLookup {
        WardLookup {
            source,
            lsoa_vintage: self.lsoa_vintage,
            ward_year: l.ward_year,
            lad_year: l.lad_year,
            by_lsoa: self.by_lsoa.into_iter().map(|(k, (w, _))| (k, w)).collect(),
            wards: self.wards.into_iter().map(|(k, (w, _))| (k, w)).collect(),
            lsoa_names: self.lsoa_names,
        }
    }
}

// ---------------------------------------------------------------- parsers

fn parse_index<R: Read>(rows: &mut Rows<R>, errs: &mut Errs, l: &IndexLayout, format: FileFormat, out: &mut GeoFile) -> Result<(), GeoError> {
    let kind = l.kind;
    let n = kind.area_count();
    let mut table_rows: Vec<IndexRow> = Vec::with_capacity(n as usize);
    let mut pos: HashMap<AreaCode, usize> = HashMap::with_capacity(n as usize);
    let mut first_line: HashMap<AreaCode, u64> = HashMap::with_capacity(n as usize);
    let mut lad_names: HashMap<LadCode, String> = HashMap::new();
    let mut population: HashMap<AreaCode, u32> = HashMap::new();
    let mut wards = l.wards.as_ref().map(|w| WardAcc::new(w.lsoa_vintage, false));
    let mut too_many: Option<u64> = None;
    let what = if kind == IndexKind::Simd2020 { "data zone" } else { "LSOA" };

    while let Some(line) = rows.next(errs)? {
        if rows.count > n as usize && too_many.is_none() {
            too_many = Some(line);
        }
        let before = errs.list.len() + errs.more;
        let code_s = rows.cell(l.code);
        let code = index_area(errs, line, l.code, code_s, kind);
        if let Some(c) = code {
            if let Some(&first) = first_line.get(&c) {
                errs.duplicate(line, l.code, what, c.as_str(), first);
            } else {
                first_line.insert(c, line);
            }
        }
        let rank_s = rows.cell(l.rank);
        let rank = number_cell(errs, line, l.rank, rank_s, "rank").and_then(|r| {
            if (1..=n).contains(&r) {
                Some(r)
            } else {
                errs.push(DataError::RankOutOfRange {
                    path: errs.path.clone(),
                    line,
                    column: l.rank + 1,
                    value: rank_s.to_string(),
                    index: kind,
                    n,
                });
                None
            }
        });
        let decile = rank.and_then(|r| kind.decile_for_rank(r));
        // A decile is only checked on a row whose code is valid (a Welsh row in the English
        // index gets one error, not two).
        if let (Some(col), Some(rank), Some(expected), Some(_)) = (l.decile, rank, decile, code) {
            let s = rows.cell(col);
            if let Some(d) = number_cell(errs, line, col, s, "decile") {
                if d != u32::from(expected.get()) {
                    errs.push(DataError::DecileMismatch {
                        path: errs.path.clone(),
                        line,
                        column: col + 1,
                        value: s.to_string(),
                        rank,
                        expected: expected.get(),
                        index: kind,
                        rule: kind.decile_rule(),
                        n,
                    });
                }
            }
        }
        let lad = l.lad.and_then(|c| code_cell(errs, line, c, rows.cell(c), LadCode::new));
        let pop = l.population.and_then(|c| number_cell(errs, line, c, rows.cell(c), "population"));
        if let (Some(acc), Some(wl)) = (wards.as_mut(), l.wards.as_ref()) {
            acc.add_row(rows, errs, line, wl);
        }
        if errs.list.len() + errs.more != before {
            continue;
        }
        let (Some(code), Some(rank), Some(decile)) = (code, rank, decile) else {
            continue;
        };
        if let (Some(lad), Some(c)) = (lad, l.lad_name) {
            lad_names.entry(lad).or_insert_with(|| rows.cell(c).to_string());
        }
        if let Some(p) = pop {
            population.insert(code, p);
        }
        pos.insert(code, table_rows.len());
        table_rows.push(IndexRow {
            code,
            name: l.name.map(|c| rows.cell(c).to_string()),
            lad,
            rank,
            decile,
            line,
        });
    }
    if let Some(line) = too_many {
        errs.push(DataError::TooManyAreas {
            path: errs.path.clone(),
            line,
            column: 1,
            value: rows.count.to_string(),
            index: kind,
            n,
        });
    }
    if !errs.is_empty() {
        return Ok(());
    }
    // A complete index must be a ranking: sorted ranks are 1, 2, 3... where a tie repeats
    // a rank and skips the next ("1224" competition ranking).
    let mut tied = 0;
    let mut order: Vec<(u32, usize)> = table_rows.iter().enumerate().map(|(i, r)| (r.rank, i)).collect();
    order.sort_unstable();
    let complete = table_rows.len() == n as usize;
    for (k, &(r, i)) in order.iter().enumerate() {
        if k > 0 && order[k - 1].0 == r {
            tied += 1;
        } else if complete && r as usize != k + 1 {
            errs.push(DataError::NotARanking {
                path: errs.path.clone(),
                line: table_rows[i].line,
                column: l.rank + 1,
                value: r.to_string(),
                index: kind,
                before: k as u32,
                expected: k as u32 + 1,
                n,
            });
            break;
        }
    }
    if !errs.is_empty() {
        return Ok(());
    }
    let label = errs.path.clone();
    let src = source(&label, format, rows.count);
    if let (Some(acc), Some(wl)) = (wards, l.wards.as_ref()) {
        out.wards = Some(acc.finish(src.clone(), wl));
    }
    if let Some(c) = l.population {
        out.population = Some(Population {
            source: src.clone(),
            vintage: kind.lsoa_vintage(),
            label: header_name(rows, c),
            by_area: population,
        });
    }
    out.index = Some(IndexTable {
        kind,
        source: src,
        rows: table_rows,
        pos,
        lad_names,
        tied,
    });
    Ok(())
}

fn header_name<R: Read>(rows: &mut Rows<R>, col: usize) -> String {
    rows.rdr
        .byte_headers()
        .ok()
        .and_then(|h| h.get(col))
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default()
}

fn parse_regions<R: Read>(rows: &mut Rows<R>, errs: &mut Errs, l: &RegionLayout, format: FileFormat) -> Result<Option<RegionLookup>, GeoError> {
    let mut wards: Vec<WardRegion> = Vec::new();
    let mut by_ward: HashMap<WardCode, usize> = HashMap::new();
    let mut lines: Vec<u64> = Vec::new();
    let opt = |rows: &Rows<R>, c: Option<(usize, usize)>| -> (Option<String>, Option<String>) {
        match c {
            Some((cd, nm)) if !rows.cell(cd).is_empty() => (Some(rows.cell(cd).to_string()), Some(rows.cell(nm).to_string())),
            _ => (None, None),
        }
    };
    while let Some(line) = rows.next(errs)? {
        let ward = code_cell(errs, line, l.ward, rows.cell(l.ward), WardCode::new);
        let lad = code_cell(errs, line, l.lad, rows.cell(l.lad), LadCode::new);
        let (Some(ward), Some(lad)) = (ward, lad) else {
            continue;
        };
        if let Some(&i) = by_ward.get(&ward) {
            errs.duplicate(line, l.ward, "ward", ward.as_str(), lines[i]);
            continue;
        }
        let (county_cd, county_nm) = opt(rows, l.county);
        let (region, region_name) = opt(rows, l.region);
        let (country, country_name) = opt(rows, l.country);
        by_ward.insert(ward, wards.len());
        lines.push(line);
        wards.push(WardRegion {
            ward: Ward {
                code: ward,
                name: rows.cell(l.ward_name).to_string(),
                lad,
                lad_name: rows.cell(l.lad_name).to_string(),
            },
            county: county_cd.zip(county_nm),
            region,
            region_name,
            country,
            country_name,
        });
    }
    if !errs.is_empty() {
        return Ok(None);
    }
    Ok(Some(RegionLookup {
        source: source(&errs.path, format, rows.count),
        ward_year: l.ward_year,
        wards,
        by_ward,
    }))
}

fn parse_population<R: Read>(
    rows: &mut Rows<R>,
    errs: &mut Errs,
    l: &PopulationLayout,
    format: FileFormat,
    headers: &[String],
) -> Result<Option<Population>, GeoError> {
    let mut by_area: HashMap<AreaCode, (u32, u64)> = HashMap::new();
    while let Some(line) = rows.next(errs)? {
        let lsoa = lookup_lsoa(errs, line, l.code, rows.cell(l.code), l.vintage);
        let total = number_cell(errs, line, l.total, rows.cell(l.total), "population");
        let (Some(lsoa), Some(total)) = (lsoa, total) else {
            continue;
        };
        let code = AreaCode::Lsoa(lsoa);
        if let Some(&(_, first)) = by_area.get(&code) {
            errs.duplicate(line, l.code, "LSOA", lsoa.as_str(), first);
            continue;
        }
        by_area.insert(code, (total, line));
    }
    if !errs.is_empty() {
        return Ok(None);
    }
    Ok(Some(Population {
        source: source(&errs.path, format, rows.count),
        vintage: l.vintage,
        label: headers.get(l.total).cloned().unwrap_or_default(),
        by_area: by_area.into_iter().map(|(k, (v, _))| (k, v)).collect(),
    }))
}

/// A small-area code in a postcode directory: an LSOA or data zone, or `None` for an
/// empty cell or a code of another kind (Northern Ireland SOAs, pseudo codes such as
/// `L99999999` for the Channel Islands).
fn postcode_area(errs: &mut Errs, line: u64, col: usize, s: &str) -> Result<Option<AreaCode>, ()> {
    if s.is_empty() {
        return Ok(None);
    }
    match AreaCode::new(s) {
        Ok(c) => Ok(Some(c)),
        Err(e) => {
            let p = s.as_bytes();
            let looks_like = p.len() >= 3 && matches!(&p[..3], b"E01" | b"W01" | b"S01" | b"e01" | b"w01" | b"s01");
            if looks_like {
                errs.malformed(line, col, e);
                Err(())
            } else {
                Ok(None)
            }
        }
    }
}

fn parse_postcodes<R: Read>(
    rows: &mut Rows<R>,
    errs: &mut Errs,
    l: &PostcodeLayout,
    format: FileFormat,
    opts: &ReadOptions,
) -> Result<Option<PostcodeMap>, GeoError> {
    let mut map: HashMap<Postcode, PostcodeEntry> = HashMap::new();
    while let Some(line) = rows.next(errs)? {
        let pc_s = rows.cell(l.postcode);
        let Some(pc) = Postcode::from_bytes(pc_s.as_bytes()) else {
            match Postcode::new(pc_s) {
                Err(e) if !pc_s.is_empty() => errs.malformed(line, l.postcode, e),
                _ => errs.missing(line, l.postcode, "postcode"),
            }
            continue;
        };
        if let Some(filter) = &opts.postcode_filter {
            if !filter.contains(&pc) {
                continue;
            }
        }
        let lsoa11 = match l.lsoa11 {
            Some(c) => match postcode_area(errs, line, c, rows.cell(c)) {
                Ok(a) => a,
                Err(()) => continue,
            },
            None => None,
        };
        let lsoa21 = match l.lsoa21 {
            Some(c) => match postcode_area(errs, line, c, rows.cell(c)) {
                Ok(a) => a,
                Err(()) => continue,
            },
            None => None,
        };
        if let (Some(c), Some(a)) = (l.lsoa11, lsoa11) {
            if a.is_2021_only() {
                errs.push(DataError::WrongVintage {
                    path: errs.path.clone(),
                    line,
                    column: c + 1,
                    value: a.to_string(),
                    found: LsoaVintage::Lsoa2021,
                    expected: LsoaVintage::Lsoa2011,
                });
                continue;
            }
        }
        let terminated = l.doterm.is_some_and(|c| !rows.cell(c).is_empty());
        if let Some(prev) = map.get(&pc) {
            errs.duplicate(line, l.postcode, "postcode", pc.as_str(), prev.line);
            continue;
        }
        map.insert(
            pc,
            PostcodeEntry {
                lsoa11,
                lsoa21,
                terminated,
                line,
            },
        );
    }
    if !errs.is_empty() {
        return Ok(None);
    }
    Ok(Some(PostcodeMap {
        source: source(&errs.path, format, rows.count),
        has_lsoa11: l.lsoa11.is_some(),
        has_lsoa21: l.lsoa21.is_some(),
        map,
    }))
}
