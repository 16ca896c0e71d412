"""Evaluate a trained UNet3+ on the validation CT volumes, on each CT's own grid (LiTS measures).

    python evaluate.py
    python evaluate.py EVALUATION.WRITE_NIFTI=True PREDICTION.POSTPROCESS=True
    python evaluate.py INFERENCE.BACKEND=onnxruntime:int8     # the fast CPU path, scored the same way

Predicts every volume-N (and every DICOM CT series with a DICOM SEG referencing it, named by its
pseudonym) in DATA_PREPARATION.SCANS_VAL_DATA_PATH slice by slice, brings the
probabilities back to the CT's grid, and compares the labels with segmentation-N at native
resolution, per region (DATASET.REGIONS; LiTS: liver and tumour): Dice per case and pooled (global),
VOE, RVD, ASSD, MSD, RMSD and HD95 in mm, how many cases missed each region, lesion detection by
LiTS's rule, plus the Dice on the network's resized slices for reference (docs/evaluation.md). Writes
EVALUATION.RESULTS_PATH/summary.csv (one row per volume, then 'mean' and 'global') and summary.png
(Dice and HD95 per volume as bars); with WRITE_NIFTI
also prediction-N.nii.gz on the source grid, affine and header.

With data=images the validation images (DATASET.VAL, or the split cut from DATASET.TRAIN) are scored
each at its own size: Dice and IoU per class (dice_<name>, iou_<name>), then 'mean' and 'global'.
"""
import os

import app.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)


import matplotlib.pyplot as plt
from omegaconf import DictConfig

from app.choices import choose
from data_sets.kinds import check_description, class_setup
from deploy.backends import inference_backend, inference_batch_size, inference_settings
from evaluation.images import CASE_KEY, evaluate_images
from evaluation.summary import format_table, headline_columns, missed_line, write_csv
from evaluation.volumes import evaluate_volumes, scoring_settings
from inference.roi import roi_settings
from run_dirs.loading import load_trained_model
from app.cli import hydra_app
from app.paths import require_paths
from figures.plots import IMAGE_PANELS, plot_case_scores
from volumes.slices import inference_slice_settings, picture_settings


def evaluate_pictures(cfg: DictConfig, kind) -> dict:
    """data=images: every validation image scored at its own size (evaluation/images.py)."""
    require_paths(cfg, write_dirs=["EVALUATION.RESULTS_PATH"])
    setup = class_setup(cfg)
    pairs = kind.split_pairs(cfg, "val")
    inputs = picture_settings(cfg)
    results_dir = cfg.EVALUATION.RESULTS_PATH
    model = load_trained_model(cfg)
    batch_size = inference_batch_size(cfg)
    with inference_backend(inference_settings(cfg), model) as predict_fn:
        result = evaluate_images(pairs, predict_fn, inputs, setup, batch_size, bool(cfg.DATASET.BINARY_MASKS))
    rows = result.cases + result.summary
    summary_path = write_csv(rows, os.path.join(results_dir, "summary.csv"))
    print(f"Scores of {len(result.cases)} validation image(s), each at its own size:")
    print(format_table(rows, [k for k in rows[0] if k not in ("height", "width")]))
    print(f"summary: {summary_path}")
    figure_path = os.path.join(results_dir, "summary.png")
    plt.close(plot_case_scores(result.cases, figure_path, panels=IMAGE_PANELS, case_key=CASE_KEY))
    print(f"scores per image: {figure_path}")
    return {"images": result.cases, "mean": result.summary[0], "global": result.summary[1],
            "summary_csv": summary_path, "figure": figure_path}


def evaluate(cfg: DictConfig) -> dict:
    """cfg holds the run's settings, validated (app.cli.hydra_app with trained_run). From here the config visits
    each room once, in this order: paths, the data set, the settings of slices / ROI / scoring, the trained
    model, its backend, then the scores (tests/config_walk.py traces it)."""
    kind = choose("DATASET.KIND", cfg.DATASET.KIND)   # the name table, as data_sets.kinds.dataset_kind reads it
    if not kind.volumetric:
        return evaluate_pictures(cfg, kind)
    require_paths(cfg, write_dirs=["EVALUATION.RESULTS_PATH"], read_dirs=[kind.val_source])
    check_description(cfg, cfg.RUN_DIR)   # nnU-Net's dataset.json: the run's classes and channels are its own
    setup = class_setup(cfg)
    pairs = kind.split_pairs(cfg, "val")
    settings = inference_slice_settings(cfg)
    roi = roi_settings(cfg)
    scoring = scoring_settings(cfg, setup)
    results_dir = cfg.EVALUATION.RESULTS_PATH
    model = load_trained_model(cfg)
    batch_size = inference_batch_size(cfg)
    with inference_backend(inference_settings(cfg), model) as predict_fn:
        result = evaluate_volumes(pairs, predict_fn, settings, cfg.OUTPUT.CLASSES, batch_size,
                                  cfg.PREDICTION.POSTPROCESS, results_dir if cfg.EVALUATION.WRITE_NIFTI else None, roi,
                                  class_names=list(cfg.DATASET.CLASSES), scoring=scoring)
    rows = result.cases + result.summary
    summary_path = write_csv(rows, os.path.join(results_dir, "summary.csv"))
    regions = ", ".join(f"{name} = label{'s' if len(labels) > 1 else ''} {'+'.join(map(str, labels))}"
                        for name, labels in scoring.regions.items())
    print(f"Scores on each CT's own grid ({regions}; distances in mm, HD95 {scoring.hd95}):")
    print(format_table(rows, headline_columns(rows[0])))
    print(missed_line(result.cases))
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


main = hydra_app(evaluate, trained_run=True)   # cfg: RUN_DIR (default: the latest run) with its settings


if __name__ == "__main__":
    main()
