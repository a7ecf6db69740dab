//! Standard populations for direct standardisation: the European Standard Population 2013
//! shipped with hearth (schemas/standards/esp2013.csv, its source cited there), a population
//! the user gives as CSV text (the standardising variables' columns and `count`), and the
//! mapping of a survey's age bands onto the standard's five-year bands.
//!
//! Owns reading a standard (from text: the binary reads files), parsing age-band labels
//! ("16-24", "75 and over", "90+"), summing the standard's bands within each survey band and
//! refusing bands that do not align, and giving each standardising cell of the data its
//! standard count ([`Standard`]). Must not estimate (see `standardise`) or read files.

use std::collections::HashMap;

/// The ESP 2013 file shipped with hearth.
pub const ESP2013_CSV: &str = include_str!("../../../schemas/standards/esp2013.csv");

/// The name of the shipped standard.
pub const ESP2013: &str = "esp2013";

/// Problems with a standard population or with fitting it to the survey's bands.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StandardError {
    /// A line of a population file cannot be read.
    #[error("{source_name}: line {line}: {problem}")]
    Line {
        /// The file (or text) name.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A column of a population file is not a standardising variable nor `count`.
    #[error("{source_name}: column '{column}' is not a standardising variable ({expected}) nor 'count'")]
    UnknownColumn {
        /// The file.
        source_name: String,
        /// The column.
        column: String,
        /// The standardising variables.
        expected: String,
    },
    /// A population file lacks a column.
    #[error("{source_name}: no column '{column}'")]
    MissingColumn {
        /// The file.
        source_name: String,
        /// The column.
        column: String,
    },
    /// A cell of the data has no count in the population file.
    #[error("{source_name}: no count for {cell}, which the survey's rows have")]
    MissingCell {
        /// The file.
        source_name: String,
        /// The cell, as `var=value, ...`.
        cell: String,
    },
    /// An age band label cannot be read as an age range.
    #[error("age band '{label}' of '{variable}' is not an age range such as 16-24, 75+ or 75 and over")]
    BandLabel {
        /// The variable.
        variable: String,
        /// The label.
        label: String,
    },
    /// A band does not align with the standard's bands.
    #[error("age band '{label}' of '{variable}': {problem}")]
    Misaligned {
        /// The variable.
        variable: String,
        /// The label.
        label: String,
        /// Why.
        problem: String,
    },
    /// The shipped standard needs exactly one age variable among the standardising variables.
    #[error(
        "the European Standard Population 2013 is by age: one standardising variable must be an age band with labels such as 16-24 (none of {variables} is)"
    )]
    NoAgeVariable {
        /// The standardising variables.
        variables: String,
    },
    /// An unknown standard name.
    #[error("unknown standard '{0}': use esp2013 or a population file")]
    UnknownStandard(String),
}

/// An age range in whole years: `lo` to `hi` inclusive, `hi` None when open ("90+").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeBand {
    /// First age of the band.
    pub lo: u32,
    /// Last age of the band, None when open-ended.
    pub hi: Option<u32>,
}

impl AgeBand {
    /// Reads a band label: `16-24`, `16 to 24`, `16–24`, `75+`, `75 and over`, `75 or over`,
    /// `75 plus`, `under 5` (any case, spaces and the word "aged" ignored).
    pub fn parse(label: &str) -> Option<AgeBand> {
        let t = label.trim().to_lowercase().replace("aged", "").replace(['\u{2013}', '\u{2014}'], "-");
        let t = t.trim();
        let num = |s: &str| s.trim().parse::<u32>().ok();
        for suffix in ["+", "and over", "or over", "plus", "and older", "or older"] {
            if let Some(lo) = t.strip_suffix(suffix).and_then(num) {
                return Some(AgeBand { lo, hi: None });
            }
        }
        for prefix in ["under", "<"] {
            if let Some(hi) = t.strip_prefix(prefix).and_then(num) {
                return (hi > 0).then(|| AgeBand { lo: 0, hi: Some(hi - 1) });
            }
        }
        let (a, b) = t.split_once('-').or_else(|| t.split_once(" to "))?;
        let (lo, hi) = (num(a)?, num(b)?);
        (lo <= hi).then_some(AgeBand { lo, hi: Some(hi) })
    }
}

impl std::fmt::Display for AgeBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.hi {
            Some(hi) => write!(f, "{}-{hi}", self.lo),
            None => write!(f, "{}+", self.lo),
        }
    }
}

