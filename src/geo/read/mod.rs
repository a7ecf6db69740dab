//! Reading geography files exactly as published.
//!
//! This module owns recognising a file by its headers ([`FileFormat`]) and parsing it into
//! the tables of `tables.rs`, in one streaming pass: a UTF-8 byte order mark is removed,
//! CRLF and LF both work, quoted headers may contain commas, numbers may carry thousands
//! separators (`"1,296"`), and text such as mojibake in ward names is kept as it is. Every
//! problem in the rows is collected (up to [`MAX_ERRORS`](super::MAX_ERRORS), the rest
//! counted) with its file, line, column and value; if there is any, the whole file fails and
//! nothing is returned. It must not combine files (`GeographyBuilder` does) nor store them.
//!
//! Parts: `detect` (headers to a format and the columns it needs), `input` (rows, cells and
//! the problem list), and one parser per kind of table: `index`, `wards`, `regions`,
//! `population`, `postcodes`.

mod detect;
mod index;
mod input;
mod population;
mod postcodes;
mod regions;
mod wards;

use std::collections::HashSet;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use super::codes::Postcode;
use super::error::GeoError;
use super::tables::{IndexTable, Population, PostcodeMap, RegionLookup, SourceInfo, WardLookup};
use detect::{recognise, Headers, Layout};
use input::{csv_error, Eol, Errs, Rows};

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
        Layout::Index(l) => index::parse_index(&mut rows, &mut errs, &l, format, &mut out)?,
        Layout::Wards(l) => out.wards = wards::parse_wards(&mut rows, &mut errs, &l, format)?,
        Layout::Regions(l) => out.regions = regions::parse_regions(&mut rows, &mut errs, &l, format)?,
        Layout::Population(l) => out.population = population::parse_population(&mut rows, &mut errs, &l, format, &headers)?,
        Layout::Postcodes(l) => out.postcodes = postcodes::parse_postcodes(&mut rows, &mut errs, &l, format, opts)?,
    }
    errs.finish()?;
    Ok(out)
}

/// Where a table came from, for provenance.
fn source(label: &str, format: FileFormat, rows: usize) -> SourceInfo {
    SourceInfo {
        source: label.to_string(),
        format,
        rows,
    }
}
