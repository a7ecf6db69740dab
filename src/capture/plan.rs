//! The column plan of an import: how one file's header maps onto the units of the survey
//! (which unit each row is of, which columns hold each question and each `<unit>_uuid`), and
//! the columns an import accepts and ignores.
//!
//! Owns the header checks, all reported together: a column twice, no key column, a missing
//! key of a unit above, missing question columns, unknown columns (with "did you mean"). It
//! must not read rows or touch the store.

use std::collections::HashMap;

use crate::schema::yaml::did_you_mean;
use crate::schema::{Definition, QType, Unit};

use super::error::RowProblem;

/// Columns an import accepts and ignores: what `hearth export` adds besides answers.
pub fn is_export_column(def: &Definition, name: &str) -> bool {
    crate::schema::SYSTEM_COLUMNS.contains(&name)
        || crate::store::geo::AREA_COLUMNS.contains(&name)
        || def
            .units
            .iter()
            .any(|u| u.derived.iter().any(|d| d.id == name) || name == format!("{}_uuid", u.id))
        || def.units.iter().any(|u| {
            u.questions
                .iter()
                .any(|q| q.qtype == QType::SelectMultiple && name.starts_with(&format!("{}:", q.id)))
        })
}

/// How a file's columns map onto the units.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Depth (index in the lineage) of the deepest unit whose key is present.
    pub(crate) depth: usize,
    /// For each unit of the lineage up to depth: whether its questions are in this file.
    pub(crate) has_questions: Vec<bool>,
    /// For each unit of the lineage: header index of each own question (None if absent).
    pub(crate) cols: Vec<Vec<Option<usize>>>,
    /// Header index of each unit's `<unit>_uuid` column.
    pub(crate) uuid_col: Vec<Option<usize>>,
}

/// Plans a file's columns from its `header` (`json`: a JSON Lines file, whose keys differ line
/// by line, so that no column is missing or unknown). Problems name line 1 (the caller moves
/// them to the header's line).
pub(crate) fn plan(file: &str, header: &[String], def: &Definition, lineage: &[&Unit], json: bool, allow_missing: bool) -> Result<Plan, Vec<RowProblem>> {
    let mut problems = Vec::new();
    let p = |column: Option<usize>, message: String| RowProblem {
        file: file.to_string(),
        line: 1,
        column,
        record: None,
        question: None,
        value: None,
        message,
    };
    let mut pos: HashMap<&str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if let Some(first) = pos.insert(h.as_str(), i) {
            problems.push(p(Some(i + 1), format!("column '{h}' appears twice (first as column {})", first + 1)));
        }
    }
    if header.iter().all(|h| h.is_empty()) || header.is_empty() {
        problems.push(p(None, "the file is empty: expected a header line of question ids".into()));
        return Err(problems);
    }
    let key_column = |u: &Unit| -> Option<usize> {
        let q = u.question(&u.key)?;
        pos.get(q.column_name()).or_else(|| pos.get(q.id.as_str())).copied()
    };
    // with no key at all, go on as if the file were of the deepest unit, to name every column
    // that could not be placed
    let found = lineage.iter().rposition(|u| key_column(u).is_some());
    let depth = match found {
        Some(d) => d,
        None => {
            let keys: Vec<&str> = lineage.iter().map(|u| u.question(&u.key).map(|q| q.column_name()).unwrap_or(&u.key)).collect();
            problems.push(p(None, format!("no key column: the header must have {}", keys.join(" or "))));
            lineage.len() - 1
        }
    };
    let mut known: Vec<&str> = Vec::new();
    let mut cols = Vec::new();
    let mut has_questions = Vec::new();
    let mut uuid_col = Vec::new();
    for (d, u) in lineage.iter().enumerate() {
        // a question reads its `column:` (or, as an export writes it, its id)
        let own: Vec<Option<usize>> = u
            .questions
            .iter()
            .map(|q| {
                if q.qtype == QType::Note {
                    None
                } else {
                    pos.get(q.column_name()).or_else(|| pos.get(q.id.as_str())).copied()
                }
            })
            .collect();
        for q in u.questions.iter().filter(|q| q.qtype != QType::Note) {
            known.push(q.column_name());
            known.push(q.id.as_str());
        }
        let non_key_present = u.questions.iter().zip(&own).any(|(q, c)| c.is_some() && q.id != u.key);
        let full = d == depth || non_key_present;
        if d <= depth && u.key.is_empty() {
            problems.push(p(None, format!("unit '{}' has no key", u.id)));
        }
        if d <= depth && found.is_some() && key_column(u).is_none() {
            let col = u.question(&u.key).map(|q| q.column_name()).unwrap_or(&u.key);
            problems.push(p(None, format!("missing column '{col}': the key of unit '{}', needed to place each row", u.id)));
        }
        if full && d <= depth && !json && !allow_missing {
            let missing: Vec<String> = u
                .questions
                .iter()
                .zip(&own)
                .filter(|(q, c)| c.is_none() && q.qtype != QType::Note && !q.identifier)
                .map(|(q, _)| match &q.column {
                    Some(c) => format!("{} (column {c})", q.id),
                    None => q.id.clone(),
                })
                .collect();
            if !missing.is_empty() {
                problems.push(p(
                    None,
                    format!(
                        "missing column(s) for unit '{}': {} (an unanswered question still needs its column, left empty; for a file written before a definition version added questions, use --allow-missing-columns)",
                        u.id,
                        missing.join(", ")
                    ),
                ));
            }
        }
        has_questions.push(full && d <= depth);
        cols.push(own);
        uuid_col.push(pos.get(format!("{}_uuid", u.id).as_str()).copied());
    }
    if !json {
        let unknown: Vec<(usize, &String)> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| !known.contains(&h.as_str()) && !is_export_column(def, h))
            .collect();
        if !unknown.is_empty() {
            let list: Vec<String> = unknown
                .iter()
                .map(|(i, h)| format!("'{h}' (column {}){}", i + 1, did_you_mean(h, known.iter().copied())))
                .collect();
            problems.push(p(None, format!("unknown column(s): {}", list.join(", "))));
        }
    }
    if problems.is_empty() {
        Ok(Plan {
            depth,
            has_questions,
            cols,
            uuid_col,
        })
    } else {
        Err(problems)
    }
}

