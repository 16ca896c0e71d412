#!/usr/bin/env bash
# The whole workflow on synthetic LiTS-like data, a few minutes on 2 CPU cores:
# make data -> preprocess (NIfTI -> PNG) -> verify -> train -> evaluate (on each CT's own grid)
# -> predict (CT volumes in, mask volumes out; and the prepared PNG slices).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
set -x
$PY data_preparation/make_synthetic_lits.py --out data/demo/raw --train 4 --val 2 --size 128 --slices 32 --seed 0
$PY data_preparation/preprocess_data.py --config-name demo
$PY data_preparation/verify_data.py --config-name demo
$PY train.py --config-name demo VERBOSE=2
$PY evaluate.py --config-name demo EVALUATION.WRITE_NIFTI=True
$PY predict.py --config-name demo PREDICTION.VOLUMES=data/demo/raw/val
$PY predict.py --config-name demo
{ set +x; } 2>/dev/null
echo "demo done: runs/<date_time>/ (config.yaml, checkpoint/, logs/training.png, evaluation/summary.csv + prediction NIfTI on the CT grid, predictions/ with segmentation-N.nii.gz + figures)"
