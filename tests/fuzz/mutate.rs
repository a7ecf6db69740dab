//! Mutations of the shipped fixtures: byte flips, hostile tokens, truncation, line and column
//! operations, and operations that know the format (CSV cells and columns, JSON Lines keys and
//! values, YAML nesting, anchors and aliases, expression chains, repeated items).

use super::rng::Rng;

/// The format of a mutated input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header line.
    Csv,
    /// JSON Lines.
    Jsonl,
    /// A YAML survey definition.
    Yaml,
    /// An expression (`--where`).
    Expr,
}

/// A mutated input.
#[derive(Debug, Clone)]
pub struct Mutated {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// What was done, in order (for the report).
    pub ops: Vec<String>,
    /// Set when a mutation makes the input one that must be refused (the reason).
    pub must_refuse: Option<String>,
}

/// Inputs are kept under this size: bigger ones say nothing more and cost time.
pub const MAX_LEN: usize = 6 << 20;

/// Tokens that break parsers and messages, for every format.
const HOSTILE: &[&[u8]] = &[
    b"\0",
    b"\r",
    b"\r\n",
    b"\n",
    b"\"",
    b"'",
    b"\"\"",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xfe\xff",
    b"\x1b[31m",
    b"\x1b]0;title\x07",
    b"\x07",
    b"\x08",
    b"\x0c",
    b"\x7f",
    b"\t",
    "\u{85}".as_bytes(),
    "\u{2028}".as_bytes(),
    "\u{202e}".as_bytes(),
    "\u{200b}".as_bytes(),
    "e\u{301}".as_bytes(),
    "\u{1F642}".as_bytes(),
    "\u{FF11}".as_bytes(),
    "\u{0661}".as_bytes(),
    b",",
    b",,",
    b";",
    b" ",
    b"99999999999999999999999999999999",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"NaN",
    b"inf",
    b"-inf",
    b"-0",
    b"0x1F",
    b"1_000",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"4294967296",
    b".5",
    b"5.",
    b"+5",
    b"2018-02-29",
    b"2018-13-01",
    b"0000-01-01",
    b"+10000-01-01",
    b"true",
    b"null",
    b"~",
    b"'; DROP TABLE u_person; --",
    b"%s%n",
    b"${HOME}",
    b"../../etc/passwd",
];

/// Tokens for YAML.
const HOSTILE_YAML: &[&[u8]] = &[
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!binary ",
    b"!!str ",
    b"!x ",
    b"? ",
    b"- ",
    b"{",
    b"}",
    b"[",
    b"]",
    b": ",
    b"#",
    b"|",
    b">",
    b"%YAML 1.2\n---\n",
    b"\n---\n",
    b"\n...\n",
    b"@",
    b"`",
    b"&",
    b"*",
    b"!",
    b"\\",
    b"\"\\u0000\"",
    b"\"\\x1b\"",
    b"\"\\ud800\"",
    b"0o17",
    b".inf",
    b".nan",
    b"yes",
    b"Off",
];

/// Tokens for JSON.
const HOSTILE_JSON: &[&[u8]] = &[
    b"{", b"}", b"[", b"]", b":", b"\\", b"\\u0000", b"\\ud800", b"\\u001b", b"\\\"", b"{}", b"[]", b"1e999",
];

/// Tokens for expressions.
const HOSTILE_EXPR: &[&[u8]] = &[
    b"(",
    b")",
    b"((",
    b"))",
    b",",
    b".",
    b"==",
    b"=",
    b"!",
    b"!=",
    b"<",
    b"<=",
    b"and",
    b" and ",
    b" or ",
    b"not ",
    b"-",
    b"+",
    b"*",
    b"/",
    b"/ 0",
    b"%",
    b"^",
    b"'",
    b"\"",
    b"'\n'",
    b"if(",
    b"sum(",
    b"coalesce(",
    b"selected(",
    b"lookup(",
    b"is_missing(",
    b"count_selected(",
    b"prorated_sum(",
    b"unknown_fn(",
    b"\\",
    b"\\'",
];

