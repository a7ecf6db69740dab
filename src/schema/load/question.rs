//! Reading one question or one derived variable, before any expression is resolved.
//!
//! Owns the keys of a question and of a derived variable and the checks that need nothing but
//! the item itself: its type, label, choices, range, missing codes and column. Expressions
//! (`relevant`, `constraint`, `required`, `expr`) are kept as YAML nodes: `compile` resolves
//! them once every unit's scope is known. It must not look at other questions or units.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::super::expr::{Context, ExprType};
use super::super::model::{ChoiceList, Code, HigherIs, Label, MissingCode, QType, Question, Required};
use super::super::yaml::{self, did_you_mean, Fields, Node, NodeKind, Pos, Problem};
use super::choices::{read_code, read_label};
use super::{article, check_id, Loader};

const QUESTION_KEYS: &[&str] = &[
    "id",
    "column",
    "type",
    "label",
    "hint",
    "choices",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "alert",
    "alert_message",
    "min",
    "max",
    "missing",
    "identifier",
    // refused with a message of its own (polarity is for derived variables)
    "higher_is",
];
const DERIVED_KEYS: &[&str] = &["id", "unit", "expr", "type", "label", "choices", "higher_is", "min", "max", "headline"];
/// The keys of an instrument's scoring variable: its unit is the one listing the instrument.
const INSTRUMENT_DERIVED_KEYS: &[&str] = &["id", "expr", "type", "label", "choices", "higher_is", "min", "max", "headline"];

/// A question before expressions are resolved.
pub(super) struct RawQuestion<'a> {
    /// The question, with no expressions yet.
    pub q: Question,
    /// `relevant:`, to compile in the unit's scope.
    pub relevant: Option<&'a Node>,
    /// `constraint:`, to compile in the unit's scope.
    pub constraint: Option<&'a Node>,
    /// `alert:`, to compile in the unit's scope.
    pub alert: Option<&'a Node>,
    /// `required:` when it is a condition rather than true or false.
    pub required: Option<&'a Node>,
    /// The file the question is written in (the survey's or an instrument's).
    pub file: Arc<str>,
}

/// A derived variable before its expression is parsed.
pub(super) struct RawDerived<'a> {
    pub id: String,
    pub pos: Pos,
    pub unit: String,
    pub expr: &'a Node,
    /// The declared type and where it is declared.
    pub ty: Option<(ExprType, Pos)>,
    pub label: Option<Label>,
    pub choices: Option<Arc<ChoiceList>>,
    /// The instrument it scores, if any.
    pub instrument: Option<String>,
    /// `higher_is:`, and where it is written.
    pub higher_is: Option<(HigherIs, Pos)>,
    /// `min:` and `max:`, the possible range.
    pub range: (Option<f64>, Option<f64>),
    /// `headline: true`.
    pub headline: bool,
    /// The file it is written in (the survey's or an instrument's).
    pub file: Arc<str>,
    /// Tables and params its expression may use.
    pub ctx: Arc<Context>,
}

