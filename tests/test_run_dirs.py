"""Run directories: one folder per run, best weights never lost, resume, model settings read from the run."""
import copy
import errno
import csv
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from callbacks.checkpoint import BestCheckpoint, backed_up_epochs, best_state_path
from app.run_config import run_config
from run_dirs.run_dir import close_run, discard_unstarted_run, latest_run, load_run_config, open_run, prepare_run
from tests.helpers import REPO, TINY_OVERRIDES, run_main, shared_data, tiny_config, workdir_config
from utils.errors import UserError, WriteError


# A second process that opens the run as train.py does, says so, and keeps it until it is killed.
HOLD_RUN = """
import sys, time
from run_dirs.run_dir import open_run, prepare_run
from tests.helpers import tiny_config
cfg = tiny_config(sys.argv[1], "RUN_DIR=" + sys.argv[2])
prepare_run(cfg)
open_run(cfg)
print("holding", flush=True)
time.sleep(600)
"""


def digest(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def new_run(work_dir, *overrides):
    cfg = tiny_config(work_dir, *overrides)
    prepare_run(cfg)
    open_run(cfg)
    return cfg


def write_weights(cfg):
    """What the first epoch of a run leaves: a weights file in its checkpoint folder."""
    os.makedirs(cfg.CALLBACKS.MODEL_CHECKPOINT.PATH, exist_ok=True)
    path = f"{cfg.CALLBACKS.MODEL_CHECKPOINT.PATH}/model.weights.h5"
    open(path, "wb").close()
    return path


# --- run folders and saved configs (no training) ---

def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path):
    first, second = new_run(tmp_path), new_run(tmp_path)
    assert first.RUN_DIR != second.RUN_DIR
    assert os.path.dirname(first.RUN_DIR) == os.path.dirname(second.RUN_DIR) == str(tmp_path / "runs")
    for cfg in (first, second):   # every output of a run lies in its own folder
        for key in ("MODEL_CHECKPOINT", "BACKUP_AND_RESTORE", "CSV_LOGGER", "TENSORBOARD", "TIMING"):
            assert OmegaConf.select(cfg, f"CALLBACKS.{key}.PATH").startswith(cfg.RUN_DIR + os.sep)
        stored = OmegaConf.load(os.path.join(cfg.RUN_DIR, "config.yaml"))   # paths relative to the run
        assert stored.RUN_DIR == "." and stored.CALLBACKS.CSV_LOGGER._get_node("PATH")._value() == \
            "${RUN_DIR}/logs/training.csv"
        saved = load_run_config(cfg.RUN_DIR)                                # ... read where the run is
        assert saved.RUN_DIR == cfg.RUN_DIR and saved.CALLBACKS.CSV_LOGGER.PATH == f"{cfg.RUN_DIR}/logs/training.csv"


def test_latest_run_is_the_newest_across_runs_and_multirun(tmp_path):
    older = new_run(tmp_path).RUN_DIR
    newer = new_run(tmp_path, f"RUN_DIR={tmp_path}/multirun/2026-01-01_00-00-00/1").RUN_DIR
    os.utime(os.path.join(older, "config.yaml"), (1_000_000, 1_000_000))
    assert latest_run(str(tmp_path)) == newer
    os.makedirs(tmp_path / "runs" / "9999-empty")          # a folder without config.yaml is not a run
    assert latest_run(str(tmp_path)) == newer
    with pytest.raises(UserError, match="no training run under"):
        latest_run(str(tmp_path / "elsewhere"))


def test_a_start_that_fails_before_any_weights_leaves_no_run_folder(tmp_path):
    trained = new_run(tmp_path)
    weights = write_weights(trained)
    refused = new_run(tmp_path)        # say its backbone weights did not load
    os.makedirs(os.path.dirname(refused.CALLBACKS.CSV_LOGGER.PATH))
    assert latest_run(str(tmp_path)) == refused.RUN_DIR
    assert discard_unstarted_run(refused) and not os.path.exists(refused.RUN_DIR)
    assert latest_run(str(tmp_path)) == trained.RUN_DIR    # evaluate.py and predict.py still find the trained run
    assert not discard_unstarted_run(trained) and os.path.isdir(trained.RUN_DIR)   # it holds weights
    resumed = new_run(tmp_path, f"RUN_DIR={trained.RUN_DIR}")
    os.remove(weights)
    assert not discard_unstarted_run(resumed) and os.path.isdir(trained.RUN_DIR)   # not made by this start
    close_run(resumed)


