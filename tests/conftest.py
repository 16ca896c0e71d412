"""Shared fixtures: small synthetic LiTS-like data, prepared once per test session.

Everything runs on CPU with tiny inputs so the whole suite fits CI's 2 cores.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest  # noqa: E402

from utils.config import compose_config  # noqa: E402

# Small settings every test config starts from: 64x64 inputs and a slim plain encoder.
TINY_OVERRIDES = [
    "INPUT.HEIGHT=64",
    "INPUT.WIDTH=64",
    "MODEL.FILTERS=[8,16,32,64,128]",
    "MODEL.SKIP_FILTERS=8",
    "HYPER_PARAMETERS.BATCH_SIZE=4",
    "HYPER_PARAMETERS.EPOCHS=1",
    "VERBOSE=0",
    "DATA_PREPARATION.WORKERS=1",
]


def tiny_config(work_dir, *overrides):
    """Config for tests: tiny model and data under work_dir, plus extra overrides."""
    return compose_config([*TINY_OVERRIDES, *overrides], work_dir=str(work_dir))


@pytest.fixture(scope="session")
def raw_lits(tmp_path_factory):
    """Synthetic LiTS folders: <root>/train (3 volumes) and <root>/val (2 volumes), 64x64x16."""
    from data_preparation.make_synthetic_lits import make_synthetic_splits

    root = tmp_path_factory.mktemp("raw_lits")
    make_synthetic_splits(str(root), train=3, val=2, size=64, slices=16, seed=0)
    return root


@pytest.fixture(scope="session")
def prepared_workdir(tmp_path_factory, raw_lits):
    """A WORK_DIR whose data/processed holds PNG slices made from raw_lits by preprocess_data."""
    from data_preparation.preprocess_data import prepare_dataset

    work_dir = tmp_path_factory.mktemp("work")
    cfg = tiny_config(work_dir, f"DATA_PREPARATION.SCANS_TRAIN_DATA_PATH={raw_lits}/train",
                      f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={raw_lits}/val")
    prepare_dataset(cfg)
    return work_dir


TRAIN_OVERRIDES = ["HYPER_PARAMETERS.EPOCHS=12", "HYPER_PARAMETERS.LEARNING_RATE=3e-3",
                   "CALLBACKS.TENSORBOARD.VALUE=False", "CALLBACKS.TIMING.WARMUP_STEPS=1"]


def workdir_config(work_dir, prepared_workdir, raw_lits, *overrides):
    """A config that writes into work_dir but reads the shared prepared data."""
    return tiny_config(work_dir, f"DATA_PREPARATION.PROCESSED_DATA_PATH={prepared_workdir}/data/processed",
                       f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={raw_lits}/val", *overrides)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, prepared_workdir, raw_lits):
    """A tiny UNet3+ trained on the synthetic phantom: (config, history)."""
    from train import train

    cfg = workdir_config(tmp_path_factory.mktemp("trained"), prepared_workdir, raw_lits, *TRAIN_OVERRIDES)
    history = train(cfg)
    return cfg, history
