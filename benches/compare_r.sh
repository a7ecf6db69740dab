#!/usr/bin/env bash
# Times R's survey package and hearth on the same data: the five-breakdown suite (overall mean;
# by IMD decile; by decile x sex; by ward; a proportion with a logit CI) over a simulated
# household survey, and prints both timings, their ratio, and the largest relative difference
# between the two sets of estimates and standard errors.
#
# usage: benches/compare_r.sh [PERSONS]      (default 1000000; needs Rscript with survey+jsonlite,
#                                            e.g. apt-get install r-base-core r-cran-survey r-cran-jsonlite)
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:-1000000}
work=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/compare_r_$persons
mkdir -p "$work"
command -v Rscript >/dev/null || { echo "Rscript not found: install r-base-core r-cran-survey r-cran-jsonlite"; exit 2; }
cargo build --release --quiet
hearth=$PWD/target/release/hearth
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
keep = ["stratum", "psu", "weight", "imd_decile", "sex", "ward", "swemwbs_metric_score", "phq9_caseness"]
with open(f"{w}/export.csv") as f, open(f"{w}/r.csv", "w", newline="") as g:
    r = csv.DictReader(f); out = csv.writer(g); out.writerow(keep)
    for row in r:
        out.writerow([row[k] for k in keep])
PY
cat > "$work/suite.R" <<'R'
suppressMessages({library(survey); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(file.path(args[1], "r.csv"), colClasses = c(ward = "character", stratum = "character"))
d$phq9_caseness <- as.numeric(d$phq9_caseness)
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = d)
t <- system.time({
  a <- svymean(~swemwbs_metric_score, des, na.rm = TRUE)
  b <- svyby(~swemwbs_metric_score, ~imd_decile, des, svymean, na.rm = TRUE)
  c <- svyby(~swemwbs_metric_score, ~imd_decile + sex, des, svymean, na.rm = TRUE)
  e <- svyby(~swemwbs_metric_score, ~ward, des, svymean, na.rm = TRUE)
  p <- svyciprop(~I(phq9_caseness == 1), subset(des, !is.na(phq9_caseness)), method = "logit")
})[["elapsed"]]
rows <- list(list(by = "", est = coef(a)[[1]], se = SE(a)[[1]]),
             list(by = "prop", est = coef(p)[[1]], se = SE(p)[[1]]))
for (x in list(list("imd_decile", b), list("imd_decile,sex", c), list("ward", e))) {
  df <- x[[2]]; keys <- do.call(paste, c(df[strsplit(x[[1]], ",")[[1]]], sep = ","))
  for (i in seq_len(nrow(df))) rows[[length(rows) + 1]] <- list(by = paste0(x[[1]], "=", keys[i]), est = df$swemwbs_metric_score[i], se = df$se[i])
}
write_json(list(seconds = t, rows = rows), file.path(args[1], "r.json"), auto_unbox = TRUE, digits = NA)
R
Rscript --vanilla "$work/suite.R" "$work"
start=$(date +%s.%N)
"$hearth" analyze "$work/store.db" --outcome swemwbs_metric_score --by imd_decile --by imd_decile,sex --by ward --format json --no-suppress > "$work/h_mean.json" 2>/dev/null
"$hearth" analyze "$work/store.db" --outcome phq9_caseness --stat proportion --format json --no-suppress > "$work/h_prop.json" 2>/dev/null
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
    h["prop"] = row
worst = 0.0; missing = 0
for row in r["rows"]:
    k = row["by"]
    if k not in h:
        missing += 1; continue
    for f, g in (("est", "estimate"), ("se", "se")):
        a, b = row[f], h[k][g]
        if a is None or b is None: continue
        if abs(a - b) <= 1e-9:  # SEs of single-PSU domains are 0 up to rounding in both
            continue
        worst = max(worst, abs(a - b) / max(abs(a), 1e-9))
hs = end - start
print(f"R survey (design built beforehand): {r['seconds']:.2f} s")
print(f"hearth analyze, two whole processes (loading, design, estimation): {hs:.2f} s")
print(f"ratio R / hearth: {r['seconds'] / hs:.1f}x")
print(f"rows compared: {len(r['rows']) - missing} (unmatched {missing}); largest relative difference (estimates and SEs): {worst:.2e}")
PY
