"""Small synthetic photos with masks, for trying data=images (tests, the images demo) without a data set.

    python data_preparation/make_synthetic_images.py --out data/photos --train 24 --val 8

Writes <out>/train/images/photo_N.jpg + <out>/train/masks/photo_N.png and the same under val/, the
layout data=images reads as it comes. Each photo is an RGB picture of its own size (non-square, odd
sizes unless --size fixes one) with a noisy, shaded background and 1-4 coloured shapes: class 1 red
ellipses, class 2 green rectangles, class 3 blue triangles (--classes 4; fewer classes drop the last
ones). Masks are 8-bit PNGs whose value is the class index (0 background), or 0/255 with --binary
(every shape is foreground). --grayscale writes single-channel photos (the shapes then differ in
brightness and form only).
"""
import argparse
import os
from typing import Optional, Tuple

import cv2
import numpy as np

CLASS_NAMES = ("background", "red", "green", "blue")
_COLOURS = {1: (220, 40, 40), 2: (40, 190, 60), 3: (50, 70, 230)}   # RGB of each class's shapes
MIN_SIDE = 32


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


def write_pair(images_dir: str, masks_dir: str, name: str, photo: np.ndarray, labels: np.ndarray,
               image_format: str = "jpg", binary: bool = False, mask_suffix: str = "") -> None:
    os.makedirs(images_dir, exist_ok=True)
    os.makedirs(masks_dir, exist_ok=True)
    picture = photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(os.path.join(images_dir, f"{name}.{image_format}"), picture):
        raise OSError(f"could not write {name}.{image_format} to {images_dir}")
    mask = np.where(labels > 0, 255, 0).astype(np.uint8) if binary else labels
    if not cv2.imwrite(os.path.join(masks_dir, f"{name}{mask_suffix}.png"), mask):
        raise OSError(f"could not write {name}{mask_suffix}.png to {masks_dir}")


def _photo_size(rng: np.random.Generator, size: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    """The given (height, width), or an odd, non-square size of its own (landscape or portrait)."""
    if size is not None:
        return size
    height, width = int(rng.integers(60, 130)) * 2 + 1, int(rng.integers(80, 170)) * 2 + 1
    return (height, width) if rng.random() < 0.7 else (width, height)


def make_synthetic_images(out_dir: str, train: int = 24, val: int = 8, classes: int = 4, seed: int = 0,
                          size: Optional[Tuple[int, int]] = None, grayscale: bool = False, binary: bool = False,
                          image_format: str = "jpg", mask_suffix: str = "") -> str:
    """<out_dir>/{train,val}/{images,masks}: photo_N.<format> and photo_N<mask_suffix>.png (N unique)."""
    if binary:
        classes = max(classes, 2)
    size_rng = np.random.default_rng([seed, 1])
    for split, ids in (("train", range(train)), ("val", range(train, train + val))):
        for n in ids:
            height, width = _photo_size(size_rng, size)
            photo, labels = make_photo([seed, n], height, width, classes, grayscale)
            write_pair(os.path.join(out_dir, split, "images"), os.path.join(out_dir, split, "masks"), f"photo_{n}",
                       photo, labels, image_format, binary, mask_suffix)
    return out_dir


def _size(text: str) -> Tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be HEIGHTxWIDTH, e.g. 240x320, got {text}") from None
    if min(height, width) < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"sides must be >= {MIN_SIDE}, got {text}")
    return height, width


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write synthetic RGB photos of coloured shapes with class-index masks into OUT/train and OUT/val "
                    "(images/ and masks/ each), the folders data=images reads as they come.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=os.path.join("data", "photos"), help="root folder")
    parser.add_argument("--train", type=int, default=24, help="number of training photos")
    parser.add_argument("--val", type=int, default=8, help="number of validation photos (0: no val folder)")
    parser.add_argument("--classes", type=int, default=4, choices=(2, 3, 4),
                        help=f"classes including background: {', '.join(CLASS_NAMES)} (first N)")
    parser.add_argument("--size", type=_size, default=None, help="HEIGHTxWIDTH of every photo (default: each its own)")
    parser.add_argument("--grayscale", action="store_true", help="single-channel photos")
    parser.add_argument("--binary", action="store_true", help="0/255 masks (every shape is foreground)")
    parser.add_argument("--format", default="jpg", choices=("jpg", "png", "bmp", "tif"), help="photo file format")
    parser.add_argument("--mask-suffix", default="", help="masks are named photo_N<suffix>.png")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed writes the same photos")
    args = parser.parse_args(argv)
    if args.train < 1 or args.val < 0:
        parser.error("--train must be >= 1 and --val >= 0")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    make_synthetic_images(args.out, args.train, args.val, args.classes, args.seed, args.size, args.grayscale,
                          args.binary, args.format, args.mask_suffix)
    print(f"wrote {args.train} train and {args.val} val photos ({', '.join(CLASS_NAMES[:args.classes])}) "
          f"to {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