/// A standard by age: bands in increasing order with their counts.
#[derive(Debug, Clone, PartialEq)]
pub struct AgeStandard {
    /// The standard's name, for messages ("the European Standard Population 2013").
    pub title: String,
    /// Bands and counts, contiguous from the first band's start.
    pub bands: Vec<(AgeBand, f64)>,
}

impl AgeStandard {
    /// The European Standard Population 2013 shipped with hearth.
    pub fn esp2013() -> AgeStandard {
        Self::parse(ESP2013_CSV, "the European Standard Population 2013").expect("schemas/standards/esp2013.csv is valid (tested)")
    }

    /// Reads a standard by age from CSV text with the columns `age_band,count` (lines starting
    /// with `#` are comments); the bands must be contiguous and increasing.
    pub fn parse(text: &str, title: &str) -> Result<AgeStandard, StandardError> {
        let bad = |line: usize, problem: String| StandardError::Line {
            source_name: title.to_string(),
            line,
            problem,
        };
        let mut bands: Vec<(AgeBand, f64)> = Vec::new();
        let mut header = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !header {
                header = true;
                if line != "age_band,count" {
                    return Err(bad(i + 1, format!("the header is '{line}', not 'age_band,count'")));
                }
                continue;
            }
            let (b, c) = line.split_once(',').ok_or_else(|| bad(i + 1, "two cells expected".into()))?;
            let band = AgeBand::parse(b).ok_or_else(|| bad(i + 1, format!("'{b}' is not an age band")))?;
            let count: f64 = c
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| bad(i + 1, format!("count '{c}' is not a number >= 0")))?;
            if let Some((prev, _)) = bands.last() {
                if prev.hi.map(|h| h + 1) != Some(band.lo) {
                    return Err(bad(i + 1, format!("band {band} does not follow {prev}")));
                }
            }
            bands.push((band, count));
        }
        if bands.is_empty() {
            return Err(bad(1, "no bands".into()));
        }
        Ok(AgeStandard {
            title: title.to_string(),
            bands,
        })
    }

    /// The standard's count for each survey band (in the order given), summing its bands
    /// within each: a band must start and end where the standard's bands do, except that the
    /// youngest survey band may start inside a standard band (a survey of ages 16 and over
    /// takes the 15-19 band whole; `notes` says so), and an open band ("75+") takes every
    /// standard band from its start. Survey bands may leave gaps (those ages are not used).
    pub fn counts_for(&self, variable: &str, labels: &[String], notes: &mut Vec<String>) -> Result<Vec<f64>, StandardError> {
        let mut bands = Vec::with_capacity(labels.len());
        for l in labels {
            bands.push(AgeBand::parse(l).ok_or_else(|| StandardError::BandLabel {
                variable: variable.to_string(),
                label: l.clone(),
            })?);
        }
        let youngest = bands.iter().map(|b| b.lo).min().unwrap_or(0);
        let starts: Vec<u32> = self.bands.iter().map(|(b, _)| b.lo).collect();
        let list = starts.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        let mut out = Vec::with_capacity(bands.len());
        for (band, label) in bands.iter().zip(labels) {
            let mis = |problem: String| StandardError::Misaligned {
                variable: variable.to_string(),
                label: label.clone(),
                problem,
            };
            let first = match starts.iter().position(|&s| s == band.lo) {
                Some(i) => i,
                None if band.lo == youngest => {
                    let i = self
                        .bands
                        .iter()
                        .position(|(b, _)| b.lo <= band.lo && b.hi.is_none_or(|h| band.lo <= h))
                        .ok_or_else(|| mis(format!("{} is below the youngest band of {}", band.lo, self.title)))?;
                    notes.push(format!(
                        "the youngest age band '{label}' takes the {} band of {} whole",
                        self.bands[i].0, self.title
                    ));
                    i
                }
                None => return Err(mis(format!("{} is not where a band of {} starts ({list})", band.lo, self.title))),
            };
            let last = match band.hi {
                None => self.bands.len() - 1,
                Some(hi) => match self.bands.iter().position(|(b, _)| b.hi == Some(hi)) {
                    Some(j) => j,
                    None if self.bands.last().is_some_and(|(b, _)| b.hi.is_none() && hi >= b.lo) => {
                        return Err(mis(format!(
                            "it ends at {hi}, inside the open band {} of {}; write it as {}+",
                            self.bands[self.bands.len() - 1].0,
                            self.title,
                            band.lo
                        )))
                    }
                    None => return Err(mis(format!("{} is not where a band of {} starts ({list})", hi + 1, self.title))),
                },
            };
            if last < first {
                return Err(mis(format!("it lies inside the {} band of {}", self.bands[first].0, self.title)));
            }
            out.push(self.bands[first..=last].iter().map(|(_, c)| c).sum());
        }
        // overlapping survey bands would count the standard twice
        let mut sorted: Vec<(AgeBand, &String)> = bands.iter().copied().zip(labels).collect();
        sorted.sort_by_key(|(b, _)| b.lo);
        for w in sorted.windows(2) {
            if w[0].0.hi.is_none_or(|h| h >= w[1].0.lo) {
                return Err(StandardError::Misaligned {
                    variable: variable.to_string(),
                    label: w[1].1.clone(),
                    problem: format!("it overlaps '{}'", w[0].1),
                });
            }
        }
        Ok(out)
    }
}

