//! Formatting the inequality extras of one outcome: the standardisation, the change between two
//! waves and the tests between groups, as sections after the measures (table, Markdown) and as
//! CSV lines (`row` = `change` or `test`). JSON needs nothing here: the objects serialise as
//! they are. Computes nothing.
//!
//! Owns the wording and layout of those sections. Must not estimate, decide suppression or
//! read the store.

use crate::analysis::inequality::extras::ChangeRow;
use crate::analysis::inequality::OutcomeInequality;

/// One section: a heading line, an optional table and notes.
pub(super) struct Section {
    /// The heading.
    pub title: String,
    /// Table head (empty: no table).
    pub head: Vec<String>,
    /// Table rows.
    pub body: Vec<Vec<String>>,
    /// Notes under it.
    pub notes: Vec<String>,
}

fn fmt(v: Option<f64>, d: usize, suppressed: bool) -> String {
    match v {
        Some(x) => format!("{x:.d$}"),
        None if suppressed => "..".into(),
        None => "-".into(),
    }
}

fn digits(x: Option<f64>) -> usize {
    match x.map(f64::abs) {
        Some(m) if m >= 1000.0 => 0,
        Some(m) if m >= 2.0 => 2,
        _ => 3,
    }
}

/// A p-value as a reader wants it: 4 significant digits, or "< 0.0001".
fn p(v: f64) -> String {
    if v < 1e-4 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// The sections of the extras present in `o`, in order.
pub(super) fn sections(o: &OutcomeInequality) -> Vec<Section> {
    let mut out = Vec::new();
    if let Some(s) = &o.standardised {
        let o = &s.overall;
        let d = digits(o.estimate);
        out.push(Section {
            title: format!(
                "Group estimates age-standardised to {} by {}; standardised overall {} (se {}, CI {} to {})",
                s.standard,
                s.by.join(" x "),
                fmt(o.estimate, d, false),
                fmt(o.se, d, false),
                fmt(o.ci_low, d, false),
                fmt(o.ci_high, d, false)
            ),
            head: Vec::new(),
            body: Vec::new(),
            notes: s.notes.clone(),
        });
    }
    if let Some(c) = &o.change {
        let max = c
            .groups
            .iter()
            .chain([&c.overall])
            .filter_map(|r| r.estimates[0])
            .fold(0.0f64, |m, x| m.max(x.abs()));
        let d = digits(Some(max));
        let head: Vec<String> = [
            o.over.as_str(),
            &format!("wave {}", c.waves[0]),
            &format!("wave {}", c.waves[1]),
            "change",
            "se",
            "CI",
            "se if independent",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let line = |label: String, r: &ChangeRow, d: usize| {
            vec![
                label,
                fmt(r.estimates[0], d, r.suppressed),
                fmt(r.estimates[1], d, r.suppressed),
                fmt(r.change, d, r.suppressed),
                fmt(r.se, d, r.suppressed),
                match (r.ci_low, r.ci_high) {
                    (Some(l), Some(h)) => format!("{l:.d$} to {h:.d$}"),
                    _ => fmt(None, d, r.suppressed),
                },
                fmt(r.se_independent, d, r.suppressed),
            ]
        };
        let mut body: Vec<Vec<String>> = c
            .groups
            .iter()
            .map(|r| line(r.by.get(&o.over).map(|l| l.to_string()).unwrap_or_default(), r, d))
            .collect();
        body.push(line("all".into(), &c.overall, d));
        if let Some(sii) = &c.sii {
            body.push(line("sii".into(), sii, digits(sii.change).max(3)));
        }
        out.push(Section {
            title: format!("Change from wave {} to wave {}", c.waves[0], c.waves[1]),
            head,
            body,
            notes: c.notes.clone(),
        });
    }
    if let Some(t) = &o.tests {
        let head: Vec<String> = ["test", "statistic", "df", "p-value", "what"].iter().map(|s| s.to_string()).collect();
        let mut body = Vec::new();
        if let Some(x) = &t.difference {
            let d = digits(Some(x.difference)).max(3);
            body.push(vec![
                "t".into(),
                format!("{:.3}", x.statistic),
                format!("{}", x.df),
                p(x.p_value),
                format!(
                    "{} minus {}: {:.d$} (se {:.d$}, CI {:.d$} to {:.d$})",
                    x.groups[0], x.groups[1], x.difference, x.se, x.ci_low, x.ci_high
                ),
            ]);
        }
        if let Some(a) = &t.association {
            body.push(vec![
                "Rao-Scott F".into(),
                format!("{:.3}", a.f),
                format!("{:.2}, {:.2}", a.ndf, a.ddf),
                p(a.p_value),
                format!("association with {} (Pearson X2 {:.3})", o.over, a.pearson),
            ]);
            body.push(vec![
                "Rao-Scott chi-square".into(),
                format!("{:.3}", a.pearson),
                format!("{}", a.chisq_df),
                p(a.chisq_p_value),
                "first-order correction".into(),
            ]);
        }
        out.push(Section {
            title: "Tests between groups".into(),
            head: if body.is_empty() { Vec::new() } else { head },
            body,
            notes: t.notes.clone(),
        });
    }
    out
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// The CSV lines of the extras (same columns as the group and measure lines, `words` empty).
pub(super) fn csv_lines(o: &OutcomeInequality) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let level = o.measures.first().map(|m| m.level).unwrap_or(0.95).to_string();
    if let Some(c) = &o.change {
        let rows = c
            .groups
            .iter()
            .map(|r| (r.by.get(&o.over).map(|l| l.to_string()).unwrap_or_default(), r))
            .chain([(String::new(), &c.overall)])
            .chain(c.sii.iter().map(|r| (String::new(), r)));
        for (group, r) in rows {
            let measure = if r.measure.is_some() { "sii_change" } else { "change" };
            let notes = format!(
                "wave {}: {} (se {}); wave {}: {} (se {}); se if independent {}",
                c.waves[0],
                num(r.estimates[0]),
                num(r.ses[0]),
                c.waves[1],
                num(r.estimates[1]),
                num(r.ses[1]),
                num(r.se_independent)
            );
            out.push(vec![
                o.outcome.clone(),
                "change".into(),
                o.over.clone(),
                group,
                measure.into(),
                num(r.change),
                num(r.se),
                num(r.ci_low),
                num(r.ci_high),
                level.clone(),
                num(r.df),
                (r.n[0] + r.n[1]).to_string(),
                r.suppressed.to_string(),
                String::new(),
                notes,
            ]);
        }
    }
    if let Some(t) = &o.tests {
        let mut push = |measure: &str, stat: f64, df: String, notes: String| {
            out.push(vec![
                o.outcome.clone(),
                "test".into(),
                o.over.clone(),
                String::new(),
                measure.into(),
                stat.to_string(),
                String::new(),
                String::new(),
                String::new(),
                level.clone(),
                df,
                String::new(),
                "false".into(),
                String::new(),
                notes,
            ]);
        };
        if let Some(x) = &t.difference {
            push(
                "t_test",
                x.statistic,
                x.df.to_string(),
                format!("p_value {}; {} minus {}: {} (se {})", x.p_value, x.groups[0], x.groups[1], x.difference, x.se),
            );
        }
        if let Some(a) = &t.association {
            push("rao_scott_f", a.f, format!("{} {}", a.ndf, a.ddf), format!("p_value {}", a.p_value));
            push("rao_scott_chisq", a.pearson, a.chisq_df.to_string(), format!("p_value {}", a.chisq_p_value));
        }
    }
    out
}
