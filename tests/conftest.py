"""Shared fixtures: small synthetic LiTS-like data, prepared once per test session.

Everything runs on CPU with tiny inputs so the whole suite fits CI's 2 cores. Plain helpers
(REPO, tiny_config, run_cli) live in tests/helpers.py.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import pytest  # noqa: E402

from tests.helpers import TRAIN_OVERRIDES, tiny_config, workdir_config  # noqa: E402


@pytest.fixture
def keras_policy():
    """For a test that sets Keras' precision policy (global to the process; the scripts set it once per
    job): the policy it found is set back when it ends."""
    before = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(before)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    item.policy_before = keras.mixed_precision.global_policy().name
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    """A test that leaves Keras' precision policy other than it found it fails here, naming itself,
    instead of silently changing the tests that run after it in this process."""
    result = yield
    before, after = getattr(item, "policy_before", "float32"), keras.mixed_precision.global_policy().name
    if after != before:
        keras.mixed_precision.set_global_policy(before)   # the next test still starts as this one did
        pytest.fail(f"{item.nodeid} left Keras' precision policy at {after} (was {before}): "
                    f"request the keras_policy fixture", pytrace=False)
    return result


@pytest.fixture(scope="session")
def raw_lits(tmp_path_factory):
    """Synthetic LiTS folders: <root>/train (3 volumes) and <root>/val (2 volumes), 64x64x16."""
    from data_sets.synthetic.ct import make_synthetic_splits

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


@pytest.fixture(scope="session")
def trained(tmp_path_factory, prepared_workdir, raw_lits):
    """A tiny UNet3+ trained on the synthetic phantom: (config, history)."""
    from training.run import train

    cfg = workdir_config(tmp_path_factory.mktemp("trained"), prepared_workdir, raw_lits, *TRAIN_OVERRIDES)
    history = train(cfg)
    return cfg, history
