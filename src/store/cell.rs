//! Stored values and the columns that hold them.
//!
//! Owns [`Cell`] (one value as written to a column, and how it binds to SQLite), the column
//! list of a unit ([`unit_columns`]: which questions and derived variables become which typed
//! columns, identifiers flagged) and the table names. It creates no table (that is
//! `layout`'s) and runs no statement.

use crate::schema::expr::ExprType;
use crate::schema::{self, QType, Unit};

/// A value as stored in a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value: SQL NULL.
    Null,
    /// A whole number (INTEGER): counts, integer choice codes, booleans as 0 and 1.
    Int(i64),
    /// A real number (REAL): decimals and numeric scores.
    Real(f64),
    /// Text (TEXT): text answers, text codes, dates as `YYYY-MM-DD`.
    Text(String),
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Value::Null),
            Cell::Int(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Cell::Real(v) => ToSqlOutput::Owned(Value::Real(*v)),
            Cell::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl Cell {
    /// A value read from SQLite (a blob, which hearth never writes, reads as text).
    pub(super) fn from_ref(v: rusqlite::types::ValueRef<'_>) -> Cell {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Int(i),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        }
    }
}

/// A column of a unit table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name = question or derived id.
    pub name: String,
    /// SQL type: `INTEGER`, `REAL` or `TEXT`.
    pub sql_type: &'static str,
    /// Whether the column holds personal data (stored in `ident_<unit>`).
    pub identifier: bool,
    /// Whether it is a derived variable.
    pub derived: bool,
}

fn qcol_type(q: &schema::Question) -> &'static str {
    match q.qtype {
        QType::Integer | QType::Boolean => "INTEGER",
        QType::Decimal => "REAL",
        QType::SelectOne if q.choices.as_ref().is_none_or(|c| c.integer) => "INTEGER",
        _ => "TEXT",
    }
}

fn dcol_type(t: ExprType) -> &'static str {
    match t {
        ExprType::Num | ExprType::Date => "REAL",
        ExprType::Bool => "INTEGER",
        _ => "TEXT",
    }
}

/// The data columns of a unit, in order: questions (identifiers flagged), then derived.
pub fn unit_columns(unit: &Unit) -> Vec<Column> {
    let mut out: Vec<Column> = unit
        .questions
        .iter()
        .filter(|q| q.qtype != QType::Note)
        .map(|q| Column {
            name: q.id.clone(),
            sql_type: qcol_type(q),
            identifier: q.identifier,
            derived: false,
        })
        .collect();
    out.extend(unit.derived.iter().map(|d| Column {
        name: d.id.clone(),
        sql_type: dcol_type(d.expr.ty),
        identifier: false,
        derived: true,
    }));
    out
}

/// The table name of a unit.
pub fn unit_table(unit: &str) -> String {
    format!("u_{unit}")
}

/// The identifier table name of a unit.
pub fn ident_table(unit: &str) -> String {
    format!("ident_{unit}")
}