/// A population the user supplies: one row per cell of the standardising variables, with its
/// count. Values are matched to the data by code or by label.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPopulation {
    /// Where it came from (the file name), for messages.
    pub source_name: String,
    /// The standardising variables, in the order of the request.
    pub variables: Vec<String>,
    /// Per row: the values (one per variable) and the count.
    pub rows: Vec<(Vec<String>, f64)>,
}

impl UserPopulation {
    /// Reads CSV text whose header names each of `variables` and `count` (any order, any
    /// case for `count`); a cell repeated or a count that is not a number >= 0 is an error
    /// naming its line.
    pub fn parse(text: &str, source_name: &str, variables: &[String]) -> Result<UserPopulation, StandardError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text.as_bytes());
        let line_err = |line: usize, problem: String| StandardError::Line {
            source_name: source_name.to_string(),
            line,
            problem,
        };
        let header: Vec<String> = rdr
            .headers()
            .map_err(|e| line_err(1, e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut count_col = None;
        let mut var_cols = vec![None; variables.len()];
        for (j, h) in header.iter().enumerate() {
            if h.eq_ignore_ascii_case("count") {
                count_col = Some(j);
            } else if let Some(k) = variables.iter().position(|v| v == h) {
                var_cols[k] = Some(j);
            } else {
                return Err(StandardError::UnknownColumn {
                    source_name: source_name.to_string(),
                    column: h.clone(),
                    expected: variables.join(", "),
                });
            }
        }
        let missing = |column: &str| StandardError::MissingColumn {
            source_name: source_name.to_string(),
            column: column.to_string(),
        };
        let count_col = count_col.ok_or_else(|| missing("count"))?;
        let var_cols: Vec<usize> = var_cols
            .iter()
            .zip(variables)
            .map(|(c, v)| c.ok_or_else(|| missing(v)))
            .collect::<Result<_, _>>()?;
        let mut rows: Vec<(Vec<String>, f64)> = Vec::new();
        let mut seen: HashMap<Vec<String>, usize> = HashMap::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| line_err(line, e.to_string()))?;
            let key: Vec<String> = var_cols.iter().map(|&j| rec.get(j).unwrap_or("").trim().to_string()).collect();
            let c = rec.get(count_col).unwrap_or("").trim();
            let count: f64 = c
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| line_err(line, format!("count '{c}' is not a number >= 0")))?;
            if let Some(prev) = seen.insert(key.clone(), line) {
                return Err(line_err(line, format!("{} again (first on line {prev})", describe(variables, &key))));
            }
            rows.push((key, count));
        }
        Ok(UserPopulation {
            source_name: source_name.to_string(),
            variables: variables.to_vec(),
            rows,
        })
    }

    /// The count of each cell of the data: `cells[c][k]` gives cell c's value of variable k as
    /// (code, label); a row of the file matches by code, else by label.
    pub fn counts_for(&self, cells: &[Vec<(String, Option<String>)>]) -> Result<Vec<f64>, StandardError> {
        let by_key: HashMap<&[String], f64> = self.rows.iter().map(|(k, c)| (k.as_slice(), *c)).collect();
        cells
            .iter()
            .map(|cell| {
                let codes: Vec<String> = cell.iter().map(|(c, _)| c.clone()).collect();
                if let Some(c) = by_key.get(codes.as_slice()) {
                    return Ok(*c);
                }
                // by label where there is one, by code otherwise, variable by variable
                self.rows
                    .iter()
                    .find(|(k, _)| {
                        k.iter()
                            .zip(cell)
                            .all(|(v, (code, label))| v == code || label.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(v)))
                    })
                    .map(|(_, c)| *c)
                    .ok_or_else(|| StandardError::MissingCell {
                        source_name: self.source_name.clone(),
                        cell: describe(&self.variables, &codes),
                    })
            })
            .collect()
    }
}