fn hostile(rng: &mut Rng, fmt: Format) -> Vec<u8> {
    let extra: &[&[u8]] = match fmt {
        Format::Yaml => HOSTILE_YAML,
        Format::Jsonl => HOSTILE_JSON,
        Format::Expr => HOSTILE_EXPR,
        Format::Csv => &[],
    };
    if rng.chance(0.03) {
        return vec![b'A'; rng.log_size(1000, 100_000)];
    }
    let i = rng.below(HOSTILE.len() + extra.len());
    if i < HOSTILE.len() {
        HOSTILE[i].to_vec()
    } else {
        extra[i - HOSTILE.len()].to_vec()
    }
}

/// Operations of each format that a focused case starts with (indices into the format's own
/// operations): the ones that found defects (nesting, aliases, long expressions, repeated
/// items; keys twice, deep values, hostile values and keys; hostile cells, shuffled columns).
const FOCUS_YAML: &[usize] = &[0, 2, 3, 5];
const FOCUS_JSON: &[usize] = &[1, 2, 3, 6];
const FOCUS_CSV: &[usize] = &[4, 0];

/// Applies 0 to 4 mutations (mostly 1 or 2). With `focus`, the first is the focus-th of the
/// format's telling operations (cycling), so that every run, however short, has them.
pub fn mutate(rng: &mut Rng, base: &[u8], fmt: Format, focus: Option<usize>) -> Mutated {
    let mut m = Mutated {
        bytes: base.to_vec(),
        ops: Vec::new(),
        must_refuse: None,
    };
    if let Some(k) = focus {
        let op = match fmt {
            Format::Csv => csv_op(rng, &mut m.bytes, Some(FOCUS_CSV[k % FOCUS_CSV.len()])),
            Format::Jsonl => json_op(rng, &mut m, Some(FOCUS_JSON[k % FOCUS_JSON.len()])),
            Format::Yaml => yaml_op(rng, &mut m.bytes, Some((FOCUS_YAML[k % FOCUS_YAML.len()], k / FOCUS_YAML.len()))),
            Format::Expr => None,
        };
        if let Some(op) = op {
            if m.bytes.len() > MAX_LEN {
                m.bytes = base.to_vec();
            } else {
                m.ops.push(op);
            }
        }
    }
    let n = m.ops.len()
        + match rng.below(20) {
            0 => 0,
            1..=10 => 1,
            11..=16 => 2,
            17..=18 => 3,
            _ => 4,
        };
    let mut tries = 0;
    while m.ops.len() < n && tries < 20 {
        tries += 1;
        let before = m.bytes.clone();
        if let Some(op) = one(rng, &mut m, fmt) {
            if m.bytes.len() > MAX_LEN {
                m.bytes = before;
                continue;
            }
            m.ops.push(op);
        }
    }
    if m.ops.is_empty() {
        m.ops.push("unchanged".into());
    }
    m
}

fn one(rng: &mut Rng, m: &mut Mutated, fmt: Format) -> Option<String> {
    // generic operations are half of the picks; the other half know the format
    if rng.chance(0.5) {
        return generic(rng, &mut m.bytes, fmt);
    }
    match fmt {
        Format::Csv => csv_op(rng, &mut m.bytes, None),
        Format::Jsonl => json_op(rng, m, None),
        Format::Yaml => yaml_op(rng, &mut m.bytes, None),
        Format::Expr => None,
    }
}

/// A position just after a delimiter, where a token starts a new field or value.
fn boundary(rng: &mut Rng, b: &[u8]) -> usize {
    for _ in 0..8 {
        let i = rng.below(b.len() + 1);
        if i == 0 || matches!(b[i - 1], b',' | b':' | b'{' | b'[' | b'"' | b'\n' | b' ' | b'(') {
            return i;
        }
    }
    rng.below(b.len() + 1)
}

/// Byte ranges of the lines (each with its line end).
fn lines(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut s = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            out.push((s, i + 1));
            s = i + 1;
        }
    }
    if s < b.len() {
        out.push((s, b.len()));
    }
    out
}

