#!/usr/bin/env bash
# data=images on generated photos, about a minute on 2 CPU cores (also: bash scripts/demo.sh images):
# make photos -> train (straight from the folders, resized at load) -> evaluate (each photo at its own
# size: Dice and IoU per class) -> predict a folder of new 240x320 photos (label PNGs at 240x320 + overlays).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=data/demo/photos
set -x
PHOTOS="data=images DATASET.CLASSES=[background,red,green,blue] INPUT.HEIGHT=64 INPUT.WIDTH=96"
SETTINGS="$PHOTOS DATASET.TRAIN.IMAGES_PATH=$DATA/train/images DATASET.TRAIN.MASK_PATH=$DATA/train/masks
  DATASET.VAL.IMAGES_PATH=$DATA/val/images DATASET.VAL.MASK_PATH=$DATA/val/masks"
# the demo's own folders: rewritten on every run (SYNTHETIC.OVERWRITE=True)
$PY data_preparation/make_synthetic_data.py --config-name demo $SETTINGS SYNTHETIC.TRAIN=48 SYNTHETIC.VAL=8 \
    SYNTHETIC.OVERWRITE=True
$PY data_preparation/make_synthetic_data.py --config-name demo $PHOTOS DATASET.TRAIN.IMAGES_PATH=$DATA/new/images \
    DATASET.TRAIN.MASK_PATH=$DATA/new/masks SYNTHETIC.TRAIN=4 SYNTHETIC.VAL=0 "SYNTHETIC.PHOTO_SIZE=[240,320]" \
    SYNTHETIC.SEED=1 SYNTHETIC.OVERWRITE=True
$PY train.py --config-name demo $SETTINGS HYPER_PARAMETERS.EPOCHS=6 HYPER_PARAMETERS.BATCH_SIZE=8 \
    CALLBACKS.TENSORBOARD.VALUE=False VERBOSE=2
$PY evaluate.py --config-name demo $SETTINGS
$PY predict.py --config-name demo $SETTINGS PREDICTION.IMAGES=$DATA/new/images
{ set +x; } 2>/dev/null
echo "images demo done: runs/<date_time>/ (evaluation/summary.csv with dice_red/green/blue and iou_*, summary.png; predictions/<photo>.png label masks at 240x320 + predictions.png overlays)"
