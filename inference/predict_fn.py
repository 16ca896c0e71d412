"""The forward pass every inference path uses: the lean graph, compiled, returning final probabilities."""
import keras
import numpy as np
import tensorflow as tf

from models.inference_graph import final_output_model


def make_predict_fn(model: keras.Model, jit_compile: bool = False):
    """A compiled forward pass of the lean graph, returning the final full-resolution probabilities.

    jit_compile is `runtime.devices.use_xla(cfg)`.
    """
    lean = final_output_model(model)

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def predict(images):
        return tf.cast(lean(images, training=False), tf.float32)

    return predict


def to_label_maps(probabilities) -> np.ndarray:
    """BxHxWxK class probabilities to BxHxW uint8 labels."""
    return np.argmax(np.asarray(probabilities), axis=-1).astype(np.uint8)
