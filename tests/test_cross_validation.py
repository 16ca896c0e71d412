"""K-fold cross-validation by volume: folds by hand, the fold checks, and a 3-fold run on the phantom."""
import csv
import os

import numpy as np
import pytest

from data_generators.folds import check_fold, fold_split, volume_folds
from evaluation.cross_validation import fold_config, held_out_pairs, summary_rows
from tests.helpers import TINY_OVERRIDES, run_main, shared_data, workdir_config
from utils.errors import UserError


def names(volumes_and_slices):
    return [f"/d/image_{v}_{s:04d}.png" for v, s in volumes_and_slices]


def test_volumes_are_dealt_to_folds_and_never_split():
    images = names([(7, 0), (7, 1), (2, 0), (11, 3), (5, 0), (5, 1), (9, 2)])
    masks = [p.replace("image_", "mask_") for p in images]
    # sorted volumes 2, 5, 7, 9, 11 dealt to 2 folds: fold 0 = {2, 7, 11}, fold 1 = {5, 9}
    assert volume_folds(images, 2) == {2: 0, 5: 1, 7: 0, 9: 1, 11: 0}
    held_out, held_out_masks = fold_split(images, masks, 1, 2, held_out=True)
    assert held_out == names([(5, 0), (5, 1), (9, 2)])
    assert held_out_masks == [p.replace("image_", "mask_") for p in held_out]
    training, _ = fold_split(images, masks, 1, 2, held_out=False)
    assert training == names([(7, 0), (7, 1), (2, 0), (11, 3)])


@pytest.mark.parametrize("fold,num_folds,message", [
    (5, 5, r"DATASET.FOLD=5 is out of range: with DATASET.NUM_FOLDS=5 the folds are 0..4"),
    (-1, 3, "out of range"),
    (0, 0, "DATASET.NUM_FOLDS must be >= 1"),
    ("1", 3, "DATASET.FOLD must be an integer"),
])
def test_bad_fold_settings_are_named(fold, num_folds, message):
    with pytest.raises(UserError, match=message):
        check_fold(fold, num_folds)


def test_more_folds_than_volumes_is_refused():
    with pytest.raises(UserError, match="NUM_FOLDS=3 needs at least 3 training volumes, found 2"):
        volume_folds(names([(1, 0), (2, 0)]), 3)


def test_summary_is_mean_and_sample_sd_over_cases():
    rows = [{"fold": 0, "volume": 1, "dice_liver": 0.9, "dice_tumour": 0.5},
            {"fold": 1, "volume": 2, "dice_liver": 0.7, "dice_tumour": 0.1},
            {"fold": 2, "volume": 3, "dice_liver": 0.8, "dice_tumour": 0.3}]
    mean, sd = summary_rows(rows)
    assert mean["dice_liver"] == pytest.approx(0.8) and mean["dice_tumour"] == pytest.approx(0.3)
    assert sd["dice_liver"] == pytest.approx(0.1) and sd["dice_tumour"] == pytest.approx(0.2)   # n - 1


def test_each_fold_is_its_own_run_holding_out_the_ct_files_of_its_volumes(tmp_path, prepared_workdir, raw_lits):
    cfg = workdir_config(tmp_path, prepared_workdir, raw_lits, "DATASET.NUM_FOLDS=2",
                         f"DATA_PREPARATION.SCANS_TRAIN_DATA_PATH={raw_lits}/train")
    run_dir = cfg.RUN_DIR
    folds = [fold_config(cfg, fold) for fold in range(2)]
    assert [(f.DATASET.FOLD, f.RUN_DIR) for f in folds] == [
        (0, f"{tmp_path}/cross_validation/fold_0"), (1, f"{tmp_path}/cross_validation/fold_1")]
    assert cfg.RUN_DIR == run_dir and cfg.DATASET.FOLD == 0   # the run's own config is left as it was
    # the phantom's training volumes 0, 1, 2 are dealt to folds 0, 1, 0; each fold scores its volumes' CT files
    train = raw_lits / "train"
    assert held_out_pairs(folds[0]) == [(0, f"{train}/volume-0.nii", f"{train}/segmentation-0.nii"),
                                        (2, f"{train}/volume-2.nii", f"{train}/segmentation-2.nii")]
    assert held_out_pairs(folds[1]) == [(1, f"{train}/volume-1.nii", f"{train}/segmentation-1.nii")]


@pytest.mark.slow
def test_fold_out_of_range_gives_one_line_from_the_cli(tmp_path):
    result = run_main("train.py", f"WORK_DIR={tmp_path}", "DATASET.NUM_FOLDS=3", "DATASET.FOLD=3")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and errors == [
        "error: DATASET.FOLD=3 is out of range: with DATASET.NUM_FOLDS=3 the folds are 0..2"], result.stderr


@pytest.mark.slow
def test_two_fold_cross_validation_scores_every_training_volume_once(tmp_path, prepared_workdir, raw_lits, capfd):
    args = [*TINY_OVERRIDES, *shared_data(prepared_workdir, raw_lits), f"WORK_DIR={tmp_path}", "DATASET.NUM_FOLDS=2",
            "HYPER_PARAMETERS.EPOCHS=1", f"DATA_PREPARATION.SCANS_TRAIN_DATA_PATH={raw_lits}/train",
            "CALLBACKS.TENSORBOARD.VALUE=False", "CALLBACKS.TIMING.VALUE=False"]
    result = run_main("cross_validate.py", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    results = tmp_path / "cross_validation"
    with open(results / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    # the phantom's 3 training volumes 0, 1, 2 are dealt to folds 0, 1, 0: each is held out once
    assert [(row["fold"], row["volume"]) for row in rows] == [("0", "0"), ("0", "2"), ("1", "1"), ("all", "mean"),
                                                              ("all", "sd")]
    for fold in range(2):
        run = results / f"fold_{fold}"
        assert os.path.isfile(run / "checkpoint" / "model_unet3plus_unet3plus.weights.h5")
        assert os.path.isfile(run / "config.yaml")
    liver = [float(row["dice_liver"]) for row in rows[:3]]
    assert float(rows[3]["dice_liver"]) == pytest.approx(np.mean(liver))
    assert float(rows[4]["dice_liver"]) == pytest.approx(np.std(liver, ddof=1))
    assert (f"dice_liver: {np.mean(liver):.4f} ± {np.std(liver, ddof=1):.4f} over 3 held-out cases (on each CT's "
            f"grid)\n") in result.stdout
    assert f"scores per held-out volume: {results / 'summary.png'}" in result.stdout
    assert os.path.isfile(results / "summary.png")
    assert {"dice_tumour", "hd95_liver_mm", "lesion_recall"} <= set(rows[0])   # scored on the CT grid
    # a fold failing in its own process (run again: fold 0 has trained all its epochs) is that process's one
    # `error:` line and its exit status, before any other fold trains
    capfd.readouterr()
    again = run_main("cross_validate.py", *args)
    err = capfd.readouterr().err + again.stderr   # the fold's own process writes to this one's stderr
    fold_0 = results / "fold_0"
    assert again.returncode == 2 and "Traceback" not in err, err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: run {fold_0} has already trained 1 epochs (HYPER_PARAMETERS.EPOCHS=1): nothing to train; to train "
        f"on, raise the epochs: python train.py RUN_DIR={fold_0} HYPER_PARAMETERS.EPOCHS=2"], err
