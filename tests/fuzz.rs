//! Seeded mutation fuzzing of the real binary (issue 15). Each case takes a shipped fixture
//! (`fixtures/import/*.csv`, `*.jsonl`, a slice of `fixtures/demo/*.csv`, `schemas/*.yaml`,
//! the instruments in `schemas/instruments/*.yaml` as flat surveys, or a `--where` expression
//! built from the demo's variables), mutates it (byte flips, hostile tokens, truncation, line
//! and column operations, deep nesting, long chains, YAML anchors and aliases, duplicate keys)
//! and runs `hearth` on it, checking that:
//!
//! - it exits 0, 1 or 2, never by a signal, an abort or a panic; 2 only for a usage or system
//!   error (a problem of the input is exit 1); with stderr unwritable an error is exit 2;
//! - stderr holds no raw control bytes, and every problem line names its place
//!   (`FILE:LINE[:COL]`, `--where`);
//! - a failed import leaves the store byte for byte as it was; a successful one leaves
//!   `PRAGMA integrity_check` = ok, no control character in a record key, and no input that
//!   had to be refused (a JSON object naming a key twice) was accepted; `analyze` never
//!   changes the store;
//! - each case ends within the time limit and the memory limit (peak RSS of the child);
//! - a definition `validate` accepts, `init` accepts too.
//!
//! `cargo test` runs a short pass per target with fixed seeds. `HEARTH_FUZZ_SEED` and
//! `HEARTH_FUZZ_CASES` (cases per target) change them; `HEARTH_FUZZ_CASE=TARGET:N` runs one
//! case; `HEARTH_FUZZ_VERBOSE=1` prints every case. The long run (README, "Fuzzing"):
//! `cargo test --test tests fuzz::long -- --ignored --nocapture`. The first cases of each
//! failure class are kept, input and command, under `target/tmp/fuzz-failures/`.
//!
//! Layout: `rng.rs` (the seeded generator), `mutate.rs` (the mutations), `exec.rs` (running
//! one case under watch); here the targets, their shared stores, the checks and the report.

mod exec;
mod mutate;
mod rng;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::common::{fixture, root, survey_definition};
use exec::{Killed, Limits, Run};
use mutate::{Format, Mutated};
use rng::{mix, Rng};

/// What is fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// `import` of the import fixtures' CSV files into a store of `tiny.yaml`.
    ImportCsv,
    /// `import` of JSON Lines into a store of `tiny.yaml`.
    ImportJsonl,
    /// `import` of slices of the demo waves into a store of the household survey, geography loaded.
    ImportDemo,
    /// `validate` of the shipped definitions and instruments.
    Validate,
    /// `analyze --where` on the demo store.
    Where,
}

