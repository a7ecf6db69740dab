//! Reading a definition file: YAML nodes to a checked [`Definition`], every problem in one pass.
//!
//! Owns the meaning of every key of the definition and instrument formats, instrument
//! expansion, name resolution, the derived-variable dependency order (and its cycles), and the
//! checks a field team relies on (unknown keys, duplicate ids, missing choice lists, design and
//! geography naming real questions). It reports problems as [`Diagnostic`]s with file, line and
//! column; it never stops at the first one. It must not read files (the caller passes text)
//! nor know about stores, imports or analysis.
//!
//! [`load_str`] runs the steps in order, each in a part of its own:
//!
//! | part | reads or checks |
//! |---|---|
//! | this file | the header (survey, title, version, languages, description), the order of the steps |
//! | `choices` | labels, codes, choice lists and tables (`choices:`, `tables:`) |
//! | `units` | `units:`, the instruments a unit lists, a flat survey's row key, the unit hierarchy |
//! | `question` | one question or derived variable, before expressions are resolved |
//! | `names` | ids unique, one question per data column, system and area column names, the column limit |
//! | `order` | derived variables parsed and put in dependency order (cycles reported) |
//! | `compile` | each unit's scope; derived variables and question conditions type-checked in it |
//! | `design` | `design:`, `geography:` and `disclosure:` |
//!
//! The order of the steps is the order problems are found in; problems are sorted by file,
//! line and column at the end, so only problems at the same position depend on it.

mod choices;
mod compile;
mod design;
mod names;
mod order;
mod question;
mod units;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub use super::error::{Diagnostic, Diagnostics};
use super::expr::Context;
use super::instruments::Library;
use super::model::{ChoiceList, Definition, Label};
use super::yaml::{self, Fields, Node, NodeKind, Pos, Problem};
pub(crate) use choices::{read_choice_list, read_label};
pub use names::MAX_VARIABLES;
pub use units::ROW_KEY;

const TOP_KEYS: &[&str] = &[
    "survey",
    "title",
    "version",
    "languages",
    "description",
    "design",
    "geography",
    "disclosure",
    "units",
    "choices",
    "tables",
    "derived",
];

/// Collects problems per file.
struct Sink {
    out: Vec<Diagnostic>,
}

impl Sink {
    /// Moves `problems` in, as problems of `file`.
    fn add(&mut self, file: &str, problems: &mut Vec<Problem>) {
        for p in problems.drain(..) {
            self.out.push(Diagnostic {
                file: file.to_string(),
                line: p.pos.line,
                col: p.pos.col,
                message: p.message,
            });
        }
    }
}

/// Whether `s` is a valid id: lower-case letters, digits and `_`, starting with a letter.
fn is_id(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase()) && c.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
}

/// "a" or "an" before a word.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn check_id(s: &str, pos: Pos, what: &str, problems: &mut Vec<Problem>) {
    if !is_id(s) {
        problems.push(Problem {
            pos,
            message: format!("{what} '{s}' is not a valid id (lower-case letters, digits and _, starting with a letter)"),
        });
    }
}

/// Where character `at` of an expression written in node `n` is in the file.
fn expr_pos(n: &Node, at: usize) -> Pos {
    expr_places(n)(at)
}

/// Where character `at` of an expression scalar is, as a function built once per scalar: an
/// expression with thousands of problems is scanned once, not once per problem. Multi-line
/// scalars point at the scalar itself.
fn expr_places(n: &Node) -> impl Fn(usize) -> Pos {
    let multi_line = n.scalar().unwrap_or("").contains('\n');
    let (pos, quote) = (n.pos, usize::from(n.is_quoted()));
    move |at| if multi_line { pos } else { pos.shifted(at + quote) }
}

/// What the steps share: the problems found in other files, the survey's languages and its
/// named choice lists.
struct Loader {
    sink: Sink,
    langs: Vec<String>,
    choices: BTreeMap<String, (Arc<ChoiceList>, Pos)>,
    /// Choice lists that exist but had problems (already reported): references to them are
    /// not reported again as undefined.
    broken_choices: HashSet<String>,
}

/// The definition's own keys: survey id, title, version, description.
struct Header {
    survey: Option<String>,
    title: Option<Label>,
    version: Option<u32>,
    description: Option<String>,
}

