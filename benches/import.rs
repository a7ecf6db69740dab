//! Import and export at scale: simulated household survey CSVs of several sizes imported into a
//! fresh store (validation, skip logic, constraints and scoring included), then exported to
//! Parquet. `cargo bench --bench import` (sizes: HEARTH_BENCH_SIZES=10000,100000,1000000).
//! `benches/import_vs_sqlite.sh` runs the same import beside sqlite3's own `.import`.

#[path = "common.rs"]
mod common;

fn main() {
    let dir = common::scratch();
    let def = common::survey();
    for persons in common::sizes(&[10_000, 100_000, 1_000_000]) {
        let (csv_path, rows) = common::simulated_csv(&dir, persons, 1);
        let bytes = std::fs::metadata(&csv_path).map(|m| m.len()).unwrap_or(0);
        let store_path = dir.join(format!("bench_{persons}.db"));
        let _ = std::fs::remove_file(&store_path);
        let _ = std::fs::remove_file(store_path.with_extension("db-wal"));
        let _ = std::fs::remove_file(store_path.with_extension("db-shm"));
        let mut store = hearth::store::Store::create(&store_path, &def).expect("create");
        let t = std::time::Instant::now();
        let opts = hearth::capture::ImportOptions { wave: 1, ..Default::default() };
        let r = hearth::capture::import_files(&mut store, std::slice::from_ref(&csv_path), &opts).expect("import");
        let secs = t.elapsed().as_secs_f64();
        let added: u64 = r.added.iter().map(|(_, n)| n).sum();
        println!(
            "import {rows} persons ({:.0} MB CSV, {} columns): {:.2} s, {:.0} persons/s, {added} records, peak memory {:.0} MB",
            bytes as f64 / 1e6,
            def.lineage(&def.leaf_unit().id)
                .iter()
                .map(|u| hearth::store::unit_columns(u).len())
                .sum::<usize>(),
            secs,
            rows as f64 / secs,
            common::peak_mb()
        );
        let out = dir.join(format!("bench_{persons}.parquet"));
        let t = std::time::Instant::now();
        let opts = hearth::export::ExportOptions {
            format: hearth::export::ExportFormat::Parquet,
            out: out.clone(),
            wave: None,
            long: false,
            include_identifiers: false,
            codebook: false,
        };
        hearth::export::export(&store, &opts).expect("export");
        println!(
            "export {rows} persons to Parquet: {:.2} s ({:.0} MB)",
            t.elapsed().as_secs_f64(),
            std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
        );
    }
}
