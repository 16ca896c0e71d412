"""Write a small synthetic data set of the configured kind where the config reads it, to try the pipeline without data.

    python data_preparation/make_synthetic_data.py --config-name demo
    python data_preparation/make_synthetic_data.py SYNTHETIC.TRAIN=8 SYNTHETIC.SIZE=256 SYNTHETIC.SLICES=64
    python data_preparation/make_synthetic_data.py data=images DATASET.TRAIN.IMAGES_PATH=data/photos/images DATASET.TRAIN.MASK_PATH=data/photos/masks DATASET.CLASSES=[background,red,green,blue]
    python data_preparation/make_synthetic_data.py data=nnunet DATA_PREPARATION.DATASET_PATH=data/Dataset501_Phantom SYNTHETIC.SPLITS=True
    python data_preparation/make_synthetic_data.py data=kits19 DATA_PREPARATION.DATASET_PATH=data/kits19/data

The same overrides then prepare and train on it (preprocess_data.py, train.py). SYNTHETIC.* sets the sizes
and counts (configs/config.yaml). Where each kind goes (data_sets/synthetic/makers.py):
lits: volume-N.nii + segmentation-N.nii phantoms (labels 1 liver, 2 tumour) into
  DATA_PREPARATION.SCANS_TRAIN_DATA_PATH and SCANS_VAL_DATA_PATH (data_sets/synthetic/ct.py);
images: photos of coloured shapes, photo_N.jpg + photo_N.png masks, into DATASET.TRAIN.IMAGES_PATH and
  MASK_PATH, and DATASET.VAL's (null: all into TRAIN); one class per DATASET.CLASSES name (at most 4),
  DATASET.BINARY_MASKS and DATASET.MASK_SUFFIX as set (data_sets/synthetic/photos.py);
nnunet / kits19: a DatasetNNN_Name folder (CT + T2 channels) or KiTS19's case folders in
  DATA_PREPARATION.DATASET_PATH, TRAIN + VAL labelled cases and TEST unlabelled ones (data_sets/synthetic/layouts.py).
A file that exists already stops it with one line before anything is written, unless SYNTHETIC.OVERWRITE=True.
"""
import os
from typing import Dict, List

import app.tf_env  # noqa: F401  (before TensorFlow, which the config check loads: no CUDA error line on CPU machines)

from omegaconf import DictConfig, OmegaConf

from app.cli import hydra_app
from app.config import positive_int
from app.paths import require_paths
from data_sets.kinds import dataset_kind
from data_sets.synthetic import ct, photos
from data_sets.synthetic.makers import Synthetic, maker, write_synthetic
from utils.errors import UserError


def _at_least(value, minimum: int, key: str, why: str) -> int:
    if value < minimum:
        raise UserError(f"{key} must be {minimum} or more ({why}), got {value}")
    return value


def _photo_size(value):
    if value is None:
        return None
    if len(value) != 2:
        raise UserError(f"SYNTHETIC.PHOTO_SIZE must be [HEIGHT, WIDTH] or null, got {list(value)}")
    for side in value:
        _at_least(side, photos.MIN_SIDE, "SYNTHETIC.PHOTO_SIZE", "pixels per side")
    return tuple(value)


def synthetic_settings(cfg: DictConfig) -> Synthetic:
    """SYNTHETIC.* and the DATASET keys the photos follow, checked (one line per bad value), as plain values."""
    s = cfg.SYNTHETIC
    values = dict(train=positive_int(s.TRAIN, "SYNTHETIC.TRAIN"), val=_at_least(s.VAL, 0, "SYNTHETIC.VAL", "a count"),
                  test=_at_least(s.TEST, 0, "SYNTHETIC.TEST", "a count"),
                  seed=_at_least(s.SEED, 0, "SYNTHETIC.SEED", "a NumPy seed"), size=s.SIZE, slices=s.SLICES)
    if dataset_kind(cfg).volumetric:
        why = "a smaller phantom's liver may hold no voxel to seed a tumour"
        _at_least(s.SIZE, ct.MIN_SIZE, "SYNTHETIC.SIZE", why)
        _at_least(s.SLICES, ct.MIN_SLICES, "SYNTHETIC.SLICES", why)
        return Synthetic(**values, compress=s.COMPRESS, splits=s.SPLITS)
    classes = len(cfg.DATASET.CLASSES)
    if classes > photos.MAX_CLASSES:
        raise UserError(f"DATASET.CLASSES names {classes} classes, but the synthetic photos have at most "
                        f"{photos.MAX_CLASSES}: background, {', '.join(photos.SHAPES[1:])}")
    return Synthetic(**values, photo_size=_photo_size(s.PHOTO_SIZE), grayscale=s.GRAYSCALE, image_format=s.FORMAT,
                     classes=classes, binary=cfg.DATASET.BINARY_MASKS, mask_suffix=cfg.DATASET.MASK_SUFFIX)


def make_synthetic_data(cfg: DictConfig) -> Dict[str, List[str]]:
    """The command-line job: the settings and folders checked, then the data written; returns {config key: files}."""
    kind = cfg.DATASET.KIND
    row = maker(kind)
    settings = synthetic_settings(cfg)
    folders = {key: OmegaConf.select(cfg, key) for key in (*row.folders, *row.optional_folders)}
    require_paths(cfg, write_dirs=list(folders))
    written = write_synthetic(kind, settings, folders, overwrite=cfg.SYNTHETIC.OVERWRITE)
    print(f"synthetic {kind} data (SYNTHETIC.SEED={settings.seed}), {sum(map(len, written.values()))} files:")
    for key, files in written.items():
        print(f"  {len(files)} files -> {os.path.abspath(folders[key])} ({key})")
    if not dataset_kind(cfg).volumetric:
        print(f"  classes: {', '.join(f'{label} {photos.SHAPES[label]}' for label in range(1, settings.classes))}")
    print(f"next: python {row.then} with the same overrides")
    return written


main = hydra_app(make_synthetic_data)


if __name__ == "__main__":
    main()
