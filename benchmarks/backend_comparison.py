"""Inference backends and precisions side by side on this CPU, against its matmul peak: what
benchmarks/cpu_backends.py runs (benchmark_inference.py once per batch size, every backend in it), and its table.
"""
import datetime
import os
import tempfile

from benchmarks.compute import matmul_peak_gflops
from benchmarks.tables import run_benchmark_inference, separator
from runtime.devices import cpu_model_name
from utils.errors import UserError

HEADER = ("| batch | backend | precision | img/s | latency p50 (ms) | latency p95 (ms) | GFLOP/s | "
          "share of matmul peak | speed-up vs Keras float32 | labels = Keras float32 |")


def run_batch(backends, batch_size: int, json_path: str) -> list:
    return run_benchmark_inference([f"HYPER_PARAMETERS.BATCH_SIZE={batch_size}", f"BENCHMARK.BACKENDS=[{','.join(backends)}]",
                                    "BENCHMARK.INPUT=random"], json_path, echo=True)   # random weights and input


def table(results: list, peaks: dict) -> str:
    lines = [HEADER, separator(HEADER)]
    for batch_size in sorted({r["batch_size"] for r in results}):
        rows = [r for r in results if r["batch_size"] == batch_size]
        baseline = next(r for r in rows if (r["backend"], r["precision"]) == ("keras", "float32"))
        for r in rows:
            peak = peaks.get(r["precision"])   # no int8 matmul in TensorFlow to measure a peak with
            share = f"{100 * r['gflops'] / peak:.0f} %" if peak else "–"
            lines.append(f"| {batch_size} | {r['backend']} | {r['precision']} | {r['throughput_img_s']:.2f} | "
                         f"{r['latency_ms_p50']:.0f} | {r['latency_ms_p95']:.0f} | {r['gflops']:.0f} | {share} | "
                         f"{r['throughput_img_s'] / baseline['throughput_img_s']:.2f}x | "
                         f"{100 * r['labels_equal_first']:.2f} % |")
    return "\n".join(lines)


def compare_backends(backends: list, batch_sizes: list, peak_size: int) -> tuple:
    """The float32 and bfloat16 matmul peaks (peak_size x peak_size), then every backend per batch size;
    (results, peaks). The first backend must be keras:float32, the speed-up column's baseline."""
    if backends[0] != "keras:float32":
        raise UserError("BENCHMARK.CPU_BACKENDS.BACKENDS must start with keras:float32, the baseline of the "
                        f"speed-up column; got {backends[0]}")
    peaks = {dtype: matmul_peak_gflops(dtype, peak_size) for dtype in ("float32", "bfloat16")}
    print(f"matmul peak: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for batch_size in batch_sizes:
            results += run_batch(backends, batch_size, os.path.join(scratch, f"{batch_size}.json"))
    return results, peaks


def report(results: list, peaks: dict, peak_size: int, classes: int, warmup_steps: int, steps: int) -> str:
    """The section's text: the machine and settings, the peaks, the table."""
    first = results[0]
    return "\n".join([
        f"{datetime.date.today().isoformat()}, {cpu_model_name()}, {os.cpu_count()} cores; "
        f"{first['model']}/{first['backbone']}, {first['input']}, {classes} classes; random weights and "
        f"input; warm-up {warmup_steps}, {steps} timed steps per backend.",
        "",
        f"TensorFlow matmul peak ({peak_size}x{peak_size}): float32 {peaks['float32']:.0f} GFLOP/s, "
        f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s. Model: {first['gflop_per_image']:.1f} GFLOP per image "
        f"(2 x the multiply-adds of every Conv2D in the lean graph, `benchmarks/compute.py`).",
        "",
        table(results, peaks),
    ])