/// Runs of identifier characters (letters, digits, `_`).
fn words(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphanumeric() || b[i] == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

fn generic(rng: &mut Rng, b: &mut Vec<u8>, fmt: Format) -> Option<String> {
    match rng.below(14) {
        0 if !b.is_empty() => {
            let i = rng.below(b.len());
            let bit = rng.below(8);
            b[i] ^= 1 << bit;
            Some(format!("flip bit {bit} of byte {i}"))
        }
        1 if !b.is_empty() => {
            let i = rng.below(b.len());
            let v = *rng.pick(&[0u8, 0x7f, 0x80, 0xff, b'"', b',', b'\n', b'\r', b':', b'{', b'-', b'?', b'&', b'*']);
            b[i] = v;
            Some(format!("set byte {i} to {v:#04x}"))
        }
        2..=4 => {
            let i = if rng.chance(0.7) { boundary(rng, b) } else { rng.below(b.len() + 1) };
            let t = hostile(rng, fmt);
            let desc = format!("insert {} at byte {i}", show(&t));
            b.splice(i..i, t);
            Some(desc)
        }
        5 => {
            let w = words(b);
            if w.is_empty() {
                return None;
            }
            let (s, e) = *rng.pick(&w);
            let t = hostile(rng, fmt);
            let desc = format!("replace {} at byte {s} with {}", show(&b[s..e]), show(&t));
            b.splice(s..e, t);
            Some(desc)
        }
        6 if !b.is_empty() => {
            let i = rng.below(b.len());
            b.truncate(i);
            Some(format!("truncate at byte {i}"))
        }
        7 if !b.is_empty() => {
            let s = rng.below(b.len());
            let e = (s + rng.log_size(1, 200)).min(b.len());
            b.drain(s..e);
            Some(format!("delete bytes {s}..{e}"))
        }
        8 if !b.is_empty() => {
            let s = rng.below(b.len());
            let e = (s + rng.log_size(1, 400)).min(b.len());
            let chunk = b[s..e].to_vec();
            let at = rng.below(b.len() + 1);
            b.splice(at..at, chunk);
            Some(format!("copy bytes {s}..{e} to {at}"))
        }
        9 => {
            let w = words(b);
            if w.is_empty() {
                return None;
            }
            let (s, e) = *rng.pick(&w);
            let old = show(&b[s..e]);
            let i = rng.range(s, e - 1);
            match rng.below(3) {
                0 => {
                    b.remove(i);
                }
                1 => b.insert(i, b'a' + rng.below(26) as u8),
                _ => b[i] = b'a' + rng.below(26) as u8,
            }
            Some(format!("misspell {old} at byte {s}"))
        }
        10..=12 => line_op(rng, b),
        13 => {
            let what = rng.below(3);
            let mut out = Vec::with_capacity(b.len() + b.len() / 20);
            for &c in b.iter() {
                if c == b'\n' && (what == 2 || rng.chance(if what == 0 { 1.0 } else { 0.5 })) {
                    if what == 1 {
                        out.push(b'\r');
                    } else {
                        out.extend_from_slice(b"\r\n");
                    }
                } else {
                    out.push(c);
                }
            }
            *b = out;
            Some(["line ends LF -> CRLF", "line ends LF -> CR (half)", "line ends LF -> CRLF (all)"][what].into())
        }
        _ => None,
    }
}

fn line_op(rng: &mut Rng, b: &mut Vec<u8>) -> Option<String> {
    let ls = lines(b);
    if ls.is_empty() {
        return None;
    }
    let pick = |rng: &mut Rng| ls[rng.below(ls.len())];
    let with_end = |b: &[u8], (s, e): (usize, usize)| {
        let mut l = b[s..e].to_vec();
        if l.last() != Some(&b'\n') {
            l.push(b'\n');
        }
        l
    };
    match rng.below(5) {
        0 => {
            let l = pick(rng);
            let text = with_end(b, l);
            b.splice(l.1..l.1, text);
            Some(format!("duplicate line at byte {}", l.0))
        }
        1 => {
            let (a, c) = (pick(rng), pick(rng));
            if a == c {
                return None;
            }
            let (a, c) = if a.0 < c.0 { (a, c) } else { (c, a) };
            let mut out = b[..a.0].to_vec();
            out.extend(with_end(b, c));
            out.extend_from_slice(&b[a.1..c.0]);
            out.extend(with_end(b, a));
            out.extend_from_slice(&b[c.1..]);
            *b = out;
            Some(format!("swap lines at bytes {} and {}", a.0, c.0))
        }
        2 => {
            let l = pick(rng);
            b.drain(l.0..l.1);
            Some(format!("delete line at byte {}", l.0))
        }
        3 => {
            let l = pick(rng);
            let text = with_end(b, l);
            let k = rng.log_size(2, 20_000).min(MAX_LEN / text.len().max(1));
            let rep = text.repeat(k);
            b.splice(l.1..l.1, rep);
            Some(format!("repeat line at byte {} {k} times", l.0))
        }
        _ => {
            let l = pick(rng);
            let at = rng.range(l.0, l.1);
            b.insert(at, b'\n');
            Some(format!("split line at byte {at}"))
        }
    }
}

/// A printable sketch of some bytes for the report.
pub fn show(t: &[u8]) -> String {
    let s = String::from_utf8_lossy(&t[..t.len().min(40)]);
    let out: String = s.chars().flat_map(char::escape_debug).collect();
    if t.len() > 40 {
        format!("\"{out}\"...({} bytes)", t.len())
    } else {
        format!("\"{out}\"")
    }
}

// ---------------------------------------------------------------- CSV

fn csv_op(rng: &mut Rng, b: &mut Vec<u8>, force: Option<usize>) -> Option<String> {
    let crlf = b.windows(2).any(|w| w == b"\r\n");
    let mut rows: Vec<csv::ByteRecord> = Vec::new();
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&b[..]);
    for r in rdr.byte_records() {
        rows.push(r.ok()?);
    }
    if rows.is_empty() {
        return None;
    }
    let width = rows[0].len();
    let desc = match force.unwrap_or_else(|| rng.below(7)) {
        0 | 1 if width > 1 => {
            // a consistent shuffle (a good file stays good) or the header alone
            let header_only = rng.chance(0.3);
            let mut perm: Vec<usize> = (0..width).collect();
            for i in (1..width).rev() {
                perm.swap(i, rng.below(i + 1));
            }
            for (i, r) in rows.iter_mut().enumerate() {
                if header_only && i > 0 {
                    continue;
                }
                *r = perm.iter().map(|&j| r.get(j).unwrap_or(b"")).collect();
            }
            format!("shuffle columns{}", if header_only { " of the header only" } else { "" })
        }
        2 => {
            let j = rng.below(width);
            for r in rows.iter_mut() {
                *r = r.iter().enumerate().filter(|(i, _)| *i != j).map(|(_, f)| f).collect();
            }
            format!("drop column {}", j + 1)
        }
        3 => {
            let j = rng.below(width);
            for r in rows.iter_mut() {
                let mut f: Vec<&[u8]> = r.iter().collect();
                if j < f.len() {
                    f.insert(j, f[j]);
                }
                *r = f.into_iter().collect();
            }
            format!("duplicate column {}", j + 1)
        }
        _ => {
            // one cell (data rows mostly) gets a hostile value, properly quoted
            let i = if rows.len() > 1 && rng.chance(0.9) { rng.range(1, rows.len() - 1) } else { 0 };
            let n = rows[i].len();
            if n == 0 {
                return None;
            }
            // the first column (the record key in every fixture) a third of the time
            let j = if rng.chance(0.33) { 0 } else { rng.below(n) };
            let t = hostile(rng, Format::Csv);
            let mut v = if rng.chance(0.5) {
                rows[i].get(j).unwrap_or(b"").to_vec()
            } else {
                Vec::new()
            };
            let at = rng.below(v.len() + 1);
            v.splice(at..at, t.iter().copied());
            let desc = format!("cell row {} column {} := {}", i + 1, j + 1, show(&v));
            rows[i] = rows[i].iter().enumerate().map(|(k, f)| if k == j { &v[..] } else { f }).collect();
            desc
        }
    };
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
        .from_writer(Vec::new());
    for r in &rows {
        w.write_byte_record(r).ok()?;
    }
    *b = w.into_inner().ok()?;
    Some(desc)
}

