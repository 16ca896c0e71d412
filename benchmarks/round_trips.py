"""How much Dice the trip between the CT grid and the network grid costs, old convention vs new: what
benchmarks/resampling.py measures on phantoms, and its table.
"""
import cv2
import numpy as np

from data_sets.synthetic.ct import make_synthetic_volume
from evaluation.metrics import overlap
from volumes.geometry import labels_from_probabilities, one_hot, resize_image, resize_labels


def per_slice(function, volume):
    return np.stack([function(volume[:, :, k]) for k in range(volume.shape[2])], axis=-1)


def round_trips(labels, source, model):
    """{method: labels back on the source grid} for the three ways of getting there."""
    nearest = per_slice(lambda m: cv2.resize(cv2.resize(m, model[::-1], interpolation=cv2.INTER_NEAREST),
                                             source[::-1], interpolation=cv2.INTER_NEAREST), labels)
    down = per_slice(lambda m: resize_labels(m, model, 3), labels)
    hard = per_slice(lambda m: labels_from_probabilities(one_hot(m, 3), source), down)
    perfect = per_slice(lambda m: labels_from_probabilities(resize_image(one_hot(m, 3), model), source), labels)
    return {"mask down and back, nearest (before)": nearest, "mask down and back, one convention": hard,
            "perfect prediction written back": perfect}


def resampling_scores(size: int, slices: int, volumes: int, model: tuple) -> dict:
    """{path: [(liver Dice, tumour Dice) per phantom]} for `volumes` size x size x slices phantoms and the network
    grid model (height, width)."""
    source = (size, size)
    scores = {}
    for volume_id in range(volumes):
        _, labels = make_synthetic_volume(size, slices, seed=[0, volume_id])
        for method, back in round_trips(labels, source, model).items():
            scores.setdefault(method, []).append((overlap(labels > 0, back > 0).dice,
                                                  overlap(labels == 2, back == 2).dice))
    return scores


def resampling_table(scores: dict, size: int, slices: int, volumes: int, model: tuple) -> str:
    """Min-max Dice per path over the phantoms."""
    lines = [f"Phantoms {size}x{size}x{slices} (the CT grid) and a {model[0]}x{model[1]} network grid, "
             f"{volumes} volumes; Dice against the true mask, min-max over volumes.",
             "", "| path | liver Dice | tumour Dice |", "|---|---|---|"]
    for method, values in scores.items():
        liver, tumour = np.array(values).T
        lines.append(f"| {method} | {liver.min():.3f}-{liver.max():.3f} | {tumour.min():.3f}-{tumour.max():.3f} |")
    return "\n".join(lines)


def section_name(size: int, model: tuple) -> str:
    """The document section of one CT size and network grid."""
    return f"resampling-{size}-{model[0]}" if model[0] == model[1] else f"resampling-{size}-{model[0]}x{model[1]}"
