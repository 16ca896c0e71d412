"""The config of a script that works on a trained run (evaluate.py, predict.py, export.py, the notebook):
the command line's config with the settings the run was trained with, checked again as a whole.

The run folders themselves (naming, the saved config.yaml, weights, locks) are run_dirs.run_dir's.
"""
import copy
import os
from typing import Iterable, Optional, Set

from omegaconf import DictConfig, OmegaConf, open_dict

from app.choices import choose
from app.config import validate_config
from app.schema import type_errors
from run_dirs.run_dir import (LATEST, RUN_CONFIG, command_line_keys, latest_trained_run, load_run_config,
                              named_run_dir)
from utils.errors import UserError

_ABSENT = object()

# Settings that define the trained network: taken from the run, an override contradicting them is refused.
MODEL_KEYS = ("MODEL", "INPUT", "OUTPUT", "DATA_PREPARATION.HU_WINDOW", "DATA_PREPARATION.SLICES_PER_IMAGE",
              "DATA_PREPARATION.INTENSITY_SCALING", "DATA_PREPARATION.ORIENTATION",
              "PREPROCESS_DATA.NORMALIZE_IMAGE", "DATASET.KIND", "DATASET.CLASSES", "DATASET.REGIONS",
              "DATASET.LESION_REGION", "DATASET.CHANNEL_NAMES")
# Settings taken from the run by evaluate/predict unless given on the command line.
RUN_DEFAULT_KEYS = ("OPTIMIZATION", "CALLBACKS.MODEL_CHECKPOINT.PATH", "DATA_PREPARATION.DATASET_PATH",
                    "DATASET.NUM_FOLDS", "DATASET.FOLD")
# ... and for a 2D kind (data=images), whose data is the user's own folders: the folders, how masks are
# named and read, and the validation split (cut by SEED), so `evaluate.py` alone scores the run's own split;
# and how its pictures are shown (in colour).
PICTURE_RUN_DEFAULT_KEYS = ("DATASET", "SEED", "SHOW_CENTER_CHANNEL_IMAGE")


def _value(cfg: DictConfig, key: str):
    """A plain (resolved) value for comparing and re-applying; None when the key is absent."""
    value = OmegaConf.select(cfg, key, default=None)
    if isinstance(value, DictConfig) or OmegaConf.is_list(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _within(key: str, sections: Iterable[str]) -> bool:
    """Whether a dotted key is one of `sections` or lies inside one of them."""
    return any(key == section or key.startswith(section + ".") for section in sections)


def refuse_contradictions(cfg: DictConfig, saved: DictConfig, explicit: Set[str], run_dir: str) -> None:
    """An override of a model setting that differs from the run's: the weights would not fit, say so."""
    for key in sorted(explicit):
        if not _within(key, MODEL_KEYS):
            continue
        asked, trained = _value(cfg, key), _value(saved, key)
        if asked != trained:
            raise UserError(f"run {run_dir} was trained with {key}={trained}, the command line asks for {asked}: "
                            f"drop the override (model settings come from the run) or train a new run")


def _take_from_run(cfg: DictConfig, saved: DictConfig, keys: Iterable[str], explicit: Set[str]) -> None:
    """cfg[key] = the run's value for each key (in place), then the command line's own values on top."""
    given = {k: _value(cfg, k) for k in explicit if OmegaConf.select(cfg, k, default=_ABSENT) is not _ABSENT}
    with open_dict(cfg):
        for key in keys:
            if OmegaConf.select(saved, key, default=_ABSENT) is not _ABSENT:
                # merge, not replace: a section of the typed schema only takes its own kind of node
                OmegaConf.update(cfg, key, OmegaConf.select(saved, key), merge=True)
        for key, value in given.items():
            if _within(key, keys):
                OmegaConf.update(cfg, key, value, merge=False)


def adopt_from_run(cfg: DictConfig, saved: DictConfig, keys: Iterable[str], explicit: Set[str], run_dir: str) -> None:
    """_take_from_run, with the run's values checked as the command line's are: type, range, cross-field rules.

    A hand-edited config.yaml (`BATCH_SIZE: abc`, `EPOCHS: -3`) gives one line naming the file and the key.
    """
    path = os.path.join(run_dir, RUN_CONFIG)
    taken = {key: _value(saved, key) for key in keys if OmegaConf.select(saved, key, default=_ABSENT) is not _ABSENT}
    errors = type_errors(taken, skip=explicit)
    if errors:
        raise UserError(f"{path}: {errors[0]}")
    try:
        _take_from_run(cfg, saved, keys, explicit)
    except Exception as err:   # OmegaConf's ValidationError and kin, for what the type check above cannot see
        raise UserError(f"{path}: {' '.join(str(err).split())[:200]}") from None


def validate_adopted(cfg: DictConfig, asked: DictConfig, run_dir: str) -> None:
    """validate_config on the config with the run's values; a failed check names the run's file unless the
    command line's own config (`asked`) fails it too (then its own line)."""
    try:
        validate_config(cfg)
    except UserError as err:
        validate_config(asked)
        raise UserError(f"{os.path.join(run_dir, RUN_CONFIG)}: {err}") from None


def run_config(cfg: DictConfig, overrides: Optional[Iterable[str]] = None) -> DictConfig:
    """cfg with RUN_DIR set (default: the latest run with weights) and the run's model settings (in place).

    For evaluate.py, predict.py and the notebook: MODEL, INPUT, OUTPUT, the HU window and slices,
    the normalisation come from the run (an override that contradicts them is refused);
    OPTIMIZATION and the checkpoint path come from the run unless given on the command line.
    `overrides` are the command-line overrides (default: Hydra's; a notebook passes its list).
    This is where such a script's config is validated (app.cli.hydra_app runs it first, instead of
    validate_config alone): once, as a whole, after the run's values are in; a bad value in the run's
    config.yaml is one line naming that file.
    """
    explicit = command_line_keys(overrides) - {"RUN_DIR"}
    try:
        run_dir = latest_trained_run(cfg.WORK_DIR) if cfg.RUN_DIR in (None, LATEST) else named_run_dir(cfg.WORK_DIR,
                                                                                                       cfg.RUN_DIR)
        saved = load_run_config(run_dir)
    except UserError:
        validate_config(cfg)   # a bad value on the command line is its own line, whether a run is found or not
        raise
    refuse_contradictions(cfg, saved, explicit, run_dir)
    asked = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.RUN_DIR = run_dir
    adopt_from_run(cfg, saved, MODEL_KEYS + RUN_DEFAULT_KEYS, explicit, run_dir)
    if not choose("DATASET.KIND", cfg.DATASET.KIND).volumetric:
        adopt_from_run(cfg, saved, PICTURE_RUN_DEFAULT_KEYS, explicit, run_dir)
    validate_adopted(cfg, asked, run_dir)
    print(f"run: {run_dir} ({cfg.MODEL.TYPE}, backbone {cfg.MODEL.BACKBONE.TYPE}, "
          f"{cfg.INPUT.HEIGHT}x{cfg.INPUT.WIDTH}x{cfg.INPUT.CHANNELS})")
    return cfg
