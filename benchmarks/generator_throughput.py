"""Does the data generator keep up with the model? Images/s of each, on this machine (BENCHMARK.GENERATOR).

    python benchmarks/generator_throughput.py
    python benchmarks/generator_throughput.py INPUT.HEIGHT=320 INPUT.WIDTH=320 DATA_WORKERS=4 HYPER_PARAMETERS.BATCH_SIZE=2

Makes a small synthetic dataset at INPUT's size (unless BENCHMARK.GENERATOR.DATA names a WORK_DIR with
prepared slices), then measures the TF generator (PyDataset with its worker threads, as `fit` drives it)
with 1 and DATA_WORKERS workers, DALI's pipeline when installed, and the model's training step, and writes
the figures to BENCHMARK.DOC (section BENCHMARK.GENERATOR.SECTION).
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

from omegaconf import DictConfig

from app.cli import hydra_app
from benchmarks.generator_speed import throughput_table, throughputs
from benchmarks.markdown import replace_section


def measure(cfg: DictConfig) -> list:
    """The Hydra task: (source, images/s) rows, also written to BENCHMARK.DOC."""
    bench = cfg.BENCHMARK.GENERATOR
    rows = throughputs(cfg, bench.DATA, bench.BATCHES, bench.MODEL_STEPS)
    table = throughput_table(rows, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.HYPER_PARAMETERS.BATCH_SIZE)
    print(table)
    replace_section(cfg.BENCHMARK.DOC, bench.SECTION, table)
    print(f"written: {cfg.BENCHMARK.DOC} (section '{bench.SECTION}')")
    return rows


main = hydra_app(measure)


if __name__ == "__main__":
    main()
