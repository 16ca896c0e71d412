"""Inference backends and precisions side by side on this CPU, against its matmul peak (BENCHMARK.CPU_BACKENDS).

    python benchmarks/cpu_backends.py MODEL.BACKBONE.TYPE=vgg19 OUTPUT.CLASSES=2 BENCHMARK.WARMUP_STEPS=2 BENCHMARK.STEPS=5
    python benchmarks/cpu_backends.py 'BENCHMARK.CPU_BACKENDS.BATCH_SIZES=[1]' 'BENCHMARK.CPU_BACKENDS.BACKENDS=[keras:float32,onnxruntime:int8]'

Measures TensorFlow's float32 and bfloat16 matmul peak (GFLOP/s), then runs benchmark_inference.py
once per batch size with every backend of BENCHMARK.CPU_BACKENDS.BACKENDS side by side (the model, input
size and steps as this command line sets them), and writes the table (img/s, latency p50/p95, achieved
GFLOP/s as a share of the peak of its precision, speed-up over Keras float32) to BENCHMARK.DOC (section
BENCHMARK.CPU_BACKENDS.SECTION), naming the machine.
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

from omegaconf import DictConfig

from app.cli import hydra_app
from benchmarks.backend_comparison import compare_backends, report
from benchmarks.markdown import replace_section


def cpu_backends_job(cfg: DictConfig):
    """The Hydra task: the matmul peaks, every backend per batch size, the table in BENCHMARK.DOC."""
    bench = cfg.BENCHMARK.CPU_BACKENDS
    results, peaks = compare_backends(list(bench.BACKENDS), list(bench.BATCH_SIZES), bench.PEAK_SIZE)
    body = report(results, peaks, bench.PEAK_SIZE, cfg.OUTPUT.CLASSES, cfg.BENCHMARK.WARMUP_STEPS, cfg.BENCHMARK.STEPS)
    print(body)
    replace_section(cfg.BENCHMARK.DOC, bench.SECTION, body)
    print(f"written: {cfg.BENCHMARK.DOC} (section '{bench.SECTION}')")
    return results, peaks


main = hydra_app(cpu_backends_job)


if __name__ == "__main__":
    main()