def test_evaluate_and_predict_default_to_the_newest_run_with_weights(tmp_path, capsys):
    first = new_run(tmp_path)
    with pytest.raises(UserError, match=f"^no training run under {tmp_path} has finished an epoch yet \\(the newest, "
                                        f"{first.RUN_DIR}, has no weights\\)"):
        run_config(tiny_config(tmp_path), overrides=[])
    write_weights(first)
    killed = new_run(tmp_path)          # killed in its first epoch (or still in it): no weights
    os.utime(os.path.join(first.RUN_DIR, "config.yaml"), (1_000_000, 1_000_000))
    for run_dir in (None, "latest"):
        overrides = [] if run_dir is None else [f"RUN_DIR={run_dir}"]
        assert run_config(tiny_config(tmp_path, *overrides), overrides=overrides).RUN_DIR == first.RUN_DIR
        assert capsys.readouterr().out.startswith(f"note: {killed.RUN_DIR} has no weights yet (stopped or still in "
                                                  f"its first epoch); using {first.RUN_DIR}\n")
    assert run_config(tiny_config(tmp_path, f"RUN_DIR={killed.RUN_DIR}"), overrides=[]).RUN_DIR == killed.RUN_DIR
    close_run(killed)


def test_run_config_takes_the_model_settings_from_the_run(tmp_path):
    trained = new_run(tmp_path, "MODEL.TYPE=unet3plus_deepsup", "OPTIMIZATION.XLA=True",
                      "DATA_PREPARATION.HU_WINDOW.MIN=-100")
    write_weights(trained)
    # evaluate/predict with the plain defaults (320x320, unet3plus): everything model-related comes from the run
    cfg = run_config(tiny_config(tmp_path, "INPUT.HEIGHT=320", "INPUT.WIDTH=320"), overrides=[])
    assert cfg.RUN_DIR == trained.RUN_DIR
    assert (cfg.MODEL.TYPE, cfg.INPUT.HEIGHT, cfg.DATA_PREPARATION.HU_WINDOW.MIN) == ("unet3plus_deepsup", 64, -100)
    assert cfg.OPTIMIZATION.XLA is True
    assert cfg.EVALUATION.RESULTS_PATH == f"{trained.RUN_DIR}/evaluation"
    assert cfg.PREDICTION.RESULTS_PATH == f"{trained.RUN_DIR}/predictions"
    # OPTIMIZATION given on the command line wins; a model setting that contradicts the run is refused
    cfg = run_config(tiny_config(tmp_path, "OPTIMIZATION.XLA=False"), overrides=["OPTIMIZATION.XLA=False"])
    assert cfg.OPTIMIZATION.XLA is False and cfg.MODEL.TYPE == "unet3plus_deepsup"
    with pytest.raises(UserError, match=r"trained with MODEL.TYPE=unet3plus_deepsup, the command line asks for "
                                        r"unet3plus: drop the override"):
        run_config(tiny_config(tmp_path, "MODEL.TYPE=unet3plus"), overrides=["MODEL.TYPE=unet3plus"])
    run_config(tiny_config(tmp_path, "MODEL.TYPE=unet3plus_deepsup"), overrides=["MODEL.TYPE=unet3plus_deepsup"])


