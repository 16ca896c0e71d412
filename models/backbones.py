"""Encoders: five feature maps [e1..e5] at scales 1, 1/2, 1/4, 1/8 and 1/16 of the input.

The UNet 3+ decoder only needs these five maps, so any backbone that yields them plugs in.
"""
import os

import keras

from utils.choices import choose
from utils.errors import UserError


def conv_bn_relu(x, filters: int, name: str, kernel_size: int = 3):
    """Conv -> BatchNorm -> ReLU, the unit every UNet 3+ encoder and decoder stage is made of.

    BatchNorm momentum 0.9 (Keras' default is 0.99) lets the moving statistics used at
    inference catch up within tens of steps: with 0.99 short runs validate far below training.
    """
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def unet3plus_encoder(inputs, filters, weights_path=None) -> list:
    """The paper's plain encoder: two conv units per level, 2x2 max pooling between levels."""
    if weights_path:
        others = "/".join(name for name in BACKBONES if name != "unet3plus")
        raise UserError(f"MODEL.BACKBONE.WEIGHTS only applies to the {others} backbones; "
                        "set it to null for the unet3plus backbone")
    features, x = [], inputs
    for level, width in enumerate(filters, start=1):
        if level > 1:
            x = keras.layers.MaxPooling2D(2, name=f"encoder{level}_pool")(x)
        x = conv_bn_relu(x, width, f"encoder{level}_1")
        x = conv_bn_relu(x, width, f"encoder{level}_2")
        features.append(x)
    return features


def vgg_encoder(application, feature_layers):
    """A builder of VGG features before each pooling; weights from a local file or random (never downloaded).

    feature_layers names the last convolution of each of the five blocks; VGG's widths are
    fixed, so `filters` is ignored.
    """
    def build(inputs, filters=None, weights_path=None) -> list:
        vgg = application(include_top=False, weights=None, input_tensor=inputs)
        if weights_path:
            load_backbone_weights(vgg, weights_path)
        return [vgg.get_layer(name).output for name in feature_layers]

    return build


def load_backbone_weights(model: keras.Model, path: str) -> None:
    """Load a local weights file into a backbone, skipping layers whose shapes differ.

    Accepts Keras 3 `.weights.h5` files and legacy `.h5` files such as keras.applications'
    `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5` (matched by layer name). Skipping
    mismatches lets 3-channel (RGB) weights initialise a 1-channel model except its first conv.
    """
    if not os.path.isfile(path):
        raise UserError(f"MODEL.BACKBONE.WEIGHTS file not found: {path}")
    by_name = {} if path.endswith(".weights.h5") else {"by_name": True}
    try:
        model.load_weights(path, skip_mismatch=True, **by_name)
    except Exception as err:  # h5py and Keras raise many types for foreign or corrupt files
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"cannot load MODEL.BACKBONE.WEIGHTS {path} into {model.name}: {reason}") from None


# MODEL.BACKBONE.TYPE -> builder(inputs, filters, weights_path) of the five maps [e1..e5]
BACKBONES = {
    "unet3plus": unet3plus_encoder,
    "vgg16": vgg_encoder(keras.applications.VGG16, ("block1_conv2", "block2_conv2", "block3_conv3",
                                                    "block4_conv3", "block5_conv3")),
    "vgg19": vgg_encoder(keras.applications.VGG19, ("block1_conv2", "block2_conv2", "block3_conv4",
                                                    "block4_conv4", "block5_conv4")),
}


def build_encoder(inputs, backbone: str, filters, weights_path=None) -> list:
    """[e1..e5] of the named backbone on `inputs`; UserError for unknown names or misplaced weights."""
    return choose("MODEL.BACKBONE.TYPE", backbone)(inputs, filters, weights_path)
