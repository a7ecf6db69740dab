#!/usr/bin/env bash
# Times `hearth import` (validation, skip logic, constraints, scoring, one transaction) beside
# sqlite3's own `.import` of the same CSV into an untyped table (raw load, no checks), and
# prints both and their ratio. usage: benches/import_vs_sqlite.sh [PERSONS] [DEFINITION]
# (default 1000000 persons of fixtures/bench/survey-60.yaml, the issue's workload of about 60
# columns; schemas/household-health-survey.yaml gives 144 columns). Needs the sqlite3 command:
# apt-get install sqlite3
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:-1000000}
definition=${2:-fixtures/bench/survey-60.yaml}
work=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/import_${persons}_$(basename "$definition" .yaml)
mkdir -p "$work"
command -v sqlite3 >/dev/null || { echo "sqlite3 not found: apt-get install sqlite3"; exit 2; }
cargo build --release --quiet
hearth=$PWD/target/release/hearth
households=$(python3 -c "print(round($persons/1.82))")
[ -f "$work/sim.csv" ] || "$hearth" simulate "$definition" --households "$households" --seed 1 --out "$work/sim.csv"
rows=$(($(wc -l < "$work/sim.csv") - 1))
rm -f "$work"/h.db* "$work"/raw.db*
"$hearth" init "$work/h.db" --definition "$definition" >/dev/null
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/mem.txt" "$hearth" import "$work/h.db" --wave 1 "$work/sim.csv"
t1=$(date +%s.%N)
sqlite3 "$work/raw.db" "PRAGMA journal_mode=WAL;" ".mode csv" ".import $work/sim.csv raw" >/dev/null
t2=$(date +%s.%N)
"$hearth" export "$work/h.db" --format parquet --out "$work/out.parquet" >/dev/null
t3=$(date +%s.%N)
python3 - "$rows" "$t0" "$t1" "$t2" "$t3" "$(cat "$work/mem.txt")" "$(stat -L -c %s "$work/sim.csv")" <<'PY'
import sys
rows, t0, t1, t2, t3, mem, size = int(sys.argv[1]), *map(float, sys.argv[2:6]), int(sys.argv[6]), int(sys.argv[7])
h, s, e = t1 - t0, t2 - t1, t3 - t2
print(f"{rows} persons, {size/1e6:.0f} MB CSV")
print(f"hearth import (checked, scored): {h:.2f} s = {rows/h:,.0f} persons/s, peak memory {mem/1024:.0f} MB")
print(f"sqlite3 .import (raw, unchecked): {s:.2f} s = {rows/s:,.0f} rows/s")
print(f"ratio hearth / sqlite3: {h/s:.2f}")
print(f"hearth export to Parquet: {e:.2f} s")
PY
