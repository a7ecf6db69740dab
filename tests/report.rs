//! `hearth report`: the demo's report rendered in headless Chromium (loads without console
//! errors, every chart has a size, screenshots at desktop and phone width are not blank, it
//! prints to PDF), and a store with small cells whose suppressed numbers appear nowhere.
//!
//! Chromium is required: where it is missing the browser test fails saying how to install
//! it (`.ci/run` installs it). `HEARTH_CHROMIUM` names another binary; `HEARTH_SCREENSHOTS`
//! names a directory to keep the screenshots and the PDF in.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The Chromium binary, or a failure saying how to get one.
fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("HEARTH_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        if let Ok(out) = Command::new("sh").args(["-c", &format!("command -v {name}")]).output() {
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !p.is_empty() {
                return PathBuf::from(p);
            }
        }
    }
    panic!(
        "the report's browser test needs headless Chromium, and none was found on PATH: install it with \
         `apt-get install -y chromium` (Debian; .ci/run does this), or set HEARTH_CHROMIUM to a Chromium binary"
    );
}

/// Runs headless Chromium on `page` with `args`; returns (stdout, stderr).
fn browse(page: &Path, args: &[&str]) -> (String, String) {
    let profile = tempdir();
    let out = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "chromium {args:?} failed ({:?}):\n{se}", out.status.code());
    (so, se)
}

/// The demo store and its report in `dir`; returns the report's path.
fn demo_report(dir: &Path) -> PathBuf {
    ok(dir, &["demo", "--keep", "demo"]);
    ok(dir, &["report", "demo/demo.db", "--out", "report.html", "--title", "Demo report"]);
    dir.join("report.html")
}

/// A probe added to a copy of the page: records load errors, then writes every SVG's
/// rendered size and the errors into the DOM, which `--dump-dom` prints.
const PROBE: &str = "<script>window.__errs=[];window.addEventListener('error',function(e){__errs.push(String(e.message||\
(e.target&&(e.target.src||e.target.href))||'error'))},true);window.addEventListener('load',function(){var r=[];\
document.querySelectorAll('svg').forEach(function(s){var b=s.getBoundingClientRect();r.push([b.width,b.height])});\
var p=document.createElement('pre');p.id='hearth-probe';p.textContent=JSON.stringify({svgs:r,errors:__errs});\
document.body.appendChild(p)});</script>";

