"""Valid names of each config choice: one table per choice, each owned by the module that implements it.

CHOICES says where each table lives ("module:TABLE"). A table is read (its module imported) only when
a name is checked or listed, so importing this module fills nothing and imports nothing. Config
validation (`check_choices`, called by app.config.validate_config), `--help` (`choices_help`) and
the owners' own look-ups (`choose`) all read the same tables: one list of names and one error line
per choice. Adding a choice: its table in the module that implements it, and one row here.
"""
import importlib
from typing import Any, Mapping, NamedTuple

from omegaconf import OmegaConf

from utils.errors import UserError


class Choice(NamedTuple):
    table: str            # "module:TABLE": name -> implementation (a mapping), or the names (a tuple)
    many: bool = False    # the key lists one or more names
    qualifier: str = ""   # a name may end in ":<QUALIFIER>" (a backend's precision), checked by the table's owner


CHOICES = {
    "DATASET.KIND": Choice("data_sets.kinds:KINDS"),
    "DATA_GENERATOR_TYPE": Choice("data_generators.data_generator:GENERATORS"),
    "MODEL.TYPE": Choice("models.model_factory:MODEL_VARIANTS"),
    "MODEL.BACKBONE.TYPE": Choice("models.backbones:BACKBONES"),
    "USE_MULTI_GPUS.STRATEGY": Choice("runtime.devices:STRATEGIES"),
    "OPTIMIZATION.AMP": Choice("runtime.devices:AMP_PRECISIONS"),
    "INFERENCE.BACKEND": Choice("deploy.backends:INFERENCE_BACKENDS", qualifier="PRECISION"),
    "BENCHMARK.BACKENDS": Choice("deploy.backends:BACKENDS", many=True, qualifier="PRECISION"),
    "EXPORT.FORMATS": Choice("deploy.export:EXPORT_FORMATS", many=True),
    "BENCHMARK.SWEEP.MODELS": Choice("models.model_factory:MODEL_VARIANTS", many=True),
    "BENCHMARK.SWEEP.BACKBONES": Choice("models.backbones:BACKBONES", many=True),
    "BENCHMARK.SWEEP.AMP": Choice("runtime.devices:AMP_PRECISIONS", many=True),
    "BENCHMARK.CPU_BACKENDS.BACKENDS": Choice("deploy.backends:BACKENDS", many=True, qualifier="PRECISION"),
    "PREDICTION.OUTPUT_FORMAT": Choice("inference.volume:OUTPUT_FORMATS"),
    "EVALUATION.HD95": Choice("evaluation.metrics:HD95_CONVENTIONS"),
    "DATA_PREPARATION.INTENSITY_SCALING": Choice("volumes.slices:INTENSITY_SCALINGS"),
    "DATA_PREPARATION.ORIENTATION": Choice("volumes.slices:ORIENTATIONS"),
    "CALLBACKS.MODEL_CHECKPOINT.MONITOR": Choice("losses.metrics:VALIDATION_METRICS"),
    "CALLBACKS.EARLY_STOPPING.MONITOR": Choice("callbacks.training_callbacks:EARLY_STOPPING_MONITORS"),
    "MODEL.KERNEL_INITIALIZER": Choice("models.backbones:KERNEL_INITIALIZERS"),
    "BENCHMARK.INPUT": Choice("benchmarks.inputs:BENCHMARK_INPUTS"),
    "SYNTHETIC.FORMAT": Choice("data_sets.synthetic.photos:IMAGE_FORMATS"),
}


def table(key: str):
    """The table of config choice `key`, from the module that owns it."""
    if key not in CHOICES:
        raise LookupError(f"{key} has no row in app.choices.CHOICES: add one naming its table")
    module, _, name = CHOICES[key].table.partition(":")
    return getattr(importlib.import_module(module), name)


def names(key: str) -> str:
    """'a, b, c': the valid names of `key`, for error lines."""
    return ", ".join(map(str, table(key)))


def choose(key: str, name: Any):
    """What `name` stands for in the table of `key` (a tuple of names: the name); else a UserError listing them."""
    found = table(key)
    if not isinstance(name, (str, bool)) or name not in found:   # bool: OPTIMIZATION.AMP's True and False
        qualifier = CHOICES[key].qualifier
        optional = f" (optionally NAME:{qualifier})" if qualifier else ""
        raise UserError(f"{key} must be one of {names(key)}{optional}; got {name!r}")
    return found[name] if isinstance(found, Mapping) else name


def check_choices(cfg) -> None:
    """Fail fast on an unknown name for any choice, before data or models are touched."""
    for key, choice in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        entries = list(value) if choice.many and OmegaConf.is_list(value) else [value]
        if choice.many and not entries:
            raise UserError(f"{key} is empty; choose one or more of {names(key)}")
        for entry in entries:
            choose(key, entry.partition(":")[0] if choice.qualifier and isinstance(entry, str) else entry)


def choices_help() -> str:
    """`--help`'s list of the valid names of each choice."""
    lines = [f"  {key}: {' | '.join(map(str, table(key)))}" for key in sorted(CHOICES)]
    return "\n".join(["Valid names:", *lines])
