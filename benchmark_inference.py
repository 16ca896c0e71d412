"""Inference latency and throughput of a UNet3+ on random input.

    python benchmark_inference.py MODEL.TYPE=unet3plus MODEL.BACKBONE.TYPE=vgg19 HYPER_PARAMETERS.BATCH_SIZE=16 \
        OPTIMIZATION.AMP=False OPTIMIZATION.XLA=False BENCHMARK.WARMUP_STEPS=50 BENCHMARK.STEPS=100

Prints one summary line and the recipe's table row (batch size, XLA, AMP, latency ms, img/s),
and writes both to JSON (BENCHMARK.JSON_PATH, default results/benchmark_inference.json).
"""
import os

import utils.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)

import time

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from callbacks.timing_callback import format_stats, latency_stats, write_json
from models.model_factory import prepare_model
from utils.cli import hydra_app
from utils.config import validate_config
from utils.errors import UserError
from utils.inference import make_predict_fn
from utils.paths import require_paths
from utils.runtime import configure_precision, get_strategy
from utils.seed import set_seed

TABLE_HEADER = "| model | backbone | input | batch size | XLA | AMP | latency avg (ms) | latency p95 (ms) | throughput (img/s) | device |"


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return f"CPU ({os.cpu_count()} cores)"


def table_row(result: dict) -> str:
    return (f"| {result['model']} | {result['backbone']} | {result['input']} | {result['batch_size']} | "
            f"{result['xla']} | {result['amp']} | {result['latency_ms_mean']:.1f} | {result['latency_ms_p95']:.1f} | "
            f"{result['throughput_img_s']:.1f} | {result['device']} |")


def run_benchmark(cfg, warmup_steps: int, bench_steps: int) -> dict:
    """Time `bench_steps` forward passes after `warmup_steps`, on one fixed random batch."""
    validate_config(cfg)
    if warmup_steps < 0 or bench_steps < 1:
        raise UserError(f"BENCHMARK.WARMUP_STEPS must be >= 0 and BENCHMARK.STEPS >= 1, got {warmup_steps}, {bench_steps}")
    set_seed(cfg.SEED)
    configure_precision(cfg)
    batch_size = cfg.HYPER_PARAMETERS.BATCH_SIZE
    with get_strategy(cfg).scope():
        model = prepare_model(cfg)
    predict = make_predict_fn(model, cfg)
    shape = (batch_size, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS)
    images = tf.constant(np.random.default_rng(cfg.SEED).random(shape, dtype=np.float32))
    for _ in range(warmup_steps):
        predict(images).numpy()
    step_seconds = []
    for _ in range(bench_steps):
        start = time.perf_counter()
        predict(images).numpy()   # .numpy() waits for the device, so the step is really finished
        step_seconds.append(time.perf_counter() - start)
    return {"model": cfg.MODEL.TYPE, "backbone": cfg.MODEL.BACKBONE.TYPE,
            "input": f"{cfg.INPUT.HEIGHT}x{cfg.INPUT.WIDTH}x{cfg.INPUT.CHANNELS}",
            "xla": bool(cfg.OPTIMIZATION.XLA), "amp": bool(cfg.OPTIMIZATION.AMP), "device": device_name(),
            "warmup_steps": warmup_steps, **latency_stats(step_seconds, batch_size)}


def benchmark(cfg: DictConfig) -> dict:
    """The command-line job: run, print the summary line and table row, write JSON."""
    warmup, steps, json_path = cfg.BENCHMARK.WARMUP_STEPS, cfg.BENCHMARK.STEPS, cfg.BENCHMARK.JSON_PATH
    require_paths(cfg, write_files=["BENCHMARK.JSON_PATH"])
    result = run_benchmark(cfg, warmup, steps)
    print(f"{result['model']}/{result['backbone']} {result['input']} AMP={result['amp']} XLA={result['xla']}: "
          f"{format_stats(result)}")
    print(TABLE_HEADER)
    print(table_row(result))
    write_json(json_path, {**result, "table_row": table_row(result)})
    print(f"written: {json_path}")
    return result


main = hydra_app(benchmark)


if __name__ == "__main__":
    main()
