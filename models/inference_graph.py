"""The lean inference graph: the image in, only the final prediction out.

Deep supervision's side heads (d2..e5) and their full-resolution upsampling serve training only;
inference and export run this sub-model so they cost nothing. For CGM models the final output
is the gated d1, so the classifier branch it needs stays in.
"""
import keras

from models.model_factory import FINAL_OUTPUT


def final_output_model(model: keras.Model) -> keras.Model:
    """A Keras Model sharing `model`'s layers and weights, from its input to FINAL_OUTPUT ("d1") only."""
    return keras.Model(model.inputs[0], model.get_layer(FINAL_OUTPUT).output, name=f"{model.name}_inference")
