"""Which samples go in which batch: one order shared by the TF and DALI generators.

Both generators ask this sampler for indices, so for the same seed they produce the same
batches (augmentation aside), and sharding for replicas/workers is decided in one place.
"""
import math

import numpy as np


class EpochSampler:
    """Per-epoch sample order for one shard.

    Items are split across shards by stride (shard k takes items k, k+N, ...), then shuffled
    per epoch with a generator seeded by (seed, epoch), so epoch e is reproducible on its own.
    With pad_last_batch the final batch is filled by wrapping to the start of the epoch order,
    giving every batch the same shape (DALI and XLA want fixed shapes). `first_epoch` is where
    a stream that runs on across epochs (DALI's input) starts: Keras' epoch after a resume.
    """

    def __init__(self, num_items, batch_size, shuffle, seed, shard_id=0, num_shards=1, pad_last_batch=True):
        if not 0 <= shard_id < num_shards:
            raise ValueError(f"shard_id {shard_id} must be in [0, {num_shards})")
        self.items = np.arange(num_items)[shard_id::num_shards]
        if len(self.items) == 0:
            raise ValueError(f"shard {shard_id} of {num_shards} gets no samples out of {num_items}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pad_last_batch = pad_last_batch
        self.steps_per_epoch = math.ceil(len(self.items) / batch_size)
        self.first_epoch = 0

    def epoch_order(self, epoch: int) -> np.ndarray:
        order = self.items
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(order)
        if self.pad_last_batch:
            order = np.resize(order, self.steps_per_epoch * self.batch_size)
        return order

    def batch(self, epoch: int, step: int) -> np.ndarray:
        return self.epoch_order(epoch)[step * self.batch_size:(step + 1) * self.batch_size]
