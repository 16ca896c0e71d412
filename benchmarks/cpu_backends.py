"""Inference backends and precisions side by side on this CPU, against its matmul peak (BENCHMARK.CPU_BACKENDS).

    python benchmarks/cpu_backends.py MODEL.BACKBONE.TYPE=vgg19 OUTPUT.CLASSES=2 BENCHMARK.WARMUP_STEPS=2 BENCHMARK.STEPS=5
    python benchmarks/cpu_backends.py 'BENCHMARK.CPU_BACKENDS.BATCH_SIZES=[1]' 'BENCHMARK.CPU_BACKENDS.BACKENDS=[keras:float32,onnxruntime:int8]'

Measures TensorFlow's float32 and bfloat16 matmul peak (GFLOP/s), then runs benchmark_inference.py
once per batch size with every backend of BENCHMARK.CPU_BACKENDS.BACKENDS side by side (the model, input
size and steps as this command line sets them), and writes the table (img/s, latency p50/p95, achieved
GFLOP/s as a share of the peak of its precision, speed-up over Keras float32) to BENCHMARK.DOC (section
BENCHMARK.CPU_BACKENDS.SECTION), naming the machine.
"""
import datetime
import os
import tempfile

import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

from omegaconf import DictConfig

from benchmarks.compute import matmul_peak_gflops
from benchmarks.markdown import replace_section
from benchmarks.tables import run_benchmark_inference, separator
from app.cli import hydra_app
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


def compare_backends(cfg: DictConfig):
    """The Hydra task: the matmul peaks, every backend per batch size, the table in BENCHMARK.DOC."""
    bench = cfg.BENCHMARK.CPU_BACKENDS
    backends = list(bench.BACKENDS)
    if backends[0] != "keras:float32":
        raise UserError("BENCHMARK.CPU_BACKENDS.BACKENDS must start with keras:float32, the baseline of the "
                        f"speed-up column; got {backends[0]}")
    peaks = {dtype: matmul_peak_gflops(dtype, bench.PEAK_SIZE) for dtype in ("float32", "bfloat16")}
    print(f"matmul peak: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for batch_size in bench.BATCH_SIZES:
            results += run_batch(backends, batch_size, os.path.join(scratch, f"{batch_size}.json"))
    first = results[0]
    body = "\n".join([
        f"{datetime.date.today().isoformat()}, {cpu_model_name()}, {os.cpu_count()} cores; "
        f"{first['model']}/{first['backbone']}, {first['input']}, {cfg.OUTPUT.CLASSES} classes; random weights and "
        f"input; warm-up {cfg.BENCHMARK.WARMUP_STEPS}, {cfg.BENCHMARK.STEPS} timed steps per backend.",
        "",
        f"TensorFlow matmul peak ({bench.PEAK_SIZE}x{bench.PEAK_SIZE}): float32 {peaks['float32']:.0f} GFLOP/s, "
        f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s. Model: {first['gflop_per_image']:.1f} GFLOP per image "
        f"(2 x the multiply-adds of every Conv2D in the lean graph, `benchmarks/compute.py`).",
        "",
        table(results, peaks),
    ])
    print(body)
    replace_section(cfg.BENCHMARK.DOC, bench.SECTION, body)
    print(f"written: {cfg.BENCHMARK.DOC} (section '{bench.SECTION}')")
    return results, peaks


main = hydra_app(compare_backends)


if __name__ == "__main__":
    main()
