"""A typed schema for configs/config.yaml, derived from the yaml itself and registered in Hydra's ConfigStore.

Each key takes the type of its default value, so `HYPER_PARAMETERS.LEARNING_RATE=abc` fails while
Hydra parses the command line, and a key added to config.yaml is typed without editing this file.
Keys whose default cannot tell their type (null, or more than one type allowed) are in TYPE_OVERRIDES.
"""
import dataclasses
import difflib
import os
import re
import typing
from typing import Any, Dict, Iterable, List, Optional, Union

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf

from utils.errors import UserError

SCHEMA_NAME = "base_schema"   # named in config.yaml's defaults list

# The keys whose yaml default does not show the type. Unions are checked by `check_composed`
# after composing, because OmegaConf 2.3 types a Union node as Any.
TYPE_OVERRIDES: Dict[str, Any] = {
    "MODEL.BACKBONE.WEIGHTS": Optional[str],
    "MODEL.INITIALIZER_SEED": Optional[int],
    "PREDICTION.IMAGE_NAMES": Optional[List[str]],
    "PREDICTION.VOLUMES": Union[None, str, List[str]],   # a CT file, a directory, or a list of them
    "PREDICTION.IMAGES": Union[None, str, List[str]],    # data=images: an image file, a folder, or a list of them
    "DATASET.TRAIN.IMAGES_PATH": Optional[str],   # data=images: null until the user names a folder
    "DATASET.TRAIN.MASK_PATH": Optional[str],
    "DATASET.VAL.IMAGES_PATH": Optional[str],     # data=images: null = a validation split cut from TRAIN
    "DATASET.VAL.MASK_PATH": Optional[str],
    "RUN_DIR": Optional[str],
    "BENCHMARK.GENERATOR.DATA": Optional[str],
    "BENCHMARK.VOLUME.WORK": Optional[str],
    "BENCHMARK.SWEEP.AMP": List[Union[bool, str]],   # OPTIMIZATION.AMP values: True, False and precision names
    "USE_MULTI_GPUS.GPU_IDS": Union[int, List[int]],
    "OPTIMIZATION.AMP": Union[bool, str],   # False | True | float16 | bfloat16; names checked where AMP is set up
    "OUTPUT.CLASSES": int,                  # default: ${len:${DATASET.CLASSES}}
    "DATASET.LESION_REGION": Optional[str],
    "DATA_PREPARATION.DATASET_PATH": Optional[str],
    "DATASET.REGIONS": List[Dict[str, List[int]]],   # [{name: [labels]}, ...]; checked in data_sets.labels
    "SYNTHETIC.PHOTO_SIZE": Optional[List[int]],     # [HEIGHT, WIDTH], or null: each photo its own size
}

# Options that used to be `+key` extras of one script, now declared keys.
RENAMED_KEYS = {
    "warmup_steps": "BENCHMARK.WARMUP_STEPS",
    "bench_steps": "BENCHMARK.STEPS",
    "json_path": "BENCHMARK.JSON_PATH",
    "samples": "VERIFY.SAMPLES",
}

