"""Reading and writing the PNG slices with OpenCV, in one channel order (RGB) everywhere.

OpenCV stores colour as BGR; DALI's decoder returns RGB. Converting here keeps channel k of
a 3-slice image equal to slice i-1+k whichever generator reads it.
"""
import struct
from typing import Tuple

import cv2
import numpy as np

from utils.errors import UserError
from utils.files import write_atomically


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}   # IHDR colour type -> channels (palette: decoded as RGB)


def png_shape(path: str) -> Tuple[int, int, int]:
    """(height, width, channels) from a PNG's header, without decoding the image: checking every
    prepared slice before training costs a 26-byte read each."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        head = b""
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR" or head[25] not in _PNG_CHANNELS:
        raise UserError(f"cannot read image {path} (missing or corrupt PNG)")
    width, height = struct.unpack(">II", head[16:24])
    return height, width, _PNG_CHANNELS[head[25]]


def read_image(path: str, channels: int) -> np.ndarray:
    """HxWxC uint8 image, C = channels (1 or 3), RGB order for 3 channels; any format OpenCV reads
    (PNG, JPEG, BMP, TIFF), grayscale files repeated to 3 channels and colour ones converted to 1.
    A JPEG's EXIF orientation is ignored, as for its mask (pixels pair with mask pixels as stored)."""
    flag = (cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imread(path, flag)
    if image is None:
        raise UserError(f"cannot read image {path} (missing or corrupt PNG)")
    if channels == 1:
        return image[..., np.newaxis]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: str) -> np.ndarray:
    """HxW uint8 label map (0 background, 1 liver, 2 tumour)."""
    mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise UserError(f"cannot read mask {path} (missing or corrupt PNG)")
    return mask


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an HxW or HxWx{1,3} uint8 array given in RGB order."""
    array = np.asarray(array, dtype=np.uint8)
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3:
        array = array[..., 0]
    ok, buffer = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError("OpenCV could not encode PNG")
    return buffer.tobytes()


def write_png(path: str, array: np.ndarray) -> None:
    """Write a PNG atomically: a crash leaves either the old file or the new one, never half."""
    data = encode_png(array)

    def write(temporary):
        with open(temporary, "wb") as handle:
            handle.write(data)

    write_atomically(path, write)


def display_image(image: np.ndarray, center_channel: bool = True) -> np.ndarray:
    """2D view of an input image: the centre slice of a 3-slice stack, or the image as is."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0]
    if image.ndim == 3 and center_channel:
        return image[..., image.shape[-1] // 2]
    return image
