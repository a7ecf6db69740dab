//! One answer and one record: parsing text as written in a file, and checking a record
//! against its question's rules (types, choices, ranges, missing codes, skip logic, required,
//! constraints), then computing derived variables.
//!
//! Owns the rules of what a valid answer is. Pure: no files, no store.

use std::sync::Arc;

use crate::schema::date::Date;
use crate::schema::expr::{eval, Value};
use crate::schema::{Code, QType, Question, Required, Unit};
use crate::store::Cell;

/// Parses an answer as written in a file (empty = no answer) into the stored cell and the
/// value expressions see (a missing code is stored but reads as missing).
pub fn parse_answer(q: &Question, raw: &str) -> Result<(Cell, Value), String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok((Cell::Null, Value::Missing));
    }
    if q.qtype == QType::Note {
        return Err("a note takes no answer".into());
    }
    // a whole number is read once, for the missing codes and the choice list
    let int = crate::schema::model::parse_int(raw);
    let missing = if q.missing.is_empty() {
        None
    } else if let Some(v) = int {
        q.missing
            .iter()
            .find(|m| matches!(m.code, Code::Int(c) if c == v))
            .or_else(|| q.missing_code(raw))
    } else {
        q.missing_code(raw)
    };
    if let Some(m) = missing {
        let cell = match &m.code {
            Code::Int(v) => {
                if q.qtype == QType::Decimal {
                    Cell::Real(*v as f64)
                } else if matches!(q.qtype, QType::Text | QType::Lsoa | QType::Postcode | QType::SelectMultiple | QType::Date)
                    || q.choices.as_ref().is_some_and(|c| !c.integer)
                {
                    Cell::Text(v.to_string())
                } else {
                    Cell::Int(*v)
                }
            }
            Code::Text(s) => Cell::Text(s.clone()),
        };
        return Ok((cell, Value::Missing));
    }
    let range = |v: f64| -> Result<(), String> {
        if let Some(min) = q.min {
            if v < min {
                return Err(format!("{raw} is below the minimum {}", crate::schema::expr::format_num(min)));
            }
        }
        if let Some(max) = q.max {
            if v > max {
                return Err(format!("{raw} is above the maximum {}", crate::schema::expr::format_num(max)));
            }
        }
        Ok(())
    };
    match q.qtype {
        QType::Integer => {
            let v: i64 = raw.parse().map_err(|_| format!("'{raw}' is not a whole number"))?;
            range(v as f64)?;
            Ok((Cell::Int(v), Value::Num(v as f64)))
        }
        QType::Decimal => {
            let v: f64 = raw
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| format!("'{raw}' is not a number"))?;
            range(v)?;
            Ok((Cell::Real(v), Value::Num(v)))
        }
        QType::Text => Ok((Cell::Text(raw.to_string()), Value::Text(Arc::from(raw)))),
        QType::Boolean => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok((Cell::Int(1), Value::Bool(true))),
            "false" | "0" | "no" => Ok((Cell::Int(0), Value::Bool(false))),
            _ => Err(format!("'{raw}' is not a boolean (true/false, 1/0, yes/no)")),
        },
        QType::Date => {
            let date = Date::parse(raw).ok_or_else(|| format!("'{raw}' is not a date (YYYY-MM-DD)"))?;
            Ok((Cell::Text(raw.to_string()), Value::Num(date.days() as f64)))
        }
        QType::SelectOne => {
            let list = q.choices.as_ref().ok_or("no choices")?;
            let found = match int {
                Some(v) if list.integer => list.choices.iter().position(|c| c.value == Code::Int(v)),
                _ => list.index_of(raw),
            };
            let i = found.ok_or_else(|| {
                let codes = list.codes();
                let shown = if codes.len() > 12 {
                    format!("{}, ...", codes[..12].join(", "))
                } else {
                    codes.join(", ")
                };
                format!("'{raw}' is not a choice (choices: {shown})")
            })?;
            Ok(match &list.choices[i].value {
                Code::Int(v) => (Cell::Int(*v), Value::Num(*v as f64)),
                Code::Text(s) => (Cell::Text(s.clone()), Value::Text(Arc::from(s.as_str()))),
            })
        }
        QType::SelectMultiple => {
            let list = q.choices.as_ref().ok_or("no choices")?;
            let mut idx: Vec<u32> = Vec::new();
            for part in raw.split_whitespace() {
                let i = list
                    .index_of(part)
                    .ok_or_else(|| format!("'{part}' is not a choice (choices: {})", list.codes().join(", ")))?;
                if !idx.contains(&(i as u32)) {
                    idx.push(i as u32);
                }
            }
            idx.sort_unstable();
            let text: Vec<String> = idx.iter().map(|&i| list.choices[i as usize].value.to_string()).collect();
            Ok((Cell::Text(text.join(" ")), Value::Multi(Arc::from(idx))))
        }
        QType::Lsoa => {
            let code = raw.to_ascii_uppercase();
            if !is_area_code(&code) {
                return Err(format!("'{raw}' is not an LSOA code (E01 or W01 and 6 digits)"));
            }
            Ok((Cell::Text(code.clone()), Value::Text(Arc::from(code.as_str()))))
        }
        QType::Postcode => {
            let pc = normalise_postcode(raw).ok_or_else(|| format!("'{raw}' is not a UK postcode"))?;
            Ok((Cell::Text(pc.clone()), Value::Text(Arc::from(pc.as_str()))))
        }
        QType::Note => Err("a note takes no answer".into()),
    }
}

