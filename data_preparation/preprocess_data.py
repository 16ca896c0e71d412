"""Turn LiTS CT volumes (NIfTI) into the PNG slices the generators read.

    python data_preparation/preprocess_data.py
    python data_preparation/preprocess_data.py INPUT.CHANNELS=1 DATA_PREPARATION.WORKERS=8

For every volume-N / segmentation-N pair in DATA_PREPARATION.SCANS_{TRAIN,VAL}_DATA_PATH it
writes `image_N_SSSS.png` (HU windowed to 0-255; 1 slice, or slices i-1, i, i+1 as channels) and
`mask_N_SSSS.png` (raw labels 0/1/2) into DATASET.{TRAIN,VAL}.{IMAGES_PATH,MASK_PATH}. A corrupt
volume is reported and skipped; the others are still written.
"""
import glob
import os
import re
import shutil
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import List, NamedTuple, Optional, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import cv2  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from tqdm import tqdm  # noqa: E402

from utils.cli import hydra_app  # noqa: E402
from utils.config import positive_int, validate_config  # noqa: E402
from utils.errors import UserError  # noqa: E402
from utils.images import write_png  # noqa: E402
from utils.labels import LABEL_MAX  # noqa: E402
from utils.naming import slice_file_name  # noqa: E402

_VOLUME_FILE = re.compile(r"^volume-(\d+)\.nii(\.gz)?$")
_NIFTI_EXTENSIONS = (".nii", ".nii.gz")
# What reading a damaged or mismatched volume raises; anything else is a bug and should surface.
VOLUME_ERRORS = (UserError, OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError,
                 nib.spatialimages.HeaderDataError)


class SliceSettings(NamedTuple):
    """What turns a volume into PNGs; a plain tuple so worker processes can receive it."""
    hu_min: float
    hu_max: float
    size: Optional[Tuple[int, int]]   # (height, width), None to keep the scan's size
    slices_per_image: int
    stride: int
    image_prefix: str
    mask_prefix: str


class VolumeTask(NamedTuple):
    volume_id: int
    volume_path: str
    segmentation_path: str
    images_dir: str
    masks_dir: str
    skip_empty: bool
    settings: SliceSettings


class VolumeResult(NamedTuple):
    volume_id: int
    file_name: str
    slices: int
    error: Optional[str]


def find_volume_pairs(directory: str, what: str = "scans directory") -> List[Tuple[int, str, str]]:
    """(volume_id, volume_path, segmentation_path) of every LiTS pair in directory, sorted by id."""
    if not os.path.isdir(directory):
        raise UserError(f"{what} not found: {directory}")
    volumes = {}
    for name in sorted(os.listdir(directory)):
        match = _VOLUME_FILE.match(name)
        if not match:
            continue
        volume_id = int(match.group(1))
        if volume_id in volumes:
            raise UserError(f"volume {volume_id} is there twice ({os.path.basename(volumes[volume_id])} and "
                            f"{name}) in {directory}")
        volumes[volume_id] = os.path.join(directory, name)
    if not volumes:
        raise UserError(f"{what} holds no volume-N.nii(.gz) files: {directory}")
    return [(volume_id, volumes[volume_id], _segmentation_path(volumes[volume_id], volume_id))
            for volume_id in sorted(volumes)]


def _segmentation_path(volume_path: str, volume_id: int) -> str:
    directory = os.path.dirname(volume_path)
    for extension in _NIFTI_EXTENSIONS:
        path = os.path.join(directory, f"segmentation-{volume_id}{extension}")
        if os.path.isfile(path):
            return path
    raise UserError(f"{os.path.basename(volume_path)} has no segmentation-{volume_id}.nii(.gz) in {directory}")


def window_and_scale(hu: np.ndarray, hu_min: float, hu_max: float) -> np.ndarray:
    """uint8 image: HU clipped to [hu_min, hu_max] and mapped linearly onto 0..255."""
    clipped = np.clip(np.asarray(hu, dtype=np.float32), hu_min, hu_max)
    return np.rint((clipped - hu_min) * (255.0 / (hu_max - hu_min))).astype(np.uint8)


def stack_neighbours(volume: np.ndarray, index: int, slices_per_image: int) -> np.ndarray:
    """HxW slice `index`, or HxWx3 slices (index-1, index, index+1), repeating the end slices at the edges.

    Neighbouring slices give the 2D network some of the 3D context a radiologist scrolls through.
    """
    if slices_per_image == 1:
        return volume[:, :, index]
    last = volume.shape[2] - 1
    return volume[:, :, [min(max(index + offset, 0), last) for offset in (-1, 0, 1)]]


