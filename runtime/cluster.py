"""Training across machines: MultiWorkerMirroredStrategy from TF_CONFIG (or Slurm), checked first.

Every worker runs the same `train.py` command; TF_CONFIG (or the Slurm job) says which worker
it is. A worker that cannot reach the others would wait forever inside TensorFlow, so joining
is bounded by USE_MULTI_GPUS.CONNECT_TIMEOUT_S: then one `error:` line, and the process is killed.
"""
import copy
import json
import os
import shutil
import sys
import subprocess
import tempfile
from typing import Callable, Tuple

import keras
import tensorflow as tf
from omegaconf import DictConfig, open_dict

from utils.errors import UserError

TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')
CLUSTER_JOBS = ("chief", "worker")


def _address_ok(address) -> bool:
    host, _, port = str(address).rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def parse_tf_config(text: str) -> dict:
    """TF_CONFIG as a dict, after checking what MultiWorkerMirroredStrategy needs of it."""
    def bad(reason):
        return UserError(f"TF_CONFIG {reason}; expected e.g. {TF_CONFIG_EXAMPLE}")

    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise bad(f"is not valid JSON ({err.msg} at character {err.pos})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise bad("has no \"cluster\" object")
    cluster = config["cluster"]
    jobs = {job: cluster[job] for job in CLUSTER_JOBS if job in cluster}
    if not jobs or not all(isinstance(tasks, list) and tasks for tasks in jobs.values()):
        raise bad("\"cluster\" must list the \"worker\" (and optionally one \"chief\") addresses")
    if len(jobs.get("chief", [])) > 1:
        raise bad("names more than one \"chief\"")
    for tasks in jobs.values():
        for address in tasks:
            if not _address_ok(address):
                raise bad(f"address {address!r} is not host:port")
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in jobs:
        raise bad(f"\"task\" must name its \"type\" ({' or '.join(jobs)}) and \"index\"")
    index = task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(jobs[task["type"]]):
        raise bad(f"task index {index!r} is not in 0..{len(jobs[task['type']]) - 1} of \"{task['type']}\"")
    return config


def cluster_resolver():
    """TF_CONFIG's cluster when set, else Slurm's (srun over several tasks); else a UserError."""
    if os.environ.get("TF_CONFIG"):
        parse_tf_config(os.environ["TF_CONFIG"])
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if int(os.environ.get("SLURM_NTASKS", "0") or 0) > 1:
        return tf.distribute.cluster_resolver.SlurmClusterResolver()
    raise UserError("USE_MULTI_GPUS.STRATEGY=multi_worker needs the cluster: set TF_CONFIG on every worker "
                    f"(e.g. {TF_CONFIG_EXAMPLE}) or launch with srun over several Slurm tasks")


# Runs beside a joining worker: TF blocks inside C++ while holding the GIL, so no Python thread
# or signal handler of the worker itself could end the wait.
_WATCHDOG = """
import os, sys, time
parent, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
time.sleep(seconds)
if os.getppid() == parent:
    sys.stderr.write("error: " + message + "\\n")
    sys.stderr.flush()
    os.kill(parent, 9)
"""


def _give_up_after(seconds: float, message: str) -> subprocess.Popen:
    """A watchdog process: prints `error: message` and kills this process unless killed first."""
    return subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(seconds), message])


