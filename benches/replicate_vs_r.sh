#!/usr/bin/env bash
# Times replicate variance in R's survey package and in hearth on the same data: JKn replicates
# built from a simulated household survey's stratified cluster design (one replicate per PSU),
# then the overall mean, the mean by IMD decile and a proportion with its logit CI; prints both
# timings, their ratio, and the largest relative difference between the estimates and SEs.
#
# usage: benches/replicate_vs_r.sh [PERSONS]   (default 1000000; needs Rscript with survey+jsonlite)
# HEARTH_BIN=path uses that binary instead of building the release one (figures from a debug
# binary are upper bounds).
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:-1000000}
work=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/replicate_r_$persons
mkdir -p "$work"
command -v Rscript >/dev/null || { echo "Rscript not found: install r-base-core r-cran-survey r-cran-jsonlite"; exit 2; }
if [ -z "${HEARTH_BIN:-}" ]; then
  cargo build --release --quiet
  hearth=$PWD/target/release/hearth
else
  hearth=$HEARTH_BIN
fi
households=$(python3 -c "print(round($persons/1.82))")
psus=$(python3 -c "import math; print(min(1200, int(math.sqrt($households)*2)))")
if [ ! -f "$work/store.db" ]; then
  "$hearth" simulate schemas/household-health-survey.yaml --households "$households" --seed 1 --psus "$psus" --out "$work/sim.csv"
  "$hearth" init "$work/store.db" --definition schemas/household-health-survey.yaml
  "$hearth" import "$work/store.db" --wave 1 "$work/sim.csv"
  "$hearth" geo load "$work/store.db" --builtin imd2019 >/dev/null
fi
"$hearth" export "$work/store.db" --format csv --out "$work/export.csv" >/dev/null
python3 - "$work" <<'PY'
import csv, sys
w = sys.argv[1]
keep = ["stratum", "psu", "weight", "imd_decile", "swemwbs_metric_score", "phq9_caseness"]
with open(f"{w}/export.csv") as f, open(f"{w}/r.csv", "w", newline="") as g:
    r = csv.DictReader(f); out = csv.writer(g); out.writerow(keep)
    for row in r:
        out.writerow([row[k] for k in keep])
PY
cat > "$work/suite.R" <<'R'
suppressMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "adjust")
args <- commandArgs(TRUE)
d <- read.csv(file.path(args[1], "r.csv"), colClasses = c(stratum = "character"))
d$phq9_caseness <- as.numeric(d$phq9_caseness)
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = d)
t <- system.time({
  rep <- as.svrepdesign(des, type = "JKn")
  a <- svymean(~swemwbs_metric_score, rep, na.rm = TRUE)
  b <- svyby(~swemwbs_metric_score, ~imd_decile, rep, svymean, na.rm = TRUE)
  p <- svyciprop(~I(phq9_caseness == 1), subset(rep, !is.na(phq9_caseness)), method = "logit")
})[["elapsed"]]
rows <- list(list(by = "", est = coef(a)[[1]], se = SE(a)[[1]]),
             list(by = "prop", est = coef(p)[[1]], se = SE(p)[[1]]))
for (i in seq_len(nrow(b))) rows[[length(rows) + 1]] <- list(by = paste0("imd_decile=", b$imd_decile[i]), est = b$swemwbs_metric_score[i], se = b$se[i])
write_json(list(seconds = t, replicates = ncol(rep$repweights$weights), rows = rows), file.path(args[1], "r.json"), auto_unbox = TRUE, digits = NA)
R
Rscript --vanilla "$work/suite.R" "$work"
start=$(date +%s.%N)
"$hearth" analyze "$work/store.db" --outcome swemwbs_metric_score --by imd_decile --format json --no-suppress --variance replicate --replicate-type jkn > "$work/h_mean.json" 2>/dev/null
"$hearth" analyze "$work/store.db" --outcome phq9_caseness --stat proportion --format json --no-suppress --variance replicate --replicate-type jkn > "$work/h_prop.json" 2>/dev/null
end=$(date +%s.%N)
python3 - "$work" "$start" "$end" <<'PY'
import json, sys
w, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
r = json.load(open(f"{w}/r.json"))
h = {}
for row in json.load(open(f"{w}/h_mean.json"))["rows"]:
    by = row["by"]
    key = "" if not by else ",".join(by.keys()) + "=" + ",".join(str(v) for v in by.values())
    h[key] = row
for row in json.load(open(f"{w}/h_prop.json"))["rows"]:
    if row.get("category") is True:
        h["prop"] = row
worst = 0.0; missing = 0
for row in r["rows"]:
    k = row["by"]
    if k not in h:
        missing += 1; continue
    for f, g in (("est", "estimate"), ("se", "se")):
        a, b = row[f], h[k][g]
        if a is None or b is None: continue
        worst = max(worst, abs(a - b) / max(abs(a), 1e-9))
hs = end - start
print(f"JKn, {r['replicates']} replicates")
print(f"R survey (as.svrepdesign and the three estimates; svydesign beforehand): {r['seconds']:.2f} s")
print(f"hearth analyze, two whole processes (loading, design, replicates, estimation): {hs:.2f} s")
print(f"ratio R / hearth: {r['seconds'] / hs:.1f}x")
print(f"rows compared: {len(r['rows']) - missing} (unmatched {missing}); largest relative difference (estimates and SEs): {worst:.2e}")
PY
