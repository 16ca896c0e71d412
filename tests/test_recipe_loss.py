"""The LOSS section and the recipe preset: the recipe's loss formula reproduced on fixed tensors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from losses.loss import make_hybrid_loss, unet3p_hybrid_loss
from models.model_factory import compile_arguments, prepare_model, regularised_kernels
from tests.helpers import tiny_config
from app.config import compose_config
from utils.errors import UserError



def random_two_class(seed=0, batch=2, size=32):
    """One-hot truths from blocky labels and softmax predictions, both (B, H, W, 2)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, (batch, size // 4, size // 4)).repeat(4, axis=1).repeat(4, axis=2)
    truth = np.eye(2, dtype=np.float32)[labels]
    logits = 2.0 * truth + rng.normal(size=truth.shape).astype(np.float32)
    prediction = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return truth, prediction.astype(np.float32)


def recipe_formula(truth, prediction, alpha=4.0, gamma=2.0, eps=1e-9, smooth=1e-6):
    """The recipe's hybrid loss per image, written out in NumPy (+ single-scale SSIM from tf.image)."""
    p = prediction + eps
    focal = np.max(alpha * truth * (1 - p) ** gamma * -np.log(p), axis=-1).mean(axis=(1, 2))
    ssim = 1 - tf.image.ssim(tf.constant(truth), tf.constant(prediction), max_val=1.0).numpy()
    intersection = (truth * prediction).sum(axis=(1, 2, 3))
    union = truth.sum(axis=(1, 2, 3)) + prediction.sum(axis=(1, 2, 3)) - intersection
    iou = 1 - (intersection + smooth) / (union + smooth)
    return focal, ssim, iou


def recipe_loss_from_config():
    cfg = compose_config(config_name="recipe")
    return compile_arguments(cfg.MODEL.TYPE, cfg.LOSS)["loss"]["d1"]


def test_recipe_form_of_the_loss_matches_the_recipe_formula():
    truth, prediction = random_two_class()
    focal, ssim, iou = recipe_formula(truth, prediction)
    np.testing.assert_allclose(recipe_loss_from_config()(truth, prediction), focal + ssim + iou, rtol=1e-5)
    # focal alone: alpha 4 is 16x the paper's alpha 0.25, term by term
    focal_only = dict(ssim_weight=0.0, iou_weight=0.0)
    recipe_focal = make_hybrid_loss(focal_alpha=4.0, **focal_only)(truth, prediction)
    paper_focal = make_hybrid_loss(focal_alpha=0.25, **focal_only)(truth, prediction)
    np.testing.assert_allclose(recipe_focal, focal, rtol=1e-5)
    np.testing.assert_allclose(recipe_focal, 16 * np.asarray(paper_focal), rtol=1e-6)


def test_default_loss_section_is_the_papers_loss():
    truth, prediction = random_two_class(seed=1, size=64)
    configured = compile_arguments("unet3plus", tiny_config(".").LOSS)["loss"]["d1"]
    np.testing.assert_allclose(configured(truth, prediction), unet3p_hybrid_loss(truth, prediction), rtol=1e-6)


def test_term_weights_scale_each_term():
    truth, prediction = random_two_class(seed=2)
    focal, ssim, iou = recipe_formula(truth, prediction, alpha=0.25)
    loss = make_hybrid_loss(focal_weight=2.0, ssim_weight=0.5, iou_weight=0.0, ssim_scales=1)
    np.testing.assert_allclose(loss(truth, prediction), 2 * focal + 0.5 * ssim, rtol=1e-5)


def test_l2_weight_decay_adds_the_sum_of_squared_conv_kernels(tmp_path):
    cfg = tiny_config(tmp_path, "LOSS.L2_WEIGHT_DECAY=1e-4")
    model = prepare_model(cfg)
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    expected = 1e-4 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert len(kernels) > 10 and len(regularised_kernels(model)) == len(kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)
    assert prepare_model(tiny_config(tmp_path)).losses == []


@pytest.mark.slow
@pytest.mark.parametrize("vgg_kernels,expected", [(True, 25 + 16), (False, 25)])
def test_l2_on_vgg_kernels_is_an_option(tmp_path, vgg_kernels, expected):
    """VGG16's 13 convs (+ 3 more in VGG19) are keras.applications'; the recipe leaves them unregularised."""
    model = prepare_model(tiny_config(tmp_path, "INPUT.HEIGHT=32", "INPUT.WIDTH=32", "MODEL.BACKBONE.TYPE=vgg19",
                                      "LOSS.L2_WEIGHT_DECAY=1e-4", f"LOSS.L2_VGG_KERNELS={vgg_kernels}"))
    assert len(regularised_kernels(model)) == len(model.losses) == expected


@pytest.mark.parametrize("override,message", [
    ("LOSS.FOCAL.ALPHA=-1", "LOSS.FOCAL.ALPHA must be a number >= 0"),
    ("LOSS.SSIM.SCALES=7", "LOSS.SSIM.SCALES must be 1"),
])
def test_bad_loss_values_name_the_key(tmp_path, override, message):
    cfg = tiny_config(tmp_path, override)
    with pytest.raises(UserError, match=message):
        compile_arguments(cfg.MODEL.TYPE, cfg.LOSS)
