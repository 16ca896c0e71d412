"""summary.csv: one row per case, then the per-case mean and the global (all voxels pooled) scores.

LiTS reports both: the per-case mean weighs every patient equally, the global Dice weighs every
voxel equally (large livers count more). Slice-grid Dice, on the network's resized slices, is kept
as a clearly named extra column: it is what the training logs show, and it reads too high.
"""
import csv
import math
from typing import Dict, List

import numpy as np

from evaluation.metrics import LesionCounts, Overlap
from utils.files import write_atomically

MEAN_ROW, GLOBAL_ROW = "mean", "global"


def case_row(volume, slices: int, scores: Dict, slice_grid: Dict[str, Overlap]) -> Dict:
    """The CSV row of one case from `evaluation.metrics.case_scores` and slice-grid overlaps by region."""
    row = {"volume": volume, "slices": slices}
    regions = [r for r in scores if r != "lesions"]
    for region in regions:
        row[f"dice_{region}"] = scores[region]["overlap"].dice
    for region in regions:
        row[f"assd_{region}_mm"] = scores[region]["assd"]
        row[f"hd95_{region}_mm"] = scores[region]["hd95"]
    if "lesions" in scores:
        lesions = scores["lesions"]
        row.update({"lesions_reference": lesions.reference, "lesions_predicted": lesions.predicted,
                    "lesions_found": lesions.found, "lesion_recall": lesions.recall,
                    "lesion_precision": lesions.precision})
    for region in regions:
        row[f"slice_grid_dice_{region}"] = slice_grid[region].dice
    return row


def _nanmean(values) -> float:
    values = [float(v) for v in values if not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else float("nan")


def mean_row(rows: List[Dict]) -> Dict:
    """Per-case mean of every score; undefined values (NaN, e.g. HD95 with no tumour) are left out."""
    row = {"volume": MEAN_ROW, "slices": sum(r["slices"] for r in rows)}
    for key in rows[0]:
        if key not in row:
            row[key] = _nanmean(r[key] for r in rows)
    return row


def global_row(rows: List[Dict], overlaps: List[Dict[str, Overlap]], lesions: List[LesionCounts]) -> Dict:
    """Dice with every case's voxels pooled, and lesion recall/precision pooled over all lesions."""
    row = {key: "" for key in rows[0]}
    row.update({"volume": GLOBAL_ROW, "slices": sum(r["slices"] for r in rows)})
    for region in overlaps[0]:
        pooled = Overlap(*(sum(o[region][k] for o in overlaps) for k in range(3)))
        row[f"dice_{region}"] = pooled.dice
    if lesions:
        pooled = LesionCounts(*(sum(c[k] for c in lesions) for k in range(4)))
        row.update({"lesions_reference": pooled.reference, "lesions_predicted": pooled.predicted,
                    "lesions_found": pooled.found, "lesion_recall": pooled.recall,
                    "lesion_precision": pooled.precision})
    return row


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
