//! The checked survey definition: units, questions, choices, derived variables, design.
//!
//! Owns the types a valid definition is made of. A [`Definition`] only exists after
//! `schema::load` has checked everything (names, types, expressions, cycles), so code that
//! receives one may rely on it: every expression is resolved to slots, every choice list exists,
//! every design variable names a question.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::expr::{Expr, ExprType, Scope, Table};
use super::yaml::Pos;

/// A label in one or more languages; the first entry is the default language.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Label(pub Vec<(String, String)>);

impl Label {
    /// A label in the default language.
    pub fn plain(lang: &str, text: &str) -> Label {
        Label(vec![(lang.to_string(), text.to_string())])
    }
    /// The text in `lang`, else the default.
    pub fn get(&self, lang: &str) -> &str {
        self.0
            .iter()
            .find(|(l, _)| l == lang)
            .or_else(|| self.0.first())
            .map(|(_, t)| t.as_str())
            .unwrap_or("")
    }
    /// The text in the default language.
    pub fn text(&self) -> &str {
        self.0.first().map(|(_, t)| t.as_str()).unwrap_or("")
    }
}

/// A choice value: integer or short text code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Code {
    /// An integer code.
    Int(i64),
    /// A text code.
    Text(String),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Int(v) => write!(f, "{v}"),
            Code::Text(s) => f.write_str(s),
        }
    }
}

/// One choice of a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// The stored value.
    pub value: Code,
    /// Its label.
    pub label: Label,
}

/// A list of choices; all values are integers or all are text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChoiceList {
    /// The name under `choices:`, or None for an inline list.
    pub name: Option<String>,
    /// Whether the codes are integers.
    pub integer: bool,
    /// The choices in order.
    pub choices: Vec<Choice>,
}

impl ChoiceList {
    /// The index of the choice whose code is written `text`.
    pub fn index_of(&self, text: &str) -> Option<usize> {
        if self.integer {
            let v = parse_int(text)?;
            self.choices.iter().position(|c| c.value == Code::Int(v))
        } else {
            self.choices.iter().position(|c| matches!(&c.value, Code::Text(s) if s == text))
        }
    }
    /// The codes as written.
    pub fn codes(&self) -> Vec<String> {
        self.choices.iter().map(|c| c.value.to_string()).collect()
    }
}

/// Parses a whole number written plainly (optional sign, digits, surrounding spaces).
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    // the common short case without the general parser
    if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
        return Some(b.iter().fold(0i64, |a, &d| a * 10 + (d - b'0') as i64));
    }
    t.parse::<i64>().ok()
}

/// Question types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QType {
    /// Whole numbers.
    Integer,
    /// Numbers.
    Decimal,
    /// Free text.
    Text,
    /// Yes / no.
    Boolean,
    /// ISO 8601 date.
    Date,
    /// One choice of a list.
    SelectOne,
    /// Several choices of a list.
    SelectMultiple,
    /// An LSOA code.
    Lsoa,
    /// A UK postcode.
    Postcode,
    /// Text shown, no answer.
    Note,
}

impl QType {
    /// All type names, for messages.
    pub const NAMES: &'static [&'static str] = &[
        "integer",
        "decimal",
        "text",
        "boolean",
        "date",
        "select_one",
        "select_multiple",
        "lsoa",
        "postcode",
        "note",
    ];

    /// Parses a type name.
    pub fn parse(s: &str) -> Option<QType> {
        Some(match s {
            "integer" => QType::Integer,
            "decimal" => QType::Decimal,
            "text" => QType::Text,
            "boolean" => QType::Boolean,
            "date" => QType::Date,
            "select_one" => QType::SelectOne,
            "select_multiple" => QType::SelectMultiple,
            "lsoa" => QType::Lsoa,
            "postcode" => QType::Postcode,
            "note" => QType::Note,
            _ => return None,
        })
    }

    /// The type's name.
    pub fn name(self) -> &'static str {
        match self {
            QType::Integer => "integer",
            QType::Decimal => "decimal",
            QType::Text => "text",
            QType::Boolean => "boolean",
            QType::Date => "date",
            QType::SelectOne => "select_one",
            QType::SelectMultiple => "select_multiple",
            QType::Lsoa => "lsoa",
            QType::Postcode => "postcode",
            QType::Note => "note",
        }
    }

    /// Whether the type takes a choice list.
    pub fn has_choices(self) -> bool {
        matches!(self, QType::SelectOne | QType::SelectMultiple)
    }
}

/// An expression with its source text, resolved against its unit's scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// As written.
    pub text: String,
    /// Resolved.
    pub expr: Expr,
    /// Result type.
    pub ty: ExprType,
}

/// Whether a question must be answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Required {
    /// Optional.
    No,
    /// Always required (when relevant).
    Yes,
    /// Required when the expression is true.
    When(Compiled),
}

