"""The inference benchmark's table row (one format for benchmark_inference.py and the sweeps), and how
the sweeps run it."""
import json
import os
import subprocess
import sys

from app.cli import command_line_overrides

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TABLE_HEADER = ("| model | backbone | input | batch size | backend | precision | XLA | latency avg (ms) | "
                "latency p50 (ms) | latency p95 (ms) | throughput (img/s) | GFLOP/s | device |")


def table_row(result: dict) -> str:
    """One Markdown row of a benchmark_inference result, in TABLE_HEADER's columns."""
    return (f"| {result['model']} | {result['backbone']} | {result['input']} | {result['batch_size']} | "
            f"{result['backend']} | {result['precision']} | {result['xla']} | {result['latency_ms_mean']:.1f} | "
            f"{result['latency_ms_p50']:.1f} | {result['latency_ms_p95']:.1f} | {result['throughput_img_s']:.2f} | "
            f"{result['gflops']:.1f} | {result['device']} |")


def separator(header: str) -> str:
    """The Markdown line under a header row."""
    return "|" + "---|" * header.count(" | ") + "---|"


def run_benchmark_inference(overrides, json_path: str, echo: bool = False) -> list:
    """benchmark_inference.py in a fresh process (its own TF state and precision policy) with the calling
    script's own command line plus these Hydra overrides; its results from json_path. echo prints its
    output; a failure prints the end of its stderr and stops the sweep."""
    command = [sys.executable, os.path.join(REPO, "benchmark_inference.py"), *command_line_overrides(), *overrides,
               f"BENCHMARK.JSON_PATH={json_path}"]
    completed = subprocess.run(command, capture_output=True, text=True)
    if echo:
        print(completed.stdout, flush=True)
    if completed.returncode != 0:
        print(completed.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"benchmark failed: {' '.join(command[2:])}")
    with open(json_path) as handle:
        return json.load(handle)
