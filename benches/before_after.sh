#!/usr/bin/env bash
# Compares two hearth binaries (e.g. before and after a change of shape) on the same simulated survey,
# whole processes only: import of a CSV into a fresh store, export to CSV and to Parquet, the
# five-breakdown analysis suite (the calls of benches/compare_r.sh), and one `analyze` of ten outcomes by
# decile, decile x sex and ward.
# Each step runs REPS times per binary, the two binaries alternating, so that a noisy shared machine
# slows both alike; prints the median wall-clock and CPU (user + system) seconds of each and the
# ratios NEW/OLD. On a loaded machine the CPU time is the steadier of the two.
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
run() { # label who command...: wall and CPU (user + system) seconds of one whole process
  local label=$1 who=$2; shift 2
  local TIMEFORMAT="%R %U %S" t
  t=$( { time "$@" >/dev/null 2>&1; } 2>&1 ) || { echo "failed: $label $who: $*" >&2; exit 2; }
  echo -e "$label\t$who\t$t" >> "$times"
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
    run analysis_suite_1 "$who" "$bin" analyze "$db" --outcome swemwbs_metric_score --by imd_decile --by imd_decile,sex --by ward --format json --no-suppress
    run analysis_suite_2 "$who" "$bin" analyze "$db" --outcome phq9_caseness --stat proportion --format json --no-suppress
    run analyze_10_outcomes "$who" "$bin" analyze "$db" --outcome "$outcomes" --by imd_decile --by imd_decile,sex --by ward --format json --no-suppress
  done
done
python3 - "$times" "$persons" <<'PY'
import sys, statistics as st, collections
# the analysis suite is two processes: sum them per run
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, who, t = line.rstrip("\n").split("\t"); r, u, s = map(float, t.split())
    runs[(label, who)].append((r, u + s))
def per_run(label, who):
    if label == "analysis_suite":
        a, b = runs[("analysis_suite_1", who)], runs[("analysis_suite_2", who)]
        return [(x[0] + y[0], x[1] + y[1]) for x, y in zip(a, b)]
    return runs[(label, who)]
labels = []
for (label, _) in runs:
    label = "analysis_suite" if label.startswith("analysis_suite") else label
    if label not in labels: labels.append(label)
n = len(per_run(labels[0], "old"))
print(f"{int(sys.argv[2]):,} persons, median of {n} runs each; wall clock and CPU (user + system) seconds")
print(f"{'step':22}{'old wall':>10}{'new wall':>10}{'ratio':>7}{'old cpu':>10}{'new cpu':>10}{'ratio':>7}")
for label in labels:
    o, nw = per_run(label, "old"), per_run(label, "new")
    ow, nww = st.median(x[0] for x in o), st.median(x[0] for x in nw)
    oc, nc = st.median(x[1] for x in o), st.median(x[1] for x in nw)
    print(f"{label:22}{ow:10.2f}{nww:10.2f}{nww/ow:7.3f}{oc:10.2f}{nc:10.2f}{nc/oc:7.3f}")
PY
