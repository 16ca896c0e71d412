"""Predict masks with a trained UNet3+ and show image / truth / prediction / overlay.

    python predict.py                                   # every image in PREDICTION.IMAGES_PATH
    python predict.py 'PREDICTION.IMAGE_NAMES=[image_3_0010.png,image_3_0011.png]'

Writes one label PNG per image (0 background, 1 liver, 2 tumour) to PREDICTION.RESULTS_PATH and
a figure `predictions.png` with up to PREDICTION.MAX_FIGURE_ROWS rows beside them.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # keep TF's C++ start-up chatter out of the output

from typing import Dict, List, Optional

import matplotlib.pyplot as plt
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from data_generators.tf_data_generator import load_image
from utils.cli import hydra_app
from utils.config import require_dir
from utils.errors import UserError
from utils.images import read_image, read_mask, write_png
from utils.inference import load_trained_model, make_predict_fn, to_label_maps
from utils.runtime import use_xla
from utils.naming import mask_name_for, parse_slice_name, slice_file_name
from utils.visualize import plot_rows


def select_images(images_dir: str, names: Optional[List[str]]) -> List[str]:
    """Paths of the requested image names (all PNGs in images_dir when names is None)."""
    require_dir(images_dir, "images directory", ".png")
    if names is None:
        names = sorted(f for f in os.listdir(images_dir) if f.endswith(".png") and not f.startswith("."))
    paths = [os.path.join(images_dir, n) for n in names]
    missing = [n for n, p in zip(names, paths) if not os.path.isfile(p)]
    if missing:
        raise UserError(f"{len(missing)} requested image(s) not in {images_dir}: {', '.join(missing[:5])}")
    return paths


def truth_for(image_path: str, cfg) -> Optional[np.ndarray]:
    """The ground-truth label map of an image when PREDICTION.MASK_PATH has it, else None."""
    mask_dir = cfg.PREDICTION.MASK_PATH
    if not mask_dir:
        return None
    try:
        name = mask_name_for(os.path.basename(image_path), cfg.DATA_PREPARATION.IMAGE_PREFIX,
                             cfg.DATA_PREPARATION.MASK_PREFIX)
    except ValueError:
        return None
    path = os.path.join(mask_dir, name)
    return np.minimum(read_mask(path), cfg.OUTPUT.CLASSES - 1) if os.path.isfile(path) else None


def prediction_file_name(image_path: str) -> str:
    name = os.path.basename(image_path)
    try:
        parsed = parse_slice_name(name)
    except ValueError:
        return f"prediction_{name}"
    return slice_file_name("prediction", parsed.volume, parsed.slice)


def predict_images(cfg, model, image_paths: List[str]) -> List[Dict]:
    """For each image: its name, the raw image, the truth (or None) and the predicted labels."""
    predict = make_predict_fn(model, use_xla(cfg))
    batch_size = cfg.HYPER_PARAMETERS.BATCH_SIZE
    results = []
    for start in tqdm(range(0, len(image_paths), batch_size), desc="predicting", unit="batch"):
        batch_paths = image_paths[start:start + batch_size]
        images = np.stack([load_image(p, cfg.INPUT.CHANNELS, cfg.PREPROCESS_DATA.NORMALIZE_IMAGE)
                           for p in batch_paths])
        for path, labels in zip(batch_paths, to_label_maps(predict(images))):
            results.append({"name": os.path.basename(path), "image": read_image(path, cfg.INPUT.CHANNELS),
                            "truth": truth_for(path, cfg), "prediction": labels, "path": path})
    return results


def figure_rows(results: List[Dict], count: int) -> List[Dict]:
    """Up to `count` results worth looking at: evenly spread over those showing liver or tumour
    (in truth or prediction), so the figure is not filled by empty slices at a volume's ends."""
    interesting = [r for r in results if (r["prediction"] > 0).any() or (r["truth"] is not None and (r["truth"] > 0).any())]
    pool = interesting or results
    if len(pool) <= count:
        return pool
    return [pool[int(i)] for i in np.linspace(0, len(pool) - 1, count).round()]


def predict(cfg: DictConfig) -> List[Dict]:
    names = list(cfg.PREDICTION.IMAGE_NAMES) if cfg.PREDICTION.IMAGE_NAMES is not None else None
    image_paths = select_images(cfg.PREDICTION.IMAGES_PATH, names)
    model = load_trained_model(cfg)
    results = predict_images(cfg, model, image_paths)
    out_dir = cfg.PREDICTION.RESULTS_PATH
    for result in results:
        write_png(os.path.join(out_dir, prediction_file_name(result["path"])), result["prediction"])
    shown = figure_rows(results, cfg.PREDICTION.MAX_FIGURE_ROWS)
    figure_path = os.path.join(out_dir, "predictions.png")
    figure = plot_rows(shown, titles=[r["name"] for r in shown], out_path=figure_path,
                       center_channel=cfg.SHOW_CENTER_CHANNEL_IMAGE)
    plt.close(figure)
    print(f"{len(results)} predicted masks in {out_dir}; figure: {figure_path}")
    return results


main = hydra_app(predict)


if __name__ == "__main__":
    main()
