#!/usr/bin/env bash
# A training sweep for one lent GPU session: the recipes below train side by side on one GPU, each
# inside BUDGET minutes, then `python -m train.compare` scores them against the first on the
# validation images they all hold out (same --split-seed: the shipped model's split).
#
# The CPU cannot afford these recipes (bigger nets, longer schedules); a GPU session can. On the
# device machine, from the repository root, with the data pool copied into the git-ignored .data/
# and named in carry (cp -r ../shared/data/emnist-bymerge-offline .data/ first, 30 MB):
#
#   PYTHON=python3 bash bench/gpu_sweep.sh .data/emnist-bymerge-offline "$OUT"
#
# The run folders stay in runs/sweep; REPORT_DIR gets what the device tool brings back (8 files at
# most, so keep the recipe list short): compare.txt, each run's log and its final model NAME.pt
# (its record holds the metrics: `python -m train.record NAME.pt > checkpoints/records/NAME.json`).
# DEVICE=cpu BUDGET=0.3 EXTRA="--limit 3000" runs the same sweep as a smoke test on a CPU.
set -euo pipefail
DATA=${1:?usage: bench/gpu_sweep.sh DATA_DIR [REPORT_DIR]}
REPORT=${2:-runs/sweep}
RUNS=${RUNS:-runs/sweep}
PYTHON=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-6}  # minutes per run, all runs at once: keep it under the session's device time
EXTRA=${EXTRA:-}     # flags added to every run

# name | flags: the first recipe is the baseline (the shipped recipe), the others are compared with it
RECIPES=(
  "base|--augment-strength 0.35 --epochs 10 --seed 4"
  "long|--augment-strength 0.35 --epochs 40 --seed 4"
  "big|--augment-strength 0.5 --epochs 30 --widths 64 128 256 --convs 2 2 2 --seed 4"
)

mkdir -p "$REPORT" "$RUNS"
pids=()
for recipe in "${RECIPES[@]}"; do
  name=${recipe%%|*}
  # shellcheck disable=SC2086  # the flags are meant to split into words
  PYTHONUNBUFFERED=1 $PYTHON -m train --data-dir "$DATA" --device "$DEVICE" --budget-minutes "$BUDGET" \
    --split-seed 0 --no-progress --out "$RUNS/$name" ${recipe#*|} $EXTRA > "$REPORT/$name.log" 2>&1 &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
models=()
for recipe in "${RECIPES[@]}"; do
  name=${recipe%%|*}
  if [ -f "$RUNS/$name/model.pt" ]; then
    cp "$RUNS/$name/model.pt" "$REPORT/$name.pt"
    models+=("$REPORT/$name.pt")
  else
    echo "$name: no model (see $REPORT/$name.log)"
  fi
done
if [ "${#models[@]}" -ge 2 ]; then
  $PYTHON -m train.compare "${models[@]}" --data-dir "$DATA" | tee "$REPORT/compare.txt"
fi
exit $failed
