"""How much Dice the trip between the CT grid and the network grid costs, old convention vs new.

    python benchmarks/resampling.py                      # the README demo: 128x128 phantoms, 96x96 network
    python benchmarks/resampling.py --size 512 --model-size 320 --volumes 2

For each phantom: (1) the true mask taken to the network grid and back, (2) a perfect network
output (each class's share of every pixel) written back to the CT grid. 'nearest' is the previous
code (cv2.INTER_NEAREST both ways); 'one convention' is volumes.geometry. Writes a table into
docs/evaluation.md.
"""
import argparse
import os

import cv2
import numpy as np

from benchmarks.markdown import DOCS_DIR, replace_section
from data_preparation.make_synthetic_lits import make_synthetic_volume
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="phantom height and width (the CT grid)")
    parser.add_argument("--slices", type=int, default=32)
    parser.add_argument("--model-size", type=int, default=96, help="network input height and width")
    parser.add_argument("--volumes", type=int, default=6)
    parser.add_argument("--out", default=os.path.join(DOCS_DIR, "evaluation.md"))
    args = parser.parse_args(argv)
    source, model = (args.size, args.size), (args.model_size, args.model_size)
    scores = {}
    for volume_id in range(args.volumes):
        _, labels = make_synthetic_volume(args.size, args.slices, seed=[0, volume_id])
        for method, back in round_trips(labels, source, model).items():
            scores.setdefault(method, []).append((overlap(labels > 0, back > 0).dice,
                                                  overlap(labels == 2, back == 2).dice))
    lines = [f"Phantoms {args.size}x{args.size}x{args.slices} (the CT grid) and a {args.model_size}x"
             f"{args.model_size} network grid, {args.volumes} volumes; Dice against the true mask, min-max over volumes.",
             "", "| path | liver Dice | tumour Dice |", "|---|---|---|"]
    for method, values in scores.items():
        liver, tumour = np.array(values).T
        lines.append(f"| {method} | {liver.min():.3f}-{liver.max():.3f} | {tumour.min():.3f}-{tumour.max():.3f} |")
    table = "\n".join(lines)
    print(table)
    replace_section(args.out, f"resampling-{args.size}-{args.model_size}", table)


if __name__ == "__main__":
    main()
