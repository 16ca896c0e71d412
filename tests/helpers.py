"""What every test file shares: the repository path, the tiny config and a runner for the CLI scripts."""
import os
import subprocess
import sys

import numpy as np

from app.config import compose_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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

TRAIN_OVERRIDES = ["HYPER_PARAMETERS.EPOCHS=12", "HYPER_PARAMETERS.LEARNING_RATE=3e-3",
                   "CALLBACKS.TENSORBOARD.VALUE=False", "CALLBACKS.TIMING.WARMUP_STEPS=1"]


def tiny_config(work_dir, *overrides):
    """Config for tests: tiny model and data under work_dir, plus extra overrides."""
    return compose_config([*TINY_OVERRIDES, *overrides], work_dir=str(work_dir))


def shared_data(prepared_workdir, raw_lits) -> list:
    """Overrides that read the session's prepared slices and validation CTs (the conftest fixtures)."""
    return [f"DATA_PREPARATION.PROCESSED_DATA_PATH={prepared_workdir}/data/processed",
            f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={raw_lits}/val"]


def workdir_config(work_dir, prepared_workdir, raw_lits, *overrides):
    """A config that writes into work_dir but reads the shared prepared data."""
    return tiny_config(work_dir, *shared_data(prepared_workdir, raw_lits), *overrides)


def run_cli(script, *args, cwd=REPO, timeout=600, tf_log_level="3") -> subprocess.CompletedProcess:
    """Run a script of this repository (or `-c CODE`) in a fresh Python, as a user would, capturing its output.

    A fresh process also gives a test its own TF devices and global state, and a crash fails
    the test instead of pytest. tf_log_level=None leaves TF's C++ log level to utils/tf_env, as for a user.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "HYDRA_FULL_ERROR")}
    # This checkout's packages, whichever checkout `pip install -e .` installed (scripts/install.sh).
    env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [os.environ.get("PYTHONPATH")])])
    if tf_log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = tf_log_level
    return subprocess.run([sys.executable, os.path.join(REPO, script) if script.endswith(".py") else script,
                           *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def one_training_step(cfg):
    """(model, logs) after one training step of the configured model (compiled as train.py does) on a
    random batch of 2 images of the configured size."""
    from models.model_factory import compile_model, make_targets, prepare_model

    model = compile_model(prepare_model(cfg), cfg)
    rng = np.random.default_rng(0)
    images = rng.random((2, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS), dtype=np.float32)
    masks = np.eye(cfg.OUTPUT.CLASSES, dtype=np.float32)[rng.integers(0, cfg.OUTPUT.CLASSES, images.shape[:3])]
    logs = model.train_on_batch(images, make_targets(cfg.MODEL.TYPE, masks), return_dict=True)
    return model, {name: float(value) for name, value in logs.items()}


def kdtree_distances(truth, prediction, spacing):
    """The two one-way surface-distance sets the way LiTS's helpers/surface.py finds them, independently
    of MedPy: surface = mask minus its erosion by the 18-neighbourhood, nearest neighbours by k-d tree."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    def points(mask):
        surface = mask & ~ndimage.binary_erosion(mask, ndimage.generate_binary_structure(3, 2))
        return np.argwhere(surface) * np.asarray(spacing)

    truth_points, prediction_points = points(truth), points(prediction)
    from_prediction = cKDTree(truth_points).query(prediction_points)[0]
    from_truth = cKDTree(prediction_points).query(truth_points)[0]
    return from_prediction, from_truth