// ---------------------------------------------------------------- JSON Lines

fn json_op(rng: &mut Rng, m: &mut Mutated, force: Option<usize>) -> Option<String> {
    let b = &mut m.bytes;
    let ls = lines(b);
    let objs: Vec<(usize, usize)> = ls
        .iter()
        .copied()
        .filter(|&(s, e)| serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&b[s..e]).is_ok())
        .collect();
    if objs.is_empty() {
        return None;
    }
    let (s, e) = *rng.pick(&objs);
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&b[s..e]).ok()?;
    let keys: Vec<&String> = obj.keys().collect();
    if keys.is_empty() {
        return None;
    }
    // the record keys (household_id, person_id in every fixture) a third of the time
    let ids: Vec<&String> = keys.iter().copied().filter(|k| k.ends_with("_id")).collect();
    let key = if !ids.is_empty() && rng.chance(0.33) {
        (*rng.pick(&ids)).clone()
    } else {
        (*rng.pick(&keys)).clone()
    };
    let end = if b[s..e].ends_with(b"\r\n") { "\r\n" } else { "\n" };
    let render = |o: &serde_json::Map<String, serde_json::Value>, raw: Option<(&str, &str)>| -> Vec<u8> {
        // raw values (deep nesting, huge numbers) are spliced in as text
        let mut t = String::from("{");
        let mut first = true;
        if let Some((k, v)) = raw {
            t.push_str(&format!("{}: {v}", serde_json::to_string(k).unwrap()));
            first = false;
        }
        for (k, v) in o {
            if raw.is_some_and(|(rk, _)| rk == k) {
                continue;
            }
            if !first {
                t.push_str(", ");
            }
            first = false;
            t.push_str(&format!("{}: {}", serde_json::to_string(k).unwrap(), v));
        }
        t.push('}');
        t.push_str(end);
        t.into_bytes()
    };
    let (new, desc) = match force.unwrap_or_else(|| rng.below(8)) {
        0 => {
            let mut o = obj.clone();
            o.remove(&key);
            (render(&o, None), format!("remove key {key:?}"))
        }
        1 => {
            // the same key twice with a different value: must be refused
            let old = obj[&key].clone();
            let other = match &old {
                serde_json::Value::Number(n) if n.as_i64().is_some() => serde_json::json!(n.as_i64().unwrap().wrapping_add(1)),
                serde_json::Value::String(s) => serde_json::json!(format!("{s}x")),
                serde_json::Value::Bool(v) => serde_json::json!(!v),
                serde_json::Value::Null => serde_json::json!(1),
                _ => serde_json::json!("other"),
            };
            let mut t = render(&obj, None);
            let ins = format!("{}: {}, ", serde_json::to_string(&key).unwrap(), other);
            t.splice(1..1, ins.into_bytes());
            if other != old {
                m.must_refuse = Some(format!("key {key:?} twice in one object with different values"));
            }
            (t, format!("key {key:?} twice ({other} then {old})"))
        }
        2 => {
            let depth = rng.log_size(10, 200_000);
            let (open, close) = if rng.chance(0.5) { ("[", "]") } else { ("{\"a\":", "}") };
            let v = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            (render(&obj, Some((&key, &v))), format!("{key:?} := nesting {depth} deep"))
        }
        3 => {
            let v = *rng.pick(&[
                "1e400",
                "-1e400",
                "99999999999999999999999999999",
                "18446744073709551616",
                "-9223372036854775809",
                "1.0000000000000000000000001",
                "-0",
                "0.5",
                "true",
                "null",
                "[]",
                "{}",
                "[1, 2]",
                "[\"walk\", \"walk\"]",
                "\"\"",
                "\" \"",
                "\"\\u0000\"",
                "\"\\ud800\"",
                "\"a\\u0000b\"",
                "\"\\u001b[31mred\"",
                "\"line\\nbreak\"",
                "\"cr\\rhere\"",
                "\"\\u2028\"",
                "\"\\u202e\"",
                "\"2018-02-30\"",
                "\"1\"",
                "\"1.5\"",
                "\"yes\"",
            ]);
            (render(&obj, Some((&key, v))), format!("{key:?} := {v}"))
        }
        4 => {
            let mut o = obj.clone();
            o.insert(format!("{key}_x"), serde_json::json!(1));
            (render(&o, None), format!("add unknown key {key}_x"))
        }
        5 => {
            let v = *rng.pick(&["[1,2]", "1", "\"x\"", "null", "true", "{}", "[]", "{\"a\"", ""]);
            (format!("{v}{end}").into_bytes(), format!("line := {v}"))
        }
        6 => {
            // a key with hostile characters in its name
            let mut o = obj.clone();
            let bad = rng
                .pick(&["age\u{0}", "\u{1b}[2Jage", "a\nb", "", " ", "\u{feff}household_id", "a\"b"])
                .to_string();
            o.insert(bad.clone(), serde_json::json!(1));
            (render(&o, None), format!("add key {bad:?}"))
        }
        _ => {
            let t = format!("\u{feff}{}", String::from_utf8_lossy(&b[s..e]));
            (t.into_bytes(), "BOM at line start".into())
        }
    };
    b.splice(s..e, new);
    Some(format!("line at byte {s}: {desc}"))
}