impl Loader {
    /// Reads one question; `local_choices` are an instrument's own lists, `instrument` the
    /// instrument it comes from. None when it is too broken to place (problems reported).
    pub(super) fn question<'n>(
        &mut self,
        n: &'n Node,
        local_choices: &BTreeMap<String, Arc<ChoiceList>>,
        instrument: Option<&str>,
        file: &Arc<str>,
        problems: &mut Vec<Problem>,
    ) -> Option<RawQuestion<'n>> {
        let f = Fields::new(n, "question", QUESTION_KEYS, problems)?;
        let (id, id_pos) = f.req_str("id", "question", problems)?;
        let what = format!("question '{id}'");
        check_id(&id, id_pos, "question id", problems);
        let qtype = question_type(&f, n, &what, problems);
        let label = match f.get("label") {
            Some(l) => read_label(l, &format!("{what}: label"), &self.langs, problems),
            None => {
                problems.push(Problem {
                    pos: n.pos,
                    message: format!("{what}: missing key 'label'"),
                });
                None
            }
        };
        let hint = f.get("hint").and_then(|h| read_label(h, &format!("{what}: hint"), &self.langs, problems));
        let cm = f
            .get("constraint_message")
            .and_then(|h| read_label(h, &format!("{what}: constraint_message"), &self.langs, problems));
        let alert_message = f
            .get("alert_message")
            .and_then(|h| read_label(h, &format!("{what}: alert_message"), &self.langs, problems));
        match (f.key_pos("alert"), f.key_pos("alert_message")) {
            (Some(pos), None) => problems.push(Problem {
                pos,
                message: format!("{what}: an alert needs alert_message: the text shown to the interviewer"),
            }),
            (None, Some(pos)) => problems.push(Problem {
                pos,
                message: format!("{what}: alert_message without alert: add alert: with the condition that raises it"),
            }),
            _ => {}
        }
        let choices = f.get("choices").and_then(|c| self.choices_ref(c, local_choices, problems));
        let min = f.opt_f64("min", &what, problems);
        let max = f.opt_f64("max", &what, problems);
        let identifier = f.opt_bool("identifier", &what, problems).unwrap_or(false);
        if let Some(pos) = f.key_pos("higher_is") {
            problems.push(Problem {
                pos,
                message: format!(
                    "{what}: higher_is is for derived variables and instrument scores, not questions; derive a score from the question and mark that"
                ),
            });
        }
        let column = question_column(&f, &id, &what, problems);
        let qtype = qtype?;
        let shape = Shape {
            f: &f,
            n,
            what: &what,
            qtype,
            choices: choices.as_deref(),
        };
        shape.check(min, max, identifier, problems);
        let missing = shape.missing_codes(problems);
        let required_node = f.get("required");
        let required = match required_node {
            None => Required::No,
            Some(r) => match r.as_bool() {
                Some(true) => Required::Yes,
                Some(false) => Required::No,
                None => Required::No, // an expression, resolved later
            },
        };
        Some(RawQuestion {
            q: Question {
                id,
                column,
                qtype,
                label: label.unwrap_or_default(),
                hint,
                choices,
                required,
                relevant: None,
                constraint: None,
                constraint_message: cm,
                alert: None,
                alert_message,
                min,
                max,
                missing,
                identifier,
                instrument: instrument.map(str::to_string),
                slot: 0,
                pos: id_pos,
            },
            relevant: f.get("relevant"),
            constraint: f.get("constraint"),
            alert: f.get("alert"),
            required: required_node.filter(|r| r.as_bool().is_none()),
            file: file.clone(),
        })
    }

    /// Reads one derived variable. `default_unit` is set for an instrument's scoring, which
    /// belongs to the unit listing the instrument and may not name one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn derived<'n>(
        &mut self,
        n: &'n Node,
        default_unit: Option<&str>,
        local_choices: &BTreeMap<String, Arc<ChoiceList>>,
        instrument: Option<&str>,
        file: &Arc<str>,
        ctx: &Arc<Context>,
        problems: &mut Vec<Problem>,
    ) -> Option<RawDerived<'n>> {
        let keys: &[&str] = if default_unit.is_some() { INSTRUMENT_DERIVED_KEYS } else { DERIVED_KEYS };
        let f = Fields::new(n, "derived variable", keys, problems)?;
        let (id, pos) = f.req_str("id", "derived variable", problems)?;
        check_id(&id, pos, "derived id", problems);
        if crate::schema::SYSTEM_COLUMNS.contains(&id.as_str()) || id.ends_with("_uuid") {
            problems.push(Problem {
                pos,
                message: format!("derived variable '{id}': '{id}' is a column hearth adds to every record; give it another id"),
            });
        }
        let what = format!("derived variable '{id}'");
        let unit = match default_unit {
            Some(u) => u.to_string(),
            None => f.req_str("unit", &what, problems)?.0,
        };
        let Some(expr) = f.get("expr") else {
            problems.push(Problem {
                pos: n.pos,
                message: format!("{what}: missing key 'expr'"),
            });
            return None;
        };
        let ty = f.get("type").and_then(|t| derived_type(t, &what, problems));
        let label = f.get("label").and_then(|l| read_label(l, &format!("{what}: label"), &self.langs, problems));
        let choices = f.get("choices").and_then(|c| self.choices_ref(c, local_choices, problems));
        let higher_is = f.get("higher_is").and_then(|h| higher_is(h, &what, problems));
        let range = derived_range(&f, n, &what, problems);
        let headline = f.opt_bool("headline", &what, problems).unwrap_or(false);
        Some(RawDerived {
            id,
            pos,
            unit,
            expr,
            ty,
            label,
            choices,
            instrument: instrument.map(str::to_string),
            higher_is,
            range,
            headline,
            file: file.clone(),
            ctx: ctx.clone(),
        })
    }
}

