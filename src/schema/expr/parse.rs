//! The expression parser: text to an untyped syntax tree with the column of every node.
//!
//! Owns the grammar and its syntax errors only; names are resolved and types checked in
//! `check`, so this file never needs to know which questions exist.

use std::fmt;

/// A parsed expression node with its 0-based character offset in the expression text.
#[derive(Debug, Clone, PartialEq)]
pub struct Ast {
    /// What the node is.
    pub kind: AstKind,
    /// Character offset of the node in the expression text.
    pub at: usize,
}

/// Kinds of syntax nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum AstKind {
    /// A number literal.
    Num(f64),
    /// A text literal.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `.`: this answer.
    Dot,
    /// A name: question, derived variable, param, or table (as a function argument).
    Name(String),
    /// `-x` or `not x`.
    Unary(UnOp, Box<Ast>),
    /// `a op b`: a comparison (comparisons do not chain).
    Binary(BinOp, Box<Ast>, Box<Ast>),
    /// `a op b op c ...`: operators of one precedence level (`or`; `and`; `+` and `-`; `*` and
    /// `/`) applied left to right to the first operand and each link's. Flat, so that a chain of
    /// any length is walked with loops, never with recursion as deep as the chain is long.
    Chain(Box<Ast>, Vec<Link>),
    /// `f(args)`.
    Call(String, Vec<Ast>),
}

/// One operator and its right operand in a [`AstKind::Chain`].
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The operator.
    pub op: BinOp,
    /// Character offset of the operator.
    pub at: usize,
    /// The operand on its right.
    pub operand: Ast,
}

/// How deeply parentheses, function calls, `-` and `not` may nest. The parser, the checker, both
/// evaluators and Polars walk an expression recursively, one level per nesting; the limit keeps
/// that recursion shallow whatever the input (no survey expression needs more than a few levels).
pub const MAX_NESTING: usize = 64;

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// Arithmetic negation.
    Neg,
    /// Logical negation.
    Not,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `and`
    And,
    /// `or`
    Or,
}

impl fmt::Display for BinOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        };
        f.write_str(s)
    }
}

/// A syntax error: 0-based character offset and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Character offset in the expression text.
    pub at: usize,
    /// What went wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Dot,
    End,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Str(s) => format!("text '{s}'"),
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
        Tok::Dot => "'.'".into(),
        Tok::End => "the end of the expression".into(),
    }
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let s: String = chars[start..i].iter().collect();
            let v: f64 = s.parse().map_err(|_| SyntaxError {
                at: start,
                message: format!("malformed number '{s}'"),
            })?;
            out.push((Tok::Num(v), start));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), start));
            continue;
        }
        if c == '\'' || c == '"' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(SyntaxError {
                            at: start,
                            message: "text literal is not closed".into(),
                        })
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some('\\') if chars.get(i + 1).is_some() => {
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push((Tok::Str(s), start));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op: Option<(&'static str, usize)> = match two.as_str() {
            "==" => Some(("==", 2)),
            "!=" => Some(("!=", 2)),
            "<=" => Some(("<=", 2)),
            ">=" => Some((">=", 2)),
            "<>" => Some(("!=", 2)),
            _ => match c {
                '=' => Some(("==", 1)),
                '<' => Some(("<", 1)),
                '>' => Some((">", 1)),
                '+' => Some(("+", 1)),
                '-' => Some(("-", 1)),
                '*' => Some(("*", 1)),
                '/' => Some(("/", 1)),
                _ => None,
            },
        };
        if let Some((o, len)) = op {
            out.push((Tok::Op(o), start));
            i += len;
            continue;
        }
        let t = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            _ => {
                return Err(SyntaxError {
                    at: start,
                    message: format!("unexpected character '{c}'"),
                })
            }
        };
        out.push((t, start));
        i += 1;
    }
    out.push((Tok::End, chars.len()));
    Ok(out)
}

struct P {
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: usize,
}

