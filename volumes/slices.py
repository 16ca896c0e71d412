"""How a CT volume becomes network inputs: HU window, neighbouring slices as channels, resize.

Preprocessing (PNG files for training) and volume inference (in memory) both call `input_slice`,
so a model sees exactly the same pixels whichever way a slice reaches it.
"""
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

from utils.config import positive_int
from utils.errors import UserError
from volumes.geometry import resize_image, resize_labels
from volumes.nifti import LITS_LABEL_COUNT

SLICES_PER_IMAGE_CHOICES = (1, 3)


class SliceSettings(NamedTuple):
    """What turns a volume into network inputs; a plain tuple so worker processes can receive it."""
    hu_min: float
    hu_max: float
    size: Optional[Tuple[int, int]]   # (height, width), None to keep the scan's size
    slices_per_image: int
    label_count: int = LITS_LABEL_COUNT   # label values a mask may hold (DATASET.CLASSES), for resizing masks


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
    return SliceSettings(hu_min, hu_max, size, prep.SLICES_PER_IMAGE, len(cfg.DATASET.CLASSES))


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
    """The uint8 HxWxC network input for slice `index` of an RAS+ HU volume."""
    image = window_and_scale(stack_neighbours(hu, index, settings.slices_per_image), settings.hu_min,
                             settings.hu_max)
    if settings.size is not None:
        image = resize_image(image, settings.size)
    return image if image.ndim == 3 else image[..., np.newaxis]


def label_slice(labels: np.ndarray, index: int, settings: SliceSettings) -> np.ndarray:
    """The uint8 HxW mask of slice `index` on the network's grid (every label value kept)."""
    mask = labels[:, :, index]
    return mask if settings.size is None else resize_labels(mask, settings.size, settings.label_count)