const TARGETS: [Target; 5] = [Target::ImportCsv, Target::ImportJsonl, Target::ImportDemo, Target::Validate, Target::Where];

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::ImportCsv => "import-csv",
            Target::ImportJsonl => "import-jsonl",
            Target::ImportDemo => "import-demo",
            Target::Validate => "validate",
            Target::Where => "where",
        }
    }

    /// Cases of a short run (`cargo test`), chosen to keep the whole pass under a minute in a
    /// debug build on two cores.
    fn short_cases(self) -> usize {
        match self {
            Target::ImportCsv => 90,
            Target::ImportJsonl => 60,
            Target::ImportDemo => 20,
            Target::Validate => 60,
            Target::Where => 40,
        }
    }

    /// The fixed seed of the short run.
    fn short_seed(self) -> u64 {
        match self {
            Target::ImportCsv => 0x5eed_0001,
            Target::ImportJsonl => 0x5eed_0002,
            Target::ImportDemo => 0x5eed_0003,
            Target::Validate => 0x5eed_0004,
            Target::Where => 0x5eed_0005,
        }
    }

    /// Peak resident memory above which a case fails: a few times what a plain run of the
    /// command takes in a debug build.
    fn memory_limit(self) -> u64 {
        match self {
            Target::ImportCsv | Target::ImportJsonl => 256 << 20,
            Target::ImportDemo => 384 << 20,
            // the target: any definition up to 5 MB within 200 MB
            Target::Validate => 200 << 20,
            Target::Where => 1 << 30,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The wall clock a case may take (debug build, shared machine).
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// A child above this is killed whatever the target, so that a blow-up cannot take the
/// machine down.
const KILL_RSS: u64 = 2 << 30;

/// Which check a case failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    /// Ended by a signal (stack overflow, abort, segfault).
    Crash,
    /// Exit 101: a panic.
    Panic,
    /// An exit code other than 0, 1, 2.
    ExitCode,
    /// Exit 2 for a problem of the input.
    Exit2,
    /// Exit 1 although stderr could not be written (it must be 2: the report was lost).
    StderrFull,
    /// Over the time limit.
    Time,
    /// Over the memory limit.
    Memory,
    /// Raw control bytes or invalid UTF-8 on stderr.
    ControlBytes,
    /// A problem line that names no place.
    NoPlace,
    /// A failed import (or an analysis) changed the store.
    StoreChanged,
    /// A successful import left a store failing `PRAGMA integrity_check`.
    Integrity,
    /// A record key holding a control character was accepted.
    KeyControl,
    /// An input that must be refused was accepted.
    Accepted,
    /// `validate` accepted a definition that `init` refuses.
    InitRefused,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A check expected to fail until a fix elsewhere lands.
struct Pending {
    target: Target,
    check: Check,
    /// Text the failure's class contains.
    class: &'static str,
    /// The fix.
    until: &'static str,
    /// Whether the short run's fixed seeds hit it today: once the fix is merged, the short run
    /// says the entry no longer fails, and fails itself until the entry is removed.
    short: bool,
}

#[allow(dead_code)] // for the next entry of PENDING
const fn p(target: Target, check: Check, class: &'static str, until: &'static str, short: bool) -> Pending {
    Pending {
        target,
        check,
        class,
        until,
        short,
    }
}

/// Checks expected to fail until a named fix lands: none (issues 14 and 15 are merged).
const PENDING: &[Pending] = &[];

/// One failed check of one case.
#[derive(Debug, Clone)]
struct Finding {
    check: Check,
    /// What exactly (the offending line, the figure).
    detail: String,
    /// What failures are grouped by: the detail with numbers and quoted values blanked, or
    /// for time, memory and crashes, the kind of mutation that caused it.
    class: String,
}

/// One case ready to run.
struct Case {
    target: Target,
    index: u64,
    seed: u64,
    /// The input file (name, bytes); none for `--where`.
    input: Option<(String, Vec<u8>)>,
    args: Vec<OsString>,
    ops: Vec<String>,
    base: String,
    must_refuse: Option<String>,
    stderr_full: bool,
    /// A reason exit 2 is right for this case (a usage error).
    exit2_ok: Option<&'static str>,
    /// The store template the case runs against (copied per case for imports).
    store: Option<&'static Template>,
    skip_invalid: bool,
}

/// A store built once, copied per case.
struct Template {
    path: PathBuf,
    bytes: Vec<u8>,
}

// ---------------------------------------------------------------- the shared setup

/// The directory of the templates of this process; directories of finished processes go.
fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-work");
        std::fs::create_dir_all(&base).unwrap();
        for e in std::fs::read_dir(&base).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("pid-") {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("pid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// Runs hearth during setup and insists on success.
fn setup_run(dir: &Path, args: &[&str]) -> String {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let r = exec::run(
        dir,
        &args,
        false,
        Limits {
            time: Duration::from_secs(300),
            kill_rss: KILL_RSS,
        },
    );
    assert_eq!(
        r.code,
        Some(0),
        "fuzz setup: hearth {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    String::from_utf8_lossy(&r.stdout).into_owned()
}

fn template(name: &str, build: impl FnOnce(&Path)) -> Template {
    let dir = work_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    build(&dir);
    let path = dir.join("s.db");
    // a store at rest: no WAL left beside it, so its bytes are all of it
    assert!(!dir.join("s.db-wal").exists() || std::fs::metadata(dir.join("s.db-wal")).unwrap().len() == 0);
    Template {
        bytes: std::fs::read(&path).unwrap(),
        path,
    }
}

/// A store of `tiny.yaml` holding `good.csv` in wave 1 (so conflicts and re-imports happen).
fn tiny_store() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        template("tiny", |dir| {
            std::fs::copy(fixture("import/good.csv"), dir.join("good.csv")).unwrap();
            let def = fixture("import/tiny.yaml");
            setup_run(dir, &["init", "s.db", "--definition", def.to_str().unwrap()]);
            setup_run(dir, &["import", "s.db", "--wave", "1", "good.csv"]);
        })
    })
}

/// The demo waves: header and rows.
struct Demo {
    header: Vec<u8>,
    /// Data rows of each wave, grouped by household (each a run of lines).
    households: Vec<Vec<Vec<u8>>>,
}

fn demo() -> &'static Demo {
    static D: OnceLock<Demo> = OnceLock::new();
    D.get_or_init(|| {
        let mut header = Vec::new();
        let mut households = Vec::new();
        for wave in ["demo/wave1.csv", "demo/wave2.csv"] {
            let text = std::fs::read(fixture(wave)).unwrap();
            let mut lines = text.split_inclusive(|c| *c == b'\n');
            header = lines.next().unwrap().to_vec();
            let mut current: Vec<Vec<u8>> = Vec::new();
            let mut key: &[u8] = b"";
            for l in lines {
                let k = l.split(|c| *c == b',').next().unwrap();
                if k != key && !current.is_empty() {
                    households.push(std::mem::take(&mut current));
                }
                key = k;
                current.push(l.to_vec());
            }
            households.push(current);
        }
        Demo { header, households }
    })
}

/// Header and households `from..to` of the demo as one CSV.
fn demo_slice(from: usize, to: usize) -> Vec<u8> {
    let d = demo();
    let mut out = d.header.clone();
    for h in &d.households[from..to.min(d.households.len())] {
        for l in h {
            out.extend_from_slice(l);
        }
    }
    out
}

/// A store of the household survey with geography loaded and 60 households in wave 1.
fn demo_import_store() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        template("demo-import", |dir| {
            let def = survey_definition();
            setup_run(dir, &["init", "s.db", "--definition", def.to_str().unwrap()]);
            setup_run(dir, &["geo", "load", "s.db", "--builtin", "imd2019"]);
            std::fs::write(dir.join("w1.csv"), demo_slice(0, 60)).unwrap();
            setup_run(dir, &["import", "s.db", "--wave", "1", "w1.csv"]);
        })
    })
}

/// The demo store (both waves, geography) that `--where` cases analyse.
fn demo_store() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        template("demo", |dir| {
            let def = survey_definition();
            setup_run(dir, &["init", "s.db", "--definition", def.to_str().unwrap()]);
            setup_run(dir, &["geo", "load", "s.db", "--builtin", "imd2019"]);
            for (w, f) in [("1", "demo/wave1.csv"), ("2", "demo/wave2.csv")] {
                let p = fixture(f);
                setup_run(dir, &["import", "s.db", "--wave", w, p.to_str().unwrap()]);
            }
            // every variable the generator uses exists and evaluates
            let all: Vec<String> = VARS.iter().map(|(v, _)| format!("not is_missing({v})")).collect();
            setup_run(dir, &["analyze", "s.db", "--outcome", "age", "--where", &all.join(" or ")]);
        })
    })
}

/// The import fixtures of one extension (name, bytes).
fn import_fixtures(ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture("import"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn csv_bases() -> &'static [(String, Vec<u8>)] {
    static B: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    B.get_or_init(|| import_fixtures("csv"))
}

/// The JSON Lines fixtures, and `good.csv`'s store exported as JSON Lines.
fn jsonl_bases() -> &'static [(String, Vec<u8>)] {
    static B: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    B.get_or_init(|| {
        let mut out = import_fixtures("jsonl");
        let t = tiny_store();
        let dir = t.path.parent().unwrap();
        setup_run(dir, &["export", "s.db", "--format", "jsonl", "--out", "export.jsonl", "--include-identifiers"]);
        out.push(("export.jsonl".into(), std::fs::read(dir.join("export.jsonl")).unwrap()));
        out
    })
}

/// The definitions `validate` starts from: the shipped survey, the instruments written as flat
/// surveys (the binary embeds its instruments, so a mutated instrument reaches it this way:
/// the same YAML reader, question and expression checks), `tiny.yaml` and the bench survey.
fn yaml_bases() -> &'static [(String, Vec<u8>)] {
    static B: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    B.get_or_init(|| {
        let mut out = vec![
            ("household-health-survey.yaml".to_string(), std::fs::read(survey_definition()).unwrap()),
            ("tiny.yaml".to_string(), std::fs::read(fixture("import/tiny.yaml")).unwrap()),
            ("survey-60.yaml".to_string(), std::fs::read(fixture("bench/survey-60.yaml")).unwrap()),
        ];
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("schemas/instruments"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        let dir = work_dir().join("instruments");
        std::fs::create_dir_all(&dir).unwrap();
        for p in files {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let survey = instrument_as_survey(&std::fs::read_to_string(&p).unwrap());
            std::fs::write(dir.join(&name), &survey).unwrap();
            // the conversion is faithful: the unmutated instrument validates
            setup_run(&dir, &["validate", &name]);
            out.push((name, survey.into_bytes()));
        }
        out
    })
}

