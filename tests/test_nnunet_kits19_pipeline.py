"""data=nnunet and data=kits19 end to end on small generated data: prepare, train, evaluate, predict (issue 16)."""
import csv
import glob
import os

import nibabel as nib
import numpy as np
import pytest

from data_sets.synthetic.layouts import make_kits19, make_nnunet
from data_sets.preparation import prepare_checked_dataset
from tests.helpers import TINY_OVERRIDES, run_main, tiny_config

pytestmark = pytest.mark.slow   # every test trains a model


def summary_rows(run_dir):
    with open(os.path.join(run_dir, "evaluation", "summary.csv")) as handle:
        return list(csv.DictReader(handle))


def prepare_train(tmp_path, data, train_data):
    """preprocess_data.py with the `data` overrides, then train.py (1 epoch) with `train_data`; returns the run folder.

    The prepared slices' manifest.json carries the data set (its class names, regions, channels, folder), so
    training needs none of it retyped."""
    from training.run import train

    processed = f"DATA_PREPARATION.PROCESSED_DATA_PATH={tmp_path}/processed"
    prepare_checked_dataset(tiny_config(tmp_path, *data, processed))
    cfg = tiny_config(tmp_path, *train_data, processed, "CALLBACKS.TENSORBOARD.VALUE=False")
    train(cfg)
    return cfg.RUN_DIR


def run_script(script, tmp_path, *args):
    """The script run as a user types it (tests/helpers.run_main), on the tiny settings in tmp_path."""
    result = run_main(script, *TINY_OVERRIDES, f"WORK_DIR={tmp_path}", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_nnunet_data_set_with_two_channels_regions_and_splits_end_to_end(tmp_path):
    dataset = make_nnunet(str(tmp_path / "Dataset501_Phantom"), cases=4, test=2, size=48, slices=8, splits=True)
    run_dir = prepare_train(tmp_path, ["data=nnunet", f"DATA_PREPARATION.DATASET_PATH={dataset}"], ["data=nnunet"])
    # preprocessing read dataset.json: one slice per image, the two channel files as channels (a zero third)
    images = sorted(glob.glob(str(tmp_path / "processed" / "train" / "images" / "image_phantom_00*_*.png")))
    assert {os.path.basename(p)[:17] for p in images} == {f"image_phantom_00{n}" for n in range(4)}

    # evaluate.py and predict.py take the data set from the run: no data=, no class names retyped
    run_script("evaluate.py", tmp_path, f"RUN_DIR={run_dir}")
    rows = summary_rows(run_dir)
    assert [row["volume"] for row in rows] == ["phantom_000", "phantom_002", "mean", "global"]   # splits_final fold 0
    assert {"dice_organ", "dice_lesion"} <= set(rows[0]) and "dice_liver" not in rows[0]
    assert all(0.0 <= float(row["dice_organ"]) <= 1.0 for row in rows[:2])

    out = tmp_path / "predictions"
    run_script("predict.py", tmp_path, f"RUN_DIR={run_dir}", f"PREDICTION.VOLUMES={dataset}/imagesTs",
               f"PREDICTION.RESULTS_PATH={out}")
    assert sorted(n for n in os.listdir(out) if n.endswith(".nii.gz")) == ["phantom_004.nii.gz", "phantom_005.nii.gz"]
    for case in ("phantom_004", "phantom_005"):
        image, mask = nib.load(f"{dataset}/imagesTs/{case}_0000.nii.gz"), nib.load(out / f"{case}.nii.gz")
        assert mask.shape == image.shape == (56, 56, 10) and np.allclose(mask.affine, image.affine)
        assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1, 2}


def test_kits19_case_folders_end_to_end(tmp_path):
    data = make_kits19(str(tmp_path / "kits19" / "data"), cases=5, test=1, size=48, slices=8)
    run_dir = prepare_train(tmp_path, ["data=kits19", f"DATA_PREPARATION.DATASET_PATH={data}"], [])
    run_script("evaluate.py", tmp_path, f"RUN_DIR={run_dir}")
    rows = summary_rows(run_dir)
    assert [row["volume"] for row in rows] == ["case_00000", "mean", "global"]   # nnU-Net's fold 0 of 5 cases
    assert {"dice_kidney", "dice_tumour", "lesion_recall"} <= set(rows[0])

    out = tmp_path / "predictions"
    run_script("predict.py", tmp_path, f"RUN_DIR={run_dir}", f"PREDICTION.VOLUMES={data}",
               f"PREDICTION.RESULTS_PATH={out}")
    assert sorted(n for n in os.listdir(out) if n.endswith(".nii.gz")) == [f"prediction_{n:05d}.nii.gz"
                                                                          for n in range(6)]
    image, mask = nib.load(f"{data}/case_00005/imaging.nii.gz"), nib.load(out / "prediction_00005.nii.gz")
    assert mask.shape == image.shape == (8, 48, 48) and np.allclose(mask.affine, image.affine)   # z-first, as given