#[test]
fn the_demo_report_renders_in_headless_chromium() {
    let d = tempdir();
    let page = demo_report(d.path());
    let html = std::fs::read_to_string(&page).unwrap();
    // self-contained: no script, nothing fetched
    assert!(!html.contains("<script"), "the report needs no script");
    for fetch in ["src=", "http://", "https://", "url(", "@import", "<link"] {
        let allowed = fetch == "http://" && html.matches(fetch).count() == html.matches("http://www.w3.org/2000/svg").count();
        assert!(allowed || !html.contains(fetch), "the report fetches something: {fetch}");
    }
    let svgs = html.matches("<svg").count();
    assert!(svgs >= 8 * 3, "{svgs} charts");
    assert_eq!(html.matches("<title id=").count(), svgs, "every chart has a title");
    assert_eq!(html.matches("<desc id=").count(), svgs, "every chart has a description");

    // loads without console errors; every chart has a size
    let probe = d.path().join("probe.html");
    std::fs::write(&probe, html.replacen("<head>", &format!("<head>{PROBE}"), 1)).unwrap();
    let (dom, log) = browse(&probe, &["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages:\n{}", console.join("\n"));
    let start = dom.find("<pre id=\"hearth-probe\">").expect("the probe ran") + "<pre id=\"hearth-probe\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end].replace("&quot;", "\"");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["errors"], serde_json::json!([]), "load errors");
    let sizes = v["svgs"].as_array().unwrap();
    assert_eq!(sizes.len(), svgs);
    for (i, s) in sizes.iter().enumerate() {
        let (w, h) = (s[0].as_f64().unwrap(), s[1].as_f64().unwrap());
        assert!(w > 100.0 && h > 40.0, "chart {i} renders at {w} x {h}");
    }

    // screenshots at desktop and phone width, not blank; the page prints
    let keep = std::env::var_os("HEARTH_SCREENSHOTS").map(PathBuf::from);
    for (name, size) in [("desktop", "1280,2400"), ("phone", "390,2400")] {
        let png = d.path().join(format!("{name}.png"));
        browse(&page, &[&format!("--window-size={size}"), &format!("--screenshot={}", png.display())]);
        let img = png::decode(&std::fs::read(&png).unwrap());
        let width: u32 = size.split(',').next().unwrap().parse().unwrap();
        assert_eq!(img.width, width, "{name}");
        assert_eq!(img.pixels.len(), (img.width * img.height) as usize, "{name}: every row decoded");
        let (colours, inked) = img.colours_and_ink();
        assert!(colours > 16, "{name} screenshot has {colours} colours: blank?");
        assert!(inked > 0.02, "{name} screenshot is {:.1}% ink: blank?", inked * 100.0);
        if let Some(k) = &keep {
            std::fs::create_dir_all(k).unwrap();
            std::fs::copy(&png, k.join(format!("{name}.png"))).unwrap();
        }
    }
    let pdf = d.path().join("report.pdf");
    browse(&page, &["--no-pdf-header-footer", &format!("--print-to-pdf={}", pdf.display())]);
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "not a PDF");
    let pages = bytes.windows(12).filter(|w| w.starts_with(b"/Type /Page") && w[11] != b's').count();
    assert!(pages > 8, "{pages} pages: one section per outcome starts a page");
    if let Some(k) = &keep {
        std::fs::copy(&pdf, k.join("report.pdf")).unwrap();
        std::fs::copy(&page, k.join("report.html")).unwrap();
    }
}

/// A store of the household survey with few households, so that many cells are small.
fn small_store(dir: &Path) -> PathBuf {
    let def = hearth::schema::load_file(&survey_definition()).unwrap();
    let csv = dir.join("w1.csv");
    let opts = hearth::simulate::SimOptions {
        households: 60,
        seed: 11,
        wave: 1,
        areas: Vec::new(),
        psus: None,
    };
    hearth::simulate::simulate_csv(&def, &opts, std::fs::File::create(&csv).unwrap()).unwrap();
    let db = dir.join("small.db");
    ok(dir, &["init", db.to_str().unwrap(), "--definition", survey_definition().to_str().unwrap()]);
    ok(dir, &["import", db.to_str().unwrap(), "--wave", "1", csv.to_str().unwrap()]);
    ok(dir, &["geo", "load", db.to_str().unwrap(), "--builtin", "imd2019"]);
    db
}

/// A cell's numbers: (what, estimate, low, high).
type Cell = (String, f64, f64, f64);

/// The rows of `outcome` by `by` as `analyze` gives them: the cells it suppresses with their
/// numbers (from the same analysis unsuppressed), and the cells it shows.
fn cells(dir: &Path, db: &str, outcome: &str, by: &str, stat: &str) -> (Vec<Cell>, Vec<Cell>) {
    let rows = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["analyze", db, "--outcome", outcome, "--by", by, "--stat", stat, "--format", "json"];
        args.extend(extra);
        let v: serde_json::Value = serde_json::from_str(&ok(dir, &args)).unwrap();
        v["rows"].as_array().unwrap().clone()
    };
    let (shown, all) = (rows(&[]), rows(&["--no-suppress"]));
    assert_eq!(shown.len(), all.len());
    let cell = |r: &serde_json::Value| -> Option<Cell> {
        Some((
            format!("{outcome} by {by} {}", r["by"]),
            r["estimate"].as_f64()?,
            r["ci_low"].as_f64().unwrap_or(f64::NAN),
            r["ci_high"].as_f64().unwrap_or(f64::NAN),
        ))
    };
    let suppressed = shown
        .iter()
        .zip(&all)
        .filter(|(s, _)| s["suppressed"] == serde_json::json!(true))
        .filter_map(|(_, a)| cell(a))
        .collect();
    (suppressed, shown.iter().filter_map(cell).collect())
}

