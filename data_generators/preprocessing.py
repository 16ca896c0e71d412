"""NumPy preprocessing of the TF generator; the DALI pipeline mirrors each step."""
import numpy as np


def normalize_image(image: np.ndarray, normalize: bool) -> np.ndarray:
    image = image.astype(np.float32)
    return image / 255.0 if normalize else image


def to_class_labels(mask: np.ndarray, classes: int) -> np.ndarray:
    """Clamp labels to classes-1: with 2 classes the tumour (2) counts as liver (1)."""
    return np.minimum(mask, classes - 1)


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """Random horizontal/vertical flips (both arrays) and brightness jitter (image only, 0..1 scale)."""
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.5:
        image, mask = image[::-1], mask[::-1]
    scale = rng.uniform(0.9, 1.1)
    return np.ascontiguousarray(image * scale), np.ascontiguousarray(mask)