/// One missing-value code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingCode {
    /// The code as stored.
    pub code: Code,
    /// What it means (refused, dont_know...).
    pub label: String,
}

/// A question of a unit.
#[derive(Debug, Clone)]
pub struct Question {
    /// Unique id.
    pub id: String,
    /// The data file column (CSV header, JSON Lines key) the question reads when it differs
    /// from the id (`column: WTMEC2YR`); an import also accepts a column named by the id.
    pub column: Option<String>,
    /// Type.
    pub qtype: QType,
    /// Question text.
    pub label: Label,
    /// Help text.
    pub hint: Option<Label>,
    /// Choices, for select types.
    pub choices: Option<Arc<ChoiceList>>,
    /// Whether an answer is required.
    pub required: Required,
    /// Skip logic.
    pub relevant: Option<Compiled>,
    /// Check on the answer.
    pub constraint: Option<Compiled>,
    /// Message when the constraint fails.
    pub constraint_message: Option<Label>,
    /// An alert an interview raises as soon as this is true of the answer (`.`), e.g. the
    /// distress protocol when PHQ-9 item 9 is above 0.
    pub alert: Option<Compiled>,
    /// The alert's text, shown to the interviewer.
    pub alert_message: Option<Label>,
    /// Inclusive lower bound.
    pub min: Option<f64>,
    /// Inclusive upper bound.
    pub max: Option<f64>,
    /// Codes meaning refused / don't know.
    pub missing: Vec<MissingCode>,
    /// Personal data, stored apart.
    pub identifier: bool,
    /// The instrument this item belongs to.
    pub instrument: Option<String>,
    /// Slot in the unit's scope (notes have one too, always missing).
    pub slot: usize,
    /// Where it is defined.
    pub pos: Pos,
}

impl Question {
    /// The data column this question reads: its `column`, or its id.
    pub fn column_name(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.id)
    }
    /// The expression type of the answer.
    pub fn expr_type(&self) -> ExprType {
        question_expr_type(self.qtype, self.choices.as_deref())
    }
    /// Whether `text` (as written in a file) is one of the missing codes.
    pub fn missing_code(&self, text: &str) -> Option<&MissingCode> {
        if self.missing.is_empty() {
            return None;
        }
        // "-9", "-9.0" and " -9" all name the code -9
        let num = parse_int(text).map(|v| v as f64).or_else(|| text.trim().parse::<f64>().ok());
        self.missing.iter().find(|m| match &m.code {
            Code::Int(v) => num == Some(*v as f64),
            Code::Text(s) => s == text,
        })
    }
}

/// The expression type a question's answers have.
pub fn question_expr_type(qtype: QType, choices: Option<&ChoiceList>) -> ExprType {
    match qtype {
        QType::Integer | QType::Decimal => ExprType::Num,
        QType::Text | QType::Lsoa | QType::Postcode | QType::Note => ExprType::Text,
        QType::Boolean => ExprType::Bool,
        QType::Date => ExprType::Date,
        QType::SelectOne => {
            if choices.is_none_or(|c| c.integer) {
                ExprType::Num
            } else {
                ExprType::Text
            }
        }
        QType::SelectMultiple => ExprType::Multi,
    }
}

/// Whether higher values of a score are better or worse off (`higher_is:` of a derived
/// variable or an instrument score): the polarity inequality summaries state in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HigherIs {
    /// Higher is better (wellbeing, life satisfaction).
    Better,
    /// Higher is worse (depression, anxiety, loneliness scores).
    Worse,
}

/// A variable computed from answers.
#[derive(Debug, Clone)]
pub struct Derived {
    /// Unique id.
    pub id: String,
    /// Description.
    pub label: Option<Label>,
    /// The formula.
    pub expr: Compiled,
    /// Labels for coded results.
    pub choices: Option<Arc<ChoiceList>>,
    /// The instrument that defines it.
    pub instrument: Option<String>,
    /// Whether higher values are better or worse off (`higher_is:`), for inequality summaries.
    pub higher_is: Option<HigherIs>,
    /// The smallest possible value (`min:`), for the bounded-outcome inequality indices.
    pub min: Option<f64>,
    /// The largest possible value (`max:`).
    pub max: Option<f64>,
    /// `headline: true`: one of the survey's main outcomes, which a report shows by default.
    pub headline: bool,
    /// Slot in the unit's scope.
    pub slot: usize,
}

