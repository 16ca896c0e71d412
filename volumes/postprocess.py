"""Optional clean-up of a predicted label volume, using what is known about livers.

A liver is one connected organ and tumours lie inside it: keeping the largest connected
liver(+tumour) component removes false positives elsewhere in the body (spleen, heart), and
tumour voxels outside that component go with them. Effect on the demo: docs/evaluation.md.
"""
import numpy as np
from scipy import ndimage

_FULLY_CONNECTED = ndimage.generate_binary_structure(3, 3)   # 26-neighbourhood


def connected_components(mask: np.ndarray):
    """(component ids, count) of a boolean volume, 26-connected (an organ touching itself at a corner is one;
    lesion detection instead follows LiTS's face-connected components, evaluation.metrics.lesion_detection)."""
    return ndimage.label(mask, structure=_FULLY_CONNECTED)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a boolean volume (empty stays empty)."""
    components, count = connected_components(mask)
    if count <= 1:
        return mask.astype(bool)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == np.argmax(sizes)


def postprocess_labels(labels: np.ndarray) -> np.ndarray:
    """Labels with only the largest connected liver(+tumour) component kept; tumour only inside it."""
    organ = largest_component(labels > 0)
    return np.where(organ, labels, 0).astype(np.uint8)