impl P {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }
    fn at(&self) -> usize {
        self.toks[self.i].1
    }
    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }
    fn err<T>(&self, what: &str) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            at: self.at(),
            message: format!("expected {what}, found {}", describe(self.peek())),
        })
    }

    /// Parses `first (op operand)*` into one flat [`AstKind::Chain`] (or `first` alone).
    fn chain(&mut self, first: Ast, op: fn(&Tok) -> Option<BinOp>, operand: fn(&mut P) -> Result<Ast, SyntaxError>) -> Result<Ast, SyntaxError> {
        let mut links = Vec::new();
        while let Some(op) = op(self.peek()) {
            let (_, at) = self.bump();
            let rhs = operand(self)?;
            links.push(Link { op, at, operand: rhs });
        }
        match links.first() {
            None => Ok(first),
            Some(l) => Ok(Ast {
                at: l.at,
                kind: AstKind::Chain(Box::new(first), links),
            }),
        }
    }
    fn or(&mut self) -> Result<Ast, SyntaxError> {
        let first = self.and()?;
        self.chain(first, |t| matches!(t, Tok::Ident(w) if w == "or").then_some(BinOp::Or), P::and)
    }
    fn and(&mut self) -> Result<Ast, SyntaxError> {
        let first = self.not()?;
        self.chain(first, |t| matches!(t, Tok::Ident(w) if w == "and").then_some(BinOp::And), P::not)
    }
    fn not(&mut self) -> Result<Ast, SyntaxError> {
        if self.is_word("not") {
            let (_, at) = self.bump();
            self.enter(at)?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Ast {
                kind: AstKind::Unary(UnOp::Not, Box::new(e)),
                at,
            });
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Ast, SyntaxError> {
        let l = self.add()?;
        let op = match self.peek() {
            Tok::Op("==") => BinOp::Eq,
            Tok::Op("!=") => BinOp::Ne,
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Le,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Ge,
            _ => return Ok(l),
        };
        let (_, at) = self.bump();
        let r = self.add()?;
        if matches!(self.peek(), Tok::Op("==" | "!=" | "<" | "<=" | ">" | ">=")) {
            return Err(SyntaxError {
                at: self.at(),
                message: "comparisons cannot be chained: use 'and' (e.g. a < b and b < c)".into(),
            });
        }
        Ok(Ast {
            kind: AstKind::Binary(op, Box::new(l), Box::new(r)),
            at,
        })
    }
    fn add(&mut self) -> Result<Ast, SyntaxError> {
        let first = self.mul()?;
        let op = |t: &Tok| match t {
            Tok::Op("+") => Some(BinOp::Add),
            Tok::Op("-") => Some(BinOp::Sub),
            _ => None,
        };
        self.chain(first, op, P::mul)
    }
    fn mul(&mut self) -> Result<Ast, SyntaxError> {
        let first = self.unary()?;
        let op = |t: &Tok| match t {
            Tok::Op("*") => Some(BinOp::Mul),
            Tok::Op("/") => Some(BinOp::Div),
            _ => None,
        };
        self.chain(first, op, P::unary)
    }
    /// One more level of nesting, opened at `at`.
    fn enter(&mut self, at: usize) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(SyntaxError {
                at,
                message: format!("expression is nested more than {MAX_NESTING} levels deep (parentheses, function calls, '-' and 'not')"),
            });
        }
        Ok(())
    }
    fn unary(&mut self) -> Result<Ast, SyntaxError> {
        if matches!(self.peek(), Tok::Op("-")) {
            let (_, at) = self.bump();
            self.enter(at)?;
            let e = self.unary()?;
            self.depth -= 1;
            if let AstKind::Num(v) = e.kind {
                return Ok(Ast { kind: AstKind::Num(-v), at });
            }
            return Ok(Ast {
                kind: AstKind::Unary(UnOp::Neg, Box::new(e)),
                at,
            });
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Ast, SyntaxError> {
        let at = self.at();
        match self.peek().clone() {
            Tok::Num(v) => {
                self.bump();
                Ok(Ast { kind: AstKind::Num(v), at })
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Ast { kind: AstKind::Str(s), at })
            }
            Tok::Dot => {
                self.bump();
                Ok(Ast { kind: AstKind::Dot, at })
            }
            Tok::LParen => {
                self.bump();
                self.enter(at)?;
                let e = self.or()?;
                self.depth -= 1;
                if *self.peek() != Tok::RParen {
                    return self.err("')'");
                }
                self.bump();
                Ok(e)
            }
            Tok::Ident(name) => {
                match name.as_str() {
                    "and" | "or" | "not" => return self.err("a value"),
                    "true" => {
                        self.bump();
                        return Ok(Ast { kind: AstKind::Bool(true), at });
                    }
                    "false" => {
                        self.bump();
                        return Ok(Ast {
                            kind: AstKind::Bool(false),
                            at,
                        });
                    }
                    _ => {}
                }
                self.bump();
                if *self.peek() == Tok::LParen {
                    self.bump();
                    self.enter(at)?;
                    let mut args = Vec::new();
                    if *self.peek() != Tok::RParen {
                        loop {
                            args.push(self.or()?);
                            match self.peek() {
                                Tok::Comma => {
                                    self.bump();
                                }
                                Tok::RParen => break,
                                _ => return self.err("',' or ')'"),
                            }
                        }
                    }
                    self.bump();
                    self.depth -= 1;
                    Ok(Ast {
                        kind: AstKind::Call(name, args),
                        at,
                    })
                } else {
                    Ok(Ast { kind: AstKind::Name(name), at })
                }
            }
            _ => self.err("a value"),
        }
    }
}

