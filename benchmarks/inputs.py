"""What benchmark_inference.py times: a trained run's weights on its validation slices, or random ones.

The NVIDIA recipe benchmarks its trained weights on its validation batches; without a trained run
there is nothing real to time, so a model with random weights runs on random images instead.
"""
import copy

from data_generators.data_generator import get_data_generator
from app.run_config import run_config
from run_dirs.run_dir import has_weights, list_runs
from app.choices import choose
from utils.errors import UserError

# BENCHMARK.INPUT -> whether to time a trained run: True (one must exist), False (never), None (when one exists)
BENCHMARK_INPUTS = {"auto": None, "run": True, "random": False}
VALIDATION_BATCHES = 8   # distinct validation batches held in memory and cycled through


def benchmark_run(cfg):
    """The trained run to time (RUN_DIR or the latest with weights; cfg takes its model settings, in
    place), or None for random weights and images: BENCHMARK.INPUT=random, or auto without a trained
    run or with a command line asking for another architecture than the run's."""
    use_run = choose("BENCHMARK.INPUT", cfg.BENCHMARK.INPUT)
    if use_run is False:
        return None
    if use_run is None and cfg.RUN_DIR is None and not any(has_weights(run) for run in list_runs(cfg.WORK_DIR)):
        return None
    try:
        run_config(cfg)
    except UserError as err:
        if use_run:
            raise
        print(f"note: not timing a trained run ({err}); random weights and images instead")
        return None
    return cfg.RUN_DIR


def validation_batches(cfg, batch_size: int) -> list:
    """Up to VALIDATION_BATCHES full image batches of the validation slices (read as the TF generator
    reads them for validation), or one smaller batch when there are not that many slices."""
    cfg = copy.deepcopy(cfg)
    cfg.DATA_GENERATOR_TYPE = "TF_GENERATOR"   # indexable batches, whichever generator trained the run
    feed = get_data_generator(cfg, "val")
    batches = [feed.data[step][0] for step in range(min(feed.steps, VALIDATION_BATCHES))]
    full = [images for images in batches if len(images) == batch_size]
    return full or batches[:1]
