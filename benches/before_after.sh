#!/usr/bin/env bash
# Compares two hearth binaries (e.g. before and after a change of shape) on the same simulated survey,
# whole processes only: import of a CSV into a fresh store, export to CSV and to Parquet, the
# five-breakdown analysis suite (the calls of benches/compare_r.sh), and one `analyze` of ten outcomes by
# decile, decile x sex and ward.
# Each step runs REPS times per binary, the two binaries alternating, so that a noisy shared machine
# slows both alike; prints the median seconds of each and the ratio NEW/OLD.
#
# usage: benches/before_after.sh OLD_BIN NEW_BIN [PERSONS] [REPS]   (default 1000000 persons, 3 reps)
# Each binary gets its own store (store layouts may differ between versions).
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1"); new=$(realpath "$2"); persons=${3:-1000000}; reps=${4:-3}
work=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/before_after_$persons
mkdir -p "$work"
def=schemas/household-health-survey.yaml
households=$(python3 -c "print(round($persons/1.82))")
psus=$(python3 -c "import math; print(min(1200, int(math.sqrt($households)*2)))")
[ -f "$work/sim.csv" ] || "$new" simulate "$def" --households "$households" --seed 1 --psus "$psus" --out "$work/sim.csv"
outcomes="swemwbs_metric_score wemwbs_total phq9_total gad7_total ucla3_total ons4_satisfaction ons4_worthwhile ons4_happiness ons4_anxiety auditc_total"; outcomes=${outcomes// /,}
times="$work/times.tsv"; : > "$times"
run() { # label bin-name command...
  local label=$1 who=$2; shift 2
  local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $label $who: $*" >&2; exit 2; }; e=$(date +%s.%N)
  echo -e "$label\t$who\t$(python3 -c "print($e-$s)")" >> "$times"
}
for r in $(seq "$reps"); do
  for who in old new; do
    bin=${!who}; db="$work/$who.db"
    rm -f "$db" "$db-wal" "$db-shm"
    "$bin" init "$db" --definition "$def" >/dev/null
    run import "$who" "$bin" import "$db" --wave 1 "$work/sim.csv"
    "$bin" geo load "$db" --builtin imd2019 >/dev/null
    run export_csv "$who" "$bin" export "$db" --format csv --out "$work/$who.csv"
    run export_parquet "$who" "$bin" export "$db" --format parquet --out "$work/$who.parquet"
    s=$(date +%s.%N)
    "$bin" analyze "$db" --outcome swemwbs_metric_score --by imd_decile --by imd_decile,sex --by ward --format json --no-suppress >/dev/null 2>&1
    "$bin" analyze "$db" --outcome phq9_caseness --stat proportion --format json --no-suppress >/dev/null 2>&1
    e=$(date +%s.%N); echo -e "analysis_suite\t$who\t$(python3 -c "print($e-$s)")" >> "$times"
    run analyze_10_outcomes "$who" "$bin" analyze "$db" --outcome "$outcomes" --by imd_decile --by imd_decile,sex --by ward --format json --no-suppress
  done
done
python3 - "$times" "$persons" <<'PY'
import sys, statistics as st, collections
t = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, who, s = line.split("\t"); t[(label, who)].append(float(s))
print(f"{int(sys.argv[2]):,} persons, median of {len(next(iter(t.values())))} runs each (seconds)")
print(f"{'step':22}{'old':>9}{'new':>9}{'new/old':>9}")
for label in dict.fromkeys(k[0] for k in t):
    o, n = st.median(t[(label, 'old')]), st.median(t[(label, 'new')])
    print(f"{label:22}{o:9.2f}{n:9.2f}{n/o:9.3f}")
PY
