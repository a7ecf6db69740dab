//! Showing user text in messages: values, keys and names read from files or typed by a user
//! are echoed in problems, and must neither break a problem over several lines nor send
//! control bytes (escape sequences, NUL, carriage returns) to a terminal.
//!
//! Owns only the escaping rule, applied where a problem is formatted (import and definition
//! problems) and once more where the binary prints an error. Depends on nothing else here.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as is: C0 and C1 control characters, DEL, and the
/// Unicode controls that reorder the text shown around them (bidirectional overrides and
/// isolates).
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as an escape: `\n`, `\r`, `\t`, or `\u{1b}` for
/// the others (NUL is `\u{0}`, which a digit after it cannot misread). A backslash is left
/// as it is (paths keep their look): the escaped form is for reading, not for parsing back.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_but(s, None)
}

/// As [`escape`], keeping line feeds: for text made of several lines, each already escaped
/// where it echoes a value (a list of problems, one per line).
pub fn escape_keeping_lines(s: &str) -> Cow<'_, str> {
    escape_but(s, Some('\n'))
}

fn escape_but(s: &str, keep: Option<char>) -> Cow<'_, str> {
    let unsafe_char = |c: char| is_unsafe(c) && Some(c) != keep;
    let Some(first) = s.find(unsafe_char) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(escape("café, \"quoted\" C:\\data"), Cow::Borrowed("café, \"quoted\" C:\\data")));
    }

    #[test]
    fn controls_are_escaped_on_one_line() {
        assert_eq!(
            escape("a\nb\r\nc\td\u{0}1e\u{1b}[31mf\u{7f}\u{85}"),
            "a\\nb\\r\\nc\\td\\u{0}1e\\u{1b}[31mf\\u{7f}\\u{85}"
        );
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert!(!escape("x\n\u{0}\u{1}\u{9b}y").chars().any(is_unsafe));
    }

    /// Found by the fuzz test: U+2028 and U+2029 are line breaks to some terminals and editors.
    #[test]
    fn r15_unicode_line_and_paragraph_separators_are_escaped() {
        assert_eq!(escape("a\u{2028}b\u{2029}c"), "a\\u{2028}b\\u{2029}c");
    }

    #[test]
    fn line_feeds_kept_when_asked() {
        assert_eq!(escape_keeping_lines("one\u{7}\ntwo\r"), "one\\u{7}\ntwo\\r");
    }
}
