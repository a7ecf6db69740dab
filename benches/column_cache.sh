#!/usr/bin/env bash
# Times `hearth inequality` (ten outcomes, one whole process, store reading included) with the
# store's column cache cold (the first analysis after a write: records read, then kept) and warm
# (columns read from the cache), and OLD's time on the same store for comparison; checks that
# every run prints the same JSON. Prints each run's HEARTH_TIMING frame phases.
#
# usage: benches/column_cache.sh BIN [OLD] [PERSONS]
#   BIN      the hearth binary to time (target/release/hearth)
#   OLD      another binary timed on the same store in turn (default: none)
#   PERSONS  simulated persons (default 1000000)
# Work files go to $HEARTH_BENCH_DIR (default /tmp/hearth-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
hearth=$(realpath "${1:?usage: benches/column_cache.sh BIN [OLD] [PERSONS]}")
old=${2:+$(realpath "$2")}
persons=${3:-1000000}
work=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/column_cache_$persons
mkdir -p "$work"
outcomes=swemwbs_metric_score,wemwbs_total,phq9_total,phq9_caseness,gad7_total,gad7_caseness,ucla3_total,auditc_total,general_health_bad,llti_condition
. benches/one_wave_store.sh
run() {
  local tag=$1 bin=$2
  HEARTH_TIMING=1 /usr/bin/time -f "$tag: %e s wall, %U s user, %S s system" "$bin" inequality "$work/store.db" \
    --outcome "$outcomes" --format json --no-suppress >"$work/$tag.json" 2>"$work/$tag.err"
  grep -E "frame|: [0-9.]+ s wall" "$work/$tag.err" | sed 's/\[timing\] //' | tr '\n' ' '
  echo
}
# any write to records empties the cache (here a no-op update, as another program could make)
python3 - "$work/store.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE u_person SET age = age WHERE _rowid = (SELECT min(_rowid) FROM u_person)"); c.commit()
PY
run cold "$hearth"
for k in 1 2 3 4 5; do
  run warm "$hearth"
  cmp -s "$work/cold.json" "$work/warm.json" || { echo "warm output differs from cold"; exit 1; }
  if [ -n "$old" ]; then
    run old "$old"
    cmp -s "$work/old.json" "$work/warm.json" || { echo "OLD's output differs"; exit 1; }
  fi
done
python3 - "$work/store.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n, size = c.execute("SELECT count(*), sum(length(data)) FROM column_cache").fetchone()
print(f"cache: {n} entries, {size / 1e6:.1f} MB")
PY
