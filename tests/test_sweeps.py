"""Hydra sweeps: each `-m` job is a complete run with its own outputs; Optuna maximises the best Dice."""
import csv
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from tests.conftest import TINY_OVERRIDES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_dice_in_log(path):
    with open(path) as handle:
        return max(float(row["val_dice_coef"]) for row in csv.DictReader(handle))


@pytest.mark.slow
def test_two_trial_optuna_sweep_tunes_on_the_best_validation_dice(tmp_path, prepared_workdir):
    sweep_dir = tmp_path / "multirun"
    tiny = [o for o in TINY_OVERRIDES if not o.startswith("HYPER_PARAMETERS.BATCH_SIZE=")]   # the sweep sets it
    overrides = [*tiny, f"WORK_DIR={tmp_path}",
                 f"DATA_PREPARATION.PROCESSED_DATA_PATH={prepared_workdir}/data/processed",
                 "CALLBACKS.TENSORBOARD.VALUE=False", "CALLBACKS.TIMING.VALUE=False",
                 "hparams_search=lr_batch", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep_dir}"]
    result = subprocess.run([sys.executable, "train.py", "-m", *overrides], cwd=REPO, capture_output=True, text=True,
                            timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    # one complete run per trial, each with its own checkpoint and log
    dice = []
    for job in range(2):
        assert os.path.isfile(tmp_path / "checkpoint" / f"job_{job}" / "model_unet3plus_unet3plus.weights.h5")
        dice.append(best_dice_in_log(tmp_path / "logs" / f"job_{job}" / "training.csv"))
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.best_value == pytest.approx(max(dice), abs=1e-6)
    assert set(results.best_params) == {"HYPER_PARAMETERS.LEARNING_RATE", "HYPER_PARAMETERS.BATCH_SIZE"}
    assert 1e-5 <= results.best_params["HYPER_PARAMETERS.LEARNING_RATE"] <= 1e-2


def test_each_job_gets_its_own_output_paths(tmp_path):
    from tests.conftest import tiny_config
    from utils.job_outputs import sweep_job_config, with_outputs_in

    cfg = tiny_config(tmp_path)
    job = with_outputs_in(cfg, "job_3")
    assert job.CALLBACKS.MODEL_CHECKPOINT.PATH == f"{tmp_path}/checkpoint/job_3"
    assert job.CALLBACKS.BACKUP_AND_RESTORE.PATH == f"{tmp_path}/checkpoint/backup/job_3"
    assert job.CALLBACKS.CSV_LOGGER.PATH == f"{tmp_path}/logs/job_3/training.csv"
    assert job.CALLBACKS.TIMING.PATH == f"{tmp_path}/logs/job_3/train_timing.json"
    assert job.DATASET.TRAIN.IMAGES_PATH == cfg.DATASET.TRAIN.IMAGES_PATH   # inputs stay shared
    assert cfg.CALLBACKS.MODEL_CHECKPOINT.PATH == f"{tmp_path}/checkpoint"   # the original is untouched
    assert sweep_job_config(cfg) is cfg   # not a multirun: nothing moves
