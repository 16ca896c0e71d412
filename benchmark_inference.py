"""Inference latency and throughput of a UNet3+ on random input, for each backend side by side.

    python benchmark_inference.py MODEL.BACKBONE.TYPE=vgg19 HYPER_PARAMETERS.BATCH_SIZE=1 OPTIMIZATION.AMP=bfloat16
    python benchmark_inference.py 'BENCHMARK.BACKENDS=[keras:float32,keras:bfloat16,onnxruntime,openvino]'

Every backend runs the same weights (random, or none needed) on the same batch, through the lean
inference graph. Prints one summary line per backend and a Markdown table (latency avg/p50/p95, img/s,
achieved GFLOP/s), and writes them to BENCHMARK.JSON_PATH.
"""
import os

import utils.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)

import tempfile
import time

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from benchmarks.compute import conv_flops
from benchmarks.tables import TABLE_HEADER, separator, table_row
from callbacks.timing_callback import format_stats, latency_stats
from deploy.backends import build_runner, parse_backends
from deploy.export import write_onnx_int8
from deploy.quantize import calibration_images
from models.inference_graph import final_output_model
from models.model_factory import prepare_model
from utils.cli import hydra_app
from utils.files import write_json
from utils.paths import require_paths
from utils.runtime import configure_precision, get_strategy, precision_of, use_xla
from utils.seed import set_seed


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return f"CPU ({os.cpu_count()} cores)"


def time_steps(predict, images, warmup_steps: int, bench_steps: int) -> list:
    """Seconds of each of bench_steps calls after warmup_steps; every call returns host numpy, so it is finished."""
    for _ in range(warmup_steps):
        predict(images)
    step_seconds = []
    for _ in range(bench_steps):
        start = time.perf_counter()
        predict(images)
        step_seconds.append(time.perf_counter() - start)
    return step_seconds


def run_benchmark(cfg) -> list:
    """One result per BENCHMARK.BACKENDS entry: BENCHMARK.STEPS timed forward passes after WARMUP_STEPS."""
    warmup_steps, bench_steps = cfg.BENCHMARK.WARMUP_STEPS, cfg.BENCHMARK.STEPS
    backends = parse_backends(cfg.BENCHMARK.BACKENDS, precision_of(cfg.OPTIMIZATION.AMP))
    set_seed(cfg.SEED)
    configure_precision(cfg)
    batch_size = cfg.HYPER_PARAMETERS.BATCH_SIZE
    with get_strategy(cfg).scope():
        model = prepare_model(cfg)
    flops_per_image = conv_flops(final_output_model(model))
    shape = (batch_size, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS)
    images = np.random.default_rng(cfg.SEED).random(shape, dtype=np.float32)
    common = {"model": cfg.MODEL.TYPE, "backbone": cfg.MODEL.BACKBONE.TYPE,
              "input": f"{cfg.INPUT.HEIGHT}x{cfg.INPUT.WIDTH}x{cfg.INPUT.CHANNELS}", "xla": use_xla(cfg),
              "device": device_name(), "warmup_steps": warmup_steps, "gflop_per_image": flops_per_image / 1e9}
    results, reference = [], None
    with tempfile.TemporaryDirectory() as scratch:
        if any(precision == "int8" for _, precision in backends) and calibration_images(cfg, 1) is None:
            print("int8: no training slices in DATASET.TRAIN.IMAGES_PATH, so calibrated on the benchmark's random "
                  "batch: its timings hold, its labels mean little")
            write_onnx_int8(cfg, model, scratch, images)
        for name, precision in backends:
            predict = build_runner(name, precision, cfg, model, scratch, use_xla(cfg))
            labels = np.argmax(predict(images), axis=-1)
            reference = labels if reference is None else reference
            stats = latency_stats(time_steps(predict, images, warmup_steps, bench_steps), batch_size)
            results.append({**common, "backend": name, "precision": precision, **stats,
                            "gflops": stats["throughput_img_s"] * flops_per_image / 1e9,
                            "labels_equal_first": float(np.mean(labels == reference))})
            print(f"{name} {precision}: {format_stats(stats)}", flush=True)
    return results


def benchmark(cfg: DictConfig) -> list:
    """The command-line job: run, print the table, write JSON."""
    require_paths(cfg, write_files=["BENCHMARK.JSON_PATH"])
    results = run_benchmark(cfg)
    print(f"{results[0]['model']}/{results[0]['backbone']} {results[0]['input']}, "
          f"{results[0]['gflop_per_image']:.1f} GFLOP per image (Conv2D multiply-adds x 2):")
    rows = [table_row(result) for result in results]
    print("\n".join([TABLE_HEADER, separator(TABLE_HEADER), *rows]))
    json_path = cfg.BENCHMARK.JSON_PATH
    write_json(json_path, [{**result, "table_row": row} for result, row in zip(results, rows)])
    print(f"written: {json_path}")
    return results


main = hydra_app(benchmark)


if __name__ == "__main__":
    main()
