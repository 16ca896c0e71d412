"""Scoring pictures (data=images): each image at its own size, Dice and IoU per scoring region.

The network sees each image resized to its input; its probabilities go back to the image's own size
before the argmax (inference/images.py) and are compared there with the mask as stored. Rows: one per
image, then 'mean' (every image weighs the same) and 'global' (every pixel of every image pooled).
An image where a class is neither in the mask nor predicted scores 1 for it (nothing to find,
nothing found), as for volumes (evaluation.metrics.Overlap).
"""
from typing import Dict, List, Mapping, NamedTuple, Sequence, Tuple

import numpy as np

from data_sets.images import Pair, mask_to_labels, read_mask_labels
from data_sets.kinds import ClassSetup
from evaluation.metrics import Overlap, overlap, pooled_overlap
from evaluation.summary import GLOBAL_ROW, MEAN_ROW, column_mean
from inference.images import predict_pictures
from volumes.slices import ImageSettings

CASE_KEY = "image"   # summary.csv's first column: the image's file stem


class ImageEvaluation(NamedTuple):
    cases: List[Dict]     # one row per image
    summary: List[Dict]   # the 'mean' and 'global' rows


def region_overlaps(truth: np.ndarray, prediction: np.ndarray, regions: Mapping[str, Sequence[int]]) -> Dict[str, Overlap]:
    return {name: overlap(np.isin(truth, labels), np.isin(prediction, labels)) for name, labels in regions.items()}


def image_row(name: str, shape: Tuple[int, int], overlaps: Mapping[str, Overlap]) -> Dict:
    """summary.csv's row of one image: its size, then dice_<region> and iou_<region>."""
    row = {CASE_KEY: name, "height": shape[0], "width": shape[1]}
    row.update({f"dice_{region}": o.dice for region, o in overlaps.items()})
    row.update({f"iou_{region}": o.iou for region, o in overlaps.items()})
    return row


def summary_rows(rows: List[Dict], overlaps: List[Mapping[str, Overlap]]) -> List[Dict]:
    """'mean' (of every image's scores) and 'global' (every image's pixels pooled) rows."""
    scores = [key for key in rows[0] if key.startswith(("dice_", "iou_"))]
    mean = {CASE_KEY: MEAN_ROW, "height": "", "width": "",
            **{key: column_mean(key, [row[key] for row in rows]) for key in scores}}
    pooled = {name: pooled_overlap([o[name] for o in overlaps]) for name in overlaps[0]}
    pooled_row = image_row(GLOBAL_ROW, ("", ""), pooled)
    return [mean, pooled_row]


def evaluate_images(pairs: Sequence[Pair], predict_fn, inputs: ImageSettings, setup: ClassSetup, batch_size: int,
                    binary_masks: bool = False) -> ImageEvaluation:
    """Score every (stem, image, mask) at the image's own size, per region of `setup` (name -> labels).

    inputs: how a picture becomes the network's input (volumes.slices.picture_settings). Mask labels the
    network does not predict (>= setup.classes) count as its last class, as in training.
    """
    rows, overlaps = [], []
    predictions = predict_pictures([image for _, image, _ in pairs], predict_fn, inputs, batch_size,
                                   description="evaluating images")
    for (name, _, mask_path), predicted in zip(pairs, predictions):
        truth = mask_to_labels(read_mask_labels(mask_path), mask_path, setup.label_count, binary_masks, setup.classes)
        image_overlaps = region_overlaps(truth, predicted.labels, setup.regions)
        rows.append(image_row(name, truth.shape, image_overlaps))
        overlaps.append(image_overlaps)
    return ImageEvaluation(rows, summary_rows(rows, overlaps))