/// `var=value, var=value`.
fn describe(variables: &[String], values: &[String]) -> String {
    variables.iter().zip(values).map(|(v, x)| format!("{v}={x}")).collect::<Vec<_>>().join(", ")
}

/// The standard population asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Standard {
    /// By age: the shipped ESP 2013 (or another standard by age band).
    Age(AgeStandard),
    /// A population over the standardising variables, from the user.
    Population(UserPopulation),
}

impl Standard {
    /// The shipped standard of this name (`esp2013`).
    pub fn named(name: &str) -> Result<Standard, StandardError> {
        match name.to_ascii_lowercase().as_str() {
            ESP2013 => Ok(Standard::Age(AgeStandard::esp2013())),
            _ => Err(StandardError::UnknownStandard(name.to_string())),
        }
    }

    /// A short description for the output ("esp2013", or the file name).
    pub fn name(&self) -> String {
        match self {
            Standard::Age(a) if a.title.contains("European Standard Population 2013") => ESP2013.to_string(),
            Standard::Age(a) => a.title.clone(),
            Standard::Population(p) => p.source_name.clone(),
        }
    }

    /// The standard count of each standardising cell present in the data. `variables` are the
    /// standardising variables; `cells[c][k]` is cell c's (code, label) of variable k. With a
    /// standard by age, the variable whose labels read as age bands takes the standard's
    /// counts summed within its bands, and the other variables (sex) share them equally (every
    /// combination gets its age band's count).
    pub fn counts(&self, variables: &[String], cells: &[Vec<(String, Option<String>)>], notes: &mut Vec<String>) -> Result<Vec<f64>, StandardError> {
        match self {
            Standard::Population(p) => p.counts_for(cells),
            Standard::Age(a) => {
                let label = |cell: &Vec<(String, Option<String>)>, k: usize| cell[k].1.clone().unwrap_or_else(|| cell[k].0.clone());
                let age_var = (0..variables.len())
                    .find(|&k| !cells.is_empty() && cells.iter().all(|c| AgeBand::parse(&label(c, k)).is_some()))
                    .or_else(|| variables.iter().position(|v| v.contains("age")))
                    .ok_or_else(|| StandardError::NoAgeVariable {
                        variables: variables.join(", "),
                    })?;
                let mut labels: Vec<String> = cells.iter().map(|c| label(c, age_var)).collect();
                labels.sort();
                labels.dedup();
                let counts = a.counts_for(&variables[age_var], &labels, notes)?;
                Ok(cells
                    .iter()
                    .map(|c| {
                        let l = label(c, age_var);
                        labels.iter().position(|x| *x == l).map_or(0.0, |i| counts[i])
                    })
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_shipped_esp2013_has_nineteen_bands_summing_to_100000() {
        let esp = AgeStandard::esp2013();
        assert_eq!(esp.bands.len(), 19);
        assert_eq!(esp.bands.iter().map(|(_, c)| c).sum::<f64>(), 100_000.0);
        assert_eq!(esp.bands[3], (AgeBand { lo: 15, hi: Some(19) }, 5500.0));
        assert_eq!(esp.bands[18], (AgeBand { lo: 90, hi: None }, 1000.0));
        // the numbers of the reference notes (Eurostat 2013), band by band
        let want = [
            5000., 5500., 5500., 5500., 6000., 6000., 6500., 7000., 7000., 7000., 7000., 6500., 6000., 5500., 5000., 4000., 2500., 1500., 1000.,
        ];
        assert_eq!(esp.bands.iter().map(|(_, c)| *c).collect::<Vec<_>>(), want);
    }

    #[test]
    fn band_labels_are_read() {
        let b = |lo, hi| Some(AgeBand { lo, hi });
        assert_eq!(AgeBand::parse("16-24"), b(16, Some(24)));
        assert_eq!(AgeBand::parse(" 25 to 34 "), b(25, Some(34)));
        assert_eq!(AgeBand::parse("35\u{2013}44"), b(35, Some(44)));
        assert_eq!(AgeBand::parse("75 and over"), b(75, None));
        assert_eq!(AgeBand::parse("Aged 75+"), b(75, None));
        assert_eq!(AgeBand::parse("under 5"), b(0, Some(4)));
        assert_eq!(AgeBand::parse("young"), None);
        assert_eq!(AgeBand::parse("30-20"), None);
    }

    #[test]
    fn the_survey_bands_sum_the_standard_bands_they_span() {
        let esp = AgeStandard::esp2013();
        let mut notes = Vec::new();
        // the shipped survey's age groups
        let labels = s(&["16-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75 and over"]);
        let c = esp.counts_for("age_group", &labels, &mut notes).unwrap();
        assert_eq!(c, [11500., 12500., 14000., 14000., 12500., 10500., 9000.]);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("'16-24' takes the 15-19 band"), "{notes:?}");
        // the fixture's bands (fixtures/r-inequality: 24000, 28000, 23000, 9000)
        let c = esp.counts_for("ageband", &s(&["16-34", "35-54", "55-74", "75+"]), &mut Vec::new()).unwrap();
        assert_eq!(c, [24000., 28000., 23000., 9000.]);
    }

    #[test]
    fn misaligned_bands_are_refused_saying_which() {
        let esp = AgeStandard::esp2013();
        let e = esp.counts_for("age", &s(&["16-22", "23-30"]), &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("'16-22'") && e.contains("23 is not where a band"), "{e}");
        let e = esp.counts_for("age", &s(&["15-19", "20-27", "28+"]), &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("'20-27'") && e.contains("28 is not where"), "{e}");
        let e = esp.counts_for("age", &s(&["15-19", "20-29", "25+"]), &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("'25+'"), "{e}");
        let e = esp.counts_for("age", &s(&["16-24", "old"]), &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("'old'"), "{e}");
        let e = esp.counts_for("age", &s(&["85-99"]), &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("write it as 85+"), "{e}");
    }

    #[test]
    fn a_user_population_is_read_and_matched_by_code_or_label() {
        let vars = s(&["age_group", "sex"]);
        let p = UserPopulation::parse("\u{feff}sex,age_group,count\n1,1,100\n2,1,120\n1,2,80\n2,2,90.5\n", "pop.csv", &vars).unwrap();
        assert_eq!(p.rows.len(), 4);
        let cells = vec![
            vec![("2".into(), Some("25-34".into())), ("2".into(), Some("Female".into()))],
            vec![("1".into(), None), ("1".into(), None)],
        ];
        assert_eq!(p.counts_for(&cells).unwrap(), [90.5, 100.0]);
        let by_label = UserPopulation::parse("age_group,sex,count\n25-34,female,7\n", "pop.csv", &vars).unwrap();
        assert_eq!(by_label.counts_for(&cells[..1]).unwrap(), [7.0]);
        let e = by_label.counts_for(&cells[1..]).unwrap_err().to_string();
        assert_eq!(e, "pop.csv: no count for age_group=1, sex=1, which the survey's rows have");
    }

    #[test]
    fn a_bad_population_file_says_where() {
        let vars = s(&["age_group"]);
        let e = UserPopulation::parse("agegroup,count\n1,5\n", "pop.csv", &vars).unwrap_err().to_string();
        assert_eq!(e, "pop.csv: column 'agegroup' is not a standardising variable (age_group) nor 'count'");
        let e = UserPopulation::parse("age_group\n1\n", "pop.csv", &vars).unwrap_err().to_string();
        assert_eq!(e, "pop.csv: no column 'count'");
        let e = UserPopulation::parse("age_group,count\n1,5\n2,-1\n", "pop.csv", &vars).unwrap_err().to_string();
        assert_eq!(e, "pop.csv: line 3: count '-1' is not a number >= 0");
        let e = UserPopulation::parse("age_group,count\n1,5\n1,6\n", "pop.csv", &vars).unwrap_err().to_string();
        assert!(e.contains("line 3: age_group=1 again (first on line 2)"), "{e}");
    }

    #[test]
    fn the_esp_by_age_and_sex_gives_each_sex_the_age_bands_count() {
        let vars = s(&["age_group", "sex"]);
        let cell = |a: &str, l: &str, x: &str| {
            vec![
                (a.to_string(), Some(l.to_string())),
                (x.to_string(), Some(if x == "1" { "Male" } else { "Female" }.to_string())),
            ]
        };
        let cells = vec![cell("1", "16-24", "1"), cell("1", "16-24", "2"), cell("7", "75 and over", "1")];
        let c = Standard::named("ESP2013").unwrap().counts(&vars, &cells, &mut Vec::new()).unwrap();
        assert_eq!(c, [11500., 11500., 9000.]);
        let e = Standard::named("esp2013")
            .unwrap()
            .counts(&s(&["sex"]), &[vec![("1".into(), Some("Male".into()))]], &mut Vec::new())
            .unwrap_err();
        assert!(matches!(e, StandardError::NoAgeVariable { .. }), "{e}");
        assert!(Standard::named("who2000").is_err());
    }
}
