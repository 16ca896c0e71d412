"""The inference benchmark's table row: one format for benchmark_inference.py and the sweeps."""

TABLE_HEADER = ("| model | backbone | input | batch size | backend | precision | XLA | latency avg (ms) | "
                "latency p50 (ms) | latency p95 (ms) | throughput (img/s) | GFLOP/s | device |")


def table_row(result: dict) -> str:
    """One Markdown row of a benchmark_inference result, in TABLE_HEADER's columns."""
    return (f"| {result['model']} | {result['backbone']} | {result['input']} | {result['batch_size']} | "
            f"{result['backend']} | {result['precision']} | {result['xla']} | {result['latency_ms_mean']:.1f} | "
            f"{result['latency_ms_p50']:.1f} | {result['latency_ms_p95']:.1f} | {result['throughput_img_s']:.2f} | "
            f"{result['gflops']:.1f} | {result['device']} |")


def separator(header: str) -> str:
    """The Markdown line under a header row."""
    return "|" + "---|" * header.count(" | ") + "---|"
