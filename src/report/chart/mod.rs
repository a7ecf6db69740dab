//! SVG charts for the report: estimates with confidence intervals by group, drawn as inline
//! SVG that needs no script, font or file.
//!
//! Owns the chart model ([`DotChart`]: groups, one or more series of estimates with their
//! intervals, an optional fitted line) and its drawing. Accessible by construction: every
//! chart carries a `<title>` and a `<desc>`, series differ by marker shape and fill as well as
//! colour (Okabe-Ito palette, readable in greyscale), the fitted line is dashed, and a group
//! with no estimate (suppressed by disclosure control) is drawn as a labelled gap, never as a
//! number or a position. The report puts a table of the same numbers beside each chart. Must
//! not compute estimates or decide what is suppressed; [`scale`] owns the axis arithmetic.

pub mod scale;

use std::fmt::Write as _;

use self::scale::Linear;
use super::table::esc;

/// The Okabe-Ito colours used, in order: blue, orange, bluish green, vermillion.
pub const PALETTE: [&str; 4] = ["#0072B2", "#E69F00", "#009E73", "#D55E00"];

/// The longest group label a row chart writes in full (longer ones end in an ellipsis; the
/// table beside the chart has them whole).
const LABEL_CHARS: usize = 24;

/// An estimate with its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The estimate.
    pub estimate: f64,
    /// Lower limit, when there is one.
    pub low: Option<f64>,
    /// Upper limit, when there is one.
    pub high: Option<f64>,
}

/// One series: a value per group (`None`: no estimate shown, e.g. suppressed).
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// One per group, in the chart's group order.
    pub values: Vec<Option<Interval>>,
}

/// Which way the groups run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Groups along the horizontal axis, values up (the deprivation gradient).
    Columns,
    /// Groups down the page, values across (breakdowns with long labels).
    Rows,
}

/// A fitted straight line across the groups: its value at the first group's outer edge and
/// at the last group's outer edge (the SII line from the most to the least deprived end).
#[derive(Debug, Clone)]
pub struct Line {
    /// Its name in the legend.
    pub name: String,
    /// Value at the start of the group axis.
    pub start: f64,
    /// Value at the end of the group axis.
    pub end: f64,
}

/// Estimates with intervals by group, as an accessible SVG.
#[derive(Debug, Clone)]
pub struct DotChart {
    /// Element id prefix (unique in the page).
    pub id: String,
    /// The chart's title (SVG `<title>`).
    pub title: String,
    /// What it shows in words (SVG `<desc>`).
    pub desc: String,
    /// Group labels, in order.
    pub groups: Vec<String>,
    /// Series (at most four are told apart).
    pub series: Vec<Series>,
    /// A fitted line, when there is one.
    pub line: Option<Line>,
    /// Label of the value axis.
    pub value_label: String,
    /// Label of the group axis.
    pub group_label: String,
    /// Values are proportions, shown as percentages.
    pub percent: bool,
    /// Which way the groups run.
    pub orientation: Orientation,
    /// Text for a group without an estimate.
    pub gap_text: String,
}

/// The marker of series `i`: circle filled, square open, triangle filled, diamond open.
fn marker(i: usize, x: f64, y: f64) -> String {
    let c = PALETTE[i % PALETTE.len()];
    match i % 4 {
        0 => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{c}\" stroke=\"#000\" stroke-width=\"1\"/>"),
        1 => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"#fff\" stroke=\"{c}\" stroke-width=\"2.5\"/>",
            x - 5.0,
            y - 5.0
        ),
        2 => format!(
            "<path d=\"M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z\" fill=\"{c}\" stroke=\"#000\" stroke-width=\"1\"/>",
            y - 6.0,
            x + 6.0,
            y + 5.0,
            x - 6.0,
            y + 5.0
        ),
        _ => format!(
            "<path d=\"M{x:.1} {:.1} L{:.1} {y:.1} L{x:.1} {:.1} L{:.1} {y:.1} Z\" fill=\"#fff\" stroke=\"{c}\" stroke-width=\"2.5\"/>",
            y - 6.0,
            x + 6.0,
            y + 6.0,
            x - 6.0
        ),
    }
}

impl DotChart {
    /// Every value the axis must hold: estimates, limits and the line's ends.
    fn values(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .flat_map(|i| [Some(i.estimate), i.low, i.high])
            .flatten()
            .collect();
        if let Some(l) = &self.line {
            v.extend([l.start, l.end]);
        }
        v
    }

