"""Per-case Dice of a model on its held-out fold, and the mean ± sd summary over every fold."""
import csv
import os
from typing import Dict, List

import numpy as np

from data_generators.dataset_files import list_split_pairs
from data_generators.tf_data_generator import SliceSequence
from utils.inference import make_predict_fn, to_label_maps
from utils.volumes import VolumeCollector, volume_dice_rows


def held_out_case_dice(cfg, model) -> List[Dict]:
    """One row per held-out volume: Dice of liver and tumour on the volume rebuilt from its slices.

    The one place cross-validation scores a case; source-grid evaluation can replace the body.
    """
    image_paths, mask_paths = list_split_pairs(cfg, "val")
    sequence = SliceSequence(image_paths, mask_paths, cfg.HYPER_PARAMETERS.BATCH_SIZE, cfg.OUTPUT.CLASSES,
                             cfg.INPUT.CHANNELS, normalize=cfg.PREPROCESS_DATA.NORMALIZE_IMAGE)
    predict = make_predict_fn(model, cfg)
    collector = VolumeCollector()
    for step in range(len(sequence)):
        images, masks = sequence[step]
        truths = np.argmax(masks, axis=-1).astype(np.uint8)
        for index, prediction, truth in zip(sequence.batch_indices(step), to_label_maps(predict(images)), truths):
            collector.add(image_paths[index], prediction, truth)
    return volume_dice_rows(collector, cfg.OUTPUT.CLASSES)


def summary_rows(case_rows: List[Dict]) -> List[Dict]:
    """'mean' and 'sd' (sample standard deviation, n - 1) of each Dice column over all cases."""
    keys = [k for k in case_rows[0] if k.startswith("dice_")]
    values = {k: np.array([row[k] for row in case_rows], dtype=np.float64) for k in keys}
    ddof = 1 if len(case_rows) > 1 else 0
    return [{"fold": "all", "volume": "mean", **{k: float(v.mean()) for k, v in values.items()}},
            {"fold": "all", "volume": "sd", **{k: float(v.std(ddof=ddof)) for k, v in values.items()}}]


def write_cross_validation_csv(case_rows: List[Dict], path: str) -> List[Dict]:
    """summary.csv: fold, volume and Dice per held-out case, then the mean and sd rows; returns those two."""
    summary = summary_rows(case_rows)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fields = ["fold", "volume"] + [k for k in case_rows[0] if k.startswith("dice_")]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(case_rows + summary)
    return summary
