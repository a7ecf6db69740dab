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
    /// `a op b`.
    Binary(BinOp, Box<Ast>, Box<Ast>),
    /// `f(args)`.
    Call(String, Vec<Ast>),
}

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

    fn or(&mut self) -> Result<Ast, SyntaxError> {
        let mut l = self.and()?;
        while self.is_word("or") {
            let (_, at) = self.bump();
            let r = self.and()?;
            l = Ast {
                kind: AstKind::Binary(BinOp::Or, Box::new(l), Box::new(r)),
                at,
            };
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Ast, SyntaxError> {
        let mut l = self.not()?;
        while self.is_word("and") {
            let (_, at) = self.bump();
            let r = self.not()?;
            l = Ast {
                kind: AstKind::Binary(BinOp::And, Box::new(l), Box::new(r)),
                at,
            };
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Ast, SyntaxError> {
        if self.is_word("not") {
            let (_, at) = self.bump();
            self.enter()?;
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
        let mut l = self.mul()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => BinOp::Add,
                Tok::Op("-") => BinOp::Sub,
                _ => return Ok(l),
            };
            let (_, at) = self.bump();
            let r = self.mul()?;
            l = Ast {
                kind: AstKind::Binary(op, Box::new(l), Box::new(r)),
                at,
            };
        }
    }
    fn mul(&mut self) -> Result<Ast, SyntaxError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                _ => return Ok(l),
            };
            let (_, at) = self.bump();
            let r = self.unary()?;
            l = Ast {
                kind: AstKind::Binary(op, Box::new(l), Box::new(r)),
                at,
            };
        }
    }
    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(SyntaxError {
                at: self.at(),
                message: "expression is nested too deeply".into(),
            });
        }
        Ok(())
    }
    fn unary(&mut self) -> Result<Ast, SyntaxError> {
        if matches!(self.peek(), Tok::Op("-")) {
            let (_, at) = self.bump();
            self.enter()?;
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
                self.enter()?;
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
                    self.enter()?;
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
        let AstKind::Binary(BinOp::Or, l, _) = e.kind else { panic!("top is not or") };
        assert!(matches!(l.kind, AstKind::Binary(BinOp::And, _, _)));
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
}