/// A cell's numbers as the report writes them, each a whole table cell: a mean to 2 decimals,
/// a share as a percentage.
fn forms(c: &Cell) -> Vec<String> {
    let (what, est, lo, hi) = c;
    if what.starts_with("phq9") {
        vec![format!(">{:.1}%<", est * 100.0), format!(">{:.1} to {:.1}%<", lo * 100.0, hi * 100.0)]
    } else {
        vec![format!(">{est:.2}<"), format!(">{lo:.2} to {hi:.2}<")]
    }
}

#[test]
fn numbers_that_disclosure_control_removed_appear_nowhere_in_the_report() {
    let d = tempdir();
    let db = small_store(d.path());
    let db = db.to_str().unwrap();
    let page = d.path().join("small.html");
    ok(
        d.path(),
        &["report", db, "--out", page.to_str().unwrap(), "--outcome", "swemwbs_metric_score,phq9_caseness"],
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let (mut hidden, mut shown) = (Vec::new(), Vec::new());
    for by in ["imd_decile", "age_group", "sex", "ethnic_group", "tenure", "ward"] {
        for (o, stat) in [("swemwbs_metric_score", "mean"), ("phq9_caseness", "proportion")] {
            let (h, s) = cells(d.path(), db, o, by, stat);
            hidden.extend(h);
            shown.extend(s);
        }
    }
    assert!(hidden.len() >= 10, "the store should have small cells: {} found", hidden.len());
    // the gradient chart draws a point for each decile shown, none for a suppressed one
    let deciles = |extra: &[&str]| -> usize {
        let mut args = vec!["analyze", db, "--outcome", "swemwbs_metric_score", "--by", "imd_decile", "--format", "json"];
        args.extend(extra);
        let v: serde_json::Value = serde_json::from_str(&ok(d.path(), &args)).unwrap();
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["by"].as_object().unwrap().is_empty() && !r["estimate"].is_null())
            .count()
    };
    let (n_shown, n_all) = (deciles(&[]), deciles(&["--no-suppress"]));
    assert!(n_shown < n_all, "some deciles should be suppressed ({n_shown} of {n_all} shown)");
    let start = html.find("<title id=\"g1-t\">").expect("the first gradient chart");
    let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
    assert_eq!(svg.matches("<circle").count(), n_shown + 1, "one point per decile shown, and the legend's");
    assert_eq!(svg.matches(">..</text>").count(), n_all - n_shown, "a gap per suppressed decile");
    assert!(
        html.contains("<span class=\"supp\" title=\"suppressed\">..</span>"),
        "suppressed cells are shown as such"
    );
    assert!(
        html.contains("= suppressed by disclosure control: fewer than 10 respondents"),
        "the rule is in a footnote"
    );
    // a suppressed cell's number is nowhere, unless a cell shown has the same text
    let legit: std::collections::HashSet<String> = shown.iter().flat_map(forms).collect();
    let mut checked = 0;
    for c in &hidden {
        for f in forms(c).into_iter().filter(|f| !legit.contains(f)) {
            checked += 1;
            if let Some(at) = html.find(&f) {
                let from = html[..at].char_indices().rev().nth(300).map_or(0, |(i, _)| i);
                panic!("{}: suppressed value {f} is in the report: ...{}", c.0, &html[from..(at + 60).min(html.len())]);
            }
        }
    }
    assert!(checked >= hidden.len(), "{checked} forms of {} suppressed cells checked", hidden.len());
}

#[test]
fn a_report_without_outcomes_says_how_to_name_them() {
    let d = tempdir();
    let db = d.path().join("t.db");
    let def = fixture("import/tiny.yaml");
    ok(d.path(), &["init", db.to_str().unwrap(), "--definition", def.to_str().unwrap()]);
    let err = fails(d.path(), &["report", db.to_str().unwrap(), "--out", "r.html"], 2);
    assert!(err.contains("--outcome VAR") && err.contains("headline: true"), "{err}");
}

