"""Loading the Hydra config outside a Hydra app, and checking it before any work starts."""
import contextlib
import os
from typing import Iterable, Optional

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from app.choices import check_choices
from utils.errors import UserError
from app.schema import check_composed, config_error_line, register_schema

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(REPO_ROOT, "configs")

register_schema(os.path.join(CONFIG_DIR, "config.yaml"))
# OUTPUT.CLASSES: ${len:${DATASET.CLASSES}} (one network output per class name)
OmegaConf.register_new_resolver("len", lambda items: len(items), replace=True)
# The repository folder (docs/ lies there), wherever a script runs from.
OmegaConf.register_new_resolver("repo", lambda: REPO_ROOT, replace=True)


def compose_config(overrides: Iterable[str] = (), work_dir: Optional[str] = None,
                   config_name: str = "config") -> DictConfig:
    """The config as a Hydra app would see it, for notebooks, tests and benchmarks.

    WORK_DIR defaults to the current directory because `${hydra:runtime.cwd}` only exists
    inside a running Hydra app.
    """
    overrides = list(overrides)
    if not any(o.startswith("WORK_DIR=") for o in overrides):
        overrides.insert(0, f"WORK_DIR={os.path.abspath(work_dir or os.getcwd())}")
    # Inside a running Hydra app (a script composing more configs) Hydra is set up on this folder already.
    inside_app = GlobalHydra.instance().is_initialized()
    with contextlib.nullcontext() if inside_app else initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        try:
            cfg = compose(config_name=config_name, overrides=overrides)
        except HydraException as err:
            raise UserError(config_error_line(err)) from None
    check_composed(cfg)
    return cfg


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def positive_int(value, key: str) -> int:
    """value when it is an int > 0 (bools are not); else a UserError naming the config key."""
    _check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
           f"{key} must be a positive integer, got {value!r}")
    return value


def validate_config(cfg: DictConfig) -> None:
    """Fail fast, with the key to fix, on values that would otherwise crash deep inside TF.

    The one validation step: every script runs it first (app.cli.hydra_app), the notebook after composing.
    Names (MODEL.TYPE, ...) are checked against the tables of the code implementing them (app.choices).
    """
    check_composed(cfg)
    check_choices(cfg)
    from data_sets.kinds import make_class_setup   # here, not at the top: data_sets' modules import app
    dataset = cfg.DATASET   # DATASET.CLASSES / REGIONS / LESION_REGION and OUTPUT.CLASSES agree
    make_class_setup(dataset.KIND, dataset.CLASSES, cfg.OUTPUT.CLASSES, dataset.REGIONS, dataset.LESION_REGION)
    for key in ("HYPER_PARAMETERS.BATCH_SIZE", "HYPER_PARAMETERS.EPOCHS", "INPUT.HEIGHT", "INPUT.WIDTH",
                "MODEL.SKIP_FILTERS", "BENCHMARK.STEPS", "BENCHMARK.CPU_BACKENDS.PEAK_SIZE", "BENCHMARK.GENERATOR.BATCHES",
                "BENCHMARK.GENERATOR.MODEL_STEPS", "BENCHMARK.RESAMPLING.SIZE", "BENCHMARK.RESAMPLING.SLICES",
                "BENCHMARK.RESAMPLING.VOLUMES", "BENCHMARK.VOLUME.CT_SIZE", "BENCHMARK.VOLUME.CT_SLICES",
                "BENCHMARK.VOLUME.LIVER_SLICES", "BENCHMARK.VOLUME.REPEATS", "BENCHMARK.VOLUME.TRAIN_STEPS",
                "BENCHMARK.VOLUME.CROP"):
        positive_int(OmegaConf.select(cfg, key), key)
    for key in ("BENCHMARK.SWEEP.BATCH_SIZES", "BENCHMARK.CPU_BACKENDS.BATCH_SIZES"):
        _check(len(OmegaConf.select(cfg, key)) > 0, f"{key} is empty: give one or more batch sizes")
        for value in OmegaConf.select(cfg, key):
            positive_int(value, key)
    _check(cfg.BENCHMARK.WARMUP_STEPS >= 0, f"BENCHMARK.WARMUP_STEPS must be 0 or more, got {cfg.BENCHMARK.WARMUP_STEPS}")
    _check(0 <= cfg.SEED < 2 ** 32, f"SEED must be an integer from 0 to 2**32 - 1 (NumPy's range), got {cfg.SEED}")
    _check(float(cfg.HYPER_PARAMETERS.LEARNING_RATE) > 0,
           f"HYPER_PARAMETERS.LEARNING_RATE must be > 0, got {cfg.HYPER_PARAMETERS.LEARNING_RATE}")
    overlap = cfg.EVALUATION.LESION_OVERLAP
    _check(not isinstance(overlap, bool) and isinstance(overlap, (int, float)) and 0 <= overlap < 1,
           f"EVALUATION.LESION_OVERLAP must be a number from 0 (any overlap) to below 1, got {overlap!r}")
    _check(cfg.INPUT.CHANNELS in (1, 3), f"INPUT.CHANNELS must be 1 or 3, got {cfg.INPUT.CHANNELS}")
    from models.backbones import check_input_size, encoder_levels   # here: models' modules import app
    levels = encoder_levels(cfg.MODEL.BACKBONE.TYPE, list(cfg.MODEL.FILTERS))
    check_input_size(cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, levels)
    window = cfg.DATA_PREPARATION.HU_WINDOW
    _check(window.MIN < window.MAX, f"DATA_PREPARATION.HU_WINDOW.MIN must be < DATA_PREPARATION.HU_WINDOW.MAX, got "
                                    f"{window.MIN}..{window.MAX}")
    from volumes.slices import check_channel_names   # here: volumes' modules import app
    names = OmegaConf.select(cfg, "DATASET.CHANNEL_NAMES", default=None) or ["CT"]
    files = len(check_channel_names(list(names), cfg.DATA_PREPARATION.SLICES_PER_IMAGE))
    if files == 1:
        _check(cfg.DATA_PREPARATION.SLICES_PER_IMAGE == cfg.INPUT.CHANNELS,
               f"DATA_PREPARATION.SLICES_PER_IMAGE ({cfg.DATA_PREPARATION.SLICES_PER_IMAGE}) must equal INPUT.CHANNELS "
               f"({cfg.INPUT.CHANNELS}): each prepared slice becomes one network input")
    else:
        _check(cfg.INPUT.CHANNELS == 3, f"INPUT.CHANNELS must be 3 for the {files} input files of DATASET.CHANNEL_NAMES "
                                        f"({', '.join(map(str, names))}): they are the input's channels, padded to 3")
