#!/usr/bin/env bash
# Compares two hearth binaries on the three 1M-person analysis benchmarks, whole processes only:
# `hearth inequality` of ten outcomes (the store of benches/inequality_vs_r.sh), `hearth weight`
# raking to three margins (the store and population files of benches/weight_vs_r.sh, each
# binary writing its own set) and `hearth report` of two waves (the store of benches/report.sh).
# The two binaries alternate, REPS runs each, so that a noisy shared machine slows both alike;
# prints the median wall-clock and CPU (user + system) seconds of each and the ratios NEW/OLD.
#
# usage: benches/analysis_before_after.sh OLD_BIN NEW_BIN [PERSONS] [REPS]   (default 1000000, 5)
# Run the three scripts first (with the same PERSONS and $HEARTH_BENCH_DIR) to build the stores.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1"); new=$(realpath "$2"); persons=${3:-1000000}; reps=${4:-5}
dir=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}
ineq=$dir/inequality_vs_r_$persons; wt=$dir/weight_vs_r_$persons; rep=$dir/report_$persons
for f in "$ineq/store.db" "$wt/store.db" "$wt/pop_sex.csv" "$rep/store.db"; do
  [ -f "$f" ] || { echo "$f is missing: run benches/inequality_vs_r.sh, weight_vs_r.sh and report.sh first"; exit 2; }
done
outcomes=swemwbs_metric_score,wemwbs_total,phq9_total,phq9_caseness,gad7_total,gad7_caseness,ucla3_total,auditc_total,general_health_bad,llti_condition
times=$(mktemp)
run() { # label who command...: wall and CPU seconds of one whole process
  local label=$1 who=$2; shift 2
  local TIMEFORMAT="%R %U %S" t
  t=$( { time "$@" >/dev/null 2>&1; } 2>&1 ) || { echo "failed: $label $who: $*" >&2; exit 2; }
  echo -e "$label\t$who\t$t" >> "$times"
}
for r in $(seq "$reps"); do
  for who in old new; do
    bin=${!who}
    run inequality "$who" "$bin" inequality "$ineq/store.db" --outcome "$outcomes" --format json --no-suppress
    run weight "$who" "$bin" weight "$wt/store.db" --name "before_after_$who" --replace \
      --rake "age_group=$wt/pop_age_group.csv" --rake "sex=$wt/pop_sex.csv" --rake "imd_decile=$wt/pop_imd_decile.csv"
    run report "$who" "$bin" report "$rep/store.db" --out "$rep/before_after_$who.html"
  done
done
python3 - "$times" <<'PY'
import statistics as st, sys
d = {}
for line in open(sys.argv[1]).read().split("\n"):
    if line:
        label, who, t = line.split("\t")
        wall, user, sys_ = map(float, t.split())
        d.setdefault((label, who), []).append((wall, user + sys_))
for label in ("inequality", "weight", "report"):
    o, n = d[(label, "old")], d[(label, "new")]
    mo = [st.median(x[i] for x in o) for i in (0, 1)]
    mn = [st.median(x[i] for x in n) for i in (0, 1)]
    print(f"{label:11s} wall {mo[0]:.2f} -> {mn[0]:.2f} s ({mn[0] / mo[0]:.2f}x), "
          f"CPU {mo[1]:.2f} -> {mn[1]:.2f} s ({mn[1] / mo[1]:.2f}x), medians of {len(o)}")
PY
rm -f "$times"
