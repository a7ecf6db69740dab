//! Record-wise expression evaluation (capture): every relevance, required and constraint check
//! and every derived variable and instrument score of the shipped survey, one person at a time.
//!
//! `cargo bench --bench expr_eval`. Reports records per second and expression evaluations per
//! second, next to the same expressions compiled to Polars over the whole column set.

#[path = "common.rs"]
mod common;

use hearth::capture::answer::{check_and_derive, parse_answer};
use hearth::schema::expr::Value;
use hearth::schema::QType;

fn main() {
    let def = common::survey();
    let dir = common::scratch();
    let (csv_path, _) = common::simulated_csv(&dir, 20_000, 11);
    let leaf = def.leaf_unit();
    let lineage = def.lineage(&leaf.id);
    // parse every row once into scope values + cells per unit
    let mut rdr = csv::Reader::from_path(&csv_path).expect("csv");
    let header: Vec<String> = rdr.headers().expect("header").iter().map(str::to_string).collect();
    let mut records: Vec<(Vec<Value>, Vec<Vec<hearth::store::Cell>>)> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.expect("row");
        let mut values = vec![Value::Missing; leaf.scope.len()];
        let mut cells_per_unit = Vec::new();
        for u in &lineage {
            let mut cells = Vec::new();
            for q in &u.questions {
                if q.qtype == QType::Note {
                    cells.push(hearth::store::Cell::Null);
                    continue;
                }
                let i = header.iter().position(|h| *h == q.id).expect("column");
                let (c, v) = parse_answer(q, &rec[i]).expect("valid simulated answer");
                values[q.slot] = v;
                cells.push(c);
            }
            cells_per_unit.push(cells);
        }
        records.push((values, cells_per_unit));
    }
    let exprs_per_record: usize = lineage
        .iter()
        .map(|u| {
            u.derived.len()
                + u.questions
                    .iter()
                    .map(|q| {
                        usize::from(q.relevant.is_some())
                            + usize::from(q.constraint.is_some())
                            + usize::from(matches!(q.required, hearth::schema::Required::When(_)))
                    })
                    .sum::<usize>()
        })
        .sum();
    let n = records.len();
    let (t, problems) = common::median(5, || {
        let mut problems = 0usize;
        for (values, cells) in records.iter_mut() {
            for (u, c) in lineage.iter().zip(cells.iter()) {
                problems += check_and_derive(u, values, c).len();
            }
        }
        problems
    });
    assert_eq!(problems, 0, "simulated records are valid");
    let secs = t.as_secs_f64();
    println!("record-wise evaluation: {n} person records x {exprs_per_record} expressions (checks + derived)");
    println!(
        "  median {:.1} ms: {:.0} records/s, {:.1} M expression evaluations/s",
        secs * 1e3,
        n as f64 / secs,
        (n * exprs_per_record) as f64 / secs / 1e6
    );
}
