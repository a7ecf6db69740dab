//! The sample side of the margins: each record's category in every margin, checked against
//! the population tables, and the joint cells the fitting runs on.
//!
//! Owns matching a margin's population lines to the values of its variables in the frame
//! (a choice's value, a number, `true`/`false`), the checks that need both sides (a record
//! without an answer, a sample category with no population line, a population category
//! with a count but no record, a zero count where records are) and crossing the margins into
//! joint cells: every weighting method multiplies the start weights by a factor that depends
//! only on a record's cell, so it fits on the cells' weight sums (one pass over the records)
//! and hands the factor back per cell. Must not fit weights or read the store.

use polars::prelude::DataFrame;

use super::population::{describe, Population};
use super::WeightError;
use crate::analysis::factor::factorize_up_to;
use crate::analysis::Level;
use crate::schema::Definition;
use crate::store::record_uuid;

/// One margin over the sample: a level per record and the population count of each level
/// (levels are the population lines the sample has, in file order).
#[derive(Debug, Clone)]
pub struct SampleMargin {
    /// Level of each record (frame order).
    pub codes: Vec<u32>,
    /// Population count of each level.
    pub totals: Vec<f64>,
    /// The population line (index into the table's rows) of each level.
    pub lines: Vec<usize>,
}

/// Whether a population value names this level of a variable.
fn level_matches(level: &Level, text: &str) -> bool {
    match level {
        Level::Int(i) => text.parse::<f64>().is_ok_and(|x| x == *i as f64),
        Level::Num(x) => text.parse::<f64>().is_ok_and(|y| y == *x),
        Level::Text(s) => s == text,
        Level::Bool(b) => {
            let t = text.to_ascii_lowercase();
            if *b {
                matches!(t.as_str(), "true" | "1" | "yes")
            } else {
                matches!(t.as_str(), "false" | "0" | "no")
            }
        }
    }
}

/// The margin of `pop` over the frame's records: every record must have an answer to each
/// variable and a population line; a line with a count must have records.
pub fn sample_margin(df: &DataFrame, def: &Definition, pop: &Population, ids: &[u128], w0: &[f64]) -> Result<SampleMargin, WeightError> {
    let n = df.height();
    let mut factors = Vec::with_capacity(pop.variables.len());
    for v in &pop.variables {
        let f = factorize_up_to(df, v, def, usize::MAX)?;
        if let Some(first) = f.codes.iter().position(|c| c.is_none()) {
            return Err(WeightError::MissingValue {
                variable: v.clone(),
                count: f.codes.iter().filter(|c| c.is_none()).count(),
                record: ids.get(first).map(|&id| record_uuid(id)).unwrap_or_else(|| format!("row {}", first + 1)),
            });
        }
        factors.push(f);
    }
    let sizes: Vec<u64> = factors.iter().map(|f| f.levels.len().max(1) as u64).collect();
    let space: u64 = sizes.iter().product();
    let key_of_row = |i: usize| -> u64 { factors.iter().zip(&sizes).fold(0u64, |k, (f, &m)| k * m + f.codes[i].unwrap_or(0) as u64) };
    // each population line's key, when every value is a level the sample has
    let line_keys: Vec<Option<u64>> = pop
        .rows
        .iter()
        .map(|r| {
            let mut k = 0u64;
            for ((f, &m), text) in factors.iter().zip(&sizes).zip(&r.values) {
                let l = f.levels.iter().position(|l| level_matches(l, text))?;
                k = k * m + l as u64;
            }
            Some(k)
        })
        .collect();
    // key -> line: a dense table over small spaces, else a sorted list searched per record
    let dense = space <= 1 << 22;
    let mut table = vec![u32::MAX; if dense { space as usize } else { 0 }];
    let mut sorted: Vec<(u64, u32)> = Vec::new();
    for (line, k) in line_keys.iter().enumerate() {
        if let Some(k) = k {
            if dense {
                table[*k as usize] = line as u32;
            } else {
                sorted.push((*k, line as u32));
            }
        }
    }
    sorted.sort_unstable();
    let find = |k: u64| -> Option<u32> {
        if dense {
            Some(table[k as usize]).filter(|&l| l != u32::MAX)
        } else {
            sorted.binary_search_by_key(&k, |e| e.0).ok().map(|i| sorted[i].1)
        }
    };
    let mut line_of_row = Vec::with_capacity(n);
    let mut records = vec![0usize; pop.rows.len()];
    for i in 0..n {
        match find(key_of_row(i)) {
            Some(l) => {
                records[l as usize] += 1;
                line_of_row.push(l);
            }
            None => return Err(not_in_population(pop, &factors, &sizes, key_of_row, i, n, w0)),
        }
    }
    let mut level_of_line = vec![u32::MAX; pop.rows.len()];
    let mut totals = Vec::new();
    let mut lines = Vec::new();
    for (l, row) in pop.rows.iter().enumerate() {
        match (records[l], row.count) {
            (0, 0.0) => {}
            (0, c) => {
                return Err(WeightError::NotInSample {
                    file: pop.file.clone(),
                    line: row.line,
                    cell: describe(&pop.variables, &row.values),
                    count: c,
                })
            }
            (r, 0.0) => {
                return Err(WeightError::ZeroCount {
                    file: pop.file.clone(),
                    line: row.line,
                    cell: describe(&pop.variables, &row.values),
                    records: r,
                })
            }
            _ => {
                level_of_line[l] = totals.len() as u32;
                totals.push(row.count);
                lines.push(l);
            }
        }
    }
    let codes = line_of_row.iter().map(|&l| level_of_line[l as usize]).collect();
    Ok(SampleMargin { codes, totals, lines })
}

