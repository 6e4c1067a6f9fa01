#!/usr/bin/env bash
# The README's main job, timed: train the synthetic default, train its mIoU segmenter and its style
# classifier (once each), evaluate (FID, mIoU, diversity, style accuracies →
# WORKDIR/eval/<step>/metrics.json) and draw the sample grid.
#   bash scripts/demo_synthetic.sh [WORKDIR] [extra train.py flags...]
# The style quality run (#19, ≈ 50 min on 2 cores): the same with another config and the grid of style photos,
#   CONFIG=configs/spade/synthetic_style.py \
#   GRID_FLAGS="--style-names=day_summer,golden_autumn,sunset_spring,overcast_winter,night_winter" \
#   bash scripts/demo_synthetic.sh runs/synthetic_style
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CONFIG=${CONFIG:-configs/spade/synthetic.py}
WORKDIR=${1:-runs/synthetic}
shift || true
SEG=${SEGMENTER:-weights/segmenter_synthetic}
STY=${STYLE_CLASSIFIER:-weights/style_synthetic}
read -r -a GRID <<< "${GRID_FLAGS:-}"

t0=$(date +%s)
"$PY" train.py --config "$CONFIG" --workdir "$WORKDIR" "$@"
t1=$(date +%s)
echo "train.py: $((t1 - t0)) s"
if [ ! -f "$SEG/meta.json" ]; then
  "$PY" -m spade_jax.evaluate.segmentation --config "$CONFIG" --out "$SEG"
fi
if [ ! -f "$STY/meta.json" ]; then
  "$PY" -m spade_jax.evaluate.style --config "$CONFIG" --out "$STY"
fi
t2=$(date +%s)
echo "segmenter and style classifier: $((t2 - t1)) s"
"$PY" eval.py --config "$CONFIG" --workdir "$WORKDIR" --config.eval.segmenter="$SEG" \
    --config.eval.style_classifier="$STY" "$@"
t3=$(date +%s)
echo "eval.py: $((t3 - t2)) s"
"$PY" scripts/sample_grid.py --config "$CONFIG" --workdir "$WORKDIR" --out "$WORKDIR/demo_grid.png" \
    ${GRID[@]+"${GRID[@]}"} "$@"
echo "total: $(( $(date +%s) - t0 )) s (train $((t1 - t0)) s)"
