"""Evaluate a model on whole CT volumes: predict each one on its own grid and score it against its segmentation."""
import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from data_sets.kinds import ClassSetup
from data_sets.labels import network_labels
from evaluation.metrics import Scoring, overlap
from evaluation.summary import case_row, global_row, mean_row
from inference.roi import RoiSettings
from inference.volume import PredictFn, predict_volume
from app.choices import choose
from utils.errors import UserError, warn
from volumes.nifti import save_labels
from volumes.slices import CT, SliceSettings, label_slice, to_slicing_frame
from volumes.sources import Source, load_pair, source_name


class Evaluation(NamedTuple):
    cases: List[Dict]         # one row per scored volume
    summary: List[Dict]       # the 'mean' and 'global' rows
    written: List[str]        # predicted NIfTI files
    skipped: List[str]        # volume files that could not be scored, with why


def scoring_settings(cfg: DictConfig, setup: ClassSetup) -> Scoring:
    """What evaluate.py and cross_validate.py score: the regions the network can predict and the lesion
    region (data_sets.kinds.class_setup of DATASET.REGIONS / LESION_REGION), EVALUATION.HD95 and
    EVALUATION.LESION_OVERLAP (its range checked with the config, app.config.validate_config); a bad value is a
    UserError naming its key."""
    hd95 = cfg.EVALUATION.HD95
    choose("EVALUATION.HD95", hd95)   # a UserError listing the conventions otherwise
    return Scoring(dict(setup.regions), setup.lesion_region, hd95, float(cfg.EVALUATION.LESION_OVERLAP))


def slice_grid_overlaps(labels: np.ndarray, model_labels: np.ndarray, settings: SliceSettings, classes: int,
                        regions) -> Dict:
    """Overlaps per region (name -> labels) on the network's grid: the truth resized as preprocessing resizes masks."""
    truth = network_labels(np.stack([label_slice(labels, k, settings) for k in range(labels.shape[2])], axis=-1),
                           classes)
    return {region: overlap(np.isin(truth, values), np.isin(model_labels, values))
            for region, values in regions.items()}


def evaluate_volumes(pairs: Sequence[Tuple[int, Source, str]], predict_fn: PredictFn, settings: SliceSettings,
                     classes: int, batch_size: int, postprocess: bool = False,
                     nifti_dir: Optional[str] = None, roi: Optional[RoiSettings] = None,
                     class_names: Optional[Sequence[str]] = None, scoring: Scoring = Scoring()) -> Evaluation:
    """Score every (volume_id, CT, reference segmentation) on the CT's own grid.

    The CT is a NIfTI file or a DICOM series (`volumes.sources`); class_names (DATASET.CLASSES) place
    a DICOM SEG reference's segments. `scoring` says what is scored (default: LiTS's regions and
    rules); regions the model's `classes` cannot predict are left out (Scoring.for_classes). A volume
    that cannot be read or scored is warned about and skipped; the others still count.
    With nifti_dir each prediction is written there as prediction-N.nii.gz on the source grid; with roi
    (PREDICTION.ROI) only the slices around the organ are predicted, as predict.py does.
    """
    scoring = scoring.for_classes(classes)
    rows, overlaps, lesions, written, skipped = [], [], [], [], []
    for volume_id, volume_path, segmentation_path in tqdm(pairs, desc="evaluating volumes", unit="volume"):
        try:
            volume, segmentation = load_pair(volume_path, segmentation_path, settings.label_count, class_names,
                                             [kind == CT for kind in settings.normalisation])
        except UserError as err:
            warn(f"skipped: {err}")
            skipped.append(f"{source_name(volume_path)}: {err}")
            continue
        prediction = predict_volume(volume.data, predict_fn, settings, batch_size, postprocess,
                                    description=volume.name, roi=roi, source=volume.source)
        truth = network_labels(segmentation.data, classes)
        scores = scoring.score(truth, prediction.labels, volume.spacing)
        slice_grid = slice_grid_overlaps(to_slicing_frame(segmentation.data, volume.source, settings.orientation),
                                         prediction.model_labels, settings, classes, scoring.regions)
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
