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

/// A date as an import reads it (a day that exists), so an inferred `date` column imports.
fn is_date(v: &str) -> bool {
    crate::schema::date::Date::parse(v).is_some()
}

fn is_lsoa(v: &str) -> bool {
    (v.starts_with("E01") || v.starts_with("W01")) && v.len() == 9 && v[3..].bytes().all(|c| c.is_ascii_digit())
}

/// A short code as data files write categories: `F`, `NW-3`, or an interval such as `(19,39]`
/// or `65+` (R's `cut()` labels); one line, no leading or trailing spaces.
fn is_code(v: &str) -> bool {
    !v.is_empty() && v.chars().count() <= 40 && v.trim() == v && !v.chars().any(|c| c.is_control())
}

fn yq(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Names hearth gives columns of its own (see the definition format): a data column of that name
/// is read into a question with another id.
fn reserved(id: &str) -> bool {
    crate::schema::SYSTEM_COLUMNS.contains(&id) || ["respondent_uuid", crate::schema::load::ROW_KEY].contains(&id)
}

/// A column name that says it identifies records (`id`, `SEQN`, `serial`, `case_no`...).
fn looks_like_key(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let words: Vec<&str> = n.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    words.iter().any(|w| {
        [
            "id",
            "seqn",
            "serial",
            "serialno",
            "key",
            "caseid",
            "case",
            "respid",
            "respondent",
            "uid",
            "uuid",
            "pid",
        ]
        .contains(w)
    }) || n.ends_with("id")
        || n.ends_with("_no")
}

/// What a column name suggests for the design: weight, strata, PSU or FPC.
fn design_role(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    if n.contains("psu") || n.contains("cluster") {
        Some("psu")
    } else if n.contains("strat") || n == "sdmvstra" {
        Some("strata")
    } else if n.contains("fpc") {
        Some("fpc")
    } else if n.contains("weight") || n.starts_with("wt") || n.contains("_wt") || n.ends_with("wt") || n.contains("wgt") {
        Some("weight")
    } else {
        None
    }
}

/// Infers a flat definition from CSV data. `survey` is the id to give it.
///
/// Columns keep their names in the data: a question whose id had to differ from its header
/// (`SDMVPSU` becomes `sdmvpsu`) reads it with `column:`, so the same file imports as it is.
/// A key is chosen only from a column whose name says it identifies records and whose values
/// are present and distinct; otherwise records are keyed by their row number (`row_number`).
/// The design is proposed from column names as a commented block for the analyst to confirm.
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
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}').to_string()
            } else {
                h.to_string()
            }
        })
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
    out.push_str("# add labels, required, skip logic, and confirm the design section below.\n");
    out.push_str(&format!(
        "survey: {survey}\ntitle: {}\nversion: 1\nlanguages: [en]\n",
        yq(&format!("Survey inferred from {path}"))
    ));
    // question ids: lower case a-z0-9_, unique, not a name hearth gives its own columns
    let mut ids: Vec<String> = Vec::new();
    for h in &headers {
        let mut id = sanitise(h);
        if reserved(&id) {
            id = format!("data_{id}");
        }
        let base = id.clone();
        let mut k = 2;
        while ids.contains(&id) {
            id = format!("{base}_{k}");
            k += 1;
        }
        ids.push(id);
    }
    for (h, id) in headers.iter().zip(&ids) {
        if h != id {
            notes.push(format!("column '{h}' became question '{id}', which reads it with `column: {h}`"));
        }
    }
    // the key: a column named like an identifier (else the first column) with a distinct value
    // on every row; never a design column or a decimal
    let distinct_codes = |k: usize| {
        let c = &cols[k];
        let set: BTreeSet<&String> = c.iter().collect();
        design_role(&headers[k]).is_none()
            && set.len() == c.len()
            && c.iter()
                .all(|v| !v.is_empty() && (v.parse::<i64>().is_ok() || (v.parse::<f64>().is_err() && !v.contains(char::is_whitespace))))
    };
    let key = (0..headers.len())
        .find(|&k| looks_like_key(&headers[k]) && distinct_codes(k))
        .or_else(|| Some(0).filter(|_| distinct_codes(0)));
    match key {
        Some(k) => notes.push(format!("column '{}' identifies records: it is the key", headers[k])),
        None => notes.push(format!(
            "no column names a record id with a distinct value on every row: records are keyed by their row in the file ({}); re-importing the same file changes nothing, but keep its rows in order",
            crate::schema::load::ROW_KEY
        )),
    }
    suggest_design(&headers, &ids, &mut out, &mut notes);
    out.push_str("units:\n  - id: respondent\n");
    if let Some(k) = key {
        out.push_str(&format!("    key: {}\n", ids[k]));
    } else {
        out.push_str(&format!(
            "    # no key: records are numbered by their row in the file (question {})\n",
            crate::schema::load::ROW_KEY
        ));
    }
    out.push_str("    questions:\n");
    for (i, id) in ids.iter().enumerate() {
        let vals: Vec<&str> = cols[i].iter().map(|s| s.as_str()).filter(|v| !v.is_empty()).collect();
        let label = yq(&headers[i]);
        let column = if &headers[i] != id {
            format!(", column: {}", yq(&headers[i]))
        } else {
            String::new()
        };
        let ty = question_type(&headers[i], &vals, Some(i) == key, &mut notes);
        out.push_str(&format!("      - {{id: {id}{column}, {ty}, label: {label}}}\n"));
    }
    Ok(Inferred { yaml: out, notes })
}

