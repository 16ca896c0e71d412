"""File names of prepared slices: `<prefix>_<case>_<slice>.png`.

The case id and slice index live in the name so that per-volume metrics can rebuild each volume
from its 2D slices, and so an image finds its mask by swapping the prefix. Case ids are LiTS's
numbers (read back as ints) or a data set's own identifiers (nnU-Net's `liver_001`, KiTS19's
`case_00012`), which may hold underscores; the prefix is everything before the first underscore
unless the caller names it.
"""
import os
import re
from typing import NamedTuple, Optional, Union

_NAME = re.compile(r"^(?P<prefix>[^_]+)_(?P<volume>.+)_(?P<slice>\d+)\.png$")
_AFTER_PREFIX = re.compile(r"^(?P<volume>.+)_(?P<slice>\d+)\.png$")

CaseId = Union[int, str]


class SliceName(NamedTuple):
    prefix: str
    volume: CaseId
    slice: int


def slice_file_name(prefix: str, volume: CaseId, slice_index: int) -> str:
    return f"{prefix}_{volume}_{slice_index:04d}.png"


def _case_id(text: str) -> CaseId:
    return int(text) if text.isdigit() else text


def parse_case_id(text: str) -> CaseId:
    """A data set's case name as slice file names give it back: digits as an int (LiTS's 3), else the name."""
    return _case_id(str(text))


def case_sort_key(case: CaseId):
    """Sort LiTS numbers numerically (2 before 10) and named cases alphabetically, numbers first."""
    return (isinstance(case, str), case)


def parse_slice_name(file_name: str, prefix: Optional[str] = None) -> SliceName:
    """Split `image_3_0042.png` into ('image', 3, 42), `image_liver_001_0042.png` into ('image', 'liver_001', 42);
    ValueError for other names. With `prefix`, the name must start with `<prefix>_` (a prefix may hold underscores)."""
    base = os.path.basename(file_name)
    if prefix is not None:
        match = _AFTER_PREFIX.match(base[len(prefix) + 1:]) if base.startswith(f"{prefix}_") else None
        found_prefix = prefix
    else:
        match = _NAME.match(base)
        found_prefix = match["prefix"] if match else None
    if not match:
        raise ValueError(f"not a slice file name (<prefix>_<case>_<slice>.png): {file_name}")
    return SliceName(found_prefix, _case_id(match["volume"]), int(match["slice"]))


def mask_name_for(image_name: str, image_prefix: str, mask_prefix: str) -> str:
    """The mask file name that pairs with an image file name."""
    if not os.path.basename(image_name).startswith(f"{image_prefix}_"):
        raise ValueError(f"{image_name} does not start with image prefix '{image_prefix}_'")
    parsed = parse_slice_name(image_name, image_prefix)
    return slice_file_name(mask_prefix, parsed.volume, parsed.slice)
