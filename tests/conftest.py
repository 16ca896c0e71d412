"""Shared fixtures: small synthetic LiTS-like data, prepared once per test session.

Everything runs on CPU with tiny inputs so the whole suite fits CI's 2 cores. Plain helpers
(REPO, tiny_config, run_cli) live in tests/helpers.py.
"""
import fcntl
import json
import os
import re
import shutil
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import pytest  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

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


def made_once_per_session(request, tmp_path_factory, name, make):
    """A folder `make(folder)` fills once per test session, shared by every xdist worker: the first worker to ask
    makes it while the others wait on a file lock (the OS drops the lock of a worker that dies); without xdist, a
    plain temporary folder. Only for what is read, never changed: a worker that changes it must copy it first."""
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent / f"{name}-{workerinput['testrunuid']}"   # one per session
    root.mkdir(exist_ok=True)
    folder, done = root / "made", root / "done"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)   # what a worker that failed half-way left
                folder.mkdir()
                make(folder)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


@pytest.fixture(scope="session")
def trained(request, tmp_path_factory, prepared_workdir, raw_lits):
    """A tiny UNet3+ trained on the synthetic phantom: (config, history), where history holds what train()'s
    History returned (`history` dict, `total_training_seconds`).

    Trained once per session (26 s), not once per xdist worker: each worker gets its own copy of the trained
    WORK_DIR, with the config's paths moved to it and to the worker's own prepared data, as if it had trained
    there, so a test writing into the run (predictions, exports) never meets another worker's files.
    """
    from training.run import train

    def train_run(folder):
        cfg = workdir_config(folder / "work", prepared_workdir, raw_lits, *TRAIN_OVERRIDES)
        history = train(cfg)
        keras.backend.clear_session()
        record = {"roots": [str(folder / "work"), str(prepared_workdir), str(raw_lits)],
                  "config": OmegaConf.to_yaml(cfg), "history": history.history,
                  "total_training_seconds": history.total_training_seconds}
        (folder / "trained.json").write_text(json.dumps(record))

    shared = made_once_per_session(request, tmp_path_factory, "trained", train_run)
    record = json.loads((shared / "trained.json").read_text())
    work_dir = tmp_path_factory.mktemp("trained") / "work"
    shutil.copytree(shared / "work", work_dir)
    moves = dict(zip(record["roots"], [str(work_dir), str(prepared_workdir), str(raw_lits)]))

    def moved(text):
        pattern = "(" + "|".join(map(re.escape, moves)) + r")(?![\w.-])"   # whole folder names only
        return re.sub(pattern, lambda found: moves[found.group(1)], text)

    for saved in work_dir.glob("runs/*/config.yaml"):
        saved.write_text(moved(saved.read_text()))
    cfg = OmegaConf.create(moved(record["config"]))
    OmegaConf.set_struct(cfg, True)   # as compose_config gives it
    history = types.SimpleNamespace(history=record["history"], total_training_seconds=record["total_training_seconds"])
    return cfg, history
