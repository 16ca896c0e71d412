"""Everything training and inference need to know about a MODEL.TYPE, in one place.

Every model returns a dict of named outputs; `make_targets` and `compile_arguments` give the
matching dicts of targets and losses, so scripts never branch on the model type.
"""
from typing import Callable

import keras
from keras import ops

from losses.loss import make_hybrid_loss
from losses.metrics import VALIDATION_METRICS
from models.backbones import ConvOptions, build_encoder, encoder_levels
from models.unet3plus import CLS_OUTPUT, FINAL_OUTPUT, PAPER_LEVELS, side_outputs, unet3plus_outputs
from app.choices import choose
from runtime.cluster import build_from_local_batches
from utils.errors import UserError
from runtime.devices import make_optimizer, use_xla

# MODEL.TYPE -> (deep supervision, classification-guided module)
MODEL_VARIANTS = {
    "unet3plus": (False, False),
    "unet3plus_deepsup": (True, False),
    "unet3plus_deepsup_cgm": (True, True),
}


def _variant(model_type: str):
    return choose("MODEL.TYPE", model_type)


def output_names(model_type: str, levels: int = PAPER_LEVELS) -> list:
    """Names of the model's outputs: ["d1"], or d1..d4, e5 with deep supervision (of a `levels`-deep encoder:
    d1..d(L-1), eL), plus "cls" with CGM."""
    deep_supervision, classification_guided = _variant(model_type)
    names = list(side_outputs(levels) if deep_supervision else [FINAL_OUTPUT])
    return (names + [CLS_OUTPUT]) if classification_guided else names


def model_levels(cfg) -> int:
    """The configured encoder's depth (MODEL.FILTERS' length for the unet3plus backbone, VGG's five)."""
    return encoder_levels(cfg.MODEL.BACKBONE.TYPE, list(cfg.MODEL.FILTERS))


def _checked(value, key: str, kind, low: float = 0.0, high: float = float("inf")):
    """value when it is of `kind` (bool, or a number from low to high); else a UserError naming the key."""
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{key} must be True or False, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        bounds = f">= {low:g}" if high == float("inf") else f"from {low:g} to {high:g}"
        raise UserError(f"{key} must be a number {bounds}, got {value!r}")
    return value


def conv_options(cfg) -> ConvOptions:
    """The MODEL and LOSS keys that shape the convolutions UNet 3+ adds, checked, as builder arguments."""
    seed = cfg.MODEL.INITIALIZER_SEED
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32):
        raise UserError(f"MODEL.INITIALIZER_SEED must be null or an integer from 0 to 2**32 - 1, got {seed!r}")
    return ConvOptions(use_bias=_checked(cfg.MODEL.CONV_BIAS, "MODEL.CONV_BIAS", bool),
                       initializer=cfg.MODEL.KERNEL_INITIALIZER, seed=seed, l2=l2_weight(cfg),
                       batch_norm_momentum=float(_checked(cfg.MODEL.BATCH_NORM_MOMENTUM, "MODEL.BATCH_NORM_MOMENTUM",
                                                          float, 0.0, 1.0)))


def l2_weight(cfg) -> float:
    """LOSS.L2_WEIGHT_DECAY, checked: the L2 penalty weight on convolution kernels (recipe: 1e-4)."""
    return float(_checked(cfg.LOSS.L2_WEIGHT_DECAY, "LOSS.L2_WEIGHT_DECAY", float))


def model_builder(cfg) -> Callable[[], keras.Model]:
    """build() -> the configured UNet 3+ (uncompiled, in the precision policy current when it is called), named
    f"{MODEL.TYPE}_{MODEL.BACKBONE.TYPE}": the config read once, here, into plain arguments (ConvOptions for the
    convolutions UNet 3+ adds, and the L2 weight on a VGG backbone's kernels, which LOSS.L2_VGG_KERNELS=False
    leaves unregularised as the recipe does), so the same network can be built again (a copy in another
    precision) without the config.
    """
    model_type, backbone = cfg.MODEL.TYPE, cfg.MODEL.BACKBONE.TYPE
    deep_supervision, classification_guided = _variant(model_type)
    options = conv_options(cfg)
    vgg_kernels = _checked(cfg.LOSS.L2_VGG_KERNELS, "LOSS.L2_VGG_KERNELS", bool)
    shape = (cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS)
    filters, weights, classes, skip_filters = (list(cfg.MODEL.FILTERS), cfg.MODEL.BACKBONE.WEIGHTS,
                                               cfg.OUTPUT.CLASSES, cfg.MODEL.SKIP_FILTERS)

    def build() -> keras.Model:
        inputs = keras.Input(shape, name="image")
        encoder = build_encoder(inputs, backbone, filters, weights, options,
                                backbone_l2=options.l2 if vgg_kernels else 0.0)
        outputs = unet3plus_outputs(encoder, classes, skip_filters, deep_supervision, classification_guided, options)
        return keras.Model(inputs, outputs, name=f"{model_type}_{backbone}")

    return build


