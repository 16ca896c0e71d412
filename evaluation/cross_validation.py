"""K-fold cross-validation: each fold's run config and held-out cases, and the summary over them (every
held-out case scored on its CT's grid, then mean and sd over all cases)."""
import copy
import os
from typing import Dict, List

import numpy as np
from omegaconf import DictConfig, open_dict

from data_generators.dataset_files import list_split_pairs
from data_sets.kinds import dataset_kind
from data_sets.slice_names import parse_slice_name
from evaluation.summary import MISSED, column_mean, write_csv

def fold_config(cfg: DictConfig, fold: int) -> DictConfig:
    """cfg for fold `fold`: DATASET.FOLD set, and its own run folder CROSS_VALIDATION.RESULTS_PATH/fold_<k>."""
    fold_cfg = copy.deepcopy(cfg)
    with open_dict(fold_cfg):
        fold_cfg.DATASET.FOLD = fold
        fold_cfg.RUN_DIR = os.path.join(cfg.CROSS_VALIDATION.RESULTS_PATH, f"fold_{fold}")
    return fold_cfg


def held_out_pairs(fold_cfg: DictConfig):
    """The CT / segmentation files of the fold's held-out volumes (ids from its 'val' slices); for a 2D kind
    (data=images) the fold's held-out (name, image, mask) triples."""
    kind = dataset_kind(fold_cfg)
    if not kind.volumetric:
        return kind.split_pairs(fold_cfg, "val")
    volume_ids = {parse_slice_name(path).volume for path in list_split_pairs(fold_cfg, "val")[0]}
    return [pair for pair in kind.split_pairs(fold_cfg, "train") if pair[0] in volume_ids]


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
