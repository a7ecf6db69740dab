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

/// Factorises a column of the frame for a breakdown: booleans, text and numbers (more than
/// [`MAX_LEVELS`] distinct numbers are an error: not a grouping).
/// A date question's levels are its days written as dates (`2024-03-01`), in date order.
pub(crate) fn factorize(df: &DataFrame, name: &str, def: &Definition) -> Result<Factor, AnalysisError> {
    let mut f = factorize_up_to(df, name, def, MAX_LEVELS)?;
    if def.find_question(name).is_some_and(|(_, q)| q.qtype == crate::schema::QType::Date) {
        for level in &mut f.levels {
            let days = match level {
                Level::Int(d) => Some(*d),
                Level::Num(d) if d.fract() == 0.0 => Some(*d as i64),
                _ => None,
            };
            if let Some(date) = days.and_then(crate::schema::date::Date::from_days) {
                *level = Level::Text(date.to_string());
            }
        }
    }
    Ok(f)
}

/// Factorises a column with at most `limit` distinct numbers (design variables: any number).
pub(crate) fn factorize_up_to(df: &DataFrame, name: &str, def: &Definition, limit: usize) -> Result<Factor, AnalysisError> {
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
                if first.len() > limit {
                    return Err(AnalysisError::TooManyLevels {
                        variable: name.to_string(),
                        limit,
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
    let ca = s.f64().map_err(AnalysisError::polars)?;
    // chunk by chunk: the values copied whole, nulls (where there are any) set to NaN
    let mut out = Vec::with_capacity(ca.len());
    for arr in ca.downcast_iter() {
        let values = arr.values().as_slice();
        match arr.validity().filter(|v| v.unset_bits() > 0) {
            None => out.extend_from_slice(values),
            Some(valid) => out.extend(values.iter().zip(valid.iter()).map(|(&v, ok)| if ok { v } else { f64::NAN })),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Column, DataFrame};

    fn def() -> Definition {
        crate::schema::load_str(
            r#"
survey: t
title: T
version: 1
units:
  - id: person
    key: id
    questions:
      - {id: id, type: integer, label: Id}
      - {id: tenure, type: select_one, label: Tenure, choices: [{value: rent, label: Rent}, {value: own, label: Own}, {value: free, label: Free}]}
      - {id: seen, type: date, label: Seen}
"#,
            "t.yaml",
        )
        .unwrap()
    }

    fn frame(columns: Vec<Column>) -> DataFrame {
        let n = columns[0].len();
        DataFrame::new(n, columns).unwrap()
    }

    fn text(levels: &[Level]) -> Vec<String> {
        levels.iter().map(Level::to_string).collect()
    }

    #[test]
    fn booleans_are_false_then_true() {
        let df = frame(vec![Column::new("b".into(), [Some(true), None, Some(false)])]);
        let f = factorize(&df, "b", &def()).unwrap();
        assert_eq!(f.codes, vec![Some(1), None, Some(0)]);
        assert_eq!(f.levels, vec![Level::Bool(false), Level::Bool(true)]);
    }

    #[test]
    fn text_follows_the_choice_list_then_sorts() {
        let df = frame(vec![
            Column::new("tenure".into(), [Some("own"), Some("free"), None, Some("rent"), Some("own")]),
            Column::new("name".into(), [Some("b"), Some("c"), Some("a"), None, Some("b")]),
        ]);
        let f = factorize(&df, "tenure", &def()).unwrap();
        assert_eq!(text(&f.levels), ["rent", "own", "free"]);
        assert_eq!(f.codes, vec![Some(1), Some(2), None, Some(0), Some(1)]);
        let f = factorize(&df, "name", &def()).unwrap();
        assert_eq!(text(&f.levels), ["a", "b", "c"]);
        assert_eq!(f.codes, vec![Some(1), Some(2), Some(0), None, Some(1)]);
    }

    #[test]
    fn numbers_sort_numerically_whole_ones_as_integers() {
        let df = frame(vec![Column::new(
            "x".into(),
            [Some(10.0), Some(2.0), Some(-0.0), Some(2.5), None, Some(0.0), Some(2000.0)],
        )]);
        let f = factorize(&df, "x", &def()).unwrap();
        assert_eq!(f.levels, vec![Level::Int(0), Level::Int(2), Level::Num(2.5), Level::Int(10), Level::Int(2000)]);
        // -0 and 0 are one level
        assert_eq!(f.codes, vec![Some(3), Some(1), Some(0), Some(2), None, Some(0), Some(4)]);
    }

    /// Regression: `--by interview_date` showed day numbers (17682) instead of dates.
    #[test]
    fn r16_date_levels_are_dates_in_date_order() {
        let day = |s: &str| crate::schema::date::Date::parse(s).unwrap().days() as f64;
        let df = frame(vec![Column::new(
            "seen".into(),
            [Some(day("2024-03-01")), None, Some(day("2023-12-31")), Some(day("2024-03-01"))],
        )]);
        let f = factorize(&df, "seen", &def()).unwrap();
        assert_eq!(text(&f.levels), ["2023-12-31", "2024-03-01"]);
        assert_eq!(f.codes, vec![Some(1), None, Some(0), Some(1)]);
    }

    #[test]
    fn too_many_distinct_numbers_are_not_a_grouping() {
        let many: Vec<f64> = (0..=MAX_LEVELS).map(|i| i as f64 * 1.5).collect();
        let df = frame(vec![Column::new("w".into(), many)]);
        match factorize(&df, "w", &def()) {
            Err(AnalysisError::TooManyLevels { variable, limit }) => assert_eq!((variable.as_str(), limit), ("w", MAX_LEVELS)),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("{} levels accepted", MAX_LEVELS + 1),
        }
        let enough: Vec<f64> = (0..MAX_LEVELS).map(|i| i as f64 * 1.5).collect();
        let df = frame(vec![Column::new("w".into(), enough)]);
        assert_eq!(factorize(&df, "w", &def()).unwrap().levels.len(), MAX_LEVELS);
    }

    #[test]
    fn crossing_keeps_the_combinations_present_in_order() {
        let df = frame(vec![
            Column::new("a".into(), [Some(2.0), Some(1.0), Some(2.0), None, Some(1.0)]),
            Column::new("b".into(), [Some("y"), Some("y"), Some("x"), Some("x"), Some("y")]),
        ]);
        let (g, levels) = grouping(&df, &def(), &["a".to_string(), "b".to_string()]).unwrap();
        let shown: Vec<String> = levels.iter().map(|l| text(l).join("/")).collect();
        assert_eq!(shown, ["1/y", "2/x", "2/y"]);
        assert_eq!(g.codes(), &[2, 0, 1, Grouping::NONE, 0]);
        assert_eq!(g.n_groups(), 3);
    }

    #[test]
    fn no_variables_is_overall() {
        let df = frame(vec![Column::new("a".into(), [1.0, 2.0])]);
        let (g, levels) = grouping(&df, &def(), &[]).unwrap();
        assert_eq!((g.codes(), levels), (&[0, 0][..], vec![Vec::new()]));
    }

    #[test]
    fn a_column_as_numbers_has_nan_for_missing() {
        let df = frame(vec![Column::new("a".into(), [Some(1i64), None, Some(3)])]);
        let v = column_f64(&df, "a").unwrap();
        assert_eq!(v[0], 1.0);
        assert!(v[1].is_nan());
        assert_eq!(v[2], 3.0);
        assert!(matches!(column_f64(&df, "nope"), Err(AnalysisError::Polars(_))));
    }
}
