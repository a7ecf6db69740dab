//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Owns turning definition text into [`Node`]s with line and column, and the small reading
//! helpers ([`Fields`]) that report unknown keys, wrong types and missing keys as [`Problem`]s
//! instead of stopping at the first one. It knows nothing about surveys: the loader in
//! `schema::load` gives the keys their meaning.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A place in a text file: 1-based line and column, as an editor shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pos {
    /// Line, counting from 1.
    pub line: usize,
    /// Column, counting from 1.
    pub col: usize,
}

impl Pos {
    /// The position `chars` characters to the right on the same line.
    pub fn shifted(self, chars: usize) -> Pos {
        Pos {
            line: self.line,
            col: self.col + chars,
        }
    }
}

/// One problem found in a definition file: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Where in the file.
    pub pos: Pos,
    /// What is wrong, lower case, no trailing period.
    pub message: String,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// An empty value, `~` or `null`.
    Null,
    /// A scalar; `quoted` scalars are always text.
    Scalar {
        /// The text as written (without quotes).
        text: String,
        /// Whether it was quoted or a block scalar.
        quoted: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order (duplicate keys are kept so they can be reported).
    Map(Vec<(Node, Node)>),
}

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where it starts.
    pub pos: Pos,
}

impl Node {
    /// A short name of the node's kind for messages ("a list", "a map", "text").
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing",
            NodeKind::Scalar { .. } => "a value",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    /// The scalar's text, if a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether the scalar was written in quotes.
    pub fn is_quoted(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar { quoted: true, .. })
    }

    /// The scalar as an integer (unquoted only).
    pub fn as_i64(&self) -> Option<i64> {
        match &self.kind {
            NodeKind::Scalar { text, quoted: false } => text.trim().parse().ok(),
            _ => None,
        }
    }

    /// The scalar as a finite number (unquoted only).
    pub fn as_f64(&self) -> Option<f64> {
        match &self.kind {
            NodeKind::Scalar { text, quoted: false } => text.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        }
    }

    /// The scalar as a boolean (`true`/`false`, unquoted).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            NodeKind::Scalar { text, quoted: false } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A short rendering of the value for messages.
    pub fn show(&self) -> String {
        match &self.kind {
            NodeKind::Null => "nothing".into(),
            NodeKind::Scalar { text, .. } => format!("'{text}'"),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Map(_) => "a map".into(),
        }
    }
}

/// Parses YAML text into a node tree. A syntax error is returned as a [`Problem`].
pub fn parse(text: &str) -> Result<Node, Problem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| {
        let m = e.marker();
        let mut pos = Pos {
            line: m.line(),
            col: m.col() + 1,
        };
        let mut message = format!("YAML syntax error: {}", e.info());
        if e.info().contains("tabs") {
            // the scanner reports the place after the tab: point at the tab itself
            if let Some(i) = text.lines().nth(pos.line.saturating_sub(1)).and_then(|l| l.chars().position(|c| c == '\t')) {
                pos.col = i + 1;
            }
            message.push_str(": indent with spaces, not tabs");
        } else if e.info().contains("flow mapping") || e.info().contains("flow sequence") {
            if let Some((open, at)) = unclosed_bracket(text, pos) {
                message.push_str(&format!(" (is the '{open}' on line {} column {} closed?)", at.line, at.col));
            }
        }
        Problem { pos, message }
    })?;
    if let Some(p) = builder.error {
        return Err(p);
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Null,
        pos: Pos { line: 1, col: 1 },
    }))
}

/// The innermost `{` or `[` still open before `upto`, for a hint on an unclosed flow
/// collection. Quotes and comments are skipped; it is a heuristic for messages only.
fn unclosed_bracket(text: &str, upto: Pos) -> Option<(char, Pos)> {
    let mut stack: Vec<(char, Pos)> = Vec::new();
    for (li, line) in text.lines().enumerate() {
        let lno = li + 1;
        if lno > upto.line {
            break;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if lno == upto.line && i + 1 >= upto.col {
                break;
            }
            let c = chars[i];
            let starts_token = i == 0 || matches!(chars[i - 1], ' ' | '\t' | '{' | '[' | ',' | ':');
            match c {
                '#' if i == 0 || chars[i - 1].is_whitespace() => break,
                '\'' | '"' if starts_token => {
                    // skip the quoted scalar (on this line)
                    i += 1;
                    while i < chars.len() {
                        if c == '"' && chars[i] == '\\' {
                            i += 2;
                            continue;
                        }
                        if chars[i] == c {
                            if c == '\'' && chars.get(i + 1) == Some(&'\'') {
                                i += 2;
                                continue;
                            }
                            break;
                        }
                        i += 1;
                    }
                }
                '{' | '[' if starts_token || !stack.is_empty() => stack.push((c, Pos { line: lno, col: i + 1 })),
                '}' | ']' => {
                    stack.pop();
                }
                _ => {}
            }
            i += 1;
        }
    }
    stack.pop()
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, Option<Node>, usize)>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    error: Option<Problem>,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some((parent, pending_key, _)) => match &mut parent.kind {
                NodeKind::Seq(items) => items.push(node),
                NodeKind::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(k) => entries.push((k, node)),
                },
                _ => {}
            },
        }
    }
}

