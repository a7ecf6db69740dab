#!/usr/bin/env bash
# Times `hearth report` on a simulated household survey of N persons in two waves (the demo's
# eight headline outcomes, four breakdowns, wards, IMD deciles, the waves compared), with the
# phase timings (HEARTH_TIMING) of each analysis step. The target: a 1M-person store's report
# in under 5 s with a release binary.
#
# usage: benches/report.sh BIN [PERSONS]     (BIN: e.g. target/release/hearth; PERSONS default
#                                            1000000, split over two waves)
# The store is kept in ${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/report_PERSONS and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
hearth=$(realpath "${1:?usage: benches/report.sh BIN [PERSONS]}")
persons=${2:-1000000}
work=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/report_$persons
mkdir -p "$work"
# about 1.82 persons per household, half in each wave
households=$(python3 -c "print(max(10, round($persons/1.82/2)))")
psus=$(python3 -c "import math; print(max(6, min(1200, int(math.sqrt($households)*2))))")
if [ ! -f "$work/store.db" ]; then
  for w in 1 2; do
    "$hearth" simulate schemas/household-health-survey.yaml --households "$households" --seed "$w" --psus "$psus" --wave "$w" --out "$work/w$w.csv"
  done
  "$hearth" init "$work/store.db" --definition schemas/household-health-survey.yaml
  "$hearth" import "$work/store.db" --wave 1 "$work/w1.csv" >/dev/null
  "$hearth" import "$work/store.db" --wave 2 "$work/w2.csv" >/dev/null
  "$hearth" geo load "$work/store.db" --builtin imd2019 >/dev/null
fi
start=$(date +%s.%N)
HEARTH_TIMING=1 "$hearth" report "$work/store.db" --out "$work/report.html" 2> "$work/timing.txt"
end=$(date +%s.%N)
cat "$work/timing.txt"
python3 - "$start" "$end" "$persons" "$work/report.html" <<'PY'
import os, sys
start, end, persons, page = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = end - start
print(f"report of {persons} persons: {s:.2f} s wall, {os.path.getsize(page) / 1024:.0f} KiB of HTML"
      f" ({'under' if s < 5 else 'OVER'} the 5 s target)")
PY
