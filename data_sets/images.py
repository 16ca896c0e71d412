"""data=images: the user's picture folders as they come, no preparation step.

Images (JPG/PNG/BMP/TIFF, any case of extension, RGB or grayscale, any size) pair with their masks
by file stem: `photo 1.jpg` with `photo 1<DATASET.MASK_SUFFIX>.png` (or any image extension). A
mask holds the class index of each pixel (8-bit grayscale), or 0/255 with DATASET.BINARY_MASKS.
The generators resize both to the network's input at load (data_generators); scores and
predictions are made at each image's own size (evaluation/images.py, inference/images.py).

Everything the generators would otherwise trip over mid-epoch is refused here, in one pass before
training, one line naming the file: an image without a mask, an image and mask of different sizes,
a mask value beyond DATASET.CLASSES, a colour or 16-bit mask, a non-binary mask under BINARY_MASKS.
"""
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

from data_sets.labels import mask_labels
from utils.errors import UserError
from utils.files import refuse_overwrite

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
OUTPUT_EXTENSION = ".png"   # predicted label masks: lossless, so the values are the class indices

Pair = Tuple[str, str, str]   # (stem, image path, mask path)


def is_image_file(name: str) -> bool:
    """A picture this kind reads: one of IMAGE_EXTENSIONS in any case; hidden files (._x.jpg) never count."""
    base = os.path.basename(name)
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in IMAGE_EXTENSIONS


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def image_files(folder: Optional[str], key: str) -> List[str]:
    """Sorted names of the image files in the folder named by config `key`; one line if there are none."""
    if not folder:
        raise UserError(f"{key} is not set: data=images reads your folders, e.g. {key}=path/to/folder")
    if not os.path.isdir(folder):
        raise UserError(f"{key}: folder not found: {folder}")
    names = sorted(name for name in os.listdir(folder)
                   if is_image_file(name) and os.path.isfile(os.path.join(folder, name)))
    if not names:
        raise UserError(f"{key}={folder} holds no image files ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)})")
    return names


def _by_stem(names: Sequence[str], folder: str, key: str, suffix: str = "") -> Tuple[Dict[str, str], List[str]]:
    """stem (the suffix taken off) -> name, and the names that lack the suffix; two files of one stem are refused."""
    table, unmatched = {}, []
    for name in names:
        base = stem(name)
        if suffix:
            if not base.endswith(suffix):
                unmatched.append(name)
                continue
            base = base[:-len(suffix)]
        if base in table:
            raise UserError(f"{key}: {table[base]} and {name} in {folder} have the same name apart from the "
                            f"extension: rename or remove one (images and masks pair by name)")
        table[base] = name
    return table, unmatched


def find_pairs(images_dir: Optional[str], masks_dir: Optional[str], mask_suffix: str = "",
               images_key: str = "images folder", masks_key: str = "masks folder") -> List[Pair]:
    """(stem, image path, mask path) of every image in images_dir, sorted by stem.

    An image without a mask is refused (the first few named); a mask without an image is only
    warned about (an extra mask harms nothing). Images and masks may share one folder when the
    masks carry a suffix.
    """
    image_names = image_files(images_dir, images_key)
    mask_names = image_files(masks_dir, masks_key)
    same_folder = os.path.abspath(images_dir) == os.path.abspath(masks_dir)
    if same_folder and not mask_suffix:
        raise UserError(f"{images_key} and {masks_key} are one folder ({images_dir}): give the masks a suffix "
                        f"(DATASET.MASK_SUFFIX, e.g. _mask) or keep them in a folder of their own")
    masks, unmatched = _by_stem(mask_names, masks_dir, masks_key, mask_suffix)
    if same_folder:
        image_names = [name for name in image_names if name in unmatched]
        unmatched = []
    images, _ = _by_stem(image_names, images_dir, images_key)
    missing = [images[s] for s in images if s not in masks]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        example = stem(missing[0]) + mask_suffix
        raise UserError(f"{len(missing)} image(s) in {images_dir} have no mask in {masks_dir}: {shown} "
                        f"(looked for {example}.png, .jpg, .bmp or .tif; a mask is named <image name>"
                        f"<DATASET.MASK_SUFFIX={mask_suffix!r}>)")
    orphans = [masks[s] for s in masks if s not in images] + unmatched
    if orphans:
        shown = ", ".join(orphans[:3]) + (f" and {len(orphans) - 3} more" if len(orphans) > 3 else "")
        print(f"warning: {len(orphans)} mask(s) in {masks_dir} have no image in {images_dir} and are not used: "
              f"{shown}", file=sys.stderr)
    return [(s, os.path.join(images_dir, images[s]), os.path.join(masks_dir, masks[s])) for s in sorted(images)]