def _read_nifti(path: str) -> np.ndarray:
    """The voxel array (in its stored dtype, memory-mapped where possible); UserError names a bad file."""
    try:
        return np.asanyarray(nib.load(path).dataobj)
    except VOLUME_ERRORS as err:
        reason = " ".join(str(err).split())
        raise UserError(f"{os.path.basename(path)} cannot be read: {reason}") from None


def load_pair(volume_path: str, segmentation_path: str) -> Tuple[np.ndarray, np.ndarray]:
    """HU volume and uint8 labels, checked to be 3D, of one shape, with labels in 0..2."""
    hu = _read_nifti(volume_path)
    labels = _read_nifti(segmentation_path)
    names = f"{os.path.basename(volume_path)} / {os.path.basename(segmentation_path)}"
    if hu.ndim != 3 or hu.shape != labels.shape:
        raise UserError(f"{names}: shapes {hu.shape} and {labels.shape} differ or are not 3D")
    labels = np.rint(labels).astype(np.uint8) if labels.dtype.kind == "f" else labels.astype(np.uint8)
    if labels.max() > LABEL_MAX:
        raise UserError(f"{os.path.basename(segmentation_path)} holds label {labels.max()}; LiTS labels are 0..2")
    return hu, labels


def selected_slices(labels: np.ndarray, stride: int, skip_empty: bool) -> List[int]:
    """Every stride-th slice index, without the slices that hold no liver when skip_empty."""
    indices = range(0, labels.shape[2], stride)
    return [i for i in indices if not skip_empty or labels[:, :, i].any()]


def _resize(array: np.ndarray, size: Optional[Tuple[int, int]], interpolation: int) -> np.ndarray:
    if size is None:
        return array
    height, width = size
    return cv2.resize(np.ascontiguousarray(array), (width, height), interpolation=interpolation)


def write_slices(hu, labels, indices, images_dir, masks_dir, volume_id, settings: SliceSettings) -> None:
    """One image PNG and one mask PNG per slice index."""
    for index in indices:
        image = window_and_scale(stack_neighbours(hu, index, settings.slices_per_image),
                                 settings.hu_min, settings.hu_max)
        write_png(os.path.join(images_dir, slice_file_name(settings.image_prefix, volume_id, index)),
                  _resize(image, settings.size, cv2.INTER_AREA))
        write_png(os.path.join(masks_dir, slice_file_name(settings.mask_prefix, volume_id, index)),
                  _resize(labels[:, :, index], settings.size, cv2.INTER_NEAREST))


def publish(partial_dir: str, out_dir: str, prefix: str, volume_id: int) -> None:
    """Move a volume's new PNGs into out_dir, then delete its slices a previous run left that are not new.

    Replacing before deleting means every slice name holds the old or the new PNG at any moment,
    and settings that select other slices (stride, skipping) leave no stale slices behind.
    """
    old = set(os.path.basename(p) for p in glob.glob(os.path.join(out_dir, f"{glob.escape(prefix)}_{volume_id}_*.png")))
    new = set(os.listdir(partial_dir))
    for name in new:
        os.replace(os.path.join(partial_dir, name), os.path.join(out_dir, name))
    for name in old - new:
        os.remove(os.path.join(out_dir, name))


def process_volume(task: VolumeTask) -> VolumeResult:
    """Write one volume's slices; a damaged volume comes back as an error instead of raising.

    PNGs go to hidden `.partial-N` folders first and are moved into place only once all are
    written, so a crash or a bad volume never leaves half a volume among the prepared slices.
    """
    name = os.path.basename(task.volume_path)
    partial_images = os.path.join(task.images_dir, f".partial-{task.volume_id}")
    partial_masks = os.path.join(task.masks_dir, f".partial-{task.volume_id}")
    try:
        hu, labels = load_pair(task.volume_path, task.segmentation_path)
        indices = selected_slices(labels, task.settings.stride, task.skip_empty)
        for directory in (partial_images, partial_masks):
            shutil.rmtree(directory, ignore_errors=True)
            os.makedirs(directory)
        write_slices(hu, labels, indices, partial_images, partial_masks, task.volume_id, task.settings)
        publish(partial_images, task.images_dir, task.settings.image_prefix, task.volume_id)
        publish(partial_masks, task.masks_dir, task.settings.mask_prefix, task.volume_id)
    except VOLUME_ERRORS as err:
        message = str(err)
        return VolumeResult(task.volume_id, name, 0, message if message.startswith(name) else f"{name}: {message}")
    finally:
        shutil.rmtree(partial_images, ignore_errors=True)
        shutil.rmtree(partial_masks, ignore_errors=True)
    return VolumeResult(task.volume_id, name, len(indices), None)


