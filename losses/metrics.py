"""Dice for the Keras logs: soft and pooled (this project's), hard per image (the NVIDIA recipe's).

The per-case Dice of evaluation, on each CT's own grid, is in evaluation.metrics.
"""
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


def hard_foreground_dice(y_true, y_pred, smooth=1e-9):
    """(B,) Dice of each image's foreground after an argmax of truth and prediction, as the NVIDIA
    recipe validates (losses/loss.py, DiceCoefficient with post_processed=True).

    Foreground is every class but background (liver with tumour merged in, for LiTS). The recipe
    multiplies the two argmax label maps, which for its 2 classes is the same thing. `smooth`
    (the recipe's 1e-9) makes an image with neither truth nor prediction score 1.
    """
    truth = ops.cast(ops.argmax(y_true, axis=-1) > 0, "float32")
    prediction = ops.cast(ops.argmax(y_pred, axis=-1) > 0, "float32")
    intersection = ops.sum(truth * prediction, axis=(1, 2))
    total = ops.sum(truth, axis=(1, 2)) + ops.sum(prediction, axis=(1, 2))
    return (2.0 * intersection + smooth) / (total + smooth)


@keras.saving.register_keras_serializable(package="unet3p")
class HardDiceCoefficient(keras.metrics.Metric):
    """`hard_foreground_dice` averaged over every image of an epoch: the recipe's validation metric,
    by which its ModelCheckpoint keeps the best weights (train.py, monitor val_dice_coef).

    The recipe averages per-batch means over equal batches (it drops the last partial one); the
    mean over images is the same number there, and stays exact when the last batch is smaller.
    """

    def __init__(self, name="hard_dice_coef", smooth=1e-9, **kwargs):
        super().__init__(name=name, **kwargs)
        self.smooth = smooth
        self.dice_sum = self.add_variable(shape=(), initializer="zeros", name="dice_sum")
        self.images = self.add_variable(shape=(), initializer="zeros", name="images")

    def update_state(self, y_true, y_pred, sample_weight=None):
        per_image = hard_foreground_dice(y_true, y_pred, self.smooth)
        self.dice_sum.assign_add(ops.sum(per_image))
        self.images.assign_add(ops.cast(ops.shape(per_image)[0], "float32"))

    def result(self):
        return ops.divide_no_nan(self.dice_sum, self.images)

    def reset_state(self):
        self.dice_sum.assign(0.0)
        self.images.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}


# CALLBACKS.MODEL_CHECKPOINT.MONITOR -> the validation metric that picks the best weights. Both are
# logged for every run (on the final output), so either can be compared with the other.
VALIDATION_METRICS = {
    "dice_coef": DiceCoefficient,            # soft Dice of the foreground pooled over the epoch (default)
    "hard_dice_coef": HardDiceCoefficient,   # the recipe's: argmax Dice per image, averaged over images
}
