"""The one resampling convention: pixel centres map to pixel centres, for images, labels and probabilities.

OpenCV's INTER_NEAREST maps output pixel i to input pixel floor(i * scale), which is not the
centre-to-centre mapping INTER_AREA and INTER_LINEAR use: a mask resized with it is shifted by
about half a pixel against its image, and a mask taken down and back scored only 0.95 Dice against
itself. Here labels are resized as one-hot class maps with the same interpolation as images, and
predictions go back to the source grid as probabilities (resize, then argmax).
All three map pixel centres to pixel centres.
"""
import math
from typing import Tuple

import cv2
import numpy as np

_CV_MAX_CHANNELS = 4   # cv2.resize takes at most 4 channels for INTER_AREA


def _resize(array: np.ndarray, size: Tuple[int, int], interpolation: int) -> np.ndarray:
    """cv2.resize to (height, width), channel groups of at most 4, keeping a trailing channel axis."""
    height, width = size
    array = np.ascontiguousarray(array)
    if array.ndim == 2 or array.shape[2] <= _CV_MAX_CHANNELS:
        resized = cv2.resize(array, (width, height), interpolation=interpolation)
        return resized[..., np.newaxis] if array.ndim == 3 and resized.ndim == 2 else resized
    groups = [_resize(array[..., k:k + _CV_MAX_CHANNELS], size, interpolation)
              for k in range(0, array.shape[2], _CV_MAX_CHANNELS)]
    return np.concatenate(groups, axis=-1)


def resize_image(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """An HxW or HxWxC image (any dtype) at (height, width), area-averaged (centre-aligned)."""
    if image.shape[:2] == tuple(size):
        return image
    return _resize(image, size, cv2.INTER_AREA)


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """HxW labels as HxWxK float32 class maps: the training targets, and how labels are resized."""
    return np.eye(classes, dtype=np.float32)[np.asarray(labels, dtype=np.intp)]


def resize_labels(labels: np.ndarray, size: Tuple[int, int], classes: int) -> np.ndarray:
    """An HxW label map at (height, width): each pixel takes the class covering most of it."""
    labels = np.asarray(labels)
    if labels.shape[:2] == tuple(size):
        return labels.astype(np.uint8)
    coverage = _resize(one_hot(labels, classes), size, cv2.INTER_AREA)
    return np.argmax(coverage, axis=-1).astype(np.uint8)


def resize_probabilities(probabilities: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """HxWxK class probabilities at (height, width), bicubic (centre-aligned), float32.

    Bicubic, as nnU-Net resamples softmax maps: small tumours come back whole (a perfect
    prediction of a 69-voxel tumour scores 1.0 on the source grid; bilinear gives 0.97).
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.shape[:2] == tuple(size):
        return probabilities
    return _resize(probabilities, size, cv2.INTER_CUBIC)


def labels_from_probabilities(probabilities: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Labels on another grid from HxWxK probabilities: resize the probabilities, then argmax."""
    return np.argmax(resize_probabilities(probabilities, size), axis=-1).astype(np.uint8)


# Background wins after bicubic resampling wherever every source pixel under the 4x4 kernel has
# p_background >= this: then p_background - max(p_other) >= 2 * 0.75 - 1 = 0.5 (probabilities sum to 1), and
# OpenCV's kernel (a = -0.75) puts at most 1.445 of weight on positive taps and 0.445 on negative ones, so
# the resampled margin is >= 1.445 * 0.5 - 0.445 * 1 > 0.
_SURELY_BACKGROUND = 0.75
_KERNEL_REACH = 3   # source pixels an output pixel's taps (floor(x) - 1 .. floor(x) + 2) can lie from it, and one more


def _aligned_step(source: int, target: int) -> Tuple[int, int]:
    """(source, target) pixels of the smallest tile whose resize lands on whole pixels: a crop starting and
    ending on these steps resamples to exactly the pixels of the full resize."""
    common = math.gcd(source, target)
    return source // common, target // common


def _span(indices: np.ndarray, source: int, target: int):
    """(source_start, source_stop, target_start, target_stop, pad) of the aligned span covering indices
    dilated by the kernel's reach; pad: source pixels added each side so the span's edges are exact."""
    step, target_step = _aligned_step(source, target)
    start = max(int(indices[0]) - _KERNEL_REACH, 0) // step * step
    stop = min(-(-(int(indices[-1]) + 1 + _KERNEL_REACH) // step) * step, source)
    pad = -(-_KERNEL_REACH // step) * step
    return start, stop, start // step * target_step, stop // step * target_step, pad


def labels_on_grid(probabilities: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """BxHxW labels from BxhxwxK probabilities (a batch of slices): `labels_from_probabilities` of every slice,
    bit for bit, computed only where a label can be other than background.

    The pixels that could turn out non-background (background probability < 0.75, kernel reach added) are boxed
    over the batch; the box is widened to whole resize tiles (`_aligned_step`, 5 -> 8 pixels for 320 -> 512)
    and padded by replicated edges, so the crops of all slices, stacked into one tall image, go through one
    cv2.resize whose pixels equal the full resize's. Outside the box every label is background (the kernel
    bound above). Probabilities must be a distribution per pixel (softmax), as every backend gives.
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    batch, height, width, classes = probabilities.shape
    labels = np.zeros((batch, *size), dtype=np.uint8)
    uncertain = probabilities[..., 0].min(axis=0) < _SURELY_BACKGROUND
    rows, columns = np.flatnonzero(uncertain.any(axis=1)), np.flatnonzero(uncertain.any(axis=0))
    if not rows.size:
        return labels
    r0, r1, o0, o1, row_pad = _span(rows, height, size[0])
    c0, c1, p0, p1, column_pad = _span(columns, width, size[1])
    crop = np.pad(probabilities[:, r0:r1, c0:c1], ((0, 0), (row_pad, row_pad), (column_pad, column_pad), (0, 0)),
                  mode="edge") if (row_pad or column_pad) else probabilities[:, r0:r1, c0:c1]
    crop_height, crop_width = crop.shape[1:3]
    row_scale, column_scale = _aligned_step(height, size[0]), _aligned_step(width, size[1])
    out_height = crop_height // row_scale[0] * row_scale[1]
    out_width = crop_width // column_scale[0] * column_scale[1]
    tall = resize_probabilities(crop.reshape(batch * crop_height, crop_width, classes), (batch * out_height, out_width))
    top, left = row_pad // row_scale[0] * row_scale[1], column_pad // column_scale[0] * column_scale[1]
    inner = tall.reshape(batch, out_height, out_width, classes)[:, top:top + o1 - o0, left:left + p1 - p0]
    labels[:, o0:o1, p0:p1] = np.argmax(inner, axis=-1)
    return labels