// ---------------------------------------------------------------- YAML

/// Keys whose values are expressions.
const EXPR_KEYS: &[&str] = &["expr: ", "relevant: ", "constraint: ", "required: "];

/// One YAML operation; `force` picks it, with a variant that the growing operations take
/// to pick their form and a large size.
fn yaml_op(rng: &mut Rng, b: &mut Vec<u8>, force: Option<(usize, usize)>) -> Option<String> {
    let variant = force.map(|f| f.1);
    match force.map_or_else(|| rng.below(9), |f| f.0) {
        0 | 1 => yaml_nesting(rng, b, variant),
        2 => yaml_aliases(rng, b, variant),
        3 | 4 => yaml_expr(rng, b, variant),
        5 => yaml_repeat_item(rng, b, variant),
        6 => {
            // a key line repeated: duplicate keys
            let ls = lines(b);
            let keyed: Vec<(usize, usize)> = ls
                .into_iter()
                .filter(|&(s, e)| {
                    let l = &b[s..e];
                    let t = l.iter().skip_while(|c| **c == b' ').collect::<Vec<_>>();
                    !t.is_empty() && t[0] != &b'#' && t[0] != &b'-' && l.windows(2).any(|w| w == b": ")
                })
                .collect();
            if keyed.is_empty() {
                return None;
            }
            let (s, e) = *rng.pick(&keyed);
            let line = b[s..e].to_vec();
            b.splice(e..e, line);
            Some(format!("duplicate key line at byte {s}"))
        }
        7 => {
            let tag = *rng.pick(&["!!binary ", "!!str ", "!!int ", "!!float ", "!!map ", "!!seq ", "!custom ", "!<tag:x> "]);
            let at = value_start(rng, b)?;
            b.splice(at..at, tag.bytes());
            Some(format!("tag {tag:?} at byte {at}"))
        }
        _ => {
            let at = value_start(rng, b)?;
            let t = match rng.below(4) {
                0 => format!("\"{}\"", "x".repeat(rng.log_size(1000, 1_000_000))),
                1 => "|\n  multi\n  line".into(),
                2 => "\"tab\\there\\u0000nul\\u001b[31m\"".into(),
                _ => "\"\\ud800\"".into(),
            };
            // the old value goes: it ends at the line end or flow delimiter
            let end = b[at..].iter().position(|c| matches!(c, b'\n' | b',' | b'}' | b']')).map_or(b.len(), |p| at + p);
            b.splice(at..end, t.bytes());
            Some(format!("value at byte {at} := {}", show(t.as_bytes())))
        }
    }
}

