"""CT volume in, label volume out: slices, windows and resizes in memory, batched, no PNG step.

The network sees exactly the inputs preprocessing would have written (`volumes.slices.input_slice`),
and its probabilities go back to the CT's own grid before the argmax (`volumes.geometry`).
"""
import contextlib
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from data_generators.preprocessing import normalize_image
from inference.roi import RoiSettings, body_slices, min_foreground_pixels, predict_region
from app.choices import choose
from utils.errors import UserError, WriteError, warn
from utils.files import refuse_overwrite, sweep_partial_files
from figures.plots import plot_volume_views
from volumes.geometry import labels_on_grid
from data_sets.lits import output_name as lits_output_name
from volumes.dicom import read_seg_labels, save_seg
from volumes.nifti import check_ct_intensities, lits_number, load_segmentation, nifti_stem, save_labels
from volumes.postprocess import postprocess_labels
from volumes.slices import (CT, SliceSettings, display_slices, from_slicing_frame, input_slice, network_volume,
                            to_slicing_frame)
from volumes.sources import Source, input_files, is_channel_files, is_dicom, load_ct, source_files, source_name

# PREDICTION.OUTPUT_FORMAT: what is written per CT. auto = DICOM SEG for a DICOM series, NIfTI for a NIfTI file.
OUTPUT_FORMATS = ("auto", "nifti", "dicom_seg", "both")

PredictFn = Callable[[np.ndarray], np.ndarray]   # (B, h, w, C) float32 images -> (B, h, w, K) probabilities


class VolumePrediction(NamedTuple):
    labels: np.ndarray         # uint8 (x, y, z) on the CT's grid, RAS+
    model_labels: np.ndarray   # uint8 (h, w, z) on the network's grid, before any post-processing
    predicted: int = 0         # slices the network ran on (all of them without PREDICTION.ROI)


PHASES = ("read", "prepare", "infer", "to_ct_grid", "postprocess", "write")   # what `timings` dicts collect
PIPELINE_DEPTH = 2   # batches prepared ahead of the network, and batches waiting to go back to the CT grid


_TIMINGS_LOCK = threading.Lock()


@contextlib.contextmanager
def phase(timings: Optional[Dict], name: str):
    """Add the block's seconds to timings[name] (one of PHASES; threads add up, so phases can sum past
    the wall time); nothing when timings is None."""
    if timings is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        with _TIMINGS_LOCK:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


class _SlicePipeline:
    """Prepare, infer and bring back batches of slices with the three overlapping: two threads window and
    resize the next batches and resample the last ones onto the CT grid while the network runs (OpenCV,
    NumPy, TensorFlow and ONNX Runtime release the GIL). At most PIPELINE_DEPTH batches wait on each side,
    so memory beyond the CT and its label volume is a few batches."""

    def __init__(self, hu, predict_fn, settings, batch_size, labels, model_labels, progress, timings):
        self.hu, self.predict_fn, self.settings, self.timings = hu, predict_fn, settings, timings
        self.min_foreground = min_foreground_pixels(*model_labels.shape[:2])
        self.batch_size, self.progress = batch_size, progress
        self.labels, self.model_labels = labels, model_labels

    def _prepare(self, indices):
        with phase(self.timings, "prepare"):
            return self._images(indices)

    def _images(self, indices):
        images = normalize_image(np.stack([input_slice(self.hu, i, self.settings) for i in indices]),
                                 self.settings.normalize)
        padding = self.batch_size - len(indices)   # one shape for every call: one XLA compilation
        return np.concatenate([images, np.repeat(images[-1:], padding, axis=0)]) if padding else images

    def _store(self, indices, probabilities):
        """Labels of the batch on both grids; returns the indices whose slices hold foreground (`inference.roi`)."""
        with phase(self.timings, "to_ct_grid"):
            return self._labels(indices, probabilities)

    def _labels(self, indices, probabilities):
        model_labels = np.argmax(probabilities, axis=-1).astype(np.uint8)
        self.model_labels[:, :, indices] = np.moveaxis(model_labels, 0, -1)
        self.labels[:, :, indices] = np.moveaxis(labels_on_grid(probabilities, self.labels.shape[:2]), 0, -1)
        counts = np.count_nonzero(model_labels.reshape(len(indices), -1), axis=1)
        return [index for index, count in zip(indices, counts) if count >= self.min_foreground]

    def __call__(self, indices) -> Set[int]:
        """Predict these slices; returns those with foreground."""
        batches = [list(indices[i:i + self.batch_size]) for i in range(0, len(indices), self.batch_size)]
        foreground: Set[int] = set()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="slices") as pool:
            ahead = deque((batch, pool.submit(self._prepare, batch)) for batch in batches[:PIPELINE_DEPTH])
            waiting = deque()
            for next_batch in batches[PIPELINE_DEPTH:] + [None] * min(PIPELINE_DEPTH, len(batches)):
                batch, images = ahead.popleft()
                images = images.result()
                if next_batch is not None:
                    ahead.append((next_batch, pool.submit(self._prepare, next_batch)))
                with phase(self.timings, "infer"):
                    probabilities = np.asarray(self.predict_fn(images), dtype=np.float32)[:len(batch)]
                waiting.append(pool.submit(self._store, batch, probabilities))
                while len(waiting) > PIPELINE_DEPTH:
                    foreground.update(waiting.popleft().result())
                self.progress.update(len(batch))
            for stored in waiting:
                foreground.update(stored.result())
        return foreground


