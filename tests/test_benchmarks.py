"""benchmark_inference.py (its library: benchmarks/latency.py) and the sweep script print and write their figures."""
import importlib.util
import json
import os

import keras
import numpy as np
import pytest

from benchmarks.latency import run_benchmark
from benchmarks.compute import conv_flops, matmul_peak_gflops
from benchmarks.markdown import replace_section
from benchmarks.tables import table_row
from deploy.backends import parse_backends
from tests.helpers import run_cli, run_main, tiny_config, workdir_config
from app.config import validate_config
from utils.errors import UserError


BENCH = ["BENCHMARK.WARMUP_STEPS=1", "BENCHMARK.STEPS=3"]


@pytest.mark.slow
def test_every_backend_runs_side_by_side_and_agrees(tmp_path):
    openvino = ["openvino:float32", "openvino:bfloat16"] if importlib.util.find_spec("openvino") else []
    cfg = tiny_config(tmp_path, "HYPER_PARAMETERS.BATCH_SIZE=2", "MODEL.TYPE=unet3plus_deepsup_cgm", *BENCH,
                      f"BENCHMARK.BACKENDS=[keras:float32,keras:bfloat16,onnxruntime,onnxruntime:int8,{','.join(openvino)}]"
                      .replace(",]", "]"))
    results = run_benchmark(cfg)      # no training slices under tmp_path: int8 is calibrated on the random batch
    assert {(r["data"], r["run_dir"]) for r in results} == {("random", None)}   # no run under tmp_path
    assert [f"{r['backend']}:{r['precision']}" for r in results] == [
        "keras:float32", "keras:bfloat16", "onnxruntime:float32", "onnxruntime:int8", *openvino]
    gflop = results[0]["gflop_per_image"]
    for result in results:
        assert result["steps"] == 3 and result["batch_size"] == 2 and result["gflop_per_image"] == gflop
        assert result["throughput_img_s"] == pytest.approx(2000.0 / result["latency_ms_mean"], rel=1e-6)
        assert result["gflops"] == pytest.approx(result["throughput_img_s"] * gflop, rel=1e-6)
        assert result["latency_ms_p95"] >= result["latency_ms_p50"] > 0
    assert all(r["labels_equal_first"] > 0.999 for r in results if r["precision"] == "float32")
    assert results[1]["labels_equal_first"] > 0.9                                                  # bfloat16: close
    assert table_row(results[2]).startswith("| unet3plus_deepsup_cgm | unet3plus | 64x64x3 | 2 | onnxruntime | float32 | False |")


@pytest.mark.slow
def test_a_trained_run_is_timed_with_its_weights_on_its_validation_slices(trained, prepared_workdir, raw_lits, capsys):
    """The recipe's way: the run's weights, the run's validation batches (the latest run under WORK_DIR)."""
    from data_generators.data_generator import get_data_generator
    from run_dirs.loading import load_trained_model

    trained_cfg, _ = trained
    cfg = workdir_config(trained_cfg.WORK_DIR, prepared_workdir, raw_lits, *BENCH, "HYPER_PARAMETERS.BATCH_SIZE=4",
                         "BENCHMARK.BACKENDS=[keras:float32]")
    result, = run_benchmark(cfg)
    assert (result["data"], result["run_dir"]) == ("validation slices", trained_cfg.RUN_DIR)
    assert f"benchmark input: run {trained_cfg.RUN_DIR}: its weights on 32 of its validation slices" in capsys.readouterr().out
    # the labels it predicted on its first batch are the run's best weights' on the first validation batch
    images, _ = get_data_generator(cfg, "val").data[0]
    predicted = np.argmax(load_trained_model(cfg).predict(images, verbose=0)["d1"], axis=-1)
    assert 0 < result["foreground_first_batch"] == pytest.approx(float(np.mean(predicted > 0)), abs=1e-4)
    assert result["batch_size"] == 4


def test_benchmark_input_run_without_a_run_is_one_error_line(tmp_path):
    with pytest.raises(UserError, match=f"^no training run under {tmp_path}"):
        run_benchmark(tiny_config(tmp_path, "BENCHMARK.INPUT=run", *BENCH))


def test_bare_backend_names_follow_amp_when_they_can(monkeypatch):
    real_find_spec = importlib.util.find_spec                       # openvino is optional: pretend it is there
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "openvino" else real_find_spec(name))
    assert parse_backends(["keras", "onnxruntime", "openvino:float32"], "bfloat16") == [
        ("keras", "bfloat16"), ("onnxruntime", "float32"), ("openvino", "float32")]


