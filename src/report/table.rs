//! The one table model behind every table for people: terminal, Markdown and HTML.
//!
//! Owns [`Table`] (a header, aligned columns, body cells as text, an optional caption and
//! notes) and its three renderings, and the cell formats every table shares: estimates
//! to a number of decimals or as percentages ([`Scale`]), intervals as "low to high",
//! suppressed cells as `..` and blanks as `-`. `hearth analyze --format table|markdown` and
//! `hearth report` both build their tables here, so a cell reads the same in all of them.
//! Must not estimate or decide what is suppressed: a cell is blank because its row says so.

use std::fmt::Write as _;
use std::io::Write;

use crate::analysis::Row;

/// The text of a suppressed cell.
pub const SUPPRESSED: &str = "..";

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text, left-aligned.
    Left,
    /// Numbers, right-aligned.
    Right,
}

/// How estimates are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// As they are, with this many decimals.
    Plain(usize),
    /// A proportion as a percentage with one decimal ("47.7%").
    Percent,
}

impl Scale {
    /// Decimals for a set of estimates: 3 below 2, 2 below 1000, else 0 (as `analyze` prints).
    pub fn for_values(values: impl Iterator<Item = f64>) -> Scale {
        let max = values.fold(0.0f64, |m, x| m.max(x.abs()));
        Scale::Plain(if max < 2.0 {
            3
        } else if max < 1000.0 {
            2
        } else {
            0
        })
    }

    /// One value written in this scale.
    pub fn fmt(self, x: f64) -> String {
        match self {
            Scale::Plain(d) => format!("{x:.d$}"),
            Scale::Percent => format!("{:.1}%", x * 100.0),
        }
    }

    /// An interval written in this scale.
    pub fn interval(self, l: f64, h: f64) -> String {
        match self {
            Scale::Plain(_) => format!("{} to {}", self.fmt(l), self.fmt(h)),
            Scale::Percent => format!("{:.1} to {:.1}%", l * 100.0, h * 100.0),
        }
    }
}

/// An estimate's cell: the number, `..` when suppressed, `-` when there is none.
pub fn value_cell(v: Option<f64>, suppressed: bool, scale: Scale) -> String {
    match v {
        Some(x) => scale.fmt(x),
        None if suppressed => SUPPRESSED.into(),
        None => "-".into(),
    }
}

/// An interval's cell (`not_estimable`: shown as `n/e` when there is no interval).
pub fn interval_cell(l: Option<f64>, h: Option<f64>, suppressed: bool, not_estimable: bool, scale: Scale) -> String {
    match (l, h) {
        (Some(l), Some(h)) => scale.interval(l, h),
        _ if suppressed => SUPPRESSED.into(),
        _ if not_estimable => "n/e".into(),
        _ => "-".into(),
    }
}