def run_tasks(tasks: List[VolumeTask], workers: int, description: str) -> List[VolumeResult]:
    """Results of process_volume for every task, sorted by volume id; a process pool when workers > 1.

    Workers are spawned rather than forked: forking a process that already runs TensorFlow or
    OpenCV threads can deadlock.
    """
    results = []
    with tqdm(total=len(tasks), desc=description, unit="volume") as progress:
        if workers == 1:
            for task in tasks:
                results.append(process_volume(task))
                progress.update()
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("spawn")) as pool:
                for future in as_completed([pool.submit(process_volume, task) for task in tasks]):
                    results.append(future.result())
                    progress.update()
    return sorted(results, key=lambda result: result.volume_id)


def slice_settings(cfg: DictConfig) -> SliceSettings:
    """The DATA_PREPARATION options, checked."""
    prep = cfg.DATA_PREPARATION
    if prep.SLICES_PER_IMAGE not in (1, 3):
        raise UserError(f"DATA_PREPARATION.SLICES_PER_IMAGE must be 1 or 3, got {prep.SLICES_PER_IMAGE}")
    size = None
    if prep.RESIZE:
        size = (positive_int(prep.RESIZED_HEIGHT, "DATA_PREPARATION.RESIZED_HEIGHT"),
                positive_int(prep.RESIZED_WIDTH, "DATA_PREPARATION.RESIZED_WIDTH"))
    return SliceSettings(float(prep.HU_WINDOW.MIN), float(prep.HU_WINDOW.MAX), size, prep.SLICES_PER_IMAGE,
                         positive_int(prep.SLICE_STRIDE, "DATA_PREPARATION.SLICE_STRIDE"),
                         prep.IMAGE_PREFIX, prep.MASK_PREFIX)


def split_tasks(cfg: DictConfig, settings: SliceSettings) -> dict:
    """{split: [VolumeTask]} for train and val, found before any work so a bad val folder fails fast."""
    prep = cfg.DATA_PREPARATION
    sources = {"train": (prep.SCANS_TRAIN_DATA_PATH, cfg.DATASET.TRAIN, "SCANS_TRAIN_DATA_PATH"),
               "val": (prep.SCANS_VAL_DATA_PATH, cfg.DATASET.VAL, "SCANS_VAL_DATA_PATH")}
    tasks = {}
    for split, (scans_dir, dataset, key) in sources.items():
        pairs = find_volume_pairs(scans_dir, f"{split} scans directory (DATA_PREPARATION.{key})")
        skip_empty = split == "train" and bool(prep.SKIP_TRAIN_SLICES_WITHOUT_LIVER)
        tasks[split] = [VolumeTask(volume_id, volume_path, segmentation_path, dataset.IMAGES_PATH,
                                   dataset.MASK_PATH, skip_empty, settings)
                        for volume_id, volume_path, segmentation_path in pairs]
    return tasks


def prepare_split(split: str, tasks: List[VolumeTask], workers: int) -> List[VolumeResult]:
    """Process one split's volumes, reporting each skipped one; UserError when none succeeded."""
    results = run_tasks(tasks, workers, f"{split} volumes")
    for result in results:
        if result.error:
            print(f"warning: skipped {result.error}", file=sys.stderr)
    if all(result.error for result in results):
        raise UserError(f"no {split} volume could be prepared ({len(results)} skipped, see the warnings above)")
    return results


def prepare_dataset(cfg: DictConfig) -> dict:
    """Prepare train then val; returns {'train': slices, 'val': slices, 'skipped': [volume file names]}."""
    settings = slice_settings(cfg)
    workers = positive_int(cfg.DATA_PREPARATION.WORKERS, "DATA_PREPARATION.WORKERS")
    counts = {"skipped": []}
    for split, tasks in split_tasks(cfg, settings).items():
        results = prepare_split(split, tasks, workers)
        done = [r for r in results if not r.error]
        counts[split] = sum(r.slices for r in done)
        counts["skipped"] += [r.file_name for r in results if r.error]
        print(f"{split}: {counts[split]} slices from {len(done)} volumes -> {tasks[0].images_dir}, "
              f"{tasks[0].masks_dir}")
    if counts["skipped"]:
        print(f"skipped {len(counts['skipped'])} volume(s): {', '.join(counts['skipped'])}")
    return counts


def prepare_checked_dataset(cfg: DictConfig) -> dict:
    """The command-line job: check the config, then prepare both splits."""
    validate_config(cfg)
    return prepare_dataset(cfg)


main = hydra_app(prepare_checked_dataset)


if __name__ == "__main__":
    main()
