//! Benchmark: loading the England-wide IMD 2019 index and ward lookup.
//!
//! This file owns the `geo_load` benchmark (`harness = false`). It times, over several
//! runs with `std::time`, (1) the builtin `imd2019` (decompress + validate the index, ward
//! lookup, population and ward list, build local deciles) and (2) the raw published files
//! (IoD2019 File 2 + the ONS LSOA11 -> WD19 -> LAD19 lookup), and prints min / median / max.
//! The target is a median under 1 second for each; it exits non-zero if a median is over.

use std::path::Path;
use std::time::{Duration, Instant};

use hearth::geo::{Builtin, Geography, GeographyBuilder};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/geography/");
const RUNS: usize = 9;

fn time<F: FnMut() -> usize>(name: &str, mut f: F) -> Duration {
    // One warm-up run (page cache, allocator).
    let rows = f();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "{name:<48} rows {rows:>6}  min {:>8.1} ms  median {:>8.1} ms  max {:>8.1} ms",
        times[0].as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3
    );
    median
}

fn main() {
    let data = Path::new(DATA);
    let file2 = data.join("imd2019_file2_domains_lsoa11.csv");
    let wards = data.join("ons_lsoa11_wd19_lad19_ew_lookup.csv");
    if !file2.exists() || !wards.exists() {
        eprintln!("geo_load: shared geography data missing under {DATA}");
        std::process::exit(2);
    }
    let m1 = time("builtin imd2019 (index + wards + pop + regions)", || {
        let g = Geography::builtin(Builtin::Imd2019).expect("builtin imd2019 loads");
        g.index().len()
    });
    let m2 = time("raw File 2 + ONS LSOA11->WD19->LAD19 lookup", || {
        let mut b = GeographyBuilder::new();
        b.index_file(&file2).expect("File 2 loads");
        b.wards_file(&wards).expect("ward lookup loads");
        let g = b.build().expect("builds");
        g.index().len()
    });
    let m3 = time("builtin imd2025 (index only)", || {
        Geography::builtin(Builtin::Imd2025).expect("builtin imd2025 loads").index().len()
    });
    let limit = Duration::from_secs(1);
    if m1 > limit || m2 > limit || m3 > limit {
        eprintln!("geo_load: a median is over the 1 s target");
        std::process::exit(1);
    }
    println!("all medians under the 1 s target");
}