/// Plans a file as [`plan`] does; a JSON Lines file as of the leaf unit with every unit's
/// questions (the deepest unit whose key any line has decides, and a line may leave out keys).
pub(crate) fn plan_file(file: &str, header: &[String], def: &Definition, lineage: &[&Unit], json: bool, allow_missing: bool) -> Result<Plan, Vec<RowProblem>> {
    if !json {
        return plan(file, header, def, lineage, false, allow_missing);
    }
    let mut pl = plan(file, header, def, lineage, true, true)?;
    pl.depth = lineage.len() - 1;
    pl.has_questions = vec![true; lineage.len()];
    Ok(pl)
}

/// The record's keys down to depth `upto` as written on the row, e.g. `household_id=H1/person_id=2`:
/// built only when a problem is reported.
pub(crate) fn record_label(lineage: &[&Unit], plan: &Plan, upto: usize, fields: &[String]) -> String {
    let mut s = String::new();
    for (u, cols) in lineage[..=upto].iter().zip(&plan.cols) {
        if !s.is_empty() {
            s.push('/');
        }
        let col = u.questions.iter().position(|q| q.id == u.key).and_then(|i| cols[i]);
        s.push_str(&u.key);
        s.push('=');
        s.push_str(col.and_then(|c| fields.get(c)).map(String::as_str).unwrap_or(""));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Definition {
        crate::schema::load_str(include_str!("../../fixtures/import/tiny.yaml"), "tiny.yaml").unwrap()
    }

    fn header(cols: &str) -> Vec<String> {
        cols.split(',').map(str::to_string).collect()
    }

    #[test]
    fn a_person_file_refers_to_households_by_key() {
        let def = tiny();
        let lineage = def.lineage("person");
        let h = header("household_id,person_id,age,sex,smoker,cigarettes,visit_date,height,activities,comment,person_uuid,wave");
        let p = plan("p.csv", &h, &def, &lineage, false, false).unwrap();
        assert_eq!((p.depth, p.has_questions.as_slice()), (1, &[false, true][..]));
        assert_eq!(p.cols[0][0], Some(0), "the household key");
        assert_eq!(p.cols[1][..3], [Some(1), Some(2), Some(3)]);
        assert_eq!(p.uuid_col, [None, Some(10)]);
        let fields = header("H1,2");
        assert_eq!(record_label(&lineage, &p, 1, &fields), "household_id=H1/person_id=2");
    }

    #[test]
    fn header_problems_are_reported_together() {
        let def = tiny();
        let lineage = def.lineage("person");
        let h = header("household_id,area,area,rooms,notes,contact_name,agee");
        let e = plan("h.csv", &h, &def, &lineage, false, false).unwrap_err();
        let m: Vec<&str> = e.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(e[0].column, Some(3));
        assert!(m[0].starts_with("column 'area' appears twice (first as column 2)"), "{m:?}");
        assert!(m[1].starts_with("unknown column(s): 'agee' (column 7)"), "{m:?}");
        assert_eq!(m.len(), 2, "{m:?}");
        // a JSON Lines file may leave keys out: no missing columns
        assert!(plan_file("h.jsonl", &header("household_id,area"), &def, &lineage, true, false).is_ok());
        assert!(plan_file("h.csv", &header("household_id,area"), &def, &lineage, false, false).is_err());
    }
}
