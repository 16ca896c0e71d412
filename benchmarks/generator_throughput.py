"""Does the data generator keep up with the model? Images/s of each, on this machine.

    python benchmarks/generator_throughput.py --size 320 --workers 2 --batch-size 2

Makes a small synthetic dataset at the given size (unless --data names a prepared one), then
measures the TF generator (PyDataset with its worker threads, as `fit` drives it), DALI's
pipeline when installed, and the model's training step, and writes the figures to
docs/benchmarks.md (section 'generator').
"""
import argparse
import os
import tempfile
import time

import utils.tf_env  # noqa: F401,E402  (before TensorFlow: no CUDA error line on CPU machines)

import numpy as np

from benchmarks.markdown import DOCS_DIR, replace_section
from utils.config import compose_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20, help="batches timed per measurement")
    parser.add_argument("--model-steps", type=int, default=5)
    parser.add_argument("--data", help="a WORK_DIR with data/processed already prepared")
    parser.add_argument("--out", default=os.path.join(DOCS_DIR, "benchmarks.md"))
    return parser.parse_args(argv)


def prepare_synthetic(work_dir, size):
    from data_preparation.make_synthetic_lits import make_synthetic_splits
    from data_preparation.preprocess_data import prepare_dataset

    raw = os.path.join(work_dir, "raw")
    make_synthetic_splits(raw, train=2, val=1, size=size, slices=24, seed=0)
    cfg = compose_config([f"INPUT.HEIGHT={size}", f"INPUT.WIDTH={size}",
                          f"DATA_PREPARATION.SCANS_TRAIN_DATA_PATH={raw}/train",
                          f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={raw}/val"], work_dir=work_dir)
    prepare_dataset(cfg)


def images_per_second(batches, count, batch_size):
    iterator = iter(batches)
    next(iterator)   # first batch pays for start-up (threads, DALI pipeline build)
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return count * batch_size / (time.perf_counter() - start)


def endless(sequence):
    """Batches from a PyDataset the way Keras' enqueuer serves them (worker threads, queue)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(sequence, shuffle=False)
    while True:
        adapter.on_epoch_begin()
        for batch in adapter.get_numpy_iterator():
            yield batch
        adapter.on_epoch_end()


def model_images_per_second(cfg, steps):
    from models.model_factory import compile_model, make_targets, prepare_model

    model = compile_model(prepare_model(cfg), cfg)
    batch = cfg.HYPER_PARAMETERS.BATCH_SIZE
    rng = np.random.default_rng(0)
    images = rng.random((batch, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS), dtype=np.float32)
    masks = np.eye(cfg.OUTPUT.CLASSES, dtype=np.float32)[rng.integers(0, cfg.OUTPUT.CLASSES, images.shape[:3])]
    targets = make_targets(cfg.MODEL.TYPE, masks)
    model.train_on_batch(images, targets)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, targets)
    return steps * batch / (time.perf_counter() - start)


def main(argv=None):
    args = parse_args(argv)
    from data_generators.dali_data_generator import dali_import_error
    from data_generators.data_generator import get_data_generator

    with tempfile.TemporaryDirectory() as scratch:
        work_dir = args.data or scratch
        if not args.data:
            prepare_synthetic(work_dir, args.size)
        overrides = [f"INPUT.HEIGHT={args.size}", f"INPUT.WIDTH={args.size}",
                     f"HYPER_PARAMETERS.BATCH_SIZE={args.batch_size}"]
        rows = []
        for workers in sorted({1, args.workers}):
            cfg = compose_config([*overrides, f"DATA_WORKERS={workers}"], work_dir=work_dir)
            feed = get_data_generator(cfg, "train")
            rows.append((f"TF generator, {workers} worker(s)", images_per_second(endless(feed.data), args.batches,
                                                                                args.batch_size)))
        if dali_import_error() is None:
            cfg = compose_config([*overrides, "DATA_GENERATOR_TYPE=DALI_GENERATOR"], work_dir=work_dir)
            rows.append(("DALI pipeline (CPU backend here)",
                         images_per_second(get_data_generator(cfg, "train").data, args.batches, args.batch_size)))
        cfg = compose_config(overrides, work_dir=work_dir)
        rows.append(("model training step (unet3plus, paper filters)", model_images_per_second(cfg, args.model_steps)))
    lines = [f"| source ({args.size}x{args.size}, batch {args.batch_size}, {os.cpu_count()} cores) | images/s |",
             "|---|---|"] + [f"| {name} | {value:.1f} |" for name, value in rows]
    table = "\n".join(lines)
    print(table)
    replace_section(args.out, "generator", table)
    print(f"written: {args.out} (section 'generator')")
    return rows


if __name__ == "__main__":
    main()
