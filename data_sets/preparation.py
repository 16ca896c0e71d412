"""CT volumes (LiTS NIfTI, or DICOM series with a DICOM SEG) into the PNG slices the generators read: the
library behind data_preparation/preprocess_data.py, whose docstring (its --help) says what is written where.

Each volume is one task (VolumeTask, process_volume) run by a pool of workers; a volume that cannot be
read is one `warning:` line and skipped, and the prepared folders then hold exactly the volumes that
succeeded, recorded in their manifest.json (data_sets.manifest).
"""
import glob
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Iterable, List, NamedTuple, Optional

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from data_sets.manifest import write_manifest
from data_sets.kinds import apply_description, dataset_kind, prepared_splits
from app.config import positive_int, validate_config
from utils.errors import UserError, WriteError, warn
from utils.files import os_error_reason, sweep_partial_files
from data_sets.image_files import write_png
from data_sets.slice_names import CaseId, case_sort_key, parse_slice_name, slice_file_name
from app.paths import require_paths
from volumes.dicom import READ_ERRORS as DICOM_READ_ERRORS
from volumes.nifti import READ_ERRORS
from volumes.slices import (CT, SliceSettings, input_slice, label_slice, network_volume, slice_settings,
                            to_slicing_frame)
from volumes.sources import Source, load_pair, source_name

# What a volume can fail with and still leave the other volumes to be prepared.
VOLUME_ERRORS = (UserError, *READ_ERRORS, *DICOM_READ_ERRORS)


class VolumeTask(NamedTuple):
    """One volume's work; a plain tuple so worker processes can receive it."""
    volume_id: CaseId
    volume_path: Source          # a NIfTI file, a case's channel files (a tuple) or a DICOM series (volumes.sources)
    segmentation_path: str
    images_dir: str
    masks_dir: str
    skip_empty: bool
    stride: int
    image_prefix: str
    mask_prefix: str
    settings: SliceSettings
    class_names: tuple = ()      # DATASET.CLASSES (label value = index): places a DICOM SEG's segments


class VolumeResult(NamedTuple):
    volume_id: CaseId
    file_name: str
    slices: int
    error: Optional[str]                # bad data: this volume is skipped, the others go on
    write_error: Optional[str] = None   # the disk failed: the run stops, nothing is cleaned up


def selected_slices(labels: np.ndarray, stride: int, skip_empty: bool) -> List[int]:
    """Every stride-th slice index, without the slices that hold no liver when skip_empty."""
    indices = range(0, labels.shape[2], stride)
    return [i for i in indices if not skip_empty or labels[:, :, i].any()]


def write_slices(hu, labels, indices, images_dir, masks_dir, task: VolumeTask) -> None:
    """One image PNG and one mask PNG per slice index, on the network's grid."""
    for index in indices:
        write_png(os.path.join(images_dir, slice_file_name(task.image_prefix, task.volume_id, index)),
                  input_slice(hu, index, task.settings))
        write_png(os.path.join(masks_dir, slice_file_name(task.mask_prefix, task.volume_id, index)),
                  label_slice(labels, index, task.settings))


def publish(partial_dir: str, out_dir: str, prefix: str, volume_id: CaseId) -> None:
    """Move a volume's new PNGs into out_dir, then delete its slices a previous run left that are not new.

    Replacing before deleting means every slice name holds the old or the new PNG at any moment,
    and settings that select other slices (stride, skipping) leave no stale slices behind.
    """
    old = set(os.path.basename(p) for p in glob.glob(os.path.join(out_dir, f"{glob.escape(prefix)}_{volume_id}_*.png"))
              if parse_slice_name(p, prefix).volume == volume_id)   # not case `1_2`'s slices when publishing case `1`
    new = set(os.listdir(partial_dir))
    for name in new:
        os.replace(os.path.join(partial_dir, name), os.path.join(out_dir, name))
    for name in old - new:
        os.remove(os.path.join(out_dir, name))


