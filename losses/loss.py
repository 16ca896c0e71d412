"""The UNet 3+ hybrid segmentation loss: focal + MS-SSIM + IoU (Huang et al. 2020, eq. 3).

Each term sees the prediction at a different level: focal per pixel, MS-SSIM per patch
(sharpens boundaries), IoU per map. All functions take one-hot truths and softmax
probabilities (B, H, W, C), cast both to float32 first so they are safe under mixed_float16,
and return one loss value per image, which Keras then averages over the batch.
`make_hybrid_loss` weights and parameterises the terms (config section LOSS), e.g. the NVIDIA
recipe's form: focal alpha 4 and single-scale SSIM.
"""
import keras
import tensorflow as tf
from keras import ops

# Wang et al. 2003 weights of the five MS-SSIM scales, finest first (as in tf.image.ssim_multiscale).
MS_SSIM_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
# Floor on the per-scale terms before the fractional powers: x**p has an infinite slope at 0.
MS_SSIM_FLOOR = 1e-4


def _as_float32(y_true, y_pred):
    return ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")


def focal_loss(y_true, y_pred, alpha=0.25, gamma=2.0):
    """Categorical focal loss, mean over pixels: down-weights the many easy background pixels."""
    y_true, y_pred = _as_float32(y_true, y_pred)
    per_pixel = keras.losses.categorical_focal_crossentropy(y_true, y_pred, alpha=alpha, gamma=gamma)
    return ops.mean(per_pixel, axis=(1, 2))


def iou_loss(y_true, y_pred, smooth=1e-6):
    """1 - soft Jaccard index of each image over all pixels and classes (the paper's map-level term)."""
    y_true, y_pred = _as_float32(y_true, y_pred)
    intersection = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    union = ops.sum(y_true + y_pred, axis=(1, 2, 3)) - intersection
    return 1.0 - (intersection + smooth) / (union + smooth)


