//! Population totals: a CSV table with one column per margin variable and a `count` column.
//!
//! Owns reading such a table from its text (the caller reads the file: analysis reads no
//! files) with its SHA-256 content hash, and checking it: a header naming each variable once
//! and `count`, a value in every cell, a finite count of zero or more, each combination of
//! values once. Every problem names the file, line and value. Must not know the sample.

use sha2::{Digest, Sha256};

use super::WeightError;

/// One line of a population table.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationRow {
    /// The value of each variable, in the table's column order.
    pub values: Vec<String>,
    /// The population count.
    pub count: f64,
    /// Its line in the file (the header is line 1).
    pub line: u64,
}

/// A table of population counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    /// The file, as named by the user (for messages and the weight set's record).
    pub file: String,
    /// SHA-256 of the file's bytes, in hex.
    pub sha256: String,
    /// The margin variables (every column but `count`), in file order.
    pub variables: Vec<String>,
    /// The lines.
    pub rows: Vec<PopulationRow>,
}

impl Population {
    /// Reads a population table from the bytes of `file`: UTF-8 (a BOM is accepted), comma
    /// separated, a header of variable names plus `count`.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Population, WeightError> {
        let err = |line: u64, problem: String| WeightError::PopulationFile {
            file: file.to_string(),
            line,
            problem,
        };
        let sha256 = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body);
        let mut records = rdr.records();
        let header = match records.next() {
            None => return Err(err(1, "the file is empty: it needs a header of variables and `count`".into())),
            Some(r) => r.map_err(|e| err(1, format!("not CSV text: {e}")))?,
        };
        let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
        let Some(count_col) = names.iter().position(|h| h == "count") else {
            return Err(err(1, format!("no `count` column (the header is {})", names.join(","))));
        };
        let variables: Vec<String> = names.iter().enumerate().filter(|(i, _)| *i != count_col).map(|(_, n)| n.clone()).collect();
        if variables.is_empty() {
            return Err(err(1, "no variable column besides `count`".into()));
        }
        for (i, v) in variables.iter().enumerate() {
            if v.is_empty() {
                return Err(err(1, "a column has no name".into()));
            }
            if variables[..i].contains(v) || v == "count" {
                return Err(err(1, format!("column '{v}' appears twice")));
            }
        }
        // the line of a record starting at a byte offset, counted here: after a CRLF the csv
        // crate's record starts at the LF, and its own line count is one short
        let line_at = |byte: u64| {
            let b = (byte as usize).min(body.len());
            let end = if body.get(b) == Some(&b'\n') { b + 1 } else { b };
            1 + memchr::memchr_iter(b'\n', &body[..end]).count() as u64
        };
        let mut rows: Vec<PopulationRow> = Vec::new();
        for rec in records {
            let rec = rec.map_err(|e| err(e.position().map_or(0, |p| line_at(p.byte())), format!("not CSV text: {e}")))?;
            let line = rec.position().map_or(0, |p| line_at(p.byte()));
            if rec.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            if rec.len() != names.len() {
                return Err(err(line, format!("{} values but the header has {} columns", rec.len(), names.len())));
            }
            let raw = rec[count_col].trim();
            let count: f64 = raw
                .parse()
                .ok()
                .filter(|c: &f64| c.is_finite() && *c >= 0.0)
                .ok_or_else(|| err(line, format!("count '{raw}' is not a number of zero or more")))?;
            let mut values = Vec::with_capacity(variables.len());
            for (i, cell) in rec.iter().enumerate() {
                if i == count_col {
                    continue;
                }
                let v = cell.trim();
                if v.is_empty() {
                    return Err(err(line, format!("no value for '{}'", names[i])));
                }
                values.push(v.to_string());
            }
            if let Some(first) = rows.iter().find(|r| r.values == values) {
                return Err(err(line, format!("{} appears twice (also line {})", describe(&variables, &values), first.line)));
            }
            rows.push(PopulationRow { values, count, line });
        }
        if rows.is_empty() {
            return Err(err(1, "no counts below the header".into()));
        }
        Ok(Population {
            file: file.to_string(),
            sha256,
            variables,
            rows,
        })
    }

    /// The population total (sum of the counts).
    pub fn total(&self) -> f64 {
        self.rows.iter().map(|r| r.count).sum()
    }
}

/// `a = x, b = y`: a combination of values, for messages.
pub fn describe(variables: &[String], values: &[String]) -> String {
    variables.iter().zip(values).map(|(v, x)| format!("{v} = {x}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_of_counts_reads_with_its_hash() {
        let p = Population::parse("pop.csv", b"\xEF\xBB\xBFsex,age_band,count\r\n1,16-34,100\r\n2,16-34,110.5\r\n").unwrap();
        assert_eq!(p.variables, ["sex", "age_band"]);
        assert_eq!(p.rows[1].values, ["2", "16-34"]);
        assert_eq!((p.rows[1].count, p.rows[1].line), (110.5, 3));
        assert_eq!(p.total(), 210.5);
        assert_eq!(p.sha256.len(), 64);
    }

    #[test]
    fn problems_name_the_file_line_and_value() {
        let e = |t: &str| Population::parse("pop.csv", t.as_bytes()).unwrap_err().to_string();
        assert_eq!(e("sex,n\n1,2\n"), "pop.csv:1: no `count` column (the header is sex,n)");
        assert_eq!(e("sex,count\n1,2\n2,-3\n"), "pop.csv:3: count '-3' is not a number of zero or more");
        assert_eq!(e("sex,count\n1,2\n1,3\n"), "pop.csv:3: sex = 1 appears twice (also line 2)");
        assert_eq!(e("sex,count\n,2\n"), "pop.csv:2: no value for 'sex'");
        assert_eq!(e("sex,count\n1,2,3\n"), "pop.csv:2: 3 values but the header has 2 columns");
        assert_eq!(e("sex,count\n"), "pop.csv:1: no counts below the header");
    }
}