/// Proposes the design from column names as a commented block, and says so in a note.
fn suggest_design(headers: &[String], ids: &[String], out: &mut String, notes: &mut Vec<String>) {
    let mut design: Vec<(&str, &str)> = Vec::new();
    for (h, id) in headers.iter().zip(ids) {
        if let Some(role) = design_role(h) {
            if !design.iter().any(|(r, _)| *r == role) {
                design.push((role, id));
            }
        }
    }
    if design.is_empty() {
        return;
    }
    out.push_str("# Design suggested from column names: check it against the survey's documentation\n");
    out.push_str("# (a weight, the strata and the primary sampling units), then remove the # signs.\n");
    out.push_str("# design:\n");
    for role in ["weight", "strata", "psu", "fpc"] {
        if let Some((_, id)) = design.iter().find(|(r, _)| *r == role) {
            out.push_str(&format!("#   {role}: {id}\n"));
        }
    }
    notes.push(format!(
        "a design is suggested from column names ({}): confirm it and remove the # signs",
        design.iter().map(|(r, id)| format!("{r}: {id}")).collect::<Vec<_>>().join(", ")
    ));
}

/// The type (and choices) of a question from its column's non-empty values.
fn question_type(header: &str, vals: &[&str], is_key: bool, notes: &mut Vec<String>) -> String {
    let distinct: BTreeSet<&str> = vals.iter().copied().collect();
    if vals.is_empty() {
        notes.push(format!("column '{header}' is empty: typed as text"));
        "type: text".to_string()
    } else if vals.iter().any(|v| leading_zero(v)) && vals.iter().all(|v| v.parse::<f64>().is_ok()) {
        // codes such as school or area numbers: a number would lose the leading zeros
        notes.push(format!("column '{header}' has values with leading zeros: typed as text to keep them"));
        "type: text".to_string()
    } else if vals.iter().all(|v| v.parse::<i64>().is_ok()) {
        "type: integer".to_string()
    } else if vals.iter().all(|v| v.parse::<f64>().is_ok_and(|x| x.is_finite())) {
        "type: decimal".to_string()
    } else if vals.iter().all(|v| is_bool(v)) {
        "type: boolean".to_string()
    } else if vals.iter().all(|v| is_date(v)) {
        "type: date".to_string()
    } else if vals.iter().all(|v| is_lsoa(v)) {
        "type: lsoa".to_string()
    } else if distinct.len() <= MAX_CHOICES && distinct.iter().all(|v| is_code(v)) && !is_key {
        let ch: Vec<String> = distinct.iter().map(|v| format!("{{value: {}, label: {}}}", yq(v), yq(v))).collect();
        format!("type: select_one, choices: [{}]", ch.join(", "))
    } else {
        "type: text".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types_and_choices() {
        let csv = "id,Age,score,sex,when,lsoa,comment\n1,34,2.5,F,2018-05-31,E01012571,hello world\n2,50,3,M,2018-06-01,E01012572,\n";
        let r = infer_csv(csv.as_bytes(), "x.csv", "x").unwrap();
        assert!(r.yaml.contains("{id: age, column: \"Age\", type: integer"), "{}", r.yaml);
        assert!(r.yaml.contains("{id: score, type: decimal"));
        assert!(r.yaml.contains("type: select_one"));
        assert!(r.yaml.contains("{id: when, type: date"));
        assert!(r.yaml.contains("{id: lsoa, type: lsoa"));
        assert!(r.yaml.contains("key: id"));
        let def = crate::schema::load_str(&r.yaml, "inferred.yaml");
        assert!(def.is_ok(), "{:?}", def.err().map(|e| e.to_string()));
    }

    /// A column of date-shaped text holding a day that does not exist is not inferred as a date
    /// (the import would refuse every such row); real dates still are.
    #[test]
    fn r16_date_inferred_only_for_days_that_exist() {
        let csv = "id,when,code\n1,2018-05-31,2018-02-30\n2,2020-02-29,2019-13-01\n";
        let r = infer_csv(csv.as_bytes(), "x.csv", "x").unwrap();
        assert!(r.yaml.contains("{id: when, type: date"), "{}", r.yaml);
        assert!(!r.yaml.contains("{id: code, type: date"), "{}", r.yaml);
    }

    /// Regression (issue 14.8): a public file with capitalised headers, a weight, strata and
    /// PSUs and no id column gave a definition that could not import the same file.
    #[test]
    fn r14_infer_public_file_columns_design_and_codes() {
        let csv = "SDMVSTRA,SDMVPSU,WTMEC2YR,RIDAGEYR,agecat,wave\n1,1,1000.5,34,\"(19,39]\",1\n1,2,2000.25,50,\"(39,59]\",1\n2,1,1500,70,\"(59,Inf]\",1\n2,2,900,22,\"(19,39]\",1\n";
        let r = infer_csv(csv.as_bytes(), "nhanes.csv", "nhanes").unwrap();
        let y = &r.yaml;
        assert!(y.contains("{id: sdmvpsu, column: \"SDMVPSU\", type: integer"), "{y}");
        assert!(y.contains("{id: wtmec2yr, column: \"WTMEC2YR\", type: decimal"), "{y}");
        assert!(y.contains("{id: agecat, type: select_one, choices: [{value: \"(19,39]\""), "{y}");
        assert!(y.contains("{id: data_wave, column: \"wave\""), "{y}");
        assert!(y.contains("# design:\n#   weight: wtmec2yr\n#   strata: sdmvstra\n#   psu: sdmvpsu\n"), "{y}");
        assert!(!y.contains("    key:"), "no natural key: {y}");
        let def = crate::schema::load_str(y, "inferred.yaml").unwrap();
        assert!(def.units[0].key_auto);
        assert_eq!(def.units[0].key, crate::schema::load::ROW_KEY);
        // the suggested design, uncommented, is a valid definition too
        let confirmed = y
            .replace("# design:", "design:")
            .replace("#   weight", "  weight")
            .replace("#   strata", "  strata")
            .replace("#   psu", "  psu");
        let def = crate::schema::load_str(&confirmed, "confirmed.yaml").unwrap();
        assert_eq!(def.design.unwrap().weight.as_deref(), Some("wtmec2yr"));
    }
}