def test_inference_backend_is_checked_like_benchmark_backends():
    assert parse_backends(["onnxruntime:int8"], "float32", "INFERENCE.BACKEND") == [("onnxruntime", "int8")]
    with pytest.raises(UserError, match=r"^INFERENCE.BACKEND must be one of auto, keras, onnxruntime, openvino \(optionally NAME:PRECISION\); "
                                        r"got 'tensorrt'$"):
        parse_backends(["tensorrt"], "float32", "INFERENCE.BACKEND")
    with pytest.raises(UserError, match="'onnxruntime:bfloat16': onnxruntime runs in float32, int8$"):
        parse_backends(["onnxruntime:bfloat16"], "float32", "INFERENCE.BACKEND")
    with pytest.raises(UserError, match=r"^BENCHMARK.BACKENDS is empty; choose one or more of keras, onnxruntime"):
        parse_backends([], "float32")


def test_missing_backend_names_the_installed_choices(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "openvino" else real_find_spec(name))
    with pytest.raises(UserError, match=r"backend 'openvino' is not installed \(pip install openvino==[0-9.]+\); "
                                        r"installed choices: keras, onnxruntime$"):
        parse_backends(["keras", "openvino"], "float32")


def test_bad_step_counts_are_reported(tmp_path):
    with pytest.raises(UserError, match="^BENCHMARK.STEPS must be a positive integer, got 0$"):
        validate_config(tiny_config(tmp_path, "BENCHMARK.WARMUP_STEPS=0", "BENCHMARK.STEPS=0"))
    with pytest.raises(UserError, match="^BENCHMARK.WARMUP_STEPS must be 0 or more, got -1$"):
        validate_config(tiny_config(tmp_path, "BENCHMARK.WARMUP_STEPS=-1"))


def test_conv_flops_by_hand():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)            # 2 * 8*8 * 3*3*2 * 4 = 9216
    x = keras.layers.Conv2D(6, 1, strides=2)(x)                      # 2 * 4*4 * 1*1*4 * 6 = 768
    x = keras.layers.GlobalMaxPooling2D()(x)
    outputs = keras.layers.Dense(5)(x)                               # 2 * 6 * 5 = 60
    assert conv_flops(keras.Model(inputs, outputs)) == 9216 + 768 + 60


def test_matmul_peak_is_a_positive_rate():
    assert matmul_peak_gflops("float32", size=128, repeats=2) > 0
    assert matmul_peak_gflops("bfloat16", size=128, repeats=2) > 0


def run_benchmark_cli(tmp_path, *overrides, runner=run_cli):
    return runner("benchmark_inference.py", f"WORK_DIR={tmp_path}", "INPUT.HEIGHT=32", "INPUT.WIDTH=32",
                   "MODEL.FILTERS=[4,8,16]", "MODEL.SKIP_FILTERS=4", "HYPER_PARAMETERS.BATCH_SIZE=2", *overrides)


