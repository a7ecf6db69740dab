//! Reading a definition file: YAML nodes to a checked [`Definition`], every problem in one pass.
//!
//! Owns the meaning of every key of the definition and instrument formats, instrument
//! expansion, name resolution, the derived-variable dependency order (and its cycles), and the
//! checks a field team relies on (unknown keys, duplicate ids, missing choice lists, design and
//! geography naming real questions). It reports problems as [`Diagnostic`]s with file, line and
//! column; it never stops at the first one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use super::expr::{self, Context, ExprType, Table, VarInfo};
use super::instruments::{InstrumentDoc, Library};
use super::model::*;
use super::yaml::{self, did_you_mean, Fields, Node, NodeKind, Pos, Problem};

/// One problem in a definition, with the file it is in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// File name as given.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// One line whatever the message echoes (control characters escaped, see [`crate::text`]).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::escape;
        write!(f, "{}:{}:{}: {}", escape(&self.file), self.line, self.col, escape(&self.message))
    }
}

/// All the problems found in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

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
const UNIT_KEYS: &[&str] = &["id", "label", "key", "parent", "questions", "instruments"];
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
    "min",
    "max",
    "missing",
    "identifier",
];
const DERIVED_KEYS: &[&str] = &["id", "unit", "expr", "type", "label", "choices"];
const DESIGN_KEYS: &[&str] = &["weight", "strata", "psu", "fpc", "lonely_psu"];
const GEO_KEYS: &[&str] = &["lsoa", "postcode"];
const DISCLOSURE_KEYS: &[&str] = &["min_base", "min_count", "flag_base", "max_cv"];

/// Collects problems per file.
struct Sink {
    out: Vec<Diagnostic>,
}

impl Sink {
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

/// Reads a label: text, or a map language -> text.
pub(crate) fn read_label(n: &Node, what: &str, langs: &[String], problems: &mut Vec<Problem>) -> Option<Label> {
    match &n.kind {
        NodeKind::Scalar { text, .. } => Some(Label(vec![(langs.first().cloned().unwrap_or_else(|| "en".into()), text.clone())])),
        NodeKind::Map(entries) => {
            let mut out = Vec::new();
            for (k, v) in entries {
                let (Some(lang), Some(text)) = (k.scalar(), v.scalar()) else {
                    problems.push(Problem {
                        pos: k.pos,
                        message: format!("{what}: a translated label is a map of language to text"),
                    });
                    continue;
                };
                if !langs.is_empty() && !langs.iter().any(|l| l == lang) {
                    problems.push(Problem {
                        pos: k.pos,
                        message: format!("{what}: language '{lang}' is not in languages [{}]", langs.join(", ")),
                    });
                }
                out.push((lang.to_string(), text.to_string()));
            }
            // default language first
            if let Some(def) = langs.first() {
                out.sort_by_key(|(l, _)| l != def);
            }
            Some(Label(out))
        }
        _ => {
            problems.push(Problem {
                pos: n.pos,
                message: format!("{what} must be text, found {}", n.show()),
            });
            None
        }
    }
}

fn read_code(n: &Node, what: &str, problems: &mut Vec<Problem>) -> Option<Code> {
    if let Some(v) = n.as_i64() {
        return Some(Code::Int(v));
    }
    match n.scalar() {
        Some(s) if !s.trim().is_empty() && s.trim() == s && !s.contains('\n') => Some(Code::Text(s.to_string())),
        Some(s) => {
            problems.push(Problem {
                pos: n.pos,
                message: format!("{what}: '{s}' is not a valid code (an integer, or text on one line without leading or trailing spaces)"),
            });
            None
        }
        None => {
            problems.push(Problem {
                pos: n.pos,
                message: format!("{what} must be an integer or a short code, found {}", n.show()),
            });
            None
        }
    }
}

/// Reads a choice list (a YAML list of `{value, label}`).
pub(crate) fn read_choice_list(n: &Node, name: Option<&str>, langs: &[String], problems: &mut Vec<Problem>) -> Option<ChoiceList> {
    let what = match name {
        Some(nm) => format!("choice list '{nm}'"),
        None => "inline choices".to_string(),
    };
    let NodeKind::Seq(items) = &n.kind else {
        problems.push(Problem {
            pos: n.pos,
            message: format!("{what} must be a list of {{value, label}}, found {}", n.show()),
        });
        return None;
    };
    if items.is_empty() {
        problems.push(Problem {
            pos: n.pos,
            message: format!("{what} is empty"),
        });
        return None;
    }
    let before = problems.len();
    let mut choices: Vec<Choice> = Vec::new();
    let mut seen: HashMap<Code, Pos> = HashMap::new();
    for it in items {
        let Some(f) = Fields::new(it, &format!("{what}: choice"), &["value", "label"], problems) else {
            continue;
        };
        let value = match f.get("value") {
            Some(v) => read_code(v, &format!("{what}: value"), problems),
            None => {
                problems.push(Problem {
                    pos: it.pos,
                    message: format!("{what}: choice without a value"),
                });
                None
            }
        };
        let label = match f.get("label") {
            Some(l) => read_label(l, &format!("{what}: label"), langs, problems),
            None => {
                problems.push(Problem {
                    pos: it.pos,
                    message: format!("{what}: choice without a label"),
                });
                None
            }
        };
        if let (Some(value), Some(label)) = (value, label) {
            if let Some(first) = seen.get(&value) {
                problems.push(Problem {
                    pos: it.pos,
                    message: format!("{what}: duplicate value {value} (first on line {})", first.line),
                });
                continue;
            }
            seen.insert(value.clone(), it.pos);
            choices.push(Choice { value, label });
        }
    }
    let ints = choices.iter().filter(|c| matches!(c.value, Code::Int(_))).count();
    if ints != 0 && ints != choices.len() {
        problems.push(Problem {
            pos: n.pos,
            message: format!("{what} mixes integer and text values: use one kind"),
        });
    }
    if problems.len() > before {
        return None;
    }
    Some(ChoiceList {
        name: name.map(str::to_string),
        integer: ints == choices.len(),
        choices,
    })
}

fn read_table(name: &str, n: &Node, problems: &mut Vec<Problem>) -> Option<Table> {
    let NodeKind::Map(entries) = &n.kind else {
        problems.push(Problem {
            pos: n.pos,
            message: format!("table '{name}' must be a map of number: number, found {}", n.show()),
        });
        return None;
    };
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (k, v) in entries {
        match (k.as_f64(), v.as_f64()) {
            (Some(a), Some(b)) => {
                if out.iter().any(|(x, _)| *x == a) {
                    problems.push(Problem {
                        pos: k.pos,
                        message: format!("table '{name}': duplicate key {}", expr::format_num(a)),
                    });
                }
                out.push((a, b));
            }
            _ => problems.push(Problem {
                pos: k.pos,
                message: format!("table '{name}': keys and values must be numbers"),
            }),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(Table {
        name: name.to_string(),
        entries: out,
    })
}

/// A question before expressions are resolved.
struct RawQuestion<'a> {
    q: Question,
    relevant: Option<&'a Node>,
    constraint: Option<&'a Node>,
    required: Option<&'a Node>,
    file: Arc<str>,
}

struct RawDerived<'a> {
    id: String,
    pos: Pos,
    unit: String,
    expr: &'a Node,
    ty: Option<(ExprType, Pos)>,
    label: Option<Label>,
    choices: Option<Arc<ChoiceList>>,
    instrument: Option<String>,
    file: Arc<str>,
    ctx: Arc<Context>,
}

struct Loader {
    sink: Sink,
    langs: Vec<String>,
    choices: BTreeMap<String, (Arc<ChoiceList>, Pos)>,
    /// Choice lists that exist but had problems (already reported): references to them are
    /// not reported again as undefined.
    broken_choices: HashSet<String>,
}

fn expr_pos(n: &Node, at: usize) -> Pos {
    let text = n.scalar().unwrap_or("");
    let prefix: String = text.chars().take(at).collect();
    let line_breaks = prefix.matches('\n').count();
    if line_breaks > 0 || text.contains('\n') {
        // multi-line scalars: point at the scalar itself
        return n.pos;
    }
    n.pos.shifted(at + usize::from(n.is_quoted()))
}

impl Loader {
    fn choices_ref(&mut self, n: &Node, local: &BTreeMap<String, Arc<ChoiceList>>, problems: &mut Vec<Problem>) -> Option<Arc<ChoiceList>> {
        match &n.kind {
            NodeKind::Scalar { text, .. } => {
                if let Some(c) = local.get(text) {
                    return Some(c.clone());
                }
                if let Some((c, _)) = self.choices.get(text) {
                    return Some(c.clone());
                }
                if self.broken_choices.contains(text) {
                    return None;
                }
                let names: Vec<&str> = local.keys().chain(self.choices.keys()).map(|s| s.as_str()).collect();
                problems.push(Problem {
                    pos: n.pos,
                    message: format!("choice list '{text}' is not defined under choices:{}", did_you_mean(text, names)),
                });
                None
            }
            NodeKind::Seq(_) => read_choice_list(n, None, &self.langs, problems).map(Arc::new),
            _ => {
                problems.push(Problem {
                    pos: n.pos,
                    message: format!("choices must name a list under choices: or be an inline list, found {}", n.show()),
                });
                None
            }
        }
    }

