"""Check the prepared PNG slices before training on them, and draw a few pairs to look at: what
data_preparation/verify_data.py runs.

Every image needs its mask and every mask its image; sizes must equal INPUT.HEIGHT x WIDTH, images
must have INPUT.CHANNELS channels and masks one channel with labels 0..2. Problems are listed (the script
then exits with status 2). A figure of random pairs goes to ${WORK_DIR}/results/verify_data.png.
With data=images your folders are checked as training checks them (data_sets/images.py).
"""
import os
import random
from typing import List, Tuple

import cv2
import matplotlib.pyplot as plt
from omegaconf import DictConfig

from data_sets.images import mask_to_labels, read_mask_labels
from data_sets.kinds import dataset_kind
from utils.errors import UserError
from utils.files import list_files, require_dir
from data_sets.image_files import read_image, read_mask
from data_sets.slice_names import mask_name_for
from figures.plots import plot_rows

MAX_LISTED = 20        # problems printed per split; a wrong INPUT size would otherwise list every file


def _counterpart(name: str, from_prefix: str, to_prefix: str):
    """The paired file name (image -> mask or mask -> image), or None when the name does not parse."""
    try:
        return mask_name_for(name, from_prefix, to_prefix)
    except ValueError:
        return None


def _unpaired(names: List[str], prefix: str, other_prefix: str, other_names: set, kind: str, other_kind: str):
    problems = []
    for name in names:
        partner = _counterpart(name, prefix, other_prefix)
        if partner is None:
            problems.append(f"{kind} {name} is not named {prefix}_<volume>_<slice>.png")
        elif partner not in other_names:
            problems.append(f"{kind} {name} has no {other_kind} {partner}")
    return problems


def unpaired_problems(images: List[str], masks: List[str], image_prefix: str, mask_prefix: str) -> List[str]:
    """Badly named files, images without a mask and masks without an image."""
    return (_unpaired(images, image_prefix, mask_prefix, set(masks), "image", "mask")
            + _unpaired(masks, mask_prefix, image_prefix, set(images), "mask", "image"))