def test_resuming_a_run_takes_its_saved_settings_plus_explicit_overrides(tmp_path):
    first = new_run(tmp_path, "HYPER_PARAMETERS.LEARNING_RATE=0.01", "HYPER_PARAMETERS.EPOCHS=3")
    again = tiny_config(tmp_path, f"RUN_DIR={first.RUN_DIR}", "HYPER_PARAMETERS.EPOCHS=5")
    prepare_run(again, explicit={"RUN_DIR", "HYPER_PARAMETERS.EPOCHS"})
    assert again.RUN_DIR == first.RUN_DIR
    assert again.HYPER_PARAMETERS.LEARNING_RATE == 0.01 and again.HYPER_PARAMETERS.EPOCHS == 5
    relative = tiny_config(tmp_path, f"RUN_DIR={os.path.relpath(first.RUN_DIR, tmp_path)}")
    assert prepare_run(relative).RUN_DIR == first.RUN_DIR      # relative to WORK_DIR
    with pytest.raises(UserError, match="was trained with INPUT.HEIGHT=64, the command line asks for 128"):
        prepare_run(tiny_config(tmp_path, f"RUN_DIR={first.RUN_DIR}", "INPUT.HEIGHT=128"),
                    explicit={"INPUT.HEIGHT"})


@pytest.mark.slow   # a second Python, whose config check imports TensorFlow
def test_a_run_in_use_by_another_process_is_refused_until_that_process_ends(tmp_path):
    cfg = new_run(tmp_path)
    close_run(cfg)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN, cfg.WORK_DIR, cfg.RUN_DIR], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        again = tiny_config(tmp_path, f"RUN_DIR={cfg.RUN_DIR}")
        prepare_run(again)
        with pytest.raises(UserError, match=rf"RUN_DIR={re.escape(cfg.RUN_DIR)} is in use by another train.py "
                                            rf"\(pid {holder.pid}\): wait for it to end"):
            open_run(again)
    finally:
        holder.kill()   # killed, not closed: the OS drops its lock with the process
        holder.wait()
    assert open_run(again) == cfg.RUN_DIR
    close_run(again)


def test_a_run_never_writes_into_another_run_or_a_foreign_folder(tmp_path):
    other = new_run(tmp_path)
    cfg = tiny_config(tmp_path, f"CALLBACKS.MODEL_CHECKPOINT.PATH={other.RUN_DIR}/checkpoint")
    prepare_run(cfg)
    with pytest.raises(UserError, match=r"CALLBACKS.MODEL_CHECKPOINT.PATH=.* is inside another run"):
        open_run(cfg)
    with pytest.raises(UserError, match="is inside another run"):
        new_run(tmp_path, f"RUN_DIR={other.RUN_DIR}/nested")
    foreign = tmp_path / "my_data"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="is not a training run"):
        new_run(tmp_path, f"RUN_DIR={foreign}")


def test_a_run_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")                      # WORK_DIR below a file: no folder can be made there
    with pytest.raises(UserError, match=r"cannot create the run directory .*\(Not a directory\): set RUN_DIR"):
        new_run(blocker / "work")


# --- the best checkpoint (a tiny Keras model, no data) ---

def tiny_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    return model


def run_epochs(callback, model, values, first_epoch=0):
    """Feed the callback the validation Dice of each epoch, changing the weights every epoch."""
    callback.set_model(model)
    callback.on_train_begin()
    for offset, value in enumerate(values):
        model.set_weights([np.full((2, 1), value, np.float32), np.zeros(1, np.float32)])
        callback.on_epoch_end(first_epoch + offset, {"val_dice_coef": value})


def saved_kernel(path):
    model = tiny_model()
    model.load_weights(path)
    return float(model.get_weights()[0][0, 0])


def test_best_value_survives_a_restart_and_a_worse_epoch_keeps_the_best_weights(tmp_path, capsys):
    path = str(tmp_path / "model.weights.h5")
    run_epochs(BestCheckpoint(path, "val_dice_coef"), tiny_model(), [0.90, 0.953])
    assert json.loads(open(best_state_path(path)).read()) == {"monitor": "val_dice_coef", "best": 0.953, "epoch": 2}
    # killed, then resumed: a fresh callback reads 0.953 back, so the worse epoch 3 (0.935) is not saved
    resumed = BestCheckpoint(path, "val_dice_coef")
    run_epochs(resumed, tiny_model(), [0.935], first_epoch=2)
    assert resumed.best == 0.953
    assert saved_kernel(path) == pytest.approx(0.953)
    assert "did not improve from 0.95300" in capsys.readouterr().out
    run_epochs(BestCheckpoint(path, "val_dice_coef"), tiny_model(), [0.96], first_epoch=3)
    assert saved_kernel(path) == pytest.approx(0.96)
    assert json.loads(open(best_state_path(path)).read())["epoch"] == 4
    assert sorted(os.listdir(tmp_path)) == ["model.best.json", "model.weights.h5"]   # no temporary files left