/// The start of a scalar value (`key: VALUE`).
fn value_start(rng: &mut Rng, b: &[u8]) -> Option<usize> {
    let at: Vec<usize> = b.windows(2).enumerate().filter(|(_, w)| *w == b": ").map(|(i, _)| i + 2).collect();
    if at.is_empty() {
        None
    } else {
        Some(*rng.pick(&at))
    }
}

fn yaml_nesting(rng: &mut Rng, b: &mut Vec<u8>, variant: Option<usize>) -> Option<String> {
    let n = if variant.is_some() {
        rng.log_size(2_000, 30_000)
    } else {
        rng.log_size(10, 30_000)
    };
    let form = variant.map_or_else(|| rng.below(7), |v| v % 7);
    let n = if form == 5 { n.min(1500) } else { n };
    let (text, what) = match form {
        0 => (format!("{}1\n", "? ".repeat(n)), "'? ' block keys"),
        1 => (format!("x:\n{}1\n", "- ".repeat(n)), "'- ' block sequences"),
        2 => (format!("x: {}1{}\n", "[".repeat(n), "]".repeat(n)), "flow sequences"),
        3 => (format!("x: {}1{}\n", "{a: ".repeat(n), "}".repeat(n)), "flow maps"),
        4 => (format!("x: {}\n", "[".repeat(n)), "unclosed flow sequences"),
        5 => {
            let mut t = String::new();
            for i in 0..n {
                t.push_str(&" ".repeat(i));
                t.push_str("a:\n");
            }
            t.push_str(&" ".repeat(n));
            t.push_str("1\n");
            (t, "indented block maps")
        }
        _ => (format!("x: {}1\n", "- ".repeat(n)), "inline '- ' sequences"),
    };
    // at the top level (an unknown key, but the parser sees it first), where block nesting
    // must be (it starts lines), or as a value inside a unit
    if variant.is_some() || matches!(form, 0 | 1 | 5) || rng.chance(0.5) {
        if b.last().is_some_and(|c| *c != b'\n') {
            b.push(b'\n');
        }
        b.extend_from_slice(text.as_bytes());
        Some(format!("append {what} nested {n} deep"))
    } else {
        let at = value_start(rng, b)?;
        let end = b[at..].iter().position(|c| *c == b'\n').map_or(b.len(), |p| at + p);
        let inner = text.trim_start_matches("x:").trim_start_matches(' ').trim_end().to_string();
        b.splice(at..end, inner.bytes());
        Some(format!("value at byte {at} := {what} nested {n} deep"))
    }
}

