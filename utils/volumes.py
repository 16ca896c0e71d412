"""Per-volume evaluation: rebuild 3D label volumes from 2D slices, score them, write them back.

Slice file names carry (volume, slice) (utils.naming), which is all that is needed to put a
volume back together, as the LiTS/KiTS challenges score whole volumes rather than slices.
"""
import csv
import glob
import os
from collections import defaultdict
from typing import Dict, List

import cv2
import nibabel as nib
import numpy as np

from losses.metrics import dice_per_class
from utils.errors import UserError
from utils.labels import CLASS_NAMES
from utils.naming import parse_slice_name


class VolumeCollector:
    """Collects predicted and true slices by volume and stacks them along the last axis (as in LiTS)."""

    def __init__(self):
        self.slices = defaultdict(dict)

    def add(self, image_path: str, prediction: np.ndarray, truth: np.ndarray) -> None:
        name = parse_slice_name(image_path)
        self.slices[name.volume][name.slice] = (prediction, truth)

    def volumes(self):
        """(volume_id, slice indices, prediction HxWxS, truth HxWxS) for each volume, sorted by id."""
        for volume_id in sorted(self.slices):
            indices = sorted(self.slices[volume_id])
            pairs = [self.slices[volume_id][i] for i in indices]
            yield (volume_id, indices, np.stack([p for p, _ in pairs], axis=-1),
                   np.stack([t for _, t in pairs], axis=-1))


def volume_dice_rows(collector: VolumeCollector, classes: int) -> List[Dict]:
    """One row per volume: Dice of each foreground class on the rebuilt volume."""
    rows = []
    for volume_id, indices, prediction, truth in collector.volumes():
        dice = dice_per_class(truth, prediction, classes)
        row = {"volume": volume_id, "slices": len(indices)}
        row.update({f"dice_{CLASS_NAMES[c]}": float(dice[c]) for c in range(1, classes)})
        rows.append(row)
    return rows


def mean_row(rows: List[Dict]) -> Dict:
    keys = [k for k in rows[0] if k.startswith("dice_")]
    return {"volume": "mean", "slices": sum(r["slices"] for r in rows),
            **{k: float(np.mean([r[k] for r in rows])) for k in keys}}


def write_summary_csv(rows: List[Dict], path: str) -> None:
    """summary.csv: one row per volume plus a 'mean' row (like the MLPerf 3D-UNet summary)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    all_rows = rows + [mean_row(rows)]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(all_rows[0]))
        writer.writeheader()
        writer.writerows(all_rows)


def format_table(rows: List[Dict]) -> str:
    all_rows = rows + [mean_row(rows)]
    keys = list(all_rows[0])
    lines = ["  ".join(f"{k:>12}" for k in keys)]
    for row in all_rows:
        lines.append("  ".join(f"{row[k]:>12.4f}" if isinstance(row[k], float) else f"{row[k]!s:>12}" for k in keys))
    return "\n".join(lines)


def find_source_volume(scans_dir: str, volume_id: int) -> str:
    matches = sorted(glob.glob(os.path.join(scans_dir, f"volume-{volume_id}.nii*")))
    if not matches:
        raise UserError(f"source volume-{volume_id}.nii(.gz) not found in {scans_dir} (needed for its affine)")
    return matches[0]


def write_prediction_nifti(prediction: np.ndarray, slice_indices, source_path: str, out_path: str) -> str:
    """Predicted labels resized back to the source grid, in a NIfTI with the source's affine.

    Slices that were not predicted (stride, skipped) are left as background.
    """
    source = nib.load(source_path)
    height, width, depth = source.shape[:3]
    volume = np.zeros((height, width, depth), dtype=np.uint8)
    for position, index in enumerate(slice_indices):
        volume[:, :, index] = cv2.resize(prediction[:, :, position], (width, height), interpolation=cv2.INTER_NEAREST)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    nib.save(nib.Nifti1Image(volume, source.affine), out_path)
    return out_path
