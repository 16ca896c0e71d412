"""UNet 3+ decoder and output heads (Huang et al. 2020, arXiv:2004.08790).

Full-scale skip connections: every decoder stage sees all the encoder's scales at once (five in
the paper), so fine detail (from shallow encoder maps) and semantics (from deep decoder maps) meet
at every resolution. Optional deep supervision adds a full-resolution output per stage, and the
classification-guided module (CGM) suppresses foreground on slices without organ.
"""
from typing import Tuple

import keras
from keras import ops

from models.backbones import ConvOptions, conv_bn_relu

PAPER_LEVELS = 5   # the paper's (and the recipe's) encoder depth: e1..e5
FINAL_OUTPUT = "d1"   # the full-resolution prediction every model type has
CLS_OUTPUT = "cls"


def side_outputs(levels: int = PAPER_LEVELS) -> Tuple[str, ...]:
    """Deep-supervision outputs of a `levels`-deep UNet 3+, finest first: d1..d4, e5 for the paper's five
    (the first is the network's final prediction; the deepest stage is the encoder's own map)."""
    return (*(f"d{level}" for level in range(1, levels)), f"e{levels}")


def full_scale_skip(source, source_level: int, target_level: int, skip_filters: int, name: str,
                    options: ConvOptions = ConvOptions()):
    """One decoder input: `source` resized to the target scale, reduced to skip_filters channels.

    Finer maps are max-pooled down, coarser maps bilinearly upsampled, as in the paper.
    Upsampling runs in float32 under mixed precision: XLA's CPU backend rejects the float16
    gradient of bilinear resizing, and the next layer casts back to float16 anyway.
    """
    if source_level < target_level:
        source = keras.layers.MaxPooling2D(2 ** (target_level - source_level), name=f"{name}_pool")(source)
    elif source_level > target_level:
        factor = 2 ** (source_level - target_level)
        source = keras.layers.UpSampling2D(factor, interpolation="bilinear", dtype="float32",
                                           name=f"{name}_up")(source)
    return conv_bn_relu(source, skip_filters, name, options=options)


def full_scale_decoder(encoder: list, skip_filters: int, options: ConvOptions = ConvOptions()) -> list:
    """[d1, d2, d3, d4, e5] from [e1..e5] (L levels: [d1..d(L-1), eL] from [e1..eL]); each stage is
    L*skip_filters channels wide.

    Stage d gets e1..e(d-1) pooled, e_d as is, and d(d+1)..d4 and e5 upsampled (the
    paper's X_De^5 is X_En^5); the five branches are concatenated and fused by one conv unit.
    """
    levels = len(encoder)
    decoder = {levels: encoder[-1]}
    for level in range(levels - 1, 0, -1):
        branches = []
        for source_level in range(1, levels + 1):
            from_encoder = source_level <= level or source_level == levels
            source = encoder[source_level - 1] if from_encoder else decoder[source_level]
            name = f"decoder{level}_from_{'e' if from_encoder else 'd'}{source_level}"
            branches.append(full_scale_skip(source, source_level, level, skip_filters, name, options))
        fused = keras.layers.Concatenate(name=f"decoder{level}_concat")(branches)
        decoder[level] = conv_bn_relu(fused, levels * skip_filters, f"decoder{level}_fuse", options=options)
    return [decoder[level] for level in range(1, levels + 1)]


def segmentation_head(features, level: int, classes: int, name: str, options: ConvOptions = ConvOptions()):
    """Conv3x3 (with bias; initializer and L2 from options) to class logits, bilinear upsampling to
    input size, softmax.

    The softmax is float32 so outputs and losses stay accurate under mixed_float16.
    """
    x = options.conv(features, classes, 3, f"{name}_logits", use_bias=True)
    if level > 1:
        x = keras.layers.UpSampling2D(2 ** (level - 1), interpolation="bilinear", dtype="float32",
                                      name=f"{name}_upsample")(x)
    return keras.layers.Activation("softmax", dtype="float32", name=name)(x)


def classification_head(deepest):
    """CGM classifier: probability (B, 1) that the slice contains organ, from the deepest features."""
    x = keras.layers.Dropout(0.5, name=f"{CLS_OUTPUT}_dropout")(deepest)
    x = keras.layers.Conv2D(1, 1, name=f"{CLS_OUTPUT}_conv")(x)
    x = keras.layers.GlobalMaxPooling2D(name=f"{CLS_OUTPUT}_pool")(x)
    return keras.layers.Activation("sigmoid", dtype="float32", name=CLS_OUTPUT)(x)


@keras.saving.register_keras_serializable(package="unet3p")
class ClassificationGate(keras.layers.Layer):
    """CGM gate: keeps a slice's foreground only where the classifier finds organ.

    Foreground probabilities are multiplied by stop_gradient(p_organ > threshold), per image,
    and background becomes 1 - their sum so the output is still a distribution over classes.
    The hard threshold stops segmentation losses from training the classifier, which learns
    from its own binary cross-entropy only.
    """

    def __init__(self, threshold: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold

    def call(self, probabilities, organ_probability):
        probabilities = ops.cast(probabilities, self.compute_dtype)
        keep = ops.cast(ops.greater(organ_probability, self.threshold), self.compute_dtype)
        keep = ops.stop_gradient(ops.reshape(keep, (-1, 1, 1, 1)))
        foreground = probabilities[..., 1:] * keep
        background = 1.0 - ops.sum(foreground, axis=-1, keepdims=True)
        return ops.concatenate([background, foreground], axis=-1)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def unet3plus_outputs(encoder: list, classes: int, skip_filters: int, deep_supervision: bool = False,
                      classification_guided: bool = False, options: ConvOptions = ConvOptions()) -> dict:
    """The model's outputs by name: "d1" always; "d2".."e5" with deep supervision (side_outputs of the
    encoder's depth); "cls" with CGM.

    options shape every convolution of the decoder and the segmentation heads (the CGM classifier's
    1x1 conv keeps Keras' defaults, as the recipe's does).
    """
    decoder = full_scale_decoder(encoder, skip_filters, options)
    names = side_outputs(len(encoder)) if deep_supervision else (FINAL_OUTPUT,)
    if not classification_guided:
        return {name: segmentation_head(decoder[level - 1], level, classes, name, options)
                for level, name in enumerate(names, start=1)}
    organ = classification_head(encoder[-1])
    outputs = {}
    for level, name in enumerate(names, start=1):
        probabilities = segmentation_head(decoder[level - 1], level, classes, f"{name}_softmax", options)
        outputs[name] = ClassificationGate(dtype="float32", name=name)(probabilities, organ)
    outputs[CLS_OUTPUT] = organ
    return outputs
