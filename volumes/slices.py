"""How a volume, a prepared slice or a picture becomes a network input: the one owner of its settings.

`slice_settings` (volumes) and `image_settings` (PNG slices and pictures of data=images) are the only
readers of the config keys that shape an input, PREPROCESS_DATA.NORMALIZE_IMAGE (inputs divided by
255) included; the library takes the plain tuples they return.

Preprocessing (PNG files for training) and volume inference (in memory) both call `network_volume`
then `input_slice`, so a model sees exactly the same pixels whichever way a slice reaches it.

Normalisation is per input channel, chosen by the channel's name as nnU-Net chooses it
(`channel_names` in its dataset.json; DATASET.CHANNEL_NAMES here): `CT` is windowed in Hounsfield
units (DATA_PREPARATION.HU_WINDOW onto 0..255, the same for every volume); any other name (MR, T2,
ADC...) is a per-volume z-score, (x - mean) / sd over the whole volume, clipped to +-ZSCORE_CLIP sd
and mapped linearly onto 0..255 (z = -3 -> 0, z = 0 -> 127.5, z = +3 -> 255).
Several channels (nnU-Net's `_0000`, `_0001` files) are the input's channels, one slice each;
two are padded with a zero third channel, since PNGs and the network take 1 or 3 channels.
"""
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

from omegaconf import OmegaConf

from app.choices import choose
from app.config import positive_int
from utils.errors import UserError
from volumes.geometry import resize_image, resize_labels
from volumes.nifti import LITS_LABEL_COUNT, to_canonical_orientation, to_source_orientation

CT = "ct"            # windowed in HU (DATA_PREPARATION.HU_WINDOW)
ZSCORE = "zscore"    # per-volume z-score, +-ZSCORE_CLIP sd onto 0..255
NORMALISATIONS = (CT, ZSCORE)
ZSCORE_CLIP = 3.0
MAX_CHANNELS = 3     # input channels a PNG slice and the network take (1 or 3)


class SliceSettings(NamedTuple):
    """What turns a volume into network inputs; a plain tuple so worker processes can receive it."""
    hu_min: float
    hu_max: float
    size: Optional[Tuple[int, int]]   # (height, width), None to keep the scan's size
    slices_per_image: int
    label_count: int = LITS_LABEL_COUNT   # label values a mask may hold (DATASET.CLASSES), for resizing masks
    intensity_scaling: str = "window"   # DATA_PREPARATION.INTENSITY_SCALING (INTENSITY_SCALINGS)
    orientation: str = "ras"            # DATA_PREPARATION.ORIENTATION (ORIENTATIONS)
    normalisation: Tuple[str, ...] = (CT,)   # one of NORMALISATIONS per input file (DATASET.CHANNEL_NAMES)
    normalize: bool = True              # PREPROCESS_DATA.NORMALIZE_IMAGE: the uint8 input divided by 255

    @property
    def channels(self) -> int:
        """Channels of a network input: the slices stacked, or the input files (two padded to three)."""
        return input_channels(len(self.normalisation), self.slices_per_image)


def input_channels(input_files: int, slices_per_image: int) -> int:
    """Channels of a network input: the stacked slices of one input file, or several files' slices padded to 3."""
    return slices_per_image if input_files <= 1 else MAX_CHANNELS


def channel_normalisation(name: str) -> str:
    """CT for a channel named CT (any case), else ZSCORE: nnU-Net's rule for dataset.json's channel_names."""
    return CT if str(name).strip().upper() == "CT" else ZSCORE


class ImageSettings(NamedTuple):
    """What turns an image file into a network input: a prepared PNG slice, or a picture of data=images."""
    channels: int                             # INPUT.CHANNELS: 1 (grey) or 3 (RGB) as read
    normalize: bool = True                    # PREPROCESS_DATA.NORMALIZE_IMAGE: divided by 255
    size: Optional[Tuple[int, int]] = None    # (height, width) to resize to at load; None: already the input size


def normalize_flag(cfg) -> bool:
    """PREPROCESS_DATA.NORMALIZE_IMAGE, read here only: every input is divided by 255 alike, or none is."""
    return bool(cfg.PREPROCESS_DATA.NORMALIZE_IMAGE)


def image_settings(cfg) -> ImageSettings:
    """The inputs of training and calibration: prepared slices as they are, pictures of a 2D kind (data=images)
    resized to the network's input (INPUT.HEIGHT x WIDTH) at load."""
    pictures = not choose("DATASET.KIND", cfg.DATASET.KIND).volumetric
    size = (cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH) if pictures else None
    return ImageSettings(cfg.INPUT.CHANNELS, normalize_flag(cfg), size)


def picture_settings(cfg) -> ImageSettings:
    """image_settings for pictures of any size (PREDICTION.IMAGES, data=images' scoring): always resized to the
    network's input."""
    return image_settings(cfg)._replace(size=(cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH))