/// An instrument file as a flat survey of one unit: its items become the unit's questions,
/// its scores derived variables of that unit, its params their default values.
fn instrument_as_survey(text: &str) -> String {
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with(|c: char| c.is_ascii_lowercase()) {
            let key = line.split(':').next().unwrap().to_string();
            sections.push((key, vec![line]));
        } else if let Some(s) = sections.last_mut() {
            s.1.push(line);
        }
    }
    let section = |k: &str| sections.iter().find(|s| s.0 == k).map(|s| s.1.clone()).unwrap_or_default();
    // params: `  name:` then `    value: N`, or `  name: {value: N, ...}`, or `  name: N`
    let mut params: Vec<(String, String)> = Vec::new();
    let mut current: Option<String> = None;
    for l in section("params").iter().skip(1) {
        let ind = l.len() - l.trim_start().len();
        let t = l.trim();
        if ind == 2 && t.contains(':') {
            let (name, rest) = t.split_once(':').unwrap();
            let rest = rest.trim();
            current = Some(name.to_string());
            if let Some(v) = rest.strip_prefix('{').and_then(|r| r.split("value:").nth(1)) {
                params.push((name.into(), v.split([',', '}']).next().unwrap().trim().into()));
            } else if !rest.is_empty() {
                params.push((name.into(), rest.into()));
            }
        } else if let (Some(name), Some(v)) = (&current, t.strip_prefix("value:")) {
            params.push((name.clone(), v.trim().into()));
        }
    }
    let mut out = String::from("survey: fuzz\nversion: 1\n");
    out.extend(section("title").iter().map(|l| format!("{l}\n")));
    out.push_str("units:\n  - id: person\n    key: fuzz_id\n    questions:\n");
    out.push_str("      - {id: fuzz_id, type: integer, required: true, label: Respondent}\n");
    for l in section("questions").iter().skip(1) {
        out.push_str(&format!("    {l}\n"));
    }
    for k in ["choices", "tables"] {
        out.extend(section(k).iter().map(|l| format!("{l}\n")));
    }
    for l in section("derived") {
        if let Some(rest) = l.strip_prefix("  - {") {
            out.push_str(&format!("  - {{unit: person, {rest}\n"));
        } else if let Some(rest) = l.strip_prefix("  - ") {
            out.push_str(&format!("  - unit: person\n    {rest}\n"));
        } else {
            out.push_str(&format!("{l}\n"));
        }
    }
    // whole-word replacement of the params by their values
    for (name, value) in &params {
        let mut s = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(name.as_str()) {
            let before = rest[..i].chars().next_back();
            let after = rest[i + name.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            s.push_str(&rest[..i]);
            s.push_str(if word(before) || word(after) { name } else { value });
            rest = &rest[i + name.len()..];
        }
        s.push_str(rest);
        out = s;
    }
    out
}

// ---------------------------------------------------------------- `--where` expressions

/// Variables of the demo survey the generator uses, with their kind: `n` number, `b` boolean,
/// `c` a select_one (codes 1-5), `t` text, `d` date.
const VARS: &[(&str, char)] = &[
    ("age", 'n'),
    ("household_size", 'n'),
    ("children", 'n'),
    ("weight", 'n'),
    ("psu", 'n'),
    ("age_group", 'n'),
    ("imd_decile", 'n'),
    ("imd_rank", 'n'),
    ("phq9_total", 'n'),
    ("gad7_total", 'n'),
    ("swemwbs_metric_score", 'n'),
    ("damp", 'b'),
    ("heating_adequate", 'b'),
    ("carer", 'b'),
    ("social_renter", 'b'),
    ("cold_or_damp_home", 'b'),
    ("age_65_plus", 'b'),
    ("phq9_caseness", 'b'),
    ("sex", 'c'),
    ("tenure", 'c'),
    ("stratum", 'c'),
    ("smoking_status", 'c'),
    ("gp_visits", 'c'),
    ("household_id", 't'),
    ("interviewer_id", 't'),
    ("lsoa", 't'),
    ("interview_date", 'd'),
];

fn var(rng: &mut Rng, kind: char) -> &'static str {
    let vs: Vec<&'static str> = VARS.iter().filter(|v| v.1 == kind).map(|v| v.0).collect();
    vs[rng.below(vs.len())]
}

fn num_expr(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.chance(0.4) {
        return if rng.chance(0.75) {
            var(rng, 'n').to_string()
        } else {
            rng.pick(&["0", "1", "2.5", "10", "-3", "65", "100000"]).to_string()
        };
    }
    let d = depth - 1;
    match rng.below(8) {
        0..=2 => {
            let op = rng.pick(&["+", "-", "*", "/"]);
            format!("{} {op} {}", num_expr(rng, d), num_expr(rng, d))
        }
        3 => format!("({})", num_expr(rng, d)),
        4 => {
            let f = rng.pick(&["sum", "mean", "min", "max", "coalesce"]);
            let n = rng.range(1, 4);
            let args: Vec<String> = (0..n).map(|_| num_expr(rng, d)).collect();
            format!("{f}({})", args.join(", "))
        }
        5 => format!("if({}, {}, {})", bool_expr(rng, d), num_expr(rng, d), num_expr(rng, d)),
        6 => format!("count_missing({}, {})", var(rng, 'n'), var(rng, 'c')),
        _ => format!("-{}", num_expr(rng, d)),
    }
}

fn bool_expr(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.chance(0.3) {
        return match rng.below(6) {
            0 => var(rng, 'b').to_string(),
            1 => format!("{} == {}", var(rng, 'c'), rng.range(1, 5)),
            2 => format!("is_missing({})", VARS[rng.below(VARS.len())].0),
            3 => format!("{} == '{}'", var(rng, 't'), rng.pick(&["H0000001", "T242", "E01012603", ""])),
            4 => format!("interview_date >= '{}'", rng.pick(&["2015-06-01", "2018-01-01"])),
            _ => format!("{} {} {}", var(rng, 'n'), rng.pick(&[">=", "<", "==", "!=", "="]), rng.range(0, 80)),
        };
    }
    let d = depth - 1;
    match rng.below(6) {
        0 => format!("{} and {}", bool_expr(rng, d), bool_expr(rng, d)),
        1 => format!("{} or {}", bool_expr(rng, d), bool_expr(rng, d)),
        2 => format!("not ({})", bool_expr(rng, d)),
        3 => format!("if({}, {}, {})", bool_expr(rng, d), bool_expr(rng, d), bool_expr(rng, d)),
        4 => format!("{} {} {}", num_expr(rng, d), rng.pick(&[">=", "<", "==", "!=", "<=", ">"]), num_expr(rng, d)),
        _ => format!("coalesce({}, false)", bool_expr(rng, d)),
    }
}