    fn question<'n>(
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
        let qtype = match f.get("type") {
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
        };
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
        let choices = f.get("choices").and_then(|c| self.choices_ref(c, local_choices, problems));
        let min = f.opt_f64("min", &what, problems);
        let max = f.opt_f64("max", &what, problems);
        let identifier = f.opt_bool("identifier", &what, problems).unwrap_or(false);
        let column = f.get("column").and_then(|c| {
            let s = yaml::str_of(c, &format!("{what}: column"), problems)?;
            if s.trim().is_empty() || s.chars().any(|ch| ch.is_control()) {
                problems.push(Problem {
                    pos: c.pos,
                    message: format!("{what}: column must name a data column (not empty, no control characters)"),
                });
                return None;
            }
            Some(s).filter(|s| *s != id)
        });
        let qtype = qtype?;
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
            if let Some(c) = &choices {
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
        let mut missing = Vec::new();
        if let Some(m) = f.get("missing") {
            match &m.kind {
                NodeKind::Map(entries) => {
                    for (k, v) in entries {
                        let Some(code) = read_code(k, &format!("{what}: missing code"), problems) else {
                            continue;
                        };
                        let int_question =
                            matches!(qtype, QType::Integer | QType::Decimal) || (qtype == QType::SelectOne && choices.as_ref().is_some_and(|c| c.integer));
                        if int_question && !matches!(code, Code::Int(_)) {
                            problems.push(Problem {
                                pos: k.pos,
                                message: format!("{what}: missing code '{code}' must be a number like the answers"),
                            });
                        }
                        if let Some(c) = &choices {
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
                }
                _ => problems.push(Problem {
                    pos: m.pos,
                    message: format!("{what}: missing must be a map of code: meaning, e.g. {{-9: refused}}"),
                }),
            }
        }
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
            required: required_node.filter(|r| r.as_bool().is_none()),
            file: file.clone(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn derived<'n>(
        &mut self,
        n: &'n Node,
        default_unit: Option<&str>,
        local_choices: &BTreeMap<String, Arc<ChoiceList>>,
        instrument: Option<&str>,
        file: &Arc<str>,
        ctx: &Arc<Context>,
        problems: &mut Vec<Problem>,
    ) -> Option<RawDerived<'n>> {
        let keys: &[&str] = if default_unit.is_some() {
            &["id", "expr", "type", "label", "choices"]
        } else {
            DERIVED_KEYS
        };
        let f = Fields::new(n, "derived variable", keys, problems)?;
        let (id, pos) = f.req_str("id", "derived variable", problems)?;
        check_id(&id, pos, "derived id", problems);
        if ["wave", "version", "captured_at", "captured_by"].contains(&id.as_str()) || id.ends_with("_uuid") {
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
        let ty = f.get("type").and_then(|t| {
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
        });
        let label = f.get("label").and_then(|l| read_label(l, &format!("{what}: label"), &self.langs, problems));
        let choices = f.get("choices").and_then(|c| self.choices_ref(c, local_choices, problems));
        Some(RawDerived {
            id,
            pos,
            unit,
            expr,
            ty,
            label,
            choices,
            instrument: instrument.map(str::to_string),
            file: file.clone(),
            ctx: ctx.clone(),
        })
    }
}

fn var_info_q(q: &Question) -> VarInfo {
    VarInfo {
        id: q.id.clone(),
        ty: q.expr_type(),
        codes: q.choices.as_ref().map(|c| c.codes()),
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

    // Header.
    let survey = top.req_str("survey", "the definition", &mut problems).map(|(s, pos)| {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
            problems.push(Problem {
                pos,
                message: format!("survey id '{s}' must use only a-z, 0-9, _ and -"),
            });
        }
        s
    });
    if let Some(langs) = top.opt_seq("languages", "the definition", &mut problems) {
        let l: Vec<String> = langs.iter().filter_map(|n| yaml::str_of(n, "a language", &mut problems)).collect();
        if l.is_empty() {
            problems.push(Problem {
                pos: top.key_pos("languages").unwrap_or_default(),
                message: "languages must list at least one language".into(),
            });
        } else {
            ld.langs = l;
        }
    }
    let title = match top.get("title") {
        Some(t) => read_label(t, "title", &ld.langs, &mut problems),
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
    let description = top.opt_str("description", "the definition", &mut problems).map(|s| s.0);

    // Choice lists and tables.
    if let Some(c) = top.get("choices") {
        match &c.kind {
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let Some(name) = k.scalar() else { continue };
                    if let Some((_, first)) = ld.choices.get(name) {
                        problems.push(Problem {
                            pos: k.pos,
                            message: format!("duplicate choice list '{name}' (first on line {})", first.line),
                        });
                        continue;
                    }
                    match read_choice_list(v, Some(name), &ld.langs, &mut problems) {
                        Some(list) => {
                            ld.choices.insert(name.to_string(), (Arc::new(list), k.pos));
                        }
                        None => {
                            ld.broken_choices.insert(name.to_string());
                        }
                    }
                }
            }
            _ => problems.push(Problem {
                pos: c.pos,
                message: format!("choices must be a map of list name to list, found {}", c.show()),
            }),
        }
    }
    let mut tables: BTreeMap<String, Arc<Table>> = BTreeMap::new();
    if let Some(t) = top.get("tables") {
        match &t.kind {
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let Some(name) = k.scalar() else { continue };
                    if let Some(tb) = read_table(name, v, &mut problems) {
                        tables.insert(name.to_string(), Arc::new(tb));
                    }
                }
            }
            _ => problems.push(Problem {
                pos: t.pos,
                message: "tables must be a map of table name to {key: value}".into(),
            }),
        }
    }
    let survey_ctx = Arc::new(Context {
        params: HashMap::new(),
        tables: tables.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        elsewhere: HashMap::new(),
    });

