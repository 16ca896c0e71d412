"""Inference latency and throughput of one model on each backend side by side (benchmark_inference.py).

`time_backends` times prepared inputs (a model, its batches, the backends) and knows no config;
`run_benchmark` is where the config is read once and turned into them.
"""
import os
import tempfile
import time
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from benchmarks.compute import conv_flops
from benchmarks.inputs import benchmark_run, validation_batches
from callbacks.timing_callback import format_stats, latency_stats
from deploy.backends import build_runner, parse_backends
from deploy.export import ModelForms
from deploy.quantize import calibration_slices, require_calibration_images
from models.inference_graph import final_output_model
from models.model_factory import model_builder
from run_dirs.loading import load_trained
from utils.errors import UserError
from runtime.devices import configure_precision, get_strategy, precision_of, use_xla
from runtime.seed import set_seed
from volumes.slices import image_settings


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


def time_backends(forms: ModelForms, backends: Sequence[Tuple[str, str]], batches: list, warmup_steps: int,
                  bench_steps: int, jit_compile: bool = False, flops_per_image: float = 0.0,
                  common: Optional[dict] = None) -> list:
    """One result per (backend, precision): bench_steps timed forward passes over `batches` after
    warmup_steps, each backend running `forms`' model (its ONNX files made once, shared). Every result
    holds `common`, the latency figures, GFLOP/s from flops_per_image, and how far the backend's labels on
    the first batch agree with the first backend's."""
    images = batches[0]
    batch_size = len(images)
    results, reference = [], None
    for name, precision in backends:
        predict = build_runner(name, precision, forms, jit_compile)
        labels = np.argmax(predict(images), axis=-1)
        reference = labels if reference is None else reference
        stats = latency_stats(time_steps(predict, batches, warmup_steps, bench_steps), batch_size)
        results.append({**(common or {}), "backend": name, "precision": precision, **stats,
                        "gflops": stats["throughput_img_s"] * flops_per_image / 1e9,
                        "labels_equal_first": float(np.mean(labels == reference)),
                        "foreground_first_batch": float(np.mean(labels > 0))})
        print(f"{name} {precision}: {format_stats(stats)}", flush=True)
    return results


def run_benchmark(cfg) -> list:
    """One result per BENCHMARK.BACKENDS entry: BENCHMARK.STEPS timed forward passes after WARMUP_STEPS, on
    the run's validation slices with its weights (BENCHMARK.INPUT), else random weights on random images."""
    warmup_steps, bench_steps = cfg.BENCHMARK.WARMUP_STEPS, cfg.BENCHMARK.STEPS
    run_dir = benchmark_run(cfg)
    backends = parse_backends(cfg.BENCHMARK.BACKENDS, precision_of(cfg.OPTIMIZATION.AMP))
    set_seed(cfg.SEED)
    configure_precision(cfg)
    batch_size = cfg.HYPER_PARAMETERS.BATCH_SIZE
    with get_strategy(cfg).scope():
        if run_dir:
            model, _, rebuild = load_trained(cfg)
        else:
            rebuild = model_builder(cfg)
            model = rebuild()
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
    common = {"model": cfg.MODEL.TYPE, "backbone": cfg.MODEL.BACKBONE.TYPE,
              "input": f"{cfg.INPUT.HEIGHT}x{cfg.INPUT.WIDTH}x{cfg.INPUT.CHANNELS}", "xla": use_xla(cfg),
              "device": device_name(), "warmup_steps": warmup_steps, "gflop_per_image": flops_per_image / 1e9,
              "data": data, "run_dir": run_dir}
    calibration = None
    if any(precision == "int8" for _, precision in backends):
        inputs = image_settings(cfg)
        if calibration_slices(cfg, inputs, 1).paths:
            calibration = require_calibration_images(calibration_slices(cfg, inputs))
        else:
            print(f"int8: no training slices in DATASET.TRAIN.IMAGES_PATH, so calibrated on the benchmark's first "
                  f"({data}) batch: its timings hold, its labels mean little")
            calibration = batches[0]
    with tempfile.TemporaryDirectory() as scratch:
        forms = ModelForms(model, scratch, rebuild, calibration)
        return time_backends(forms, backends, batches, warmup_steps, bench_steps, use_xla(cfg), flops_per_image,
                             common)
