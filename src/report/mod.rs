//! Formatting results: terminal tables, CSV, JSON, Markdown and the HTML report. Computes
//! nothing.
//!
//! Owns the presentation of analysis rows in the shapes of SPEC.md ("Analysis output"):
//! JSON is the contract; CSV has the same rows flat with one column per breakdown variable;
//! the table and Markdown are for people, with suppressed cells shown as `..` and standard
//! errors that cannot be estimated as `n/e`. Output goes to any `io::Write`; a failed write
//! or encoding is an error ([`ReportError`]), never swallowed or faked. Must not estimate,
//! read the store or decide what is suppressed: rows arrive with their flags set. Parts:
//! [`table`] (the one table model every table for people is rendered from), [`chart`] (SVG
//! charts), [`html`] (the self-contained report), [`inequality`] (inequality results).

pub mod chart;
pub mod html;
pub mod inequality;
mod inequality_extra;
pub mod table;

use std::collections::BTreeSet;
use std::io::Write;

use crate::analysis::{Analysis, Flag, Row};
pub use table::{interval_cell, value_cell, Scale, Table, SUPPRESSED};

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

/// Errors of rendering: the writer failed, or the results could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Writing the output failed.
    #[error("cannot write the results")]
    Io(#[from] std::io::Error),
    /// The results could not be encoded as JSON.
    #[error("cannot encode the results as JSON")]
    Json(#[source] serde_json::Error),
    /// The results could not be encoded as CSV.
    #[error("cannot encode the results as CSV")]
    Csv(#[source] csv::Error),
}

impl From<serde_json::Error> for ReportError {
    fn from(e: serde_json::Error) -> Self {
        if e.is_io() {
            ReportError::Io(e.into())
        } else {
            ReportError::Json(e)
        }
    }
}

impl From<csv::Error> for ReportError {
    fn from(e: csv::Error) -> Self {
        if e.is_io_error() {
            match e.into_kind() {
                csv::ErrorKind::Io(io) => ReportError::Io(io),
                _ => unreachable!("is_io_error() said the kind is Io"),
            }
        } else {
            ReportError::Csv(e)
        }
    }
}

/// Renders an analysis in format `f` to `out`.
pub fn render(a: &Analysis, f: Format, mut out: impl Write) -> Result<(), ReportError> {
    match f {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, a)?;
            out.write_all(b"\n")?;
        }
        Format::Csv => csv_text(a, &mut out)?,
        Format::Table => aligned(a, &mut out)?,
        Format::Markdown => markdown(a, &mut out)?,
    }
    Ok(out.flush()?)
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

fn csv_text(a: &Analysis, out: impl Write) -> Result<(), ReportError> {
    let byc = by_columns(&a.rows);
    let mut w = csv::Writer::from_writer(out);
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
    w.write_record(&head)?;
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
            flag_text(&r.flags),
        ]);
        w.write_record(&rec)?;
    }
    Ok(w.flush()?)
}

fn flag_text(flags: &[Flag]) -> String {
    flags.iter().map(Flag::to_string).collect::<Vec<_>>().join("; ")
}

/// The table of an analysis for people (terminal or Markdown), and whether a shown row has
/// no standard error (`n/e`), which the footnote then explains.
pub fn analysis_table(a: &Analysis) -> (Table, bool) {
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
    let heads: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = Table::new(&heads, &[1]);
    for (outcome, rows) in group_by_outcome(&a.rows) {
        let scale = Scale::for_values(rows.iter().filter_map(|r| r.estimate));
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
            let ne = not_estimable(r);
            line.push(value_cell(r.estimate, r.suppressed, scale));
            line.push(if ne { "n/e".into() } else { value_cell(r.se, r.suppressed, scale) });
            line.push(interval_cell(r.ci_low, r.ci_high, r.suppressed, ne, scale));
            line.push(r.n.to_string());
            line.push(r.weighted_n.map(|w| format!("{w:.0}")).unwrap_or_else(|| SUPPRESSED.into()));
            line.push(flag_text(&r.flags));
            t.body.push(line);
        }
    }
    (t, a.rows.iter().any(not_estimable))
}

/// Whether a row shows `n/e`: its SE is not estimable and it is not suppressed.
fn not_estimable(r: &Row) -> bool {
    !r.suppressed && r.flags.contains(&Flag::SeNotEstimable)
}

fn markdown(a: &Analysis, out: &mut impl Write) -> std::io::Result<()> {
    let (t, any_ne) = analysis_table(a);
    t.markdown(out)?;
    writeln!(
        out,
        "\nSurvey {}, wave(s) {:?}; design df {}{}{}. `..` = suppressed (disclosure control).{}",
        a.survey,
        a.waves,
        a.design.df,
        a.design.weight_set.as_ref().map(|w| format!("; weight set `{w}`")).unwrap_or_default(),
        a.design.variance_note(),
        if any_ne { " `n/e` = not estimable (one PSU)." } else { "" }
    )
}

