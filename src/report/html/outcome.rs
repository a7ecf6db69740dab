//! One outcome's section of the report: the headline estimate, the deprivation gradient
//! (chart and table), the inequality summary in numbers and words, the demographic
//! breakdowns, the waves compared and the wards.
//!
//! Owns turning an [`OutcomeBundle`] into charts and tables. A suppressed group is a gap in
//! its chart (labelled, never positioned) and `..` in its table, whose footnote gives the rule.
//! Must not estimate: the SII line is drawn from the SII and the linear RII the inequality
//! module gave (b0 = SII / (RII - 1)), and nothing else is derived from the numbers.

use std::fmt::Write as _;

use crate::analysis::bundle::{Bundle, Group, OutcomeBundle};
use crate::analysis::inequality::extras::{ChangeOutput, ChangeRow};
use crate::analysis::inequality::{Measure, MeasureKind, OutcomeInequality};
use crate::analysis::Row;
use crate::report::chart::{DotChart, Interval, Line, Orientation, Series};
use crate::report::table::{esc, interval_cell, value_cell, Scale, Table};

/// The element id of an outcome's section.
pub fn anchor(ob: &OutcomeBundle, i: usize) -> String {
    let clean: String = ob.id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("o{}-{clean}", i + 1)
}

/// How this outcome's estimates are written.
fn scale_of(ob: &OutcomeBundle) -> Scale {
    if ob.statistic == "proportion" {
        return Scale::Percent;
    }
    let all = ob
        .overall
        .iter()
        .chain(ob.breakdowns.iter().flat_map(|b| b.groups.iter().map(|g| &g.row)))
        .chain(ob.inequality.iter().flat_map(|i| i.groups.iter()))
        .filter_map(|r| r.estimate);
    match Scale::for_values(all) {
        Scale::Plain(d) => Scale::Plain(d.min(2)),
        s => s,
    }
}

/// The footnote of a table with suppressed cells: the rule.
pub fn suppression_note(b: &Bundle) -> String {
    let d = &b.disclosure;
    format!(
        "\"..\" = suppressed by disclosure control: fewer than {} respondents in the cell, or (for a share) 1 to {} \
         respondents with or without the characteristic. No number or chart position is shown for these cells.",
        d.min_base,
        d.min_count.saturating_sub(1)
    )
}

fn interval(r: &Row) -> Option<Interval> {
    r.estimate.map(|e| Interval {
        estimate: e,
        low: r.ci_low,
        high: r.ci_high,
    })
}

/// A table of groups with the suppression footnote when a cell needs it.
fn group_table(b: &Bundle, first: &str, groups: &[(&str, &Row)], scale: Scale, caption: String) -> Table {
    let mut t = Table::of_groups(first, groups.iter().copied(), scale);
    t.caption = Some(caption);
    if t.has_suppressed() {
        t.notes.push(suppression_note(b));
    }
    if t.body.iter().any(|l| l.iter().any(|c| c == "n/e")) {
        t.notes
            .push("\"n/e\" = the interval cannot be estimated, as the group lies inside one sampled cluster (one PSU: no degrees of freedom).".into());
    }
    t
}

fn count_gaps(groups: &[(&str, &Row)]) -> String {
    let gaps = groups.iter().filter(|(_, r)| r.estimate.is_none()).count();
    if gaps == 0 {
        String::new()
    } else {
        format!(" {gaps} group(s) have no estimate shown (suppressed by disclosure control) and appear as gaps.")
    }
}

/// One outcome's section.
pub fn section(b: &Bundle, ob: &OutcomeBundle, i: usize, o: &mut String) {
    let scale = scale_of(ob);
    let what = if ob.statistic == "proportion" { "share" } else { "mean" };
    let _ = write!(
        o,
        "<section class=\"outcome\" id=\"{}\"><h2>{}</h2><p class=\"sub\"><code>{}</code>: {what}, wave {}{}</p>",
        anchor(ob, i),
        esc(&ob.label),
        esc(&ob.id),
        b.latest,
        match ob.higher_is {
            Some(h) => format!(
                "; higher is {}",
                serde_json::to_value(h).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
            ),
            None => String::new(),
        }
    );
    if let Some(r) = &ob.overall {
        let _ = write!(
            o,
            "<p class=\"lead\">Overall {what}: <strong>{}</strong> ({:.0}% CI {}), from {} respondents.</p>",
            esc(&value_cell(r.estimate, r.suppressed, scale)),
            r.level * 100.0,
            esc(&interval_cell(r.ci_low, r.ci_high, r.suppressed, false, scale)),
            r.n
        );
    }
    if let Some(ineq) = &ob.inequality {
        gradient(b, ob, ineq, scale, i, o);
        summary(b, ob, ineq, o);
    }
    breakdowns(b, ob, scale, i, o);
    waves(b, ob, scale, i, o);
    wards(b, ob, scale, o);
    o.push_str("</section>\n");
}

