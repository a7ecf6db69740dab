//! Reading an LSOA to ward to LAD lookup, alone or as part of an LSOA-ward-IMD file.
//!
//! Owns [`WardAcc`], which gathers the lookup row by row and checks that each ward keeps one
//! name and one LAD. It must not check the index columns of a combined file (`index` does).

use std::collections::HashMap;
use std::io::Read;

use super::super::codes::{LadCode, LsoaCode, LsoaVintage, WardCode};
use super::super::error::{DataError, GeoError};
use super::super::tables::{SourceInfo, Ward, WardLookup};
use super::detect::WardLayout;
use super::input::{code_cell, lookup_lsoa, Errs, Rows};
use super::{source, FileFormat};

/// Reads a whole LSOA to ward lookup file; None when a row has problems (in `errs`).
pub(super) fn parse_wards<R: Read>(rows: &mut Rows<R>, errs: &mut Errs, l: &WardLayout, format: FileFormat) -> Result<Option<WardLookup>, GeoError> {
    let mut acc = WardAcc::new(l.lsoa_vintage, true);
    while let Some(line) = rows.next(errs)? {
        acc.add_row(rows, errs, line, l);
    }
    if !errs.is_empty() {
        return Ok(None);
    }
    Ok(Some(acc.finish(source(&errs.path, format, rows.count), l)))
}

/// A ward lookup being read: each LSOA's ward, each ward's name and LAD, with the line
/// each was first seen on.
pub(super) struct WardAcc {
    lsoa_vintage: LsoaVintage,
    check_lsoa: bool,
    by_lsoa: HashMap<LsoaCode, (WardCode, u64)>,
    wards: HashMap<WardCode, (Ward, u64)>,
    lsoa_names: HashMap<LsoaCode, String>,
}

impl WardAcc {
    pub(super) fn new(lsoa_vintage: LsoaVintage, check_lsoa: bool) -> WardAcc {
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
    pub(super) fn add_row<R: Read>(&mut self, rows: &Rows<R>, errs: &mut Errs, line: u64, l: &WardLayout) {
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

    pub(super) fn finish(self, source: SourceInfo, l: &WardLayout) -> WardLookup {
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
