"""Inference latency and throughput of a UNet3+, for each backend side by side.

    python benchmark_inference.py                                  # the latest trained run, if any
    python benchmark_inference.py RUN_DIR=runs/<time> 'BENCHMARK.BACKENDS=[keras:float32,onnxruntime:int8]'
    python benchmark_inference.py BENCHMARK.INPUT=random MODEL.BACKBONE.TYPE=vgg19 HYPER_PARAMETERS.BATCH_SIZE=1

With a trained run (RUN_DIR, or the latest under WORK_DIR) the run's weights are timed on its real
validation slices, batch after batch, as the NVIDIA recipe benchmarks; without one (or with
BENCHMARK.INPUT=random) a model of the configured architecture with random weights runs on random
images. The first line says which. Every backend runs the same weights on the same batches, through
the lean inference graph. Prints one summary line per backend and a Markdown table (latency
avg/p50/p95, img/s, achieved GFLOP/s), and writes them to BENCHMARK.JSON_PATH.
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

from omegaconf import DictConfig

from benchmarks.latency import run_benchmark
from benchmarks.tables import TABLE_HEADER, separator, table_row
from app.cli import hydra_app
from utils.files import write_json
from app.paths import require_paths


def benchmark(cfg: DictConfig) -> list:
    """The command-line job: run, print the table, write JSON."""
    require_paths(cfg, write_files=["BENCHMARK.JSON_PATH"])
    results = run_benchmark(cfg)
    print(f"{results[0]['model']}/{results[0]['backbone']} {results[0]['input']}, "
          f"{results[0]['gflop_per_image']:.1f} GFLOP per image (Conv2D multiply-adds x 2):")
    rows = [table_row(result) for result in results]
    print("\n".join([TABLE_HEADER, separator(TABLE_HEADER), *rows]))
    json_path = cfg.BENCHMARK.JSON_PATH
    write_json(json_path, [{**result, "table_row": row} for result, row in zip(results, rows)])
    print(f"written: {json_path}")
    return results


main = hydra_app(benchmark)


if __name__ == "__main__":
    main()