impl Loader {
    /// Reads the header; `languages:` becomes the loader's languages (English by default).
    fn read_header(&mut self, top: &Fields, problems: &mut Vec<Problem>) -> Header {
        let survey = top.req_str("survey", "the definition", problems).map(|(s, pos)| {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
                problems.push(Problem {
                    pos,
                    message: format!("survey id '{s}' must use only a-z, 0-9, _ and -"),
                });
            }
            s
        });
        if let Some(langs) = top.opt_seq("languages", "the definition", problems) {
            let l: Vec<String> = langs.iter().filter_map(|n| yaml::str_of(n, "a language", problems)).collect();
            if l.is_empty() {
                problems.push(Problem {
                    pos: top.key_pos("languages").unwrap_or_default(),
                    message: "languages must list at least one language".into(),
                });
            } else {
                self.langs = l;
            }
        }
        let title = match top.get("title") {
            Some(t) => read_label(t, "title", &self.langs, problems),
            None => {
                problems.push(Problem {
                    pos: top.pos,
                    message: "the definition: missing key 'title'".into(),
                });
                None
            }
        };
        let version = match top.get("version") {
            None => {
                problems.push(Problem {
                    pos: top.pos,
                    message: "the definition: missing key 'version'".into(),
                });
                None
            }
            Some(v) => match v.as_i64() {
                Some(x) if x >= 1 && x <= u32::MAX as i64 => Some(x as u32),
                _ => {
                    problems.push(Problem {
                        pos: v.pos,
                        message: format!("version must be a whole number from 1, found {}", v.show()),
                    });
                    None
                }
            },
        };
        let description = top.opt_str("description", "the definition", problems).map(|s| s.0);
        Header {
            survey,
            title,
            version,
            description,
        }
    }

    /// The problems found, sorted (the survey's own file first) and without repeats.
    fn finish(mut self, file: &str, problems: &mut Vec<Problem>) -> Result<Self, Diagnostics> {
        self.sink.add(file, problems);
        if self.sink.out.is_empty() {
            return Ok(self);
        }
        let mut out = self.sink.out;
        out.sort_by(|a, b| (a.file != file, &a.file, a.line, a.col).cmp(&(b.file != file, &b.file, b.line, b.col)));
        out.dedup();
        Err(Diagnostics(out))
    }
}

/// Loads and checks a definition from YAML text. `file` names it in messages.
pub fn load_str(text: &str, file: &str, library: &Library) -> Result<Definition, Diagnostics> {
    super::suggest::reset_budget();
    let file_arc: Arc<str> = Arc::from(file);
    let mut problems: Vec<Problem> = Vec::new();
    let mut ld = Loader {
        sink: Sink { out: Vec::new() },
        langs: vec!["en".into()],
        choices: BTreeMap::new(),
        broken_choices: HashSet::new(),
    };
    let root = match yaml::parse(text) {
        Ok(r) => r,
        Err(p) => {
            ld.sink.add(file, &mut vec![p]);
            return Err(Diagnostics(ld.sink.out));
        }
    };
    if matches!(root.kind, NodeKind::Null) {
        let p = Problem {
            pos: root.pos,
            message: "the definition is empty: expected a map with survey, title, version and units".into(),
        };
        ld.sink.add(file, &mut vec![p]);
        return Err(Diagnostics(ld.sink.out));
    }
    let Some(top) = Fields::new(&root, "the definition", TOP_KEYS, &mut problems) else {
        ld.sink.add(file, &mut problems);
        return Err(Diagnostics(ld.sink.out));
    };

    let header = ld.read_header(&top, &mut problems);
    ld.read_choices_section(top.get("choices"), &mut problems);
    let tables = choices::read_tables(top.get("tables"), &mut problems);
    let survey_ctx = Arc::new(Context {
        params: HashMap::new(),
        tables: tables.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        elsewhere: HashMap::new(),
    });

    // Units and their questions (instrument items and scoring included), then the
    // survey-level derived variables.
    let mut raw_derived = Vec::new();
    let mut raw_units = ld.read_units(&top, library, &survey_ctx, &file_arc, &mut raw_derived, &mut problems);
    let key_auto = units::add_row_key(&mut raw_units, &file_arc, &mut problems);
    let no_local_choices: BTreeMap<String, Arc<ChoiceList>> = BTreeMap::new();
    for dn in top.opt_seq("derived", "the definition", &mut problems).unwrap_or(&[]) {
        if let Some(d) = ld.derived(dn, None, &no_local_choices, None, &file_arc, &survey_ctx, &mut problems) {
            raw_derived.push(d);
        }
    }

    names::unique_ids(&raw_units, &raw_derived, file, &mut problems, &mut ld.sink);
    let unit_order = units::check_hierarchy(&raw_units, &mut problems);
    let unit_ids: Vec<&str> = raw_units.iter().map(|u| u.id.as_str()).collect();
    let derived_order = order::order_derived(&raw_derived, &unit_ids, &mut ld.sink);
    let resolver = compile::Resolver {
        library,
        survey_ctx: &survey_ctx,
        raw_derived: &raw_derived,
        derived: &derived_order,
        key_auto,
    };
    let units = resolver.build_units(raw_units, &unit_order, &mut ld.sink);

    let questions = design::Questions::new(&units);
    let design = top.get("design").and_then(|dn| questions.design(dn, &mut problems));
    let geography = top.get("geography").and_then(|gn| questions.geography(gn, &mut problems));
    names::too_many_columns(&units, &mut problems);
    names::names_clash_with_system_columns(&units, geography.as_ref().map(|_| top.key_pos("geography").unwrap_or_default()), &mut problems);
    let disclosure = design::read_disclosure(top.get("disclosure"), &mut problems);

    let ld = ld.finish(file, &mut problems)?;
    Ok(Definition {
        survey: header.survey.unwrap_or_default(),
        title: header.title.unwrap_or_default(),
        version: header.version.unwrap_or(1),
        languages: ld.langs,
        description: header.description,
        design,
        geography,
        disclosure,
        units,
        choices: ld.choices.into_iter().map(|(k, (v, _))| (k, v)).collect(),
        tables,
        source_name: file.to_string(),
        text: text.to_string(),
    })
}
