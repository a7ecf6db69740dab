//! Shared helpers of the benchmarks: seeded data, timing, memory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The shipped survey definition.
pub fn survey() -> hearth::schema::Definition {
    hearth::schema::load_str(hearth::demo::SURVEY, "household-health-survey.yaml").expect("shipped definition loads")
}

/// Sizes to run: HEARTH_BENCH_SIZES="10000,100000" (persons, approximate), else the default.
pub fn sizes(default: &[usize]) -> Vec<usize> {
    std::env::var("HEARTH_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

/// Writes a simulated combined CSV of about `persons` persons (1.8 per household on average).
pub fn simulated_csv(dir: &Path, persons: usize, seed: u64) -> (PathBuf, usize) {
    let def = survey();
    let households = (persons as f64 / 1.82).round() as usize;
    let path = dir.join(format!("sim_{persons}_{seed}.csv"));
    if !path.exists() {
        let psus = Some(((households as f64).sqrt() * 2.0).min(1200.0) as usize);
        let opts = hearth::simulate::SimOptions {
            households,
            seed,
            wave: 1,
            areas: Vec::new(),
            psus,
        };
        let f = std::fs::File::create(&path).expect("create");
        hearth::simulate::simulate_csv(&def, &opts, std::io::BufWriter::new(f)).expect("simulate");
    }
    let rows = std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(&path).expect("open"))).count() - 1;
    (path, rows)
}

/// Median of `runs` timings of `f`.
pub fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], last.expect("at least one run"))
}

/// Peak resident memory of this process so far (VmHWM), in MB.
pub fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A scratch directory kept between runs (simulated inputs are reused).
pub fn scratch() -> PathBuf {
    let d = std::env::var("HEARTH_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("hearth-bench"));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}
