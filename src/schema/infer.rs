//! A starting definition for data that already exists.
//!
//! Owns guessing a flat unit from a CSV file: one question per column, its type, and choice
//! lists for columns with few distinct text values. The result is YAML text for an analyst to
//! edit (add the design, labels, skip logic); it is checked by the same loader as any definition.

use std::collections::BTreeSet;
use std::io::Read;

/// What the inference decided, for the user.
#[derive(Debug, Clone)]
pub struct Inferred {
    /// The definition as YAML text.
    pub yaml: String,
    /// Notes on decisions the analyst should review.
    pub notes: Vec<String>,
}

/// Errors of inference.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferError {
    /// The CSV could not be read.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// What went wrong.
        message: String,
    },
    /// No rows.
    #[error("{path}: no data rows to infer from")]
    Empty {
        /// File.
        path: String,
    },
}

const MAX_CHOICES: usize = 30;

fn sanitise(name: &str) -> String {
    let mut s: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("v_{s}");
    }
    s
}

/// Whether a number is written with a leading zero (`007`, `-01`), as codes often are.
fn leading_zero(v: &str) -> bool {
    let d = v.strip_prefix(['-', '+']).unwrap_or(v).as_bytes();
    d.len() > 1 && d[0] == b'0' && d[1].is_ascii_digit()
}

fn is_bool(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no")
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn is_lsoa(v: &str) -> bool {
    (v.starts_with("E01") || v.starts_with("W01")) && v.len() == 9 && v[3..].bytes().all(|c| c.is_ascii_digit())
}

fn is_code(v: &str) -> bool {
    !v.is_empty() && v.len() <= 40 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn yq(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Infers a flat definition from CSV data. `survey` is the id to give it.
pub fn infer_csv(reader: impl Read, path: &str, survey: &str) -> Result<Inferred, InferError> {
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
    let csv_err = |e: csv::Error| InferError::Csv {
        path: path.to_string(),
        line: e.position().map(|p| p.line()).unwrap_or(0),
        message: e.to_string(),
    };
    let headers: Vec<String> = rdr
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
    let mut rows = 0usize;
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        rows += 1;
        for (i, v) in rec.iter().enumerate() {
            if let Some(c) = cols.get_mut(i) {
                c.push(v.trim().to_string());
            }
        }
    }
    if rows == 0 {
        return Err(InferError::Empty { path: path.to_string() });
    }
    let mut notes = Vec::new();
    let mut out = String::new();
    out.push_str(&format!(
        "# Inferred by `hearth definition infer` from {path} ({rows} rows). Review every question:\n"
    ));
    out.push_str("# add labels, required, skip logic and the design section (weight, strata, psu, fpc).\n");
    out.push_str(&format!(
        "survey: {survey}\ntitle: {}\nversion: 1\nlanguages: [en]\n",
        yq(&format!("Survey inferred from {path}"))
    ));
    let ids: Vec<String> = headers.iter().map(|h| sanitise(h)).collect();
    for (h, id) in headers.iter().zip(&ids) {
        if h != id {
            notes.push(format!("column '{h}' became question '{id}': rename the column in the data to import it"));
        }
    }
    // the key: the first column whose values are all present and distinct
    let key = cols.iter().position(|c| {
        let set: BTreeSet<&String> = c.iter().collect();
        set.len() == c.len() && c.iter().all(|v| !v.is_empty())
    });
    let key_id = match key {
        Some(k) => ids[k].clone(),
        None => {
            notes.push("no column has a distinct value on every row: add an id column and name it as the key".into());
            "record_id".into()
        }
    };
    out.push_str("units:\n  - id: respondent\n");
    out.push_str(&format!("    key: {key_id}\n    questions:\n"));
    if key.is_none() {
        out.push_str("      - {id: record_id, type: integer, label: \"Record id (add this column to the data)\"}\n");
    }
    for (i, id) in ids.iter().enumerate() {
        let vals: Vec<&str> = cols[i].iter().map(|s| s.as_str()).filter(|v| !v.is_empty()).collect();
        let label = yq(&headers[i]);
        let distinct: BTreeSet<&str> = vals.iter().copied().collect();
        let line = if vals.is_empty() {
            notes.push(format!("column '{}' is empty: typed as text", headers[i]));
            format!("{{id: {id}, type: text, label: {label}}}")
        } else if vals.iter().any(|v| leading_zero(v)) && vals.iter().all(|v| v.parse::<f64>().is_ok()) {
            // codes such as school or area numbers: a number would lose the leading zeros
            notes.push(format!("column '{}' has values with leading zeros: typed as text to keep them", headers[i]));
            format!("{{id: {id}, type: text, label: {label}}}")
        } else if vals.iter().all(|v| v.parse::<i64>().is_ok()) {
            format!("{{id: {id}, type: integer, label: {label}}}")
        } else if vals.iter().all(|v| v.parse::<f64>().is_ok_and(|x| x.is_finite())) {
            format!("{{id: {id}, type: decimal, label: {label}}}")
        } else if vals.iter().all(|v| is_bool(v)) {
            format!("{{id: {id}, type: boolean, label: {label}}}")
        } else if vals.iter().all(|v| is_date(v)) {
            format!("{{id: {id}, type: date, label: {label}}}")
        } else if vals.iter().all(|v| is_lsoa(v)) {
            format!("{{id: {id}, type: lsoa, label: {label}}}")
        } else if distinct.len() <= MAX_CHOICES && distinct.iter().all(|v| is_code(v)) && Some(i) != key {
            let ch: Vec<String> = distinct.iter().map(|v| format!("{{value: {}, label: {}}}", yq(v), yq(v))).collect();
            format!("{{id: {id}, type: select_one, label: {label}, choices: [{}]}}", ch.join(", "))
        } else {
            format!("{{id: {id}, type: text, label: {label}}}")
        };
        out.push_str(&format!("      - {line}\n"));
    }
    Ok(Inferred { yaml: out, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types_and_choices() {
        let csv = "id,Age,score,sex,when,lsoa,comment\n1,34,2.5,F,2018-05-31,E01012571,hello world\n2,50,3,M,2018-06-01,E01012572,\n";
        let r = infer_csv(csv.as_bytes(), "x.csv", "x").unwrap();
        assert!(r.yaml.contains("{id: age, type: integer"), "{}", r.yaml);
        assert!(r.yaml.contains("{id: score, type: decimal"));
        assert!(r.yaml.contains("type: select_one"));
        assert!(r.yaml.contains("{id: when, type: date"));
        assert!(r.yaml.contains("{id: lsoa, type: lsoa"));
        assert!(r.yaml.contains("key: id"));
        let def = crate::schema::load_str(&r.yaml, "inferred.yaml");
        assert!(def.is_ok(), "{:?}", def.err().map(|e| e.to_string()));
    }
}
