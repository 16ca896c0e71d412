"""Sweep benchmark_inference.py over models x backbones x batch sizes x AMP x XLA (BENCHMARK.SWEEP).

    python benchmarks/sweep_inference.py 'BENCHMARK.SWEEP.BATCH_SIZES=[1,16]' 'BENCHMARK.SWEEP.AMP=[False,True]' 'BENCHMARK.SWEEP.XLA=[False,True]' BENCHMARK.SWEEP.SECTION=gpu-h100
    python benchmarks/sweep_inference.py 'BENCHMARK.SWEEP.MODELS=[unet3plus]' 'BENCHMARK.SWEEP.BACKBONES=[vgg19]' 'BENCHMARK.SWEEP.BATCH_SIZES=[1,2,4]' BENCHMARK.WARMUP_STEPS=3 BENCHMARK.STEPS=10

Each point runs in its own process (the AMP policy is global) with this command line's other overrides
(INPUT.HEIGHT, MODEL.FILTERS, BENCHMARK.WARMUP_STEPS...), then the Markdown table goes into BENCHMARK.DOC
between `<!-- SECTION:start/end -->` markers and a throughput-vs-batch-size plot beside it.
"""
import itertools
import os

from omegaconf import DictConfig

from app.cli import hydra_app
from benchmarks.markdown import replace_section
from benchmarks.sweep import sweep_points, sweep_report


def sweep(cfg: DictConfig) -> list:
    """The Hydra task: every point of BENCHMARK.SWEEP, then the table (and plot) in BENCHMARK.DOC."""
    sweep_cfg = cfg.BENCHMARK.SWEEP
    points = list(itertools.product(sweep_cfg.MODELS, sweep_cfg.BACKBONES, sweep_cfg.BATCH_SIZES, sweep_cfg.AMP,
                                    sweep_cfg.XLA))
    results = sweep_points(points)
    out, section = cfg.BENCHMARK.DOC, sweep_cfg.SECTION
    plot_path = None
    if len(sweep_cfg.BATCH_SIZES) > 1:   # a curve needs more than one batch size
        plot_path = os.path.splitext(out)[0] + f"_{section}.png"
    body = sweep_report(results, cfg.BENCHMARK.WARMUP_STEPS, cfg.BENCHMARK.STEPS, plot_path)
    replace_section(out, section, body)
    print(f"written: {out} (section '{section}')" + (f", {plot_path}" if plot_path else ""))
    return results


main = hydra_app(sweep)


if __name__ == "__main__":
    main()
