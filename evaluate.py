"""Evaluate a trained UNet3+ on the validation slices: Dice per class, and per volume.

    python evaluate.py MODEL.TYPE=unet3plus EVALUATION.WRITE_NIFTI=True

Prints the Dice of each class over all validation pixels, then rebuilds every validation
volume from its slices and writes Dice per volume (liver, tumour) and their mean to
EVALUATION.RESULTS_PATH/summary.csv. With WRITE_NIFTI the predicted volumes are saved as
NIfTI beside it, on the source CT's grid and affine, to open in a NIfTI viewer.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # keep TF's C++ start-up chatter out of the output


import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from data_generators.dataset_files import list_split_pairs
from data_generators.tf_data_generator import SliceSequence
from losses.metrics import dice_per_class
from utils.cli import hydra_app
from utils.inference import load_trained_model, make_predict_fn, to_label_maps
from utils.runtime import use_xla
from utils.volumes import (CLASS_NAMES, VolumeCollector, find_source_volume, format_table, volume_dice_rows,
                           write_prediction_nifti, write_summary_csv)


def predict_validation_set(cfg, model) -> VolumeCollector:
    """Predicted and true label maps of every validation slice, grouped by volume."""
    image_paths, mask_paths = list_split_pairs(cfg, "val")
    sequence = SliceSequence(image_paths, mask_paths, cfg.HYPER_PARAMETERS.BATCH_SIZE, cfg.OUTPUT.CLASSES,
                             cfg.INPUT.CHANNELS, normalize=cfg.PREPROCESS_DATA.NORMALIZE_IMAGE)
    predict = make_predict_fn(model, use_xla(cfg))
    collector = VolumeCollector()
    for step in tqdm(range(len(sequence)), desc="evaluating", unit="batch"):
        images, masks = sequence[step]
        predictions = to_label_maps(predict(images))
        truths = np.argmax(masks, axis=-1).astype(np.uint8)
        for index, prediction, truth in zip(sequence.batch_indices(step), predictions, truths):
            collector.add(image_paths[index], prediction, truth)
    return collector


def overall_dice(collector: VolumeCollector, classes: int) -> np.ndarray:
    """Dice of each class over all validation pixels at once."""
    volumes = list(collector.volumes())
    predictions = np.concatenate([v[2].ravel() for v in volumes])
    truths = np.concatenate([v[3].ravel() for v in volumes])
    return dice_per_class(truths, predictions, classes)


def evaluate(cfg: DictConfig) -> dict:
    model = load_trained_model(cfg)
    collector = predict_validation_set(cfg, model)
    classes = cfg.OUTPUT.CLASSES
    dice = overall_dice(collector, classes)
    print("Dice over all validation slices:")
    for c in range(classes):
        print(f"  {CLASS_NAMES[c]:>10}: {dice[c]:.4f}")
    rows = volume_dice_rows(collector, classes)
    results_dir = cfg.EVALUATION.RESULTS_PATH
    summary_path = os.path.join(results_dir, "summary.csv")
    write_summary_csv(rows, summary_path)
    print("Dice per volume:")
    print(format_table(rows))
    print(f"summary: {summary_path}")
    nifti_paths = []
    if cfg.EVALUATION.WRITE_NIFTI:
        for volume_id, indices, prediction, _ in collector.volumes():
            source = find_source_volume(cfg.DATA_PREPARATION.SCANS_VAL_DATA_PATH, volume_id)
            out = os.path.join(results_dir, f"prediction-{volume_id}.nii.gz")
            nifti_paths.append(write_prediction_nifti(prediction, indices, source, out))
        print(f"predicted volumes: {len(nifti_paths)} NIfTI files in {results_dir}")
    return {"dice_per_class": dice, "volumes": rows, "summary_csv": summary_path, "nifti": nifti_paths}


main = hydra_app(evaluate)


if __name__ == "__main__":
    main()