_NOT_CONFIG = ("defaults", "hydra")        # config.yaml entries that are Hydra's, not the app's
_WHOLE_INTERPOLATION = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")
_TYPE_NAMES = {bool: "True or False", int: "an integer", float: "a number", str: "a string"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


def _config_children(node: DictConfig, prefix: str):
    """(key, child node, dotted key) of a node's entries, without the top-level non-config ones (hydra, defaults)."""
    for key in node.keys():
        if not (not prefix and key in _NOT_CONFIG):
            yield key, node._get_node(key), f"{prefix}{key}"


def _raw_leaves(node: DictConfig, prefix: str = "") -> Dict[str, Any]:
    """Dotted key -> raw (unresolved) value of every leaf, in yaml order."""
    leaves = {}
    for _, child, full in _config_children(node, prefix):
        if isinstance(child, DictConfig):
            leaves.update(_raw_leaves(child, f"{full}."))
        elif isinstance(child, ListConfig):
            leaves[full] = OmegaConf.to_container(child, resolve=False)
        else:
            leaves[full] = child._value()
    return leaves


def _type_of(key: str, leaves: Dict[str, Any], seen=()) -> Any:
    """The declared type of a leaf: TYPE_OVERRIDES, else its default's type (following `${OTHER.KEY}`)."""
    if key in TYPE_OVERRIDES:
        return TYPE_OVERRIDES[key]
    value = leaves[key]
    if isinstance(value, str):
        match = _WHOLE_INTERPOLATION.match(value)
        if match and match.group(1) in leaves and match.group(1) not in seen:
            return _type_of(match.group(1), leaves, (*seen, key))
        return str
    if isinstance(value, list):
        element_types = {type(v) for v in value}
        if len(element_types) == 1 and not isinstance(value[0], (list, dict)):
            return List[element_types.pop()]
        return List[Any]
    if value is None:
        return Optional[Any]   # tests/test_cli_errors.py asks for every null key to be in TYPE_OVERRIDES
    return type(value)


def key_types(config_path: str) -> Dict[str, Any]:
    """Dotted key -> declared type for every leaf of the yaml at config_path."""
    leaves = _raw_leaves(OmegaConf.load(config_path))
    return {key: _type_of(key, leaves) for key in leaves}


def _omegaconf_type(declared: Any) -> Any:
    """What OmegaConf 2.3 can hold: Unions of several types (Optional or not) become Any, lists of them List[Any]."""
    if typing.get_origin(declared) is Union and len([a for a in typing.get_args(declared) if a is not type(None)]) > 1:
        return Any
    if typing.get_origin(declared) in (list, List) and typing.get_args(declared):
        element = _omegaconf_type(typing.get_args(declared)[0])
        return List[Any] if element is Any else declared
    return declared


def _dataclass(name: str, node: DictConfig, types: Dict[str, Any], prefix: str = ""):
    fields = []
    for key, child, full in _config_children(node, prefix):
        if isinstance(child, DictConfig):
            nested = _dataclass(f"{name}_{key}", child, types, f"{full}.")
            fields.append((key, nested, dataclasses.field(default_factory=nested)))
        elif isinstance(child, ListConfig):
            default = OmegaConf.to_container(child, resolve=False)
            fields.append((key, _omegaconf_type(types[full]),
                           dataclasses.field(default_factory=lambda d=default: list(d))))
        else:
            fields.append((key, _omegaconf_type(types[full]), dataclasses.field(default=child._value())))
    return dataclasses.make_dataclass(name, fields)


def config_groups(config_dir: str) -> List[str]:
    """Config groups (sub-folders) whose options land under their own key: left open and untyped here.

    Groups of `# @package _global_` presets only set keys config.yaml declares, so they need nothing.
    """
    groups = []
    for name in sorted(os.listdir(config_dir)):
        folder = os.path.join(config_dir, name)
        if name == "hydra" or not os.path.isdir(folder):
            continue
        headers = []
        for option in sorted(f for f in os.listdir(folder) if f.endswith(".yaml")):
            with open(os.path.join(folder, option)) as handle:
                headers.append(handle.readline())
        if not any("@package" in header and "_global_" in header for header in headers):
            groups.append(name)
    return groups


def build_schema(config_path: str):
    """The dataclass schema of the yaml at config_path (nested dataclasses, one per section)."""
    root = OmegaConf.load(config_path)
    schema = _dataclass("Config", root, key_types(config_path))
    extra = [(g, Any, dataclasses.field(default=None)) for g in config_groups(os.path.dirname(config_path))
             if g not in root]
    return dataclasses.make_dataclass("Config", extra, bases=(schema,)) if extra else schema


_declared: Dict[str, Any] = {}   # dotted key -> type, of the registered schema
_open_groups: List[str] = []     # config groups whose keys are not checked
_config_dir: List[str] = []      # the folder of the registered config.yaml


def register_schema(config_path: str) -> None:
    """Store the schema as `base_schema` so config.yaml's defaults list can extend it."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=build_schema(config_path))
    _declared.clear()
    _declared.update(key_types(config_path))
    _open_groups[:] = config_groups(os.path.dirname(config_path))
    _config_dir[:] = [os.path.dirname(config_path)]


def describe_type(declared: Any) -> str:
    """'an integer', 'a list of integers', 'null or a string'... for error lines."""
    origin, args = typing.get_origin(declared), typing.get_args(declared)
    if origin is Union:
        return " or ".join("null" if a is type(None) else describe_type(a) for a in args)
    if origin in (list, List):
        return f"a list of {_PLURALS[args[0]]}" if args and args[0] in _PLURALS else "a list"
    return _TYPE_NAMES.get(declared, getattr(declared, "__name__", str(declared)))


def matches_type(value: Any, declared: Any) -> bool:
    """Whether a composed value (plain Python, as from OmegaConf.to_container) fits the declared type."""
    origin, args = typing.get_origin(declared), typing.get_args(declared)
    if declared is Any:
        return True
    if declared is type(None):
        return value is None
    if origin is Union:
        return any(matches_type(value, a) for a in args)
    if origin in (list, List):
        return isinstance(value, list) and all(matches_type(v, args[0] if args else Any) for v in value)
    if declared is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if declared is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (dict, Dict):
        return isinstance(value, dict) and all(matches_type(v, args[1] if args else Any) for v in value.values())
    return isinstance(value, declared)


def _union_errors(cfg: DictConfig) -> List[str]:
    """The type check OmegaConf cannot do: keys in TYPE_OVERRIDES typed as a Union."""
    errors = []
    for key, declared in TYPE_OVERRIDES.items():
        if _omegaconf_type(declared) == declared:   # OmegaConf checks it itself
            continue
        node = OmegaConf.select(cfg, key, throw_on_missing=False)
        value = OmegaConf.to_container(node) if isinstance(node, (DictConfig, ListConfig)) else node
        if not matches_type(value, declared):
            errors.append(f"{key} must be {describe_type(declared)}, got {value!r}")
    return errors


def _undeclared_keys(node: DictConfig, known: set, prefix: str = "") -> List[str]:
    found = []
    for key in node.keys():
        full = f"{prefix}{key}"
        if full.split(".")[0] in _open_groups:
            continue
        if full not in known:
            found.append(full)
        elif isinstance(node._get_node(key), DictConfig):
            found += _undeclared_keys(node._get_node(key), known, f"{full}.")
    return found


def check_composed(cfg: DictConfig) -> None:
    """Refuse keys the schema lacks (Hydra lets `+KEY=v` add any) and Union-typed keys of the wrong type."""
    known = set(all_keys(_declared))
    undeclared = _undeclared_keys(cfg, known)
    if undeclared:
        raise UserError(unknown_key_message(undeclared[0], sorted(known)))
    errors = _union_errors(cfg)
    if errors:
        raise UserError(errors[0])


def _flat(values: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(values, dict):
        flat = {}
        for key, value in values.items():
            flat.update(_flat(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: values}


def type_errors(values: Dict[str, Any], skip: Iterable[str] = ()) -> List[str]:
    """'KEY must be an integer, got 'abc'' for each declared leaf of a plain nested dict with the wrong type.

    For configs read from a file (a run's config.yaml) rather than composed by Hydra, which checks types
    itself. Leaves in `skip` (or under a section there) are not checked: the command line replaces them.
    """
    skip = tuple(skip)
    return [f"{key} must be {describe_type(_declared[key])}, got {value!r}"
            for key, value in _flat(values).items()
            if key in _declared and not matches_type(value, _declared[key])
            and not any(key == s or key.startswith(s + ".") for s in skip)]


def config_error_line(err: Exception) -> str:
    """One line for Hydra's multi-line composition errors (wrong type, unknown key, bad override syntax)."""
    cause = err.__cause__
    overridden = re.match(r"Could not override '([^']+)'", str(err))
    full_key = overridden.group(1) if overridden else getattr(cause, "full_key", None)
    if full_key:
        key = re.sub(r"\[\d+\]$", "", full_key)
        if key not in set(all_keys(_declared)) and key.split(".")[0] not in _open_groups:
            return unknown_key_message(key, all_keys(_declared))
        if key in _declared and type(cause).__name__ == "ValidationError":
            return f"{key} must be {describe_type(_declared[key])}, got {getattr(cause, 'value', None)!r}"
    lexer = re.match(r"LexerNoViableAltException: (\S+?)=(.*?)\n", str(err) + "\n")
    if lexer:
        key, value = lexer.groups()
        return (f"cannot parse the value of {key} ({value}): Hydra reads unquoted values as plain ASCII words; "
                f"quote it, as '{key}=\"{value}\"'")
    existing = re.search(r"An item is already at '([^']+)'", str(err))
    if existing:
        return f"{existing.group(1)} is declared already: set it without the +, as {existing.group(1)}=VALUE"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    missing_option = re.search(r"Could not find '([^'/]+)/([^']+)'", str(err))
    if missing_option:   # a config group option that does not exist, e.g. data=coco
        group, option = missing_option.groups()
        folder = os.path.join(_config_dir[0], group)
        names = sorted(f[:-len(".yaml")] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []
        return f"{group}={option}: {group} must be one of {', '.join(names)}"
    if lines and lines[0].startswith("Cannot find primary config"):
        names = sorted(f[:-len(".yaml")] for f in os.listdir(_config_dir[0]) if f.endswith(".yaml"))
        return f"{lines[0].split('.')[0]}: --config-name must be one of {', '.join(names)}"
    if cause is not None and str(cause).strip():
        lines.append(str(cause).strip().splitlines()[0])
    return "; ".join(lines)


def all_keys(types: Dict[str, Any]) -> List[str]:
    """Every settable dotted key: the leaves and the sections above them."""
    keys = set(types)
    for key in types:
        parts = key.split(".")
        keys.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(keys)


def unknown_key_message(key: str, known: List[str]) -> str:
    """One line for a key that config.yaml does not declare: its new name, or the nearest valid key."""
    bare = key.lstrip("+~")
    if bare in RENAMED_KEYS:
        return f"+{bare} is now the config key {RENAMED_KEYS[bare]}: write {RENAMED_KEYS[bare]}=VALUE"
    by_upper = {k.upper(): k for k in known}
    close = difflib.get_close_matches(bare.upper(), list(by_upper), n=1, cutoff=0.6)
    hint = f"did you mean {by_upper[close[0]]}?" if close else "see --help for every key"
    return f"unknown config key {bare} ({hint}); configs/config.yaml declares every key"