@pytest.mark.slow
def test_benchmark_cli_prints_precision_table_and_writes_json(tmp_path):
    json_path = tmp_path / "bench.json"
    completed = run_benchmark_cli(tmp_path, "MODEL.TYPE=unet3plus_deepsup", "OPTIMIZATION.XLA=True",
                                  "OPTIMIZATION.AMP=bfloat16", "BENCHMARK.WARMUP_STEPS=1", "BENCHMARK.STEPS=2",
                                  f"BENCHMARK.JSON_PATH={json_path}")
    assert completed.returncode == 0, completed.stderr
    assert "precision: bfloat16, Keras policy mixed_bfloat16" in completed.stdout
    assert "| unet3plus_deepsup | unet3plus | 32x32x3 | 2 | keras | bfloat16 | True |" in completed.stdout
    written = json.loads(json_path.read_text())
    assert len(written) == 1 and written[0]["xla"] is True and written[0]["steps"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("override,message", [
    ("OPTIMIZATION.AMP=fp16", "error: OPTIMIZATION.AMP must be one of True, False, float32, float16, bfloat16; got 'fp16'"),
    ("BENCHMARK.BACKENDS=[keras,tensorrt]",
     "error: BENCHMARK.BACKENDS must be one of keras, onnxruntime, openvino (optionally NAME:PRECISION); got 'tensorrt'"),
])
def test_bad_amp_or_backend_gives_one_error_line(tmp_path, override, message):
    completed = run_benchmark_cli(tmp_path, override, runner=run_main)   # in a fresh Python: the test above
    assert completed.returncode == 2
    assert [line for line in completed.stderr.splitlines() if line.strip()] == [message]


@pytest.mark.slow
def test_sweep_writes_markdown_table_and_plot(tmp_path):
    out = tmp_path / "bench.md"
    out.write_text("# Benchmarks\n\nhand-written intro stays\n")
    completed = run_cli(
        "benchmarks/sweep_inference.py", "BENCHMARK.SWEEP.MODELS=[unet3plus]", "BENCHMARK.SWEEP.BACKBONES=[unet3plus]",
        "BENCHMARK.SWEEP.BATCH_SIZES=[1,2]", "INPUT.HEIGHT=32", "INPUT.WIDTH=32", "BENCHMARK.WARMUP_STEPS=1",
        "BENCHMARK.STEPS=2", "BENCHMARK.SWEEP.SECTION=test", f"BENCHMARK.DOC={out}", "MODEL.FILTERS=[4,8,16]",
        "MODEL.SKIP_FILTERS=4", f"WORK_DIR={tmp_path}", cwd=tmp_path)   # any folder: the package is installed
    assert completed.returncode == 0, completed.stderr
    text = out.read_text()
    assert "hand-written intro stays" in text
    rows = [line for line in text.splitlines() if line.startswith("| unet3plus |")]
    assert [row.split(" | ")[3] for row in rows] == ["1", "2"]
    assert (tmp_path / "bench_test.png").is_file()


@pytest.mark.slow
def test_benchmark_scripts_are_hydra_apps_reading_their_section(tmp_path):
    """benchmarks/*.py take KEY=VALUE overrides like every script: --help shows their section, a bad value is
    one error line, and the resampling table lands in the document BENCHMARK.RESAMPLING.DOC names."""
    helped = run_cli("benchmarks/cpu_backends.py", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("unet3p cpu_backends.py: Inference backends and precisions side by side")
    assert "  CPU_BACKENDS:\n" in helped.stdout and "PEAK_SIZE: 2048" in helped.stdout
    refused = run_main("benchmarks/sweep_inference.py", "BENCHMARK.SWEEP.MODELS=[unet4]", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == ("error: BENCHMARK.SWEEP.MODELS must be one of unet3plus, "
                                                       "unet3plus_deepsup, unet3plus_deepsup_cgm; got 'unet4'")
    doc = tmp_path / "evaluation.md"
    made = run_cli("benchmarks/resampling.py", "INPUT.HEIGHT=32", "INPUT.WIDTH=32", "BENCHMARK.RESAMPLING.SIZE=48",
                   "BENCHMARK.RESAMPLING.SLICES=12", "BENCHMARK.RESAMPLING.VOLUMES=1", f"BENCHMARK.RESAMPLING.DOC={doc}",
                   cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    text = doc.read_text()
    assert "<!-- resampling-48-32:start -->" in text and "| perfect prediction written back | " in text


def test_replace_section_replaces_only_its_block(tmp_path):
    path = str(tmp_path / "doc.md")
    replace_section(path, "a", "first")
    replace_section(path, "b", "other")
    replace_section(path, "a", "second")
    text = open(path).read()
    assert "second" in text and "first" not in text and "other" in text


@pytest.mark.slow
def test_volume_benchmark_times_a_ct_per_setting_and_writes_the_table(tmp_path):
    out = tmp_path / "bench.md"
    completed = run_cli(
        "benchmarks/volume_inference.py", "BENCHMARK.VOLUME.CT_SIZE=48", "BENCHMARK.VOLUME.CT_SLICES=36",
        "BENCHMARK.VOLUME.LIVER_SLICES=12", "INPUT.HEIGHT=32", "INPUT.WIDTH=32", "BENCHMARK.VOLUME.TRAIN_STEPS=2",
        "BENCHMARK.VOLUME.CROP=32", "BENCHMARK.VOLUME.SETTINGS=[keras:float32,auto+roi]",
        f"BENCHMARK.VOLUME.WORK={tmp_path / 'work'}", "BENCHMARK.VOLUME.SECTION=test", f"BENCHMARK.DOC={out}",
        "MODEL.FILTERS=[4,8,16]", "MODEL.SKIP_FILTERS=4")
    assert completed.returncode == 0, completed.stderr
    rows = [line.split(" | ") for line in out.read_text().splitlines() if line.startswith("| keras:float32 |")
            or line.startswith("| auto+roi |")]
    assert [row[0] for row in rows] == ["| keras:float32", "| auto+roi"]
    assert rows[0][2] == "36 of 36" and rows[0][4] == "1.00x" and rows[0][6] == "1.00x"
    assert rows[1][1] in ("openvino:int8", "onnxruntime:int8", "keras:bfloat16", "keras:float32")   # what auto picked here
    assert float(rows[0][3]) > 0 and float(rows[0][5]) > 0 and all(float(value) >= 0 for value in rows[0][7:13])
    assert os.path.isfile(tmp_path / "work" / "run" / "export" / "model.int8.onnx")    # calibrated once, kept