def prepare_model(cfg) -> keras.Model:
    """The configured UNet 3+ (uncompiled), named f"{MODEL.TYPE}_{MODEL.BACKBONE.TYPE}" (model_builder)."""
    return model_builder(cfg)()


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def regularised_kernels(model: keras.Model) -> list:
    """The convolution kernels that carry an L2 penalty (the recipe: 25 on a VGG backbone, 35 on its own)."""
    return [layer.kernel for layer in _all_layers(model)
            if isinstance(layer, keras.layers.Conv2D) and getattr(layer.kernel, "regularizer", None) is not None]


def organ_presence(masks):
    """(B, 1) float32: 1.0 for each one-hot mask with any foreground pixel (the CGM target)."""
    foreground = ops.max(ops.cast(masks, "float32")[..., 1:], axis=(1, 2, 3))
    return ops.expand_dims(ops.cast(foreground > 0, "float32"), -1)


def make_targets(model_type: str, masks, levels: int = PAPER_LEVELS) -> dict:
    """Targets for each output (output_names) from a one-hot mask batch (B, H, W, C), numpy or tensor.

    Every segmentation output is full resolution, so all share the mask itself. Uses only
    tensor ops, so it also runs inside tf.data `map`.
    """
    names = output_names(model_type, levels)
    targets = {name: masks for name in names if name != CLS_OUTPUT}
    if CLS_OUTPUT in names:
        targets[CLS_OUTPUT] = organ_presence(masks)
    return targets


def hybrid_loss_options(loss_cfg) -> dict:
    """`make_hybrid_loss` arguments from the LOSS config section (None: the paper's loss)."""
    if loss_cfg is None:
        return {}
    options = dict(focal_weight=loss_cfg.FOCAL.WEIGHT, focal_alpha=loss_cfg.FOCAL.ALPHA,
                   focal_gamma=loss_cfg.FOCAL.GAMMA, ssim_weight=loss_cfg.SSIM.WEIGHT,
                   ssim_scales=loss_cfg.SSIM.SCALES, iou_weight=loss_cfg.IOU.WEIGHT)
    for key, value in options.items():
        name = key.upper().replace("_", ".", 1)   # focal_alpha -> FOCAL.ALPHA
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise UserError(f"LOSS.{name} must be a number >= 0, got {value!r}")
    if not isinstance(options["ssim_scales"], int) or not 1 <= options["ssim_scales"] <= 5:
        raise UserError(f"LOSS.SSIM.SCALES must be 1 (single-scale SSIM) to 5 (MS-SSIM), got {options['ssim_scales']!r}")
    if not any(options[k] for k in ("focal_weight", "ssim_weight", "iou_weight")):
        raise UserError("LOSS.FOCAL.WEIGHT, LOSS.SSIM.WEIGHT and LOSS.IOU.WEIGHT are all 0: nothing to train on")
    return options


def compile_arguments(model_type: str, loss_cfg=None, levels: int = PAPER_LEVELS) -> dict:
    """loss, loss_weights and metrics for `model.compile`: hybrid loss per segmentation output (output_names)
    (configured by the LOSS section `loss_cfg`; None: the paper's), binary cross-entropy for
    "cls", equal weights (as in the paper), both validation Dice metrics on the final output."""
    names = output_names(model_type, levels)
    hybrid_loss = make_hybrid_loss(**hybrid_loss_options(loss_cfg))
    loss = {name: keras.losses.binary_crossentropy if name == CLS_OUTPUT else hybrid_loss
            for name in names}
    return {"loss": loss, "loss_weights": {name: 1.0 for name in names},
            "metrics": {FINAL_OUTPUT: [metric() for metric in VALIDATION_METRICS.values()]}}


def compile_model(model: keras.Model, cfg) -> keras.Model:
    """Compile for training as configured (losses, Adam with AMP's loss scaling, XLA) and create the
    optimizer's variables now: made inside `fit`'s first trace instead, they make TensorFlow trace the
    whole training step twice (about 10 s more per run on CPU, even for a tiny model)."""
    model.compile(optimizer=make_optimizer(cfg), jit_compile=use_xla(cfg),
                  **compile_arguments(cfg.MODEL.TYPE, cfg.LOSS, model_levels(cfg)))
    model.optimizer.build(model.trainable_variables)
    return model


def build_compiled_model(cfg, strategy) -> keras.Model:
    """Model and optimizer created under the strategy's scope, compiled with the AMP/XLA switches."""
    with strategy.scope():
        model = compile_model(prepare_model(cfg), cfg)
    build_from_local_batches(model, strategy)
    return model


def monitored_metric(model: keras.Model, metric: str) -> str:
    """The logged name of the checkpoint's validation metric (CALLBACKS.MODEL_CHECKPOINT.MONITOR, a
    VALIDATION_METRICS name): Keras logs e.g. 'dice_coef' for one output, 'd1_dice_coef' for several."""
    name = metric if len(model.outputs) == 1 else f"{FINAL_OUTPUT}_{metric}"
    return f"val_{name}"
