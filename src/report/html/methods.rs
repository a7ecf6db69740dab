//! The methods section of the report: design, weighting, variance, confidence intervals,
//! degrees of freedom, disclosure control, the deprivation index used and its attribution.
//!
//! Owns describing in words how the numbers were made, from the bundle's design and
//! settings. Must not estimate or read the store.

use std::fmt::Write as _;

use super::outcome::{imd_vintage, suppression_note};
use super::PageOptions;
use crate::analysis::bundle::Bundle;
use crate::report::table::esc;
use crate::schema::Fpc;

/// The weighting in words.
pub fn weighting(b: &Bundle, opts: &PageOptions) -> String {
    match (&opts.weights, &b.design.weight) {
        (Some(w), _) => format!("the weight set '{w}'"),
        (None, Some(w)) => format!("the design weight '{w}'"),
        (None, None) => "equal weights (the definition names no weight)".into(),
    }
}

/// The design in words.
pub fn design_words(b: &Bundle) -> String {
    let d = &b.design;
    let mut parts = Vec::new();
    match &d.strata {
        Some(s) => parts.push(format!("stratified by '{s}'")),
        None => parts.push("unstratified".into()),
    }
    match d.psu.len() {
        0 => parts.push("no clustering".into()),
        1 => parts.push(format!("clusters (PSUs) '{}'", d.psu[0])),
        _ => parts.push(format!("{} stages of clusters ({})", d.psu.len(), d.psu.join(", "))),
    }
    if let Some(f) = &d.fpc {
        let stages: Vec<String> = f
            .iter()
            .map(|x| match x {
                Fpc::Column(c) => format!("'{c}'"),
                Fpc::Value(v) => format!("{v}"),
            })
            .collect();
        parts.push(format!("finite population correction {}", stages.join(", ")));
    }
    parts.join(", ")
}

/// The methods section.
pub fn section(b: &Bundle, opts: &PageOptions, o: &mut String) {
    let d = &b.design;
    let dc = &b.disclosure;
    let lvl = b.level * 100.0;
    o.push_str("<section id=\"methods\"><h2>Methods</h2><dl>");
    let mut item = |term: &str, text: String| {
        let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(term), text);
    };
    item("Design", esc(&format!("{}; lonely PSUs: {}.", design_words(b), d.lonely_psu)));
    item("Weighting", esc(&format!("Estimates are weighted by {}.", weighting(b, opts))));
    item(
        "Variance",
        esc(&format!(
            "Taylor series linearisation over the full design{}, as R's survey package (svydesign, svymean, \
             svyciprop); every group is a domain of the full design, not a filtered copy of the data.",
            if d.ultimate_cluster { " (first stage only)" } else { " (every stage)" }
        )),
    );
    item(
        "Confidence intervals",
        esc(&format!(
            "{lvl:.0}%. Means: normal intervals, as confint(). Shares: the logit method of svyciprop, with t on the \
             group's degrees of freedom. Slope and relative indices: t with the model's degrees of freedom \
             (svyglm on the ridit of the deprivation deciles; the linear RII by the delta method, the log-linear \
             RII from the log-link model). Gap and ratio: normal intervals from the deciles' joint covariance."
        )),
    );
    item(
        "Degrees of freedom",
        esc(&format!(
            "{} for wave {} (PSUs minus strata); each group's own are counted over its rows.",
            d.df, b.latest
        )),
    );
    item(
        "Disclosure control",
        esc(&if b.suppressed {
            format!(
                "{} Bases under {} are flagged, and so are coefficients of variation over {:.0}%.",
                suppression_note(b),
                dc.flag_base,
                dc.max_cv * 100.0
            )
        } else {
            "Off for this report: small cells are shown. Do not publish it as it is.".into()
        }),
    );
    let geo: Vec<String> = b
        .geography
        .iter()
        .map(|g| format!("{} {} ({}, {} rows)", g.kind, g.vintage, g.source, g.rows))
        .collect();
    if geo.is_empty() {
        item("Deprivation", "No geography is loaded in the store.".into());
    } else {
        item(
            "Deprivation",
            esc(&format!(
                "Deciles of the {}: 1 is the most deprived tenth of small areas in the country. Geography loaded: {}.",
                imd_vintage(b),
                geo.join("; ")
            )),
        );
        item("Attribution", esc(crate::geo::OGL_ATTRIBUTION));
    }
    o.push_str("</dl></section>\n");
}
