"""Evaluate a model on whole CT volumes: predict each one on its own grid and score it against its segmentation."""
import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from evaluation.metrics import LITS_LESION_REGION, LITS_REGIONS, Scoring, overlap
from evaluation.summary import case_row, global_row, mean_row
from inference.volume import PredictFn, predict_volume
from utils.choices import choose
from utils.errors import UserError
from volumes.nifti import load_pair, save_labels, warn
from volumes.slices import SliceSettings, label_slice


class Evaluation(NamedTuple):
    cases: List[Dict]         # one row per scored volume
    summary: List[Dict]       # the 'mean' and 'global' rows
    written: List[str]        # predicted NIfTI files
    skipped: List[str]        # volume files that could not be scored, with why


def scoring_settings(cfg: DictConfig) -> Scoring:
    """What evaluate.py and cross_validate.py score, from the config: DATASET.REGIONS (name -> labels)
    and DATASET.LESION_REGION (LiTS's when the config has no REGIONS), EVALUATION.HD95 and
    EVALUATION.LESION_OVERLAP; a bad value is a UserError naming its key."""
    regions = OmegaConf.select(cfg, "DATASET.REGIONS", default=None)
    if regions is None:
        regions, lesion_region = LITS_REGIONS, LITS_LESION_REGION
    else:
        regions = OmegaConf.to_container(regions) if OmegaConf.is_config(regions) else regions
        lesion_region = OmegaConf.select(cfg, "DATASET.LESION_REGION", default=None)
    if not isinstance(regions, dict) or not regions or not all(
            isinstance(name, str) and name and isinstance(labels, (list, tuple)) and labels
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in labels)
            for name, labels in regions.items()):
        raise UserError(f"DATASET.REGIONS must map region names to lists of label values > 0, got {regions!r}")
    if lesion_region is not None and lesion_region not in regions:
        raise UserError(f"DATASET.LESION_REGION must be null or one of DATASET.REGIONS ({', '.join(regions)}), "
                        f"got {lesion_region!r}")
    hd95 = OmegaConf.select(cfg, "EVALUATION.HD95", default="max_of_directed")
    choose("EVALUATION.HD95", hd95)
    lesion_overlap = OmegaConf.select(cfg, "EVALUATION.LESION_OVERLAP", default=0.5)
    if isinstance(lesion_overlap, bool) or not isinstance(lesion_overlap, (int, float)) or not 0 <= lesion_overlap < 1:
        raise UserError(f"EVALUATION.LESION_OVERLAP must be a number from 0 (any overlap) to below 1, "
                        f"got {lesion_overlap!r}")
    return Scoring({name: tuple(labels) for name, labels in regions.items()}, lesion_region, hd95, float(lesion_overlap))


def slice_grid_overlaps(labels: np.ndarray, model_labels: np.ndarray, settings: SliceSettings, classes: int,
                        regions) -> Dict:
    """Overlaps per region (name -> labels) on the network's grid: the truth resized as preprocessing resizes masks."""
    truth = np.stack([label_slice(labels, k, settings) for k in range(labels.shape[2])], axis=-1)
    truth = np.minimum(truth, classes - 1)
    return {region: overlap(np.isin(truth, values), np.isin(model_labels, values))
            for region, values in regions.items()}


def evaluate_volumes(pairs: Sequence[Tuple[int, str, str]], predict_fn: PredictFn, settings: SliceSettings,
                     classes: int, batch_size: int, normalize: bool = True, postprocess: bool = False,
                     nifti_dir: Optional[str] = None, scoring: Scoring = Scoring()) -> Evaluation:
    """Score every (volume_id, volume_path, segmentation_path) on the CT's own grid.

    `scoring` says what is scored (default: LiTS's regions and rules); regions the model's `classes`
    cannot predict are left out (Scoring.for_classes).
    A volume that cannot be read or scored is warned about and skipped; the others still count.
    With nifti_dir each prediction is written there as prediction-N.nii.gz on the source grid.
    """
    scoring = scoring.for_classes(classes)
    rows, overlaps, lesions, written, skipped = [], [], [], [], []
    for volume_id, volume_path, segmentation_path in tqdm(pairs, desc="evaluating volumes", unit="volume"):
        try:
            volume, segmentation = load_pair(volume_path, segmentation_path)
        except UserError as err:
            warn(f"skipped: {err}")
            skipped.append(f"{os.path.basename(volume_path)}: {err}")
            continue
        prediction = predict_volume(volume.data, predict_fn, settings, batch_size, normalize, postprocess,
                                    description=volume.name)
        truth = np.minimum(segmentation.data, classes - 1)
        scores = scoring.score(truth, prediction.labels, volume.spacing)
        slice_grid = slice_grid_overlaps(segmentation.data, prediction.model_labels, settings, classes, scoring.regions)
        rows.append(case_row(volume_id, truth.shape[2], scores, slice_grid))
        overlaps.append({region: scores.regions[region].overlap for region in scoring.regions})
        if scores.lesions is not None:
            lesions.append(scores.lesions)
        if nifti_dir:
            written.append(save_labels(prediction.labels, volume,
                                       os.path.join(nifti_dir, f"prediction-{volume_id}.nii.gz")))
    if not rows:
        raise UserError(f"no volume could be evaluated ({len(skipped)} skipped, see the warnings above)")
    return Evaluation(rows, [mean_row(rows), global_row(rows, overlaps, lesions)], written, skipped)