fn aligned(a: &Analysis, out: &mut impl Write) -> std::io::Result<()> {
    let (t, any_ne) = analysis_table(a);
    t.aligned(out)?;
    writeln!(
        out,
        "survey {}, wave(s) {:?}, design df {}{}{}; '..' = suppressed (disclosure control){}",
        a.survey,
        a.waves,
        a.design.df,
        a.design.weight_set.as_ref().map(|w| format!(", weight set '{w}'")).unwrap_or_default(),
        a.design.variance_note(),
        if any_ne { "; 'n/e' = not estimable (one PSU)" } else { "" }
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{DesignInfo, Level};
    use std::collections::BTreeMap;

    fn row(by: Option<i64>, estimate: Option<f64>, suppressed: bool, flags: Vec<Flag>) -> Row {
        Row {
            outcome: "score".into(),
            statistic: "mean",
            by: by.map(|v| BTreeMap::from([("decile".to_string(), Level::Int(v))])).unwrap_or_default(),
            category: None,
            quantile: None,
            denominator: None,
            estimate,
            se: estimate.map(|_| 0.25),
            ci_low: estimate.map(|e| e - 0.5),
            ci_high: estimate.map(|e| e + 0.5),
            level: 0.95,
            df: Some(12.0),
            deff: None,
            cv: None,
            n: if suppressed { 4 } else { 60 },
            weighted_n: estimate.map(|_| 1500.0),
            suppressed,
            flags,
        }
    }

    fn analysis() -> Analysis {
        let mut ne = row(Some(2), Some(6.0), false, vec![Flag::SeNotEstimable]);
        (ne.se, ne.ci_low, ne.ci_high) = (None, None, None);
        Analysis {
            survey: "t".into(),
            waves: vec![1],
            design: DesignInfo {
                weight: Some("wt".into()),
                strata: None,
                psu: vec!["psu".into()],
                fpc: None,
                lonely_psu: "adjust",
                df: 12.0,
                weight_set: None,
                ultimate_cluster: false,
                variance: "taylor",
                replicates: None,
            },
            rows: vec![
                row(None, Some(5.5), false, vec![]),
                row(Some(1), None, true, vec![Flag::BaseBelowMinimum { min_base: 10 }, Flag::HighCv { max_cv: 0.2 }]),
                ne,
            ],
            warnings: vec![],
        }
    }

    fn text(f: Format) -> String {
        let mut out = Vec::new();
        render(&analysis(), f, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_shows_flags_as_text_and_blanks_as_null() {
        let v: serde_json::Value = serde_json::from_str(&text(Format::Json)).unwrap();
        assert_eq!(v["rows"][1]["flags"], serde_json::json!(["base below 10", "cv above 20%"]));
        assert_eq!(v["rows"][1]["estimate"], serde_json::Value::Null);
        assert_eq!(v["rows"][0]["by"], serde_json::json!({}));
        assert!(text(Format::Json).ends_with("}\n"));
    }

    #[test]
    fn csv_joins_flags_and_leaves_blanks_empty() {
        let csv = text(Format::Csv);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "outcome,statistic,decile,category,quantile,estimate,se,ci_low,ci_high,level,df,deff,cv,n,weighted_n,suppressed,flags"
        );
        assert_eq!(lines[2], "score,mean,1,,,,,,,0.95,12,,,4,,true,base below 10; cv above 20%");
        assert_eq!(lines[3], "score,mean,2,,,6,,,,0.95,12,,,60,1500,false,one PSU: standard error not estimable");
    }

    #[test]
    fn the_table_marks_suppressed_and_not_estimable_cells() {
        let t = text(Format::Table);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "outcome  stat  decile  estimate  se          95% CI  n   weighted n  flags");
        assert_eq!(lines[2], "score    mean  all         5.50  0.25  5.00 to 6.00  60        1500");
        assert_eq!(
            lines[3],
            "score    mean       1        ..    ..            ..   4          ..  base below 10; cv above 20%"
        );
        assert_eq!(
            lines[4],
            "score    mean       2      6.00  n/e   n/e           60        1500  one PSU: standard error not estimable"
        );
        assert_eq!(
            lines[5],
            "survey t, wave(s) [1], design df 12; '..' = suppressed (disclosure control); 'n/e' = not estimable (one PSU)"
        );
    }

    #[test]
    fn markdown_explains_its_marks() {
        let md = text(Format::Markdown);
        assert!(
            md.starts_with("| outcome | stat | decile | estimate | se | 95% CI | n | weighted n | flags |\n|---|"),
            "{md}"
        );
        assert!(
            md.ends_with("`..` = suppressed (disclosure control). `n/e` = not estimable (one PSU).\n"),
            "{md}"
        );
    }

    /// A writer that refuses everything.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn r16_a_failed_write_is_an_error_in_every_format() {
        for f in [Format::Json, Format::Csv, Format::Table, Format::Markdown] {
            match render(&analysis(), f, Full) {
                Err(ReportError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{f:?}"),
                other => panic!("{f:?}: {other:?}"),
            }
        }
    }
}