#[test]
fn a_store_without_geography_reports_its_breakdowns_and_says_what_is_left_out() {
    let d = tempdir();
    let db = d.path().join("t.db");
    let db = db.to_str().unwrap();
    ok(d.path(), &["init", db, "--definition", fixture("import/tiny.yaml").to_str().unwrap()]);
    ok(d.path(), &["import", db, "--wave", "1", fixture("import/good.csv").to_str().unwrap()]);
    let err = hearth(d.path(), &["report", db, "--out", "r.html", "--outcome", "height,smoker"]);
    assert!(err.status.success(), "{}", String::from_utf8_lossy(&err.stderr));
    let html = std::fs::read_to_string(d.path().join("r.html")).unwrap();
    assert!(html.contains("no geography is loaded: the deprivation gradients and the ward tables are left out"));
    assert!(!html.contains("Deprivation gradient"));
    assert!(html.contains("<h4>Sex</h4>"), "the sex breakdown");
    assert!(html.contains("Overall share"), "a yes/no outcome is a share");
}

/// A PNG decoder for the screenshots Chromium writes (8-bit RGB or RGBA, not interlaced).
mod png {
    use std::io::Read;

    pub struct Image {
        pub width: u32,
        pub height: u32,
        /// RGB per pixel.
        pub pixels: Vec<[u8; 3]>,
    }

    impl Image {
        /// Distinct colours (up to 1000 counted) and the share of pixels that are not the
        /// most common colour.
        pub fn colours_and_ink(&self) -> (usize, f64) {
            let mut counts = std::collections::HashMap::new();
            for p in &self.pixels {
                *counts.entry(*p).or_insert(0usize) += 1;
            }
            let top = counts.values().copied().max().unwrap_or(0);
            (counts.len().min(1000), 1.0 - top as f64 / self.pixels.len().max(1) as f64)
        }
    }

    pub fn decode(bytes: &[u8]) -> Image {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let (mut i, mut idat, mut hdr) = (8, Vec::new(), None);
        while i + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
            let kind = &bytes[i + 4..i + 8];
            let data = &bytes[i + 8..i + 8 + len];
            match kind {
                b"IHDR" => hdr = Some(data.to_vec()),
                b"IDAT" => idat.extend_from_slice(data),
                b"IEND" => break,
                _ => {}
            }
            i += 12 + len;
        }
        let h = hdr.expect("IHDR");
        let width = u32::from_be_bytes(h[0..4].try_into().unwrap());
        let height = u32::from_be_bytes(h[4..8].try_into().unwrap());
        assert_eq!(h[8], 8, "8-bit");
        assert_eq!(h[12], 0, "not interlaced");
        let bpp = match h[9] {
            2 => 3,
            6 => 4,
            c => panic!("colour type {c}"),
        };
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..]).read_to_end(&mut raw).unwrap();
        let stride = width as usize * bpp;
        let mut prev = vec![0u8; stride];
        let mut pixels = Vec::with_capacity((width * height) as usize);
        for row in raw.chunks(stride + 1).take(height as usize) {
            let (f, src) = (row[0], &row[1..]);
            let mut cur = vec![0u8; stride];
            for x in 0..stride {
                let a = if x >= bpp { cur[x - bpp] as i16 } else { 0 };
                let b = prev[x] as i16;
                let c = if x >= bpp { prev[x - bpp] as i16 } else { 0 };
                let pred = match f {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => {
                        let p = a + b - c;
                        let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                        if pa <= pb && pa <= pc {
                            a
                        } else if pb <= pc {
                            b
                        } else {
                            c
                        }
                    }
                    _ => panic!("filter {f}"),
                };
                cur[x] = src[x].wrapping_add(pred as u8);
            }
            pixels.extend(cur.chunks(bpp).map(|p| [p[0], p[1], p[2]]));
            prev = cur;
        }
        Image { width, height, pixels }
    }
}
