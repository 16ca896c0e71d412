"""K-fold summary: every held-out case scored on its CT's grid, then mean and sd over all cases."""
from typing import Dict, List

import numpy as np

from evaluation.summary import write_csv

SUMMARY_COLUMNS = ("dice_liver", "dice_tumour", "assd_liver_mm", "hd95_liver_mm", "lesion_recall", "lesion_precision")


def summary_rows(case_rows: List[Dict]) -> List[Dict]:
    """'mean' and 'sd' (sample standard deviation, n - 1) of each score over all cases; NaN (undefined) left out."""
    keys = [k for k in SUMMARY_COLUMNS if k in case_rows[0]]
    values = {k: np.array([row[k] for row in case_rows], dtype=np.float64) for k in keys}
    values = {k: v[~np.isnan(v)] for k, v in values.items()}

    def sd(v):
        return float(v.std(ddof=1)) if len(v) > 1 else 0.0

    return [{"fold": "all", "volume": "mean", **{k: float(v.mean()) if len(v) else float("nan") for k, v in values.items()}},
            {"fold": "all", "volume": "sd", **{k: sd(v) for k, v in values.items()}}]


def write_cross_validation_csv(case_rows: List[Dict], path: str) -> List[Dict]:
    """summary.csv: fold, volume and the scores of each held-out case, then mean and sd; returns those two."""
    summary = summary_rows(case_rows)
    columns = ["fold", "volume", *(k for k in SUMMARY_COLUMNS if k in case_rows[0])]
    write_csv([{k: row.get(k, "") for k in columns} for row in case_rows + summary], path)
    return summary