    // Units and their questions (instrument items included).
    struct RawUnit<'n> {
        id: String,
        pos: Pos,
        label: Option<Label>,
        key: Option<(String, Pos)>,
        parent: Option<(String, Pos)>,
        questions: Vec<RawQuestion<'n>>,
        instruments: Vec<String>,
    }
    let mut raw_units: Vec<RawUnit> = Vec::new();
    let mut raw_derived: Vec<RawDerived> = Vec::new();
    // instrument documents must outlive the nodes borrowed from them
    let library_docs: &Library = library;
    let empty: BTreeMap<String, Arc<ChoiceList>> = BTreeMap::new();
    match top.opt_seq("units", "the definition", &mut problems) {
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
            for un in units {
                let Some(uf) = Fields::new(un, "unit", UNIT_KEYS, &mut problems) else {
                    continue;
                };
                let Some((uid, upos)) = uf.req_str("id", "unit", &mut problems) else {
                    continue;
                };
                check_id(&uid, upos, "unit id", &mut problems);
                if let Some(first) = raw_units.iter().find(|u| u.id == uid) {
                    problems.push(Problem {
                        pos: upos,
                        message: format!("duplicate unit '{uid}' (first on line {})", first.pos.line),
                    });
                    continue;
                }
                let what = format!("unit '{uid}'");
                let label = uf.get("label").and_then(|l| read_label(l, &format!("{what}: label"), &ld.langs, &mut problems));
                let key = uf.opt_str("key", &what, &mut problems);
                let parent = uf.opt_str("parent", &what, &mut problems);
                let mut questions = Vec::new();
                match uf.opt_seq("questions", &what, &mut problems) {
                    Some(qs) => {
                        for qn in qs {
                            if let Some(q) = ld.question(qn, &empty, None, &file_arc, &mut problems) {
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
                for inn in uf.opt_seq("instruments", &what, &mut problems).unwrap_or(&[]) {
                    let (iid, overrides) = match &inn.kind {
                        NodeKind::Scalar { text, .. } => (text.clone(), None),
                        NodeKind::Map(_) => {
                            let Some(f) = Fields::new(inn, "instrument", &["id", "params"], &mut problems) else {
                                continue;
                            };
                            let Some((id, _)) = f.req_str("id", "instrument", &mut problems) else {
                                continue;
                            };
                            (id, f.get("params"))
                        }
                        _ => {
                            problems.push(Problem {
                                pos: inn.pos,
                                message: "an instrument is an id or {id, params}".into(),
                            });
                            continue;
                        }
                    };
                    let Some(doc) = library_docs.get(&iid) else {
                        problems.push(Problem {
                            pos: inn.pos,
                            message: format!(
                                "unknown instrument '{iid}'{} (instruments: {})",
                                did_you_mean(&iid, library_docs.ids()),
                                library_docs.ids().collect::<Vec<_>>().join(", ")
                            ),
                        });
                        continue;
                    };
                    if instruments.contains(&iid) || raw_units.iter().any(|u| u.instruments.contains(&iid)) {
                        problems.push(Problem {
                            pos: inn.pos,
                            message: format!("instrument '{iid}' is used twice"),
                        });
                        continue;
                    }
                    instruments.push(iid.clone());
                    expand_instrument(&mut ld, doc, overrides, &uid, &survey_ctx, &mut questions, &mut raw_derived, &mut problems);
                }
                raw_units.push(RawUnit {
                    id: uid,
                    pos: upos,
                    label,
                    key,
                    parent,
                    questions,
                    instruments,
                });
            }
        }
    }

    // A flat survey without a natural key: records are numbered by their data row.
    let mut key_auto = false;
    if let [only] = raw_units.as_mut_slice() {
        if only.key.is_none() && only.parent.is_none() {
            if only.questions.iter().any(|q| q.q.id == ROW_KEY) {
                problems.push(Problem {
                    pos: only.pos,
                    message: format!(
                        "unit '{}' has no key and a question '{ROW_KEY}', the name hearth gives the row-number key of a flat survey without one: add key:",
                        only.id
                    ),
                });
            } else {
                key_auto = true;
                only.key = Some((ROW_KEY.to_string(), only.pos));
                only.questions.insert(
                    0,
                    RawQuestion {
                        q: row_key_question(only.pos),
                        relevant: None,
                        constraint: None,
                        required: None,
                        file: file_arc.clone(),
                    },
                );
            }
        }
    }

    // Survey-level derived variables.
    for dn in top.opt_seq("derived", "the definition", &mut problems).unwrap_or(&[]) {
        if let Some(d) = ld.derived(dn, None, &empty, None, &file_arc, &survey_ctx, &mut problems) {
            raw_derived.push(d);
        }
    }

    // Global id uniqueness.
    {
        let mut seen: HashMap<String, (Arc<str>, Pos)> = HashMap::new();
        let mut dup = |id: &str, pos: Pos, f: &Arc<str>, problems: &mut Vec<Problem>, ld: &mut Loader| {
            if let Some((ff, p)) = seen.get(id) {
                let msg = format!("duplicate id '{id}' (first defined at {}:{}:{})", ff, p.line, p.col);
                if f.as_ref() == file {
                    problems.push(Problem { pos, message: msg });
                } else {
                    ld.sink.add(f, &mut vec![Problem { pos, message: msg }]);
                }
            } else {
                seen.insert(id.to_string(), (f.clone(), pos));
            }
        };
        for u in &raw_units {
            for q in &u.questions {
                dup(&q.q.id, q.q.pos, &q.file, &mut problems, &mut ld);
            }
        }
        for d in &raw_derived {
            dup(&d.id, d.pos, &d.file, &mut problems, &mut ld);
        }
        // Each data column feeds one question: `column: x` may not name another question's id
        // or another question's column.
        let mut readers: HashMap<&str, &str> = HashMap::new();
        for u in &raw_units {
            for q in u.questions.iter().filter(|q| q.q.column.is_none()) {
                readers.insert(&q.q.id, &q.q.id);
            }
        }
        for u in &raw_units {
            for q in u.questions.iter() {
                let Some(col) = q.q.column.as_deref() else { continue };
                if let Some(other) = readers.insert(col, &q.q.id) {
                    problems.push(Problem {
                        pos: q.q.pos,
                        message: format!("question '{}': column '{col}' is already read by question '{other}'", q.q.id),
                    });
                }
            }
        }
    }

    // Unit hierarchy: parents must exist, no cycles; order parents first.
    let unit_ids: Vec<String> = raw_units.iter().map(|u| u.id.clone()).collect();
    for u in &raw_units {
        if let Some((p, pos)) = &u.parent {
            if !unit_ids.contains(p) {
                problems.push(Problem {
                    pos: *pos,
                    message: format!(
                        "unit '{}': parent '{p}' is not a unit{}",
                        u.id,
                        did_you_mean(p, unit_ids.iter().map(|s| s.as_str()))
                    ),
                });
            } else if p == &u.id {
                problems.push(Problem {
                    pos: *pos,
                    message: format!("unit '{}' cannot be its own parent", u.id),
                });
            }
        }
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
    let mut order: Vec<usize> = Vec::new();
    {
        let mut placed: HashSet<String> = HashSet::new();
        let mut progress = true;
        while progress && order.len() < raw_units.len() {
            progress = false;
            for (i, u) in raw_units.iter().enumerate() {
                if order.contains(&i) {
                    continue;
                }
                let ready = match &u.parent {
                    None => true,
                    Some((p, _)) => placed.contains(p) || !unit_ids.contains(p),
                };
                if ready {
                    order.push(i);
                    placed.insert(u.id.clone());
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
    }

    // Derived variables by unit; dependency order and cycles.
    let derived_ids: HashMap<String, usize> = raw_derived.iter().enumerate().map(|(i, d)| (d.id.clone(), i)).collect();
    let mut derived_asts: Vec<Option<expr::Ast>> = Vec::new();
    for d in &raw_derived {
        if !unit_ids.contains(&d.unit) {
            let m = format!(
                "derived variable '{}': unit '{}' is not a unit{}",
                d.id,
                d.unit,
                did_you_mean(&d.unit, unit_ids.iter().map(|s| s.as_str()))
            );
            ld.sink.add(&d.file, &mut vec![Problem { pos: d.pos, message: m }]);
        }
        match d.expr.scalar().map(expr::parse::parse) {
            Some(Ok(a)) => derived_asts.push(Some(a)),
            Some(Err(e)) => {
                let p = Problem {
                    pos: expr_pos(d.expr, e.at),
                    message: format!("derived variable '{}': syntax error: {}", d.id, e.message),
                };
                ld.sink.add(&d.file, &mut vec![p]);
                derived_asts.push(None);
            }
            None => {
                let p = Problem {
                    pos: d.expr.pos,
                    message: format!("derived variable '{}': expr must be text", d.id),
                };
                ld.sink.add(&d.file, &mut vec![p]);
                derived_asts.push(None);
            }
        }
    }
    let deps: Vec<Vec<usize>> = derived_asts
        .iter()
        .map(|a| {
            let mut ns = Vec::new();
            if let Some(a) = a {
                expr::names(a, &mut ns);
            }
            let mut v: Vec<usize> = ns.iter().filter_map(|(n, _)| derived_ids.get(n).copied()).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let mut derived_order: Vec<usize> = Vec::new();
    let mut in_cycle: HashSet<usize> = HashSet::new();
    {
        // 0 = new, 1 = on stack, 2 = done
        let mut state = vec![0u8; raw_derived.len()];
        fn visit(i: usize, deps: &[Vec<usize>], state: &mut [u8], stack: &mut Vec<usize>, order: &mut Vec<usize>, cycles: &mut Vec<Vec<usize>>) {
            state[i] = 1;
            stack.push(i);
            for &j in &deps[i] {
                if state[j] == 0 {
                    visit(j, deps, state, stack, order, cycles);
                } else if state[j] == 1 {
                    let start = stack.iter().position(|&s| s == j).unwrap_or(0);
                    cycles.push(stack[start..].to_vec());
                }
            }
            stack.pop();
            state[i] = 2;
            order.push(i);
        }
        let mut cycles = Vec::new();
        for i in 0..raw_derived.len() {
            if state[i] == 0 {
                visit(i, &deps, &mut state, &mut Vec::new(), &mut derived_order, &mut cycles);
            }
        }
        for c in cycles {
            let names: Vec<&str> = c.iter().map(|&i| raw_derived[i].id.as_str()).collect();
            let first = c[0];
            let msg = if c.len() == 1 {
                format!("derived variable '{}' depends on itself", names[0])
            } else {
                format!(
                    "derived variable '{}' depends on itself through a cycle: {} -> {}",
                    names[0],
                    names.join(" -> "),
                    names[0]
                )
            };
            ld.sink.add(
                &raw_derived[first].file,
                &mut vec![Problem {
                    pos: raw_derived[first].pos,
                    message: msg,
                }],
            );
            in_cycle.extend(c);
        }
    }

    // Build each unit: scope = parent's scope + own questions + own derived.
    let mut units: Vec<Unit> = Vec::new();
    let mut all_ids_by_unit: HashMap<String, String> = HashMap::new();
    for u in &raw_units {
        for q in &u.questions {
            all_ids_by_unit.insert(q.q.id.clone(), u.id.clone());
        }
    }
    for d in &raw_derived {
        all_ids_by_unit.insert(d.id.clone(), d.unit.clone());
    }
    let mut raw_units_opt: Vec<Option<RawUnit>> = raw_units.into_iter().map(Some).collect();
    for &ui in &order {
        let Some(ru) = raw_units_opt[ui].take() else { continue };
        let parent_scope = ru
            .parent
            .as_ref()
            .and_then(|(p, _)| units.iter().find(|x| &x.id == p))
            .map(|p| p.scope.clone())
            .unwrap_or_default();
        let mut scope = parent_scope;
        let own_start = scope.len();
        let mut questions: Vec<Question> = Vec::new();
        for rq in &ru.questions {
            let mut q = rq.q.clone();
            q.slot = scope.push(var_info_q(&q));
            questions.push(q);
        }
        // derived of this unit, in dependency order
        let mut derived: Vec<Derived> = Vec::new();
        let mut scope_elsewhere: HashMap<String, String> = HashMap::new();
        for (id, unit) in &all_ids_by_unit {
            if scope.slot(id).is_none() && unit != &ru.id {
                scope_elsewhere.insert(id.clone(), format!("belongs to unit '{unit}', which is not visible from unit '{}'", ru.id));
            }
        }
        for &di in &derived_order {
            let d = &raw_derived[di];
            if d.unit != ru.id || in_cycle.contains(&di) {
                continue;
            }
            let Some(ast) = &derived_asts[di] else { continue };
            let mut ctx = (*d.ctx).clone();
            for (k, v) in &scope_elsewhere {
                if scope.slot(k).is_none() {
                    ctx.elsewhere.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            // derived variables not yet placed (later in order, other unit) are "elsewhere"
            match expr::check(ast, &scope, &ctx, None) {
                Ok((e, ty)) => {
                    if let Some((want, tpos)) = d.ty {
                        if want != ty {
                            ld.sink.add(
                                &d.file,
                                &mut vec![Problem {
                                    pos: tpos,
                                    message: format!(
                                        "derived variable '{}': type mismatch: declared {}, but the expression gives a {}",
                                        d.id,
                                        want.name(),
                                        ty.name()
                                    ),
                                }],
                            );
                        }
                    }
                    if ty == ExprType::Multi {
                        ld.sink.add(
                            &d.file,
                            &mut vec![Problem {
                                pos: d.pos,
                                message: format!("derived variable '{}' cannot be a multiple choice", d.id),
                            }],
                        );
                        continue;
                    }
                    let codes = d.choices.as_ref().map(|c| c.codes());
                    let slot = scope.push(VarInfo { id: d.id.clone(), ty, codes });
                    derived.push(Derived {
                        id: d.id.clone(),
                        label: d.label.clone(),
                        expr: Compiled {
                            text: d.expr.scalar().unwrap_or("").to_string(),
                            expr: e,
                            ty,
                        },
                        choices: d.choices.clone(),
                        instrument: d.instrument.clone(),
                        slot,
                    });
                }
                Err(errs) => {
                    let mut ps: Vec<Problem> = errs
                        .into_iter()
                        .map(|er| Problem {
                            pos: expr_pos(d.expr, er.at),
                            message: format!("derived variable '{}': {}", d.id, er.message),
                        })
                        .collect();
                    ld.sink.add(&d.file, &mut ps);
                }
            }
        }
        // question expressions see the whole unit scope
        let ctx_q = {
            let mut c = (*survey_ctx).clone();
            c.elsewhere = scope_elsewhere.clone();
            c
        };
        for (q, rq) in questions.iter_mut().zip(&ru.questions) {
            let mut qctx = ctx_q.clone();
            if let Some(inst) = &q.instrument {
                if let Some(doc) = library.get(inst) {
                    qctx.tables.extend(doc.tables.iter().map(|(k, v)| (k.clone(), v.clone())));
                    qctx.params.extend(doc.params.iter().map(|(k, v)| (k.clone(), v.value)));
                }
            }
            let mut compile = |n: &Node, kind: &str, dot: Option<usize>, want_bool: bool| -> Option<Compiled> {
                let Some(text) = n.scalar() else {
                    ld.sink.add(
                        &rq.file,
                        &mut vec![Problem {
                            pos: n.pos,
                            message: format!("question '{}': {kind} must be an expression (text)", q.id),
                        }],
                    );
                    return None;
                };
                match expr::compile(text, &scope, &qctx, dot) {
                    Ok((e, ty)) => {
                        if want_bool && ty != ExprType::Bool {
                            ld.sink.add(
                                &rq.file,
                                &mut vec![Problem {
                                    pos: n.pos,
                                    message: format!(
                                        "question '{}': type mismatch: {kind} must be a condition (boolean), found a {}",
                                        q.id,
                                        ty.name()
                                    ),
                                }],
                            );
                            return None;
                        }
                        Some(Compiled {
                            text: text.to_string(),
                            expr: e,
                            ty,
                        })
                    }
                    Err(errs) => {
                        let mut ps: Vec<Problem> = errs
                            .into_iter()
                            .map(|er| Problem {
                                pos: expr_pos(n, er.at),
                                message: format!("question '{}': {kind}: {}", q.id, er.message),
                            })
                            .collect();
                        ld.sink.add(&rq.file, &mut ps);
                        None
                    }
                }
            };
            if let Some(n) = rq.relevant {
                q.relevant = compile(n, "relevant", None, true);
            }
            if let Some(n) = rq.constraint {
                q.constraint = compile(n, "constraint", Some(q.slot), true);
            }
            if let Some(n) = rq.required {
                // `required: maybe`: a lone word that names nothing is a wrong value, not an expression
                let stray = n
                    .scalar()
                    .filter(|t| !n.is_quoted() && is_id(t) && scope.slot(t).is_none() && !qctx.params.contains_key(*t) && !qctx.elsewhere.contains_key(*t));
                if let Some(word) = stray {
                    let cands = ["true", "false"].into_iter().chain(scope.ids());
                    let message = format!(
                        "question '{}': required must be true, false or a condition, found '{word}', which is not a question{}",
                        q.id,
                        did_you_mean(word, cands)
                    );
                    ld.sink.add(&rq.file, &mut vec![Problem { pos: n.pos, message }]);
                } else if let Some(c) = compile(n, "required", None, true) {
                    q.required = Required::When(c);
                }
            }
        }
        if let Some((k, _)) = &ru.key {
            if let Some(q) = questions.iter_mut().find(|q| &q.id == k) {
                q.required = Required::Yes;
            }
        }
        units.push(Unit {
            id: ru.id.clone(),
            label: ru.label.clone(),
            key: ru.key.as_ref().map(|k| k.0.clone()).unwrap_or_default(),
            key_auto,
            parent: ru.parent.as_ref().map(|p| p.0.clone()),
            questions,
            derived,
            instruments: ru.instruments.clone(),
            scope,
            own_start,
        });
    }

    // Design, geography, disclosure.
    let find_q = |id: &str| -> Option<&Question> { units.iter().find_map(|u| u.question(id)) };
    let all_q_ids: Vec<String> = units.iter().flat_map(|u| u.questions.iter().map(|q| q.id.clone())).collect();
    let name_question = |n: &Node, what: &str, problems: &mut Vec<Problem>, numeric: bool| -> Option<String> {
        let s = yaml::str_of(n, what, problems)?;
        match find_q(&s) {
            None => {
                problems.push(Problem {
                    pos: n.pos,
                    message: format!(
                        "{what} names '{s}', which is not a question{}",
                        did_you_mean(&s, all_q_ids.iter().map(|x| x.as_str()))
                    ),
                });
                None
            }
            Some(q) => {
                if numeric && !matches!(q.qtype, QType::Integer | QType::Decimal) {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("{what}: '{s}' must be an integer or decimal question, not {}", q.qtype.name()),
                    });
                }
                if q.qtype == QType::SelectMultiple || q.qtype == QType::Note {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("{what}: '{s}' cannot be a {} question", q.qtype.name()),
                    });
                }
                Some(s)
            }
        }
    };
    let design = top.get("design").and_then(|dn| {
        let f = Fields::new(dn, "design", DESIGN_KEYS, &mut problems)?;
        let weight = f.get("weight").and_then(|n| name_question(n, "design: weight", &mut problems, true));
        let strata = f.get("strata").and_then(|n| name_question(n, "design: strata", &mut problems, false));
        let list = |n: &'_ Node| -> Vec<Node> {
            match &n.kind {
                NodeKind::Seq(items) => items.clone(),
                _ => vec![n.clone()],
            }
        };
        let psu: Vec<String> = f
            .get("psu")
            .map(list)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| name_question(n, "design: psu", &mut problems, false))
            .collect();
        let mut fpc = Vec::new();
        for n in f.get("fpc").map(list).unwrap_or_default() {
            if let Some(v) = n.as_f64() {
                if v <= 0.0 {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("design: fpc {v} must be positive"),
                    });
                }
                fpc.push(Fpc::Value(v));
            } else if let Some(s) = name_question(&n, "design: fpc", &mut problems, true) {
                fpc.push(Fpc::Column(s));
            }
        }
        let npsu = f.get("psu").map(|n| list(n).len()).unwrap_or(0);
        if !fpc.is_empty() && fpc.len() != npsu.max(1) {
            problems.push(Problem {
                pos: f.key_pos("fpc").unwrap_or(f.pos),
                message: format!("design: fpc gives {} stage(s) but psu gives {}", fpc.len(), npsu.max(1)),
            });
        }
        let lonely = match f.get("lonely_psu") {
            None => LonelyPsu::Fail,
            Some(n) => match n.scalar().and_then(LonelyPsu::parse) {
                Some(l) => l,
                None => {
                    let s = n.scalar().unwrap_or("");
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!(
                            "design: lonely_psu {} is not one of {}{}",
                            n.show(),
                            LonelyPsu::NAMES.join(", "),
                            did_you_mean(s, LonelyPsu::NAMES.iter().copied())
                        ),
                    });
                    LonelyPsu::Fail
                }
            },
        };
        Some(DesignSpec {
            weight,
            strata,
            psu,
            fpc,
            lonely_psu: lonely,
        })
    });
    let geography = top.get("geography").and_then(|gn| {
        let f = Fields::new(gn, "geography", GEO_KEYS, &mut problems)?;
        let one = |key: &str, want: QType, problems: &mut Vec<Problem>| -> Option<String> {
            let n = f.get(key)?;
            let s = name_question(n, &format!("geography: {key}"), problems, false)?;
            if let Some(q) = find_q(&s) {
                if q.qtype != want && q.qtype != QType::Text {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("geography: {key} '{s}' must be a {} question, not {}", want.name(), q.qtype.name()),
                    });
                }
            }
            Some(s)
        };
        let lsoa = one("lsoa", QType::Lsoa, &mut problems);
        let postcode = one("postcode", QType::Postcode, &mut problems);
        if f.get("lsoa").is_none() && f.get("postcode").is_none() {
            problems.push(Problem {
                pos: f.pos,
                message: "geography needs lsoa: or postcode:".into(),
            });
        }
        Some(GeographySpec { lsoa, postcode })
    });
    too_many_columns(&units, &mut problems);
    names_clash_with_system_columns(&units, geography.as_ref().map(|_| top.key_pos("geography").unwrap_or_default()), &mut problems);
    let mut disclosure = Disclosure::default();
    if let Some(dn) = top.get("disclosure") {
        if let Some(f) = Fields::new(dn, "disclosure", DISCLOSURE_KEYS, &mut problems) {
            let int = |k: &str, d: &mut u32, problems: &mut Vec<Problem>| {
                if let Some(n) = f.get(k) {
                    match n.as_i64() {
                        Some(v) if (0..=100_000).contains(&v) => *d = v as u32,
                        _ => problems.push(Problem {
                            pos: n.pos,
                            message: format!("disclosure: {k} must be a whole number, found {}", n.show()),
                        }),
                    }
                }
            };
            int("min_base", &mut disclosure.min_base, &mut problems);
            int("min_count", &mut disclosure.min_count, &mut problems);
            int("flag_base", &mut disclosure.flag_base, &mut problems);
            if let Some(v) = f.opt_f64("max_cv", "disclosure", &mut problems) {
                disclosure.max_cv = v;
            }
        }
    }

    ld.sink.add(file, &mut problems);
    if !ld.sink.out.is_empty() {
        let mut out = ld.sink.out;
        out.sort_by(|a, b| (a.file != file, &a.file, a.line, a.col).cmp(&(b.file != file, &b.file, b.line, b.col)));
        out.dedup();
        return Err(Diagnostics(out));
    }
    Ok(Definition {
        survey: survey.unwrap_or_default(),
        title: title.unwrap_or_default(),
        version: version.unwrap_or(1),
        languages: ld.langs,
        description,
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

/// The key hearth gives a flat survey that names none: the record's data row in its file.
pub const ROW_KEY: &str = "row_number";

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
        min: Some(1.0),
        max: None,
        missing: Vec::new(),
        identifier: false,
        instrument: None,
        slot: 0,
        pos,
    }
}

