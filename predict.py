"""Predict masks with a trained UNet3+: CT volumes in, mask volumes out; or prepared PNG slices.

    python predict.py PREDICTION.VOLUMES=data/raw/val/volume-3.nii.gz     # one CT, a directory, or a list
    python predict.py 'PREDICTION.VOLUMES=[ct/a.nii,ct/b.nii.gz]' PREDICTION.POSTPROCESS=True
    python predict.py                                                     # every PNG in PREDICTION.IMAGES_PATH
    python predict.py 'PREDICTION.IMAGE_NAMES=[image_3_0010.png,image_3_0011.png]'
    python predict.py PREDICTION.VOLUMES=ct/ INFERENCE.BACKEND=onnxruntime:int8   # the fast CPU path
    python predict.py PREDICTION.VOLUMES=dicom/study/                       # DICOM CT series -> DICOM SEG

With PREDICTION.VOLUMES each CT (any orientation, .nii or .nii.gz, or a DICOM series: a folder of
slices in any order and with any file names, searched recursively, one series per SeriesInstanceUID)
is windowed, sliced and resized in memory, and segmentation-N.nii.gz (labels 0 background,
1 liver, 2 tumour) is written to PREDICTION.RESULTS_PATH on the CT's own grid, affine and header,
with a figure of axial and coronal views beside it. A DICOM series gets
series<SeriesNumber>-<pseudonym>_segmentation.dcm, a DICOM SEG over its slices with one segment per
class (PREDICTION.OUTPUT_FORMAT: auto, nifti, dicom_seg or both). Without PREDICTION.VOLUMES, one
label PNG per prepared image and a figure `predictions.png`.

With data=images (your own pictures):

    python predict.py data=images PREDICTION.IMAGES=photos/      # a folder, one file, or a list of them

writes <stem>.png per image to PREDICTION.RESULTS_PATH: a label mask (pixel value = class index of
DATASET.CLASSES) at the image's own size, plus predictions.png (image / prediction / overlay rows with
a class legend). No masks are needed; an output never replaces an input file.
"""
import os

import app.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)

from typing import Dict, List

import matplotlib.pyplot as plt
from omegaconf import DictConfig, ListConfig

from data_generators.dataset_files import check_input_shapes
from data_sets import images
from data_sets.kinds import class_setup, dataset_kind
from deploy.backends import inference_backend, inference_batch_size, inference_settings
from inference.images import predict_pictures
from inference.roi import roi_settings
from inference.slices import figure_rows, predict_images, prediction_file_name, select_images, slice_masks
from inference.volume import check_inputs_kept, check_output_format, segment_ct_files
from run_dirs.loading import load_trained_model
from app.cli import hydra_app
from utils.errors import UserError, WriteError
from utils.files import refuse_overwrite
from data_sets.image_files import write_png
from app.paths import require_paths
from figures.plots import plot_rows
from volumes.slices import image_settings, inference_slice_settings, picture_settings


def _paths(value) -> object:
    """PREDICTION.VOLUMES / IMAGES as the finders take them: a list, or one file or folder."""
    return list(value) if isinstance(value, ListConfig) else str(value)


def _figure_rows(cfg: DictConfig) -> int:
    rows = cfg.PREDICTION.MAX_FIGURE_ROWS
    if rows < 0:
        raise UserError(f"PREDICTION.MAX_FIGURE_ROWS must be 0 (no figure) or more, got {rows}")
    return rows


def _write_mask(path: str, labels, written_before: int) -> None:
    """write_png; a write error also says how many masks before this one are complete."""
    try:
        write_png(path, labels)
    except WriteError as err:
        raise WriteError(f"{err}; the {written_before} mask(s) written before it are complete") from None


def predict_volumes(cfg: DictConfig) -> List[Dict]:
    """Volume mode: a mask (NIfTI and/or DICOM SEG) and a figure per CT in PREDICTION.VOLUMES."""
    volumes = cfg.PREDICTION.VOLUMES
    kind = dataset_kind(cfg)
    files = kind.prediction_inputs(_paths(volumes))
    output_format = cfg.PREDICTION.OUTPUT_FORMAT
    check_output_format(output_format, files)   # before the model is loaded
    settings = inference_slice_settings(cfg)
    out_dir = cfg.PREDICTION.RESULTS_PATH
    check_inputs_kept(files, out_dir, kind.output_name)   # before the model is loaded; segment_ct_files checks again
    with inference_backend(inference_settings(cfg), load_trained_model(cfg)) as predict_fn:
        written = segment_ct_files(files, predict_fn, settings, inference_batch_size(cfg), out_dir,
                                   cfg.PREDICTION.POSTPROCESS, roi=roi_settings(cfg), output_name=kind.output_name,
                                   output_format=output_format, class_names=class_setup(cfg).predicted_names)
    if not written:
        raise UserError(f"no CT volume could be segmented ({len(files)} skipped, see the warnings above)")
    print(f"{len(written)} of {len(files)} CT volume(s) segmented -> {out_dir} (segmentation + figure each)")
    return written


