"""The int8 model kept inside the training run, so inference needs the run and nothing else.

int8 is calibrated once, on the run's training slices, where they are (after training, or the first
int8 inference on the training machine), and kept as EXPORT.PATH/model.int8.onnx (<run>/export) with
model.int8.json beside it: which weights it was quantized from (their SHA-256) and which slices set its
activation ranges. Later runs reuse it wherever the run folder goes (a clinic, a serving box) without
the training data; weights trained further make it stale, and it is calibrated again.
"""
import hashlib
import json
import os
import shutil
import tempfile
from typing import Callable, Optional

import keras

from deploy.export import ModelForms
from deploy.quantize import CalibrationSlices, require_calibration_images
from utils.errors import UserError
from utils.files import write_atomically, write_json

INT8_FILE, RECORD_FILE = "model.int8.onnx", "model.int8.json"


def weights_digest(path: str) -> str:
    """SHA-256 of a weights file: what an int8 model was made from."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stored_int8(export_path: str, weights_path: str) -> Optional[dict]:
    """The record of the run's int8 model in export_path (its 'path' added) when it was quantized from the
    weights at weights_path as they are now; else None (none yet, no record, or made from other weights)."""
    model_path, record_path = os.path.join(export_path, INT8_FILE), os.path.join(export_path, RECORD_FILE)
    if not (os.path.isfile(model_path) and os.path.isfile(record_path) and os.path.isfile(weights_path)):
        return None
    try:
        with open(record_path) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if record.get("weights_sha256") != weights_digest(weights_path):
        return None
    return {**record, "path": model_path}


def calibration_record(weights_path: str, slices: CalibrationSlices) -> dict:
    """What an int8 model was made from: the weights (name and SHA-256) and the slices that set its ranges."""
    return {"weights": os.path.basename(weights_path), "weights_sha256": weights_digest(weights_path),
            "calibration_images_path": os.path.abspath(slices.images_path),
            "calibration_images": [os.path.basename(p) for p in slices.paths]}


def write_calibration_record(int8_path: str, record: dict) -> str:
    """The record written beside the int8 model at int8_path (RECORD_FILE), for stored_int8 to check."""
    return write_json(os.path.join(os.path.dirname(int8_path), RECORD_FILE), record)


def calibrate_int8(model: keras.Model, export_path: str, weights_path: str, slices: CalibrationSlices,
                   rebuild: Optional[Callable[[], keras.Model]] = None) -> dict:
    """Quantize `model` (its weights: weights_path) on the calibration slices and keep it in export_path with
    its record; returns the record with 'path'. A UserError when there are no slices. rebuild: see
    deploy.export.copy_in_precision (a mixed precision model is exported as float32)."""
    if not slices.paths:
        raise UserError(f"int8 is calibrated once on training slices and kept in the run, but {export_path} has "
                        f"no {INT8_FILE} for these weights and DATASET.TRAIN.IMAGES_PATH="
                        f"{slices.images_path} has no PNG images: run int8 once where the prepared "
                        f"data is (it then stays in the run), or use INFERENCE.BACKEND=auto")
    record = calibration_record(weights_path, slices)
    print(f"int8: calibrating on {len(slices.paths)} training slices of {record['calibration_images_path']} "
          f"(once; kept in {export_path})", flush=True)
    os.makedirs(export_path, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".int8-", dir=export_path) as scratch:
        quantized = ModelForms(model, scratch, rebuild, require_calibration_images(slices)).onnx("int8")
        target = os.path.join(export_path, INT8_FILE)
        write_atomically(target, lambda temporary: shutil.copyfile(quantized, temporary))
    write_calibration_record(target, record)
    return {**record, "path": target}


def run_int8(model: keras.Model, export_path: str, weights_path: str, slices: CalibrationSlices,
             rebuild: Optional[Callable[[], keras.Model]] = None) -> dict:
    """The run's int8 model for its current weights: the stored one, or calibrated now (once)."""
    return stored_int8(export_path, weights_path) or calibrate_int8(model, export_path, weights_path, slices, rebuild)
