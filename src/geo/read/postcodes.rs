//! Reading an ONS postcode directory (NSPL or ONSPD), streamed and optionally filtered to the
//! postcodes a survey uses.
//!
//! Owns the checks of its rows: valid postcodes, each once, small-area codes that look like
//! LSOAs or data zones (other codes, such as Northern Ireland SOAs or pseudo codes, count as no
//! area), and no LSOA 2021 code in the LSOA 2011 column. It must not resolve postcodes to
//! areas of an index (`Geography` does).

use std::collections::HashMap;
use std::io::Read;

use super::super::codes::{AreaCode, LsoaVintage, Postcode};
use super::super::error::{DataError, GeoError};
use super::super::tables::{PostcodeEntry, PostcodeMap};
use super::detect::PostcodeLayout;
use super::input::{Errs, Rows};
use super::{source, FileFormat, ReadOptions};

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

/// Reads a whole postcode directory; None when a row has problems (in `errs`).
pub(super) fn parse_postcodes<R: Read>(
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
