"""Inference backends and precisions side by side on this CPU, against its matmul peak.

    python benchmarks/cpu_backends.py --batch-sizes 1 4 --warmup-steps 2 --steps 5

Measures TensorFlow's float32 and bfloat16 matmul peak (GFLOP/s), then runs benchmark_inference.py
once per batch size with every backend in BENCHMARK.BACKENDS side by side, and writes the table
(img/s, latency p50/p95, achieved GFLOP/s as a share of the peak of its precision, speed-up over
Keras float32) to docs/benchmarks.md (section 'cpu-backends'), naming the machine.
"""
import argparse
import datetime
import os
import platform
import subprocess
import tempfile

import utils.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)

from benchmarks.compute import matmul_peak_gflops
from benchmarks.markdown import DOCS_DIR, replace_section
from benchmarks.tables import run_benchmark_inference, separator

DEFAULT_BACKENDS = ["keras:float32", "keras:bfloat16", "onnxruntime:float32", "onnxruntime:int8", "openvino:float32",
                    "openvino:bfloat16"]
HEADER = ("| batch | backend | precision | img/s | latency p50 (ms) | latency p95 (ms) | GFLOP/s | "
          "share of matmul peak | speed-up vs Keras float32 | labels = Keras float32 |")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="unet3plus")
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS, help="BENCHMARK.BACKENDS entries; "
                        "the first keras:float32 one is the baseline")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--peak-size", type=int, default=2048, help="matmul size for the peak")
    parser.add_argument("--section", default="cpu-backends")
    parser.add_argument("--out", default=os.path.join(DOCS_DIR, "benchmarks.md"))
    parser.add_argument("--extra", nargs="*", default=[], help="more Hydra overrides")
    return parser.parse_args(argv)


def cpu_model_name() -> str:
    """lscpu's 'Model name' (what the figures depend on), else the platform's processor string."""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_batch(args, batch_size: int, json_path: str) -> list:
    return run_benchmark_inference(
        [f"MODEL.TYPE={args.model}", f"MODEL.BACKBONE.TYPE={args.backbone}", f"INPUT.HEIGHT={args.size}",
         f"INPUT.WIDTH={args.size}", f"OUTPUT.CLASSES={args.classes}", f"HYPER_PARAMETERS.BATCH_SIZE={batch_size}",
         f"BENCHMARK.WARMUP_STEPS={args.warmup_steps}", f"BENCHMARK.STEPS={args.steps}",
         f"BENCHMARK.BACKENDS=[{','.join(args.backends)}]"], json_path, args.extra, echo=True)


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


def main(argv=None):
    args = parse_args(argv)
    if args.backends[0] != "keras:float32":
        raise SystemExit("--backends must start with keras:float32, the baseline of the speed-up column")
    peaks = {dtype: matmul_peak_gflops(dtype, args.peak_size) for dtype in ("float32", "bfloat16")}
    print(f"matmul peak: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for batch_size in args.batch_sizes:
            results += run_batch(args, batch_size, os.path.join(scratch, f"{batch_size}.json"))
    first = results[0]
    body = "\n".join([
        f"{datetime.date.today().isoformat()}, {cpu_model_name()}, {os.cpu_count()} cores; "
        f"{first['model']}/{first['backbone']}, {first['input']}, {args.classes} classes; random weights and input; "
        f"warm-up {args.warmup_steps}, {args.steps} timed steps per backend.",
        "",
        f"TensorFlow matmul peak ({args.peak_size}x{args.peak_size}): float32 {peaks['float32']:.0f} GFLOP/s, "
        f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s. Model: {first['gflop_per_image']:.1f} GFLOP per image "
        f"(2 x the multiply-adds of every Conv2D in the lean graph, `benchmarks/compute.py`).",
        "",
        table(results, peaks),
    ])
    print(body)
    replace_section(args.out, args.section, body)
    print(f"written: {args.out} (section '{args.section}')")
    return results, peaks


if __name__ == "__main__":
    main()
