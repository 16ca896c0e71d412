"""How a CT volume becomes network inputs: HU window, neighbouring slices as channels, resize.

Preprocessing (PNG files for training) and volume inference (in memory) both call `input_slice`,
so a model sees exactly the same pixels whichever way a slice reaches it.
"""
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

from utils.choices import choose
from utils.config import positive_int
from utils.errors import UserError
from volumes.geometry import resize_image, resize_labels
from volumes.nifti import LITS_LABEL_COUNT, to_canonical_orientation, to_source_orientation

SLICES_PER_IMAGE_CHOICES = (1, 3)


class SliceSettings(NamedTuple):
    """What turns a volume into network inputs; a plain tuple so worker processes can receive it."""
    hu_min: float
    hu_max: float
    size: Optional[Tuple[int, int]]   # (height, width), None to keep the scan's size
    slices_per_image: int
    label_count: int = LITS_LABEL_COUNT   # label values a mask may hold (DATASET.CLASSES), for resizing masks
    intensity_scaling: str = "window"   # DATA_PREPARATION.INTENSITY_SCALING (INTENSITY_SCALINGS)
    orientation: str = "ras"            # DATA_PREPARATION.ORIENTATION (ORIENTATIONS)


def slice_settings(cfg) -> SliceSettings:
    """The DATA_PREPARATION options that shape a network input, checked."""
    prep = cfg.DATA_PREPARATION
    if prep.SLICES_PER_IMAGE not in SLICES_PER_IMAGE_CHOICES:
        raise UserError(f"DATA_PREPARATION.SLICES_PER_IMAGE must be 1 or 3, got {prep.SLICES_PER_IMAGE}")
    size = None
    if prep.RESIZE:
        size = (positive_int(prep.RESIZED_HEIGHT, "DATA_PREPARATION.RESIZED_HEIGHT"),
                positive_int(prep.RESIZED_WIDTH, "DATA_PREPARATION.RESIZED_WIDTH"))
    hu_min, hu_max = float(prep.HU_WINDOW.MIN), float(prep.HU_WINDOW.MAX)
    if not hu_min < hu_max:
        raise UserError(f"DATA_PREPARATION.HU_WINDOW.MIN must be < MAX, got {hu_min:g}..{hu_max:g}")
    scaling, orientation = prep.INTENSITY_SCALING, prep.ORIENTATION
    choose("DATA_PREPARATION.INTENSITY_SCALING", scaling)
    choose("DATA_PREPARATION.ORIENTATION", orientation)
    return SliceSettings(hu_min, hu_max, size, prep.SLICES_PER_IMAGE, len(cfg.DATASET.CLASSES), scaling, orientation)


def inference_slice_settings(cfg) -> SliceSettings:
    """slice_settings for a trained network: slices always go to its fixed input size (INPUT).

    With DATA_PREPARATION.RESIZE=False that is a no-op for CTs of the size it was trained on, and
    a CT of another size is still segmented (resized, and its labels brought back to its grid).
    """
    return slice_settings(cfg)._replace(size=(cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH))


def window_and_scale(hu: np.ndarray, hu_min: float, hu_max: float) -> np.ndarray:
    """uint8 image: HU clipped to [hu_min, hu_max] and mapped linearly onto 0..255."""
    clipped = np.clip(np.asarray(hu, dtype=np.float32), hu_min, hu_max)
    return np.rint((clipped - hu_min) * (255.0 / (hu_max - hu_min))).astype(np.uint8)


def slice_min_max_scale(hu: np.ndarray, hu_min: float, hu_max: float) -> np.ndarray:
    """uint8 image: HU clipped to [hu_min, hu_max], then each slice's (channel's) own min..max onto
    0..255 and truncated, as the NVIDIA recipe prepares its PNGs (preprocess_data.py clip_scan,
    linear_scale, np.uint8). A constant slice, where the recipe divides 0 by 0, becomes 0."""
    clipped = np.clip(np.asarray(hu, dtype=np.float32), hu_min, hu_max)
    low = clipped.min(axis=(0, 1), keepdims=True)
    spread = clipped.max(axis=(0, 1), keepdims=True) - low
    scaled = np.divide((clipped - low) * 255.0, spread, out=np.zeros_like(clipped), where=spread > 0)
    return scaled.astype(np.uint8)


# DATA_PREPARATION.INTENSITY_SCALING -> (hu, hu_min, hu_max) -> uint8 image
INTENSITY_SCALINGS = {
    "window": window_and_scale,
    "slice_min_max": slice_min_max_scale,
}


def _recipe_frame(canonical, source):
    return np.rot90(to_source_orientation(canonical, source))


def _from_recipe_frame(rotated, source):
    return to_canonical_orientation(np.rot90(rotated, k=-1), source)


# DATA_PREPARATION.ORIENTATION -> (to the frame slices are cut in, back to RAS+), each (array, source image) -> array
ORIENTATIONS = {
    "ras": (lambda canonical, source: canonical, lambda array, source: array),
    "recipe": (_recipe_frame, _from_recipe_frame),   # the file's voxel order rotated 90 degrees, as the recipe slices
}


def to_slicing_frame(canonical: np.ndarray, source, orientation: str) -> np.ndarray:
    """A RAS+ volume (x, y, z) in the frame its slices are cut from; axis 2 stays the slice axis.

    source: the volume's nibabel image (Volume.source), which the recipe's frame depends on.
    """
    return choose("DATA_PREPARATION.ORIENTATION", orientation)[0](canonical, source)


def from_slicing_frame(array: np.ndarray, source, orientation: str) -> np.ndarray:
    """Undo `to_slicing_frame`: labels cut in that frame back into RAS+."""
    return choose("DATA_PREPARATION.ORIENTATION", orientation)[1](array, source)


def neighbour_indices(index: int, depth: int, slices_per_image: int) -> List[int]:
    """[index], or [index-1, index, index+1] with the end slices repeated at the volume's edges.

    Neighbouring slices give the 2D network some of the 3D context a radiologist scrolls through.
    """
    if slices_per_image == 1:
        return [index]
    return [min(max(index + offset, 0), depth - 1) for offset in (-1, 0, 1)]


def stack_neighbours(volume: np.ndarray, index: int, slices_per_image: int) -> np.ndarray:
    """HxW slice `index`, or HxWx3 slices (index-1, index, index+1) as channels."""
    indices = neighbour_indices(index, volume.shape[2], slices_per_image)
    return volume[:, :, indices[0]] if slices_per_image == 1 else volume[:, :, indices]


def input_slice(hu: np.ndarray, index: int, settings: SliceSettings) -> np.ndarray:
    """The uint8 HxWxC network input for slice `index` of an HU volume in its slicing frame."""
    scale = choose("DATA_PREPARATION.INTENSITY_SCALING", settings.intensity_scaling)
    image = scale(stack_neighbours(hu, index, settings.slices_per_image), settings.hu_min, settings.hu_max)
    if settings.size is not None:
        image = resize_image(image, settings.size)
    return image if image.ndim == 3 else image[..., np.newaxis]


def label_slice(labels: np.ndarray, index: int, settings: SliceSettings) -> np.ndarray:
    """The uint8 HxW mask of slice `index` on the network's grid (every label value kept)."""
    mask = labels[:, :, index]
    return mask if settings.size is None else resize_labels(mask, settings.size, settings.label_count)
