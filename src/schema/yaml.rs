//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Owns turning definition text into [`Node`]s with line and column, and the small reading
//! helpers ([`Fields`]) that report unknown keys, wrong types and missing keys as [`Problem`]s
//! instead of stopping at the first one. It knows nothing about surveys: the loader in
//! `schema::load` gives the keys their meaning.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

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

/// How deeply lists and maps may nest in a definition. Definitions need a handful of levels;
/// the limit keeps every walk over the tree (building, reading, dropping it) shallow whatever
/// the input.
pub const MAX_DEPTH: usize = 64;

/// Parses YAML text into a node tree. A syntax error, nesting deeper than [`MAX_DEPTH`], or an
/// anchor or alias is returned as a [`Problem`].
///
/// Only the first document of the text is read. Events are pulled from the parser one at a time
/// (its own `load` recurses once per level of nesting, which deep input turns into a stack
/// overflow).
pub fn parse(text: &str) -> Result<Node, Problem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| syntax_problem(text, &e))?;
        if matches!(ev, Event::StreamEnd | Event::DocumentEnd) {
            break;
        }
        builder.event(ev, mark).map_err(|mut p| {
            if p.message == NO_ALIASES {
                p.pos = anchor_pos(text, mark).unwrap_or(p.pos);
            }
            p
        })?;
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Null,
        pos: Pos { line: 1, col: 1 },
    }))
}

/// Where the anchor (`&name`) of the node at `mark` is written: the parser marks the node
/// itself, after its anchor (which may be on the line before). The nearest `&` that starts a
/// token within the two lines before the mark; `None` if there is none (an alias is marked
/// where it is written).
fn anchor_pos(text: &str, mark: Marker) -> Option<Pos> {
    let before: Vec<char> = text.chars().take(mark.index() + 1).collect();
    let mut newlines = 0;
    let mut j = before.len();
    while j > 0 && newlines <= 2 {
        j -= 1;
        let starts_token = j == 0 || matches!(before[j - 1], ' ' | '\t' | '\n' | '[' | '{' | ',');
        if before[j] == '&' && starts_token && before.get(j + 1).is_some_and(|c| !c.is_whitespace()) {
            let line = 1 + before[..j].iter().filter(|&&c| c == '\n').count();
            let col = 1 + before[..j].iter().rev().take_while(|&&c| c != '\n').count();
            return Some(Pos { line, col });
        }
        newlines += usize::from(before[j] == '\n');
    }
    None
}

/// A scanner or parser error as a problem at its place.
fn syntax_problem(text: &str, e: &ScanError) -> Problem {
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

/// Builds the node tree from parser events, with an explicit stack of open lists and maps.
#[derive(Default)]
struct Builder {
    /// Open lists and maps, outermost first, each with the key read but not yet given a value.
    stack: Vec<(Node, Option<Node>)>,
    root: Option<Node>,
}

/// Why definitions refuse anchors and aliases.
const NO_ALIASES: &str = "YAML anchors and aliases (&name, *name) are not allowed in a definition: \
write the value out in full (aliases can make a small file expand to an enormous one)";

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some((parent, pending_key)) => match &mut parent.kind {
                NodeKind::Seq(items) => items.push(node),
                NodeKind::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(k) => entries.push((k, node)),
                },
                _ => {}
            },
        }
    }

    fn open(&mut self, kind: NodeKind, pos: Pos) -> Result<(), Problem> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Problem {
                pos,
                message: format!("lists and maps are nested more than {MAX_DEPTH} levels deep"),
            });
        }
        self.stack.push((Node { kind, pos }, None));
        Ok(())
    }

    fn event(&mut self, ev: Event, mark: Marker) -> Result<(), Problem> {
        let pos = pos_of(mark);
        let anchored = match &ev {
            Event::Scalar(_, _, anchor, _) | Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => *anchor > 0,
            Event::Alias(_) => true,
            _ => false,
        };
        if anchored {
            return Err(Problem {
                pos,
                message: NO_ALIASES.into(),
            });
        }
        match ev {
            Event::Scalar(text, style, _, _) => {
                let quoted = style != TScalarStyle::Plain;
                let kind = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar { text, quoted }
                };
                self.push_value(Node { kind, pos });
            }
            Event::SequenceStart(..) => self.open(NodeKind::Seq(vec![]), pos)?,
            Event::MappingStart(..) => self.open(NodeKind::Map(vec![]), pos)?,
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _)) = self.stack.pop() {
                    self.push_value(node);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn pos_of(mark: Marker) -> Pos {
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
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

    /// Regression (issue 15): deep block nesting overflowed the stack (the parser's loader
    /// recursed once per level) and aborted the process.
    #[test]
    fn r15_deep_yaml_nesting_is_refused_at_its_place() {
        for (text, pos) in [
            ("? ".repeat(9040) + "1", Pos { line: 1, col: 129 }),
            ("x:\n".to_string() + &"- ".repeat(20140) + "1", Pos { line: 2, col: 127 }),
            ("[".repeat(65) + &"]".repeat(65), Pos { line: 1, col: 65 }),
        ] {
            let p = parse(&text).unwrap_err();
            assert_eq!(p.pos, pos, "{p:?}");
            assert_eq!(p.message, "lists and maps are nested more than 64 levels deep");
        }
        // the limit itself is fine, and deeper flow nesting is refused (by the scanner first)
        assert!(parse(&("[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH))).is_ok());
        assert!(parse(&("[".repeat(100_000) + &"]".repeat(100_000))).is_err());
    }

    /// Regression (issue 15): aliases were expanded without limit, so a 22-line "billion laughs"
    /// file took gigabytes. Definitions need no anchors or aliases: both are refused where the
    /// first is written.
    #[test]
    fn r15_anchors_and_aliases_are_refused() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..22 {
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", ")));
        }
        let p = parse(&text).unwrap_err();
        assert_eq!(p.pos, Pos { line: 1, col: 5 }, "{p:?}");
        assert!(p.message.starts_with("YAML anchors and aliases (&name, *name) are not allowed"), "{p:?}");
        for (text, line, col) in [
            ("a: &x 1\n", 1, 4),
            ("a: 1\nb: &m\n  c: 1\n", 2, 4),
            ("- &s [1]\n", 1, 3),
            ("a: &x [1]\nb: *x\n", 1, 4),
        ] {
            let p = parse(text).unwrap_err();
            assert_eq!((p.pos.line, p.pos.col), (line, col), "{text:?}: {p:?}");
            assert!(p.message.contains("anchors and aliases"), "{text:?}: {p:?}");
        }
        // an alias to no anchor is refused too (by the parser, as a syntax error)
        let p = parse("a: *x\n").unwrap_err();
        assert_eq!(p.pos.line, 1, "{p:?}");
        // '&' and '*' inside values are text, not anchors
        assert!(parse("a: 'x & y'\nb: R&D\nc: \"*x\"\n").is_ok());
    }
}
