//! Reading an ONS ward to LAD (to county, region, country) lookup.
//!
//! Owns the checks of its rows (valid ward and LAD codes, each ward once). It must not
//! combine it with the LSOA to ward lookup (`GeographyBuilder` does).

use std::collections::HashMap;
use std::io::Read;

use super::super::codes::{LadCode, WardCode};
use super::super::error::GeoError;
use super::super::tables::{RegionLookup, Ward, WardRegion};
use super::detect::RegionLayout;
use super::input::{code_cell, Errs, Rows};
use super::{source, FileFormat};

/// Reads a whole ward to region lookup; None when a row has problems (in `errs`).
pub(super) fn parse_regions<R: Read>(rows: &mut Rows<R>, errs: &mut Errs, l: &RegionLayout, format: FileFormat) -> Result<Option<RegionLookup>, GeoError> {
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
