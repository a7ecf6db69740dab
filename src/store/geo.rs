//! Geography tables of the store: the area lookup every response resolves through.
//!
//! Owns `geo_area` (one row per LSOA: names, ward, local authority, deprivation rank, deciles),
//! `geo_postcode` (postcode to LSOA), `geo_orphan_wards` (wards a best-fit lookup gives no
//! LSOA) and `geo_sources` (what was loaded, its vintage and source), and how each area column
//! is read from a stored row ([`AreaRow::field`], one mapping for analysis and export). The
//! parsing of published files lives in `crate::geo`; this file only persists and reads what it
//! produced.

use rusqlite::{params, Transaction};

use super::{default_user, now_iso, Store, StoreError};

/// The columns every response gets from the area lookup (defined with the definition format).
pub use crate::schema::AREA_COLUMNS;

/// One area row as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AreaRow {
    /// LSOA code.
    pub lsoa: String,
    /// LSOA name.
    pub lsoa_name: Option<String>,
    /// Ward code.
    pub ward: Option<String>,
    /// Ward name.
    pub ward_name: Option<String>,
    /// Local authority code.
    pub lad: Option<String>,
    /// Local authority name.
    pub lad_name: Option<String>,
    /// Deprivation rank (1 = most deprived).
    pub imd_rank: Option<f64>,
    /// National decile (1 = most deprived).
    pub imd_decile: Option<i64>,
    /// National quintile.
    pub imd_quintile: Option<i64>,
    /// Decile within the local authority.
    pub imd_local_decile: Option<i64>,
    /// Region code.
    pub region: Option<String>,
    /// Region name.
    pub region_name: Option<String>,
    /// Population denominator.
    pub population: Option<i64>,
}

impl AreaRow {
    /// The quintile within the local authority: deciles 1-2 are quintile 1, and so on.
    pub fn imd_local_quintile(&self) -> Option<i64> {
        self.imd_local_decile.map(|d| (d + 1) / 2)
    }

    /// How the area column `name` (one of [`AREA_COLUMNS`]) is read from a row; `None` for
    /// any other name.
    pub fn field(name: &str) -> Option<AreaField> {
        use AreaField::{Num, Text};
        Some(match name {
            "lsoa" => Text(|a| Some(&a.lsoa)),
            "lsoa_name" => Text(|a| a.lsoa_name.as_deref()),
            "ward" => Text(|a| a.ward.as_deref()),
            "ward_name" => Text(|a| a.ward_name.as_deref()),
            "lad" => Text(|a| a.lad.as_deref()),
            "lad_name" => Text(|a| a.lad_name.as_deref()),
            "region" => Text(|a| a.region.as_deref()),
            "region_name" => Text(|a| a.region_name.as_deref()),
            "imd_rank" => Num(|a| a.imd_rank),
            "imd_decile" => Num(|a| a.imd_decile.map(|x| x as f64)),
            "imd_quintile" => Num(|a| a.imd_quintile.map(|x| x as f64)),
            "imd_local_decile" => Num(|a| a.imd_local_decile.map(|x| x as f64)),
            "imd_local_quintile" => Num(|a| a.imd_local_quintile().map(|x| x as f64)),
            _ => return None,
        })
    }
}

/// How an area column's value is read from an [`AreaRow`].
#[derive(Debug, Clone, Copy)]
pub enum AreaField {
    /// A code or a name.
    Text(fn(&AreaRow) -> Option<&str>),
    /// A rank, decile or quintile.
    Num(fn(&AreaRow) -> Option<f64>),
}

/// What was loaded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GeoSource {
    /// index | wards | regions | population | postcodes
    pub kind: String,
    /// e.g. IMD2019 / LSOA2011 / WD19.
    pub vintage: String,
    /// File name or `builtin imd2019`.
    pub source: String,
    /// Rows loaded.
    pub rows: i64,
}

pub(super) fn create_tables(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE geo_sources (kind TEXT PRIMARY KEY, vintage TEXT NOT NULL, source TEXT NOT NULL, rows INTEGER NOT NULL, loaded_at TEXT NOT NULL);
         CREATE TABLE geo_area (lsoa TEXT PRIMARY KEY, lsoa_name TEXT, ward TEXT, ward_name TEXT, lad TEXT, lad_name TEXT,
             imd_rank REAL, imd_decile INTEGER CHECK (imd_decile BETWEEN 1 AND 10), imd_quintile INTEGER CHECK (imd_quintile BETWEEN 1 AND 5),
             imd_local_decile INTEGER, region TEXT, region_name TEXT, population INTEGER);
         CREATE TABLE geo_postcode (postcode TEXT PRIMARY KEY, lsoa TEXT NOT NULL);
         CREATE TABLE geo_orphan_wards (ward TEXT PRIMARY KEY, ward_name TEXT, lad TEXT);",
    )
}

