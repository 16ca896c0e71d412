"""A whole CT through predict.py's path, for each backend and setting side by side: seconds per CT end to
end and by phase, slices predicted, peak memory, and the Dice each setting keeps.

    nice python benchmarks/volume_inference.py MODEL.BACKBONE.TYPE=vgg19    # LiTS-size CT, unet3plus/vgg19 at 320x320
    python benchmarks/volume_inference.py 'BENCHMARK.VOLUME.SETTINGS=[keras:float32,auto+roi]' BENCHMARK.VOLUME.REPEATS=2

Makes a LiTS-size synthetic CT (BENCHMARK.VOLUME: 512x512x300, the liver phantom in the middle LIVER_SLICES,
so the liver spans about a third of the slices, as in a chest-abdomen-pelvis scan) and a training run of the
configured model (MODEL, INPUT, OUTPUT.CLASSES) whose weights learnt the phantom (TRAIN_STEPS on CROP-pixel
crops of 320-scale slices: the network is convolutional, so they hold at full size), with training slices
beside it for int8's one calibration. Then each setting, `BACKEND[+roi]` as INFERENCE.BACKEND (auto included) with or without
PREDICTION.ROI, segments the CT in a fresh process, as predict.py does (`segment_ct_files`: read, prepare,
infer, back to the CT grid, post-process, write), timed by phase (threads overlap, so phases add up to more
than the wall time). The first setting is the baseline of the speed-up column: today's path, Keras
float32 on every slice. Writes the table to BENCHMARK.DOC (section BENCHMARK.VOLUME.SECTION) with the machine.
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

from types import SimpleNamespace

from omegaconf import DictConfig

from app.cli import command_line_overrides, hydra_app
from benchmarks.whole_ct import run_benchmark


def plain_settings(cfg: DictConfig) -> SimpleNamespace:
    """What this benchmark reads from the config, as plain values (they also travel to each setting's process).
    `extra`: this command line's own overrides, which every config composed here repeats."""
    bench = cfg.BENCHMARK.VOLUME
    extra = [o for o in command_line_overrides() if not o.lstrip("+~").startswith(("WORK_DIR=", "RUN_DIR="))]
    return SimpleNamespace(
        size=bench.CT_SIZE, slices=bench.CT_SLICES, liver_slices=bench.LIVER_SLICES, model=cfg.MODEL.TYPE,
        backbone=cfg.MODEL.BACKBONE.TYPE, input=cfg.INPUT.HEIGHT, classes=cfg.OUTPUT.CLASSES,
        settings=list(bench.SETTINGS), repeats=bench.REPEATS, batch_size=cfg.INFERENCE.BATCH_SIZE,
        postprocess=cfg.PREDICTION.POSTPROCESS, train_steps=bench.TRAIN_STEPS, crop=bench.CROP, work=bench.WORK,
        section=bench.SECTION, out=cfg.BENCHMARK.DOC, extra=extra, measure=None)


def benchmark(cfg: DictConfig) -> list:
    """The Hydra task: the CT and the run (made once per BENCHMARK.VOLUME.WORK), then every setting."""
    return run_benchmark(plain_settings(cfg))


main = hydra_app(benchmark)


if __name__ == "__main__":
    main()
