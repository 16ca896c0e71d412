"""Images/s of the data generator and of the model's training step on this machine: what
benchmarks/generator_throughput.py measures, and its table.
"""
import copy
import os
import tempfile
import time

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

def variant(cfg: DictConfig, **values) -> DictConfig:
    """A copy of cfg with these dotted keys (written with __ for .) set; interpolations follow them."""
    changed = copy.deepcopy(cfg)
    with open_dict(changed):
        for key, value in values.items():
            OmegaConf.update(changed, key.replace("__", "."), value)
    return changed


def prepare_synthetic(cfg: DictConfig, work_dir: str) -> None:
    """Two training CTs and one validation CT at INPUT's size, prepared as preprocess_data.py does, in work_dir."""
    from data_sets.synthetic.ct import make_synthetic_splits
    from data_sets.preparation import prepare_dataset

    raw = os.path.join(work_dir, "raw")
    make_synthetic_splits(raw, train=2, val=1, size=cfg.INPUT.HEIGHT, slices=24, seed=0)
    prepare_dataset(variant(cfg, WORK_DIR=work_dir, DATA_PREPARATION__SCANS_TRAIN_DATA_PATH=f"{raw}/train",
                            DATA_PREPARATION__SCANS_VAL_DATA_PATH=f"{raw}/val"))


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
    from models.model_factory import compile_model, make_targets, model_levels, prepare_model

    model = compile_model(prepare_model(cfg), cfg)
    batch = cfg.HYPER_PARAMETERS.BATCH_SIZE
    rng = np.random.default_rng(0)
    images = rng.random((batch, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS), dtype=np.float32)
    masks = np.eye(cfg.OUTPUT.CLASSES, dtype=np.float32)[rng.integers(0, cfg.OUTPUT.CLASSES, images.shape[:3])]
    targets = make_targets(cfg.MODEL.TYPE, masks, model_levels(cfg))
    model.train_on_batch(images, targets)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, targets)
    return steps * batch / (time.perf_counter() - start)


def throughputs(cfg: DictConfig, data, batches: int, model_steps: int) -> list:
    """(source, images/s) rows: the TF generator with 1 and DATA_WORKERS workers, DALI's pipeline when installed,
    the model's training step. data: a WORK_DIR with prepared slices, or None for a small synthetic set."""
    from data_generators.dali_data_generator import dali_import_error
    from data_generators.data_generator import get_data_generator

    batch_size = cfg.HYPER_PARAMETERS.BATCH_SIZE
    with tempfile.TemporaryDirectory() as scratch:
        work_dir = data or scratch
        if not data:
            prepare_synthetic(cfg, work_dir)
        cfg = variant(cfg, WORK_DIR=work_dir)
        rows = []
        for workers in sorted({1, cfg.DATA_WORKERS}):
            feed = get_data_generator(variant(cfg, DATA_WORKERS=workers), "train")
            rows.append((f"TF generator, {workers} worker(s)",
                         images_per_second(endless(feed.data), batches, batch_size)))
        if dali_import_error() is None:
            feed = get_data_generator(variant(cfg, DATA_GENERATOR_TYPE="DALI_GENERATOR"), "train")
            rows.append(("DALI pipeline (CPU backend here)", images_per_second(feed.data, batches, batch_size)))
        rows.append((f"model training step ({cfg.MODEL.TYPE}, FILTERS {list(cfg.MODEL.FILTERS)})",
                     model_images_per_second(cfg, model_steps)))
    return rows


def throughput_table(rows: list, height: int, width: int, batch_size: int) -> str:
    lines = [f"| source ({height}x{width}, batch {batch_size}, {os.cpu_count()} cores) | images/s |",
             "|---|---|"] + [f"| {name} | {value:.1f} |" for name, value in rows]
    return "\n".join(lines)
