"""Export a trained UNet3+ for serving: TensorFlow SavedModel, ONNX, int8 ONNX (and OpenVINO IR).

    python export.py                                  # the latest run -> SavedModel + ONNX in <run>/export
    python export.py RUN_DIR=runs/2026-11-23_10-00-00
    python export.py 'EXPORT.FORMATS=[saved_model,onnx,openvino]' OPTIMIZATION.AMP=bfloat16
    python export.py 'EXPORT.FORMATS=[onnx_int8]'     # int8 for CPUs, calibrated on training slices

Each file maps an image batch `image` (B, H, W, C) float32, prepared as for training, to
`probabilities` (B, H, W, K) float32 and `labels` (B, H, W) int32, through the lean graph (no
deep-supervision side heads). Checks ONNX Runtime against Keras on a random batch before finishing.
Files of an earlier export in EXPORT.PATH are replaced only once the new ones are complete.
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

import numpy as np
from omegaconf import DictConfig

from deploy.export import check_formats, export_model, onnx_max_difference
from deploy.quantize import calibration_slices, require_calibration_images
from deploy.run_int8 import calibration_record, write_calibration_record
from run_dirs.loading import load_trained
from volumes.slices import image_settings
from app.cli import hydra_app
from app.paths import require_paths


def export(cfg: DictConfig) -> dict:
    formats = list(cfg.EXPORT.FORMATS)
    check_formats(formats)
    require_paths(cfg, write_dirs=["EXPORT.PATH"])
    inputs = image_settings(cfg)
    model, weights_path, rebuild = load_trained(cfg)
    calibration = record = None
    if "onnx_int8" in formats:   # calibrated as the run's own int8 model is, and recorded as it is (deploy.run_int8)
        slices = calibration_slices(cfg, inputs)
        calibration, record = require_calibration_images(slices), calibration_record(weights_path, slices)
    paths = export_model(model, cfg.EXPORT.PATH, formats, calibration, rebuild=rebuild)
    if record:
        write_calibration_record(paths["onnx_int8"], record)
    for name, path in paths.items():
        print(f"{name}: {path}")
    if "onnx" in paths:
        images = np.random.default_rng(cfg.SEED).random((2, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS),
                                                        dtype=np.float32)
        difference = onnx_max_difference(model, paths["onnx"], images)
        print(f"ONNX Runtime vs Keras ({model.dtype_policy.name}): max |probability difference| {difference:.2e}")
    return paths


main = hydra_app(export, trained_run=True)   # cfg: RUN_DIR (default: the latest run) with its settings


if __name__ == "__main__":
    main()
