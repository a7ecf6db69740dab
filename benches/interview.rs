//! The interview engine under a front end's load: one answer saved (the draft answer, its audit
//! entry and the interview's progress in one durable transaction) and what a page needs after
//! it (alerts, relevance changes, progress, the next step), on a store that already holds
//! about 100,000 persons, for a household with a roster of 1 and of 15 members, on the shipped
//! survey. `cargo bench --bench interview` (HEARTH_BENCH_SIZES=100000 sets the store's size).
//! `hearth serve` adds HTTP over loopback to these figures (see benches/serve.sh).

#[path = "common.rs"]
mod common;

use std::time::Instant;

use hearth::capture::interview::{Given, Interview, Prompt, StartOptions, Step};
use hearth::schema::QType;

/// A plausible answer for a prompt: the `n`th choice, or a value in range.
fn attempt(p: &Prompt, n: usize) -> Given {
    let pick = |v: &[&str]| Given::Value(v[n.min(v.len() - 1)].to_string());
    match p.qtype {
        QType::SelectOne | QType::SelectMultiple => match p.choices.get(n) {
            Some(c) => Given::Value(c.value.clone()),
            None if !p.missing.is_empty() => Given::Refused,
            None => Given::NoAnswer,
        },
        QType::Integer | QType::Decimal => pick(&["1", "2", "0", "3", "5", "16", "40", "70"]),
        QType::Boolean => pick(&["no", "yes"]),
        QType::Date => Given::Value("2024-05-01".into()),
        QType::Lsoa => Given::Value("E01000001".into()),
        QType::Postcode => Given::Value("PR1 2HE".into()),
        QType::Text => Given::Value(format!("t{n}")),
        QType::Note => Given::NoAnswer,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let dir = common::scratch();
    let def = common::survey();
    let persons = common::sizes(&[100_000])[0];
    let (csv, rows) = common::simulated_csv(&dir, persons, 3);
    let path = dir.join(format!("interview_{persons}.db"));
    for ext in ["db", "db-wal", "db-shm"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
    let mut store = hearth::store::Store::create(&path, &def).expect("create");
    let opts = hearth::capture::ImportOptions { wave: 1, ..Default::default() };
    hearth::capture::import_files(&mut store, std::slice::from_ref(&csv), &opts).expect("import");
    println!("store: {rows} persons imported (wave 1); one interview in each of waves 2 and 3");
    let mut medians = Vec::new();
    for (i, members) in [1usize, 15].into_iter().enumerate() {
        let start = StartOptions {
            wave: 2 + i as i64,
            interviewer: "bench".into(),
            lang: None,
        };
        let mut iv = Interview::start(&mut store, &start).expect("start");
        let mut times = Vec::new();
        let mut steps = Vec::new();
        loop {
            match iv.step() {
                Step::Question(p) => {
                    let mut n = 0;
                    loop {
                        let t = Instant::now();
                        let saved = iv.answer(&mut store, &p.record, &p.question, attempt(&p, n), None).expect("answer");
                        // what a page shows next (the engine alone, no I/O)
                        let s = Instant::now();
                        let next = iv.step();
                        steps.push(s.elapsed().as_secs_f64() * 1e3);
                        times.push(t.elapsed().as_secs_f64() * 1e3);
                        std::hint::black_box(next);
                        if saved.accepted {
                            break;
                        }
                        n += 1;
                        assert!(n < 30, "no answer accepted for {}", p.question);
                    }
                }
                Step::Roster(r) if r.members.len() < members => {
                    iv.add_member(&mut store).expect("add");
                }
                Step::Roster(_) => iv.roster_done(&mut store, true).expect("roster"),
                Step::Review(_) => break,
                Step::Finished => unreachable!(),
            }
        }
        let t = Instant::now();
        iv.finish(&mut store).expect("finish");
        let finish = t.elapsed().as_secs_f64() * 1e3;
        times.sort_by(f64::total_cmp);
        steps.sort_by(f64::total_cmp);
        println!(
            "roster of {members:>2}: {} answers saved, per answer + next step: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (the next step alone: p50 {:.3} ms, p99 {:.3} ms); finish {finish:.1} ms",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1],
            percentile(&steps, 0.5),
            percentile(&steps, 0.99)
        );
        medians.push(percentile(&times, 0.5));
    }
    println!("roster of 15 / roster of 1 (p50): {:.2}", medians[1] / medians[0]);
}
