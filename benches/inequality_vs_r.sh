#!/usr/bin/env bash
# Times one whole `hearth inequality` process (store reading included) for ten outcomes over IMD
# deciles, five times each after a write to the records (the column cache filled) and five
# times with the cache filled (medians), with the phases of a run on every core and on one
# thread, against R's survey package doing the same measures (per outcome: svyby(covmat = TRUE)
# for the decile means and the gap between the extreme deciles, svyglm on the ridit for the SII
# and the linear RII, svyglm(quasipoisson) for the log RII), on a simulated household survey;
# prints the timings (R's CSV reading and design build apart), their ratio, and the largest
# relative difference between the two sets of numbers (decile means and SEs, gap, SII, RIIs and
# their SEs).
#
# usage: benches/inequality_vs_r.sh BIN [PERSONS]
#   BIN      the hearth binary (the lead times target/release/hearth; target/debug/hearth checks
#            the script at small sizes)
#   PERSONS  simulated persons (default 1000000)
# Needs Rscript with survey and jsonlite. Work files go to $HEARTH_BENCH_DIR (default /tmp/hearth-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
hearth=$(realpath "${1:?usage: benches/inequality_vs_r.sh BIN [PERSONS]}")
persons=${2:-1000000}
work=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/inequality_vs_r_$persons
mkdir -p "$work"
command -v Rscript >/dev/null || { echo "Rscript not found: install r-base-core r-cran-survey r-cran-jsonlite"; exit 2; }
outcomes=swemwbs_metric_score,wemwbs_total,phq9_total,phq9_caseness,gad7_total,gad7_caseness,ucla3_total,auditc_total,general_health_bad,llti_condition
. benches/one_wave_store.sh
"$hearth" export "$work/store.db" --format csv --out "$work/export.csv" >/dev/null
python3 - "$work" "$outcomes" <<'PY'
import csv, sys
w, outcomes = sys.argv[1], sys.argv[2].split(",")
keep = ["stratum", "psu", "weight", "imd_decile"] + outcomes
with open(f"{w}/export.csv") as f, open(f"{w}/r.csv", "w", newline="") as g:
    r = csv.DictReader(f); out = csv.writer(g); out.writerow(keep)
    for row in r:
        out.writerow([{"true": "1", "false": "0"}.get(row[k], row[k]) for k in keep])
PY
cat > "$work/inequality.R" <<'R'
suppressMessages({library(survey); library(jsonlite)})
args <- commandArgs(TRUE)
outcomes <- strsplit(args[2], ",")[[1]]
t_read <- system.time(d <- read.csv(file.path(args[1], "r.csv"), colClasses = c(stratum = "character")))[["elapsed"]]
t_design <- system.time(des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = d))[["elapsed"]]
res <- list()
t_measures <- system.time(for (y in outcomes) {
  used <- !is.na(d[[y]]) & !is.na(d$imd_decile)
  w <- weights(des)
  share <- sapply(1:10, function(j) sum(w[used & d$imd_decile == j])) / sum(w[used])
  rid <- cumsum(share) - share / 2
  dy <- update(subset(des, used), Y = get(y), R = rid[imd_decile], G = factor(imd_decile, levels = 1:10))
  b <- svyby(~Y, ~G, dy, svymean, covmat = TRUE)
  gap <- svycontrast(b, quote(`1` - `10`))
  f <- svyglm(Y ~ R, dy)
  rl <- svycontrast(f, quote((`(Intercept)` + R) / `(Intercept)`))
  g <- svyglm(Y ~ R, dy, family = quasipoisson())
  res[[y]] <- list(means = unname(coef(b)), mean_se = unname(SE(b)),
                   gap = c(coef(gap), SE(gap)), sii = c(coef(f)[["R"]], SE(f)[["R"]]),
                   rii_linear = c(coef(rl), SE(rl)),
                   rii_log = c(exp(coef(g)[["R"]]), exp(coef(g)[["R"]]) * SE(g)[["R"]]))
})[["elapsed"]]
write_json(list(read = t_read, design = t_design, measures = t_measures, results = res),
           file.path(args[1], "r.json"), auto_unbox = TRUE, digits = NA)
