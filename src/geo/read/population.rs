//! Reading population denominators (IoD File 6).
//!
//! Owns the checks of its rows (LSOA codes of the file's vintage, whole numbers, each LSOA
//! once). It must not read index files that carry a population column (`index` does) nor
//! check the population against an index (`GeographyBuilder` does).

use std::collections::HashMap;
use std::io::Read;

use super::super::codes::AreaCode;
use super::super::error::GeoError;
use super::super::tables::Population;
use super::detect::PopulationLayout;
use super::input::{lookup_lsoa, number_cell, Errs, Rows};
use super::{source, FileFormat};

/// Reads a whole population file; None when a row has problems (in `errs`). `headers` are
/// the file's, for the population's label.
pub(super) fn parse_population<R: Read>(
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