/// One level of the survey: a flat respondent, a household, a roster of persons.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Unit id.
    pub id: String,
    /// Label.
    pub label: Option<Label>,
    /// Key question id (unique within the parent record, or the survey for a top unit).
    pub key: String,
    /// Whether the key is hearth's row number (`row_number`): a flat unit that names no key.
    /// An import fills it with each record's data row in its file (1 = the first after the
    /// header) unless the file has a `row_number` column (as an export has).
    pub key_auto: bool,
    /// Parent unit id.
    pub parent: Option<String>,
    /// Questions (instrument items included) in order.
    pub questions: Vec<Question>,
    /// Derived variables in evaluation order.
    pub derived: Vec<Derived>,
    /// Instruments used.
    pub instruments: Vec<String>,
    /// Variables visible in this unit: ancestors' first, then own questions, then own derived.
    pub scope: Scope,
    /// First slot of this unit's own variables in `scope`.
    pub own_start: usize,
}

impl Unit {
    /// A question by id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }
}

/// How an FPC is given for a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Fpc {
    /// A question holding it per record.
    Column(String),
    /// One value for every record.
    Value(f64),
}

/// The lonely-PSU rule (R's `options(survey.lonely.psu)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LonelyPsu {
    /// Error.
    Fail,
    /// The stratum contributes nothing.
    Remove,
    /// Centre at the grand mean.
    Adjust,
    /// Average of the other strata.
    Average,
    /// Treated as sampled with certainty.
    Certainty,
}

impl LonelyPsu {
    /// All names.
    pub const NAMES: &'static [&'static str] = &["fail", "remove", "adjust", "average", "certainty"];
    /// Parses a name.
    pub fn parse(s: &str) -> Option<LonelyPsu> {
        Some(match s {
            "fail" => LonelyPsu::Fail,
            "remove" => LonelyPsu::Remove,
            "adjust" => LonelyPsu::Adjust,
            "average" => LonelyPsu::Average,
            "certainty" => LonelyPsu::Certainty,
            _ => return None,
        })
    }
    /// The name.
    pub fn name(self) -> &'static str {
        LonelyPsu::NAMES[self as usize]
    }
}

/// The sample design, in question ids.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignSpec {
    /// Weight question.
    pub weight: Option<String>,
    /// Strata question.
    pub strata: Option<String>,
    /// Cluster questions per stage.
    pub psu: Vec<String>,
    /// FPC per stage.
    pub fpc: Vec<Fpc>,
    /// Lonely-PSU rule.
    pub lonely_psu: LonelyPsu,
}

/// Where each response's area comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeographySpec {
    /// A question of type lsoa.
    pub lsoa: Option<String>,
    /// A question of type postcode.
    pub postcode: Option<String>,
}

/// Disclosure-control thresholds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disclosure {
    /// Suppress cells whose unweighted base is below this.
    pub min_base: u32,
    /// Suppress proportions whose numerator or complement is 1..min_count-1.
    pub min_count: u32,
    /// Flag bases below this.
    pub flag_base: u32,
    /// Flag coefficients of variation above this.
    pub max_cv: f64,
}

impl Default for Disclosure {
    fn default() -> Self {
        Disclosure {
            min_base: 10,
            min_count: 5,
            flag_base: 50,
            max_cv: 0.2,
        }
    }
}

/// A checked survey definition.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Stable survey id.
    pub survey: String,
    /// Title.
    pub title: Label,
    /// Version number.
    pub version: u32,
    /// Languages, default first.
    pub languages: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Sample design.
    pub design: Option<DesignSpec>,
    /// Geography.
    pub geography: Option<GeographySpec>,
    /// Disclosure control.
    pub disclosure: Disclosure,
    /// Units, parents before children.
    pub units: Vec<Unit>,
    /// Named choice lists.
    pub choices: BTreeMap<String, Arc<ChoiceList>>,
    /// Lookup tables.
    pub tables: BTreeMap<String, Arc<Table>>,
    /// Name of the file it came from.
    pub source_name: String,
    /// The YAML text as read.
    pub text: String,
}

impl Definition {
    /// A unit by id.
    pub fn unit(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.id == id)
    }
    /// The innermost unit (the analysis unit: persons in a household survey).
    pub fn leaf_unit(&self) -> &Unit {
        self.units
            .iter()
            .find(|u| !self.units.iter().any(|c| c.parent.as_deref() == Some(u.id.as_str())))
            .unwrap_or(&self.units[0])
    }
    /// The chain of units from the top to `unit`.
    pub fn lineage(&self, unit: &str) -> Vec<&Unit> {
        let mut out = Vec::new();
        let mut cur = self.unit(unit);
        while let Some(u) = cur {
            out.push(u);
            cur = u.parent.as_deref().and_then(|p| self.unit(p));
        }
        out.reverse();
        out
    }
    /// The question with this id, in any unit, with its unit.
    pub fn find_question(&self, id: &str) -> Option<(&Unit, &Question)> {
        self.units.iter().find_map(|u| u.question(id).map(|q| (u, q)))
    }
    /// The derived variable with this id, in any unit.
    pub fn find_derived(&self, id: &str) -> Option<(&Unit, &Derived)> {
        self.units.iter().find_map(|u| u.derived.iter().find(|d| d.id == id).map(|d| (u, d)))
    }
}