fn pos_of(mark: Marker) -> Pos {
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = pos_of(mark);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = style != TScalarStyle::Plain;
                let kind = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar { text, quoted }
                };
                self.push_value(Node { kind, pos }, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push((
                Node {
                    kind: NodeKind::Seq(vec![]),
                    pos,
                },
                None,
                anchor,
            )),
            Event::MappingStart(anchor, _) => self.stack.push((
                Node {
                    kind: NodeKind::Map(vec![]),
                    pos,
                },
                None,
                anchor,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _, anchor)) = self.stack.pop() {
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut n) => {
                    n.pos = pos;
                    self.push_value(n, 0)
                }
                None => {
                    self.error.get_or_insert(Problem {
                        pos,
                        message: "YAML alias to an unknown anchor".into(),
                    });
                }
            },
            _ => {}
        }
    }
}

pub use super::suggest::{did_you_mean, edit_distance, suggest};

/// The keys of one mapping, checked against the keys it may have.
///
/// Reading a key marks it used; unknown and duplicate keys are reported when built.
pub struct Fields<'a> {
    entries: Vec<(&'a str, &'a Node, Pos)>,
    /// Position of the mapping itself.
    pub pos: Pos,
}

impl<'a> Fields<'a> {
    /// Reads `node` as a mapping whose keys must be among `allowed`; `what` names it in messages.
    pub fn new(node: &'a Node, what: &str, allowed: &[&str], problems: &mut Vec<Problem>) -> Option<Fields<'a>> {
        let NodeKind::Map(entries) = &node.kind else {
            problems.push(Problem {
                pos: node.pos,
                message: format!("{what} must be a map of keys, found {}", node.show()),
            });
            return None;
        };
        let mut seen: Vec<(&str, Pos)> = Vec::new();
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.scalar() else {
                problems.push(Problem {
                    pos: k.pos,
                    message: format!("{what}: a key must be a plain word, found {}", k.show()),
                });
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == key) {
                problems.push(Problem {
                    pos: k.pos,
                    message: format!("{what}: duplicate key '{key}' (first on line {})", first.line),
                });
                continue;
            }
            seen.push((key, k.pos));
            if !allowed.contains(&key) {
                problems.push(Problem {
                    pos: k.pos,
                    message: format!("{what}: unknown key '{key}'{}", did_you_mean(key, allowed.iter().copied())),
                });
                continue;
            }
            out.push((key, v, k.pos));
        }
        Some(Fields { entries: out, pos: node.pos })
    }

    /// The value of a key, if present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, v, _)| *k == key && !matches!(v.kind, NodeKind::Null))
            .map(|(_, v, _)| *v)
    }

    /// The position of a key, if present.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries.iter().find(|(k, _, _)| *k == key).map(|(_, _, p)| *p)
    }

    /// A required text value.
    pub fn req_str(&self, key: &str, what: &str, problems: &mut Vec<Problem>) -> Option<(String, Pos)> {
        match self.get(key) {
            None => {
                problems.push(Problem {
                    pos: self.pos,
                    message: format!("{what}: missing key '{key}'"),
                });
                None
            }
            Some(n) => str_of(n, &format!("{what}: '{key}'"), problems).map(|s| (s, n.pos)),
        }
    }

    /// An optional text value.
    pub fn opt_str(&self, key: &str, what: &str, problems: &mut Vec<Problem>) -> Option<(String, Pos)> {
        self.get(key).and_then(|n| str_of(n, &format!("{what}: '{key}'"), problems).map(|s| (s, n.pos)))
    }

    /// An optional boolean.
    pub fn opt_bool(&self, key: &str, what: &str, problems: &mut Vec<Problem>) -> Option<bool> {
        let n = self.get(key)?;
        match n.as_bool() {
            Some(b) => Some(b),
            None => {
                problems.push(Problem {
                    pos: n.pos,
                    message: format!("{what}: '{key}' must be true or false, found {}", n.show()),
                });
                None
            }
        }
    }

    /// An optional number.
    pub fn opt_f64(&self, key: &str, what: &str, problems: &mut Vec<Problem>) -> Option<f64> {
        let n = self.get(key)?;
        match n.as_f64() {
            Some(b) => Some(b),
            None => {
                problems.push(Problem {
                    pos: n.pos,
                    message: format!("{what}: '{key}' must be a number, found {}", n.show()),
                });
                None
            }
        }
    }

    /// A list value (a single scalar is not accepted).
    pub fn opt_seq(&self, key: &str, what: &str, problems: &mut Vec<Problem>) -> Option<&'a [Node]> {
        let n = self.get(key)?;
        match &n.kind {
            NodeKind::Seq(items) => Some(items),
            _ => {
                problems.push(Problem {
                    pos: n.pos,
                    message: format!("{what}: '{key}' must be a list, found {}", n.show()),
                });
                None
            }
        }
    }
}

/// A scalar as text, or a problem.
pub fn str_of(n: &Node, what: &str, problems: &mut Vec<Problem>) -> Option<String> {
    match n.scalar() {
        Some(s) => Some(s.to_string()),
        None => {
            problems.push(Problem {
                pos: n.pos,
                message: format!("{what} must be a text value, found {}", n.show()),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("a: 1\nb:\n  - x\n  - 'y'\n").unwrap();
        let NodeKind::Map(e) = &n.kind else { panic!("not a map") };
        assert_eq!(e[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(e[0].1.pos, Pos { line: 1, col: 4 });
        let NodeKind::Seq(items) = &e[1].1.kind else { panic!("not a seq") };
        assert_eq!(items[1].pos, Pos { line: 4, col: 5 });
        assert!(items[1].is_quoted());
    }

    #[test]
    fn syntax_error_has_position() {
        let p = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(p.message.starts_with("YAML syntax error"), "{p:?}");
        assert!(p.pos.line >= 1);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("relevent", ["relevant", "required"]), Some("relevant"));
        assert_eq!(suggest("zzz", ["relevant"]), None);
    }
}