/// A `--where` up to 100 KB (the bound; Linux also caps one argument at 128 KB).
fn where_expr(rng: &mut Rng) -> (Vec<u8>, Vec<String>) {
    if rng.chance(0.3) {
        let num = var(rng, 'n').to_string();
        let boolean = if rng.chance(0.5) { var(rng, 'b').to_string() } else { format!("{num} > 1") };
        let mut n = rng.log_size(10, 20_000);
        loop {
            let (e, what) = mutate::long_expr(rng, &num, &boolean, n, None);
            if e.len() <= 100_000 {
                return (e.into_bytes(), vec![what]);
            }
            n = n * 100_000 / e.len();
        }
    }
    let depth = rng.range(1, 5);
    let base = bool_expr(rng, depth);
    let m = mutate::mutate(rng, base.as_bytes(), Format::Expr, None);
    let mut ops = vec![format!("from {}", mutate::show(base.as_bytes()))];
    ops.extend(m.ops);
    let mut bytes = m.bytes;
    bytes.truncate(100_000);
    (bytes, ops)
}

// ---------------------------------------------------------------- cases

fn make_case(target: Target, base_seed: u64, index: u64) -> Case {
    let seed = mix(base_seed, ((target as u64) << 32) | index);
    let mut rng = Rng::new(seed);
    // every other case starts with one of the telling operations of its format, in turn
    let focus = (index % 2 == 0).then_some((index / 2) as usize);
    let stderr_full = rng.chance(0.04);
    let mut case = Case {
        target,
        index,
        seed,
        input: None,
        args: Vec::new(),
        ops: Vec::new(),
        base: String::new(),
        must_refuse: None,
        stderr_full,
        exit2_ok: None,
        store: None,
        skip_invalid: false,
    };
    let import = |rng: &mut Rng, case: &mut Case, name: String, m: Mutated, store: &'static Template| {
        let wave = if rng.chance(0.5) { "1" } else { "2" };
        let mut args: Vec<OsString> = vec!["import".into(), "s.db".into(), "--wave".into(), wave.into()];
        if rng.chance(0.15) {
            args.push("--skip-invalid".into());
            case.skip_invalid = true;
        }
        if rng.chance(0.1) {
            args.push("--allow-missing-columns".into());
        }
        args.push(name.clone().into());
        case.args = args;
        case.ops = m.ops;
        case.must_refuse = if case.skip_invalid { None } else { m.must_refuse };
        case.input = Some((name, m.bytes));
        case.store = Some(store);
    };
    match target {
        Target::ImportCsv => {
            let (name, bytes) = rng.pick(csv_bases()).clone();
            let m = mutate::mutate(&mut rng, &bytes, Format::Csv, focus);
            case.base = name.clone();
            import(&mut rng, &mut case, name, m, tiny_store());
        }
        Target::ImportJsonl => {
            let (name, bytes) = rng.pick(jsonl_bases()).clone();
            let m = mutate::mutate(&mut rng, &bytes, Format::Jsonl, focus);
            case.base = name.clone();
            import(&mut rng, &mut case, name, m, tiny_store());
        }
        Target::ImportDemo => {
            let n = demo().households.len();
            let from = rng.below(n);
            let to = from + rng.range(1, 30);
            let bytes = demo_slice(from, to);
            let m = mutate::mutate(&mut rng, &bytes, Format::Csv, focus);
            case.base = format!("demo households {from}..{to}");
            import(&mut rng, &mut case, "wave.csv".into(), m, demo_import_store());
        }
        Target::Validate => {
            let (name, bytes) = rng.pick(yaml_bases()).clone();
            let m = mutate::mutate(&mut rng, &bytes, Format::Yaml, focus);
            case.base = name.clone();
            case.ops = m.ops;
            case.args = vec!["validate".into(), name.clone().into()];
            case.input = Some((name, m.bytes));
        }
        Target::Where => {
            let (expr, ops) = where_expr(&mut rng);
            // an argument cannot hold a NUL
            let expr: Vec<u8> = expr.into_iter().filter(|c| *c != 0).collect();
            if std::str::from_utf8(&expr).is_err() {
                case.exit2_ok = Some("an argument that is not UTF-8 is a usage error");
            }
            let mut w = b"--where=".to_vec();
            w.extend_from_slice(&expr);
            let outcome = *rng.pick(&["age", "age", "phq9_total", "damp"]);
            let store = demo_store();
            let mut args: Vec<OsString> = vec!["analyze".into(), store.path.clone().into(), "--outcome".into(), outcome.into()];
            if outcome == "damp" {
                args.extend(["--stat".into(), "proportion".into()]);
            }
            if rng.chance(0.3) {
                args.extend(["--by".into(), "sex".into()]);
            }
            args.push(OsString::from_vec(w));
            case.args = args;
            case.ops = ops;
            case.base = "generated".into();
            case.store = Some(store);
        }
    }
    case
}

/// Runs one case in `dir` (emptied first) and checks it.
fn run_case(case: &Case, dir: &Path) -> (Run, Vec<Finding>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let _ = std::fs::remove_file(e.path());
    }
    if let Some((name, bytes)) = &case.input {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    if let Some(t) = case.store {
        // analysis only reads: its one store is shared (named by its path), and checked after
        // each case; an import gets a fresh copy
        if case.target != Target::Where {
            std::fs::write(dir.join("s.db"), &t.bytes).unwrap();
        }
    }
    let limits = Limits {
        time: TIME_LIMIT,
        kill_rss: KILL_RSS.min(case.target.memory_limit() * 2),
    };
    let run = exec::run(dir, &case.args, case.stderr_full, limits);
    let mut findings = check(case, &run, dir);
    // what validate accepts, init must accept
    if case.target == Target::Validate && run.code == Some(0) && !case.stderr_full {
        let name = &case.input.as_ref().unwrap().0;
        let args: Vec<OsString> = ["init", "fz.db", "--definition", name].iter().map(OsString::from).collect();
        let init = exec::run(dir, &args, false, limits);
        if init.code != Some(0) {
            let err = String::from_utf8_lossy(&init.stderr).replace(name.as_str(), "FILE");
            let how = match (init.killed, init.code, init.signal) {
                (Some(Killed::Time), ..) => format!("init killed after {:.0} s", init.wall.as_secs_f64()),
                (Some(Killed::Memory), ..) => "init killed for its memory".to_string(),
                (None, Some(c), _) => format!("init exit {c}"),
                (None, None, s) => format!("init ended by signal {s:?}"),
            };
            let what = format!("{how}: {}", err.trim().replace('\n', " / "));
            findings.push(Finding {
                check: Check::InitRefused,
                class: normalise(&what),
                detail: what,
            });
        }
    }
    (run, findings)
}

