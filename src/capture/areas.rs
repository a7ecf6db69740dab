//! Attaching areas to responses: geography lookups into the store, and the LSOA check that
//! imports run against them.
//!
//! Owns the bridge between `crate::geo` (which parses published files and knows the codes)
//! and the store (which keeps one resolved row per LSOA). Responses themselves keep only their
//! LSOA code; deprivation, ward and local authority are joined at analysis and export, so
//! loading a newer lookup never rewrites answers.

use std::collections::HashSet;

use crate::geo::{Geography, LsoaCode};
use crate::store::geo::{AreaRow, GeoSource};
use crate::store::{Store, StoreError};

/// Persists a built geography: every area row, postcodes, orphan wards and provenance.
pub fn store_geography(store: &mut Store, g: &Geography) -> Result<usize, StoreError> {
    let areas: Vec<AreaRow> = g
        .iter()
        .map(|a| AreaRow {
            lsoa: a.lsoa.to_string(),
            lsoa_name: a.lsoa_name.clone(),
            ward: a.ward.map(|w| w.to_string()),
            ward_name: a.ward_name.clone(),
            lad: a.lad.map(|l| l.to_string()),
            lad_name: a.lad_name.clone(),
            imd_rank: Some(a.imd_rank as f64),
            imd_decile: Some(a.imd_decile.get() as i64),
            imd_quintile: Some(a.imd_quintile.get() as i64),
            imd_local_decile: a.local_decile.map(|d| d.get() as i64),
            region: a.region.clone(),
            region_name: a.region_name.clone(),
            population: a.population.map(|p| p as i64),
        })
        .collect();
    // a postcode resolves through the LSOA vintage of the loaded index
    let postcodes: Vec<(String, String)> = g
        .postcodes()
        .map(|m| {
            m.iter()
                .filter_map(|(p, _)| g.postcode_area(p).ok().map(|a| (p.to_string(), a.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let orphans: Vec<(String, String, String)> = g
        .wards_without_lsoa()
        .iter()
        .map(|w| (w.code.to_string(), w.name.clone(), w.lad.to_string()))
        .collect();
    let sources: Vec<GeoSource> = g
        .provenance()
        .into_iter()
        .map(|p| GeoSource {
            kind: p.what.to_string(),
            vintage: p.vintage,
            source: p.source,
            rows: p.rows as i64,
        })
        .collect();
    let n = areas.len();
    store.replace_geography(&areas, &postcodes, &orphans, &sources)?;
    Ok(n)
}

/// A check of LSOA codes against the store's loaded index (None when no geography is loaded).
pub type LsoaCheck = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Builds the import-time LSOA check from the store's geography.
pub fn lsoa_checker(store: &Store) -> Result<Option<LsoaCheck>, StoreError> {
    let areas = store.areas()?;
    if areas.is_empty() {
        return Ok(None);
    }
    let index = store
        .geo_sources()?
        .into_iter()
        .find(|s| s.kind == "index")
        .map(|s| s.vintage)
        .unwrap_or_default();
    let known: HashSet<String> = areas.into_iter().map(|a| a.lsoa).collect();
    let is_2019 = index.contains("2019") || index.contains("2011");
    let english = index.starts_with("IMD");
    Ok(Some(Box::new(move |code: &str| {
        if known.contains(code) {
            return Ok(());
        }
        match LsoaCode::new(code) {
            Err(_) => Err(format!("malformed LSOA code '{code}'")),
            Ok(c) if is_2019 && c.is_2021_only() => Err(format!(
                "'{code}' is an LSOA 2021 code, but the loaded index ({index}) uses LSOA 2011 codes: load --builtin imd2025, or give 2011 codes"
            )),
            Ok(_) if english && code.starts_with("W01") => Err(format!("'{code}' is a Welsh LSOA, not in the loaded English index ({index})")),
            Ok(_) => Err(format!("unknown LSOA '{code}': not in the loaded index ({index})")),
        }
    })))
}

/// How many stored responses resolve to a loaded area: (resolved, unresolved, some unresolved codes).
pub fn coverage(store: &Store) -> Result<(u64, u64, Vec<String>), StoreError> {
    let def = store.definition(None)?;
    let Some(q) = def.geography.as_ref().and_then(|g| g.lsoa.clone()) else {
        return Ok((0, 0, Vec::new()));
    };
    let Some((unit, _)) = def.find_question(&q) else {
        return Ok((0, 0, Vec::new()));
    };
    let known: HashSet<String> = store.areas()?.into_iter().map(|a| a.lsoa).collect();
    let (mut ok, mut bad, mut examples) = (0u64, 0u64, Vec::new());
    let uid = unit.id.clone();
    store.scan(&def, &uid, &[(uid.clone(), q.clone())], None, |r| {
        if let Some(c) = r.get(0)?.as_text() {
            if known.contains(c) {
                ok += 1;
            } else {
                bad += 1;
                if examples.len() < 5 && !examples.iter().any(|e| e == c) {
                    examples.push(c.to_string());
                }
            }
        }
        Ok(())
    })?;
    Ok((ok, bad, examples))
}
