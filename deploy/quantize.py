"""INT8 ONNX for CPUs: ONNX Runtime's static quantization, calibrated on training slices.

On CPUs with AVX-512 VNNI (Intel since Cascade Lake, AMD since Zen 4) an int8 convolution does
four multiply-adds where float32 does one, and Intel's AVX-512 BF16 without AMX is no faster than
float32 (docs/benchmarks.md), so int8 is the fast CPU path there. Weights are quantized per output
channel (int8), activations per tensor (uint8) from ranges seen on real slices: QDQ format, which
ONNX Runtime fuses into integer convolutions.
"""
import os
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from data_generators.dataset_files import list_split_pairs
from data_generators.tf_data_generator import load_input
from app.choices import choose
from app.config import positive_int
from utils.errors import UserError
from utils.files import list_files, write_atomically
from volumes.slices import ImageSettings


class CalibrationSlices(NamedTuple):
    """The training slices int8's activation ranges are measured on, and how to read them as network inputs."""
    images_path: str                     # DATASET.TRAIN.IMAGES_PATH: named in messages and in the int8 record
    paths: Tuple[str, ...]               # the chosen slices, evenly spread over the sorted names; empty when none here
    inputs: ImageSettings                # how they become network inputs, as for training (volumes.slices.image_settings)


def calibration_slices(cfg, inputs: ImageSettings, count: Optional[int] = None) -> CalibrationSlices:
    """The config read once for int8 calibration: up to `count` (default EXPORT.CALIBRATION_IMAGES) training
    slices, read as network inputs the way `inputs` says (volumes.slices.image_settings). Under cross-validation
    only the fold's training volumes: its held-out volumes must not shape the model that scores them, activation
    ranges included; likewise data=images' training split."""
    if count is None:
        count = positive_int(cfg.EXPORT.CALIBRATION_IMAGES, "EXPORT.CALIBRATION_IMAGES")
    images_dir = cfg.DATASET.TRAIN.IMAGES_PATH
    volumetric = choose("DATASET.KIND", cfg.DATASET.KIND).volumetric   # the kinds' table (data_sets.kinds)
    if not images_dir or not os.path.isdir(images_dir):
        paths = []
    elif cfg.DATASET.NUM_FOLDS > 1 or not volumetric:
        paths = list_split_pairs(cfg, "train")[0]
    else:
        paths = [os.path.join(images_dir, name) for name in list_files(images_dir, ".png")]
    return CalibrationSlices(images_dir, tuple(spread(paths, count)), inputs)


def spread(paths: Sequence[str], count: int) -> List[str]:
    """Up to `count` of `paths`, evenly spread from the first to the last."""
    if not paths:
        return []
    return [paths[i] for i in np.unique(np.linspace(0, len(paths) - 1, min(count, len(paths))).astype(int))]


def load_calibration_images(paths: Sequence[str], inputs: ImageSettings) -> Optional[np.ndarray]:
    """The slices at `paths` prepared as for training (N, H, W, C float32); None when there are none."""
    if not paths:
        return None
    return np.stack([load_input(p, inputs) for p in paths])


def require_calibration_images(slices: CalibrationSlices) -> np.ndarray:
    """The images of `slices`, or a UserError saying where they were looked for."""
    images = load_calibration_images(slices.paths, slices.inputs)
    if images is None:
        raise UserError(f"int8 is calibrated on training slices, but DATASET.TRAIN.IMAGES_PATH="
                        f"{slices.images_path} has no PNG images: run data_preparation/preprocess_data.py "
                        f"or point DATA_PREPARATION.PROCESSED_DATA_PATH at the prepared data")
    return images


def quantize_onnx(onnx_path: str, out_path: str, images: np.ndarray) -> str:
    """An int8 (QDQ) copy of the float32 ONNX file at onnx_path, with activation ranges from `images`
    (N, H, W, C float32, fed one at a time); written atomically to out_path."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Slices(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(images[i:i + 1] for i in range(len(images)))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"image": batch}

    def write(path):
        prepared = path + ".prepared.onnx"   # shapes inferred and constants folded, as quantization wants
        try:
            quant_pre_process(onnx_path, prepared, skip_symbolic_shape=True)
            quantize_static(prepared, path, Slices(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        finally:
            if os.path.exists(prepared):
                os.remove(prepared)

    return write_atomically(out_path, write)
