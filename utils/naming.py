"""File names of prepared slices: `<prefix>_<volume>_<slice>.png`.

The volume id and slice index live in the name so that per-volume metrics can rebuild each
CT volume from its 2D slices, and so an image finds its mask by swapping the prefix.
"""
import os
import re
from typing import NamedTuple

_NAME = re.compile(r"^(?P<prefix>.+)_(?P<volume>\d+)_(?P<slice>\d+)\.png$")


class SliceName(NamedTuple):
    prefix: str
    volume: int
    slice: int


def slice_file_name(prefix: str, volume: int, slice_index: int) -> str:
    return f"{prefix}_{volume}_{slice_index:04d}.png"


def parse_slice_name(file_name: str) -> SliceName:
    """Split `image_3_0042.png` into ('image', 3, 42); ValueError for other names."""
    match = _NAME.match(os.path.basename(file_name))
    if not match:
        raise ValueError(f"not a slice file name (<prefix>_<volume>_<slice>.png): {file_name}")
    return SliceName(match["prefix"], int(match["volume"]), int(match["slice"]))


def mask_name_for(image_name: str, image_prefix: str, mask_prefix: str) -> str:
    """The mask file name that pairs with an image file name."""
    parsed = parse_slice_name(image_name)
    if parsed.prefix != image_prefix:
        raise ValueError(f"{image_name} does not start with image prefix '{image_prefix}_'")
    return slice_file_name(mask_prefix, parsed.volume, parsed.slice)