def test_a_crash_while_writing_leaves_the_previous_best_intact(tmp_path):
    path = str(tmp_path / "model.weights.h5")
    model = tiny_model()
    run_epochs(BestCheckpoint(path, "val_dice_coef"), model, [0.5])
    before = digest(path)

    def half_written(filepath, overwrite=True):
        with open(filepath, "wb") as handle:
            handle.write(b"\x89HDF partial")
        raise OSError(errno.ENOSPC, "disk full")

    model.save_weights = half_written
    callback = BestCheckpoint(path, "val_dice_coef")
    with pytest.raises(WriteError) as raised:   # one line naming the file and what is intact
        run_epochs(callback, model, [0.8], first_epoch=1)
    assert str(raised.value) == (f"cannot write {path} (No space left on device): the best weights so far "
                                 f"(epoch 1, val_dice_coef 0.50000) are intact in that file")
    assert digest(path) == before and saved_kernel(path) == pytest.approx(0.5)
    assert json.loads(open(best_state_path(path)).read())["best"] == 0.5
    assert sorted(os.listdir(tmp_path)) == ["model.best.json", "model.weights.h5"]


# --- training (slow) ---

class ScriptedDice(keras.callbacks.Callback):
    """Replaces the measured validation Dice by given values, before the checkpoint sees them."""

    def __init__(self, values, crash_at_epoch=None):
        super().__init__()
        self.values, self.crash_at_epoch = values, crash_at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.crash_at_epoch:
            raise RuntimeError("simulated kill")

    def on_epoch_end(self, epoch, logs=None):
        logs["val_dice_coef"] = self.values[epoch]


@pytest.mark.slow
def test_resume_restores_the_best_and_a_finished_run_trains_nothing(tmp_path, prepared_workdir, raw_lits,
                                                                      monkeypatch, capsys):
    """The measured case: best 0.953 at epoch 2, killed in epoch 3, the resumed epoch 3 scores 0.935."""
    import training.run as train_module

    values = [0.6, 0.953, 0.935]
    real_build = train_module.build_callbacks
    cfg = workdir_config(tmp_path, prepared_workdir, raw_lits, "HYPER_PARAMETERS.EPOCHS=3",
                         "CALLBACKS.TENSORBOARD.VALUE=False")
    monkeypatch.setattr(train_module, "build_callbacks", lambda *a: [ScriptedDice(values, 2)] + real_build(*a))
    with pytest.raises(RuntimeError, match="simulated kill"):
        train_module.train(cfg)
    weights = os.path.join(cfg.CALLBACKS.MODEL_CHECKPOINT.PATH, f"{cfg.MODEL.WEIGHTS_FILE_NAME}.weights.h5")
    best_weights = digest(weights)
    # a new process would compose a fresh config and pass only RUN_DIR
    monkeypatch.setattr(train_module, "build_callbacks", lambda *a: [ScriptedDice(values)] + real_build(*a))
    resumed = workdir_config(tmp_path, prepared_workdir, raw_lits, f"RUN_DIR={cfg.RUN_DIR}")
    history = train_module.train(resumed)
    assert history.epoch == [2] and resumed.HYPER_PARAMETERS.EPOCHS == 3
    assert "val_dice_coef did not improve from 0.95300" in capsys.readouterr().out
    assert digest(weights) == best_weights
    assert json.loads(open(best_state_path(weights)).read()) == {"monitor": "val_dice_coef", "best": 0.953, "epoch": 2}
    with open(cfg.CALLBACKS.CSV_LOGGER.PATH) as handle:
        assert [r["epoch"] for r in csv.DictReader(handle)] == ["0", "1", "2"]
    assert os.listdir(tmp_path / "runs") == [os.path.basename(cfg.RUN_DIR)]   # resumed in place, no new run
    # rerunning the finished run trains nothing and says how to train on, in one line (was KeyError: 'val_dice_coef')
    with pytest.raises(UserError, match=rf"^run {cfg.RUN_DIR} has already trained 3 epochs .*nothing to train; .*"
                                        r"HYPER_PARAMETERS.EPOCHS=6$"):
        train_module.train(workdir_config(tmp_path, prepared_workdir, raw_lits, f"RUN_DIR={cfg.RUN_DIR}"))
    assert digest(weights) == best_weights
    with open(cfg.CALLBACKS.CSV_LOGGER.PATH) as handle:
        assert len(list(csv.DictReader(handle))) == 3
    # a new run beside it gets its own folder and leaves its weights alone: test_pipeline.py's same-seed test


