"""Where and how the model runs: device strategy (multi-GPU), precision (OPTIMIZATION.AMP) and XLA; the CPU's name the
benchmarks report."""
import contextlib
import platform
import subprocess

import keras
import tensorflow as tf

from app.choices import choose
from runtime.cluster import multi_worker_strategy
from utils.errors import UserError


def get_strategy(cfg) -> tf.distribute.Strategy:
    """With USE_MULTI_GPUS.VALUE: the USE_MULTI_GPUS.STRATEGY (STRATEGIES) over this machine's GPUs or the
    cluster; else the default strategy."""
    if not cfg.USE_MULTI_GPUS.VALUE:
        return tf.distribute.get_strategy()
    return choose("USE_MULTI_GPUS.STRATEGY", cfg.USE_MULTI_GPUS.STRATEGY)(cfg)


def mirrored_strategy(cfg) -> tf.distribute.MirroredStrategy:
    """MirroredStrategy over USE_MULTI_GPUS.GPU_IDS (-1: all GPUs) of this machine.

    Without any GPU it still runs, on the CPU with one replica, so the multi-GPU code path is the
    same one that tests exercise.
    """
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    requested = cfg.USE_MULTI_GPUS.GPU_IDS
    if requested == -1:
        devices = gpus
    else:
        ids = [requested] if isinstance(requested, int) else list(requested)
        missing = [i for i in ids if not isinstance(i, int) or not 0 <= i < len(gpus)]
        if missing:
            raise UserError(f"USE_MULTI_GPUS.GPU_IDS {ids} names GPUs that do not exist ({len(gpus)} visible)")
        devices = [gpus[i] for i in ids]
    if not devices:
        print("MirroredStrategy: no GPU found, running on the CPU with one replica")
        devices = ["/cpu:0"]
    strategy = tf.distribute.MirroredStrategy(devices=devices)
    print(f"MirroredStrategy: {strategy.num_replicas_in_sync} replica(s) on {', '.join(devices)}")
    return strategy


# USE_MULTI_GPUS.STRATEGY -> builder(cfg) of where the replicas live
STRATEGIES = {"mirrored": mirrored_strategy, "multi_worker": multi_worker_strategy}
# OPTIMIZATION.AMP -> precision; True (None here) is resolved per device by `best_precision`.
AMP_PRECISIONS = {True: None, False: "float32", "float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}
# precision -> Keras dtype policy (variables stay float32 under the mixed ones)
POLICIES = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
# (vendor_id or None for any, /proc/cpuinfo flag) of CPUs whose oneDNN bfloat16 convolutions beat float32:
# AMX tiles on any vendor; AVX-512 BF16 on AMD (EPYC, unet3plus/vgg19: 1.86x float32). Intel's AVX-512 BF16
# without AMX was slower than float32 (Xeon VM with avx512_bf16 but no amx flags: 0.57-0.66x, docs/benchmarks.md).
FAST_BF16_CPUS = ((None, "amx_bf16"), ("AuthenticAMD", "avx512_bf16"))


# /proc/cpuinfo flags of CPUs with 8-bit integer dot products, which ONNX Runtime's int8 convolutions use
# (int8 3.1-3.3x float32 on an EPYC with AVX-512 VNNI, issue 21's figures; docs/benchmarks.md)
FAST_INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def _cpu_flags(cpuinfo_path: str) -> list:
    """The first processor's flags in /proc/cpuinfo (empty when it cannot be read)."""
    return _cpu_fields(cpuinfo_path).get("flags", "").split()


def _cpu_fields(cpuinfo_path: str) -> dict:
    """The first processor's fields of /proc/cpuinfo (empty when it cannot be read)."""
    fields = {}
    try:
        with open(cpuinfo_path) as handle:
            for line in handle:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return {}
    return fields


def cpu_has_bfloat16(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """True on CPUs listed in FAST_BF16_CPUS, where bfloat16 inference is about twice as fast as float32."""
    fields = _cpu_fields(cpuinfo_path)
    flags = fields.get("flags", "").split()
    return any(vendor in (None, fields.get("vendor_id")) and flag in flags for vendor, flag in FAST_BF16_CPUS)


def cpu_has_int8_dot(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """True on CPUs with VNNI or AMX int8 instructions (FAST_INT8_FLAGS), where int8 inference pays most."""
    flags = _cpu_flags(cpuinfo_path)
    return any(flag in flags for flag in FAST_INT8_FLAGS)


def cpu_has_amx_int8(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """True on CPUs with AMX int8 tiles (Sapphire Rapids and later), where OpenVINO's int8 kernels pay most."""
    return "amx_int8" in _cpu_flags(cpuinfo_path)


def gpu_compute_capabilities() -> list:
    """(major, minor) of every visible GPU; empty on CPU-only machines."""
    details = [tf.config.experimental.get_device_details(gpu) for gpu in tf.config.list_physical_devices("GPU")]
    return [tuple(d.get("compute_capability", (0, 0))) for d in details]


def best_precision(gpu_capabilities: list, cpu_bfloat16: bool) -> str:
    """AMP=True: bfloat16 on Ampere+ GPUs (>= 8.0) or fast-bfloat16 CPUs, float16 on older GPUs, else float32."""
    if gpu_capabilities:
        return "bfloat16" if min(gpu_capabilities) >= (8, 0) else "float16"
    return "bfloat16" if cpu_bfloat16 else "float32"


def precision_of(amp) -> str:
    """The precision OPTIMIZATION.AMP asks for on this machine: float32, float16 or bfloat16."""
    return choose("OPTIMIZATION.AMP", amp) or best_precision(gpu_compute_capabilities(), cpu_has_bfloat16())


def configure_precision(cfg) -> str:
    """Set the global Keras dtype policy from OPTIMIZATION.AMP, print it, and return the policy name.

    Call before building the model. Model output layers are float32 under every policy.
    """
    amp = cfg.OPTIMIZATION.AMP
    precision = precision_of(amp)
    policy = POLICIES[precision]
    keras.mixed_precision.set_global_policy(policy)
    how = " (picked for this device)" if amp is True else ""
    print(f"precision: {precision}{how}, Keras policy {policy}" + (", loss scaling" if precision == "float16" else ""))
    return policy


def make_optimizer(cfg) -> keras.optimizers.Optimizer:
    """Adam at HYPER_PARAMETERS.LEARNING_RATE; under float16 wrapped in dynamic loss scaling.

    bfloat16 has float32's exponent range, so its gradients do not underflow and need no scaling.
    """
    optimizer = keras.optimizers.Adam(learning_rate=float(cfg.HYPER_PARAMETERS.LEARNING_RATE))
    if precision_of(cfg.OPTIMIZATION.AMP) == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def use_xla(cfg) -> bool:
    """OPTIMIZATION.XLA as the `jit_compile` flag of `compile` and of inference functions."""
    return bool(cfg.OPTIMIZATION.XLA)


@contextlib.contextmanager
def precision_scope(precision: str):
    """Build models in `precision` inside the block, then restore the global policy (side-by-side copies)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def cpu_model_name() -> str:
    """lscpu's 'Model name' (what the figures depend on), else the platform's processor string."""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