R
Rscript --vanilla "$work/inequality.R" "$work" "$outcomes"
# the first process after a write to the records reads the store and fills the column cache
# (a no-op update of one record empties it, as any write does): five such runs, each after its
# own write; then five that read the cache. Medians are reported.
: > "$work/h.cold"
for run in 1 2 3 4 5; do
  python3 -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('UPDATE u_person SET age = age WHERE _rowid = (SELECT min(_rowid) FROM u_person)'); c.commit()" "$work/store.db"
  start=$(date +%s.%N)
  "$hearth" inequality "$work/store.db" --outcome "$outcomes" --format json --no-suppress > "$work/h.cold.json" 2>/dev/null
  end=$(date +%s.%N)
  echo "$start $end" >> "$work/h.cold"
done
: > "$work/h.times"
for run in 1 2 3 4 5; do
  start=$(date +%s.%N)
  "$hearth" inequality "$work/store.db" --outcome "$outcomes" --format json --no-suppress > "$work/h.json" 2>/dev/null
  end=$(date +%s.%N)
  echo "$start $end" >> "$work/h.times"
done
# the measures alone, frame loaded and design built: the estimate phase over ten outcomes, on
# every core and on one
for threads in 0 1; do
  RAYON_NUM_THREADS=$threads HEARTH_TIMING=1 "$hearth" inequality "$work/store.db" --outcome "$outcomes" --format json \
    --no-suppress 2>&1 >/dev/null | sed -n 's/^\[timing\] //p' > "$work/h.phases.$threads"
done
python3 - "$work" <<'PY'
import json, statistics, sys
w = sys.argv[1]
runs = [float(b) - float(a) for a, b in (line.split() for line in open(f"{w}/h.times"))]
colds = [float(b) - float(a) for a, b in (line.split() for line in open(f"{w}/h.cold"))]
cold = statistics.median(colds)
assert open(f"{w}/h.cold.json").read() == open(f"{w}/h.json").read(), "the cached read gave other numbers"
r = json.load(open(f"{w}/r.json"))
h = json.load(open(f"{w}/h.json"))
worst, compared = 0.0, 0
def cmp(a, b):
    global worst, compared
    if a is None or b is None:
        return
    compared += 1
    worst = max(worst, abs(a - b) / max(abs(a), 1e-12))
for o in h:
    ref = r["results"][o["outcome"]]
    for g, m, s in zip(o["groups"], ref["means"], ref["mean_se"]):
        cmp(m, g["estimate"]); cmp(s, g["se"])
    ms = {m["measure"]: m for m in o["measures"]}
    for name in ("gap", "sii", "rii_linear", "rii_log"):
        cmp(ref[name][0], ms[name]["estimate"]); cmp(ref[name][1], ms[name]["se"])
rs = r["read"] + r["design"] + r["measures"]
hs = statistics.median(runs)
def phases(threads):
    out = {}
    for line in open(f"{w}/h.phases.{threads}"):
        name, ms = line.rsplit(":", 1)
        out[name.strip()] = float(ms.split()[0])
    return out
for threads, label in (("0", "every core"), ("1", "one thread")):
    p = phases(threads)
    shown = ", ".join(f"{k} {v:.0f} ms" for k, v in p.items())
    print(f"hearth phases ({label}): {shown}")
    print(f"  the measures of one outcome, frame loaded ({label}): {p['inequality: estimate'] / 10:.1f} ms")
print(f"hearth whole process after a write (store read, column cache filled), median of 5: {cold:.2f} s (" + ", ".join(f"{t:.2f}" for t in colds) + ")")
print("hearth whole processes, cache filled: " + ", ".join(f"{t:.2f}" for t in runs) + " s")
print(f"R survey: read the CSV {r['read']:.2f} s, build the design {r['design']:.2f} s, ten outcomes' measures {r['measures']:.2f} s (total {rs:.2f} s)")
print(f"hearth inequality, one whole process for ten outcomes (store reading, design, measures), median of 5: {hs:.2f} s")
print(f"ratio R measures / hearth whole: {r['measures'] / hs:.1f}x; R total / hearth: {rs / hs:.1f}x")
print(f"numbers compared: {compared}; largest relative difference: {worst:.2e}")
PY