/// Every check of one run.
fn check(case: &Case, run: &Run, dir: &Path) -> Vec<Finding> {
    let mut f = Vec::new();
    let cause = op_kind(&case.ops, false);
    // messages name the input file, or echo the expression: blanked for grouping
    let blank: Vec<String> = match (&case.input, case.target) {
        (Some((name, _)), _) => vec![name.clone()],
        (None, Target::Where) => {
            let w = case.args.last().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
            vec![w.trim_start_matches("--where=").to_string()]
        }
        _ => Vec::new(),
    };
    let normalise = |s: &str| {
        let mut s = s.to_string();
        for b in blank.iter().filter(|b| !b.is_empty()) {
            s = s.replace(b.as_str(), "FILE");
        }
        normalise(&s)
    };
    let mut add = |check: Check, detail: String, class: String| f.push(Finding { check, detail, class });
    let err = String::from_utf8_lossy(&run.stderr);
    let last_line = err.lines().last().unwrap_or("").to_string();
    let kill_at = KILL_RSS.min(case.target.memory_limit() * 2);
    match run.killed {
        Some(Killed::Time) => add(Check::Time, format!("killed after {:.1} s", run.wall.as_secs_f64()), cause.clone()),
        Some(Killed::Memory) => add(Check::Memory, format!("killed above {} MB resident", kill_at >> 20), cause.clone()),
        None => {
            if let Some(sig) = run.signal {
                let what = format!("{}: {last_line}", signal_name(sig));
                add(Check::Crash, what.clone(), format!("{} | {}", normalise(&what), op_kind(&case.ops, true)));
            }
        }
    }
    if run.killed.is_none() && run.wall > TIME_LIMIT {
        add(Check::Time, format!("{:.1} s", run.wall.as_secs_f64()), cause.clone());
    }
    if run.killed.is_none() && run.max_rss > case.target.memory_limit() {
        let what = format!("peak {} MB resident (limit {} MB)", run.max_rss >> 20, case.target.memory_limit() >> 20);
        add(Check::Memory, what, cause.clone());
    }
    match run.code {
        Some(101) if case.stderr_full => {
            let what = "panic with stderr on /dev/full".to_string();
            add(Check::Panic, what.clone(), what)
        }
        Some(101) => {
            let what = panic_line(&err);
            add(Check::Panic, what.clone(), normalise(&what))
        }
        Some(2) if !case.stderr_full && case.exit2_ok.is_none() => {
            let what = err.lines().next().unwrap_or("").to_string();
            add(Check::Exit2, what.clone(), normalise(&what))
        }
        Some(1) if case.stderr_full => {
            let what = "exit 1 with stderr on /dev/full (the report was lost: exit 2)".to_string();
            add(Check::StderrFull, what.clone(), what)
        }
        Some(c) if c > 2 => add(Check::ExitCode, format!("exit {c}: {last_line}"), format!("exit {c}")),
        _ => {}
    }
    if let Some((kind, line)) = control_bytes(&run.stderr) {
        add(
            Check::ControlBytes,
            format!("{kind} in {}", mutate::show(line.as_bytes())),
            format!("{kind} written raw"),
        );
    }
    if run.code == Some(1) || run.code == Some(0) {
        if let Some((line, continues)) = placeless_line(case, &err, run.code == Some(1)) {
            let class = if continues {
                "a problem goes on over several lines (a raw line break echoed)".to_string()
            } else {
                normalise(&line)
            };
            add(Check::NoPlace, mutate::show(line.as_bytes()), class);
        }
    }
    if let Some(t) = case.store {
        let import = case.target != Target::Where;
        let store = if import { dir.join("s.db") } else { t.path.clone() };
        // an import that reported its result on stdout happened, whatever failed afterwards
        // (writing to a full stderr); one that did not must have changed nothing
        let imported = import && String::from_utf8_lossy(&run.stdout).contains(" rows read; added ");
        if !import || !imported {
            let now = std::fs::read(&store).unwrap_or_default();
            let wal = std::fs::metadata(store.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0);
            if now != t.bytes || wal > 0 {
                let what = if import {
                    "a failed import changed the store"
                } else {
                    "an analysis changed the store"
                };
                add(
                    Check::StoreChanged,
                    format!("{what} ({} -> {} bytes, WAL {wal} bytes)", t.bytes.len(), now.len()),
                    what.into(),
                );
            }
        }
        if imported {
            match integrity(&store) {
                Ok(s) if s == "ok" => {}
                Ok(s) => add(Check::Integrity, s.clone(), normalise(&s)),
                Err(e) => add(Check::Integrity, e.clone(), normalise(&e)),
            }
            if let Some(k) = control_key(&store) {
                add(Check::KeyControl, k.clone(), normalise(&k));
            }
            // (a later mutation may have removed the line that had to be refused)
            let still_there = case.input.as_ref().is_some_and(|(_, bytes)| has_object_with_a_key_twice(bytes));
            if let Some(why) = case.must_refuse.as_ref().filter(|_| still_there) {
                add(Check::Accepted, why.clone(), normalise(why));
            }
        }
    }
    f
}