def predict_volume(hu: np.ndarray, predict_fn: PredictFn, settings: SliceSettings, batch_size: int,
                   postprocess: bool = False, description: str = None,
                   roi: Optional[RoiSettings] = None, timings: Optional[Dict] = None,
                   source=None) -> VolumePrediction:
    """Labels for the slices of an RAS+ volume as read (HU; (x, y, z, C) for several input files), on its own grid
    (RAS+) and on the network's (in the slicing frame of settings.orientation, which needs the volume's nibabel
    image `source`); `volumes.slices.network_volume` normalises it as preprocessing does.

    Every slice, or with `roi` (PREDICTION.ROI) those of the region of interest (`inference.roi`); the
    labels of a predicted slice are the same either way: the argmax of its probabilities resized to the CT grid.
    The last batch is padded to `batch_size` so every call has one shape (one XLA compilation).
    `timings` (a dict) collects seconds per phase (`phase`).
    """
    if settings.orientation != "ras" and source is None:
        raise ValueError(f"orientation {settings.orientation!r} needs the volume's source image")
    hu = to_slicing_frame(hu, source, settings.orientation)
    height, width, depth = hu.shape[:3]
    model_size = settings.size or (height, width)
    labels = np.zeros((height, width, depth), dtype=np.uint8)
    model_labels = np.zeros((*model_size, depth), dtype=np.uint8)
    with tqdm(total=depth, desc=description, unit="slice", leave=False, disable=description is None) as progress:
        pipeline = _SlicePipeline(network_volume(hu, settings, description or "volume"), predict_fn, settings,
                                  batch_size, labels, model_labels, progress, timings)
        if roi is None:
            pipeline(range(depth))
            predicted = depth
        else:
            predicted = len(predict_region(depth, body_slices(hu if hu.ndim == 3 else hu[..., 0]), roi, pipeline))
    labels = from_slicing_frame(labels, source, settings.orientation)
    if postprocess:
        with phase(timings, "postprocess"):
            labels = postprocess_labels(labels)
    return VolumePrediction(labels, model_labels, predicted)


OutputName = Callable[[str], str]   # an input CT's path -> its mask's file name (the data set kind's)


def output_formats(choice: str, source: Source) -> Tuple[str, ...]:
    """The formats written for one CT under PREDICTION.OUTPUT_FORMAT `choice` (checked by check_output_format)."""
    if choice == "auto":
        return ("dicom_seg",) if is_dicom(source) else ("nifti",)
    return ("nifti", "dicom_seg") if choice == "both" else (choice,)


def check_output_format(choice: str, sources: List[Source]) -> None:
    """PREDICTION.OUTPUT_FORMAT is one of OUTPUT_FORMATS, and a DICOM SEG is asked for DICOM input only."""
    choose("PREDICTION.OUTPUT_FORMAT", choice)
    if choice in ("dicom_seg", "both"):
        not_dicom = [source for source in sources if not is_dicom(source)]
        if not_dicom:
            raise UserError(f"PREDICTION.OUTPUT_FORMAT={choice} writes a DICOM SEG, which needs a DICOM series to lie "
                            f"over, but {not_dicom[0]} is NIfTI; use nifti or auto")


def output_file(name: str, output_format: str) -> str:
    """The file name of one output format from the kind's mask name: a DICOM SEG is `<stem>.dcm`."""
    return name if output_format == "nifti" else nifti_stem(name) + ".dcm"


