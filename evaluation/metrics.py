"""LiTS measures of one case: Dice, surface distances in mm, and lesion-wise detection.

Regions follow the LiTS benchmark: "liver" is the whole organ (labels 1 and 2, tumours are part of
the liver), "tumour" is label 2. Surface distances come from MedPy (what the LiTS evaluation
used); connected components from scipy.ndimage.
"""
from typing import Dict, NamedTuple, Tuple

import numpy as np
from medpy.metric import binary as medpy_binary
from scipy import ndimage

from volumes.postprocess import connected_components

# Region name -> which labels belong to it, for each number of classes the model predicts.
REGIONS = {2: {"liver": (1,)}, 3: {"liver": (1, 2), "tumour": (2,)}}
# The distances from every surface voxel of one mask to the other's surface, as medpy.assd/hd95 use them.
_MEDPY_SURFACE_DISTANCES = getattr(medpy_binary, "__surface_distances")


class Overlap(NamedTuple):
    """Voxel counts behind a Dice, kept so that Dice can also be pooled over all cases."""
    intersection: int
    truth: int
    prediction: int

    @property
    def dice(self) -> float:
        """2|T∩P| / (|T|+|P|); 1.0 when both are empty (nothing to find, nothing found)."""
        total = self.truth + self.prediction
        return 1.0 if total == 0 else 2.0 * self.intersection / total


def overlap(truth: np.ndarray, prediction: np.ndarray) -> Overlap:
    truth, prediction = truth.astype(bool), prediction.astype(bool)
    if truth.shape != prediction.shape:
        raise ValueError(f"volumes differ in shape: {truth.shape} vs {prediction.shape}")
    return Overlap(int(np.count_nonzero(truth & prediction)), int(np.count_nonzero(truth)),
                   int(np.count_nonzero(prediction)))


def _bounding_box(mask: np.ndarray, margin: int = 1) -> tuple:
    """Slices around a mask's voxels plus `margin`: surface distances inside it equal those of the whole volume."""
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, size)) for s, size in zip(box, mask.shape))


def surface_distances(truth: np.ndarray, prediction: np.ndarray, spacing) -> Tuple[float, float]:
    """(ASSD, HD95) in mm between two boolean volumes; NaN when either is empty (undefined).

    Both are cropped to their joint bounding box first (every surface voxel lies inside it), which
    turns minutes of distance transforms on a 512x512x800 CT into seconds.
    """
    if not truth.any() or not prediction.any():
        return float("nan"), float("nan")
    box = _bounding_box(truth | prediction)
    truth, prediction = truth[box], prediction[box]
    spacing = tuple(float(s) for s in spacing)
    # medpy.assd and medpy.hd95 each compute both directed distance sets; compute them once and
    # combine them as those two do (tests/test_evaluation.py checks the equality).
    from_prediction = _MEDPY_SURFACE_DISTANCES(prediction, truth, spacing, 1)
    from_truth = _MEDPY_SURFACE_DISTANCES(truth, prediction, spacing, 1)
    both = np.concatenate((from_prediction, from_truth))
    return float(both.mean()), float(np.percentile(both, 95))


class LesionCounts(NamedTuple):
    """Lesion-wise detection: a reference lesion is found, and a predicted one is right, when they overlap."""
    reference: int
    predicted: int
    found: int     # reference lesions touched by a predicted tumour voxel
    correct: int   # predicted lesions touching a reference tumour voxel

    @property
    def recall(self) -> float:
        return self.found / self.reference if self.reference else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else float("nan")


def lesion_counts(truth: np.ndarray, prediction: np.ndarray) -> LesionCounts:
    """Connected tumour components (26-connected) of both volumes and which of them overlap."""
    truth, prediction = truth.astype(bool), prediction.astype(bool)
    if truth.any() or prediction.any():
        box = _bounding_box(truth | prediction)
        truth, prediction = truth[box], prediction[box]
    truth_components, reference = connected_components(truth)
    predicted_components, predicted = connected_components(prediction)
    both = truth & prediction
    found = np.count_nonzero(np.unique(truth_components[both]))
    correct = np.count_nonzero(np.unique(predicted_components[both]))
    return LesionCounts(reference, predicted, int(found), int(correct))


def case_scores(truth_labels: np.ndarray, predicted_labels: np.ndarray, spacing, classes: int) -> Dict:
    """Every LiTS measure of one case: {region: {'overlap', 'assd', 'hd95'}} plus 'lesions' with tumours."""
    scores = {}
    for region, labels in REGIONS[classes].items():
        truth, prediction = np.isin(truth_labels, labels), np.isin(predicted_labels, labels)
        assd, hd95 = surface_distances(truth, prediction, spacing)
        scores[region] = {"overlap": overlap(truth, prediction), "assd": assd, "hd95": hd95}
        if region == "tumour":
            scores["lesions"] = lesion_counts(truth, prediction)
    return scores
