"""What every test file shares: the repository path, the tiny config and runners for the CLI scripts."""
import contextlib
import copy
import io
import logging
import logging.config
import os
import runpy
import subprocess
import sys
import traceback
from unittest import mock

import numpy as np

from app.config import compose_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Small settings every test config starts from: 64x64 inputs and a slim plain encoder of 3 levels (the paper's 5
# cost a test twice the time to build and trace, and run the same code: PAPER_FILTERS where the depth matters).
TINY_OVERRIDES = [
    "INPUT.HEIGHT=64",
    "INPUT.WIDTH=64",
    "MODEL.FILTERS=[8,16,32]",
    "MODEL.SKIP_FILTERS=8",
    "HYPER_PARAMETERS.BATCH_SIZE=4",
    "HYPER_PARAMETERS.EPOCHS=1",
    "VERBOSE=0",
    "DATA_PREPARATION.WORKERS=1",
]

PAPER_FILTERS = "MODEL.FILTERS=[8,16,32,64,128]"   # the tiny encoder's widths at the paper's five levels

TRAIN_OVERRIDES = ["HYPER_PARAMETERS.EPOCHS=12", "HYPER_PARAMETERS.LEARNING_RATE=3e-3",
                   "CALLBACKS.TENSORBOARD.VALUE=False", "CALLBACKS.TIMING.WARMUP_STEPS=1"]


_COMPOSED = {}   # tiny_config's override lists -> their config, composed once with a stand-in WORK_DIR
_STAND_IN_WORK_DIR = "/tiny-config-work-dir"


def tiny_config(work_dir, *overrides):
    """Config for tests: tiny model and data under work_dir, plus extra overrides.

    Hydra composes each distinct list of overrides once per process (0.15 s a compose, and the fast tier asks for
    hundreds): every call gets a copy of its own, its WORK_DIR, which the default paths interpolate, set to work_dir.
    """
    overrides = (*TINY_OVERRIDES, *map(str, overrides))
    if any(override.startswith("WORK_DIR=") for override in overrides):
        return compose_config(overrides, work_dir=str(work_dir))
    if overrides not in _COMPOSED:
        _COMPOSED[overrides] = compose_config(overrides, work_dir=_STAND_IN_WORK_DIR)
    cfg = copy.deepcopy(_COMPOSED[overrides])
    cfg.WORK_DIR = os.path.abspath(str(work_dir))
    return cfg


def shared_data(prepared_workdir, raw_lits) -> list:
    """Overrides that read the session's prepared slices and validation CTs (the conftest fixtures)."""
    return [f"DATA_PREPARATION.PROCESSED_DATA_PATH={prepared_workdir}/data/processed",
            f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={raw_lits}/val"]


def workdir_config(work_dir, prepared_workdir, raw_lits, *overrides):
    """A config that writes into work_dir but reads the shared prepared data."""
    return tiny_config(work_dir, *shared_data(prepared_workdir, raw_lits), *overrides)


def trained_run_args(cfg, *overrides) -> list:
    """The command line of a script reading the trained run `cfg` (conftest's `trained`) as that config reads it:
    the tiny settings, its WORK_DIR, RUN_DIR and data folders, then `overrides` (a later KEY=VALUE replaces an
    earlier one, as Hydra reads them)."""
    return [*TINY_OVERRIDES, f"WORK_DIR={cfg.WORK_DIR}", f"RUN_DIR={cfg.RUN_DIR}",
            f"DATA_PREPARATION.PROCESSED_DATA_PATH={cfg.DATA_PREPARATION.PROCESSED_DATA_PATH}",
            f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={cfg.DATA_PREPARATION.SCANS_VAL_DATA_PATH}", *overrides]


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



def run_main(script, *args, cwd=None) -> subprocess.CompletedProcess:
    """Run a script in this process as `python script.py args` runs it: what `run_cli` returns (exit status,
    stdout, stderr), without starting a Python and importing TensorFlow again (5-8 s each on 2 cores).

    The script is executed from its file as `__main__` (runpy.run_path), never imported as a module: tests use
    the scripts only as a user does, so nothing in the library or the tests needs what is in a script. Its
    docstring is the __main__ module's, so `--help` reads it as in a fresh Python. What needs a fresh process
    stays with run_cli: TensorFlow's start-up log lines, TF devices, signals. An exception that would end the
    script with a traceback is printed to its stderr with exit status 1, as Python would. Hydra's singletons,
    the root logger's handlers, sys.argv, HYDRA_FULL_ERROR and the working directory are put back afterwards:
    the next test starts as this one did. Hydra sets up logging with dictConfig, which closes every handler of
    the process: absl's would close the stream it was made with, pytest's captured stderr; here the old
    handlers are only unregistered, never closed.
    """
    from hydra.core.singleton import Singleton

    import app.cli  # noqa: F401 -- its OmegaConf resolvers, before Hydra's state (resolvers included) is saved
    path = os.path.join(REPO, script)
    hydra_state, root = Singleton.get_state(), logging.getLogger()
    handlers, level, argv, here = root.handlers[:], root.level, sys.argv, os.getcwd()
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    out, err, returncode = io.StringIO(), io.StringIO(), 0
    sys.argv = [path, *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(cwd or here), \
                mock.patch.object(logging.config, "_clearExistingHandlers", logging._handlers.clear):
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as exited:
                returncode = exited.code if isinstance(exited.code, int) else int(exited.code is not None)
                if isinstance(exited.code, str):
                    print(exited.code, file=sys.stderr)
            except Exception:   # noqa: BLE001 -- what the interpreter would print and exit with
                traceback.print_exc()
                returncode = 1
    finally:
        sys.argv = argv
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
        Singleton.set_state(hydra_state)
        root.handlers[:] = handlers
        root.setLevel(level)
    return subprocess.CompletedProcess([script, *map(str, args)], returncode, out.getvalue(), err.getvalue())


def one_training_step(cfg):
    """(model, logs) after one training step of the configured model (compiled as train.py does) on a
    random batch of 2 images of the configured size."""
    from models.model_factory import compile_model, make_targets, model_levels, prepare_model

    model = compile_model(prepare_model(cfg), cfg)
    rng = np.random.default_rng(0)
    images = rng.random((2, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS), dtype=np.float32)
    masks = np.eye(cfg.OUTPUT.CLASSES, dtype=np.float32)[rng.integers(0, cfg.OUTPUT.CLASSES, images.shape[:3])]
    logs = model.train_on_batch(images, make_targets(cfg.MODEL.TYPE, masks, model_levels(cfg)), return_dict=True)
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
