"""Where and how the model runs: device strategy (multi-GPU), mixed precision (AMP) and XLA."""
import keras
import tensorflow as tf

from utils.cluster import multi_worker_strategy
from utils.errors import UserError

# USE_MULTI_GPUS.STRATEGY: where the replicas live.
STRATEGIES = ("mirrored", "multi_worker")


def get_strategy(cfg) -> tf.distribute.Strategy:
    """With USE_MULTI_GPUS.VALUE: MirroredStrategy over GPU_IDS (-1: all GPUs) of this machine, or
    with STRATEGY=multi_worker MultiWorkerMirroredStrategy over the cluster; else the default.

    Without any GPU the mirrored strategy still runs, on the CPU with one replica, so the
    multi-GPU code path is the same one that tests exercise.
    """
    if not cfg.USE_MULTI_GPUS.VALUE:
        return tf.distribute.get_strategy()
    kind = cfg.USE_MULTI_GPUS.get("STRATEGY", "mirrored")
    if kind not in STRATEGIES:
        raise UserError(f"USE_MULTI_GPUS.STRATEGY must be one of {', '.join(STRATEGIES)}; got '{kind}'")
    if kind == "multi_worker":
        return multi_worker_strategy(cfg)
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


def configure_precision(cfg) -> str:
    """Set the global Keras dtype policy from OPTIMIZATION.AMP; returns the policy name.

    Call before building the model. Model output layers are float32 under either policy.
    """
    policy = "mixed_float16" if cfg.OPTIMIZATION.AMP else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def make_optimizer(cfg) -> keras.optimizers.Optimizer:
    """Adam at HYPER_PARAMETERS.LEARNING_RATE; with AMP wrapped in dynamic loss scaling."""
    optimizer = keras.optimizers.Adam(learning_rate=float(cfg.HYPER_PARAMETERS.LEARNING_RATE))
    if cfg.OPTIMIZATION.AMP:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def use_xla(cfg) -> bool:
    """OPTIMIZATION.XLA as the `jit_compile` flag of `compile` and of inference functions."""
    return bool(cfg.OPTIMIZATION.XLA)
