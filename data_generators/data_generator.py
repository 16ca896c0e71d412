"""`get_data_generator(cfg, mode)`: the one place that picks TF or DALI, so scripts never branch."""
import math
from typing import Any, Callable, NamedTuple, Optional

import tensorflow as tf

from data_generators import dali_data_generator
from data_generators.dataset_files import list_split_pairs
from data_generators.tf_data_generator import SliceSequence
from utils.errors import UserError


class DataFeed(NamedTuple):
    """What `model.fit` needs: the data (PyDataset or tf.data) and how many steps make an epoch."""
    data: Any
    steps: int
    global_batch_size: int


def _common_arguments(cfg, mode):
    training = mode == "train"
    return dict(classes=cfg.OUTPUT.CLASSES, channels=cfg.INPUT.CHANNELS, shuffle=training and cfg.PREPROCESS_DATA.SHUFFLE,
                augment_data=training and cfg.PREPROCESS_DATA.AUGMENT, normalize=cfg.PREPROCESS_DATA.NORMALIZE_IMAGE,
                seed=cfg.SEED)


def get_data_generator(cfg, mode: str, strategy: Optional[tf.distribute.Strategy] = None,
                       target_fn: Optional[Callable] = None) -> DataFeed:
    """Batches of the 'train' or 'val' split from the generator named by cfg.DATA_GENERATOR_TYPE.

    With a strategy of N replicas the global batch is BATCH_SIZE x N. On one machine the TF
    generator yields global batches that Keras splits across replicas; DALI runs one pipeline
    per replica on its own shard (and its own GPU). Across machines (multi-worker) each worker
    reads only its own shard of the files, with either generator.
    """
    if mode not in ("train", "val"):
        raise ValueError(f"mode must be 'train' or 'val', got {mode!r}")
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    per_replica_batch = cfg.HYPER_PARAMETERS.BATCH_SIZE
    image_paths, mask_paths = list_split_pairs(cfg, mode)
    if cfg.DATA_GENERATOR_TYPE == "DALI_GENERATOR":
        return _dali_feed(cfg, mode, strategy, target_fn, image_paths, mask_paths, per_replica_batch)
    if input_workers(strategy) > 1:
        return _sharded_sequence_feed(cfg, mode, strategy, target_fn, image_paths, mask_paths, per_replica_batch)
    sequence = SliceSequence(image_paths, mask_paths, per_replica_batch * replicas, **_common_arguments(cfg, mode),
                             pad_last_batch=mode == "train", target_fn=target_fn, workers=cfg.DATA_WORKERS)
    return DataFeed(sequence, len(sequence), per_replica_batch * replicas)


def input_workers(strategy: tf.distribute.Strategy) -> int:
    """How many machines read input, each its own shard: the workers of a multi-worker cluster, else 1."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def shard_steps(num_items: int, num_shards: int, batch_size: int) -> int:
    """Steps per epoch every shard can give: those of the smallest shard, so replicas stay in lockstep."""
    if num_items < num_shards:
        raise UserError(f"{num_items} slices cannot be split across {num_shards} input shards (workers/replicas)")
    return math.ceil((num_items // num_shards) / batch_size)


def sequence_dataset(sequence: SliceSequence) -> tf.data.Dataset:
    """An endless tf.data.Dataset of a SliceSequence's batches, epoch after epoch in the sequence's order."""
    example = sequence[0]

    def batches():
        while True:
            for step in range(len(sequence)):
                yield sequence[step]
            sequence.on_epoch_end()

    signature = tf.nest.map_structure(lambda a: tf.TensorSpec((None, *a.shape[1:]), a.dtype), example)
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)


def _sharded_sequence_feed(cfg, mode, strategy, target_fn, image_paths, mask_paths, per_replica_batch):
    """TF generator across machines: each worker's pipeline reads its shard, in per-replica batches."""
    replicas = strategy.num_replicas_in_sync
    workers = input_workers(strategy)

    def worker_dataset(context: tf.distribute.InputContext):
        sequence = SliceSequence(image_paths, mask_paths, per_replica_batch, **_common_arguments(cfg, mode),
                                 shard_id=context.input_pipeline_id, num_shards=context.num_input_pipelines,
                                 pad_last_batch=mode == "train", target_fn=target_fn)
        return sequence_dataset(sequence)

    data = strategy.distribute_datasets_from_function(worker_dataset)
    steps = shard_steps(len(image_paths), workers, per_replica_batch * (replicas // workers))
    return DataFeed(data, steps, per_replica_batch * replicas)


def _dali_feed(cfg, mode, strategy, target_fn, image_paths, mask_paths, per_replica_batch):
    dali_data_generator.require_dali()
    gpus = dali_data_generator.gpu_device_ids()
    if not gpus:
        print("DALI: no GPU found, running DALI's CPU pipeline")
    replicas = strategy.num_replicas_in_sync

    workers = input_workers(strategy)

    def replica_dataset(context: tf.distribute.InputContext):
        shard = context.input_pipeline_id
        local = shard if workers == 1 else 0   # multi-worker: one pipeline per worker, on its first GPU
        dataset, _ = dali_data_generator.dali_dataset(
            image_paths, mask_paths, per_replica_batch, image_size=(cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH),
            **_common_arguments(cfg, mode), shard_id=shard,
            num_shards=context.num_input_pipelines, device_id=gpus[local % len(gpus)] if gpus else None)
        if target_fn is not None:
            dataset = dataset.map(lambda images, masks: (images, target_fn(masks)))
        return dataset

    with strategy.scope():
        mirrored = tf.distribute.has_strategy()   # False for the default (no-op) strategy
    if not mirrored:
        data = replica_dataset(tf.distribute.InputContext(1, 0, 1))
        shards = 1
    elif workers > 1:
        # MultiWorkerMirroredStrategy takes one input pipeline per worker (PER_REPLICA is Mirrored-only).
        data = strategy.distribute_datasets_from_function(replica_dataset)
        shards = workers
    else:
        # DALI's recommended placement, even for one replica: Keras would otherwise wrap the
        # dataset in a MultiDeviceIterator, and destroying that (each validation run) segfaults.
        options = tf.distribute.InputOptions(experimental_place_dataset_on_device=True,
                                             experimental_fetch_to_device=False,
                                             experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA)
        data = strategy.distribute_datasets_from_function(replica_dataset, options)
        shards = replicas
    batches_per_step = per_replica_batch * replicas // shards   # one pipeline feeds replicas // shards replicas
    return DataFeed(data, shard_steps(len(image_paths), shards, batches_per_step), per_replica_batch * replicas)
