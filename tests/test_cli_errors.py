"""Bad input -> one `error:` line (docs/errors.md): the typed schema, unknown keys, paths, corrupt data.

Each row of docs/errors.md is a case here. The command-line cases stop before any model is built,
except the corrupt-PNG ones, which train a tiny model until they meet the bad file. One case per script
runs it in a fresh Python, as a user types it; the others call the same main() in the test's process
(tests/helpers.run_main), each sparing a TensorFlow import.
"""
import glob
import os
import shutil
import subprocess
from typing import List

import pytest

from callbacks.csv_logger import CSVLogger
from data_generators.dali_data_generator import dali_import_error
from tests.helpers import REPO, TINY_OVERRIDES, run_cli, run_main, tiny_config
from app.cli import script_examples
from utils.errors import UserError, exit_on_user_error, hint_for_library_error, raised_in_worker
from app.paths import require_paths, require_writable_dir, require_writable_file
from app.schema import (RENAMED_KEYS, TYPE_OVERRIDES, build_schema, describe_type, key_types, matches_type,
                          unknown_key_message)
from app.tf_env import has_nvidia_device

CONFIG = os.path.join(REPO, "configs", "config.yaml")


def error_lines(result: subprocess.CompletedProcess) -> List[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, exactly one `error:` line holding every fragment, no traceback, no cuInit line."""
    assert result.returncode == 2, result.stderr
    errors = error_lines(result)
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.stderr and "cuInit" not in result.stderr, result.stderr


# (script, overrides, fragments of the one error line); `{tmp}` is the test's tmp_path, `{file}` a plain file in it.
# Every script shares the schema and the validation step: config-only cases use verify_data.py.
V = "data_preparation/verify_data.py"
CASES = [
    ("train.py", ["HYPER_PARAMETERS.LEARNING_RATE=abc"],
     ["HYPER_PARAMETERS.LEARNING_RATE must be a number, got 'abc'"]),
    ("data_preparation/preprocess_data.py", ["DATA_PREPARATION.HU_WINDOW.MIN=abc"],
     ["DATA_PREPARATION.HU_WINDOW.MIN must be an integer, got 'abc'"]),
    ("train.py", ["VERBOSE=abc"], ["VERBOSE must be an integer, got 'abc'"]),
    (V, ["MODEL.FILTERS=[8,16,x,64,128]"], ["MODEL.FILTERS must be a list of integers, got 'x'"]),
    (V, ["USE_MULTI_GPUS.GPU_IDS=all"], ["USE_MULTI_GPUS.GPU_IDS must be an integer or a list of integers, got 'all'"]),
    (V, ["MODEL.TPYE=unet3plus"], ["unknown config key MODEL.TPYE", "did you mean MODEL.TYPE?"]),
    (V, ["+MODEL.TPYE=unet3plus"], ["unknown config key MODEL.TPYE", "did you mean MODEL.TYPE?"]),
    (V, ["+HYPER_PARAMETERS.EPOCH=3"], ["did you mean HYPER_PARAMETERS.EPOCHS?"]),
    ("train.py", ["-m", "HYPER_PARAMETERS.LEARNING_RATE=1e-3,abc"], ["LEARNING_RATE must be a number, got 'abc'"]),
    (V, ["MODEL.TYPE"], ["Error parsing override 'MODEL.TYPE'"]),
    (V, ["--config-name", "demoo"], ["Cannot find primary config 'demoo': --config-name must be one of config, demo"]),
    ("benchmark_inference.py", ["+warmup_steps=5"], ["+warmup_steps is now the config key BENCHMARK.WARMUP_STEPS"]),
    (V, ["+bench_steps=5"], ["BENCHMARK.STEPS"]),
    (V, ["+json_path=x.json"], ["BENCHMARK.JSON_PATH"]),
    (V, ["+samples=2"], ["+samples is now the config key VERIFY.SAMPLES"]),
    ("train.py", ["CALLBACKS.MODEL_CHECKPOINT.PATH={file}/checkpoint"],
     ["CALLBACKS.MODEL_CHECKPOINT.PATH cannot be created", "is a file"]),
    ("train.py", ["CALLBACKS.CSV_LOGGER.PATH={tmp}"], ["CALLBACKS.CSV_LOGGER.PATH must be a file path"]),
    ("train.py", ["MODEL.BACKBONE.WEIGHTS={tmp}/missing.h5"], ["MODEL.BACKBONE.WEIGHTS: file not found"]),
    ("evaluate.py", ["EVALUATION.RESULTS_PATH={file}/results"], ["EVALUATION.RESULTS_PATH cannot be created"]),
    # the config is validated first, before the run folder is looked for
    ("evaluate.py", ["HYPER_PARAMETERS.BATCH_SIZE=0", "RUN_DIR={tmp}/no_such_run"],
     ["HYPER_PARAMETERS.BATCH_SIZE must be a positive integer, got 0"]),
    ("evaluate.py", ["EVALUATION.HD95=mean"], ["EVALUATION.HD95 must be one of max_of_directed, pooled; got 'mean'"]),
    ("evaluate.py", ["EVALUATION.LESION_OVERLAP=1.5"], ["EVALUATION.LESION_OVERLAP must be a number from 0"]),
    ("evaluate.py", ["DATA_PREPARATION.SCANS_VAL_DATA_PATH={tmp}/none"],
     ["DATA_PREPARATION.SCANS_VAL_DATA_PATH: directory not found"]),
    ("predict.py", ["PREDICTION.VOLUMES={tmp}/ct.nii.gz"], ["CT volume", "ct.nii.gz not found"]),
    ("predict.py", ["PREDICTION.RESULTS_PATH={file}/predictions"], ["PREDICTION.RESULTS_PATH cannot be created"]),
    ("benchmark_inference.py", ["BENCHMARK.JSON_PATH={file}/bench.json"], ["BENCHMARK.JSON_PATH cannot be created"]),
    ("train.py", ["DATA_PREPARATION.HU_WINDOW.MIN=300", "DATA_PREPARATION.HU_WINDOW.MAX=250"],
     ["DATA_PREPARATION.HU_WINDOW.MIN must be < DATA_PREPARATION.HU_WINDOW.MAX, got 300..250"]),
    ("data_preparation/preprocess_data.py", ["data=nnunet", "DATA_PREPARATION.DATASET_PATH={tmp}"],
     ["dataset.json not found: an nnU-Net data set folder holds dataset.json, imagesTr and labelsTr"]),
    ("data_preparation/preprocess_data.py", ["data=nnunet"], ["DATA_PREPARATION.DATASET_PATH is not set"]),
    ("data_preparation/preprocess_data.py", ["data=kits19", "DATA_PREPARATION.DATASET_PATH={tmp}"],
     ["holds no case_XXXXX folders (KiTS19's data folder"]),
    ("predict.py", ["PREDICTION.VOLUMES=/data/ünï"],
     ["cannot parse the value of PREDICTION.VOLUMES (/data/ünï)", "quote it, as 'PREDICTION.VOLUMES=\"/data/ünï\"'"]),
]


# The first case of each script is run in a fresh Python (run_cli), the rest in-process (run_main).
FRESH_PROCESS = [next(case for case in CASES if case[0] == script)[:2] for script in dict.fromkeys(c[0] for c in CASES)]


def fake_run(work_dir) -> str:
    """A run folder as train.py leaves it (its saved config, a weights file), with empty weights: every
    path check comes before the weights are read."""
    from omegaconf import OmegaConf

    run_dir = os.path.join(work_dir, "runs", "2026-01-01_00-00-00")
    cfg = tiny_config(work_dir, f"RUN_DIR={run_dir}")
    os.makedirs(cfg.CALLBACKS.MODEL_CHECKPOINT.PATH)
    open(os.path.join(cfg.CALLBACKS.MODEL_CHECKPOINT.PATH, f"{cfg.MODEL.WEIGHTS_FILE_NAME}.weights.h5"), "wb").close()
    OmegaConf.save(OmegaConf.to_container(cfg, resolve=True), os.path.join(run_dir, "config.yaml"))
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("script,overrides,fragments", CASES, ids=[" ".join(c[1]) for c in CASES])
def test_bad_input_gives_one_error_line(tmp_path, script, overrides, fragments):
    plain_file = tmp_path / "a_file"
    plain_file.write_text("not a directory")
    args = [o.format(tmp=tmp_path, file=plain_file) for o in overrides]
    if script in ("evaluate.py", "predict.py"):   # they read a training run first: give them one
        fake_run(tmp_path)
    if (script, overrides) in FRESH_PROCESS:
        result = run_cli(script, *args, f"WORK_DIR={tmp_path}", tf_log_level=None)
    else:
        result = run_main(script, *args, f"WORK_DIR={tmp_path}")
    assert_one_error_line(result, *fragments)
    assert not (tmp_path / "checkpoint").exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_corrupt_png_met_in_training_names_the_file_and_leaves_no_run_behind(tmp_path, prepared_workdir):
    data = tmp_path / "processed"
    shutil.copytree(prepared_workdir / "data" / "processed", data)
    bad = sorted((data / "val" / "images").iterdir())[1]
    bad.write_bytes(bad.read_bytes()[:100])   # a PNG cut short, as by a full disk
    result = run_main("train.py", f"WORK_DIR={tmp_path}", f"DATA_PREPARATION.PROCESSED_DATA_PATH={data}",
                      *TINY_OVERRIDES, "MODEL.FILTERS=[4,8,16]", "MODEL.SKIP_FILTERS=4",
                      "CALLBACKS.TENSORBOARD.VALUE=False")
    assert_one_error_line(result, f"cannot read image {bad}")
    assert glob.glob(f"{tmp_path}/runs/*") == []   # failed before any weights: no run for evaluate.py to pick


@pytest.mark.slow
@pytest.mark.skipif(dali_import_error() is not None, reason="NVIDIA DALI is not installed")
def test_corrupt_png_met_by_dali_gives_one_line(tmp_path, prepared_workdir):
    data = tmp_path / "processed"
    shutil.copytree(prepared_workdir / "data" / "processed", data)
    bad = sorted((data / "val" / "images").iterdir())[1]
    bad.write_bytes(bad.read_bytes()[:100])
    result = run_main("train.py", f"WORK_DIR={tmp_path}", f"DATA_PREPARATION.PROCESSED_DATA_PATH={data}",
                      *TINY_OVERRIDES, "MODEL.FILTERS=[4,8,16]", "MODEL.SKIP_FILTERS=4",
                      "CALLBACKS.TENSORBOARD.VALUE=False", "DATA_GENERATOR_TYPE=DALI_GENERATOR")
    assert_one_error_line(result, "DALI could not decode a PNG", "verify_data.py")


@pytest.mark.slow
@pytest.mark.skipif(has_nvidia_device(), reason="the cuInit line only appears on machines without an NVIDIA GPU")
def test_no_cuda_error_line_without_a_gpu(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)       # TensorFlow probes CUDA, as on a user's machine
    result = run_cli("benchmark_inference.py", f"WORK_DIR={tmp_path}", *TINY_OVERRIDES,
                     "MODEL.FILTERS=[4,8,16]", "MODEL.SKIP_FILTERS=4", "BENCHMARK.WARMUP_STEPS=0",
                     "BENCHMARK.STEPS=1", tf_log_level=None)
    assert result.returncode == 0, result.stderr
    assert "cuInit" not in result.stderr and "E external" not in result.stderr, result.stderr


def test_help_examples_are_the_scripts_own_command_lines():
    doc = "Summary.\n\n    python x.py A=1   # a note\n    other text\n    python x.py 'B=[1,2]'\n"
    assert script_examples(doc, "x.py") == "  python x.py A=1   # a note\n  python x.py 'B=[1,2]'"
    assert script_examples("No command lines here.", "x.py") == "  python x.py HYPER_PARAMETERS.BATCH_SIZE=4"


@pytest.mark.slow
def test_help_footer_names_the_declared_options():
    result = run_main("benchmark_inference.py", "--help")
    assert result.returncode == 0
    assert "BENCHMARK:" in result.stdout and "WARMUP_STEPS: 50" in result.stdout
    assert "+warmup_steps" not in result.stdout


# --- the schema, derived from config.yaml -------------------------------------------------------------

def test_every_key_of_config_yaml_is_typed_and_null_keys_are_declared():
    types = key_types(CONFIG)
    assert types["HYPER_PARAMETERS.LEARNING_RATE"] is float
    assert types["DATA_PREPARATION.HU_WINDOW.MIN"] is int
    assert types["DATA_PREPARATION.RESIZE"] is bool
    assert types["DATA_PREPARATION.RESIZED_HEIGHT"] is int          # ${INPUT.HEIGHT}: the referenced key's type
    assert types["EVALUATION.RESULTS_PATH"] is str                   # a path built from ${...}
    assert str(types["MODEL.FILTERS"]) == "typing.List[int]"
    assert types["BENCHMARK.STEPS"] is int and types["VERIFY.SAMPLES"] is int
    untyped = [key for key, declared in types.items() if "Any" in str(declared)]
    assert untyped == [], f"give these keys a type in app/schema.py TYPE_OVERRIDES: {untyped}"
    assert set(TYPE_OVERRIDES) <= set(types), "TYPE_OVERRIDES names a key config.yaml lacks"


def test_a_key_added_to_the_yaml_is_typed_without_editing_the_schema(tmp_path):
    yaml = tmp_path / "config.yaml"
    yaml.write_text("A:\n  B: 3\n  C: ${A.B}\n  D: x-${A.B}\n  E: [0.5, 1.5]\nF: false\n")
    assert key_types(str(yaml)) == {"A.B": int, "A.C": int, "A.D": str, "A.E": key_types(str(yaml))["A.E"],
                                    "F": bool}
    assert str(key_types(str(yaml))["A.E"]) == "typing.List[float]"
    schema = build_schema(str(yaml))()
    assert schema.A.B == 3 and schema.A.C == "${A.B}" and schema.F is False


def test_a_config_group_folder_is_an_open_section(tmp_path):
    (tmp_path / "LOSS").mkdir()
    (tmp_path / "LOSS" / "hybrid.yaml").write_text("FOCAL: 1.0\n")
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "recipe.yaml").write_text("# @package _global_\nA:\n  B: 4\n")
    (tmp_path / "config.yaml").write_text("A:\n  B: 3\n")
    schema = build_schema(str(tmp_path / "config.yaml"))()
    assert schema.LOSS is None and schema.A.B == 3 and not hasattr(schema, "experiment")


def test_describe_and_match_types():
    assert describe_type(TYPE_OVERRIDES["MODEL.BACKBONE.WEIGHTS"]) == "a string or null"
    assert describe_type(TYPE_OVERRIDES["USE_MULTI_GPUS.GPU_IDS"]) == "an integer or a list of integers"
    assert matches_type([0, 1], TYPE_OVERRIDES["USE_MULTI_GPUS.GPU_IDS"])
    assert matches_type(-1, TYPE_OVERRIDES["USE_MULTI_GPUS.GPU_IDS"])
    assert not matches_type([0, "1"], TYPE_OVERRIDES["USE_MULTI_GPUS.GPU_IDS"])
    assert not matches_type(True, int)
    for amp in (False, True, "float16", "bfloat16"):
        assert matches_type(amp, TYPE_OVERRIDES["OPTIMIZATION.AMP"])


@pytest.mark.parametrize("override,message", [
    ("HYPER_PARAMETERS.LEARNING_RATE=abc", "HYPER_PARAMETERS.LEARNING_RATE must be a number, got 'abc'"),
    ("MODEL.TYPE=null", "MODEL.TYPE must be a string, got None"),
    ("+MODEL.BACKBONE.WIEGHTS=x", "unknown config key MODEL.BACKBONE.WIEGHTS (did you mean MODEL.BACKBONE.WEIGHTS?)"),
    ("+samples=3", "+samples is now the config key VERIFY.SAMPLES: write VERIFY.SAMPLES=VALUE"),
    ("+MODEL.TYPE=unet3plus", "MODEL.TYPE is declared already: set it without the +, as MODEL.TYPE=VALUE"),
    ("USE_MULTI_GPUS.GPU_IDS=[0,x]", "USE_MULTI_GPUS.GPU_IDS must be an integer or a list of integers, got [0, 'x']"),
])
def test_compose_config_refuses_with_one_line(tmp_path, override, message):
    with pytest.raises(UserError) as raised:
        tiny_config(tmp_path, override)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_declared_values_compose_with_their_types(tmp_path):
    cfg = tiny_config(tmp_path, "HYPER_PARAMETERS.LEARNING_RATE=1", "USE_MULTI_GPUS.GPU_IDS=[0,1]",
                      "PREDICTION.IMAGE_NAMES=[a.png]", "OPTIMIZATION.AMP=bfloat16", "BENCHMARK.STEPS=7")
    assert cfg.HYPER_PARAMETERS.LEARNING_RATE == 1.0 and isinstance(cfg.HYPER_PARAMETERS.LEARNING_RATE, float)
    assert list(cfg.USE_MULTI_GPUS.GPU_IDS) == [0, 1] and cfg.OPTIMIZATION.AMP == "bfloat16"
    assert cfg.BENCHMARK.STEPS == 7 and cfg.BENCHMARK.JSON_PATH == f"{tmp_path}/results/benchmark_inference.json"


def test_unknown_key_message_prefers_the_renamed_key_then_the_nearest():
    keys = ["MODEL", "MODEL.TYPE", "VERBOSE"]
    assert unknown_key_message("verbose", keys).startswith("unknown config key verbose (did you mean VERBOSE?)")
    assert "see --help" in unknown_key_message("COMPLETELY_DIFFERENT", keys)
    assert set(RENAMED_KEYS.values()) <= set(key_types(CONFIG))


# --- paths, worker errors, the CSV log ------------------------------------------------------------------

def test_require_paths_names_the_key_and_creates_nothing(tmp_path):
    plain_file = tmp_path / "f"
    plain_file.write_text("x")
    assert require_writable_dir(str(tmp_path / "new" / "deeper"), "K") == str(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()
    with pytest.raises(UserError, match=r"^K cannot be created at .*/f/sub: .*/f is a file"):
        require_writable_dir(str(plain_file / "sub"), "K")
    with pytest.raises(UserError, match="^K must be a file path"):
        require_writable_file(str(tmp_path), "K")
    cfg = tiny_config(tmp_path, f"CALLBACKS.TENSORBOARD.PATH={plain_file}/tb", "CALLBACKS.TENSORBOARD.VALUE=False")
    require_paths(cfg, write_dirs=["CALLBACKS.TENSORBOARD.PATH"], read_files=["MODEL.BACKBONE.WEIGHTS"])  # off; null
    with pytest.raises(UserError, match="^CALLBACKS.TENSORBOARD.PATH cannot be created"):
        require_paths(tiny_config(tmp_path, f"CALLBACKS.TENSORBOARD.PATH={plain_file}/tb"),
                      write_dirs=["CALLBACKS.TENSORBOARD.PATH"])


def test_a_user_error_wrapped_by_a_framework_still_exits_with_its_line(capsys):
    with pytest.raises(SystemExit) as exited:
        with exit_on_user_error():
            try:
                raise raised_in_worker(UserError("cannot read image x.png"))
            except UserError as err:
                raise RuntimeError(f"Graph execution error:\n{err}\n(70 more lines)") from None
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: cannot read image x.png\n"
    hint_for_library_error("marker-of-a-library-error", "the cause, in one line")
    with pytest.raises(SystemExit):
        with exit_on_user_error():
            raise RuntimeError("Graph execution error: ... marker-of-a-library-error ...")
    assert capsys.readouterr().err == "error: the cause, in one line\n"
    with pytest.raises(RuntimeError):   # no worker error noted: a real bug keeps its traceback
        with exit_on_user_error():
            raise RuntimeError("bug")


def test_csv_log_is_written_only_when_an_epoch_ends(tmp_path):
    path = tmp_path / "training.csv"
    path.write_text("epoch,loss\n0,0.5\n")   # the previous run's log
    logger = CSVLogger(str(path))
    logger.on_train_begin()
    assert path.read_text() == "epoch,loss\n0,0.5\n"   # a run failing now leaves it as it was
    logger.on_epoch_end(0, {"loss": 0.25})
    logger.on_train_end()
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,0.25,NA"]
