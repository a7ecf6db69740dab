//! Reading labels, codes, choice lists and lookup tables, and the survey's `choices:` and
//! `tables:` sections.
//!
//! Owns what a label, a code, a choice list and a table may look like, and resolving a
//! question's `choices:` to a named or inline list. It must not look at questions, units or
//! expressions beyond that: the question reader decides which question types take choices.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::super::expr::{self, Table};
use super::super::model::{Choice, ChoiceList, Code, Label};
use super::super::yaml::{did_you_mean, Fields, Node, NodeKind, Pos, Problem};
use super::Loader;

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

/// Reads a choice value or a missing-value code: an integer, or text on one line.
pub(super) fn read_code(n: &Node, what: &str, problems: &mut Vec<Problem>) -> Option<Code> {
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

/// Reads one lookup table (a map of number: number), sorted by key.
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

/// Reads the survey's `tables:` section.
pub(super) fn read_tables(section: Option<&Node>, problems: &mut Vec<Problem>) -> BTreeMap<String, Arc<Table>> {
    let mut tables: BTreeMap<String, Arc<Table>> = BTreeMap::new();
    if let Some(t) = section {
        match &t.kind {
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let Some(name) = k.scalar() else { continue };
                    if let Some(tb) = read_table(name, v, problems) {
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
    tables
}

impl Loader {
    /// Reads the survey's `choices:` section into the loader's named lists; a list with
    /// problems is remembered as broken, so references to it are not reported again.
    pub(super) fn read_choices_section(&mut self, section: Option<&Node>, problems: &mut Vec<Problem>) {
        let Some(c) = section else { return };
        match &c.kind {
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let Some(name) = k.scalar() else { continue };
                    if let Some((_, first)) = self.choices.get(name) {
                        problems.push(Problem {
                            pos: k.pos,
                            message: format!("duplicate choice list '{name}' (first on line {})", first.line),
                        });
                        continue;
                    }
                    match read_choice_list(v, Some(name), &self.langs, problems) {
                        Some(list) => {
                            self.choices.insert(name.to_string(), (Arc::new(list), k.pos));
                        }
                        None => {
                            self.broken_choices.insert(name.to_string());
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

    /// Resolves a question's or derived variable's `choices:`: a name (the instrument's own
    /// lists first, then the survey's) or an inline list.
    pub(super) fn choices_ref(&self, n: &Node, local: &BTreeMap<String, Arc<ChoiceList>>, problems: &mut Vec<Problem>) -> Option<Arc<ChoiceList>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::yaml;

    fn node(text: &str) -> Node {
        yaml::parse(text).expect("test YAML parses")
    }

    #[test]
    fn codes_are_integers_or_one_line_text() {
        let mut problems = Vec::new();
        assert_eq!(read_code(&node("7"), "v", &mut problems), Some(Code::Int(7)));
        assert_eq!(read_code(&node("ab"), "v", &mut problems), Some(Code::Text("ab".into())));
        assert!(problems.is_empty());
        assert_eq!(read_code(&node("' ab'"), "v", &mut problems), None);
        assert_eq!(read_code(&node("[1]"), "v", &mut problems), None);
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "v: ' ab' is not a valid code (an integer, or text on one line without leading or trailing spaces)",
                "v must be an integer or a short code, found a list",
            ]
        );
    }

    #[test]
    fn a_choice_list_with_mixed_kinds_or_a_repeated_value_is_refused() {
        let langs = vec!["en".to_string()];
        let mut problems = Vec::new();
        let ok = read_choice_list(&node("[{value: 1, label: A}, {value: 2, label: B}]"), Some("ab"), &langs, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let ok = ok.expect("a good list");
        assert!(ok.integer);
        assert_eq!(ok.choices.len(), 2);
        let mixed = read_choice_list(&node("[{value: 1, label: A}, {value: b, label: B}]"), Some("m"), &langs, &mut problems);
        assert!(mixed.is_none());
        assert_eq!(problems[0].message, "choice list 'm' mixes integer and text values: use one kind");
        problems.clear();
        let repeated = read_choice_list(&node("- {value: 1, label: A}\n- {value: 1, label: B}\n"), None, &langs, &mut problems);
        assert!(repeated.is_none());
        assert_eq!(problems[0].message, "inline choices: duplicate value 1 (first on line 1)");
        assert_eq!((problems[0].pos.line, problems[0].pos.col), (2, 3));
    }

    #[test]
    fn tables_are_sorted_by_key_and_repeated_keys_reported() {
        let mut problems = Vec::new();
        let tables = read_tables(Some(&node("t:\n  3: 30\n  1: 10\n  3: 31\n")), &mut problems);
        assert_eq!(tables["t"].entries, vec![(1.0, 10.0), (3.0, 30.0), (3.0, 31.0)]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].message, "table 't': duplicate key 3");
        assert_eq!(problems[0].pos.line, 4);
    }
}