@pytest.mark.slow
def test_weights_of_another_architecture_name_both_models(trained, tmp_path):
    from run_dirs.loading import load_trained_model

    cfg = copy.deepcopy(trained[0])
    cfg.MODEL.TYPE = "unet3plus_deepsup"
    cfg.MODEL.BACKBONE.TYPE = "vgg16"
    cfg.MODEL.WEIGHTS_FILE_NAME = "model_unet3plus_unet3plus"
    with pytest.raises(UserError) as caught:
        load_trained_model(cfg)
    message = str(caught.value)
    assert "\n" not in message
    assert "hold model type unet3plus / backbone unet3plus" in message
    assert "the config asks for model type unet3plus_deepsup / backbone vgg16" in message
    # weights copied out of their run (no saved config to compare with): still one line naming the model asked for
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(os.path.join(trained[0].CALLBACKS.MODEL_CHECKPOINT.PATH, "model_unet3plus_unet3plus.weights.h5"), loose)
    cfg.CALLBACKS.MODEL_CHECKPOINT.PATH = str(loose)
    with pytest.raises(UserError, match=r"cannot load weights .* \(model type unet3plus_deepsup / backbone vgg16") \
            as caught:
        load_trained_model(cfg)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_multirun_sweep_leaves_complete_run_dirs_that_evaluate_and_predict_use(tmp_path, prepared_workdir, raw_lits):
    """A 2-trial Optuna sweep (issue 11) whose jobs are complete run folders (issue 9)."""
    data = shared_data(prepared_workdir, raw_lits)
    tiny = [o for o in TINY_OVERRIDES if not o.startswith("HYPER_PARAMETERS.BATCH_SIZE=")]   # the sweep sets it
    result = run_main("train.py", "-m", f"WORK_DIR={tmp_path}", *tiny, *data, "hparams_search=lr_batch",
                      "hydra.sweeper.n_trials=2", "CALLBACKS.TIMING.WARMUP_STEPS=1")
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^Total training time \d+:\d\d:\d\d", result.stdout, re.M)) == 2   # each job's last line
    runs = sorted(glob.glob(f"{tmp_path}/multirun/*/[0-9]"))
    assert [os.path.basename(r) for r in runs] == ["0", "1"]
    best_dice = []
    for run in runs:
        saved = load_run_config(run)
        assert saved.RUN_DIR == run and 1e-5 <= float(saved.HYPER_PARAMETERS.LEARNING_RATE) <= 1e-2
        for name in ("checkpoint/model_unet3plus_unet3plus.weights.h5", "checkpoint/model_unet3plus_unet3plus.best.json",
                     "logs/training.csv", "logs/training.png", "logs/train_timing.json"):
            assert os.path.isfile(os.path.join(run, name)), name
        assert os.listdir(os.path.join(run, "logs", "tensorboard"))
        assert backed_up_epochs(os.path.join(run, "backup")) == 1   # kept: a rerun with more epochs trains on
        with open(os.path.join(run, "logs", "training.csv")) as handle:
            best_dice.append(max(float(row["val_dice_coef"]) for row in csv.DictReader(handle)))
    # Optuna maximised what each job returned: its best validation Dice
    optimized = OmegaConf.load(os.path.join(os.path.dirname(runs[0]), "optimization_results.yaml"))
    assert optimized.best_value == pytest.approx(max(best_dice), abs=1e-6)
    assert set(optimized.best_params) == {"HYPER_PARAMETERS.LEARNING_RATE", "HYPER_PARAMETERS.BATCH_SIZE"}
    # evaluate and predict with the data paths only: the 64x64 tiny model comes from the run
    evaluated = run_main("evaluate.py", f"WORK_DIR={tmp_path}", f"RUN_DIR={runs[0]}", *data)
    assert evaluated.returncode == 0, evaluated.stderr
    assert os.path.isfile(os.path.join(runs[0], "evaluation", "summary.csv"))
    predicted = run_main("predict.py", f"WORK_DIR={tmp_path}", *data)       # default: the latest run
    assert predicted.returncode == 0, predicted.stderr
    assert f"run: {runs[1]} (unet3plus, backbone unet3plus, 64x64x3)" in predicted.stdout
    assert os.path.isfile(os.path.join(runs[1], "predictions", "predictions.png"))