def pair_problems(image_path: str, mask_path: str, cfg: DictConfig) -> List[str]:
    """Size, channel and label problems of one image / mask pair."""
    name = os.path.basename(image_path)
    image = cv2.imread(image_path, cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    if image is None or mask is None:
        return [f"{name}: {'image' if image is None else 'mask'} cannot be read (corrupt PNG)"]
    problems = []
    channels = 1 if image.ndim == 2 else image.shape[2]
    expected = (cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH)
    if channels != cfg.INPUT.CHANNELS:
        problems.append(f"{name}: {channels} channels, INPUT.CHANNELS is {cfg.INPUT.CHANNELS}")
    if image.shape[:2] != expected:
        problems.append(f"{name}: size {image.shape[0]}x{image.shape[1]}, INPUT is {expected[0]}x{expected[1]}")
    if mask.ndim != 2:
        problems.append(f"{name}: its mask has {mask.shape[2]} channels, expected 1")
    elif mask.shape != image.shape[:2]:
        problems.append(f"{name}: mask size {mask.shape[0]}x{mask.shape[1]} differs from the image's")
    label_max = len(cfg.DATASET.CLASSES) - 1
    if mask.max() > label_max:
        problems.append(f"{name}: mask holds label {mask.max()}, labels must be 0..{label_max} "
                        f"({', '.join(cfg.DATASET.CLASSES)})")
    return problems


def complete_pairs(images_dir: str, masks_dir: str, cfg: DictConfig) -> List[Tuple[str, str]]:
    """(image path, mask path) of the images whose mask exists."""
    if not (os.path.isdir(images_dir) and os.path.isdir(masks_dir)):
        return []
    prep = cfg.DATA_PREPARATION
    pairs = []
    for name in list_files(images_dir):
        mask_name = _counterpart(name, prep.IMAGE_PREFIX, prep.MASK_PREFIX)
        if mask_name and os.path.isfile(os.path.join(masks_dir, mask_name)):
            pairs.append((os.path.join(images_dir, name), os.path.join(masks_dir, mask_name)))
    return pairs


def verify_split(images_dir: str, masks_dir: str, cfg: DictConfig) -> List[str]:
    """Every problem found in one split's folders, as readable lines; empty when all is well."""
    try:
        images = require_dir(images_dir, "images directory")
        masks = require_dir(masks_dir, "masks directory")
    except UserError as err:
        return [str(err)]
    prep = cfg.DATA_PREPARATION
    problems = unpaired_problems(images, masks, prep.IMAGE_PREFIX, prep.MASK_PREFIX)
    for image_path, mask_path in complete_pairs(images_dir, masks_dir, cfg):
        problems += pair_problems(image_path, mask_path, cfg)
    return problems


def plot_samples(pairs: List[Tuple[str, str, str]], cfg: DictConfig, count: int, out_path: str) -> str:
    """Figure of `count` random (split, image, mask) pairs, chosen with cfg.SEED."""
    chosen = random.Random(cfg.SEED).sample(pairs, min(count, len(pairs)))
    rows = [{"image": read_image(image, cfg.INPUT.CHANNELS), "truth": read_mask(mask)} for _, image, mask in chosen]
    titles = [f"{split} {os.path.basename(image)}" for split, image, _ in chosen]
    figure = plot_rows(rows, titles, out_path, center_channel=cfg.SHOW_CENTER_CHANNEL_IMAGE,
                       class_names=list(cfg.DATASET.CLASSES))
    plt.close(figure)
    return out_path


def verify_pictures(cfg: DictConfig, count: int) -> dict:
    """data=images: the checks training runs on each split (pairs, sizes, mask values; the first problem is one
    error line), then the sample figure with the masks read as training reads them."""
    result, rows, titles = {}, [], []
    pairs = {split: dataset_kind(cfg).split_pairs(cfg, split) for split in ("train", "val")}
    for split, split_pairs in pairs.items():
        result[split] = {"pairs": len(split_pairs), "problems": []}
        print(f"{split}: {len(split_pairs)} image/mask pairs, 0 problem(s)")
    samples = [(split, image, mask) for split, split_pairs in pairs.items() for _, image, mask in split_pairs]
    for split, image, mask in random.Random(cfg.SEED).sample(samples, min(count, len(samples))):
        rows.append({"image": read_image(image, cfg.INPUT.CHANNELS),
                     "truth": mask_to_labels(read_mask_labels(mask), mask, len(cfg.DATASET.CLASSES),
                                             cfg.DATASET.BINARY_MASKS)})
        titles.append(f"{split} {os.path.basename(image)}")
    result["figure"] = None
    if rows:
        out_path = os.path.join(cfg.WORK_DIR, "results", "verify_data.png")
        plt.close(plot_rows(rows, titles, out_path, center_channel=cfg.SHOW_CENTER_CHANNEL_IMAGE,
                            class_names=list(cfg.DATASET.CLASSES)))
        result["figure"] = out_path
        print(f"sample figure: {out_path}")
    return result


def verify_dataset(cfg: DictConfig) -> dict:
    """Check train and val; print a summary; returns {split: {'pairs', 'problems'}, 'figure': path or None}."""
    count = cfg.VERIFY.SAMPLES
    if count < 0:
        raise UserError(f"VERIFY.SAMPLES must be a non-negative integer, got {count!r}")
    if not dataset_kind(cfg).volumetric:
        return verify_pictures(cfg, count)
    result, samples = {}, []
    for split, dataset in (("train", cfg.DATASET.TRAIN), ("val", cfg.DATASET.VAL)):
        problems = verify_split(dataset.IMAGES_PATH, dataset.MASK_PATH, cfg)
        pairs = complete_pairs(dataset.IMAGES_PATH, dataset.MASK_PATH, cfg)
        samples += [(split, image, mask) for image, mask in pairs]
        result[split] = {"pairs": len(pairs), "problems": problems}
        print(f"{split}: {len(pairs)} image/mask pairs, {len(problems)} problem(s)")
        for problem in problems[:MAX_LISTED]:
            print(f"  {problem}")
        if len(problems) > MAX_LISTED:
            print(f"  ... and {len(problems) - MAX_LISTED} more")
    out_path = os.path.join(cfg.WORK_DIR, "results", "verify_data.png")
    result["figure"] = plot_samples(samples, cfg, count, out_path) if samples and count > 0 else None
    if result["figure"]:
        print(f"sample figure: {result['figure']}")
    return result


def raise_on_problems(result: dict) -> None:
    """One error line (exit status 2) when verify_dataset found any problem."""
    counts = {split: len(result[split]["problems"]) for split in ("train", "val")}
    if any(counts.values()):
        raise UserError(f"{sum(counts.values())} problem(s) in the prepared data "
                        f"(train: {counts['train']}, val: {counts['val']}); see the list above")

