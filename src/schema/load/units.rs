//! Reading the `units:` section: each unit's keys and questions, the instruments it lists
//! (expanded into its own questions and scoring), the row-number key of a flat survey, and the
//! unit hierarchy (parents exist, keys are questions, no cycles, parents first).
//!
//! Owns what a unit and an instrument reference may say and how an instrument's items join a
//! unit. Questions themselves are read by `question`; expressions are resolved later by
//! `compile`. It must not compile expressions or look at the design.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::super::expr::Context;
use super::super::instruments::{InstrumentDoc, Library};
use super::super::model::{ChoiceList, Label, QType, Question, Required};
use super::super::yaml::{did_you_mean, Fields, Node, NodeKind, Pos, Problem};
use super::choices::read_label;
use super::question::{RawDerived, RawQuestion};
use super::{check_id, Loader};

const UNIT_KEYS: &[&str] = &["id", "label", "key", "parent", "questions", "instruments"];

/// The key hearth gives a flat survey that names none: the record's data row in its file.
pub const ROW_KEY: &str = "row_number";

/// A unit as written, its questions read but not resolved.
pub(super) struct RawUnit<'n> {
    pub id: String,
    pub pos: Pos,
    pub label: Option<Label>,
    /// `key:` and where it is written (the unit's own position for a flat survey's row key).
    pub key: Option<(String, Pos)>,
    pub parent: Option<(String, Pos)>,
    /// Its own questions, then its instruments' items.
    pub questions: Vec<RawQuestion<'n>>,
    /// Ids of the instruments it lists.
    pub instruments: Vec<String>,
}

/// Most units a definition may have (household, person, and a few more levels or rosters).
pub const MAX_UNITS: usize = 64;

