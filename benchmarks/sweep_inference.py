"""Sweep benchmark_inference.py over models x backbones x batch sizes x AMP x XLA (BENCHMARK.SWEEP).

    python benchmarks/sweep_inference.py 'BENCHMARK.SWEEP.BATCH_SIZES=[1,16]' 'BENCHMARK.SWEEP.AMP=[False,True]' 'BENCHMARK.SWEEP.XLA=[False,True]' BENCHMARK.SWEEP.SECTION=gpu-h100
    python benchmarks/sweep_inference.py 'BENCHMARK.SWEEP.MODELS=[unet3plus]' 'BENCHMARK.SWEEP.BACKBONES=[vgg19]' 'BENCHMARK.SWEEP.BATCH_SIZES=[1,2,4]' BENCHMARK.WARMUP_STEPS=3 BENCHMARK.STEPS=10

Each point runs in its own process (the AMP policy is global) with this command line's other overrides
(INPUT.HEIGHT, MODEL.FILTERS, BENCHMARK.WARMUP_STEPS...), then the Markdown table goes into BENCHMARK.DOC
between `<!-- SECTION:start/end -->` markers and a throughput-vs-batch-size plot beside it.
"""
import itertools
import os
import tempfile

from omegaconf import DictConfig

from benchmarks.markdown import replace_section
from benchmarks.tables import TABLE_HEADER, run_benchmark_inference, separator, table_row
from app.cli import hydra_app


def run_point(model, backbone, batch_size, amp, xla, json_path):
    results = run_benchmark_inference(
        [f"MODEL.TYPE={model}", f"MODEL.BACKBONE.TYPE={backbone}", f"HYPER_PARAMETERS.BATCH_SIZE={batch_size}",
         f"OPTIMIZATION.AMP={amp}", f"OPTIMIZATION.XLA={xla}", "BENCHMARK.BACKENDS=[keras]",
         "BENCHMARK.INPUT=random"], json_path)   # architectures compared: random weights, not a trained run
    return results[0]   # the one backend: Keras in OPTIMIZATION.AMP's precision


def plot_throughput(results, out_path):
    """Throughput against batch size, one line per (model, backbone, AMP, XLA)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    keys = sorted({(r["model"], r["backbone"], r["precision"], r["xla"]) for r in results})
    for key in keys:
        points = sorted((r["batch_size"], r["throughput_img_s"]) for r in results
                        if (r["model"], r["backbone"], r["precision"], r["xla"]) == key)
        axis.plot(*zip(*points), "-o", label=f"{key[0]}/{key[1]} {key[2]} XLA={key[3]}")
    axis.set_xlabel("batch size")
    axis.set_ylabel("images / s")
    axis.set_title(f"inference throughput ({results[0]['device']}, {results[0]['input']})")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(out_path, dpi=90)
    plt.close(figure)


def sweep(cfg: DictConfig) -> list:
    """The Hydra task: every point of BENCHMARK.SWEEP, then the table (and plot) in BENCHMARK.DOC."""
    sweep_cfg = cfg.BENCHMARK.SWEEP
    points = list(itertools.product(sweep_cfg.MODELS, sweep_cfg.BACKBONES, sweep_cfg.BATCH_SIZES, sweep_cfg.AMP,
                                    sweep_cfg.XLA))
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, point in enumerate(points):
            result = run_point(*point, os.path.join(scratch, f"{index}.json"))
            print(table_row(result), flush=True)
            results.append(result)
    table = "\n".join([TABLE_HEADER, separator(TABLE_HEADER)] + [table_row(r) for r in results])
    body = (f"{table}\n\nwarm-up {cfg.BENCHMARK.WARMUP_STEPS} steps, {cfg.BENCHMARK.STEPS} timed steps, "
            f"random input.")
    out, section = cfg.BENCHMARK.DOC, sweep_cfg.SECTION
    plot_path = None
    if len(sweep_cfg.BATCH_SIZES) > 1:   # a curve needs more than one batch size
        plot_path = os.path.splitext(out)[0] + f"_{section}.png"
        plot_throughput(results, plot_path)
        body += f"\n\n![throughput vs batch size]({os.path.basename(plot_path)})"
    replace_section(out, section, body)
    print(f"written: {out} (section '{section}')" + (f", {plot_path}" if plot_path else ""))
    return results


main = hydra_app(sweep)


if __name__ == "__main__":
    main()