@pytest.mark.slow
def test_ctrl_c_prints_the_resume_command_and_the_command_resumes(tmp_path, prepared_workdir, raw_lits):
    data = shared_data(prepared_workdir, raw_lits)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "train.py", f"WORK_DIR={tmp_path}", *TINY_OVERRIDES, *data,
                                "HYPER_PARAMETERS.EPOCHS=500", "CALLBACKS.TENSORBOARD.VALUE=False", "VERBOSE=2"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # VERBOSE=2 prints one line as each epoch ends, after the callbacks before it (CSV log, checkpoint,
        # backup) have written that epoch: Ctrl-C once the first such line arrives, mid-way through epoch 2.
        first_epoch_end = next((line for line in process.stdout if " - val_loss: " in line), None)
        assert first_epoch_end is not None, process.communicate()[1][-3000:]   # train.py ended before an epoch
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()   # a run that ignored the signal must not go on training beside the other tests
    run = glob.glob(f"{tmp_path}/runs/*")[0]
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == f"interrupted; resume with: python train.py RUN_DIR={run}"
    with open(os.path.join(run, "logs", "training.csv")) as handle:
        done = len(list(csv.DictReader(handle)))
    # the printed command (plus a smaller epoch count) continues the same run: no model settings retyped
    resumed = run_main("train.py", f"RUN_DIR={run}", f"HYPER_PARAMETERS.EPOCHS={done + 1}")
    assert resumed.returncode == 0, resumed.stderr
    with open(os.path.join(run, "logs", "training.csv")) as handle:
        assert int(list(csv.DictReader(handle))[-1]["epoch"]) == done      # the one more epoch asked for
    assert glob.glob(f"{tmp_path}/runs/*") == [run]


def test_an_interrupted_backup_keeps_the_previous_one(tmp_path):
    from callbacks.checkpoint import AtomicBackupAndRestore

    model = tiny_model()
    model.set_weights([np.full((2, 1), 1.0, np.float32), np.zeros(1, np.float32)])
    backup = AtomicBackupAndRestore(str(tmp_path / "backup"))
    backup.set_model(model)
    backup.on_epoch_end(0)
    saved = digest(tmp_path / "backup" / "latest.weights.h5")

    def interrupted(filepath, overwrite=True):
        with open(filepath, "wb") as handle:
            handle.write(b"\x89HDF partial")
        raise KeyboardInterrupt

    model.save_weights = interrupted
    with pytest.raises(KeyboardInterrupt):
        backup.on_epoch_end(1)
    assert digest(tmp_path / "backup" / "latest.weights.h5") == saved
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert sorted(os.listdir(tmp_path / "backup")) == ["latest.weights.h5", "training_metadata.json"]
