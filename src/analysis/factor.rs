//! Groupings: the variables of a breakdown factorised to dense codes and crossed.
//!
//! Owns turning frame columns into [`Grouping`]s and their levels: factorising one variable
//! (booleans, text in choice-list order, numbers in numeric order, each to a dense code per
//! row), crossing several into one code per combination present, and taking a column as
//! numbers. Shared by breakdowns, design variables (strata, PSUs) and a proportion's
//! categories. Must not read the store, build designs or estimate.

use std::collections::{HashMap, HashSet};

use polars::prelude::{DataFrame, DataType};

use super::engine::Grouping;
use super::{AnalysisError, Definition, Level};

/// The most distinct numeric values a variable may have to be factorised (a grouping).
pub const MAX_LEVELS: usize = 5000;

/// Values of a variable, factorised: a dense code per row (`None` = missing) into its levels.
pub(crate) struct Factor {
    /// The level of each row.
    pub(crate) codes: Vec<Option<u32>>,
    /// The levels, in order: `false, true`; text in choice-list order (else sorted); numbers sorted.
    pub(crate) levels: Vec<Level>,
}

/// Factorises a column of the frame: booleans, text and numbers (more than [`MAX_LEVELS`]
/// distinct numbers are an error: not a grouping).
pub(crate) fn factorize(df: &DataFrame, name: &str, def: &Definition) -> Result<Factor, AnalysisError> {
    let col = df.column(name).map_err(AnalysisError::polars)?;
    let n = df.height();
    match col.dtype() {
        DataType::Boolean => {
            let ca = col.bool().map_err(AnalysisError::polars)?;
            let codes = ca.iter().map(|v| v.map(u32::from)).collect();
            Ok(Factor {
                codes,
                levels: vec![Level::Bool(false), Level::Bool(true)],
            })
        }
        DataType::String => {
            let ca = col.str().map_err(AnalysisError::polars)?;
            // first-seen codes in one pass, then renumbered in sorted (or choice-list) order
            let mut first: HashMap<&str, u32> = HashMap::new();
            let mut raw: Vec<Option<u32>> = Vec::with_capacity(n);
            for v in ca.iter() {
                raw.push(v.map(|s| {
                    let len = first.len() as u32;
                    *first.entry(s).or_insert(len)
                }));
            }
            let mut distinct: Vec<&str> = first.keys().copied().collect();
            distinct.sort_unstable();
            if let Some(list) = def.find_question(name).and_then(|(_, q)| q.choices.clone()) {
                distinct.sort_by_key(|v| list.index_of(v).unwrap_or(usize::MAX));
            }
            let mut remap = vec![0u32; distinct.len()];
            for (i, s) in distinct.iter().enumerate() {
                remap[first[s] as usize] = i as u32;
            }
            let codes = raw.into_iter().map(|c| c.map(|c| remap[c as usize])).collect();
            Ok(Factor {
                codes,
                levels: distinct.iter().map(|s| Level::Text(s.to_string())).collect(),
            })
        }
        _ => {
            let s = col.cast(&DataType::Float64).map_err(AnalysisError::polars)?;
            let ca = s.f64().map_err(AnalysisError::polars)?;
            let mut first: HashMap<u64, u32> = HashMap::new();
            let mut raw: Vec<Option<u32>> = Vec::with_capacity(n);
            // small whole numbers (codes, deciles) index a table instead of hashing
            let mut small: Vec<u32> = vec![u32::MAX; 1024];
            for v in ca.iter() {
                raw.push(v.map(|x| {
                    if (0.0..1024.0).contains(&x) && x.fract() == 0.0 {
                        let slot = &mut small[x as usize];
                        if *slot == u32::MAX {
                            *slot = first.len() as u32;
                            first.insert((x + 0.0).to_bits(), *slot);
                        }
                        return *slot;
                    }
                    let len = first.len() as u32;
                    *first.entry((x + 0.0).to_bits()).or_insert(len)
                }));
                if first.len() > MAX_LEVELS {
                    return Err(AnalysisError::TooManyLevels {
                        variable: name.to_string(),
                        limit: MAX_LEVELS,
                    });
                }
            }
            let mut distinct: Vec<f64> = first.keys().map(|b| f64::from_bits(*b)).collect();
            distinct.sort_by(|a, b| a.total_cmp(b));
            let mut remap = vec![0u32; distinct.len()];
            for (i, x) in distinct.iter().enumerate() {
                remap[first[&x.to_bits()] as usize] = i as u32;
            }
            let codes: Vec<Option<u32>> = raw.into_iter().map(|c| c.map(|c| remap[c as usize])).collect();
            let levels = distinct
                .iter()
                .map(|&v| {
                    if v.fract() == 0.0 && v.abs() < 1e15 {
                        Level::Int(v as i64)
                    } else {
                        Level::Num(v)
                    }
                })
                .collect();
            Ok(Factor { codes, levels })
        }
    }
}