def check_output_names(paths: List[Source], output_name: OutputName = lits_output_name) -> None:
    """Refuse inputs that would be written to one output file (`volume-3.nii` and `volume-3.nii.gz`, or
    two folders' `volume-1`, or one DICOM series found twice): the second mask would silently replace the first."""
    seen = {}
    for path in paths:
        name = output_name(path)
        shown = source_name(path) if is_dicom(path) else path[0] if is_channel_files(path) else path
        if name in seen:
            raise UserError(f"{seen[name]} and {shown} would both be written as {name}: segment them in two runs "
                            f"with different PREDICTION.RESULTS_PATH, or keep one")
        seen[name] = shown


def check_inputs_kept(paths: List[Source], out_dir: str, output_name: OutputName = lits_output_name,
                      key: str = "PREDICTION.RESULTS_PATH") -> None:
    """Refuse an out_dir where a mask would replace an input or pass for a reference segmentation.

    A predicted segmentation-N written beside a volume-N (the CT's own folder, or another LiTS folder)
    would replace its reference, or, where there is none, be read as one by evaluate.py.
    """
    inputs = {file: f"the CT {file}" for path in paths for file in source_files(path)}
    outputs = {path: [os.path.join(out_dir, output_file(output_name(path), format_)) for format_ in ("nifti", "dicom_seg")]
               for path in paths}
    refuse_overwrite([file for files in outputs.values() for file in files], inputs, key)
    if os.path.basename(os.path.normpath(out_dir)) in ("labelsTr", "labelsTs"):   # nnU-Net's references: <case>.nii.gz
        raise UserError(f"{key}={out_dir} is an nnU-Net labels folder: the masks would replace its reference "
                        f"segmentations; set {key} to another folder")
    for path, (output, _) in outputs.items():
        for kind, volume_kind in (("segmentation", "volume"), ("test-segmentation", "test-volume")):
            number = lits_number(output, kind)
            if number is None:
                continue
            ct = _lits_file(out_dir, volume_kind, number)
            if ct is not None:
                existing = reference_beside(ct) if kind == "segmentation" else None
                what = f"over {os.path.basename(existing)}, the reference" if existing else "as the reference"
                raise UserError(f"{key}={out_dir} holds {os.path.basename(ct)}: the mask of {source_name(path)} "
                                f"would be written {what} segmentation of that CT; set {key} to another folder")


def reference_beside(volume_path: str) -> Optional[str]:
    """The LiTS segmentation-N file next to volume-N, or KiTS19's segmentation.nii.gz next to imaging.nii.gz, if
    there is one (shown in the figure)."""
    folder = os.path.dirname(volume_path)
    if os.path.basename(volume_path) == "imaging.nii.gz":
        path = os.path.join(folder, "segmentation.nii.gz")
        return path if os.path.isfile(path) else None
    number = lits_number(volume_path)
    return None if number is None else _lits_file(folder, "segmentation", number)


def _lits_file(folder: str, kind: str, number: str) -> Optional[str]:
    """The LiTS `<kind>-<number>` NIfTI file in folder, in any case (`Segmentation-7.NII`) and zero padding."""
    if not os.path.isdir(folder):
        return None
    for name in sorted(os.listdir(folder)):
        found = lits_number(name, kind)
        if found is not None and int(found) == int(number) and os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def _read_ct(path: Source, timings: Optional[Dict], settings: SliceSettings):
    """The CT (or a case's channel files) as a Volume, or the UserError that makes it unusable (raised in the
    reading thread, reported in order)."""
    with phase(timings, "read"):
        try:
            files = input_files(path)
            if files != len(settings.normalisation):
                raise UserError(f"{source_name(path)}: {files} input file(s) per case, but the network was trained on "
                                f"{len(settings.normalisation)} channels (DATASET.CHANNEL_NAMES)")
            volume = load_ct(path)
            check_ct_intensities(volume, [kind == CT for kind in settings.normalisation])
            return volume
        except UserError as err:
            return err
            return volume
        except UserError as err:
            return err