def image_size(path: str) -> Tuple[int, int]:
    """(height, width) from the file's header (Pillow reads no pixels for this)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        raise UserError(f"cannot read image {path} (missing, corrupt or not an image)") from None
    return height, width


def read_mask_labels(path: str) -> np.ndarray:
    """A mask as an HxW uint8 array of its values: 8-bit grayscale, or colour whose channels agree."""
    mask = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise UserError(f"cannot read mask {path} (missing, corrupt or not an image)")
    if mask.dtype != np.uint8:
        raise UserError(f"mask {path} is {mask.dtype.itemsize * 8}-bit: save masks as 8-bit grayscale, "
                        f"pixel value = class index")
    if mask.ndim == 3:
        colour = mask[..., :3]
        if not ((colour == colour[..., :1]).all()):
            raise UserError(f"mask {path} is a colour image: a mask holds one class index per pixel "
                            f"(8-bit grayscale{'; JPEG is lossy, save masks as PNG' if _is_jpeg(path) else ''})")
        mask = colour[..., 0]
    return mask


def _is_jpeg(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in (".jpg", ".jpeg")


def mask_to_labels(mask: np.ndarray, path: str, label_count: int, binary: bool,
                   classes: Optional[int] = None) -> np.ndarray:
    """A mask's values as labels 0..label_count-1 (data_sets.labels.mask_labels): 0/255 -> 0/1 when binary;
    with `classes` (a network's outputs) the labels above classes-1 merged into it.

    A value outside the class list (or a grey level in a binary mask) is one line naming the file.
    """
    try:
        return mask_labels(mask, classes or label_count, label_count, binary, f"mask {path}")
    except UserError as err:
        hint = "; JPEG is lossy, save masks as PNG" if _is_jpeg(path) else \
            "" if binary or mask.max() != 255 else "; for 0/255 masks set DATASET.BINARY_MASKS=True"
        raise UserError(f"{err}{hint}") from None


def _check_pair(pair: Pair, label_count: int, binary: bool) -> None:
    _, image_path, mask_path = pair
    height, width = image_size(image_path)
    mask = read_mask_labels(mask_path)
    if mask.shape != (height, width):
        raise UserError(f"image {image_path} is {width}x{height} but its mask {mask_path} is "
                        f"{mask.shape[1]}x{mask.shape[0]} (width x height): a mask labels its image pixel by pixel")
    mask_to_labels(mask, mask_path, label_count, binary)


def check_pairs(pairs: Sequence[Pair], label_count: int, binary: bool, workers: int = 4) -> None:
    """Every pair readable, image and mask of one size, every mask value a class: one pass before
    training (both generators then read clean data), the first problem in name order as one line."""
    if binary and label_count != 2:
        raise UserError(f"DATASET.BINARY_MASKS=True reads masks as background/foreground, but DATASET.CLASSES names "
                        f"{label_count} classes: list two (e.g. [background, lesion]) or store class indices")
    with ThreadPoolExecutor(max(1, workers)) as pool:   # OpenCV and Pillow decode outside the GIL
        errors = list(pool.map(lambda pair: _pair_error(pair, label_count, binary), pairs))
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first


def _pair_error(pair: Pair, label_count: int, binary: bool) -> Optional[UserError]:
    try:
        _check_pair(pair, label_count, binary)
    except UserError as err:
        return err
    return None


def _validation_fraction(fraction, count: int) -> int:
    """How many of `count` training images DATASET.VAL_FRACTION holds out (at least one, never all)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise UserError(f"DATASET.VAL_FRACTION must be a number between 0 and 1 (exclusive), got {fraction!r}")
    held_out = max(1, int(round(count * fraction)))
    if held_out >= count:
        raise UserError(f"DATASET.VAL_FRACTION={fraction} of {count} image(s) leaves none to train on: "
                        f"add images, or give a validation folder (DATASET.VAL.IMAGES_PATH / MASK_PATH)")
    return held_out


def held_out(stems: Sequence[str], seed: int, *, fraction: Optional[float] = None, fold: int = 0,
             num_folds: int = 1) -> List[bool]:
    """Which of the (sorted) stems are validation images: a shuffled order drawn by `seed`, then the first
    `fraction` of it, or (num_folds > 1) every num_folds-th image from position `fold` on.

    Shuffled because pictures in a folder are often grouped (by class, by date); drawn from the sorted
    names, so the split depends on the seed and the file names only, never on listing order.
    """
    order = np.random.default_rng(seed).permutation(len(stems))
    position = np.empty(len(stems), dtype=np.int64)
    position[order] = np.arange(len(stems))
    if num_folds > 1:
        if len(stems) < num_folds:
            raise UserError(f"DATASET.NUM_FOLDS={num_folds} needs at least {num_folds} training images, "
                            f"found {len(stems)}")
        return [bool(p % num_folds == fold) for p in position]
    count = _validation_fraction(fraction, len(stems))
    return [bool(p < count) for p in position]


def split_pairs(cfg, split: str) -> List[Pair]:
    """The 'train' or 'val' pairs of the configured folders, checked (check_pairs).

    'val' is DATASET.VAL's folders when given; else (or with DATASET.NUM_FOLDS > 1, fold DATASET.FOLD)
    it is cut from DATASET.TRAIN's images by SEED, and 'train' is the rest.
    """
    dataset = cfg.DATASET
    suffix = str(dataset.MASK_SUFFIX or "")
    num_folds, fold = dataset.NUM_FOLDS, dataset.FOLD
    if split == "val" and num_folds == 1 and dataset.VAL.IMAGES_PATH:
        pairs = find_pairs(dataset.VAL.IMAGES_PATH, dataset.VAL.MASK_PATH, suffix,
                           "DATASET.VAL.IMAGES_PATH", "DATASET.VAL.MASK_PATH")
    else:
        pairs = find_pairs(dataset.TRAIN.IMAGES_PATH, dataset.TRAIN.MASK_PATH, suffix,
                           "DATASET.TRAIN.IMAGES_PATH", "DATASET.TRAIN.MASK_PATH")
        if num_folds > 1 or not dataset.VAL.IMAGES_PATH:
            validation = held_out([p[0] for p in pairs], cfg.SEED, fraction=dataset.VAL_FRACTION, fold=fold,
                                  num_folds=num_folds)
            pairs = [p for p, v in zip(pairs, validation) if v == (split == "val")]
    check_pairs(pairs, len(dataset.CLASSES), bool(dataset.BINARY_MASKS), workers=os.cpu_count() or 1)
    return pairs


def prediction_inputs(inputs: Union[str, Sequence[str]]) -> List[str]:
    """PREDICTION.IMAGES (a file, a folder or a list of them) as image file paths, in the order given."""
    entries = [inputs] if isinstance(inputs, str) else list(inputs)
    if not entries:
        raise UserError("PREDICTION.IMAGES is empty: give an image file, a folder or a list of them")
    paths = []
    for entry in entries:
        entry = str(entry)
        if os.path.isdir(entry):
            paths += [os.path.join(entry, name) for name in image_files(entry, "PREDICTION.IMAGES")]
        elif os.path.isfile(entry):
            if not is_image_file(entry):
                raise UserError(f"PREDICTION.IMAGES: {entry} is not an image file "
                                f"({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)})")
            paths.append(entry)
        else:
            raise UserError(f"PREDICTION.IMAGES: not found: {entry}")
    return paths


def output_name(image_path: str) -> str:
    """`<stem>.png`: the predicted label mask of `<stem>.<any extension>`, values = class indices."""
    return stem(image_path) + OUTPUT_EXTENSION


def picture_outputs(paths: List[str], out_dir: str, figure_path: Optional[str]) -> List[str]:
    """The label PNG of each picture in out_dir; one line, and nothing written, when two pictures would share one
    (photo.jpg and photo.png) or an output would replace an input file or the figure."""
    outputs = [os.path.join(out_dir, output_name(path)) for path in paths]
    seen = {}
    for path, output in zip(paths, outputs):
        if output in seen:
            raise UserError(f"PREDICTION.IMAGES holds {seen[output]} and {path}: both would be predicted as "
                            f"{os.path.basename(output)}; predict them into separate PREDICTION.RESULTS_PATH folders")
        seen[output] = path
    if figure_path in seen:
        raise UserError(f"{seen[figure_path]} would be predicted as {os.path.basename(figure_path)}, the name of the "
                        f"figure: rename it or set PREDICTION.MAX_FIGURE_ROWS=0")
    refuse_overwrite([*outputs, *([figure_path] if figure_path else [])],
                     {path: f"the input image {path}" for path in paths}, "PREDICTION.RESULTS_PATH")
    return outputs
