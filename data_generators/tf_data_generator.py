"""`keras.utils.PyDataset` (the Keras 3 `Sequence`) feeding (image, mask) batches from PNG pairs.

Parallel workers (threads: OpenCV releases the GIL while decoding) keep the model fed.
"""
import keras
import numpy as np

from data_generators.preprocessing import augment, normalize_image
from data_sets.labels import binary_to_labels, to_class_labels
from data_generators.sampling import EpochSampler
from utils.errors import UserError, raised_in_worker
from data_sets.image_files import read_image, read_mask
from volumes.geometry import one_hot, resize_image, resize_labels


def network_input(image: np.ndarray, normalize: bool, size=None) -> np.ndarray:
    """An HxWxC uint8 picture as the network takes it: float32, divided by 255 when normalize is set;
    at size (height, width) when given (data=images: pictures of any size, area-averaged)."""
    return normalize_image(image if size is None else resize_image(image, tuple(size)), normalize)


def load_image(path: str, channels: int, normalize: bool, size=None) -> np.ndarray:
    """One network input read from a file (network_input)."""
    return network_input(read_image(path, channels), normalize, size)


class SliceSequence(keras.utils.PyDataset):
    """Batches of (images float32 BxHxWxC, one-hot masks float32 BxHxWxK).

    target_fn, when given, maps the mask batch to what the model's loss expects (e.g. the dict
    of deep-supervision targets), so the training script never branches on the model type.
    resize_to (height, width): pictures of any size are resized at load (images area-averaged, masks
    by the class covering most of each pixel); binary_masks: masks hold 0/255, read as labels 0/1.
    """

    def __init__(self, image_paths, mask_paths, batch_size, classes, channels, *, label_count=None, shuffle=False,
                 augment_data=False, normalize=True, seed=0, shard_id=0, num_shards=1,
                 last_batch="partial", steps=None, target_fn=None, workers=1, resize_to=None, binary_masks=False):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max(4, 2 * workers))
        self.image_paths = list(image_paths)
        self.mask_paths = list(mask_paths)
        self.sampler = EpochSampler(len(self.image_paths), batch_size, shuffle, seed, shard_id, num_shards,
                                    last_batch, steps)
        self.classes = classes
        self.label_count = label_count or classes   # label values masks may hold (len(DATASET.CLASSES))
        self.channels = channels
        self.augment_data = augment_data
        self.normalize = normalize
        self.seed = seed
        self.target_fn = target_fn
        self.resize_to = tuple(resize_to) if resize_to else None
        self.binary_masks = binary_masks
        self.epoch = 0

    def __len__(self):
        return self.sampler.steps_per_epoch

    def batch_indices(self, step):
        return self.sampler.batch(self.epoch, step)

    def load_pair(self, index, rng=None):
        image = load_image(self.image_paths[index], self.channels, self.normalize, self.resize_to)
        path = self.mask_paths[index]
        mask = read_mask(path)
        if self.binary_masks:
            mask = binary_to_labels(mask, path)
        labels = to_class_labels(mask, self.classes, self.label_count, path)
        if self.resize_to:
            labels = resize_labels(labels, self.resize_to, self.label_count)
        if rng is not None:
            image, labels = augment(image, labels, rng)
        return image, one_hot(labels, self.classes)

    def __getitem__(self, step):
        if step >= len(self):
            raise IndexError(step)
        rng = np.random.default_rng([self.seed, self.epoch, step]) if self.augment_data else None
        try:
            pairs = [self.load_pair(i, rng) for i in self.batch_indices(step)]
        except UserError as err:   # a corrupt PNG: one line, not tf.data's traceback
            raise raised_in_worker(err)
        images = np.stack([p[0] for p in pairs])
        masks = np.stack([p[1] for p in pairs])
        return images, (self.target_fn(masks) if self.target_fn else masks)

    def set_epoch(self, epoch: int) -> None:
        """Follow Keras' epoch (FollowKerasEpoch), so a resumed run shuffles as an uninterrupted one."""
        self.epoch = epoch

    def on_epoch_end(self):
        self.epoch += 1