/// A derived variable's `higher_is:`: `better` or `worse`.
fn higher_is(h: &Node, what: &str, problems: &mut Vec<Problem>) -> Option<(HigherIs, Pos)> {
    match h.scalar() {
        Some("better") => Some((HigherIs::Better, h.pos)),
        Some("worse") => Some((HigherIs::Worse, h.pos)),
        _ => {
            problems.push(Problem {
                pos: h.pos,
                message: format!("{what}: higher_is must be better or worse, found {}", h.show()),
            });
            None
        }
    }
}

/// A derived variable's `min:` and `max:` (its possible range), min below max.
fn derived_range(f: &Fields, n: &Node, what: &str, problems: &mut Vec<Problem>) -> (Option<f64>, Option<f64>) {
    let min = f.opt_f64("min", what, problems);
    let max = f.opt_f64("max", what, problems);
    if let (Some(a), Some(b)) = (min, max) {
        if a >= b {
            problems.push(Problem {
                pos: f.key_pos("min").unwrap_or(n.pos),
                message: format!("{what}: min {a} must be below max {b}"),
            });
            return (None, None);
        }
    }
    (min, max)
}

/// A question's `type:`, reported when missing or unknown.
fn question_type(f: &Fields, n: &Node, what: &str, problems: &mut Vec<Problem>) -> Option<QType> {
    match f.get("type") {
        None => {
            problems.push(Problem {
                pos: n.pos,
                message: format!("{what}: missing key 'type'"),
            });
            None
        }
        Some(t) => match t.scalar().and_then(QType::parse) {
            Some(q) => Some(q),
            None => {
                let s = t.scalar().unwrap_or("");
                problems.push(Problem {
                    pos: t.pos,
                    message: format!(
                        "{what}: unknown type {}{} (types: {})",
                        t.show(),
                        did_you_mean(s, QType::NAMES.iter().copied()),
                        QType::NAMES.join(", ")
                    ),
                });
                None
            }
        },
    }
}

/// A question's `column:`: the data column it reads when that is not its id (None when the
/// same as the id).
fn question_column(f: &Fields, id: &str, what: &str, problems: &mut Vec<Problem>) -> Option<String> {
    f.get("column").and_then(|c| {
        let s = yaml::str_of(c, &format!("{what}: column"), problems)?;
        if s.trim().is_empty() || s.chars().any(|ch| ch.is_control()) {
            problems.push(Problem {
                pos: c.pos,
                message: format!("{what}: column must name a data column (not empty, no control characters)"),
            });
            return None;
        }
        Some(s).filter(|s| *s != id)
    })
}

/// A derived variable's declared `type:`, with where it is declared.
fn derived_type(t: &Node, what: &str, problems: &mut Vec<Problem>) -> Option<(ExprType, Pos)> {
    let s = t.scalar().unwrap_or("");
    let ty = match s {
        "integer" | "decimal" | "number" => Some(ExprType::Num),
        "boolean" => Some(ExprType::Bool),
        "text" => Some(ExprType::Text),
        "date" => Some(ExprType::Date),
        _ => None,
    };
    if ty.is_none() {
        problems.push(Problem {
            pos: t.pos,
            message: format!("{what}: type {} is not one of integer, decimal, boolean, text, date", t.show()),
        });
    }
    ty.map(|x| (x, t.pos))
}

