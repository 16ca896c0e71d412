"""Pictures of any size in, label maps at each picture's own size out (data=images: predict.py, evaluate.py).

Each picture is resized to the network's input as the generators resize it for training, and the
class probabilities go back to the picture's size before the argmax, as volumes do on their CT grid
(volumes.geometry.labels_from_probabilities).
"""
from typing import Iterator, NamedTuple, Sequence

import numpy as np
from tqdm import tqdm

from data_generators.tf_data_generator import network_input
from data_sets.image_files import read_image
from volumes.geometry import labels_from_probabilities
from volumes.slices import ImageSettings


class PicturePrediction(NamedTuple):
    path: str
    picture: np.ndarray   # HxWxC uint8 as read (RGB, or 1 channel)
    labels: np.ndarray    # HxW uint8 class indices, the picture's own size


def predict_pictures(paths: Sequence[str], predict_fn, inputs: ImageSettings, batch_size: int,
                     description: str = "predicting") -> Iterator[PicturePrediction]:
    """Predictions of the pictures at `paths`, in order, `batch_size` at a time (only one batch in memory).

    inputs: their channels, normalisation and the network's input size (volumes.slices.picture_settings)."""
    for start in tqdm(range(0, len(paths), batch_size), desc=description, unit="batch"):
        batch = list(paths[start:start + batch_size])
        pictures = [read_image(path, inputs.channels) for path in batch]
        images = np.stack([network_input(picture, inputs) for picture in pictures])
        probabilities = np.asarray(predict_fn(images), dtype=np.float32)
        for path, picture, picture_probabilities in zip(batch, pictures, probabilities):
            yield PicturePrediction(path, picture, labels_from_probabilities(picture_probabilities, picture.shape[:2]))
