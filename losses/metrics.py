"""Soft, differentiable Dice for the Keras logs (the hard, per-case Dice of evaluation is in evaluation.metrics)."""
import keras
from keras import ops


def dice_coef(y_true, y_pred, smooth=1e-6):
    """Soft Dice of the foreground classes (channels 1..C-1) pooled over the whole batch.

    Background is left out because it covers most of a CT slice and would keep the score near
    1 for any model. Pooling liver and tumour over the batch (rather than averaging per class)
    keeps the score defined on batches without tumour; `smooth` makes an empty truth and an
    empty prediction score 1.
    """
    intersection, total = _foreground_sums(y_true, y_pred)
    return (2.0 * intersection + smooth) / (total + smooth)


def _foreground_sums(y_true, y_pred):
    y_true = ops.cast(y_true, "float32")[..., 1:]
    y_pred = ops.cast(y_pred, "float32")[..., 1:]
    return ops.sum(y_true * y_pred), ops.sum(y_true) + ops.sum(y_pred)


@keras.saving.register_keras_serializable(package="unet3p")
class DiceCoefficient(keras.metrics.Metric):
    """`dice_coef` pooled over every batch of an epoch, not averaged per batch.

    Validation keeps slices without liver; on such a batch the per-batch Dice is ~0 whatever the
    model does, so a batch average understates a good model. Summing intersections and totals
    over the epoch scores the whole validation set at once, like evaluate.py does.
    """

    def __init__(self, name="dice_coef", smooth=1e-6, **kwargs):
        super().__init__(name=name, **kwargs)
        self.smooth = smooth
        self.intersection = self.add_variable(shape=(), initializer="zeros", name="intersection")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        intersection, total = _foreground_sums(y_true, y_pred)
        self.intersection.assign_add(intersection)
        self.total.assign_add(total)

    def result(self):
        return (2.0 * self.intersection + self.smooth) / (self.total + self.smooth)

    def reset_state(self):
        self.intersection.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}