fn yaml_aliases(rng: &mut Rng, b: &mut Vec<u8>, variant: Option<usize>) -> Option<String> {
    if variant.is_some() || rng.chance(0.6) {
        // "billion laughs": each level refers to the one before `fan` times
        let fan = *rng.pick(&[2usize, 3, 9]);
        let levels = match fan {
            2 => rng.range(3, 34),
            3 => rng.range(3, 22),
            _ => rng.range(2, 11),
        };
        let mut t = String::from("l0: &l0 [\"lol\", \"lol\"]\n");
        for i in 1..levels {
            let refs = vec![format!("*l{}", i - 1); fan].join(", ");
            t.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        let at = if rng.chance(0.5) { 0 } else { b.len() };
        if at == b.len() && !b.is_empty() && b.last() != Some(&b'\n') {
            b.push(b'\n');
        }
        let at = at.min(b.len());
        b.splice(at..at, t.into_bytes());
        Some(format!("alias expansion: {levels} levels of fan-out {fan}"))
    } else {
        // an anchor on one value and an alias to it in another place
        let at = value_start(rng, b)?;
        b.splice(at..at, b"&fz ".iter().copied());
        let other = value_start(rng, b)?;
        let end = b[other..].iter().position(|c| matches!(c, b'\n' | b',' | b'}')).map_or(b.len(), |p| other + p);
        if other <= at + 4 && end >= at {
            return None;
        }
        b.splice(other..end, b"*fz".iter().copied());
        Some(format!("anchor at byte {at}, alias at byte {other}"))
    }
}

/// Chains and nesting of an expression, from atoms. Shared with the `--where` generator.
pub fn long_expr(rng: &mut Rng, num: &str, boolean: &str, n: usize, variant: Option<usize>) -> (String, String) {
    match variant.map_or_else(|| rng.below(11), |v| v % 11) {
        0 => (vec![num; n].join(" + "), format!("{n} '+' terms")),
        1 => (vec![num; n].join(" * "), format!("{n} '*' terms")),
        2 => (vec![num; n].join(" - "), format!("{n} '-' terms")),
        3 => (vec![boolean; n].join(" and "), format!("{n} 'and' terms")),
        4 => (vec![boolean; n].join(" or "), format!("{n} 'or' terms")),
        5 => (format!("{}{num}{} > 0", "(".repeat(n), ")".repeat(n)), format!("{n} nested parentheses")),
        6 => (format!("{}{boolean}", "not ".repeat(n)), format!("{n} 'not'")),
        7 => (format!("{}{num} > 0", "-".repeat(n)), format!("{n} unary minus")),
        8 => (format!("sum({}) > 0", vec![num; n].join(", ")), format!("sum() of {n} arguments")),
        9 => (format!("{}{num}{} > 0", "if(true, ".repeat(n), ", 0)".repeat(n)), format!("{n} nested if()")),
        _ => (
            format!("{}{num}{} > 0", "coalesce(".repeat(n), ", 1)".repeat(n)),
            format!("{n} nested coalesce()"),
        ),
    }
}

fn yaml_expr(rng: &mut Rng, b: &mut Vec<u8>, variant: Option<usize>) -> Option<String> {
    let mut spots = Vec::new();
    for k in EXPR_KEYS {
        let k = k.as_bytes();
        spots.extend(b.windows(k.len()).enumerate().filter(|(_, w)| *w == k).map(|(i, _)| i + k.len()));
    }
    if spots.is_empty() {
        return None;
    }
    let at = *rng.pick(&spots);
    // the old value: quoted, or up to the line end or flow delimiter
    let end = match b.get(at) {
        Some(&q @ (b'"' | b'\'')) => b[at + 1..].iter().position(|c| *c == q).map_or(b.len(), |p| at + p + 2),
        _ => b[at..].iter().position(|c| matches!(c, b'\n' | b',' | b'}')).map_or(b.len(), |p| at + p),
    };
    let old = String::from_utf8_lossy(&b[at..end]).to_string();
    let ident = old
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && !matches!(*w, "and" | "or" | "not" | "if" | "true" | "false"))
        .unwrap_or("1")
        .to_string();
    let n = if variant.is_some() {
        rng.log_size(2_000, 30_000)
    } else {
        rng.log_size(10, 30_000)
    };
    let (e, desc) = long_expr(rng, &ident, &format!("{ident} > 0"), n, variant);
    b.splice(at..end, format!("\"{e}\"").into_bytes());
    Some(format!("expression at byte {at} := {desc}"))
}