/// The grouping of a breakdown (`vars` crossed) over a loaded frame, with each group's levels.
pub fn grouping(df: &DataFrame, def: &Definition, vars: &[String]) -> Result<(Grouping, Vec<Vec<Level>>), AnalysisError> {
    if vars.is_empty() {
        return Ok((Grouping::overall(df.height()), vec![Vec::new()]));
    }
    let factors: Vec<Factor> = vars.iter().map(|v| factorize(df, v, def)).collect::<Result<_, _>>()?;
    let (codes, levels) = cross(&factors, df.height());
    Ok((Grouping::from_options(&codes, levels.len().max(1))?, levels))
}

/// Crosses factors into one grouping: (group code per row, level tuples per group).
pub(crate) fn cross(factors: &[Factor], n: usize) -> (Vec<Option<u32>>, Vec<Vec<Level>>) {
    if factors.len() == 1 {
        let f = &factors[0];
        return (f.codes.clone(), f.levels.iter().map(|l| vec![l.clone()]).collect());
    }
    // mixed-radix combined code per row; the combinations present, in sorted order, become groups
    let sizes: Vec<u64> = factors.iter().map(|f| f.levels.len().max(1) as u64).collect();
    let combined: Vec<Option<u64>> = (0..n)
        .map(|i| {
            let mut k = 0u64;
            for (f, &m) in factors.iter().zip(&sizes) {
                k = k * m + f.codes[i]? as u64;
            }
            Some(k)
        })
        .collect();
    let space: u64 = sizes.iter().product();
    let (present, codes): (Vec<u64>, Vec<Option<u32>>) = if space <= 1 << 20 {
        // a dense table over every combination
        let mut seen = vec![false; space as usize];
        for k in combined.iter().flatten() {
            seen[*k as usize] = true;
        }
        let mut index = vec![u32::MAX; space as usize];
        let mut present = Vec::new();
        for (k, s) in seen.iter().enumerate() {
            if *s {
                index[k] = present.len() as u32;
                present.push(k as u64);
            }
        }
        let codes = combined.iter().map(|k| k.map(|k| index[k as usize])).collect();
        (present, codes)
    } else {
        let mut present: Vec<u64> = combined.iter().flatten().copied().collect::<HashSet<u64>>().into_iter().collect();
        present.sort_unstable();
        let index: HashMap<u64, u32> = present.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
        let codes = combined.iter().map(|k| k.map(|k| index[&k])).collect();
        (present, codes)
    };
    let levels = present
        .iter()
        .map(|&k| {
            let mut parts = Vec::with_capacity(factors.len());
            let mut rest = k;
            for (f, &m) in factors.iter().zip(&sizes).rev() {
                parts.push(f.levels[(rest % m) as usize].clone());
                rest /= m;
            }
            parts.reverse();
            parts
        })
        .collect();
    (codes, levels)
}

/// A column of the frame as f64, NaN for missing.
pub fn column_f64(df: &DataFrame, name: &str) -> Result<Vec<f64>, AnalysisError> {
    let col = df.column(name).map_err(AnalysisError::polars)?;
    let s = col.cast(&DataType::Float64).map_err(AnalysisError::polars)?;
    Ok(s.f64().map_err(AnalysisError::polars)?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}
