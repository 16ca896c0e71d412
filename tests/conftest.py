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
# Under xdist the workers share the machine's cores, but each TensorFlow (and each Python a test starts, which
# inherits this environment) would size its thread pools to all of them: on CI's 2 cores, 2 workers ran 4+ busy
# threads that took turns. Each worker's TensorFlow gets its share of the cores instead.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))   # set by xdist before it loads this file
if _WORKERS > 1:
    for _pool in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_pool, str(max(1, (os.cpu_count() or 1) // _WORKERS)))

import pytest  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from tests.helpers import TRAIN_OVERRIDES, tiny_config, workdir_config  # noqa: E402

# Keras is imported where it is used, not here: xdist's controlling process loads this file too, and runs no test
# (a Keras import costs 3-4 s of a core that the workers' own start-up needs).


@pytest.fixture
def keras_policy():
    """For a test that sets Keras' precision policy (global to the process; the scripts set it once per
    job): the policy it found is set back when it ends."""
    import keras

    before = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(before)


def _policy_name() -> str:
    import keras

    return keras.mixed_precision.global_policy().name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    item.policy_before = _policy_name()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    """A test that leaves Keras' precision policy other than it found it fails here, naming itself,
    instead of silently changing the tests that run after it in this process."""
    result = yield
    before, after = getattr(item, "policy_before", "float32"), _policy_name()
    if after != before:
        import keras

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
    from data_sets.preparation import prepare_dataset

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
    import keras

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


# The tests that take longest on 2 cores (each trains, or starts Pythons that do), longest first. A test
# missing here, or renamed, only loses its place at the front. Tests sharing a module-scoped fixture that
# trains (test_images.py's picture_run) are kept together: split up, the fixture would train twice. First of
# all, the check of the session's `trained` run: one worker trains it at once, while the other is busy with
# the next longest test, so that neither waits for it later.
LONGEST_FIRST = [
    "test_pipeline.py::test_training_lowers_loss_and_learns_the_liver",
    "test_pipeline.py::test_train_with_every_switch_on_cpu",
    "test_cross_validation.py::test_two_fold_cross_validation_scores_every_training_volume_once",
    "test_multi_worker.py::test_two_workers_train_to_identical_weights",
    "test_images.py::test_cross_validation_folds_over_images",
    "test_benchmarks.py::test_volume_benchmark_times_a_ct_per_setting_and_writes_the_table",
    "test_pipeline.py::test_the_same_seed_trains_the_same_weights_another_seed_does_not_and_no_run_touches_another",
    "test_run_dirs.py::test_ctrl_c_prints_the_resume_command_and_the_command_resumes",
    "test_run_dirs.py::test_multirun_sweep_leaves_complete_run_dirs_that_evaluate_and_predict_use",
    "test_benchmarks.py::test_sweep_writes_markdown_table_and_plot",
    "test_multi_replica.py::test_dali_iterators_can_be_recreated_under_mirrored_strategy",
    "test_multi_replica.py::test_tf_generator_feeds_global_batches_to_two_replicas",
    "test_multi_replica.py::test_dali_runs_one_sharded_pipeline_per_replica",
    "test_run_dirs.py::test_resume_restores_the_best_and_a_finished_run_trains_nothing",
    "test_benchmarks.py::test_benchmark_scripts_are_hydra_apps_reading_their_section",
    ("test_images.py::test_train_evaluate_predict_four_classes_of_non_square_jpgs",
     "test_images.py::test_notebook_follows_a_picture_run"),
    "test_nnunet_kits19_pipeline.py::test_kits19_case_folders_end_to_end",
    "test_nnunet_kits19_pipeline.py::test_nnunet_data_set_with_two_channels_regions_and_splits_end_to_end",
    "test_notebook.py::test_notebook_executes_and_shows_figures",
    "test_images.py::test_grayscale_binary_masks_from_one_folder_train_and_score",
]


def pytest_collection_modifyitems(config, items):
    """Under xdist's worksteal (pytest.ini) each of the 2 workers starts on its own half of the collected list
    and, once done, steals from the tail of the other's: the longest tests are dealt alternately to the fronts of
    both halves, so that the suite does not end with one worker in a 40 s test while the other idles."""
    if not hasattr(config, "workerinput"):   # not an xdist worker: the order is the files'
        return
    groups = [(entry,) if isinstance(entry, str) else entry for entry in LONGEST_FIRST]
    group_of = {name: index for index, group in enumerate(groups) for name in group}
    by_group = [[] for _ in groups]
    rest = []
    for item in items:   # "tests/test_x.py::test_y[param]" -> "test_x.py::test_y"
        index = group_of.get(os.path.basename(item.nodeid.partition("[")[0]))
        (rest if index is None else by_group[index]).append(item)
    first, second = by_group[0::2], by_group[1::2]
    first, second = [item for group in first for item in group], [item for group in second for item in group]
    middle = len(items) // 2 - len(first)   # where xdist cuts the list in two
    items[:] = first + rest[:middle] + second + rest[middle:]
