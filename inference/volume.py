"""CT volume in, label volume out: slices, windows and resizes in memory, batched, no PNG step.

The network sees exactly the inputs preprocessing would have written (`volumes.slices.input_slice`),
and its probabilities go back to the CT's own grid before the argmax (`volumes.geometry`).
"""
import os
from typing import Callable, Dict, List, NamedTuple, Optional

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from data_generators.preprocessing import normalize_image
from utils.errors import UserError, WriteError
from utils.files import refuse_overwrite, sweep_partial_files
from utils.visualize import plot_volume_views
from volumes.geometry import labels_from_probabilities
from volumes.nifti import (NIFTI_EXTENSIONS, SEGMENTATION_SUFFIX, check_ct_intensities, lits_number, load_segmentation,
                           load_volume, nifti_stem, save_labels, warn)
from volumes.postprocess import postprocess_labels
from volumes.slices import SliceSettings, input_slice, window_and_scale

PredictFn = Callable[[np.ndarray], np.ndarray]   # (B, h, w, C) float32 images -> (B, h, w, K) probabilities


class VolumePrediction(NamedTuple):
    labels: np.ndarray         # uint8 (x, y, z) on the CT's grid, RAS+
    model_labels: np.ndarray   # uint8 (h, w, z) on the network's grid, before any post-processing


def predict_volume(hu: np.ndarray, predict_fn: PredictFn, settings: SliceSettings, batch_size: int,
                   normalize: bool = True, postprocess: bool = False, description: str = None) -> VolumePrediction:
    """Labels for every slice of an RAS+ HU volume, on its own grid and on the network's.

    The last batch is padded to `batch_size` so every call has one shape (one XLA compilation).
    """
    height, width, depth = hu.shape
    model_size = settings.size or (height, width)
    labels = np.zeros((height, width, depth), dtype=np.uint8)
    model_labels = np.zeros((*model_size, depth), dtype=np.uint8)
    starts = range(0, depth, batch_size)
    for start in tqdm(starts, desc=description, unit="batch", leave=False, disable=description is None):
        indices = list(range(start, min(start + batch_size, depth)))
        images = normalize_image(np.stack([input_slice(hu, i, settings) for i in indices]), normalize)
        padding = batch_size - len(indices)
        if padding:
            images = np.concatenate([images, np.repeat(images[-1:], padding, axis=0)])
        probabilities = np.asarray(predict_fn(images))[:len(indices)]
        for index, slice_probabilities in zip(indices, probabilities):
            model_labels[:, :, index] = np.argmax(slice_probabilities, axis=-1)
            labels[:, :, index] = labels_from_probabilities(slice_probabilities, (height, width))
    if postprocess:
        labels = postprocess_labels(labels)
    return VolumePrediction(labels, model_labels)


def output_name(volume_path: str) -> str:
    """segmentation-N.nii.gz for LiTS's volume-N; test-segmentation-N.nii for its test-volume-N (the name
    and uncompressed form LiTS's evaluation server reads); <name>_segmentation.nii.gz for other names."""
    number = lits_number(volume_path)
    if number is not None:
        return f"segmentation-{number}.nii.gz"
    number = lits_number(volume_path, "test-volume")
    if number is not None:
        return f"test-segmentation-{number}.nii"
    return f"{nifti_stem(volume_path)}{SEGMENTATION_SUFFIX}.nii.gz"


def check_output_names(paths: List[str]) -> None:
    """Refuse inputs that would be written to one output file (`volume-3.nii` and `volume-3.nii.gz`, or
    two folders' `volume-1`): the second mask would silently replace the first."""
    seen = {}
    for path in paths:
        name = output_name(path)
        if name in seen:
            raise UserError(f"{seen[name]} and {path} would both be written as {name}: segment them in two runs "
                            f"with different PREDICTION.RESULTS_PATH, or keep one")
        seen[name] = path


def check_inputs_kept(paths: List[str], out_dir: str, key: str = "PREDICTION.RESULTS_PATH") -> None:
    """Refuse an out_dir where a mask would replace an input or pass for a reference segmentation.

    A predicted segmentation-N written beside a volume-N (the CT's own folder, or another LiTS folder)
    would replace its reference, or, where there is none, be read as one by evaluate.py.
    """
    outputs = {path: os.path.join(out_dir, output_name(path)) for path in paths}
    refuse_overwrite(outputs.values(), {path: f"the CT {path}" for path in paths}, key)
    for path, output in outputs.items():
        for kind, volume_kind in (("segmentation", "volume"), ("test-segmentation", "test-volume")):
            number = lits_number(output, kind)
            if number is None:
                continue
            beside = [os.path.join(out_dir, f"{volume_kind}-{number}{extension}") for extension in NIFTI_EXTENSIONS]
            ct = next((p for p in beside if os.path.isfile(p)), None)
            if ct is not None:
                existing = reference_beside(ct) if kind == "segmentation" else None
                what = f"over {os.path.basename(existing)}, the reference" if existing else "as the reference"
                raise UserError(f"{key}={out_dir} holds {os.path.basename(ct)}: the mask of {os.path.basename(path)} "
                                f"would be written {what} segmentation of that CT; set {key} to another folder")


def reference_beside(volume_path: str) -> Optional[str]:
    """The LiTS segmentation-N file next to volume-N, if there is one (shown in the figure)."""
    number = lits_number(volume_path)
    if number is None:
        return None
    for extension in NIFTI_EXTENSIONS:
        path = os.path.join(os.path.dirname(volume_path), f"segmentation-{number}{extension}")
        if os.path.isfile(path):
            return path
    return None


def segment_ct_files(paths: List[str], predict_fn: PredictFn, settings: SliceSettings, batch_size: int,
                     out_dir: str, normalize: bool = True, postprocess: bool = False,
                     figures: bool = True) -> List[Dict]:
    """Write a mask volume (and a figure) into out_dir for each CT file; bad files are warned about and skipped.

    Returns one dict per written volume: 'input', 'output' and 'figure' (or None). The labels are not
    kept: a directory of 70 LiTS test CTs would hold ~7 GB of them.
    """
    check_output_names(paths)
    check_inputs_kept(paths, out_dir)
    sweep_partial_files(out_dir)
    written = []
    for path in tqdm(paths, desc="CT volumes", unit="volume"):
        try:
            volume = load_volume(path)
            check_ct_intensities(volume)
        except UserError as err:
            warn(f"skipped: {err}")
            continue
        labels = predict_volume(volume.data, predict_fn, settings, batch_size, normalize, postprocess,
                                description=volume.name).labels
        try:
            output = save_labels(labels, volume, os.path.join(out_dir, output_name(path)))
            figure_path = None
            if figures:
                figure_path = os.path.join(out_dir, nifti_stem(output) + ".png")
                _save_figure(volume, labels, settings, figure_path)
        except WriteError as err:
            raise WriteError(f"{err}; the {len(written)} mask(s) written before it are complete") from None
        written.append({"input": path, "output": output, "figure": figure_path})
    return written


def _save_figure(volume, labels: np.ndarray, settings: SliceSettings, out_path: str) -> None:
    """Axial and coronal views of CT, truth (when a segmentation sits beside the CT) and prediction."""
    truth = None
    reference = reference_beside(volume.path)
    if reference:
        try:
            truth = load_segmentation(reference, volume).data
        except UserError as err:
            warn(f"not shown as ground truth: {err}")
    figure = plot_volume_views(volume.data, labels, truth, volume.spacing, title=volume.name, out_path=out_path,
                               display=lambda plane: window_and_scale(plane, settings.hu_min, settings.hu_max))
    plt.close(figure)