impl Loader {
    /// Reads the `units:` section. Instrument scoring variables are added to `raw_derived`.
    pub(super) fn read_units<'n>(
        &mut self,
        top: &Fields<'n>,
        library: &'n Library,
        survey_ctx: &Arc<Context>,
        file: &Arc<str>,
        raw_derived: &mut Vec<RawDerived<'n>>,
        problems: &mut Vec<Problem>,
    ) -> Vec<RawUnit<'n>> {
        let mut raw_units: Vec<RawUnit> = Vec::new();
        match top.opt_seq("units", "the definition", problems) {
            None => {
                if top.get("units").is_none() {
                    problems.push(Problem {
                        pos: top.pos,
                        message: "the definition: missing key 'units' (a flat survey has one unit)".into(),
                    });
                }
            }
            Some([]) => problems.push(Problem {
                pos: top.key_pos("units").unwrap_or_default(),
                message: "units is empty: a survey needs at least one unit".into(),
            }),
            Some(units) => {
                if units.len() > MAX_UNITS {
                    // a household survey has a handful of units; thousands would only make the
                    // checks below slow (each unit's scope holds its ancestors')
                    problems.push(Problem {
                        pos: units[MAX_UNITS].pos,
                        message: format!(
                            "a definition may have at most {MAX_UNITS} units (this one has {}): a survey has a few, such as household and person",
                            units.len()
                        ),
                    });
                }
                for un in units.iter().take(MAX_UNITS) {
                    if let Some(u) = self.read_unit(un, &raw_units, library, survey_ctx, file, raw_derived, problems) {
                        raw_units.push(u);
                    }
                }
            }
        }
        raw_units
    }

    /// Reads one unit; `earlier` are the units before it (for duplicate ids and instruments).
    #[allow(clippy::too_many_arguments)]
    fn read_unit<'n>(
        &mut self,
        un: &'n Node,
        earlier: &[RawUnit<'n>],
        library: &'n Library,
        survey_ctx: &Arc<Context>,
        file: &Arc<str>,
        raw_derived: &mut Vec<RawDerived<'n>>,
        problems: &mut Vec<Problem>,
    ) -> Option<RawUnit<'n>> {
        let uf = Fields::new(un, "unit", UNIT_KEYS, problems)?;
        let (uid, upos) = uf.req_str("id", "unit", problems)?;
        check_id(&uid, upos, "unit id", problems);
        if let Some(first) = earlier.iter().find(|u| u.id == uid) {
            problems.push(Problem {
                pos: upos,
                message: format!("duplicate unit '{uid}' (first on line {})", first.pos.line),
            });
            return None;
        }
        let what = format!("unit '{uid}'");
        let label = uf.get("label").and_then(|l| read_label(l, &format!("{what}: label"), &self.langs, problems));
        let key = uf.opt_str("key", &what, problems);
        let parent = uf.opt_str("parent", &what, problems);
        let mut questions = Vec::new();
        let empty: BTreeMap<String, Arc<ChoiceList>> = BTreeMap::new();
        match uf.opt_seq("questions", &what, problems) {
            Some(qs) => {
                for qn in qs {
                    if let Some(q) = self.question(qn, &empty, None, file, problems) {
                        questions.push(q);
                    }
                }
            }
            None => {
                if uf.get("questions").is_none() {
                    problems.push(Problem {
                        pos: upos,
                        message: format!("{what}: missing key 'questions'"),
                    });
                }
            }
        }
        let mut instruments = Vec::new();
        for inn in uf.opt_seq("instruments", &what, problems).unwrap_or(&[]) {
            let Some((doc, overrides)) = instrument_ref(inn, library, problems) else {
                continue;
            };
            if instruments.contains(&doc.id) || earlier.iter().any(|u| u.instruments.contains(&doc.id)) {
                problems.push(Problem {
                    pos: inn.pos,
                    message: format!("instrument '{}' is used twice", doc.id),
                });
                continue;
            }
            instruments.push(doc.id.clone());
            self.expand_instrument(doc, overrides, &uid, survey_ctx, &mut questions, raw_derived, problems);
        }
        Some(RawUnit {
            id: uid,
            pos: upos,
            label,
            key,
            parent,
            questions,
            instruments,
        })
    }

    /// Adds an instrument's items and scoring to a unit.
    #[allow(clippy::too_many_arguments)]
    fn expand_instrument<'n>(
        &mut self,
        doc: &'n InstrumentDoc,
        overrides: Option<&Node>,
        unit: &str,
        survey_ctx: &Arc<Context>,
        questions: &mut Vec<RawQuestion<'n>>,
        derived: &mut Vec<RawDerived<'n>>,
        problems: &mut Vec<Problem>,
    ) {
        let params = instrument_params(doc, overrides, problems);
        let file: Arc<str> = Arc::from(doc.file.as_str());
        let mut ctx = (**survey_ctx).clone();
        ctx.params.extend(params);
        ctx.tables.extend(doc.tables.iter().map(|(k, v)| (k.clone(), v.clone())));
        let ctx = Arc::new(ctx);
        let mut own: Vec<Problem> = Vec::new();
        for qn in &doc.questions {
            if let Some(q) = self.question(qn, &doc.choices, Some(&doc.id), &file, &mut own) {
                questions.push(q);
            }
        }
        for dn in &doc.derived {
            if let Some(d) = self.derived(dn, Some(unit), &doc.choices, Some(&doc.id), &file, &ctx, &mut own) {
                derived.push(d);
            }
        }
        self.sink.add(&file, &mut own);
    }
}

/// An entry of a unit's `instruments:` (an id, or `{id, params}`): the instrument and the
/// params it overrides.
fn instrument_ref<'n, 'x>(inn: &'x Node, library: &'n Library, problems: &mut Vec<Problem>) -> Option<(&'n InstrumentDoc, Option<&'x Node>)> {
    let (iid, overrides) = match &inn.kind {
        NodeKind::Scalar { text, .. } => (text.clone(), None),
        NodeKind::Map(_) => {
            let f = Fields::new(inn, "instrument", &["id", "params"], problems)?;
            let (id, _) = f.req_str("id", "instrument", problems)?;
            (id, f.get("params"))
        }
        _ => {
            problems.push(Problem {
                pos: inn.pos,
                message: "an instrument is an id or {id, params}".into(),
            });
            return None;
        }
    };
    let Some(doc) = library.get(&iid) else {
        problems.push(Problem {
            pos: inn.pos,
            message: format!(
                "unknown instrument '{iid}'{} (instruments: {})",
                did_you_mean(&iid, library.ids()),
                library.ids().collect::<Vec<_>>().join(", ")
            ),
        });
        return None;
    };
    Some((doc, overrides))
}

