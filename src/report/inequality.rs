//! Formatting inequality results: JSON, CSV, a terminal table and Markdown. Computes nothing.
//!
//! Owns the presentation of [`Inequality`]: JSON is SPEC.md's object for one outcome (several
//! outcomes give an array of such objects, in the request's order); CSV has one line per group
//! and one per measure, told apart by a `row` column; the table and Markdown show, per outcome,
//! the group estimates in order, then the measures with their intervals and in words, then the
//! notes. Suppressed cells are `..`, withheld measures `-` with the reason in the notes. Must not
//! estimate, decide what is suppressed or withheld, or read the store.

use std::io::Write;

use super::ReportError;
use crate::analysis::inequality::{Inequality, Measure, OutcomeInequality};
use crate::analysis::{Flag, Row};
use crate::schema::HigherIs;

/// Renders inequality results in format `f` to `out`.
pub fn render(a: &Inequality, f: super::Format, mut out: impl Write) -> Result<(), ReportError> {
    match f {
        super::Format::Json => {
            if a.outcomes.len() == 1 {
                serde_json::to_writer_pretty(&mut out, &a.outcomes[0])?;
            } else {
                serde_json::to_writer_pretty(&mut out, &a.outcomes)?;
            }
            out.write_all(b"\n")?;
        }
        super::Format::Csv => csv_text(a, &mut out)?,
        super::Format::Table => {
            for (i, o) in a.outcomes.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                aligned(o, &mut out)?;
            }
            footer(a, &mut out, false)?;
        }
        super::Format::Markdown => {
            for (i, o) in a.outcomes.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                markdown(o, &mut out)?;
            }
            footer(a, &mut out, true)?;
        }
    }
    Ok(out.flush()?)
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

fn flags(f: &[Flag]) -> String {
    f.iter().map(Flag::to_string).collect::<Vec<_>>().join("; ")
}

const CSV_HEAD: &[&str] = &[
    "outcome",
    "row",
    "over",
    "group",
    "measure",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "level",
    "df",
    "n",
    "suppressed",
    "words",
    "notes",
];

fn csv_text(a: &Inequality, out: impl Write) -> Result<(), ReportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEAD)?;
    for o in &a.outcomes {
        for r in &o.groups {
            let level = r.by.get(&o.over).map(|l| l.to_string()).unwrap_or_default();
            w.write_record([
                o.outcome.clone(),
                "group".into(),
                o.over.clone(),
                level,
                String::new(),
                num(r.estimate),
                num(r.se),
                num(r.ci_low),
                num(r.ci_high),
                r.level.to_string(),
                num(r.df),
                r.n.to_string(),
                r.suppressed.to_string(),
                String::new(),
                flags(&r.flags),
            ])?;
        }
        for m in &o.measures {
            w.write_record([
                o.outcome.clone(),
                "measure".into(),
                o.over.clone(),
                String::new(),
                m.measure.name().to_string(),
                num(m.estimate),
                num(m.se),
                num(m.ci_low),
                num(m.ci_high),
                m.level.to_string(),
                num(m.df),
                String::new(),
                "false".into(),
                m.words.clone().unwrap_or_default(),
                m.notes.join("; "),
            ])?;
        }
        // the extras' lines have the same columns (their words column is empty)
        for line in super::inequality_extra::csv_lines(o) {
            w.write_record(line)?;
        }
    }
    Ok(w.flush()?)
}

/// Decimal places for a set of values: 3 below 2, 2 below 1000, else 0.
fn digits(values: impl Iterator<Item = f64>) -> usize {
    let max = values.fold(0.0f64, |m, x| m.max(x.abs()));
    if max < 2.0 {
        3
    } else if max < 1000.0 {
        2
    } else {
        0
    }
}

fn cell(v: Option<f64>, suppressed: bool, d: usize) -> String {
    match v {
        Some(x) => format!("{x:.d$}"),
        None if suppressed => "..".into(),
        None => "-".into(),
    }
}

fn ci(l: Option<f64>, h: Option<f64>, suppressed: bool, d: usize) -> String {
    match (l, h) {
        (Some(l), Some(h)) => format!("{l:.d$} to {h:.d$}"),
        _ if suppressed => "..".into(),
        _ => "-".into(),
    }
}

/// The two tables of one outcome: (groups head, groups body, measures head, measures body).
type Tables = (Vec<String>, Vec<Vec<String>>, Vec<String>, Vec<Vec<String>>);