def predict_slices(cfg: DictConfig) -> List[Dict]:
    """Slice mode: a label PNG per prepared image and one figure."""
    names = list(cfg.PREDICTION.IMAGE_NAMES) if cfg.PREDICTION.IMAGE_NAMES is not None else None
    image_paths = select_images(cfg.PREDICTION.IMAGES_PATH, names)
    check_input_shapes(image_paths, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS, trained=True)
    rows = _figure_rows(cfg)
    out_dir = cfg.PREDICTION.RESULTS_PATH
    outputs = [os.path.join(out_dir, prediction_file_name(path)) for path in image_paths]
    refuse_overwrite([*outputs, os.path.join(out_dir, "predictions.png")],
                     {path: f"the input image {path}" for path in image_paths}, "PREDICTION.RESULTS_PATH")
    with inference_backend(inference_settings(cfg), load_trained_model(cfg)) as predict_fn:
        results = predict_images(image_paths, predict_fn, image_settings(cfg), cfg.HYPER_PARAMETERS.BATCH_SIZE,
                                 slice_masks(cfg))
    for count, result in enumerate(results):
        _write_mask(os.path.join(out_dir, prediction_file_name(result["path"])), result["prediction"], count)
    if not rows:
        print(f"{len(results)} predicted masks in {out_dir} (PREDICTION.MAX_FIGURE_ROWS=0: no figure)")
        return results
    shown = figure_rows(results, rows)
    figure_path = os.path.join(out_dir, "predictions.png")
    figure = plot_rows(shown, titles=[r["name"] for r in shown], out_path=figure_path,
                       center_channel=cfg.SHOW_CENTER_CHANNEL_IMAGE, class_names=list(cfg.DATASET.CLASSES))
    plt.close(figure)
    print(f"{len(results)} predicted masks in {out_dir}; figure: {figure_path}")
    return results


def predict_pictures_mode(cfg: DictConfig) -> List[Dict]:
    """data=images: a label PNG per picture at its own size, and one overlay figure."""
    paths = images.prediction_inputs(_paths(cfg.PREDICTION.IMAGES))
    rows = _figure_rows(cfg)
    out_dir = cfg.PREDICTION.RESULTS_PATH
    figure_path = os.path.join(out_dir, "predictions.png")
    outputs = images.picture_outputs(paths, out_dir, figure_path if rows else None)
    references = [folder for folder in (cfg.DATASET.TRAIN.MASK_PATH, cfg.DATASET.VAL.MASK_PATH) if folder]
    refuse_overwrite(outputs, {os.path.join(folder, name): f"the reference mask {os.path.join(folder, name)}"
                               for folder in references if os.path.isdir(folder) for name in os.listdir(folder)},
                     "PREDICTION.RESULTS_PATH")
    shown, written = [], []
    with inference_backend(inference_settings(cfg), load_trained_model(cfg)) as predict_fn:
        predictions = predict_pictures(paths, predict_fn, picture_settings(cfg), inference_batch_size(cfg))
        for predicted, output in zip(predictions, outputs):
            _write_mask(output, predicted.labels, len(written))
            written.append({"path": predicted.path, "prediction_path": output, "shape": predicted.labels.shape})
            if len(shown) < rows:
                shown.append({"image": predicted.picture, "prediction": predicted.labels,
                              "name": os.path.basename(predicted.path)})
    print(f"{len(written)} label mask(s) (<name>.png, value = class index of {', '.join(cfg.DATASET.CLASSES)}) "
          f"at each image's own size in {out_dir}")
    if shown:
        figure = plot_rows(shown, titles=[r["name"] for r in shown], out_path=figure_path,
                           center_channel=cfg.SHOW_CENTER_CHANNEL_IMAGE,
                           class_names=class_setup(cfg).predicted_names)
        plt.close(figure)
        print(f"figure: {figure_path}")
    return written


def predict(cfg: DictConfig) -> List[Dict]:
    require_paths(cfg, write_dirs=["PREDICTION.RESULTS_PATH"])
    if cfg.PREDICTION.IMAGES is not None:
        if cfg.PREDICTION.VOLUMES is not None:
            raise UserError("PREDICTION.IMAGES and PREDICTION.VOLUMES are both set: predict pictures or CT volumes, "
                            "one at a time")
        return predict_pictures_mode(cfg)
    if not dataset_kind(cfg).volumetric:
        raise UserError(f"this run is data={cfg.DATASET.KIND}: name the pictures to segment with "
                        f"PREDICTION.IMAGES=<image file, folder or list>")
    volumes = cfg.PREDICTION.VOLUMES
    if volumes is not None and not volumes:
        raise UserError("PREDICTION.VOLUMES is empty: give a CT file, a folder or a list of them, or leave it null "
                        "to predict the prepared PNG slices")
    return predict_volumes(cfg) if volumes else predict_slices(cfg)


main = hydra_app(predict, trained_run=True)   # cfg: RUN_DIR (default: the latest run) with its settings


if __name__ == "__main__":
    main()
