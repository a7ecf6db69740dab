//! Definition checking: the corpus of broken definitions and the exact problems `hearth
//! validate` reports for each, the shipped definitions and instruments, robustness of the loader
//! on mangled input, and `definition infer`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::*;

fn broken_dir() -> PathBuf {
    fixture("definitions/broken")
}

/// `expected.txt`: `== FILE` headers, each followed by the problem lines for that file.
fn expected() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(broken_dir().join("expected.txt")).expect("read expected.txt");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("== ") {
            assert!(out.insert(name.to_string(), Vec::new()).is_none(), "expected.txt: {name} listed twice");
            current = Some(name.to_string());
            continue;
        }
        let name = current
            .as_ref()
            .unwrap_or_else(|| panic!("expected.txt: line before the first '== FILE': {line}"));
        out.get_mut(name).unwrap().push(line.to_string());
    }
    out
}

fn broken_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(broken_dir())
        .expect("read broken dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

/// A line diff of expected and actual, `-` for missing lines and `+` for unexpected ones.
fn diff(expected: &[String], actual: &[String]) -> String {
    let mut out = String::new();
    let (n, m) = (expected.len(), actual.len());
    // longest common subsequence table
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push_str(&format!("    {}\n", expected[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("  + {}\n", actual[j]));
            j += 1;
        } else {
            out.push_str(&format!("  - {}\n", expected[i]));
            i += 1;
        }
    }
    out
}

#[test]
fn every_broken_definition_reports_its_problems() {
    let expected = expected();
    let files = broken_files();
    assert!(files.len() >= 30, "only {} broken definitions", files.len());
    let listed: Vec<&String> = expected.keys().collect();
    let on_disk: Vec<&String> = files.iter().collect();
    assert_eq!(listed, on_disk, "expected.txt and the .yaml files in fixtures/definitions/broken differ");
    let mut failures = String::new();
    for name in &files {
        let out = hearth(&broken_dir(), &["validate", name]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut lines = stderr.lines();
        let first = lines.next().unwrap_or("");
        let actual: Vec<String> = lines.map(str::to_string).collect();
        let want = &expected[name];
        if out.status.code() != Some(1) {
            failures.push_str(&format!("{name}: exit {:?}, expected 1\n{stderr}\n", out.status.code()));
            continue;
        }
        if want.is_empty() {
            failures.push_str(&format!("{name}: expected.txt lists no problems\n"));
        }
        let header = format!("error: {name}: {} problem(s)", actual.len());
        if first != header {
            failures.push_str(&format!("{name}: first line\n  expected: {header}\n  actual:   {first}\n"));
        }
        for l in &actual {
            if !l.starts_with(&format!("{name}:")) {
                failures.push_str(&format!("{name}: a problem line does not start with FILE:LINE:COL: {l}\n"));
            }
        }
        if &actual != want {
            failures.push_str(&format!(
                "{name}: problems differ from expected.txt (- expected, + actual):\n{}",
                diff(want, &actual)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
}

#[test]
fn every_problem_of_a_file_is_reported_in_one_pass() {
    let expected = expected();
    let several = expected.values().filter(|v| v.len() >= 3).count();
    assert!(several >= 2, "the corpus needs files with several problems");
    assert!(expected["many_problems.yaml"].len() >= 8, "{:?}", expected["many_problems.yaml"]);
}

#[test]
fn missing_file_is_a_usage_error() {
    let d = tempdir();
    let err = fails(d.path(), &["validate", "no-such-file.yaml"], 2);
    assert!(err.contains("no-such-file.yaml"), "{err}");
}

#[test]
fn shipped_definitions_validate() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("schemas")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            n += 1;
            let d = tempdir();
            let out = ok(d.path(), &["validate", p.to_str().unwrap()]);
            let line = out.lines().next().unwrap_or("");
            assert!(line.starts_with(&format!("{}: ok: survey '", p.display())), "{out}");
        }
    }
    assert!(n >= 1, "no shipped definitions found");
}

#[test]
fn every_builtin_instrument_loads_in_a_unit() {
    let lib = hearth::schema::Library::builtin().expect("builtin instruments load");
    let ids: Vec<&str> = lib.ids().collect();
    assert!(ids.len() >= 10, "{ids:?}");
    for id in &ids {
        let text = format!(
            "survey: t\ntitle: T\nversion: 1\nunits:\n  - id: person\n    key: person_id\n    questions:\n      - {{id: person_id, type: integer, label: Person}}\n    instruments: [{id}]\n"
        );
        let def = hearth::schema::load_str(&text, &format!("{id}.yaml")).unwrap_or_else(|e| panic!("instrument {id}: {e}"));
        let unit = &def.units[0];
        assert_eq!(unit.instruments, vec![id.to_string()]);
        let doc = lib.get(id).unwrap();
        let items = unit.questions.iter().filter(|q| q.instrument.as_deref() == Some(*id)).count();
        assert_eq!(items, doc.questions.len(), "instrument {id}: items in the unit");
        let scores = unit.derived.iter().filter(|d| d.instrument.as_deref() == Some(*id)).count();
        assert_eq!(scores, doc.derived.len(), "instrument {id}: derived variables in the unit");
        assert!(scores >= 1, "instrument {id} scores nothing");
    }
    // all of them together in one unit
    let text = format!(
        "survey: t\ntitle: T\nversion: 1\nunits:\n  - id: person\n    key: person_id\n    questions:\n      - {{id: person_id, type: integer, label: Person}}\n    instruments: [{}]\n",
        ids.join(", ")
    );
    hearth::schema::load_str(&text, "all.yaml").unwrap_or_else(|e| panic!("all instruments: {e}"));
}

/// Loads `text`, requiring Ok or Err and no panic; `what` describes the input on failure.
fn load_without_panic(text: &str, what: &str) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hearth::schema::load_str(text, "mutant.yaml").is_ok())) {
        Ok(ok) => ok,
        Err(_) => panic!("load_str panicked on {what}:\n----\n{text}\n----"),
    }
}

