"""End to end on synthetic data: train → evaluate (per volume) → predict, and the CLI's errors."""
import csv
import glob
import hashlib
import json
import os

import nibabel as nib
import numpy as np
import pytest

from tests.helpers import PAPER_FILTERS, kdtree_distances, run_main, trained_run_args, workdir_config
from utils.files import list_files
from data_sets.image_files import read_mask

pytestmark = pytest.mark.slow   # every test trains a model or runs a script


def test_training_lowers_loss_and_learns_the_liver(trained):
    cfg, history = trained
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0]
    assert max(history.history["val_dice_coef"]) > 0.7
    assert os.path.isfile(os.path.join(cfg.CALLBACKS.MODEL_CHECKPOINT.PATH, f"{cfg.MODEL.WEIGHTS_FILE_NAME}.weights.h5"))
    with open(cfg.CALLBACKS.CSV_LOGGER.PATH) as handle:
        assert len(list(csv.DictReader(handle))) == 12
    assert os.path.isfile(os.path.splitext(cfg.CALLBACKS.CSV_LOGGER.PATH)[0] + ".png")
    with open(cfg.CALLBACKS.TIMING.PATH) as handle:
        total = json.load(handle)["total_training_time_s"]
    assert total == pytest.approx(history.total_training_seconds) and total > 0


@pytest.fixture(scope="module")
def larger_val_scans(tmp_path_factory):
    """Validation phantoms of 80x80x16 for the 64x64 network: evaluation must resize both ways."""
    from data_sets.synthetic.ct import make_synthetic_volume, write_volume

    root = tmp_path_factory.mktemp("val80")
    for volume_id in (3, 4):
        hu, labels = make_synthetic_volume(80, 16, seed=[0, volume_id])
        write_volume(str(root), volume_id, hu, labels, compress=volume_id == 4)
    return root


def region_dice(truth, prediction, labels):
    t, p = np.isin(truth, labels), np.isin(prediction, labels)
    return 1.0 if t.sum() + p.sum() == 0 else 2.0 * np.logical_and(t, p).sum() / (t.sum() + p.sum())


def read_labels(path):
    return np.asanyarray(nib.load(str(path)).dataobj)