/// The kind of the mutation that most likely caused a failure of time, memory or a crash: of
/// the operations that grow a structure (aliases, nesting, long expressions, huge tokens,
/// repetition), the one that grows it most (an alias expansion by its fan-out to the power of
/// its levels, a repetition of near misses by its square, the others by their count), or else
/// the first operation; its numbers blanked.
fn op_kind(ops: &[String], crash: bool) -> String {
    // a crash is a stack overflow: only nesting and long expressions make the stack grow
    const DEEP: &[&str] = &["nested", "nesting", "terms", "'not'", "unary minus", "sum() of"];
    const GROWS: &[&str] = &[
        "alias expansion",
        "nested",
        "nesting",
        "terms",
        "'not'",
        "unary minus",
        "sum() of",
        "bytes)",
        "repeated",
        "repeat line",
    ];
    let size = |op: &str| -> f64 {
        // byte offsets and quoted names (ids with digits) do not count
        let op = op
            .split(" at byte ")
            .map(|p| p.trim_start_matches(|c: char| c.is_ascii_digit()))
            .collect::<String>();
        let op: String = op.split('\'').step_by(2).collect::<Vec<_>>().join(" ");
        let nums: Vec<f64> = op.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
        match nums.as_slice() {
            [levels, fan] if op.contains("alias expansion") => fan.powf(*levels),
            [n, ..] if op.contains("near miss") => n * n,
            ns => ns.iter().copied().fold(0.0, f64::max),
        }
    };
    let op = ops
        .iter()
        .filter(|o| (if crash { DEEP } else { GROWS }).iter().any(|g| o.contains(g)))
        .max_by(|a, b| size(a).total_cmp(&size(b)))
        .or_else(|| ops.iter().find(|o| !o.starts_with("from ")))
        .map_or("", String::as_str);
    let op = op.split(":= ").last().unwrap_or(op);
    let mut out = String::new();
    let mut digit = false;
    for (i, part) in op.split(" at byte ").enumerate() {
        // "at byte N" goes; the rest keeps its words, numbers blanked
        let part = if i == 0 {
            part
        } else {
            part.trim_start_matches(|c: char| c.is_ascii_digit())
        };
        for c in part.chars() {
            if c.is_ascii_digit() {
                if !digit {
                    out.push('N');
                }
                digit = true;
            } else {
                digit = false;
                out.push(c);
            }
        }
    }
    out
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGABRT => "SIGABRT: abort, e.g. a stack overflow",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGKILL => "SIGKILL",
        libc::SIGILL => "SIGILL",
        _ => "signal",
    }
}

fn panic_line(err: &str) -> String {
    let mut lines = err.lines();
    let head = lines.by_ref().find(|l| l.contains("panicked")).unwrap_or("");
    format!("{head} {}", lines.next().unwrap_or("")).trim().to_string()
}

/// The first raw control character (other than the line feed), direction override or
/// invalid UTF-8 on stderr: (what, the line).
fn control_bytes(err: &[u8]) -> Option<(String, String)> {
    let text = match std::str::from_utf8(err) {
        Ok(t) => t,
        Err(e) => {
            let line = err[..e.valid_up_to()].split(|c| *c == b'\n').next_back().unwrap_or(b"");
            return Some(("invalid UTF-8".into(), String::from_utf8_lossy(line).into_owned()));
        }
    };
    for line in text.lines() {
        let bad = |c: &char| (c.is_control() && *c != '\n') || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if let Some(c) = line.chars().find(bad) {
            let kind = match c {
                '\0' => "NUL".to_string(),
                '\r' => "CR".to_string(),
                '\t' => "TAB".to_string(),
                '\u{1b}' => "ESC".to_string(),
                c if (c as u32) < 0x20 => "a C0 control".to_string(),
                '\u{7f}' => "DEL".to_string(),
                c if (c as u32) < 0xa0 => "a C1 control".to_string(),
                c => format!("U+{:04X}", c as u32),
            };
            return Some((kind, line.to_string()));
        }
    }
    None
}

/// The first problem line that names no place, and whether it continues a problem begun on
/// the line before (a raw line break in an echoed value). Exit 1: with one line it is the
/// problem; with more, the first is the summary and each other line a problem, bar the
/// closing "... and N more". Exit 0: the problems listed under a `--skip-invalid` summary
/// (indented).
fn placeless_line(case: &Case, err: &str, failed: bool) -> Option<(String, bool)> {
    let lines: Vec<&str> = err.lines().collect();
    let problems: Vec<&str> = if !failed {
        lines.iter().copied().filter(|l| l.starts_with("  ")).map(str::trim_start).collect()
    } else if lines.len() == 1 {
        vec![lines[0].strip_prefix("error: ").unwrap_or(lines[0])]
    } else {
        let mut p: Vec<&str> = lines.iter().skip(1).copied().collect();
        if p.last().is_some_and(|l| l.starts_with("... and ") && l.ends_with(" more")) {
            p.pop();
        }
        p
    };
    let i = problems.iter().position(|l| !names_place(case, l))?;
    let continues = if i == 0 {
        failed && lines.len() > 1 && names_place(case, lines[0].strip_prefix("error: ").unwrap_or(lines[0]))
    } else {
        names_place(case, problems[i - 1])
    };
    Some((problems[i].to_string(), continues))
}

/// Whether a problem line starts with its place: `FILE:LINE` (import), `FILE:LINE:COL`
/// (validate), `--where` (analyze).
fn names_place(case: &Case, line: &str) -> bool {
    if case.target == Target::Where {
        return line.starts_with("--where");
    }
    let Some((name, _)) = &case.input else { return true };
    let Some(rest) = line.strip_prefix(name.as_str()).and_then(|r| r.strip_prefix(':')) else {
        return false;
    };
    let num = |s: &str| s.split(':').next().is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
    if case.target == Target::Validate {
        num(rest) && rest.split_once(':').is_some_and(|(_, r)| num(r))
    } else {
        num(rest)
    }
}

fn open_ro(db: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
}

fn integrity(db: &Path) -> Result<String, String> {
    open_ro(db)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .map_err(|e| format!("cannot check the store: {e}"))
}

/// A record key holding a control character, if the store has one.
fn control_key(db: &Path) -> Option<String> {
    let c = open_ro(db).ok()?;
    for (table, key) in [("u_household", "household_id"), ("u_person", "person_id")] {
        let mut st = c.prepare(&format!("SELECT CAST(\"{key}\" AS TEXT) FROM \"{table}\"")).ok()?;
        let keys: Vec<Option<String>> = st.query_map([], |r| r.get(0)).ok()?.flatten().collect();
        if let Some(k) = keys.into_iter().flatten().find(|k| k.chars().any(char::is_control)) {
            return Some(format!("{table}.{key} = {k:?}"));
        }
    }
    None
}

// ---------------------------------------------------------------- running and reporting

/// One failure: the case and what it failed.
struct Failure {
    target: Target,
    index: u64,
    seed: u64,
    base: String,
    ops: Vec<String>,
    finding: Finding,
    saved: PathBuf,
    pending: Option<&'static str>,
}

impl Failure {
    fn class(&self) -> String {
        format!("{} {}: {}", self.target, self.finding.check, self.finding.class)
    }
}

