"""Everything training and inference need to know about a MODEL.TYPE, in one place.

Every model returns a dict of named outputs; `make_targets` and `compile_arguments` give the
matching dicts of targets and losses, so scripts never branch on the model type.
"""
import keras
from keras import ops

from losses.loss import unet3p_hybrid_loss
from losses.metrics import DiceCoefficient
from models.backbones import build_encoder
from models.unet3plus import CLS_OUTPUT, SIDE_OUTPUTS, unet3plus_outputs
from utils.choices import choose, register_choice

FINAL_OUTPUT = SIDE_OUTPUTS[0]   # "d1": the full-resolution prediction every model type has
# MODEL.TYPE -> (deep supervision, classification-guided module)
MODEL_VARIANTS = register_choice("MODEL.TYPE", {
    "unet3plus": (False, False),
    "unet3plus_deepsup": (True, False),
    "unet3plus_deepsup_cgm": (True, True),
})


def _variant(model_type: str):
    return choose("MODEL.TYPE", model_type)


def output_names(model_type: str) -> list:
    """Names of the model's outputs: ["d1"], or d1..d4, e5 with deep supervision, plus "cls" with CGM."""
    deep_supervision, classification_guided = _variant(model_type)
    names = list(SIDE_OUTPUTS if deep_supervision else SIDE_OUTPUTS[:1])
    return (names + [CLS_OUTPUT]) if classification_guided else names


def prepare_model(cfg) -> keras.Model:
    """The configured UNet 3+ (uncompiled), named f"{MODEL.TYPE}_{MODEL.BACKBONE.TYPE}"."""
    model_type, backbone = cfg.MODEL.TYPE, cfg.MODEL.BACKBONE.TYPE
    deep_supervision, classification_guided = _variant(model_type)
    inputs = keras.Input((cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS), name="image")
    encoder = build_encoder(inputs, backbone, list(cfg.MODEL.FILTERS), cfg.MODEL.BACKBONE.WEIGHTS)
    outputs = unet3plus_outputs(encoder, cfg.OUTPUT.CLASSES, cfg.MODEL.SKIP_FILTERS, deep_supervision,
                                classification_guided)
    return keras.Model(inputs, outputs, name=f"{model_type}_{backbone}")


def organ_presence(masks):
    """(B, 1) float32: 1.0 for each one-hot mask with any foreground pixel (the CGM target)."""
    foreground = ops.max(ops.cast(masks, "float32")[..., 1:], axis=(1, 2, 3))
    return ops.expand_dims(ops.cast(foreground > 0, "float32"), -1)


def make_targets(model_type: str, masks) -> dict:
    """Targets for each output from a one-hot mask batch (B, H, W, C), numpy or tensor.

    Every segmentation output is full resolution, so all share the mask itself. Uses only
    tensor ops, so it also runs inside tf.data `map`.
    """
    names = output_names(model_type)
    targets = {name: masks for name in names if name != CLS_OUTPUT}
    if CLS_OUTPUT in names:
        targets[CLS_OUTPUT] = organ_presence(masks)
    return targets


def compile_arguments(model_type: str) -> dict:
    """loss, loss_weights and metrics for `model.compile`: hybrid loss per segmentation output,
    binary cross-entropy for "cls", equal weights (as in the paper), Dice on the final output."""
    names = output_names(model_type)
    loss = {name: keras.losses.binary_crossentropy if name == CLS_OUTPUT else unet3p_hybrid_loss
            for name in names}
    return {"loss": loss, "loss_weights": {name: 1.0 for name in names}, "metrics": {FINAL_OUTPUT: [DiceCoefficient()]}}