    fn tick_text(&self, v: f64, d: usize) -> String {
        if self.percent {
            let d = d.saturating_sub(2);
            format!("{:.d$}%", v * 100.0)
        } else {
            format!("{v:.d$}")
        }
    }

    /// The chart as an `<svg>` element scaled to its container's width.
    pub fn svg(&self) -> String {
        match self.orientation {
            Orientation::Columns => self.columns(),
            Orientation::Rows => self.rows(),
        }
    }

    fn open(&self, out: &mut String, w: f64, h: f64) {
        let class = match self.orientation {
            Orientation::Columns => "chart cols",
            Orientation::Rows => "chart rows",
        };
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{class}\" viewBox=\"0 0 {w:.0} {h:.0}\" role=\"img\" \
             aria-labelledby=\"{id}-t {id}-d\" font-family=\"system-ui, sans-serif\" font-size=\"13\">\
             <title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
            esc(&self.title),
            esc(&self.desc),
            id = esc(&self.id),
        );
    }

    /// The legend, one entry per series and the line, in a row at `y` from `x`.
    fn legend(&self, out: &mut String, mut x: f64, y: f64) {
        let named = self.series.len() > 1 || self.line.is_some();
        if named {
            for (i, s) in self.series.iter().enumerate() {
                out.push_str(&marker(i, x + 6.0, y - 4.0));
                let _ = write!(out, "<text x=\"{:.1}\" y=\"{y:.1}\">{}</text>", x + 16.0, esc(&s.name));
                x += 34.0 + 9.0 * s.name.chars().count() as f64;
            }
        }
        if let Some(l) = &self.line {
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\
                 <text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
                y - 4.0,
                x + 24.0,
                y - 4.0,
                PALETTE[3],
                x + 30.0,
                esc(&l.name)
            );
        }
    }

    /// Groups along the bottom, values up.
    fn columns(&self) -> String {
        let (w, h) = (560.0, 350.0);
        let (left, right, top, bottom) = (64.0, 16.0, 36.0, 290.0);
        let ys = Linear::covering(self.values(), 5, false, bottom, top);
        let d = ys.decimals();
        let mut o = String::new();
        self.open(&mut o, w, h);
        self.legend(&mut o, left, 18.0);
        for t in ys.ticks() {
            let y = ys.at(t);
            let _ = write!(
                o,
                "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                w - right,
                left - 6.0,
                y + 4.0,
                self.tick_text(t, d)
            );
        }
        let n = self.groups.len().max(1) as f64;
        let band = (w - right - left) / n;
        let k = self.series.len().max(1) as f64;
        for (g, label) in self.groups.iter().enumerate() {
            let cx = left + band * (g as f64 + 0.5);
            let _ = write!(o, "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>", bottom + 20.0, esc(label));
            let mut any = false;
            for (si, s) in self.series.iter().enumerate() {
                let x = cx + (si as f64 - (k - 1.0) / 2.0) * 14.0;
                if let Some(Some(v)) = s.values.get(g) {
                    any = true;
                    if let (Some(l), Some(hh)) = (v.low, v.high) {
                        let _ = write!(
                            o,
                            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#333\" stroke-width=\"1.5\"/>\
                             <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\
                             <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>",
                            ys.at(l),
                            ys.at(hh),
                            x - 4.0,
                            ys.at(l),
                            x + 4.0,
                            ys.at(l),
                            x - 4.0,
                            ys.at(hh),
                            x + 4.0,
                            ys.at(hh)
                        );
                    }
                    o.push_str(&marker(si, x, ys.at(v.estimate)));
                }
            }
            if !any {
                let _ = write!(
                    o,
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\" font-style=\"italic\">{}</text>",
                    (top + bottom) / 2.0,
                    esc(&self.gap_text)
                );
            }
        }
        if let Some(l) = &self.line {
            let _ = write!(
                o,
                "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>",
                ys.at(l.start),
                w - right,
                ys.at(l.end),
                PALETTE[3]
            );
        }
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{:.1}\" y2=\"{bottom}\" stroke=\"#333\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text></svg>",
            w - right,
            (left + w - right) / 2.0,
            h - 8.0,
            esc(&self.group_label),
            (top + bottom) / 2.0,
            esc(&self.value_label)
        );
        o
    }

    /// Groups down the page with their labels on the left, values across.
    fn rows(&self) -> String {
        let w = 440.0;
        let longest = self.groups.iter().map(|g| g.chars().count()).max().unwrap_or(0).min(LABEL_CHARS) as f64;
        let left = (longest * 7.6 + 20.0).max(90.0);
        let right = 24.0;
        let k = self.series.len().max(1) as f64;
        let row_h = 14.0 * k + 12.0;
        let top = if self.series.len() > 1 || self.line.is_some() { 40.0 } else { 16.0 };
        let bottom = top + row_h * self.groups.len() as f64;
        let h = bottom + 40.0;
        let xs = Linear::covering(self.values(), 5, false, left, w - right);
        let d = xs.decimals();
        let mut o = String::new();
        self.open(&mut o, w, h);
        self.legend(&mut o, left, 18.0);
        for t in xs.ticks() {
            let x = xs.at(t);
            let _ = write!(
                o,
                "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 16.0,
                self.tick_text(t, d)
            );
        }
        for (g, label) in self.groups.iter().enumerate() {
            let cy = top + row_h * (g as f64 + 0.5);
            let shown: String = if label.chars().count() > LABEL_CHARS {
                label.chars().take(LABEL_CHARS - 1).chain(['\u{2026}']).collect()
            } else {
                label.clone()
            };
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left - 8.0,
                cy + 4.0,
                esc(&shown)
            );
            let mut any = false;
            for (si, s) in self.series.iter().enumerate() {
                let y = cy + (si as f64 - (k - 1.0) / 2.0) * 14.0;
                if let Some(Some(v)) = s.values.get(g) {
                    any = true;
                    if let (Some(l), Some(hh)) = (v.low, v.high) {
                        let _ = write!(
                            o,
                            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#333\" stroke-width=\"1.5\"/>",
                            xs.at(l),
                            xs.at(hh)
                        );
                    }
                    o.push_str(&marker(si, xs.at(v.estimate), y));
                }
            }
            if !any {
                let _ = write!(
                    o,
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\" font-style=\"italic\">{}</text>",
                    left + 6.0,
                    cy + 4.0,
                    esc(&self.gap_text)
                );
            }
        }
        let _ = write!(
            o,
            "<line x1=\"{left:.1}\" y1=\"{top}\" x2=\"{left:.1}\" y2=\"{bottom:.1}\" stroke=\"#333\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></svg>",
            (left + w - right) / 2.0,
            h - 10.0,
            esc(&self.value_label)
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(orientation: Orientation) -> DotChart {
        let iv = |e: f64| {
            Some(Interval {
                estimate: e,
                low: Some(e - 0.05),
                high: Some(e + 0.05),
            })
        };
        DotChart {
            id: "c1".into(),
            title: "Depression <by> decile".into(),
            desc: "Share by decile".into(),
            groups: vec!["1".into(), "2".into(), "3".into()],
            series: vec![
                Series {
                    name: "Wave 1".into(),
                    values: vec![iv(0.4), None, iv(0.2)],
                },
                Series {
                    name: "Wave 2".into(),
                    values: vec![iv(0.35), None, iv(0.25)],
                },
            ],
            line: Some(Line {
                name: "SII".into(),
                start: 0.45,
                end: 0.15,
            }),
            value_label: "Share".into(),
            group_label: "IMD decile".into(),
            percent: true,
            orientation,
            gap_text: "suppressed".into(),
        }
    }

    #[test]
    fn a_chart_is_titled_described_and_marks_its_gaps_in_words() {
        for o in [Orientation::Columns, Orientation::Rows] {
            let svg = chart(o).svg();
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
            assert!(svg.contains("<title id=\"c1-t\">Depression &lt;by&gt; decile</title><desc id=\"c1-d\">Share by decile</desc>"));
            assert!(svg.contains("aria-labelledby=\"c1-t c1-d\""));
            assert_eq!(svg.matches(">suppressed</text>").count(), 1, "{svg}");
            // two series told apart by shape: circles and open squares
            assert_eq!(svg.matches("<circle").count(), 2 + 1, "{o:?}");
            assert_eq!(svg.matches("<rect").count(), 2 + 1, "{o:?}");
            assert!(svg.contains(">40%</text>") || svg.contains(">40.0%</text>") || o == Orientation::Rows, "{svg}");
            assert!(svg.ends_with("</svg>"));
        }
    }

    #[test]
    fn the_fitted_line_is_dashed_in_the_fourth_colour() {
        let svg = chart(Orientation::Columns).svg();
        assert_eq!(svg.matches("stroke-dasharray=\"6 4\"").count(), 2, "legend and line");
        assert!(svg.contains(PALETTE[3]));
    }
}