/// A table for people.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// What the table shows (HTML caption).
    pub caption: Option<String>,
    /// Column headings.
    pub head: Vec<String>,
    /// Alignment per column.
    pub align: Vec<Align>,
    /// Rows of cells, as many as `head`.
    pub body: Vec<Vec<String>>,
    /// Notes (HTML: below the table; the text renderings leave them to their caller).
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table with these headings; the first is left-aligned, the others are
    /// numbers unless named in `text_columns`.
    pub fn new(head: &[&str], text_columns: &[usize]) -> Table {
        Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            align: (0..head.len())
                .map(|i| if i == 0 || text_columns.contains(&i) { Align::Left } else { Align::Right })
                .collect(),
            ..Table::default()
        }
    }

    /// Whether any cell is suppressed.
    pub fn has_suppressed(&self) -> bool {
        self.body.iter().flatten().any(|c| c == SUPPRESSED)
    }

    /// The grid as aligned text: headings, a rule, the rows.
    pub fn aligned(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut width: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for l in &self.body {
            for (i, c) in l.iter().enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let pad = " ".repeat(width[i] - c.chars().count());
                    if self.right(i, c) {
                        format!("{pad}{c}")
                    } else {
                        format!("{c}{pad}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        writeln!(out, "{}", line(&self.head))?;
        writeln!(out, "{}", width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "))?;
        for l in &self.body {
            writeln!(out, "{}", line(l))?;
        }
        Ok(())
    }

    /// Whether a cell is set to the right: a number column's cell that starts like a number.
    fn right(&self, i: usize, c: &str) -> bool {
        self.align.get(i) == Some(&Align::Right) && c.chars().next().is_some_and(|ch| ch.is_ascii_digit() || ch == '-' || ch == '.')
    }

    /// The grid as a Markdown table (`|` in cells escaped).
    pub fn markdown(&self, out: &mut impl Write) -> std::io::Result<()> {
        let esc = |c: &String| c.replace('|', "\\|");
        writeln!(out, "| {} |", self.head.iter().map(esc).collect::<Vec<_>>().join(" | "))?;
        writeln!(out, "|{}|", self.head.iter().map(|_| "---").collect::<Vec<_>>().join("|"))?;
        for l in &self.body {
            writeln!(out, "| {} |", l.iter().map(esc).collect::<Vec<_>>().join(" | "))?;
        }
        Ok(())
    }

    /// The table as HTML: caption, headings, rows (the first cell of each a row heading),
    /// suppressed cells marked, notes below it. Text is escaped.
    pub fn html(&self, out: &mut String) {
        out.push_str("<div class=\"tbl\"><table>");
        if let Some(c) = &self.caption {
            let _ = write!(out, "<caption>{}</caption>", esc(c));
        }
        out.push_str("<thead><tr>");
        for (i, h) in self.head.iter().enumerate() {
            let _ = write!(out, "<th scope=\"col\"{}>{}</th>", self.class(i), esc(h));
        }
        out.push_str("</tr></thead><tbody>");
        for l in &self.body {
            out.push_str("<tr>");
            for (i, c) in l.iter().enumerate() {
                let tag = if i == 0 { "th scope=\"row\"" } else { "td" };
                let end = if i == 0 { "th" } else { "td" };
                if c == SUPPRESSED {
                    let _ = write!(out, "<{tag}{}><span class=\"supp\" title=\"suppressed\">..</span></{end}>", self.class(i));
                } else {
                    let _ = write!(out, "<{tag}{}>{}</{end}>", self.class(i), esc(c));
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        for n in &self.notes {
            let _ = write!(out, "<p class=\"tnote\">{}</p>", esc(n));
        }
        out.push_str("</div>\n");
    }

    fn class(&self, i: usize) -> &'static str {
        if self.align.get(i) == Some(&Align::Right) {
            " class=\"num\""
        } else {
            ""
        }
    }

    /// A table of groups, one row each: the group's label, the estimate, its interval, the
    /// unweighted base and the row's flags. `first` heads the label column. An interval of
    /// width 0 for want of degrees of freedom (one PSU) is `n/e`.
    pub fn of_groups<'a>(first: &str, groups: impl IntoIterator<Item = (&'a str, &'a Row)>, scale: Scale) -> Table {
        let groups: Vec<(&str, &Row)> = groups.into_iter().collect();
        let level = groups.first().map(|(_, r)| r.level).unwrap_or(0.95);
        let ci = format!("{:.0}% CI", level * 100.0);
        let mut t = Table::new(&[first, "estimate", &ci, "n", "flags"], &[4]);
        for (label, r) in groups {
            use crate::analysis::Flag;
            let zero_width = r.flags.contains(&Flag::NoDegreesOfFreedom) && r.se == Some(0.0);
            let ne = !r.suppressed && (zero_width || r.flags.contains(&Flag::SeNotEstimable));
            t.body.push(vec![
                label.to_string(),
                value_cell(r.estimate, r.suppressed, scale),
                if ne {
                    "n/e".into()
                } else {
                    interval_cell(r.ci_low, r.ci_high, r.suppressed, false, scale)
                },
                r.n.to_string(),
                r.flags.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "),
            ]);
        }
        t
    }
}

/// Text escaped for HTML (element content and attribute values).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(&["group", "estimate", "note"], &[2]);
        t.body.push(vec!["a<b".into(), "1.50".into(), "x|y".into()]);
        t.body.push(vec!["c".into(), SUPPRESSED.into(), String::new()]);
        t.caption = Some("Caption & co".into());
        t.notes.push("`..` = suppressed".into());
        t
    }

    #[test]
    fn one_model_three_renderings() {
        let t = table();
        let mut a = Vec::new();
        t.aligned(&mut a).unwrap();
        assert_eq!(
            String::from_utf8(a).unwrap(),
            "group  estimate  note\n-----  --------  ----\na<b        1.50  x|y\nc            ..\n"
        );
        let mut m = Vec::new();
        t.markdown(&mut m).unwrap();
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "| group | estimate | note |\n|---|---|---|\n| a<b | 1.50 | x\\|y |\n| c | .. |  |\n"
        );
        let mut h = String::new();
        t.html(&mut h);
        assert!(h.contains("<caption>Caption &amp; co</caption>"), "{h}");
        assert!(h.contains("<th scope=\"row\">a&lt;b</th><td class=\"num\">1.50</td><td>x|y</td>"), "{h}");
        assert!(h.contains("<span class=\"supp\" title=\"suppressed\">..</span>"), "{h}");
        assert!(h.ends_with("</tbody></table><p class=\"tnote\">`..` = suppressed</p></div>\n"), "{h}");
        assert!(t.has_suppressed());
    }

    #[test]
    fn scales_write_numbers_and_intervals() {
        assert_eq!(Scale::Percent.fmt(0.4771), "47.7%");
        assert_eq!(Scale::Percent.interval(0.358, 0.599), "35.8 to 59.9%");
        assert_eq!(Scale::Plain(2).interval(19.09, 20.651), "19.09 to 20.65");
        assert_eq!(Scale::for_values([0.5, -1.2].into_iter()), Scale::Plain(3));
        assert_eq!(Scale::for_values([25.0].into_iter()), Scale::Plain(2));
        assert_eq!(value_cell(None, true, Scale::Percent), "..");
        assert_eq!(interval_cell(None, None, false, true, Scale::Percent), "n/e");
    }
}