def ms_ssim_scales(height: int, width: int, filter_size: int = SSIM_FILTER_SIZE,
                   max_scales: int = len(MS_SSIM_POWER_FACTORS)):
    """(scales, filter_size) that fit an image: every scale must still be >= the filter.

    Scale k sees ceil(size / 2**k) pixels, so five scales with an 11-px filter need 161 px
    (320x320 gets all five). Smaller images keep the first scales that fit (64 px: 3, 32 px: 2)
    and, below 11 px, one scale with a filter as large as the image.
    """
    size = min(height, width)
    scales = 0
    while scales < min(max_scales, len(MS_SSIM_POWER_FACTORS)) and -(-size // 2 ** scales) >= filter_size:
        scales += 1
    return (scales, filter_size) if scales else (1, size)


def _gaussian_blur(images, filter_size, sigma=SSIM_FILTER_SIGMA):
    """Depthwise 'valid' Gaussian filter, applied as two 1-D passes (the kernel is separable)."""
    coords = ops.arange(filter_size, dtype="float32") - (filter_size - 1) / 2.0
    taps = ops.softmax(-0.5 * ops.square(coords) / sigma ** 2)
    channels = images.shape[-1]
    rows = ops.tile(ops.reshape(taps, (filter_size, 1, 1, 1)), (1, 1, channels, 1))
    cols = ops.tile(ops.reshape(taps, (1, filter_size, 1, 1)), (1, 1, channels, 1))
    images = tf.nn.depthwise_conv2d(images, rows, strides=(1, 1, 1, 1), padding="VALID")
    return tf.nn.depthwise_conv2d(images, cols, strides=(1, 1, 1, 1), padding="VALID")


def _ssim_terms(x, y, filter_size, max_val=1.0):
    """Per-channel SSIM and contrast-structure term of one scale, shape (B, C)."""
    c1, c2 = (SSIM_K1 * max_val) ** 2, (SSIM_K2 * max_val) ** 2
    mean_x, mean_y = _gaussian_blur(x, filter_size), _gaussian_blur(y, filter_size)
    mean_xy = 2.0 * mean_x * mean_y
    luminance = (mean_xy + c1) / (ops.square(mean_x) + ops.square(mean_y) + c1)
    covariance = 2.0 * _gaussian_blur(x * y, filter_size) - mean_xy
    variances = _gaussian_blur(ops.square(x) + ops.square(y), filter_size) - (ops.square(mean_x) + ops.square(mean_y))
    contrast_structure = (covariance + c2) / (variances + c2)
    return ops.mean(luminance * contrast_structure, axis=(1, 2)), ops.mean(contrast_structure, axis=(1, 2))


def _downsample(images):
    """2x2 average pooling; odd sizes are first padded by mirroring, as tf.image.ssim_multiscale does."""
    pad_h, pad_w = images.shape[1] % 2, images.shape[2] % 2
    if pad_h or pad_w:
        images = tf.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
    return ops.average_pool(images, pool_size=2, strides=2, padding="valid")


def ms_ssim(y_true, y_pred, max_val=1.0, max_scales=len(MS_SSIM_POWER_FACTORS)):
    """Multi-scale SSIM of each image (B,), the value tf.image.ssim_multiscale gives, made trainable.

    Same Gaussian window, constants and scale weights as tf.image.ssim_multiscale, with two
    changes: images too small for five scales use fewer (`ms_ssim_scales`; the weights of
    the scales kept are renormalised to sum to 1), and each per-scale term is floored at
    MS_SSIM_FLOOR instead of 0 before its fractional power. tf.image.ssim_multiscale clips
    at 0, whose gradient is NaN as soon as any scale is uncorrelated -- the normal state of
    a freshly initialised network. Needs static height and width (true of Keras model outputs).
    """
    y_true, y_pred = _as_float32(y_true, y_pred)
    if None in tuple(y_pred.shape[1:3]):
        raise ValueError(f"ms_ssim needs static height and width to choose its scales, got {y_pred.shape}")
    scales, filter_size = ms_ssim_scales(y_pred.shape[1], y_pred.shape[2], max_scales=max_scales)
    weights = MS_SSIM_POWER_FACTORS[:scales]
    weights = [w / sum(weights) for w in weights]
    product = 1.0
    for scale, weight in enumerate(weights):
        if scale:
            y_true, y_pred = _downsample(y_true), _downsample(y_pred)
        ssim, contrast_structure = _ssim_terms(y_true, y_pred, filter_size, max_val)
        term = ssim if scale == scales - 1 else contrast_structure
        product = product * ops.power(ops.maximum(term, MS_SSIM_FLOOR), weight)
    return ops.mean(product, axis=-1)


def ms_ssim_loss(y_true, y_pred):
    """1 - MS-SSIM (max_val=1 for probabilities): patch-level term that weights boundary errors."""
    return 1.0 - ms_ssim(y_true, y_pred)


def ssim_loss(y_true, y_pred):
    """1 - single-scale SSIM (tf.image.ssim, max_val=1): the NVIDIA recipe's patch-level term."""
    y_true, y_pred = _as_float32(y_true, y_pred)
    return 1.0 - tf.image.ssim(y_true, y_pred, max_val=1.0, filter_size=SSIM_FILTER_SIZE,
                               filter_sigma=SSIM_FILTER_SIGMA, k1=SSIM_K1, k2=SSIM_K2)


def unet3p_hybrid_loss(y_true, y_pred):
    """The paper's hybrid loss: focal (pixel) + MS-SSIM (patch) + IoU (map), equally weighted."""
    return focal_loss(y_true, y_pred) + ms_ssim_loss(y_true, y_pred) + iou_loss(y_true, y_pred)


def make_hybrid_loss(focal_weight=1.0, focal_alpha=0.25, focal_gamma=2.0, ssim_weight=1.0,
                     ssim_scales=len(MS_SSIM_POWER_FACTORS), iou_weight=1.0):
    """focal_weight x focal + ssim_weight x (1 - SSIM) + iou_weight x IoU loss, per image.

    ssim_scales: MS-SSIM with up to that many scales (fewer when the image is too small,
    see `ms_ssim_scales`); 1 is single-scale `tf.image.ssim`, as in the NVIDIA recipe.
    The defaults give `unet3p_hybrid_loss` (the paper).
    """
    if ssim_scales == 1:
        patch_term = ssim_loss
    else:
        def patch_term(y_true, y_pred):
            return 1.0 - ms_ssim(y_true, y_pred, max_scales=ssim_scales)

    def hybrid_loss(y_true, y_pred):
        total = 0.0
        if focal_weight:
            total = total + focal_weight * focal_loss(y_true, y_pred, alpha=focal_alpha, gamma=focal_gamma)
        if ssim_weight:
            total = total + ssim_weight * patch_term(y_true, y_pred)
        if iou_weight:
            total = total + iou_weight * iou_loss(y_true, y_pred)
        return total

    hybrid_loss.__name__ = "unet3p_hybrid_loss"
    return hybrid_loss
