"""benchmark_inference.py and the sweep script print and write their figures."""
import json

import pytest

from benchmark_inference import run_benchmark, table_row
from benchmarks.markdown import replace_section
from tests.helpers import run_cli, tiny_config
from utils.errors import UserError


@pytest.mark.slow
def test_run_benchmark_reports_latency_and_throughput(tmp_path):
    result = run_benchmark(tiny_config(tmp_path, "HYPER_PARAMETERS.BATCH_SIZE=2"), warmup_steps=1, bench_steps=3)
    assert result["steps"] == 3 and result["batch_size"] == 2
    assert result["throughput_img_s"] == pytest.approx(2000.0 / result["latency_ms_mean"], rel=1e-6)
    assert result["latency_ms_p99"] >= result["latency_ms_p90"] > 0
    assert table_row(result).startswith("| unet3plus | unet3plus | 64x64x3 | 2 | False | False |")
    with pytest.raises(UserError):
        run_benchmark(tiny_config(tmp_path), warmup_steps=0, bench_steps=0)


@pytest.mark.slow
def test_benchmark_cli_prints_table_row_and_writes_json(tmp_path):
    json_path = tmp_path / "bench.json"
    completed = run_cli(
        "benchmark_inference.py", f"WORK_DIR={tmp_path}", "MODEL.TYPE=unet3plus_deepsup",
        "INPUT.HEIGHT=32", "INPUT.WIDTH=32", "MODEL.FILTERS=[4,8,16,32,64]", "MODEL.SKIP_FILTERS=4",
        "HYPER_PARAMETERS.BATCH_SIZE=2", "OPTIMIZATION.XLA=True", "BENCHMARK.WARMUP_STEPS=1", "BENCHMARK.STEPS=2",
        f"BENCHMARK.JSON_PATH={json_path}")
    assert completed.returncode == 0, completed.stderr
    assert "latency avg" in completed.stdout and "img/s" in completed.stdout
    assert "| unet3plus_deepsup | unet3plus | 32x32x3 | 2 | True | False |" in completed.stdout
    written = json.loads(json_path.read_text())
    assert written["xla"] is True and written["steps"] == 2


@pytest.mark.slow
def test_sweep_writes_markdown_table_and_plot(tmp_path):
    out = tmp_path / "bench.md"
    out.write_text("# Benchmarks\n\nhand-written intro stays\n")
    completed = run_cli(
        "benchmarks/sweep_inference.py", "--models", "unet3plus", "--backbones", "unet3plus",
        "--batch-sizes", "1", "2", "--size", "32", "--warmup-steps", "1", "--bench-steps", "2", "--section", "test",
        "--out", out, "--extra", "MODEL.FILTERS=[4,8,16,32,64]", "MODEL.SKIP_FILTERS=4")
    assert completed.returncode == 0, completed.stderr
    text = out.read_text()
    assert "hand-written intro stays" in text
    rows = [line for line in text.splitlines() if line.startswith("| unet3plus |")]
    assert [row.split(" | ")[3] for row in rows] == ["1", "2"]
    assert (tmp_path / "bench_test.png").is_file()


def test_replace_section_replaces_only_its_block(tmp_path):
    path = str(tmp_path / "doc.md")
    replace_section(path, "a", "first")
    replace_section(path, "b", "other")
    replace_section(path, "a", "second")
    text = open(path).read()
    assert "second" in text and "first" not in text and "other" in text