def error_lines(result) -> list:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_evaluate_scores_the_written_nifti_against_the_source_segmentation(trained, larger_val_scans):
    from medpy.metric import binary
    from scipy import ndimage

    cfg = trained[0]
    result = run_main("evaluate.py", *trained_run_args(cfg, "EVALUATION.WRITE_NIFTI=True",
                                                       f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={larger_val_scans}"))
    assert result.returncode == 0, result.stderr[-2000:]
    results_dir = cfg.EVALUATION.RESULTS_PATH
    summary_csv, figure = os.path.join(results_dir, "summary.csv"), os.path.join(results_dir, "summary.png")
    assert f"summary (every column): {summary_csv}\n" in result.stdout
    assert f"scores per volume: {figure}\n" in result.stdout and os.path.isfile(figure)
    assert f"predicted volumes: 2 NIfTI files in {results_dir}\n" in result.stdout
    with open(summary_csv) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["volume"] for r in rows] == ["3", "4", "mean", "global"]
    truths, predictions = [], []
    for row, volume_id, extension in zip(rows, (3, 4), (".nii", ".nii.gz")):
        source = nib.load(str(larger_val_scans / f"segmentation-{volume_id}{extension}"))
        written = nib.load(os.path.join(results_dir, f"prediction-{volume_id}.nii.gz"))
        assert written.shape == source.shape == (80, 80, 16)
        np.testing.assert_allclose(written.affine, source.affine)
        truth, prediction = np.asanyarray(source.dataobj), np.asanyarray(written.dataobj)
        assert float(row["dice_liver"]) == pytest.approx(region_dice(truth, prediction, (1, 2)), abs=1e-6)
        assert float(row["dice_tumour"]) == pytest.approx(region_dice(truth, prediction, (2,)), abs=1e-6)
        assert float(row["dice_liver"]) > 0.8
        assert 0 <= float(row["hd95_liver_mm"]) < 20 and row["slice_grid_dice_liver"]
        # the LiTS measures in summary.csv against MedPy and a k-d tree on the written file
        t, p, spacing = np.isin(truth, (1, 2)), np.isin(prediction, (1, 2)), source.header.get_zooms()[:3]
        assert float(row["voe_liver"]) == pytest.approx(1 - binary.jc(p, t), abs=1e-6)
        assert float(row["rvd_liver"]) == pytest.approx(binary.ravd(p, t), abs=1e-6)
        assert float(row["assd_liver_mm"]) == pytest.approx(binary.assd(p, t, spacing, connectivity=2), abs=1e-6)
        assert float(row["msd_liver_mm"]) == pytest.approx(binary.hd(p, t, spacing, connectivity=2), abs=1e-6)
        both = np.concatenate(kdtree_distances(t, p, spacing))
        assert float(row["rmsd_liver_mm"]) == pytest.approx(np.sqrt(np.mean(both ** 2)), abs=1e-6)
        assert row["missed_liver"] == "0"
        lesions = [ndimage.label(labels == 2)[1] for labels in (truth, prediction)]
        assert [int(row["lesions_reference"]), int(row["lesions_predicted"])] == lesions
        assert 0 <= int(row["lesions_detected"]) <= min(lesions)
        truths.append(truth)
        predictions.append(prediction)
    pooled = region_dice(np.concatenate(truths, -1), np.concatenate(predictions, -1), (1, 2))
    assert float(rows[3]["dice_liver"]) == pytest.approx(pooled, abs=1e-6)
    assert float(rows[2]["dice_liver"]) == pytest.approx(np.mean([float(r["dice_liver"]) for r in rows[:2]]))


def test_predict_turns_ct_volumes_into_mask_volumes_on_their_grid(trained, larger_val_scans, tmp_path):
    out = tmp_path / "volumes"
    result = run_main("predict.py", *trained_run_args(trained[0], f"PREDICTION.VOLUMES={larger_val_scans}",
                                                      f"PREDICTION.RESULTS_PATH={out}"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"2 of 2 CT volume(s) segmented -> {out} (segmentation + figure each)" in result.stdout
    assert sorted(os.listdir(out)) == ["segmentation-3.nii.gz", "segmentation-3.png",
                                       "segmentation-4.nii.gz", "segmentation-4.png"]   # a mask and a figure each
    for volume_id, extension in ((3, ".nii"), (4, ".nii.gz")):
        source = nib.load(str(larger_val_scans / f"volume-{volume_id}{extension}"))
        mask = nib.load(str(out / f"segmentation-{volume_id}.nii.gz"))
        assert mask.shape == source.shape and mask.get_data_dtype() == np.uint8
        np.testing.assert_allclose(mask.affine, source.affine)
        truth = read_labels(larger_val_scans / f"segmentation-{volume_id}{extension}")
        assert region_dice(truth, np.asanyarray(mask.dataobj), (1, 2)) > 0.8


def test_a_flipped_copy_of_a_ct_gets_the_same_prediction_in_world_space(trained, larger_val_scans, tmp_path):
    source = nib.load(str(larger_val_scans / "volume-3.nii"))
    data, affine = np.round(np.asanyarray(source.dataobj)), source.affine.copy()   # whole HU: int16 holds them
    flipped_data = np.ascontiguousarray(np.flip(data, (0, 2))).astype(np.float32)
    flip = np.diag([-1.0, 1.0, -1.0, 1.0])
    flip[0, 3], flip[2, 3] = data.shape[0] - 1, data.shape[2] - 1
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(data.astype(np.int16), affine), str(tmp_path / "in" / "plain.nii.gz"))
    nib.save(nib.Nifti1Image(flipped_data, affine @ flip), str(tmp_path / "in" / "flipped.nii"))
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4, 2), np.float32), np.eye(4)), str(tmp_path / "in" / "fourd.nii"))
    out = tmp_path / "out"
    result = run_main("predict.py", *trained_run_args(trained[0], f"PREDICTION.VOLUMES={tmp_path / 'in'}",
                                                      f"PREDICTION.RESULTS_PATH={out}"))
    assert result.returncode == 0, result.stderr[-2000:]
    masks = sorted(name for name in os.listdir(out) if name.endswith(".nii.gz"))
    assert masks == ["flipped_segmentation.nii.gz", "plain_segmentation.nii.gz"]
    written = {name: read_labels(out / name) for name in masks}
    assert written["plain_segmentation.nii.gz"].any()
    np.testing.assert_array_equal(written["flipped_segmentation.nii.gz"],
                                  np.flip(written["plain_segmentation.nii.gz"], (0, 2)))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: skipped: fourd.nii has shape (8, 8, 4, 2); a CT volume must be 3D"]


