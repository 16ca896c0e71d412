"""benchmark_inference.py over models x backbones x batch sizes x AMP x XLA, each point in its own process: what
benchmarks/sweep_inference.py runs, its table and its throughput plot.
"""
import os
import tempfile

from benchmarks.tables import TABLE_HEADER, run_benchmark_inference, separator, table_row


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


def sweep_points(points: list) -> list:
    """benchmark_inference.py's result for each (model, backbone, batch size, AMP, XLA) point, its row printed
    as it comes."""
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, point in enumerate(points):
            result = run_point(*point, os.path.join(scratch, f"{index}.json"))
            print(table_row(result), flush=True)
            results.append(result)
    return results


def sweep_report(results: list, warmup_steps: int, steps: int, plot_path=None) -> str:
    """The section's text: the table, the steps, and the plot (drawn to plot_path, linked) when given one."""
    table = "\n".join([TABLE_HEADER, separator(TABLE_HEADER)] + [table_row(r) for r in results])
    body = (f"{table}\n\nwarm-up {warmup_steps} steps, {steps} timed steps, "
            f"random input.")
    if plot_path:
        plot_throughput(results, plot_path)
        body += f"\n\n![throughput vs batch size]({os.path.basename(plot_path)})"
    return body