/// Parses an expression.
pub fn parse(text: &str) -> Result<Ast, SyntaxError> {
    let toks = lex(text)?;
    let mut p = P { toks, i: 0, depth: 0 };
    if *p.peek() == Tok::End {
        return Err(SyntaxError {
            at: 0,
            message: "empty expression".into(),
        });
    }
    let e = p.or()?;
    if *p.peek() != Tok::End {
        return p.err("an operator or the end of the expression");
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let e = parse("a + b * 2 >= 3 and not c or d").unwrap();
        let AstKind::Chain(l, or) = e.kind else { panic!("top is not a chain") };
        assert_eq!(or.iter().map(|l| l.op).collect::<Vec<_>>(), [BinOp::Or]);
        let AstKind::Chain(cmp, and) = l.kind else {
            panic!("left of or is not a chain")
        };
        assert_eq!(and.iter().map(|l| l.op).collect::<Vec<_>>(), [BinOp::And]);
        assert!(matches!(and[0].operand.kind, AstKind::Unary(UnOp::Not, _)));
        let AstKind::Binary(BinOp::Ge, sum, _) = cmp.kind else {
            panic!("left of and is not >=")
        };
        let AstKind::Chain(_, add) = sum.kind else {
            panic!("left of >= is not a chain")
        };
        assert_eq!(add[0].op, BinOp::Add);
        assert!(matches!(&add[0].operand.kind, AstKind::Chain(_, mul) if mul[0].op == BinOp::Mul));
    }

    /// The number of nodes on the longest path from the root, walked without recursion.
    fn depth(ast: &Ast) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(ast, 1usize)];
        while let Some((a, d)) = stack.pop() {
            deepest = deepest.max(d);
            match &a.kind {
                AstKind::Unary(_, x) => stack.push((x, d + 1)),
                AstKind::Binary(_, x, y) => stack.extend([(&**x, d + 1), (&**y, d + 1)]),
                AstKind::Chain(x, links) => {
                    stack.push((x, d + 1));
                    stack.extend(links.iter().map(|l| (&l.operand, d + 1)));
                }
                AstKind::Call(_, args) => stack.extend(args.iter().map(|x| (x, d + 1))),
                _ => {}
            }
        }
        deepest
    }

    #[test]
    fn r15_long_flat_chains_are_flat() {
        // 20,000 terms of each chaining level: one node with a link per operator, depth 2
        for (op, sep) in [(BinOp::Add, " + "), (BinOp::Mul, " * "), (BinOp::And, " and "), (BinOp::Or, " or ")] {
            let text = vec!["x"; 20_000].join(sep);
            let e = parse(&text).unwrap();
            let AstKind::Chain(_, links) = &e.kind else { panic!("{sep}: not a chain") };
            assert_eq!(links.len(), 19_999, "{sep}");
            assert!(links.iter().all(|l| l.op == op));
            assert_eq!(depth(&e), 2, "{sep}");
        }
        // + and - alternate in one chain, as do * and /; positions are those of the operators
        let e = parse("a - b + c - d").unwrap();
        let AstKind::Chain(_, links) = &e.kind else { panic!("not a chain") };
        assert_eq!(
            links.iter().map(|l| (l.op, l.at)).collect::<Vec<_>>(),
            [(BinOp::Sub, 2), (BinOp::Add, 6), (BinOp::Sub, 10)]
        );
        assert_eq!(e.at, 2);
        // comparisons and conditions of long chains stay shallow too
        let text = vec!["a + a * 2 > 1"; 5_000].join(" and ");
        assert!(depth(&parse(&text).unwrap()) <= 6);
    }

    #[test]
    fn error_columns() {
        assert_eq!(parse("a + ").unwrap_err().at, 4);
        assert_eq!(parse("a ++ b").unwrap_err().at, 3);
        assert_eq!(parse("f(a, b").unwrap_err().at, 6);
        assert_eq!(parse("'abc").unwrap_err().at, 0);
        assert_eq!(parse("a # b").unwrap_err().at, 2);
        assert!(parse("a < b < c").unwrap_err().message.contains("chained"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let s = "(".repeat(500) + "1" + &")".repeat(500);
        assert!(parse(&s).is_err());
        let s = "-".repeat(500) + "x";
        assert!(parse(&s).is_err());
    }

    #[test]
    fn r15_nesting_limit_names_the_place() {
        // 64 levels of each kind parse; the 65th is refused at the token that opens it
        let ok = "(".repeat(MAX_NESTING) + "1" + &")".repeat(MAX_NESTING);
        assert!(parse(&ok).is_ok());
        for (text, at) in [
            ("(".repeat(65) + "1" + &")".repeat(65), 64),
            ("- ".repeat(65) + "x", 128),
            ("not ".repeat(65) + "x", 256),
            ("sum(".repeat(65) + "1" + &")".repeat(65), 256),
            (format!("a + {}b{}", "(".repeat(70), ")".repeat(70)), 68),
        ] {
            let e = parse(&text).unwrap_err();
            assert_eq!(e.at, at, "{text}: {e:?}");
            assert!(e.message.contains("nested more than 64 levels"), "{e:?}");
        }
        // a huge nesting is refused as quickly, without recursing into it
        let s = "(".repeat(1_000_000) + "1";
        assert_eq!(parse(&s).unwrap_err().at, 64);
    }
}