def process_volume(task: VolumeTask) -> VolumeResult:
    """Write one volume's slices; a damaged volume comes back as an error instead of raising.

    PNGs go to hidden `.partial-N` folders first and are moved into place only once all are
    written, so a crash or a bad volume never leaves half a volume among the prepared slices.
    A failed write (disk full, I/O error) is not bad data: it comes back as `write_error`, and
    the run stops without cleaning anything up.
    """
    name = source_name(task.volume_path)
    partial_images = os.path.join(task.images_dir, f".partial-{task.volume_id}")
    partial_masks = os.path.join(task.masks_dir, f".partial-{task.volume_id}")
    try:
        volume, segmentation = load_pair(task.volume_path, task.segmentation_path, task.settings.label_count,
                                         task.class_names, [kind == CT for kind in task.settings.normalisation])
        data = network_volume(volume.data, task.settings, volume.name)   # HU as read, or z-scores (MR)
    except VOLUME_ERRORS as err:
        message = str(err)
        return VolumeResult(task.volume_id, name, 0, message if message.startswith(name) else f"{name}: {message}")
    orientation = task.settings.orientation   # both on the CT's grid: cut both in the CT's frame
    hu = to_slicing_frame(data, volume.source, orientation)
    labels = to_slicing_frame(segmentation.data, volume.source, orientation)
    indices = selected_slices(labels, task.stride, task.skip_empty)
    try:
        for directory in (partial_images, partial_masks):
            shutil.rmtree(directory, ignore_errors=True)
            os.makedirs(directory)
        write_slices(hu, labels, indices, partial_images, partial_masks, task)
        publish(partial_images, task.images_dir, task.image_prefix, task.volume_id)
        publish(partial_masks, task.masks_dir, task.mask_prefix, task.volume_id)
    except (WriteError, OSError) as err:
        reason = err.reason if isinstance(err, WriteError) else os_error_reason(err)
        folder = task.masks_dir if os.path.dirname(getattr(err, "path", "") or "") == partial_masks else task.images_dir
        return VolumeResult(task.volume_id, name, 0, None, f"cannot write the slices of {name} into {folder} ({reason})")
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
    return sorted(results, key=lambda result: case_sort_key(result.volume_id))




def split_tasks(cfg: DictConfig, settings: SliceSettings) -> dict:
    """{split: [VolumeTask]} for train and val, found before any work so a bad val folder fails fast."""
    prep = cfg.DATA_PREPARATION
    kind = dataset_kind(cfg)
    tasks = {}
    for split in prepared_splits(cfg):
        dataset = cfg.DATASET.TRAIN if split == "train" else cfg.DATASET.VAL
        pairs = kind.split_pairs(cfg, split)
        skip_empty = split == "train" and bool(prep.SKIP_TRAIN_SLICES_WITHOUT_LIVER)
        stride = positive_int(prep.SLICE_STRIDE, "DATA_PREPARATION.SLICE_STRIDE")
        tasks[split] = [VolumeTask(volume_id, volume_path, segmentation_path, dataset.IMAGES_PATH,
                                   dataset.MASK_PATH, skip_empty, stride, prep.IMAGE_PREFIX, prep.MASK_PREFIX, settings,
                                   tuple(cfg.DATASET.CLASSES))
                        for volume_id, volume_path, segmentation_path in pairs]
    shared = sorted({t.volume_id for t in tasks["train"]} & {t.volume_id for t in tasks.get("val", ())},
                    key=case_sort_key)
    if shared:
        listed = ", ".join(map(str, shared[:10])) + (" ..." if len(shared) > 10 else "")
        warn(f"volume(s) {listed} are in both the train and the val scans directories: validation would score "
             f"volumes the model trained on")
    return tasks


def prepare_split(split: str, tasks: List[VolumeTask], workers: int) -> List[VolumeResult]:
    """Process one split's volumes, reporting each skipped one; UserError when none succeeded."""
    results = run_tasks(tasks, workers, f"{split} volumes")
    failed = [result.write_error for result in results if result.write_error]
    if failed:
        raise WriteError(f"{failed[0]}; no slice was deleted: each prepared volume holds all the slices of this "
                         f"or of the previous preparation, none half-written (free space or fix the disk, then "
                         f"rerun preprocess_data.py)")
    for result in results:
        if result.error:
            warn(f"skipped {result.error}")
    if all(result.error for result in results):
        raise UserError(f"no {split} volume could be prepared ({len(results)} skipped, see the warnings above)")
    return results


