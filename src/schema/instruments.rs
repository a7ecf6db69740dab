//! The instrument library: reusable blocks of items plus their scoring, as YAML files.
//!
//! Owns reading instrument files (`schemas/instruments/*.yaml`, embedded in the binary) into
//! [`InstrumentDoc`]s. Items and scoring stay as YAML nodes here; `schema::load` expands them
//! into the unit that lists the instrument, so they are checked exactly like survey questions.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use super::expr::Table;
use super::load::{read_choice_list, Diagnostic, Diagnostics};
use super::model::ChoiceList;
use super::yaml::{self, Fields, Node, NodeKind, Problem};

/// A named constant of an instrument that a survey may override.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Default value.
    pub value: f64,
    /// What it means.
    pub label: String,
}

/// One instrument file, read but not yet expanded into a unit.
#[derive(Debug, Clone)]
pub struct InstrumentDoc {
    /// Instrument id (`phq9`).
    pub id: String,
    /// Full name.
    pub title: String,
    /// Where the items and scoring rules come from.
    pub source: String,
    /// Licence terms.
    pub licence: String,
    /// The file name, for messages.
    pub file: String,
    /// Params with their defaults.
    pub params: BTreeMap<String, Param>,
    /// Choice lists local to the instrument.
    pub choices: BTreeMap<String, Arc<ChoiceList>>,
    /// Lookup tables local to the instrument.
    pub tables: BTreeMap<String, Arc<Table>>,
    /// Item definitions.
    pub questions: Vec<Node>,
    /// Scoring definitions.
    pub derived: Vec<Node>,
}

const KEYS: &[&str] = &[
    "instrument",
    "title",
    "description",
    "source",
    "licence",
    "params",
    "choices",
    "tables",
    "questions",
    "derived",
];

/// A set of instruments by id.
#[derive(Debug, Clone, Default)]
pub struct Library {
    docs: BTreeMap<String, InstrumentDoc>,
}

macro_rules! builtin_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../schemas/instruments/", $name, ".yaml")))),*]
    };
}

/// The instruments shipped with hearth: (id, YAML text).
pub const BUILTIN: &[(&str, &str)] = builtin_files!(
    "wemwbs",
    "swemwbs",
    "phq9",
    "phq8",
    "phq2",
    "gad7",
    "gad2",
    "ons4",
    "ucla3",
    "ons_loneliness",
    "general_health",
    "llti",
    "auditc",
);

impl Library {
    /// The shipped instruments (parsed once).
    pub fn builtin() -> Result<&'static Library, Diagnostics> {
        static LIB: OnceLock<Result<Library, Diagnostics>> = OnceLock::new();
        LIB.get_or_init(|| Library::from_sources(BUILTIN.iter().map(|(n, t)| (format!("schemas/instruments/{n}.yaml"), t.to_string()))))
            .as_ref()
            .map_err(|e| e.clone())
    }

    /// Reads instruments from (file name, text) pairs.
    pub fn from_sources(sources: impl IntoIterator<Item = (String, String)>) -> Result<Library, Diagnostics> {
        let mut lib = Library::default();
        let mut out = Vec::new();
        for (file, text) in sources {
            let mut problems = Vec::new();
            if let Some(doc) = read_doc(&file, &text, &mut problems) {
                if lib.docs.contains_key(&doc.id) {
                    out.push(Diagnostic {
                        file: file.clone(),
                        line: 1,
                        col: 1,
                        message: format!("instrument '{}' is defined twice", doc.id),
                    });
                }
                lib.docs.insert(doc.id.clone(), doc);
            }
            out.extend(problems.into_iter().map(|p| Diagnostic {
                file: file.clone(),
                line: p.pos.line,
                col: p.pos.col,
                message: p.message,
            }));
        }
        if out.is_empty() {
            Ok(lib)
        } else {
            Err(Diagnostics(out))
        }
    }

    /// This library with `doc` added, replacing an instrument of the same id.
    pub fn with(&self, doc: InstrumentDoc) -> Library {
        let mut lib = self.clone();
        lib.docs.insert(doc.id.clone(), doc);
        lib
    }

    /// An instrument by id.
    pub fn get(&self, id: &str) -> Option<&InstrumentDoc> {
        self.docs.get(id)
    }

    /// Instrument ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> + Clone {
        self.docs.keys().map(|s| s.as_str())
    }

    /// All instruments.
    pub fn docs(&self) -> impl Iterator<Item = &InstrumentDoc> {
        self.docs.values()
    }
}

