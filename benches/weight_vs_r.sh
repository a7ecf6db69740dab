#!/usr/bin/env bash
# Times `hearth weight` raking N persons to three margins (age group, sex, IMD decile) against
# R's survey::rake() on the same data and the same population totals, with the same tight
# convergence rule (R's: stop when no joint cell total changes by 1e-12 of the weights' sum), and
# checks that both give the same weighted mean and SE of the mental wellbeing score.
#
# hearth's time is the whole command: reading the records from the store, fitting, writing the
# weight set (one row per person) in one transaction; HEARTH_TIMING=1 prints its phases. R's
# time is rake() alone, after its design is built (timed separately); reading the CSV is not
# timed for either.
#
# usage: benches/weight_vs_r.sh BIN [PERSONS]     BIN: the hearth binary (target/release/hearth);
#        PERSONS default 1000000. Needs Rscript with survey and jsonlite, and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
hearth=$(realpath "${1:?usage: benches/weight_vs_r.sh BIN [PERSONS]}")
persons=${2:-1000000}
work=${HEARTH_BENCH_DIR:-/tmp/hearth-bench}/weight_vs_r_$persons
mkdir -p "$work"
command -v Rscript >/dev/null || { echo "Rscript not found: install r-base-core r-cran-survey r-cran-jsonlite"; exit 2; }
households=$(python3 -c "print(max(10, round($persons/1.82)))")
psus=$(python3 -c "import math; print(max(20, min(1200, int(math.sqrt($households)*2))))")
if [ ! -f "$work/store.db" ]; then
  "$hearth" simulate schemas/household-health-survey.yaml --households "$households" --seed 3 --psus "$psus" --out "$work/sim.csv" >/dev/null
  "$hearth" init "$work/store.db" --definition schemas/household-health-survey.yaml >/dev/null
  "$hearth" import "$work/store.db" --wave 1 "$work/sim.csv" >/dev/null
  "$hearth" geo load "$work/store.db" --builtin imd2019 >/dev/null
fi
"$hearth" export "$work/store.db" --format csv --out "$work/export.csv" >/dev/null
# population totals: the sample's weighted margins tilted level by level (so raking has work to
# do), every margin scaled to one total
python3 - "$work" <<'PY'
import csv, sys
w = sys.argv[1]
keep = ["stratum", "psu", "weight", "age_group", "sex", "imd_decile", "swemwbs_metric_score"]
sums = {k: {} for k in ("age_group", "sex", "imd_decile")}
with open(f"{w}/export.csv") as f, open(f"{w}/r.csv", "w", newline="") as g:
    out = csv.writer(g); out.writerow(keep)
    for row in csv.DictReader(f):
        if any(row[k] == "" for k in sums):
            sys.exit(f"a person without {[k for k in sums if row[k] == '']}: choose other margins")
        out.writerow([row[k] for k in keep])
        for k in sums:
            sums[k][row[k]] = sums[k].get(row[k], 0.0) + float(row["weight"])
total = sum(sums["sex"].values())
for k, s in sums.items():
    levels = sorted(s, key=float)
    tilted = {l: s[l] * (1.0 + 0.3 * ((i % 3) - 1) / 3.0) for i, l in enumerate(levels)}
    t = sum(tilted.values())
    with open(f"{w}/pop_{k}.csv", "w") as g:
        g.write(f"{k},count\n")
        for l in levels:
            g.write(f"{l},{tilted[l] * total / t!r}\n")
PY
cat > "$work/rake.R" <<'R'
suppressMessages({library(survey); library(jsonlite)})
w <- commandArgs(TRUE)[1]
d <- read.csv(file.path(w, "r.csv"), colClasses = c(stratum = "character"))
pop <- function(k) { p <- read.csv(file.path(w, paste0("pop_", k, ".csv"))); names(p) <- c(k, "Freq"); p }
t_design <- system.time(des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = d))[["elapsed"]]
t_rake <- system.time(r <- rake(des, list(~age_group, ~sex, ~imd_decile), list(pop("age_group"), pop("sex"), pop("imd_decile")),
                                control = list(maxit = 1000, epsilon = 1e-12)))[["elapsed"]]
m <- svymean(~swemwbs_metric_score, r, na.rm = TRUE)
write_json(list(design = t_design, rake = t_rake, est = coef(m)[[1]], se = SE(m)[[1]], sum = sum(weights(r))),
           file.path(w, "r.json"), auto_unbox = TRUE, digits = NA)
R
Rscript --vanilla "$work/rake.R" "$work"
start=$(date +%s.%N)
HEARTH_TIMING=1 "$hearth" weight "$work/store.db" --name bench --replace \
  --rake "age_group=$work/pop_age_group.csv" --rake "sex=$work/pop_sex.csv" --rake "imd_decile=$work/pop_imd_decile.csv" \
  > "$work/h_weight.txt" 2> "$work/h_timing.txt"
end=$(date +%s.%N)
"$hearth" analyze "$work/store.db" --outcome swemwbs_metric_score --weights bench --format json --no-suppress > "$work/h_mean.json" 2>/dev/null
python3 - "$work" "$start" "$end" "$persons" <<'PY'
import json, sys
w, start, end, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = json.load(open(f"{w}/r.json"))
h = json.load(open(f"{w}/h_mean.json"))["rows"][0]
phases = [l.strip() for l in open(f"{w}/h_timing.txt") if l.startswith("[timing] weight:")]
print(f"raking {n} persons to age_group (7) x sex (2) x imd_decile (10) margins")
print(open(f"{w}/h_weight.txt").read().rstrip())
print(f"hearth weight, whole command (store read + rake + store write): {end - start:.3f} s")
for p in phases:
    print("  " + p)
print(f"R rake(): {r['rake']:.3f} s (after svydesign: {r['design']:.3f} s)")
rel = lambda a, b: abs(a - b) / abs(b)
print(f"weighted mean of swemwbs_metric_score: hearth {h['estimate']!r}, R {r['est']!r} (relative difference {rel(h['estimate'], r['est']):.1e})")
print(f"its SE:                                hearth {h['se']!r}, R {r['se']!r} (relative difference {rel(h['se'], r['se']):.1e})")
print(f"sum of weights: hearth {h['weighted_n']!r}, R {r['sum']!r}")
PY
