"""K-fold summary: every held-out case scored on its CT's grid, then mean and sd over all cases."""
from typing import Dict, List

import numpy as np

from evaluation.summary import MISSED, column_mean, write_csv

# The columns of evaluate.py's summary.csv that the k-fold summary keeps, by prefix (region names vary).
SUMMARY_PREFIXES = ("dice_", "iou_", "voe_", "rvd_", "assd_", "msd_", "rmsd_", "hd95_", MISSED, "lesion_recall",
                    "lesion_precision")


def summary_columns(case_row: Dict) -> List[str]:
    return [k for k in case_row if k.startswith(SUMMARY_PREFIXES)]


def summary_rows(case_rows: List[Dict], case_key: str = "volume") -> List[Dict]:
    """'mean' and 'sd' (sample standard deviation, n - 1) of each score over all cases, as evaluate.py's mean
    row (evaluation.summary.column_mean): missed_<region> is a count (no sd); only NaN is left out."""
    values = {k: np.array([row[k] for row in case_rows], dtype=np.float64) for k in summary_columns(case_rows[0])}

    def sd(key, v):
        v = v[~np.isnan(v)]
        return "" if key.startswith(MISSED) else float(v.std(ddof=1)) if len(v) > 1 else 0.0

    return [{"fold": "all", case_key: "mean", **{k: column_mean(k, v.tolist()) for k, v in values.items()}},
            {"fold": "all", case_key: "sd", **{k: sd(k, v) for k, v in values.items()}}]


def write_cross_validation_csv(case_rows: List[Dict], path: str, case_key: str = "volume") -> List[Dict]:
    """summary.csv: fold, case (`volume`, or `image` for data=images) and the scores of each held-out case,
    then mean and sd; returns those two."""
    summary = summary_rows(case_rows, case_key)
    columns = ["fold", case_key, *summary_columns(case_rows[0])]
    write_csv([{k: row.get(k, "") for k in columns} for row in case_rows + summary], path)
    return summary
