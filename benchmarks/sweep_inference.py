"""Sweep benchmark_inference.py over models x backbones x batch sizes x AMP x XLA.

    python benchmarks/sweep_inference.py --batch-sizes 1 16 --amp both --xla both --section gpu-h100
    python benchmarks/sweep_inference.py --models unet3plus --backbones vgg19 --batch-sizes 1 2 4 --size 320

Each point runs in its own process (the AMP policy is global), then the Markdown table goes into
docs/benchmarks.md between `<!-- SECTION:start/end -->` markers and a throughput-vs-batch-size
plot beside it.
"""
import argparse
import itertools
import os
import tempfile

from benchmarks.markdown import DOCS_DIR, replace_section
from models.backbones import BACKBONES
from models.model_factory import MODEL_VARIANTS
from benchmarks.tables import TABLE_HEADER, run_benchmark_inference, separator, table_row

BOOL_CHOICES = {"on": [True], "off": [False], "both": [False, True]}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODEL_VARIANTS, default=list(MODEL_VARIANTS))
    parser.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1])
    parser.add_argument("--amp", choices=BOOL_CHOICES, default="off")
    parser.add_argument("--xla", choices=BOOL_CHOICES, default="off")
    parser.add_argument("--size", type=int, default=320, help="input height and width")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--bench-steps", type=int, default=10)
    parser.add_argument("--section", default="cpu", help="marker name of the table in the Markdown file")
    parser.add_argument("--out", default=os.path.join(DOCS_DIR, "benchmarks.md"))
    parser.add_argument("--extra", nargs="*", default=[], help="more Hydra overrides for every point")
    return parser.parse_args(argv)


def run_point(model, backbone, batch_size, amp, xla, args, json_path):
    results = run_benchmark_inference(
        [f"MODEL.TYPE={model}", f"MODEL.BACKBONE.TYPE={backbone}", f"HYPER_PARAMETERS.BATCH_SIZE={batch_size}",
         f"OPTIMIZATION.AMP={amp}", f"OPTIMIZATION.XLA={xla}", f"INPUT.HEIGHT={args.size}", f"INPUT.WIDTH={args.size}",
         f"BENCHMARK.WARMUP_STEPS={args.warmup_steps}", f"BENCHMARK.STEPS={args.bench_steps}"], json_path, args.extra)
    return results[0]   # the one backend (BENCHMARK.BACKENDS' default)


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


def main(argv=None):
    args = parse_args(argv)
    points = list(itertools.product(args.models, args.backbones, args.batch_sizes, BOOL_CHOICES[args.amp],
                                    BOOL_CHOICES[args.xla]))
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, point in enumerate(points):
            result = run_point(*point, args, os.path.join(scratch, f"{index}.json"))
            print(table_row(result), flush=True)
            results.append(result)
    table = "\n".join([TABLE_HEADER, separator(TABLE_HEADER)] + [table_row(r) for r in results])
    body = f"{table}\n\nwarm-up {args.warmup_steps} steps, {args.bench_steps} timed steps, random input."
    plot_path = None
    if len(args.batch_sizes) > 1:   # a curve needs more than one batch size
        plot_path = os.path.splitext(args.out)[0] + f"_{args.section}.png"
        plot_throughput(results, plot_path)
        body += f"\n\n![throughput vs batch size]({os.path.basename(plot_path)})"
    replace_section(args.out, args.section, body)
    print(f"written: {args.out} (section '{args.section}')" + (f", {plot_path}" if plot_path else ""))
    return results


if __name__ == "__main__":
    main()
