"""NumPy preprocessing of the TF generator; the DALI pipeline mirrors each step."""
from typing import Sequence

import numpy as np

from utils.errors import UserError


def normalize_image(image: np.ndarray, normalize: bool) -> np.ndarray:
    image = image.astype(np.float32)
    return image / 255.0 if normalize else image


def check_mask_labels(mask: np.ndarray, path: str, class_names: Sequence[str]) -> np.ndarray:
    """mask, when its labels are indices of class_names; else a UserError naming the file and the value.

    Labels above OUTPUT.CLASSES - 1 but within the class names are fine: to_class_labels merges them
    on purpose (LiTS with 2 classes: tumour counts as liver). A label beyond the names is damage.
    """
    highest = int(mask.max()) if mask.size else 0
    if highest >= len(class_names):
        raise UserError(f"{path} holds label {highest}; masks hold 0..{len(class_names) - 1} "
                        f"({', '.join(class_names)}): fix or prepare the mask again "
                        f"(data_preparation/verify_data.py lists every such file)")
    return mask


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