fn yaml_repeat_item(rng: &mut Rng, b: &mut Vec<u8>, variant: Option<usize>) -> Option<String> {
    let ls = lines(b);
    let indent = |l: &[u8]| l.iter().take_while(|c| **c == b' ').count();
    let items: Vec<usize> = (0..ls.len())
        .filter(|&i| {
            let l = &b[ls[i].0..ls[i].1];
            let t = &l[indent(l)..];
            t.starts_with(b"- id: ") || t.starts_with(b"- {id: ")
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    let first = *rng.pick(&items);
    let ind = indent(&b[ls[first].0..ls[first].1]);
    let mut last = first + 1;
    while last < ls.len() {
        let l = &b[ls[last].0..ls[last].1];
        let blank = l.iter().all(|c| c.is_ascii_whitespace()) || l[indent(l)..].starts_with(b"#");
        if !blank && indent(l) <= ind {
            break;
        }
        last += 1;
    }
    let (s, e) = (ls[first].0, ls[last - 1].1);
    let block = String::from_utf8_lossy(&b[s..e]).to_string();
    let id_at = block.find("id: ")? + 4;
    let id_len = block[id_at..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(block.len() - id_at);
    let id = block[id_at..id_at + id_len].to_string();
    // each copy may also refer to a near miss of its own id (an unknown name: "did you mean");
    // a focused case has more items than a unit may have columns, or a thousand near misses
    let near_miss = variant.map_or_else(|| rng.chance(0.4), |v| v % 4 == 1);
    let k = match variant {
        Some(_) if near_miss => rng.log_size(100, 1_500),
        Some(_) => rng.log_size(2_000, 25_000),
        None => rng.log_size(2, 25_000),
    };
    let k = k.min(MAX_LEN / (block.len() + 40));
    let flow = block[..id_at].trim_start().starts_with("- {");
    let mut t = String::with_capacity((block.len() + 40) * k);
    for n in 0..k {
        t.push_str(&block[..id_at]);
        t.push_str(&format!("{id}_{n}"));
        if near_miss {
            if flow {
                t.push_str(&format!(", relevant: \"{id}_{n}q > 0\""));
            } else {
                t.push_str(&format!("\n{}relevant: \"{id}_{n}q > 0\"", " ".repeat(ind + 2)));
            }
        }
        t.push_str(&block[id_at + id_len..]);
    }
    b.splice(e..e, t.into_bytes());
    Some(format!(
        "item '{id}' repeated {k} times with new ids{}",
        if near_miss { ", each referring to an unknown near miss" } else { "" }
    ))
}
