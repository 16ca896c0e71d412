"""`get_data_generator(cfg, mode)`: the one place that picks TF or DALI, so scripts never branch."""
from typing import Any, Callable, NamedTuple, Optional

import tensorflow as tf

from data_generators import dali_data_generator
from data_generators.dataset_files import list_split_pairs
from data_generators.tf_data_generator import SliceSequence


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

    With a strategy of N replicas the global batch is BATCH_SIZE x N. The TF generator yields
    global batches that Keras splits across replicas; DALI runs one pipeline per replica on its
    own shard (and its own GPU).
    """
    if mode not in ("train", "val"):
        raise ValueError(f"mode must be 'train' or 'val', got {mode!r}")
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    per_replica_batch = cfg.HYPER_PARAMETERS.BATCH_SIZE
    image_paths, mask_paths = list_split_pairs(cfg, mode)
    if cfg.DATA_GENERATOR_TYPE == "DALI_GENERATOR":
        return _dali_feed(cfg, mode, strategy, target_fn, image_paths, mask_paths, per_replica_batch)
    sequence = SliceSequence(image_paths, mask_paths, per_replica_batch * replicas, **_common_arguments(cfg, mode),
                             pad_last_batch=mode == "train", target_fn=target_fn, workers=cfg.DATA_WORKERS)
    return DataFeed(sequence, len(sequence), per_replica_batch * replicas)


def _dali_feed(cfg, mode, strategy, target_fn, image_paths, mask_paths, per_replica_batch):
    dali_data_generator.require_dali()
    gpus = dali_data_generator.gpu_device_ids()
    if not gpus:
        print("DALI: no GPU found, running DALI's CPU pipeline")
    replicas = strategy.num_replicas_in_sync
    steps = []

    def replica_dataset(context: tf.distribute.InputContext):
        shard = context.input_pipeline_id
        dataset, shard_steps = dali_data_generator.dali_dataset(
            image_paths, mask_paths, per_replica_batch, image_size=(cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH),
            **_common_arguments(cfg, mode), shard_id=shard,
            num_shards=replicas, device_id=gpus[shard % len(gpus)] if gpus else None)
        steps.append(shard_steps)
        if target_fn is not None:
            dataset = dataset.map(lambda images, masks: (images, target_fn(masks)))
        return dataset

    with strategy.scope():
        mirrored = tf.distribute.has_strategy()   # False for the default (no-op) strategy
    if not mirrored:
        data = replica_dataset(tf.distribute.InputContext(1, 0, 1))
    else:
        # DALI's recommended placement, even for one replica: Keras would otherwise wrap the
        # dataset in a MultiDeviceIterator, and destroying that (each validation run) segfaults.
        options = tf.distribute.InputOptions(experimental_place_dataset_on_device=True,
                                             experimental_fetch_to_device=False,
                                             experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA)
        data = strategy.distribute_datasets_from_function(replica_dataset, options)
    # Shards differ by at most one sample; the smallest step count keeps replicas in lockstep.
    return DataFeed(data, min(steps), per_replica_batch * replicas)