def test_predict_writes_slice_masks_and_a_figure(trained, tmp_path):
    from deploy.backends import inference_backend, inference_settings
    from inference.slices import predict_images, prediction_file_name, select_images
    from run_dirs.loading import load_trained
    from volumes.slices import image_settings

    cfg = trained[0]
    out = tmp_path / "predictions"
    result = run_main("predict.py", *trained_run_args(cfg, f"PREDICTION.RESULTS_PATH={out}"))
    assert result.returncode == 0, result.stderr[-2000:]
    images = select_images(cfg.PREDICTION.IMAGES_PATH, None)
    assert len(images) == len(list_files(cfg.DATASET.VAL.IMAGES_PATH))   # the PNGs, not manifest.json
    assert f"{len(images)} predicted masks in {out}; figure: {out / 'predictions.png'}" in result.stdout
    written = sorted(f for f in os.listdir(out) if f.startswith("prediction_"))
    assert written == sorted(prediction_file_name(path) for path in images)
    assert os.path.isfile(out / "predictions.png")
    # the first mask is the model's prediction
    trained_model, inputs = load_trained(cfg), image_settings(cfg)
    with inference_backend(inference_settings(cfg, trained_model, inputs), trained_model.model) as predict_fn:
        [first] = predict_images(images[:1], predict_fn, inputs, 1)
    np.testing.assert_array_equal(read_mask(str(out / prediction_file_name(images[0]))), first["prediction"])


def test_predict_a_list_of_names(trained, tmp_path):
    from inference.slices import prediction_file_name, slice_masks, truth_for

    cfg = trained[0]
    names = sorted(os.listdir(cfg.DATASET.VAL.IMAGES_PATH))[:2]
    out = tmp_path / "list"
    result = run_main("predict.py", *trained_run_args(cfg, f"PREDICTION.IMAGE_NAMES=[{','.join(names)}]",
                                                      f"PREDICTION.RESULTS_PATH={out}"))
    assert result.returncode == 0, result.stderr[-2000:]
    masks = [prediction_file_name(name) for name in names]
    assert sorted(os.listdir(out)) == sorted([*masks, "predictions.png"])
    assert all(read_mask(str(out / mask)).shape == (64, 64) for mask in masks)
    masks_found = slice_masks(cfg)
    assert all(truth_for(os.path.join(cfg.PREDICTION.IMAGES_PATH, name), masks_found) is not None for name in names)


