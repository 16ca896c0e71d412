"""The synthetic data set the config asks for: SYNTHETIC.* (and the DATASET keys the photos follow) checked into
plain settings (makers.Synthetic), then written where the config reads it. What
data_preparation/make_synthetic_data.py runs.
"""
import os
from typing import Dict, List

from omegaconf import DictConfig, OmegaConf

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

