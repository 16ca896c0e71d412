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
"""
import os

import utils.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)

from typing import Dict, List

import matplotlib.pyplot as plt
from omegaconf import DictConfig, ListConfig

from data_generators.dataset_files import check_input_shapes
from data_sets.kinds import class_setup, dataset_kind
from deploy.backends import inference_backend
from inference.roi import roi_settings
from inference.slices import figure_rows, predict_images, prediction_file_name, select_images
from inference.volume import check_output_format, segment_ct_files
from run_dirs.loading import load_trained_model
from run_dirs.run_dir import run_config
from utils.cli import hydra_app
from utils.errors import UserError
from utils.images import write_png
from utils.paths import require_paths
from utils.visualize import plot_rows
from volumes.slices import inference_slice_settings


def predict_volumes(cfg: DictConfig) -> List[Dict]:
    """Volume mode: a mask (NIfTI and/or DICOM SEG) and a figure per CT in PREDICTION.VOLUMES."""
    volumes = cfg.PREDICTION.VOLUMES
    kind = dataset_kind(cfg)
    files = kind.prediction_inputs(list(volumes) if isinstance(volumes, ListConfig) else str(volumes))
    output_format = cfg.PREDICTION.OUTPUT_FORMAT
    check_output_format(output_format, files)   # before the model is loaded
    settings = inference_slice_settings(cfg)
    out_dir = cfg.PREDICTION.RESULTS_PATH
    with inference_backend(cfg, load_trained_model(cfg)) as predict_fn:
        written = segment_ct_files(files, predict_fn, settings, cfg.HYPER_PARAMETERS.BATCH_SIZE, out_dir,
                                   cfg.PREPROCESS_DATA.NORMALIZE_IMAGE, cfg.PREDICTION.POSTPROCESS,
                                   roi=roi_settings(cfg), output_name=kind.output_name, output_format=output_format,
                                   class_names=class_setup(cfg).predicted_names)
    if not written:
        raise UserError(f"no CT volume could be segmented ({len(files)} skipped, see the warnings above)")
    print(f"{len(written)} of {len(files)} CT volume(s) segmented -> {out_dir} (segmentation + figure each)")
    return written


def predict_slices(cfg: DictConfig) -> List[Dict]:
    """Slice mode: a label PNG per prepared image and one figure."""
    names = list(cfg.PREDICTION.IMAGE_NAMES) if cfg.PREDICTION.IMAGE_NAMES is not None else None
    image_paths = select_images(cfg.PREDICTION.IMAGES_PATH, names)
    check_input_shapes(image_paths, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS, trained=True)
    rows = cfg.PREDICTION.MAX_FIGURE_ROWS
    if rows < 0:
        raise UserError(f"PREDICTION.MAX_FIGURE_ROWS must be 0 (no figure) or more, got {rows}")
    with inference_backend(cfg, load_trained_model(cfg)) as predict_fn:
        results = predict_images(cfg, predict_fn, image_paths)
    out_dir = cfg.PREDICTION.RESULTS_PATH
    for result in results:
        write_png(os.path.join(out_dir, prediction_file_name(result["path"])), result["prediction"])
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


def predict(cfg: DictConfig) -> List[Dict]:
    run_config(cfg)   # RUN_DIR (default: the latest run) and the model settings it was trained with
    require_paths(cfg, write_dirs=["PREDICTION.RESULTS_PATH"])
    volumes = cfg.PREDICTION.VOLUMES
    if volumes is not None and not volumes:
        raise UserError("PREDICTION.VOLUMES is empty: give a CT file, a folder or a list of them, or leave it null "
                        "to predict the prepared PNG slices")
    return predict_volumes(cfg) if volumes else predict_slices(cfg)


main = hydra_app(predict)


if __name__ == "__main__":
    main()