def test_predict_without_a_figure_and_a_negative_row_count_is_one_line(trained, tmp_path):
    cfg = trained[0]
    names = sorted(os.listdir(cfg.DATASET.VAL.IMAGES_PATH))[:2]
    args = trained_run_args(cfg, f"PREDICTION.IMAGE_NAMES=[{','.join(names)}]",
                            f"PREDICTION.RESULTS_PATH={tmp_path / 'predictions'}")
    result = run_main("predict.py", *args, "PREDICTION.MAX_FIGURE_ROWS=0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"2 predicted masks in {tmp_path / 'predictions'} (PREDICTION.MAX_FIGURE_ROWS=0: no figure)" in result.stdout
    assert sorted(os.listdir(tmp_path / "predictions")) == ["prediction_3_0000.png", "prediction_3_0001.png"]
    refused = run_main("predict.py", *args, "PREDICTION.MAX_FIGURE_ROWS=-1")
    assert refused.returncode == 2
    assert error_lines(refused) == ["error: PREDICTION.MAX_FIGURE_ROWS must be 0 (no figure) or more, got -1"]


@pytest.mark.parametrize("key,message", [
    ("IMAGE_NAMES", "PREDICTION.IMAGE_NAMES is an empty list: name some images, or leave it null for all of them"),
    ("VOLUMES", "PREDICTION.VOLUMES is empty: give a CT file, a folder or a list of them, or leave it null to "
                "predict the prepared PNG slices"),
])
def test_an_empty_list_of_images_or_volumes_is_one_line(trained, key, message):
    result = run_main("predict.py", *trained_run_args(trained[0], f"PREDICTION.{key}=[]"))
    assert result.returncode == 2 and error_lines(result) == [f"error: {message}"], result.stderr[-2000:]


def test_predicting_slices_of_another_size_than_the_run_is_one_line(trained, tmp_path):
    from data_sets.image_files import write_png

    write_png(str(tmp_path / "image_9_0000.png"), np.zeros((32, 32, 3), np.uint8))
    result = run_main("predict.py", *trained_run_args(trained[0], f"PREDICTION.IMAGES_PATH={tmp_path}"))
    assert result.returncode == 2 and error_lines(result) == [
        f"error: {tmp_path}/image_9_0000.png is 32x32, the network's input (INPUT) is 64x64: prepare the slices at "
        f"that size (DATA_PREPARATION.RESIZE=True)"], result.stderr[-2000:]


@pytest.mark.usefixtures("keras_policy")   # sets the global precision policy
def test_train_with_every_switch_on_cpu(tmp_path, prepared_workdir, raw_lits):
    """The recipe's headline command: CGM model, MirroredStrategy, DALI (CPU), AMP and XLA. AMP in bfloat16, as
    AMP=True picks it on a CPU that has it (test_precision.py): XLA's CPU backend rejected float16 bilinear-resize
    gradients, and bfloat16 must train under XLA. This is also the suite's training of the CGM model, at the paper's
    five levels (the other tests' tiny models have three)."""
    from data_generators.dali_data_generator import dali_import_error
    from training.run import train

    generator = "DALI_GENERATOR" if dali_import_error() is None else "TF_GENERATOR"
    cfg = workdir_config(tmp_path, prepared_workdir, raw_lits, PAPER_FILTERS, "MODEL.TYPE=unet3plus_deepsup_cgm",
                         "USE_MULTI_GPUS.VALUE=True", f"DATA_GENERATOR_TYPE={generator}", "OPTIMIZATION.AMP=bfloat16",
                         "OPTIMIZATION.XLA=True", "CALLBACKS.TENSORBOARD.VALUE=False")
    history = train(cfg)
    assert np.isfinite(history.history["loss"][0])
    assert {"cls_loss", "e5_loss", "d1_dice_coef", "val_d1_dice_coef"} <= set(history.history)   # every head trained
    model = history.model
    assert model.jit_compile is True        # OPTIMIZATION.XLA reached compile
    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
    assert all(output.dtype == "float32" for output in model.outputs)


def test_the_same_seed_trains_the_same_weights_another_seed_does_not_and_no_run_touches_another(tmp_path, prepared_workdir,
                                                                                                raw_lits):
    """Reproducible runs: SEED fixes the weights' initialisation, the batches and their order (CPU). The three
    runs share a WORK_DIR: each new run gets its own folder and leaves the earlier runs' weights alone."""
    import keras

    from training.run import train

    def digest(path):
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()

    def trained_weights(seed):
        cfg = workdir_config(tmp_path, prepared_workdir, raw_lits, f"SEED={seed}",
                             "CALLBACKS.TENSORBOARD.VALUE=False")
        weights = train(cfg).model.get_weights()
        keras.backend.clear_session()
        return cfg.RUN_DIR, weights

    (first_run, first), (again_run, again) = trained_weights(3), trained_weights(3)
    first_checkpoint, = glob.glob(f"{first_run}/checkpoint/*.weights.h5")
    first_digest = digest(first_checkpoint)
    other_run, other = trained_weights(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert sorted(glob.glob(f"{tmp_path}/runs/*")) == sorted([first_run, again_run, other_run])   # 3 folders
    assert digest(first_checkpoint) == first_digest
    assert digest(glob.glob(f"{other_run}/checkpoint/*.weights.h5")[0]) != first_digest


@pytest.mark.parametrize("script,args,message", [
    ("train.py", ["MODEL.TYPE=unet4"], "MODEL.TYPE must be one of"),
    ("train.py", ["HYPER_PARAMETERS.BATCH_SIZE=-2"], "BATCH_SIZE must be a positive integer"),
    ("train.py", ["INPUT.CHANNELS=1", "DATA_PREPARATION.SLICES_PER_IMAGE=3"], "must equal INPUT.CHANNELS"),
    ("train.py", ["DATA_PREPARATION.PROCESSED_DATA_PATH=/nonexistent/data"], "images directory not found"),
    ("evaluate.py", ["DATA_PREPARATION.PROCESSED_DATA_PATH=/nonexistent/data"], "no training run under"),
    ("predict.py", ["RUN_DIR=/nonexistent/run"], "is not a training run"),
])
def test_cli_bad_inputs_give_one_clear_line(tmp_path, script, args, message):
    result = run_main(script, f"WORK_DIR={tmp_path}", *args)   # each script in a fresh Python: test_cli_errors.py
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "runs")


def test_cli_misspelt_key_is_refused_by_hydra_without_traceback(tmp_path):
    result = run_main("train.py", f"WORK_DIR={tmp_path}", "MODEL.TPYE=unet3plus")
    assert result.returncode != 0
    assert "unknown config key MODEL.TPYE (did you mean MODEL.TYPE?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_help_lists_config(tmp_path):
    result = run_main("train.py", "--help")   # in a fresh Python: test_cli_errors.py's first train.py case
    assert result.returncode == 0
    assert result.stdout.startswith("unet3p train.py: Train UNet3+")
    assert "\n  python train.py MODEL.TYPE=unet3plus_deepsup HYPER_PARAMETERS.EPOCHS=2\n" in result.stdout
    assert "MODEL" in result.stdout and "DATA_GENERATOR_TYPE" in result.stdout