/// Most stored variables (questions other than notes, and derived variables) a unit and its
/// ancestors may have together: SQLite allows 2,000 columns in a table or a query, and hearth
/// keeps the rest for its own columns (record UUID, wave, version, capture details).
pub const MAX_VARIABLES: usize = 1_900;

fn too_many_columns(units: &[Unit], problems: &mut Vec<Problem>) {
    for u in units {
        let mut n = 0;
        let mut at = Some(u);
        let mut hops = 0;
        while let Some(x) = at {
            n += x.questions.iter().filter(|q| q.qtype != QType::Note).count() + x.derived.len();
            at = x.parent.as_ref().and_then(|p| units.iter().find(|v| &v.id == p));
            hops += 1;
            if hops > units.len() {
                break; // a parent cycle, reported elsewhere
            }
        }
        if n > MAX_VARIABLES {
            let pos = u.questions.first().map(|q| q.pos).unwrap_or_default();
            problems.push(Problem {
                pos,
                message: format!(
                    "unit '{}' stores {n} variables (questions and derived variables, its parent units' included): at most {MAX_VARIABLES} fit in a store (SQLite allows 2,000 columns); split the survey or drop variables",
                    u.id
                ),
            });
        }
    }
}

/// Names hearth gives columns of its own: a question or derived variable may not take them.
///
/// `wave`, `version`, `captured_at`, `captured_by` and `UNIT_uuid` are always hearth's (every
/// export writes them). The area columns (`imd_decile`, `ward`...) are hearth's only when the
/// definition has a `geography:` section (`geography` is where it is); without one, a
/// survey's own `imd_decile` is an ordinary question, used as it is by `--by imd_decile`.
fn names_clash_with_system_columns(units: &[Unit], geography: Option<Pos>, problems: &mut Vec<Problem>) {
    const SYSTEM: &[&str] = &["wave", "version", "captured_at", "captured_by"];
    let uuid_cols: Vec<String> = units.iter().map(|u| format!("{}_uuid", u.id)).collect();
    for u in units {
        for q in &u.questions {
            let id = q.id.as_str();
            if SYSTEM.contains(&id) || uuid_cols.iter().any(|c| c == id) {
                problems.push(Problem {
                    pos: q.pos,
                    message: format!(
                        "question '{id}': '{id}' is a column hearth adds to every record; give the question another id (a data column of that name can still be read with `column: {id}`)"
                    ),
                });
            } else if let Some(gpos) = geography.filter(|_| super::AREA_COLUMNS.contains(&id)) {
                problems.push(Problem {
                    pos: q.pos,
                    message: format!(
                        "question '{id}' has the name of an area column that the geography section (line {}) adds from the LSOA; rename the question (for example `id: own_{id}` with `column: {id}` to read the data's column), or remove the geography section to use the data's own '{id}'",
                        gpos.line
                    ),
                });
            }
        }
        for d in &u.derived {
            let id = d.id.as_str();
            if let Some(gpos) = geography.filter(|_| super::AREA_COLUMNS.contains(&id)) {
                problems.push(Problem {
                    pos: gpos,
                    message: format!("derived variable '{id}' has the name of an area column that this geography section adds; rename the derived variable"),
                });
            }
        }
    }
}

