"""summary.csv: one row per case, then the per-case mean and the global (all voxels pooled) scores.

LiTS reports both: the per-case mean weighs every patient equally, the global Dice weighs every
voxel equally (large livers count more). Slice-grid Dice, on the network's resized slices, is kept
as a clearly named extra column: it is what the training logs show, and it reads too high.
"""
import csv
import math
from typing import Dict, List, Optional

import numpy as np

from evaluation.metrics import CaseScores, LesionCounts, Overlap, pooled_lesion_counts, pooled_overlap
from utils.files import write_atomically

MEAN_ROW, GLOBAL_ROW = "mean", "global"
MISSED = "missed_"   # per case 1 when one of truth and prediction is empty for the region; a count in the mean row


def case_row(volume, slices: int, scores: CaseScores, slice_grid: Dict[str, Overlap]) -> Dict:
    """The CSV row of one case from `evaluation.metrics.case_scores` and slice-grid overlaps by region.

    Columns are named after the regions: dice_<region>, voe_<region>, rvd_<region>, assd/msd/rmsd/
    hd95_<region>_mm, missed_<region>, then lesion detection and slice_grid_dice_<region>.
    """
    row = {"volume": volume, "slices": slices}
    regions = scores.regions
    for measure in ("dice", "voe", "rvd"):
        row.update({f"{measure}_{name}": getattr(region.overlap, measure) for name, region in regions.items()})
    for measure in ("assd", "msd", "rmsd", "hd95"):
        row.update({f"{measure}_{name}_mm": getattr(region.distances, measure) for name, region in regions.items()})
    row.update({f"{MISSED}{name}": int(region.overlap.missed) for name, region in regions.items()})
    if scores.lesions is not None:
        row.update(_lesion_columns(scores.lesions))
    row.update({f"slice_grid_dice_{name}": slice_grid[name].dice for name in regions})
    return row


def _lesion_columns(lesions: LesionCounts) -> Dict:
    return {"lesions_reference": lesions.reference, "lesions_predicted": lesions.predicted,
            "lesions_detected": lesions.detected, "lesion_recall": lesions.recall,
            "lesion_precision": lesions.precision}


def regions_of(row: Dict) -> List[str]:
    """The region names of a summary row, in column order."""
    return [key[len("dice_"):] for key in row if key.startswith("dice_")]


def headline_columns(row: Dict) -> List[str]:
    """The columns evaluate.py prints, named after the row's regions: every one of them is in summary.csv."""
    regions = regions_of(row)
    keys = ["volume", *(f"dice_{r}" for r in regions), *(f"hd95_{r}_mm" for r in regions),
            *(f"{MISSED}{r}" for r in regions), "lesion_recall", "lesion_precision",
            *(f"slice_grid_dice_{r}" for r in regions)]
    return [k for k in keys if k in row]


def column_mean(key: str, values) -> float:
    """A column's per-case summary: missed_<region> is counted; every other score is averaged, leaving
    out only NaN (lesion recall without reference lesions, precision without predicted ones)."""
    values = [float(v) for v in values if not (isinstance(v, float) and math.isnan(v))]
    if key.startswith(MISSED):
        return int(sum(values))
    return float(np.mean(values)) if values else float("nan")


def mean_row(rows: List[Dict]) -> Dict:
    """Per-case mean of every score, and how many cases missed each region (missed_<region>).

    A missed region has defined, worst-case scores (Dice 0, distances the image diagonal), never
    NaN: it counts in the mean, which cannot look better by missing.
    """
    row = {"volume": MEAN_ROW, "slices": sum(r["slices"] for r in rows)}
    for key in rows[0]:
        if key not in row:
            row[key] = column_mean(key, (r[key] for r in rows))
    return row


def global_row(rows: List[Dict], overlaps: List[Dict[str, Overlap]], lesions: List[LesionCounts]) -> Dict:
    """Dice, VOE and RVD with every case's voxels pooled, and lesion detection pooled over all lesions (LiTS)."""
    row = {key: "" for key in rows[0]}
    row.update({"volume": GLOBAL_ROW, "slices": sum(r["slices"] for r in rows)})
    for region in overlaps[0]:
        pooled = pooled_overlap([o[region] for o in overlaps])
        row.update({f"dice_{region}": pooled.dice, f"voe_{region}": pooled.voe, f"rvd_{region}": pooled.rvd})
    if lesions:
        row.update(_lesion_columns(pooled_lesion_counts(lesions)))
    return row


def missed_line(rows: List[Dict]) -> Optional[str]:
    """One line saying how many cases missed each region (None when there are no regions)."""
    regions = regions_of(rows[0])
    if not regions:
        return None
    counts = ", ".join(f"{region} {sum(int(r[MISSED + region]) for r in rows)} of {len(rows)}" for region in regions)
    return (f"cases with a region missed (empty prediction or empty reference, not both; scored Dice 0 and "
            f"distances = the volume's diagonal): {counts}")


def write_csv(rows: List[Dict], path: str) -> str:
    """Write rows as CSV atomically (a crash leaves the old file or the new one, never half)."""
    def write(temporary):
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    return write_atomically(path, write)


def format_table(rows: List[Dict], keys=None) -> str:
    """Aligned text table of the rows (all columns, or `keys`)."""
    keys = keys or list(rows[0])

    def cell(value, width):
        if isinstance(value, float):
            return f"{value:>{width}.4f}" if not math.isnan(value) else f"{'-':>{width}}"
        return f"{value!s:>{width}}"

    widths = [max(8, len(k)) for k in keys]
    lines = ["  ".join(f"{k:>{w}}" for k, w in zip(keys, widths))]
    lines += ["  ".join(cell(row[k], w) for k, w in zip(keys, widths)) for row in rows]
    return "\n".join(lines)
