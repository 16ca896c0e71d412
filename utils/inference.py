"""Loading a trained model and turning network outputs into label maps (evaluate, predict, notebook)."""
import os

import keras
import numpy as np
import tensorflow as tf

from callbacks.training_callbacks import checkpoint_path
from models.inference_graph import final_output_model
from models.model_factory import prepare_model
from utils.config import validate_config
from utils.errors import UserError
from utils.runtime import configure_precision


def load_trained_model(cfg) -> keras.Model:
    """The configured model with the weights train.py saved for it."""
    validate_config(cfg)
    configure_precision(cfg)
    path = checkpoint_path(cfg)
    if not os.path.isfile(path):
        raise UserError(f"no trained weights at {path}: run train.py first with the same MODEL settings")
    model = prepare_model(cfg)
    try:
        model.load_weights(path)
    except Exception as err:  # h5py/Keras raise many types for truncated or mismatched files
        raise UserError(f"cannot load weights {path} into {model.name}: {str(err).splitlines()[0]}") from None
    return model


def make_predict_fn(model: keras.Model, jit_compile: bool = False):
    """A compiled forward pass of the lean graph, returning the final full-resolution probabilities.

    jit_compile is `utils.runtime.use_xla(cfg)`.
    """
    lean = final_output_model(model)

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def predict(images):
        return tf.cast(lean(images, training=False), tf.float32)

    return predict


def to_label_maps(probabilities) -> np.ndarray:
    """BxHxWxK class probabilities to BxHxW uint8 labels."""
    return np.argmax(np.asarray(probabilities), axis=-1).astype(np.uint8)