fn is_area_code(c: &str) -> bool {
    c.len() == 9 && (c.starts_with("E01") || c.starts_with("W01")) && c[3..].bytes().all(|b| b.is_ascii_digit())
}

/// Normalises a postcode: upper case, one space before the 3-character inward code.
pub fn normalise_postcode(raw: &str) -> Option<String> {
    let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    if !(5..=7).contains(&s.len()) || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let (out, inw) = s.split_at(s.len() - 3);
    let b = inw.as_bytes();
    let inward_ok = b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic();
    if !inward_ok || !out.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    Some(format!("{out} {inw}"))
}

/// A problem with one answer of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerProblem {
    /// The question.
    pub question: String,
    /// What is wrong.
    pub message: String,
}

/// Checks a record's own answers against skip logic, required and constraints, then computes
/// its derived variables into `values`. `values` holds the whole scope (ancestors first);
/// `cells` the unit's own question cells in question order (notes included, always Null).
pub fn check_and_derive(unit: &Unit, values: &mut [Value], cells: &[Cell]) -> Vec<AnswerProblem> {
    let mut problems = Vec::new();
    for (q, cell) in unit.questions.iter().zip(cells) {
        if q.qtype == QType::Note {
            continue;
        }
        let relevant = match &q.relevant {
            None => true,
            Some(c) => eval(&c.expr, values, &Value::Missing).bool() == Some(true),
        };
        let answered = *cell != Cell::Null;
        if !relevant {
            if answered {
                problems.push(AnswerProblem {
                    question: q.id.clone(),
                    message: format!(
                        "answer to a question that was skipped (relevant: {})",
                        q.relevant.as_ref().map(|c| c.text.as_str()).unwrap_or("")
                    ),
                });
            }
            continue;
        }
        let required = match &q.required {
            Required::No => false,
            Required::Yes => true,
            Required::When(c) => eval(&c.expr, values, &Value::Missing).bool() == Some(true),
        };
        if required && !answered {
            problems.push(AnswerProblem {
                question: q.id.clone(),
                message: "no answer to a required question".into(),
            });
            continue;
        }
        if let Some(c) = &q.constraint {
            let v = &values[q.slot];
            if !v.is_missing() && eval(&c.expr, values, v).bool() == Some(false) {
                let msg = match &q.constraint_message {
                    Some(m) => format!("{} (constraint: {})", m.text(), c.text),
                    None => format!("fails the constraint {}", c.text),
                };
                problems.push(AnswerProblem {
                    question: q.id.clone(),
                    message: msg,
                });
            }
        }
    }
    for d in &unit.derived {
        let v = eval(&d.expr.expr, values, &Value::Missing);
        values[d.slot] = v;
    }
    problems
}

/// The stored cell of a derived value.
pub fn derived_cell(v: &Value) -> Cell {
    match v {
        Value::Missing => Cell::Null,
        Value::Num(x) => Cell::Real(*x),
        Value::Bool(b) => Cell::Int(i64::from(*b)),
        Value::Text(s) => Cell::Text(s.to_string()),
        Value::Multi(_) => Cell::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_and_dates() {
        assert_eq!(normalise_postcode("pr1 2he").as_deref(), Some("PR1 2HE"));
        assert_eq!(normalise_postcode("PR12HE").as_deref(), Some("PR1 2HE"));
        assert_eq!(normalise_postcode("  bb1   1aa ").as_deref(), Some("BB1 1AA"));
        assert_eq!(normalise_postcode("12345"), None);
        assert_eq!(Date::parse("2018-05-31").map(Date::days), Some(17682));
        assert_eq!(Date::parse("2018-02-30"), None);
        assert_eq!(Date::parse("31/05/2018"), None);
    }
}