/// The SII line's ends from the measures: (most deprived end, least deprived end).
fn sii_line(measures: &[Measure]) -> Option<(f64, f64)> {
    let get = |k: MeasureKind| measures.iter().find(|m| m.measure == k).and_then(|m| m.estimate);
    let (b1, rii) = (get(MeasureKind::Sii)?, get(MeasureKind::RiiLinear)?);
    let b0 = b1 / (rii - 1.0);
    (b0.is_finite() && (rii - 1.0).abs() > 1e-12).then_some((b0, b0 + b1))
}

fn gradient(b: &Bundle, ob: &OutcomeBundle, ineq: &OutcomeInequality, scale: Scale, i: usize, o: &mut String) {
    let groups: Vec<(String, &Row)> = ineq
        .groups
        .iter()
        .map(|r| (r.by.get(&ineq.over).map(|l| l.to_string()).unwrap_or_default(), r))
        .collect();
    let refs: Vec<(&str, &Row)> = groups.iter().map(|(l, r)| (l.as_str(), *r)).collect();
    let line = sii_line(&ineq.measures);
    let vintage = imd_vintage(b);
    let desc = format!(
        "{} ({}) by {vintage} decile, from 1 (most deprived) on the left to 10 (least deprived) on the right: \
         each point is the estimate with a bar for its {:.0}% confidence interval.{}{}",
        ob.label,
        if ob.statistic == "proportion" { "per cent" } else { "mean" },
        b.level * 100.0,
        if line.is_some() {
            " A dashed line shows the fitted slope index of inequality, from the most to the least deprived end."
        } else {
            ""
        },
        count_gaps(&refs)
    );
    let chart = DotChart {
        id: format!("g{}", i + 1),
        title: format!("{}: deprivation gradient, wave {}", ob.label, b.latest),
        desc,
        groups: groups.iter().map(|(l, _)| l.clone()).collect(),
        series: vec![Series {
            name: format!("Wave {}", b.latest),
            values: ineq.groups.iter().map(interval).collect(),
        }],
        line: line.map(|(start, end)| Line {
            name: "fitted SII line".into(),
            start,
            end,
        }),
        value_label: axis_label(ob),
        group_label: format!("{vintage} decile (1 = most deprived)"),
        percent: ob.statistic == "proportion",
        orientation: Orientation::Columns,
        gap_text: "..".into(),
    };
    o.push_str("<h3>Deprivation gradient</h3><figure>");
    o.push_str(&chart.svg());
    let _ = write!(o, "<figcaption>{}</figcaption></figure>", esc(&chart.desc));
    let t = group_table(
        b,
        &format!("{vintage} decile"),
        &refs,
        scale,
        format!("By {vintage} decile: the chart's numbers"),
    );
    t.html(o);
}

fn axis_label(ob: &OutcomeBundle) -> String {
    if ob.statistic == "proportion" {
        "per cent".into()
    } else {
        "mean".into()
    }
}

/// The IMD named by the loaded geography ("IMD 2019"), or "IMD".
pub fn imd_vintage(b: &Bundle) -> String {
    b.geography
        .iter()
        .find(|g| g.kind == "index")
        .and_then(|g| g.vintage.split_whitespace().next().map(|v| v.replacen("IMD", "IMD ", 1).replace("  ", " ")))
        .unwrap_or_else(|| "IMD".into())
}

/// What the report calls a measure; `None` for those it leaves to `hearth inequality`
/// (the bounded-outcome concentration indices and the unordered-grouping measures).
fn measure_name(k: MeasureKind) -> Option<&'static str> {
    Some(match k {
        MeasureKind::Sii => "Slope index of inequality (SII)",
        MeasureKind::RiiLinear => "Relative index of inequality (RII, linear)",
        MeasureKind::RiiLog => "Relative index of inequality (RII, log-linear)",
        MeasureKind::Gap => "Gap: most minus least deprived decile",
        MeasureKind::Ratio => "Ratio: most over least deprived decile",
        MeasureKind::ConcentrationIndex => "Concentration index",
        MeasureKind::Par => "Population attributable risk (PAR)",
        MeasureKind::Paf => "Population attributable fraction (PAF)",
        _ => return None,
    })
}

