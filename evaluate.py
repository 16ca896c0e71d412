"""Evaluate a trained UNet3+ on the validation CT volumes, on each CT's own grid (LiTS measures).

    python evaluate.py
    python evaluate.py EVALUATION.WRITE_NIFTI=True PREDICTION.POSTPROCESS=True
    python evaluate.py INFERENCE.BACKEND=onnxruntime:int8     # the fast CPU path, scored the same way

Predicts every volume-N (and every DICOM CT series with a DICOM SEG referencing it, named by its
pseudonym) in DATA_PREPARATION.SCANS_VAL_DATA_PATH slice by slice, brings the
probabilities back to the CT's grid, and compares the labels with segmentation-N at native
resolution: Dice per case and pooled (global) for liver and tumour, ASSD and HD95 in mm, lesion
recall and precision, plus the Dice on the network's resized slices for reference. Writes
EVALUATION.RESULTS_PATH/summary.csv (one row per volume, then 'mean' and 'global') and summary.png
(Dice and HD95 per volume as bars); with WRITE_NIFTI
also prediction-N.nii.gz on the source grid, affine and header.
"""
import os

import utils.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)


import matplotlib.pyplot as plt
from omegaconf import DictConfig

from data_sets.kinds import check_description, dataset_kind
from deploy.backends import inference_backend
from evaluation.summary import format_table, write_csv
from evaluation.volumes import evaluate_volumes
from inference.roi import roi_settings
from run_dirs.loading import load_trained_model
from run_dirs.run_dir import run_config
from utils.cli import hydra_app
from utils.paths import require_paths
from utils.visualize import plot_case_scores
from volumes.slices import inference_slice_settings

HEADLINE = ("volume", "dice_liver", "dice_tumour", "assd_liver_mm", "hd95_liver_mm", "lesion_recall",
            "lesion_precision", "slice_grid_dice_liver", "slice_grid_dice_tumour")


def evaluate(cfg: DictConfig) -> dict:
    run_config(cfg)   # RUN_DIR (default: the latest run) and the model settings it was trained with
    kind = dataset_kind(cfg)
    require_paths(cfg, write_dirs=["EVALUATION.RESULTS_PATH"], read_dirs=[kind.val_source])
    check_description(cfg, cfg.RUN_DIR)   # nnU-Net's dataset.json: the run's classes and channels are its own
    settings = inference_slice_settings(cfg)
    pairs = kind.split_pairs(cfg, "val")
    results_dir = cfg.EVALUATION.RESULTS_PATH
    with inference_backend(cfg, load_trained_model(cfg)) as predict_fn:
        result = evaluate_volumes(pairs, predict_fn, settings, cfg.OUTPUT.CLASSES, cfg.HYPER_PARAMETERS.BATCH_SIZE,
                                  cfg.PREPROCESS_DATA.NORMALIZE_IMAGE, cfg.PREDICTION.POSTPROCESS,
                                  results_dir if cfg.EVALUATION.WRITE_NIFTI else None, roi_settings(cfg),
                                  class_names=list(cfg.DATASET.CLASSES))
    rows = result.cases + result.summary
    summary_path = write_csv(rows, os.path.join(results_dir, "summary.csv"))
    print("Scores on each CT's own grid (liver = labels 1+2, tumour = label 2; distances in mm):")
    print(format_table(rows, [k for k in HEADLINE if k in rows[0]]))
    print(f"summary (every column): {summary_path}")
    figure_path = os.path.join(results_dir, "summary.png")
    plt.close(plot_case_scores(result.cases, figure_path))
    print(f"scores per volume: {figure_path}")
    if result.written:
        print(f"predicted volumes: {len(result.written)} NIfTI files in {results_dir}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} volume(s): {'; '.join(result.skipped)}")
    return {"volumes": result.cases, "mean": result.summary[0], "global": result.summary[1],
            "summary_csv": summary_path, "figure": figure_path, "nifti": result.written, "skipped": result.skipped}


main = hydra_app(evaluate)


if __name__ == "__main__":
    main()
