"""Predicting prepared PNG slices (predict.py's slice mode and the notebook)."""
import os
from typing import Dict, List, NamedTuple, Optional

import numpy as np
from tqdm import tqdm

from data_generators.tf_data_generator import load_input
from utils.errors import UserError
from utils.files import require_dir
from data_sets.image_files import read_image, read_mask
from data_sets.labels import network_labels
from inference.predict_fn import to_label_maps
from data_sets.slice_names import mask_name_for, parse_slice_name, slice_file_name
from volumes.slices import ImageSettings


def select_images(images_dir: str, names: Optional[List[str]]) -> List[str]:
    """Paths of the requested image names (all PNGs in images_dir when names is None)."""
    available = require_dir(images_dir, "images directory", ".png")
    if names is None:
        names = available
    elif not names:
        raise UserError("PREDICTION.IMAGE_NAMES is an empty list: name some images, or leave it null for all of them")
    paths = [os.path.join(images_dir, n) for n in names]
    missing = [n for n, p in zip(names, paths) if not os.path.isfile(p)]
    if missing:
        raise UserError(f"{len(missing)} requested image(s) not in {images_dir}: {', '.join(missing[:5])}")
    return paths


class SliceMasks(NamedTuple):
    """Where the prepared slices' ground truth lies, to show beside their predictions."""
    folder: Optional[str]   # PREDICTION.MASK_PATH; None or empty: no truth shown
    image_prefix: str       # DATA_PREPARATION.IMAGE_PREFIX and MASK_PREFIX: image_3_0010.png -> mask_3_0010.png
    mask_prefix: str
    classes: int            # OUTPUT.CLASSES: the truth shown as the network predicts it


def slice_masks(cfg) -> SliceMasks:
    return SliceMasks(cfg.PREDICTION.MASK_PATH, cfg.DATA_PREPARATION.IMAGE_PREFIX, cfg.DATA_PREPARATION.MASK_PREFIX,
                      cfg.OUTPUT.CLASSES)


def truth_for(image_path: str, masks: Optional[SliceMasks]) -> Optional[np.ndarray]:
    """The ground-truth label map of an image when masks.folder has it, else None."""
    if masks is None or not masks.folder:
        return None
    try:
        name = mask_name_for(os.path.basename(image_path), masks.image_prefix, masks.mask_prefix)
    except ValueError:
        return None
    path = os.path.join(masks.folder, name)
    return network_labels(read_mask(path), masks.classes) if os.path.isfile(path) else None


def prediction_file_name(image_path: str) -> str:
    name = os.path.basename(image_path)
    try:
        parsed = parse_slice_name(name)
    except ValueError:
        return f"prediction_{name}"
    return slice_file_name("prediction", parsed.volume, parsed.slice)


def predict_images(image_paths: List[str], predict_fn, inputs: ImageSettings, batch_size: int,
                   masks: Optional[SliceMasks] = None) -> List[Dict]:
    """For each image: its name, the raw image, the truth (or None) and the predicted labels.

    inputs: how a prepared slice becomes the network's input (volumes.slices.image_settings)."""
    results = []
    for start in tqdm(range(0, len(image_paths), batch_size), desc="predicting", unit="batch"):
        batch_paths = image_paths[start:start + batch_size]
        images = np.stack([load_input(p, inputs) for p in batch_paths])
        for path, labels in zip(batch_paths, to_label_maps(predict_fn(images))):
            results.append({"name": os.path.basename(path), "image": read_image(path, inputs.channels),
                            "truth": truth_for(path, masks), "prediction": labels, "path": path})
    return results


def figure_rows(results: List[Dict], count: int) -> List[Dict]:
    """Up to `count` results worth looking at: evenly spread over those showing liver or tumour
    (in truth or prediction), so the figure is not filled by empty slices at a volume's ends."""
    interesting = [r for r in results if (r["prediction"] > 0).any() or (r["truth"] is not None and (r["truth"] > 0).any())]
    pool = interesting or results
    if len(pool) <= count:
        return pool
    return [pool[int(i)] for i in np.linspace(0, len(pool) - 1, count).round()]
