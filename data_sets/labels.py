"""Class names, label values and scoring regions: the one owner of what a mask's numbers mean.

`DATASET.CLASSES` lists the class names in label order (a mask's value is the index). The network
predicts `OUTPUT.CLASSES` of them: all, or (for kinds whose labels nest, as LiTS's tumour lies
inside the liver) the first K, every higher label counted as the last kept one. Scoring regions
name sets of labels (LiTS: liver = 1+2, tumour = 2); with none given, each foreground class is
scored on its own.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from evaluation.metrics import active_regions
from utils.errors import UserError

Regions = Dict[str, Tuple[int, ...]]


def check_class_names(names) -> List[str]:
    """DATASET.CLASSES as a list of >= 2 distinct non-empty names; else one line naming the key."""
    if not isinstance(names, (list, tuple)) or len(names) < 2:
        raise UserError(f"DATASET.CLASSES must list at least 2 class names (background first), got {names!r}")
    names = [str(name) for name in names]
    if any(not name.strip() for name in names) or len(set(names)) != len(names):
        raise UserError(f"DATASET.CLASSES must hold distinct, non-empty names, got {names}")
    if len(names) > 256:
        raise UserError(f"DATASET.CLASSES lists {len(names)} classes; masks are 8-bit, so at most 256")
    return names


def network_classes(names: Sequence[str], classes: int, nested: bool) -> int:
    """OUTPUT.CLASSES checked against the class list: all of them, or fewer when labels nest."""
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise UserError(f"OUTPUT.CLASSES must be an integer >= 2, got {classes!r}")
    if classes > len(names):
        raise UserError(f"OUTPUT.CLASSES={classes} but DATASET.CLASSES names only {len(names)} classes "
                        f"({', '.join(names)}): leave OUTPUT.CLASSES unset, it follows DATASET.CLASSES")
    if classes < len(names) and not nested:
        raise UserError(f"OUTPUT.CLASSES={classes} is fewer than the {len(names)} classes of DATASET.CLASSES "
                        f"({', '.join(names)}); only data sets whose labels nest (lits, kits19) can merge the top "
                        f"ones: list the classes you want in DATASET.CLASSES instead")
    return classes


def predicted_class_names(names: Sequence[str], classes: int) -> List[str]:
    """The names of the network's outputs: the first `classes` names (higher labels merged into the last)."""
    return list(names[:classes])


def region_table(regions) -> Dict[str, object]:
    """DATASET.REGIONS (a list of {name: labels}, or a mapping) as one ordered name -> labels mapping."""
    if isinstance(regions, Mapping):
        return dict(regions)
    table = {}
    for entry in regions or ():
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise UserError(f"DATASET.REGIONS entries are {{name: [labels]}}, one name each, got {entry!r}")
        name, labels = next(iter(entry.items()))
        if name in table:
            raise UserError(f"DATASET.REGIONS names {name} twice")
        table[name] = labels
    return table


def scoring_regions(names: Sequence[str], regions, classes: int) -> Regions:
    """Region name -> labels the network can predict (labels >= classes dropped; empty regions dropped).

    With no regions configured every foreground class is its own region, named after it.
    """
    regions = region_table(regions)
    if not regions:
        regions = {name: [label] for label, name in enumerate(names) if label > 0}
    checked = {}
    for name, labels in regions.items():
        labels = list(labels) if isinstance(labels, (list, tuple)) else [labels]
        bad = [v for v in labels if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < len(names)]
        if not labels or bad:
            raise UserError(f"DATASET.REGIONS.{name} must list foreground labels 1..{len(names) - 1} "
                            f"(of DATASET.CLASSES {', '.join(names)}), got {labels}")
        checked[str(name)] = sorted(labels)
    return active_regions(checked, classes)


def lesion_region(regions: Mapping, name: Optional[str]) -> Optional[str]:
    """DATASET.LESION_REGION when it is one of the scored regions; None when unset or merged away."""
    return name if name in regions else None


def check_lesion_region(all_regions: Mapping, name: Optional[str]) -> None:
    if name is not None and name not in all_regions:
        raise UserError(f"DATASET.LESION_REGION={name} is not a region of DATASET.REGIONS "
                        f"({', '.join(all_regions) or 'none'}); name one of them or set it to null")


def network_labels(labels: np.ndarray, classes: int) -> np.ndarray:
    """Labels as a network of `classes` outputs predicts them: every value above classes-1 merged into it
    (nested labels: with 2 classes LiTS's tumour counts as liver). Training, scoring and figures all use this."""
    return np.minimum(labels, classes - 1)


def to_class_labels(mask: np.ndarray, classes: int, label_count: int, source: str = "mask") -> np.ndarray:
    """network_labels of a mask whose values are checked first.

    A value outside the data set's classes (>= label_count) is an error naming the file: clamping it
    would silently train a wrong class.
    """
    mask = np.asarray(mask)
    highest = int(mask.max()) if mask.size else 0
    if highest >= label_count:
        raise UserError(f"{source} holds label {highest}, but DATASET.CLASSES has {label_count} classes "
                        f"(labels 0..{label_count - 1}): fix the mask or the class list")
    return network_labels(mask, classes)


def mask_labels(mask: np.ndarray, classes: int, label_count: int, binary: bool, source: str = "mask") -> np.ndarray:
    """A stored mask as a network's labels: 0/255 read as 0/1 when `binary` (DATASET.BINARY_MASKS), then
    to_class_labels; one line naming `source` when a value is no class."""
    return to_class_labels(binary_to_labels(mask, source) if binary else mask, classes, label_count, source)


def binary_to_labels(mask: np.ndarray, source: str = "mask") -> np.ndarray:
    """A 0/255 (or 0/1) binary mask as labels 0/1; other values are an error naming the file."""
    values = np.unique(mask)
    if not set(values.tolist()) <= {0, 1, 255}:
        shown = ", ".join(str(v) for v in values[:6])
        raise UserError(f"{source} holds values {shown}; a binary mask holds 0 and 255 (or 0 and 1)")
    return (np.asarray(mask) > 0).astype(np.uint8)
