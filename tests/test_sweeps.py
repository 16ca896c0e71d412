"""Hydra sweeps: each `-m` job is a complete run in its own folder; Optuna maximises the best Dice."""
import csv
import os

import pytest
from omegaconf import OmegaConf

from tests.helpers import TINY_OVERRIDES, run_cli


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
    result = run_cli("train.py", "-m", *overrides, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    # one complete run per trial, each in its own run folder with its config, checkpoint and log
    dice = []
    for job in range(2):
        run = sweep_dir / str(job)
        assert os.path.isfile(run / "config.yaml")
        assert os.path.isfile(run / "checkpoint" / "model_unet3plus_unet3plus.weights.h5")
        dice.append(best_dice_in_log(run / "logs" / "training.csv"))
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.best_value == pytest.approx(max(dice), abs=1e-6)
    assert set(results.best_params) == {"HYPER_PARAMETERS.LEARNING_RATE", "HYPER_PARAMETERS.BATCH_SIZE"}
    assert 1e-5 <= results.best_params["HYPER_PARAMETERS.LEARNING_RATE"] <= 1e-2
