"""K-fold cross-validation by volume: train every fold, score each held-out CT on its own grid, summarise.

    python cross_validate.py DATASET.NUM_FOLDS=5 HYPER_PARAMETERS.EPOCHS=50

Fold k trains on the TRAIN volumes outside fold k, as its own run in CROSS_VALIDATION.RESULTS_PATH/
fold_<k>, and is scored on the CT files (DATA_PREPARATION.SCANS_TRAIN_DATA_PATH) of the volumes inside
it, as evaluate.py scores (the VAL split is not used). Writes CROSS_VALIDATION.RESULTS_PATH/summary.csv:
evaluate.py's scores per held-out case (Dice, VOE, RVD, surface distances, misses, lesion detection, by
region), then their mean (misses: a count) and sd over all cases;
summary.png shows Dice and HD95 per held-out case.
With data=images the folds are over the TRAIN images (dealt by SEED), and each held-out image is scored
at its own size as evaluate.py scores pictures (Dice and IoU per class; column `image`).
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

import os
import sys
from typing import Set

import keras
import matplotlib.pyplot as plt
from omegaconf import DictConfig, OmegaConf

from data_sets.kinds import apply_description, class_setup, dataset_kind
from deploy.backends import inference_backend, inference_batch_size, inference_settings
from evaluation.cross_validation import fold_config, held_out_pairs, write_cross_validation_csv
from evaluation.images import CASE_KEY, evaluate_images
from evaluation.summary import missed_line, regions_of
from evaluation.volumes import evaluate_volumes, scoring_settings
from inference.roi import roi_settings
from run_dirs.loading import load_trained_model
from run_dirs.run_dir import command_line_keys
from app.cli import hydra_app
from app.config import validate_config
from utils.errors import UserError
from app.paths import require_paths
from figures.plots import IMAGE_PANELS, plot_case_scores
from training.fresh_process import train_in_fresh_process
from volumes.slices import inference_slice_settings, picture_settings


def train_fold(fold_cfg: DictConfig, explicit: Set[str]) -> None:
    """Train the fold as train.py would, in a fresh process (fresh TF state); a fold that fails or is
    interrupted ends the run with its exit status (it has printed its own `error:` or resume line)."""
    status = train_in_fresh_process(fold_cfg, explicit)
    if status != 0:
        sys.exit(status)


def score_fold(fold_cfg: DictConfig) -> list:
    """One row per held-out volume, scored on its CT's grid by the fold's best weights (data=images: one per
    held-out image, at its own size)."""
    # INFERENCE.BACKEND, as evaluate.py
    with inference_backend(inference_settings(fold_cfg), load_trained_model(fold_cfg)) as predict_fn:
        if not dataset_kind(fold_cfg).volumetric:
            result = evaluate_images(held_out_pairs(fold_cfg), predict_fn, picture_settings(fold_cfg),
                                     class_setup(fold_cfg), inference_batch_size(fold_cfg),
                                     bool(fold_cfg.DATASET.BINARY_MASKS))
            keras.backend.clear_session()
            return result.cases
        result = evaluate_volumes(held_out_pairs(fold_cfg), predict_fn, inference_slice_settings(fold_cfg),
                                  fold_cfg.OUTPUT.CLASSES, inference_batch_size(fold_cfg),
                                  fold_cfg.PREDICTION.POSTPROCESS, roi=roi_settings(fold_cfg),
                                  class_names=list(fold_cfg.DATASET.CLASSES),
                                  scoring=scoring_settings(fold_cfg, class_setup(fold_cfg)))
    keras.backend.clear_session()
    return result.cases


def cross_validate(cfg: DictConfig) -> dict:
    explicit = command_line_keys()
    if OmegaConf.select(cfg, "DATA_PREPARATION.DATASET_PATH", default=None):
        apply_description(cfg, explicit)   # data=nnunet: dataset.json's classes, regions, channels
        validate_config(cfg)
    scoring_settings(cfg, class_setup(cfg))   # a bad scoring option fails before any fold trains
    num_folds = cfg.DATASET.NUM_FOLDS
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
        raise UserError(f"cross_validate.py needs DATASET.NUM_FOLDS >= 2, got {num_folds!r}")
    kind = dataset_kind(cfg)
    volumetric = kind.volumetric
    require_paths(cfg, write_dirs=["CROSS_VALIDATION.RESULTS_PATH"],
                  read_dirs=[kind.train_source] if volumetric else [])
    for fold in range(num_folds):   # every fold's split is checked before any training starts
        if not held_out_pairs(fold_config(cfg, fold)):
            raise UserError(f"fold {fold} holds no volume of {kind.train_source}")
    case_key, grid = ("volume", "on each CT's grid") if volumetric else (CASE_KEY, "each image at its own size")
    case_rows = []
    for fold in range(num_folds):
        print(f"== fold {fold} of {num_folds} ==", flush=True)
        fold_cfg = fold_config(cfg, fold)
        train_fold(fold_cfg, explicit)
        case_rows += [{"fold": fold, **row} for row in score_fold(fold_cfg)]
    summary_path = os.path.join(cfg.CROSS_VALIDATION.RESULTS_PATH, "summary.csv")
    mean, sd = write_cross_validation_csv(case_rows, summary_path, case_key)
    for key in (f"dice_{region}" for region in regions_of(case_rows[0])):
        print(f"{key}: {mean[key]:.4f} ± {sd[key]:.4f} over {len(case_rows)} held-out cases ({grid})")
    if volumetric:
        print(missed_line(case_rows))
    print(f"summary: {summary_path}")
    figure_path = os.path.join(cfg.CROSS_VALIDATION.RESULTS_PATH, "summary.png")
    plt.close(plot_case_scores(case_rows, figure_path, *(() if volumetric else (IMAGE_PANELS, CASE_KEY))))
    print(f"scores per held-out {case_key}: {figure_path}")
    return {"cases": case_rows, "mean": mean, "sd": sd, "summary_csv": summary_path, "figure": figure_path}


main = hydra_app(cross_validate)


if __name__ == "__main__":
    main()
