//! Reading a deprivation index (any format whose layout is an [`IndexLayout`]): codes of the
//! index's nation and vintage, ranks in 1..=N, published deciles that agree with the rank,
//! no repeated area, and for a complete file ranks that form a ranking.
//!
//! Owns those checks and the assembling of the [`IndexTable`] (with the population and ward
//! lookup a combined file carries). It must not recognise formats or read cells by hand
//! (`detect`, `input`).

use std::collections::HashMap;
use std::io::Read;

use super::super::codes::{AreaCode, IndexKind, LadCode};
use super::super::error::{DataError, GeoError};
use super::super::tables::{IndexRow, IndexTable, Population};
use super::detect::IndexLayout;
use super::input::{code_cell, index_area, number_cell, Errs, Rows};
use super::wards::WardAcc;
use super::{source, FileFormat, GeoFile};

/// Reads an index file into `out` (index, and population and wards when the file has them).
/// Nothing is set when a row has problems (in `errs`).
pub(super) fn parse_index<R: Read>(rows: &mut Rows<R>, errs: &mut Errs, l: &IndexLayout, format: FileFormat, out: &mut GeoFile) -> Result<(), GeoError> {
    let mut acc = IndexAcc::new(l);
    while let Some(line) = rows.next(errs)? {
        acc.add_row(rows, errs, line, l);
    }
    if let Some(line) = acc.too_many {
        errs.push(DataError::TooManyAreas {
            path: errs.path.clone(),
            line,
            column: 1,
            value: rows.count.to_string(),
            index: acc.kind,
            n: acc.n,
        });
    }
    if !errs.is_empty() {
        return Ok(());
    }
    let tied = check_ranking(&acc.table_rows, errs, l, acc.n);
    if !errs.is_empty() {
        return Ok(());
    }
    let label = errs.path.clone();
    let src = source(&label, format, rows.count);
    if let (Some(wards), Some(wl)) = (acc.wards, l.wards.as_ref()) {
        out.wards = Some(wards.finish(src.clone(), wl));
    }
    if let Some(c) = l.population {
        out.population = Some(Population {
            source: src.clone(),
            vintage: acc.kind.lsoa_vintage(),
            label: rows.header_name(c),
            by_area: acc.population,
        });
    }
    out.index = Some(IndexTable {
        kind: acc.kind,
        source: src,
        rows: acc.table_rows,
        pos: acc.pos,
        lad_names: acc.lad_names,
        tied,
    });
    Ok(())
}

/// An index being read.
struct IndexAcc {
    kind: IndexKind,
    /// Areas in the index.
    n: u32,
    table_rows: Vec<IndexRow>,
    /// Each area's row in `table_rows`.
    pos: HashMap<AreaCode, usize>,
    /// The line each area was first seen on.
    first_line: HashMap<AreaCode, u64>,
    lad_names: HashMap<LadCode, String>,
    population: HashMap<AreaCode, u32>,
    wards: Option<WardAcc>,
    /// The first line beyond N rows.
    too_many: Option<u64>,
    /// What an area is called in messages.
    what: &'static str,
}

impl IndexAcc {
    fn new(l: &IndexLayout) -> IndexAcc {
        let kind = l.kind;
        let n = kind.area_count();
        IndexAcc {
            kind,
            n,
            table_rows: Vec::with_capacity(n as usize),
            pos: HashMap::with_capacity(n as usize),
            first_line: HashMap::with_capacity(n as usize),
            lad_names: HashMap::new(),
            population: HashMap::new(),
            wards: l.wards.as_ref().map(|w| WardAcc::new(w.lsoa_vintage, false)),
            too_many: None,
            what: if kind == IndexKind::Simd2020 { "data zone" } else { "LSOA" },
        }
    }

    /// Checks the current row and keeps it if it has no problem.
    fn add_row<R: Read>(&mut self, rows: &Rows<R>, errs: &mut Errs, line: u64, l: &IndexLayout) {
        let (kind, n) = (self.kind, self.n);
        if rows.count > n as usize && self.too_many.is_none() {
            self.too_many = Some(line);
        }
        let before = errs.found();
        let code_s = rows.cell(l.code);
        let code = index_area(errs, line, l.code, code_s, kind);
        if let Some(c) = code {
            if let Some(&first) = self.first_line.get(&c) {
                errs.duplicate(line, l.code, self.what, c.as_str(), first);
            } else {
                self.first_line.insert(c, line);
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
        if let (Some(acc), Some(wl)) = (self.wards.as_mut(), l.wards.as_ref()) {
            acc.add_row(rows, errs, line, wl);
        }
        if errs.found() != before {
            return;
        }
        let (Some(code), Some(rank), Some(decile)) = (code, rank, decile) else {
            return;
        };
        if let (Some(lad), Some(c)) = (lad, l.lad_name) {
            self.lad_names.entry(lad).or_insert_with(|| rows.cell(c).to_string());
        }
        if let Some(p) = pop {
            self.population.insert(code, p);
        }
        self.pos.insert(code, self.table_rows.len());
        self.table_rows.push(IndexRow {
            code,
            name: l.name.map(|c| rows.cell(c).to_string()),
            lad,
            rank,
            decile,
            line,
        });
    }
}

/// A complete index must be a ranking: sorted ranks are 1, 2, 3... where a tie repeats a rank
/// and skips the next ("1224" competition ranking). Reports the first break; returns the
/// number of tied areas.
fn check_ranking(table_rows: &[IndexRow], errs: &mut Errs, l: &IndexLayout, n: u32) -> usize {
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
                index: l.kind,
                before: k as u32,
                expected: k as u32 + 1,
                n,
            });
            break;
        }
    }
    tied
}