fn read_doc(file: &str, text: &str, problems: &mut Vec<Problem>) -> Option<InstrumentDoc> {
    let root = match yaml::parse(text) {
        Ok(r) => r,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    let f = Fields::new(&root, "the instrument", KEYS, problems)?;
    let (id, _) = f.req_str("instrument", "the instrument", problems)?;
    let title = f.req_str("title", "the instrument", problems).map(|s| s.0).unwrap_or_default();
    let source = f.opt_str("source", "the instrument", problems).map(|s| s.0).unwrap_or_default();
    let licence = f.opt_str("licence", "the instrument", problems).map(|s| s.0).unwrap_or_default();
    let mut params = BTreeMap::new();
    if let Some(p) = f.get("params") {
        if let NodeKind::Map(entries) = &p.kind {
            for (k, v) in entries {
                let name = k.scalar().unwrap_or("").to_string();
                if !name.starts_with(&id) {
                    problems.push(Problem {
                        pos: k.pos,
                        message: format!("param '{name}' must start with the instrument id '{id}'"),
                    });
                }
                let (value, label) = match &v.kind {
                    NodeKind::Map(_) => {
                        let Some(pf) = Fields::new(v, &format!("param '{name}'"), &["value", "label"], problems) else {
                            continue;
                        };
                        (
                            pf.opt_f64("value", &format!("param '{name}'"), problems),
                            pf.opt_str("label", "param", problems).map(|s| s.0),
                        )
                    }
                    _ => (v.as_f64(), None),
                };
                match value {
                    Some(value) => {
                        params.insert(
                            name,
                            Param {
                                value,
                                label: label.unwrap_or_default(),
                            },
                        );
                    }
                    None => problems.push(Problem {
                        pos: v.pos,
                        message: format!("param '{name}' needs a numeric value"),
                    }),
                }
            }
        } else {
            problems.push(Problem {
                pos: p.pos,
                message: "params must be a map".into(),
            });
        }
    }
    let langs = vec!["en".to_string()];
    let mut choices = BTreeMap::new();
    if let Some(c) = f.get("choices") {
        if let NodeKind::Map(entries) = &c.kind {
            for (k, v) in entries {
                let name = k.scalar().unwrap_or("");
                if let Some(list) = read_choice_list(v, Some(name), &langs, problems) {
                    choices.insert(name.to_string(), Arc::new(list));
                }
            }
        }
    }
    let mut tables = BTreeMap::new();
    if let Some(t) = f.get("tables") {
        if let NodeKind::Map(entries) = &t.kind {
            for (k, v) in entries {
                let name = k.scalar().unwrap_or("").to_string();
                let NodeKind::Map(kv) = &v.kind else {
                    problems.push(Problem {
                        pos: v.pos,
                        message: format!("table '{name}' must be a map of number: number"),
                    });
                    continue;
                };
                let mut entries = Vec::new();
                for (a, b) in kv {
                    match (a.as_f64(), b.as_f64()) {
                        (Some(x), Some(y)) => entries.push((x, y)),
                        _ => problems.push(Problem {
                            pos: a.pos,
                            message: format!("table '{name}': keys and values must be numbers"),
                        }),
                    }
                }
                entries.sort_by(|a, b| a.0.total_cmp(&b.0));
                tables.insert(name.clone(), Arc::new(Table { name, entries }));
            }
        }
    }
    let questions = f.opt_seq("questions", "the instrument", problems).map(|s| s.to_vec()).unwrap_or_default();
    let derived = f.opt_seq("derived", "the instrument", problems).map(|s| s.to_vec()).unwrap_or_default();
    Some(InstrumentDoc {
        id,
        title,
        source,
        licence,
        file: file.to_string(),
        params,
        choices,
        tables,
        questions,
        derived,
    })
}
