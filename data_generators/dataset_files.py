"""Finding the (image, mask) PNG pairs that both generators read."""
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import List, Sequence, Tuple

from data_generators.folds import check_fold, fold_split
from data_sets.kinds import dataset_kind
from data_sets.labels import to_class_labels
from utils.errors import UserError
from utils.files import require_dir
from data_sets.image_files import png_shape, read_mask
from data_sets.slice_names import mask_name_for


def list_pairs(images_dir: str, masks_dir: str, image_prefix: str, mask_prefix: str) -> Tuple[List[str], List[str]]:
    """Sorted image paths and their mask paths; a UserError names the first image without a mask."""
    names = require_dir(images_dir, "images directory")
    require_dir(masks_dir, "masks directory")
    images, masks = [], []
    for name in names:
        try:
            mask_name = mask_name_for(name, image_prefix, mask_prefix)
        except ValueError as err:
            raise UserError(str(err)) from None
        mask_path = os.path.join(masks_dir, mask_name)
        if not os.path.isfile(mask_path):
            raise UserError(f"image {name} has no mask {mask_name} in {masks_dir}")
        images.append(os.path.join(images_dir, name))
        masks.append(mask_path)
    return images, masks


def split_dirs(cfg, mode: str) -> Tuple[str, str]:
    """(images_dir, masks_dir) of the 'train' or 'val' split."""
    split = {"train": cfg.DATASET.TRAIN, "val": cfg.DATASET.VAL}[mode]
    return split.IMAGES_PATH, split.MASK_PATH


def list_split_pairs(cfg, mode: str) -> Tuple[List[str], List[str]]:
    """The 'train' or 'val' pairs; with DATASET.NUM_FOLDS > 1, fold DATASET.FOLD of the TRAIN volumes is 'val'.

    A 2D kind (data=images) pairs the user's own files as they come (its split_pairs); the others
    read the prepared slices, which must have the network's input shape.
    """
    num_folds, fold = cfg.DATASET.NUM_FOLDS, cfg.DATASET.FOLD
    check_fold(fold, num_folds)
    kind = dataset_kind(cfg)
    if not kind.volumetric:
        pairs = kind.split_pairs(cfg, mode)
        return [image for _, image, _ in pairs], [mask for _, _, mask in pairs]
    prefixes = cfg.DATA_PREPARATION
    if num_folds > 1:
        images, masks = list_pairs(*split_dirs(cfg, "train"), prefixes.IMAGE_PREFIX, prefixes.MASK_PREFIX)
        split = dataset_kind(cfg).case_split
        images, masks = fold_split(images, masks, fold, num_folds, held_out=mode == "val",
                                   case_split=None if split is None else functools.partial(split, cfg))
    else:
        images, masks = list_pairs(*split_dirs(cfg, mode), prefixes.IMAGE_PREFIX, prefixes.MASK_PREFIX)
    check_input_shapes(images, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS)
    return images, masks


def check_input_shapes(image_paths: List[str], height: int, width: int, channels: int, trained: bool = False) -> None:
    """Every prepared slice has the network's input shape; else one UserError naming the first that does not.

    Slices prepared with DATA_PREPARATION.RESIZE=False keep their CT's size, and slices prepared for
    another INPUT.CHANNELS would be converted silently by the reader: both are caught here, before
    the first epoch or batch, rather than as a shape traceback. `trained`: the network exists, so
    its INPUT cannot change and the slices must.
    """
    for path in image_paths:
        found_height, found_width, found_channels = png_shape(path)
        if (found_height, found_width) != (height, width):
            other = "" if trained else f" or set INPUT.HEIGHT={found_height} INPUT.WIDTH={found_width}"
            raise UserError(f"{path} is {found_height}x{found_width}, the network's input (INPUT) is {height}x{width}: "
                            f"prepare the slices at that size (DATA_PREPARATION.RESIZE=True){other}")
        if found_channels != channels:
            other = "" if trained else f" or set INPUT.CHANNELS={found_channels}"
            raise UserError(f"{path} has {found_channels} channel(s), INPUT.CHANNELS is {channels}: prepare the slices "
                            f"with INPUT.CHANNELS={channels}{other}")


def check_mask_files(mask_paths: Sequence[str], label_count: int, workers: int = 8) -> None:
    """Every mask's labels are below label_count (len(DATASET.CLASSES)); else one UserError naming the first
    file that is not. For the DALI generator, which would clamp such labels silently inside its pipeline;
    the TF generator checks each mask as it reads it (data_sets.labels.to_class_labels).
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:   # OpenCV decodes outside the GIL
        for path, mask in zip(mask_paths, pool.map(read_mask, mask_paths)):
            to_class_labels(mask, label_count, label_count, path)