/// Whether a measure is a difference on the outcome's scale (percentage points for a share).
fn is_difference(k: MeasureKind) -> bool {
    matches!(k, MeasureKind::Sii | MeasureKind::Gap | MeasureKind::Par)
}

fn measure_text(m: &Measure, x: f64, prop: bool) -> String {
    if is_difference(m.measure) && prop {
        format!("{:.1} pp", x * 100.0)
    } else if is_difference(m.measure) {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// A measure in words: the library's words, or a plain reading of the number.
fn words(m: &Measure, ob: &OutcomeBundle) -> String {
    if let Some(w) = &m.words {
        return w.clone();
    }
    let prop = ob.statistic == "proportion";
    let Some(x) = m.estimate else {
        return "not available (see the notes)".into();
    };
    let size = measure_text(m, x.abs(), prop);
    let unit = if prop { "" } else { " points" };
    match m.measure {
        MeasureKind::Gap => format!(
            "the most deprived decile's {} is {size}{unit} {} than the least deprived decile's",
            if prop { "share" } else { "mean" },
            if x >= 0.0 { "higher" } else { "lower" }
        ),
        MeasureKind::Sii => format!(
            "from the most to the least deprived end of the population, the fitted value {} by {size}{unit}",
            if x >= 0.0 { "rises" } else { "falls" }
        ),
        MeasureKind::RiiLinear | MeasureKind::RiiLog => {
            format!("the fitted value at the least deprived end is {x:.2} times that at the most deprived end")
        }
        MeasureKind::Ratio => format!("the most deprived decile's value is {x:.2} times the least deprived decile's"),
        _ => String::new(),
    }
}

fn summary(b: &Bundle, ob: &OutcomeBundle, ineq: &OutcomeInequality, o: &mut String) {
    let prop = ob.statistic == "proportion";
    let ci = format!("{:.0}% CI", b.level * 100.0);
    let mut t = Table::new(&["measure", "estimate", &ci], &[]);
    t.caption = Some(format!("Inequality across {} deciles", imd_vintage(b)));
    let mut said = Vec::new();
    for (m, name) in ineq.measures.iter().filter_map(|m| measure_name(m.measure).map(|n| (m, n))) {
        let est = m.estimate.map(|x| measure_text(m, x, prop)).unwrap_or_else(|| "-".into());
        let ci = match (m.ci_low, m.ci_high) {
            (Some(l), Some(h)) => format!("{} to {}", measure_text(m, l, prop), measure_text(m, h, prop)),
            _ => "-".into(),
        };
        t.body.push(vec![name.into(), est, ci]);
        said.push(format!("<li><strong>{}</strong>: {}.</li>", esc(name), esc(&words(m, ob))));
        for n in &m.notes {
            t.notes.push(sentence(&format!("{name}: {n}")));
        }
    }
    t.notes.extend(ineq.notes.iter().map(|n| sentence(n)));
    if prop {
        t.notes.push("pp = percentage points.".into());
    }
    o.push_str("<h3>Inequality summary</h3>");
    t.html(o);
    let _ = write!(o, "<p>In words:</p><ul class=\"words\">{}</ul>", said.join(""));
}

fn breakdowns(b: &Bundle, ob: &OutcomeBundle, scale: Scale, i: usize, o: &mut String) {
    let shown: Vec<_> = ob.breakdowns.iter().filter(|bd| !bd.groups.is_empty()).collect();
    if shown.is_empty() {
        return;
    }
    o.push_str("<h3>By group</h3><div class=\"grid\">");
    for (k, bd) in shown.iter().enumerate() {
        let refs: Vec<(&str, &Row)> = bd.groups.iter().map(|g| (g.label.as_str(), &g.row)).collect();
        let chart = rows_chart(
            format!("b{}-{}", i + 1, k + 1),
            format!("{} by {}", ob.label, bd.variable.label.to_lowercase()),
            ob,
            &bd.groups,
            b,
        );
        o.push_str("<div class=\"cell\">");
        let _ = write!(o, "<h4>{}</h4><figure>{}</figure>", esc(&bd.variable.label), chart.svg());
        group_table(
            b,
            &bd.variable.label,
            &refs,
            scale,
            format!("By {}: the chart's numbers", bd.variable.label.to_lowercase()),
        )
        .html(o);
        o.push_str("</div>");
    }
    o.push_str("</div>");
}

fn rows_chart(id: String, title: String, ob: &OutcomeBundle, groups: &[Group], b: &Bundle) -> DotChart {
    let refs: Vec<(&str, &Row)> = groups.iter().map(|g| (g.label.as_str(), &g.row)).collect();
    DotChart {
        id,
        desc: format!(
            "{title}, wave {}: each point is the estimate with a bar for its {:.0}% confidence interval.{}",
            b.latest,
            b.level * 100.0,
            count_gaps(&refs)
        ),
        title,
        groups: groups.iter().map(|g| g.label.clone()).collect(),
        series: vec![Series {
            name: format!("Wave {}", b.latest),
            values: groups.iter().map(|g| interval(&g.row)).collect(),
        }],
        line: None,
        value_label: axis_label(ob),
        group_label: String::new(),
        percent: ob.statistic == "proportion",
        orientation: Orientation::Rows,
        gap_text: ".. suppressed".into(),
    }
}

fn waves(b: &Bundle, ob: &OutcomeBundle, scale: Scale, i: usize, o: &mut String) {
    if ob.waves.len() < 2 {
        return;
    }
    let mut chart = rows_chart(format!("w{}", i + 1), format!("{} by wave", ob.label), ob, &ob.waves, b);
    chart.desc = format!(
        "{} in each wave: each point is the estimate with a bar for its {:.0}% confidence interval.",
        ob.label,
        b.level * 100.0
    );
    chart.series[0].name = "All respondents".into();
    let refs: Vec<(&str, &Row)> = ob.waves.iter().map(|g| (g.label.as_str(), &g.row)).collect();
    let mut t = group_table(b, "wave", &refs, scale, "By wave: the chart's numbers".into());
    t.notes.push("Each wave's estimate over its own respondents.".into());
    o.push_str("<h3>Change between waves</h3><figure>");
    o.push_str(&chart.svg());
    o.push_str("</figure>");
    t.html(o);
    if ob.wave_deciles.len() >= 2 {
        wave_gradient(b, ob, i, o);
    }
    if let Some(c) = &ob.change {
        change_table(b, ob, c, scale, o);
    }
}

/// The deprivation gradient of each wave compared, one series per wave.
fn wave_gradient(b: &Bundle, ob: &OutcomeBundle, i: usize, o: &mut String) {
    let mut groups: Vec<String> = Vec::new();
    for (_, gs) in &ob.wave_deciles {
        for g in gs {
            if !groups.contains(&g.label) {
                groups.push(g.label.clone());
            }
        }
    }
    groups.sort_by_key(|g| g.parse::<i64>().unwrap_or(i64::MAX));
    let series: Vec<Series> = ob
        .wave_deciles
        .iter()
        .map(|(w, gs)| Series {
            name: format!("Wave {w}"),
            values: groups
                .iter()
                .map(|l| gs.iter().find(|g| &g.label == l).and_then(|g| interval(&g.row)))
                .collect(),
        })
        .collect();
    let gaps = series.iter().flat_map(|s| s.values.iter()).filter(|v| v.is_none()).count();
    let vintage = imd_vintage(b);
    let chart = DotChart {
        id: format!("wg{}", i + 1),
        title: format!("{}: deprivation gradient in each wave", ob.label),
        desc: format!(
            "{} by {vintage} decile in each wave, from 1 (most deprived) on the left to 10 (least deprived) on the right: \
             circles are wave {}, open squares wave {}, each with a bar for its {:.0}% confidence interval.{}",
            ob.label,
            ob.wave_deciles[0].0,
            ob.wave_deciles[1].0,
            b.level * 100.0,
            if gaps > 0 {
                format!(" {gaps} estimate(s) are suppressed by disclosure control and not drawn.")
            } else {
                String::new()
            }
        ),
        groups,
        series,
        line: None,
        value_label: axis_label(ob),
        group_label: format!("{vintage} decile (1 = most deprived)"),
        percent: ob.statistic == "proportion",
        orientation: Orientation::Columns,
        gap_text: "..".into(),
    };
    o.push_str("<figure>");
    o.push_str(&chart.svg());
    let _ = write!(o, "<figcaption>{}</figcaption></figure>", esc(&chart.desc));
}

/// A note as a sentence: capital first letter, full stop.
fn sentence(n: &str) -> String {
    let mut c = n.chars();
    let mut s: String = c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// A difference on the outcome's scale: percentage points for a share.
fn diff_cell(x: Option<f64>, suppressed: bool, prop: bool) -> String {
    match x {
        Some(v) if prop => format!("{:+.1} pp", v * 100.0),
        Some(v) => format!("{v:+.2}"),
        None if suppressed => crate::report::table::SUPPRESSED.into(),
        None => "-".into(),
    }
}

/// The change from the first to the latest wave: overall, the SII, each decile.
fn change_table(b: &Bundle, ob: &OutcomeBundle, c: &ChangeOutput, scale: Scale, o: &mut String) {
    let prop = ob.statistic == "proportion";
    let [w0, w1] = c.waves;
    let (h0, h1, ci) = (format!("wave {w0}"), format!("wave {w1}"), format!("{:.0}% CI", b.level * 100.0));
    let mut t = Table::new(&["", &h0, &h1, "change", &ci, "n"], &[]);
    t.caption = Some(format!("Change from wave {w0} to wave {w1}, over the combined design"));
    let vintage = imd_vintage(b);
    let mut push = |label: String, r: &ChangeRow, sii: bool| {
        let level = |x: Option<f64>| {
            if sii {
                diff_cell(x, r.suppressed, prop)
            } else {
                value_cell(x, r.suppressed, scale)
            }
        };
        let ci = match (r.ci_low, r.ci_high) {
            (Some(l), Some(h)) => format!("{} to {}", diff_cell(Some(l), false, prop), diff_cell(Some(h), false, prop)),
            _ if r.suppressed => crate::report::table::SUPPRESSED.into(),
            _ => "-".into(),
        };
        t.body.push(vec![
            label,
            level(r.estimates[0]),
            level(r.estimates[1]),
            diff_cell(r.change, r.suppressed, prop),
            ci,
            format!("{} / {}", r.n[0], r.n[1]),
        ]);
    };
    push("Everyone".into(), &c.overall, false);
    if let Some(sii) = &c.sii {
        push("Slope index of inequality".into(), sii, true);
    }
    for g in &c.groups {
        let label = g.by.values().next().map(|l| format!("{vintage} decile {l}")).unwrap_or_default();
        push(label, g, false);
    }
    if t.has_suppressed() {
        t.notes.push(suppression_note(b));
    }
    t.notes.extend(c.notes.iter().map(|n| sentence(n)));
    if prop {
        t.notes.push("pp = percentage points.".into());
    }
    t.html(o);
}

fn wards(b: &Bundle, ob: &OutcomeBundle, scale: Scale, o: &mut String) {
    if ob.wards.is_empty() {
        return;
    }
    let refs: Vec<(&str, &Row)> = ob.wards.iter().map(|g| (g.label.as_str(), &g.row)).collect();
    let t = group_table(b, "ward", &refs, scale, format!("By ward (wave {}), highest first", b.latest));
    o.push_str("<h3>Wards</h3>");
    t.html(o);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sii_line_runs_from_b0_to_b0_plus_b1() {
        let m = |k, e: f64| Measure::new(k, e, 0.1, (e - 0.2, e + 0.2), 0.95, Some(40.0));
        // PHQ-9 caseness of the demo: SII -0.356, RII (b0 + b1) / b0 = 0.115
        let (start, end) = sii_line(&[m(MeasureKind::Sii, -0.356), m(MeasureKind::RiiLinear, 0.115)]).unwrap();
        assert!((start - 0.356 / 0.885).abs() < 1e-12 && (end - (start - 0.356)).abs() < 1e-12);
        assert_eq!(
            sii_line(&[m(MeasureKind::Sii, 0.0), m(MeasureKind::RiiLinear, 1.0)]),
            None,
            "no line without a slope"
        );
        assert_eq!(sii_line(&[m(MeasureKind::Sii, 1.0)]), None, "no line without the RII");
    }

    #[test]
    fn differences_are_signed_and_in_points_for_shares() {
        assert_eq!(diff_cell(Some(-0.113), false, true), "-11.3 pp");
        assert_eq!(diff_cell(Some(0.41), false, false), "+0.41");
        assert_eq!(diff_cell(None, true, true), "..");
        assert_eq!(
            sentence("standard errors over the combined design"),
            "Standard errors over the combined design."
        );
    }
}