def check_channel_names(names, slices_per_image: int) -> Tuple[str, ...]:
    """DATASET.CHANNEL_NAMES as one normalisation per input file; one line when they cannot make an input."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise UserError(f"DATASET.CHANNEL_NAMES must list the input files' channel names (e.g. [CT] or [T2, ADC]), "
                        f"got {names!r}")
    if len(names) > MAX_CHANNELS:
        raise UserError(f"DATASET.CHANNEL_NAMES lists {len(names)} channels ({', '.join(map(str, names))}); the "
                        f"network takes at most {MAX_CHANNELS} input channels: keep at most {MAX_CHANNELS}")
    if len(names) > 1 and slices_per_image != 1:
        raise UserError(f"{len(names)} input channels ({', '.join(map(str, names))}) are the input's channels, one "
                        f"slice each: set DATA_PREPARATION.SLICES_PER_IMAGE=1 (INPUT.CHANNELS stays 3)")
    return tuple(channel_normalisation(name) for name in names)


def slice_settings(cfg) -> SliceSettings:
    """The DATA_PREPARATION options that shape a network input, checked (DATA_PREPARATION.SLICES_PER_IMAGE, 1 or 3,
    by app.config.validate_config: it equals INPUT.CHANNELS, or is 1 for several input files)."""
    prep = cfg.DATA_PREPARATION
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
    names = OmegaConf.select(cfg, "DATASET.CHANNEL_NAMES", default=None) or ["CT"]
    names = OmegaConf.to_container(names) if OmegaConf.is_config(names) else names
    normalisation = check_channel_names(names, prep.SLICES_PER_IMAGE)
    return SliceSettings(hu_min, hu_max, size, prep.SLICES_PER_IMAGE, len(cfg.DATASET.CLASSES), scaling, orientation,
                         normalisation, normalize_flag(cfg))


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


def _zscore(data: np.ndarray, name: str) -> np.ndarray:
    data = np.asarray(data, dtype=np.float32)
    mean, sd = float(data.mean(dtype=np.float64)), float(data.std(dtype=np.float64))
    if not np.isfinite(sd) or sd == 0:
        raise UserError(f"{name} has no spread of intensities (sd {sd:g}) to z-score")
    return (data - np.float32(mean)) / np.float32(sd)


def network_volume(data: np.ndarray, settings: SliceSettings, name: str = "volume") -> np.ndarray:
    """The volume in the units its channels are windowed in: HU kept as read (no copy), z-scored channels
    as float32 z-scores of their own volume. (x, y, z) for one input file, (x, y, z, C) for several."""
    if all(kind == CT for kind in settings.normalisation):
        return data
    if data.ndim == 3:
        return _zscore(data, name)
    channels = [data[..., c] if kind == CT else _zscore(data[..., c], f"{name} channel {c}")
                for c, kind in enumerate(settings.normalisation)]
    return np.stack([np.asarray(c, dtype=np.float32) for c in channels], axis=-1)


def channel_windows(settings: SliceSettings) -> List[Tuple[float, float]]:
    """The (low, high) mapped onto 0..255 for each input file: the HU window, or +-ZSCORE_CLIP sd."""
    return [(settings.hu_min, settings.hu_max) if kind == CT else (-ZSCORE_CLIP, ZSCORE_CLIP)
            for kind in settings.normalisation]


def input_slice(volume: np.ndarray, index: int, settings: SliceSettings) -> np.ndarray:
    """The uint8 HxWxC network input for slice `index` of a `network_volume` in its slicing frame."""
    windows = channel_windows(settings)
    scale = choose("DATA_PREPARATION.INTENSITY_SCALING", settings.intensity_scaling)
    if volume.ndim == 3:
        image = scale(stack_neighbours(volume, index, settings.slices_per_image), *windows[0])
    else:   # several input files: their slices `index` are the channels (two get a zero third)
        image = np.stack([scale(volume[:, :, index, c], *window) for c, window in enumerate(windows)]
                         + [np.zeros(volume.shape[:2], np.uint8)] * (settings.channels - len(windows)), axis=-1)
    if settings.size is not None:
        image = resize_image(image, settings.size)
    return image if image.ndim == 3 else image[..., np.newaxis]


def display_slices(data: np.ndarray, settings: SliceSettings, name: str = "volume"):
    """plane -> uint8 grey values for figures of the volume's first input file, as the network sees it."""
    first = network_volume(data, settings, name)
    first = first if first.ndim == 3 else first[..., 0]
    window = channel_windows(settings)[0]
    return first, lambda plane: window_and_scale(plane, *window)


def label_slice(labels: np.ndarray, index: int, settings: SliceSettings) -> np.ndarray:
    """The uint8 HxW mask of slice `index` on the network's grid (every label value kept)."""
    mask = labels[:, :, index]
    return mask if settings.size is None else resize_labels(mask, settings.size, settings.label_count)
