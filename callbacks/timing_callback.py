"""Total training time, and latency (ms per batch: mean, p50/p90/p95/p99) and throughput (images/s)
after warm-up steps."""
import datetime
import time
from typing import Dict, Optional, Sequence

import keras
import numpy as np

from utils.files import write_json


def latency_stats(step_seconds: Sequence[float], batch_size: int) -> Dict[str, float]:
    """Summary of measured step times; the one formula for training and inference benchmarks."""
    ms = np.asarray(step_seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        raise ValueError("no measured steps: increase the number of steps past the warm-up")
    return {
        "batch_size": int(batch_size),
        "steps": int(ms.size),
        "latency_ms_mean": float(ms.mean()),
        "latency_ms_p50": float(np.percentile(ms, 50)),
        "latency_ms_p90": float(np.percentile(ms, 90)),
        "latency_ms_p95": float(np.percentile(ms, 95)),
        "latency_ms_p99": float(np.percentile(ms, 99)),
        "throughput_img_s": float(batch_size * ms.size / (ms.sum() / 1000.0)),
    }


def format_stats(stats: Dict[str, float]) -> str:
    return (f"latency avg {stats['latency_ms_mean']:.1f} ms/batch (p90 {stats['latency_ms_p90']:.1f}, "
            f"p95 {stats['latency_ms_p95']:.1f}, p99 {stats['latency_ms_p99']:.1f}), "
            f"throughput {stats['throughput_img_s']:.1f} img/s (batch {stats['batch_size']}, {stats['steps']} steps)")


def format_duration(seconds: float) -> str:
    """H:MM:SS.ffffff, the form the recipe prints its total training time in (a timedelta)."""
    return str(datetime.timedelta(seconds=seconds))


class TimingCallback(keras.callbacks.Callback):
    """Times the whole training and every training batch; skips the first warmup_steps batches in the
    latency figures (graph tracing, XLA compiling).

    The total training time runs from the start to the end of `fit` (validation, checkpoints and
    compiling included), as the NVIDIA recipe measures it (callbacks/timing_callback.py). Prints
    images/s at each epoch end and a latency/throughput summary at the end of training, all also
    written to json_path when given.
    """

    def __init__(self, batch_size: int, warmup_steps: int = 2, json_path: Optional[str] = None):
        super().__init__()
        self.batch_size = batch_size
        self.warmup_steps = warmup_steps
        self.json_path = json_path
        self.step_seconds = []
        self.epoch_step_seconds = []
        self.epoch_throughput = []
        self._seen = 0
        self._start = None
        self._train_start = None
        self.total_seconds = None

    def on_train_begin(self, logs=None):
        self._train_start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        elapsed = time.perf_counter() - self._start
        self._seen += 1
        if self._seen > self.warmup_steps:
            self.step_seconds.append(elapsed)
            self.epoch_step_seconds.append(elapsed)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_step_seconds = []

    def on_epoch_end(self, epoch, logs=None):
        if not self.epoch_step_seconds:
            return
        throughput = latency_stats(self.epoch_step_seconds, self.batch_size)["throughput_img_s"]
        self.epoch_throughput.append({"epoch": epoch + 1, "throughput_img_s": throughput})
        print(f"\nepoch {epoch + 1}: training throughput {throughput:.1f} img/s")

    def summary(self) -> Optional[Dict[str, float]]:
        return latency_stats(self.step_seconds, self.batch_size) if self.step_seconds else None

    def on_train_end(self, logs=None):
        self.total_seconds = time.perf_counter() - self._train_start
        stats = self.summary()
        if stats is None:
            print(f"timing: no step after the {self.warmup_steps} warm-up steps to measure")
        else:
            print(f"training {format_stats(stats)}")
        if self.json_path:
            write_json(self.json_path, {"total_training_time_s": self.total_seconds,
                                        "total_training_time": format_duration(self.total_seconds),
                                        **(stats or {}), "warmup_steps": self.warmup_steps,
                                        "epochs": self.epoch_throughput})