def multi_worker_strategy(cfg) -> tf.distribute.MultiWorkerMirroredStrategy:
    """MultiWorkerMirroredStrategy over the cluster, joined within USE_MULTI_GPUS.CONNECT_TIMEOUT_S."""
    if cfg.USE_MULTI_GPUS.GPU_IDS != -1:
        raise UserError("USE_MULTI_GPUS.GPU_IDS must be -1 with STRATEGY=multi_worker (each worker uses all "
                        "its GPUs); choose GPUs with CUDA_VISIBLE_DEVICES on each worker")
    timeout = cfg.USE_MULTI_GPUS.CONNECT_TIMEOUT_S
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise UserError(f"USE_MULTI_GPUS.CONNECT_TIMEOUT_S must be a number of seconds > 0, got {timeout!r}")
    resolver = cluster_resolver()
    cluster = resolver.cluster_spec().as_dict()
    me = f"{resolver.task_type} {resolver.task_id}"
    addresses = ", ".join(address for job in CLUSTER_JOBS for address in cluster.get(job, []))
    watchdog = _give_up_after(timeout, f"multi-worker training: not every worker of the cluster ({addresses}) joined "
                                    f"within USE_MULTI_GPUS.CONNECT_TIMEOUT_S={timeout} s (this is {me}); start "
                                    f"train.py on every worker with the same TF_CONFIG cluster, check the addresses "
                                    f"and that the ports are open")
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    finally:
        watchdog.kill()
        watchdog.wait()
    print(f"MultiWorkerMirroredStrategy: {me} of {sum(len(cluster.get(j, [])) for j in CLUSTER_JOBS)} workers, "
          f"{strategy.num_replicas_in_sync} replica(s) in all")
    return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True where checkpoints and logs are written: everywhere but the non-chief workers of a cluster."""
    return bool(strategy.extended.should_checkpoint)


def worker_outputs(cfg: DictConfig, strategy: tf.distribute.Strategy) -> Tuple[DictConfig, Callable[[], None]]:
    """(cfg, cleanup): on a non-chief worker, outputs go to a temporary folder that cleanup removes.

    All workers must run the same callbacks (saving may need every worker), but only the chief's
    files are kept, as Keras's multi-worker guide prescribes. The backup for resuming goes to
    BACKUP_AND_RESTORE.PATH + _worker_<i> and stays: every worker restores its own copy of the
    (identical) synchronised state, which also works without a shared file system. The outputs
    follow RUN_DIR (configs/config.yaml), so moving RUN_DIR moves them all.
    """
    if is_chief(strategy):
        return cfg, lambda: None
    resolver = strategy.cluster_resolver
    worker = f"{resolver.task_type}_{resolver.task_id}"
    temporary = tempfile.mkdtemp(prefix=f"unet3p_{worker}_")
    backup = f"{os.path.normpath(cfg.CALLBACKS.BACKUP_AND_RESTORE.PATH)}_{worker}"   # the chief deletes its own
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.RUN_DIR = temporary
    cfg.CALLBACKS.BACKUP_AND_RESTORE.PATH = backup
    return cfg, lambda: shutil.rmtree(temporary, ignore_errors=True)


def _patch_keras_log_reduction() -> None:
    """Keras 3.15 averages each step's logs across workers with `reduce("MEAN", v, axis=0)`,
    which fails for scalar logs (loss, metrics); average them over replicas (axis=None) instead."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    if getattr(original, "unet3p_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.unet3p_patched = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def build_from_local_batches(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Work around Keras 3.15 `fit` failing across workers (two places; no-op for other strategies).

    `fit` and `evaluate` build the model from a first batch that they mean-reduce over replicas;
    across workers that reduction does not accept an (images, targets) pair (PerReplica cannot be
    converted to a Tensor). Only shapes matter, so build from the input's element spec: no iterator
    is opened just to be thrown away (destroying a DALI iterator that is still prefetching crashed
    the process now and then).
    Step logs are averaged over all replicas (`_patch_keras_log_reduction`), so every worker
    sees the same loss and Dice and callbacks (early stopping) decide alike.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    _patch_keras_log_reduction()

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        value_specs = getattr(value, "_value_specs", None)   # PerReplicaSpec: one spec per local replica
        return value_specs[0] if value_specs else value

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if data_batch is None:
            data_batch = iterator._distributed_dataset.element_spec   # TFEpochIterator's input
        with strategy.scope():
            model._symbolic_build(data_batch=tf.nest.map_structure(local, data_batch))

    model._maybe_symbolic_build = maybe_symbolic_build
