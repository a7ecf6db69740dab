//! Formatting results: terminal tables, CSV, JSON and Markdown. Computes nothing.
//!
//! Owns the presentation of analysis rows in the shapes of SPEC.md ("Analysis output"):
//! JSON is the contract; CSV has the same rows flat with one column per breakdown variable;
//! the table and Markdown are for people, with suppressed cells shown as `..`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::analysis::{Analysis, Row, SE_NOT_ESTIMABLE};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text for a terminal.
    Table,
    /// Comma-separated values.
    Csv,
    /// The JSON object of SPEC.md.
    Json,
    /// A Markdown table.
    Markdown,
}

impl Format {
    /// Parses a format name.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "markdown" | "md" => Format::Markdown,
            _ => return None,
        })
    }
}

/// Renders an analysis.
pub fn render(a: &Analysis, f: Format) -> String {
    match f {
        Format::Json => serde_json::to_string_pretty(a).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n",
        Format::Csv => csv_text(a),
        Format::Table => table(a, false),
        Format::Markdown => table(a, true),
    }
}

fn by_columns(rows: &[Row]) -> Vec<String> {
    let mut seen = Vec::new();
    let mut set = BTreeSet::new();
    for r in rows {
        for k in r.by.keys() {
            if set.insert(k.clone()) {
                seen.push(k.clone());
            }
        }
    }
    seen
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

fn csv_text(a: &Analysis) -> String {
    let byc = by_columns(&a.rows);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head: Vec<String> = vec!["outcome".into(), "statistic".into()];
    head.extend(byc.iter().cloned());
    head.extend(
        [
            "category",
            "quantile",
            "estimate",
            "se",
            "ci_low",
            "ci_high",
            "level",
            "df",
            "deff",
            "cv",
            "n",
            "weighted_n",
            "suppressed",
            "flags",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let _ = w.write_record(&head);
    for r in &a.rows {
        let mut rec: Vec<String> = vec![r.outcome.clone(), r.statistic.to_string()];
        rec.extend(byc.iter().map(|k| r.by.get(k).map(|l| l.to_string()).unwrap_or_default()));
        rec.push(r.category.as_ref().map(|c| c.to_string()).unwrap_or_default());
        rec.push(r.quantile.map(|q| q.to_string()).unwrap_or_default());
        rec.extend([
            num(r.estimate),
            num(r.se),
            num(r.ci_low),
            num(r.ci_high),
            r.level.to_string(),
            num(r.df),
            num(r.deff),
            num(r.cv),
            r.n.to_string(),
            num(r.weighted_n),
            r.suppressed.to_string(),
            r.flags.join("; "),
        ]);
        let _ = w.write_record(&rec);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn fmt_est(v: Option<f64>, suppressed: bool, digits: usize) -> String {
    match v {
        Some(x) => format!("{x:.digits$}"),
        None if suppressed => "..".into(),
        None => "-".into(),
    }
}

fn digits_for(rows: &[&Row]) -> usize {
    let max = rows.iter().filter_map(|r| r.estimate).fold(0.0f64, |m, x| m.max(x.abs()));
    if max < 2.0 {
        3
    } else if max < 1000.0 {
        2
    } else {
        0
    }
}

fn table(a: &Analysis, markdown: bool) -> String {
    let byc = by_columns(&a.rows);
    let mut head: Vec<String> = vec!["outcome".into(), "stat".into()];
    head.extend(byc.iter().cloned());
    let any_cat = a.rows.iter().any(|r| r.category.is_some());
    let any_q = a.rows.iter().any(|r| r.quantile.is_some());
    if any_cat {
        head.push("category".into());
    }
    if any_q {
        head.push("p".into());
    }
    head.extend(["estimate", "se", "95% CI", "n", "weighted n", "flags"].iter().map(|s| s.to_string()));
    if let Some(r) = a.rows.first() {
        if (r.level - 0.95).abs() > 1e-9 {
            let k = head.len() - 4;
            head[k] = format!("{:.0}% CI", r.level * 100.0);
        }
    }
    let any_ne = a.rows.iter().any(|r| !r.suppressed && r.flags.iter().any(|f| f == SE_NOT_ESTIMABLE));
    let mut body: Vec<Vec<String>> = Vec::new();
    for (outcome, rows) in group_by_outcome(&a.rows) {
        let d = digits_for(&rows);
        for r in rows {
            let mut line = vec![outcome.to_string(), r.statistic.to_string()];
            line.extend(byc.iter().map(|k| {
                r.by.get(k)
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| if r.by.is_empty() { "all".into() } else { String::new() })
            }));
            if any_cat {
                line.push(r.category.as_ref().map(|c| c.to_string()).unwrap_or_default());
            }
            if any_q {
                line.push(r.quantile.map(|q| q.to_string()).unwrap_or_default());
            }
            let not_estimable = !r.suppressed && r.flags.iter().any(|f| f == SE_NOT_ESTIMABLE);
            line.push(fmt_est(r.estimate, r.suppressed, d));
            line.push(if not_estimable { "n/e".into() } else { fmt_est(r.se, r.suppressed, d) });
            line.push(match (r.ci_low, r.ci_high) {
                (Some(l), Some(h)) => format!("{l:.d$} to {h:.d$}"),
                _ if r.suppressed => "..".into(),
                _ if not_estimable => "n/e".into(),
                _ => "-".into(),
            });
            line.push(r.n.to_string());
            line.push(r.weighted_n.map(|w| format!("{w:.0}")).unwrap_or_else(|| "..".into()));
            line.push(r.flags.join("; "));
            body.push(line);
        }
    }
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let _ = writeln!(out, "|{}|", head.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
        for l in &body {
            let _ = writeln!(out, "| {} |", l.join(" | "));
        }
        let _ = writeln!(
            out,
            "\nSurvey {}, wave(s) {:?}; design df {}. `..` = suppressed (disclosure control).{}",
            a.survey,
            a.waves,
            a.design.df,
            if any_ne { " `n/e` = not estimable (one PSU)." } else { "" }
        );
        return out;
    }
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for l in &body {
        for (i, c) in l.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = width[i] - c.chars().count();
                let numeric = c.chars().next().is_some_and(|ch| ch.is_ascii_digit() || ch == '-' || ch == '.') && i >= 2;
                if numeric {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(out, "{}", line(&head));
    let _ = writeln!(out, "{}", width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    for l in &body {
        let _ = writeln!(out, "{}", line(l));
    }
    let _ = writeln!(
        out,
        "survey {}, wave(s) {:?}, design df {}; '..' = suppressed (disclosure control){}",
        a.survey,
        a.waves,
        a.design.df,
        if any_ne { "; 'n/e' = not estimable (one PSU)" } else { "" }
    );
    out
}

fn group_by_outcome(rows: &[Row]) -> Vec<(&str, Vec<&Row>)> {
    let mut out: Vec<(&str, Vec<&Row>)> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|(o, _)| *o == r.outcome) {
            Some((_, v)) => v.push(r),
            None => out.push((&r.outcome, vec![r])),
        }
    }
    out
}
