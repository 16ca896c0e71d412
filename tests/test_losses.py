"""Hybrid loss terms and Dice against hand-computed values on small arrays."""
import numpy as np
import pytest
import tensorflow as tf

from losses.loss import (MS_SSIM_POWER_FACTORS, focal_loss, iou_loss, ms_ssim, ms_ssim_loss, ms_ssim_scales,
                         unet3p_hybrid_loss)
from evaluation.metrics import overlap
from losses.metrics import dice_coef

LOSSES = (focal_loss, ms_ssim_loss, iou_loss, unet3p_hybrid_loss)


def one_hot(labels, classes=3):
    return tf.constant(np.eye(classes, dtype=np.float32)[labels])


def random_labels(size, batch=2, seed=0):
    """Blocky label maps (4x4 blocks), so that MS-SSIM has structure to compare at every scale."""
    blocks = np.random.default_rng(seed).integers(0, 3, (batch, size // 4, size // 4))
    return blocks.repeat(4, axis=1).repeat(4, axis=2)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_perfect_prediction_costs_nothing(loss):
    truth = one_hot(random_labels(32))
    np.testing.assert_allclose(loss(truth, truth), 0.0, atol=1e-5)
    assert float(dice_coef(truth, truth)) == pytest.approx(1.0)


def test_completely_wrong_prediction():
    labels = random_labels(32)
    truth, wrong = one_hot(labels), one_hot((labels + 1) % 3)
    assert float(dice_coef(truth, wrong)) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(iou_loss(truth, wrong), 1.0, atol=1e-6)


def test_focal_loss_by_hand():
    truth = tf.constant([[[[1.0, 0.0], [0.0, 1.0]]]])   # one image, two pixels
    prediction = tf.constant([[[[0.8, 0.2], [0.4, 0.6]]]])
    # mean of -alpha (1 - p)^gamma ln p over the true-class probabilities p = 0.8 and 0.6
    expected = (0.25 * 0.2 ** 2 * -np.log(0.8) + 0.25 * 0.4 ** 2 * -np.log(0.6)) / 2   # = 0.011332
    np.testing.assert_allclose(focal_loss(truth, prediction), [expected], rtol=1e-5)


def overlapping_maps():
    """4x4 maps: 4 true foreground pixels, 5 predicted, 3 in common."""
    truth = np.zeros((4, 4), dtype=np.int64)
    truth[:2, :2] = 1
    prediction = np.zeros((4, 4), dtype=np.int64)
    prediction[0, :2] = prediction[1, 0] = prediction[2, 2] = prediction[3, 3] = 1
    return truth, prediction


def test_dice_by_hand():
    truth, prediction = overlapping_maps()
    soft = dice_coef(one_hot(truth[None], 2), one_hot(prediction[None], 2))
    assert float(soft) == pytest.approx(2 * 3 / (4 + 5))
    assert overlap(truth == 1, prediction == 1).dice == pytest.approx(float(soft))   # the hard Dice of evaluate.py


def test_hybrid_loss_falls_as_the_prediction_approaches_the_truth():
    truth = one_hot(random_labels(32))
    losses = [float(tf.reduce_mean(unet3p_hybrid_loss(truth, (1 - t) / 3 + t * truth)))
              for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a > b for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("size,scales", [(32, 2), (64, 3), (320, 5)])
def test_ms_ssim_at_small_and_full_sizes_matches_tensorflow(size, scales):
    truth = one_hot(random_labels(size))
    noisy = tf.nn.softmax(4.0 * truth + tf.random.stateless_normal(truth.shape, seed=(1, 2)))
    assert ms_ssim_scales(size, size) == (scales, 11)
    np.testing.assert_allclose(ms_ssim_loss(truth, truth), 0.0, atol=1e-5)
    # where tf.image.ssim_multiscale is defined (fitting scales, renormalised weights) the values agree
    weights = [w / sum(MS_SSIM_POWER_FACTORS[:scales]) for w in MS_SSIM_POWER_FACTORS[:scales]]
    reference = tf.image.ssim_multiscale(truth, noisy, max_val=1.0, power_factors=weights)
    np.testing.assert_allclose(ms_ssim(truth, noisy), reference, rtol=1e-4)


def test_ms_ssim_shrinks_the_filter_below_eleven_pixels():
    assert ms_ssim_scales(8, 16) == (1, 8)
    truth = one_hot(random_labels(8))
    assert np.all(np.isfinite(ms_ssim_loss(truth, (truth + 1) / 4)))


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_random_predictions_give_finite_values_and_gradients(loss):
    """A fresh network's output: MS-SSIM scales are uncorrelated, where tf.image's gradient is NaN."""
    truth = one_hot(random_labels(64))
    logits = tf.Variable(tf.random.stateless_normal(truth.shape, seed=(3, 4)))
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(loss(truth, tf.nn.softmax(logits)))
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(tape.gradient(value, logits)))


def test_half_precision_inputs_give_float32_losses():
    truth = one_hot(random_labels(32))
    value = unet3p_hybrid_loss(tf.cast(truth, tf.float16), tf.cast((truth + 0.1) / 1.3, tf.float16))
    assert value.dtype == tf.float32 and np.all(np.isfinite(value))
    assert dice_coef(truth, tf.cast(truth, tf.float16)).dtype == tf.float32


def test_dice_metric_pools_batches_instead_of_averaging_them():
    """An empty-truth batch must not drag the epoch score to 0 (validation keeps such slices)."""
    from losses.metrics import DiceCoefficient

    metric = DiceCoefficient()
    liver = np.zeros((1, 4, 4, 2), np.float32)
    liver[..., 0] = 1.0
    liver[0, :2, :2] = [0.0, 1.0]            # 4 liver pixels
    empty = np.zeros((1, 4, 4, 2), np.float32)
    empty[..., 0] = 1.0
    near_empty_prediction = empty.copy()
    near_empty_prediction[0, 0, 0] = [0.9, 0.1]   # a faint false positive
    metric.update_state(liver, liver)
    metric.update_state(empty, near_empty_prediction)
    # pooled: 2*4 / (4 + 4 + 0.1); a per-batch average would give (1 + ~0) / 2
    assert float(metric.result()) == pytest.approx(8 / 8.1, rel=1e-5)
    metric.reset_state()
    assert float(metric.result()) == pytest.approx(1.0)