fn tables(o: &OutcomeInequality) -> Tables {
    let level = o.groups.first().map(|r| r.level).or(o.measures.first().map(|m| m.level)).unwrap_or(0.95);
    let ci_head = format!("{:.0}% CI", level * 100.0);
    let gh: Vec<String> = [o.over.as_str(), "estimate", "se", &ci_head, "n", "flags"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let d = digits(o.groups.iter().filter_map(|r| r.estimate));
    let gb: Vec<Vec<String>> = o
        .groups
        .iter()
        .map(|r: &Row| {
            vec![
                r.by.get(&o.over).map(|l| l.to_string()).unwrap_or_default(),
                cell(r.estimate, r.suppressed, d),
                cell(r.se, r.suppressed, d),
                ci(r.ci_low, r.ci_high, r.suppressed, d),
                r.n.to_string(),
                flags(&r.flags),
            ]
        })
        .collect();
    let mh: Vec<String> = ["measure", "estimate", "se", &ci_head, "df"].iter().map(|s| s.to_string()).collect();
    let mb: Vec<Vec<String>> = o
        .measures
        .iter()
        .map(|m: &Measure| {
            let d = digits(m.estimate.into_iter()).max(3);
            vec![
                m.measure.name().to_string(),
                cell(m.estimate, false, d),
                cell(m.se, false, d),
                ci(m.ci_low, m.ci_high, false, d),
                m.df.map(|x| format!("{x}")).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    (gh, gb, mh, mb)
}

fn title(o: &OutcomeInequality) -> String {
    let polarity = match o.higher_is {
        Some(HigherIs::Better) => "; higher is better",
        Some(HigherIs::Worse) => "; higher is worse",
        None => "",
    };
    let order = if !o.ordered {
        "groups without an order"
    } else if o.direction_assumed {
        "first group taken as the most deprived"
    } else {
        "most deprived first"
    };
    format!("{} ({}) by {}, {order}{polarity}", o.outcome, o.statistic, o.over)
}

/// The sentences of the measures, "name: words".
fn sentences(o: &OutcomeInequality) -> Vec<String> {
    o.measures
        .iter()
        .filter_map(|m| m.words.as_ref().map(|w| format!("{}: {w}", m.measure.name())))
        .collect()
}

fn notes(o: &OutcomeInequality) -> Vec<String> {
    let mut out = o.notes.clone();
    for m in &o.measures {
        for n in &m.notes {
            out.push(format!("{}: {n}", m.measure.name()));
        }
    }
    out
}

fn aligned_table(head: &[String], body: &[Vec<String>], out: &mut impl Write) -> std::io::Result<()> {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for l in body {
        for (i, c) in l.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = width[i] - c.chars().count();
                if i > 0 && i < last {
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
    writeln!(out, "{}", line(head))?;
    writeln!(out, "{}", width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "))?;
    for l in body {
        writeln!(out, "{}", line(l))?;
    }
    Ok(())
}

fn aligned(o: &OutcomeInequality, out: &mut impl Write) -> std::io::Result<()> {
    let (gh, gb, mh, mb) = tables(o);
    writeln!(out, "{}", title(o))?;
    aligned_table(&gh, &gb, out)?;
    writeln!(out)?;
    aligned_table(&mh, &mb, out)?;
    let said = sentences(o);
    if !said.is_empty() {
        writeln!(out, "\nIn words:")?;
        for w in said {
            writeln!(out, "  {w}")?;
        }
    }
    let n = notes(o);
    if !n.is_empty() {
        writeln!(out, "\nNotes:")?;
        for n in n {
            writeln!(out, "  {n}")?;
        }
    }
    for s in super::inequality_extra::sections(o) {
        writeln!(out, "\n{}", s.title)?;
        if !s.head.is_empty() {
            aligned_table(&s.head, &s.body, out)?;
        }
        for n in &s.notes {
            writeln!(out, "  {n}")?;
        }
    }
    Ok(())
}

fn md_table(head: &[String], body: &[Vec<String>], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "| {} |", head.join(" | "))?;
    writeln!(out, "|{}|", head.iter().map(|_| "---").collect::<Vec<_>>().join("|"))?;
    for l in body {
        writeln!(out, "| {} |", l.iter().map(|c| c.replace('|', "\\|")).collect::<Vec<_>>().join(" | "))?;
    }
    Ok(())
}

fn markdown(o: &OutcomeInequality, out: &mut impl Write) -> std::io::Result<()> {
    let (gh, gb, mh, mb) = tables(o);
    writeln!(out, "**{}**\n", title(o))?;
    md_table(&gh, &gb, out)?;
    writeln!(out)?;
    md_table(&mh, &mb, out)?;
    let said = sentences(o);
    if !said.is_empty() {
        writeln!(out, "\nIn words:\n")?;
        for w in said {
            writeln!(out, "- {w}")?;
        }
    }
    let n = notes(o);
    if !n.is_empty() {
        writeln!(out, "\nNotes:\n")?;
        for n in n {
            writeln!(out, "- {n}")?;
        }
    }
    for s in super::inequality_extra::sections(o) {
        writeln!(out, "\n**{}**", s.title)?;
        if !s.head.is_empty() {
            writeln!(out)?;
            md_table(&s.head, &s.body, out)?;
        }
        if !s.notes.is_empty() {
            writeln!(out)?;
        }
        for n in &s.notes {
            writeln!(out, "- {n}")?;
        }
    }
    Ok(())
}

fn footer(a: &Inequality, out: &mut impl Write, md: bool) -> std::io::Result<()> {
    let (dots, dash) = if md { ("`..`", "`-`") } else { ("'..'", "'-'") };
    writeln!(
        out,
        "\nsurvey {}, wave(s) {:?}, design df {}; {dots} = suppressed (disclosure control), {dash} = not available (see notes)",
        a.survey, a.waves, a.design.df
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::inequality::MeasureKind;
    use crate::analysis::{DesignInfo, Level};
    use std::collections::BTreeMap;

    fn outcome(name: &str) -> OutcomeInequality {
        let row = |level: i64, estimate: Option<f64>| Row {
            outcome: name.into(),
            statistic: "mean",
            by: BTreeMap::from([("imd_decile".to_string(), Level::Int(level))]),
            category: None,
            quantile: None,
            denominator: None,
            estimate,
            se: estimate.map(|_| 0.5),
            ci_low: estimate.map(|e| e - 1.0),
            ci_high: estimate.map(|e| e + 1.0),
            level: 0.95,
            df: Some(12.0),
            deff: None,
            cv: None,
            n: if estimate.is_some() { 60 } else { 4 },
            weighted_n: estimate.map(|_| 1500.0),
            suppressed: estimate.is_none(),
            flags: if estimate.is_some() {
                vec![]
            } else {
                vec![Flag::BaseBelowMinimum { min_base: 10 }]
            },
        };
        let mut sii = Measure::new(MeasureKind::Sii, 4.0, 1.0, (2.0, 6.0), 0.95, Some(11.0));
        sii.words = Some("4.00 points lower at the most deprived end".into());
        OutcomeInequality {
            survey: "t".into(),
            waves: vec![1],
            outcome: name.into(),
            statistic: "mean",
            over: "imd_decile".into(),
            order: vec![Level::Int(1), Level::Int(2)],
            ordered: true,
            direction_assumed: false,
            higher_is: Some(HigherIs::Better),
            groups: vec![row(1, Some(20.0)), row(2, None)],
            measures: vec![sii, Measure::withheld(MeasureKind::Gap, 0.95, "withheld: group 2 is suppressed".into())],
            ..Default::default()
        }
    }

    fn text(outcomes: Vec<OutcomeInequality>, f: super::super::Format) -> String {
        let a = Inequality {
            survey: "t".into(),
            waves: vec![1],
            design: DesignInfo {
                weight: None,
                strata: None,
                psu: vec![],
                fpc: None,
                lonely_psu: "fail",
                df: 12.0,
                weight_set: None,
                ultimate_cluster: false,
                variance: "taylor",
                replicates: None,
            },
            outcomes,
            warnings: vec![],
        };
        let mut out = Vec::new();
        render(&a, f, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_is_one_object_for_one_outcome_and_an_array_for_several() {
        use super::super::Format::Json;
        let one: serde_json::Value = serde_json::from_str(&text(vec![outcome("a")], Json)).unwrap();
        assert_eq!(one["outcome"], "a");
        assert_eq!(one["higher_is"], "better");
        assert_eq!(one["measures"][0]["measure"], "sii");
        assert_eq!(one["measures"][1]["estimate"], serde_json::Value::Null);
        assert_eq!(one["groups"][1]["suppressed"], true);
        let two: serde_json::Value = serde_json::from_str(&text(vec![outcome("a"), outcome("b")], Json)).unwrap();
        assert_eq!(two.as_array().unwrap().len(), 2);
        assert_eq!(two[1]["outcome"], "b");
    }

    #[test]
    fn the_table_shows_suppressed_groups_withheld_measures_and_words() {
        let t = text(vec![outcome("a")], super::super::Format::Table);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "a (mean) by imd_decile, most deprived first; higher is better");
        assert_eq!(lines[4], "2                 ..    ..              ..   4  base below 10");
        assert!(
            t.contains("\nsii         4.000  1.000  2.000 to 6.000  11\ngap             -      -               -  -\n"),
            "{t}"
        );
        assert!(t.contains("In words:\n  sii: 4.00 points lower at the most deprived end\n"), "{t}");
        assert!(t.contains("Notes:\n  gap: withheld: group 2 is suppressed\n"), "{t}");
    }

    #[test]
    fn csv_has_a_line_per_group_and_per_measure() {
        let csv = text(vec![outcome("a")], super::super::Format::Csv);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[2], "a,group,imd_decile,2,,,,,,0.95,12,4,true,,base below 10");
        assert_eq!(
            lines[3],
            "a,measure,imd_decile,,sii,4,1,2,6,0.95,11,,false,4.00 points lower at the most deprived end,"
        );
    }
}