impl Store {
    /// Replaces the geography lookups in one transaction: all of it lands, or none.
    pub fn replace_geography(
        &mut self,
        areas: &[AreaRow],
        postcodes: &[(String, String)],
        orphan_wards: &[(String, String, String)],
        sources: &[GeoSource],
    ) -> Result<(), StoreError> {
        let p = self.path.display().to_string();
        let sq = |source| StoreError::sqlite(&p, "replacing the geography", source);
        let tx = self.conn.transaction().map_err(&sq)?;
        tx.execute_batch("DELETE FROM geo_area; DELETE FROM geo_postcode; DELETE FROM geo_orphan_wards; DELETE FROM geo_sources;")
            .map_err(&sq)?;
        {
            let mut st = tx
                .prepare("INSERT INTO geo_area (lsoa, lsoa_name, ward, ward_name, lad, lad_name, imd_rank, imd_decile, imd_quintile, imd_local_decile, region, region_name, population) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")
                .map_err(&sq)?;
            for a in areas {
                st.execute(params![
                    a.lsoa,
                    a.lsoa_name,
                    a.ward,
                    a.ward_name,
                    a.lad,
                    a.lad_name,
                    a.imd_rank,
                    a.imd_decile,
                    a.imd_quintile,
                    a.imd_local_decile,
                    a.region,
                    a.region_name,
                    a.population
                ])
                .map_err(&sq)?;
            }
            let mut st = tx
                .prepare("INSERT OR REPLACE INTO geo_postcode (postcode, lsoa) VALUES (?1, ?2)")
                .map_err(&sq)?;
            for (pc, l) in postcodes {
                st.execute(params![pc, l]).map_err(&sq)?;
            }
            let mut st = tx
                .prepare("INSERT OR REPLACE INTO geo_orphan_wards (ward, ward_name, lad) VALUES (?1, ?2, ?3)")
                .map_err(&sq)?;
            for (w, n, l) in orphan_wards {
                st.execute(params![w, n, l]).map_err(&sq)?;
            }
            let mut st = tx
                .prepare("INSERT INTO geo_sources (kind, vintage, source, rows, loaded_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(&sq)?;
            for s in sources {
                st.execute(params![s.kind, s.vintage, s.source, s.rows, now_iso()]).map_err(&sq)?;
            }
        }
        tx.execute(
            "INSERT INTO audit (at, by, action, reason) VALUES (?1, ?2, 'geography', ?3)",
            params![
                now_iso(),
                default_user(),
                sources
                    .iter()
                    .map(|s| format!("{} {} from {}", s.kind, s.vintage, s.source))
                    .collect::<Vec<_>>()
                    .join("; ")
            ],
        )
        .map_err(&sq)?;
        tx.commit().map_err(&sq)?;
        Ok(())
    }

    /// The area lookup (empty when no geography is loaded).
    pub fn areas(&self) -> Result<Vec<AreaRow>, StoreError> {
        self.areas_with(None)
    }

    /// The area lookup with only the fields of `columns` (area column names, as
    /// [`AreaRow::field`] takes them) read, the others left empty; the LSOA code always.
    pub fn areas_for(&self, columns: &[String]) -> Result<Vec<AreaRow>, StoreError> {
        self.areas_with(Some(columns))
    }

    fn areas_with(&self, columns: Option<&[String]>) -> Result<Vec<AreaRow>, StoreError> {
        const FIELDS: [&str; 12] = [
            "lsoa_name",
            "ward",
            "ward_name",
            "lad",
            "lad_name",
            "imd_rank",
            "imd_decile",
            "imd_quintile",
            "imd_local_decile",
            "region",
            "region_name",
            "population",
        ];
        let wanted = |f: &str| columns.is_none_or(|c| c.iter().any(|x| x == f || (f == "imd_local_decile" && x == "imd_local_quintile")));
        let select: Vec<String> = FIELDS.iter().map(|f| if wanted(f) { f.to_string() } else { format!("NULL AS {f}") }).collect();
        let sq = self.err("reading the area lookup");
        let mut st = self.conn.prepare(&format!("SELECT lsoa, {} FROM geo_area", select.join(", "))).map_err(&sq)?;
        let rows = st
            .query_map([], |r| {
                Ok(AreaRow {
                    lsoa: r.get(0)?,
                    lsoa_name: r.get(1)?,
                    ward: r.get(2)?,
                    ward_name: r.get(3)?,
                    lad: r.get(4)?,
                    lad_name: r.get(5)?,
                    imd_rank: r.get(6)?,
                    imd_decile: r.get(7)?,
                    imd_quintile: r.get(8)?,
                    imd_local_decile: r.get(9)?,
                    region: r.get(10)?,
                    region_name: r.get(11)?,
                    population: r.get(12)?,
                })
            })
            .map_err(&sq)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&sq)?;
        Ok(rows)
    }

    /// Postcode to LSOA entries.
    pub fn postcodes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let sq = self.err("reading the postcode lookup");
        let mut st = self.conn.prepare("SELECT postcode, lsoa FROM geo_postcode").map_err(&sq)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&sq)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&sq)?;
        Ok(rows)
    }

    /// What geography is loaded.
    pub fn geo_sources(&self) -> Result<Vec<GeoSource>, StoreError> {
        let sq = self.err("reading the geography sources");
        let mut st = self
            .conn
            .prepare("SELECT kind, vintage, source, rows FROM geo_sources ORDER BY kind")
            .map_err(&sq)?;
        let rows = st
            .query_map([], |r| {
                Ok(GeoSource {
                    kind: r.get(0)?,
                    vintage: r.get(1)?,
                    source: r.get(2)?,
                    rows: r.get(3)?,
                })
            })
            .map_err(&sq)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&sq)?;
        Ok(rows)
    }

    /// Wards the lookup names but gives no LSOA (they never appear in a ward breakdown).
    pub fn orphan_wards(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let sq = self.err("reading the orphan wards");
        let mut st = self
            .conn
            .prepare("SELECT ward, coalesce(ward_name, ''), coalesce(lad, '') FROM geo_orphan_wards ORDER BY ward")
            .map_err(&sq)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(&sq)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&sq)?;
        Ok(rows)
    }
}
