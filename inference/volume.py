"""CT volume in, label volume out: slices, windows and resizes in memory, batched, no PNG step.

The network sees exactly the inputs preprocessing would have written (`volumes.slices.input_slice`),
and its probabilities go back to the CT's own grid before the argmax (`volumes.geometry`).
"""
import os
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from data_generators.preprocessing import normalize_image
from utils.errors import UserError
from utils.labels import CLASS_NAMES
from utils.visualize import plot_volume_views
from volumes.geometry import labels_from_probabilities
from volumes.dicom import save_seg
from volumes.nifti import (NIFTI_EXTENSIONS, SEGMENTATION_SUFFIX, check_ct_intensities, lits_number, load_segmentation,
                           nifti_stem, save_labels, warn)
from volumes.postprocess import postprocess_labels
from volumes.slices import SliceSettings, input_slice, window_and_scale
from volumes.sources import Source, is_dicom, load_ct, source_name

# PREDICTION.OUTPUT_FORMAT: what is written per CT. auto = DICOM SEG for a DICOM series, NIfTI for a NIfTI file.
OUTPUT_FORMATS = ("auto", "nifti", "dicom_seg", "both")
_EXTENSIONS = {"nifti": ".nii.gz", "dicom_seg": ".dcm"}

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


def output_formats(choice: str, source: Source) -> Tuple[str, ...]:
    """The formats written for one CT under PREDICTION.OUTPUT_FORMAT `choice` (checked by check_output_format)."""
    if choice == "auto":
        return ("dicom_seg",) if is_dicom(source) else ("nifti",)
    return ("nifti", "dicom_seg") if choice == "both" else (choice,)


def check_output_format(choice: str, sources: List[Source]) -> None:
    """PREDICTION.OUTPUT_FORMAT is one of OUTPUT_FORMATS, and a DICOM SEG is asked for DICOM input only."""
    if choice not in OUTPUT_FORMATS:
        raise UserError(f"PREDICTION.OUTPUT_FORMAT must be one of {', '.join(OUTPUT_FORMATS)}, got '{choice}'")
    if choice in ("dicom_seg", "both"):
        not_dicom = [source for source in sources if not is_dicom(source)]
        if not_dicom:
            raise UserError(f"PREDICTION.OUTPUT_FORMAT={choice} writes a DICOM SEG, which needs a DICOM series to lie "
                            f"over, but {not_dicom[0]} is NIfTI; use nifti or auto")


def output_name(volume_path: Source, output_format: str = "nifti") -> str:
    """segmentation-N.nii.gz for LiTS's volume-N; test-segmentation-N.nii for its test-volume-N (the name
    and uncompressed form LiTS's evaluation server reads); <name>_segmentation.nii.gz for other names;
    <series name>_segmentation.nii.gz or .dcm (a DICOM SEG) for a DICOM series."""
    if is_dicom(volume_path):
        return f"{volume_path.name}{SEGMENTATION_SUFFIX}{_EXTENSIONS[output_format]}"
    number = lits_number(volume_path)
    if number is not None:
        return f"segmentation-{number}.nii.gz"
    number = lits_number(volume_path, "test-volume")
    if number is not None:
        return f"test-segmentation-{number}.nii"
    return f"{nifti_stem(volume_path)}{SEGMENTATION_SUFFIX}.nii.gz"


def check_output_names(paths: List[Source]) -> None:
    """Refuse inputs that would be written to one output file (`volume-3.nii` and `volume-3.nii.gz`, or
    two folders' `volume-1`, or one DICOM series found twice): the second mask would silently replace the first."""
    seen = {}
    for path in paths:
        name = output_name(path)
        shown = source_name(path) if is_dicom(path) else path
        if name in seen:
            raise UserError(f"{seen[name]} and {shown} would both be written as {name}: segment them in two runs "
                            f"with different PREDICTION.RESULTS_PATH, or keep one")
        seen[name] = shown


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


def segment_ct_files(paths: List[Source], predict_fn: PredictFn, settings: SliceSettings, batch_size: int,
                     out_dir: str, normalize: bool = True, postprocess: bool = False,
                     figures: bool = True, output_format: str = "auto",
                     class_names: Sequence[str] = CLASS_NAMES) -> List[Dict]:
    """Write a mask (NIfTI and/or DICOM SEG, see output_formats) and a figure into out_dir for each CT.

    paths: NIfTI files and DICOM series (`volumes.sources.find_ct_sources`); bad ones are warned about
    and skipped. class_names (label value = index) name a DICOM SEG's segments. Returns one dict per
    written volume: 'input', 'output' (the first file written), 'outputs' and 'figure' (or None). The
    labels are not kept: a directory of 70 LiTS test CTs would hold ~7 GB of them.
    """
    check_output_format(output_format, paths)
    check_output_names(paths)
    written = []
    for path in tqdm(paths, desc="CT volumes", unit="volume"):
        try:
            volume = load_ct(path)
            check_ct_intensities(volume)
        except UserError as err:
            warn(f"skipped: {err}")
            continue
        labels = predict_volume(volume.data, predict_fn, settings, batch_size, normalize, postprocess,
                                description=volume.name).labels
        outputs = []
        for output_format_ in output_formats(output_format, path):
            out_path = os.path.join(out_dir, output_name(path, output_format_))
            outputs.append(save_seg(labels, volume, out_path, class_names) if output_format_ == "dicom_seg"
                           else save_labels(labels, volume, out_path))
        figure_path = None
        if figures:
            figure_path = os.path.join(out_dir, nifti_stem(outputs[0]) + ".png")
            _save_figure(volume, labels, settings, figure_path)
        written.append({"input": path, "output": outputs[0], "outputs": outputs, "figure": figure_path})
    return written


def _save_figure(volume, labels: np.ndarray, settings: SliceSettings, out_path: str) -> None:
    """Axial and coronal views of CT, truth (when a segmentation sits beside the CT) and prediction."""
    truth = None
    reference = reference_beside(volume.path) if volume.dicom is None else None
    if reference:
        try:
            truth = load_segmentation(reference, volume).data
        except UserError as err:
            warn(f"not shown as ground truth: {err}")
    figure = plot_volume_views(volume.data, labels, truth, volume.spacing, title=volume.name, out_path=out_path,
                               display=lambda plane: window_and_scale(plane, settings.hu_min, settings.hu_max))
    plt.close(figure)
