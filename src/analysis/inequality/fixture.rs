//! Test support: the two-wave synthetic survey of fixtures/r-inequality (waves.csv, made by
//! make_inequality_extra.R with the R reference values in inequality_extra.json), read into
//! columns, and its designs built as the R script builds them.

use crate::analysis::engine::{Design, DesignSpec, Stage};

/// A JSON value.
pub type Json = serde_json::Value;

/// The fixture: numeric columns of waves.csv and the R results.
pub struct Fixture {
    names: Vec<String>,
    cols: Vec<Vec<f64>>,
    /// The R results.
    pub json: Json,
}

impl Fixture {
    /// Reads fixtures/r-inequality.
    pub fn load() -> Fixture {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/r-inequality/");
        let mut rdr = csv::Reader::from_path(format!("{dir}waves.csv")).unwrap();
        let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        let mut cols = vec![Vec::new(); names.len()];
        for rec in rdr.records() {
            for (j, v) in rec.unwrap().iter().enumerate() {
                cols[j].push(if v.is_empty() || v == "NA" { f64::NAN } else { v.parse().unwrap() });
            }
        }
        let json = serde_json::from_str(&std::fs::read_to_string(format!("{dir}inequality_extra.json")).unwrap()).unwrap();
        Fixture { names, cols, json }
    }

    /// A column over every row.
    pub fn num(&self, name: &str) -> &[f64] {
        &self.cols[self.names.iter().position(|n| n == name).unwrap_or_else(|| panic!("no column {name}"))]
    }

    /// The rows of one wave.
    pub fn wave_rows(&self, wave: i64) -> Vec<usize> {
        (0..self.num("wave").len()).filter(|&i| self.num("wave")[i] == wave as f64).collect()
    }

    /// Every row (both waves stacked).
    pub fn all_rows(&self) -> Vec<usize> {
        (0..self.num("wave").len()).collect()
    }

    /// `svydesign(id = ~psu (or ~pid), strata = ~stratum, weights = ~w)` over `rows`.
    pub fn design(&self, rows: &[usize], person_clusters: bool) -> Design {
        let col = |n: &str| rows.iter().map(|&i| self.num(n)[i]).collect::<Vec<f64>>();
        let cluster = if person_clusters { "pid" } else { "psu" };
        Design::new(DesignSpec {
            n_rows: rows.len(),
            weights: Some(col("w")),
            strata: Some(col("stratum").iter().map(|s| *s as u32 - 1).collect()),
            stages: vec![Stage {
                clusters: col(cluster).iter().map(|c| *c as u32).collect(),
                fpc: None,
            }],
            ..Default::default()
        })
        .unwrap()
    }
}