/// Adds an instrument's items and scoring to a unit.
#[allow(clippy::too_many_arguments)]
fn expand_instrument<'n>(
    ld: &mut Loader,
    doc: &'n InstrumentDoc,
    overrides: Option<&Node>,
    unit: &str,
    survey_ctx: &Arc<Context>,
    questions: &mut Vec<RawQuestion<'n>>,
    derived: &mut Vec<RawDerived<'n>>,
    problems: &mut Vec<Problem>,
) {
    let mut params: HashMap<String, f64> = doc.params.iter().map(|(k, v)| (k.clone(), v.value)).collect();
    if let Some(o) = overrides {
        match &o.kind {
            NodeKind::Map(entries) => {
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
            }
            _ => problems.push(Problem {
                pos: o.pos,
                message: "params must be a map of name: number".into(),
            }),
        }
    }
    let file: Arc<str> = Arc::from(doc.file.as_str());
    let mut ctx = (**survey_ctx).clone();
    ctx.params.extend(params);
    ctx.tables.extend(doc.tables.iter().map(|(k, v)| (k.clone(), v.clone())));
    let ctx = Arc::new(ctx);
    let mut own: Vec<Problem> = Vec::new();
    for qn in &doc.questions {
        if let Some(q) = ld.question(qn, &doc.choices, Some(&doc.id), &file, &mut own) {
            questions.push(q);
        }
    }
    for dn in &doc.derived {
        if let Some(d) = ld.derived(dn, Some(unit), &doc.choices, Some(&doc.id), &file, &ctx, &mut own) {
            derived.push(d);
        }
    }
    ld.sink.add(&file, &mut own);
}
