"""NumPy preprocessing of the TF generator; the DALI pipeline mirrors each step."""
import numpy as np


def normalize_image(image: np.ndarray, normalize: bool) -> np.ndarray:
    image = image.astype(np.float32)
    return image / 255.0 if normalize else image


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """Random horizontal/vertical flips (both arrays) and brightness jitter (image only, 0..1 scale)."""
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.5:
        image, mask = image[::-1], mask[::-1]
    scale = rng.uniform(0.9, 1.1)
    return np.ascontiguousarray(image * scale), np.ascontiguousarray(mask)
