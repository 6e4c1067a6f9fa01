#!/usr/bin/env bash
# The README's main job, timed: train the synthetic default, train its mIoU segmenter (once), evaluate
# (FID, mIoU, diversity → runs/synthetic/eval/<step>/metrics.json) and draw the sample grid.
#   bash scripts/demo_synthetic.sh [WORKDIR] [extra train.py flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORKDIR=${1:-runs/synthetic}
shift || true
SEG=${SEGMENTER:-weights/segmenter_synthetic}

t0=$(date +%s)
"$PY" train.py --config configs/spade/synthetic.py --workdir "$WORKDIR" "$@"
t1=$(date +%s)
echo "train.py: $((t1 - t0)) s"
if [ ! -f "$SEG/meta.json" ]; then
  "$PY" -m spade_jax.evaluate.segmentation --config configs/spade/synthetic.py --out "$SEG"
fi
t2=$(date +%s)
echo "segmenter: $((t2 - t1)) s"
"$PY" eval.py --config configs/spade/synthetic.py --workdir "$WORKDIR" --config.eval.segmenter="$SEG" "$@"
t3=$(date +%s)
echo "eval.py: $((t3 - t2)) s"
"$PY" scripts/sample_grid.py --config configs/spade/synthetic.py --workdir "$WORKDIR" \
    --out "$WORKDIR/demo_grid.png" "$@"
echo "total: $(( $(date +%s) - t0 )) s (train $((t1 - t0)) s)"
