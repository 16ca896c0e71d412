"""`get_data_generator(cfg, mode)`: the one place that picks TF or DALI, so scripts never branch."""
from typing import Any, Callable, NamedTuple, Optional, Tuple

import keras
import tensorflow as tf

from data_generators import dali_data_generator
from data_generators.dataset_files import check_mask_files, list_split_pairs
from data_generators.sampling import epoch_steps
from data_generators.tf_data_generator import SliceSequence
from data_sets.kinds import dataset_kind
from app.choices import choose
from utils.errors import UserError
from volumes.slices import image_settings


class DataFeed(NamedTuple):
    """What `model.fit` needs: the data (PyDataset or tf.data), how many steps make an epoch, and
    the callbacks that keep the batches in step with Keras' epoch (pass them to `fit`)."""
    data: Any
    steps: int
    global_batch_size: int
    callbacks: Tuple[keras.callbacks.Callback, ...] = ()


class FollowKerasEpoch(keras.callbacks.Callback):
    """Hands a feed the epoch Keras is on, so epoch e draws the same batches whether or not the run resumed.

    BackupAndRestore starts a resumed run at its saved epoch, while a new feed would start at 0.
    A stream that runs on across epochs (DALI's) only needs where to start: with `only_first`
    the epoch is set at the first epoch of each `fit`.
    """

    def __init__(self, set_epoch: Callable[[int], None], only_first: bool = False):
        super().__init__()
        self.set_epoch = set_epoch
        self.only_first = only_first
        self.started = False

    def on_train_begin(self, logs=None):
        self.started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not (self.only_first and self.started):
            self.set_epoch(epoch)
        self.started = True


def last_batch_policy(cfg, mode: str) -> str:
    """Training fills its last partial batch, or drops it with HYPER_PARAMETERS.DROP_LAST_BATCH (the
    recipe's); validation keeps it smaller, so every slice is scored exactly once by either generator."""
    if mode != "train":
        return "partial"
    drop = cfg.HYPER_PARAMETERS.DROP_LAST_BATCH
    if not isinstance(drop, bool):
        raise UserError(f"HYPER_PARAMETERS.DROP_LAST_BATCH must be True or False, got {drop!r}")
    return "drop" if drop else "pad"


def _common_arguments(cfg, mode):
    """Both generators' settings. Prepared slices already have the input size; a 2D kind's pictures
    (data=images) come as they are and are resized at load (volumes.slices.image_settings)."""
    training = mode == "train"
    pictures = not dataset_kind(cfg).volumetric
    return dict(classes=cfg.OUTPUT.CLASSES, label_count=len(cfg.DATASET.CLASSES), inputs=image_settings(cfg),
                shuffle=training and cfg.PREPROCESS_DATA.SHUFFLE, augment_data=training and cfg.PREPROCESS_DATA.AUGMENT,
                seed=cfg.SEED, last_batch=last_batch_policy(cfg, mode),
                binary_masks=pictures and bool(cfg.DATASET.BINARY_MASKS))


def get_data_generator(cfg, mode: str, strategy: Optional[tf.distribute.Strategy] = None,
                       target_fn: Optional[Callable] = None) -> DataFeed:
    """Batches of the 'train' or 'val' split from the generator named by cfg.DATA_GENERATOR_TYPE.

    With a strategy of N replicas the global batch is BATCH_SIZE x N. The TF generator yields
    global batches that Keras splits across replicas; DALI runs one pipeline per replica on its
    own shard (and its own GPU).
    """
    if mode not in ("train", "val"):
        raise ValueError(f"mode must be 'train' or 'val', got {mode!r}")
    build_feed = choose("DATA_GENERATOR_TYPE", cfg.DATA_GENERATOR_TYPE)
    return build_feed(cfg, mode, strategy or tf.distribute.get_strategy(), target_fn)