/// Digits and quoted text blanked, so that one defect gives one class.
fn normalise(s: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut prev_digit = false;
    for c in s.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
                out.push(q);
            }
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            out.push(c);
            out.push('…');
            prev_digit = false;
        } else if c.is_ascii_digit() {
            if !prev_digit {
                out.push('N');
            }
            prev_digit = true;
        } else {
            prev_digit = false;
            out.extend(c.escape_debug());
        }
        if out.len() > 100 {
            break;
        }
    }
    out
}

fn pending_for(target: Target, f: &Finding) -> Option<&'static str> {
    PENDING
        .iter()
        .find(|p| p.target == target && p.check == f.check && f.class.contains(p.class))
        .map(|p| p.until)
}

/// Saves a failing case: input, command, output.
fn save(case: &Case, run: &Run, dir: &Path) -> PathBuf {
    let to = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz-failures")
        .join(format!("{}-{}-{:016x}", case.target, case.index, case.seed));
    let _ = std::fs::create_dir_all(&to);
    if let Some((name, bytes)) = &case.input {
        let _ = std::fs::write(to.join(name), bytes);
    }
    let mut args: Vec<String> = case.args.iter().map(|a| shell_quote(&a.to_string_lossy())).collect();
    if case.target == Target::Where {
        // the expression, byte for byte, in a file the command reads
        let w = case.args.last().unwrap().clone().into_vec();
        let _ = std::fs::write(to.join("where.txt"), &w[b"--where=".len()..]);
        *args.last_mut().unwrap() = "--where=\"$(cat where.txt)\"".into();
        args[1] = "STORE".into();
    }
    // the store is not copied (it can be large): the command says how to build it
    let recipe = match case.target {
        Target::ImportCsv | Target::ImportJsonl => {
            "# s.db: hearth init s.db --definition fixtures/import/tiny.yaml && hearth import s.db --wave 1 fixtures/import/good.csv\n"
        }
        Target::ImportDemo => {
            "# s.db: hearth init s.db --definition schemas/household-health-survey.yaml && hearth geo load s.db --builtin imd2019 &&\n#   hearth import s.db --wave 1 W1.csv (the header and first 60 households of fixtures/demo/wave1.csv)\n"
        }
        Target::Where => {
            "# STORE: hearth init s.db --definition schemas/household-health-survey.yaml && hearth geo load s.db --builtin imd2019 &&\n#   hearth import s.db --wave 1 fixtures/demo/wave1.csv && hearth import s.db --wave 2 fixtures/demo/wave2.csv\n"
        }
        Target::Validate => "",
    };
    let cmd = format!(
        "# {} case {} (seed {:#x}) from {}: {}\n{recipe}cd {} && hearth {}{}\n",
        case.target,
        case.index,
        case.seed,
        case.base,
        case.ops.join("; "),
        to.display(),
        args.join(" "),
        if case.stderr_full { " 2>/dev/full" } else { "" }
    );
    let _ = std::fs::write(to.join("command.sh"), cmd);
    let _ = std::fs::write(to.join("stderr.txt"), &run.stderr);
    let _ = std::fs::copy(dir.join(".fuzz-stdout"), to.join("stdout.txt"));
    to
}

fn shell_quote(s: &str) -> String {
    if s.len() > 200 {
        return format!(
            "'{}...({} bytes)'",
            &s[..s.char_indices().nth(100).map_or(s.len(), |c| c.0)].replace('\'', "'\\''"),
            s.len()
        );
    }
    if s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_./=".contains(&c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Figures of a run of one target.
#[derive(Default)]
struct Stats {
    cases: usize,
    exits: BTreeMap<String, usize>,
    max_wall: Duration,
    max_rss: u64,
    total: Duration,
}

/// Runs cases `0..n` of `target` (or only `only`) with `seed`; returns the failures.
fn run_target(target: Target, seed: u64, n: u64, only: Option<u64>, stats: &mut Stats) -> Vec<Failure> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut saved_per_class: BTreeMap<String, usize> = BTreeMap::new();
    let verbose = std::env::var_os("HEARTH_FUZZ_VERBOSE").is_some();
    // the cases kept by an earlier run of this target go
    let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    for e in std::fs::read_dir(&kept).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&format!("{target}-")) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let start = Instant::now();
    for index in 0..n {
        if only.is_some_and(|o| o != index) {
            continue;
        }
        let case = make_case(target, seed, index);
        let (run, findings) = run_case(&case, dir.path());
        if verbose {
            eprintln!(
                "{target} {index}: exit {:?} signal {:?} {:.2} s {} MB: {}: {}",
                run.code,
                run.signal,
                run.wall.as_secs_f64(),
                run.max_rss >> 20,
                case.base,
                case.ops.join("; ")
            );
        }
        stats.cases += 1;
        let exit = match (run.code, run.signal) {
            (Some(c), _) => format!("exit {c}"),
            (_, Some(s)) => format!("signal {s}"),
            _ => "?".into(),
        };
        *stats.exits.entry(exit).or_default() += 1;
        stats.max_wall = stats.max_wall.max(run.wall);
        stats.max_rss = stats.max_rss.max(run.max_rss);
        if findings.is_empty() {
            continue;
        }
        // the first few cases of each class are kept (inputs run to megabytes)
        let keep = findings.iter().any(|f| {
            let n = saved_per_class.entry(format!("{:?} {}", f.check, f.class)).or_insert(0);
            *n += 1;
            *n <= 3
        });
        let saved = if keep {
            save(&case, &run, dir.path())
        } else {
            PathBuf::from("(not kept: see the first case of the class)")
        };
        for finding in findings {
            failures.push(Failure {
                target,
                index,
                seed: case.seed,
                base: case.base.clone(),
                ops: case.ops.clone(),
                pending: pending_for(target, &finding),
                finding,
                saved: saved.clone(),
            });
        }
    }
    stats.total += start.elapsed();
    failures
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    Some(
        v.strip_prefix("0x")
            .map(|h| u64::from_str_radix(h, 16))
            .unwrap_or_else(|| v.parse())
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
    )
}

/// `HEARTH_FUZZ_CASE=TARGET:N`: only case N of TARGET.
fn only_case(target: Target) -> Option<Option<u64>> {
    let v = std::env::var("HEARTH_FUZZ_CASE").ok()?;
    let (t, n) = v.split_once(':').expect("HEARTH_FUZZ_CASE=TARGET:N");
    if t != target.name() {
        return Some(Some(u64::MAX));
    }
    Some(Some(n.parse().expect("HEARTH_FUZZ_CASE=TARGET:N")))
}

