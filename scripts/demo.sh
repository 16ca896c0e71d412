#!/usr/bin/env bash
# The whole workflow on synthetic data, on 2 CPU cores:
#   bash scripts/demo.sh          LiTS-like CT volumes, a few minutes: make data -> preprocess (NIfTI -> PNG)
#                                 -> verify -> train -> evaluate (on each CT's own grid) -> predict (CT volumes
#                                 in, mask volumes out; and the prepared PNG slices)
#   bash scripts/demo.sh images   your-own-pictures style (data=images), about a minute: generated RGB photos
#                                 of coloured shapes (4 classes, odd sizes) -> train -> evaluate (each photo at
#                                 its own size) -> predict a folder of 240x320 photos (label PNGs + overlays)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [ "${1:-lits}" = images ]; then
    exec bash scripts/demo_images.sh
elif [ "${1:-lits}" != lits ]; then
    echo "usage: bash scripts/demo.sh [lits|images]" >&2
    exit 2
fi
set -x
$PY data_preparation/make_synthetic_data.py --config-name demo SYNTHETIC.OVERWRITE=True   # its own data/demo/raw
$PY data_preparation/preprocess_data.py --config-name demo
$PY data_preparation/verify_data.py --config-name demo
$PY train.py --config-name demo VERBOSE=2
$PY evaluate.py --config-name demo EVALUATION.WRITE_NIFTI=True
$PY predict.py --config-name demo PREDICTION.VOLUMES=data/demo/raw/val
$PY predict.py --config-name demo
{ set +x; } 2>/dev/null
echo "demo done: runs/<date_time>/ (config.yaml, checkpoint/, logs/training.png, evaluation/summary.csv + prediction NIfTI on the CT grid, predictions/ with segmentation-N.nii.gz + figures)"
