"""How much Dice the trip between the CT grid and the network grid costs, old convention vs new.

    python benchmarks/resampling.py INPUT.HEIGHT=96 INPUT.WIDTH=96     # the README demo: 128x128 phantoms, 96x96 network
    python benchmarks/resampling.py BENCHMARK.RESAMPLING.SIZE=512 BENCHMARK.RESAMPLING.VOLUMES=2

For each phantom (BENCHMARK.RESAMPLING: SIZE x SIZE x SLICES, VOLUMES of them) and the network grid
INPUT.HEIGHT x INPUT.WIDTH: (1) the true mask taken to the network grid and back, (2) a perfect network
output (each class's share of every pixel) written back to the CT grid. 'nearest' is the previous
code (cv2.INTER_NEAREST both ways); 'one convention' is volumes.geometry. Writes a table into
BENCHMARK.RESAMPLING.DOC (docs/evaluation.md).
"""
import cv2
import numpy as np

from omegaconf import DictConfig

from benchmarks.markdown import replace_section
from data_sets.synthetic.ct import make_synthetic_volume
from evaluation.metrics import overlap
from app.cli import hydra_app
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


def compare_resampling(cfg: DictConfig) -> dict:
    """The Hydra task: min-max Dice per path over the phantoms, also written to BENCHMARK.RESAMPLING.DOC."""
    bench = cfg.BENCHMARK.RESAMPLING
    size, slices, volumes = bench.SIZE, bench.SLICES, bench.VOLUMES
    source, model = (size, size), (cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH)
    scores = {}
    for volume_id in range(volumes):
        _, labels = make_synthetic_volume(size, slices, seed=[0, volume_id])
        for method, back in round_trips(labels, source, model).items():
            scores.setdefault(method, []).append((overlap(labels > 0, back > 0).dice,
                                                  overlap(labels == 2, back == 2).dice))
    lines = [f"Phantoms {size}x{size}x{slices} (the CT grid) and a {model[0]}x{model[1]} network grid, "
             f"{volumes} volumes; Dice against the true mask, min-max over volumes.",
             "", "| path | liver Dice | tumour Dice |", "|---|---|---|"]
    for method, values in scores.items():
        liver, tumour = np.array(values).T
        lines.append(f"| {method} | {liver.min():.3f}-{liver.max():.3f} | {tumour.min():.3f}-{tumour.max():.3f} |")
    table = "\n".join(lines)
    print(table)
    section = f"resampling-{size}-{model[0]}" if model[0] == model[1] else f"resampling-{size}-{model[0]}x{model[1]}"
    replace_section(bench.DOC, section, table)
    print(f"written: {bench.DOC} (section '{section}')")
    return scores


main = hydra_app(compare_resampling)


if __name__ == "__main__":
    main()
