"""Export a trained UNet3+ for serving: TensorFlow SavedModel, ONNX (and OpenVINO IR).

    python export.py MODEL.TYPE=unet3plus_deepsup                     # SavedModel + ONNX in EXPORT.PATH
    python export.py 'EXPORT.FORMATS=[saved_model,onnx,openvino]' OPTIMIZATION.AMP=bfloat16

Each file maps an image batch `image` (B, H, W, C) float32, prepared as for training, to
`probabilities` (B, H, W, K) float32 and `labels` (B, H, W) int32, through the lean graph (no
deep-supervision side heads). Checks ONNX Runtime against Keras on a random batch before finishing.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # keep TF's C++ start-up chatter out of the output

import numpy as np
from omegaconf import DictConfig

from deploy.export import check_formats, export_model, onnx_max_difference
from utils.cli import hydra_app
from utils.inference import load_trained_model


def export(cfg: DictConfig) -> dict:
    formats = list(cfg.EXPORT.FORMATS)
    check_formats(formats)
    model = load_trained_model(cfg)
    paths = export_model(cfg, model, cfg.EXPORT.PATH, formats)
    for name, path in paths.items():
        print(f"{name}: {path}")
    if "onnx" in paths:
        images = np.random.default_rng(cfg.SEED).random((2, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS),
                                                        dtype=np.float32)
        difference = onnx_max_difference(model, paths["onnx"], images)
        print(f"ONNX Runtime vs Keras ({model.dtype_policy.name}): max |probability difference| {difference:.2e}")
    return paths


main = hydra_app(export)


if __name__ == "__main__":
    main()
