"""Which samples go in which batch: one order shared by the TF and DALI generators.

Both generators ask this sampler for indices, so for the same seed they produce the same
batches (augmentation aside), and sharding for replicas/workers is decided in one place.
"""
import math

import numpy as np


# What becomes of the last, partial batch of an epoch (`EpochSampler.last_batch`):
LAST_BATCH_POLICIES = (
    "pad",       # filled by wrapping to the start of the epoch's order: every batch one shape (training)
    "drop",      # left out: floor(items / batch) full batches (the recipe's training, DROP_LAST_BATCH)
    "partial",   # kept smaller: every item exactly once (validation: no slice scored twice)
)


def epoch_steps(num_items: int, batch_size: int, last_batch: str) -> int:
    """Batches per epoch of num_items: floor when the partial batch is dropped (at least one), else ceil."""
    if last_batch == "drop":
        return max(1, num_items // batch_size)
    return math.ceil(num_items / batch_size)


class EpochSampler:
    """Per-epoch sample order for one shard.

    Items are split across shards by stride (shard k takes items k, k+N, ...), then shuffled
    per epoch with a generator seeded by (seed, epoch), so epoch e is reproducible on its own.
    `last_batch` (LAST_BATCH_POLICIES) says what happens to the final, partial batch; `steps`
    (default: this shard's own count) makes shards of unequal size agree on the steps per epoch.
    `first_epoch` is where a stream that runs on across epochs (DALI's input) starts: Keras'
    epoch after a resume.
    """

    def __init__(self, num_items, batch_size, shuffle, seed, shard_id=0, num_shards=1, last_batch="pad", steps=None):
        if not 0 <= shard_id < num_shards:
            raise ValueError(f"shard_id {shard_id} must be in [0, {num_shards})")
        if last_batch not in LAST_BATCH_POLICIES:
            raise ValueError(f"last_batch must be one of {LAST_BATCH_POLICIES}, got {last_batch!r}")
        self.items = np.arange(num_items)[shard_id::num_shards]
        if len(self.items) == 0:
            raise ValueError(f"shard {shard_id} of {num_shards} gets no samples out of {num_items}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.last_batch = last_batch
        self.steps_per_epoch = steps or epoch_steps(len(self.items), batch_size, last_batch)
        self.first_epoch = 0

    def epoch_order(self, epoch: int) -> np.ndarray:
        order = self.items
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(order)
        if self.last_batch == "partial":
            return order[:self.steps_per_epoch * self.batch_size]
        return np.resize(order, self.steps_per_epoch * self.batch_size)   # pad wraps around; drop cuts the tail

    def epoch_parts(self, epoch: int):
        """(the items of the epoch's full batches, those of its last partial batch, possibly none)."""
        order = self.epoch_order(epoch)
        full = len(order) // self.batch_size * self.batch_size
        return order[:full], order[full:]

    def batch(self, epoch: int, step: int) -> np.ndarray:
        return self.epoch_order(epoch)[step * self.batch_size:(step + 1) * self.batch_size]
