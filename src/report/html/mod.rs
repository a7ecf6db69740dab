//! The survey report as one self-contained HTML file: inline CSS and SVG, nothing fetched,
//! no script.
//!
//! Owns the page: its head and style (`style.css`, inlined; screen, phone and print), the
//! survey section (waves, records, design), one section per outcome ([`outcome`]: the
//! deprivation gradient chart with the fitted SII line, the inequality summary in numbers and
//! words, the demographic breakdowns, the waves compared, the ward table) and the methods
//! section ([`methods`]). Every table goes through the one table model ([`super::table`]),
//! every chart through [`super::chart`]. Must not estimate, read the store or decide what is
//! suppressed: a [`Bundle`] arrives with its cells blanked, and a blank cell is shown as
//! suppressed with the rule in a footnote, never as a number.

pub mod methods;
pub mod outcome;

use std::fmt::Write as _;
use std::io::Write;

use super::table::{esc, Table};
use super::ReportError;
use crate::analysis::bundle::Bundle;

/// The page's style sheet.
const STYLE: &str = include_str!("style.css");

/// What the page says about how it was made, beyond the bundle.
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// The report's title (default: the survey's title).
    pub title: Option<String>,
    /// The weight set used, when one was named (default: the design weight).
    pub weights: Option<String>,
    /// The program and version that wrote the page (`hearth 0.1.0`).
    pub generator: String,
}

/// Renders the report of `b` to `out`.
pub fn render(b: &Bundle, opts: &PageOptions, mut out: impl Write) -> Result<(), ReportError> {
    out.write_all(page(b, opts).as_bytes())?;
    Ok(out.flush()?)
}

/// The whole page as text.
pub fn page(b: &Bundle, opts: &PageOptions) -> String {
    let title = opts.title.clone().unwrap_or_else(|| b.title.clone());
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"generator\" content=\"{}\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n",
        esc(&opts.generator),
        esc(&title)
    );
    let named = if opts.title.is_some() {
        format!("{}: ", esc(&b.title))
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "<header><h1>{}</h1><p class=\"sub\">{named}survey <code>{}</code>, definition version {}; wave {} analysed{}</p></header>",
        esc(&title),
        esc(&b.survey),
        b.version,
        b.latest,
        if b.waves.len() > 1 {
            format!(", compared with wave {}", b.waves[0].wave)
        } else {
            String::new()
        }
    );
    if !b.suppressed {
        o.push_str(
            "<p class=\"warn\" role=\"alert\"><strong>Disclosure control is off:</strong> small cells are shown. \
             Do not publish this report as it is.</p>\n",
        );
    }
    contents(b, &mut o);
    survey(b, opts, &mut o);
    for (i, ob) in b.outcomes.iter().enumerate() {
        outcome::section(b, ob, i, &mut o);
    }
    methods::section(b, opts, &mut o);
    let _ = write!(
        o,
        "<footer><p>Made by {} from the survey store; no data leaves this file.</p></footer>\n</body></html>\n",
        esc(&opts.generator)
    );
    o
}

/// The table of contents.
fn contents(b: &Bundle, o: &mut String) {
    o.push_str("<nav aria-label=\"Contents\"><h2>Contents</h2><ol><li><a href=\"#survey\">The survey</a></li>");
    for (i, ob) in b.outcomes.iter().enumerate() {
        let _ = write!(o, "<li><a href=\"#{}\">{}</a></li>", outcome::anchor(ob, i), esc(&ob.label));
    }
    o.push_str("<li><a href=\"#methods\">Methods</a></li></ol></nav>\n");
}

/// The survey: what it is, its waves and records, its design, its outcomes.
fn survey(b: &Bundle, opts: &PageOptions, o: &mut String) {
    o.push_str("<section id=\"survey\"><h2>The survey</h2>");
    if let Some(d) = &b.description {
        let _ = write!(o, "<p>{}</p>", esc(d));
    }
    let units: Vec<String> = b.waves.first().map(|w| w.records.iter().map(|(u, _)| u.clone()).collect()).unwrap_or_default();
    let mut head: Vec<String> = vec!["wave".into()];
    head.extend(units.iter().map(|u| format!("{u} records")));
    let heads: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = Table::new(&heads, &[]);
    t.caption = Some("Records in the store by wave".into());
    for w in &b.waves {
        let mut line = vec![format!("{}{}", w.wave, if w.wave == b.latest { " (analysed)" } else { "" })];
        line.extend(w.records.iter().map(|(_, n)| n.to_string()));
        t.body.push(line);
    }
    t.html(o);
    let _ = write!(
        o,
        "<p>Estimates are for the survey's {} records, weighted by {}, with design-based {:.0}% confidence intervals \
         ({}). Details are under <a href=\"#methods\">Methods</a>.</p>",
        esc(&b.unit),
        esc(&methods::weighting(b, opts)),
        b.level * 100.0,
        esc(&methods::design_words(b))
    );
    let list: Vec<String> = b
        .outcomes
        .iter()
        .map(|ob| format!("{} (<code>{}</code>)", esc(&ob.label), esc(&ob.id)))
        .collect();
    let _ = write!(o, "<p>Outcomes: {}.</p>", list.join("; "));
    for n in &b.notes {
        let _ = write!(o, "<p class=\"note\">Note: {}.</p>", esc(n));
    }
    o.push_str("</section>\n");
}