def remove_other_volumes(directory: str, prefix: str, keep_ids) -> int:
    """Delete the slices of volumes that did not succeed in this run (removed, or failing now); returns how many.

    The prepared folder then mirrors exactly the latest run, so training never sees a stale volume.
    """
    removed = 0
    for path in slice_files(directory, prefix):
        try:
            volume_id = parse_slice_name(path, prefix).volume
        except ValueError:
            continue
        if volume_id not in keep_ids:
            os.remove(path)
            removed += 1
    return removed


def slice_files(directory: str, prefix: str) -> List[str]:
    """The prepared slices `<prefix>_N_SSSS.png` of every volume in directory."""
    return glob.glob(os.path.join(directory, f"{glob.escape(prefix)}_*.png"))


def sweep_leftovers(tasks: List[VolumeTask]) -> None:
    """Remove what a killed preparation left: `.partial-N` folders and `.tmp-PID-*` files of dead processes."""
    for folder in {d for task in tasks for d in (task.images_dir, task.masks_dir)}:
        if os.path.isdir(folder):
            sweep_partial_files(folder)
            for name in os.listdir(folder):
                if name.startswith(".partial-"):
                    shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def prepare_dataset(cfg: DictConfig) -> dict:
    """Prepare train then val; returns {'train': slices, 'val': slices, 'skipped': [volume file names]}.

    The counts are those on disk after the run, and equal what this run wrote. Each split's
    images folder gets a manifest.json (data_sets.manifest): `complete: false` before its
    first slice is replaced, the recipe and sources once the split is done.
    """
    settings = slice_settings(cfg)
    workers = positive_int(cfg.DATA_PREPARATION.WORKERS, "DATA_PREPARATION.WORKERS")
    counts, skipped = {"skipped": []}, []
    split_task_lists = split_tasks(cfg, settings)
    sweep_leftovers([t for tasks in split_task_lists.values() for t in tasks])
    for split, tasks in split_task_lists.items():
        write_manifest(cfg, split, tasks[0].images_dir, tasks[0].masks_dir, complete=False)
    for split, tasks in split_task_lists.items():
        results = prepare_split(split, tasks, workers)
        done = [r for r in results if not r.error]
        keep = {r.volume_id for r in done}
        task = tasks[0]
        stale = (remove_other_volumes(task.images_dir, task.image_prefix, keep)
                 + remove_other_volumes(task.masks_dir, task.mask_prefix, keep))
        counts[split] = len(slice_files(task.images_dir, task.image_prefix))
        written = sum(r.slices for r in done)
        if counts[split] != written or len(slice_files(task.masks_dir, task.mask_prefix)) != written:
            raise RuntimeError(f"{split}: {counts[split]} image files on disk, {written} written")
        counts["skipped"] += [r.file_name for r in results if r.error]
        skipped += [f"{r.file_name} ({split})" for r in results if r.error]
        sources = [(t.volume_path, t.segmentation_path) for t in tasks if t.volume_id in keep]
        write_manifest(cfg, split, task.images_dir, task.masks_dir, complete=True, sources=sources,
                       slices=counts[split], skipped=[r.error for r in results if r.error])
        print(f"{split}: {counts[split]} slices from {len(done)} volumes -> {task.images_dir}, {task.masks_dir}"
              + (f" ({stale} stale slice files of other volumes removed)" if stale else ""))
    if skipped:
        print(f"skipped {len(skipped)} volume(s): {', '.join(skipped)}")
    return counts


def prepare_checked_dataset(cfg: DictConfig, command_keys: Iterable[str] = ()) -> dict:
    """The command-line job (the config validated by hydra_app): the data set's own description (nnU-Net's
    dataset.json) applied and checked again, the output folders checked, then both splits prepared.
    command_keys: the keys the command line set, which the description does not override."""
    if apply_description(cfg, set(command_keys)):
        validate_config(cfg)
    require_paths(cfg, write_dirs=["DATASET.TRAIN.IMAGES_PATH", "DATASET.TRAIN.MASK_PATH",
                                   "DATASET.VAL.IMAGES_PATH", "DATASET.VAL.MASK_PATH"])
    return prepare_dataset(cfg)
