"""Inference latency and throughput of a UNet3+, for each backend side by side.

    python benchmark_inference.py                                  # the latest trained run, if any
    python benchmark_inference.py RUN_DIR=runs/<time> 'BENCHMARK.BACKENDS=[keras:float32,onnxruntime:int8]'
    python benchmark_inference.py BENCHMARK.INPUT=random MODEL.BACKBONE.TYPE=vgg19 HYPER_PARAMETERS.BATCH_SIZE=1

With a trained run (RUN_DIR, or the latest under WORK_DIR) the run's weights are timed on its real
validation slices, batch after batch, as the NVIDIA recipe benchmarks; without one (or with
BENCHMARK.INPUT=random) a model of the configured architecture with random weights runs on random
images. The first line says which. Every backend runs the same weights on the same batches, through
the lean inference graph. Prints one summary line per backend and a Markdown table (latency
avg/p50/p95, img/s, achieved GFLOP/s), and writes them to BENCHMARK.JSON_PATH.
"""
import os

import app.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)

import tempfile
import time

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from benchmarks.compute import conv_flops
from benchmarks.inputs import benchmark_run, validation_batches
from benchmarks.tables import TABLE_HEADER, separator, table_row
from callbacks.timing_callback import format_stats, latency_stats
from deploy.backends import build_runner, parse_backends
from deploy.export import write_onnx_int8
from deploy.quantize import calibration_images
from models.inference_graph import final_output_model
from models.model_factory import prepare_model
from run_dirs.loading import load_trained_model
from app.cli import hydra_app
from utils.errors import UserError
from utils.files import write_json
from app.paths import require_paths
from runtime.devices import configure_precision, get_strategy, precision_of, use_xla
from runtime.seed import set_seed


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return f"CPU ({os.cpu_count()} cores)"


def time_steps(predict, batches, warmup_steps: int, bench_steps: int) -> list:
    """Seconds of each of bench_steps calls after warmup_steps, cycling through the batches; every call
    returns host numpy, so it is finished."""
    for step in range(warmup_steps):
        predict(batches[step % len(batches)])
    step_seconds = []
    for step in range(bench_steps):
        images = batches[(warmup_steps + step) % len(batches)]
        start = time.perf_counter()
        predict(images)
        step_seconds.append(time.perf_counter() - start)
    return step_seconds


def run_benchmark(cfg) -> list:
    """One result per BENCHMARK.BACKENDS entry: BENCHMARK.STEPS timed forward passes after WARMUP_STEPS."""
    warmup_steps, bench_steps = cfg.BENCHMARK.WARMUP_STEPS, cfg.BENCHMARK.STEPS
    run_dir = benchmark_run(cfg)
    backends = parse_backends(cfg.BENCHMARK.BACKENDS, precision_of(cfg.OPTIMIZATION.AMP))
    set_seed(cfg.SEED)
    configure_precision(cfg)
    batch_size = cfg.HYPER_PARAMETERS.BATCH_SIZE
    with get_strategy(cfg).scope():
        model = load_trained_model(cfg) if run_dir else prepare_model(cfg)
    flops_per_image = conv_flops(final_output_model(model))
    shape = (batch_size, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS)
    batches, data = [np.random.default_rng(cfg.SEED).random(shape, dtype=np.float32)], "random"
    if not run_dir:
        source = "random weights on random images (no trained run; BENCHMARK.INPUT=run asks for one)"
    else:
        try:
            batches, data = validation_batches(cfg, batch_size), "validation slices"
            source = (f"run {run_dir}: its weights on {sum(map(len, batches))} of its validation slices "
                      f"({len(batches)} batch(es), cycled)")
        except UserError as err:
            source = f"run {run_dir}: its weights on random images, since its validation slices cannot be read ({err})"
    print(f"benchmark input: {source}", flush=True)
    images = batches[0]
    batch_size = len(images)
    common = {"model": cfg.MODEL.TYPE, "backbone": cfg.MODEL.BACKBONE.TYPE,
              "input": f"{cfg.INPUT.HEIGHT}x{cfg.INPUT.WIDTH}x{cfg.INPUT.CHANNELS}", "xla": use_xla(cfg),
              "device": device_name(), "warmup_steps": warmup_steps, "gflop_per_image": flops_per_image / 1e9,
              "data": data, "run_dir": run_dir}
    results, reference = [], None
    with tempfile.TemporaryDirectory() as scratch:
        if any(precision == "int8" for _, precision in backends) and calibration_images(cfg, 1) is None:
            print(f"int8: no training slices in DATASET.TRAIN.IMAGES_PATH, so calibrated on the benchmark's first "
                  f"({data}) batch: its timings hold, its labels mean little")
            write_onnx_int8(cfg, model, scratch, images)
        for name, precision in backends:
            predict = build_runner(name, precision, cfg, model, scratch, use_xla(cfg))
            labels = np.argmax(predict(images), axis=-1)
            reference = labels if reference is None else reference
            stats = latency_stats(time_steps(predict, batches, warmup_steps, bench_steps), batch_size)
            results.append({**common, "backend": name, "precision": precision, **stats,
                            "gflops": stats["throughput_img_s"] * flops_per_image / 1e9,
                            "labels_equal_first": float(np.mean(labels == reference)),
                            "foreground_first_batch": float(np.mean(labels > 0))})
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
