"""How much Dice the trip between the CT grid and the network grid costs, old convention vs new.

    python benchmarks/resampling.py INPUT.HEIGHT=96 INPUT.WIDTH=96     # the README demo: 128x128 phantoms, 96x96 network
    python benchmarks/resampling.py BENCHMARK.RESAMPLING.SIZE=512 BENCHMARK.RESAMPLING.VOLUMES=2

For each phantom (BENCHMARK.RESAMPLING: SIZE x SIZE x SLICES, VOLUMES of them) and the network grid
INPUT.HEIGHT x INPUT.WIDTH: (1) the true mask taken to the network grid and back, (2) a perfect network
output (each class's share of every pixel) written back to the CT grid. 'nearest' is the previous
code (cv2.INTER_NEAREST both ways); 'one convention' is volumes.geometry. Writes a table into
BENCHMARK.RESAMPLING.DOC (docs/evaluation.md).
"""
from omegaconf import DictConfig

from app.cli import hydra_app
from benchmarks.markdown import replace_section
from benchmarks.round_trips import resampling_scores, resampling_table, section_name


def compare_resampling(cfg: DictConfig) -> dict:
    """The Hydra task: min-max Dice per path over the phantoms, also written to BENCHMARK.RESAMPLING.DOC."""
    bench = cfg.BENCHMARK.RESAMPLING
    size, slices, volumes = bench.SIZE, bench.SLICES, bench.VOLUMES
    model = (cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH)
    scores = resampling_scores(size, slices, volumes, model)
    table = resampling_table(scores, size, slices, volumes, model)
    print(table)
    section = section_name(size, model)
    replace_section(bench.DOC, section, table)
    print(f"written: {bench.DOC} (section '{section}')")
    return scores


main = hydra_app(compare_resampling)


if __name__ == "__main__":
    main()
