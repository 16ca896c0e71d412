"""Turning network outputs into label maps (evaluate, predict, notebook); loading is run_dirs.loading."""
import keras
import numpy as np
import tensorflow as tf

from models.model_factory import FINAL_OUTPUT
from utils.runtime import use_xla


def make_predict_fn(model: keras.Model, cfg):
    """A compiled forward pass returning the final full-resolution probabilities (XLA when set)."""
    @tf.function(jit_compile=use_xla(cfg), reduce_retracing=True)
    def predict(images):
        return tf.cast(model(images, training=False)[FINAL_OUTPUT], tf.float32)

    return predict


def to_label_maps(probabilities) -> np.ndarray:
    """BxHxWxK class probabilities to BxHxW uint8 labels."""
    return np.argmax(np.asarray(probabilities), axis=-1).astype(np.uint8)