/// An instrument's params: its defaults, with the survey's `params:` overrides.
fn instrument_params(doc: &InstrumentDoc, overrides: Option<&Node>, problems: &mut Vec<Problem>) -> HashMap<String, f64> {
    let mut params: HashMap<String, f64> = doc.params.iter().map(|(k, v)| (k.clone(), v.value)).collect();
    let Some(o) = overrides else { return params };
    let NodeKind::Map(entries) = &o.kind else {
        problems.push(Problem {
            pos: o.pos,
            message: "params must be a map of name: number".into(),
        });
        return params;
    };
    for (k, v) in entries {
        let name = k.scalar().unwrap_or("");
        if !params.contains_key(name) {
            problems.push(Problem {
                pos: k.pos,
                message: format!(
                    "instrument '{}' has no param '{name}'{}",
                    doc.id,
                    did_you_mean(name, params.keys().map(|s| s.as_str()))
                ),
            });
            continue;
        }
        match v.as_f64() {
            Some(x) => {
                params.insert(name.to_string(), x);
            }
            None => problems.push(Problem {
                pos: v.pos,
                message: format!("param '{name}' must be a number, found {}", v.show()),
            }),
        }
    }
    params
}

/// A flat survey without a natural key: records are numbered by their data row. Gives the
/// one unit the row-number key question when it names no key and no parent; true if it did.
pub(super) fn add_row_key(raw_units: &mut [RawUnit], file: &Arc<str>, problems: &mut Vec<Problem>) -> bool {
    let [only] = raw_units else { return false };
    if only.key.is_some() || only.parent.is_some() {
        return false;
    }
    if only.questions.iter().any(|q| q.q.id == ROW_KEY) {
        problems.push(Problem {
            pos: only.pos,
            message: format!(
                "unit '{}' has no key and a question '{ROW_KEY}', the name hearth gives the row-number key of a flat survey without one: add key:",
                only.id
            ),
        });
        return false;
    }
    only.key = Some((ROW_KEY.to_string(), only.pos));
    only.questions.insert(
        0,
        RawQuestion {
            q: row_key_question(only.pos),
            relevant: None,
            constraint: None,
            alert: None,
            required: None,
            file: file.clone(),
        },
    );
    true
}

fn row_key_question(pos: Pos) -> Question {
    Question {
        id: ROW_KEY.to_string(),
        column: None,
        qtype: QType::Integer,
        label: Label::plain("en", "Row of the record in its data file (the key hearth gives a flat survey without one)"),
        hint: None,
        choices: None,
        required: Required::Yes,
        relevant: None,
        constraint: None,
        constraint_message: None,
        alert: None,
        alert_message: None,
        min: Some(1.0),
        max: None,
        missing: Vec::new(),
        identifier: false,
        instrument: None,
        slot: 0,
        pos,
    }
}

/// Checks each unit's parent and key, and returns the units in an order that puts parents
/// first; units in a cycle of parents are reported and left out.
pub(super) fn check_hierarchy(raw_units: &[RawUnit], problems: &mut Vec<Problem>) -> Vec<usize> {
    let unit_ids: Vec<&str> = raw_units.iter().map(|u| u.id.as_str()).collect();
    for u in raw_units {
        check_parent(u, &unit_ids, problems);
        check_key(u, problems);
    }
    parents_first(raw_units, &unit_ids, problems)
}

fn check_parent(u: &RawUnit, unit_ids: &[&str], problems: &mut Vec<Problem>) {
    let Some((p, pos)) = &u.parent else { return };
    if !unit_ids.contains(&p.as_str()) {
        problems.push(Problem {
            pos: *pos,
            message: format!("unit '{}': parent '{p}' is not a unit{}", u.id, did_you_mean(p, unit_ids.iter().copied())),
        });
    } else if p == &u.id {
        problems.push(Problem {
            pos: *pos,
            message: format!("unit '{}' cannot be its own parent", u.id),
        });
    }
}