/// The error for the sample category of row `i`, which has no population line: with the
/// number of records and the weight that share it.
fn not_in_population(
    pop: &Population,
    factors: &[crate::analysis::factor::Factor],
    sizes: &[u64],
    key_of_row: impl Fn(usize) -> u64,
    i: usize,
    n: usize,
    w0: &[f64],
) -> WeightError {
    let k = key_of_row(i);
    let (mut records, mut weighted) = (0usize, 0.0);
    for j in 0..n {
        if key_of_row(j) == k {
            records += 1;
            weighted += w0.get(j).copied().unwrap_or(0.0);
        }
    }
    let mut rest = k;
    let mut values = Vec::new();
    for (f, &m) in factors.iter().zip(sizes).rev() {
        values.push(f.levels[(rest % m) as usize].to_string());
        rest /= m;
    }
    values.reverse();
    WeightError::NotInPopulation {
        file: pop.file.clone(),
        cell: describe(&pop.variables, &values),
        records,
        weighted,
    }
}

/// The joint cells of several margins: the combinations of levels present, each record's
/// cell, and each cell's level in every margin and start-weight sum.
#[derive(Debug, Clone)]
pub struct Cells {
    /// Cell of each record.
    pub of_row: Vec<u32>,
    /// Per margin, the level of each cell.
    pub levels: Vec<Vec<u32>>,
    /// Sum of the start weights of each cell's records.
    pub weight: Vec<f64>,
}

impl Cells {
    /// Crosses `margins` over the records with start weights `w0`.
    pub fn new(margins: &[SampleMargin], w0: &[f64]) -> Cells {
        let n = w0.len();
        let sizes: Vec<u64> = margins.iter().map(|m| m.totals.len().max(1) as u64).collect();
        let space: u128 = sizes.iter().map(|&s| s as u128).product();
        let key = |i: usize| margins.iter().zip(&sizes).fold(0u128, |k, (m, &s)| k * s as u128 + m.codes[i] as u128);
        let (of_row, keys): (Vec<u32>, Vec<u128>) = if space <= (1 << 22) {
            let mut index = vec![u32::MAX; space as usize];
            let mut keys = Vec::new();
            let of_row = (0..n)
                .map(|i| {
                    let k = key(i);
                    let slot = &mut index[k as usize];
                    if *slot == u32::MAX {
                        *slot = keys.len() as u32;
                        keys.push(k);
                    }
                    *slot
                })
                .collect();
            (of_row, keys)
        } else {
            let all: Vec<u128> = (0..n).map(key).collect();
            let mut keys = all.clone();
            keys.sort_unstable();
            keys.dedup();
            let of_row = all.iter().map(|k| keys.binary_search(k).unwrap_or(0) as u32).collect();
            (of_row, keys)
        };
        let mut levels = vec![Vec::with_capacity(keys.len()); margins.len()];
        for &k in &keys {
            let mut rest = k;
            for (m, &s) in sizes.iter().enumerate().rev() {
                levels[m].push((rest % s as u128) as u32);
                rest /= s as u128;
            }
        }
        let mut weight = vec![0.0; keys.len()];
        for (i, &c) in of_row.iter().enumerate() {
            weight[c as usize] += w0[i];
        }
        Cells { of_row, levels, weight }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.weight.len()
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.weight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_values_name_levels_as_stored() {
        assert!(level_matches(&Level::Int(3), "3") && level_matches(&Level::Int(3), "3.0"));
        assert!(!level_matches(&Level::Int(3), "03x"));
        assert!(level_matches(&Level::Num(2.5), "2.5"));
        assert!(level_matches(&Level::Text("E".into()), "E") && !level_matches(&Level::Text("E".into()), "e"));
        assert!(level_matches(&Level::Bool(true), "TRUE") && level_matches(&Level::Bool(false), "0"));
    }

    #[test]
    fn cells_cross_the_margins_present() {
        let m = |codes: Vec<u32>, k: usize| SampleMargin {
            codes,
            totals: vec![1.0; k],
            lines: (0..k).collect(),
        };
        let cells = Cells::new(&[m(vec![0, 1, 0, 1, 0], 2), m(vec![2, 2, 2, 0, 2], 3)], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(cells.len(), 3);
        assert_eq!(cells.of_row, [0, 1, 0, 2, 0]);
        assert_eq!(cells.weight, [9.0, 2.0, 4.0]);
        assert_eq!(cells.levels, [vec![0, 1, 1], vec![2, 2, 0]]);
    }
}