/// A question whose type is known, for the checks that depend on the type.
struct Shape<'a> {
    f: &'a Fields<'a>,
    n: &'a Node,
    what: &'a str,
    qtype: QType,
    choices: Option<&'a ChoiceList>,
}

impl Shape<'_> {
    /// Checks that choices, range, codes and flags suit the question's type.
    fn check(&self, min: Option<f64>, max: Option<f64>, identifier: bool, problems: &mut Vec<Problem>) {
        let Shape { f, n, what, qtype, .. } = *self;
        if qtype.has_choices() && f.get("choices").is_none() {
            problems.push(Problem {
                pos: n.pos,
                message: format!("{what}: a {} question needs choices", qtype.name()),
            });
        }
        if !qtype.has_choices() && f.get("choices").is_some() {
            problems.push(Problem {
                pos: f.key_pos("choices").unwrap_or(n.pos),
                message: format!(
                    "{what}: {} {} question takes no choices (did you mean type select_one?)",
                    article(qtype.name()),
                    qtype.name()
                ),
            });
        }
        if (min.is_some() || max.is_some()) && !matches!(qtype, QType::Integer | QType::Decimal) {
            problems.push(Problem {
                pos: f.key_pos("min").or(f.key_pos("max")).unwrap_or(n.pos),
                message: format!("{what}: min and max apply to integer and decimal questions, not {}", qtype.name()),
            });
        }
        if let (Some(a), Some(b)) = (min, max) {
            if a > b {
                problems.push(Problem {
                    pos: f.key_pos("min").unwrap_or(n.pos),
                    message: format!("{what}: min {a} is greater than max {b}"),
                });
            }
        }
        if qtype == QType::Integer {
            for (k, v) in [("min", min), ("max", max)] {
                if v.is_some_and(|x| x.fract() != 0.0) {
                    problems.push(Problem {
                        pos: f.key_pos(k).unwrap_or(n.pos),
                        message: format!("{what}: {k} of an integer question must be whole"),
                    });
                }
            }
        }
        if qtype == QType::SelectMultiple {
            if let Some(c) = self.choices {
                if c.choices.iter().any(|ch| ch.value.to_string().contains(' ')) {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("{what}: select_multiple codes may not contain spaces"),
                    });
                }
            }
        }
        if qtype == QType::Note && (f.get("required").is_some() || identifier) {
            problems.push(Problem {
                pos: n.pos,
                message: format!("{what}: a note has no answer, so it cannot be required or an identifier"),
            });
        }
    }

    /// Reads `missing:` (code: meaning): numbers where the answers are numbers, and never a
    /// code that is also a choice.
    fn missing_codes(&self, problems: &mut Vec<Problem>) -> Vec<MissingCode> {
        let Shape { f, what, qtype, choices, .. } = *self;
        let mut missing = Vec::new();
        let Some(m) = f.get("missing") else { return missing };
        let NodeKind::Map(entries) = &m.kind else {
            problems.push(Problem {
                pos: m.pos,
                message: format!("{what}: missing must be a map of code: meaning, e.g. {{-9: refused}}"),
            });
            return missing;
        };
        for (k, v) in entries {
            let Some(code) = read_code(k, &format!("{what}: missing code"), problems) else {
                continue;
            };
            let int_question = matches!(qtype, QType::Integer | QType::Decimal) || (qtype == QType::SelectOne && choices.is_some_and(|c| c.integer));
            if int_question && !matches!(code, Code::Int(_)) {
                problems.push(Problem {
                    pos: k.pos,
                    message: format!("{what}: missing code '{code}' must be a number like the answers"),
                });
            }
            if let Some(c) = choices {
                if c.index_of(&code.to_string()).is_some() {
                    problems.push(Problem {
                        pos: k.pos,
                        message: format!("{what}: missing code {code} is also a choice"),
                    });
                }
            }
            missing.push(MissingCode {
                code,
                label: v.scalar().unwrap_or("missing").to_string(),
            });
        }
        missing
    }
}