fn check_key(u: &RawUnit, problems: &mut Vec<Problem>) {
    match &u.key {
        None => {
            let m = if u.parent.is_some() {
                format!(
                    "unit '{}' is a roster (parent '{}') but has no key: add key: with the question identifying a member",
                    u.id,
                    u.parent.as_ref().map(|p| p.0.as_str()).unwrap_or("")
                )
            } else {
                format!("unit '{}' has no key: add key: with the question identifying a record", u.id)
            };
            problems.push(Problem { pos: u.pos, message: m });
        }
        Some((k, kpos)) => match u.questions.iter().find(|q| &q.q.id == k) {
            None => problems.push(Problem {
                pos: *kpos,
                message: format!(
                    "unit '{}': key '{k}' is not a question of this unit{}",
                    u.id,
                    did_you_mean(k, u.questions.iter().map(|q| q.q.id.as_str()))
                ),
            }),
            Some(q) if !matches!(q.q.qtype, QType::Integer | QType::Text) => problems.push(Problem {
                pos: *kpos,
                message: format!("unit '{}': key '{k}' must be an integer or text question, not {}", u.id, q.q.qtype.name()),
            }),
            _ => {}
        },
    }
}

/// Indices of the units, parents before children (an unknown parent counts as placed).
fn parents_first(raw_units: &[RawUnit], unit_ids: &[&str], problems: &mut Vec<Problem>) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::new();
    let mut placed: HashSet<&str> = HashSet::new();
    let mut progress = true;
    while progress && order.len() < raw_units.len() {
        progress = false;
        for (i, u) in raw_units.iter().enumerate() {
            if order.contains(&i) {
                continue;
            }
            let ready = match &u.parent {
                None => true,
                Some((p, _)) => placed.contains(p.as_str()) || !unit_ids.contains(&p.as_str()),
            };
            if ready {
                order.push(i);
                placed.insert(&u.id);
                progress = true;
            }
        }
    }
    for (i, u) in raw_units.iter().enumerate() {
        if !order.contains(&i) {
            problems.push(Problem {
                pos: u.pos,
                message: format!("unit '{}' is part of a cycle of parents", u.id),
            });
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, parent: Option<&str>, key: Option<&str>) -> RawUnit<'static> {
        let pos = Pos { line: 1, col: 1 };
        RawUnit {
            id: id.into(),
            pos,
            label: None,
            key: key.map(|k| (k.to_string(), pos)),
            parent: parent.map(|p| (p.to_string(), pos)),
            questions: Vec::new(),
            instruments: Vec::new(),
        }
    }

    #[test]
    fn parents_come_before_their_rosters_whatever_the_written_order() {
        let units = [unit("person", Some("household"), None), unit("household", None, None)];
        let mut problems = Vec::new();
        let order = check_hierarchy(&units, &mut problems);
        assert_eq!(order, vec![1, 0]);
        // both lack a key; the roster is told it is one
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unit 'person' is a roster (parent 'household') but has no key: add key: with the question identifying a member",
                "unit 'household' has no key: add key: with the question identifying a record",
            ]
        );
    }

    #[test]
    fn a_cycle_of_parents_is_reported_and_left_out() {
        let units = [unit("a", Some("b"), None), unit("b", Some("a"), None), unit("c", Some("nobody"), None)];
        let mut problems = Vec::new();
        let order = check_hierarchy(&units, &mut problems);
        assert_eq!(order, vec![2], "an unknown parent does not hold its child back");
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).filter(|m| !m.contains("no key")).collect();
        assert_eq!(
            messages,
            [
                "unit 'c': parent 'nobody' is not a unit",
                "unit 'a' is part of a cycle of parents",
                "unit 'b' is part of a cycle of parents",
            ]
        );
    }

    #[test]
    fn a_flat_survey_without_a_key_is_keyed_by_row() {
        let file: Arc<str> = Arc::from("t.yaml");
        let mut problems = Vec::new();
        let mut one = [unit("respondent", None, None)];
        assert!(add_row_key(&mut one, &file, &mut problems));
        assert_eq!(one[0].key.as_ref().map(|k| k.0.as_str()), Some(ROW_KEY));
        assert_eq!(one[0].questions[0].q.id, ROW_KEY);
        let mut keyed = [unit("respondent", None, Some("id"))];
        assert!(!add_row_key(&mut keyed, &file, &mut problems));
        let mut two = [unit("household", None, None), unit("person", Some("household"), None)];
        assert!(!add_row_key(&mut two, &file, &mut problems));
        assert!(problems.is_empty());
    }
}
