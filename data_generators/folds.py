"""K-fold cross-validation by volume: every slice of a CT volume lands in the same fold.

Splitting slices instead would put neighbouring, nearly identical slices on both sides and
overstate the held-out Dice. Volumes (ids from the slice file names) are sorted and dealt
to folds in turn, so fold membership depends only on the set of volumes.
"""
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from utils.errors import UserError
from data_sets.slice_names import case_sort_key, parse_slice_name


def check_fold(fold, num_folds) -> None:
    """DATASET.FOLD / DATASET.NUM_FOLDS as integers with 0 <= FOLD < NUM_FOLDS; else one line."""
    for key, value in (("DATASET.NUM_FOLDS", num_folds), ("DATASET.FOLD", fold)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{key} must be an integer, got {value!r}")
    if num_folds < 1:
        raise UserError(f"DATASET.NUM_FOLDS must be >= 1 (1: no cross-validation), got {num_folds}")
    if not 0 <= fold < num_folds:
        raise UserError(f"DATASET.FOLD={fold} is out of range: with DATASET.NUM_FOLDS={num_folds} "
                        f"the folds are 0..{num_folds - 1}")


def volume_folds(image_paths: Sequence[str], num_folds: int) -> Dict[int, int]:
    """Volume id -> fold (0..num_folds-1): sorted ids dealt round-robin."""
    volumes = sorted({parse_slice_name(path).volume for path in image_paths}, key=case_sort_key)
    if len(volumes) < num_folds:
        raise UserError(f"DATASET.NUM_FOLDS={num_folds} needs at least {num_folds} training volumes, "
                        f"found {len(volumes)}")
    return {volume: position % num_folds for position, volume in enumerate(volumes)}


CaseSplit = Callable[[List, int, int], Tuple[Set, Set]]   # (case ids, fold, num_folds) -> (train cases, val cases)


def fold_split(image_paths: List[str], mask_paths: List[str], fold: int, num_folds: int,
               held_out: bool, case_split: Optional[CaseSplit] = None) -> Tuple[List[str], List[str]]:
    """The pairs of fold `fold` (held_out=True: its validation set) or of its training cases (every other fold).

    case_split: the data set kind's own split (nnU-Net's folds, its splits_final.json); default: round-robin.
    """
    check_fold(fold, num_folds)
    volumes = [parse_slice_name(image).volume for image in image_paths]
    if case_split is None:
        folds = volume_folds(image_paths, num_folds)
        keep = [(folds[volume] == fold) == held_out for volume in volumes]
    else:
        train, val = case_split(sorted(set(volumes), key=case_sort_key), fold, num_folds)
        wanted = val if held_out else train
        keep = [volume in wanted for volume in volumes]
    return ([p for p, k in zip(image_paths, keep) if k], [p for p, k in zip(mask_paths, keep) if k])
