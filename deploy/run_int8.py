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
from typing import Optional

import keras

from callbacks.checkpoint import checkpoint_path
from deploy.export import write_onnx_int8
from deploy.quantize import calibration_images, calibration_paths
from app.config import positive_int
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


def stored_int8(cfg) -> Optional[dict]:
    """The record of the run's int8 model (its 'path' added) when it was quantized from the run's current
    weights; else None (none yet, no record, or made from other weights)."""
    folder = cfg.EXPORT.PATH
    model_path, record_path = os.path.join(folder, INT8_FILE), os.path.join(folder, RECORD_FILE)
    weights = checkpoint_path(cfg)
    if not (os.path.isfile(model_path) and os.path.isfile(record_path) and os.path.isfile(weights)):
        return None
    try:
        with open(record_path) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if record.get("weights_sha256") != weights_digest(weights):
        return None
    return {**record, "path": model_path}


def can_calibrate(cfg) -> bool:
    """Whether this machine holds training slices to calibrate int8 on."""
    return bool(calibration_paths(cfg, 1))


def calibrate_int8(cfg, model: keras.Model) -> dict:
    """Quantize the run's model on EXPORT.CALIBRATION_IMAGES training slices and keep it in EXPORT.PATH with
    its record; returns the record with 'path'. A UserError when there are no training slices."""
    count = positive_int(cfg.EXPORT.CALIBRATION_IMAGES, "EXPORT.CALIBRATION_IMAGES")
    paths = calibration_paths(cfg, count)
    if not paths:
        raise UserError(f"int8 is calibrated once on training slices and kept in the run, but {cfg.EXPORT.PATH} has "
                        f"no {INT8_FILE} for these weights and DATASET.TRAIN.IMAGES_PATH="
                        f"{cfg.DATASET.TRAIN.IMAGES_PATH} has no PNG images: run int8 once where the prepared "
                        f"data is (it then stays in the run), or use INFERENCE.BACKEND=auto")
    weights = checkpoint_path(cfg)
    record = {"weights": os.path.basename(weights), "weights_sha256": weights_digest(weights),
              "calibration_images_path": os.path.abspath(cfg.DATASET.TRAIN.IMAGES_PATH),
              "calibration_images": [os.path.basename(p) for p in paths]}
    print(f"int8: calibrating on {len(paths)} training slices of {record['calibration_images_path']} "
          f"(once; kept in {cfg.EXPORT.PATH})", flush=True)
    os.makedirs(cfg.EXPORT.PATH, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".int8-", dir=cfg.EXPORT.PATH) as scratch:
        quantized = write_onnx_int8(cfg, model, scratch, calibration_images(cfg, count, paths))
        target = os.path.join(cfg.EXPORT.PATH, INT8_FILE)
        write_atomically(target, lambda temporary: shutil.copyfile(quantized, temporary))
    write_json(os.path.join(cfg.EXPORT.PATH, RECORD_FILE), record)
    return {**record, "path": target}


def run_int8(cfg, model: keras.Model) -> dict:
    """The run's int8 model for its current weights: the stored one, or calibrated now (once)."""
    return stored_int8(cfg) or calibrate_int8(cfg, model)
