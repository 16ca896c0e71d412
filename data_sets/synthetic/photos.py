"""Small synthetic photos with masks, for trying data=images (tests, the images demo) without a data set.

Each photo is an RGB picture of its own size (non-square, odd sizes unless a size is given) with a
noisy, shaded background and 1-4 coloured shapes: class 1 red ellipses, class 2 green rectangles,
class 3 blue triangles (4 classes; fewer classes drop the last ones). Masks are 8-bit PNGs whose value
is the class index (0 background), or 0/255 when binary (every shape is foreground). Grayscale photos
are single-channel (the shapes then differ in brightness and form only). photo_N is drawn from
(seed, N). data_preparation/make_synthetic_data.py writes them where data=images reads.
"""
import os
from typing import Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from utils.files import write_atomically

CLASS_NAMES = ("background", "red", "green", "blue")
SHAPES = ("", "red ellipses", "green rectangles", "blue triangles")   # what each class's label marks
_COLOURS = {1: (220, 40, 40), 2: (40, 190, 60), 3: (50, 70, 230)}   # RGB of each class's shapes
MAX_CLASSES = len(CLASS_NAMES)   # background and the three shapes
MIN_SIDE = 32
IMAGE_FORMATS = ("jpg", "png", "bmp", "tif")   # the photo file formats write_pair writes


def _shape_mask(rng: np.random.Generator, label: int, height: int, width: int) -> np.ndarray:
    """A filled shape of the class's form somewhere in the picture (uint8 0/1)."""
    mask = np.zeros((height, width), np.uint8)
    side = min(height, width)
    centre = (int(rng.uniform(0.2, 0.8) * width), int(rng.uniform(0.2, 0.8) * height))
    size = int(rng.uniform(0.08, 0.2) * side) + 3
    if label == 1:
        axes = (size, int(size * rng.uniform(0.6, 1.0)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif label == 2:
        half = (size, int(size * rng.uniform(0.6, 1.2)))
        cv2.rectangle(mask, (centre[0] - half[0], centre[1] - half[1]), (centre[0] + half[0], centre[1] + half[1]), 1, -1)
    else:
        angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        points = np.stack([centre[0] + size * 1.3 * np.cos(angles), centre[1] + size * 1.3 * np.sin(angles)], axis=1)
        cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    return mask


def make_photo(seed, height: int, width: int, classes: int = 4,
               grayscale: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(photo HxWx3 RGB or HxW grey uint8, labels HxW uint8 0..classes-1) drawn from `seed`."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 110 + 40 * (columns / width) + 20 * (rows / height)
    photo = np.repeat(shade[..., None], 3, axis=-1) + rng.normal(0, 8, (height, width, 3))
    labels = np.zeros((height, width), np.uint8)
    for _ in range(rng.integers(1, 5)):
        label = int(rng.integers(1, classes))
        shape = _shape_mask(rng, label, height, width).astype(bool)
        photo[shape] = np.array(_COLOURS[label]) + rng.normal(0, 10, (int(shape.sum()), 3))
        labels[shape] = label
    photo = photo.clip(0, 255).astype(np.uint8)
    if grayscale:
        photo = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    return photo, labels


def pair_paths(images_dir: str, masks_dir: str, name: str, image_format: str = "jpg",
               mask_suffix: str = "") -> Tuple[str, str]:
    """The photo and mask files write_pair writes."""
    return (os.path.join(images_dir, f"{name}.{image_format}"), os.path.join(masks_dir, f"{name}{mask_suffix}.png"))


def _write_picture(path: str, picture: np.ndarray) -> None:
    def write(temporary: str) -> None:
        if not cv2.imwrite(temporary, picture):
            raise OSError(f"could not write {os.path.basename(path)} to {os.path.dirname(path)}")

    write_atomically(path, write)


def write_pair(images_dir: str, masks_dir: str, name: str, photo: np.ndarray, labels: np.ndarray,
               image_format: str = "jpg", binary: bool = False, mask_suffix: str = "") -> Tuple[str, str]:
    """Save one photo and its mask (class indices, or 0/255 when binary); returns the two paths."""
    paths = pair_paths(images_dir, masks_dir, name, image_format, mask_suffix)
    _write_picture(paths[0], photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    _write_picture(paths[1], np.where(labels > 0, 255, 0).astype(np.uint8) if binary else labels)
    return paths


def _photo_size(rng: np.random.Generator, size: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    """The given (height, width), or an odd, non-square size of its own (landscape or portrait)."""
    if size is not None:
        return size
    height, width = int(rng.integers(60, 130)) * 2 + 1, int(rng.integers(80, 170)) * 2 + 1
    return (height, width) if rng.random() < 0.7 else (width, height)


# (images folder, masks folder, photo numbers): one split of write_photos
PhotoSplit = Tuple[str, str, Iterable[int]]


def _name(n: int) -> str:
    return f"photo_{n}"


def photo_paths(splits: Sequence[PhotoSplit], image_format: str = "jpg", mask_suffix: str = "") -> List[str]:
    """Every file write_photos writes."""
    return [path for images_dir, masks_dir, ids in splits for n in ids
            for path in pair_paths(images_dir, masks_dir, _name(n), image_format, mask_suffix)]


def write_photos(splits: Sequence[PhotoSplit], classes: int = 4, seed: int = 0, size: Optional[Tuple[int, int]] = None,
                 grayscale: bool = False, binary: bool = False, image_format: str = "jpg",
                 mask_suffix: str = "") -> List[str]:
    """photo_N.<format> and photo_N<mask_suffix>.png into each split's folders; returns the paths written.

    Photo N is drawn from (seed, N); the photo sizes are drawn in order from one generator, so the same
    numbers give the same photos whichever folders they go to.
    """
    if binary:
        classes = max(classes, 2)
    size_rng = np.random.default_rng([seed, 1])
    written = []
    for images_dir, masks_dir, ids in splits:
        for n in ids:
            height, width = _photo_size(size_rng, size)
            photo, labels = make_photo([seed, n], height, width, classes, grayscale)
            written += write_pair(images_dir, masks_dir, _name(n), photo, labels, image_format, binary, mask_suffix)
    return written


def make_synthetic_images(out_dir: str, train: int = 24, val: int = 8, classes: int = 4, seed: int = 0,
                          size: Optional[Tuple[int, int]] = None, grayscale: bool = False, binary: bool = False,
                          image_format: str = "jpg", mask_suffix: str = "") -> str:
    """<out_dir>/{train,val}/{images,masks}: photo_N.<format> and photo_N<mask_suffix>.png (N unique)."""
    splits = [(os.path.join(out_dir, split, "images"), os.path.join(out_dir, split, "masks"), ids)
              for split, ids in (("train", range(train)), ("val", range(train, train + val)))]
    write_photos(splits, classes, seed, size, grayscale, binary, image_format, mask_suffix)
    return out_dir
