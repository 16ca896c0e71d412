"""Valid names of each config choice, from the tables of the code that implements it.

models/ and data_generators/ register their own name -> builder tables here when imported, so
the names live in one place and utils/ never imports up into them: config validation, `--help`
and the error messages all read the registered tables.
"""
from typing import Mapping

from omegaconf import OmegaConf

from utils.errors import UserError

_TABLES: dict = {}


def register_choice(key: str, table: Mapping) -> Mapping:
    """Make the keys of `table` (its owner's name -> builder table) the valid values of config `key`."""
    _TABLES[key] = table
    return table


def choose(key: str, name: str):
    """table[name] of the table registered for `key`; a UserError lists the valid names otherwise."""
    table = _TABLES[key]
    if not isinstance(name, str) or name not in table:
        raise UserError(f"{key} must be one of {', '.join(table)}; got '{name}'")
    return table[name]


def check_choices(cfg) -> None:
    """Fail fast on an unknown name for any registered key, before data or models are touched."""
    for key in _TABLES:
        choose(key, OmegaConf.select(cfg, key))


def choices_help() -> str:
    """`--help`'s list of the valid names of each registered key (empty when the script registers none)."""
    lines = [f"  {key}: {' | '.join(_TABLES[key])}" for key in sorted(_TABLES)]
    return "\n".join(["Valid names:", *lines]) if lines else ""
