# Sourced by benchmark scripts: makes (once) $work/store.db, a store of the shipped survey with
# one simulated wave of about $persons persons (seed 1, up to 1,200 PSUs) and IMD 2019 loaded,
# using the hearth binary $hearth; sets $households and $psus.
households=$(python3 -c "print(max(50, round($persons/1.82)))")
psus=$(python3 -c "import math; print(max(20, min(1200, int(math.sqrt($households)*2))))")
if [ ! -f "$work/store.db" ]; then
  "$hearth" simulate schemas/household-health-survey.yaml --households "$households" --seed 1 --psus "$psus" --out "$work/sim.csv"
  "$hearth" init "$work/store.db" --definition schemas/household-health-survey.yaml
  "$hearth" import "$work/store.db" --wave 1 "$work/sim.csv"
  "$hearth" geo load "$work/store.db" --builtin imd2019 >/dev/null
fi
