"""End to end on synthetic data: train → evaluate (per volume) → predict, and the CLI's errors."""
import copy
import csv
import os

import keras
import nibabel as nib
import numpy as np
import pytest

from tests.helpers import run_cli, workdir_config
from utils.images import read_mask
from utils.naming import parse_slice_name

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
    assert os.path.isfile(cfg.CALLBACKS.TIMING.PATH)


def test_evaluate_reports_liver_dice_and_per_volume_summary(trained, raw_lits):
    from evaluate import evaluate

    cfg = copy.deepcopy(trained[0])
    cfg.EVALUATION.WRITE_NIFTI = True
    result = evaluate(cfg)
    assert result["dice_per_class"][1] > 0.8, result["dice_per_class"]
    with open(result["summary_csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["volume"] for r in rows] == ["3", "4", "mean"]
    assert float(rows[-1]["dice_liver"]) > 0.8
    assert float(rows[-1]["dice_liver"]) == pytest.approx(np.mean([float(r["dice_liver"]) for r in rows[:-1]]))
    # the NIfTI written for each volume sits on the source grid with the source affine
    for volume_id in (3, 4):
        source = nib.load(os.path.join(raw_lits, "val", f"volume-{volume_id}.nii"))
        written = nib.load(os.path.join(cfg.EVALUATION.RESULTS_PATH, f"prediction-{volume_id}.nii.gz"))
        assert written.shape == source.shape
        np.testing.assert_allclose(written.affine, source.affine)


def hand_dice(truth, prediction, label):
    t, p = truth == label, prediction == label
    if t.sum() + p.sum() == 0:
        return 1.0
    return 2.0 * np.logical_and(t, p).sum() / (t.sum() + p.sum())


def test_predict_writes_masks_and_figure_matching_per_volume_dice(trained):
    from predict import predict

    cfg = copy.deepcopy(trained[0])
    results = predict(cfg)
    out_dir = cfg.PREDICTION.RESULTS_PATH
    assert os.path.isfile(os.path.join(out_dir, "predictions.png"))
    written = sorted(f for f in os.listdir(out_dir) if f.startswith("prediction_"))
    assert len(written) == len(results) == len(os.listdir(cfg.DATASET.VAL.IMAGES_PATH))
    # rebuild volume 3 by hand from the prediction PNGs and the mask PNGs, compare with summary.csv
    slices = sorted((parse_slice_name(f).slice, f) for f in written if parse_slice_name(f).volume == 3)
    prediction = np.stack([read_mask(os.path.join(out_dir, f)) for _, f in slices], axis=-1)
    truth = np.stack([read_mask(os.path.join(cfg.DATASET.VAL.MASK_PATH, f"mask_3_{s:04d}.png")) for s, _ in slices],
                     axis=-1)
    from evaluate import evaluate

    cfg.EVALUATION.WRITE_NIFTI = False
    rows = evaluate(cfg)["volumes"]
    row = next(r for r in rows if r["volume"] == 3)
    assert row["dice_liver"] == pytest.approx(hand_dice(truth, prediction, 1), abs=1e-6)
    assert row["dice_tumour"] == pytest.approx(hand_dice(truth, prediction, 2), abs=1e-6)


def test_predict_a_list_of_names(trained):
    from predict import predict

    cfg = copy.deepcopy(trained[0])
    names = sorted(os.listdir(cfg.DATASET.VAL.IMAGES_PATH))[:2]
    cfg.PREDICTION.IMAGE_NAMES = names
    cfg.PREDICTION.RESULTS_PATH = cfg.PREDICTION.RESULTS_PATH + "_list"
    results = predict(cfg)
    assert [r["name"] for r in results] == names
    assert all(r["truth"] is not None and r["prediction"].shape == (64, 64) for r in results)


def test_training_resumes_after_interruption(tmp_path, prepared_workdir, raw_lits, monkeypatch):
    import train as train_module

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("simulated crash")

    cfg = workdir_config(tmp_path, prepared_workdir, raw_lits, "HYPER_PARAMETERS.EPOCHS=2",
                         "CALLBACKS.TENSORBOARD.VALUE=False")
    real_build = train_module.build_callbacks
    monkeypatch.setattr(train_module, "build_callbacks", lambda *a: real_build(*a) + [StopAfterFirstEpoch()])
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_module.train(cfg)
    monkeypatch.setattr(train_module, "build_callbacks", real_build)
    history = train_module.train(cfg)
    assert history.epoch == [1]                       # resumed at the second epoch
    with open(cfg.CALLBACKS.CSV_LOGGER.PATH) as handle:
        assert [r["epoch"] for r in csv.DictReader(handle)] == ["0", "1"]


def test_train_with_every_switch_on_cpu(tmp_path, prepared_workdir, raw_lits):
    """The recipe's headline command: CGM model, MirroredStrategy, DALI (CPU), AMP and XLA."""
    from data_generators.dali_data_generator import dali_import_error
    from train import train

    generator = "DALI_GENERATOR" if dali_import_error() is None else "TF_GENERATOR"
    cfg = workdir_config(tmp_path, prepared_workdir, raw_lits, "MODEL.TYPE=unet3plus_deepsup_cgm",
                         "USE_MULTI_GPUS.VALUE=True", f"DATA_GENERATOR_TYPE={generator}", "OPTIMIZATION.AMP=True",
                         "OPTIMIZATION.XLA=True", "CALLBACKS.TENSORBOARD.VALUE=False")
    history = train(cfg)
    assert np.isfinite(history.history["loss"][0])
    assert "val_d1_dice_coef" in history.history


@pytest.mark.parametrize("script,args,message", [
    ("train.py", ["MODEL.TYPE=unet4"], "MODEL.TYPE must be one of"),
    ("train.py", ["HYPER_PARAMETERS.BATCH_SIZE=-2"], "BATCH_SIZE must be a positive integer"),
    ("train.py", ["INPUT.CHANNELS=1", "DATA_PREPARATION.SLICES_PER_IMAGE=3"], "must equal INPUT.CHANNELS"),
    ("train.py", ["DATA_PREPARATION.PROCESSED_DATA_PATH=/nonexistent/data"], "images directory not found"),
    ("evaluate.py", ["DATA_PREPARATION.PROCESSED_DATA_PATH=/nonexistent/data",
                     "CALLBACKS.MODEL_CHECKPOINT.PATH=/nonexistent/ckpt"], "no trained weights"),
    ("predict.py", ["PREDICTION.IMAGES_PATH=/nonexistent/images"], "images directory not found"),
])
def test_cli_bad_inputs_give_one_clear_line(tmp_path, script, args, message):
    result = run_cli(script, f"WORK_DIR={tmp_path}", *args)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "checkpoint")


def test_cli_misspelt_key_is_refused_by_hydra_without_traceback(tmp_path):
    result = run_cli("train.py", f"WORK_DIR={tmp_path}", "MODEL.TPYE=unet3plus")
    assert result.returncode != 0
    assert "Could not override 'MODEL.TPYE'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_help_lists_config(tmp_path):
    result = run_cli("train.py", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("unet3p train.py: Train UNet3+")
    assert "MODEL" in result.stdout and "DATA_GENERATOR_TYPE" in result.stdout
