"""PREDICTION.ROI: run the network only on the slices that can hold the organ.

A chest-abdomen-pelvis CT has about three times as many slices as the liver spans. The cheap pass
predicts every STEP-th slice that shows the body (voxels above AIR_BELOW_HU: slices of air alone are
skipped), with the same network and inputs as the full pass, so its slices are final. Then every slice
between the first and last sampled slice with foreground is predicted, and the range grows outwards
(MARGIN slices a round) until the MARGIN slices past the outermost foreground on each side are predicted
and empty. Slices outside are background. When no sampled slice shows foreground, every slice is
predicted (a small organ missed by the samples must not vanish); foreground that no sample hits and that
lies more than MARGIN empty slices from the rest is not found (a liver is one organ).
"""
from typing import Callable, Iterable, NamedTuple, Set

import numpy as np

from app.config import positive_int
from volumes.nifti import AIR_BELOW_HU

BODY_SAMPLE = 4   # the body outline is read from every 4th voxel in-plane: a body is far larger than that
# Share of a slice's pixels (network grid) that must be foreground for the slice to hold the organ: a few
# stray false-positive pixels in the pelvis must not stretch the region over half the scan (50 at 320x320).
MIN_FOREGROUND = 0.0005


class RoiSettings(NamedTuple):
    step: int     # cheap pass: every step-th slice
    margin: int   # slices kept clear of foreground on each side of the predicted range


def roi_settings(cfg):
    """RoiSettings from PREDICTION.ROI / ROI_STEP / ROI_MARGIN, or None when ROI is off (every slice)."""
    prediction = cfg.PREDICTION
    if not prediction.ROI:
        return None
    return RoiSettings(positive_int(prediction.ROI_STEP, "PREDICTION.ROI_STEP"),
                       positive_int(prediction.ROI_MARGIN, "PREDICTION.ROI_MARGIN"))


def min_foreground_pixels(height: int, width: int) -> int:
    """Foreground pixels a slice of the network's grid needs to count as holding the organ (at least 1)."""
    return max(1, int(MIN_FOREGROUND * height * width))


def body_slices(hu: np.ndarray) -> np.ndarray:
    """Indices of the axial slices (last axis) that show some of the body, from the HU values alone."""
    sampled = np.asarray(hu[::BODY_SAMPLE, ::BODY_SAMPLE])
    return np.flatnonzero((sampled > AIR_BELOW_HU).any(axis=(0, 1)))


def predict_region(depth: int, body: np.ndarray, roi: RoiSettings,
                   predict: Callable[[Iterable[int]], Set[int]]) -> Set[int]:
    """Drive `predict(slice indices) -> those of them with foreground` over the region of interest;
    returns every slice index predicted."""
    done: Set[int] = set()
    foreground: Set[int] = set()

    def run(indices):
        todo = sorted(set(indices) - done)
        if todo:
            foreground.update(predict(todo))
            done.update(todo)

    run(body[::roi.step] if body.size else range(0, depth, roi.step))
    if not foreground:
        run(range(depth))
        return done
    run(range(min(foreground), max(foreground) + 1))
    while True:   # outwards until MARGIN predicted slices past the outermost foreground are empty
        low, high = max(min(foreground) - roi.margin, 0), min(max(foreground) + roi.margin, depth - 1)
        if done.issuperset(range(low, high + 1)):
            return done
        run(range(low, high + 1))