/// A report of the failures, grouped by class, each with its first case.
fn report(seed_note: &str, failures: &[Failure]) -> String {
    let mut classes: BTreeMap<String, Vec<&Failure>> = BTreeMap::new();
    for f in failures {
        classes.entry(f.class()).or_default().push(f);
    }
    let mut out = String::new();
    for (class, fs) in &classes {
        let f = fs[0];
        out.push_str(&format!(
            "\n[{}] {} case(s): {class}\n  first: {} case {} (case seed {:#x}) from {}: {}\n  {}\n  saved in {}\n",
            f.pending.map_or("NEW".to_string(), |p| format!("pending until {p}")),
            fs.len(),
            f.target,
            f.index,
            f.seed,
            f.base,
            f.ops.join("; "),
            f.finding.detail.chars().take(300).collect::<String>(),
            f.saved.display()
        ));
    }
    format!("fuzz ({seed_note}): {} failure(s) in {} class(es){out}", failures.len(), classes.len())
}

/// The short run of one target: fixed seed unless `HEARTH_FUZZ_SEED`, fixed count unless
/// `HEARTH_FUZZ_CASES`.
fn short(target: Target) {
    let fixed = env_u64("HEARTH_FUZZ_SEED").is_none() && env_u64("HEARTH_FUZZ_CASES").is_none();
    let seed = env_u64("HEARTH_FUZZ_SEED").unwrap_or(target.short_seed());
    let n = env_u64("HEARTH_FUZZ_CASES").unwrap_or(target.short_cases() as u64);
    let only = only_case(target).flatten();
    if only == Some(u64::MAX) {
        return;
    }
    let mut stats = Stats::default();
    let failures = run_target(target, seed, n, only, &mut stats);
    let note = format!("target {target}, HEARTH_FUZZ_SEED={seed:#x} HEARTH_FUZZ_CASES={n}");
    eprintln!(
        "fuzz {target}: {} cases in {:.1} s, {:?}, slowest {:.2} s, peak {} MB",
        stats.cases,
        stats.total.as_secs_f64(),
        stats.exits,
        stats.max_wall.as_secs_f64(),
        stats.max_rss >> 20
    );
    let new = failures.iter().any(|f| f.pending.is_none());
    // with the fixed seeds, every pending entry of this target they hit must still fail
    let stale: Vec<String> = if fixed && only.is_none() {
        PENDING
            .iter()
            .filter(|p| p.target == target && p.short && !failures.iter().any(|f| f.finding.check == p.check && f.finding.class.contains(p.class)))
            .map(|p| {
                format!(
                    "{} {} {:?} (until {}) no longer fails: remove it from PENDING",
                    p.target, p.check, p.class, p.until
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    if !failures.is_empty() {
        eprintln!("{}", report(&note, &failures));
    }
    assert!(!new && stale.is_empty(), "{}\n{}", report(&note, &failures), stale.join("\n"));
}

#[test]
fn short_import_csv() {
    short(Target::ImportCsv);
}

#[test]
fn short_import_jsonl() {
    short(Target::ImportJsonl);
}

#[test]
fn short_import_demo() {
    short(Target::ImportDemo);
}

#[test]
fn short_validate() {
    short(Target::Validate);
}

#[test]
fn short_where() {
    short(Target::Where);
}

/// The long run: every target (or those of `HEARTH_FUZZ_TARGETS`), `HEARTH_FUZZ_CASES` cases
/// each (default 2,000), seeded from `HEARTH_FUZZ_SEED` or the clock; targets run on two
/// threads (`HEARTH_FUZZ_THREADS`). Prints figures and every
/// failure class; fails on any failure not pending.
#[test]
#[ignore = "long: cargo test --test tests fuzz::long -- --ignored --nocapture"]
fn long() {
    let seed = env_u64("HEARTH_FUZZ_SEED").unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    let n = env_u64("HEARTH_FUZZ_CASES").unwrap_or(2000);
    eprintln!("fuzz long run: HEARTH_FUZZ_SEED={seed:#x} HEARTH_FUZZ_CASES={n}");
    let start = Instant::now();
    let threads: usize = std::env::var("HEARTH_FUZZ_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    // HEARTH_FUZZ_TARGETS=validate,where: only those
    let only: Option<String> = std::env::var("HEARTH_FUZZ_TARGETS").ok();
    let targets: Vec<Target> = TARGETS
        .iter()
        .copied()
        .filter(|t| only.as_ref().is_none_or(|o| o.split(',').any(|n| n.trim() == t.name())))
        .collect();
    let queue = std::sync::Mutex::new(targets);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some(target) = queue.lock().unwrap().pop() else { break };
                let only = only_case(target).flatten();
                if only == Some(u64::MAX) {
                    continue;
                }
                let mut stats = Stats::default();
                let failures = run_target(target, seed, n, only, &mut stats);
                eprintln!(
                    "fuzz {target}: {} cases in {:.0} s, {:?}, slowest {:.2} s, peak {} MB\n{}",
                    stats.cases,
                    stats.total.as_secs_f64(),
                    stats.exits,
                    stats.max_wall.as_secs_f64(),
                    stats.max_rss >> 20,
                    report(&format!("target {target}"), &failures)
                );
                results.lock().unwrap().push((target, stats, failures));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let cases: usize = results.iter().map(|r| r.1.cases).sum();
    let failures: Vec<Failure> = results.into_iter().flat_map(|r| r.2).collect();
    let note = format!(
        "HEARTH_FUZZ_SEED={seed:#x} HEARTH_FUZZ_CASES={n}, {cases} cases in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    let text = report(&note, &failures);
    eprintln!("{text}");
    assert!(failures.iter().all(|f| f.pending.is_some()), "{text}");
}

/// Whether any line of a JSON Lines input is an object naming a key twice with different
/// values (what an import must refuse).
fn has_object_with_a_key_twice(bytes: &[u8]) -> bool {
    struct Entries(Vec<(String, serde_json::Value)>);
    impl<'de> serde::Deserialize<'de> for Entries {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Entries;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Entries, A::Error> {
                    let mut out = Vec::new();
                    while let Some(e) = m.next_entry::<String, serde_json::Value>()? {
                        out.push(e);
                    }
                    Ok(Entries(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    let text = String::from_utf8_lossy(bytes);
    text.split(['\n', '\r']).any(|line| {
        let line = line.trim_start_matches('\u{feff}');
        serde_json::from_str::<Entries>(line).is_ok_and(|Entries(e)| e.iter().enumerate().any(|(i, (k, v))| e[..i].iter().any(|(k2, v2)| k2 == k && v2 != v)))
    })
}