def input_workers(strategy: tf.distribute.Strategy) -> int:
    """How many machines read input, each its own shard: the workers of a multi-worker cluster, else 1."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def shard_steps(num_items: int, num_shards: int, batch_size: int, last_batch: str = "pad") -> int:
    """Steps per epoch every shard can give: those of the smallest shard, so replicas stay in lockstep.

    Shards differ by at most one item; with last_batch="partial" (validation) a larger shard's extra
    item is left out when it would need a step of its own (at most num_shards - 1 slices, never repeated).
    """
    if num_items < num_shards:
        raise UserError(f"{num_items} slices cannot be split across {num_shards} input shards (workers/replicas)")
    return epoch_steps(num_items // num_shards, batch_size, last_batch)


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


def split_pairs(cfg, mode: str, strategy: tf.distribute.Strategy):
    """list_split_pairs, refusing a training batch larger than the training slices: the padded batch
    would repeat slices to fill it (and a batch of 1000 on 68 slices ran out of memory)."""
    images, masks = list_split_pairs(cfg, mode)
    batch, replicas = cfg.HYPER_PARAMETERS.BATCH_SIZE, strategy.num_replicas_in_sync
    if mode == "train" and batch * replicas > len(images):
        raise UserError(f"HYPER_PARAMETERS.BATCH_SIZE={batch} (x {replicas} replica(s)) is larger than the "
                        f"{len(images)} training slices: lower HYPER_PARAMETERS.BATCH_SIZE")
    return images, masks


def _tf_feed(cfg, mode, strategy, target_fn):
    if input_workers(strategy) > 1:
        return _sharded_sequence_feed(cfg, mode, strategy, target_fn)
    global_batch = cfg.HYPER_PARAMETERS.BATCH_SIZE * strategy.num_replicas_in_sync
    sequence = SliceSequence(*split_pairs(cfg, mode, strategy), global_batch, **_common_arguments(cfg, mode),
                             target_fn=target_fn, workers=cfg.DATA_WORKERS)
    return DataFeed(sequence, len(sequence), global_batch, (FollowKerasEpoch(sequence.set_epoch),))


def _sharded_sequence_feed(cfg, mode, strategy, target_fn):
    """TF generator across machines: each worker's pipeline reads its shard, in per-replica batches."""
    image_paths, mask_paths = split_pairs(cfg, mode, strategy)
    per_replica_batch = cfg.HYPER_PARAMETERS.BATCH_SIZE
    replicas = strategy.num_replicas_in_sync
    workers = input_workers(strategy)
    sequences = []
    arguments = _common_arguments(cfg, mode)
    steps = shard_steps(len(image_paths), workers, per_replica_batch * (replicas // workers), arguments["last_batch"])

    def worker_dataset(context: tf.distribute.InputContext):
        sequence = SliceSequence(image_paths, mask_paths, per_replica_batch, **arguments,
                                 shard_id=context.input_pipeline_id, num_shards=context.num_input_pipelines,
                                 steps=steps, target_fn=target_fn)
        sequences.append(sequence)
        return sequence_dataset(sequence)

    def set_first_epoch(epoch):
        for sequence in sequences:
            sequence.set_epoch(epoch)

    data = strategy.distribute_datasets_from_function(worker_dataset)
    return DataFeed(data, steps, per_replica_batch * replicas, (FollowKerasEpoch(set_first_epoch, only_first=True),))


def _dali_feed(cfg, mode, strategy, target_fn):
    image_paths, mask_paths = split_pairs(cfg, mode, strategy)
    per_replica_batch = cfg.HYPER_PARAMETERS.BATCH_SIZE
    dali_data_generator.require_dali()
    if dataset_kind(cfg).volumetric:   # a 2D kind's masks were checked when paired (data_sets.images.check_pairs)
        check_mask_files(mask_paths, len(cfg.DATASET.CLASSES))   # DALI's pipeline would clamp a label beyond the classes
    gpus = dali_data_generator.gpu_device_ids()
    if not gpus:
        print("DALI: no GPU found, running DALI's CPU pipeline")
    replicas = strategy.num_replicas_in_sync
    workers = input_workers(strategy)
    with strategy.scope():
        mirrored = tf.distribute.has_strategy()   # False for the default (no-op) strategy
    shards = workers if workers > 1 else replicas if mirrored else 1
    arguments = _common_arguments(cfg, mode)
    batches_per_step = per_replica_batch * replicas // shards   # one pipeline feeds replicas // shards replicas
    steps = shard_steps(len(image_paths), shards, batches_per_step, arguments["last_batch"])
    samplers = []

    def replica_dataset(context: tf.distribute.InputContext):
        shard = context.input_pipeline_id
        local = shard if workers == 1 else 0   # multi-worker: one pipeline per worker, on its first GPU
        dataset, sampler = dali_data_generator.dali_dataset(
            image_paths, mask_paths, per_replica_batch, image_size=(cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH),
            **arguments, shard_id=shard, num_shards=context.num_input_pipelines, steps=steps,
            device_id=gpus[local % len(gpus)] if gpus else None)
        samplers.append(sampler)
        if target_fn is not None:
            dataset = dataset.map(lambda images, masks: (images, target_fn(masks)))
        return dataset

    if not mirrored:
        data = replica_dataset(tf.distribute.InputContext(1, 0, 1))
    elif workers > 1:
        # MultiWorkerMirroredStrategy takes one input pipeline per worker (PER_REPLICA is Mirrored-only).
        data = strategy.distribute_datasets_from_function(replica_dataset)
    else:
        # DALI's recommended placement, even for one replica: Keras would otherwise wrap the
        # dataset in a MultiDeviceIterator, and destroying that (each validation run) segfaults.
        options = tf.distribute.InputOptions(experimental_place_dataset_on_device=True,
                                             experimental_fetch_to_device=False,
                                             experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA)
        data = strategy.distribute_datasets_from_function(replica_dataset, options)

    def set_first_epoch(epoch):
        for sampler in samplers:
            sampler.first_epoch = epoch

    follow = FollowKerasEpoch(set_first_epoch, only_first=True)
    return DataFeed(data, steps, per_replica_batch * replicas, (follow,))


# DATA_GENERATOR_TYPE -> builder(cfg, mode, strategy, target_fn) of the DataFeed
GENERATORS = {"TF_GENERATOR": _tf_feed, "DALI_GENERATOR": _dali_feed}