def _write_ct(path: Source, volume, labels: np.ndarray, settings: SliceSettings, out_dir: str, figures: bool,
              timings: Optional[Dict], output_name: OutputName, output_format: str,
              class_names: Optional[Sequence[str]]) -> Dict:
    with phase(timings, "write"):
        outputs = []
        for format_ in output_formats(output_format, path):
            out_path = os.path.join(out_dir, output_file(output_name(path), format_))
            outputs.append(save_seg(labels, volume, out_path, class_names) if format_ == "dicom_seg"
                           else save_labels(labels, volume, out_path))
        figure_path = None
        if figures:
            figure_path = os.path.join(out_dir, nifti_stem(outputs[0]) + ".png")
            truth = reference_labels(path, volume, class_names, settings.label_count)
            try:
                _save_figure(volume, labels, settings, figure_path, truth)
            except WriteError as err:
                raise WriteError(f"{err} (its mask {', '.join(outputs)} is complete)", err.path, err.reason) from None
    return {"input": path, "output": outputs[0], "outputs": outputs, "figure": figure_path}


def segment_ct_files(paths: List[Source], predict_fn: PredictFn, settings: SliceSettings, batch_size: int,
                     out_dir: str, postprocess: bool = False,
                     figures: bool = True, roi: Optional[RoiSettings] = None,
                     timings: Optional[Dict] = None, output_name: OutputName = lits_output_name,
                     output_format: str = "auto", class_names: Optional[Sequence[str]] = None) -> List[Dict]:
    """Write a mask (NIfTI and/or DICOM SEG, see output_formats) and a figure into out_dir for each CT.

    paths: NIfTI files and DICOM series (`volumes.sources.find_ct_sources`); bad ones are warned about
    and skipped. class_names (the network's outputs, label value = index) name a DICOM SEG's segments.
    The next CT is read and the last mask written in threads while the network runs on this one.
    Returns one dict per written volume: 'input', 'output' (the first file written), 'outputs' and
    'figure' (or None). The labels are not kept: a directory of 70 LiTS test CTs would hold ~7 GB of
    them. `timings` (a dict) collects seconds per phase (`phase`).
    """
    check_output_format(output_format, paths)
    if class_names is None and any("dicom_seg" in output_formats(output_format, path) for path in paths):
        raise ValueError("class_names are needed to write a DICOM SEG")
    check_output_names(paths, output_name)
    check_inputs_kept(paths, out_dir, output_name)
    sweep_partial_files(out_dir)
    written, writing = [], None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read") as reader, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="write") as writer:
        reading = reader.submit(_read_ct, paths[0], timings, settings) if paths else None
        for position, path in enumerate(tqdm(paths, desc="CT volumes", unit="volume")):
            volume = reading.result()
            if position + 1 < len(paths):
                reading = reader.submit(_read_ct, paths[position + 1], timings, settings)
            if isinstance(volume, UserError):
                warn(f"skipped: {volume}")
                continue
            labels = predict_volume(volume.data, predict_fn, settings, batch_size, postprocess,
                                    description=volume.name, roi=roi, timings=timings, source=volume.source).labels
            if writing is not None:
                written.append(_written(writing, written))   # one mask in flight: memory for two label volumes at most
            writing = writer.submit(_write_ct, path, volume, labels, settings, out_dir, figures, timings, output_name,
                                    output_format, class_names)
        if writing is not None:
            written.append(_written(writing, written))
    return written


def _written(writing, written: List[Dict]) -> Dict:
    """The result of a mask's write; a failed write (disk full) says which masks before it are complete."""
    try:
        return writing.result()
    except WriteError as err:
        raise WriteError(f"{err}; the {len(written)} mask(s) written before it are complete", err.path,
                         err.reason) from None


def reference_labels(source: Source, volume, class_names: Optional[Sequence[str]],
                     label_count: int) -> Optional[np.ndarray]:
    """The reference shown as truth in the figure, or None: LiTS's segmentation-N beside volume-N, or the
    DICOM SEG found with a series (`volumes.dicom.find_series`). One warning line when it cannot be used."""
    try:
        if is_dicom(source):
            if source.reference and class_names:
                return read_seg_labels(source.reference, volume, class_names)
            return None
        reference = reference_beside(volume.path)
        return load_segmentation(reference, volume, label_count).data if reference else None
    except UserError as err:
        warn(f"not shown as ground truth: {err}")
        return None


def _save_figure(volume, labels: np.ndarray, settings: SliceSettings, out_path: str,
                 truth: Optional[np.ndarray] = None) -> None:
    """Axial and coronal views of CT, truth (when a reference was found, `reference_labels`) and prediction."""
    shown, display = display_slices(volume.data, settings, volume.name)
    figure = plot_volume_views(shown, labels, truth, volume.spacing, title=volume.name, out_path=out_path,
                               display=display, image_name="CT" if settings.normalisation[0] == CT else "image")
    plt.close(figure)
