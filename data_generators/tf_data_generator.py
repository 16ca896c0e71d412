"""`keras.utils.PyDataset` (the Keras 3 `Sequence`) feeding (image, mask) batches from PNG pairs.

Parallel workers (threads: OpenCV releases the GIL while decoding) keep the model fed.
"""
import keras
import numpy as np

from data_generators.preprocessing import augment, normalize_image
from data_sets.labels import mask_labels
from data_generators.sampling import EpochSampler
from utils.errors import UserError, raised_in_worker
from data_sets.image_files import read_image, read_mask
from volumes.geometry import one_hot, resize_image, resize_labels
from volumes.slices import ImageSettings


def network_input(image: np.ndarray, inputs: ImageSettings) -> np.ndarray:
    """An HxWxC uint8 picture as the network takes it: float32, divided by 255 when inputs.normalize is set;
    at inputs.size (height, width) when given (data=images: pictures of any size, area-averaged)."""
    return normalize_image(image if inputs.size is None else resize_image(image, tuple(inputs.size)), inputs.normalize)


def load_input(path: str, inputs: ImageSettings) -> np.ndarray:
    """One network input read from a file (network_input)."""
    return network_input(read_image(path, inputs.channels), inputs)


class SliceSequence(keras.utils.PyDataset):
    """Batches of (images float32 BxHxWxC, one-hot masks float32 BxHxWxK).

    target_fn, when given, maps the mask batch to what the model's loss expects (e.g. the dict
    of deep-supervision targets), so the training script never branches on the model type.
    inputs (volumes.slices.image_settings): channels and normalisation; with inputs.size (height, width)
    pictures of any size are resized at load (images area-averaged, masks by the class covering most of
    each pixel). binary_masks: masks hold 0/255, read as labels 0/1.
    """

    def __init__(self, image_paths, mask_paths, batch_size, classes, inputs: ImageSettings, *, label_count=None,
                 shuffle=False, augment_data=False, seed=0, shard_id=0, num_shards=1,
                 last_batch="partial", steps=None, target_fn=None, workers=1, binary_masks=False):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max(4, 2 * workers))
        self.image_paths = list(image_paths)
        self.mask_paths = list(mask_paths)
        self.sampler = EpochSampler(len(self.image_paths), batch_size, shuffle, seed, shard_id, num_shards,
                                    last_batch, steps)
        self.classes = classes
        self.label_count = label_count or classes   # label values masks may hold (len(DATASET.CLASSES))
        self.inputs = inputs
        self.augment_data = augment_data
        self.seed = seed
        self.target_fn = target_fn
        self.binary_masks = binary_masks
        self.epoch = 0

    def __len__(self):
        return self.sampler.steps_per_epoch

    def batch_indices(self, step):
        return self.sampler.batch(self.epoch, step)

    def load_pair(self, index, rng=None):
        image = load_input(self.image_paths[index], self.inputs)
        path = self.mask_paths[index]
        labels = mask_labels(read_mask(path), self.classes, self.label_count, self.binary_masks, path)
        if self.inputs.size:
            labels = resize_labels(labels, tuple(self.inputs.size), self.label_count)
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
