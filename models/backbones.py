"""Encoders: feature maps [e1..e5] at scales 1, 1/2, 1/4, 1/8 and 1/16 of the input (the paper's five levels).

The UNet 3+ decoder only needs these maps, so any backbone that yields them plugs in. The plain encoder has
one level per MODEL.FILTERS entry (fewer levels: a smaller, faster network for small inputs); VGG has five.
"""
import os
from typing import NamedTuple, Optional

import keras

from app.choices import choose
from utils.errors import UserError

# MODEL.KERNEL_INITIALIZER -> Keras initializer class of UNet 3+'s own convolution kernels
KERNEL_INITIALIZERS = {
    "glorot_uniform": keras.initializers.GlorotUniform,   # Keras' default
    "he_normal": keras.initializers.HeNormal,             # the NVIDIA recipe's (models/unet3plus_utils.py)
}


class ConvOptions(NamedTuple):
    """How the convolutions UNet 3+ adds are made: the plain encoder, the decoder, the heads.

    The VGG backbones keep keras.applications' own layers (biases, Glorot), as in the recipe.
    Defaults are this project's; the NVIDIA recipe's `conv_block` is
    ConvOptions(use_bias=True, initializer="he_normal", seed=5, l2=1e-4, batch_norm_momentum=0.99).
    seed: None draws from the global seeded RNG; an int seeds each layer's initializer with it,
    as the recipe does (then layers of one shape start from the same values).
    BatchNorm momentum 0.9 (Keras' default is 0.99) lets the moving statistics used at inference
    catch up within tens of steps: with 0.99 short runs validate far below training.
    """
    use_bias: bool = False
    initializer: str = "glorot_uniform"
    seed: Optional[int] = None
    l2: float = 0.0
    batch_norm_momentum: float = 0.9

    def conv(self, x, filters: int, kernel_size: int, name: str, use_bias: Optional[bool] = None):
        """A 'same'-padded Conv2D with these options (use_bias overrides, e.g. for the output heads)."""
        initializer = choose("MODEL.KERNEL_INITIALIZER", self.initializer)(seed=self.seed)
        return keras.layers.Conv2D(filters, kernel_size, padding="same", name=name,
                                   use_bias=self.use_bias if use_bias is None else use_bias,
                                   kernel_initializer=initializer,
                                   kernel_regularizer=keras.regularizers.L2(self.l2) if self.l2 else None)(x)


def conv_bn_relu(x, filters: int, name: str, kernel_size: int = 3, options: ConvOptions = ConvOptions()):
    """Conv -> BatchNorm -> ReLU, the unit every UNet 3+ encoder and decoder stage is made of."""
    x = options.conv(x, filters, kernel_size, f"{name}_conv")
    x = keras.layers.BatchNormalization(momentum=options.batch_norm_momentum, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def unet3plus_encoder(inputs, filters, weights_path=None, options: ConvOptions = ConvOptions(),
                      backbone_l2: float = 0.0) -> list:
    """The paper's plain encoder: two conv units per level, 2x2 max pooling between levels.

    Its convolutions are UNet 3+'s own, so `options` (L2 included) applies and backbone_l2 does not.
    """
    if weights_path:
        others = "/".join(name for name in BACKBONES if name != "unet3plus")
        raise UserError(f"MODEL.BACKBONE.WEIGHTS only applies to the {others} backbones; "
                        "set it to null for the unet3plus backbone")
    features, x = [], inputs
    for level, width in enumerate(filters, start=1):
        if level > 1:
            x = keras.layers.MaxPooling2D(2, name=f"encoder{level}_pool")(x)
        x = conv_bn_relu(x, width, f"encoder{level}_1", options=options)
        x = conv_bn_relu(x, width, f"encoder{level}_2", options=options)
        features.append(x)
    return features


def vgg_encoder(application, feature_layers):
    """A builder of VGG features before each pooling; weights from a local file or random (never downloaded).

    feature_layers names the last convolution of each of the five blocks; VGG's widths are
    fixed, so `filters` is ignored, and so are `options`: VGG's layers are keras.applications'
    own (biases, Glorot init), as in the recipe. backbone_l2 > 0 adds an L2 penalty on VGG's kernels.
    """
    def build(inputs, filters=None, weights_path=None, options: ConvOptions = ConvOptions(),
              backbone_l2: float = 0.0) -> list:
        vgg = application(include_top=False, weights=None, input_tensor=inputs)
        if weights_path:
            load_backbone_weights(vgg, weights_path)
        if backbone_l2:
            for layer in vgg.layers:
                if isinstance(layer, keras.layers.Conv2D):
                    layer.kernel.regularizer = keras.regularizers.L2(backbone_l2)
        return [vgg.get_layer(name).output for name in feature_layers]

    build.levels = len(feature_layers)   # fixed by the architecture (encoder_levels)
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


# MODEL.BACKBONE.TYPE -> builder(inputs, filters, weights_path, options, backbone_l2) of the maps [e1..e5]; a builder
# with a `levels` attribute has that many whatever the filters (encoder_levels)
BACKBONES = {
    "unet3plus": unet3plus_encoder,
    "vgg16": vgg_encoder(keras.applications.VGG16, ("block1_conv2", "block2_conv2", "block3_conv3",
                                                    "block4_conv3", "block5_conv3")),
    "vgg19": vgg_encoder(keras.applications.VGG19, ("block1_conv2", "block2_conv2", "block3_conv4",
                                                    "block4_conv4", "block5_conv4")),
}


def encoder_levels(backbone: str, filters) -> int:
    """How many feature maps (levels) the named backbone yields: one per MODEL.FILTERS entry for the plain
    encoder, VGG's five blocks for a VGG. A UserError naming the key for filters it cannot build."""
    fixed = getattr(choose("MODEL.BACKBONE.TYPE", backbone), "levels", None)
    if len(filters) < 2 or any(int(width) <= 0 for width in filters):
        raise UserError(f"MODEL.FILTERS must list 2 or more positive filter counts (one per encoder level; the "
                        f"paper's 5), got {list(filters)}")
    if fixed is not None and len(filters) != fixed:
        raise UserError(f"MODEL.FILTERS={list(filters)} asks for {len(filters)} levels, but MODEL.BACKBONE.TYPE="
                        f"{backbone} has {fixed} of its own widths (MODEL.FILTERS shapes the unet3plus backbone): "
                        f"use that backbone for another depth, or leave MODEL.FILTERS at {fixed} values")
    return fixed or len(filters)


def check_input_size(height: int, width: int, levels: int) -> None:
    """Each of the levels - 1 poolings halves the input: a UserError unless both sides divide by 2**(levels-1)."""
    step = 2 ** (levels - 1)
    if height % step or width % step:
        raise UserError(f"INPUT.HEIGHT and INPUT.WIDTH must be multiples of {step} ({levels - 1} poolings of a "
                        f"{levels}-level encoder), got {height}x{width}; the unet3plus backbone with fewer levels (a "
                        f"shorter MODEL.FILTERS) takes smaller multiples")


def build_encoder(inputs, backbone: str, filters, weights_path=None, options: ConvOptions = ConvOptions(),
                  backbone_l2: float = 0.0) -> list:
    """[e1..e5] of the named backbone on `inputs` (encoder_levels maps); UserError for unknown names or misplaced
    weights.

    options shape UNet 3+'s own convolutions (the plain encoder's); backbone_l2 is the L2 weight on
    a pretrained-style backbone's (VGG's) kernels.
    """
    return choose("MODEL.BACKBONE.TYPE", backbone)(inputs, filters, weights_path, options, backbone_l2)