#[test]
fn no_input_makes_the_loader_panic() {
    for name in broken_files() {
        let text = std::fs::read_to_string(broken_dir().join(&name)).unwrap();
        assert!(!load_without_panic(&text, &name), "{name} loads without problems");
    }
    let shipped = std::fs::read_to_string(survey_definition()).unwrap();
    assert!(load_without_panic(&shipped, "the shipped definition"));
    let lines: Vec<&str> = shipped.lines().collect();
    let chars: Vec<char> = shipped.chars().collect();
    let mut rng = hearth::simulate::Rng::new(20240611);
    let mut loaded = 0;
    let n = 300;
    for i in 0..n {
        let (what, text) = match i % 6 {
            0 => {
                // delete 1-3 consecutive lines
                let at = rng.range(0, lines.len() as i64 - 1) as usize;
                let k = rng.range(1, 3) as usize;
                let kept: Vec<&str> = lines.iter().enumerate().filter(|(j, _)| *j < at || *j >= at + k).map(|(_, l)| *l).collect();
                (format!("mutation {i}: lines {}..{} deleted", at + 1, at + k), kept.join("\n"))
            }
            1 => {
                // swap two neighbouring characters
                let mut c = chars.clone();
                let at = rng.range(0, c.len() as i64 - 2) as usize;
                c.swap(at, at + 1);
                (format!("mutation {i}: characters {at} and {} swapped", at + 1), c.into_iter().collect())
            }
            2 => {
                // truncate
                let at = rng.range(0, chars.len() as i64) as usize;
                (format!("mutation {i}: truncated after {at} characters"), chars[..at].iter().collect())
            }
            3 => {
                // insert a character that matters to YAML or to expressions
                const SPECIAL: &[char] = &[
                    ':', '{', '}', '[', ']', '"', '\'', '-', '#', '\t', ' ', '\n', '.', '(', ')', '&', '*', '!', '|', '>', '%', '@', 'é',
                ];
                let mut c = chars.clone();
                let at = rng.range(0, c.len() as i64) as usize;
                let ch = SPECIAL[rng.range(0, SPECIAL.len() as i64 - 1) as usize];
                c.insert(at, ch);
                (format!("mutation {i}: {ch:?} inserted at {at}"), c.into_iter().collect())
            }
            4 => {
                // duplicate a line (duplicate keys and ids)
                let at = rng.range(0, lines.len() as i64 - 1) as usize;
                let mut l = lines.clone();
                l.insert(at, lines[at]);
                (format!("mutation {i}: line {} duplicated", at + 1), l.join("\n"))
            }
            _ => {
                // change a digit or a letter inside a word
                let mut c = chars.clone();
                for _ in 0..3 {
                    let at = rng.range(0, c.len() as i64 - 1) as usize;
                    if c[at].is_ascii_alphanumeric() {
                        c[at] = if c[at].is_ascii_digit() { '9' } else { 'x' };
                    }
                }
                (format!("mutation {i}: characters changed"), c.into_iter().collect())
            }
        };
        if load_without_panic(&text, &what) {
            loaded += 1;
        }
    }
    // most mutations must be caught; some (a comment or a label changed) are harmless
    assert!(loaded < n, "every mutation loaded");
}

#[test]
fn infer_handles_dotted_column_names() {
    let d = tempdir();
    let p = d.path();
    let data = fixture("conformance/apiclus1.csv");
    let out = hearth(p, &["definition", "infer", data.to_str().unwrap(), "--out", "apiclus1.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // every dotted column is renamed, and the notes say so
    for (col, id) in [("sch.wide", "sch_wide"), ("acs.k3", "acs_k3"), ("api.stu", "api_stu"), ("avg.ed", "avg_ed")] {
        assert!(
            stderr.contains(&format!("column '{col}' became question '{id}', which reads it with `column: {col}`")),
            "no note for {col}:\n{stderr}"
        );
    }
    // a code with leading zeros stays text
    assert!(stderr.contains("column 'cds' has values with leading zeros"), "{stderr}");
    let yaml = std::fs::read_to_string(p.join("apiclus1.yaml")).unwrap();
    assert!(yaml.contains("{id: sch_wide, column: \"sch.wide\", type: boolean"), "{yaml}");
    assert!(yaml.contains("{id: cds, type: text"), "{yaml}");
    assert!(yaml.contains("{id: pw, type: decimal"), "{yaml}");
    assert!(yaml.contains("{id: stype, type: select_one"), "{yaml}");
    assert!(yaml.contains("key: cds"), "{yaml}");
    let ok_line = ok(p, &["validate", "apiclus1.yaml"]);
    assert!(
        ok_line.contains("apiclus1.yaml: ok: survey 'inferred' version 1, 1 unit(s), 39 questions"),
        "{ok_line}"
    );
    // the analyst's file imports as it is, dotted headers and all (issue 14.8)
    ok(p, &["init", "api.db", "--definition", "apiclus1.yaml"]);
    let imported = ok(p, &["import", "api.db", "--wave", "1", data.to_str().unwrap()]);
    assert!(imported.contains("183"), "{imported}");
    // a second run does not overwrite without --force
    let err = fails(p, &["definition", "infer", data.to_str().unwrap(), "--out", "apiclus1.yaml"], 2);
    assert!(err.contains("exists already"), "{err}");
}
